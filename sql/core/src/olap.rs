//! The hand-off to the OLAP path: queries the OLTP executor does not plan (joins, derived
//! tables, subqueries, UNION, CTEs, window functions) go to a [`QueryEngine`], which the
//! server wires in from `reef-olap` (the only crate that builds DataFusion).
//!
//! Before the hand-off the session inlines what only it knows: user and system variables,
//! `DATABASE()`, `CONNECTION_ID()`, `NOW()` and the like become literals, so the OLAP engine
//! sees a self-contained query over tables and a snapshot to read them at.

use std::ops::ControlFlow;

use reef_storage::mvcc::ReadCtx;
use sqlparser::ast::{
    visit_expressions, visit_expressions_mut, CastKind, DataType, Expr, Function, FunctionArg,
    FunctionArgExpr, FunctionArgumentList, FunctionArguments, GroupByExpr, Ident, ObjectName,
    Query, SelectItem, SetExpr, TableFactor, Value as SqlValue, ValueWithSpan, VisitMut,
    VisitorMut,
};

use crate::datum::Datum;
use crate::expr::{any_expr, eval, Scope};
use crate::session::{to_literal, OutColumn, Output, SqlEngine};
use crate::SqlError;

/// What the OLAP engine is asked to run.
#[derive(Debug)]
pub struct QueryRequest<'a> {
    /// The node's catalog and tablets.
    pub engine: &'a SqlEngine,
    /// The session's current database.
    pub db: Option<&'a str>,
    /// The query, with session values inlined (placeholders, when describing, are NULL).
    pub query: Query,
    /// The snapshot (and own-write visibility) to read at.
    pub read: ReadCtx,
    /// Raised by `KILL QUERY`: the query stops with 1317.
    pub interrupt: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

