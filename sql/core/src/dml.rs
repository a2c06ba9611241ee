//! DDL for tables and the OLTP executor: INSERT, SELECT (point reads, primary-key ranges,
//! scans with filters, ORDER BY, LIMIT, DISTINCT, simple aggregates, locking reads), UPDATE
//! and DELETE as current reads under row locks.

use std::cmp::Ordering;
use std::ops::Bound;
use std::ops::ControlFlow;
use std::sync::Arc;

use parking_lot::Mutex;
use reef_common::collation::Collation;
use reef_common::error;
use reef_common::ids::{TabletId, Version};
use reef_common::keycodec::{encode_key, KeyKind};
use reef_common::rowcodec::{decode_row_wanted, encode_row};
use reef_common::types::{ColumnType, PhysicalKind};
use reef_common::value::Value;
use reef_storage::mvcc::ReadCtx;
use reef_storage::scan::{KeyRange, VisibleMerge};
use reef_storage::tablet::{full_range, Tablet};
use reef_txn::txn::{Isolation, LockMode, Locked, Transaction, WaitPolicy};
use reef_txn::TxnError;
use sqlparser::ast::{
    BinaryOperator, CharacterLength, ColumnOption, CreateTable, DataType, Delete,
    DuplicateTreatment, ExactNumberInfo, Expr, FromTable, FunctionArg, FunctionArgExpr,
    FunctionArguments, GroupByExpr, Insert, LimitClause, LockType, NonBlock, ObjectName,
    ObjectType, OrderByKind, Query, Select, SelectItem, SetExpr, Statement, TableConstraint,
    TableFactor, TableObject, TableWithJoins, Update, Value as SqlValue,
};

use crate::catalog::{
    index_schema, indexed_primary_key, ColumnDef, IndexDef, IndexEntry, IndexState, TableDef,
};
use crate::datum::Datum;
use crate::expr::{any_expr, eval, eval_shown, Scope};
use crate::session::{OutColumn, Output, SessionInfo, SqlEngine};
use crate::SqlError;

mod join;

/// A row with its encoded primary key.
type KeyedRow = (Vec<u8>, Vec<Datum>);
/// A source row (what ORDER BY on table columns reads) with its projected output row.
type SourcedRow = (Vec<Datum>, Vec<Datum>);

/// A row being sorted: its ORDER BY keys, the source row, the projected row.
type SortRow = (Vec<Vec<u8>>, Vec<Datum>, Vec<Datum>);

/// What a committed DDL statement changes in memory.
pub(crate) enum Applied {
    Nothing,
    /// A new table, and the AUTO_INCREMENT value it starts from if given.
    CreateTable(TableDef, Option<u64>),
    DropTables(Vec<Arc<TableDef>>),
    DropDatabase(String),
}

impl Applied {
    pub(crate) fn apply(self, engine: &SqlEngine) {
        match self {
            Applied::Nothing => {}
            Applied::CreateTable(def, autoinc) => {
                if let Some(n) = autoinc {
                    engine.catalog.apply_autoinc(def.id, n);
                }
                engine.catalog.apply_create_table(def)
            }
            Applied::DropTables(defs) => {
                for d in &defs {
                    engine.catalog.apply_drop_table(d);
                    engine.tablets.retire_tablets(&d.tablet_ids());
                }
            }
            Applied::DropDatabase(db) => {
                let dropped: Vec<TabletId> = engine
                    .catalog
                    .all_tables()
                    .iter()
                    .filter(|d| d.db == db)
                    .flat_map(|d| d.tablet_ids())
                    .collect();
                engine.catalog.apply_drop_db(&db);
                engine.tablets.retire_tablets(&dropped);
            }
        }
    }
}

fn ident_name(n: &ObjectName) -> Vec<String> {
    n.0.iter()
        .map(|p| p.to_string().trim_matches('`').to_string())
        .collect()
}

/// (database, table) of a possibly qualified name.
pub(crate) fn table_name(n: &ObjectName, db: Option<&str>) -> Result<(String, String), SqlError> {
    match ident_name(n).as_slice() {
        [t] => {
            let db =
                db.ok_or_else(|| SqlError::new(error::ER_NO_DB_ERROR, "No database selected"))?;
            Ok((db.to_string(), t.clone()))
        }
        [d, t] => Ok((d.clone(), t.clone())),
        _ => Err(SqlError::unsupported(format!("table name {n}"))),
    }
}

pub(crate) fn lookup(
    engine: &SqlEngine,
    n: &ObjectName,
    db: Option<&str>,
) -> Result<Arc<TableDef>, SqlError> {
    let (d, t) = table_name(n, db)?;
    engine.catalog.table(&d, &t).ok_or_else(|| {
        SqlError::new(
            error::ER_NO_SUCH_TABLE,
            format!("Table '{d}.{t}' doesn't exist"),
        )
    })
}

pub(crate) fn ddl(
    engine: &SqlEngine,
    txn: &mut Transaction,
    db: Option<&str>,
    stmt: &Statement,
) -> Result<Applied, SqlError> {
    match stmt {
        Statement::CreateTable(ct) => create_table(engine, txn, db, ct),
        Statement::Drop {
            object_type: ObjectType::Table,
            if_exists,
            names,
            ..
        } => {
            let mut dropped = Vec::new();
            for n in names {
                match lookup(engine, n, db) {
                    Ok(def) => {
                        engine.catalog.drop_table(txn, &def)?;
                        dropped.push(def);
                    }
                    Err(_) if *if_exists => {}
                    Err(e) => {
                        return Err(SqlError::new(
                            error::ER_BAD_TABLE_ERROR,
                            format!(
                                "Unknown table '{}'",
                                e.message.split('\'').nth(1).unwrap_or("")
                            ),
                        ))
                    }
                }
            }
            Ok(Applied::DropTables(dropped))
        }
        Statement::Drop {
            object_type: ObjectType::Schema | ObjectType::Database,
            if_exists,
            names,
            ..
        } => {
            let name = names
                .first()
                .map(|n| n.to_string().trim_matches('`').to_string())
                .unwrap_or_default();
            if *if_exists && !engine.catalog.has_database(&name) {
                return Ok(Applied::Nothing);
            }
            engine.catalog.drop_database(txn, &name)?;
            Ok(Applied::DropDatabase(name))
        }
        Statement::Drop { object_type, .. } => {
            Err(SqlError::unsupported(format!("DROP {object_type}")))
        }
        other => Err(SqlError::unsupported(other)),
    }
}

fn char_len(l: &Option<CharacterLength>, default: u32) -> u32 {
    match l {
        Some(CharacterLength::IntegerLength { length, .. }) => *length as u32,
        Some(CharacterLength::Max) => u32::MAX,
        None => default,
    }
}

fn map_type(dt: &DataType, collation: Collation) -> Result<ColumnType, SqlError> {
    use DataType as D;
    let int = |bytes: u8, unsigned: bool| ColumnType::Int { bytes, unsigned };
    let string = |len_chars: u32, fixed: bool| ColumnType::String {
        len_chars,
        fixed,
        collation,
    };
    Ok(match dt {
        D::TinyInt(_) | D::Bool | D::Boolean => int(1, false),
        D::TinyIntUnsigned(_) => int(1, true),
        D::SmallInt(_) => int(2, false),
        D::SmallIntUnsigned(_) => int(2, true),
        D::MediumInt(_) => int(3, false),
        D::MediumIntUnsigned(_) => int(3, true),
        D::Int(_) | D::Integer(_) => int(4, false),
        D::IntUnsigned(_) | D::IntegerUnsigned(_) => int(4, true),
        D::BigInt(_) => int(8, false),
        D::BigIntUnsigned(_) => int(8, true),
        D::Decimal(info) | D::Numeric(info) | D::DecimalUnsigned(info) => {
            let (p, s) = match info {
                ExactNumberInfo::None => (10, 0),
                ExactNumberInfo::Precision(p) => (*p, 0),
                ExactNumberInfo::PrecisionAndScale(p, s) => (*p, *s as u64),
            };
            if p > 65 || s > 30 || s > p || p == 0 {
                return Err(SqlError::new(error::ER_WRONG_ARGUMENTS, format!("Invalid DECIMAL({p},{s}): precision up to 65, scale up to 30 and not above the precision")));
            }
            ColumnType::Decimal {
                precision: p as u8,
                scale: s as u8,
            }
        }
        D::Float(_) => ColumnType::Float,
        D::Double(_) | D::DoublePrecision | D::Real => ColumnType::Double,
        D::Char(l) | D::Character(l) => string(char_len(l, 1), true),
        D::Varchar(l) | D::CharacterVarying(l) | D::CharVarying(l) => string(char_len(l, 1), false),
        D::TinyText => string(255, false),
        D::Text => string(65_535, false),
        D::MediumText => string(16_777_215, false),
        D::LongText => string(u32::MAX, false),
        D::Binary(l) => ColumnType::Binary {
            len_bytes: l.unwrap_or(1) as u32,
            fixed: true,
        },
        D::Varbinary(l) => ColumnType::Binary {
            len_bytes: match l {
                Some(sqlparser::ast::BinaryLength::IntegerLength { length }) => *length as u32,
                _ => 65_535,
            },
            fixed: false,
        },
        D::TinyBlob => ColumnType::Binary {
            len_bytes: 255,
            fixed: false,
        },
        D::Blob(_) => ColumnType::Binary {
            len_bytes: 65_535,
            fixed: false,
        },
        D::MediumBlob => ColumnType::Binary {
            len_bytes: 16_777_215,
            fixed: false,
        },
        D::LongBlob => ColumnType::Binary {
            len_bytes: u32::MAX,
            fixed: false,
        },
        D::Date => ColumnType::Date,
        D::Datetime(fsp) => ColumnType::DateTime {
            fsp: fsp.unwrap_or(0).min(6) as u8,
        },
        D::Timestamp(fsp, _) => ColumnType::Timestamp {
            fsp: fsp.unwrap_or(0).min(6) as u8,
        },
        other => return Err(SqlError::unsupported(format!("column type {other}"))),
    })
}

/// Expressions with no column references, evaluated once (defaults, literals).
struct NoRow;

impl Scope for NoRow {
    fn column(&self, _: Option<&str>, name: &str) -> Result<Datum, SqlError> {
        Err(unknown_column(name, "field list"))
    }
    fn system_var(&self, name: &str) -> Result<Datum, SqlError> {
        Err(SqlError::unsupported(format!("@@{name} here")))
    }
    fn user_var(&self, _: &str) -> Datum {
        Datum::Null
    }
    fn session_fn(&self, _: &str) -> Option<Datum> {
        None
    }
}

/// A column's DEFAULT given as `e` (a constant the column's type accepts).
pub(crate) fn default_value(e: &Expr, ty: &ColumnType, column: &str) -> Result<Datum, SqlError> {
    if let Expr::Function(f) = e {
        return Err(SqlError::unsupported(format!("DEFAULT {f}")));
    }
    let d = eval(e, &NoRow)?;
    d.to_stored(ty, column)?;
    Ok(d)
}

/// One column's definition; `pk` collects a column-level PRIMARY KEY, `unique` says whether
/// the column is declared UNIQUE.
pub(crate) fn column_def(
    c: &sqlparser::ast::ColumnDef,
    pk: &mut Vec<usize>,
    unique: &mut bool,
    slot: usize,
) -> Result<ColumnDef, SqlError> {
    let mut collation = Collation::default();
    let mut nullable = true;
    let mut default = None;
    let mut auto_increment = false;
    for opt in &c.options {
        if let ColumnOption::Collation(n) = &opt.option {
            let name = n.to_string();
            collation = Collation::by_name(name.trim_matches(['`', '\''])).ok_or_else(|| {
                SqlError::new(
                    error::ER_UNKNOWN_ERROR,
                    format!("Unknown collation: '{name}'"),
                )
            })?;
        }
    }
    let ty = map_type(&c.data_type, collation)?;
    for opt in &c.options {
        match &opt.option {
            ColumnOption::Null => nullable = true,
            ColumnOption::NotNull => nullable = false,
            ColumnOption::Default(e) => default = Some(default_value(e, &ty, &c.name.value)?),
            ColumnOption::PrimaryKey(_) => {
                pk.push(slot);
                nullable = false;
            }
            ColumnOption::Unique(_) => *unique = true,
            ColumnOption::DialectSpecific(tokens) => {
                if tokens
                    .iter()
                    .any(|t| t.to_string().eq_ignore_ascii_case("AUTO_INCREMENT"))
                {
                    auto_increment = true;
                } else {
                    return Err(SqlError::unsupported(format!(
                        "column option {}",
                        opt.option
                    )));
                }
            }
            ColumnOption::CharacterSet(_)
            | ColumnOption::Collation(_)
            | ColumnOption::Comment(_) => {}
            other => return Err(SqlError::unsupported(format!("column option {other}"))),
        }
    }
    Ok(ColumnDef {
        name: c.name.value.clone(),
        ty,
        nullable,
        default,
        auto_increment,
    })
}

fn create_table(
    engine: &SqlEngine,
    txn: &mut Transaction,
    db: Option<&str>,
    ct: &CreateTable,
) -> Result<Applied, SqlError> {
    let (db, name) = table_name(&ct.name, db)?;
    if !engine.catalog.has_database(&db) {
        return Err(SqlError::new(
            error::ER_BAD_DB_ERROR,
            format!("Unknown database '{db}'"),
        ));
    }
    if engine.catalog.table(&db, &name).is_some() {
        if ct.if_not_exists {
            return Ok(Applied::Nothing);
        }
        return Err(SqlError::new(
            error::ER_TABLE_EXISTS_ERROR,
            format!("Table '{name}' already exists"),
        ));
    }
    if ct.query.is_some() || ct.like.is_some() || ct.temporary {
        return Err(SqlError::unsupported(
            "CREATE TABLE ... SELECT / LIKE / TEMPORARY",
        ));
    }
    let mut pk = Vec::new();
    let mut columns: Vec<ColumnDef> = Vec::with_capacity(ct.columns.len());
    let mut index_cols: Vec<(Option<String>, Vec<usize>, bool)> = Vec::new();
    for (slot, c) in ct.columns.iter().enumerate() {
        let mut unique = false;
        let def = column_def(c, &mut pk, &mut unique, slot)?;
        if unique {
            index_cols.push((None, vec![slot], true));
        }
        if columns
            .iter()
            .any(|x| x.name.eq_ignore_ascii_case(&def.name))
        {
            return Err(SqlError::new(
                error::ER_DUP_FIELDNAME,
                format!("Duplicate column name '{}'", def.name),
            ));
        }
        columns.push(def);
    }
    let slot_of = |columns: &[ColumnDef], n: &str| -> Result<usize, SqlError> {
        columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(n))
            .ok_or_else(|| {
                SqlError::new(
                    error::ER_BAD_FIELD_ERROR,
                    format!("Key column '{n}' doesn't exist in table"),
                )
            })
    };
    for cons in &ct.constraints {
        match cons {
            TableConstraint::PrimaryKey(p) => {
                for ic in &p.columns {
                    let slot = slot_of(&columns, ic.column.expr.to_string().trim_matches('`'))?;
                    columns[slot].nullable = false;
                    pk.push(slot);
                }
            }
            TableConstraint::Index(ix) => {
                let cols = ix
                    .columns
                    .iter()
                    .map(|ic| slot_of(&columns, ic.column.expr.to_string().trim_matches('`')))
                    .collect::<Result<Vec<_>, _>>()?;
                index_cols.push((ix.name.as_ref().map(|n| n.value.clone()), cols, false));
            }
            TableConstraint::Unique(u) => {
                let cols = u
                    .columns
                    .iter()
                    .map(|ic| slot_of(&columns, ic.column.expr.to_string().trim_matches('`')))
                    .collect::<Result<Vec<_>, _>>()?;
                let name = u.index_name.as_ref().or(u.name.as_ref());
                index_cols.push((name.map(|n| n.value.clone()), cols, true));
            }
            other => {
                return Err(SqlError::unsupported(format!(
                    "table constraint {other} (UNIQUE keys and foreign keys)"
                )))
            }
        }
    }
    let id = engine.catalog.next_tablet_id();
    let mut indexes: Vec<IndexDef> = Vec::with_capacity(index_cols.len());
    for (iname, cols, unique) in index_cols {
        let name = match iname {
            Some(n) if indexes.iter().any(|i| i.name.eq_ignore_ascii_case(&n)) => {
                return Err(SqlError::new(
                    error::ER_DUP_KEYNAME,
                    format!("Duplicate key name '{n}'"),
                ))
            }
            Some(n) => n,
            None => index_name_for(&indexes, &columns[cols[0]].name),
        };
        let ix = IndexDef {
            name,
            id: engine.catalog.next_tablet_id(),
            columns: cols,
            state: IndexState::Public,
            unique,
        };
        engine.tablets.create_tablet(ix.id, index_schema(unique))?;
        indexes.push(ix);
    }
    let def = TableDef {
        id,
        db,
        name,
        columns,
        pk,
        indexes,
    };
    engine.tablets.create_tablet(def.id, def.row_schema())?;
    engine.catalog.create_table(txn, &def)?;
    // `AUTO_INCREMENT = n` (mysqldump writes it): the counter starts there.
    let autoinc = table_option(&ct.table_options, "AUTO_INCREMENT")
        .map(|e| match eval(e, &NoRow)? {
            Datum::Int(i) if i > 0 => Ok(i as u64),
            Datum::UInt(u) if u > 0 => Ok(u),
            other => Err(SqlError::new(
                error::ER_WRONG_ARGUMENTS,
                format!("Invalid AUTO_INCREMENT value {other:?}"),
            )),
        })
        .transpose()?
        .filter(|_| def.auto_increment().is_some());
    if let Some(n) = autoinc {
        engine.catalog.reserve_autoinc(txn, def.id, n)?;
    }
    Ok(Applied::CreateTable(def, autoinc))
}

