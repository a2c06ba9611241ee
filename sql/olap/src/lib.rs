//! `reef-olap`: ReefDB's OLAP path, the only crate that builds DataFusion.
//!
//! ```text
//!  reef-sql session ──(query the OLTP path does not plan)──► OlapEngine::query
//!     resolve the tables it names (catalog + tablets, at the statement's snapshot)
//!     check functions (only those whose DataFusion semantics match MySQL's, or bridged)
//!     lower-case identifiers (MySQL column names are case-insensitive)
//!     bridge MySQL expressions DataFusion lacks to the OLTP evaluator (bridge.rs)
//!     DataFusion: plan ─► analyzer (+ MysqlSemantics) ─► optimize ─► execute
//!     on the OLAP runtime (its own threads), under a per-query memory limit
//!  ◄── rows as MySQL values, columns named as MySQL names them
//! ```

pub mod any_value;
pub mod bridge;
pub mod infoschema;
pub mod join_filter;
pub mod provider;
pub mod rewrite;
pub mod types;
pub mod udf;

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::common::DataFusionError;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::GreedyMemoryPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::display::DisplayableExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use reef_common::error;
use reef_sql::catalog::TableDef;
use reef_sql::dialect::ReefDialect;
use reef_sql::{OutColumn, Output, QueryEngine, QueryRequest, SqlError};
use sqlparser::ast::{
    visit_expressions, visit_relations, Expr, FunctionArguments, ObjectName, Query, SelectItem,
    SetExpr, Statement, Value as SqlValue,
};
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer};

use crate::provider::{QueryCatalog, ReefTable};
use crate::rewrite::MysqlSemantics;
use crate::types::{out_column, rows_of};

/// Limits of the OLAP path.
#[derive(Debug, Clone, Copy)]
pub struct OlapOptions {
    /// Threads of the OLAP runtime (DataFusion's partitions run there, not on session
    /// threads).
    pub threads: usize,
    /// Memory one query may hold in its operators (hash tables, sorts) before it fails.
    pub query_memory_bytes: usize,
    /// How the OLAP threads are scheduled against the transaction path's threads.
    pub priority: OlapPriority,
    /// Budget of the column cache analytical scans keep decoded microblock columns in
    /// (0: none, every scan decodes what it reads).
    pub column_cache_bytes: usize,
}

/// The scheduling class of the OLAP threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OlapPriority {
    /// Linux's SCHED_IDLE: an OLAP thread runs on CPU time nothing else wants and gives
    /// way at once when a transaction thread wakes up. Measured on two cores (see
    /// docs/benchmarks.md, HTAP): a dashboard beside sysbench cost 21% of its throughput
    /// at niceness 19, where a waking thread may wait out an OLAP thread's time slice,
    /// and 6% under SCHED_IDLE.
    #[default]
    Idle,
    /// The normal class at niceness 19: a smaller share of the CPU, the same time slices.
    Low,
    /// The same priority as every other thread.
    Normal,
}

impl Default for OlapOptions {
    fn default() -> Self {
        OlapOptions {
            threads: 2,
            query_memory_bytes: 1 << 30,
            priority: OlapPriority::Idle,
            column_cache_bytes: reef_common::limits::OLAP_COLUMN_CACHE_BYTES_DEFAULT,
        }
    }
}

/// Distinct build-side keys a hash join's dynamic filter lists at most (see above).
pub const JOIN_KEY_SET_MAX: usize = 1_000;

/// Runs SELECTs through DataFusion.
pub struct OlapEngine {
    runtime: tokio::runtime::Runtime,
    /// Threads of the normal class for short queries (`provider::reads_few_rows`: a key
    /// lookup join such as TPC-C's Stock-Level), which under SCHED_IDLE would wait for as
    /// long as the transaction threads keep every core busy.
    short: tokio::runtime::Runtime,
    options: OlapOptions,
    semantics: Arc<MysqlSemantics>,
    string_arithmetic: Arc<rewrite::StringArithmetic>,
}

impl std::fmt::Debug for OlapEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OlapEngine({:?})", self.options)
    }
}

