//! List-append histories from concurrent transactions, checked by an Elle-style checker
//! (the `adya` crate, an independent implementation of Kingsbury & Alvaro's Elle).
//!
//! Each key holds a list; transactions read lists and append unique values. SERIALIZABLE must
//! show no anomaly at all (strict serializability: ReefDB is one node with 2PL here). REPEATABLE
//! READ is MySQL's, not snapshot isolation: plain reads see the transaction's snapshot while
//! appends act on the latest version, so read skew between the two (G-single), write skew
//! (G2-item), Elle's lost update (two transactions read one version, both append) and
//! "internal" (after appending to a key, a transaction reads the latest version of that key,
//! other transactions' appends included; MySQL's manual describes the same for InnoDB) may
//! appear; nothing that read committed forbids (G0, G1a, G1b, G1c) may.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use adya::{check, History, Opts, Valid, Workload};
use reef_common::ids::{TabletId, Version};
use reef_common::keycodec::{encode_key, KeyKind};
use reef_common::rowcodec::{decode_row, encode_row};
use reef_common::types::PhysicalKind;
use reef_common::value::Value;
use reef_storage::cache::Cache;
use reef_storage::fs::RealFs;
use reef_storage::logstore::LogStore;
use reef_storage::schema::RowSchema;
use reef_storage::tablet::{Tablet, TabletOptions};
use reef_txn::log::LocalLog;
use reef_txn::ts::{LocalTimestamps, TimestampSource};
use reef_txn::txn::{Isolation, LockMode, Locked, Transaction, TxnManager, TxnOptions, WaitPolicy};
use reef_txn::TxnError;

const KEYS: u64 = 6;

fn key(k: u64) -> Vec<u8> {
    encode_key(&[Value::Int(k as i64)], &[KeyKind::Int]).unwrap()
}

fn schema() -> RowSchema {
    RowSchema::new(1, vec![PhysicalKind::Int, PhysicalKind::Bytes])
}

fn list_of(row: Option<Arc<[u8]>>) -> Vec<u64> {
    let Some(row) = row else { return Vec::new() };
    match &decode_row(&row, &schema().kinds, &schema().defaults).unwrap()[1] {
        Value::Bytes(b) => String::from_utf8(b.clone())
            .unwrap()
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect(),
        v => panic!("{v:?}"),
    }
}

fn row_of(k: u64, list: &[u64]) -> Arc<[u8]> {
    let text: Vec<String> = list.iter().map(|v| v.to_string()).collect();
    Arc::from(encode_row(
        1,
        &[
            Value::Int(k as i64),
            Value::Bytes(text.join(" ").into_bytes()),
        ],
    ))
}

#[derive(Clone, Copy)]
enum Mop {
    Read(u64),
    Append(u64, u64),
}

fn mop_json(m: &Mop, read: Option<&[u64]>) -> String {
    match (m, read) {
        (Mop::Read(k), None) => format!("[\"r\",{k},null]"),
        (Mop::Read(k), Some(l)) => format!("[\"r\",{k},{l:?}]"),
        (Mop::Append(k, v), _) => format!("[\"append\",{k},{v}]"),
    }
}

fn run_txn(
    t: &mut Transaction,
    tablet: &Arc<Tablet>,
    mops: &[Mop],
) -> Result<Vec<Option<Vec<u64>>>, TxnError> {
    let mut reads = Vec::new();
    for m in mops {
        t.begin_statement()?;
        match *m {
            Mop::Read(k) => reads.push(Some(list_of(t.get(tablet, &key(k))?))),
            Mop::Append(k, v) => {
                let Locked::Row(cur) =
                    t.get_locked(tablet, &key(k), LockMode::Exclusive, WaitPolicy::Wait)?
                else {
                    unreachable!()
                };
                let mut l = list_of(cur);
                l.push(v);
                t.put(tablet, &key(k), row_of(k, &l))?;
                reads.push(None);
            }
        }
    }
    Ok(reads)
}

