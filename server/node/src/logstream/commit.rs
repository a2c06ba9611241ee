//! Waiting for a commit with as few thread hand-offs as Raft allows.
//!
//! Proposals are batched ([`Batcher`]): a commit is proposed at once unless a proposal of
//! this node is still on its way to the log, in which case it waits in a queue; when that
//! proposal's entry is appended (on the Raft thread), everything queued meanwhile goes to
//! the Raft core as one entry, from that thread. Under load, then, one entry and one fsync
//! carry many commits, and most sessions never wake the Raft thread.
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
use std::sync::{Arc, OnceLock};

use openraft::raft::responder::Responder;
use openraft::raft::ClientWriteResult;
use openraft::Raft;
use parking_lot::{Condvar, Mutex};
use reef_common::ids::{LogIndex, TxnId};
use reef_common::limits::LOG_BATCH_BYTES_MAX;
use reef_txn::log::encode_batch;

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

/// The sessions waiting for one proposal, carried beside its bytes (never serialized) to
/// openraft's responder.
#[derive(Clone, Default)]
pub struct Waiting(Option<Arc<Proposal>>);

impl PartialEq for Waiting {
    /// Entries compare by their bytes alone.
    fn eq(&self, _: &Waiting) -> bool {
        true
    }
}

impl Eq for Waiting {}

impl std::fmt::Debug for Waiting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.as_ref().map_or(0, |p| p.waiters.len());
        write!(f, "Waiting({n})")
    }
}

/// One proposal of a batch of commits.
pub struct Proposal {
    waiters: Vec<Arc<CommitWaiter>>,
    batcher: Arc<Batcher>,
}

/// openraft's answer to a proposal, delivered to every [`CommitWaiter`] of its batch. A
/// proposal dropped unanswered (the Raft core stopped) fails them, so no session waits on
/// it for ever.
pub struct CommitResponder {
    proposal: Option<Arc<Proposal>>,
}

impl std::fmt::Debug for CommitResponder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CommitResponder")
    }
}

impl CommitResponder {
    fn answer(&mut self, outcome: Outcome) {
        let Some(p) = self.proposal.take() else {
            return;
        };
        let failed = outcome.is_err();
        for w in &p.waiters {
            w.complete(outcome.clone());
        }
        if failed {
            // The entry may never reach the log: let the queue go on without it.
            p.batcher.next();
        }
    }
}

impl Responder<StreamTypes> for CommitResponder {
    type Receiver = ();

    fn from_app_data(mut app_data: Redo) -> (Redo, Self, ()) {
        let proposal = app_data.1 .0.take();
        (app_data, CommitResponder { proposal }, ())
    }

    fn send(mut self, result: ClientWriteResult<StreamTypes>) {
        self.answer(
            result
                .map(|r| LogIndex(r.log_id.index))
                .map_err(|e| e.to_string()),
        );
    }
}

impl Drop for CommitResponder {
    fn drop(&mut self) {
        self.answer(Err(
            "the log stream stopped before the commit was decided".into()
        ));
    }
}

/// Commits waiting to be proposed (see the module comment).
#[derive(Default)]
pub(crate) struct Batcher {
    queue: Mutex<Queue>,
    raft: OnceLock<Raft<StreamTypes>>,
}

#[derive(Default)]
struct Queue {
    records: Vec<Vec<u8>>,
    waiters: Vec<Arc<CommitWaiter>>,
    /// A proposal of ours is on its way to the log.
    in_flight: bool,
}

/// Records to propose together, and their waiters.
type Batch = (Vec<Vec<u8>>, Vec<Arc<CommitWaiter>>);

impl Queue {
    /// The oldest records, up to [`LOG_BATCH_BYTES_MAX`] (at least one).
    fn take(&mut self) -> Batch {
        let mut bytes = 0;
        let n = self
            .records
            .iter()
            .take_while(|r| {
                bytes += r.len();
                bytes <= LOG_BATCH_BYTES_MAX
            })
            .count()
            .max(1);
        (
            self.records.drain(..n).collect(),
            self.waiters.drain(..n).collect(),
        )
    }
}

impl std::fmt::Debug for Batcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Batcher({} queued)", self.queue.lock().records.len())
    }
}

