//! Row lock waits, deadlock detection and shared locks.
//!
//! Exclusive row locks live in the storage engine (an uncommitted version is the lock); this
//! module is where a transaction *waits* for one. Shared locks (`FOR SHARE`, `LOCK IN SHARE
//! MODE`, SERIALIZABLE reads) cannot be a single version, so they are kept here. A striped
//! latch per key makes "check shared holders, then write" and "check the engine's lock, then
//! take a shared lock" atomic with respect to each other.
//!
//! Range locks (SERIALIZABLE range reads; InnoDB's next-key locks in share mode, at the
//! granularity of the range a statement reads): a writer of any key in another
//! transaction's locked range waits, so a serializable reader's range neither changes nor
//! gains a row (a phantom) until that reader ends. Writers check the ranges under a shared
//! guard held across the engine write, and a reader registers its range under the exclusive
//! one before it looks for writers already in the range: every writer is either seen by the
//! reader or sees the range.
//!
//! Deadlocks: a waiting transaction waits for exactly one other at a time, so the wait-for
//! graph is a set of chains; adding an edge that closes a cycle is detected at once, and the
//! transaction asking is the victim (MySQL's 1213; InnoDB picks the smaller transaction, we
//! pick the one that closed the cycle, which is deterministic and needs no bookkeeping).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, MutexGuard, RwLock, RwLockReadGuard};
use reef_common::ids::{TabletId, TxnId};
use reef_storage::mvcc::TxnCtx;
use reef_storage::scan::{range_contains, KeyRange};
use reef_storage::StorageError;
use xxhash::hash_key;

use crate::error::{Result, TxnError};

/// How often a lock wait looks for a `KILL QUERY`.
const INTERRUPT_CHECK: Duration = Duration::from_millis(100);

const LATCH_STRIPES: usize = 256;
const SHARED_STRIPES: usize = 64;

mod xxhash {
    use reef_common::ids::TabletId;
    /// FNV-1a over the tablet id and key: cheap and good enough to spread stripes.
    pub fn hash_key(tablet: TabletId, key: &[u8]) -> usize {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ tablet.0;
        for &b in key {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h as usize
    }
}

/// What a registered transaction shows to the lock table and to views.
#[derive(Debug)]
pub struct TxnEntry {
    /// The engine's descriptor.
    pub ctx: Arc<TxnCtx>,
    /// When it began.
    pub started: Instant,
    /// What it waits for, if it waits.
    pub waiting: Mutex<Option<Wait>>,
    /// A lower bound of the snapshot its reads use (0 before the first): the GC horizon
    /// stays at or below it.
    pub snapshot: std::sync::atomic::AtomicU64,
}

type SharedMap = HashMap<(TabletId, Vec<u8>), Vec<TxnId>>;

/// Range locks by tablet: each holder and the keys it locks, present or not.
type RangeMap = HashMap<TabletId, Vec<(TxnId, KeyRange)>>;

/// What a lock covers: one key, or (a range lock) every key of a range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LockOn {
    /// One key (a row or an index entry), present or not.
    Key(Vec<u8>),
    /// A SERIALIZABLE range read's range.
    Range(KeyRange),
}

/// A lock request and the lock in its way (both on `tablet` and `on`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockConflict {
    /// The tablet (a table's rows or one of its indexes).
    pub tablet: TabletId,
    /// What the request covers.
    pub on: LockOn,
    /// Whether the request is exclusive.
    pub exclusive: bool,
    /// The transaction holding the lock in the way.
    pub holder: TxnId,
    /// Whether that lock is exclusive (a write or `FOR UPDATE`).
    pub held_exclusive: bool,
}

/// A transaction's lock wait.
#[derive(Clone, Debug)]
pub struct Wait {
    /// What it waits for.
    pub conflict: LockConflict,
    /// Since when.
    pub since: Instant,
}

/// The range locks, read by every writer (see the module's note).
#[derive(Debug)]
pub struct Ranges<'a>(RwLockReadGuard<'a, RangeMap>);

impl Ranges<'_> {
    /// A holder other than `me` of a range lock covering `key`.
    pub fn holder_other_than(&self, tablet: TabletId, key: &[u8], me: TxnId) -> Option<TxnId> {
        self.0
            .get(&tablet)?
            .iter()
            .find(|(txn, range)| *txn != me && range_contains(range, key))
            .map(|(txn, _)| *txn)
    }
}

/// The node's lock table.
pub struct LockTable {
    latches: Vec<Mutex<()>>,
    shared: Vec<Mutex<SharedMap>>,
    waits: Mutex<HashMap<TxnId, TxnId>>,
    ranges: RwLock<RangeMap>,
    active: RwLock<HashMap<TxnId, Arc<TxnEntry>>>,
}

impl std::fmt::Debug for LockTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LockTable({} active)", self.active.read().len())
    }
}

impl Default for LockTable {
    fn default() -> Self {
        LockTable {
            latches: (0..LATCH_STRIPES).map(|_| Mutex::new(())).collect(),
            shared: (0..SHARED_STRIPES)
                .map(|_| Mutex::new(HashMap::new()))
                .collect(),
            waits: Mutex::new(HashMap::new()),
            ranges: RwLock::new(HashMap::new()),
            active: RwLock::new(HashMap::new()),
        }
    }
}