/// Runs queries the OLTP path does not plan.
pub trait QueryEngine: Send + Sync + std::fmt::Debug {
    /// Runs the query and returns its rows.
    fn query(&self, req: QueryRequest<'_>) -> Result<Output, SqlError>;
    /// The result columns the query would have (for COM_STMT_PREPARE).
    fn describe(&self, req: QueryRequest<'_>) -> Result<Vec<OutColumn>, SqlError>;
    /// The query's physical plan as an indented tree (`EXPLAIN FORMAT=TREE`); with
    /// `analyze`, after running it, with what each operator measured (`EXPLAIN ANALYZE`).
    fn explain(&self, req: QueryRequest<'_>, analyze: bool) -> Result<String, SqlError>;
}

/// Whether `q` needs the OLAP path: anything beyond one table with plain expressions.
pub fn needs_olap(q: &Query) -> bool {
    if q.with.is_some() {
        return true;
    }
    let SetExpr::Select(sel) = q.body.as_ref() else {
        return true;
    };
    let complex_from = match sel.from.as_slice() {
        [] => false,
        [t] => match &t.relation {
            // information_schema tables exist only on the OLAP path.
            TableFactor::Table { name, .. } => {
                !t.joins.is_empty()
                    || (name.0.len() == 2
                        && name.0[0]
                            .as_ident()
                            .is_some_and(|i| i.value.eq_ignore_ascii_case("information_schema")))
            }
            _ => true,
        },
        _ => true,
    };
    if complex_from || has_rollup(sel) {
        return true;
    }
    let found = visit_expressions(q, |e| match e {
        Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => ControlFlow::Break(()),
        // GROUP_CONCAT is computed by DataFusion's string_agg (see `inline_session`).
        Expr::Function(f) if is_called(f, "group_concat") => ControlFlow::Break(()),
        Expr::Function(f)
            if f.over.is_some() || matches!(f.args, FunctionArguments::Subquery(_)) =>
        {
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    });
    found.is_break()
}

/// Whether the SELECT groups `WITH ROLLUP` (spelled `GROUP BY ROLLUP(...)` by
/// `names::mysql_spellings`); only the OLAP path computes super-aggregates.
fn has_rollup(sel: &sqlparser::ast::Select) -> bool {
    matches!(&sel.group_by, GroupByExpr::Expressions(exprs, _) if exprs.iter().any(is_rollup))
}

/// A `ROLLUP(...)` call in a GROUP BY list.
pub fn is_rollup(e: &Expr) -> bool {
    matches!(e, Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("rollup"))
}

/// Functions evaluated by the session, not by the OLAP engine, because their value comes
/// from the session or must be the statement's one reading of the clock.
const SESSION_FUNCTIONS: &[&str] = &[
    "database",
    "schema",
    "user",
    "current_user",
    "session_user",
    "system_user",
    "connection_id",
    "last_insert_id",
    "version",
    "now",
    "current_timestamp",
    "sysdate",
    "localtime",
    "localtimestamp",
    "curdate",
    "current_date",
];

fn is_variable(e: &Expr) -> bool {
    match e {
        Expr::Identifier(id) => id.value.starts_with('@'),
        Expr::CompoundIdentifier(parts) => parts.first().is_some_and(|p| p.value.starts_with("@@")),
        _ => false,
    }
}

fn is_session_function(e: &Expr) -> bool {
    match e {
        Expr::Function(f) => {
            let bare = match &f.args {
                FunctionArguments::None => true,
                FunctionArguments::List(l) => l.args.is_empty(),
                FunctionArguments::Subquery(_) => false,
            };
            bare && f.name.0.len() == 1
                && SESSION_FUNCTIONS.contains(&f.name.to_string().to_ascii_lowercase().as_str())
        }
        _ => false,
    }
}

/// A literal the OLAP engine reads with the value's type: temporal values as typed casts
/// (so date arithmetic works on them), everything else as the session writes literals.
fn literal_expr(d: Datum) -> Expr {
    let temporal = match d {
        Datum::Date(_) => DataType::Date,
        Datum::DateTime(_) => DataType::Timestamp(None, sqlparser::ast::TimezoneInfo::None),
        other => return Expr::Value(ValueWithSpan::from(to_literal(other))),
    };
    Expr::Cast {
        kind: CastKind::Cast,
        expr: Box::new(Expr::Value(ValueWithSpan::from(
            SqlValue::SingleQuotedString(d.to_text().unwrap_or_default()),
        ))),
        data_type: temporal,
        array: false,
        format: None,
    }
}

/// `q` with variables and session functions replaced by their values, and, when
/// `placeholders_null`, every `?` by NULL.
pub(crate) fn inline_session(
    q: &Query,
    scope: &dyn Scope,
    placeholders_null: bool,
) -> Result<Query, SqlError> {
    let mut q = q.clone();
    let mut failure = None;
    let _ = visit_expressions_mut(&mut q, |e| {
        let placeholder = matches!(
            e,
            Expr::Value(ValueWithSpan {
                value: SqlValue::Placeholder(_),
                ..
            })
        );
        if placeholder && placeholders_null {
            *e = literal_expr(Datum::Null);
        } else if is_variable(e) || is_session_function(e) {
            match eval(e, scope) {
                Ok(d) => *e = literal_expr(d),
                Err(err) => {
                    failure = Some(err);
                    return ControlFlow::Break(());
                }
            }
        }
        ControlFlow::Continue(())
    });
    if let Some(e) = failure {
        return Err(e);
    }
    group_concat_limits(&mut q, scope);
    let full_group_by = scope
        .system_var("sql_mode")
        .ok()
        .and_then(|d| d.to_text())
        .is_none_or(|m| {
            m.split(',')
                .any(|x| x.trim().eq_ignore_ascii_case("ONLY_FULL_GROUP_BY"))
        });
    if full_group_by {
        let mut check = FullGroupBy {
            scope,
            failure: None,
        };
        let _ = sqlparser::ast::Visit::visit(&q, &mut check);
        if let Some(e) = check.failure {
            return Err(e);
        }
    } else {
        let _ = q.visit(&mut UngroupedAnyValue);
    }
    Ok(q)
}

/// `GROUP_CONCAT(...)` becomes `reef_group_concat(<group_concat_max_len>, ...)`: the OLAP
/// path computes it, and cuts its result to the session's limit in bytes.
fn group_concat_limits(q: &mut Query, scope: &dyn Scope) {
    let mut limit = None;
    let _ = visit_expressions_mut(q, |e| {
        if let Expr::Function(f) = e {
            if is_called(f, "group_concat") {
                if let FunctionArguments::List(list) = &mut f.args {
                    f.name = ObjectName::from(vec![Ident::new("reef_group_concat")]);
                    let limit = *limit.get_or_insert_with(|| {
                        scope
                            .system_var("group_concat_max_len")
                            .ok()
                            .and_then(|d| d.as_exact_int())
                            .unwrap_or(1024)
                            .max(4)
                    });
                    let limit = literal_expr(Datum::Int(limit as i64));
                    list.args
                        .insert(0, FunctionArg::Unnamed(FunctionArgExpr::Expr(limit)));
                }
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

/// Whether `f` calls the unqualified function `name` (any case), without allocating: this
/// runs over every statement's expressions.
fn is_called(f: &Function, name: &str) -> bool {
    matches!(f.name.0.as_slice(), [part] if part.as_ident().is_some_and(|i| i.value.eq_ignore_ascii_case(name)))
}

/// Aggregate functions, which make a SELECT without GROUP BY one group.
const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "min",
    "max",
    "avg",
    "any_value",
    "group_concat",
    "reef_group_concat",
    "bit_and",
    "bit_or",
    "bit_xor",
    "std",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "var_pop",
    "var_samp",
    "variance",
    "json_arrayagg",
    "json_objectagg",
];

fn is_group_aggregate(e: &Expr) -> bool {
    matches!(e, Expr::Function(f) if f.over.is_none()
        && f.name.0.len() == 1
        && AGGREGATES.contains(&f.name.to_string().to_ascii_lowercase().as_str()))
}

/// ONLY_FULL_GROUP_BY for a SELECT without GROUP BY whose list holds an aggregate: an item
/// naming a column outside any aggregate is MySQL's 1140. (With GROUP BY, MySQL accepts
/// columns functionally dependent on the grouped ones; DataFusion's planner decides those.)
struct FullGroupBy<'a> {
    scope: &'a dyn Scope,
    failure: Option<SqlError>,
}

impl sqlparser::ast::Visitor for FullGroupBy<'_> {
    type Break = ();

    fn post_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        if let SetExpr::Select(sel) = q.body.as_ref() {
            if let Some(e) = ungrouped_column(sel, self.scope) {
                self.failure = Some(e);
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }
}

/// A select item's expression with its subqueries replaced by NULL: what the subqueries
/// aggregate or name belongs to them, not to this SELECT.
fn item_expr(item: &SelectItem) -> Option<Expr> {
    let mut e = match item {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e.clone(),
        _ => return None,
    };
    let _ = visit_expressions_mut(&mut e, |x| {
        if matches!(
            x,
            Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. }
        ) {
            *x = literal_expr(Datum::Null);
        }
        ControlFlow::<()>::Continue(())
    });
    Some(e)
}

/// Whether the SELECT list holds an aggregate call (outside window functions).
pub(crate) fn is_aggregated(sel: &sqlparser::ast::Select) -> bool {
    sel.projection
        .iter()
        .filter_map(item_expr)
        .any(|e| any_expr(&e, is_group_aggregate))
}

fn ungrouped_column(sel: &sqlparser::ast::Select, scope: &dyn Scope) -> Option<SqlError> {
    let no_group = matches!(&sel.group_by, GroupByExpr::Expressions(g, _) if g.is_empty());
    if !no_group || !is_aggregated(sel) {
        return None;
    }
    for (i, item) in sel.projection.iter().enumerate() {
        let Some(mut e) = item_expr(item) else {
            continue;
        };
        let _ = visit_expressions_mut(&mut e, |x| {
            if is_group_aggregate(x) {
                *x = literal_expr(Datum::Null);
            }
            ControlFlow::<()>::Continue(())
        });
        let mut column = None;
        let _ = visit_expressions(&e, |x| {
            match x {
                Expr::Identifier(id) => column = Some(vec![id.value.clone()]),
                Expr::CompoundIdentifier(p) => {
                    column = Some(p.iter().map(|i| i.value.clone()).collect())
                }
                _ => return ControlFlow::Continue(()),
            }
            ControlFlow::Break(())
        });
        let Some(parts) = column else { continue };
        let parts = qualified_column(sel, scope, parts);
        return Some(SqlError::new(
            reef_common::error::ER_MIX_OF_GROUP_FUNC_AND_FIELDS,
            format!(
                "In aggregated query without GROUP BY, expression #{} of SELECT list contains \
                 nonaggregated column '{}'; this is incompatible with sql_mode=only_full_group_by",
                i + 1,
                parts.join(".")
            ),
        ));
    }
    None
}

/// A column as MySQL's messages name it: `db.table.col` when the SELECT reads one table and
/// the column was written bare, as written otherwise.
fn qualified_column(
    sel: &sqlparser::ast::Select,
    scope: &dyn Scope,
    parts: Vec<String>,
) -> Vec<String> {
    let [sqlparser::ast::TableWithJoins {
        relation: TableFactor::Table { name, .. },
        joins,
    }] = sel.from.as_slice()
    else {
        return parts;
    };
    if parts.len() != 1 || !joins.is_empty() {
        return parts;
    }
    let mut out: Vec<String> = name
        .0
        .iter()
        .map(|p| p.to_string().trim_matches('`').to_string())
        .collect();
    if out.len() == 1 {
        if let Some(db) = scope.session_fn("database").and_then(|d| d.to_text()) {
            out.insert(0, db);
        }
    }
    out.extend(parts);
    out
}

/// Without ONLY_FULL_GROUP_BY in `sql_mode`, MySQL lets a grouped SELECT name columns that
/// are neither grouped nor aggregated and answers with any value of the group (mysqldump
/// and older applications rely on it). Such columns become `ANY_VALUE(col)`, still named
/// as written.
struct UngroupedAnyValue;

impl VisitorMut for UngroupedAnyValue {
    type Break = ();

    fn post_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
        any_value_for_ungrouped(&mut q.body);
        ControlFlow::Continue(())
    }
}

fn any_value_for_ungrouped(body: &mut SetExpr) {
    let select = match body {
        SetExpr::Select(s) => s,
        SetExpr::SetOperation { left, right, .. } => {
            any_value_for_ungrouped(left);
            any_value_for_ungrouped(right);
            return;
        }
        _ => return,
    };
    let GroupByExpr::Expressions(groups, _) = &select.group_by else {
        return;
    };
    // Without GROUP BY an aggregate makes the whole input one group.
    if groups.is_empty() && !is_aggregated(select) {
        return;
    }
    let last = |e: &Expr| match e {
        Expr::Identifier(i) => Some(i.value.to_ascii_lowercase()),
        Expr::CompoundIdentifier(p) => p.last().map(|i| i.value.to_ascii_lowercase()),
        _ => None,
    };
    let grouped: Vec<String> = groups.iter().filter_map(last).collect();
    for item in &mut select.projection {
        let (expr, alias) = match item {
            SelectItem::UnnamedExpr(e) => (e, None),
            SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.clone())),
            _ => continue,
        };
        let Some(name) = last(expr) else { continue };
        if grouped.contains(&name) {
            continue;
        }
        let shown = alias.unwrap_or_else(|| match expr {
            Expr::Identifier(i) => i.clone(),
            Expr::CompoundIdentifier(p) => p.last().cloned().unwrap_or_else(|| Ident::new(name)),
            _ => Ident::new(name),
        });
        let wrapped = Expr::Function(Function {
            name: ObjectName::from(vec![Ident::new("any_value")]),
            uses_odbc_syntax: false,
            parameters: FunctionArguments::None,
            args: FunctionArguments::List(FunctionArgumentList {
                duplicate_treatment: None,
                args: vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(expr.clone()))],
                clauses: Vec::new(),
            }),
            filter: None,
            null_treatment: None,
            over: None,
            within_group: Vec::new(),
        });
        *item = SelectItem::ExprWithAlias {
            expr: wrapped,
            alias: shown,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::parse;
    use sqlparser::ast::Statement;

    fn query(sql: &str) -> Query {
        match parse(sql).expect("parses").remove(0) {
            Statement::Query(q) => *q,
            other => panic!("not a query: {other}"),
        }
    }

    #[test]
    fn plain_single_table_queries_stay_on_the_oltp_path() {
        for sql in [
            "SELECT c FROM t WHERE id = 1",
            "SELECT k, COUNT(*) FROM t GROUP BY k HAVING COUNT(*) > 1 ORDER BY k LIMIT 3",
            "SELECT 1 + 1",
            "SELECT id FROM t WHERE id IN (1, 2, 3) FOR UPDATE",
        ] {
            assert!(!needs_olap(&query(sql)), "{sql}");
        }
    }

    #[test]
    fn joins_subqueries_unions_and_ctes_go_to_olap() {
        for sql in [
            "SELECT * FROM a JOIN b ON a.x = b.x",
            "SELECT * FROM a, b",
            "SELECT * FROM (SELECT 1 AS x) d",
            "SELECT x FROM a WHERE x IN (SELECT y FROM b)",
            "SELECT (SELECT MAX(y) FROM b) FROM a",
            "SELECT x FROM a WHERE EXISTS (SELECT 1 FROM b WHERE b.y = a.x)",
            "SELECT 1 UNION SELECT 2",
            "WITH c AS (SELECT 1 AS x) SELECT x FROM c",
            "SELECT table_name FROM information_schema.tables",
            "SELECT x, ROW_NUMBER() OVER (ORDER BY x) FROM a",
            "SELECT k, COUNT(*) FROM t GROUP BY k WITH ROLLUP",
        ] {
            assert!(needs_olap(&query(sql)), "{sql}");
        }
    }
}
