//! Sessions: what one client connection sees. Statement dispatch, transaction control
//! (autocommit, explicit transactions, statement-level rollback, savepoints), session and
//! user variables, `SHOW`, `USE`, DDL, and prepared statements.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use crate::dialect::ReefDialect;
use parking_lot::Mutex;
use reef_common::charset::ClientCharset;
use reef_common::error;
use reef_common::ids::TabletId;
use reef_common::types::ColumnType;
use reef_storage::tablet::Tablet;
use reef_txn::txn::{Isolation, Transaction, TxnManager, TxnOptions};
use sqlparser::ast::{
    visit_expressions_mut, AnalyzeFormat, AnalyzeFormatKind, Expr, ObjectName, ObjectType, Query,
    Set, SetExpr, ShowStatementFilter, Statement, TransactionAccessMode, TransactionIsolationLevel,
    TransactionMode, Use, Value as SqlValue, ValueWithSpan,
};
use sqlparser::parser::Parser;

use crate::catalog::{index_schema, Catalog, IndexDef, IndexState, TableDef};
use crate::datum::Datum;
use crate::expr::{like, Scope};
use crate::mdl::{MdlMode, MetadataLocks, TableKey};
use crate::olap::QueryEngine;
use crate::vars::{default_of, SYSTEM_VARS};
use crate::{dml, SqlError};

/// Where tablets come from: the node that hosts them.
pub trait TabletSource: Send + Sync {
    /// The open tablet `id`.
    fn tablet(&self, id: TabletId) -> Option<Arc<Tablet>>;
    /// Creates (or opens) a new tablet (a table's or an index's).
    fn create_tablet(
        &self,
        id: TabletId,
        schema: reef_storage::schema::RowSchema,
    ) -> Result<Arc<Tablet>, SqlError>;
    /// Every open tablet.
    fn all_tablets(&self) -> Vec<Arc<Tablet>>;
    /// Lets go of tablets no table uses any more (a dropped table's, a truncated or
    /// rebuilt table's old ones, a dropped index's), once the catalog change that left them
    /// is committed: they stop holding the log back. Their files go when the node next
    /// opens.
    fn retire_tablets(&self, ids: &[TabletId]);
}

/// ((database, table), (database, table)) of one rename.
type TableNamePair = ((String, String), (String, String));

/// What a statement returns.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// An OK packet's contents.
    Ok {
        /// Rows changed (or matched, when the client asked for found rows).
        affected: u64,
        /// The first AUTO_INCREMENT value generated.
        last_insert_id: u64,
        /// `Rows matched: ...` and the like.
        info: String,
        /// Warnings raised.
        warnings: u16,
    },
    /// A result set.
    Rows {
        /// Column metadata.
        columns: Vec<OutColumn>,
        /// The rows.
        rows: Vec<Vec<Datum>>,
    },
}

impl Output {
    fn ok(affected: u64) -> Output {
        Output::Ok {
            affected,
            last_insert_id: 0,
            info: String::new(),
            warnings: 0,
        }
    }
}

/// The `INTO` target of a query's SELECT, if it names one.
fn select_into(q: &Query) -> Option<&sqlparser::ast::SelectInto> {
    match q.body.as_ref() {
        SetExpr::Select(sel) => sel.into.as_ref(),
        _ => None,
    }
}

/// One result column.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutColumn {
    /// The name the client sees (alias or expression text).
    pub name: String,
    /// The table alias, if the column comes from a table.
    pub table: String,
    /// The table's real name.
    pub org_table: String,
    /// The database.
    pub db: String,
    /// The column's real name.
    pub org_name: String,
    /// The column's type, if it is a table column.
    pub ty: Option<ColumnType>,
    /// NOT NULL.
    pub not_null: bool,
    /// Part of the primary key.
    pub primary_key: bool,
    /// AUTO_INCREMENT.
    pub auto_increment: bool,
}

/// State shared by every session of a node.
pub struct SqlEngine {
    /// Databases and tables.
    pub catalog: Catalog,
    /// The node's tablets.
    pub tablets: Arc<dyn TabletSource>,
    /// Transactions.
    pub txns: Arc<TxnManager>,
    /// `VERSION()`.
    pub version: String,
    pub(crate) counters: Mutex<HashMap<TabletId, Arc<dml::Counter>>>,
    ddl: Mutex<()>,
    olap: std::sync::OnceLock<Arc<dyn QueryEngine>>,
    /// Table-level locks of transactions, `LOCK TABLES` and DDL.
    pub mdl: MetadataLocks,
    next_lock_owner: AtomicU32,
    /// Every session, for `SHOW PROCESSLIST` and `KILL`.
    pub processes: crate::process::ProcessList,
    /// Statements clients sent (`Questions`).
    pub(crate) questions: std::sync::atomic::AtomicU64,
    /// When the engine started (`Uptime`).
    started: std::time::Instant,
}

impl std::fmt::Debug for SqlEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SqlEngine({:?})", self.catalog)
    }
}

impl SqlEngine {
    /// The engine of a node.
    pub fn new(
        catalog: Catalog,
        tablets: Arc<dyn TabletSource>,
        txns: Arc<TxnManager>,
        version: String,
    ) -> Arc<SqlEngine> {
        Arc::new(SqlEngine {
            catalog,
            tablets,
            txns,
            version,
            counters: Mutex::new(HashMap::new()),
            ddl: Mutex::new(()),
            olap: std::sync::OnceLock::new(),
            mdl: MetadataLocks::default(),
            next_lock_owner: AtomicU32::new(1),
            processes: Default::default(),
            questions: Default::default(),
            started: std::time::Instant::now(),
        })
    }

    /// Before a clean stop: AUTO_INCREMENT counters persist their exact next values.
    pub fn settle_counters(&self) -> Result<(), SqlError> {
        dml::settle_counters(self)
    }

    /// Installs the engine that runs queries the OLTP path does not plan; the first one
    /// installed stays.
    pub fn set_query_engine(&self, engine: Arc<dyn QueryEngine>) {
        let _ = self.olap.set(engine);
    }

    /// The OLAP engine, or 1235 if this node runs without one.
    pub(crate) fn query_engine(&self) -> Result<&Arc<dyn QueryEngine>, SqlError> {
        self.olap.get().ok_or_else(|| {
            SqlError::unsupported("joins, subqueries and UNION without the OLAP engine")
        })
    }

    /// The open tablet holding `def`'s rows.
    pub fn tablet_of(&self, def: &TableDef) -> Result<Arc<Tablet>, SqlError> {
        self.tablet_by_id(def.id, &def.name)
    }

    pub(crate) fn tablet_by_id(&self, id: TabletId, what: &str) -> Result<Arc<Tablet>, SqlError> {
        self.tablets
            .tablet(id)
            .ok_or_else(|| SqlError::internal(format!("tablet {id} of {what} is not open")))
    }
}

struct Prepared {
    /// The statement; after an execution its parameters hold that execution's values.
    stmt: Statement,
    /// Where its parameters are: the ordinals, in `visit_expressions_mut` order, of the
    /// expressions that were placeholders. Binding overwrites those literals in place, so
    /// an execution neither copies nor frees the statement.
    params: Vec<usize>,
    /// Its text, for `SHOW PROCESSLIST`.
    text: String,
    /// The metadata locks its executions take, once an execution has worked them out.
    tables: Option<StatementTables>,
}

/// The tables a prepared statement uses and the metadata lock each needs
/// (`mdl::statement_tables`), worked out once under a current database: the statement's
/// table names stay what they are from one execution to the next, only its values change.
struct StatementTables {
    db: Option<String>,
    tables: Vec<(TableKey, MdlMode)>,
}

/// What the running statement knows of its tables' metadata locks.
enum RunningTables {
    /// It is not a prepared statement's execution: work them out.
    Unprepared,
    /// A prepared statement's execution, with the list its earlier executions used, if any.
    Prepared(Option<StatementTables>),
}

impl Prepared {
    /// Writes `values` into the statement's parameters, in order.
    fn bind(&mut self, values: Vec<Datum>) {
        let mut values = values.into_iter();
        let mut slots = self.params.iter().copied().peekable();
        let mut ordinal = 0usize;
        let _ = visit_expressions_mut(&mut self.stmt, |e| {
            if slots.peek() == Some(&ordinal) {
                slots.next();
                if let Expr::Value(v) = e {
                    v.value = to_literal(values.next().unwrap_or(Datum::Null));
                }
            }
            ordinal += 1;
            match slots.peek() {
                Some(_) => ControlFlow::Continue(()),
                None => ControlFlow::Break(()),
            }
        });
    }
}

/// Prepared statements one session may hold open (MySQL's default
/// `max_prepared_stmt_count`, which MySQL counts server-wide).
pub const PREPARED_PER_SESSION_MAX: usize = 16_382;

/// One connection's session.
pub struct SqlSession {
    engine: Arc<SqlEngine>,
    conn_id: u32,
    user: String,
    /// The host part of the account the session logged in as (`CURRENT_USER()`).
    account_host: String,
    /// Its entry in the process list.
    process: Arc<crate::process::Process>,
    db: Option<String>,
    autocommit: bool,
    isolation: Isolation,
    next_read_only: bool,
    txn: Option<Transaction>,
    vars: HashMap<String, String>,
    user_vars: HashMap<String, Datum>,
    last_insert_id: u64,
    warnings: u16,
    found_rows: bool,
    prepared: HashMap<u32, Prepared>,
    next_prepared: u32,
    /// This session's identity in the metadata locks.
    lock_owner: u32,
    /// Metadata locks the open transaction holds until it ends.
    txn_mdl: Vec<(TableKey, MdlMode)>,
    /// The running statement's tables, when a prepared statement knows them.
    running_tables: RunningTables,
    /// `LOCK TABLES` in effect: only these tables may be used, until `UNLOCK TABLES`.
    table_locks: Vec<(TableKey, MdlMode)>,
    /// What `SHOW WARNINGS` shows: the last statement's notes, warnings or error.
    diagnostics: Vec<Diagnostic>,
}

impl Drop for SqlSession {
    fn drop(&mut self) {
        if let Some(t) = self.txn.take() {
            t.rollback();
        }
        self.engine.mdl.release_owner(self.lock_owner);
        self.engine.processes.remove(&self.process);
    }
}

impl std::fmt::Debug for SqlSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SqlSession({}, {:?})", self.conn_id, self.db)
    }
}

