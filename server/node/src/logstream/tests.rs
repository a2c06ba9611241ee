//! openraft's own storage suite, run against the log stream's log storage and state
//! machine (on a real log segment store in a temporary directory).

use std::sync::Arc;

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