/// Runs `clients` threads of list-append transactions at `isolation`; returns the history.
fn record(isolation: Isolation, clients: u64, txns: u64) -> String {
    let dir = tempfile::tempdir().unwrap();
    let opts = TabletOptions::new(Arc::new(RealFs), Cache::new(8 << 20));
    let tablet = Tablet::open(TabletId(1), &dir.path().join("t"), schema(), opts).unwrap();
    let store = Arc::new(LogStore::open(Arc::new(RealFs), &dir.path().join("log")).unwrap());
    let ts = Arc::new(LocalTimestamps::new(Version::ZERO));
    let log = Arc::new(LocalLog::open(store, 1, vec![tablet.clone()], ts.as_ref()).unwrap());
    let mgr = TxnManager::new(ts as Arc<dyn TimestampSource>, log);
    let history = Arc::new(Mutex::new(Vec::<String>::new()));
    let next_value = Arc::new(AtomicU64::new(1));
    let threads: Vec<_> = (0..clients)
        .map(|p| {
            let (mgr, tablet, history, next_value) = (
                mgr.clone(),
                tablet.clone(),
                history.clone(),
                next_value.clone(),
            );
            std::thread::spawn(move || {
                let mut x = 0x2545_F491_4F6C_DD1Du64 ^ (p * 7919 + 1);
                let mut rnd = move |n: u64| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x % n
                };
                for _ in 0..txns {
                    let mops: Vec<Mop> = (0..1 + rnd(4))
                        .map(|_| {
                            let k = rnd(KEYS);
                            if rnd(2) == 0 {
                                Mop::Read(k)
                            } else {
                                Mop::Append(k, next_value.fetch_add(1, Ordering::Relaxed))
                            }
                        })
                        .collect();
                    let invoke: Vec<String> = mops.iter().map(|m| mop_json(m, None)).collect();
                    history.lock().unwrap().push(format!(
                        "{{\"type\":\"invoke\",\"process\":{p},\"value\":[{}]}}",
                        invoke.join(",")
                    ));
                    let opts = TxnOptions {
                        isolation,
                        lock_wait_timeout: Duration::from_secs(5),
                        ..TxnOptions::default()
                    };
                    let mut t = mgr.begin(opts);
                    let outcome =
                        run_txn(&mut t, &tablet, &mops).and_then(|reads| t.commit().map(|_| reads));
                    // Append the completion while holding the history lock right after the
                    // commit returned, so real-time order in the history is the real one.
                    let line = match outcome {
                        Ok(reads) => {
                            let done: Vec<String> = mops
                                .iter()
                                .zip(&reads)
                                .map(|(m, r)| mop_json(m, r.as_deref()))
                                .collect();
                            format!(
                                "{{\"type\":\"ok\",\"process\":{p},\"value\":[{}]}}",
                                done.join(",")
                            )
                        }
                        Err(TxnError::Deadlock | TxnError::LockWaitTimeout) => {
                            format!(
                                "{{\"type\":\"fail\",\"process\":{p},\"value\":[{}]}}",
                                invoke.join(",")
                            )
                        }
                        Err(e) => panic!("transaction failed: {e}"),
                    };
                    history.lock().unwrap().push(line);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let lines = history.lock().unwrap().join("\n");
    lines
}

fn report(h: &str, model: &str) -> adya::Report {
    let h = History::from_json(h).unwrap();
    let opts = Opts {
        models: vec![model.into()],
        timeout: Duration::from_secs(10),
        ..Opts::default()
    };
    check(&h, Workload::ListAppend, &opts)
}

#[test]
fn serializable_histories_have_no_anomalies() {
    let h = record(Isolation::Serializable, 6, 120);
    let r = report(&h, "strict-serializable");
    assert_eq!(
        r.valid,
        Valid::True,
        "anomalies: {:?}\n{}",
        r.anomaly_types,
        h
    );
}

#[test]
fn repeatable_read_histories_show_only_what_mysql_repeatable_read_allows() {
    let h = record(Isolation::RepeatableRead, 6, 120);
    let r = report(&h, "read-committed");
    assert_eq!(
        r.valid,
        Valid::True,
        "anomalies beyond read committed's: {:?}",
        r.anomaly_types
    );
    let allowed = reef_txn::txn::REPEATABLE_READ_ANOMALIES;
    let r = report(&h, "serializable");
    eprintln!(
        "repeatable read, checked as serializable: {:?}",
        r.anomaly_types
    );
    for a in &r.anomaly_types {
        assert!(
            allowed.iter().any(|x| a.starts_with(x)),
            "anomaly {a} is not documented for REPEATABLE READ"
        );
    }
}

#[test]
fn read_committed_histories_are_read_committed() {
    let h = record(Isolation::ReadCommitted, 6, 120);
    let r = report(&h, "read-committed");
    assert_eq!(r.valid, Valid::True, "anomalies: {:?}", r.anomaly_types);
}

/// Known-bad histories: the checker must keep finding these (regression tests of the tool).
#[test]
fn the_checker_finds_known_anomalies() {
    let write_skew = r#"{"type":"invoke","process":0,"value":[["r","x",null],["r","y",null],["append","x",1]]}
{"type":"invoke","process":1,"value":[["r","x",null],["r","y",null],["append","y",1]]}
{"type":"ok","process":0,"value":[["r","x",[]],["r","y",[]],["append","x",1]]}
{"type":"ok","process":1,"value":[["r","x",[]],["r","y",[]],["append","y",1]]}"#;
    let r = report(write_skew, "serializable");
    assert_eq!(
        (r.valid, r.anomaly_types.as_slice()),
        (Valid::False, &["G2-item".to_string()][..])
    );
    let aborted_read = r#"{"type":"invoke","process":0,"value":[["append","x",1]]}
{"type":"fail","process":0,"value":[["append","x",1]]}
{"type":"invoke","process":1,"value":[["r","x",null]]}
{"type":"ok","process":1,"value":[["r","x",[1]]]}"#;
    let r = report(aborted_read, "read-committed");
    assert_eq!(r.valid, Valid::False);
    assert!(
        r.anomaly_types.iter().any(|a| a == "G1a"),
        "{:?}",
        r.anomaly_types
    );
    let lost_update = r#"{"type":"invoke","process":0,"value":[["r","x",null],["append","x",1]]}
{"type":"invoke","process":1,"value":[["r","x",null],["append","x",2]]}
{"type":"ok","process":0,"value":[["r","x",[]],["append","x",1]]}
{"type":"ok","process":1,"value":[["r","x",[]],["append","x",2]]}
{"type":"invoke","process":2,"value":[["r","x",null]]}
{"type":"ok","process":2,"value":[["r","x",[1,2]]]}"#;
    let r = report(lost_update, "snapshot-isolation");
    assert_eq!(r.valid, Valid::False, "{:?}", r.anomaly_types);
}