fn parse_isolation(s: &str) -> Option<Isolation> {
    match s.to_ascii_uppercase().replace(' ', "-").as_str() {
        "READ-UNCOMMITTED" => Some(Isolation::ReadUncommitted),
        "READ-COMMITTED" => Some(Isolation::ReadCommitted),
        "REPEATABLE-READ" => Some(Isolation::RepeatableRead),
        "SERIALIZABLE" => Some(Isolation::Serializable),
        _ => None,
    }
}

fn isolation_name(i: Isolation) -> &'static str {
    match i {
        Isolation::ReadUncommitted => "READ-UNCOMMITTED",
        Isolation::ReadCommitted => "READ-COMMITTED",
        Isolation::RepeatableRead => "REPEATABLE-READ",
        Isolation::Serializable => "SERIALIZABLE",
    }
}

/// Parses SQL text (MySQL dialect) into statements, computed select items named by their
/// text as MySQL names result columns (`names`); `LOCK IN SHARE MODE` and an infix `MOD`
/// read as `FOR SHARE` and `%`.
pub fn parse(sql: &str) -> Result<Vec<Statement>, SqlError> {
    let rewritten = crate::names::mysql_spellings(sql);
    let mut stmts = Parser::parse_sql(&ReefDialect::default(), rewritten.as_deref().unwrap_or(sql))
        .map_err(|e| {
            SqlError::new(
                error::ER_PARSE_ERROR,
                format!("You have an error in your SQL syntax: {e}"),
            )
        })?;
    // Items are named from the text as the client wrote it.
    crate::names::name_select_items(sql, &mut stmts);
    Ok(stmts)
}

/// The client character set a name means, or MySQL's 1115.
fn charset_named(name: &str) -> Result<ClientCharset, SqlError> {
    ClientCharset::from_name(name).ok_or_else(|| {
        SqlError::new(
            error::ER_UNKNOWN_CHARACTER_SET,
            format!("Unknown character set: '{name}'"),
        )
    })
}

/// The variables `SET NAMES` sets to one character set (and `collation_connection`).
const NAMES_VARS: [&str; 3] = [
    "character_set_client",
    "character_set_connection",
    "character_set_results",
];

impl SqlSession {
    /// A session for connection `conn_id` of `user`; `found_rows` if the client asked for
    /// matched rather than changed rows (`CLIENT_FOUND_ROWS`).
    pub fn new(engine: Arc<SqlEngine>, conn_id: u32, user: &str, found_rows: bool) -> SqlSession {
        let engine_owner = engine.next_lock_owner.fetch_add(1, Ordering::Relaxed);
        let process = engine.processes.register(conn_id, user);
        SqlSession {
            process,
            engine,
            conn_id,
            user: user.to_string(),
            account_host: "%".to_string(),
            db: None,
            autocommit: true,
            isolation: Isolation::RepeatableRead,
            next_read_only: false,
            txn: None,
            vars: HashMap::new(),
            user_vars: HashMap::new(),
            last_insert_id: 0,
            warnings: 0,
            found_rows,
            prepared: HashMap::new(),
            next_prepared: 1,
            running_tables: RunningTables::Unprepared,
            lock_owner: engine_owner,
            txn_mdl: Vec::new(),
            table_locks: Vec::new(),
            diagnostics: Vec::new(),
        }
    }

    /// Whether a transaction is open (`SERVER_STATUS_IN_TRANS`).
    pub fn in_transaction(&self) -> bool {
        self.txn.is_some()
    }

    /// Whether autocommit is on (`SERVER_STATUS_AUTOCOMMIT`).
    pub fn autocommit(&self) -> bool {
        self.autocommit
    }

    /// Warnings of the last statement.
    pub fn warnings(&self) -> u16 {
        self.warnings
    }

    /// The current database.
    pub fn database(&self) -> Option<&str> {
        self.db.as_deref()
    }

    /// `USE db` / `COM_INIT_DB`.
    pub fn use_db(&mut self, db: &str) -> Result<(), SqlError> {
        if !self.engine.catalog.has_database(db) {
            return Err(SqlError::new(
                error::ER_BAD_DB_ERROR,
                format!("Unknown database '{db}'"),
            ));
        }
        self.db = Some(db.to_string());
        Ok(())
    }

    /// `COM_RESET_CONNECTION`: rolls back and forgets session state (the database stays).
    pub fn reset(&mut self) {
        if let Some(t) = self.txn.take() {
            t.rollback();
        }
        self.release_txn_locks();
        self.release_table_locks();
        self.autocommit = true;
        self.isolation = Isolation::RepeatableRead;
        self.vars.clear();
        self.user_vars.clear();
        self.prepared.clear();
        self.last_insert_id = 0;
        self.warnings = 0;
    }

    /// Notes which account the session's user logged in as, connecting from `peer`
    /// (`CURRENT_USER()` names it; `SET PASSWORD` without `FOR` changes it).
    pub fn logged_in_from(&mut self, peer: std::net::IpAddr) {
        self.process.set_host(peer.to_string());
        if let Some(u) = self.engine.catalog.login(&self.user, peer) {
            self.account_host = u.host;
        }
    }

    /// `COM_CHANGE_USER` after authentication.
    pub fn change_user(&mut self, user: &str, db: Option<&str>) -> Result<(), SqlError> {
        self.reset();
        self.user = user.to_string();
        self.db = None;
        match db {
            Some(d) => self.use_db(d),
            None => Ok(()),
        }
    }

    /// Runs SQL text (possibly several statements); stops after the first error.
    pub fn execute(&mut self, sql: &str) -> Vec<Result<Output, SqlError>> {
        self.engine.questions.fetch_add(1, Ordering::Relaxed);
        self.process.begin(sql, self.db.as_deref());
        let out = self.execute_text(sql);
        self.process.end();
        out
    }

    fn execute_text(&mut self, sql: &str) -> Vec<Result<Output, SqlError>> {
        let stmts = match parse(sql) {
            Ok(s) => s,
            Err(e) => {
                if let Some(x) = crate::mysql_only::parse(sql) {
                    return vec![self.run_mysql_only(x)];
                }
                self.diagnostics = vec![Diagnostic::error(&e)];
                return vec![Err(e)];
            }
        };
        // `SHOW WARNINGS` and friends parse as `SHOW <variable>` with tokens dropped; the
        // parser reads account statements without MySQL's `'user'@'host'` forms, and
        // `SET PASSWORD = 'pw'` as a variable.
        let recognise = match stmts.as_slice() {
            [Statement::ShowVariable { .. }
            | Statement::Grant(_)
            | Statement::CreateUser(_)
            | Statement::AlterUser(_)
            | Statement::Drop {
                object_type: ObjectType::User,
                ..
            }] => true,
            [Statement::Set(Set::SingleAssignment { variable, .. })] => {
                variable.to_string().eq_ignore_ascii_case("password")
            }
            _ => false,
        };
        if recognise {
            if let Some(x) = crate::mysql_only::parse(sql) {
                return vec![self.run_mysql_only(x)];
            }
        }
        let mut out = Vec::with_capacity(stmts.len());
        for stmt in stmts {
            let r = self.run(&stmt);
            let failed = r.is_err();
            out.push(r);
            if failed {
                break;
            }
        }
        out
    }