impl OlapEngine {
    /// An engine with its own runtime.
    pub fn new(options: OlapOptions) -> std::io::Result<Arc<OlapEngine>> {
        let priority = options.priority;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(options.threads.max(1))
            .thread_name("reef-olap")
            .on_thread_start(move || lower_priority(priority))
            .enable_time()
            .build()?;
        let short = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(options.threads.max(1))
            .thread_name("reef-olap-short")
            .enable_time()
            .build()?;
        Ok(Arc::new(OlapEngine {
            runtime,
            short,
            options,
            semantics: Arc::new(MysqlSemantics::default()),
            string_arithmetic: Arc::new(rewrite::StringArithmetic::default()),
        }))
    }

    fn context(
        &self,
        req: &QueryRequest<'_>,
        catalog: QueryCatalog,
    ) -> Result<SessionContext, SqlError> {
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(GreedyMemoryPool::new(
                self.options.query_memory_bytes,
            )))
            .with_disk_manager_builder(
                DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
            )
            .build_arc()
            .map_err(df_error)?;
        let config = SessionConfig::new()
            .with_default_catalog_and_schema("reef", req.db.unwrap_or(""))
            .with_create_default_catalog_and_schema(false)
            .with_information_schema(false)
            .with_target_partitions(self.options.threads.max(1))
            // MySQL orders NULL below every value: first ascending, last descending.
            .set_str("datafusion.sql_parser.default_null_ordering", "nulls_min")
            // A hash join's dynamic filter lists its build side's keys (which a scan reads
            // as key ranges, `join_filter`) up to this many distinct keys, past which it is
            // a hash lookup the scan cannot narrow by. DataFusion's default, 150, is below
            // TPC-C Stock-Level's items of twenty orders once statistics collect that build
            // side whole.
            .set_usize(
                "datafusion.optimizer.hash_join_inlist_pushdown_max_distinct_values",
                JOIN_KEY_SET_MAX,
            );
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            // Ahead of DataFusion's own planners, which the default features add after it.
            .with_expr_planners(vec![self.string_arithmetic.clone()])
            .with_default_features()
            .with_analyzer_rule(self.semantics.clone())
            .build();
        let ctx = SessionContext::new_with_state(state);
        ctx.register_catalog("reef", Arc::new(catalog));
        Ok(ctx)
    }

    /// Resolves, checks and plans `req`; returns the context, plan and column names.
    fn plan(
        &self,
        req: &QueryRequest<'_>,
    ) -> Result<(SessionContext, LogicalPlan, Vec<String>), SqlError> {
        check_functions(&req.query)?;
        let (catalog, defs) = resolve(req)?;
        let names = column_names(&req.query, &defs);
        let mut lowered = lower_identifiers(&req.query)?;
        let _ = sqlparser::ast::VisitMut::visit(&mut lowered, &mut Rollup);
        if let ControlFlow::Break(e) =
            sqlparser::ast::VisitMut::visit(&mut lowered, &mut GroupConcat)
        {
            return Err(e);
        }
        let bridged = bridge::bridge(&mut lowered);
        unique_output_names(&mut lowered.body);
        let ctx = self.context(req, catalog)?;
        for udf in bridged {
            ctx.register_udf(udf);
        }
        ctx.register_udf(udf::Cut::udf());
        let statement = datafusion::sql::parser::Statement::Statement(Box::new(Statement::Query(
            Box::new(lowered),
        )));
        let plan = self
            .runtime
            .block_on(ctx.state().statement_to_plan(statement))
            .map_err(df_error)?;
        Ok((ctx, plan, names))
    }
}

/// Puts the calling (OLAP) thread in `priority`'s scheduling class. Failing to do so is
/// logged, not fatal: queries still run, only without the isolation.
fn lower_priority(priority: OlapPriority) {
    use thread_priority::{
        set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
        ThreadPriority, ThreadSchedulePolicy,
    };
    let (policy, level) = match priority {
        OlapPriority::Normal => return,
        OlapPriority::Idle => (NormalThreadSchedulePolicy::Idle, ThreadPriority::Min),
        // Min is niceness 19 in the normal class.
        OlapPriority::Low => (NormalThreadSchedulePolicy::Other, ThreadPriority::Min),
    };
    if let Err(error) = set_thread_priority_and_policy(
        thread_native_id(),
        level,
        ThreadSchedulePolicy::Normal(policy),
    ) {
        tracing::warn!(
            ?priority,
            ?error,
            "could not lower the OLAP thread's priority"
        );
    }
}

