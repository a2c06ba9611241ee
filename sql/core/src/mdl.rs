//! Metadata locks: table-level locks that statements, transactions, `LOCK TABLES` and DDL
//! take on the tables they use, in the manner of MySQL's metadata locking (MySQL 8.0
//! reference manual, "Metadata Locking" and "LOCK TABLES and UNLOCK TABLES Statements").
//!
//! Rows are protected by the transaction layer's row locks and MVCC; these locks protect
//! whole tables. A transaction holds `Read` on every table it has read and `Write` on every
//! table it has changed until it ends, so `LOCK TABLES t READ` waits for transactions that
//! wrote `t` and then keeps writers out until `UNLOCK TABLES`, and `LOCK TABLES t WRITE`
//! keeps every other session away from `t`.
//!
//! The locks are this node's: the node is the only writer of its tables while there is one
//! replica per log stream. When tables are served by several nodes they have to move to a
//! lock service beside the catalog.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use reef_common::error;
use sqlparser::ast::{visit_relations, FromTable, ObjectName, Statement, TableFactor, TableObject};

use crate::SqlError;

/// A table, by lower-cased database and table name (table names resolve without regard
/// to case).
pub type TableKey = (String, String);

/// The key of table `table` of database `db`.
pub fn table_key(db: &str, table: &str) -> TableKey {
    (db.to_ascii_lowercase(), table.to_ascii_lowercase())
}

/// The key DDL statements on table `table` hold exclusively for their whole run, so two of
/// them never interleave (an online index build holds it, not the table's own key, while it
/// backfills). It cannot collide with a table's key: database names never start with NUL.
pub fn ddl_key(db: &str, table: &str) -> TableKey {
    let (d, t) = table_key(db, table);
    (format!("\0ddl:{d}"), t)
}

/// How a table is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MdlMode {
    /// A transaction read the table (MySQL's SHARED_READ).
    Read,
    /// A transaction changed the table (SHARED_WRITE).
    Write,
    /// `LOCK TABLES ... READ`: readers only (SHARED_READ_ONLY).
    ReadOnly,
    /// `LOCK TABLES ... WRITE` and DDL: nobody else (EXCLUSIVE).
    Exclusive,
}

impl MdlMode {
    /// Whether another owner may hold `other` while one holds `self`.
    fn compatible(self, other: MdlMode) -> bool {
        use MdlMode::*;
        !matches!(
            (self, other),
            (Exclusive, _) | (_, Exclusive) | (Write, ReadOnly) | (ReadOnly, Write)
        )
    }

    /// Whether holding `self` already grants what `wanted` asks for.
    pub fn covers(self, wanted: MdlMode) -> bool {
        use MdlMode::*;
        match self {
            Exclusive => true,
            Write => matches!(wanted, Read | Write),
            ReadOnly => matches!(wanted, Read | ReadOnly),
            Read => wanted == Read,
        }
    }
}

#[derive(Debug)]
struct Holder {
    owner: u32,
    mode: MdlMode,
    count: u32,
}

/// The node's metadata locks.
#[derive(Debug, Default)]
pub struct MetadataLocks {
    held: Mutex<HashMap<TableKey, Vec<Holder>>>,
    released: Condvar,
}

impl MetadataLocks {
    /// Takes `mode` on `table` for `owner` (a connection id), waiting up to `timeout` for
    /// other owners' incompatible locks to go; 1205 if they do not.
    pub fn acquire(
        &self,
        owner: u32,
        table: &TableKey,
        mode: MdlMode,
        timeout: Duration,
    ) -> Result<(), SqlError> {
        let deadline = Instant::now() + timeout;
        let mut held = self.held.lock();
        loop {
            let Some(holders) = held.get_mut(table) else {
                held.insert(
                    table.clone(),
                    vec![Holder {
                        owner,
                        mode,
                        count: 1,
                    }],
                );
                return Ok(());
            };
            let blocked = holders
                .iter()
                .any(|h| h.owner != owner && !h.mode.compatible(mode));
            if !blocked {
                match holders
                    .iter_mut()
                    .find(|h| h.owner == owner && h.mode == mode)
                {
                    Some(h) => h.count += 1,
                    None => holders.push(Holder {
                        owner,
                        mode,
                        count: 1,
                    }),
                }
                return Ok(());
            }
            if self.released.wait_until(&mut held, deadline).timed_out() {
                return Err(SqlError::new(
                    error::ER_LOCK_WAIT_TIMEOUT,
                    format!(
                        "Lock wait timeout exceeded; try restarting transaction \
                         (waiting for a metadata lock on `{}`.`{}`)",
                        table.0, table.1
                    ),
                ));
            }
        }
    }