/// The value of table option `name` (`ENGINE=...`, `AUTO_INCREMENT=...`), if given.
fn table_option<'a>(opts: &'a sqlparser::ast::CreateTableOptions, name: &str) -> Option<&'a Expr> {
    use sqlparser::ast::{CreateTableOptions as O, SqlOption};
    let list = match opts {
        O::None => return None,
        O::With(v) | O::Options(v) | O::Plain(v) | O::TableProperties(v) => v,
    };
    list.iter().find_map(|o| match o {
        SqlOption::KeyValue { key, value } if key.value.eq_ignore_ascii_case(name) => Some(value),
        _ => None,
    })
}

/// The name MySQL gives an unnamed index whose first column is `column`: the column's name,
/// or with `_2`, `_3`, ... appended while that is taken.
pub(crate) fn index_name_for(indexes: &[IndexDef], column: &str) -> String {
    let taken = |n: &str| {
        n.eq_ignore_ascii_case("PRIMARY") || indexes.iter().any(|i| i.name.eq_ignore_ascii_case(n))
    };
    if !taken(column) {
        return column.to_string();
    }
    (2..)
        .map(|i| format!("{column}_{i}"))
        .find(|n| !taken(n))
        .expect("some suffix is free")
}

/// Runs a data statement in `txn`.
pub(crate) fn run(
    engine: &SqlEngine,
    txn: &mut Transaction,
    s: &SessionInfo,
    stmt: &Statement,
) -> Result<Output, SqlError> {
    match stmt {
        Statement::Query(q) => select(engine, txn, s, q),
        Statement::Insert(i) => insert(engine, txn, s, i),
        Statement::Update(u) => update(engine, txn, s, u),
        Statement::Delete(d) => delete(engine, txn, s, d),
        Statement::Explain {
            statement, analyze, ..
        } => match statement.as_ref() {
            Statement::Query(q) => explain_tree(engine, txn, s, q, *analyze),
            other => Err(SqlError::unsupported(format!("EXPLAIN of {other}"))),
        },
        other => Err(SqlError::unsupported(other)),
    }
}

/// A row of a table while expressions are evaluated.
struct RowScope<'a> {
    def: &'a TableDef,
    alias: Option<&'a str>,
    row: &'a [Datum],
    session: &'a SessionInfo,
}

impl Scope for RowScope<'_> {
    fn column(&self, q: Option<&str>, name: &str) -> Result<Datum, SqlError> {
        let table_ok = q.is_none_or(|q| {
            q.eq_ignore_ascii_case(self.alias.unwrap_or(&self.def.name))
                || q.eq_ignore_ascii_case(&self.def.name)
        });
        match self.def.column(name) {
            Some(i) if table_ok => Ok(self.row[i].clone()),
            _ => Err(unknown_column(
                &q.map_or(name.to_string(), |q| format!("{q}.{name}")),
                "where clause",
            )),
        }
    }
    fn system_var(&self, name: &str) -> Result<Datum, SqlError> {
        self.session.system_var(name)
    }
    fn user_var(&self, name: &str) -> Datum {
        self.session.user_var(name)
    }
    fn session_fn(&self, name: &str) -> Option<Datum> {
        self.session.session_fn(name)
    }
}

pub(crate) fn decode(def: &TableDef, row: &[u8]) -> Result<Vec<Datum>, SqlError> {
    RowDecoder::new(def).decode(row)
}

/// Decodes a table's stored rows into datums; built once per statement so that scanning
/// does not rebuild the column kinds for every row.
struct RowDecoder<'a> {
    def: &'a TableDef,
    kinds: Vec<PhysicalKind>,
    /// Only these columns are built; the others read as NULL (None: all of them).
    wanted: Option<Vec<bool>>,
}

impl<'a> RowDecoder<'a> {
    fn new(def: &'a TableDef) -> RowDecoder<'a> {
        RowDecoder {
            def,
            kinds: def.columns.iter().map(|c| c.ty.physical()).collect(),
            wanted: None,
        }
    }

    /// A decoder that builds only the `wanted` columns, for statements that read no others.
    fn only(def: &'a TableDef, wanted: Option<Vec<bool>>) -> RowDecoder<'a> {
        RowDecoder {
            wanted,
            ..RowDecoder::new(def)
        }
    }

    /// The row's datums; columns added after the row was written are NULL.
    fn decode(&self, row: &[u8]) -> Result<Vec<Datum>, SqlError> {
        let cols = &self.def.columns;
        let mut out = vec![Datum::Null; cols.len()];
        decode_row_wanted(row, &self.kinds, self.wanted.as_deref(), |slot, v| {
            out[slot] = Datum::from_value(v, &cols[slot].ty)
        })
        .map_err(|e| SqlError::internal(e.to_string()))?;
        Ok(out)
    }
}

/// The columns a single-table SELECT names anywhere (list, WHERE, GROUP BY, HAVING, ORDER
/// BY), so its rows need only those decoded; `None` (every column) with a wildcard.
/// Names that are not columns (aliases, variables) are simply not counted: a superset of
/// what the statement reads is all this promises.
fn columns_named(q: &Query, sel: &Select, def: &TableDef) -> Option<Vec<bool>> {
    if sel.projection.iter().any(|i| {
        matches!(
            i,
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
        )
    }) {
        return None;
    }
    let mut wanted = vec![false; def.columns.len()];
    let _ = sqlparser::ast::visit_expressions(q, |e| {
        let name = match e {
            Expr::Identifier(id) => Some(&id.value),
            Expr::CompoundIdentifier(parts) => parts.last().map(|p| &p.value),
            _ => None,
        };
        if let Some(slot) = name.and_then(|n| def.column(n)) {
            wanted[slot] = true;
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    Some(wanted)
}

pub(crate) fn stored(def: &TableDef, row: &[Datum]) -> Result<Vec<Value>, SqlError> {
    row.iter()
        .zip(&def.columns)
        .map(|(d, c)| d.to_stored(&c.ty, &c.name))
        .collect()
}

pub(crate) fn key_of(
    def: &TableDef,
    values: &[Value],
    hidden: Option<u64>,
) -> Result<Vec<u8>, SqlError> {
    if def.pk.is_empty() {
        let id = hidden.ok_or_else(|| SqlError::internal("row without a hidden key"))?;
        return encode_key(&[Value::UInt(id)], &[KeyKind::UInt])
            .map_err(|e| SqlError::internal(e.to_string()));
    }
    let pk: Vec<Value> = def.pk.iter().map(|&i| values[i].clone()).collect();
    encode_key(&pk, &def.key_kinds()).map_err(|e| SqlError::internal(e.to_string()))
}

/// AUTO_INCREMENT values reserved per catalog write: a restart continues after the last
/// reservation, so at most this many values are skipped then (MySQL does not promise
/// gapless values either).
const AUTOINC_BLOCK: u64 = 1000;

/// A table's counter: the next AUTO_INCREMENT value or hidden row id.
#[derive(Debug, Default)]
pub(crate) struct Counter {
    /// The next value (`None` until first used).
    next: Mutex<Option<u64>>,
    /// Values below this one are covered by the catalog's persisted reservation.
    reserved: Mutex<u64>,
}

/// The table's counter. An AUTO_INCREMENT counter starts from the catalog's reservation
/// (values persist across restarts, as in MySQL 8), else (a table from before reservations
/// existed, or one without AUTO_INCREMENT) from the largest value stored.
fn counter(engine: &SqlEngine, def: &TableDef, tablet: &Tablet) -> Result<Arc<Counter>, SqlError> {
    let c = engine.counters.lock().entry(def.id).or_default().clone();
    let mut g = c.next.lock();
    if g.is_none() {
        if let Some(r) = engine.catalog.autoinc_reserved(def.id) {
            *c.reserved.lock() = r;
            *g = Some(r);
            drop(g);
            return Ok(c);
        }
        let mut max = 0u64;
        for item in tablet.scan(full_range(), ReadCtx::at(Version::MAX))? {
            let (key, row) = item?;
            let v = match def.auto_increment() {
                Some(slot) => match &decode(def, &row)?[slot] {
                    Datum::Int(i) => (*i).max(0) as u64,
                    Datum::UInt(u) => *u,
                    _ => 0,
                },
                None => u64::from_be_bytes(
                    key.get(1..9)
                        .and_then(|b| b.try_into().ok())
                        .unwrap_or([0; 8]),
                ),
            };
            max = max.max(v);
        }
        *g = Some(max + 1);
    }
    drop(g);
    Ok(c)
}

/// Persists a new AUTO_INCREMENT reservation once the counter has passed the last one, in
/// its own catalog transaction, before the values are used in a row that commits.
fn keep_reservation(engine: &SqlEngine, def: &TableDef, c: &Counter) -> Result<(), SqlError> {
    if def.auto_increment().is_none() {
        return Ok(());
    }
    let next = c.next.lock().unwrap_or(1);
    let mut reserved = c.reserved.lock();
    if next <= *reserved {
        return Ok(());
    }
    let upto = next.saturating_add(AUTOINC_BLOCK);
    set_reservation(engine, def.id, upto)?;
    *reserved = upto;
    Ok(())
}

/// At a clean stop: shrinks each AUTO_INCREMENT reservation to the counter's next value,
/// so a restart continues without a gap (after a crash it continues after the last
/// reservation). A later insert reserves again as usual.
pub(crate) fn settle_counters(engine: &SqlEngine) -> Result<(), SqlError> {
    let counters: Vec<(reef_common::ids::TabletId, Arc<Counter>)> = engine
        .counters
        .lock()
        .iter()
        .map(|(id, c)| (*id, c.clone()))
        .collect();
    for (id, c) in counters {
        if engine.catalog.autoinc_reserved(id).is_none() {
            continue;
        }
        let mut reserved = c.reserved.lock();
        let next = *c.next.lock();
        if let Some(n) = next.filter(|n| n < &*reserved) {
            set_reservation(engine, id, n)?;
            *reserved = n;
        }
    }
    Ok(())
}

/// Commits an AUTO_INCREMENT reservation of table tablet `id` (values below `upto` may be
/// used) and makes it visible.
pub(crate) fn set_reservation(
    engine: &SqlEngine,
    id: reef_common::ids::TabletId,
    upto: u64,
) -> Result<(), SqlError> {
    let mut t = engine.txns.begin(reef_txn::txn::TxnOptions::default());
    t.begin_statement()?;
    engine.catalog.reserve_autoinc(&mut t, id, upto)?;
    t.commit()?;
    engine.catalog.apply_autoinc(id, upto);
    Ok(())
}

/// The value the next AUTO_INCREMENT insert into `def` takes (`SHOW TABLE STATUS`), or
/// `None` if the table has no AUTO_INCREMENT column.
pub(crate) fn next_auto_increment(
    engine: &SqlEngine,
    def: &TableDef,
) -> Result<Option<u64>, SqlError> {
    if def.auto_increment().is_none() {
        return Ok(None);
    }
    let tablet = engine.tablet_of(def)?;
    let c = counter(engine, def, &tablet)?;
    let next = *c.next.lock();
    Ok(next)
}

fn insert(
    engine: &SqlEngine,
    txn: &mut Transaction,
    s: &SessionInfo,
    ins: &Insert,
) -> Result<Output, SqlError> {
    let TableObject::TableName(name) = &ins.table else {
        return Err(SqlError::unsupported("INSERT INTO TABLE FUNCTION"));
    };
    let def = lookup(engine, name, s.db.as_deref())?;
    let on_dup = match &ins.on {
        _ if ins.replace_into => OnDuplicate::Replace,
        Some(sqlparser::ast::OnInsert::DuplicateKeyUpdate(a)) => {
            OnDuplicate::Update(assignment_targets(&def, a)?)
        }
        Some(other) => return Err(SqlError::unsupported(format!("INSERT ... {other}"))),
        None if ins.ignore => OnDuplicate::Ignore,
        None => OnDuplicate::Fail,
    };
    let tablet = engine.tablet_of(&def)?;
    let source = match ins.source.as_deref() {
        Some(q) => q,
        None => return Err(SqlError::unsupported("INSERT ... SET")),
    };
    let slots: Vec<usize> = if ins.columns.is_empty() {
        (0..def.columns.len()).collect()
    } else {
        ins.columns
            .iter()
            .map(|c| {
                let n = c.to_string().trim_matches('`').to_string();
                def.column(&n)
                    .ok_or_else(|| unknown_column(&n, "field list"))
            })
            .collect::<Result<_, _>>()?
    };
    // The source rows are complete before the first insert: a SELECT reads at the
    // statement's snapshot, so it never sees the rows this statement inserts.
    let source_rows: Vec<Vec<Datum>> = match source.body.as_ref() {
        SetExpr::Values(v) => v
            .rows
            .iter()
            .map(|exprs| exprs.iter().map(|e| eval(e, s)).collect())
            .collect::<Result<_, _>>()?,
        _ => match select(engine, txn, s, source)? {
            Output::Rows { rows, .. } => rows,
            Output::Ok { .. } => return Err(SqlError::internal("a SELECT returned no rows")),
        },
    };
    let counter = if def.auto_increment().is_some() || def.pk.is_empty() {
        Some(counter(engine, &def, &tablet)?)
    } else {
        None
    };
    let (mut affected, mut first_id, mut duplicates) = (0u64, 0u64, 0u64);
    let records = source_rows.len();
    for (n, datums) in source_rows.into_iter().enumerate() {
        if datums.len() != slots.len() {
            return Err(SqlError::new(
                error::ER_WRONG_VALUE_COUNT_ON_ROW,
                format!("Column count doesn't match value count at row {}", n + 1),
            ));
        }
        let mut row: Vec<Option<Datum>> = vec![None; def.columns.len()];
        for (slot, d) in slots.iter().zip(datums) {
            row[*slot] = Some(d);
        }
        let (values, hidden, generated) =
            complete_row(&def, row, counter.as_deref().map(|c| &c.next))?;
        if let Some(c) = &counter {
            keep_reservation(engine, &def, c)?;
        }
        if generated != 0 && first_id == 0 {
            first_id = generated;
        }
        let key = key_of(&def, &values, hidden)?;
        // REPLACE may have to remove several rows (one per unique key) before its row fits.
        loop {
            let Some(conflict) = insert_row(engine, txn, (&def, &tablet), &key, &values)? else {
                affected += 1;
                break;
            };
            let error = SqlError::from(conflict.error);
            let new_v = match &on_dup {
                OnDuplicate::Fail => return Err(error),
                OnDuplicate::Ignore => {
                    duplicates += 1;
                    s.warn(error::ER_DUP_ENTRY, error.message);
                    break;
                }
                OnDuplicate::Replace | OnDuplicate::Update(_) => {
                    let old = match txn.get_locked_newest(
                        &tablet,
                        &conflict.pk,
                        LockMode::Exclusive,
                        WaitPolicy::Wait,
                    )? {
                        Locked::Row(Some(r)) => decode(&def, &r)?,
                        _ => return Err(SqlError::internal("the duplicate row is gone")),
                    };
                    let old_v = stored(&def, &old)?;
                    match &on_dup {
                        OnDuplicate::Update(targets) => {
                            let inserted = Inserted {
                                values: &values,
                                alias: ins.insert_alias.as_ref(),
                                slots: &slots,
                            };
                            let new = assign_row((&def, None), targets, &old, Some(&inserted), s)?;
                            (old_v, stored(&def, &new)?)
                        }
                        // As MySQL does: a collision on the table's last unique key
                        // updates the row in its place...
                        _ if conflict.last_unique_key => (old_v, values.clone()),
                        _ => {
                            // ... one on another removes the row and tries again.
                            txn.delete(&tablet, &conflict.pk)?;
                            index_entries(engine, txn, &def, &old_v, &conflict.pk, false)?;
                            affected += 1;
                            duplicates += 1;
                            continue;
                        }
                    }
                }
            };
            duplicates += 1;
            let (old_v, new_v) = new_v;
            let changed = rewrite_row(engine, txn, (&def, &tablet), &conflict.pk, &old_v, &new_v)?;
            // As MySQL counts them: a changed row twice (delete and insert, or update); a
            // row REPLACE left as it was once; a row ON DUPLICATE KEY UPDATE left as it was
            // not at all (once with CLIENT_FOUND_ROWS).
            affected += match &on_dup {
                _ if changed => 2,
                OnDuplicate::Replace => 1,
                _ => s.found_rows as u64,
            };
            break;
        }
    }
    // MySQL reports counts for every INSERT but a single-row VALUES list.
    let info = if records > 1 || !matches!(source.body.as_ref(), SetExpr::Values(_)) {
        format!(
            "Records: {records}  Duplicates: {duplicates}  Warnings: {}",
            s.note_count()
        )
    } else {
        String::new()
    };
    Ok(Output::Ok {
        affected,
        last_insert_id: first_id,
        info,
        warnings: 0,
    })
}

/// What an INSERT does with a row whose primary key is taken.
enum OnDuplicate<'a> {
    /// 1062.
    Fail,
    /// `INSERT IGNORE`: skip the row with a warning.
    Ignore,
    /// `REPLACE`: the new row replaces the old one.
    Replace,
    /// `ON DUPLICATE KEY UPDATE`: these assignments update the old row.
    Update(Vec<(usize, &'a Expr)>),
}

/// The column slots and values of `SET`-style assignments.
fn assignment_targets<'a>(
    def: &TableDef,
    assignments: &'a [sqlparser::ast::Assignment],
) -> Result<Vec<(usize, &'a Expr)>, SqlError> {
    assignments
        .iter()
        .map(|a| {
            let sqlparser::ast::AssignmentTarget::ColumnName(n) = &a.target else {
                return Err(SqlError::unsupported("tuple assignments"));
            };
            let col =
                n.0.last()
                    .map(|p| p.to_string().trim_matches('`').to_string())
                    .unwrap_or_default();
            let slot = def
                .column(&col)
                .ok_or_else(|| unknown_column(&col, "field list"))?;
            Ok((slot, &a.value))
        })
        .collect()
}

/// Evaluates assignments left to right over `row`, each seeing the ones before it, as
/// UPDATE and ON DUPLICATE KEY UPDATE do; `inserted` answers `VALUES(col)`.
fn assign_row(
    (def, alias): (&TableDef, Option<&str>),
    targets: &[(usize, &Expr)],
    row: &[Datum],
    inserted: Option<&Inserted<'_>>,
    s: &SessionInfo,
) -> Result<Vec<Datum>, SqlError> {
    let mut new = row.to_vec();
    for (slot, e) in targets {
        let expr = match inserted {
            Some(ins) => with_inserted_values(def, e, ins)?,
            None => (*e).clone(),
        };
        let v = eval(
            &expr,
            &RowScope {
                def,
                alias,
                row: &new,
                session: s,
            },
        )?;
        let c = &def.columns[*slot];
        if v.is_null() && !c.nullable {
            return Err(SqlError::new(
                error::ER_BAD_NULL_ERROR,
                format!("Column '{}' cannot be null", c.name),
            ));
        }
        new[*slot] = Datum::from_stored(&v.to_stored(&c.ty, &c.name)?, &c.ty);
    }
    Ok(new)
}

/// `e` with each `VALUES(col)` replaced by the value the INSERT would have written.
/// The row an INSERT tried to write, as ON DUPLICATE KEY UPDATE refers to it.
struct Inserted<'a> {
    /// Its stored values, by slot.
    values: &'a [Value],
    /// MySQL 8's row alias: `... VALUES (...) AS new [(a, b)] ON DUPLICATE KEY UPDATE`.
    alias: Option<&'a sqlparser::ast::InsertAliases>,
    /// The INSERT's column list (what the alias's column names stand for, in order).
    slots: &'a [usize],
}

impl Inserted<'_> {
    /// The slot `name` names through the row alias's column list, if it has one.
    fn aliased_column(&self, name: &str) -> Option<usize> {
        let cols = self.alias?.col_aliases.as_ref()?;
        let i = cols
            .iter()
            .position(|c| c.value.eq_ignore_ascii_case(name))?;
        self.slots.get(i).copied()
    }

    /// The slot `alias.name` (or `name`, from the alias's column list) refers to.
    fn column(&self, def: &TableDef, x: &Expr) -> Option<Option<usize>> {
        let alias = self.alias?;
        let row = alias.row_alias.to_string();
        match x {
            Expr::CompoundIdentifier(p)
                if p.len() == 2 && p[0].value.eq_ignore_ascii_case(row.trim_matches('`')) =>
            {
                Some(
                    if alias.col_aliases.as_ref().is_some_and(|c| !c.is_empty()) {
                        self.aliased_column(&p[1].value)
                    } else {
                        def.column(&p[1].value)
                    },
                )
            }
            Expr::Identifier(i) if def.column(&i.value).is_none() => {
                self.aliased_column(&i.value).map(Some)
            }
            _ => None,
        }
    }

    fn literal(&self, def: &TableDef, slot: usize) -> Expr {
        let d = Datum::from_stored(&self.values[slot], &def.columns[slot].ty);
        Expr::Value(crate::session::to_literal(d).into())
    }
}

/// `e` with each `VALUES(col)`, and each reference through the row alias, replaced by the
/// value the INSERT would have written.
fn with_inserted_values(
    def: &TableDef,
    e: &Expr,
    inserted: &Inserted<'_>,
) -> Result<Expr, SqlError> {
    let mut e = e.clone();
    let mut failure = None;
    let _ = sqlparser::ast::visit_expressions_mut(&mut e, |x| {
        if let Some(slot) = inserted.column(def, x) {
            match slot {
                Some(slot) => *x = inserted.literal(def, slot),
                None => {
                    failure = Some(unknown_column(&x.to_string(), "field list"));
                    return ControlFlow::Break(());
                }
            }
            return ControlFlow::Continue(());
        }
        let Expr::Function(f) = x else {
            return ControlFlow::Continue(());
        };
        if !f.name.to_string().eq_ignore_ascii_case("values") {
            return ControlFlow::Continue(());
        }
        let col = match &f.args {
            FunctionArguments::List(l) => match l.args.as_slice() {
                [FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Identifier(i)))] => {
                    Some(i.value.clone())
                }
                [FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::CompoundIdentifier(p)))] => {
                    p.last().map(|i| i.value.clone())
                }
                _ => None,
            },
            _ => None,
        };
        match col.and_then(|c| def.column(&c)) {
            Some(slot) => {
                *x = inserted.literal(def, slot);
                ControlFlow::Continue(())
            }
            None => {
                failure = Some(SqlError::new(
                    error::ER_BAD_FIELD_ERROR,
                    format!("Unknown column in VALUES(): {f}"),
                ));
                ControlFlow::Break(())
            }
        }
    });
    match failure {
        Some(err) => Err(err),
        None => Ok(e),
    }
}

