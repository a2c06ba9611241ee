//! Log streams on openraft (DESIGN.md §5): one Raft group per log stream, whose log is the
//! redo log of the stream's tablets.
//!
//! - The log sits on the node's [`LogStore`] (one group per stream; every stream shares its
//!   segment files and group commit): [`storage::LogStorage`].
//! - The state machine is the stream's tablets ([`machine::StateMachine`]). A transaction
//!   writes its versions into the MemTables under row locks, proposes one entry with its redo
//!   and commit version ([`CommitLog::append`]), and stamps the versions itself once the entry
//!   is committed and applied; entries proposed elsewhere are applied to the tablets.
//! - Recovery reads the log before Raft starts: the catalog first, then the tablets the
//!   catalog names, each from its checkpoint ([`LogStream::recover`], [`LogStream::add_tablets`]).
//!   With one replica every durable entry is committed, so all of them are replayed and
//!   Raft starts with everything applied.
//! - Checkpoints: a snapshot is the tablets' SSTables, taken at the highest index every
//!   tablet has durable, and openraft purges the log up to it. A checkpointer thread takes one
//!   whenever that index has moved, and when the log grows past
//!   [`LogStreamOptions::segments_before_freeze`] segments it freezes the MemTables holding
//!   the oldest entries so their dumps let the log go.

mod codec;
mod commit;
mod machine;
mod network;
mod storage;

use std::collections::{BTreeMap, HashSet};
use std::io::Cursor;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use openraft::{BasicNode, Config, LogId, Raft, ServerState, SnapshotMeta, StoredMembership};
use parking_lot::{Condvar, Mutex};
use reef_common::ids::{LogIndex, TxnId};
use reef_storage::logstore::{GroupId, LogStore};
use reef_storage::tablet::Tablet;
use reef_txn::log::{
    corrupt_entry, replay_group, scan_group, CommitLog, CommitRecord, StreamTablets,
};
use reef_txn::ts::TimestampSource;
use reef_txn::TxnError;
use serde::{Deserialize, Serialize};

use self::codec::normal_body;
use self::storage::LogStorage;

/// A node's id within a log stream's membership.
pub type NodeId = u64;

/// A normal entry's payload: encoded [`CommitRecord`]s ([`reef_txn::log::encode_batch`]),
/// and, on the way from a proposer to openraft's responder, the sessions waiting for them.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redo(pub Vec<u8>, #[serde(skip)] pub commit::Waiting);

impl std::fmt::Debug for Redo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redo({} bytes)", self.0.len())
    }
}

impl std::fmt::Display for Redo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

openraft::declare_raft_types!(
    /// openraft's types for a log stream.
    pub StreamTypes:
        D = Redo,
        R = (),
        NodeId = NodeId,
        Node = BasicNode,
        Entry = openraft::Entry<StreamTypes>,
        SnapshotData = Cursor<Vec<u8>>,
        Responder = commit::CommitResponder,
        AsyncRuntime = openraft::TokioRuntime,
);

/// A log stream's entry.
pub type Entry = openraft::Entry<StreamTypes>;

/// How a log stream runs.
#[derive(Clone, Copy, Debug)]
pub struct LogStreamOptions {
    /// How often the checkpointer looks at the log.
    pub checkpoint_interval: Duration,
    /// When the log store holds more segments than this, MemTables holding the oldest
    /// entries are frozen (and dumped by the compactor) so the log can be purged.
    pub segments_before_freeze: usize,
}

impl Default for LogStreamOptions {
    fn default() -> Self {
        LogStreamOptions {
            checkpoint_interval: Duration::from_secs(1),
            segments_before_freeze: 4,
        }
    }
}

/// Memberships applied to the state machine, by log index: a snapshot and a purge need the
/// one in force at their index.
#[derive(Debug, Default)]
pub(crate) struct Memberships {
    by_index: Mutex<BTreeMap<u64, StoredMembership<NodeId, BasicNode>>>,
}

impl Memberships {
    fn record(&self, m: StoredMembership<NodeId, BasicNode>) {
        let index = m.log_id().map_or(0, |id| id.index);
        self.by_index.lock().insert(index, m);
    }

    /// The membership in force at `index`.
    fn at(&self, index: u64) -> Option<StoredMembership<NodeId, BasicNode>> {
        self.by_index
            .lock()
            .range(..=index)
            .next_back()
            .map(|(_, m)| m.clone())
    }