impl OlapEngine {
    /// Runs `work` as a task of the OLAP runtime while this (session) thread waits for it,
    /// looking for a `KILL QUERY` every 100 ms; on one it aborts the task (dropping its
    /// streams stops DataFusion's work) and answers 1317.
    fn wait<T: Send + 'static>(
        &self,
        runtime: &tokio::runtime::Runtime,
        interrupt: Option<&Arc<std::sync::atomic::AtomicBool>>,
        work: impl std::future::Future<Output = datafusion::common::Result<T>> + Send + 'static,
    ) -> Result<T, SqlError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let task = runtime.spawn(async move {
            let _ = tx.send(work.await);
        });
        loop {
            match rx.recv_timeout(std::time::Duration::from_millis(100)) {
                Ok(r) => return r.map_err(df_error),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    if interrupt.is_some_and(|f| f.load(std::sync::atomic::Ordering::Relaxed)) {
                        task.abort();
                        return Err(SqlError::new(
                            reef_common::error::ER_QUERY_INTERRUPTED,
                            "Query execution was interrupted",
                        ));
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(SqlError::internal(
                        "the OLAP query task ended without a result",
                    ))
                }
            }
        }
    }
}

impl OlapEngine {
    /// The physical plan of `plan` (planned on the short-query threads: planning is
    /// short), with the threads to run it on: the short-query ones when it reads few rows,
    /// else the OLAP threads at their configured priority.
    fn physical(
        &self,
        ctx: &SessionContext,
        plan: LogicalPlan,
        req: &QueryRequest<'_>,
    ) -> Result<
        (
            Arc<dyn datafusion::physical_plan::ExecutionPlan>,
            &tokio::runtime::Runtime,
        ),
        SqlError,
    > {
        let ctx = ctx.clone();
        let physical = self.wait(&self.short, req.interrupt.as_ref(), async move {
            physical_plan(&ctx, plan).await
        })?;
        let runtime = if provider::reads_few_rows(&physical) {
            &self.short
        } else {
            &self.runtime
        };
        Ok((physical, runtime))
    }
}

/// `plan` analyzed (the MySQL rules among the analyzer's), optimized and made physical.
async fn physical_plan(
    ctx: &SessionContext,
    plan: LogicalPlan,
) -> datafusion::common::Result<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
    ctx.execute_logical_plan(plan)
        .await?
        .create_physical_plan()
        .await
}

impl QueryEngine for OlapEngine {
    fn query(&self, req: QueryRequest<'_>) -> Result<Output, SqlError> {
        let (ctx, plan, names) = self.plan(&req)?;
        // The columns are typed by the executed plan: the MySQL rules (SUM of integers as
        // DECIMAL, ...) are applied by the analyzer, after `plan` was built.
        let (physical, runtime) = self.physical(&ctx, plan, &req)?;
        let schema = physical.schema();
        let task = ctx.task_ctx();
        let batches = self.wait(runtime, req.interrupt.as_ref(), async move {
            datafusion::physical_plan::collect(physical, task).await
        })?;
        let columns = output_columns(&schema, names);
        Ok(Output::Rows {
            columns,
            rows: rows_of(&batches)?,
        })
    }

    fn describe(&self, req: QueryRequest<'_>) -> Result<Vec<OutColumn>, SqlError> {
        let (ctx, plan, names) = self.plan(&req)?;
        // Analyzed as execution analyzes it (the plan itself is not run).
        let analyzed = ctx.state().optimize(&plan).map_err(df_error)?;
        Ok(output_columns(analyzed.schema().as_arrow(), names))
    }

