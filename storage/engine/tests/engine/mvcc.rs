//! MVCC semantics: visibility, row locks, own writes, statement rollback, waiting.

use std::sync::Arc;
use std::time::Duration;

use reef_common::ids::{LogIndex, StmtSeq, TxnId, Version};
use reef_storage::cache::Cache;
use reef_storage::fs::RealFs;
use reef_storage::mvcc::{ReadCtx, RowOp, TxnCtx, TxnStatus};
use reef_storage::StorageError;

use crate::common::*;

fn tablet() -> (tempfile::TempDir, Arc<reef_storage::tablet::Tablet>) {
    let dir = tempfile::tempdir().unwrap();
    let t = open(Arc::new(RealFs), dir.path(), Cache::new(64 << 20));
    (dir, t)
}

#[test]
fn snapshots_see_exactly_the_commits_at_or_below_them() {
    let (_d, t) = tablet();
    commit(&t, 1, 10, 1, &[(1, Some(100))]);
    commit(&t, 2, 20, 2, &[(1, Some(200))]);
    commit(&t, 3, 30, 3, &[(1, None)]);
    assert_eq!(get_k(&t, 1, 5), None);
    assert_eq!(get_k(&t, 1, 10), Some(100));
    assert_eq!(get_k(&t, 1, 29), Some(200));
    assert_eq!(get_k(&t, 1, 30), None);
}

#[test]
fn uncommitted_writes_are_locks_and_invisible_to_others() {
    let (_d, t) = tablet();
    commit(&t, 1, 10, 1, &[(1, Some(1))]);
    let a = TxnCtx::new(TxnId(2));
    t.write(&a, StmtSeq(1), &key(1), RowOp::Put(row(1, 2, "a")))
        .unwrap();
    let b = TxnCtx::new(TxnId(3));
    match t.write(&b, StmtSeq(1), &key(1), RowOp::Put(row(1, 3, "b"))) {
        Err(StorageError::Locked { holder }) => assert_eq!(holder, TxnId(2)),
        other => panic!("expected a lock conflict, got {other:?}"),
    }
    assert_eq!(get_k(&t, 1, 100), Some(1));
    let latest = t.latest(&key(1), Some(TxnId(3)), StmtSeq(1)).unwrap();
    assert_eq!(latest.locked_by, Some(TxnId(2)));
    assert_eq!(latest.committed.as_ref().unwrap().0, Version(10));
    a.abort();
    t.write(&b, StmtSeq(1), &key(1), RowOp::Put(row(1, 3, "b")))
        .unwrap();
    assert_eq!(
        t.latest(&key(1), None, StmtSeq(0)).unwrap().locked_by,
        Some(TxnId(3))
    );
}

#[test]
fn a_statement_sees_earlier_statements_but_not_its_own_output() {
    let (_d, t) = tablet();
    let a = TxnCtx::new(TxnId(1));
    t.write(&a, StmtSeq(1), &key(1), RowOp::Put(row(1, 10, "x")))
        .unwrap();
    t.write(&a, StmtSeq(2), &key(2), RowOp::Put(row(2, 20, "x")))
        .unwrap();
    let at = |seq| ReadCtx::in_txn(Version(0), TxnId(1), StmtSeq(seq));
    assert!(
        t.get(&key(1), &at(1)).unwrap().is_none(),
        "statement 1 must not read its own write"
    );
    assert!(t.get(&key(1), &at(2)).unwrap().is_some());
    assert!(t.get(&key(2), &at(2)).unwrap().is_none());
    let scanned: Vec<_> = t
        .scan(reef_storage::tablet::full_range(), at(2))
        .unwrap()
        .map(|r| r.unwrap().0)
        .collect();
    assert_eq!(scanned, vec![key(1)]);
    let own = t.latest(&key(2), Some(TxnId(1)), StmtSeq(3)).unwrap();
    assert!(own.own.unwrap().is_some());
    assert_eq!(
        own.locked_by, None,
        "a transaction does not conflict with itself"
    );
}

