//! openraft's log storage on the node's log segment store: one store group per log stream.
//!
//! Appends hand entries to the store, which copies them and reports durability through its
//! group commit (one fsync covers many appends, of any stream); openraft hears of each
//! through the [`LogFlushed`] callback. Votes, truncations and purges are durable when the
//! call returns.
//!
//! The fsync runs on the Raft thread itself: an append schedules one sync task on the Raft
//! runtime (unless one is pending), which runs once the Raft core has worked through every
//! message waiting for it, so the entries proposed meanwhile share one fsync, and the
//! sessions waiting for them are woken straight from it. Waking the store's syncer thread
//! instead would add a thread hand-off to every commit.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use std::sync::atomic::{AtomicBool, Ordering};

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::EntryPayload;
use openraft::{LogId, LogState, RaftLogReader, StorageError, StorageIOError, Vote};
use reef_common::ids::LogIndex;
use reef_storage::logstore::{GroupId, LogStore};
use reef_txn::log::{records_in, CommitRecord};

use super::codec::{
    decode_entry, decode_purge, decode_vote, encode_entry, encode_purge, entry_log_id, PurgeMark,
};
use super::commit::{Batcher, LocalCommits, Unapplied};
use super::{Entry, Memberships, NodeId, StreamTypes};

/// The log of one log stream.
#[derive(Clone)]
pub(crate) struct LogStorage {
    pub(crate) store: Arc<LogStore>,
    pub(crate) group: GroupId,
    /// This node.
    pub(crate) node: NodeId,
    /// Memberships applied so far, shared with the state machine: a purge records the one
    /// in force at the purge point.
    pub(crate) memberships: Arc<Memberships>,
    /// Proposals the syncer completes while this node is the only voter.
    pub(crate) local: Arc<LocalCommits>,
    /// A sync task is scheduled on the Raft runtime and has not started yet.
    pub(crate) sync_pending: Arc<AtomicBool>,
    /// Commits waiting to be proposed: the next batch goes once an entry is appended.
    pub(crate) batcher: Arc<Batcher>,
    /// Entries of several commit records, until all of them are in the tablets.
    pub(crate) unapplied: Arc<Unapplied>,
}

impl std::fmt::Debug for LogStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LogStorage(group {})", self.group)
    }
}

type SResult<T> = Result<T, StorageError<NodeId>>;

fn read_err(e: impl std::fmt::Display) -> StorageError<NodeId> {
    StorageIOError::read_logs(openraft::AnyError::error(e.to_string())).into()
}

fn write_err(e: impl std::fmt::Display) -> StorageError<NodeId> {
    StorageIOError::write_logs(openraft::AnyError::error(e.to_string())).into()
}

impl LogStorage {
    /// The purge mark the store keeps for this group (default: nothing purged).
    pub(crate) fn purge_mark(&self) -> Result<PurgeMark, String> {
        match self.store.group_state(self.group).purged {
            Some((_, bytes)) => decode_purge(&bytes),
            None => Ok(PurgeMark::default()),
        }
    }

    /// The log id of entry `index`, present or the last purged one.
    pub(crate) fn log_id_at(&self, index: u64) -> Result<Option<LogId<NodeId>>, String> {
        let st = self.store.group_state(self.group);
        if let Some((first, last)) = st.range {
            if (first..=last).contains(&index) {
                let e = self
                    .store
                    .entries(self.group, index..=index)
                    .map_err(|e| e.to_string())?;
                return e.first().map(entry_log_id).transpose();
            }
        }
        let mark = self.purge_mark()?;
        Ok(mark.log_id.filter(|id| id.index == index))
    }
}

