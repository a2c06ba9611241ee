//! Transaction descriptors as the engine sees them, and MVCC version chains.
//!
//! Every uncommitted version in a MemTable points at its writer's [`TxnCtx`]; that version
//! *is* the row lock. The descriptor's status decides visibility until commit stamps the
//! commit version into each written version in place (abort unlinks them instead), so
//! nothing is ever re-keyed.
//!
//! Visibility at snapshot `s` for a reader in transaction `me` at statement `seq`:
//! - a version written by `me` is visible if its statement is earlier than `seq` (a
//!   statement never reads its own output);
//! - a committed version is visible if its commit version is `<= s`;
//! - a version whose writer is *committing* or *prepared* with prepare version `p <= s` may
//!   yet commit at a version `<= s`: the reader waits for the decision (skipping it would
//!   break snapshot isolation); with `p > s` the commit version will be `> s`, so it is
//!   skipped;
//! - a version whose writer is *logging* (its commit version `v` chosen, its commit record on
//!   its way to the log) is waited for if `v <= s` and skipped otherwise;
//! - an active writer's version is invisible: when it commits, its commit version is taken
//!   after it turned committing, hence after the reader took `s` (the timestamp source is
//!   monotonic), so it is `> s`.
//!
//! Early lock release (as OceanBase and InnoDB do it): a 1PC commit gives up its row locks
//! once its commit version is chosen, before its record is durable, so a hot row's next
//! writer need not wait out the log's fsync. Such a writer (or a locking read) acts on the
//! logging transaction's version and *depends* on it ([`TxnCtx::depend_on`]): it appends its
//! own commit record only after every transaction it depends on has decided
//! ([`TxnCtx::wait_dependencies`]), and rolls back if one of them failed to commit. So no
//! record reaches the log before a record whose effects it read, and a failed commit takes
//! down the writes built on it. Plain (snapshot) reads never see an undecided version.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use reef_common::ids::{LogIndex, StmtSeq, TxnId, Version};

use crate::error::{Result, StorageError};
use crate::memtable::{MemTable, MvccRow};

/// What a write does to a row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RowOp {
    /// The row's new encoded value.
    Put(Arc<[u8]>),
    /// The row is deleted.
    Delete,
    /// The row is locked (`SELECT ... FOR UPDATE`) but unchanged: readers look past it.
    Lock,
}

/// A transaction's status as visibility needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxnStatus {
    /// Running; its writes are invisible to others.
    Active,
    /// 1PC commit under way: its commit version will be `>=` this prepare version.
    Committing(Version),
    /// 2PC participant prepared: its commit version will be `>=` this prepare version.
    Prepared(Version),
    /// 1PC commit with its commit version chosen and its record on its way to the log; its
    /// row locks are released (see the module comment). Becomes `Committed` at this version,
    /// or `Aborted` if the log fails.
    Logging(Version),
    /// Committed at this version.
    Committed(Version),
    /// Rolled back; its writes are gone.
    Aborted,
}

const S_ACTIVE: u8 = 0;
const S_COMMITTING: u8 = 1;
const S_PREPARED: u8 = 2;
const S_COMMITTED: u8 = 3;
const S_ABORTED: u8 = 4;
const S_LOGGING: u8 = 5;

/// One write of a transaction: the row it changed, in which MemTable.
struct WriteRef {
    memtable: Arc<MemTable>,
    row: Arc<MvccRow>,
    seq: StmtSeq,
}

/// The engine's descriptor of one transaction. The transaction layer owns the policy
/// (isolation, locks, timestamps); this owns the versions the transaction wrote.
pub struct TxnCtx {
    id: TxnId,
    status: AtomicU8,
    /// The prepare version while committing/prepared, then the commit version.
    version: AtomicU64,
    /// Serializes status changes with writes: a write checks and registers under it.
    inner: Mutex<TxnInner>,
    decided: Condvar,
    /// When the descriptor was made (the transaction's first write or lock).
    started: Instant,
}

struct TxnInner {
    writes: Vec<WriteRef>,
    abort_reason: Option<String>,
    /// Logging transactions whose versions this one read or wrote over (early lock release).
    depends: Vec<Arc<TxnCtx>>,
}

/// Why [`TxnCtx::wait_dependencies`] did not clear a transaction to append its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DependencyFailure {
    /// This transaction changed or read rows after it, and it rolled back.
    Aborted(TxnId),
    /// It has not decided within the time allowed.
    Undecided(TxnId),
}