    /// Prepares a statement; returns its id, parameter count and result columns.
    pub fn prepare(&mut self, sql: &str) -> Result<(u32, usize, Vec<OutColumn>), SqlError> {
        let mut stmts = parse(sql)?;
        if stmts.len() != 1 {
            return Err(SqlError::new(
                error::ER_UNSUPPORTED_PS,
                "This command is not supported in the prepared statement protocol yet",
            ));
        }
        if self.prepared.len() >= PREPARED_PER_SESSION_MAX {
            return Err(SqlError::new(
                error::ER_MAX_PREPARED_STMT_COUNT_REACHED,
                format!(
                    "Can't create more than max_prepared_stmt_count statements \
                     (current value: {PREPARED_PER_SESSION_MAX})"
                ),
            ));
        }
        let mut stmt = stmts.remove(0);
        let mut params = Vec::new();
        let mut ordinal = 0usize;
        let _ = visit_expressions_mut(&mut stmt, |e| {
            if let Expr::Value(ValueWithSpan {
                value: SqlValue::Placeholder(_),
                ..
            }) = e
            {
                params.push(ordinal);
            }
            ordinal += 1;
            ControlFlow::<()>::Continue(())
        });
        let param_count = params.len();
        let columns = match &stmt {
            Statement::Query(q) if crate::olap::needs_olap(q) => {
                let scope = SessionInfo::of(self);
                let query = crate::olap::inline_session(q, &scope, true)?;
                self.engine
                    .query_engine()?
                    .describe(crate::olap::QueryRequest {
                        engine: &self.engine,
                        db: self.db.as_deref(),
                        query,
                        read: reef_storage::mvcc::ReadCtx::at(self.engine.txns.snapshot()),
                        interrupt: None,
                    })?
            }
            Statement::Query(q) => dml::describe_select(&self.engine, self.db.as_deref(), q)?,
            Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_) => Vec::new(),
            Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. } => Vec::new(),
            _ => {
                return Err(SqlError::new(
                    error::ER_UNSUPPORTED_PS,
                    "This command is not supported in the prepared statement protocol yet",
                ))
            }
        };
        let id = self.next_prepared;
        self.next_prepared += 1;
        self.prepared.insert(
            id,
            Prepared {
                stmt,
                params,
                text: sql.to_string(),
                tables: None,
            },
        );
        Ok((id, param_count, columns))
    }

    /// Executes prepared statement `id` with `params`.
    pub fn execute_prepared(&mut self, id: u32, params: Vec<Datum>) -> Result<Output, SqlError> {
        let Some(mut p) = self.prepared.remove(&id) else {
            return Err(SqlError::new(
                error::ER_UNKNOWN_STMT_HANDLER,
                format!("Unknown prepared statement handler ({id}) given to EXECUTE"),
            ));
        };
        if params.len() != p.params.len() {
            self.prepared.insert(id, p);
            return Err(SqlError::new(
                error::ER_WRONG_ARGUMENTS,
                "Incorrect arguments to EXECUTE",
            ));
        }
        p.bind(params);
        self.engine.questions.fetch_add(1, Ordering::Relaxed);
        self.process.begin(&p.text, self.db.as_deref());
        // Out of the map while it runs (a preparable statement never prepares or closes
        // one), so the session is free to run it.
        self.running_tables = RunningTables::Prepared(p.tables.take());
        let out = self.run(&p.stmt);
        if let RunningTables::Prepared(known) =
            std::mem::replace(&mut self.running_tables, RunningTables::Unprepared)
        {
            p.tables = known;
        }
        self.process.end();
        self.prepared.insert(id, p);
        out
    }

    /// Forgets prepared statement `id`.
    pub fn close_prepared(&mut self, id: u32) {
        self.prepared.remove(&id);
    }

    fn run(&mut self, stmt: &Statement) -> Result<Output, SqlError> {
        self.tracked(|s| s.run_statement(stmt))
    }

    /// Runs one statement with a fresh diagnostics area and records its outcome for `SHOW
    /// WARNINGS`: the warnings it raised, or its error.
    fn tracked(
        &mut self,
        statement: impl FnOnce(&mut Self) -> Result<Output, SqlError>,
    ) -> Result<Output, SqlError> {
        self.diagnostics.clear();
        let result = statement(self);
        match &result {
            Err(e) => {
                self.diagnostics.push(Diagnostic::error(e));
                self.warnings = 0;
            }
            Ok(_) => self.warnings = self.diagnostics.len().min(u16::MAX as usize) as u16,
        }
        result.map(|mut out| {
            if let Output::Ok { warnings, .. } = &mut out {
                *warnings = self.warnings;
            }
            out
        })
    }

    /// Runs a SELECT under the session's `max_execution_time` (milliseconds, 0 for none):
    /// past it the statement stops as a `KILL QUERY` would stop it, and fails with 3024.
    fn under_time_limit(
        &mut self,
        run: impl FnOnce(&mut Self) -> Result<Output, SqlError>,
    ) -> Result<Output, SqlError> {
        let limit = self
            .vars
            .get("max_execution_time")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        if limit == 0 {
            return run(self);
        }
        self.engine
            .processes
            .watch(&self.process, std::time::Duration::from_millis(limit));
        let out = run(self);
        self.process.unwatch();
        match out {
            Err(e) if e.code == error::ER_QUERY_INTERRUPTED && self.process.timed_out() => {
                Err(SqlError::new(
                    error::ER_QUERY_TIMEOUT,
                    "Query execution was interrupted, maximum statement execution time exceeded",
                ))
            }
            other => other,
        }
    }

    /// `ALTER SYSTEM MAJOR FREEZE`: every tablet of the node dumps its MemTables and merges
    /// its SSTables into one baseline (`Tablet::major_freeze`), one after another, before
    /// the statement answers. Writes go on meanwhile; what they add lands in new MemTables.
    fn major_freeze(&mut self) -> Result<Output, SqlError> {
        let tablets = self.engine.tablets.all_tablets();
        let started = std::time::Instant::now();
        let mut rows = 0u64;
        for t in &tablets {
            let report = t.major_freeze()?;
            rows += report.rows_written;
        }
        tracing::info!(
            tablets = tablets.len(),
            rows,
            seconds = started.elapsed().as_secs_f64(),
            "major freeze done"
        );
        Ok(Output::Ok {
            affected: 0,
            last_insert_id: 0,
            info: format!("{} tablets compacted", tablets.len()),
            warnings: 0,
        })
    }

    /// `SELECT expr INTO @var ...`: runs the query and stores its one value in the user
    /// variable, as MySQL does. No row leaves the variable as it was, with warning 1329;
    /// more than one row is error 1172.
    fn select_into(
        &mut self,
        q: &Query,
        target: &sqlparser::ast::SelectInto,
    ) -> Result<Output, SqlError> {
        let name = target.name.to_string();
        let var = name
            .strip_prefix('@')
            .filter(|v| !v.starts_with('@') && !target.table && !target.temporary)
            .ok_or_else(|| {
                SqlError::unsupported("SELECT ... INTO a table (CREATE TABLE ... SELECT is there)")
            })?
            .trim_matches('`')
            .to_ascii_lowercase();
        let mut plain = q.clone();
        if let SetExpr::Select(sel) = plain.body.as_mut() {
            sel.into = None;
        }
        let Output::Rows { columns, mut rows } = self.data(&Statement::Query(Box::new(plain)))?
        else {
            return Err(SqlError::internal("a SELECT answered without rows"));
        };
        if columns.len() != 1 {
            return Err(SqlError::new(
                error::ER_WRONG_NUMBER_OF_COLUMNS_IN_SELECT,
                "The used SELECT statements have a different number of columns",
            ));
        }
        match rows.len() {
            0 => self.diagnostics.push(Diagnostic {
                level: "Warning",
                code: error::ER_SP_FETCH_NO_DATA.errno,
                message: "No data - zero rows fetched, selected, or processed".to_string(),
            }),
            1 => {
                let value = rows.pop().and_then(|mut r| r.pop()).unwrap_or(Datum::Null);
                self.user_vars.insert(var, value);
            }
            _ => {
                return Err(SqlError::new(
                    error::ER_TOO_MANY_ROWS,
                    "Result consisted of more than one row",
                ))
            }
        }
        Ok(Output::ok(0))
    }

    /// Statements only [`crate::mysql_only`] recognises.
    fn run_mysql_only(&mut self, stmt: crate::mysql_only::MysqlOnly) -> Result<Output, SqlError> {
        use crate::mysql_only::MysqlOnly;
        if let MysqlOnly::Diagnostics { errors, count } = stmt {
            let shown: Vec<&Diagnostic> = self
                .diagnostics
                .iter()
                .filter(|d| !errors || d.level == "Error")
                .collect();
            return Ok(if count {
                crate::show::count_diagnostics(errors, shown.len())
            } else {
                crate::show::diagnostics(&shown)
            });
        }
        self.tracked(|s| s.run_recognised(stmt))
    }

    fn run_recognised(&mut self, stmt: crate::mysql_only::MysqlOnly) -> Result<Output, SqlError> {
        use crate::mysql_only::MysqlOnly;
        match stmt {
            MysqlOnly::Diagnostics { .. } => unreachable!("answered without a statement"),
            MysqlOnly::TableStatus { db, like } => {
                let db = self.named_db(db)?;
                let defs = self.engine.catalog.all_tables();
                let mut shown = Vec::new();
                for d in defs.iter().filter(|d| d.db == db) {
                    if like
                        .as_ref()
                        .is_none_or(|p| crate::expr::like(&d.name, p, '\\'))
                    {
                        shown.push((d.as_ref(), dml::next_auto_increment(&self.engine, d)?));
                    }
                }
                Ok(crate::show::table_status(&shown))
            }
            MysqlOnly::Triggers { db, .. } => {
                self.named_db(db)?;
                Ok(crate::show::triggers())
            }
            MysqlOnly::Index { db, table } => {
                let def = self.named_table(db, table)?;
                Ok(crate::show::show_index(&def))
            }
            MysqlOnly::StartConsistent { read_only } => {
                self.start_transaction(Some(read_only), true)
            }
            MysqlOnly::MajorFreeze => self.major_freeze(),
            MysqlOnly::CreateUser {
                if_not_exists,
                users,
            } => self.change_users("CREATE USER", if_not_exists, users, true),
            MysqlOnly::AlterUser { if_exists, users } => {
                self.change_users("ALTER USER", if_exists, users, false)
            }
            MysqlOnly::DropUser { if_exists, users } => self.drop_users(if_exists, users),
            MysqlOnly::GrantAll { users } => {
                // Every ReefDB account holds every privilege (there is no privilege system
                // yet), so granting them all changes nothing; the accounts must exist.
                for a in users {
                    let (name, host) = self.account(a);
                    if self.engine.catalog.user(&name, &host).is_none() {
                        return Err(SqlError::new(
                            error::ER_CANT_CREATE_USER_WITH_GRANT,
                            "You are not allowed to create a user with GRANT",
                        ));
                    }
                }
                Ok(Output::ok(0))
            }
            MysqlOnly::ShowGrants { user } => {
                let (name, host) =
                    self.account(user.unwrap_or(crate::mysql_only::Account::Current));
                if self.engine.catalog.user(&name, &host).is_none() {
                    return Err(SqlError::new(
                        error::ER_NONEXISTING_GRANT,
                        format!(
                            "There is no such grant defined for user '{name}' on host '{host}'"
                        ),
                    ));
                }
                let q = crate::show::quote_ident;
                Ok(Output::Rows {
                    columns: vec![crate::show::text_column(&format!(
                        "Grants for {name}@{host}"
                    ))],
                    rows: vec![vec![Datum::str(format!(
                        "GRANT ALL PRIVILEGES ON *.* TO {}@{} WITH GRANT OPTION",
                        q(&name),
                        q(&host)
                    ))]],
                })
            }
            MysqlOnly::SetPassword { user, password } => {
                let account = user.unwrap_or(crate::mysql_only::Account::Current);
                let (name, host) = self.account(account);
                if self.engine.catalog.user(&name, &host).is_none() {
                    return Err(SqlError::new(
                        error::ER_PASSWORD_NO_MATCH,
                        "Can't find any matching row in the user table",
                    ));
                }
                let account = crate::mysql_only::Account::Named { name, host };
                self.change_users(
                    "SET PASSWORD",
                    false,
                    vec![(account, Some(password))],
                    false,
                )
            }
            MysqlOnly::ToggleKeys { db, table } => {
                let def = self.named_table(db, table)?;
                // Indexes are always maintained; MySQL's InnoDB answers the same way.
                self.diagnostics.push(Diagnostic {
                    level: "Note",
                    code: error::ER_ILLEGAL_HA.errno,
                    message: format!(
                        "Table storage engine for '{}' doesn't have this option",
                        def.name
                    ),
                });
                Ok(Output::ok(0))
            }
        }
    }

    /// (name, host) of an account a statement names.
    fn account(&self, a: crate::mysql_only::Account) -> (String, String) {
        match a {
            crate::mysql_only::Account::Named { name, host } => (name, host),
            crate::mysql_only::Account::Current => (self.user.clone(), self.account_host.clone()),
        }
    }

    /// `CREATE USER` (`create`) or `ALTER USER` / `SET PASSWORD`: all accounts change in
    /// one catalog transaction or none does (1396 names the ones in the way, as MySQL 8);
    /// `if_flag` (IF NOT EXISTS / IF EXISTS) turns those into notes instead.
    fn change_users(
        &mut self,
        what: &str,
        if_flag: bool,
        users: Vec<(crate::mysql_only::Account, Option<String>)>,
        create: bool,
    ) -> Result<Output, SqlError> {
        use crate::catalog::UserDef;
        self.commit()?; // An implicit commit, as for DDL.
        let engine = self.engine.clone();
        let _ddl = engine.ddl.lock();
        let mut txn = engine.txns.begin(TxnOptions::default());
        txn.begin_statement()?;
        let (mut changed, mut failed) = (Vec::<UserDef>::new(), Vec::new());
        for (account, password) in users {
            let (name, host) = self.account(account);
            let old = engine.catalog.user(&name, &host);
            let seen = changed
                .iter()
                .any(|u| u.name == name && u.host.eq_ignore_ascii_case(&host));
            if create == (old.is_some() || seen) {
                if if_flag {
                    self.note_account(create, &name, &host);
                } else {
                    failed.push(format!("'{name}'@'{host}'"));
                }
                continue;
            }
            let mut u = old.unwrap_or(UserDef {
                name,
                host,
                stage2: None,
            });
            if let Some(p) = password {
                u.stage2 = UserDef::hash_password(p.as_bytes());
            }
            engine.catalog.put_user(&mut txn, &u)?;
            changed.push(u);
        }
        if !failed.is_empty() {
            return Err(SqlError::new(
                error::ER_CANNOT_USER,
                format!("Operation {what} failed for {}", failed.join(",")),
            ));
        }
        txn.commit()?;
        for u in changed {
            let (name, host) = (u.name.clone(), u.host.clone());
            engine.catalog.apply_user(&name, &host, Some(u));
        }
        Ok(Output::ok(0))
    }

    /// `DROP USER`: all accounts go in one catalog transaction, or none does.
    fn drop_users(
        &mut self,
        if_exists: bool,
        users: Vec<crate::mysql_only::Account>,
    ) -> Result<Output, SqlError> {
        self.commit()?;
        let engine = self.engine.clone();
        let _ddl = engine.ddl.lock();
        let mut txn = engine.txns.begin(TxnOptions::default());
        txn.begin_statement()?;
        let (mut dropped, mut failed) = (Vec::new(), Vec::new());
        for account in users {
            let (name, host) = self.account(account);
            if engine.catalog.user(&name, &host).is_none() {
                if if_exists {
                    self.note_account(false, &name, &host);
                } else {
                    failed.push(format!("'{name}'@'{host}'"));
                }
                continue;
            }
            engine.catalog.drop_user(&mut txn, &name, &host)?;
            dropped.push((name, host));
        }
        if !failed.is_empty() {
            return Err(SqlError::new(
                error::ER_CANNOT_USER,
                format!("Operation DROP USER failed for {}", failed.join(",")),
            ));
        }
        txn.commit()?;
        for (name, host) in dropped {
            engine.catalog.apply_user(&name, &host, None);
        }
        Ok(Output::ok(0))
    }

    /// The note of an account statement's IF [NOT] EXISTS: the account exists (`exists`)
    /// or does not.
    fn note_account(&mut self, exists: bool, name: &str, host: &str) {
        let (code, state) = if exists {
            (error::ER_USER_ALREADY_EXISTS, "already exists")
        } else {
            (error::ER_USER_DOES_NOT_EXIST, "does not exist")
        };
        self.diagnostics.push(Diagnostic {
            level: "Note",
            code: code.errno,
            message: format!("Authorization ID '{name}'@'{host}' {state}."),
        });
    }

    /// Table `table` of `db` (or of the current database).
    fn named_table(&self, db: Option<String>, table: String) -> Result<Arc<TableDef>, SqlError> {
        let db = self.named_db(db)?;
        dml::lookup(
            &self.engine,
            &ObjectName::from(vec![sqlparser::ast::Ident::new(table)]),
            Some(&db),
        )
    }

    /// `db` if given, else the current database; 1046 / 1049 if there is none.
    fn named_db(&self, db: Option<String>) -> Result<String, SqlError> {
        let db = match db {
            Some(d) => d,
            None => self
                .db
                .clone()
                .ok_or_else(|| SqlError::new(error::ER_NO_DB_ERROR, "No database selected"))?,
        };
        if !self.engine.catalog.has_database(&db) {
            return Err(SqlError::new(
                error::ER_BAD_DB_ERROR,
                format!("Unknown database '{db}'"),
            ));
        }
        Ok(db)
    }

    fn run_statement(&mut self, stmt: &Statement) -> Result<Output, SqlError> {
        match stmt {
            Statement::StartTransaction { modes, .. } => self.begin(modes),
            Statement::Commit { .. } => self.commit().map(|_| Output::ok(0)),
            Statement::Rollback {
                savepoint: None, ..
            } => {
                if let Some(t) = self.txn.take() {
                    t.rollback();
                }
                self.release_txn_locks();
                Ok(Output::ok(0))
            }
            Statement::Rollback {
                savepoint: Some(sp),
                ..
            } => {
                let t = self.txn.as_mut().ok_or_else(|| no_savepoint(&sp.value))?;
                t.rollback_to_savepoint(&sp.value)?;
                Ok(Output::ok(0))
            }
            Statement::Savepoint { name } => {
                self.ensure_txn()?.savepoint(&name.value)?;
                Ok(Output::ok(0))
            }
            Statement::ReleaseSavepoint { name } => {
                let t = self.txn.as_mut().ok_or_else(|| no_savepoint(&name.value))?;
                t.release_savepoint(&name.value)?;
                Ok(Output::ok(0))
            }
            Statement::Set(set) => self.set(set),
            Statement::LockTables { tables } => self.lock_tables(tables),
            Statement::UnlockTables => self.unlock_tables(),
            Statement::Use(u) => {
                let name = match u {
                    Use::Object(n) | Use::Database(n) | Use::Schema(n) => unquote(&n.to_string()),
                    other => return Err(SqlError::unsupported(other)),
                };
                self.use_db(&name).map(|_| Output::ok(0))
            }
            Statement::ShowDatabases { .. } | Statement::ShowSchemas { .. } => {
                Ok(self.show_databases())
            }
            Statement::ShowTables {
                full, show_options, ..
            } => self.show_tables(*full, show_options),
            Statement::ShowCreate {
                obj_type: sqlparser::ast::ShowCreateObject::Table,
                obj_name,
            } => {
                let def = dml::lookup(&self.engine, obj_name, self.db.as_deref())?;
                let next = dml::next_auto_increment(&self.engine, &def)?;
                Ok(crate::show::show_create_table(&def, next))
            }
            Statement::ExplainTable { table_name, .. } => {
                let def = dml::lookup(&self.engine, table_name, self.db.as_deref())?;
                Ok(crate::show::show_columns(&def, false, None))
            }
            Statement::ShowColumns {
                full, show_options, ..
            } => self.show_columns(*full, show_options),
            Statement::ShowVariables { filter, .. } => Ok(self.show_variables(filter.as_ref())),
            Statement::ShowStatus { filter, .. } => Ok(self.show_status(filter.as_ref())),
            Statement::CreateDatabase {
                db_name,
                if_not_exists,
                ..
            } => self.create_database(&unquote(&db_name.to_string()), *if_not_exists),
            Statement::Drop {
                object_type: ObjectType::Index,
                if_exists,
                names,
                table,
                ..
            } => self.drop_index(names, table.as_ref(), *if_exists),
            Statement::Drop { .. } | Statement::CreateTable(_) => self.ddl(stmt),
            Statement::CreateIndex(ci) => self.create_index(ci),
            Statement::Kill { modifier, id } => {
                let connection = !matches!(modifier, Some(sqlparser::ast::KillType::Query));
                self.engine.processes.kill(*id, connection)?;
                Ok(Output::ok(0))
            }
            Statement::ShowProcessList { full } => Ok(crate::show::processlist(
                &self.engine.processes.rows(),
                *full,
            )),
            Statement::AlterTable(at) => self.alter_table(at),
            Statement::RenameTable(pairs) => {
                let pairs: Vec<(&ObjectName, &ObjectName)> =
                    pairs.iter().map(|r| (&r.old_name, &r.new_name)).collect();
                self.rename_tables(&pairs)
            }
            Statement::Truncate(t) => self.truncate(t),
            Statement::Explain {
                statement,
                analyze: false,
                format: None,
                query_plan: false,
                estimate: false,
                ..
            } if matches!(statement.as_ref(), Statement::Query(_)) => {
                let Statement::Query(q) = statement.as_ref() else {
                    unreachable!("matched above")
                };
                let info = SessionInfo::of(self);
                dml::explain_select(&self.engine, &info, q)
            }
            Statement::Explain {
                statement,
                format,
                query_plan: false,
                estimate: false,
                options: None,
                ..
            } if matches!(statement.as_ref(), Statement::Query(_))
                && matches!(
                    format,
                    None | Some(
                        AnalyzeFormatKind::Assignment(AnalyzeFormat::TREE)
                            | AnalyzeFormatKind::Keyword(AnalyzeFormat::TREE)
                    )
                ) =>
            {
                // EXPLAIN ANALYZE runs the query, inside the session's transaction.
                self.data(stmt)
            }
            Statement::Explain { .. } => Err(SqlError::unsupported(
                "EXPLAIN FORMAT=JSON, and EXPLAIN of statements other than SELECT",
            )),
            Statement::Query(q) => match select_into(q) {
                Some(target) => self.under_time_limit(|s| s.select_into(q, target)),
                None => self.under_time_limit(|s| s.data(stmt)),
            },
            Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_) => self.data(stmt),
            other => {
                let kind: String = other
                    .to_string()
                    .split_whitespace()
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" ");
                Err(SqlError::unsupported(kind))
            }
        }
    }

    fn begin_txn(&mut self) -> Transaction {
        self.begin_txn_with(false)
    }

    /// A new transaction; `consistent_snapshot` fixes its snapshot now rather than at its
    /// first read (`START TRANSACTION WITH CONSISTENT SNAPSHOT`).
    fn begin_txn_with(&mut self, consistent_snapshot: bool) -> Transaction {
        let opts = TxnOptions {
            consistent_snapshot,
            isolation: self.isolation,
            read_only: std::mem::take(&mut self.next_read_only),
            lock_wait_timeout: std::time::Duration::from_secs(
                self.var_u64("innodb_lock_wait_timeout").unwrap_or(50),
            ),
        };
        let mut t = self.engine.txns.begin(opts);
        t.set_interrupt(self.process.interrupt.clone());
        self.process.set_txn(t.id().0);
        t
    }

    fn ensure_txn(&mut self) -> Result<&mut Transaction, SqlError> {
        if self.txn.is_none() {
            let t = self.begin_txn();
            self.txn = Some(t);
        }
        Ok(self.txn.as_mut().expect("just ensured"))
    }

    fn begin(&mut self, modes: &[TransactionMode]) -> Result<Output, SqlError> {
        self.commit()?;
        let mut read_only = None;
        for m in modes {
            match m {
                TransactionMode::AccessMode(TransactionAccessMode::ReadOnly) => {
                    read_only = Some(true)
                }
                TransactionMode::AccessMode(TransactionAccessMode::ReadWrite) => {
                    read_only = Some(false)
                }
                other => return Err(SqlError::unsupported(format!("START TRANSACTION {other}"))),
            }
        }
        self.start_transaction(read_only, false)
    }

    /// `START TRANSACTION`: commits the open transaction, ends `LOCK TABLES` (as in MySQL)
    /// and opens a new one; `read_only` overrides `SET TRANSACTION`'s access mode.
    fn start_transaction(
        &mut self,
        read_only: Option<bool>,
        consistent_snapshot: bool,
    ) -> Result<Output, SqlError> {
        self.commit()?;
        self.release_table_locks();
        if let Some(r) = read_only {
            self.next_read_only = r;
        }
        let t = self.begin_txn_with(consistent_snapshot);
        self.txn = Some(t);
        Ok(Output::ok(0))
    }

    /// Commits the open transaction, if any (also the implicit commit before DDL).
    fn commit(&mut self) -> Result<(), SqlError> {
        let committed = match self.txn.take() {
            Some(t) => t.commit().map(|_| ()),
            None => Ok(()),
        };
        self.release_txn_locks();
        Ok(committed?)
    }

    /// Gives back the metadata locks of the transaction that just ended.
    fn release_txn_locks(&mut self) {
        for (k, m) in self.txn_mdl.drain(..) {
            self.engine.mdl.release(self.lock_owner, &k, m);
        }
    }

    fn release_table_locks(&mut self) {
        for (k, m) in self.table_locks.drain(..) {
            self.engine.mdl.release(self.lock_owner, &k, m);
        }
    }

    fn mdl_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.var_u64("lock_wait_timeout").unwrap_or(31_536_000))
    }

    /// Takes the metadata locks `stmt` needs for the rest of the transaction, or under
    /// `LOCK TABLES` checks that it stays within the locked tables (1100, 1099).
    fn lock_statement_tables(&mut self, stmt: &Statement) -> Result<(), SqlError> {
        let known = match std::mem::replace(&mut self.running_tables, RunningTables::Unprepared) {
            RunningTables::Unprepared => {
                let wanted = crate::mdl::statement_tables(stmt, self.db.as_deref());
                return self.lock_tables_of(&wanted);
            }
            RunningTables::Prepared(Some(known)) if known.db == self.db => known,
            RunningTables::Prepared(_) => StatementTables {
                db: self.db.clone(),
                tables: crate::mdl::statement_tables(stmt, self.db.as_deref()),
            },
        };
        let result = self.lock_tables_of(&known.tables);
        self.running_tables = RunningTables::Prepared(Some(known));
        result
    }

    /// [`Self::lock_statement_tables`] for the tables `wanted`.
    fn lock_tables_of(&mut self, wanted: &[(TableKey, MdlMode)]) -> Result<(), SqlError> {
        if !self.table_locks.is_empty() {
            for ((d, t), mode) in wanted {
                let held = self
                    .table_locks
                    .iter()
                    .find(|((hd, ht), _)| hd == d && ht == t)
                    .map(|(_, m)| *m);
                match held {
                    None => {
                        return Err(SqlError::new(
                            error::ER_TABLE_NOT_LOCKED,
                            format!("Table '{t}' was not locked with LOCK TABLES"),
                        ))
                    }
                    Some(MdlMode::ReadOnly) if *mode == MdlMode::Write => {
                        return Err(SqlError::new(
                            error::ER_TABLE_NOT_LOCKED_FOR_WRITE,
                            format!("Table '{t}' was locked with a READ lock and can't be updated"),
                        ))
                    }
                    Some(_) => {}
                }
            }
            return Ok(());
        }
        let timeout = self.mdl_timeout();
        for (k, m) in wanted {
            if self.txn_mdl.iter().any(|(hk, hm)| hk == k && hm.covers(*m)) {
                continue;
            }
            if let Err(e) = self.engine.mdl.acquire(self.lock_owner, k, *m, timeout) {
                if self.txn.is_none() {
                    self.release_txn_locks();
                }
                return Err(e);
            }
            self.txn_mdl.push((k.clone(), *m));
        }
        Ok(())
    }

    /// `LOCK TABLES`: commits the open transaction, gives back earlier table locks, then
    /// takes the new ones (READ keeps writers out, WRITE everyone else).
    fn lock_tables(&mut self, tables: &[sqlparser::ast::LockTable]) -> Result<Output, SqlError> {
        self.commit()?;
        self.release_table_locks();
        let db = self.db.clone();
        let mut wanted: Vec<(TableKey, MdlMode)> = Vec::new();
        for lt in tables {
            let name = ObjectName::from(vec![lt.table.clone()]);
            let def = dml::lookup(&self.engine, &name, db.as_deref())?;
            let key = crate::mdl::table_key(&def.db, &def.name);
            let mode = match lt.lock_type {
                sqlparser::ast::LockTableType::Read { .. } => MdlMode::ReadOnly,
                sqlparser::ast::LockTableType::Write { .. } => MdlMode::Exclusive,
            };
            crate::mdl::merge(&mut wanted, key, mode);
        }
        wanted.sort();
        self.engine
            .mdl
            .acquire_all(self.lock_owner, &wanted, self.mdl_timeout())?;
        self.table_locks = wanted;
        Ok(Output::ok(0))
    }

    /// `UNLOCK TABLES`: under `LOCK TABLES` commits the open transaction, then gives the
    /// table locks back.
    fn unlock_tables(&mut self) -> Result<Output, SqlError> {
        if !self.table_locks.is_empty() {
            self.commit()?;
        }
        self.release_table_locks();
        Ok(Output::ok(0))
    }

    /// Runs a data statement in the open transaction, or in its own under autocommit. A
    /// failed statement undoes only itself; a deadlock ends the whole transaction.
    fn data(&mut self, stmt: &Statement) -> Result<Output, SqlError> {
        let implicit = self.txn.is_none() && self.autocommit;
        self.lock_statement_tables(stmt)?;
        let mut scope = SessionInfo::of(self);
        scope.single_statement = implicit;
        let engine = self.engine.clone();
        let txn = self.ensure_txn()?;
        txn.begin_statement()?;
        let result = dml::run(&engine, txn, &scope, stmt);
        self.diagnostics = scope.take_notes();
        match result {
            Ok(out) => {
                if let Output::Ok { last_insert_id, .. } = &out {
                    if *last_insert_id != 0 {
                        self.last_insert_id = *last_insert_id;
                    }
                }
                if implicit {
                    self.commit()?;
                }
                Ok(out)
            }
            Err(e) => {
                let ended = matches!(e.code.errno, 1213) || e.message.contains("no longer active");
                match self.txn.take() {
                    Some(t) if ended || implicit => {
                        drop(t);
                        self.release_txn_locks();
                    }
                    Some(mut t) => {
                        t.statement_failed();
                        self.txn = Some(t);
                    }
                    None => self.release_txn_locks(),
                }
                Err(e)
            }
        }
    }

    fn ddl(&mut self, stmt: &Statement) -> Result<Output, SqlError> {
        self.commit()?; // DDL commits the open transaction first, as in MySQL.
                        // A dropped table is first held exclusively: transactions still using it finish.
        let mut dropped: Vec<TableKey> = match stmt {
            Statement::Drop {
                object_type: ObjectType::Table,
                names,
                ..
            } => names
                .iter()
                .filter_map(|n| dml::table_name(n, self.db.as_deref()).ok())
                .map(|(d, t)| crate::mdl::table_key(&d, &t))
                .collect(),
            _ => Vec::new(),
        };
        dropped.sort();
        dropped.dedup();
        self.exclusively(&dropped, |s| s.ddl_locked(stmt))
    }

    fn ddl_locked(&mut self, stmt: &Statement) -> Result<Output, SqlError> {
        let engine = self.engine.clone();
        let _ddl = engine.ddl.lock();
        let mut t = engine.txns.begin(TxnOptions::default());
        t.begin_statement()?;
        let applied = dml::ddl(&engine, &mut t, self.db.as_deref(), stmt)?;
        t.commit()?;
        applied.apply(&engine);
        Ok(Output::ok(0))
    }

    /// `CREATE [UNIQUE] INDEX`: `ALTER TABLE ... ADD INDEX` under another name, built
    /// online by [`Self::alter_in_place`].
    fn create_index(&mut self, ci: &sqlparser::ast::CreateIndex) -> Result<Output, SqlError> {
        self.commit()?;
        let (db, table) = dml::table_name(&ci.table_name, self.db.as_deref())?;
        self.exclusively(&[crate::mdl::ddl_key(&db, &table)], |s| {
            let old = dml::lookup(&s.engine, &ci.table_name, s.db.as_deref())?;
            let name = ci
                .name
                .as_ref()
                .map(|n| n.to_string().trim_matches('`').to_string());
            let exists = |n: &str| old.indexes.iter().any(|i| i.name.eq_ignore_ascii_case(n));
            if ci.if_not_exists && name.as_deref().is_some_and(exists) {
                return Ok(Output::ok(0));
            }
            let columns = ci
                .columns
                .iter()
                .map(|ic| ic.column.expr.to_string().trim_matches('`').to_string())
                .collect();
            let plan = crate::alter::plan_add_index(&old, name, columns, ci.unique)?;
            let key = crate::mdl::table_key(&old.db, &old.name);
            s.alter_in_place(&key, &old, plan)?;
            Ok(Output::ok(0))
        })
    }

    /// `DROP INDEX name ON table`: statements stop reading the index and writes stop
    /// keeping it as soon as the new definition is published.
    fn drop_index(
        &mut self,
        names: &[ObjectName],
        table: Option<&ObjectName>,
        if_exists: bool,
    ) -> Result<Output, SqlError> {
        let (Some(table), [name]) = (table, names) else {
            return Err(SqlError::unsupported(
                "DROP INDEX without exactly one index and ON table",
            ));
        };
        self.commit()?;
        let engine = self.engine.clone();
        let _ddl = engine.ddl.lock();
        let mut def = (*dml::lookup(&engine, table, self.db.as_deref())?).clone();
        let name = unquote(&name.to_string());
        let before = def.indexes.len();
        def.indexes.retain(|i| !i.name.eq_ignore_ascii_case(&name));
        if def.indexes.len() == before {
            if if_exists {
                return Ok(Output::ok(0));
            }
            return Err(SqlError::new(
                error::ER_CANT_DROP_FIELD_OR_KEY,
                format!("Can't DROP INDEX `{name}`; check that it exists"),
            ));
        }
        self.publish(&def)?;
        tracing::info!(table = %def.name, index = %name, "index dropped");
        Ok(Output::ok(0))
    }

    /// Runs `f` holding `keys` exclusively (each DDL statement on a table holds its
    /// [`crate::mdl::ddl_key`], and the table's own key while it changes rows or publishes).
    fn exclusively<T>(
        &mut self,
        keys: &[TableKey],
        f: impl FnOnce(&mut Self) -> Result<T, SqlError>,
    ) -> Result<T, SqlError> {
        let held: Vec<(TableKey, MdlMode)> = keys
            .iter()
            .map(|k| (k.clone(), MdlMode::Exclusive))
            .collect();
        self.engine
            .mdl
            .acquire_all(self.lock_owner, &held, self.mdl_timeout())?;
        let result = f(self);
        for (k, m) in &held {
            self.engine.mdl.release(self.lock_owner, k, *m);
        }
        result
    }

    /// `RENAME TABLE a TO b [, c TO d ...]` (and `ALTER TABLE a RENAME TO b`): all in one
    /// catalog transaction, each seeing the ones before it (so `a TO tmp, b TO a, tmp TO b`
    /// swaps two tables), once transactions using any of the names have ended.
    fn rename_tables(&mut self, pairs: &[(&ObjectName, &ObjectName)]) -> Result<Output, SqlError> {
        self.commit()?;
        let mut names: Vec<TableNamePair> = Vec::with_capacity(pairs.len());
        for (from, to) in pairs {
            names.push((
                dml::table_name(from, self.db.as_deref())?,
                dml::table_name(to, self.db.as_deref())?,
            ));
        }
        let mut keys: Vec<TableKey> = names
            .iter()
            .flat_map(|((d1, t1), (d2, t2))| {
                [
                    crate::mdl::ddl_key(d1, t1),
                    crate::mdl::table_key(d1, t1),
                    crate::mdl::ddl_key(d2, t2),
                    crate::mdl::table_key(d2, t2),
                ]
            })
            .collect();
        keys.sort();
        keys.dedup();
        self.exclusively(&keys, |s| s.rename_in_catalog(names))
    }

    /// The catalog transaction of [`Self::rename_tables`] (the names are held).
    fn rename_in_catalog(&self, names: Vec<TableNamePair>) -> Result<Output, SqlError> {
        let engine = self.engine.clone();
        let _ddl = engine.ddl.lock();
        // The names as the statement has left them so far.
        let mut view: HashMap<TableKey, Option<Arc<TableDef>>> = HashMap::new();
        let find = |view: &HashMap<TableKey, Option<Arc<TableDef>>>, db: &str, t: &str| match view
            .get(&crate::mdl::table_key(db, t))
        {
            Some(v) => v.clone(),
            None => engine.catalog.table(db, t),
        };
        let mut t = engine.txns.begin(TxnOptions::default());
        t.begin_statement()?;
        let (mut dropped, mut created) = (Vec::new(), Vec::new());
        for ((d1, t1), (d2, t2)) in names {
            let Some(def) = find(&view, &d1, &t1) else {
                return Err(SqlError::new(
                    error::ER_NO_SUCH_TABLE,
                    format!("Table '{d1}.{t1}' doesn't exist"),
                ));
            };
            if find(&view, &d2, &t2).is_some() {
                return Err(SqlError::new(
                    error::ER_TABLE_EXISTS_ERROR,
                    format!("Table '{t2}' already exists"),
                ));
            }
            if !engine.catalog.has_database(&d2) {
                return Err(SqlError::new(
                    error::ER_BAD_DB_ERROR,
                    format!("Unknown database '{d2}'"),
                ));
            }
            engine.catalog.drop_table(&mut t, &def)?;
            let renamed = Arc::new(TableDef {
                db: d2.clone(),
                name: t2.clone(),
                ..(*def).clone()
            });
            engine.catalog.update_table(&mut t, &renamed)?;
            view.insert(crate::mdl::table_key(&d1, &t1), None);
            view.insert(crate::mdl::table_key(&d2, &t2), Some(renamed.clone()));
            dropped.push(def);
            created.push(renamed);
        }
        t.commit()?;
        // In statement order, so a name renamed away and back ends as the statement left it.
        for (d, c) in dropped.iter().zip(&created) {
            engine.catalog.apply_drop_table(d);
            engine.catalog.apply_create_table((**c).clone());
        }
        Ok(Output::ok(0))
    }

    /// `ALTER TABLE`: see [`crate::alter`] for which changes copy the rows and which do not.
    fn alter_table(&mut self, at: &sqlparser::ast::AlterTable) -> Result<Output, SqlError> {
        if let [sqlparser::ast::AlterTableOperation::RenameTable { table_name }] =
            at.operations.as_slice()
        {
            let (sqlparser::ast::RenameTableNameKind::As(to)
            | sqlparser::ast::RenameTableNameKind::To(to)) = table_name;
            return self.rename_tables(&[(&at.name, to)]);
        }
        self.commit()?;
        let (db, name) = dml::table_name(&at.name, self.db.as_deref())?;
        let ddl = crate::mdl::ddl_key(&db, &name);
        self.exclusively(&[ddl], |s| {
            let old = match dml::lookup(&s.engine, &at.name, s.db.as_deref()) {
                Err(_) if at.if_exists => return Ok(Output::ok(0)),
                r => r?,
            };
            let plan = crate::alter::plan(&old, &at.operations)?;
            let table = crate::mdl::table_key(&old.db, &old.name);
            let retyped = plan.retyped;
            let copied = if plan.copy {
                s.exclusively(&[table], |s| s.alter_by_copy(&old, plan))?
            } else {
                s.alter_in_place(&table, &old, plan)?;
                0
            };
            // MySQL counts rows only when it copies the table, which among the changes
            // ReefDB makes means a column changing type; adding, dropping and moving columns
            // it does in place (INSTANT, INPLACE) and reports none.
            let affected = if retyped { copied } else { 0 };
            Ok(Output::Ok {
                affected,
                last_insert_id: 0,
                info: format!("Records: {affected}  Duplicates: 0  Warnings: 0"),
                warnings: 0,
            })
        })
    }

    /// An ALTER that keeps the rows where they are: new indexes are built online (published
    /// write-only, backfilled), then the whole new definition is published at once.
    fn alter_in_place(
        &mut self,
        table: &TableKey,
        old: &TableDef,
        mut plan: crate::alter::AlterPlan,
    ) -> Result<(), SqlError> {
        let engine = self.engine.clone();
        let mut added = Vec::new();
        for ix in plan.def.indexes.iter_mut().filter(|i| i.id == TabletId(0)) {
            ix.id = engine.catalog.next_tablet_id();
            engine
                .tablets
                .create_tablet(ix.id, index_schema(ix.unique))?;
            added.push(IndexDef {
                state: IndexState::WriteOnly,
                ..ix.clone()
            });
        }
        if !added.is_empty() {
            let mut building = old.clone();
            building.indexes.extend(added.iter().cloned());
            self.publish_ddl(&building)?;
            let built = self.wait_for_older_transactions().and_then(|()| {
                added
                    .iter()
                    .try_for_each(|ix| dml::backfill(&engine, &building, ix).map(|_| ()))
            });
            if let Err(e) = built {
                // A duplicate among existing rows (or a timeout) withdraws the new indexes.
                self.publish_ddl(old)?;
                return Err(e);
            }
        }
        self.exclusively(std::slice::from_ref(table), |s| {
            if s.engine.catalog.table(&old.db, &old.name).map(|d| d.id) != Some(old.id) {
                return Err(SqlError::new(
                    error::ER_NO_SUCH_TABLE,
                    format!(
                        "Table '{}.{}' was dropped during ALTER TABLE",
                        old.db, old.name
                    ),
                ));
            }
            s.publish_ddl(&plan.def)
        })?;
        tracing::info!(table = %old.name, indexes_built = added.len(), "table altered in place");
        Ok(())
    }

    /// An ALTER that rewrites the rows into new tablets (the caller holds the table
    /// exclusively); returns the number of rows copied.
    fn alter_by_copy(
        &mut self,
        old: &TableDef,
        plan: crate::alter::AlterPlan,
    ) -> Result<u64, SqlError> {
        let engine = self.engine.clone();
        let new = self.fresh_tablets(plan.def)?;
        let copied = crate::alter::copy_rows(&engine, old, &new, &plan.sources).and_then(|rows| {
            if let (Some(n), Some(_)) = (
                dml::next_auto_increment(&engine, old)?,
                new.auto_increment(),
            ) {
                dml::set_reservation(&engine, new.id, n)?;
            }
            self.publish_ddl(&new).map(|()| rows)
        });
        let rows = copied.inspect_err(|_| engine.tablets.retire_tablets(&new.tablet_ids()))?;
        tracing::info!(table = %old.name, rows, "table altered by copy");
        Ok(rows)
    }

    /// `def` with new, empty tablets for its rows and each of its indexes.
    fn fresh_tablets(&self, mut def: TableDef) -> Result<TableDef, SqlError> {
        let engine = &self.engine;
        def.id = engine.catalog.next_tablet_id();
        engine.tablets.create_tablet(def.id, def.row_schema())?;
        for ix in &mut def.indexes {
            ix.id = engine.catalog.next_tablet_id();
            ix.state = IndexState::Public;
            engine
                .tablets
                .create_tablet(ix.id, index_schema(ix.unique))?;
        }
        Ok(def)
    }

    /// `TRUNCATE [TABLE] t`: the table switches to new, empty tablets in one catalog write
    /// (its AUTO_INCREMENT starts again at 1), once transactions using it have ended.
    fn truncate(&mut self, t: &sqlparser::ast::Truncate) -> Result<Output, SqlError> {
        let [target] = t.table_names.as_slice() else {
            return Err(SqlError::unsupported("TRUNCATE of several tables"));
        };
        self.commit()?;
        let (db, name) = dml::table_name(&target.name, self.db.as_deref())?;
        let keys = [
            crate::mdl::ddl_key(&db, &name),
            crate::mdl::table_key(&db, &name),
        ];
        self.exclusively(&keys, |s| {
            let old = dml::lookup(&s.engine, &target.name, s.db.as_deref())?;
            let new = s.fresh_tablets((*old).clone())?;
            s.publish_ddl(&new)?;
            tracing::info!(table = %old.name, "table truncated");
            Ok(Output::ok(0))
        })
    }

    /// [`Self::publish`] under the catalog's DDL mutex.
    fn publish_ddl(&self, def: &TableDef) -> Result<(), SqlError> {
        let _ddl = self.engine.ddl.lock();
        self.publish(def)
    }

    /// Commits a changed table definition and makes it visible; tablets the table no
    /// longer uses are retired.
    fn publish(&self, def: &TableDef) -> Result<(), SqlError> {
        let mut t = self.engine.txns.begin(TxnOptions::default());
        t.begin_statement()?;
        self.engine.catalog.update_table(&mut t, def)?;
        t.commit()?;
        let before = self.engine.catalog.table(&def.db, &def.name);
        self.engine.catalog.apply_create_table(def.clone());
        if let Some(before) = before {
            let now = def.tablet_ids();
            let gone: Vec<TabletId> = before
                .tablet_ids()
                .into_iter()
                .filter(|id| !now.contains(id))
                .collect();
            self.engine.tablets.retire_tablets(&gone);
        }
        Ok(())
    }

    /// Waits until every transaction open now has ended: their writes predate the schema
    /// change and do not maintain the new index (at most an hour, then 1205).
    fn wait_for_older_transactions(&self) -> Result<(), SqlError> {
        let older: Vec<reef_common::ids::TxnId> = self
            .engine
            .txns
            .open_transactions()
            .iter()
            .map(|i| i.id)
            .collect();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3600);
        while self
            .engine
            .txns
            .open_transactions()
            .iter()
            .any(|i| older.contains(&i.id))
        {
            if std::time::Instant::now() > deadline {
                return Err(SqlError::new(
                    error::ER_LOCK_WAIT_TIMEOUT,
                    "Lock wait timeout exceeded waiting for older transactions to end",
                ));
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        Ok(())
    }

    fn create_database(&mut self, name: &str, if_not_exists: bool) -> Result<Output, SqlError> {
        self.commit()?;
        let engine = self.engine.clone();
        let _ddl = engine.ddl.lock();
        if if_not_exists && engine.catalog.has_database(name) {
            self.diagnostics.push(Diagnostic {
                level: "Note",
                code: error::ER_DB_CREATE_EXISTS.errno,
                message: format!("Can't create database '{name}'; database exists"),
            });
            return Ok(Output::ok(0));
        }
        let mut t = engine.txns.begin(TxnOptions::default());
        t.begin_statement()?;
        engine.catalog.create_database(&mut t, name)?;
        t.commit()?;
        engine.catalog.apply_create_db(name);
        Ok(Output::ok(1))
    }

    fn set(&mut self, set: &Set) -> Result<Output, SqlError> {
        match set {
            Set::SingleAssignment {
                variable, values, ..
            } => {
                let value = values
                    .first()
                    .ok_or_else(|| SqlError::new(error::ER_PARSE_ERROR, "SET without a value"))?;
                self.assign(&variable.to_string(), value)?;
            }
            Set::MultipleAssignments { assignments } => {
                for a in assignments {
                    self.assign(&a.name.to_string(), &a.value)?;
                }
            }
            Set::SetNames {
                charset_name,
                collation_name,
            } => {
                let name = charset_name
                    .to_string()
                    .trim_matches(['\'', '"', '`'])
                    .to_ascii_lowercase();
                let cs = charset_named(&name)?;
                let shown = if name == "utf8" { "utf8mb3" } else { &name };
                let collation = collation_name
                    .as_deref()
                    .map(|c| c.trim_matches(['\'', '"', '`']).to_ascii_lowercase())
                    .unwrap_or_else(|| cs.collation_name().to_string());
                self.set_names(shown, collation);
            }
            Set::SetNamesDefault {} => {
                for var in NAMES_VARS.iter().chain(&["collation_connection"]) {
                    self.vars.remove(*var);
                }
            }
            Set::SetTransaction { modes, .. } => {
                for m in modes {
                    match m {
                        TransactionMode::IsolationLevel(l) => {
                            self.isolation = match l {
                                TransactionIsolationLevel::ReadUncommitted => {
                                    Isolation::ReadUncommitted
                                }
                                TransactionIsolationLevel::ReadCommitted => {
                                    Isolation::ReadCommitted
                                }
                                TransactionIsolationLevel::RepeatableRead => {
                                    Isolation::RepeatableRead
                                }
                                TransactionIsolationLevel::Serializable => Isolation::Serializable,
                                other => {
                                    return Err(SqlError::unsupported(format!(
                                        "isolation level {other}"
                                    )))
                                }
                            }
                        }
                        TransactionMode::AccessMode(TransactionAccessMode::ReadOnly) => {
                            self.next_read_only = true
                        }
                        TransactionMode::AccessMode(TransactionAccessMode::ReadWrite) => {
                            self.next_read_only = false
                        }
                    }
                }
            }
            other => return Err(SqlError::unsupported(other)),
        }
        Ok(Output::ok(0))
    }

    fn assign(&mut self, name: &str, value: &Expr) -> Result<(), SqlError> {
        let scope = SessionInfo::of(self);
        let user_var = name.strip_prefix('@').filter(|n| !n.starts_with('@'));
        let v = match value {
            Expr::Identifier(id)
                if matches!(
                    id.value.to_ascii_uppercase().as_str(),
                    "ON" | "OFF" | "DEFAULT" | "TRUE" | "FALSE"
                ) =>
            {
                Datum::str(id.value.to_ascii_uppercase())
            }
            // A system variable takes a bare word as its text (`SET character_set_client =
            // utf8mb4`, as mysqldump writes it).
            Expr::Identifier(id)
                if user_var.is_none() && id.quote_style.is_none() && !id.value.starts_with('@') =>
            {
                Datum::str(id.value.clone())
            }
            e => crate::expr::eval(e, &scope)?,
        };
        if let Some(user_var) = user_var {
            self.user_vars.insert(user_var.to_ascii_lowercase(), v);
            return Ok(());
        }
        let lower = name.to_ascii_lowercase();
        let var = lower
            .trim_start_matches("@@")
            .trim_start_matches("session.")
            .trim_start_matches("global.")
            .trim_start_matches("local.");
        let is_default =
            matches!(value, Expr::Identifier(id) if id.value.eq_ignore_ascii_case("DEFAULT"));
        let text = match default_of(var) {
            Some(d) if is_default => d.to_string(),
            _ => v.to_text().unwrap_or_default(),
        };
        match var {
            "autocommit" => {
                let on = matches!(text.to_ascii_uppercase().as_str(), "1" | "ON" | "TRUE");
                if on && !self.autocommit {
                    self.commit()?; // turning autocommit on commits, as in MySQL
                }
                self.autocommit = on;
            }
            "transaction_isolation" | "tx_isolation" => {
                self.isolation = parse_isolation(&text).ok_or_else(|| {
                    SqlError::new(
                        error::ER_WRONG_ARGUMENTS,
                        format!("Variable '{var}' can't be set to the value of '{text}'"),
                    )
                })?;
            }
            _ if NAMES_VARS.contains(&var) && !is_default => {
                // `character_set_results = NULL` asks for results unconverted.
                if !(v.is_null() && var == "character_set_results") {
                    charset_named(&text.to_ascii_lowercase())?;
                }
                self.vars.insert(var.to_string(), text.to_ascii_lowercase());
            }
            _ if is_default && default_of(var).is_some() => {
                self.vars.remove(var);
            }
            _ if default_of(var).is_some() => {
                self.vars.insert(var.to_string(), text);
            }
            _ => {
                return Err(SqlError::new(
                    error::ER_UNKNOWN_SYSTEM_VARIABLE,
                    format!("Unknown system variable '{var}'"),
                ))
            }
        }
        Ok(())
    }

    /// The character sets of the client's statements and of the results it reads
    /// (`character_set_client`, `character_set_results`; an empty value, which
    /// `character_set_results = NULL` leaves, asks for no conversion).
    pub fn charsets(&self) -> (ClientCharset, ClientCharset) {
        let of = |var: &str| match self.vars.get(var).map(String::as_str) {
            None => ClientCharset::default(),
            Some("") => ClientCharset::Binary,
            Some(v) => ClientCharset::from_name(v).unwrap_or_default(),
        };
        (of("character_set_client"), of("character_set_results"))
    }

    /// Sets the client's character set as its handshake names it (as `SET NAMES` would).
    pub fn set_client_charset(&mut self, cs: ClientCharset) {
        if cs != ClientCharset::Utf8mb4 {
            self.set_names(cs.name(), cs.collation_name().to_string());
        }
    }

    /// `SET NAMES charset COLLATE collation`.
    fn set_names(&mut self, charset: &str, collation: String) {
        for var in NAMES_VARS {
            self.vars.insert(var.to_string(), charset.to_string());
        }
        self.vars
            .insert("collation_connection".to_string(), collation);
    }

    fn var_u64(&self, name: &str) -> Option<u64> {
        self.vars
            .get(name)
            .map(String::as_str)
            .or(default_of(name))
            .and_then(|v| v.parse().ok())
    }

    fn show_databases(&self) -> Output {
        let rows = self
            .engine
            .catalog
            .databases()
            .into_iter()
            .map(|d| vec![Datum::str(d)])
            .collect();
        Output::Rows {
            columns: vec![OutColumn {
                name: "Database".into(),
                ..OutColumn::default()
            }],
            rows,
        }
    }

    fn show_columns(
        &self,
        full: bool,
        opts: &sqlparser::ast::ShowStatementOptions,
    ) -> Result<Output, SqlError> {
        let name = opts
            .show_in
            .as_ref()
            .and_then(|i| i.parent_name.as_ref())
            .ok_or_else(|| SqlError::new(error::ER_PARSE_ERROR, "SHOW COLUMNS needs FROM table"))?;
        let def = dml::lookup(&self.engine, name, self.db.as_deref())?;
        let pattern = like_pattern(opts, "SHOW COLUMNS")?;
        Ok(crate::show::show_columns(&def, full, pattern.as_deref()))
    }

    /// The database a `SHOW ... [FROM db]` is about.
    fn show_db(&self, opts: &sqlparser::ast::ShowStatementOptions) -> Result<String, SqlError> {
        let named = opts
            .show_in
            .as_ref()
            .and_then(|i| i.parent_name.as_ref())
            .map(|n| unquote(&n.to_string()));
        self.named_db(named)
    }

    /// `SHOW [FULL] TABLES [FROM db] [LIKE 'pattern']`.
    fn show_tables(
        &self,
        full: bool,
        opts: &sqlparser::ast::ShowStatementOptions,
    ) -> Result<Output, SqlError> {
        let db = self.show_db(opts)?;
        let pattern = like_pattern(opts, "SHOW TABLES")?;
        let rows = self
            .engine
            .catalog
            .tables(&db)
            .into_iter()
            .filter(|t| pattern.as_ref().is_none_or(|p| like(t, p, '\\')))
            .map(|t| {
                let mut row = vec![Datum::str(t)];
                if full {
                    row.push(Datum::str("BASE TABLE"));
                }
                row
            })
            .collect();
        let mut name = format!("Tables_in_{db}");
        if let Some(p) = &pattern {
            name.push_str(&format!(" ({p})"));
        }
        let mut columns = vec![crate::show::text_column(&name)];
        if full {
            columns.push(crate::show::text_column("Table_type"));
        }
        Ok(Output::Rows { columns, rows })
    }

    fn show_variables(&self, filter: Option<&ShowStatementFilter>) -> Output {
        let info = SessionInfo::of(self);
        let mut names: Vec<&str> = SYSTEM_VARS
            .iter()
            .map(|(n, _)| *n)
            .chain(["version"])
            .collect();
        names.sort_unstable();
        let pairs = names.into_iter().map(|n| {
            let v = info
                .system_var(n)
                .ok()
                .and_then(|d| d.to_text())
                .unwrap_or_default();
            (n.to_string(), v)
        });
        name_value_rows(pairs, filter)
    }

    /// `SHOW [GLOBAL|SESSION] STATUS [LIKE 'p']`: the counters ReefDB keeps, under MySQL's
    /// names.
    fn show_status(&self, filter: Option<&ShowStatementFilter>) -> Output {
        let procs = self.engine.processes.rows();
        let running = procs.iter().filter(|p| p.command == "Query").count();
        let questions = self.engine.questions.load(Ordering::Relaxed);
        let pairs = [
            (
                "Open_tables",
                self.engine.catalog.all_tables().len().to_string(),
            ),
            ("Queries", questions.to_string()),
            ("Questions", questions.to_string()),
            ("Threads_connected", procs.len().to_string()),
            ("Threads_running", running.to_string()),
            (
                "Uptime",
                self.engine.started.elapsed().as_secs().to_string(),
            ),
        ];
        name_value_rows(pairs.into_iter().map(|(n, v)| (n.to_string(), v)), filter)
    }
}

