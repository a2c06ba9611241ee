//! The bank test: concurrent transfers with `SELECT ... FOR UPDATE`, a ledger written in the
//! same transaction, readers checking the total under REPEATABLE READ; in the middle of the
//! run the disk stops syncing (commits in flight are never acknowledged, and what they wrote
//! may be torn) and the power goes. After recovery every acknowledged transfer must be in
//! the ledger, and every balance must equal its ledger sum.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use reef_storage::fs::FaultFs;
use reef_storage::tablet::full_range;
use reef_txn::txn::{LockMode, Locked, TxnOptions, WaitPolicy};
use reef_txn::TxnError;

use crate::common::*;

const ACCOUNTS: i64 = 20;
const START: i64 = 1000;

/// Moves `amount` from `from` to `to`, recording ledger entry `id`; `Ok(false)` if the
/// balance would go negative.
fn transfer(n: &Node, id: i64, from: i64, to: i64, amount: i64) -> Result<bool, TxnError> {
    let (accounts, ledger) = (n.t(0), n.t(1));
    let mut t = n.mgr.begin(TxnOptions::default());
    t.begin_statement()?;
    // Lock in key order, as careful applications do; deadlocks are still retried below.
    let (lo, hi) = (from.min(to), from.max(to));
    let mut bal = HashMap::new();
    for a in [lo, hi] {
        let Locked::Row(Some(r)) =
            t.get_locked(accounts, &key(a), LockMode::Exclusive, WaitPolicy::Wait)?
        else {
            panic!("account {a} missing")
        };
        bal.insert(a, val(&r));
    }
    if bal[&from] < amount {
        t.rollback();
        return Ok(false);
    }
    t.begin_statement()?;
    t.put(accounts, &key(from), row(from, bal[&from] - amount))?;
    t.put(accounts, &key(to), row(to, bal[&to] + amount))?;
    // Ledger rows: id -> (account*1e6 + signed amount) packed into the value column.
    t.insert(
        ledger,
        &key(id * 2),
        row(id * 2, from * 1_000_000 - amount),
        || (id.to_string(), "PRIMARY".into()),
    )?;
    t.insert(
        ledger,
        &key(id * 2 + 1),
        row(id * 2 + 1, to * 1_000_000 + amount),
        || (id.to_string(), "PRIMARY".into()),
    )?;
    t.commit()?;
    Ok(true)
}

fn total(n: &Node) -> i64 {
    let t = n.mgr.begin(TxnOptions::default());
    let mut t = t;
    t.begin_statement().unwrap();
    t.scan(n.t(0), full_range())
        .unwrap()
        .map(|r| val(&r.unwrap().1))
        .sum()
}

