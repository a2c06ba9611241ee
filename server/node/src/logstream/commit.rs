//! Waiting for a commit with as few thread hand-offs as Raft allows.
//!
//! openraft answers a proposal after its core task has heard of the fsync and its state
//! machine task has applied the entry: from the log's syncer thread to the waiting session
//! that is two more wake-ups of the Raft thread. While the stream's only voter is this node,
//! an entry is committed the moment it is durable here, so the syncer completes the
//! proposal itself; openraft's own answer (through [`CommitResponder`]) completes it
//! otherwise, and whichever comes first wins. Once a membership with any other voter is
//! appended, the shortcut is off for good.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use openraft::raft::responder::Responder;
use openraft::raft::ClientWriteResult;
use parking_lot::{Condvar, Mutex};
use reef_common::ids::{LogIndex, TxnId};

use super::{Redo, StreamTypes};

/// The outcome of one proposal.
type Outcome = Result<LogIndex, String>;

/// A one-shot slot a proposing session waits on.
#[derive(Debug, Default)]
pub struct CommitWaiter {
    slot: Mutex<Option<Outcome>>,
    done: Condvar,
}

impl CommitWaiter {
    /// Fills the slot unless it is already filled.
    fn complete(&self, outcome: Outcome) {
        let mut slot = self.slot.lock();
        if slot.is_none() {
            *slot = Some(outcome);
            self.done.notify_all();
        }
    }

    /// Waits for the outcome.
    pub(crate) fn wait(&self) -> Outcome {
        let mut slot = self.slot.lock();
        loop {
            if let Some(o) = slot.clone() {
                return o;
            }
            self.done.wait(&mut slot);
        }
    }
}

/// openraft's answer to a proposal, delivered to its [`CommitWaiter`].
#[derive(Debug)]
pub struct CommitResponder {
    waiter: Arc<CommitWaiter>,
}

impl Responder<StreamTypes> for CommitResponder {
    type Receiver = Arc<CommitWaiter>;

    fn from_app_data(app_data: Redo) -> (Redo, Self, Arc<CommitWaiter>) {
        let waiter = Arc::new(CommitWaiter::default());
        (
            app_data,
            CommitResponder {
                waiter: waiter.clone(),
            },
            waiter,
        )
    }

    fn send(self, result: ClientWriteResult<StreamTypes>) {
        self.waiter.complete(
            result
                .map(|r| LogIndex(r.log_id.index))
                .map_err(|e| e.to_string()),
        );
    }
}

enum Pending {
    /// The proposer waits here.
    Waiting(Arc<CommitWaiter>),
    /// The entry was durable before the proposer registered.
    Durable(Outcome),
}

/// Proposals the log's syncer may complete (see the module comment).
#[derive(Default)]
pub(crate) struct LocalCommits {
    /// Whether this node is the stream's only voter (set once Raft leads; cleared for good
    /// by a membership with another voter).
    pub(crate) sole_voter: AtomicBool,
    pending: Mutex<HashMap<TxnId, Pending>>,
}

impl std::fmt::Debug for LocalCommits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LocalCommits({})", self.pending.lock().len())
    }
}

impl LocalCommits {
    /// Lets the syncer complete `txn`'s proposal through `waiter`.
    pub(crate) fn register(&self, txn: TxnId, waiter: &Arc<CommitWaiter>) {
        let mut p = self.pending.lock();
        match p.remove(&txn) {
            Some(Pending::Durable(o)) => waiter.complete(o),
            _ => {
                p.insert(txn, Pending::Waiting(waiter.clone()));
            }
        }
    }

    /// Forgets `txn` (its proposal has its outcome).
    pub(crate) fn forget(&self, txn: TxnId) {
        self.pending.lock().remove(&txn);
    }

    /// Called by the syncer when the entries carrying `txns` are durable (or failed).
    pub(crate) fn durable(&self, txns: &[(TxnId, LogIndex)], result: &Result<(), String>) {
        if !self.sole_voter.load(Ordering::Acquire) {
            return;
        }
        let mut p = self.pending.lock();
        for &(txn, index) in txns {
            let outcome = result.clone().map(|()| index);
            match p.remove(&txn) {
                Some(Pending::Waiting(w)) => w.complete(outcome),
                _ => {
                    p.insert(txn, Pending::Durable(outcome));
                }
            }
        }
    }
}
