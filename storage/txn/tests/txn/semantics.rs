//! Deterministic tests of isolation, locking and rollback semantics.

use std::ops::Bound;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reef_storage::fs::RealFs;
use reef_txn::txn::{Isolation, LockMode, Locked, TxnOptions, WaitPolicy};
use reef_txn::TxnError;

use crate::common::*;

fn node() -> (tempfile::TempDir, Node) {
    let dir = tempfile::tempdir().unwrap();
    let n = Node::open(Arc::new(RealFs), dir.path(), 1);
    (dir, n)
}

fn opts(isolation: Isolation) -> TxnOptions {
    TxnOptions {
        isolation,
        lock_wait_timeout: Duration::from_secs(10),
        ..TxnOptions::default()
    }
}

fn quick() -> TxnOptions {
    TxnOptions {
        lock_wait_timeout: Duration::from_millis(150),
        ..TxnOptions::default()
    }
}

/// Commits `id = v` in a transaction of its own.
fn set(n: &Node, id: i64, v: i64) {
    let mut t = n.mgr.begin(TxnOptions::default());
    t.begin_statement().unwrap();
    t.put(n.t(0), &key(id), row(id, v)).unwrap();
    t.commit().unwrap();
}

fn read(n: &Node, t: &mut reef_txn::txn::Transaction, id: i64) -> Option<i64> {
    t.get(n.t(0), &key(id)).unwrap().map(|r| val(&r))
}

#[test]
fn commits_are_visible_and_rollbacks_and_drops_vanish() {
    let (_d, n) = node();
    set(&n, 1, 10);
    let mut t = n.mgr.begin(TxnOptions::default());
    t.begin_statement().unwrap();
    t.put(n.t(0), &key(2), row(2, 20)).unwrap();
    t.rollback();
    {
        let mut t = n.mgr.begin(TxnOptions::default());
        t.begin_statement().unwrap();
        t.put(n.t(0), &key(3), row(3, 30)).unwrap();
        // dropped: a disconnected session
    }
    let mut r = n.mgr.begin(TxnOptions::default());
    r.begin_statement().unwrap();
    assert_eq!(read(&n, &mut r, 1), Some(10));
    assert_eq!(read(&n, &mut r, 2), None);
    assert_eq!(read(&n, &mut r, 3), None);
    assert!(n.mgr.open_transactions().iter().all(|i| i.id == r.id()));
}

#[test]
fn repeatable_read_keeps_its_snapshot_and_read_committed_does_not() {
    let (_d, n) = node();
    set(&n, 1, 1);
    let mut rr = n.mgr.begin(opts(Isolation::RepeatableRead));
    let mut rc = n.mgr.begin(opts(Isolation::ReadCommitted));
    rr.begin_statement().unwrap();
    rc.begin_statement().unwrap();
    assert_eq!(read(&n, &mut rr, 1), Some(1));
    assert_eq!(read(&n, &mut rc, 1), Some(1));
    set(&n, 1, 2);
    rr.begin_statement().unwrap();
    rc.begin_statement().unwrap();
    assert_eq!(
        read(&n, &mut rr, 1),
        Some(1),
        "REPEATABLE READ re-read changed"
    );
    assert_eq!(
        read(&n, &mut rc, 1),
        Some(2),
        "READ COMMITTED missed a commit"
    );
    // A locking read under REPEATABLE READ acts on the latest committed version.
    let got = rr
        .get_locked(n.t(0), &key(1), LockMode::Exclusive, WaitPolicy::Wait)
        .unwrap();
    assert_eq!(got, Locked::Row(Some(row(1, 2))));
}

#[test]
fn consistent_snapshot_is_taken_at_start() {
    let (_d, n) = node();
    set(&n, 1, 1);
    let mut t = n.mgr.begin(TxnOptions {
        consistent_snapshot: true,
        ..TxnOptions::default()
    });
    set(&n, 1, 2);
    t.begin_statement().unwrap();
    assert_eq!(read(&n, &mut t, 1), Some(1));
}

