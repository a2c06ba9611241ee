//! openraft's state machine for a log stream: the stream's tablets.
//!
//! A commit record this node proposed is already in the MemTables (its transaction wrote
//! the versions while holding the row locks) and is stamped by that transaction once
//! `client_write` returns, so applying it here only lets the proposal go on. Records
//! proposed elsewhere (a follower applying its leader's log) are applied to the tablets.
//!
//! The state machine's durable state is the tablets' SSTables: a snapshot is taken at the
//! highest log index every tablet has durable ([`StreamTablets::durable_through`]), so the
//! log can be purged up to it.

use std::io::Cursor;
use std::sync::Arc;

use openraft::storage::RaftStateMachine;
use openraft::{
    AnyError, EntryPayload, LogId, RaftSnapshotBuilder, Snapshot, SnapshotMeta, StorageError,
    StorageIOError, StoredMembership,
};
use reef_common::ids::LogIndex;
use reef_txn::log::{records_in, CommitRecord};

use super::{Entry, NodeId, Shared, StreamTypes};

type SResult<T> = Result<T, StorageError<NodeId>>;

/// The state machine of one log stream.
pub(crate) struct StateMachine {
    pub(crate) shared: Arc<Shared>,
}

/// Builds snapshots of one log stream.
pub(crate) struct SnapshotBuilder {
    shared: Arc<Shared>,
}

impl RaftStateMachine<StreamTypes> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> SResult<(
        Option<LogId<NodeId>>,
        StoredMembership<NodeId, openraft::BasicNode>,
    )> {
        Ok((*self.shared.applied.lock(), self.shared.memberships.last()))
    }

    async fn apply<I>(&mut self, entries: I) -> SResult<Vec<()>>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut out = Vec::new();
        for e in entries {
            let index = LogIndex(e.log_id.index);
            match e.payload {
                EntryPayload::Blank => self.shared.tablets.mark_applied(index),
                EntryPayload::Membership(m) => {
                    self.shared
                        .memberships
                        .record(StoredMembership::new(Some(e.log_id), m));
                    self.shared.tablets.mark_applied(index);
                }
                EntryPayload::Normal(redo) => {
                    let corrupt = |what| StorageIOError::apply(e.log_id, AnyError::error(what));
                    for record in records_in(&redo.0).map_err(corrupt)? {
                        let proposed_here = CommitRecord::txn_of(record)
                            .is_some_and(|txn| self.shared.proposals.lock().remove(&txn));
                        if proposed_here {
                            continue;
                        }
                        let rec = CommitRecord::decode(record).map_err(corrupt)?;
                        self.shared
                            .tablets
                            .apply(index, rec, self.shared.ts.as_ref())
                            .map_err(|err| StorageIOError::apply(e.log_id, AnyError::new(&err)))?;
                        self.shared.record_applied(index);
                    }
                }
            }
            *self.shared.applied.lock() = Some(e.log_id);
            out.push(());
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            shared: self.shared.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> SResult<Box<Cursor<Vec<u8>>>> {
        Err(no_install())
    }

    async fn install_snapshot(
        &mut self,
        _meta: &SnapshotMeta<NodeId, openraft::BasicNode>,
        _snapshot: Box<Cursor<Vec<u8>>>,
    ) -> SResult<()> {
        Err(no_install())
    }

    async fn get_current_snapshot(&mut self) -> SResult<Option<Snapshot<StreamTypes>>> {
        Ok(self
            .shared
            .snapshot
            .lock()
            .clone()
            .map(|(meta, data)| Snapshot {
                meta,
                snapshot: Box::new(Cursor::new(data)),
            }))
    }
}

/// Installing a snapshot means receiving a replica's SSTables (DESIGN.md §5), which the
/// RootService's replica rebuild brings; a one-replica log stream is never sent one.
fn no_install() -> StorageError<NodeId> {
    StorageIOError::write_snapshot(
        None,
        AnyError::error(
            "installing a log stream snapshot (shipping SSTables to a new replica) is not built yet",
        ),
    )
    .into()
}

impl RaftSnapshotBuilder<StreamTypes> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> SResult<Snapshot<StreamTypes>> {
        let s = &self.shared;
        let applied = *s.applied.lock();
        let durable = s.tablets.durable_through().0;
        let point = match applied {
            Some(a) if durable < a.index => s
                .log
                .log_id_at(durable)
                .map_err(|e| StorageIOError::read_logs(AnyError::error(e)))?,
            other => other,
        };
        let membership = point
            .and_then(|p| s.memberships.at(p.index))
            .unwrap_or_default();
        // The snapshot is the tablets' SSTables at their checkpoints; what it carries is
        // their list, for the operator and for the replica rebuild to come.
        let mut data = String::new();
        for t in s.tablets.all() {
            data.push_str(&format!(
                "tablet {} checkpoint {}\n",
                t.id().0,
                t.checkpoint().0
            ));
        }
        let meta = SnapshotMeta {
            last_log_id: point,
            last_membership: membership,
            snapshot_id: point.map_or_else(
                || "empty".to_string(),
                |p| format!("{}-{}", p.leader_id.term, p.index),
            ),
        };
        *s.snapshot.lock() = Some((meta.clone(), data.clone().into_bytes()));
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data.into_bytes())),
        })
    }
}
