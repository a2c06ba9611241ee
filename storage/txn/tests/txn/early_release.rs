//! Early lock release through the transaction layer: a commit gives up its row locks before
//! its record is durable; the next writer of the row goes ahead, commits only after it, and
//! rolls back if it fails.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use reef_common::ids::{LogIndex, TxnId, Version};
use reef_storage::fs::RealFs;
use reef_storage::mvcc::DependencyFailure;
use reef_txn::log::{CommitLog, CommitRecord, LocalLog};
use reef_txn::ts::{LocalTimestamps, TimestampSource};
use reef_txn::txn::{LockMode, Locked, Transaction, TxnManager, TxnOptions, WaitPolicy};
use reef_txn::TxnError;

use crate::common::*;

/// What the gate does with the appends held at it.
#[derive(Default)]
struct Gate {
    /// Appends waiting at the gate.
    held: usize,
    /// Let every append through to the real log.
    open: bool,
    /// Fail the next append held at the gate.
    fail_next: bool,
    /// Transactions whose records reached the real log, in log order.
    appended: Vec<TxnId>,
}

/// A real log behind a gate the test opens, so a commit can be caught between releasing
/// its locks and becoming durable.
#[derive(Debug)]
struct GatedLog {
    inner: Arc<LocalLog>,
    gate: Mutex<GateState>,
    changed: Condvar,
}

struct GateState(Gate);

impl std::fmt::Debug for GateState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gate({} held)", self.0.held)
    }
}

impl GatedLog {
    fn wait_held(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut g = self.gate.lock();
        while g.0.held < n {
            assert!(
                !self.changed.wait_until(&mut g, deadline).timed_out(),
                "no commit reached the log"
            );
        }
    }

    fn set(&self, f: impl FnOnce(&mut Gate)) {
        f(&mut self.gate.lock().0);
        self.changed.notify_all();
    }
}

impl CommitLog for GatedLog {
    fn append(&self, record: &CommitRecord) -> reef_txn::error::Result<LogIndex> {
        let mut g = self.gate.lock();
        g.0.held += 1;
        self.changed.notify_all();
        while !g.0.open && !g.0.fail_next {
            self.changed.wait(&mut g);
        }
        g.0.held -= 1;
        if !g.0.open {
            g.0.fail_next = false;
            return Err(TxnError::CommitFailed("the test failed this append".into()));
        }
        g.0.appended.push(record.txn);
        drop(g);
        self.inner.append(record)
    }

    fn applied(&self, index: LogIndex) {
        self.inner.applied(index)
    }
}

fn gated() -> (tempfile::TempDir, Node, Arc<GatedLog>, Arc<TxnManager>) {
    let dir = tempfile::tempdir().unwrap();
    let n = Node::open(Arc::new(RealFs), dir.path(), 1);
    let log = Arc::new(GatedLog {
        inner: n.log.clone(),
        gate: Mutex::new(GateState(Gate::default())),
        changed: Condvar::new(),
    });
    let ts = Arc::new(LocalTimestamps::new(Version::ZERO));
    let mgr = TxnManager::new(ts as Arc<dyn TimestampSource>, log.clone());
    (dir, n, log, mgr)
}

fn opts() -> TxnOptions {
    TxnOptions {
        lock_wait_timeout: Duration::from_secs(10),
        ..TxnOptions::default()
    }
}

/// A transaction that has locked row `id` and read `expect` there, without waiting.
fn lock_row(n: &Node, mgr: &Arc<TxnManager>, id: i64, expect: i64) -> Transaction {
    let mut t = mgr.begin(opts());
    t.begin_statement().unwrap();
    match t
        .get_locked(n.t(0), &key(id), LockMode::Exclusive, WaitPolicy::NoWait)
        .unwrap()
    {
        Locked::Row(Some(r)) => assert_eq!(val(&r), expect),
        other => panic!("{other:?}"),
    }
    t
}