    /// Takes every lock of `wanted` (in its order) or none: on a failure those already
    /// taken are given back.
    pub fn acquire_all(
        &self,
        owner: u32,
        wanted: &[(TableKey, MdlMode)],
        timeout: Duration,
    ) -> Result<(), SqlError> {
        for (i, (k, m)) in wanted.iter().enumerate() {
            if let Err(e) = self.acquire(owner, k, *m, timeout) {
                for (k, m) in &wanted[..i] {
                    self.release(owner, k, *m);
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// Gives back one `mode` lock of `owner` on `table`.
    pub fn release(&self, owner: u32, table: &TableKey, mode: MdlMode) {
        let mut held = self.held.lock();
        if let Some(holders) = held.get_mut(table) {
            if let Some(i) = holders
                .iter()
                .position(|h| h.owner == owner && h.mode == mode)
            {
                holders[i].count -= 1;
                if holders[i].count == 0 {
                    holders.swap_remove(i);
                }
            }
            if holders.is_empty() {
                held.remove(table);
            }
        }
        drop(held);
        self.released.notify_all();
    }

    /// Gives back every lock `owner` holds (its connection closed).
    pub fn release_owner(&self, owner: u32) {
        let mut held = self.held.lock();
        held.retain(|_, holders| {
            holders.retain(|h| h.owner != owner);
            !holders.is_empty()
        });
        drop(held);
        self.released.notify_all();
    }

    /// Owners and modes holding `table`, for views and tests.
    pub fn holders(&self, table: &TableKey) -> Vec<(u32, MdlMode)> {
        self.held
            .lock()
            .get(table)
            .map(|hs| hs.iter().map(|h| (h.owner, h.mode)).collect())
            .unwrap_or_default()
    }
}

/// The tables `stmt` uses and how: the table it changes (and every table of a locking read)
/// `Write`, the others `Read`, sorted so that statements take them in one order.
/// `information_schema` and names that do not resolve (CTE names, a missing database) are
/// left out; the statement reports those itself.
pub(crate) fn statement_tables(stmt: &Statement, db: Option<&str>) -> Vec<(TableKey, MdlMode)> {
    if let Statement::Explain { statement, .. } = stmt {
        // EXPLAIN ANALYZE reads what its statement reads.
        return statement_tables(statement, db);
    }
    let query = match stmt {
        Statement::Query(q) => Some(q.as_ref()),
        Statement::Insert(i) => i.source.as_deref(),
        _ => None,
    };
    let ctes: Vec<&str> = query
        .and_then(|q| q.with.as_ref())
        .map(|w| {
            w.cte_tables
                .iter()
                .map(|c| c.alias.name.value.as_str())
                .collect()
        })
        .unwrap_or_default();
    let target: Option<&ObjectName> = match stmt {
        Statement::Insert(i) => match &i.table {
            TableObject::TableName(n) => Some(n),
            _ => None,
        },
        Statement::Update(u) => match &u.table.relation {
            TableFactor::Table { name, .. } => Some(name),
            _ => None,
        },
        Statement::Delete(d) => match &d.from {
            FromTable::WithFromKeyword(v) | FromTable::WithoutKeyword(v) => {
                v.first().and_then(|t| match &t.relation {
                    TableFactor::Table { name, .. } => Some(name),
                    _ => None,
                })
            }
        },
        _ => None,
    };
    let locking_read = matches!(stmt, Statement::Query(q) if !q.locks.is_empty());
    let key = |n: &ObjectName| -> Option<TableKey> {
        let (d, t) = crate::dml::table_name(n, db).ok()?;
        let k = table_key(&d, &t);
        let cte = n.0.len() == 1 && ctes.iter().any(|c| c.eq_ignore_ascii_case(&k.1));
        (!cte && !k.0.eq_ignore_ascii_case("information_schema")).then_some(k)
    };
    let mut out: Vec<(TableKey, MdlMode)> = Vec::new();
    if let Some(k) = target.and_then(key) {
        merge(&mut out, k, MdlMode::Write);
    }
    let _ = visit_relations(stmt, |n| {
        if let Some(k) = key(n) {
            merge(
                &mut out,
                k,
                if locking_read {
                    MdlMode::Write
                } else {
                    MdlMode::Read
                },
            );
        }
        ControlFlow::<()>::Continue(())
    });
    out.sort();
    out
}

/// Adds `k` in mode `m` to a lock list, keeping one entry per table in the stronger mode.
pub(crate) fn merge(out: &mut Vec<(TableKey, MdlMode)>, k: TableKey, m: MdlMode) {
    match out.iter_mut().find(|(o, _)| *o == k) {
        Some((_, have)) => *have = (*have).max(m),
        None => out.push((k, m)),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn key(t: &str) -> TableKey {
        ("d".into(), t.into())
    }

    const SHORT: Duration = Duration::from_millis(30);

    #[test]
    fn modes_conflict_as_mysql_documents() {
        use MdlMode::*;
        let all = [Read, Write, ReadOnly, Exclusive];
        // MySQL's compatibility matrix for these four: held (rows) against requested.
        let matrix = [
            [true, true, true, false],
            [true, true, false, false],
            [true, false, true, false],
            [false, false, false, false],
        ];
        let expect = |a: MdlMode, b: MdlMode| {
            let at = |m| all.iter().position(|x| *x == m).unwrap();
            matrix[at(a)][at(b)]
        };
        for a in all {
            for b in all {
                let m = MetadataLocks::default();
                m.acquire(1, &key("t"), a, SHORT).unwrap();
                let got = m.acquire(2, &key("t"), b, SHORT).is_ok();
                assert_eq!(got, expect(a, b), "{a:?} then {b:?}");
                // One owner never blocks itself.
                m.acquire(1, &key("t"), b, SHORT).unwrap();
            }
        }
    }

    #[test]
    fn a_waiter_gets_the_lock_when_the_holder_releases() {
        let m = Arc::new(MetadataLocks::default());
        m.acquire(1, &key("t"), MdlMode::Write, SHORT).unwrap();
        m.acquire(1, &key("t"), MdlMode::Write, SHORT).unwrap();
        let m2 = m.clone();
        let waiter = std::thread::spawn(move || {
            m2.acquire(2, &key("t"), MdlMode::ReadOnly, Duration::from_secs(10))
        });
        std::thread::sleep(Duration::from_millis(50));
        m.release(1, &key("t"), MdlMode::Write);
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            !waiter.is_finished(),
            "one of two Write locks is still held"
        );
        m.release(1, &key("t"), MdlMode::Write);
        waiter.join().unwrap().unwrap();
        assert_eq!(m.holders(&key("t")), [(2, MdlMode::ReadOnly)]);
        let err = m.acquire(3, &key("t"), MdlMode::Write, SHORT).unwrap_err();
        assert_eq!(err.code.errno, 1205);
        m.release_owner(2);
        m.acquire(3, &key("t"), MdlMode::Write, SHORT).unwrap();
        assert!(m.holders(&key("u")).is_empty());
    }

    #[test]
    fn statements_name_their_tables_and_how_they_use_them() {
        use MdlMode::*;
        let tables = |sql: &str| {
            let stmt = crate::session::parse(sql).unwrap().remove(0);
            statement_tables(&stmt, Some("d"))
                .into_iter()
                .map(|((d, t), m)| (format!("{d}.{t}"), m))
                .collect::<Vec<_>>()
        };
        let s = |t: &str, m| (t.to_string(), m);
        assert_eq!(tables("select * from t where id = 1"), [s("d.t", Read)]);
        assert_eq!(
            tables("insert into t select * from u join e.v on 1"),
            [s("d.t", Write), s("d.u", Read), s("e.v", Read)]
        );
        assert_eq!(
            tables("update t set a = (select max(a) from u)"),
            [s("d.t", Write), s("d.u", Read)]
        );
        assert_eq!(
            tables("delete from t where a in (select a from t)"),
            [s("d.t", Write)]
        );
        assert_eq!(tables("select * from t for update"), [s("d.t", Write)]);
        assert_eq!(
            tables("with c as (select * from t) select * from c, information_schema.tables"),
            [s("d.t", Read)]
        );
    }
}