/// `Variable_name`/`Value` rows of `pairs` whose name matches the LIKE of `filter`
/// (case-insensitively, as MySQL matches them).
fn name_value_rows(
    pairs: impl Iterator<Item = (String, String)>,
    filter: Option<&ShowStatementFilter>,
) -> Output {
    let pattern = match filter {
        Some(
            ShowStatementFilter::Like(p)
            | ShowStatementFilter::ILike(p)
            | ShowStatementFilter::NoKeyword(p),
        ) => Some(p.to_ascii_lowercase()),
        _ => None,
    };
    let rows = pairs
        .filter(|(n, _)| {
            pattern
                .as_ref()
                .is_none_or(|p| like(&n.to_ascii_lowercase(), p, '\\'))
        })
        .map(|(n, v)| vec![Datum::str(n), Datum::str(v)])
        .collect();
    let col = |n: &str| OutColumn {
        name: n.into(),
        ..OutColumn::default()
    };
    Output::Rows {
        columns: vec![col("Variable_name"), col("Value")],
        rows,
    }
}

fn no_savepoint(name: &str) -> SqlError {
    SqlError::new(
        error::ER_SP_DOES_NOT_EXIST,
        format!("SAVEPOINT {name} does not exist"),
    )
}

/// The `LIKE` pattern of a `SHOW` statement, if any (`WHERE` is not supported there yet).
fn like_pattern(
    opts: &sqlparser::ast::ShowStatementOptions,
    what: &str,
) -> Result<Option<String>, SqlError> {
    match &opts.filter_position {
        Some(
            sqlparser::ast::ShowStatementFilterPosition::Infix(f)
            | sqlparser::ast::ShowStatementFilterPosition::Suffix(f),
        ) => match f {
            ShowStatementFilter::Like(p) | ShowStatementFilter::ILike(p) => Ok(Some(p.clone())),
            other => Err(SqlError::unsupported(format!("{what} {other}"))),
        },
        None => Ok(None),
    }
}