impl std::fmt::Debug for TxnCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxnCtx")
            .field("id", &self.id)
            .field("status", &self.status())
            .finish()
    }
}

impl TxnCtx {
    /// A new, active transaction.
    pub fn new(id: TxnId) -> Arc<TxnCtx> {
        Arc::new(TxnCtx {
            id,
            status: AtomicU8::new(S_ACTIVE),
            version: AtomicU64::new(0),
            inner: Mutex::new(TxnInner {
                writes: Vec::new(),
                abort_reason: None,
                depends: Vec::new(),
            }),
            decided: Condvar::new(),
            started: Instant::now(),
        })
    }

    /// How long ago the descriptor was made.
    pub fn age(&self) -> Duration {
        self.started.elapsed()
    }

    /// The transaction's id.
    pub fn id(&self) -> TxnId {
        self.id
    }

    /// The current status. The version is stored before the status, so a status read here
    /// is never paired with an older version.
    pub fn status(&self) -> TxnStatus {
        let s = self.status.load(Ordering::Acquire);
        let v = Version(self.version.load(Ordering::Acquire));
        match s {
            S_ACTIVE => TxnStatus::Active,
            S_COMMITTING => TxnStatus::Committing(v),
            S_PREPARED => TxnStatus::Prepared(v),
            S_COMMITTED => TxnStatus::Committed(v),
            S_LOGGING => TxnStatus::Logging(v),
            _ => TxnStatus::Aborted,
        }
    }

    /// Why the engine rolled this transaction back, if it did.
    pub fn abort_reason(&self) -> Option<String> {
        self.inner.lock().abort_reason.clone()
    }

    /// How many versions the transaction has written (and not rolled back).
    pub fn write_count(&self) -> usize {
        self.inner.lock().writes.len()
    }

