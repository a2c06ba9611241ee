//! `information_schema` SCHEMATA, TABLES, COLUMNS, STATISTICS, PARTITIONS, PROCESSLIST,
//! INNODB_TRX (open transactions, what they wait for and since when), INNODB_LOCK_WAITS and
//! INNODB_LOCKS (who waits for whom, on which table, index and key; and the empty TRIGGERS,
//! VIEWS, ROUTINES, EVENTS and FILES), built from the catalog
//! for the one query that reads them and queried with full SQL on the OLAP path. Column
//! names are MySQL's, lower-cased as every column on this path is.

use std::ops::Bound;
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use reef_common::ids::{TabletId, TxnId};
use reef_common::types::ColumnType;
use reef_sql::catalog::TableDef;
use reef_sql::show::{collation_name, column_key, sql_type};
use reef_sql::{SqlEngine, SqlError};
use reef_txn::lock::{LockConflict, LockOn};

/// The database name, as MySQL spells it.
pub const INFORMATION_SCHEMA: &str = "information_schema";

enum Col {
    Text(Vec<Option<String>>),
    Int(Vec<Option<i64>>),
}

struct Builder {
    fields: Vec<Field>,
    cols: Vec<Col>,
}

impl Builder {
    fn new(spec: &[(&str, bool)]) -> Builder {
        Builder {
            fields: spec
                .iter()
                .map(|(n, int)| {
                    Field::new(
                        *n,
                        if *int {
                            DataType::Int64
                        } else {
                            DataType::Utf8
                        },
                        true,
                    )
                })
                .collect(),
            cols: spec
                .iter()
                .map(|(_, int)| {
                    if *int {
                        Col::Int(Vec::new())
                    } else {
                        Col::Text(Vec::new())
                    }
                })
                .collect(),
        }
    }

    fn row(&mut self, values: Vec<Value>) {
        for (c, v) in self.cols.iter_mut().zip(values) {
            match (c, v) {
                (Col::Text(t), Value::Text(s)) => t.push(Some(s)),
                (Col::Int(t), Value::Int(i)) => t.push(Some(i)),
                (Col::Text(t), _) => t.push(None),
                (Col::Int(t), _) => t.push(None),
            }
        }
    }

    fn table(self) -> Result<MemTable, SqlError> {
        let schema = Arc::new(Schema::new(self.fields));
        let arrays: Vec<ArrayRef> = self
            .cols
            .into_iter()
            .map(|c| -> ArrayRef {
                match c {
                    Col::Text(v) => Arc::new(StringArray::from(v)),
                    Col::Int(v) => Arc::new(Int64Array::from(v)),
                }
            })
            .collect();
        let batch = RecordBatch::try_new(schema.clone(), arrays)
            .map_err(|e| SqlError::internal(format!("information_schema batch: {e}")))?;
        MemTable::try_new(schema, vec![vec![batch]])
            .map_err(|e| SqlError::internal(format!("information_schema table: {e}")))
    }
}

#[derive(Clone)]
enum Value {
    Text(String),
    Int(i64),
    Null,
}

fn t(s: impl Into<String>) -> Value {
    Value::Text(s.into())
}

fn opt_int(v: Option<i64>) -> Value {
    v.map_or(Value::Null, Value::Int)
}