/// A row an INSERT cannot add because another row holds one of its unique keys.
pub(crate) struct Conflict {
    /// The primary key of the row in the way.
    pk: Vec<u8>,
    /// The 1062 error naming the value and the key.
    pub(crate) error: TxnError,
    /// Whether the key is the table's last unique one (the primary key counts as the first).
    last_unique_key: bool,
}

/// Inserts a new row (stored `values` under primary key `key`) and its index entries. If
/// the primary key or a unique key is taken (after waiting for a transaction that holds
/// it), everything this row wrote is undone and the row in the way is named.
pub(crate) fn insert_row(
    engine: &SqlEngine,
    txn: &mut Transaction,
    (def, tablet): (&TableDef, &Arc<Tablet>),
    key: &[u8],
    values: &[Value],
) -> Result<Option<Conflict>, SqlError> {
    let mark = txn.write_mark();
    let describe = || (dup_text(values, &def.pk), format!("{}.PRIMARY", def.name));
    match txn.insert(tablet, key, encode_row(1, values).into(), describe) {
        Ok(()) => {}
        Err(error @ TxnError::Duplicate { .. }) => {
            return Ok(Some(Conflict {
                pk: key.to_vec(),
                error,
                last_unique_key: !def.indexes.iter().any(|i| i.unique),
            }))
        }
        Err(e) => return Err(e.into()),
    }
    for (n, ix) in def.indexes.iter().enumerate() {
        let t = engine.tablet_by_id(ix.id, &ix.name)?;
        let entry = def.index_entry(ix, values, key);
        if let Some(error) = add_index_entry(txn, def, ix, &t, entry, values)? {
            let pk = holder_of_entry(txn, def, ix, &t, &def.index_entry(ix, values, key).key)?;
            txn.undo_to(mark);
            return Ok(Some(Conflict {
                pk,
                error,
                last_unique_key: !def.indexes[n + 1..].iter().any(|i| i.unique),
            }));
        }
    }
    Ok(None)
}

/// Adds one index entry: a unique one through the transaction's unique insert, which
/// answers a duplicate (its own write undone) instead of adding it.
fn add_index_entry(
    txn: &mut Transaction,
    def: &TableDef,
    ix: &IndexDef,
    itablet: &Arc<Tablet>,
    entry: IndexEntry,
    values: &[Value],
) -> Result<Option<TxnError>, SqlError> {
    if !entry.unique {
        txn.put(itablet, &entry.key, entry.row)?;
        return Ok(None);
    }
    let describe = || {
        (
            dup_text(values, &ix.columns),
            format!("{}.{}", def.name, ix.name),
        )
    };
    match txn.insert(itablet, &entry.key, entry.row, describe) {
        Ok(()) => Ok(None),
        Err(e @ TxnError::Duplicate { .. }) => Ok(Some(e)),
        Err(e) => Err(e.into()),
    }
}

/// The primary key of the row that holds unique entry `key` of `ix`, read under a shared
/// lock (as InnoDB locks the duplicate it reports) and seeing the statement's own rows.
fn holder_of_entry(
    txn: &mut Transaction,
    def: &TableDef,
    ix: &IndexDef,
    itablet: &Arc<Tablet>,
    key: &[u8],
) -> Result<Vec<u8>, SqlError> {
    match txn.get_locked_newest(itablet, key, LockMode::Shared, WaitPolicy::Wait)? {
        Locked::Row(Some(row)) => indexed_primary_key(key, &row, &def.index_kinds(ix))
            .map_err(|e| SqlError::internal(format!("index {}: {e}", ix.name))),
        _ => Err(SqlError::internal(format!(
            "the entry of index {} that collided is gone",
            ix.name
        ))),
    }
}

/// Adds (`put`, no uniqueness checks: a backfill checks its own) or removes the index
/// entries of a row.
fn index_entries(
    engine: &SqlEngine,
    txn: &mut Transaction,
    def: &TableDef,
    values: &[Value],
    pk_key: &[u8],
    put: bool,
) -> Result<(), SqlError> {
    for ix in &def.indexes {
        let t = engine.tablet_by_id(ix.id, &ix.name)?;
        let entry = def.index_entry(ix, values, pk_key);
        if put {
            txn.put(&t, &entry.key, entry.row)?;
        } else {
            txn.delete(&t, &entry.key)?;
        }
    }
    Ok(())
}