    /// Locks the descriptor for a write, failing unless the transaction is active. The
    /// guard is held while the row's chain is changed, so lock order is always
    /// transaction, then row (commit, abort and rollback take them in that order too).
    pub(crate) fn write_guard(self: &Arc<Self>) -> Result<TxnWriteGuard<'_>> {
        let inner = self.inner.lock();
        match self.status.load(Ordering::Acquire) {
            S_ACTIVE => Ok(TxnWriteGuard { txn: self, inner }),
            S_ABORTED => Err(StorageError::TxnAborted {
                txn: self.id,
                reason: inner
                    .abort_reason
                    .clone()
                    .unwrap_or_else(|| "rolled back".into()),
            }),
            _ => Err(StorageError::Invalid(format!(
                "write by transaction {} after it began committing",
                self.id
            ))),
        }
    }

    /// Moves to committing (1PC) with a lower bound for the commit version. From here on
    /// readers at snapshots `>= prepare` wait for the decision.
    pub fn set_committing(&self, prepare: Version) -> Result<()> {
        self.transition(S_COMMITTING, prepare)
    }

    /// Moves to prepared (2PC participant).
    pub fn set_prepared(&self, prepare: Version) -> Result<()> {
        self.transition(S_PREPARED, prepare)
    }

    /// A committing transaction chose its commit `version` and is about to hand its record
    /// to the log: its row locks are released from here on (writers may build on its
    /// versions, depending on it), and transactions waiting for its locks wake up.
    pub fn set_logging(&self, version: Version) {
        let inner = self.inner.lock();
        assert_eq!(
            self.status.load(Ordering::Acquire),
            S_COMMITTING,
            "transaction {} logs without committing",
            self.id
        );
        assert!(
            version.0 >= self.version.load(Ordering::Acquire),
            "commit version below prepare version"
        );
        self.version.store(version.0, Ordering::Release);
        self.status.store(S_LOGGING, Ordering::Release);
        drop(inner);
        self.decided.notify_all();
    }

    /// Records that this transaction read or overwrote a version of `other`, a logging
    /// transaction: its own record may reach the log only after `other` decided.
    pub fn depend_on(&self, other: &Arc<TxnCtx>) {
        push_dependency(&mut self.inner.lock().depends, other);
    }

    /// Waits until every transaction this one depends on has decided; fails if one of them
    /// rolled back (this transaction built on writes that never happened) or has not
    /// decided by `deadline`.
    pub fn wait_dependencies(&self, deadline: Instant) -> Result<(), DependencyFailure> {
        let depends = self.inner.lock().depends.clone();
        for d in &depends {
            let left = deadline.saturating_duration_since(Instant::now());
            match d.wait_decided(left) {
                Ok(TxnStatus::Committed(_)) => {}
                Ok(_) => return Err(DependencyFailure::Aborted(d.id)),
                Err(_) => return Err(DependencyFailure::Undecided(d.id)),
            }
        }
        // Those are decided; any recorded since are still to wait for.
        self.inner
            .lock()
            .depends
            .retain(|x| !depends.iter().any(|d| d.id == x.id));
        Ok(())
    }
    fn transition(&self, to: u8, prepare: Version) -> Result<()> {
        let inner = self.inner.lock();
        if self.status.load(Ordering::Acquire) != S_ACTIVE {
            return Err(StorageError::TxnAborted {
                txn: self.id,
                reason: inner
                    .abort_reason
                    .clone()
                    .unwrap_or_else(|| "not active".into()),
            });
        }
        self.version.store(prepare.0, Ordering::Release);
        self.status.store(to, Ordering::Release);
        Ok(())
    }

    /// Commits at `version`, whose redo and commit record are durable at `log_index`:
    /// stamps every written version in place and wakes waiting readers.
    pub fn commit(&self, version: Version, log_index: LogIndex) {
        let mut inner = self.inner.lock();
        let s = self.status.load(Ordering::Acquire);
        assert!(
            s == S_COMMITTING || s == S_PREPARED || s == S_LOGGING,
            "commit of transaction {} in status {:?}",
            self.id,
            self.status()
        );
        let prepare = self.version.load(Ordering::Acquire);
        assert!(version.0 >= prepare, "commit version below prepare version");
        self.version.store(version.0, Ordering::Release);
        self.status.store(S_COMMITTED, Ordering::Release);
        for w in &inner.writes {
            w.memtable.add_tombstones(w.row.stamp(self.id, version));
        }
        let mut seen: Vec<&Arc<MemTable>> = Vec::new();
        for w in &inner.writes {
            if !seen.iter().any(|m| Arc::ptr_eq(m, &w.memtable)) {
                w.memtable.note_decided(self.id, Some((version, log_index)));
                seen.push(&w.memtable);
            }
        }
        inner.writes.clear();
        drop(inner);
        self.decided.notify_all();
    }

    /// Rolls the whole transaction back: unlinks every version it wrote.
    pub fn abort(&self) {
        self.abort_with(None);
    }

    /// Rolls back unless the transaction already commits; returns whether it did. Used by a
    /// MemTable dump that waited too long for this transaction.
    pub(crate) fn force_abort(&self, reason: &str) -> bool {
        let s = self.status.load(Ordering::Acquire);
        if s == S_ACTIVE {
            self.abort_with(Some(reason.to_string()))
        } else {
            false
        }
    }

    fn abort_with(&self, reason: Option<String>) -> bool {
        let mut inner = self.inner.lock();
        let s = self.status.load(Ordering::Acquire);
        if s == S_COMMITTED || s == S_ABORTED {
            return false;
        }
        if reason.is_some() && s != S_ACTIVE {
            return false;
        }
        inner.abort_reason = reason;
        self.status.store(S_ABORTED, Ordering::Release);
        for w in inner.writes.iter().rev() {
            w.row.unlink(self.id, StmtSeq(0));
        }
        let mut seen: Vec<&Arc<MemTable>> = Vec::new();
        for w in &inner.writes {
            if !seen.iter().any(|m| Arc::ptr_eq(m, &w.memtable)) {
                w.memtable.note_decided(self.id, None);
                seen.push(&w.memtable);
            }
        }
        inner.writes.clear();
        drop(inner);
        self.decided.notify_all();
        true
    }

    /// Statement-level rollback and `ROLLBACK TO SAVEPOINT`: unlinks the versions written by
    /// statements `>= from`, keeping the transaction's earlier work and its status.
    pub fn rollback_statements(&self, from: StmtSeq) {
        let mut inner = self.inner.lock();
        if self.status.load(Ordering::Acquire) != S_ACTIVE {
            return;
        }
        for w in inner.writes.iter().rev().filter(|w| w.seq >= from) {
            w.row.unlink(self.id, from);
        }
        let (kept, undone): (Vec<WriteRef>, Vec<WriteRef>) =
            inner.writes.drain(..).partition(|w| w.seq < from);
        inner.writes = kept;
        // A MemTable left with no version of this transaction has nothing to wait for: the
        // decision would never be reported to it (only MemTables holding writes hear it), and
        // a dump of it would wait forever. A later write there registers the transaction again.
        let mut seen: Vec<&Arc<MemTable>> = Vec::new();
        for w in &undone {
            if !seen.iter().any(|m| Arc::ptr_eq(m, &w.memtable))
                && !inner
                    .writes
                    .iter()
                    .any(|k| Arc::ptr_eq(&k.memtable, &w.memtable))
            {
                w.memtable.note_decided(self.id, None);
                seen.push(&w.memtable);
            }
        }
    }

    /// Blocks until the transaction commits or aborts, or `timeout` passes.
    pub fn wait_decided(&self, timeout: Duration) -> Result<TxnStatus> {
        self.wait_until(timeout, |st| {
            matches!(st, TxnStatus::Committed(_) | TxnStatus::Aborted)
        })
    }

    /// Blocks until the transaction holds no row locks any more (it is logging, committed
    /// or aborted), or `timeout` passes: what a lock wait waits for.
    pub fn wait_released(&self, timeout: Duration) -> Result<TxnStatus> {
        self.wait_until(timeout, |st| {
            matches!(
                st,
                TxnStatus::Logging(_) | TxnStatus::Committed(_) | TxnStatus::Aborted
            )
        })
    }

    fn wait_until(&self, timeout: Duration, done: impl Fn(TxnStatus) -> bool) -> Result<TxnStatus> {
        let deadline = Instant::now() + timeout;
        let mut inner = self.inner.lock();
        loop {
            let st = self.status();
            if done(st) {
                return Ok(st);
            }
            if self.decided.wait_until(&mut inner, deadline).timed_out() {
                let st = self.status();
                if done(st) {
                    return Ok(st);
                }
                return Err(StorageError::DecisionTimeout { txn: self.id });
            }
        }
    }
}