#[test]
fn statement_rollback_removes_only_that_statement() {
    let (_d, t) = tablet();
    commit(&t, 1, 10, 1, &[(1, Some(1))]);
    let a = TxnCtx::new(TxnId(2));
    t.write(&a, StmtSeq(1), &key(1), RowOp::Put(row(1, 2, "s1")))
        .unwrap();
    t.write(&a, StmtSeq(2), &key(1), RowOp::Put(row(1, 3, "s2")))
        .unwrap();
    t.write(&a, StmtSeq(2), &key(2), RowOp::Put(row(2, 3, "s2")))
        .unwrap();
    a.rollback_statements(StmtSeq(2));
    let read = ReadCtx::in_txn(Version(10), TxnId(2), StmtSeq(3));
    assert_eq!(t.get(&key(1), &read).unwrap().map(|r| k_of(&r)), Some(2));
    assert!(t.get(&key(2), &read).unwrap().is_none());
    // The row stays locked by statement 1's write.
    let b = TxnCtx::new(TxnId(3));
    assert!(matches!(
        t.write(&b, StmtSeq(1), &key(1), RowOp::Delete),
        Err(StorageError::Locked { .. })
    ));
    // And key 2 is free again.
    t.write(&b, StmtSeq(1), &key(2), RowOp::Delete).unwrap();
    a.set_committing(Version(20)).unwrap();
    a.commit(Version(20), LogIndex(2));
    assert_eq!(get_k(&t, 1, 20), Some(2));
    assert_eq!(a.write_count(), 0);
}

/// A transaction whose every write to a MemTable was rolled back by statement rollback
/// (a failed INSERT of a duplicate key) no longer holds that MemTable's dump back, however
/// the transaction ends afterwards.
#[test]
fn a_statement_rollback_of_all_writes_releases_the_memtable_dump() {
    let (_d, t) = tablet();
    commit(&t, 1, 10, 1, &[(1, Some(1))]);
    let a = TxnCtx::new(TxnId(2));
    t.write(&a, StmtSeq(1), &key(2), RowOp::Put(row(2, 2, "undone")))
        .unwrap();
    a.rollback_statements(StmtSeq(1));
    a.abort();
    assert!(t.freeze());
    let (tx, rx) = std::sync::mpsc::channel();
    let t2 = t.clone();
    std::thread::spawn(move || tx.send(t2.dump_frozen().map_err(|e| e.to_string())));
    let dumped = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the dump waits for a transaction with nothing left in its MemTable");
    assert!(dumped.unwrap());
    assert_eq!(get_k(&t, 1, 10), Some(1));
    assert_eq!(get_k(&t, 2, 100), None);
}

#[test]
fn readers_wait_for_a_committing_writer_below_their_snapshot() {
    let (_d, t) = tablet();
    let a = TxnCtx::new(TxnId(1));
    t.write(&a, StmtSeq(1), &key(1), RowOp::Put(row(1, 7, "x")))
        .unwrap();
    a.set_committing(Version(50)).unwrap();
    // A snapshot below the prepare version cannot see it and does not wait.
    assert_eq!(get_k(&t, 1, 49), None);
    let t2 = t.clone();
    let reader = std::thread::spawn(move || get_k(&t2, 1, 60));
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        !reader.is_finished(),
        "the reader must wait for the decision"
    );
    a.commit(Version(55), LogIndex(1));
    assert_eq!(reader.join().unwrap(), Some(7));
    assert_eq!(a.status(), TxnStatus::Committed(Version(55)));
}

#[test]
fn a_wait_for_an_undecided_writer_times_out_with_an_error() {
    let (_d, t) = tablet();
    let a = TxnCtx::new(TxnId(1));
    t.write(&a, StmtSeq(1), &key(1), RowOp::Put(row(1, 7, "x")))
        .unwrap();
    a.set_committing(Version(50)).unwrap();
    let mut ctx = ReadCtx::at(Version(60));
    ctx.decision_wait = Duration::from_millis(20);
    assert!(matches!(
        t.get(&key(1), &ctx),
        Err(StorageError::DecisionTimeout { .. })
    ));
}

#[test]
fn locks_in_frozen_memtables_still_block_writers() {
    let (_d, t) = tablet();
    let a = TxnCtx::new(TxnId(1));
    t.write(&a, StmtSeq(1), &key(1), RowOp::Put(row(1, 1, "a")))
        .unwrap();
    assert!(t.freeze());
    let b = TxnCtx::new(TxnId(2));
    assert!(
        matches!(t.write(&b, StmtSeq(1), &key(1), RowOp::Delete), Err(StorageError::Locked { holder }) if holder == TxnId(1))
    );
    // The holder itself may write the row again in the new MemTable.
    t.write(&a, StmtSeq(2), &key(1), RowOp::Put(row(1, 2, "a")))
        .unwrap();
    a.set_committing(Version(10)).unwrap();
    a.commit(Version(10), LogIndex(1));
    t.set_applied(LogIndex(1));
    assert_eq!(get_k(&t, 1, 10), Some(2));
    t.write(&b, StmtSeq(1), &key(1), RowOp::Delete).unwrap();
}