    fn last(&self) -> StoredMembership<NodeId, BasicNode> {
        self.by_index
            .lock()
            .values()
            .next_back()
            .cloned()
            .unwrap_or_default()
    }

    /// Keeps the membership in force at `index` and later ones.
    fn forget_before(&self, index: u64) {
        let mut map = self.by_index.lock();
        if let Some(&keep) = map.range(..=index).next_back().map(|(k, _)| k) {
            map.retain(|&k, _| k >= keep);
        }
    }
}

/// A snapshot's meta and its description.
type BuiltSnapshot = (SnapshotMeta<NodeId, BasicNode>, Vec<u8>);

/// What the log storage, the state machine and the stream share.
pub(crate) struct Shared {
    log: LogStorage,
    tablets: StreamTablets,
    /// Transactions whose commit entry this node proposed and which stamp it themselves.
    proposals: Mutex<HashSet<TxnId>>,
    ts: Arc<dyn TimestampSource>,
    memberships: Arc<Memberships>,
    /// openraft's last applied log id.
    applied: Mutex<Option<LogId<NodeId>>>,
    /// The last snapshot built: its meta and its description.
    snapshot: Mutex<Option<BuiltSnapshot>>,
    /// Proposals the log's syncer completes while this node is the only voter.
    local: Arc<commit::LocalCommits>,
    /// Commits waiting to be proposed.
    batcher: Arc<commit::Batcher>,
}

impl Shared {
    /// One commit record of entry `index` is in the tablets (stamped by its transaction or
    /// applied here); the entry counts as applied once all of its records are.
    fn record_applied(&self, index: LogIndex) {
        if self.log.unapplied.done(index.0) {
            self.tablets.mark_applied(index);
        }
    }
}

/// One log stream: a Raft group over the stream's tablets.
pub struct LogStream {
    shared: Arc<Shared>,
    node: NodeId,
    opts: LogStreamOptions,
    runtime: Arc<tokio::runtime::Runtime>,
    checkpointer: Mutex<Option<JoinHandle<()>>>,
    /// Raised once by [`LogStream::shutdown`]; the checkpointer waits on it.
    stop: Arc<(Mutex<bool>, Condvar)>,
}

impl std::fmt::Debug for LogStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LogStream(group {})", self.shared.log.group)
    }
}

fn storage_error(what: String) -> TxnError {
    TxnError::Storage(reef_storage::StorageError::Invalid(what))
}

impl LogStream {
    /// Recovers log stream `group` of `store` into `tablets` (the catalog's, first):
    /// replays every committed entry above each tablet's checkpoint. Raft starts with
    /// [`LogStream::start`], after [`LogStream::add_tablets`] has recovered the rest.
    pub fn recover(
        store: Arc<LogStore>,
        group: GroupId,
        node: NodeId,
        tablets: Vec<Arc<Tablet>>,
        ts: Arc<dyn TimestampSource>,
        runtime: Arc<tokio::runtime::Runtime>,
        opts: LogStreamOptions,
    ) -> Result<LogStream, TxnError> {
        let memberships = Arc::new(Memberships::default());
        let local = Arc::new(commit::LocalCommits::default());
        let batcher = Arc::new(commit::Batcher::default());
        let log = LogStorage {
            store: store.clone(),
            group,
            node,
            memberships: memberships.clone(),
            local: local.clone(),
            sync_pending: Default::default(),
            batcher: batcher.clone(),
            unapplied: Default::default(),
        };
        let mark = log.purge_mark().map_err(storage_error)?;
        if mark.membership.log_id().is_some() {
            memberships.record(mark.membership.clone());
        }
        let mut last = mark.log_id;
        // Memberships anywhere in the log (rare; only their entries are decoded whole).
        scan_group(&store, group, 0, |e| {
            let corrupt = |w| corrupt_entry(e.index, w);
            if normal_body(e).map_err(corrupt)?.is_none() {
                let entry = codec::decode_entry(e).map_err(corrupt)?;
                if let openraft::EntryPayload::Membership(m) = entry.payload {
                    memberships.record(StoredMembership::new(Some(entry.log_id), m));
                }
            }
            last = Some(codec::entry_log_id(e).map_err(corrupt)?);
            Ok(())
        })?;
        let applied = LogIndex(last.map_or(0, |id| id.index));
        let shared = Arc::new(Shared {
            log,
            tablets: StreamTablets::new(applied),
            proposals: Mutex::new(HashSet::new()),
            ts,
            memberships,
            applied: Mutex::new(last),
            snapshot: Mutex::new(None),
            local,
            batcher,
        });
        let stream = LogStream {
            shared,
            node,
            opts,
            runtime,
            checkpointer: Mutex::new(None),
            stop: Arc::new((Mutex::new(false), Condvar::new())),
        };
        stream.add_tablets(tablets)?;
        Ok(stream)
    }

