//! ALTER TABLE: what a statement changes ([`plan`]), and the copy of a table's rows into new
//! tablets when its columns change ([`copy_rows`]).
//!
//! Two ways to apply a plan, chosen by what it changes:
//!
//! - **In place** (renaming a column, changing a default, adding or dropping indexes): the
//!   rows stay where they are; new indexes are built online, as `CREATE INDEX` builds them,
//!   and the definition is published once every one of them is complete.
//! - **By copy** (adding, dropping, moving or retyping columns): the rows are rewritten into
//!   new tablets (table and indexes) while the table is held exclusively, then one catalog
//!   write switches the table to them. A failure (a value the new type rejects, a duplicate
//!   in a new unique key) leaves the table as it was; the half-filled tablets are never named
//!   by the catalog.

use std::ops::Bound;
use std::sync::Arc;

use reef_common::error;
use reef_common::ids::TabletId;
use reef_common::types::ColumnType;
use reef_txn::txn::TxnOptions;
use sqlparser::ast::{
    AlterColumnOperation, AlterTableOperation, Ident, MySQLColumnPosition, TableConstraint,
};

use crate::catalog::{ColumnDef, IndexDef, IndexState, TableDef};
use crate::datum::Datum;
use crate::dml;
use crate::session::SqlEngine;
use crate::SqlError;

/// What an ALTER TABLE turns a table into.
#[derive(Debug)]
pub(crate) struct AlterPlan {
    /// The new definition. Indexes to build carry `TabletId(0)` until they get a tablet.
    pub def: TableDef,
    /// For each new column, the old column whose values it takes (`None`: a new column).
    pub sources: Vec<Option<usize>>,
    /// Whether rows must be rewritten.
    pub copy: bool,
    /// Whether a column changes type (MySQL copies such a table and counts its rows).
    pub retyped: bool,
}

/// An index while the plan is worked out: columns by name, since slots move.
struct WorkIndex {
    def: IndexDef,
    columns: Vec<String>,
}

/// A table definition being changed, one operation at a time.
struct Draft<'a> {
    old: &'a TableDef,
    /// The columns, each with the old column it takes its values from.
    cols: Vec<(ColumnDef, Option<usize>)>,
    /// The primary key's columns, by name.
    pk: Vec<String>,
    indexes: Vec<WorkIndex>,
    copy: bool,
    retyped: bool,
}

/// Works out what `ops` do to `old`, checking names and refusing what ReefDB cannot do yet.
pub(crate) fn plan(old: &TableDef, ops: &[AlterTableOperation]) -> Result<AlterPlan, SqlError> {
    let mut d = Draft::new(old);
    for op in ops {
        d.apply(op)?;
    }
    d.finish()
}

/// What `CREATE [UNIQUE] INDEX name ON t (columns)` does to `old`: the same as `ALTER TABLE
/// t ADD [UNIQUE] INDEX name (columns)`.
pub(crate) fn plan_add_index(
    old: &TableDef,
    name: Option<String>,
    columns: Vec<String>,
    unique: bool,
) -> Result<AlterPlan, SqlError> {
    let mut d = Draft::new(old);
    add_index(&mut d.indexes, name, columns, unique)?;
    d.finish()
}

