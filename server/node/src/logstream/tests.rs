//! openraft's own storage suite, run against the log stream's log storage and state
//! machine (on a real log segment store in a temporary directory).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::testing::{StoreBuilder, Suite};
use openraft::StorageError;
use reef_storage::fs::RealFs;
use reef_storage::logstore::LogStore;
use reef_txn::ts::LocalTimestamps;

use super::machine::StateMachine;
use super::storage::LogStorage;
use super::*;

struct Builder;

impl StoreBuilder<StreamTypes, LogStorage, StateMachine, tempfile::TempDir> for Builder {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStorage, StateMachine), StorageError<NodeId>> {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = Arc::new(LogStore::open(Arc::new(RealFs), dir.path()).expect("log store"));
        let memberships = Arc::new(Memberships::default());
        let local = Arc::new(commit::LocalCommits::default());
        let log = LogStorage {
            store,
            group: 1,
            node: 0,
            memberships: memberships.clone(),
            local: local.clone(),
            sync_pending: Default::default(),
            batcher: Default::default(),
            unapplied: Default::default(),
        };
        let shared = Arc::new(Shared {
            log: log.clone(),
            tablets: StreamTablets::new(LogIndex(0)),
            proposals: Mutex::new(HashSet::new()),
            ts: Arc::new(LocalTimestamps::new(reef_common::ids::Version::ZERO)),
            memberships,
            applied: Mutex::new(None),
            snapshot: Mutex::new(None),
            local,
            batcher: Default::default(),
        });
        Ok((dir, log, StateMachine { shared }))
    }
}

/// Every test of `Suite::test_all` but one: `get_initial_state_membership_from_log_and_sm`
/// appends entry 1 to a log it has just purged through entry 2, which the log segment store
/// refuses on purpose (a log stream's entries are contiguous; Raft never appends below a
/// purge).
#[test]
fn openraft_storage_suite_passes() {
    type S = Suite<StreamTypes, LogStorage, StateMachine, Builder, tempfile::TempDir>;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut failed = Vec::new();
    macro_rules! run {
        ($($name:ident),* $(,)?) => { $( {
            let (_dir, log, sm) = rt.block_on(Builder.build()).unwrap();
            if let Err(e) = rt.block_on(S::$name(log, sm)) {
                failed.push(format!("{}: {e}", stringify!($name)));
            }
        } )* };
    }
    run!(
        last_membership_in_log_initial,
        last_membership_in_log,
        last_membership_in_log_multi_step,
        get_membership_initial,
        get_membership_from_log_and_empty_sm,
        get_membership_from_empty_log_and_sm,
        get_membership_from_log_le_sm_last_applied,
        get_membership_from_log_gt_sm_last_applied_1,
        get_membership_from_log_gt_sm_last_applied_2,
        get_initial_state_without_init,
        get_initial_state_with_state,
        get_initial_state_last_log_gt_sm,
        get_initial_state_last_log_lt_sm,
        get_initial_state_log_ids,
        get_initial_state_re_apply_committed,
        save_vote,
        get_log_entries,
        limited_get_log_entries,
        try_get_log_entry,
        initial_logs,
        get_log_state,
        get_log_id,
        last_id_in_log,
        last_applied_state,
        purge_logs_upto_0,
        purge_logs_upto_5,
        purge_logs_upto_20,
        delete_logs_since_11,
        delete_logs_since_0,
        append_to_log,
        snapshot_meta,
        apply_single,
        apply_multiple,
    );
    assert!(failed.is_empty(), "{failed:#?}");
}

fn record(txn: u64) -> CommitRecord {
    CommitRecord {
        txn: TxnId(txn),
        version: reef_common::ids::Version(txn),
        writes: vec![reef_txn::log::RedoWrite {
            tablet: reef_common::ids::TabletId(999),
            key: txn.to_be_bytes().to_vec(),
            op: reef_storage::mvcc::RowOp::Delete,
        }],
    }
}

/// Commits that arrive while a proposal is on its way to the log go together as the next
/// entry; that entry counts as applied only once every commit in it is stamped; and the
/// batched records are in the log after a reopen.
#[test]
fn commits_queued_behind_a_proposal_share_the_next_entry() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_time()
            .build()
            .unwrap(),
    );
    let open = || {
        let store = Arc::new(LogStore::open(Arc::new(RealFs), dir.path()).unwrap());
        let ts = Arc::new(LocalTimestamps::new(reef_common::ids::Version::ZERO));
        let opts = LogStreamOptions::default();
        let stream = LogStream::recover(store.clone(), 1, 1, Vec::new(), ts, runtime.clone(), opts);
        (store, Arc::new(stream.unwrap()))
    };
    let (store, stream) = open();
    stream.start(Arc::new(|| {})).unwrap();
    // The leader's first (blank) entry applied: every entry so far counts as applied.
    let deadline = Instant::now() + Duration::from_secs(30);
    while Some(stream.applied_through().0) != store.group_state(1).range.map(|r| r.1) {
        assert!(
            Instant::now() < deadline,
            "the blank entry was never applied"
        );
        std::thread::sleep(Duration::from_millis(1));
    }

    // Hold the Raft thread until one commit is in flight and seven are queued behind it.
    let (started_tx, started) = std::sync::mpsc::channel();
    let batcher = stream.shared.batcher.clone();
    runtime.spawn(async move {
        started_tx.send(()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while batcher.queued() < 7 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    started.recv().unwrap();
    let committers: Vec<_> = (1..=8u64)
        .map(|txn| {
            let stream = stream.clone();
            std::thread::spawn(move || stream.append(&record(txn)).unwrap())
        })
        .collect();
    let mut indexes: Vec<LogIndex> = committers.into_iter().map(|t| t.join().unwrap()).collect();
    indexes.sort();
    let (first, batch) = (indexes[0], indexes[7]);
    assert_eq!(indexes[1..], [batch; 7], "{indexes:?}");
    assert_eq!(batch.0, first.0 + 1);

    // Each transaction stamps its versions, then reports its entry applied.
    stream.applied(first);
    for _ in 0..6 {
        stream.applied(batch);
    }
    assert_eq!(
        stream.applied_through(),
        first,
        "one commit of the batch is not stamped"
    );
    stream.applied(batch);
    assert_eq!(stream.applied_through(), batch);

    stream.shutdown();
    drop(stream);
    drop(store);
    let (store, _stream) = open();
    let mut txns = Vec::new();
    for e in store.entries(1, first.0..=batch.0).unwrap() {
        let body = codec::normal_body(&e).unwrap().unwrap();
        let records = reef_txn::log::records_in(body).unwrap();
        txns.push(
            records
                .iter()
                .map(|r| CommitRecord::decode(r).unwrap().txn.0)
                .collect::<BTreeSet<_>>()
                .len(),
        );
    }
    assert_eq!(txns, [1, 7]);
}