    /// Adds recovered tablets (those the catalog names): replays the committed entries
    /// above each one's checkpoint into it.
    pub fn add_tablets(&self, tablets: Vec<Arc<Tablet>>) -> Result<(), TxnError> {
        let log = &self.shared.log;
        let added: std::collections::HashMap<_, _> =
            tablets.into_iter().map(|t| (t.id(), t)).collect();
        replay_group(
            &log.store,
            log.group,
            &added,
            self.shared.ts.as_ref(),
            normal_body,
        )?;
        for t in added.into_values() {
            self.shared.tablets.insert(t);
        }
        Ok(())
    }

    /// Starts Raft: a new stream is initialized with this node as its only voter; a
    /// recovered one resumes as the leader it was. Returns once this node leads the stream.
    /// Also starts the checkpointer, which calls `wake_compactor` after freezing MemTables.
    pub fn start(
        self: &Arc<Self>,
        wake_compactor: Arc<dyn Fn() + Send + Sync>,
    ) -> Result<(), TxnError> {
        let config = Config {
            cluster_name: "reef-log-stream".into(),
            heartbeat_interval: 100,
            election_timeout_min: 500,
            election_timeout_max: 1000,
            snapshot_policy: openraft::SnapshotPolicy::Never,
            max_in_snapshot_log_to_keep: 0,
            purge_batch_size: 1,
            ..Default::default()
        }
        .validate()
        .map_err(|e| storage_error(format!("log stream configuration: {e}")))?;
        let log = self.shared.log.clone();
        let sm = machine::StateMachine {
            shared: self.shared.clone(),
        };
        let node = self.node;
        let raft = self.runtime.block_on(async move {
            let raft = Raft::new(node, Arc::new(config), network::NoPeers, log, sm)
                .await
                .map_err(|e| storage_error(format!("starting the log stream: {e}")))?;
            if !raft
                .is_initialized()
                .await
                .map_err(|e| storage_error(e.to_string()))?
            {
                let members = BTreeMap::from([(node, BasicNode::default())]);
                raft.initialize(members)
                    .await
                    .map_err(|e| storage_error(format!("initializing the log stream: {e}")))?;
            }
            raft.wait(Some(Duration::from_secs(30)))
                .state(ServerState::Leader, "log stream leader")
                .await
                .map_err(|e| storage_error(format!("waiting to lead the log stream: {e}")))?;
            Ok::<_, TxnError>(raft)
        })?;
        let sole = raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .voter_ids()
            .eq([node]);
        self.shared.local.sole_voter.store(sole, Ordering::Release);
        self.shared.batcher.set_raft(raft);
        let me = Arc::downgrade(self);
        let stop = self.stop.clone();
        let interval = self.opts.checkpoint_interval;
        let handle = std::thread::Builder::new()
            .name("reef-checkpoint".into())
            .spawn(move || loop {
                {
                    let (lock, cv) = &*stop;
                    let mut stopped = lock.lock();
                    if !*stopped {
                        cv.wait_for(&mut stopped, interval);
                    }
                    if *stopped {
                        return;
                    }
                }
                let Some(stream) = me.upgrade() else { return };
                stream.checkpoint_round(wake_compactor.as_ref());
            })
            .map_err(|e| storage_error(format!("starting the checkpointer: {e}")))?;
        *self.checkpointer.lock() = Some(handle);
        tracing::info!(group = self.shared.log.group, node, "log stream leader");
        Ok(())
    }

    /// The Raft group, once started (the batcher holds the handle it proposes to).
    fn raft(&self) -> Result<&Raft<StreamTypes>, TxnError> {
        self.shared
            .batcher
            .raft()
            .ok_or_else(|| TxnError::CommitFailed("the log stream has not started".into()))
    }

    /// Adds a new, empty tablet (a table created now): nothing in the log concerns it.
    pub fn register_new(&self, tablet: Arc<Tablet>) {
        self.shared.tablets.insert(tablet);
    }