impl RaftLogReader<StreamTypes> for LogStorage {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> SResult<Vec<Entry>> {
        let Some((first, last)) = self.store.group_state(self.group).range else {
            return Ok(Vec::new());
        };
        let start = match range.start_bound() {
            Bound::Included(&s) => s,
            Bound::Excluded(&s) => s + 1,
            Bound::Unbounded => first,
        }
        .max(first);
        let end = match range.end_bound() {
            Bound::Included(&e) => e,
            Bound::Excluded(&0) => return Ok(Vec::new()),
            Bound::Excluded(&e) => e - 1,
            Bound::Unbounded => last,
        }
        .min(last);
        if start > end {
            return Ok(Vec::new());
        }
        let stored = self
            .store
            .entries(self.group, start..=end)
            .map_err(read_err)?;
        let mut out = Vec::with_capacity(stored.len());
        for e in &stored {
            out.push(decode_entry(e).map_err(read_err)?);
        }
        Ok(out)
    }
}

impl RaftLogStorage<StreamTypes> for LogStorage {
    type LogReader = LogStorage;

    async fn get_log_state(&mut self) -> SResult<LogState<StreamTypes>> {
        let purged = self.purge_mark().map_err(read_err)?.log_id;
        let last = match self.store.group_state(self.group).range {
            Some((_, last)) => self.log_id_at(last).map_err(read_err)?,
            None => purged,
        };
        Ok(LogState {
            last_purged_log_id: purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> SResult<()> {
        self.store
            .save_vote(self.group, &super::codec::encode_vote(vote))
            .map_err(|e| StorageIOError::write_vote(openraft::AnyError::error(e.to_string())))?;
        Ok(())
    }

    async fn read_vote(&mut self) -> SResult<Option<Vote<NodeId>>> {
        self.store
            .vote(self.group)
            .map(|b| decode_vote(&b))
            .transpose()
            .map_err(|e| StorageIOError::read_vote(openraft::AnyError::error(e)).into())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<StreamTypes>) -> SResult<()>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut stored = Vec::new();
        let mut txns = Vec::new();
        let mut normal = false;
        for e in entries {
            match &e.payload {
                EntryPayload::Normal(redo) => {
                    normal = true;
                    let records = records_in(&redo.0).map_err(write_err)?;
                    self.unapplied.expect(e.log_id.index, records.len());
                    for txn in records.into_iter().filter_map(CommitRecord::txn_of) {
                        txns.push((txn, LogIndex(e.log_id.index)));
                    }
                }
                EntryPayload::Membership(m) if !m.voter_ids().eq([self.node]) => {
                    // Another voter: commits need its acknowledgement from now on.
                    self.local.sole_voter.store(false, Ordering::Release);
                }
                _ => {}
            }
            stored.push(encode_entry(&e).map_err(write_err)?);
        }
        let local = self.local.clone();
        self.store.append_unsynced(
            self.group,
            &stored,
            Box::new(move |r| {
                if !txns.is_empty() {
                    local.durable(&txns, &r.as_ref().map(|_| ()).map_err(|e| e.to_string()));
                }
                callback.log_io_completed(r.map_err(std::io::Error::other))
            }),
        );
        if normal {
            self.batcher.next();
        }
        if !self.sync_pending.swap(true, Ordering::AcqRel) {
            let (store, pending) = (self.store.clone(), self.sync_pending.clone());
            tokio::spawn(async move {
                pending.store(false, Ordering::Release);
                store.sync_appended();
            });
        }
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> SResult<()> {
        self.unapplied.forget_from(log_id.index);
        self.store
            .truncate(self.group, log_id.index)
            .map_err(write_err)
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> SResult<()> {
        let old = self.purge_mark().map_err(read_err)?;
        let membership = self.memberships.at(log_id.index).unwrap_or(old.membership);
        let mark = PurgeMark {
            log_id: Some(log_id),
            membership,
        };
        self.store
            .purge(
                self.group,
                log_id.index,
                log_id.leader_id.term,
                &encode_purge(&mark),
            )
            .map_err(write_err)?;
        self.memberships.forget_before(log_id.index);
        Ok(())
    }
}