    fn explain(&self, req: QueryRequest<'_>, analyze: bool) -> Result<String, SqlError> {
        let (ctx, plan, _) = self.plan(&req)?;
        let started = std::time::Instant::now();
        let (physical, runtime) = self.physical(&ctx, plan, &req)?;
        let mut rows = 0;
        if analyze {
            let (plan, task) = (physical.clone(), ctx.task_ctx());
            let batches = self.wait(runtime, req.interrupt.as_ref(), async move {
                datafusion::physical_plan::collect(plan, task).await
            })?;
            rows = batches.iter().map(|b| b.num_rows()).sum::<usize>();
        }
        let tree = if analyze {
            DisplayableExecutionPlan::with_metrics(physical.as_ref())
        } else {
            DisplayableExecutionPlan::new(physical.as_ref())
        }
        .indent(false)
        .to_string();
        let mut text = String::from(
            "-> ReefDB: OLAP path (DataFusion, vectorized, on the statement's snapshot)",
        );
        text.push_str(if std::ptr::eq(runtime, &self.short) {
            " on the short-query threads"
        } else {
            " on the analytical threads"
        });
        if analyze {
            text.push_str(&format!(
                " (actual time={:.3} ms, rows={rows})",
                started.elapsed().as_secs_f64() * 1e3
            ));
        }
        for line in tree.lines() {
            // DataFusion indents a child by two spaces; ours by four, as MySQL's trees.
            let depth = line.len() - line.trim_start().len();
            text.push('\n');
            text.push_str(&" ".repeat(4 + depth * 2));
            text.push_str("-> ");
            text.push_str(line.trim_start());
        }
        Ok(text)
    }
}

fn output_columns(schema: &arrow_schema::Schema, names: Vec<String>) -> Vec<OutColumn> {
    schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let name = names.get(i).cloned().unwrap_or_else(|| f.name().clone());
            out_column(f, name)
        })
        .collect()
}

/// Maps a DataFusion error to the MySQL error a client should see.
pub fn df_error(e: DataFusionError) -> SqlError {
    let root = e.find_root();
    if let DataFusionError::External(inner) = root {
        if let Some(s) = inner.downcast_ref::<SqlError>() {
            return s.clone();
        }
    }
    match root {
        DataFusionError::NotImplemented(m) => SqlError::unsupported(m),
        DataFusionError::SchemaError(s, _) => match s.as_ref() {
            datafusion::common::SchemaError::FieldNotFound { field, .. } => SqlError::new(
                error::ER_BAD_FIELD_ERROR,
                format!("Unknown column '{}' in 'field list'", field.name),
            ),
            datafusion::common::SchemaError::AmbiguousReference { field } => SqlError::new(
                error::ER_NON_UNIQ_ERROR,
                format!("Column '{}' in field list is ambiguous", field.name),
            ),
            other => SqlError::new(error::ER_UNKNOWN_ERROR, other.to_string()),
        },
        DataFusionError::ResourcesExhausted(m) => SqlError::new(
            error::ER_OUT_OF_RESOURCES,
            format!("Out of memory in an analytical query (per-query limit): {m}"),
        ),
        other => SqlError::new(error::ER_UNKNOWN_ERROR, other.to_string()),
    }
}

/// `(database, table)` of a relation name, `db` when unqualified.
fn split_name(n: &ObjectName, db: Option<&str>) -> Option<(String, String)> {
    let parts: Vec<String> =
        n.0.iter()
            .map(|p| p.as_ident().map(|i| i.value.clone()).unwrap_or_default())
            .collect();
    match parts.as_slice() {
        [t] => Some((db.unwrap_or("").to_string(), t.clone())),
        [d, t] => Some((d.clone(), t.clone())),
        _ => None,
    }
}

/// The tables `req` names, opened at its snapshot. Names the catalog does not know are
/// left for DataFusion (common table expressions), which answers 1146 for the rest.
fn resolve(req: &QueryRequest<'_>) -> Result<(QueryCatalog, Vec<Arc<TableDef>>), SqlError> {
    let mut names = Vec::new();
    let _ = visit_relations(&req.query, |n| {
        names.push(n.clone());
        ControlFlow::<()>::Continue(())
    });
    let mut catalog = QueryCatalog::default();
    let mut defs = Vec::new();
    let mut seen = HashSet::new();
    for n in names {
        let Some((db, table)) = split_name(&n, req.db) else {
            continue;
        };
        if !seen.insert((db.clone(), table.clone())) {
            continue;
        }
        if db.eq_ignore_ascii_case(infoschema::INFORMATION_SCHEMA) {
            if let Some(t) = infoschema::table(req.engine, &table)? {
                catalog.add(&db, &table, Arc::new(t));
            }
            continue;
        }
        if let Some(def) = req.engine.catalog.table(&db, &table) {
            let tablet = req.engine.tablet_of(&def)?;
            catalog.add(
                &db,
                &table,
                Arc::new(ReefTable::new(
                    def.clone(),
                    tablet,
                    req.read.clone(),
                    req.interrupt.clone(),
                )),
            );
            defs.push(def);
        }
    }
    Ok((catalog, defs))
}