    /// Forgets tablets no table uses any more, so they no longer hold the log back.
    pub fn retire(&self, ids: &[reef_common::ids::TabletId]) {
        self.shared.tablets.retire(ids);
    }

    /// The highest log index no tablet needs any more.
    pub fn durable_through(&self) -> LogIndex {
        self.shared.tablets.durable_through()
    }

    /// Every entry up to this index has been applied to the tablets.
    pub fn applied_through(&self) -> LogIndex {
        self.shared.tablets.applied()
    }

    /// Tablets on this stream.
    pub fn tablet_count(&self) -> usize {
        self.shared.tablets.all().len()
    }

    /// Segment files in the node's log store.
    pub fn segment_count(&self) -> usize {
        self.shared.log.store.segment_count()
    }

    /// The highest purged log index (0 if none).
    pub fn purged_through(&self) -> LogIndex {
        let log = &self.shared.log;
        LogIndex(log.store.group_state(log.group).purged.map_or(0, |p| p.0))
    }

    /// One checkpointer round: freeze what holds a long log back, then snapshot (and so
    /// purge) up to what the tablets have durable.
    fn checkpoint_round(&self, wake_compactor: &(dyn Fn() + Send + Sync)) {
        let log = &self.shared.log;
        let durable = self.durable_through();
        if log.store.segment_count() > self.opts.segments_before_freeze {
            if let Some((_, last)) = log.store.group_state(log.group).range {
                // Freeze every tablet holding entries in the older half of what is kept.
                let target = durable.0 + last.saturating_sub(durable.0) / 2;
                let mut frozen = 0;
                for t in self.shared.tablets.all() {
                    if t.durable_through().0 <= target && t.freeze() {
                        frozen += 1;
                    }
                }
                if frozen > 0 {
                    tracing::info!(
                        group = log.group,
                        frozen,
                        durable = durable.0,
                        last,
                        "log is long: froze the MemTables holding its oldest entries"
                    );
                    wake_compactor();
                }
            }
        }
        if durable > self.purged_through() {
            if let Err(e) = self.snapshot_now() {
                tracing::warn!(group = log.group, error = %e, "log stream snapshot failed");
            }
        }
    }

    /// Takes a snapshot at what the tablets have durable; openraft purges the log up to it.
    fn snapshot_now(&self) -> Result<(), TxnError> {
        let raft = self.raft()?;
        self.runtime
            .block_on(raft.trigger().snapshot())
            .map_err(|e| storage_error(e.to_string()))
    }

    /// Snapshots and waits (up to `timeout`) until the log is purged through what the
    /// tablets have durable: a clean stop leaves a short log behind.
    pub fn purge_now(&self, timeout: Duration) -> Result<(), TxnError> {
        let target = self.durable_through();
        if target <= self.purged_through() {
            return Ok(());
        }
        self.snapshot_now()?;
        let deadline = Instant::now() + timeout;
        while self.purged_through() < target && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }

    /// Stops the checkpointer and Raft (before the log store goes).
    pub fn shutdown(&self) {
        {
            let (lock, cv) = &*self.stop;
            let mut stopped = lock.lock();
            if std::mem::replace(&mut *stopped, true) {
                return;
            }
            cv.notify_all();
        }
        if let Some(h) = self.checkpointer.lock().take() {
            if h.thread().id() != std::thread::current().id() {
                let _ = h.join();
            }
        }
        if let Some(raft) = self.shared.batcher.raft() {
            if let Err(e) = self.runtime.block_on(raft.shutdown()) {
                tracing::warn!(error = %e, "log stream did not shut down cleanly");
            }
        }
    }
}

impl Drop for LogStream {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl CommitLog for LogStream {
    fn append(&self, record: &CommitRecord) -> Result<LogIndex, TxnError> {
        let txn = record.txn;
        self.shared.proposals.lock().insert(txn);
        let waiter = Arc::new(commit::CommitWaiter::default());
        let local = &self.shared.local;
        if local.sole_voter.load(Ordering::Acquire) {
            local.register(txn, &waiter);
        }
        self.shared.batcher.submit(record.encode(), waiter.clone());
        let outcome = waiter.wait();
        local.forget(txn);
        outcome.map_err(|e| {
            self.shared.proposals.lock().remove(&txn);
            TxnError::CommitFailed(e)
        })
    }

    fn applied(&self, index: LogIndex) {
        self.shared.record_applied(index);
    }
}

#[cfg(test)]
mod tests;