/// A duplicate key's value as MySQL's 1062 message shows it: the key's columns joined by `-`.
fn dup_text(values: &[Value], slots: &[usize]) -> String {
    slots
        .iter()
        .map(|&i| match &values[i] {
            Value::Null => "NULL".to_string(),
            Value::Int(x) => x.to_string(),
            Value::UInt(x) => x.to_string(),
            Value::Double(x) => x.to_string(),
            Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Fills defaults and AUTO_INCREMENT, checks NOT NULL, converts to stored values. Returns
/// the values, the hidden row id (tables without a primary key) and the generated id.
fn complete_row(
    def: &TableDef,
    mut row: Vec<Option<Datum>>,
    counter: Option<&Mutex<Option<u64>>>,
) -> Result<(Vec<Value>, Option<u64>, u64), SqlError> {
    let mut generated = 0;
    for (i, c) in def.columns.iter().enumerate() {
        if c.auto_increment {
            let given = row[i]
                .as_ref()
                .filter(|d| !d.is_null() && d.as_f64() != 0.0)
                .cloned();
            let mut g = counter
                .expect("tables with AUTO_INCREMENT have a counter")
                .lock();
            let next = g.get_or_insert(1);
            match given {
                Some(d) => {
                    let v = d.as_f64().max(0.0) as u64;
                    if v >= *next {
                        *next = v + 1;
                    }
                    row[i] = Some(d);
                }
                None => {
                    generated = *next;
                    *next += 1;
                    row[i] = Some(Datum::UInt(generated));
                }
            }
            continue;
        }
        if row[i].is_none() {
            row[i] = match &c.default {
                Some(d) => Some(d.clone()),
                None if c.nullable => Some(Datum::Null),
                None => {
                    return Err(SqlError::new(
                        error::ER_NO_DEFAULT_FOR_FIELD,
                        format!("Field '{}' doesn't have a default value", c.name),
                    ))
                }
            };
        }
        if !c.nullable && row[i].as_ref().is_some_and(Datum::is_null) {
            return Err(SqlError::new(
                error::ER_BAD_NULL_ERROR,
                format!("Column '{}' cannot be null", c.name),
            ));
        }
    }
    let full: Vec<Datum> = row.into_iter().map(|d| d.unwrap_or(Datum::Null)).collect();
    let values = stored(def, &full)?;
    let hidden = if def.pk.is_empty() {
        let mut g = counter
            .expect("tables without a primary key have a counter")
            .lock();
        let next = g.get_or_insert(1);
        let id = *next;
        *next += 1;
        Some(id)
    } else {
        None
    };
    Ok((values, hidden, generated))
}

/// Splits a WHERE clause into its AND-ed parts.
fn conjuncts<'a>(e: &'a Expr, out: &mut Vec<&'a Expr>) {
    match e {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            conjuncts(left, out);
            conjuncts(right, out);
        }
        Expr::Nested(inner) => conjuncts(inner, out),
        other => out.push(other),
    }
}

fn column_of(e: &Expr, def: &TableDef) -> Option<usize> {
    match e {
        Expr::Identifier(id) => def.column(&id.value),
        Expr::CompoundIdentifier(parts) => parts.last().and_then(|p| def.column(&p.value)),
        _ => None,
    }
}

/// How rows are found: one key, a key range, entries of a secondary index, or a full scan.
/// Whatever the access, the statement's filter still runs on every row it yields.
enum Access {
    /// Keys, ascending (one for an equality on the whole primary key).
    Points(Vec<Vec<u8>>),
    /// A key range, and the most keys it can hold when that is known without reading
    /// (an integer range on the key's last column, as `id BETWEEN ? AND ?` is).
    Range(Bound<Vec<u8>>, Bound<Vec<u8>>, Option<u64>),
    /// Index entries in a range of the index's key (its columns' encoding, then the
    /// primary key, which ends each entry).
    Index {
        index: IndexDef,
        lo: Bound<Vec<u8>>,
        hi: Bound<Vec<u8>>,
    },
    Scan,
}

/// A key range over a key's columns: equalities on its first `eq` columns, optionally a
/// range on the next one.
struct KeyPlan {
    eq: usize,
    ranged: bool,
    lo: Bound<Vec<u8>>,
    hi: Bound<Vec<u8>>,
    /// The most keys the range can hold, when its bounds say (see [`Access::Range`]).
    most: Option<u64>,
}

impl KeyPlan {
    /// How selective it looks: more equalities first, then a range.
    fn rank(&self) -> (usize, bool) {
        (self.eq, self.ranged)
    }
}

/// How to find the rows of `selection`, and for accesses that yield rows in primary-key
/// order how many leading key columns equalities fix (None for index accesses).
fn access(
    def: &TableDef,
    selection: Option<&Expr>,
    s: &SessionInfo,
) -> Result<(Access, Option<usize>), SqlError> {
    let Some(w) = selection else {
        return Ok((Access::Scan, Some(0)));
    };
    let mut parts = Vec::new();
    conjuncts(w, &mut parts);
    // Per column: a constant it equals, and constants it is at least / at most. Only
    // constants of the column's own class count: MySQL compares `'abc' = 0` as numbers,
    // which a lookup of the key '0' would miss.
    let n = def.columns.len();
    let (mut eq, mut ge, mut le) = (vec![None; n], vec![None; n], vec![None; n]);
    // Per column: constants from `IN (...)`, one of which it equals.
    let mut any_of: Vec<Option<Vec<Datum>>> = vec![None; n];
    let class_ok = |slot: usize, d: &Datum| same_class(d, &def.columns[slot].ty);
    for p in &parts {
        match p {
            Expr::BinaryOp { left, op, right } => {
                for (col, val, flipped) in [(left, right, false), (right, left, true)] {
                    let Some(slot) = column_of(col, def) else {
                        continue;
                    };
                    let Ok(v) = eval(val, s) else { continue };
                    if !class_ok(slot, &v) {
                        continue;
                    }
                    match (op, flipped) {
                        (BinaryOperator::Eq, _) => eq[slot] = Some(v),
                        (BinaryOperator::Gt | BinaryOperator::GtEq, false)
                        | (BinaryOperator::Lt | BinaryOperator::LtEq, true) => ge[slot] = Some(v),
                        (BinaryOperator::Lt | BinaryOperator::LtEq, false)
                        | (BinaryOperator::Gt | BinaryOperator::GtEq, true) => le[slot] = Some(v),
                        _ => {}
                    }
                }
            }
            Expr::Between {
                expr,
                negated: false,
                low,
                high,
            } => {
                if let Some(slot) = column_of(expr, def) {
                    if let (Ok(lo), Ok(hi)) = (eval(low, s), eval(high, s)) {
                        if class_ok(slot, &lo) && class_ok(slot, &hi) {
                            ge[slot] = Some(lo);
                            le[slot] = Some(hi);
                        }
                    }
                }
            }
            Expr::InList {
                expr,
                list,
                negated: false,
            } => {
                if let Some(slot) = column_of(expr, def) {
                    let vals: Option<Vec<Datum>> = list
                        .iter()
                        .map(|e| eval(e, s).ok().filter(|v| class_ok(slot, v)))
                        .collect();
                    if let Some(vals) = vals {
                        any_of[slot] = Some(vals);
                    }
                }
            }
            _ => {}
        }
    }
    let encode = |slots: &[usize], vals: &[&Datum]| encode_constants(def, slots, vals);
    let plan = |slots: &[usize]| key_plan(def, slots, &eq, &ge, &le);
    // Every key column fixed by an equality or an IN list: the keys of all combinations,
    // read one by one in key order (up to a bound on their number). A constant that does
    // not convert to its column leaves the statement to the other plans.
    const IN_KEYS_MAX: usize = 1000;
    let choices: Option<Vec<Vec<&Datum>>> = def
        .pk
        .iter()
        .map(|&slot| match (&eq[slot], &any_of[slot]) {
            (Some(d), _) => Some(vec![d]),
            (None, Some(list)) => Some(list.iter().collect()),
            (None, None) => None,
        })
        .collect();
    let combinations = |choices: &[Vec<&Datum>]| -> Result<Option<Vec<Vec<u8>>>, SqlError> {
        let mut keys: Vec<Vec<u8>> = vec![Vec::new()];
        for (slot, options) in def.pk.iter().zip(choices) {
            let mut next = Vec::with_capacity(keys.len() * options.len());
            for d in options {
                let Some(part) = encode(std::slice::from_ref(slot), &[*d])? else {
                    return Ok(None);
                };
                next.extend(keys.iter().map(|k| [k.as_slice(), &part].concat()));
            }
            keys = next;
        }
        keys.sort();
        keys.dedup();
        Ok(Some(keys))
    };
    if let Some(choices) = choices.filter(|c| !c.is_empty()) {
        let count = choices
            .iter()
            .try_fold(1usize, |n, c| n.checked_mul(c.len()));
        if count.is_some_and(|n| n <= IN_KEYS_MAX) {
            if let Some(keys) = combinations(&choices)? {
                return Ok((Access::Points(keys), Some(def.pk.len())));
            }
        }
    }
    let pk = if def.pk.is_empty() {
        None
    } else {
        plan(&def.pk)?
    };
    // The complete index that looks most selective, unless the primary key looks as
    // selective (its range needs no second lookup per row).
    let mut best: Option<(KeyPlan, &IndexDef)> = None;
    for ix in def
        .indexes
        .iter()
        .filter(|ix| ix.state == IndexState::Public)
    {
        if let Some(p) = plan(&ix.columns)? {
            let beats_pk = pk.as_ref().is_none_or(|k| p.rank() > k.rank());
            if beats_pk && best.as_ref().is_none_or(|(b, _)| p.rank() > b.rank()) {
                best = Some((p, ix));
            }
        }
    }
    Ok(match (best, pk) {
        (Some((p, ix)), _) => (
            Access::Index {
                index: ix.clone(),
                lo: p.lo,
                hi: p.hi,
            },
            None,
        ),
        (None, Some(p)) => (Access::Range(p.lo, p.hi, p.most), Some(p.eq)),
        (None, None) => (Access::Scan, Some(0)),
    })
}

/// The key encoding of constants for `slots` (None if one does not convert to its column).
fn encode_constants(
    def: &TableDef,
    slots: &[usize],
    vals: &[&Datum],
) -> Result<Option<Vec<u8>>, SqlError> {
    let mut kv = Vec::with_capacity(vals.len());
    let mut kinds = Vec::with_capacity(vals.len());
    for (d, &slot) in vals.iter().zip(slots) {
        let c = &def.columns[slot];
        match d.to_stored(&c.ty, &c.name) {
            Ok(Value::Null) | Err(_) => return Ok(None),
            Ok(v) => kv.push(v),
        }
        kinds.push(KeyKind::of(&c.ty));
    }
    Ok(Some(
        encode_key(&kv, &kinds).map_err(|e| SqlError::internal(e.to_string()))?,
    ))
}

/// The key range of the key made of `slots` that per-column constants confine rows to:
/// equalities on a leading run of its columns, then at-least/at-most on the next. Bounds
/// are inclusive even for `<` and `>`: a constant converted to the column's type may round
/// to a neighbouring value, and the filter removes what the range lets in.
fn key_plan(
    def: &TableDef,
    slots: &[usize],
    eq: &[Option<Datum>],
    ge: &[Option<Datum>],
    le: &[Option<Datum>],
) -> Result<Option<KeyPlan>, SqlError> {
    let k = slots.iter().take_while(|&&slot| eq[slot].is_some()).count();
    let vals: Vec<&Datum> = slots[..k]
        .iter()
        .map(|&slot| eq[slot].as_ref().expect("counted"))
        .collect();
    let Some(prefix) = encode_constants(def, &slots[..k], &vals)? else {
        return Ok(None);
    };
    let (mut lo, mut hi) = (Bound::Included(prefix.clone()), prefix_end(&prefix));
    let mut ranged = false;
    let mut most = None;
    if let Some(&next) = slots.get(k) {
        if k + 1 == slots.len() {
            most = integer_span(&def.columns[next], ge[next].as_ref(), le[next].as_ref());
        }
        let with = |d: &Datum| -> Result<Option<Vec<u8>>, SqlError> {
            let mut all = vals.clone();
            all.push(d);
            encode_constants(def, &slots[..=k], &all)
        };
        if let Some(Some(b)) = ge[next].as_ref().map(with).transpose()? {
            lo = Bound::Included(b);
            ranged = true;
        }
        if let Some(Some(b)) = le[next].as_ref().map(with).transpose()? {
            hi = prefix_end(&b);
            ranged = true;
        }
    }
    Ok((k > 0 || ranged).then_some(KeyPlan {
        eq: k,
        ranged,
        lo,
        hi,
        most,
    }))
}

/// How many values of the integer column `col` lie between the constants `ge` and `le`
/// (inclusive; both needed): the most keys a range on a key's last column can hold.
fn integer_span(col: &ColumnDef, ge: Option<&Datum>, le: Option<&Datum>) -> Option<u64> {
    if !matches!(col.ty, ColumnType::Int { .. }) {
        return None;
    }
    let int = |d: &Datum| match d.to_stored(&col.ty, &col.name) {
        Ok(Value::Int(i)) => Some(i128::from(i)),
        Ok(Value::UInt(u)) => Some(i128::from(u)),
        _ => None,
    };
    let (lo, hi) = (int(ge?)?, int(le?)?);
    u64::try_from((hi - lo + 1).max(0)).ok()
}

/// How a predicate compares a column with a constant, for [`primary_key_range`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyBound {
    /// `col = c`
    Eq,
    /// `col > c` or `col >= c`
    AtLeast,
    /// `col < c` or `col <= c`
    AtMost,
}

/// The primary-key range that conjunctive comparisons `(slot, how, constant)` confine a
/// table's rows to, the way the OLTP planner reads them (constants of another class than
/// their column are ignored); `None` when they fix no leading key column. The OLAP scans
/// use it to read a key range instead of the whole tablet.
pub fn primary_key_range(
    def: &TableDef,
    preds: &[(usize, KeyBound, Datum)],
) -> Result<Option<KeyRange>, SqlError> {
    if def.pk.is_empty() {
        return Ok(None);
    }
    let n = def.columns.len();
    let (mut eq, mut ge, mut le) = (vec![None; n], vec![None; n], vec![None; n]);
    for (slot, how, d) in preds {
        if *slot >= n || !same_class(d, &def.columns[*slot].ty) {
            continue;
        }
        let target = match how {
            KeyBound::Eq => &mut eq,
            KeyBound::AtLeast => &mut ge,
            KeyBound::AtMost => &mut le,
        };
        target[*slot] = Some(d.clone());
    }
    Ok(key_plan(def, &def.pk, &eq, &ge, &le)?.map(|p| match p.lo {
        // Every key column fixed: the one key itself, which scans read as a point (the
        // bloom check, keyed reads under a join).
        Bound::Included(key) if p.eq == def.pk.len() => {
            (Bound::Included(key.clone()), Bound::Included(key))
        }
        lo => (lo, p.hi),
    }))
}

/// Whether an index lookup of `d` finds every row of a column of type `ty` that equals it.
fn same_class(d: &Datum, ty: &ColumnType) -> bool {
    match ty {
        ColumnType::Int { .. } => matches!(d, Datum::Int(_) | Datum::UInt(_)),
        ColumnType::Decimal { .. } => {
            matches!(d, Datum::Int(_) | Datum::UInt(_) | Datum::Decimal(_))
        }
        ColumnType::Double => matches!(d, Datum::Int(_) | Datum::UInt(_) | Datum::Double(_)),
        ColumnType::String { .. } => matches!(d, Datum::Str(..)),
        ColumnType::Binary { .. } => matches!(d, Datum::Str(..) | Datum::Bytes(_)),
        ColumnType::Date | ColumnType::DateTime { .. } => {
            matches!(d, Datum::Date(_) | Datum::DateTime(_) | Datum::Str(..))
        }
        // FLOAT rounds what it stores and TIMESTAMP converts time zones: compare row by row.
        ColumnType::Float | ColumnType::Timestamp { .. } => false,
    }
}

/// The smallest key above every key starting with `prefix`, if there is one.
fn prefix_end(prefix: &[u8]) -> Bound<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Bound::Excluded(end);
        }
    }
    Bound::Unbounded
}

fn matches(selection: Option<&Expr>, scope: &RowScope<'_>) -> Result<bool, SqlError> {
    Ok(match selection {
        None => true,
        Some(w) => eval(w, scope)?.truth() == Some(true),
    })
}

/// Candidate rows (key, decoded row) at the statement's snapshot.
fn candidates(
    engine: &SqlEngine,
    txn: &mut Transaction,
    tablet: &Arc<Tablet>,
    decoder: &RowDecoder<'_>,
    acc: Access,
    cap: usize,
) -> Result<Vec<KeyedRow>, SqlError> {
    let range = match acc {
        Access::Points(keys) => return rows_by_key(txn, tablet, decoder, keys, None),
        Access::Index { index, lo, hi } => {
            let keys = index_keys(engine, txn, decoder.def, &index, (lo, hi), false)?;
            // The entries and the rows are read at one snapshot, so every entry has its row.
            return rows_by_key(txn, tablet, decoder, keys, Some(&index));
        }
        Access::Range(lo, hi, _) => (lo, hi),
        Access::Scan => full_range(),
    };
    let rows = txn.scan(tablet, range)?;
    each_row(txn, rows, cap, |k, row| Ok((k, decoder.decode(&row)?)))
}

/// The primary keys a locking statement (UPDATE, DELETE, a locking read) considers: read at
/// a fresh snapshot, as InnoDB's current reads do, so rows committed since the transaction's
/// snapshot are found. Each is then locked and read at its latest version.
fn candidate_keys(
    engine: &SqlEngine,
    txn: &mut Transaction,
    tablet: &Arc<Tablet>,
    def: &TableDef,
    acc: Access,
    cap: usize,
) -> Result<Vec<Vec<u8>>, SqlError> {
    let range = match acc {
        Access::Points(keys) => return Ok(keys),
        Access::Index { index, lo, hi } => {
            return index_keys(engine, txn, def, &index, (lo, hi), true)
        }
        Access::Range(lo, hi, _) => (lo, hi),
        Access::Scan => full_range(),
    };
    let rows = txn.scan_latest(tablet, range)?;
    each_row(txn, rows, cap, |k, _| Ok(k))
}