impl LockTable {
    /// Registers a new transaction.
    pub fn register(&self, ctx: Arc<TxnCtx>) -> Arc<TxnEntry> {
        let e = Arc::new(TxnEntry {
            ctx: ctx.clone(),
            started: Instant::now(),
            waiting: Mutex::new(None),
            snapshot: std::sync::atomic::AtomicU64::new(0),
        });
        self.active.write().insert(ctx.id(), e.clone());
        e
    }

    /// Forgets a finished transaction and releases its shared and range locks.
    pub fn deregister(&self, id: TxnId, shared: &[(TabletId, Vec<u8>)], ranged: bool) {
        if ranged {
            let mut ranges = self.ranges.write();
            ranges.retain(|_, locks| {
                locks.retain(|(txn, _)| *txn != id);
                !locks.is_empty()
            });
        }
        for (tablet, key) in shared {
            let mut stripe = self.shared[hash_key(*tablet, key) % SHARED_STRIPES].lock();
            if let Some(holders) = stripe.get_mut(&(*tablet, key.clone())) {
                holders.retain(|h| *h != id);
                if holders.is_empty() {
                    stripe.remove(&(*tablet, key.clone()));
                }
            }
        }
        self.active.write().remove(&id);
        self.waits.lock().remove(&id);
    }

    /// Active transactions (for `SHOW PROCESSLIST`-style and `INNODB_TRX`-style views).
    pub fn active(&self) -> Vec<Arc<TxnEntry>> {
        self.active.read().values().cloned().collect()
    }

    /// Serializes lock decisions on one key.
    pub fn latch(&self, tablet: TabletId, key: &[u8]) -> MutexGuard<'_, ()> {
        self.latches[hash_key(tablet, key) % LATCH_STRIPES].lock()
    }

    /// A shared holder of the key other than `me` (call under the key's latch).
    pub fn shared_holder_other_than(
        &self,
        tablet: TabletId,
        key: &[u8],
        me: TxnId,
    ) -> Option<TxnId> {
        let stripe = self.shared[hash_key(tablet, key) % SHARED_STRIPES].lock();
        stripe
            .get(&(tablet, key.to_vec()))?
            .iter()
            .copied()
            .find(|h| *h != me)
    }

    /// Records a shared lock (call under the key's latch); returns false if already held.
    pub fn add_shared(&self, tablet: TabletId, key: &[u8], me: TxnId) -> bool {
        let mut stripe = self.shared[hash_key(tablet, key) % SHARED_STRIPES].lock();
        let holders = stripe.entry((tablet, key.to_vec())).or_default();
        if holders.contains(&me) {
            return false;
        }
        holders.push(me);
        true
    }

    /// The range locks, for a writer to check while it writes (hold the guard across the
    /// engine write, and drop it before waiting).
    pub fn ranges(&self) -> Ranges<'_> {
        Ranges(self.ranges.read())
    }

    /// Takes a range lock (a no-op if `me` holds one on exactly this range); returns whether
    /// it is new. Writers that wrote before this returns are in the MemTables; later ones see
    /// the lock.
    pub fn add_range(&self, tablet: TabletId, range: &KeyRange, me: TxnId) -> bool {
        let mut ranges = self.ranges.write();
        let locks = ranges.entry(tablet).or_default();
        if locks.iter().any(|(txn, r)| *txn == me && r == range) {
            return false;
        }
        locks.push((me, range.clone()));
        true
    }

    /// Waits until the conflict's holder commits or rolls back, or `deadline` passes. Fails with
    /// [`TxnError::Deadlock`] at once if waiting would close a cycle.
    pub fn wait_for(
        &self,
        waiter: TxnId,
        conflict: LockConflict,
        deadline: Instant,
        interrupt: Option<&AtomicBool>,
    ) -> Result<()> {
        let holder = conflict.holder;
        let Some(target) = self.active.read().get(&holder).cloned() else {
            return Ok(()); // finished already: retry
        };
        {
            let mut waits = self.waits.lock();
            let mut cur = holder;
            for _ in 0..=waits.len() {
                if cur == waiter {
                    tracing::info!(victim = %waiter, holder = %holder, "deadlock: rolling back the transaction that closed the cycle");
                    return Err(TxnError::Deadlock);
                }
                match waits.get(&cur) {
                    Some(next) => cur = *next,
                    None => break,
                }
            }
            waits.insert(waiter, holder);
        }
        let me = self.active.read().get(&waiter).cloned();
        if let Some(me) = &me {
            *me.waiting.lock() = Some(Wait {
                conflict,
                since: Instant::now(),
            });
        }
        // Wait in slices, so that a KILL QUERY ends the wait within one.
        let result = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match target.ctx.wait_released(left.min(INTERRUPT_CHECK)) {
                Ok(_) => break Ok(()),
                Err(StorageError::DecisionTimeout { .. }) if left > INTERRUPT_CHECK => {
                    if interrupt.is_some_and(|f| f.load(Ordering::Relaxed)) {
                        break Err(TxnError::Interrupted);
                    }
                }
                Err(StorageError::DecisionTimeout { .. }) => break Err(TxnError::LockWaitTimeout),
                Err(e) => break Err(e.into()),
            }
        };
        self.waits.lock().remove(&waiter);
        if let Some(me) = &me {
            *me.waiting.lock() = None;
        }
        result
    }

    /// Whether `id` is registered (still active).
    pub fn is_active(&self, id: TxnId) -> bool {
        self.active.read().contains_key(&id)
    }
}