/// A transaction locked for one write (see [`TxnCtx::write_guard`]).
pub(crate) struct TxnWriteGuard<'a> {
    txn: &'a Arc<TxnCtx>,
    inner: parking_lot::MutexGuard<'a, TxnInner>,
}

impl TxnWriteGuard<'_> {
    /// The transaction being written for.
    pub(crate) fn txn(&self) -> &Arc<TxnCtx> {
        self.txn
    }

    /// Records that the transaction linked a version of statement `seq` into `row`.
    pub(crate) fn record(&mut self, memtable: &Arc<MemTable>, row: &Arc<MvccRow>, seq: StmtSeq) {
        if !self
            .inner
            .writes
            .iter()
            .any(|w| Arc::ptr_eq(&w.memtable, memtable))
        {
            memtable.register_txn(self.txn);
        }
        self.inner.writes.push(WriteRef {
            memtable: memtable.clone(),
            row: row.clone(),
            seq,
        });
    }

    /// Records that the transaction writes over a version of `other`, a logging transaction.
    pub(crate) fn depend_on(&mut self, other: &Arc<TxnCtx>) {
        push_dependency(&mut self.inner.depends, other);
    }
}

fn push_dependency(depends: &mut Vec<Arc<TxnCtx>>, other: &Arc<TxnCtx>) {
    if !depends.iter().any(|d| d.id == other.id) {
        depends.push(other.clone());
    }
}

/// A logging transaction whose version a current read returned: the reader depends on it
/// (see [`TxnCtx::depend_on`]).
#[derive(Clone)]
pub struct Dependency(pub Arc<TxnCtx>);

impl PartialEq for Dependency {
    fn eq(&self, other: &Dependency) -> bool {
        self.0.id == other.0.id
    }
}

impl Eq for Dependency {}

impl std::fmt::Debug for Dependency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Dependency({})", self.0.id)
    }
}

/// Who reads, and at what snapshot.
#[derive(Clone, Debug)]
pub struct ReadCtx {
    /// The snapshot version: committed versions `<= snapshot` are visible.
    pub snapshot: Version,
    /// The reading transaction (its own earlier writes are visible), if any.
    pub txn: Option<TxnId>,
    /// The reading statement: own writes of statements before it are visible.
    pub seq: StmtSeq,
    /// How long to wait for a committing writer's decision.
    pub decision_wait: Duration,
}

impl ReadCtx {
    /// A read outside any transaction at `snapshot`.
    pub fn at(snapshot: Version) -> ReadCtx {
        ReadCtx {
            snapshot,
            txn: None,
            seq: StmtSeq(0),
            decision_wait: Duration::from_secs(10),
        }
    }

    /// A read by statement `seq` of transaction `txn` at `snapshot`.
    pub fn in_txn(snapshot: Version, txn: TxnId, seq: StmtSeq) -> ReadCtx {
        ReadCtx {
            txn: Some(txn),
            seq,
            ..ReadCtx::at(snapshot)
        }
    }
}