/// The primary keys that `index`'s entries in `range` name, at the statement's snapshot or
/// (`latest`) at a fresh one.
fn index_keys(
    engine: &SqlEngine,
    txn: &mut Transaction,
    def: &TableDef,
    index: &IndexDef,
    range: KeyRange,
    latest: bool,
) -> Result<Vec<Vec<u8>>, SqlError> {
    let itablet = engine.tablet_by_id(index.id, &index.name)?;
    let kinds = def.index_kinds(index);
    let entries = if latest {
        txn.scan_latest(&itablet, range)?
    } else {
        txn.scan(&itablet, range)?
    };
    each_row(txn, entries, usize::MAX, |entry, row| {
        indexed_primary_key(&entry, &row, &kinds)
            .map_err(|e| SqlError::internal(format!("index {}: {e}", index.name)))
    })
}

/// `f` of each of the first `cap` (key, row) a scan yields, looking for a `KILL QUERY` as it
/// goes.
fn each_row<T>(
    txn: &Transaction,
    rows: VisibleMerge,
    cap: usize,
    mut f: impl FnMut(Vec<u8>, Arc<[u8]>) -> Result<T, SqlError>,
) -> Result<Vec<T>, SqlError> {
    rows.take(cap)
        .enumerate()
        .map(|(n, r)| {
            interrupt_point(txn, n)?;
            let (k, row) = r?;
            f(k, row)
        })
        .collect()
}

/// Rows between looks for a `KILL QUERY` in long loops.
const INTERRUPT_ROWS: usize = 4096;

/// Fails with 1317 if the statement was killed; looks every [`INTERRUPT_ROWS`]-th row.
fn interrupt_point(txn: &Transaction, n: usize) -> Result<(), SqlError> {
    if n.is_multiple_of(INTERRUPT_ROWS) {
        txn.check_interrupt()?;
    }
    Ok(())
}

/// The rows under `keys` at the statement's snapshot. Keys taken from `index` must all have
/// a row (an internal error otherwise); plain keys without one are skipped.
fn rows_by_key(
    txn: &mut Transaction,
    tablet: &Arc<Tablet>,
    decoder: &RowDecoder<'_>,
    keys: Vec<Vec<u8>>,
    index: Option<&IndexDef>,
) -> Result<Vec<KeyedRow>, SqlError> {
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        match (txn.get(tablet, &key)?, index) {
            (Some(row), _) => out.push((key, decoder.decode(&row)?)),
            (None, None) => {}
            (None, Some(ix)) => {
                return Err(SqlError::internal(format!(
                    "index {} names a row that table {} does not hold",
                    ix.name, decoder.def.name
                )))
            }
        }
    }
    Ok(out)
}

/// A query the OLTP path does not plan, run by the OLAP engine at the statement's snapshot.
fn olap_select(
    engine: &SqlEngine,
    txn: &mut Transaction,
    s: &SessionInfo,
    q: &Query,
) -> Result<Output, SqlError> {
    engine
        .query_engine()?
        .query(olap_request(engine, txn, s, q)?)
}

/// Rows a single-table SELECT must scan before the OLAP path runs it instead of the OLTP
/// executor: at this size DataFusion's vectorized scan and aggregation already beat
/// evaluating row by row, while point and short range reads (sysbench's, TPC-C's) never
/// come near it because they use a key.
const OLAP_SCAN_ROWS: u64 = 10_000;

/// Whether a single-table SELECT the OLTP executor could run goes to the OLAP path (as
/// EXPLAIN reports it; the executor itself asks [`prefers_olap`] with the access it plans).
fn scans_for_olap(engine: &SqlEngine, s: &SessionInfo, q: &Query) -> Result<bool, SqlError> {
    let SetExpr::Select(sel) = q.body.as_ref() else {
        return Ok(false);
    };
    let Ok((name, _)) = single_table(&sel.from) else {
        return Ok(false);
    };
    let def = lookup(engine, name, s.db.as_deref())?;
    let (acc, _) = access(&def, sel.selection.as_ref(), s)?;
    prefers_olap(engine, s, q, sel, &def, &acc)
}

/// Whether a single-table SELECT of `def` read by `acc` runs on the OLAP path instead
/// because it computes over many rows: it filters, groups, aggregates, sorts or
/// deduplicates, and it reads at least [`OLAP_SCAN_ROWS`] rows by the tablets' estimates:
/// a whole table, or a primary-key or index range (an index range that also covers a tenth
/// of the table, see [`INDEX_LOOKUP_COST`]) when the SELECT groups, aggregates, or sorts or
/// deduplicates without a LIMIT; key lookups never go. A plain read of a table's rows
/// (`SELECT * FROM t LIMIT 10`) stays: it streams them in key order and stops at its limit.
/// Locking reads and reads inside a SERIALIZABLE transaction stay on the OLTP path, the
/// only one that locks. The cheap checks come first: this runs for every point read.
fn prefers_olap(
    engine: &SqlEngine,
    s: &SessionInfo,
    q: &Query,
    sel: &sqlparser::ast::Select,
    def: &TableDef,
    acc: &Access,
) -> Result<bool, SqlError> {
    let computes = sel.selection.is_some()
        || !matches!(&sel.group_by, GroupByExpr::Expressions(g, _) if g.is_empty())
        || crate::olap::is_aggregated(sel)
        || q.order_by.is_some()
        || sel.distinct.is_some();
    if !computes
        || matches!(acc, Access::Points(_))
        || olap_allowed(q, s).is_err()
        || engine.query_engine().is_err()
    {
        return Ok(false);
    }
    // Over a key or index range, only a SELECT that reduces or reorders its rows goes: a
    // plain filtered read streams in key order (and stops early at a LIMIT).
    let grouped = crate::olap::is_aggregated(sel)
        || !matches!(&sel.group_by, GroupByExpr::Expressions(g, _) if g.is_empty());
    let streams = if grouped {
        false
    } else {
        q.limit_clause.is_some() || (q.order_by.is_none() && sel.distinct.is_none())
    };
    let tablet = engine.tablet_of(def)?;
    Ok(match acc {
        Access::Points(_) => false,
        Access::Scan => tablet.approx_rows() >= OLAP_SCAN_ROWS,
        // The analytical scan reads the same key range, in parallel and vectorized.
        Access::Range(lo, hi, most) => {
            !streams
                && most.is_none_or(|m| m >= OLAP_SCAN_ROWS)
                && tablet.rows_in(&(lo.clone(), hi.clone()), OLAP_SCAN_ROWS) >= OLAP_SCAN_ROWS
        }
        // The analytical scan reads the whole table instead of the index range and a lookup
        // per entry: worth it once the range is large and a sizeable share of the table.
        Access::Index { index, lo, hi } => {
            if streams {
                return Ok(false);
            }
            let entries = engine
                .tablet_by_id(index.id, &index.name)?
                .rows_in(&(lo.clone(), hi.clone()), OLAP_SCAN_ROWS);
            entries >= OLAP_SCAN_ROWS
                && entries.saturating_mul(INDEX_LOOKUP_COST) >= tablet.approx_rows()
        }
    })
}

/// What one row fetched through a secondary index costs against one row of a vectorized
/// scan: a lookup per entry, row at a time, measured at about 8 µs on this project's
/// reference machine against about 0.5 µs per scanned row per OLAP thread.
const INDEX_LOOKUP_COST: u64 = 10;

fn single_table(from: &[TableWithJoins]) -> Result<(&ObjectName, Option<&str>), SqlError> {
    match from {
        [TableWithJoins {
            relation: TableFactor::Table { name, alias, .. },
            joins,
        }] if joins.is_empty() => Ok((name, alias.as_ref().map(|a| a.name.value.as_str()))),
        [_] => Err(SqlError::unsupported("joins and derived tables")),
        _ => Err(SqlError::unsupported("queries over several tables")),
    }
}

/// Whether `e` refers to a column anywhere.
fn names_a_column(e: &Expr) -> bool {
    any_expr(e, |x| {
        matches!(x, Expr::Identifier(_) | Expr::CompoundIdentifier(_))
    })
}

fn is_aggregate(e: &Expr) -> bool {
    matches!(e, Expr::Function(f) if matches!(f.name.to_string().to_ascii_lowercase().as_str(), "count" | "sum" | "min" | "max" | "avg"))
}

/// Whether an aggregate call sits inside `e` (not at its top), as in `COALESCE(MAX(x), 0)`.
fn has_nested_aggregate(e: &Expr) -> bool {
    !is_aggregate(e) && any_expr(e, is_aggregate)
}

fn out_column(def: &TableDef, alias: Option<&str>, slot: usize, name: &str) -> OutColumn {
    let c = &def.columns[slot];
    OutColumn {
        name: name.to_string(),
        table: alias.unwrap_or(&def.name).to_string(),
        org_table: def.name.clone(),
        db: def.db.clone(),
        org_name: c.name.clone(),
        ty: Some(c.ty),
        not_null: !c.nullable,
        primary_key: def.pk.contains(&slot),
        auto_increment: c.auto_increment,
    }
}

/// The projection of a SELECT: (expression or slot, output column).
enum Proj<'a> {
    Slot(usize),
    Expr(&'a Expr),
}

fn projection<'a>(
    sel: &'a Select,
    def: Option<(&TableDef, Option<&str>)>,
) -> Result<Vec<(Proj<'a>, OutColumn)>, SqlError> {
    let mut out = Vec::new();
    for item in &sel.projection {
        match (item, def) {
            (SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..), Some((d, a))) => {
                for slot in 0..d.columns.len() {
                    out.push((
                        Proj::Slot(slot),
                        out_column(d, a, slot, &d.columns[slot].name),
                    ));
                }
            }
            (SelectItem::UnnamedExpr(e), Some((d, a))) if column_of(e, d).is_some() => {
                let slot = column_of(e, d).expect("checked");
                let name = match e {
                    Expr::Identifier(id) => id.value.clone(),
                    Expr::CompoundIdentifier(p) => {
                        p.last().map(|x| x.value.clone()).unwrap_or_default()
                    }
                    _ => e.to_string(),
                };
                out.push((Proj::Slot(slot), out_column(d, a, slot, &name)));
            }
            (SelectItem::ExprWithAlias { expr, alias }, Some((d, a)))
                if column_of(expr, d).is_some() =>
            {
                out.push((
                    Proj::Slot(column_of(expr, d).expect("checked")),
                    out_column(d, a, column_of(expr, d).expect("checked"), &alias.value),
                ));
            }
            (SelectItem::UnnamedExpr(e), _) => out.push((
                Proj::Expr(e),
                OutColumn {
                    name: e.to_string(),
                    ..OutColumn::default()
                },
            )),
            (SelectItem::ExprWithAlias { expr, alias }, _) => out.push((
                Proj::Expr(expr),
                OutColumn {
                    name: alias.value.clone(),
                    ..OutColumn::default()
                },
            )),
            (other, _) => return Err(SqlError::unsupported(format!("select item {other}"))),
        }
    }
    Ok(out)
}

/// Result columns of a SELECT, for COM_STMT_PREPARE.
pub(crate) fn describe_select(
    engine: &SqlEngine,
    db: Option<&str>,
    q: &Query,
) -> Result<Vec<OutColumn>, SqlError> {
    let SetExpr::Select(sel) = q.body.as_ref() else {
        return Err(SqlError::unsupported(
            "this query shape in prepared statements",
        ));
    };
    let def = match sel.from.as_slice() {
        [] => None,
        from => {
            let (name, alias) = single_table(from)?;
            Some((lookup(engine, name, db)?, alias))
        }
    };
    let cols = projection(sel, def.as_ref().map(|(d, a)| (d.as_ref(), *a)))?;
    Ok(cols.into_iter().map(|(_, c)| c).collect())
}

/// `EXPLAIN SELECT ...` in MySQL's traditional columns: which path runs the statement and,
/// on the OLTP path, how the table is read (`const`: one primary key; `range`: keys or a key
/// range of PRIMARY or an index; `ALL`: a full scan). ReefDB keeps no row estimates yet, so
/// `rows` and `filtered` are NULL. An OLTP statement whose expressions the OLTP executor
/// cannot evaluate still moves to the OLAP path when it runs.
pub(crate) fn explain_select(
    engine: &SqlEngine,
    s: &SessionInfo,
    q: &Query,
) -> Result<Output, SqlError> {
    let columns = [
        "id",
        "select_type",
        "table",
        "partitions",
        "type",
        "possible_keys",
        "key",
        "key_len",
        "ref",
        "rows",
        "filtered",
        "Extra",
    ]
    .map(crate::show::text_column)
    .to_vec();
    let text = |v: Option<&str>| v.map_or(Datum::Null, Datum::str);
    let row = |table: Option<&str>, ty: Option<&str>, key: Option<&str>, extra: &str| {
        vec![
            Datum::Int(1),
            Datum::str("SIMPLE"),
            text(table),
            Datum::Null,
            text(ty),
            text(key),
            text(key),
            Datum::Null,
            Datum::Null,
            Datum::Null,
            Datum::Null,
            Datum::str(extra),
        ]
    };
    if let Some(join) = crate::olap::needs_olap(q)
        .then(|| join::plan(engine, s, q))
        .flatten()
    {
        let rows = join
            .explain_rows()
            .iter()
            .map(|(table, ty, key, extra)| row(Some(table), Some(ty), key.as_deref(), extra))
            .collect();
        return Ok(Output::Rows { columns, rows });
    }
    let olap = || {
        row(
            None,
            None,
            None,
            "ReefDB: OLAP path (DataFusion, vectorized, on the statement's snapshot)",
        )
    };
    let SetExpr::Select(sel) = q.body.as_ref() else {
        return Ok(Output::Rows {
            columns,
            rows: vec![olap()],
        });
    };
    let rows = if crate::olap::needs_olap(q) || scans_for_olap(engine, s, q)? {
        vec![olap()]
    } else if sel.from.is_empty() {
        vec![row(None, None, None, "No tables used")]
    } else {
        let (name, alias) = single_table(&sel.from)?;
        let def = lookup(engine, name, s.db.as_deref())?;
        let (acc, _) = access(&def, sel.selection.as_ref(), s)?;
        let (ty, key) = access_kind(&acc);
        let extra = if sel.selection.is_some() {
            "Using where; ReefDB: OLTP path"
        } else {
            "ReefDB: OLTP path"
        };
        vec![row(Some(alias.unwrap_or(&def.name)), Some(ty), key, extra)]
    };
    Ok(Output::Rows { columns, rows })
}

/// How EXPLAIN's `type` and `key` columns name an access.
fn access_kind(acc: &Access) -> (&'static str, Option<&str>) {
    match acc {
        Access::Points(keys) if keys.len() == 1 => ("const", Some("PRIMARY")),
        Access::Points(_) | Access::Range(..) => ("range", Some("PRIMARY")),
        Access::Index { index, .. } => ("range", Some(index.name.as_str())),
        Access::Scan => ("ALL", None),
    }
}

/// How `EXPLAIN FORMAT=TREE` shows an access to the table shown as `shown`.
fn access_step(acc: &Access, shown: &str) -> String {
    match acc {
        Access::Points(keys) if keys.len() == 1 => {
            format!("Single-row lookup on {shown} using PRIMARY")
        }
        Access::Points(keys) => {
            format!("Lookup of {} keys on {shown} using PRIMARY", keys.len())
        }
        Access::Range(..) => format!("Range scan on {shown} using PRIMARY"),
        Access::Index { index, .. } => {
            format!("Index range scan on {shown} using {}", index.name)
        }
        Access::Scan => format!("Table scan on {shown}"),
    }
}