#[test]
fn concurrent_read_modify_writes_wait_and_lose_no_update() {
    let (_d, n) = node();
    set(&n, 1, 0);
    let n = Arc::new(n);
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let n = n.clone();
            std::thread::spawn(move || {
                for _ in 0..50 {
                    let mut t = n.mgr.begin(opts(Isolation::RepeatableRead));
                    t.begin_statement().unwrap();
                    let Locked::Row(Some(r)) = t
                        .get_locked(n.t(0), &key(1), LockMode::Exclusive, WaitPolicy::Wait)
                        .unwrap()
                    else {
                        panic!("row vanished")
                    };
                    t.put(n.t(0), &key(1), row(1, val(&r) + 1)).unwrap();
                    t.commit().unwrap();
                }
            })
        })
        .collect();
    for th in threads {
        th.join().unwrap();
    }
    let mut t = n.mgr.begin(TxnOptions::default());
    t.begin_statement().unwrap();
    assert_eq!(read(&n, &mut t, 1), Some(400));
}

#[test]
fn lock_wait_times_out_with_1205_and_the_transaction_goes_on() {
    let (_d, n) = node();
    set(&n, 1, 1);
    let mut holder = n.mgr.begin(TxnOptions::default());
    holder.begin_statement().unwrap();
    holder.put(n.t(0), &key(1), row(1, 2)).unwrap();
    let mut waiter = n.mgr.begin(quick());
    waiter.begin_statement().unwrap();
    waiter.put(n.t(0), &key(2), row(2, 2)).unwrap();
    waiter.begin_statement().unwrap();
    let start = Instant::now();
    let err = waiter.put(n.t(0), &key(1), row(1, 3)).unwrap_err();
    assert!(matches!(err, TxnError::LockWaitTimeout), "{err}");
    assert!(start.elapsed() >= Duration::from_millis(150));
    assert_eq!(reef_common::error::MysqlError::code(&err).errno, 1205);
    waiter.statement_failed();
    waiter.commit().unwrap();
    holder.commit().unwrap();
    let mut r = n.mgr.begin(TxnOptions::default());
    r.begin_statement().unwrap();
    assert_eq!(read(&n, &mut r, 1), Some(2));
    assert_eq!(
        read(&n, &mut r, 2),
        Some(2),
        "the statement before the timeout stays"
    );
}

#[test]
fn a_deadlock_is_detected_at_once_and_one_side_rolls_back() {
    let (_d, n) = node();
    set(&n, 1, 0);
    set(&n, 2, 0);
    let n = Arc::new(n);
    let mut a = n.mgr.begin(opts(Isolation::RepeatableRead));
    let mut b = n.mgr.begin(opts(Isolation::RepeatableRead));
    a.begin_statement().unwrap();
    b.begin_statement().unwrap();
    a.put(n.t(0), &key(1), row(1, 1)).unwrap();
    b.put(n.t(0), &key(2), row(2, 2)).unwrap();
    let n2 = n.clone();
    let start = Instant::now();
    let th = std::thread::spawn(move || {
        a.begin_statement().unwrap();
        let r = a.put(n2.t(0), &key(2), row(2, 1));
        (a, r)
    });
    // Wait until `a` is registered as waiting, then close the cycle.
    until_someone_waits(&n);
    b.begin_statement().unwrap();
    let err = b.put(n.t(0), &key(1), row(1, 2)).unwrap_err();
    assert!(matches!(err, TxnError::Deadlock), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "detection waited for a timeout"
    );
    let code = reef_common::error::MysqlError::code(&err);
    assert_eq!((code.errno, code.sqlstate), (1213, "40001"));
    // The victim was rolled back, so `a` gets the lock and commits.
    let (a, r) = th.join().unwrap();
    r.unwrap();
    a.commit().unwrap();
    assert!(matches!(b.commit(), Err(TxnError::NotActive(_))));
}

