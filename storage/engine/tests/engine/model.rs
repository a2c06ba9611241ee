//! A property test: the engine and a `BTreeMap` model, driven by the same random operations
//! (transactions that commit or roll back, reads at random snapshots, freezes, dumps,
//! compactions, and crash-and-reopen with log replay), must give the same answers.

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use reef_common::ids::{LogIndex, StmtSeq, TxnId, Version};
use reef_storage::cache::Cache;
use reef_storage::fs::FaultFs;
use reef_storage::mvcc::{ReadCtx, RowOp, TxnCtx};
use reef_storage::tablet::full_range;

use crate::common::*;

#[derive(Debug, Clone)]
enum Op {
    /// A transaction writing (key, Some(Some(k)) = put / Some(None) = delete / None = lock
    /// only) pairs; commits if the first flag is set; the MemTable freezes after its first
    /// write if the second is.
    Txn(Vec<(i64, Option<Option<i64>>)>, bool, bool),
    Get(i64, u8),
    Scan(u8),
    Freeze,
    Dump,
    Minor,
    Major(u8),
    Crash,
    /// A dump (or, if nothing is frozen, a major compaction) whose writes fail after this
    /// many bytes, then a crash.
    CrashMidStep(u16),
}

fn op() -> impl Strategy<Value = Op> {
    // (key, Some(Some(k)) put / Some(None) delete / None lock only)
    let write = (
        0i64..40,
        prop_oneof![
            6 => (0i64..1000).prop_map(|k| Some(Some(k))),
            2 => Just(Some(None)),
            1 => Just(None)
        ],
    );
    prop_oneof![
        8 => (proptest::collection::vec(write, 1..5), prop_oneof![4 => Just(true), 1 => Just(false)], prop_oneof![5 => Just(false), 1 => Just(true)])
            .prop_map(|(w, c, f)| Op::Txn(w, c, f)),
        6 => (0i64..40, any::<u8>()).prop_map(|(k, s)| Op::Get(k, s)),
        2 => any::<u8>().prop_map(Op::Scan),
        2 => Just(Op::Freeze),
        2 => Just(Op::Dump),
        1 => Just(Op::Minor),
        1 => any::<u8>().prop_map(Op::Major),
        1 => Just(Op::Crash),
        1 => prop_oneof![0u16..4096, any::<u16>()].prop_map(Op::CrashMidStep),
    ]
}

/// Every committed version of every key, and the log of commits.
#[derive(Default)]
struct Model {
    versions: BTreeMap<i64, Vec<(u64, Option<i64>)>>,
    log: Vec<LogRecord>,
    version: u64,
    /// Snapshots below this may have lost versions to a major compaction.
    horizon: u64,
}

impl Model {
    fn get(&self, key: i64, snapshot: u64) -> Option<i64> {
        self.versions
            .get(&key)?
            .iter()
            .rev()
            .find(|(v, _)| *v <= snapshot)
            .and_then(|(_, k)| *k)
    }
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultFs::new();
    let cache = Cache::new(1 << 20);
    let small = |o: &mut reef_storage::tablet::TabletOptions| o.memtable_freeze_bytes = 2 << 10;
    let mut t = open_with(Arc::new(fs.clone()), dir.path(), cache.clone(), small);
    let mut m = Model::default();
    let mut txn_id = 0;
    for op in ops {
        let snap = |s: u8| m.horizon + (s as u64 % (m.version - m.horizon + 2));
        match op {
            Op::Txn(writes, commit, freeze_mid) => {
                txn_id += 1;
                let ctx = TxnCtx::new(TxnId(txn_id));
                let mut applied: BTreeMap<i64, Option<i64>> = BTreeMap::new();
                for (seq, (id, w)) in writes.iter().enumerate() {
                    let op = match w {
                        Some(Some(k)) => RowOp::Put(row(*id, *k, "c")),
                        Some(None) => RowOp::Delete,
                        None => RowOp::Lock,
                    };
                    t.write(&ctx, StmtSeq(seq as u32 + 1), &key(*id), op)
                        .unwrap();
                    if let Some(k) = w {
                        applied.insert(*id, *k);
                    }
                    if freeze_mid && seq == 0 {
                        t.freeze();
                    }
                    // The transaction reads its own earlier statements (or the committed row
                    // where it only locked).
                    let own =
                        ReadCtx::in_txn(Version(m.version), TxnId(txn_id), StmtSeq(seq as u32 + 2));
                    let got = t.get(&key(*id), &own).unwrap().map(|r| k_of(&r));
                    let want = match applied.get(id) {
                        Some(k) => *k,
                        None => m.get(*id, m.version),
                    };
                    prop_assert_eq!(got, want);
                }
                if commit {
                    m.version += 1;
                    ctx.set_committing(Version(m.version)).unwrap();
                    ctx.commit(Version(m.version), LogIndex(m.version));
                    t.set_applied(LogIndex(m.version));
                    for (id, k) in &applied {
                        m.versions.entry(*id).or_default().push((m.version, *k));
                    }
                    m.log.push((m.version, applied.into_iter().collect()));
                } else {
                    ctx.abort();
                }
            }
            Op::Get(id, s) => {
                let s = snap(s);
                prop_assert_eq!(get_k(&t, id, s), m.get(id, s), "key {} at {}", id, s);
            }
            Op::Scan(s) => {
                let s = snap(s);
                let got: Vec<(Vec<u8>, i64)> = t
                    .scan(full_range(), ReadCtx::at(Version(s)))
                    .unwrap()
                    .map(|r| r.map(|(k, v)| (k, k_of(&v))).unwrap())
                    .collect();
                let want: Vec<(Vec<u8>, i64)> = m
                    .versions
                    .keys()
                    .filter_map(|&id| m.get(id, s).map(|k| (key(id), k)))
                    .collect();
                prop_assert_eq!(got, want, "scan at {}", s);
            }
            Op::Freeze => {
                t.freeze();
            }
            Op::Dump => {
                t.dump_frozen().unwrap();
            }
            Op::Minor => {
                t.minor_compact().unwrap();
            }
            Op::Major(s) => {
                let h = snap(s).min(m.version);
                t.major_compact(Version(h)).unwrap();
                m.horizon = m.horizon.max(h);
            }
            Op::CrashMidStep(budget) => {
                t.freeze();
                fs.fail_writes_after(budget as u64);
                // Either outcome is fine: failing part-way is the point when the budget is small.
                let _ = if t.stats().frozen > 0 {
                    t.dump_frozen().map(|_| ())
                } else {
                    t.major_compact(Version(m.horizon)).map(|_| ())
                };
                fs.heal();
                drop(t);
                fs.crash(|u| u / 2, true).unwrap();
                t = open_with(Arc::new(fs.clone()), dir.path(), Cache::new(1 << 20), small);
                replay(&t, &m.log);
            }
            Op::Crash => {
                drop(t);
                fs.crash(|u| u / 3, true).unwrap();
                t = open_with(Arc::new(fs.clone()), dir.path(), Cache::new(1 << 20), small);
                replay(&t, &m.log);
            }
        }
    }
    Ok(())
}

/// Cases per run: 64 by default; `REEF_MODEL_CASES` raises it for a soak.
fn cases() -> u32 {
    std::env::var("REEF_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]
    #[test]
    fn engine_matches_a_btreemap_model(ops in proptest::collection::vec(op(), 1..120)) {
        run(ops)?;
    }
}