impl<'a> Draft<'a> {
    fn new(old: &'a TableDef) -> Draft<'a> {
        let name_of = |slot: usize| old.columns[slot].name.clone();
        Draft {
            old,
            cols: old
                .columns
                .iter()
                .cloned()
                .enumerate()
                .map(|(i, c)| (c, Some(i)))
                .collect(),
            pk: old.pk.iter().map(|&i| name_of(i)).collect(),
            indexes: old
                .indexes
                .iter()
                .map(|ix| WorkIndex {
                    def: ix.clone(),
                    columns: ix.columns.iter().map(|&i| name_of(i)).collect(),
                })
                .collect(),
            copy: false,
            retyped: false,
        }
    }

    fn apply(&mut self, op: &AlterTableOperation) -> Result<(), SqlError> {
        match op {
            AlterTableOperation::AddColumn {
                if_not_exists,
                column_def,
                column_position,
                ..
            } => self.add_column(column_def, column_position, *if_not_exists),
            AlterTableOperation::DropColumn {
                column_names,
                if_exists,
                ..
            } => column_names
                .iter()
                .try_for_each(|n| self.drop_column(&n.value, *if_exists)),
            AlterTableOperation::ModifyColumn {
                col_name,
                data_type,
                options,
                column_position,
            } => self.change_column(col_name, col_name, data_type, options, column_position),
            AlterTableOperation::ChangeColumn {
                old_name,
                new_name,
                data_type,
                options,
                column_position,
            } => self.change_column(old_name, new_name, data_type, options, column_position),
            AlterTableOperation::RenameColumn {
                old_column_name,
                new_column_name,
            } => self.rename_column(&old_column_name.value, &new_column_name.value),
            AlterTableOperation::AlterColumn { column_name, op } => {
                self.alter_default(&column_name.value, op)
            }
            AlterTableOperation::AddConstraint { constraint, .. } => {
                self.add_constraint(constraint)
            }
            AlterTableOperation::DropIndex { name } => {
                let before = self.indexes.len();
                self.indexes
                    .retain(|ix| !ix.def.name.eq_ignore_ascii_case(&name.value));
                if self.indexes.len() == before {
                    return Err(cant_drop(&name.value, "column/key"));
                }
                Ok(())
            }
            AlterTableOperation::Algorithm { .. } | AlterTableOperation::Lock { .. } => Ok(()),
            other => Err(SqlError::unsupported(format!("ALTER TABLE ... {other}"))),
        }
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.cols
            .iter()
            .position(|(c, _)| c.name.eq_ignore_ascii_case(name))
    }

    /// Where `FIRST` / `AFTER col` puts a column (`None`: not given).
    fn place(&self, at: &Option<MySQLColumnPosition>) -> Result<Option<usize>, SqlError> {
        Ok(match at {
            None => None,
            Some(MySQLColumnPosition::First) => Some(0),
            Some(MySQLColumnPosition::After(after)) => Some(
                self.position(&after.value)
                    .ok_or_else(|| unknown_column(&after.value, &self.old.name))?
                    + 1,
            ),
        })
    }

    fn in_pk(&self, name: &str) -> bool {
        self.pk.iter().any(|p| p.eq_ignore_ascii_case(name))
    }

    fn add_column(
        &mut self,
        spec: &sqlparser::ast::ColumnDef,
        at: &Option<MySQLColumnPosition>,
        if_not_exists: bool,
    ) -> Result<(), SqlError> {
        if self.position(&spec.name.value).is_some() {
            if if_not_exists {
                return Ok(());
            }
            return Err(dup_column(&spec.name.value));
        }
        let (col, unique) = new_column(spec)?;
        if col.auto_increment {
            return Err(SqlError::unsupported(
                "ALTER TABLE ... ADD an AUTO_INCREMENT column",
            ));
        }
        let at = self.place(at)?.unwrap_or(self.cols.len());
        if unique {
            add_index(&mut self.indexes, None, vec![col.name.clone()], true)?;
        }
        self.cols.insert(at, (col, None));
        self.copy = true;
        Ok(())
    }

    fn drop_column(&mut self, name: &str, if_exists: bool) -> Result<(), SqlError> {
        // As in MySQL, only a column the table had before the statement can go.
        let existing = self.position(name).filter(|&at| self.cols[at].1.is_some());
        let Some(at) = existing else {
            if if_exists {
                return Ok(());
            }
            return Err(cant_drop(name, "column/key"));
        };
        if self.in_pk(name) {
            return Err(SqlError::unsupported(
                "dropping a column of the primary key",
            ));
        }
        if self.cols.len() == 1 {
            return Err(SqlError::new(
                error::ER_CANT_REMOVE_ALL_FIELDS,
                "You can't delete all columns with ALTER TABLE; use DROP TABLE instead",
            ));
        }
        self.cols.remove(at);
        // As MySQL does: the column leaves every index; an index left with no column goes.
        for ix in &mut self.indexes {
            ix.columns.retain(|c| !c.eq_ignore_ascii_case(name));
        }
        self.indexes.retain(|ix| !ix.columns.is_empty());
        self.copy = true;
        Ok(())
    }

    /// `MODIFY col ...` (`from` = `to`) and `CHANGE from to ...`.
    fn change_column(
        &mut self,
        from: &Ident,
        to: &Ident,
        data_type: &sqlparser::ast::DataType,
        options: &[sqlparser::ast::ColumnOption],
        position: &Option<MySQLColumnPosition>,
    ) -> Result<(), SqlError> {
        let at = self
            .position(&from.value)
            .ok_or_else(|| unknown_column(&from.value, &self.old.name))?;
        if !to.value.eq_ignore_ascii_case(&from.value) && self.position(&to.value).is_some() {
            return Err(dup_column(&to.value));
        }
        let spec = sqlparser::ast::ColumnDef {
            name: to.clone(),
            data_type: data_type.clone(),
            options: options
                .iter()
                .map(|o| sqlparser::ast::ColumnOptionDef {
                    name: None,
                    option: o.clone(),
                })
                .collect(),
        };
        let (col, unique) = new_column(&spec)?;
        if self.in_pk(&from.value) && (col.ty != self.cols[at].0.ty || col.nullable) {
            return Err(SqlError::unsupported(
                "changing the type of a primary key column",
            ));
        }
        let (was, source) = self.cols.remove(at);
        let retyped = !(col.ty == was.ty || widens(&was.ty, &col.ty))
            || (was.nullable && !col.nullable)
            || col.auto_increment != was.auto_increment;
        self.copy |= position.is_some() || retyped;
        self.retyped |= retyped;
        rename_in_indexes(&mut self.indexes, &was.name, &col.name);
        if unique {
            add_index(&mut self.indexes, None, vec![col.name.clone()], true)?;
        }
        let to = self.place(position)?.unwrap_or(at);
        self.cols.insert(to, (col, source));
        Ok(())
    }

    fn rename_column(&mut self, from: &str, to: &str) -> Result<(), SqlError> {
        let at = self
            .position(from)
            .ok_or_else(|| unknown_column(from, &self.old.name))?;
        if !to.eq_ignore_ascii_case(from) && self.position(to).is_some() {
            return Err(dup_column(to));
        }
        if self.in_pk(from) {
            return Err(SqlError::unsupported(
                "renaming a column of the primary key",
            ));
        }
        let was = std::mem::replace(&mut self.cols[at].0.name, to.to_string());
        rename_in_indexes(&mut self.indexes, &was, to);
        Ok(())
    }

    fn alter_default(&mut self, column: &str, op: &AlterColumnOperation) -> Result<(), SqlError> {
        let at = self
            .position(column)
            .ok_or_else(|| unknown_column(column, &self.old.name))?;
        let col = &mut self.cols[at].0;
        match op {
            AlterColumnOperation::SetDefault { value } => {
                col.default = Some(dml::default_value(value, &col.ty, &col.name)?);
            }
            AlterColumnOperation::DropDefault => col.default = None,
            other => {
                return Err(SqlError::unsupported(format!(
                    "ALTER TABLE ... ALTER COLUMN ... {other}"
                )))
            }
        }
        Ok(())
    }

    fn add_constraint(&mut self, constraint: &TableConstraint) -> Result<(), SqlError> {
        match constraint {
            TableConstraint::Index(ix) => add_index(
                &mut self.indexes,
                ix.name.as_ref().map(|n| n.value.clone()),
                index_columns(&ix.columns),
                false,
            ),
            TableConstraint::Unique(u) => add_index(
                &mut self.indexes,
                u.index_name
                    .as_ref()
                    .or(u.name.as_ref())
                    .map(|n| n.value.clone()),
                index_columns(&u.columns),
                true,
            ),
            TableConstraint::PrimaryKey(_) => Err(SqlError::unsupported(
                "ALTER TABLE ... ADD PRIMARY KEY (a table's key is fixed when it is created)",
            )),
            other => Err(SqlError::unsupported(format!(
                "ALTER TABLE ... ADD {other} (foreign keys and CHECK constraints)"
            ))),
        }
    }

    /// The new definition, with names resolved to the new slots.
    fn finish(self) -> Result<AlterPlan, SqlError> {
        let columns: Vec<ColumnDef> = self.cols.iter().map(|(c, _)| c.clone()).collect();
        let slot = |name: &String| -> Result<usize, SqlError> {
            columns
                .iter()
                .position(|c| c.name.eq_ignore_ascii_case(name))
                .ok_or_else(|| {
                    SqlError::new(
                        error::ER_KEY_COLUMN_DOES_NOT_EXITS,
                        format!("Key column '{name}' doesn't exist in table"),
                    )
                })
        };
        let pk = self.pk.iter().map(slot).collect::<Result<Vec<_>, _>>()?;
        let mut indexes = Vec::with_capacity(self.indexes.len());
        for ix in self.indexes {
            let cols = ix.columns.iter().map(slot).collect::<Result<Vec<_>, _>>()?;
            // An index that lost a column is rebuilt, as a new one.
            let id = if cols.len() == ix.def.columns.len() {
                ix.def.id
            } else {
                TabletId(0)
            };
            indexes.push(IndexDef {
                columns: cols,
                id,
                ..ix.def
            });
        }
        Ok(AlterPlan {
            def: TableDef {
                columns,
                pk,
                indexes,
                ..self.old.clone()
            },
            sources: self.cols.iter().map(|(_, s)| *s).collect(),
            copy: self.copy,
            retyped: self.retyped,
        })
    }
}

/// Whether a column of type `from` may become `to` without touching stored values: a longer
/// VARCHAR or VARBINARY of the same kind (MySQL does this in place too).
fn widens(from: &ColumnType, to: &ColumnType) -> bool {
    match (from, to) {
        (
            ColumnType::String {
                len_chars: a,
                fixed: false,
                collation: ca,
            },
            ColumnType::String {
                len_chars: b,
                fixed: false,
                collation: cb,
            },
        ) => ca == cb && b >= a,
        (
            ColumnType::Binary {
                len_bytes: a,
                fixed: false,
            },
            ColumnType::Binary {
                len_bytes: b,
                fixed: false,
            },
        ) => b >= a,
        _ => false,
    }
}

fn new_column(spec: &sqlparser::ast::ColumnDef) -> Result<(ColumnDef, bool), SqlError> {
    let mut pk = Vec::new();
    let mut unique = false;
    let col = dml::column_def(spec, &mut pk, &mut unique, 0)?;
    if !pk.is_empty() {
        return Err(SqlError::unsupported(
            "ALTER TABLE ... PRIMARY KEY (a table's key is fixed when it is created)",
        ));
    }
    Ok((col, unique))
}

fn index_columns(cols: &[sqlparser::ast::IndexColumn]) -> Vec<String> {
    cols.iter()
        .map(|ic| ic.column.expr.to_string().trim_matches('`').to_string())
        .collect()
}

fn add_index(
    indexes: &mut Vec<WorkIndex>,
    name: Option<String>,
    columns: Vec<String>,
    unique: bool,
) -> Result<(), SqlError> {
    let defs: Vec<IndexDef> = indexes.iter().map(|i| i.def.clone()).collect();
    let name = match name {
        Some(n)
            if n.eq_ignore_ascii_case("PRIMARY")
                || defs.iter().any(|i| i.name.eq_ignore_ascii_case(&n)) =>
        {
            return Err(SqlError::new(
                error::ER_DUP_KEYNAME,
                format!("Duplicate key name '{n}'"),
            ))
        }
        Some(n) => n,
        None => dml::index_name_for(&defs, columns.first().map_or("", String::as_str)),
    };
    indexes.push(WorkIndex {
        def: IndexDef {
            name,
            id: TabletId(0),
            columns: Vec::new(),
            state: IndexState::Public,
            unique,
        },
        columns,
    });
    Ok(())
}

fn rename_in_indexes(indexes: &mut [WorkIndex], from: &str, to: &str) {
    for ix in indexes {
        for c in &mut ix.columns {
            if c.eq_ignore_ascii_case(from) {
                *c = to.to_string();
            }
        }
    }
}

fn unknown_column(name: &str, table: &str) -> SqlError {
    SqlError::new(
        error::ER_BAD_FIELD_ERROR,
        format!("Unknown column '{name}' in '{table}'"),
    )
}

fn dup_column(name: &str) -> SqlError {
    SqlError::new(
        error::ER_DUP_FIELDNAME,
        format!("Duplicate column name '{name}'"),
    )
}

fn cant_drop(name: &str, what: &str) -> SqlError {
    SqlError::new(
        error::ER_CANT_DROP_FIELD_OR_KEY,
        format!("Can't DROP '{name}'; check that {what} exists"),
    )
}

/// The value a new NOT NULL column without a DEFAULT takes in existing rows: MySQL's
/// implicit default for its type.
fn implicit_default(col: &ColumnDef) -> Result<Datum, SqlError> {
    Ok(match col.ty {
        ColumnType::Int { .. }
        | ColumnType::Decimal { .. }
        | ColumnType::Float
        | ColumnType::Double => Datum::Int(0),
        ColumnType::String { .. } => Datum::str(""),
        ColumnType::Binary { .. } => Datum::Bytes(Vec::new()),
        ColumnType::Date | ColumnType::DateTime { .. } | ColumnType::Timestamp { .. } => {
            return Err(SqlError::unsupported(format!(
                "adding NOT NULL temporal column '{}' without a DEFAULT to a table with rows",
                col.name
            )))
        }
    })
}

/// Rows per transaction of a copy.
const COPY_BATCH_ROWS: usize = 1000;

/// Copies every row of `old` into `new`'s tablets (already created and empty), column
/// `j` of `new` taking old column `sources[j]` (converted to its type) or its default.
/// The caller holds the table exclusively, so the rows do not change meanwhile. Returns the
/// number of rows copied.
pub(crate) fn copy_rows(
    engine: &SqlEngine,
    old: &TableDef,
    new: &TableDef,
    sources: &[Option<usize>],
) -> Result<u64, SqlError> {
    let from = engine.tablet_of(old)?;
    let to = engine.tablet_of(new)?;
    // A new column's value in existing rows (an error only once a row needs it).
    let defaults: Vec<Result<Datum, SqlError>> = new
        .columns
        .iter()
        .zip(sources)
        .map(|(c, s)| match (s, &c.default) {
            (Some(_), _) => Ok(Datum::Null),
            (None, Some(d)) => Ok(d.clone()),
            (None, None) if c.nullable => Ok(Datum::Null),
            (None, None) => implicit_default(c),
        })
        .collect();
    let mut after: Option<Vec<u8>> = None;
    let mut done = 0u64;
    loop {
        let mut txn = engine.txns.begin(TxnOptions::default());
        txn.begin_statement()?;
        let lo = after.clone().map_or(Bound::Unbounded, Bound::Excluded);
        let batch: Vec<(Vec<u8>, Arc<[u8]>)> = txn
            .scan(&from, (lo, Bound::Unbounded))?
            .take(COPY_BATCH_ROWS)
            .collect::<Result<_, _>>()?;
        for (key, row) in &batch {
            let old_row = dml::decode(old, row)?;
            let mut datums = Vec::with_capacity(new.columns.len());
            for (j, c) in new.columns.iter().enumerate() {
                let d = match sources[j] {
                    Some(i) => old_row[i].clone(),
                    None => defaults[j].clone()?,
                };
                if d.is_null() && !c.nullable {
                    return Err(SqlError::new(
                        error::ER_INVALID_USE_OF_NULL,
                        format!("Invalid use of NULL value (column '{}')", c.name),
                    ));
                }
                datums.push(d);
            }
            let values = dml::stored(new, &datums)?;
            let new_key = if new.pk.is_empty() {
                key.clone()
            } else {
                dml::key_of(new, &values, None)?
            };
            if let Some(conflict) =
                dml::insert_row(engine, &mut txn, (new, &to), &new_key, &values)?
            {
                return Err(conflict.error.into());
            }
            done += 1;
            if done.is_multiple_of(100_000) {
                tracing::info!(table = %old.name, rows = done, "ALTER TABLE copying rows");
            }
        }
        txn.commit()?;
        match batch.last() {
            Some((k, _)) if batch.len() == COPY_BATCH_ROWS => after = Some(k.clone()),
            _ => return Ok(done),
        }
    }
}