/// `EXPLAIN FORMAT=TREE` and `EXPLAIN ANALYZE` of a SELECT, as MySQL 8 shows them: one
/// `EXPLAIN` column holding the plan as an indented tree. The first line names the path the
/// statement takes. On the OLAP path the rest is DataFusion's physical plan; with ANALYZE
/// it has run, and each operator shows what it measured (rows, time, memory). The OLTP
/// path shows its steps, and with ANALYZE the statement's measured time and rows.
pub(crate) fn explain_tree(
    engine: &SqlEngine,
    txn: &mut Transaction,
    s: &SessionInfo,
    q: &Query,
    analyze: bool,
) -> Result<Output, SqlError> {
    let required = crate::olap::needs_olap(q);
    let join = required.then(|| join::plan(engine, s, q)).flatten();
    let text = if let Some(join) = join {
        match join_explain(engine, txn, s, join, analyze) {
            // The same fallback `select` takes.
            Err(e) if e.code == error::ER_NOT_SUPPORTED_YET => {
                olap_explain(engine, txn, s, q, analyze)?
            }
            other => other?,
        }
    } else if required || scans_for_olap(engine, s, q)? {
        match olap_explain(engine, txn, s, q, analyze) {
            // The same fallback `select` takes.
            Err(e) if e.code == error::ER_NOT_SUPPORTED_YET && !required => {
                oltp_explain(engine, txn, s, q, analyze)?
            }
            other => other?,
        }
    } else {
        match oltp_explain(engine, txn, s, q, analyze) {
            Err(e) if e.code == error::ER_NOT_SUPPORTED_YET && analyze => {
                unless_refused(e, olap_explain(engine, txn, s, q, analyze))?
            }
            other => other?,
        }
    };
    Ok(Output::Rows {
        columns: vec![crate::show::text_column("EXPLAIN")],
        rows: vec![vec![Datum::str(text)]],
    })
}

fn olap_explain(
    engine: &SqlEngine,
    txn: &mut Transaction,
    s: &SessionInfo,
    q: &Query,
    analyze: bool,
) -> Result<String, SqlError> {
    engine
        .query_engine()?
        .explain(olap_request(engine, txn, s, q)?, analyze)
}

/// `q` as the OLAP engine takes it: session values inlined, at the transaction's snapshot.
fn olap_request<'a>(
    engine: &'a SqlEngine,
    txn: &Transaction,
    s: &'a SessionInfo,
    q: &Query,
) -> Result<crate::olap::QueryRequest<'a>, SqlError> {
    olap_allowed(q, s)?;
    Ok(crate::olap::QueryRequest {
        engine,
        db: s.db.as_deref(),
        query: crate::olap::inline_session(q, s, false)?,
        read: txn.read_ctx(),
        interrupt: txn.interrupt_flag(),
    })
}

/// After the OLTP path refused with `first` (1235), the OLAP path's answer `olap`, unless
/// that path refuses too: then the first refusal stands.
fn unless_refused<T>(first: SqlError, olap: Result<T, SqlError>) -> Result<T, SqlError> {
    olap.map_err(|e| {
        if e.code == error::ER_NOT_SUPPORTED_YET {
            first
        } else {
            e
        }
    })
}

/// The OLTP executor's steps for `q`, outermost first, as the tree's lines.
fn oltp_explain(
    engine: &SqlEngine,
    txn: &mut Transaction,
    s: &SessionInfo,
    q: &Query,
    analyze: bool,
) -> Result<String, SqlError> {
    let SetExpr::Select(sel) = q.body.as_ref() else {
        return Err(SqlError::internal(
            "the OLTP path got a query that is not a SELECT",
        ));
    };
    let mut steps = shaping_steps(q, sel);
    if sel.from.is_empty() {
        steps.push("Rows fetched before execution".to_string());
    } else {
        let (name, alias) = single_table(&sel.from)?;
        let def = lookup(engine, name, s.db.as_deref())?;
        let shown = alias.unwrap_or(&def.name);
        if let Some(w) = &sel.selection {
            steps.push(format!("Filter: {w}"));
        }
        let (acc, fixed) = access(&def, sel.selection.as_ref(), s)?;
        let mut step = access_step(&acc, shown);
        let cols = projection(sel, Some((&def, alias)))?;
        let enough = enough_rows(q, sel, &def, &cols, s)?;
        if let Some(n) = key_order_stop(&def, enough.as_ref(), fixed) {
            // The rows come in the order asked for: nothing is sorted, and the read
            // stops once it has enough.
            steps.retain(|st| !st.starts_with("Sort: "));
            step.push_str(&format!(", in key order, stopping after {n} matching rows"));
        }
        steps.push(step);
    }
    oltp_tree(steps, analyze, || select_oltp(engine, txn, s, q))
}

/// The tree of a key-lookup join on the OLTP path (which with `analyze` it runs).
fn join_explain(
    engine: &SqlEngine,
    txn: &mut Transaction,
    s: &SessionInfo,
    join: join::KeyJoin,
    analyze: bool,
) -> Result<String, SqlError> {
    let SetExpr::Select(sel) = join.query().body.as_ref() else {
        return Err(SqlError::internal("a planned join that is not a SELECT"));
    };
    let mut steps = shaping_steps(join.query(), sel);
    steps.extend(join.explain_steps());
    oltp_tree(steps, analyze, || join.run(engine, txn, s))
}

/// The OLTP path's tree: its first line (with `analyze`, after `run` ran, the measured time
/// and rows), then `steps`, outermost first, each one level deeper.
fn oltp_tree(
    steps: Vec<String>,
    analyze: bool,
    run: impl FnOnce() -> Result<Output, SqlError>,
) -> Result<String, SqlError> {
    let mut text =
        String::from("-> ReefDB: OLTP path (row at a time, on the statement's snapshot)");
    if analyze {
        let started = std::time::Instant::now();
        let rows = match run()? {
            Output::Rows { rows, .. } => rows.len(),
            _ => 0,
        };
        text.push_str(&format!(
            " (actual time={:.3} ms, rows={rows})",
            started.elapsed().as_secs_f64() * 1e3
        ));
    }
    for (depth, step) in steps.iter().enumerate() {
        text.push('\n');
        text.push_str(&" ".repeat(4 * (depth + 1)));
        text.push_str("-> ");
        text.push_str(step);
    }
    Ok(text)
}

