//! The MVCC MemTable: a crossbeam skip list ordered by memcomparable primary key, each entry
//! holding that row's version chain (OceanBase's MVCC row), plus a sharded hash index that
//! answers point gets without a skip-list seek.
//!
//! Invariants:
//! - a chain's versions are ordered oldest to newest, and committed versions' commit versions
//!   increase along it (row locks serialize writers; the timestamp source is monotonic);
//! - at most one transaction that is not yet logging its commit has uncommitted versions in
//!   a chain at a time (the row lock); versions of logging transactions (early lock release,
//!   see [`crate::mvcc`]) may lie below them;
//! - a frozen MemTable takes no new versions; it is dumped only once every transaction that
//!   wrote into it has decided, so a dump writes committed versions only.

use std::collections::HashMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_skiplist::SkipMap;
use parking_lot::{Mutex, RwLock};
use reef_common::ids::{LogIndex, StmtSeq, TxnId, Version};
use xxhash_rust::xxh3::{xxh3_64, Xxh3Builder};

use crate::error::{Result, StorageError};
use crate::mvcc::{Dependency, ReadCtx, RowOp, TxnCtx, TxnStatus, TxnWriteGuard};

/// Bytes accounted per version beyond its key and value.
const VERSION_OVERHEAD_BYTES: usize = 64;
/// Bytes accounted per new row beyond its key (skip-list node, hash entry, chain).
const ROW_OVERHEAD_BYTES: usize = 160;
const HASH_SHARDS: usize = 16;

/// One shard of the hash index.
type HashShard = RwLock<HashMap<Vec<u8>, Arc<MvccRow>, Xxh3Builder>>;

/// One version in a chain.
struct VersionNode {
    /// The writer while uncommitted; dropped once the commit version is stamped.
    txn: Option<Arc<TxnCtx>>,
    txn_id: TxnId,
    seq: StmtSeq,
    /// The commit version once stamped; `Version::ZERO` while uncommitted.
    commit: Version,
    op: RowOp,
}

/// A row's version chain.
#[derive(Default)]
pub struct MvccRow {
    chain: Mutex<Vec<VersionNode>>,
}

impl std::fmt::Debug for MvccRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MvccRow({} versions)", self.chain.lock().len())
    }
}

/// The visible state of a row in one source (MemTable or SSTable) at a snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Visible {
    /// The newest visible version is this value.
    Row(Arc<[u8]>),
    /// The newest visible version is a delete.
    Deleted,
    /// No version here is visible: look in older sources.
    Absent,
}

/// One step of resolving visibility: done, or wait for a committing writer and retry.
enum Step {
    Done(Visible),
    Wait(Arc<TxnCtx>),
}

/// What locking reads, unique checks and write conflicts need: the newest committed version
/// and any lock on the row.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Latest {
    /// Another transaction holding the row (uncommitted or committing version).
    pub locked_by: Option<TxnId>,
    /// The newest committed version and what it did (`None`: no committed version here).
    pub committed: Option<(Version, Option<Arc<[u8]>>)>,
    /// The reader's own newest write of an earlier statement, if any (`Some(None)`: deleted).
    pub own: Option<Option<Arc<[u8]>>>,
    /// The logging transaction that wrote `committed`, if it has not decided yet: a reader
    /// that acts on the value depends on it (early lock release, see [`crate::mvcc`]).
    pub depends: Option<Dependency>,
}

/// How a chain answers [`MvccRow::latest`]: either known, or look at older sources.
pub(crate) struct RowLatest {
    pub(crate) latest: Latest,
    /// Whether the chain had any version at all (otherwise older sources decide).
    pub(crate) any: bool,
}

/// Whether the newest committed version in `chain` (lock-only ones aside) is a delete: the
/// row is a tombstone here.
fn ends_deleted(chain: &[VersionNode]) -> bool {
    chain
        .iter()
        .rev()
        .find(|n| n.commit != Version::ZERO && n.op != RowOp::Lock)
        .is_some_and(|n| n.op == RowOp::Delete)
}

/// How a change of a chain changed the MemTable's tombstone count.
fn tombstone_delta(was: bool, is: bool) -> i64 {
    i64::from(is) - i64::from(was)
}

fn op_value(op: &RowOp) -> Visible {
    match op {
        RowOp::Put(v) => Visible::Row(v.clone()),
        RowOp::Delete => Visible::Deleted,
        RowOp::Lock => Visible::Absent,
    }
}