/// The table `name` of information_schema, if it is one ReefDB provides.
pub fn table(engine: &SqlEngine, name: &str) -> Result<Option<MemTable>, SqlError> {
    let tables: Vec<Arc<TableDef>> = engine.catalog.all_tables();
    Ok(Some(match name.to_ascii_lowercase().as_str() {
        "schemata" => {
            let mut b = Builder::new(&[
                ("catalog_name", false),
                ("schema_name", false),
                ("default_character_set_name", false),
                ("default_collation_name", false),
                ("sql_path", false),
            ]);
            for db in engine.catalog.databases() {
                b.row(vec![
                    t("def"),
                    t(db),
                    t("utf8mb4"),
                    t("utf8mb4_general_ci"),
                    Value::Null,
                ]);
            }
            b.table()?
        }
        "tables" => {
            let mut b = Builder::new(&[
                ("table_catalog", false),
                ("table_schema", false),
                ("table_name", false),
                ("table_type", false),
                ("engine", false),
                ("table_rows", true),
                ("table_collation", false),
                ("table_comment", false),
            ]);
            for d in &tables {
                b.row(vec![
                    t("def"),
                    t(d.db.clone()),
                    t(d.name.clone()),
                    t("BASE TABLE"),
                    t("ReefDB"),
                    Value::Null,
                    t("utf8mb4_general_ci"),
                    t(""),
                ]);
            }
            b.table()?
        }
        "columns" => {
            let mut b = Builder::new(&[
                ("table_catalog", false),
                ("table_schema", false),
                ("table_name", false),
                ("column_name", false),
                ("ordinal_position", true),
                ("column_default", false),
                ("is_nullable", false),
                ("data_type", false),
                ("character_maximum_length", true),
                ("numeric_precision", true),
                ("numeric_scale", true),
                ("datetime_precision", true),
                ("character_set_name", false),
                ("collation_name", false),
                ("column_type", false),
                ("column_key", false),
                ("extra", false),
                ("column_comment", false),
                ("generation_expression", false),
            ]);
            for d in &tables {
                for (slot, c) in d.columns.iter().enumerate() {
                    let full = sql_type(&c.ty);
                    let base = full
                        .split(['(', ' '])
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    let (chars, precision, scale, dt_precision) = match c.ty {
                        ColumnType::String { len_chars, .. } => {
                            (Some(len_chars as i64), None, None, None)
                        }
                        ColumnType::Binary { len_bytes, .. } => {
                            (Some(len_bytes as i64), None, None, None)
                        }
                        ColumnType::Int { bytes, unsigned } => {
                            let digits = match (bytes, unsigned) {
                                (1, _) => 3,
                                (2, _) => 5,
                                (3, _) => 7,
                                (4, _) => 10,
                                (_, false) => 19,
                                (_, true) => 20,
                            };
                            (None, Some(digits), Some(0), None)
                        }
                        ColumnType::Decimal { precision, scale } => {
                            (None, Some(precision as i64), Some(scale as i64), None)
                        }
                        ColumnType::Float => (None, Some(12), None, None),
                        ColumnType::Double => (None, Some(22), None, None),
                        ColumnType::Date => (None, None, None, None),
                        ColumnType::DateTime { fsp } | ColumnType::Timestamp { fsp } => {
                            (None, None, None, Some(fsp as i64))
                        }
                    };
                    let (charset, collation) = match c.ty {
                        ColumnType::String { collation, .. } => {
                            (t("utf8mb4"), t(collation_name(collation)))
                        }
                        _ => (Value::Null, Value::Null),
                    };
                    b.row(vec![
                        t("def"),
                        t(d.db.clone()),
                        t(d.name.clone()),
                        t(c.name.clone()),
                        Value::Int(slot as i64 + 1),
                        c.default
                            .as_ref()
                            .and_then(|x| x.to_text())
                            .map_or(Value::Null, Value::Text),
                        t(if c.nullable { "YES" } else { "NO" }),
                        t(base),
                        opt_int(chars),
                        opt_int(precision),
                        opt_int(scale),
                        opt_int(dt_precision),
                        charset,
                        collation,
                        t(full),
                        t(column_key(d, slot)),
                        t(if c.auto_increment {
                            "auto_increment"
                        } else {
                            ""
                        }),
                        t(""),
                        t(""),
                    ]);
                }
            }
            b.table()?
        }
        "statistics" => {
            let mut b = Builder::new(&[
                ("table_catalog", false),
                ("table_schema", false),
                ("table_name", false),
                ("non_unique", true),
                ("index_schema", false),
                ("index_name", false),
                ("seq_in_index", true),
                ("column_name", false),
                ("collation", false),
                ("cardinality", true),
                ("nullable", false),
                ("index_type", false),
            ]);
            for d in &tables {
                for (name, non_unique, cols) in d.visible_indexes() {
                    for (seq, &slot) in cols.iter().enumerate() {
                        b.row(vec![
                            t("def"),
                            t(d.db.clone()),
                            t(d.name.clone()),
                            Value::Int(non_unique as i64),
                            t(d.db.clone()),
                            t(name),
                            Value::Int(seq as i64 + 1),
                            t(d.columns[slot].name.clone()),
                            t("A"),
                            Value::Null,
                            t(if d.columns[slot].nullable { "YES" } else { "" }),
                            t("BTREE"),
                        ]);
                    }
                }
            }
            b.table()?
        }
        "partitions" => {
            // No table is partitioned by the user: one row per table, as MySQL shows it.
            let mut b = Builder::new(&[
                ("table_catalog", false),
                ("table_schema", false),
                ("table_name", false),
                ("partition_name", false),
                ("subpartition_name", false),
                ("partition_ordinal_position", true),
                ("subpartition_ordinal_position", true),
                ("partition_method", false),
                ("subpartition_method", false),
                ("partition_expression", false),
                ("subpartition_expression", false),
                ("partition_description", false),
                ("table_rows", true),
                ("partition_comment", false),
                ("nodegroup", false),
                ("tablespace_name", false),
            ]);
            for d in &tables {
                let mut row = vec![t("def"), t(d.db.clone()), t(d.name.clone())];
                row.extend((0..10).map(|_| Value::Null));
                row.push(t(""));
                row.extend([Value::Null, Value::Null]);
                b.row(row);
            }
            b.table()?
        }
        "processlist" => {
            let mut b = Builder::new(&[
                ("id", true),
                ("user", false),
                ("host", false),
                ("db", false),
                ("command", false),
                ("time", true),
                ("state", false),
                ("info", false),
            ]);
            for p in engine.processes.rows() {
                b.row(vec![
                    Value::Int(p.id as i64),
                    t(p.user),
                    t(p.host),
                    p.db.map_or(Value::Null, t),
                    t(p.command),
                    Value::Int(p.time as i64),
                    t(if p.command == "Query" {
                        "executing"
                    } else {
                        ""
                    }),
                    p.info.map_or(Value::Null, t),
                ]);
            }
            b.table()?
        }
        "innodb_trx" => {
            // Open transactions, as InnoDB's view names them: what each waits for and since
            // when, its session and statement.
            let mut b = Builder::new(&[
                ("trx_id", true),
                ("trx_state", false),
                ("trx_started", false),
                ("trx_wait_started", false),
                ("trx_blocking_trx_id", true),
                ("trx_wait_seconds", true),
                ("trx_mysql_thread_id", true),
                ("trx_query", false),
                ("trx_rows_modified", true),
            ]);
            let procs = engine.processes.rows();
            let now_us = reef_sql::expr::now().unix_micros();
            let ago = |d: std::time::Duration| {
                let at = now_us - d.as_micros().min(i64::MAX as u128) as i64;
                t(reef_common::value::DateTime::from_unix_micros(at).datetime_string(0))
            };
            for x in engine.txns.open_transactions() {
                let session = procs.iter().find(|p| p.txn == Some(x.id.0));
                b.row(vec![
                    Value::Int(x.id.0 as i64),
                    t(x.state),
                    ago(x.age),
                    x.waiting_for.as_ref().map_or(Value::Null, |(_, w)| ago(*w)),
                    x.waiting_for
                        .as_ref()
                        .map_or(Value::Null, |(c, _)| Value::Int(c.holder.0 as i64)),
                    x.waiting_for
                        .as_ref()
                        .map_or(Value::Null, |(_, w)| Value::Int(w.as_secs() as i64)),
                    session.map_or(Value::Null, |p| Value::Int(p.id as i64)),
                    session.and_then(|p| p.info.clone()).map_or(Value::Null, t),
                    Value::Int(x.rows_modified as i64),
                ]);
            }
            b.table()?
        }
        "innodb_lock_waits" => {
            // One row per waiting transaction: the lock it asked for and the one in its way
            // (their ids are INNODB_LOCKS rows).
            let mut b = Builder::new(&[
                ("requesting_trx_id", true),
                ("requested_lock_id", false),
                ("blocking_trx_id", true),
                ("blocking_lock_id", false),
            ]);
            for x in engine.txns.open_transactions() {
                if let Some((c, _)) = &x.waiting_for {
                    b.row(vec![
                        Value::Int(x.id.0 as i64),
                        t(lock_id(x.id, c)),
                        Value::Int(c.holder.0 as i64),
                        t(lock_id(c.holder, c)),
                    ]);
                }
            }
            b.table()?
        }
        "innodb_locks" => {
            // As in InnoDB, the locks someone waits for and the locks in their way: the
            // table and index (PRIMARY: the rows), the mode, and the key (memcomparable,
            // in hex; a range lock shows its bounds).
            let mut b = Builder::new(&[
                ("lock_id", false),
                ("lock_trx_id", true),
                ("lock_mode", false),
                ("lock_type", false),
                ("lock_table", false),
                ("lock_index", false),
                ("lock_data", false),
            ]);
            for x in engine.txns.open_transactions() {
                let Some((c, _)) = &x.waiting_for else {
                    continue;
                };
                let (table, index) = lock_object(&tables, c.tablet);
                for (trx, exclusive) in [(x.id, c.exclusive), (c.holder, c.held_exclusive)] {
                    b.row(vec![
                        t(lock_id(trx, c)),
                        Value::Int(trx.0 as i64),
                        t(if exclusive { "X" } else { "S" }),
                        t(match c.on {
                            LockOn::Key(_) => "RECORD",
                            LockOn::Range(_) => "RANGE",
                        }),
                        table.clone(),
                        index.clone(),
                        t(lock_data(&c.on)),
                    ]);
                }
            }
            b.table()?
        }
        // ReefDB has no triggers, views, stored routines, events or tablespace files: these
        // views exist (clients and mysqldump read them) and are truthfully empty.
        "triggers" => Builder::new(&text_columns(&[
            "trigger_catalog",
            "trigger_schema",
            "trigger_name",
            "event_manipulation",
            "event_object_catalog",
            "event_object_schema",
            "event_object_table",
            "action_order",
            "action_condition",
            "action_statement",
            "action_orientation",
            "action_timing",
            "action_reference_old_table",
            "action_reference_new_table",
            "action_reference_old_row",
            "action_reference_new_row",
            "created",
            "sql_mode",
            "definer",
            "character_set_client",
            "collation_connection",
            "database_collation",
        ]))
        .table()?,
        "views" => Builder::new(&text_columns(&[
            "table_catalog",
            "table_schema",
            "table_name",
            "view_definition",
            "check_option",
            "is_updatable",
            "definer",
            "security_type",
            "character_set_client",
            "collation_connection",
        ]))
        .table()?,
        "routines" => Builder::new(&text_columns(&[
            "specific_name",
            "routine_catalog",
            "routine_schema",
            "routine_name",
            "routine_type",
            "data_type",
            "routine_body",
            "routine_definition",
            "external_name",
            "parameter_style",
            "is_deterministic",
            "sql_data_access",
            "sql_path",
            "security_type",
            "created",
            "last_altered",
            "sql_mode",
            "routine_comment",
            "definer",
        ]))
        .table()?,
        "events" => Builder::new(&text_columns(&[
            "event_catalog",
            "event_schema",
            "event_name",
            "definer",
            "time_zone",
            "event_body",
            "event_definition",
            "event_type",
            "execute_at",
            "status",
        ]))
        .table()?,
        "files" => Builder::new(&[
            ("file_id", true),
            ("file_name", false),
            ("file_type", false),
            ("tablespace_name", false),
            ("table_catalog", false),
            ("table_schema", false),
            ("table_name", false),
            ("logfile_group_name", false),
            ("logfile_group_number", true),
            ("engine", false),
            ("total_extents", true),
            ("extent_size", true),
            ("initial_size", true),
            ("maximum_size", true),
            ("autoextend_size", true),
            ("status", false),
            ("extra", false),
        ])
        .table()?,
        _ => return Ok(None),
    }))
}