/// The OLTP executor's steps that shape a SELECT's matched rows, outermost first: limit,
/// sort, duplicates, HAVING, grouping or aggregation.
fn shaping_steps(q: &Query, sel: &Select) -> Vec<String> {
    let list = |exprs: &[Expr]| {
        exprs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut steps = Vec::new();
    if let Some(limit) = &q.limit_clause {
        let limit = limit.to_string();
        steps.push(format!(
            "Limit: {}",
            limit.trim_start().trim_start_matches("LIMIT ")
        ));
    }
    if let Some(order) = &q.order_by {
        steps.push(format!(
            "Sort: {}",
            order.to_string().trim_start_matches("ORDER BY ")
        ));
    }
    if sel.distinct.is_some() {
        steps.push("Remove duplicates".to_string());
    }
    if let Some(having) = &sel.having {
        steps.push(format!("Filter: {having}"));
    }
    match &sel.group_by {
        GroupByExpr::Expressions(g, _) if !g.is_empty() => {
            steps.push(format!("Group aggregate: {}", list(g)));
        }
        _ if crate::olap::is_aggregated(sel) => steps.push("Aggregate".to_string()),
        _ => {}
    }
    steps
}

/// Why the OLAP path refuses `q` in this session, if it does.
fn olap_allowed(q: &Query, s: &SessionInfo) -> Result<(), SqlError> {
    if !q.locks.is_empty() {
        return Err(SqlError::unsupported(
            "FOR UPDATE / FOR SHARE with joins, subqueries or UNION",
        ));
    }
    if s.isolation == Isolation::Serializable && !s.single_statement {
        // MySQL turns these reads into shared-locking reads; the OLAP path takes no locks.
        return Err(SqlError::unsupported(
            "joins, subqueries or UNION inside a SERIALIZABLE transaction",
        ));
    }
    Ok(())
}

fn select(
    engine: &SqlEngine,
    txn: &mut Transaction,
    s: &SessionInfo,
    q: &Query,
) -> Result<Output, SqlError> {
    if crate::olap::needs_olap(q) {
        if let Some(join) = join::plan(engine, s, q) {
            match join.run(engine, txn, s) {
                // What the join cannot do by key lookups, DataFusion does.
                Err(e) if e.code == error::ER_NOT_SUPPORTED_YET => {}
                other => return other,
            }
        }
        return olap_select(engine, txn, s, q);
    }
    match select_oltp(engine, txn, s, q) {
        // What the OLTP executor cannot evaluate (some functions and query shapes) the
        // OLAP path may: a plain read has no effects to undo, so it simply runs there. Where
        // that path refuses too (locking reads, no OLAP engine), the first answer stands.
        Err(e) if e.code == error::ER_NOT_SUPPORTED_YET => {
            unless_refused(e, olap_select(engine, txn, s, q))
        }
        other => other,
    }
}

fn select_oltp(
    engine: &SqlEngine,
    txn: &mut Transaction,
    s: &SessionInfo,
    q: &Query,
) -> Result<Output, SqlError> {
    let SetExpr::Select(sel) = q.body.as_ref() else {
        return Err(SqlError::internal(
            "the OLTP path got a query that is not a SELECT",
        ));
    };
    let group_by: &[Expr] = match &sel.group_by {
        GroupByExpr::Expressions(v, mods) if mods.is_empty() => v,
        _ => return Err(SqlError::unsupported("GROUP BY ALL and WITH ROLLUP")),
    };
    if sel.having.is_some() && group_by.is_empty() {
        return Err(SqlError::unsupported("HAVING without GROUP BY"));
    }
    if sel.from.is_empty() {
        let cols = projection(sel, None)?;
        let row = cols
            .iter()
            .map(|(p, _)| match p {
                Proj::Expr(e) => eval_shown(e, s),
                Proj::Slot(_) => Err(SqlError::internal("slot without a table")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        return finish(
            q,
            cols.into_iter().map(|(_, c)| c).collect(),
            vec![(row.clone(), row)],
            sel.distinct.is_some(),
            s,
        );
    }
    let (name, alias) = single_table(&sel.from)?;
    let def = lookup(engine, name, s.db.as_deref())?;
    let lock = q.locks.first().map(|l| {
        let mode = if l.lock_type == LockType::Update {
            LockMode::Exclusive
        } else {
            LockMode::Shared
        };
        let wait = match l.nonblock {
            Some(NonBlock::Nowait) => WaitPolicy::NoWait,
            Some(NonBlock::SkipLocked) => WaitPolicy::SkipLocked,
            None => WaitPolicy::Wait,
        };
        (mode, wait)
    });
    let acc = access(&def, sel.selection.as_ref(), s)?;
    if prefers_olap(engine, s, q, sel, &def, &acc.0)? {
        // A large scan: the OLAP path is faster, and answers the same. What it cannot
        // evaluate stays here.
        match olap_select(engine, txn, s, q) {
            Err(e) if e.code == error::ER_NOT_SUPPORTED_YET => {}
            other => return other,
        }
    }
    let cols = projection(sel, Some((&def, alias)))?;
    refuse_nested_aggregates(group_by, &cols)?;
    let enough = enough_rows(q, sel, &def, &cols, s)?;
    let rows = matching_rows(
        engine,
        txn,
        (&def, alias),
        (sel.selection.as_ref(), acc),
        s,
        ReadShape {
            lock,
            enough: enough.as_ref(),
            wanted: columns_named(q, sel, &def),
        },
    )?;
    shape_rows(q, (sel, group_by), (&def, alias), cols, rows, s)
}

/// Where a SELECT without GROUP BY has aggregates inside expressions (one row even over no
/// input): the OLAP path computes these.
fn refuse_nested_aggregates(
    group_by: &[Expr],
    cols: &[(Proj<'_>, OutColumn)],
) -> Result<(), SqlError> {
    if group_by.is_empty()
        && cols
            .iter()
            .any(|(p, _)| matches!(p, Proj::Expr(e) if has_nested_aggregate(e)))
    {
        return Err(SqlError::unsupported(
            "aggregates inside expressions without GROUP BY",
        ));
    }
    Ok(())
}

/// A SELECT's result from the rows of `def` it matched: grouped or aggregated, projected
/// onto `cols`, then sorted, deduplicated and limited.
fn shape_rows(
    q: &Query,
    (sel, group_by): (&Select, &[Expr]),
    (def, alias): (&TableDef, Option<&str>),
    cols: Vec<(Proj<'_>, OutColumn)>,
    rows: Vec<KeyedRow>,
    s: &SessionInfo,
) -> Result<Output, SqlError> {
    if !group_by.is_empty() {
        let out = grouped(&cols, group_by, sel.having.as_ref(), def, alias, &rows, s)?;
        let columns: Vec<OutColumn> = cols.iter().map(|(_, c)| c.clone()).collect();
        return finish_with_table(q, columns, out, sel.distinct.is_some(), s, def, alias);
    }
    if cols
        .iter()
        .any(|(p, _)| matches!(p, Proj::Expr(e) if is_aggregate(e)))
    {
        let (offset, limit) = limit_of(q, s)?;
        return aggregate(&cols, def, alias, &rows, s).map(|(c, r)| Output::Rows {
            columns: c,
            rows: std::iter::once(r).skip(offset).take(limit).collect(),
        });
    }
    let mut out = Vec::with_capacity(rows.len());
    for (_, row) in rows {
        let scope = RowScope {
            def,
            alias,
            row: &row,
            session: s,
        };
        let projected = cols
            .iter()
            .map(|(p, _)| match p {
                Proj::Slot(i) => Ok(row[*i].clone()),
                Proj::Expr(e) => eval_shown(e, &scope),
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.push((row, projected));
    }
    let columns: Vec<OutColumn> = cols.iter().map(|(_, c)| c.clone()).collect();
    finish_with_table(q, columns, out, sel.distinct.is_some(), s, def, alias)
}

/// How many matches in which column order a plain SELECT with LIMIT needs (none: all):
/// only without grouping, aggregates and DISTINCT, ordered by ascending table columns.
fn enough_rows(
    q: &Query,
    sel: &Select,
    def: &TableDef,
    cols: &[(Proj<'_>, OutColumn)],
    s: &SessionInfo,
) -> Result<Option<Enough>, SqlError> {
    let grouped = !matches!(&sel.group_by, GroupByExpr::Expressions(v, _) if v.is_empty());
    let aggregates = cols
        .iter()
        .any(|(p, _)| matches!(p, Proj::Expr(e) if is_aggregate(e)));
    if grouped || aggregates || sel.distinct.is_some() || sel.having.is_some() {
        return Ok(None);
    }
    let (offset, limit) = limit_of(q, s)?;
    if limit == usize::MAX {
        return Ok(None);
    }
    let mut order = Vec::new();
    if let Some(ob) = &q.order_by {
        let OrderByKind::Expressions(exprs) = &ob.kind else {
            return Ok(None);
        };
        for o in exprs {
            match column_of(&o.expr, def) {
                Some(slot) if o.options.asc != Some(false) => order.push(slot),
                _ => return Ok(None),
            }
        }
    }
    Ok(Some(Enough {
        order,
        rows: offset.saturating_add(limit),
    }))
}

/// The rows an UPDATE or DELETE changes, each locked exclusively (waiting for holders).
fn rows_to_change(
    engine: &SqlEngine,
    txn: &mut Transaction,
    table: (&TableDef, Option<&str>),
    selection: Option<&Expr>,
    s: &SessionInfo,
) -> Result<Vec<KeyedRow>, SqlError> {
    let read = ReadShape {
        lock: Some((LockMode::Exclusive, WaitPolicy::Wait)),
        ..ReadShape::default()
    };
    let acc = access(table.0, selection, s)?;
    matching_rows(engine, txn, table, (selection, acc), s, read)
}

/// How many matches a read by a primary-key access that fixes the key's first `pk_fixed`
/// columns can stop after, when the statement needs only its first matches (`enough`) in
/// an order the key gives (its next columns, ascending); `None` if it reads them all.
fn key_order_stop(
    def: &TableDef,
    enough: Option<&Enough>,
    pk_fixed: Option<usize>,
) -> Option<usize> {
    match (enough, pk_fixed) {
        (Some(e), Some(fixed)) if def.pk[fixed..].starts_with(&e.order) => Some(e.rows),
        _ => None,
    }
}

/// When a SELECT needs only its first `rows` matches in the order of the columns `order`
/// (ascending; empty: any order), as with `ORDER BY o LIMIT 1 FOR UPDATE`.
struct Enough {
    order: Vec<usize>,
    rows: usize,
}

/// How a statement reads its rows.
#[derive(Default)]
struct ReadShape<'a> {
    /// Lock each row first (a locking read, UPDATE, DELETE).
    lock: Option<(LockMode, WaitPolicy)>,
    /// Only the first matches in key order are needed.
    enough: Option<&'a Enough>,
    /// Only these columns are read (None: all).
    wanted: Option<Vec<bool>>,
}

/// Rows matching `selection`, read by its planned access `acc` (with the leading key
/// columns it fixes), locked first when the statement asked for a locking read. With `enough`, a primary-key access in that order stops there, so a locking read locks
/// only the rows it returns.
fn matching_rows(
    engine: &SqlEngine,
    txn: &mut Transaction,
    (def, alias): (&TableDef, Option<&str>),
    (selection, (acc, pk_fixed)): (Option<&Expr>, (Access, Option<usize>)),
    s: &SessionInfo,
    ReadShape {
        lock,
        enough,
        wanted,
    }: ReadShape<'_>,
) -> Result<Vec<KeyedRow>, SqlError> {
    let decoder = RowDecoder::only(def, wanted);
    let stop_at = key_order_stop(def, enough, pk_fixed).unwrap_or(usize::MAX);
    let tablet = &engine.tablet_of(def)?;
    let matching = |row: &Vec<Datum>| {
        matches(
            selection,
            &RowScope {
                def,
                alias,
                row,
                session: s,
            },
        )
    };
    let mut out = Vec::new();
    // With a row budget, a key range is read in growing chunks of keys, each resuming after
    // the last, so `ORDER BY k LIMIT 1` under an equality on the key columns before `k`
    // reads a few keys instead of the whole range (TPC-C's Delivery takes a district's
    // oldest new order this way).
    let mut acc = acc;
    let mut chunk = stop_at.saturating_mul(2).max(CHUNK_KEYS_MIN);
    loop {
        // Where a next chunk would end; `None` when the whole access is read at once.
        let rest = match &acc {
            _ if stop_at == usize::MAX => None,
            Access::Range(_, hi, _) => Some(hi.clone()),
            Access::Scan => Some(Bound::Unbounded),
            Access::Points(_) | Access::Index { .. } => None,
        };
        let cap = if rest.is_some() { chunk } else { usize::MAX };
        let (read, last) = match lock {
            None => {
                let rows = candidates(engine, txn, tablet, &decoder, acc, cap)?;
                let last = rest.as_ref().and_then(|_| rows.last().map(|r| r.0.clone()));
                let read = rows.len();
                for (key, row) in rows {
                    if out.len() >= stop_at {
                        break;
                    }
                    if matching(&row)? {
                        out.push((key, row));
                    }
                }
                (read, last)
            }
            Some((mode, wait)) => {
                let keys = candidate_keys(engine, txn, tablet, def, acc, cap)?;
                let last = rest.as_ref().and_then(|_| keys.last().cloned());
                let read = keys.len();
                for key in keys {
                    if out.len() >= stop_at {
                        break;
                    }
                    let row = match txn.get_locked(tablet, &key, mode, wait)? {
                        Locked::Row(Some(r)) => decoder.decode(&r)?,
                        Locked::Row(None) | Locked::Skipped => continue,
                    };
                    if matching(&row)? {
                        out.push((key, row));
                    }
                }
                (read, last)
            }
        };
        let (Some(hi), Some(last)) = (rest, last) else {
            break;
        };
        if out.len() >= stop_at || read < cap {
            break;
        }
        acc = Access::Range(Bound::Excluded(last), hi, None);
        chunk = chunk.saturating_mul(4);
    }
    Ok(out)
}

/// The fewest keys the first chunk of a LIMIT's read takes.
const CHUNK_KEYS_MIN: usize = 16;

/// The exact sum of integer and DECIMAL values as (unscaled total, scale); None if a value is
/// of another type, an error past 38 digits (the widest exact sum ReefDB computes).
fn exact_total(values: &[&Datum]) -> Option<Result<(i128, u32), SqlError>> {
    let mut parts = Vec::with_capacity(values.len());
    for v in values {
        parts.push(match v {
            Datum::Int(i) => (*i as i128, 0u32),
            Datum::UInt(u) => (*u as i128, 0),
            Datum::Decimal(d) => match unscaled(&d.to_string()) {
                Some(p) => p,
                None => return Some(Err(too_wide())),
            },
            _ => return None,
        });
    }
    let scale = parts.iter().map(|p| p.1).max().unwrap_or(0);
    let total = parts.iter().try_fold(0i128, |acc, &(v, sc)| {
        10i128
            .checked_pow(scale - sc)
            .and_then(|m| v.checked_mul(m))
            .and_then(|v| acc.checked_add(v))
    });
    Some(total.map(|t| (t, scale)).ok_or_else(too_wide))
}

fn too_wide() -> SqlError {
    SqlError::unsupported("SUM or AVG of DECIMAL values beyond 38 digits")
}

/// `-12.340` as (-12340, 3).
fn unscaled(text: &str) -> Option<(i128, u32)> {
    let (neg, t) = text.strip_prefix('-').map_or((false, text), |t| (true, t));
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    let v: i128 = format!("{int}{frac}").parse().ok()?;
    Some((if neg { -v } else { v }, frac.len() as u32))
}

/// An unscaled value as DECIMAL text with `scale` fractional digits.
fn scaled_decimal(v: i128, scale: u32) -> Result<Datum, SqlError> {
    let digits = v.unsigned_abs().to_string();
    let scale = scale as usize;
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    let sign = if v < 0 { "-" } else { "" };
    let text = if scale == 0 {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    };
    reef_common::value::Decimal::parse(&text)
        .map(Datum::Decimal)
        .map_err(|e| SqlError::internal(e.to_string()))
}

/// AVG of exact values as MySQL returns it: DECIMAL with 4 more fractional digits
/// (`div_precision_increment`), rounded half away from zero.
fn exact_average(total: i128, scale: u32, n: usize) -> Result<Datum, SqlError> {
    let n = n as i128;
    let scaled = total.checked_mul(10_000).ok_or_else(too_wide)?;
    let (mut q, r) = (scaled / n, scaled % n);
    if 2 * r.abs() >= n {
        q += scaled.signum();
    }
    scaled_decimal(q, scale + 4)
}

/// The select item an ORDER BY or GROUP BY item names, by ordinal (`1`) or by an alias that
/// is not a table column; `None` for an expression over the row. `names` are the select
/// items' names.
fn select_item(
    e: &Expr,
    def: &TableDef,
    names: &[&str],
    clause: &str,
) -> Result<Option<usize>, SqlError> {
    match e {
        Expr::Value(v) if matches!(v.value, SqlValue::Number(..)) => {
            let n: usize = v.value.to_string().parse().unwrap_or(0);
            match n.checked_sub(1).filter(|&i| i < names.len()) {
                Some(i) => Ok(Some(i)),
                None => Err(unknown_column(&n.to_string(), clause)),
            }
        }
        Expr::Identifier(id) if def.column(&id.value).is_none() => names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(&id.value))
            .map(Some)
            .ok_or_else(|| unknown_column(&id.value, clause)),
        _ => Ok(None),
    }
}

/// MySQL's 1054 for a column `name` not found in `clause` ('field list', 'where clause', ...).
pub(crate) fn unknown_column(name: &str, clause: &str) -> SqlError {
    SqlError::new(
        error::ER_BAD_FIELD_ERROR,
        format!("Unknown column '{name}' in '{clause}'"),
    )
}

/// GROUP BY: one output row per distinct value (under MySQL comparison) of the grouping
/// expressions, in order of first appearance, paired with the group's first row (which
/// ORDER BY on plain columns reads). Aggregates run over the group; other select items
/// take the first row's value, as MariaDB does without ONLY_FULL_GROUP_BY.
fn grouped(
    cols: &[(Proj<'_>, OutColumn)],
    group_by: &[Expr],
    having: Option<&Expr>,
    def: &TableDef,
    alias: Option<&str>,
    rows: &[KeyedRow],
    s: &SessionInfo,
) -> Result<Vec<SourcedRow>, SqlError> {
    // A grouping item is an ordinal, a select alias, or an expression over the row.
    let names: Vec<&str> = cols.iter().map(|(_, c)| c.name.as_str()).collect();
    let mut by: Vec<Proj<'_>> = Vec::with_capacity(group_by.len());
    for g in group_by {
        let item = select_item(g, def, &names, "group statement")?.map(|i| &cols[i]);
        by.push(match item {
            None => Proj::Expr(g),
            Some((Proj::Expr(e), _)) if !is_aggregate(e) => Proj::Expr(e),
            Some((Proj::Slot(i), _)) => Proj::Slot(*i),
            Some((_, c)) => {
                return Err(SqlError::new(
                    error::ER_WRONG_GROUP_FIELD,
                    format!("Can't group on '{}'", c.name),
                ))
            }
        });
    }
    let mut index: std::collections::HashMap<Vec<u8>, usize> = std::collections::HashMap::new();
    let mut groups: Vec<Vec<&Vec<Datum>>> = Vec::new();
    for (_, row) in rows {
        let scope = RowScope {
            def,
            alias,
            row,
            session: s,
        };
        let mut key = Vec::new();
        for item in &by {
            match item {
                Proj::Slot(i) => row[*i].group_key_into(&mut key),
                Proj::Expr(e) => eval(e, &scope)?.group_key_into(&mut key),
            }
        }
        let next = groups.len();
        let g = *index.entry(key).or_insert(next);
        if g == next {
            groups.push(Vec::new());
        }
        groups[g].push(row);
    }
    let having = having.map(HavingFilter::new);
    let mut out = Vec::with_capacity(groups.len());
    for members in &groups {
        let first = members[0];
        let scope = RowScope {
            def,
            alias,
            row: first,
            session: s,
        };
        let projected = cols
            .iter()
            .map(|(p, _)| match p {
                Proj::Slot(i) => Ok(first[*i].clone()),
                Proj::Expr(e) if is_aggregate(e) => aggregate_value(e, def, alias, members, s),
                Proj::Expr(e) => eval_shown(e, &scope),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(h) = &having {
            let aggs = h
                .aggregates
                .iter()
                .map(|e| aggregate_value(e, def, alias, members, s))
                .collect::<Result<Vec<_>, _>>()?;
            let hs = HavingScope {
                row: &scope,
                aggs: &aggs,
                cols,
                projected: &projected,
            };
            if eval(&h.expr, &hs)?.truth() != Some(true) {
                continue;
            }
        }
        out.push((first.clone(), projected));
    }
    Ok(out)
}

/// A HAVING condition with each aggregate call replaced by a reference to its value.
struct HavingFilter {
    expr: Expr,
    aggregates: Vec<Expr>,
}

/// The prefix of the names that stand for aggregate values in a [`HavingFilter`] (MySQL
/// identifiers cannot contain U+0000).
const AGG_REF: &str = "\u{0}agg";

impl HavingFilter {
    fn new(having: &Expr) -> HavingFilter {
        let mut expr = having.clone();
        let mut aggregates = Vec::new();
        let _ = sqlparser::ast::visit_expressions_mut(&mut expr, |e| {
            if is_aggregate(e) {
                let name = format!("{AGG_REF}{}", aggregates.len());
                aggregates.push(std::mem::replace(
                    e,
                    Expr::Identifier(sqlparser::ast::Ident::new(name)),
                ));
            }
            std::ops::ControlFlow::<()>::Continue(())
        });
        HavingFilter { expr, aggregates }
    }
}

/// What HAVING reads: aggregate values, then select aliases, then the group's first row.
struct HavingScope<'a> {
    row: &'a RowScope<'a>,
    aggs: &'a [Datum],
    cols: &'a [(Proj<'a>, OutColumn)],
    projected: &'a [Datum],
}

impl Scope for HavingScope<'_> {
    fn column(&self, q: Option<&str>, name: &str) -> Result<Datum, SqlError> {
        if let Some(i) = name.strip_prefix(AGG_REF) {
            let i: usize = i
                .parse()
                .map_err(|_| SqlError::internal("aggregate reference"))?;
            return self
                .aggs
                .get(i)
                .cloned()
                .ok_or_else(|| SqlError::internal("aggregate reference"));
        }
        if q.is_none() {
            if let Some(i) = self
                .cols
                .iter()
                .position(|(_, c)| c.name.eq_ignore_ascii_case(name))
            {
                return Ok(self.projected[i].clone());
            }
        }
        self.row.column(q, name)
    }
    fn system_var(&self, name: &str) -> Result<Datum, SqlError> {
        self.row.system_var(name)
    }
    fn user_var(&self, name: &str) -> Datum {
        self.row.user_var(name)
    }
    fn session_fn(&self, name: &str) -> Option<Datum> {
        self.row.session_fn(name)
    }
}

/// An aggregate call: its name, its argument (None for `*`) and whether it is DISTINCT.
fn agg_args(e: &Expr) -> Result<(String, Option<&Expr>, bool), SqlError> {
    let Expr::Function(f) = e else {
        return Err(SqlError::internal("not an aggregate"));
    };
    let name = f.name.to_string().to_ascii_lowercase();
    let FunctionArguments::List(l) = &f.args else {
        return Err(SqlError::unsupported(format!("{e}")));
    };
    let distinct = matches!(l.duplicate_treatment, Some(DuplicateTreatment::Distinct));
    let arg = match l.args.as_slice() {
        [FunctionArg::Unnamed(FunctionArgExpr::Wildcard)] if !distinct => None,
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(x))] => Some(x),
        _ => return Err(SqlError::unsupported(format!("{e}"))),
    };
    Ok((name, arg, distinct))
}

fn aggregate(
    cols: &[(Proj<'_>, OutColumn)],
    def: &TableDef,
    alias: Option<&str>,
    rows: &[(Vec<u8>, Vec<Datum>)],
    s: &SessionInfo,
) -> Result<(Vec<OutColumn>, Vec<Datum>), SqlError> {
    let rows: Vec<&Vec<Datum>> = rows.iter().map(|(_, r)| r).collect();
    let mut out = Vec::with_capacity(cols.len());
    // Items that name no column (`SELECT 1+1, COUNT(*)`) are evaluated once, over a row of
    // NULLs; columns beside aggregates are the OLAP path's (sql_mode decides their meaning).
    let nulls = vec![Datum::Null; def.columns.len()];
    let no_row = RowScope {
        def,
        alias,
        row: &nulls,
        session: s,
    };
    for (p, _) in cols {
        match p {
            Proj::Expr(e) if is_aggregate(e) => out.push(aggregate_value(e, def, alias, &rows, s)?),
            Proj::Expr(e) if !names_a_column(e) => out.push(eval_shown(e, &no_row)?),
            _ => {
                return Err(SqlError::unsupported(
                    "mixing columns and aggregates without GROUP BY",
                ))
            }
        }
    }
    Ok((cols.iter().map(|(_, c)| c.clone()).collect(), out))
}

/// The value of the aggregate call `e` over `rows`.
fn aggregate_value(
    e: &Expr,
    def: &TableDef,
    alias: Option<&str>,
    rows: &[&Vec<Datum>],
    s: &SessionInfo,
) -> Result<Datum, SqlError> {
    let (name, arg, distinct) = agg_args(e)?;
    let vals: Vec<Datum> = match arg {
        None => rows.iter().map(|_| Datum::Int(1)).collect(),
        Some(x) => rows
            .iter()
            .map(|r| {
                eval(
                    x,
                    &RowScope {
                        def,
                        alias,
                        row: r,
                        session: s,
                    },
                )
            })
            .collect::<Result<_, _>>()?,
    };
    let mut present: Vec<&Datum> = vals.iter().filter(|v| !v.is_null()).collect();
    if distinct {
        // Equal under MySQL comparison (collations, 1 = 1.0) counts once.
        let mut seen = std::collections::HashSet::new();
        present.retain(|v| {
            let mut k = Vec::new();
            v.group_key_into(&mut k);
            seen.insert(k)
        });
    }
    let summing = matches!(name.as_str(), "sum" | "avg") && !present.is_empty();
    let exact = if summing {
        exact_total(&present).transpose()?
    } else {
        None
    };
    Ok(match (name.as_str(), exact) {
        ("count", _) => Datum::Int(present.len() as i64),
        ("min" | "max", _) => present
            .iter()
            .copied()
            .cloned()
            .reduce(|a, b| {
                let keep_b = match a.compare(&b) {
                    Some(Ordering::Greater) => name == "min",
                    Some(Ordering::Less) => name == "max",
                    _ => false,
                };
                if keep_b {
                    b
                } else {
                    a
                }
            })
            .unwrap_or(Datum::Null),
        ("sum" | "avg", _) if present.is_empty() => Datum::Null,
        ("sum", Some((total, scale))) => scaled_decimal(total, scale)?,
        ("avg", Some((total, scale))) => exact_average(total, scale, present.len())?,
        ("sum" | "avg", None) if present.iter().all(|v| matches!(v, Datum::Double(_))) => {
            let total: f64 = present.iter().map(|v| v.as_f64()).sum();
            Datum::Double(if name == "avg" {
                total / present.len() as f64
            } else {
                total
            })
        }
        _ => return Err(SqlError::unsupported(format!("{e}"))),
    })
}

/// A LIMIT or OFFSET count: a non-negative integer (1210 otherwise, as MySQL).
fn limit_count(e: &Expr, s: &SessionInfo) -> Result<usize, SqlError> {
    match eval(e, s)? {
        Datum::Int(i) if i >= 0 => Ok(i as usize),
        Datum::UInt(u) => Ok(usize::try_from(u).unwrap_or(usize::MAX)),
        _ => Err(SqlError::new(
            error::ER_WRONG_ARGUMENTS,
            "Incorrect arguments to LIMIT",
        )),
    }
}

fn limit_of(q: &Query, s: &SessionInfo) -> Result<(usize, usize), SqlError> {
    let num = |e: &Expr| limit_count(e, s);
    Ok(match &q.limit_clause {
        None => (0, usize::MAX),
        Some(LimitClause::LimitOffset { limit, offset, .. }) => (
            offset
                .as_ref()
                .map(|o| num(&o.value))
                .transpose()?
                .unwrap_or(0),
            limit.as_ref().map(num).transpose()?.unwrap_or(usize::MAX),
        ),
        Some(LimitClause::OffsetCommaLimit { offset, limit }) => (num(offset)?, num(limit)?),
    })
}

fn finish(
    q: &Query,
    columns: Vec<OutColumn>,
    rows: Vec<(Vec<Datum>, Vec<Datum>)>,
    distinct: bool,
    s: &SessionInfo,
) -> Result<Output, SqlError> {
    if q.order_by.is_some() {
        return Err(SqlError::unsupported("ORDER BY without a table"));
    }
    let (off, lim) = limit_of(q, s)?;
    let mut out: Vec<Vec<Datum>> = rows.into_iter().map(|(_, p)| p).collect();
    if distinct {
        dedup(&mut out);
    }
    Ok(Output::Rows {
        columns,
        rows: out.into_iter().skip(off).take(lim).collect(),
    })
}

fn dedup(rows: &mut Vec<Vec<Datum>>) {
    let mut seen = std::collections::HashSet::with_capacity(rows.len());
    rows.retain(|r| {
        let mut key = Vec::with_capacity(64);
        for d in r {
            d.eq_key_into(&mut key);
        }
        seen.insert(key)
    });
}

fn finish_with_table(
    q: &Query,
    columns: Vec<OutColumn>,
    mut rows: Vec<(Vec<Datum>, Vec<Datum>)>,
    distinct: bool,
    s: &SessionInfo,
    def: &TableDef,
    alias: Option<&str>,
) -> Result<Output, SqlError> {
    if let Some(ob) = &q.order_by {
        let OrderByKind::Expressions(exprs) = &ob.kind else {
            return Err(SqlError::unsupported("ORDER BY ALL"));
        };
        // Sort keys: an ordinal, a select alias, or an expression over the row.
        let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        let items = exprs
            .iter()
            .map(|o| select_item(&o.expr, def, &names, "order clause"))
            .collect::<Result<Vec<_>, _>>()?;
        // Memcomparable keys, one per ORDER BY column, computed once per row.
        let mut keyed: Vec<SortRow> = Vec::with_capacity(rows.len());
        for (src, proj) in rows.drain(..) {
            let mut keys = Vec::with_capacity(exprs.len());
            for (o, item) in exprs.iter().zip(&items) {
                let mut key = Vec::with_capacity(32);
                match item {
                    Some(i) => proj[*i].group_key_into(&mut key),
                    None => eval(
                        &o.expr,
                        &RowScope {
                            def,
                            alias,
                            row: &src,
                            session: s,
                        },
                    )?
                    .group_key_into(&mut key),
                }
                keys.push(key);
            }
            keyed.push((keys, src, proj));
        }
        keyed.sort_by(|a, b| {
            for (i, o) in exprs.iter().enumerate() {
                let ord = a.0[i].cmp(&b.0[i]);
                let ord = if o.options.asc == Some(false) {
                    ord.reverse()
                } else {
                    ord
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            Ordering::Equal
        });
        rows = keyed.into_iter().map(|(_, s, p)| (s, p)).collect();
    }
    let (off, lim) = limit_of(q, s)?;
    let mut out: Vec<Vec<Datum>> = rows.into_iter().map(|(_, p)| p).collect();
    if distinct {
        dedup(&mut out);
    }
    Ok(Output::Rows {
        columns,
        rows: out.into_iter().skip(off).take(lim).collect(),
    })
}

fn update(
    engine: &SqlEngine,
    txn: &mut Transaction,
    s: &SessionInfo,
    u: &Update,
) -> Result<Output, SqlError> {
    if u.from.is_some() || u.limit.is_some() || !u.order_by.is_empty() {
        return Err(SqlError::unsupported("UPDATE with FROM, ORDER BY or LIMIT"));
    }
    let (name, alias) = single_table(std::slice::from_ref(&u.table))?;
    let def = lookup(engine, name, s.db.as_deref())?;
    let tablet = engine.tablet_of(&def)?;
    let targets = assignment_targets(&def, &u.assignments)?;
    let rows = rows_to_change(engine, txn, (&def, alias), u.selection.as_ref(), s)?;
    let (mut matched, mut changed) = (0u64, 0u64);
    for (key, old) in rows {
        let new = assign_row((&def, alias), &targets, &old, None, s)?;
        matched += 1;
        let (old_v, new_v) = (stored(&def, &old)?, stored(&def, &new)?);
        if rewrite_row(engine, txn, (&def, &tablet), &key, &old_v, &new_v)? {
            changed += 1;
        }
    }
    let affected = if s.found_rows { matched } else { changed };
    Ok(Output::Ok {
        affected,
        last_insert_id: 0,
        info: format!("Rows matched: {matched}  Changed: {changed}  Warnings: 0"),
        warnings: 0,
    })
}

/// Replaces the row under `key` (stored values `old_v`) with `new_v`, moving it if its
/// primary key changes and keeping every index; returns whether anything changed.
fn rewrite_row(
    engine: &SqlEngine,
    txn: &mut Transaction,
    (def, tablet): (&TableDef, &Arc<Tablet>),
    key: &[u8],
    old_v: &[Value],
    new_v: &[Value],
) -> Result<bool, SqlError> {
    if old_v == new_v {
        return Ok(false);
    }
    let new_key = if def.pk.is_empty() {
        key.to_vec()
    } else {
        key_of(def, new_v, None)?
    };
    let row = encode_row(1, new_v);
    if new_key == key {
        txn.put(tablet, key, row.into())?;
    } else {
        txn.delete(tablet, key)?;
        txn.insert(tablet, &new_key, row.into(), || {
            (dup_text(new_v, &def.pk), format!("{}.PRIMARY", def.name))
        })?;
    }
    for ix in &def.indexes {
        let (old_e, new_e) = (
            def.index_entry(ix, old_v, key),
            def.index_entry(ix, new_v, &new_key),
        );
        if old_e == new_e {
            continue;
        }
        let t = engine.tablet_by_id(ix.id, &ix.name)?;
        if old_e.key == new_e.key {
            // A unique entry whose row moved to another primary key.
            txn.put(&t, &new_e.key, new_e.row)?;
            continue;
        }
        txn.delete(&t, &old_e.key)?;
        if let Some(e) = add_index_entry(txn, def, ix, &t, new_e, new_v)? {
            return Err(e.into());
        }
    }
    Ok(true)
}

fn delete(
    engine: &SqlEngine,
    txn: &mut Transaction,
    s: &SessionInfo,
    d: &Delete,
) -> Result<Output, SqlError> {
    if d.using.is_some() || !d.tables.is_empty() || !d.order_by.is_empty() {
        return Err(SqlError::unsupported(
            "multi-table DELETE and DELETE ... ORDER BY",
        ));
    }
    let from = match &d.from {
        FromTable::WithFromKeyword(v) | FromTable::WithoutKeyword(v) => v,
    };
    let (name, alias) = single_table(from)?;
    let def = lookup(engine, name, s.db.as_deref())?;
    let tablet = engine.tablet_of(&def)?;
    let limit = d
        .limit
        .as_ref()
        .map_or(Ok(usize::MAX), |e| limit_count(e, s))?;
    let rows = rows_to_change(engine, txn, (&def, alias), d.selection.as_ref(), s)?;
    let mut affected = 0u64;
    for (key, row) in rows.into_iter().take(limit) {
        txn.delete(&tablet, &key)?;
        index_entries(engine, txn, &def, &stored(&def, &row)?, &key, false)?;
        affected += 1;
    }
    Ok(Output::Ok {
        affected,
        last_insert_id: 0,
        info: String::new(),
        warnings: 0,
    })
}

/// Adds the index entries of every row that exists now (an index being built): each row is
/// read under a shared lock, so a writer changing it waits, and committed in batches.
pub(crate) fn backfill(engine: &SqlEngine, def: &TableDef, ix: &IndexDef) -> Result<u64, SqlError> {
    const BATCH_ROWS: usize = 1000;
    let tablet = engine.tablet_of(def)?;
    let itablet = engine.tablet_by_id(ix.id, &ix.name)?;
    let mut after: Option<Vec<u8>> = None;
    let mut done = 0u64;
    loop {
        let mut txn = engine.txns.begin(reef_txn::txn::TxnOptions::default());
        txn.begin_statement()?;
        let lo = after.clone().map_or(Bound::Unbounded, Bound::Excluded);
        let keys: Vec<Vec<u8>> = txn
            .scan(&tablet, (lo, Bound::Unbounded))?
            .take(BATCH_ROWS)
            .map(|r| r.map(|(k, _)| k))
            .collect::<Result<_, _>>()?;
        for key in &keys {
            if let Locked::Row(Some(row)) =
                txn.get_locked(&tablet, key, LockMode::Shared, WaitPolicy::Wait)?
            {
                let values = stored(def, &decode(def, &row)?)?;
                let entry = def.index_entry(ix, &values, key);
                if let Some(e) = add_index_entry(&mut txn, def, ix, &itablet, entry, &values)? {
                    return Err(e.into());
                }
                done += 1;
            }
        }
        txn.commit()?;
        match keys.last() {
            Some(k) if keys.len() == BATCH_ROWS => after = Some(k.clone()),
            _ => return Ok(done),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_ranges_know_how_many_keys_they_can_hold() {
        let col = |ty| ColumnDef {
            name: "id".into(),
            ty,
            nullable: false,
            default: None,
            auto_increment: false,
        };
        let int = col(ColumnType::Int {
            bytes: 4,
            unsigned: false,
        });
        let span = |c: &ColumnDef, lo: Datum, hi: Datum| integer_span(c, Some(&lo), Some(&hi));
        assert_eq!(span(&int, Datum::Int(5), Datum::Int(104)), Some(100));
        assert_eq!(span(&int, Datum::Int(-3), Datum::Int(3)), Some(7));
        assert_eq!(span(&int, Datum::Int(9), Datum::Int(3)), Some(0));
        // A constant past the column's range converts to nothing: no bound.
        assert_eq!(span(&int, Datum::Int(0), Datum::Int(1 << 40)), None);
        let unsigned = col(ColumnType::Int {
            bytes: 8,
            unsigned: true,
        });
        assert_eq!(
            span(&unsigned, Datum::UInt(0), Datum::UInt(u64::MAX)),
            None,
            "more keys than a u64 counts"
        );
        assert_eq!(integer_span(&int, Some(&Datum::Int(1)), None), None);
        let double = col(ColumnType::Double);
        assert_eq!(span(&double, Datum::Int(1), Datum::Int(2)), None);
    }

    #[test]
    fn integer_averages_round_half_away_from_zero_to_four_places() {
        let avg = |total: i128, n: usize| match exact_average(total, 0, n).unwrap() {
            Datum::Decimal(d) => d.to_string(),
            other => panic!("{other:?}"),
        };
        assert_eq!(avg(5, 3), "1.6667");
        assert_eq!(avg(-5, 3), "-1.6667");
        assert_eq!(avg(1, 8), "0.1250");
        assert_eq!(avg(1, 20_000), "0.0001");
        assert_eq!(avg(-1, 20_000), "-0.0001");
        assert_eq!(avg(-1, 30_000), "0.0000");
        assert_eq!(avg(i64::MAX as i128 * 3, 3), format!("{}.0000", i64::MAX));
    }

    #[test]
    fn decimal_sums_and_averages_are_exact() {
        let dec = |t: &str| Datum::Decimal(reef_common::value::Decimal::parse(t).unwrap());
        let vals = [dec("1.25"), dec("-0.5"), Datum::Int(3), dec("0.001")];
        let refs: Vec<&Datum> = vals.iter().collect();
        let (total, scale) = exact_total(&refs).unwrap().unwrap();
        assert_eq!((total, scale), (3751, 3));
        let text = |d: Datum| match d {
            Datum::Decimal(d) => d.to_string(),
            other => panic!("{other:?}"),
        };
        assert_eq!(text(scaled_decimal(total, scale).unwrap()), "3.751");
        assert_eq!(text(exact_average(total, scale, 4).unwrap()), "0.9377500");
        assert_eq!(text(scaled_decimal(-5, 3).unwrap()), "-0.005");
        assert!(exact_total(&[&Datum::Double(1.0)]).is_none());
        let nines = dec("99999999999999999999999999999999999999");
        let wide = [nines.clone(), nines];
        let refs: Vec<&Datum> = wide.iter().collect();
        assert!(exact_total(&refs).unwrap().is_err());
    }
}