impl MvccRow {
    fn step(&self, ctx: &ReadCtx) -> Step {
        let chain = self.chain.lock();
        for node in chain.iter().rev() {
            if node.op == RowOp::Lock {
                continue;
            }
            if node.commit != Version::ZERO {
                if node.commit <= ctx.snapshot {
                    return Step::Done(op_value(&node.op));
                }
                continue;
            }
            if Some(node.txn_id) == ctx.txn {
                if node.seq < ctx.seq {
                    return Step::Done(op_value(&node.op));
                }
                continue;
            }
            let txn = node
                .txn
                .as_ref()
                .expect("uncommitted version keeps its writer");
            match txn.status() {
                TxnStatus::Committed(v) if v <= ctx.snapshot => {
                    return Step::Done(op_value(&node.op))
                }
                TxnStatus::Committing(p) | TxnStatus::Prepared(p) | TxnStatus::Logging(p)
                    if p <= ctx.snapshot =>
                {
                    return Step::Wait(txn.clone())
                }
                _ => continue,
            }
        }
        Step::Done(Visible::Absent)
    }

    /// The version visible to `ctx`, waiting for committing writers where needed.
    pub fn read(&self, ctx: &ReadCtx) -> Result<Visible> {
        loop {
            match self.step(ctx) {
                Step::Done(v) => return Ok(v),
                Step::Wait(txn) => {
                    txn.wait_decided(ctx.decision_wait)?;
                }
            }
        }
    }

    /// The newest committed version, the lock holder and the reader's own write.
    pub(crate) fn latest(&self, me: Option<TxnId>, seq: StmtSeq) -> RowLatest {
        let chain = self.chain.lock();
        let mut latest = Latest::default();
        for node in chain.iter().rev() {
            let committed_at = if node.commit != Version::ZERO {
                Some(node.commit)
            } else if Some(node.txn_id) == me {
                if latest.own.is_none() && node.seq < seq && node.op != RowOp::Lock {
                    latest.own = Some(match &node.op {
                        RowOp::Put(v) => Some(v.clone()),
                        _ => None,
                    });
                }
                None
            } else {
                let txn = node
                    .txn
                    .as_ref()
                    .expect("uncommitted version keeps its writer");
                match txn.status() {
                    TxnStatus::Committed(v) => Some(v),
                    TxnStatus::Aborted => None,
                    TxnStatus::Logging(v) => {
                        if node.op != RowOp::Lock {
                            latest.depends = Some(Dependency(txn.clone()));
                        }
                        Some(v)
                    }
                    _ => {
                        latest.locked_by.get_or_insert(node.txn_id);
                        None
                    }
                }
            };
            if let Some(v) = committed_at {
                if node.op != RowOp::Lock {
                    let value = match &node.op {
                        RowOp::Put(val) => Some(val.clone()),
                        _ => None,
                    };
                    latest.committed = Some((v, value));
                    break;
                }
            }
        }
        RowLatest {
            latest,
            any: !chain.is_empty(),
        }
    }

    /// Stamps `txn`'s last change of the row with its commit version and drops what the
    /// commit makes redundant: lock-only versions and the transaction's older writes.
    /// Returns how the row's tombstone state changed (see [`MemTable::tombstones`]).
    pub(crate) fn stamp(&self, txn: TxnId, version: Version) -> i64 {
        let mut chain = self.chain.lock();
        let own = |n: &VersionNode| n.txn_id == txn && n.commit == Version::ZERO;
        let Some(newest) = chain.iter().rposition(own) else {
            return 0;
        };
        let was_deleted = ends_deleted(&chain);
        // The transaction's last change of the row; lock-only versions change nothing.
        let keep = chain.iter().rposition(|n| own(n) && n.op != RowOp::Lock);
        if let Some(prev) = chain[..newest]
            .iter()
            .rev()
            .find(|n| n.commit != Version::ZERO)
        {
            assert!(
                prev.commit < version,
                "commit versions must increase along a row"
            );
        }
        let mut i = 0;
        chain.retain_mut(|n| {
            let idx = i;
            i += 1;
            if n.txn_id != txn || n.commit != Version::ZERO {
                return true;
            }
            if Some(idx) == keep {
                n.commit = version;
                n.txn = None;
                return true;
            }
            false
        });
        tombstone_delta(was_deleted, ends_deleted(&chain))
    }