fn unquote(s: &str) -> String {
    s.trim_matches('`').to_string()
}

/// A value as a SQL literal (how bound parameters and inlined session values are written).
pub(crate) fn to_literal(d: Datum) -> SqlValue {
    match d {
        Datum::Null => SqlValue::Null,
        Datum::Int(i) => SqlValue::Number(i.to_string(), false),
        Datum::UInt(u) => SqlValue::Number(u.to_string(), false),
        Datum::Double(f) => SqlValue::Number(format!("{f:e}"), false),
        Datum::Decimal(d) => SqlValue::Number(d.to_string(), false),
        Datum::Bytes(b) => {
            SqlValue::HexStringLiteral(b.iter().map(|x| format!("{x:02X}")).collect())
        }
        other => SqlValue::SingleQuotedString(other.to_text().unwrap_or_default()),
    }
}

/// What expressions may ask of the session (a snapshot taken per statement).
#[derive(Debug, Clone)]
pub(crate) struct SessionInfo {
    pub(crate) db: Option<String>,
    user: String,
    account_host: String,
    conn_id: u32,
    last_insert_id: u64,
    autocommit: bool,
    pub(crate) isolation: Isolation,
    warnings: u16,
    version: String,
    vars: HashMap<String, String>,
    user_vars: HashMap<String, Datum>,
    pub(crate) found_rows: bool,
    /// The statement runs in its own (autocommit) transaction.
    pub(crate) single_statement: bool,
    /// Notes and warnings the statement raises (`SHOW WARNINGS`).
    notes: std::cell::RefCell<Vec<Diagnostic>>,
}