#[test]
fn nowait_fails_at_once_and_skip_locked_skips() {
    let (_d, n) = node();
    set(&n, 1, 1);
    set(&n, 2, 2);
    let mut holder = n.mgr.begin(TxnOptions::default());
    holder.begin_statement().unwrap();
    holder
        .get_locked(n.t(0), &key(1), LockMode::Exclusive, WaitPolicy::Wait)
        .unwrap();
    let mut t = n.mgr.begin(TxnOptions::default());
    t.begin_statement().unwrap();
    let err = t
        .get_locked(n.t(0), &key(1), LockMode::Exclusive, WaitPolicy::NoWait)
        .unwrap_err();
    assert_eq!(reef_common::error::MysqlError::code(&err).errno, 3572);
    assert_eq!(
        t.get_locked(n.t(0), &key(1), LockMode::Exclusive, WaitPolicy::SkipLocked)
            .unwrap(),
        Locked::Skipped
    );
    assert_eq!(
        t.get_locked(n.t(0), &key(2), LockMode::Exclusive, WaitPolicy::SkipLocked)
            .unwrap(),
        Locked::Row(Some(row(2, 2)))
    );
    // A lock-only read changes nothing at commit.
    holder.commit().unwrap();
    t.commit().unwrap();
    let mut r = n.mgr.begin(TxnOptions::default());
    r.begin_statement().unwrap();
    assert_eq!(read(&n, &mut r, 1), Some(1));
}

#[test]
fn shared_locks_share_and_block_writers() {
    let (_d, n) = node();
    set(&n, 1, 1);
    let mut s1 = n.mgr.begin(TxnOptions::default());
    let mut s2 = n.mgr.begin(TxnOptions::default());
    s1.begin_statement().unwrap();
    s2.begin_statement().unwrap();
    assert_eq!(
        s1.get_locked(n.t(0), &key(1), LockMode::Shared, WaitPolicy::NoWait)
            .unwrap(),
        Locked::Row(Some(row(1, 1)))
    );
    assert_eq!(
        s2.get_locked(n.t(0), &key(1), LockMode::Shared, WaitPolicy::NoWait)
            .unwrap(),
        Locked::Row(Some(row(1, 1)))
    );
    let mut w = n.mgr.begin(quick());
    w.begin_statement().unwrap();
    assert!(matches!(
        w.put(n.t(0), &key(1), row(1, 9)),
        Err(TxnError::LockWaitTimeout)
    ));
    w.statement_failed();
    s1.commit().unwrap();
    w.begin_statement().unwrap();
    assert!(matches!(
        w.put(n.t(0), &key(1), row(1, 9)),
        Err(TxnError::LockWaitTimeout)
    ));
    w.statement_failed();
    s2.rollback();
    w.begin_statement().unwrap();
    w.put(n.t(0), &key(1), row(1, 9)).unwrap();
    // Now a shared request waits for the writer.
    let mut s3 = n.mgr.begin(quick());
    s3.begin_statement().unwrap();
    assert!(matches!(
        s3.get_locked(n.t(0), &key(1), LockMode::Shared, WaitPolicy::Wait),
        Err(TxnError::LockWaitTimeout)
    ));
    w.commit().unwrap();
    assert_eq!(
        s3.get_locked(n.t(0), &key(1), LockMode::Shared, WaitPolicy::Wait)
            .unwrap(),
        Locked::Row(Some(row(1, 9)))
    );
}

#[test]
fn serializable_reads_take_shared_locks() {
    let (_d, n) = node();
    set(&n, 1, 1);
    let mut s = n.mgr.begin(opts(Isolation::Serializable));
    s.begin_statement().unwrap();
    assert_eq!(read(&n, &mut s, 1), Some(1));
    let mut w = n.mgr.begin(quick());
    w.begin_statement().unwrap();
    assert!(matches!(
        w.put(n.t(0), &key(1), row(1, 2)),
        Err(TxnError::LockWaitTimeout)
    ));
}