/// The names MySQL gives the result columns: the alias, else the column name as
/// written, else the expression's text; the first SELECT of a UNION names them.
fn column_names(q: &Query, defs: &[Arc<TableDef>]) -> Vec<String> {
    let mut body = q.body.as_ref();
    loop {
        match body {
            SetExpr::SetOperation { left, .. } => body = left.as_ref(),
            SetExpr::Query(inner) => body = inner.body.as_ref(),
            _ => break,
        }
    }
    let SetExpr::Select(sel) = body else {
        return Vec::new();
    };
    let mut names = Vec::new();
    for item in &sel.projection {
        match item {
            SelectItem::ExprWithAlias { alias, .. } => names.push(alias.value.clone()),
            SelectItem::UnnamedExpr(Expr::Identifier(id)) => names.push(id.value.clone()),
            SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) => {
                names.push(parts.last().map(|p| p.value.clone()).unwrap_or_default())
            }
            SelectItem::UnnamedExpr(e) => names.push(e.to_string()),
            SelectItem::ExprWithAliases { expr, .. } => names.push(expr.to_string()),
            // Wildcards: the table columns in their declared spelling, when one table is
            // expanded; otherwise DataFusion's (lower-cased) names.
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => {
                if sel.projection.len() == 1 && defs.len() == 1 {
                    names.extend(defs[0].columns.iter().map(|c| c.name.clone()));
                } else {
                    return Vec::new();
                }
            }
        }
    }
    names
}

/// Functions whose DataFusion behaviour matches MySQL's for the arguments MySQL accepts.
/// The OLTP evaluator computes the functions of [`bridge`]; anything else answers 1235 on
/// the OLAP path rather than a different answer.
const SAME_FUNCTIONS: &[&str] = &[
    "any_value",
    "grouping",
    // Only as `GROUP BY ROLLUP(...)`, MySQL's WITH ROLLUP (see [`Rollup`]).
    "rollup",
    "count",
    "sum",
    "min",
    "max",
    "avg",
    "coalesce",
    "nullif",
    "abs",
    "lower",
    "lcase",
    "upper",
    "ucase",
    "char_length",
    "character_length",
    "octet_length",
    "ltrim",
    "rtrim",
    "trim",
    "replace",
    "concat_ws",
    "floor",
    "ceil",
    "ceiling",
    "sqrt",
    "exp",
    "ln",
    "log10",
    "log2",
    "power",
    "pow",
    "sign",
    "pi",
    "row_number",
    "rank",
    "dense_rank",
    "percent_rank",
    "cume_dist",
    "ntile",
    "lag",
    "lead",
    "first_value",
    "last_value",
    "nth_value",
];

fn function_name(f: &sqlparser::ast::Function) -> String {
    f.name.to_string().to_ascii_lowercase()
}

/// Rejects functions and forms whose DataFusion semantics differ from MySQL's.
fn check_functions(q: &Query) -> Result<(), SqlError> {
    let mut failure = None;
    let _ = visit_expressions(q, |e| {
        let bad = match e {
            Expr::Function(f) => {
                let name = function_name(f);
                (!SAME_FUNCTIONS.contains(&name.as_str())
                    && !bridge::is_bridged_function(&name)
                    && name != "reef_group_concat")
                    .then(|| format!("function {name} on the analytical path"))
                    .or_else(|| {
                        matches!(f.args, FunctionArguments::Subquery(_))
                            .then(|| format!("{name}(subquery)"))
                    })
            }
            Expr::Value(v) if matches!(v.value, SqlValue::Placeholder(_)) => {
                Some("parameters in this query shape".into())
            }
            _ => None,
        };
        match bad {
            Some(b) => {
                failure = Some(SqlError::unsupported(b));
                ControlFlow::Break(())
            }
            None => ControlFlow::Continue(()),
        }
    });
    failure.map_or(Ok(()), Err)
}