#[test]
fn a_dump_rolls_back_a_transaction_that_holds_it_back_too_long() {
    let dir = tempfile::tempdir().unwrap();
    let t = open_with(Arc::new(RealFs), dir.path(), Cache::new(1 << 20), |o| {
        o.freeze_txn_wait = Duration::from_millis(30);
    });
    commit(&t, 1, 10, 1, &[(1, Some(1))]);
    let idle = TxnCtx::new(TxnId(2));
    t.write(&idle, StmtSeq(1), &key(2), RowOp::Put(row(2, 2, "idle")))
        .unwrap();
    assert!(t.freeze());
    assert!(t.dump_frozen().unwrap());
    assert_eq!(idle.status(), TxnStatus::Aborted);
    let err = t
        .write(&idle, StmtSeq(2), &key(3), RowOp::Delete)
        .unwrap_err();
    assert!(matches!(err, StorageError::TxnAborted { .. }), "{err}");
    assert!(err.to_string().contains("dump"), "{err}");
    assert_eq!(get_k(&t, 1, 10), Some(1));
    assert_eq!(get_k(&t, 2, 100), None);
}

#[test]
fn writers_stall_with_a_reason_when_dumps_fall_behind() {
    let dir = tempfile::tempdir().unwrap();
    let t = open_with(Arc::new(RealFs), dir.path(), Cache::new(1 << 20), |o| {
        o.memtable_freeze_bytes = 4 << 10;
        o.frozen_bytes_max = 8 << 10;
        o.stall_wait = Duration::from_millis(20);
    });
    let mut stalled = None;
    for i in 0..10_000 {
        let ctx = TxnCtx::new(TxnId(i as u64 + 1));
        match t.write(&ctx, StmtSeq(1), &key(i), RowOp::Put(row(i, i, "fill"))) {
            Ok(()) => {
                ctx.set_committing(Version(i as u64 + 1)).unwrap();
                ctx.commit(Version(i as u64 + 1), LogIndex(i as u64 + 1));
            }
            Err(e) => {
                stalled = Some(e);
                break;
            }
        }
    }
    let e = stalled.expect("writes must stall once frozen MemTables exceed their budget");
    assert!(matches!(e, StorageError::WriteStall(_)), "{e}");
    assert!(e.to_string().contains("waiting for their dump"), "{e}");
    t.maintain().unwrap();
    let ctx = TxnCtx::new(TxnId(99_999));
    t.write(&ctx, StmtSeq(1), &key(-1), RowOp::Delete).unwrap();
}

#[test]
fn oversized_keys_and_rows_are_rejected() {
    let (_d, t) = tablet();
    let a = TxnCtx::new(TxnId(1));
    let big_key = vec![1u8; 5000];
    assert!(matches!(
        t.write(&a, StmtSeq(1), &big_key, RowOp::Delete),
        Err(StorageError::TooLarge(_))
    ));
}

#[test]
fn a_lock_after_an_own_write_does_not_hide_the_write_at_commit() {
    let (_d, t) = tablet();
    let a = TxnCtx::new(TxnId(1));
    t.write(&a, StmtSeq(1), &key(1), RowOp::Put(row(1, 42, "x")))
        .unwrap();
    t.write(&a, StmtSeq(2), &key(1), RowOp::Lock).unwrap();
    a.set_committing(Version(10)).unwrap();
    a.commit(Version(10), LogIndex(1));
    assert_eq!(get_k(&t, 1, 10), Some(42));
    t.freeze();
    t.dump_frozen().unwrap();
    assert_eq!(get_k(&t, 1, 10), Some(42));
}

/// Who holds row 1 against `ctx` writing `k` there (`None`: the write went in).
fn holder_of_row_1(t: &reef_storage::tablet::Tablet, ctx: &Arc<TxnCtx>, k: i64) -> Option<TxnId> {
    match t.write(ctx, StmtSeq(1), &key(1), RowOp::Put(row(1, k, "w"))) {
        Ok(()) => None,
        Err(StorageError::Locked { holder }) => Some(holder),
        Err(e) => panic!("{e}"),
    }
}