    /// Removes `txn`'s uncommitted versions of statements `>= from`.
    pub(crate) fn unlink(&self, txn: TxnId, from: StmtSeq) {
        self.chain
            .lock()
            .retain(|n| !(n.txn_id == txn && n.commit == Version::ZERO && n.seq >= from));
    }

    /// Committed versions, newest first, without lock-only versions and with one version per
    /// commit version (a transaction's last write of the row).
    pub(crate) fn committed_versions(&self) -> Vec<(Version, Option<Arc<[u8]>>)> {
        let chain = self.chain.lock();
        let mut out: Vec<(Version, Option<Arc<[u8]>>)> = Vec::with_capacity(chain.len());
        for node in chain.iter().rev() {
            assert!(node.commit != Version::ZERO, "dumping an undecided version");
            if node.op == RowOp::Lock || out.last().is_some_and(|(v, _)| *v == node.commit) {
                continue;
            }
            let value = match &node.op {
                RowOp::Put(v) => Some(v.clone()),
                _ => None,
            };
            out.push((node.commit, value));
        }
        out
    }
}

/// An in-memory, multi-versioned write buffer of one tablet.
pub struct MemTable {
    id: u64,
    rows: SkipMap<Vec<u8>, Arc<MvccRow>>,
    hash: [HashShard; HASH_SHARDS],
    bytes: AtomicUsize,
    frozen: AtomicBool,
    /// Transactions with versions here that have not decided yet.
    undecided: Mutex<HashMap<TxnId, Arc<TxnCtx>>>,
    /// Keys whose newest committed version here is a delete.
    tombstones: AtomicI64,
    /// Lowest and highest log index of a commit (or replayed write) applied here.
    log_min: AtomicU64,
    log_max: AtomicU64,
    /// Highest commit version applied here.
    version_max: AtomicU64,
}

impl std::fmt::Debug for MemTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemTable")
            .field("id", &self.id)
            .field("rows", &self.rows.len())
            .field("bytes", &self.bytes())
            .field("frozen", &self.is_frozen())
            .finish()
    }
}

impl MemTable {
    /// An empty, active MemTable.
    pub fn new(id: u64) -> Arc<MemTable> {
        Arc::new(MemTable {
            id,
            rows: SkipMap::new(),
            hash: std::array::from_fn(|_| RwLock::new(HashMap::with_hasher(Xxh3Builder::new()))),
            bytes: AtomicUsize::new(0),
            frozen: AtomicBool::new(false),
            undecided: Mutex::new(HashMap::new()),
            tombstones: AtomicI64::new(0),
            log_min: AtomicU64::new(u64::MAX),
            log_max: AtomicU64::new(0),
            version_max: AtomicU64::new(0),
        })
    }

    /// This MemTable's id (increasing within a tablet).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Accounted memory.
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Rows (keys) held.
    pub fn row_count(&self) -> usize {
        self.rows.len()
    }

    /// Keys whose newest committed version here is a delete. A range read steps over each
    /// (and over what it hides in the SSTables) until a major compaction drops both; a
    /// queue-like table, whose head is read and deleted, piles them up in front of every
    /// read of the head.
    pub fn tombstones(&self) -> usize {
        // Commits add their changes after releasing the row, so a delete's +1 may land
        // after the -1 of the write that followed it: the count can dip below zero briefly.
        self.tombstones.load(Ordering::Relaxed).max(0) as usize
    }

    pub(crate) fn add_tombstones(&self, delta: i64) {
        if delta != 0 {
            self.tombstones.fetch_add(delta, Ordering::Relaxed);
        }
    }

    /// Whether the MemTable is frozen (takes no more writes).
    pub fn is_frozen(&self) -> bool {
        self.frozen.load(Ordering::Acquire)
    }

    pub(crate) fn freeze(&self) {
        self.frozen.store(true, Ordering::Release);
    }

    /// The log index range of what was applied here (`None` if nothing committed yet).
    pub fn log_range(&self) -> Option<(LogIndex, LogIndex)> {
        let (lo, hi) = (
            self.log_min.load(Ordering::Acquire),
            self.log_max.load(Ordering::Acquire),
        );
        (lo != u64::MAX).then_some((LogIndex(lo), LogIndex(hi)))
    }