/// A lock's id in INNODB_LOCKS and INNODB_LOCK_WAITS: `trx:tablet:key` (`range` for a
/// range lock).
fn lock_id(trx: TxnId, c: &LockConflict) -> String {
    match &c.on {
        LockOn::Key(k) => format!("{}:{}:{}", trx.0, c.tablet.0, hex(k)),
        LockOn::Range(_) => format!("{}:{}:range", trx.0, c.tablet.0),
    }
}

fn lock_data(on: &LockOn) -> String {
    let bound = |b: &Bound<Vec<u8>>, open: &str, closed: &str| match b {
        Bound::Included(k) => format!("{closed}0x{}", hex(k)),
        Bound::Excluded(k) => format!("{open}0x{}", hex(k)),
        Bound::Unbounded => open.to_string(),
    };
    match on {
        LockOn::Key(k) => format!("0x{}", hex(k)),
        LockOn::Range((lo, hi)) => format!("{} .. {}", bound(lo, "(", "["), bound(hi, ")", "]")),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `db`.`table` and index (PRIMARY for the rows) a tablet holds.
fn lock_object(tables: &[Arc<TableDef>], tablet: TabletId) -> (Value, Value) {
    for d in tables {
        let table = t(format!("`{}`.`{}`", d.db, d.name));
        if d.id == tablet {
            return (table, t("PRIMARY"));
        }
        if let Some(ix) = d.indexes.iter().find(|ix| ix.id == tablet) {
            return (table, t(ix.name.clone()));
        }
    }
    (Value::Null, Value::Null)
}

fn text_columns<'a>(names: &[&'a str]) -> Vec<(&'a str, bool)> {
    names.iter().map(|n| (*n, false)).collect()
}