/// The query with every quoted identifier lower-cased (DataFusion lower-cases unquoted
/// ones), so identifiers match the lower-cased column names whatever their spelling.
fn lower_identifiers(q: &Query) -> Result<Query, SqlError> {
    let text = q.to_string();
    let dialect = ReefDialect::default();
    let mut tokens = Tokenizer::new(&dialect, &text)
        .tokenize_with_location()
        .map_err(|e| SqlError::internal(format!("re-tokenizing a query: {e}")))?;
    for t in &mut tokens {
        if let Token::Word(w) = &mut t.token {
            if w.quote_style.is_some() {
                w.value = w.value.to_lowercase();
            }
        }
    }
    Parser::new(&dialect)
        .with_tokens_with_locations(tokens)
        .parse_query()
        .map(|q| *q)
        .map_err(|e| SqlError::internal(format!("re-parsing a query: {e}")))
}

/// MySQL lets a SELECT list repeat a name (`SELECT id, id`, `SELECT a.id, b.id`,
/// `SELECT 1 AS x, 2 AS x`); DataFusion refuses a projection with two equal names. The
/// client sees the names `column_names` took from the query as written, so each repeat
/// gets a private alias here, in the result's SELECT lists (every branch of a UNION).
fn unique_output_names(body: &mut SetExpr) {
    match body {
        SetExpr::SetOperation { left, right, .. } => {
            unique_output_names(left);
            unique_output_names(right);
        }
        SetExpr::Query(q) => unique_output_names(&mut q.body),
        SetExpr::Select(sel) => {
            let mut seen = HashSet::new();
            for (i, item) in sel.projection.iter_mut().enumerate() {
                let name = match &*item {
                    SelectItem::ExprWithAlias { alias, .. } => alias.value.to_lowercase(),
                    SelectItem::UnnamedExpr(Expr::Identifier(id)) => id.value.to_lowercase(),
                    SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) => parts
                        .last()
                        .map(|p| p.value.to_lowercase())
                        .unwrap_or_default(),
                    SelectItem::UnnamedExpr(e) => e.to_string().to_lowercase(),
                    _ => continue,
                };
                if seen.insert(name) {
                    continue;
                }
                let alias = sqlparser::ast::Ident::new(format!("__reef_dup{i}"));
                match item {
                    SelectItem::ExprWithAlias { alias: a, .. } => *a = alias,
                    SelectItem::UnnamedExpr(e) => {
                        *item = SelectItem::ExprWithAlias {
                            expr: e.clone(),
                            alias,
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

/// MySQL's `GROUP_CONCAT([DISTINCT] a, b ... [ORDER BY ...] [SEPARATOR s])`, which the
/// session hands over as `reef_group_concat(max_len, ...)`, becomes
/// `reef_cut(string_agg([DISTINCT] concat(a, b, ...), s [ORDER BY ...]), max_len)`. CONCAT is
/// bridged to the OLTP evaluator, so values read as MySQL shows them and a row with any
/// NULL argument is skipped (string_agg skips NULLs); the separator defaults to ','; the
/// result is cut to `group_concat_max_len` bytes.
struct GroupConcat;

impl sqlparser::ast::VisitorMut for GroupConcat {
    type Break = SqlError;

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<SqlError> {
        use sqlparser::ast::{FunctionArg, FunctionArgExpr, FunctionArgumentClause};
        let Expr::Function(f) = e else {
            return ControlFlow::Continue(());
        };
        if function_name(f) != "reef_group_concat" {
            return ControlFlow::Continue(());
        }
        // The session put the limit first; GROUP_CONCAT itself takes one value or more.
        let refused = || ControlFlow::Break(SqlError::unsupported("this form of GROUP_CONCAT"));
        let FunctionArguments::List(list) = &f.args else {
            return refused();
        };
        let mut values = Vec::new();
        for arg in &list.args {
            match arg {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) => values.push(x.clone()),
                _ => return refused(),
            }
        }
        if values.len() < 2 {
            return refused();
        }
        let limit = values.remove(0);
        let mut separator = Expr::Value(SqlValue::SingleQuotedString(",".into()).into());
        let mut clauses = Vec::new();
        for clause in &list.clauses {
            match clause {
                FunctionArgumentClause::Separator(v) => separator = Expr::Value(v.clone()),
                FunctionArgumentClause::OrderBy(_)
                    if matches!(
                        list.duplicate_treatment,
                        Some(sqlparser::ast::DuplicateTreatment::Distinct)
                    ) =>
                {
                    // DataFusion sorts a DISTINCT aggregate only by its own argument, and
                    // the argument here is the values' text, not the values.
                    return ControlFlow::Break(SqlError::unsupported(
                        "GROUP_CONCAT with both DISTINCT and ORDER BY",
                    ));
                }
                other => clauses.push(other.clone()),
            }
        }
        let mut agg = bridge::call(
            "string_agg".into(),
            vec![bridge::call("concat".into(), values), separator],
        );
        if let Expr::Function(sqlparser::ast::Function {
            args: FunctionArguments::List(l),
            ..
        }) = &mut agg
        {
            l.duplicate_treatment = list.duplicate_treatment;
            l.clauses = clauses;
        }
        *e = bridge::call("reef_cut".into(), vec![agg, limit]);
        ControlFlow::Continue(())
    }
}

/// `GROUP BY a, b WITH ROLLUP` (spelled `GROUP BY ROLLUP(a, b)` by the session's parse):
/// DataFusion's ROLLUP grouping set. Without an ORDER BY, rows come in MySQL's order: by
/// the grouped values, each super-aggregate row after the rows it totals
/// (`ORDER BY GROUPING(a), a, GROUPING(b), b`).
struct Rollup;

impl sqlparser::ast::VisitorMut for Rollup {
    type Break = ();

    fn post_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
        let SetExpr::Select(sel) = q.body.as_mut() else {
            return ControlFlow::Continue(());
        };
        let sqlparser::ast::GroupByExpr::Expressions(exprs, _) = &mut sel.group_by else {
            return ControlFlow::Continue(());
        };
        let [rollup @ Expr::Function(f)] = exprs.as_slice() else {
            return ControlFlow::Continue(());
        };
        if !reef_sql::olap::is_rollup(rollup) {
            return ControlFlow::Continue(());
        }
        let grouped: Vec<Expr> = bridge::function_children(f).into_iter().cloned().collect();
        exprs[0] = Expr::Rollup(grouped.iter().map(|e| vec![e.clone()]).collect());
        if q.order_by.is_none() {
            let by = |expr: Expr| sqlparser::ast::OrderByExpr {
                expr,
                options: sqlparser::ast::OrderByOptions {
                    asc: None,
                    nulls_first: None,
                },
                with_fill: None,
            };
            q.order_by = Some(sqlparser::ast::OrderBy {
                kind: sqlparser::ast::OrderByKind::Expressions(
                    grouped
                        .iter()
                        .flat_map(|e| {
                            [
                                by(bridge::call("grouping".into(), vec![e.clone()])),
                                by(e.clone()),
                            ]
                        })
                        .collect(),
                ),
                interpolate: None,
            });
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn olap_threads_run_in_the_configured_scheduling_class() {
        use thread_priority::{NormalThreadSchedulePolicy, ThreadSchedulePolicy};
        let class_on = |priority, short: bool| {
            let engine = OlapEngine::new(OlapOptions {
                threads: 1,
                priority,
                ..OlapOptions::default()
            })
            .expect("runtime");
            let runtime = if short {
                &engine.short
            } else {
                &engine.runtime
            };
            engine
                .wait(runtime, None, async {
                    Ok(thread_priority::thread_schedule_policy())
                })
                .expect("task")
                .expect("policy")
        };
        let class_on_olap = |priority| class_on(priority, false);
        // Short queries run in the normal class whatever the analytical threads' priority.
        assert_eq!(
            class_on(OlapPriority::Idle, true),
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other)
        );
        assert_eq!(
            class_on_olap(OlapPriority::Idle),
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle)
        );
        assert_eq!(
            class_on_olap(OlapPriority::Low),
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other)
        );
        // The caller's (session) thread keeps its class.
        assert_eq!(
            thread_priority::thread_schedule_policy().expect("policy"),
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other)
        );
    }
}