    /// The highest commit version applied here.
    pub fn version_max(&self) -> Version {
        Version(self.version_max.load(Ordering::Acquire))
    }

    fn shard(&self, key: &[u8]) -> &HashShard {
        &self.hash[(xxh3_64(key) as usize) % HASH_SHARDS]
    }

    /// The row for `key`, if the MemTable has one (hash index, no skip-list seek).
    pub fn row(&self, key: &[u8]) -> Option<Arc<MvccRow>> {
        self.shard(key).read().get(key).cloned()
    }

    fn row_or_insert(&self, key: &[u8]) -> Arc<MvccRow> {
        if let Some(row) = self.row(key) {
            return row;
        }
        let entry = self
            .rows
            .get_or_insert_with(key.to_vec(), || Arc::new(MvccRow::default()));
        let row = entry.value().clone();
        let mut shard = self.shard(key).write();
        if !shard.contains_key(key) {
            shard.insert(key.to_vec(), row.clone());
            self.bytes
                .fetch_add(ROW_OVERHEAD_BYTES + 2 * key.len(), Ordering::Relaxed);
        }
        row
    }

    fn op_bytes(op: &RowOp) -> usize {
        VERSION_OVERHEAD_BYTES + if let RowOp::Put(v) = op { v.len() } else { 0 }
    }

    /// Links an uncommitted version of statement `seq` for the guarded transaction. Fails
    /// with [`StorageError::Locked`] if another transaction holds the row here, or (when this
    /// MemTable has no version of the row) in an older MemTable as `older` reports (its
    /// lock holder, and the logging transaction the write would depend on). Writing over a
    /// logging transaction's version makes the writer depend on it.
    pub(crate) fn write(
        self: &Arc<Self>,
        guard: &mut TxnWriteGuard<'_>,
        key: &[u8],
        seq: StmtSeq,
        op: RowOp,
        older: impl FnOnce() -> (Option<TxnId>, Option<Dependency>),
    ) -> Result<()> {
        assert!(!self.is_frozen(), "write into frozen MemTable {}", self.id);
        let me = guard.txn().id();
        let row = self.row_or_insert(key);
        let mut chain = row.chain.lock();
        for node in chain.iter().rev() {
            if node.commit != Version::ZERO || node.txn_id == me {
                break;
            }
            let holder = node
                .txn
                .as_ref()
                .expect("uncommitted version keeps its writer");
            match holder.status() {
                TxnStatus::Aborted | TxnStatus::Committed(_) => continue,
                TxnStatus::Logging(_) => {
                    guard.depend_on(holder);
                    break;
                }
                _ => {
                    return Err(StorageError::Locked {
                        holder: node.txn_id,
                    })
                }
            }
        }
        if chain.is_empty() {
            match older() {
                (Some(holder), _) => return Err(StorageError::Locked { holder }),
                (None, Some(Dependency(d))) => guard.depend_on(&d),
                (None, None) => {}
            }
        }
        self.bytes
            .fetch_add(Self::op_bytes(&op) + key.len() / 4, Ordering::Relaxed);
        chain.push(VersionNode {
            txn: Some(guard.txn().clone()),
            txn_id: me,
            seq,
            commit: Version::ZERO,
            op,
        });
        drop(chain);
        guard.record(self, &row, seq);
        Ok(())
    }

    /// Applies an already committed version (log replay on recovery, or a follower applying
    /// its leader's log). Idempotent per (key, version): replaying a log entry whose effects
    /// are already present changes nothing.
    pub fn apply_committed(&self, key: &[u8], version: Version, op: RowOp, log_index: LogIndex) {
        assert!(
            version != Version::ZERO,
            "committed version must be non-zero"
        );
        if op == RowOp::Lock {
            return;
        }
        let row = self.row_or_insert(key);
        let mut chain = row.chain.lock();
        let was_deleted = ends_deleted(&chain);
        if let Some(pos) = chain.iter().position(|n| n.commit == version) {
            chain[pos].op = op;
        } else {
            let at = chain
                .iter()
                .position(|n| n.commit > version)
                .unwrap_or(chain.len());
            self.bytes.fetch_add(Self::op_bytes(&op), Ordering::Relaxed);
            chain.insert(
                at,
                VersionNode {
                    txn: None,
                    txn_id: TxnId(0),
                    seq: StmtSeq(0),
                    commit: version,
                    op,
                },
            );
        }
        self.add_tombstones(tombstone_delta(was_deleted, ends_deleted(&chain)));
        drop(chain);
        self.note_applied(Some(log_index), version);
    }