impl Batcher {
    /// The Raft group proposals go to (once it has started).
    pub(crate) fn set_raft(&self, raft: Raft<StreamTypes>) {
        let _ = self.raft.set(raft);
    }

    /// The Raft group, once started.
    pub(crate) fn raft(&self) -> Option<&Raft<StreamTypes>> {
        self.raft.get()
    }

    /// Proposes an encoded commit record, at once or with the next batch; `waiter` hears
    /// the outcome.
    pub(crate) fn submit(self: &Arc<Self>, record: Vec<u8>, waiter: Arc<CommitWaiter>) {
        let mut q = self.queue.lock();
        q.records.push(record);
        q.waiters.push(waiter);
        if q.in_flight {
            return;
        }
        q.in_flight = true;
        let batch = q.take();
        drop(q);
        self.propose(batch);
    }

    /// Commits waiting for the next proposal.
    #[cfg(test)]
    pub(crate) fn queued(&self) -> usize {
        self.queue.lock().records.len()
    }

    /// An entry of ours reached the log (or will not): proposes what queued meanwhile.
    pub(crate) fn next(self: &Arc<Self>) {
        let mut q = self.queue.lock();
        if q.records.is_empty() {
            q.in_flight = false;
            return;
        }
        let batch = q.take();
        drop(q);
        self.propose(batch);
    }

    fn propose(self: &Arc<Self>, (records, waiters): Batch) {
        let Some(raft) = self.raft.get() else {
            for w in &waiters {
                w.complete(Err("the log stream has not started".into()));
            }
            return self.next();
        };
        let proposal = Proposal {
            waiters,
            batcher: self.clone(),
        };
        let redo = Redo(encode_batch(records), Waiting(Some(Arc::new(proposal))));
        // The Raft core's queue is unbounded, so this only enqueues. A proposal it refuses
        // is dropped with its responder, which fails the waiters and moves the queue on.
        let _ = futures::executor::block_on(raft.client_write_ff(redo));
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

/// Entries carrying several commit records: how many of their records are still to be
/// stamped (by their own transactions) or applied (by the state machine). A tablet's
/// checkpoint may pass an entry only once all of them are in its MemTables, so the entry
/// counts as applied only after its last record.
#[derive(Debug, Default)]
pub(crate) struct Unapplied(Mutex<HashMap<u64, usize>>);

impl Unapplied {
    /// Entry `index` carries `records` commit records.
    pub(crate) fn expect(&self, index: u64, records: usize) {
        if records > 1 {
            self.0.lock().insert(index, records);
        }
    }

    /// One record of entry `index` is in the tablets; true once all of them are.
    pub(crate) fn done(&self, index: u64) -> bool {
        let mut m = self.0.lock();
        let Some(left) = m.get_mut(&index) else {
            return true;
        };
        *left -= 1;
        if *left > 0 {
            return false;
        }
        m.remove(&index);
        true
    }

    /// Entries from `index` on were removed from the log.
    pub(crate) fn forget_from(&self, index: u64) {
        self.0.lock().retain(|&i, _| i < index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_counts_as_applied_after_its_last_record() {
        let u = Unapplied::default();
        u.expect(7, 3);
        u.expect(8, 1);
        assert!(u.done(8), "a one-record entry is applied with its record");
        assert!(!u.done(7));
        assert!(!u.done(7));
        assert!(u.done(7));
        u.expect(9, 2);
        u.forget_from(9);
        assert!(u.done(9), "a removed entry is no longer counted");
    }

    #[test]
    fn a_batch_takes_the_oldest_records_up_to_the_byte_limit() {
        let mut q = Queue::default();
        for len in [
            LOG_BATCH_BYTES_MAX / 2,
            LOG_BATCH_BYTES_MAX / 2,
            10,
            LOG_BATCH_BYTES_MAX * 2,
        ] {
            q.records.push(vec![0; len]);
            q.waiters.push(Arc::default());
        }
        assert_eq!(q.take().0.len(), 2);
        assert_eq!(q.take().0.len(), 1);
        assert_eq!(q.take().0.len(), 1, "a record over the limit goes alone");
        assert_eq!((q.records.len(), q.waiters.len()), (0, 0));
    }
}