/// The ids a range read of `lo..=hi` returns in `t`.
fn ids_in(n: &Node, t: &mut reef_txn::txn::Transaction, lo: i64, hi: i64) -> Vec<i64> {
    let range = (Bound::Included(key(lo)), Bound::Included(key(hi)));
    t.scan(n.t(0), range)
        .unwrap()
        .map(|r| id_of(&r.unwrap().1))
        .collect()
}

/// Waits (bounded) until some transaction is in a lock wait.
fn until_someone_waits(n: &Node) {
    let start = Instant::now();
    while !n
        .mgr
        .open_transactions()
        .iter()
        .any(|i| i.state == "LOCK WAIT")
    {
        assert!(start.elapsed() < Duration::from_secs(5), "nobody waited");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_serializable_range_read_locks_its_range_against_writers() {
    let (_d, n) = node();
    set(&n, 1, 1);
    set(&n, 5, 5);
    let mut s = n.mgr.begin(opts(Isolation::Serializable));
    s.begin_statement().unwrap();
    assert_eq!(ids_in(&n, &mut s, 1, 10), vec![1, 5]);
    let mut w = n.mgr.begin(quick());
    w.begin_statement().unwrap();
    // A phantom insert, an update of a row read and a delete all wait for the reader.
    for (id, op) in [(3, "insert"), (5, "update"), (1, "delete")] {
        let r = match op {
            "insert" => w.insert(n.t(0), &key(id), row(id, 0), dup),
            "update" => w.put(n.t(0), &key(id), row(id, 0)),
            _ => w.delete(n.t(0), &key(id)),
        };
        assert!(matches!(r, Err(TxnError::LockWaitTimeout)), "{op}: {r:?}");
        w.statement_failed();
        w.begin_statement().unwrap();
    }
    // Outside the range nothing waits.
    w.insert(n.t(0), &key(20), row(20, 0), dup).unwrap();
    // The reader's own writes in its range go through, and it sees the same rows again.
    s.begin_statement().unwrap();
    s.insert(n.t(0), &key(4), row(4, 4), dup).unwrap();
    s.begin_statement().unwrap();
    assert_eq!(ids_in(&n, &mut s, 1, 10), vec![1, 4, 5]);
    s.commit().unwrap();
    w.begin_statement().unwrap();
    w.insert(n.t(0), &key(3), row(3, 3), dup).unwrap();
    w.commit().unwrap();
}

#[test]
fn a_serializable_range_read_waits_for_writers_in_its_range() {
    let (_d, n) = node();
    set(&n, 1, 1);
    let n = Arc::new(n);
    let mut w = n.mgr.begin(TxnOptions::default());
    w.begin_statement().unwrap();
    w.insert(n.t(0), &key(3), row(3, 3), dup).unwrap();
    // An uncommitted insert in the range: the range read waits for it.
    let mut quick_reader = n.mgr.begin(TxnOptions {
        isolation: Isolation::Serializable,
        ..quick()
    });
    quick_reader.begin_statement().unwrap();
    let range = (Bound::Included(key(0)), Bound::Included(key(9)));
    assert!(matches!(
        quick_reader.scan(n.t(0), range),
        Err(TxnError::LockWaitTimeout)
    ));
    // A reader that waits long enough reads the range after the writer committed, row
    // and all, although its statement began before the commit.
    let n2 = n.clone();
    let th = std::thread::spawn(move || {
        let mut s = n2.mgr.begin(opts(Isolation::Serializable));
        s.begin_statement().unwrap();
        let ids = ids_in(&n2, &mut s, 0, 9);
        s.commit().unwrap();
        ids
    });
    until_someone_waits(&n);
    w.commit().unwrap();
    assert_eq!(th.join().unwrap(), vec![1, 3]);
}

#[test]
fn serializable_check_then_insert_races_end_in_a_deadlock_not_a_phantom() {
    // Two bookings of one room: each counts the room's rows and inserts if there are none.
    // Under SERIALIZABLE exactly one may succeed.
    let (_d, n) = node();
    let n = Arc::new(n);
    let mut a = n.mgr.begin(opts(Isolation::Serializable));
    let mut b = n.mgr.begin(opts(Isolation::Serializable));
    a.begin_statement().unwrap();
    b.begin_statement().unwrap();
    assert!(ids_in(&n, &mut a, 100, 199).is_empty());
    assert!(ids_in(&n, &mut b, 100, 199).is_empty());
    let n2 = n.clone();
    let th = std::thread::spawn(move || {
        a.begin_statement().unwrap();
        let r = a.insert(n2.t(0), &key(101), row(101, 1), dup);
        (a, r)
    });
    until_someone_waits(&n);
    b.begin_statement().unwrap();
    let err = b.insert(n.t(0), &key(102), row(102, 2), dup).unwrap_err();
    assert!(matches!(err, TxnError::Deadlock), "{err}");
    let (a, r) = th.join().unwrap();
    r.unwrap();
    a.commit().unwrap();
    let mut r = n.mgr.begin(TxnOptions::default());
    r.begin_statement().unwrap();
    assert_eq!(ids_in(&n, &mut r, 100, 199), vec![101]);
}

fn dup() -> (String, String) {
    ("1".into(), "PRIMARY".into())
}

#[test]
fn concurrent_inserts_of_one_key_wait_then_1062_or_succeed() {
    for winner_commits in [true, false] {
        let (_d, n) = node();
        let n = Arc::new(n);
        let mut first = n.mgr.begin(TxnOptions::default());
        first.begin_statement().unwrap();
        first.insert(n.t(0), &key(1), row(1, 1), dup).unwrap();
        let n2 = n.clone();
        let second = std::thread::spawn(move || {
            let mut t = n2.mgr.begin(TxnOptions::default());
            t.begin_statement().unwrap();
            let r = t.insert(n2.t(0), &key(1), row(1, 2), dup);
            (t, r)
        });
        until_someone_waits(&n);
        if winner_commits {
            first.commit().unwrap();
        } else {
            first.rollback();
        }
        let (t, r) = second.join().unwrap();
        if winner_commits {
            let err = r.unwrap_err();
            assert_eq!(err.to_string(), "Duplicate entry '1' for key 'PRIMARY'");
            t.rollback();
        } else {
            r.unwrap();
            t.commit().unwrap();
        }
        let mut check = n.mgr.begin(TxnOptions::default());
        check.begin_statement().unwrap();
        assert_eq!(
            read(&n, &mut check, 1),
            Some(if winner_commits { 1 } else { 2 })
        );
    }
}

#[test]
fn delete_then_insert_of_one_key_works_and_a_duplicate_row_undoes_alone() {
    let (_d, n) = node();
    set(&n, 1, 1);
    let mut t = n.mgr.begin(TxnOptions::default());
    t.begin_statement().unwrap();
    t.delete(n.t(0), &key(1)).unwrap();
    t.begin_statement().unwrap();
    t.insert(n.t(0), &key(1), row(1, 5), dup).unwrap();
    // INSERT IGNORE of three rows, the middle one a duplicate: the others stay.
    t.begin_statement().unwrap();
    t.insert(n.t(0), &key(2), row(2, 2), dup).unwrap();
    assert!(matches!(
        t.insert(n.t(0), &key(1), row(1, 9), dup),
        Err(TxnError::Duplicate { .. })
    ));
    t.insert(n.t(0), &key(3), row(3, 3), dup).unwrap();
    t.commit().unwrap();
    let mut r = n.mgr.begin(TxnOptions::default());
    r.begin_statement().unwrap();
    assert_eq!(
        (
            read(&n, &mut r, 1),
            read(&n, &mut r, 2),
            read(&n, &mut r, 3)
        ),
        (Some(5), Some(2), Some(3))
    );
}

#[test]
fn savepoints_and_failed_statements_undo_exactly_their_part() {
    let (_d, n) = node();
    let mut t = n.mgr.begin(TxnOptions::default());
    t.begin_statement().unwrap();
    t.put(n.t(0), &key(1), row(1, 1)).unwrap();
    t.begin_statement().unwrap();
    t.savepoint("a").unwrap();
    t.begin_statement().unwrap();
    t.put(n.t(0), &key(2), row(2, 2)).unwrap();
    t.begin_statement().unwrap();
    t.savepoint("b").unwrap();
    t.begin_statement().unwrap();
    t.put(n.t(0), &key(3), row(3, 3)).unwrap();
    t.rollback_to_savepoint("b").unwrap();
    t.begin_statement().unwrap();
    assert_eq!(read(&n, &mut t, 3), None);
    assert_eq!(read(&n, &mut t, 2), Some(2));
    t.rollback_to_savepoint("A").unwrap();
    assert!(
        matches!(t.rollback_to_savepoint("b"), Err(TxnError::NoSavepoint(_))),
        "later savepoints go"
    );
    t.begin_statement().unwrap();
    t.put(n.t(0), &key(4), row(4, 4)).unwrap();
    t.put(n.t(0), &key(5), row(5, 5)).unwrap();
    t.statement_failed();
    t.release_savepoint("a").unwrap();
    assert_eq!(
        reef_common::error::MysqlError::code(&t.release_savepoint("a").unwrap_err()).errno,
        1305
    );
    t.commit().unwrap();
    let mut r = n.mgr.begin(TxnOptions::default());
    r.begin_statement().unwrap();
    let got: Vec<Option<i64>> = (1..=5).map(|i| read(&n, &mut r, i)).collect();
    assert_eq!(got, vec![Some(1), None, None, None, None]);
}

#[test]
fn read_only_transactions_refuse_writes() {
    let (_d, n) = node();
    let mut t = n.mgr.begin(TxnOptions {
        read_only: true,
        ..TxnOptions::default()
    });
    t.begin_statement().unwrap();
    let err = t.put(n.t(0), &key(1), row(1, 1)).unwrap_err();
    assert_eq!(reef_common::error::MysqlError::code(&err).errno, 1792);
}

#[test]
fn the_gc_horizon_keeps_what_open_snapshots_read_and_frees_the_rest() {
    let (_d, n) = node();
    set(&n, 1, 100);
    let mut reader = n.mgr.begin(opts(Isolation::RepeatableRead));
    reader.begin_statement().unwrap();
    assert_eq!(read(&n, &mut reader, 1), Some(100));
    let first_horizon = n.mgr.gc_horizon();
    let t = n.t(0);
    for round in 0..3 {
        for v in 0..50 {
            set(&n, 1, 1000 * round + v);
        }
        assert_eq!(
            n.mgr.gc_horizon(),
            first_horizon,
            "the open reader pins the horizon"
        );
        t.set_gc_horizon(n.mgr.gc_horizon());
        t.freeze();
        assert!(t.dump_frozen().unwrap());
    }
    t.minor_compact().unwrap();
    reader.begin_statement().unwrap();
    assert_eq!(
        read(&n, &mut reader, 1),
        Some(100),
        "the reader's snapshot survives"
    );
    assert!(t.stats().sstable_versions >= 150);
    reader.commit().unwrap();
    assert!(n.mgr.gc_horizon() > first_horizon);
    t.set_gc_horizon(n.mgr.gc_horizon());
    set(&n, 2, 1);
    t.freeze();
    t.dump_frozen().unwrap();
    t.minor_compact().unwrap();
    assert_eq!(t.stats().sstable_versions, 2, "one version per key is left");
    let mut later = n.mgr.begin(TxnOptions::default());
    later.begin_statement().unwrap();
    assert_eq!(read(&n, &mut later, 1), Some(2049));
}