    pub(crate) fn register_txn(&self, txn: &Arc<TxnCtx>) {
        self.undecided.lock().insert(txn.id(), txn.clone());
    }

    /// Called once per transaction and MemTable when the transaction decides.
    pub(crate) fn note_decided(&self, txn: TxnId, commit: Option<(Version, LogIndex)>) {
        self.undecided.lock().remove(&txn);
        if let Some((version, log_index)) = commit {
            self.note_applied(Some(log_index), version);
        }
    }

    fn note_applied(&self, log_index: Option<LogIndex>, version: Version) {
        if let Some(LogIndex(i)) = log_index {
            self.log_min.fetch_min(i, Ordering::AcqRel);
            self.log_max.fetch_max(i, Ordering::AcqRel);
        }
        self.version_max.fetch_max(version.0, Ordering::AcqRel);
    }

    /// Transactions that wrote here and have not decided.
    pub fn undecided(&self) -> Vec<Arc<TxnCtx>> {
        self.undecided.lock().values().cloned().collect()
    }

    /// A transaction other than `me` holding a row with a key in `(start, end)`: one with an
    /// undecided version there (a write, a committing one, or a `FOR UPDATE` lock). Cheap
    /// when no other transaction has written here.
    pub fn holder_in(&self, start: Bound<&[u8]>, end: Bound<&[u8]>, me: TxnId) -> Option<TxnId> {
        if self.undecided.lock().keys().all(|t| *t == me) {
            return None;
        }
        let mut entry = self.rows.lower_bound(start);
        while let Some(e) = entry {
            let in_range = before_end(e.key(), end);
            if !in_range {
                return None;
            }
            if let Some(h) = e.value().latest(Some(me), StmtSeq(0)).latest.locked_by {
                return Some(h);
            }
            entry = e.next();
        }
        None
    }

    /// Keys in `[start, end)` (as the bounds say), counted up to `limit`.
    pub(crate) fn count_keys(&self, start: Bound<&[u8]>, end: Bound<&[u8]>, limit: u64) -> u64 {
        let mut n = 0;
        let mut entry = self.rows.lower_bound(start);
        while let Some(e) = entry {
            if n >= limit || !before_end(e.key(), end) {
                break;
            }
            n += 1;
            entry = e.next();
        }
        n
    }

    /// Fills `batch` (cleared first) with up to `limit` rows whose keys lie after `after` and
    /// before `end`, in key order.
    pub(crate) fn read_after(
        &self,
        after: Bound<&[u8]>,
        end: Bound<&[u8]>,
        limit: usize,
        batch: &mut RowBatch,
    ) {
        batch.clear();
        let mut entry = self.rows.lower_bound(after);
        while let Some(e) = entry {
            if batch.len() >= limit || !before_end(e.key(), end) {
                break;
            }
            batch.push(e.key(), e.value());
            entry = e.next();
        }
    }
}

/// MemTable rows read in key order into buffers a reader keeps from batch to batch: the keys
/// end to end with where each ends, and the rows, so stepping over a row allocates nothing.
#[derive(Debug, Default)]
pub(crate) struct RowBatch {
    keys: Vec<u8>,
    ends: Vec<usize>,
    rows: Vec<Arc<MvccRow>>,
}

impl RowBatch {
    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// The key of row `i`.
    pub(crate) fn key(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.keys[start..self.ends[i]]
    }

    /// Row `i`.
    pub(crate) fn row(&self, i: usize) -> &Arc<MvccRow> {
        &self.rows[i]
    }

    pub(crate) fn clear(&mut self) {
        self.keys.clear();
        self.ends.clear();
        self.rows.clear();
    }

    fn push(&mut self, key: &[u8], row: &Arc<MvccRow>) {
        self.keys.extend_from_slice(key);
        self.ends.push(self.keys.len());
        self.rows.push(row.clone());
    }
}

/// Whether `key` lies before the range end `end`.
pub(crate) fn before_end(key: &[u8], end: Bound<&[u8]>) -> bool {
    match end {
        Bound::Unbounded => true,
        Bound::Included(k) => key <= k,
        Bound::Excluded(k) => key < k,
    }
}