#[test]
fn transfers_keep_the_total_and_survive_a_power_loss() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultFs::new();
    let acked: Arc<Mutex<Vec<i64>>> = Arc::new(Mutex::new(Vec::new()));
    {
        let n = Arc::new(Node::open(Arc::new(fs.clone()), dir.path(), 2));
        let mut t = n.mgr.begin(TxnOptions::default());
        t.begin_statement().unwrap();
        for a in 0..ACCOUNTS {
            t.put(n.t(0), &key(a), row(a, START)).unwrap();
        }
        t.commit().unwrap();
        let next_id = Arc::new(AtomicU64::new(1));
        let stop = Arc::new(AtomicBool::new(false));
        let retries = Arc::new(AtomicU64::new(0));
        let writers: Vec<_> = (0..6u64)
            .map(|w| {
                let (n, next_id, acked, retries) =
                    (n.clone(), next_id.clone(), acked.clone(), retries.clone());
                std::thread::spawn(move || {
                    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ w;
                    loop {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let (from, to) = (
                            (x % ACCOUNTS as u64) as i64,
                            ((x >> 20) % ACCOUNTS as u64) as i64,
                        );
                        if from == to {
                            continue;
                        }
                        let amount = 1 + (x >> 40) as i64 % 300;
                        loop {
                            let id = next_id.fetch_add(1, Ordering::Relaxed) as i64;
                            match transfer(&n, id, from, to, amount) {
                                Ok(true) => {
                                    acked.lock().unwrap().push(id);
                                    break;
                                }
                                Ok(false) => break,
                                // A transfer built on one whose commit the disk failed
                                // is rolled back too, and retried.
                                Err(
                                    TxnError::Deadlock
                                    | TxnError::LockWaitTimeout
                                    | TxnError::DependencyFailed(_),
                                ) => {
                                    retries.fetch_add(1, Ordering::Relaxed);
                                }
                                // The disk failed: this node acknowledges nothing more.
                                Err(TxnError::CommitFailed(_)) => return,
                                Err(e) => panic!("transfer failed: {e}"),
                            }
                        }
                    }
                })
            })
            .collect();
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (n, stop) = (n.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut checks = 0;
                    while !stop.load(Ordering::Relaxed) {
                        assert_eq!(
                            total(&n),
                            ACCOUNTS * START,
                            "a reader saw money appear or vanish"
                        );
                        checks += 1;
                    }
                    checks
                })
            })
            .collect();
        // Part way: dump the accounts (recovery then combines SSTables with log replay),
        // let more transfers commit, then make every fsync fail from now on.
        let wait_for = |count: usize| {
            let start = std::time::Instant::now();
            while acked.lock().unwrap().len() < count {
                assert!(
                    start.elapsed() < std::time::Duration::from_secs(60),
                    "transfers stalled"
                );
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        };
        wait_for(1500);
        n.t(0).freeze();
        n.t(0).dump_frozen().unwrap();
        n.log.purge_to_checkpoints().unwrap();
        wait_for(3000);
        fs.fail_next_syncs(u32::MAX);
        for w in writers {
            w.join().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        for r in readers {
            assert!(r.join().unwrap() > 0);
        }
        assert!(retries.load(Ordering::Relaxed) < acked.lock().unwrap().len() as u64 * 10);
    }
    fs.heal();
    // Power loss: whatever was not fsynced is cut back (torn).
    fs.crash(|u| u / 2, true).unwrap();
    let n = Node::open(Arc::new(fs), dir.path(), 2);
    assert_eq!(total(&n), ACCOUNTS * START);
    let mut t = n.mgr.begin(TxnOptions::default());
    t.begin_statement().unwrap();
    let mut sums: HashMap<i64, i64> = (0..ACCOUNTS).map(|a| (a, START)).collect();
    let mut ledger_ids = std::collections::HashSet::new();
    for r in t.scan(n.t(1), full_range()).unwrap() {
        let (_, row) = r.unwrap();
        let v = val(&row);
        let (account, amount) = (
            (v + 500_000).div_euclid(1_000_000),
            v - (v + 500_000).div_euclid(1_000_000) * 1_000_000,
        );
        *sums.get_mut(&account).unwrap() += amount;
        ledger_ids.insert(id_of(&row));
    }
    let acked = acked.lock().unwrap();
    // Every acknowledged transfer survived; a few unacknowledged ones may have too.
    assert!(
        ledger_ids.len() >= acked.len() * 2,
        "{} ledger rows for {} transfers",
        ledger_ids.len(),
        acked.len()
    );
    eprintln!(
        "bank: {} transfers acknowledged, {} ledger rows recovered",
        acked.len(),
        ledger_ids.len()
    );
    for id in acked.iter() {
        assert!(
            ledger_ids.contains(&(id * 2)),
            "acknowledged transfer {id} lost"
        );
    }
    for a in 0..ACCOUNTS {
        let bal = t.get(n.t(0), &key(a)).unwrap().map(|r| val(&r)).unwrap();
        assert!(bal >= 0, "account {a} went negative");
        assert_eq!(bal, sums[&a], "account {a} disagrees with its ledger");
    }
}