fn add(n: &Node, t: &mut Transaction, id: i64, v: i64) {
    t.put(n.t(0), &key(id), row(id, v)).unwrap();
}

fn read_now(n: &Node, mgr: &Arc<TxnManager>, id: i64) -> Option<i64> {
    let mut t = mgr.begin(opts());
    t.begin_statement().unwrap();
    let v = t.get(n.t(0), &key(id)).unwrap().map(|r| val(&r));
    t.rollback();
    v
}

type Commit = std::thread::JoinHandle<reef_txn::error::Result<Option<Version>>>;

/// Rows `ids` committed as 0, then a transaction setting row 1 to 1 caught at the closed
/// gate: logging, its locks released. Returns its id and its commit's thread.
fn logging_commit(n: &Node, log: &GatedLog, mgr: &Arc<TxnManager>, ids: &[i64]) -> (TxnId, Commit) {
    log.set(|g| g.open = true);
    let mut t0 = mgr.begin(opts());
    t0.begin_statement().unwrap();
    for &id in ids {
        add(n, &mut t0, id, 0);
    }
    t0.commit().unwrap();
    log.set(|g| g.open = false);

    let mut t1 = lock_row(n, mgr, 1, 0);
    add(n, &mut t1, 1, 1);
    let (id1, c1) = (t1.id(), std::thread::spawn(move || t1.commit()));
    log.wait_held(1);
    (id1, c1)
}

#[test]
fn the_next_writer_of_a_row_goes_ahead_while_a_commit_is_logging() {
    let (_d, n, log, mgr) = gated();
    let (id1, c1) = logging_commit(&n, &log, &mgr, &[1]);

    // t1's record is not durable, yet its row is free: NOWAIT finds no lock.
    let mut t2 = lock_row(&n, &mgr, 1, 1);
    add(&n, &mut t2, 1, 2);
    let (id2, c2) = (t2.id(), std::thread::spawn(move || t2.commit()));
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(
        log.gate.lock().0.held,
        1,
        "the dependent commit waits for t1's decision before it appends"
    );

    log.set(|g| g.open = true);
    assert!(c1.join().unwrap().is_ok());
    assert!(c2.join().unwrap().is_ok());
    assert_eq!(read_now(&n, &mgr, 1), Some(2));
    let appended = log.gate.lock().0.appended.clone();
    assert_eq!(
        appended[1..],
        [id1, id2],
        "records reach the log in dependency order"
    );
}

#[test]
fn a_failed_commit_rolls_back_the_writers_built_on_it() {
    let (_d, n, log, mgr) = gated();
    let (id1, c1) = logging_commit(&n, &log, &mgr, &[1, 2]);

    // t2 reads t1's row through a locking read and writes another row from it.
    let mut t2 = lock_row(&n, &mgr, 1, 1);
    match t2
        .get_locked(n.t(0), &key(2), LockMode::Exclusive, WaitPolicy::NoWait)
        .unwrap()
    {
        Locked::Row(Some(r)) => assert_eq!(val(&r), 0),
        other => panic!("{other:?}"),
    }
    add(&n, &mut t2, 2, 1);
    let c2 = std::thread::spawn(move || t2.commit());

    log.set(|g| g.fail_next = true);
    assert!(matches!(c1.join().unwrap(), Err(TxnError::CommitFailed(_))));
    match c2.join().unwrap() {
        Err(e @ TxnError::DependencyFailed(DependencyFailure::Aborted(t))) => {
            assert_eq!(t, id1);
            assert_eq!(reef_common::error::MysqlError::code(&e).errno, 1213);
        }
        other => panic!("expected the dependent to roll back, got {other:?}"),
    }
    log.set(|g| g.open = true);
    assert_eq!(read_now(&n, &mgr, 1), Some(0));
    assert_eq!(read_now(&n, &mgr, 2), Some(0));
    assert_eq!(
        log.gate.lock().0.appended.len(),
        1,
        "only t0 reached the log"
    );
}