impl SessionInfo {
    fn of(s: &SqlSession) -> SessionInfo {
        SessionInfo {
            db: s.db.clone(),
            user: s.user.clone(),
            account_host: s.account_host.clone(),
            conn_id: s.conn_id,
            last_insert_id: s.last_insert_id,
            autocommit: s.autocommit,
            isolation: s.isolation,
            warnings: s.warnings,
            version: s.engine.version.clone(),
            vars: s.vars.clone(),
            user_vars: s.user_vars.clone(),
            found_rows: s.found_rows,
            single_statement: false,
            notes: std::cell::RefCell::new(Vec::new()),
        }
    }

    /// Records a warning of the running statement.
    pub(crate) fn warn(&self, code: error::ErrorCode, message: impl Into<String>) {
        self.notes.borrow_mut().push(Diagnostic {
            level: "Warning",
            code: code.errno,
            message: message.into(),
        });
    }

    /// Warnings recorded so far by the running statement.
    pub(crate) fn note_count(&self) -> usize {
        self.notes.borrow().len()
    }

    fn take_notes(&self) -> Vec<Diagnostic> {
        std::mem::take(&mut *self.notes.borrow_mut())
    }
}

/// One row of `SHOW WARNINGS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// `Note`, `Warning` or `Error`.
    pub level: &'static str,
    /// The MySQL error number.
    pub code: u16,
    /// The message.
    pub message: String,
}