/// Row 1 committed as 1 at version 10, then transaction 2 writing 2 there and committing
/// with prepare version 20.
fn committing_over_one(t: &reef_storage::tablet::Tablet) -> Arc<TxnCtx> {
    commit(t, 1, 10, 1, &[(1, Some(1))]);
    let a = TxnCtx::new(TxnId(2));
    t.write(&a, StmtSeq(1), &key(1), RowOp::Put(row(1, 2, "a")))
        .unwrap();
    a.set_committing(Version(20)).unwrap();
    a
}

/// Early lock release: once a committing transaction has chosen its commit version (logging),
/// its rows take the next writer, who depends on it; snapshot readers still wait for its
/// decision, and its rollback fails the writers built on it.
#[test]
fn a_logging_transaction_releases_its_rows_to_dependent_writers() {
    use reef_storage::mvcc::DependencyFailure;
    use std::time::Instant;

    let (_d, t) = tablet();
    let a = committing_over_one(&t);
    let b = TxnCtx::new(TxnId(3));
    assert_eq!(
        holder_of_row_1(&t, &b, 3),
        Some(TxnId(2)),
        "a committing transaction without its commit version still holds its rows"
    );

    a.set_logging(Version(21));
    let latest = t.latest(&key(1), Some(TxnId(3)), StmtSeq(1)).unwrap();
    assert_eq!(latest.locked_by, None);
    assert_eq!(latest.committed.as_ref().unwrap().0, Version(21));
    assert_eq!(latest.depends.as_ref().unwrap().0.id(), TxnId(2));
    t.write(&b, StmtSeq(1), &key(1), RowOp::Put(row(1, 3, "b")))
        .unwrap();
    let c = TxnCtx::new(TxnId(4));
    assert_eq!(
        holder_of_row_1(&t, &c, 4),
        Some(TxnId(3)),
        "the dependent writer holds the row as usual"
    );

    // Readers below the commit version skip it; readers at or above it wait for the log.
    assert_eq!(get_k(&t, 1, 20), Some(1));
    let mut at_21 = ReadCtx::at(Version(21));
    at_21.decision_wait = Duration::from_millis(20);
    assert!(matches!(
        t.get(&key(1), &at_21),
        Err(StorageError::DecisionTimeout { txn: TxnId(2) })
    ));
    assert_eq!(
        b.wait_dependencies(Instant::now() + Duration::from_millis(20)),
        Err(DependencyFailure::Undecided(TxnId(2)))
    );

    // The dependency is waited for again; its rollback fails the writer built on it.
    t.write(&b, StmtSeq(2), &key(1), RowOp::Put(row(1, 5, "b")))
        .unwrap();
    a.abort();
    assert_eq!(
        b.wait_dependencies(Instant::now() + Duration::from_secs(5)),
        Err(DependencyFailure::Aborted(TxnId(2)))
    );
    b.abort();
    assert_eq!(get_k(&t, 1, 100), Some(1));
}

#[test]
fn a_dependent_writer_commits_after_the_logging_transaction() {
    use std::time::Instant;

    let (_d, t) = tablet();
    let a = committing_over_one(&t);
    a.set_logging(Version(21));
    let b = TxnCtx::new(TxnId(3));
    t.write(&b, StmtSeq(1), &key(1), RowOp::Put(row(1, 3, "b")))
        .unwrap();
    let waiter = {
        let b = b.clone();
        std::thread::spawn(move || b.wait_dependencies(Instant::now() + Duration::from_secs(10)))
    };
    std::thread::sleep(Duration::from_millis(20));
    assert!(
        !waiter.is_finished(),
        "the dependent waits for the decision"
    );
    a.commit(Version(21), LogIndex(2));
    assert_eq!(waiter.join().unwrap(), Ok(()));
    b.set_committing(Version(30)).unwrap();
    b.commit(Version(31), LogIndex(3));
    assert_eq!(get_k(&t, 1, 25), Some(2));
    assert_eq!(get_k(&t, 1, 31), Some(3));
    assert_eq!(a.status(), TxnStatus::Committed(Version(21)));
}