impl Diagnostic {
    /// The entry a failed statement leaves.
    fn error(e: &SqlError) -> Diagnostic {
        Diagnostic {
            level: "Error",
            code: e.code.errno,
            message: e.message.clone(),
        }
    }
}

impl Scope for SessionInfo {
    fn column(&self, _q: Option<&str>, name: &str) -> Result<Datum, SqlError> {
        Err(dml::unknown_column(name, "field list"))
    }

    fn system_var(&self, name: &str) -> Result<Datum, SqlError> {
        let n = name.to_ascii_lowercase();
        let text = match n.as_str() {
            "autocommit" => return Ok(Datum::Int(self.autocommit as i64)),
            "version" => self.version.clone(),
            "transaction_isolation" | "tx_isolation" => isolation_name(self.isolation).to_string(),
            "last_insert_id" | "identity" => return Ok(Datum::UInt(self.last_insert_id)),
            "warning_count" => return Ok(Datum::Int(self.warnings as i64)),
            "error_count" => return Ok(Datum::Int(0)),
            _ => match self
                .vars
                .get(&n)
                .cloned()
                .or_else(|| default_of(&n).map(str::to_string))
            {
                Some(v) => v,
                None => {
                    return Err(SqlError::new(
                        error::ER_UNKNOWN_SYSTEM_VARIABLE,
                        format!("Unknown system variable '{name}'"),
                    ))
                }
            },
        };
        Ok(match text.parse::<i64>() {
            Ok(i) if !text.is_empty() && n != "version" => Datum::Int(i),
            _ => Datum::str(text),
        })
    }

    fn user_var(&self, name: &str) -> Datum {
        self.user_vars
            .get(&name.to_ascii_lowercase())
            .cloned()
            .unwrap_or(Datum::Null)
    }

    fn session_fn(&self, name: &str) -> Option<Datum> {
        Some(match name {
            "database" | "schema" => self.db.clone().map_or(Datum::Null, Datum::str),
            "user" | "session_user" | "system_user" => {
                Datum::str(format!("{}@localhost", self.user))
            }
            "current_user" => Datum::str(format!("{}@{}", self.user, self.account_host)),
            "connection_id" => Datum::UInt(self.conn_id as u64),
            "last_insert_id" => Datum::UInt(self.last_insert_id),
            "version" => Datum::str(self.version.clone()),
            _ => return None,
        })
    }
}
