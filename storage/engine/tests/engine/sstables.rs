//! Dumps, compactions, the SSTable read path, recovery and corruption detection.

use std::ops::Bound;
use std::sync::Arc;

use arrow_array::{Array, Int64Array};
use reef_common::ids::{LogIndex, Version};
use reef_common::rowcodec::decode_row;
use reef_common::value::Value;
use reef_storage::cache::Cache;
use reef_storage::fs::{FaultFs, RealFs};
use reef_storage::mvcc::ReadCtx;
use reef_storage::scan::{ArrowScanRequest, ColumnRange, KeyRange};
use reef_storage::tablet::{full_range, Tablet};
use reef_storage::StorageError;

use crate::common::*;

#[test]
fn dumped_rows_read_back_through_every_path() {
    let dir = tempfile::tempdir().unwrap();
    let t = open(Arc::new(RealFs), dir.path(), Cache::new(64 << 20));
    for i in 0..2000 {
        commit(
            &t,
            i as u64 + 1,
            i as u64 + 1,
            i as u64 + 1,
            &[(i, Some(i * 10))],
        );
    }
    commit(&t, 5000, 5000, 5000, &[(7, None), (8, Some(-8))]);
    assert!(t.freeze());
    assert!(t.dump_frozen().unwrap());
    assert_eq!(t.stats().frozen, 0);
    assert_eq!(t.checkpoint(), LogIndex(5000));
    assert_eq!(get_k(&t, 1999, 5000), Some(19990));
    assert_eq!(get_k(&t, 7, 4999), Some(70));
    assert_eq!(get_k(&t, 7, 5000), None);
    assert_eq!(get_k(&t, 8, 5000), Some(-8));
    assert_eq!(get_k(&t, 3000, 5000), None);
    // A range scan merges versions at the snapshot.
    let rows: Vec<i64> = t
        .scan(full_range(), ReadCtx::at(Version(5000)))
        .unwrap()
        .map(|r| k_of(&r.unwrap().1))
        .collect();
    assert_eq!(rows.len(), 1999);
    assert_eq!(rows[7], -8, "key 7 is deleted, so key 8 comes seventh");
    // Inverted and empty ranges (a client's `BETWEEN 5 AND 1`) read nothing, in MemTables
    // and SSTables alike.
    commit(&t, 5001, 5001, 5001, &[(3, Some(33))]);
    for (lo, hi) in [(key(50), key(10)), (key(10), key(10))] {
        let n = t
            .scan(
                (Bound::Included(lo), Bound::Excluded(hi)),
                ReadCtx::at(Version(5001)),
            )
            .unwrap()
            .count();
        assert_eq!(n, 0);
    }
}

#[test]
fn row_and_block_caches_count_hits() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(64 << 20);
    let t = open(Arc::new(RealFs), dir.path(), cache.clone());
    commit_each(&t, 0..500);
    t.freeze();
    t.dump_frozen().unwrap();
    assert_eq!(get_k(&t, 42, 1000), Some(42));
    let s1 = cache.stats();
    assert_eq!(get_k(&t, 42, 1000), Some(42));
    let s2 = cache.stats();
    assert_eq!(s2.row_hits, s1.row_hits + 1);
    // A snapshot older than the newest version bypasses the row cache but hits blocks.
    assert_eq!(get_k(&t, 43, 1000), Some(43));
    let s3 = cache.stats();
    assert!(s3.block_hits > s2.block_hits, "{s3:?}");
}

/// Commits `writes` (key, value) a thousand at a time, each batch at the version of its
/// first key + 1, then dumps and major-compacts them into one baseline SSTable.
fn major_baseline(t: &Tablet, writes: &[(i64, Option<i64>)]) {
    for chunk in writes.chunks(1000) {
        let v = chunk[0].0 as u64 + 1;
        commit(t, v, v, v, chunk);
    }
    t.freeze();
    t.dump_frozen().unwrap();
    t.major_compact(Version(writes.len() as u64)).unwrap();
}

#[test]
fn arrow_scan_slices_a_clean_baseline_and_merges_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let t = open(Arc::new(RealFs), dir.path(), Cache::new(64 << 20));
    let n = 20_000i64;
    let ctx_writes: Vec<(i64, Option<i64>)> = (0..n).map(|i| (i, Some(i))).collect();
    major_baseline(&t, &ctx_writes);
    // Fresh changes after the baseline: one update and one delete, not yet dumped.
    commit(&t, 90_001, 90_001, 90_001, &[(5, Some(-5)), (6, None)]);
    let req = ArrowScanRequest {
        batch_rows: 1024,
        ..ArrowScanRequest::all(vec![1])
    };
    let mut scan = t.scan_arrow(req, ReadCtx::at(Version(90_001))).unwrap();
    let mut total = 0i64;
    let mut rows = 0usize;
    for b in &mut scan {
        let b = b.unwrap();
        let col = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        rows += col.len();
        total += col.iter().map(|v| v.unwrap()).sum::<i64>();
    }
    assert_eq!(rows, n as usize - 1);
    assert_eq!(total, (0..n).sum::<i64>() - 5 - 6 + -5);
    // The microblock holding keys 5 and 6 is sliced with the MemTable's update laid over
    // it; nothing needs the row merge.
    let st = scan.stats();
    assert!(st.blocks_sliced > 0, "{st:?}");
    assert_eq!(
        (st.blocks_patched, st.rows_patched, st.rows_merged),
        (1, 1, 0),
        "{st:?}"
    );
    // A change in another SSTable (dumped, not yet compacted) sends the microblocks it
    // overlaps through the row merge.
    t.freeze();
    t.dump_frozen().unwrap();
    let mut scan = t
        .scan_arrow(ArrowScanRequest::all(vec![1]), ReadCtx::at(Version(90_001)))
        .unwrap();
    let rows: usize = (&mut scan).map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(rows, n as usize - 1);
    let st = scan.stats();
    assert!(
        st.rows_merged > 0 && st.rows_merged < n as u64 / 2 && st.blocks_patched == 0,
        "{st:?}"
    );
    // Pruning by min/max skips microblocks outside a range on k.
    let req = ArrowScanRequest {
        ranges: vec![ColumnRange {
            slot: 1,
            min: Some(Value::Int(n - 100)),
            max: None,
        }],
        batch_rows: 1024,
        ..ArrowScanRequest::all(vec![0, 1])
    };
    let mut scan = t.scan_arrow(req, ReadCtx::at(Version(90_001))).unwrap();
    let kept: usize = (&mut scan).map(|b| b.unwrap().num_rows()).sum();
    assert!(kept >= 100 && kept < n as usize / 2, "kept {kept}");
    assert!(scan.stats().blocks_pruned > 0);
}

/// (id, k) of every row an Arrow scan of `range` returns at `ctx`, sorted.
fn arrow_rows(
    t: &Tablet,
    range: KeyRange,
    ctx: ReadCtx,
    ranges: Vec<ColumnRange>,
) -> Vec<(i64, i64)> {
    let req = ArrowScanRequest {
        keys: range,
        ranges,
        batch_rows: 1000,
        ..ArrowScanRequest::all(vec![0, 1])
    };
    let mut out = Vec::new();
    for b in t.scan_arrow(req, ctx).unwrap() {
        let b = b.unwrap();
        let ids = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        let ks = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
        out.extend(
            ids.values()
                .iter()
                .copied()
                .zip(ks.values().iter().copied()),
        );
    }
    out.sort_unstable();
    out
}

/// (id, k) of every row the row merge (the OLTP range scan) returns, in key order.
fn merged_rows(t: &Tablet, range: KeyRange, ctx: ReadCtx) -> Vec<(i64, i64)> {
    t.scan(range, ctx)
        .unwrap()
        .map(|r| {
            let row = r.unwrap().1;
            match &decode_row(&row, &schema().kinds, &schema().defaults).unwrap()[0] {
                Value::Int(id) => (*id, k_of(&row)),
                v => panic!("id is {v:?}"),
            }
        })
        .collect()
}

/// Arrow scans lay MemTable changes (two MemTables: updates, deletes, inserts inside and
/// between microblocks, a delete undone, writes the snapshot does not see, an open
/// transaction's) over a baseline's microblocks, and return exactly what the row merge
/// returns, over the whole table and over key ranges, from the column cache and from the
/// block cache, with min/max pruning.
#[test]
fn arrow_scans_lay_memtable_changes_over_microblocks_as_the_merge_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let t = open_with(Arc::new(RealFs), dir.path(), Cache::new(64 << 20), |o| {
        o.column_cache = Some(Cache::new(64 << 20));
    });
    let n = 20_000i64;
    // Even ids in the baseline, so odd ids insert inside microblocks' ranges.
    let writes: Vec<(i64, Option<i64>)> = (0..n).map(|i| (2 * i, Some(i))).collect();
    major_baseline(&t, &writes);
    let mut seed = 7u64;
    let mut pick = |below: i64| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        ((seed >> 33) % below as u64) as i64
    };
    let mut v = 100_000u64;
    let batch = |v: &mut u64, writes: Vec<(i64, Option<i64>)>| {
        *v += 1;
        commit(&t, *v, *v, *v, &writes);
    };
    for _ in 0..40 {
        let w: Vec<(i64, Option<i64>)> = (0..25)
            .map(|j| match j % 5 {
                0 => (2 * pick(n), None),
                1 => (2 * pick(n) + 1, Some(-pick(1000))),
                2 => (-1 - pick(50), Some(7)),
                3 => (2 * n + pick(100), Some(8)),
                _ => (2 * pick(n), Some(1_000_000 + pick(1000))),
            })
            .collect();
        let mut w = w;
        w.sort_unstable();
        w.dedup_by_key(|(id, _)| *id);
        batch(&mut v, w);
    }
    let frozen_at = Version(v);
    assert!(t.freeze());
    // In the newer MemTable: keys of the frozen one changed again, a delete undone.
    for _ in 0..20 {
        let mut w: Vec<(i64, Option<i64>)> = (0..20)
            .map(|j| match j % 4 {
                0 => (2 * pick(n), Some(-2)),
                1 => (2 * pick(n) + 1, None),
                2 => (2 * pick(n), None),
                _ => (2 * n + pick(100), Some(9)),
            })
            .collect();
        w.sort_unstable();
        w.dedup_by_key(|(id, _)| *id);
        batch(&mut v, w);
    }
    let last = Version(v);
    // An open transaction's write, and a commit after the snapshots read below.
    let open_txn = reef_storage::mvcc::TxnCtx::new(reef_common::ids::TxnId(999_999));
    t.write(
        &open_txn,
        reef_common::ids::StmtSeq(1),
        &key(4),
        reef_storage::mvcc::RowOp::Delete,
    )
    .unwrap();
    batch(&mut v, vec![(6, Some(66)), (7, Some(77))]);

    let ranges: Vec<KeyRange> = vec![
        full_range(),
        (Bound::Included(key(1_001)), Bound::Excluded(key(30_000))),
        (Bound::Excluded(key(-10)), Bound::Included(key(12_345))),
        (Bound::Included(key(39_990)), Bound::Unbounded),
    ];
    for pass in 0..2 {
        for snapshot in [Version(90_000), frozen_at, last] {
            for range in &ranges {
                let ctx = ReadCtx::at(snapshot);
                let want = merged_rows(&t, range.clone(), ctx.clone());
                let got = arrow_rows(&t, range.clone(), ctx, Vec::new());
                assert_eq!(
                    got, want,
                    "pass {pass}, snapshot {snapshot:?}, range {range:?}"
                );
            }
        }
        // Pruning on k keeps every matching row, the MemTables' among them.
        let ctx = ReadCtx::at(last);
        let pruned = arrow_rows(
            &t,
            full_range(),
            ctx.clone(),
            vec![ColumnRange {
                slot: 1,
                min: Some(Value::Int(n - 50)),
                max: None,
            }],
        );
        let want: Vec<(i64, i64)> = merged_rows(&t, full_range(), ctx)
            .into_iter()
            .filter(|&(_, k)| k >= n - 50)
            .collect();
        let got: Vec<(i64, i64)> = pruned.into_iter().filter(|&(_, k)| k >= n - 50).collect();
        assert_eq!(got, want, "pass {pass}");
        assert!(
            want.iter().any(|&(_, k)| k >= 1_000_000),
            "MemTable rows pass the pruning"
        );
    }
    let req = ArrowScanRequest::all(vec![1]);
    let mut scan = t.scan_arrow(req, ReadCtx::at(last)).unwrap();
    for b in &mut scan {
        b.unwrap();
    }
    let st = scan.stats();
    assert!(st.blocks_patched > 0 && st.rows_patched > 0, "{st:?}");
    // Only keys outside the baseline's microblocks (below, above, between) are merged.
    assert!(st.rows_merged < 2_000, "{st:?}");
}

/// The column cache serves a second scan's columns without decoding, gives the same
/// batches, keeps within its budget, and a scan of another column decodes only that one;
/// a clean macroblock's columns are held whole, found with one lookup, and cut into
/// batches of `batch_rows` rather than one per microblock.
#[test]
fn arrow_scans_read_decoded_columns_from_the_column_cache() {
    let dir = tempfile::tempdir().unwrap();
    let columns = Cache::new(64 << 20);
    let t = open_with(Arc::new(RealFs), dir.path(), Cache::new(64 << 20), |o| {
        o.column_cache = Some(columns.clone());
    });
    let n = 20_000i64;
    let writes: Vec<(i64, Option<i64>)> = (0..n).map(|i| (i, Some(3 * i))).collect();
    major_baseline(&t, &writes);
    let scan_k = |slots: Vec<usize>| {
        let mut scan = t
            .scan_arrow(ArrowScanRequest::all(slots), ReadCtx::at(Version(90_000)))
            .unwrap();
        let mut sum = 0i64;
        for b in &mut scan {
            let b = b.unwrap();
            let col = b.column(b.num_columns() - 1);
            let col = col.as_any().downcast_ref::<Int64Array>().unwrap();
            sum += col.iter().map(|v| v.unwrap()).sum::<i64>();
        }
        (sum, scan.stats())
    };
    let (first, cold) = scan_k(vec![1]);
    assert_eq!(first, 3 * (0..n).sum::<i64>());
    assert!(cold.blocks_sliced > 0, "{cold:?}");
    assert_eq!(
        (cold.columns_cached, cold.columns_decoded),
        (0, cold.blocks_sliced)
    );
    let (second, warm) = scan_k(vec![1]);
    assert_eq!(second, first);
    assert_eq!(
        (warm.columns_cached, warm.columns_decoded),
        (cold.blocks_sliced, 0)
    );
    // The key column is not cached yet: only it is decoded.
    let (_, both) = scan_k(vec![0, 1]);
    assert_eq!(
        (both.columns_cached, both.columns_decoded),
        (cold.blocks_sliced, cold.blocks_sliced)
    );
    let st = columns.stats();
    let macroblocks = t.stats().macroblocks as u64;
    assert!(macroblocks > 0 && macroblocks < cold.blocks_sliced);
    assert!(st.column_hits >= 2 * macroblocks, "{st:?}");
    assert!(st.bytes > 0 && st.bytes <= st.capacity_bytes, "{st:?}");
    // Both columns now cached, found with one lookup per macroblock.
    let (_, again) = scan_k(vec![0, 1]);
    assert_eq!(
        (again.columns_cached, again.columns_decoded),
        (2 * cold.blocks_sliced, 0)
    );
    assert_eq!(columns.stats().column_hits - st.column_hits, macroblocks);
    // Batches are slices of the whole macroblock's arrays, 8,192 rows but the last of each
    // macroblock, not one per microblock.
    let scan = t
        .scan_arrow(ArrowScanRequest::all(vec![1]), ReadCtx::at(Version(90_000)))
        .unwrap();
    let sizes: Vec<usize> = scan.map(|b| b.unwrap().num_rows()).collect();
    assert_eq!(sizes.iter().sum::<usize>(), n as usize);
    assert!(
        sizes.len() as u64 <= macroblocks + n as u64 / 8192,
        "{sizes:?}"
    );
    assert!(sizes.iter().all(|&r| r <= 8192), "{sizes:?}");
    // Min/max pruning still skips microblocks inside a whole macroblock.
    let req = ArrowScanRequest {
        ranges: vec![ColumnRange {
            slot: 1,
            min: Some(Value::Int(3 * (n - 100))),
            max: None,
        }],
        ..ArrowScanRequest::all(vec![1])
    };
    let mut scan = t.scan_arrow(req, ReadCtx::at(Version(90_000))).unwrap();
    let kept: usize = (&mut scan).map(|b| b.unwrap().num_rows()).sum();
    assert!(kept >= 100 && kept < n as usize / 2, "kept {kept}");
    assert!(scan.stats().blocks_pruned > 0);
}

/// The integer ranges planning reads come from the SSTables' microblock statistics: the
/// whole table's, a key range's (the microblocks it meets), nothing for a text column.
#[test]
fn sstable_integer_ranges_come_from_microblock_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let t = open(Arc::new(RealFs), dir.path(), Cache::new(64 << 20));
    assert_eq!(
        t.sstable_int_ranges(&full_range(), &[0, 1]),
        vec![None, None]
    );
    let n = 20_000i64;
    let writes: Vec<(i64, Option<i64>)> = (0..n).map(|i| (i, Some(3 * i - 7))).collect();
    major_baseline(&t, &writes);
    assert_eq!(
        t.sstable_int_ranges(&full_range(), &[1, 0, 2]),
        vec![Some((-7, 3 * (n - 1) - 7)), Some((0, n - 1)), None]
    );
    let part = (Bound::Included(key(10_000)), Bound::Excluded(key(10_010)));
    let [Some((lo, hi))] = t.sstable_int_ranges(&part, &[0])[..] else {
        panic!("a range of ids");
    };
    // Whole microblocks around the range: at most a few thousand ids either side.
    assert!(
        lo <= 10_000 && hi >= 10_009 && hi - lo < 5_000,
        "{lo}..{hi}"
    );
}

#[test]
fn minor_and_major_compactions_keep_every_snapshot_at_or_above_the_horizon() {
    let dir = tempfile::tempdir().unwrap();
    let t = open(Arc::new(RealFs), dir.path(), Cache::new(64 << 20));
    let mut v = 0u64;
    for round in 0..5i64 {
        for i in 0..300i64 {
            v += 1;
            let val = if (i + round) % 7 == 0 {
                None
            } else {
                Some(i * 100 + round)
            };
            commit(&t, v, v, v, &[(i, val)]);
        }
        t.freeze();
        t.dump_frozen().unwrap();
    }
    assert_eq!(t.stats().tables.0, 5);
    let snapshots = [300u64, 600, 900, 1200, 1500];
    let before: Vec<Vec<Option<i64>>> = snapshots
        .iter()
        .map(|&s| (0..300).map(|i| get_k(&t, i, s)).collect())
        .collect();
    assert!(t.minor_compact().unwrap());
    assert_eq!(t.stats().tables, (0, 1, 0));
    for (s, want) in snapshots.iter().zip(&before) {
        let got: Vec<Option<i64>> = (0..300).map(|i| get_k(&t, i, *s)).collect();
        assert_eq!(&got, want, "after minor, snapshot {s}");
    }
    let report = t.major_compact(Version(900)).unwrap();
    assert!(report.versions_dropped > 0, "{report:?}");
    assert_eq!(t.stats().tables, (0, 0, 1));
    for (s, want) in snapshots.iter().zip(&before).skip(2) {
        let got: Vec<Option<i64>> = (0..300).map(|i| get_k(&t, i, *s)).collect();
        assert_eq!(&got, want, "after major, snapshot {s}");
    }
}

#[test]
fn dumps_and_minors_drop_versions_below_the_gc_horizon_that_no_snapshot_can_see() {
    let dir = tempfile::tempdir().unwrap();
    let t = open(Arc::new(RealFs), dir.path(), Cache::new(64 << 20));
    // Per round, ten versions of each of 100 keys (version = 1000 * round + 100 * n + key + 1);
    // key 7 is deleted by its last write of round 0.
    let mut history: Vec<(i64, u64, Option<i64>)> = Vec::new();
    let dump_round = |t: &Tablet, round: u64, history: &mut Vec<(i64, u64, Option<i64>)>| {
        for n in 0..10u64 {
            for i in 0..100i64 {
                let v = 1000 * round + 100 * n + i as u64 + 1;
                let val = (i != 7 || round != 0 || n < 9).then_some(v as i64 * 10);
                commit(t, v, v, v, &[(i, val)]);
                history.push((i, v, val));
            }
        }
        t.freeze();
        assert!(t.dump_frozen().unwrap());
    };
    let model = |history: &[(i64, u64, Option<i64>)], i: i64, s: u64| {
        history
            .iter()
            .rev()
            .find(|(k, v, _)| *k == i && *v <= s)
            .and_then(|(_, _, val)| *val)
    };
    let check_from = |history: &[(i64, u64, Option<i64>)], horizon: u64| {
        let newest = history.last().unwrap().1;
        for s in [
            horizon,
            horizon + 1,
            horizon + 250,
            (horizon + newest) / 2,
            newest,
        ] {
            for i in 0..100 {
                assert_eq!(
                    get_k(&t, i, s),
                    model(history, i, s),
                    "key {i} at snapshot {s}"
                );
            }
        }
    };
    dump_round(&t, 0, &mut history);
    assert_eq!(
        t.stats().sstable_versions,
        1000,
        "no horizon: every version kept"
    );
    assert_eq!(get_k(&t, 7, 1000), None);
    t.set_gc_horizon(Version(850));
    dump_round(&t, 1, &mut history);
    assert_eq!(
        t.stats().sstable_versions,
        2000,
        "round 1 is all above the horizon"
    );
    check_from(&history, 850);
    t.set_gc_horizon(Version(1500));
    dump_round(&t, 2, &mut history);
    // The minor merge keeps, per key, round 2, the five writes of round 1 above 1500 and
    // the newest at or below it; round 0 (with key 7's delete) is gone.
    assert!(t.minor_compact().unwrap());
    assert_eq!(t.stats().tables, (0, 1, 0));
    assert_eq!(t.stats().sstable_versions, 100 * (10 + 5 + 1));
    check_from(&history, 1500);
    // A horizon never moves back.
    t.set_gc_horizon(Version(10));
    assert_eq!(t.gc_horizon(), Version(1500));
}

#[test]
fn incremental_major_reuses_untouched_macroblocks() {
    let dir = tempfile::tempdir().unwrap();
    let t = open(Arc::new(RealFs), dir.path(), Cache::new(64 << 20));
    let n = 150_000i64;
    // Incompressible padding, so the data spans several macroblocks.
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut pad_for = move || {
        (0..100)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (b'a' + (x % 26) as u8) as char
            })
            .collect::<String>()
    };
    let mut v = 0;
    for chunk in (0..n).collect::<Vec<_>>().chunks(2000) {
        v += 1;
        let ctx = reef_storage::mvcc::TxnCtx::new(reef_common::ids::TxnId(v));
        for &i in chunk {
            t.write(
                &ctx,
                reef_common::ids::StmtSeq(1),
                &key(i),
                reef_storage::mvcc::RowOp::Put(row(i, i, &pad_for())),
            )
            .unwrap();
        }
        ctx.set_committing(Version(v)).unwrap();
        ctx.commit(Version(v), LogIndex(v));
    }
    t.freeze();
    t.dump_frozen().unwrap();
    let first = t.major_compact(Version(v)).unwrap();
    assert!(first.macroblocks >= 3, "{first:?}");
    // Change the last 1% of keys (new and recent orders cluster at the end of the key space).
    v += 1;
    let tail: Vec<(i64, Option<i64>)> = (n - n / 100..n + 50).map(|i| (i, Some(-i))).collect();
    commit(&t, v, v, v, &tail);
    t.freeze();
    t.dump_frozen().unwrap();
    let second = t.major_compact(Version(v)).unwrap();
    assert!(
        second.reused >= first.macroblocks - 1,
        "{second:?} after {first:?}"
    );
    assert_eq!(get_k(&t, n - 1, v), Some(-(n - 1)));
    assert_eq!(get_k(&t, 10, v), Some(10));
    assert_eq!(get_k(&t, n + 10, v), Some(-(n + 10)));
}

#[test]
fn reopening_after_a_crash_restores_sstables_and_replays_the_log_above_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultFs::new();
    let mut log: Vec<LogRecord> = Vec::new();
    {
        let t = open(Arc::new(fs.clone()), dir.path(), Cache::new(1 << 20));
        for i in 1..=100u64 {
            let w = vec![(i as i64 % 37, Some(i as i64))];
            commit(&t, i, i, i, &w);
            log.push((i, w));
            if i == 60 {
                t.freeze();
                t.dump_frozen().unwrap();
            }
        }
        assert_eq!(t.checkpoint(), LogIndex(60));
    }
    // Power loss: anything not fsynced is cut back.
    fs.crash(|_| 0, false).unwrap();
    let t = open(Arc::new(fs), dir.path(), Cache::new(1 << 20));
    let cp = t.checkpoint().0;
    assert_eq!(cp, 60);
    replay(&t, &log);
    for id in 0..37 {
        let want = (1..=100i64).filter(|i| i % 37 == id).max();
        assert_eq!(get_k(&t, id, 100), want, "key {id}");
    }
}

#[test]
fn interrupted_compaction_leaves_the_previous_state_and_no_orphans() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultFs::new();
    {
        let t = open(Arc::new(fs.clone()), dir.path(), Cache::new(1 << 20));
        for i in 0..200i64 {
            commit(
                &t,
                i as u64 + 1,
                i as u64 + 1,
                i as u64 + 1,
                &[(i, Some(i))],
            );
            if i % 50 == 49 {
                t.freeze();
                t.dump_frozen().unwrap();
            }
        }
        fs.fail_writes_after(100);
        assert!(t.major_compact(Version(200)).is_err());
        fs.heal();
        assert_eq!(t.stats().tables.0, 4, "a failed compaction changes nothing");
    }
    let names_before: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let t = open(Arc::new(RealFs), dir.path(), Cache::new(1 << 20));
    let live = t.manifest().live_files().len();
    let blk_files = macroblock_files(dir.path());
    assert_eq!(blk_files, live, "files before reopen: {names_before:?}");
    assert_eq!(get_k(&t, 199, 200), Some(199));
    assert_eq!(get_k(&t, 0, 200), Some(0));
}

#[test]
fn a_flipped_bit_in_a_block_is_reported_with_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultFs::new();
    let t = open_with(Arc::new(fs.clone()), dir.path(), Cache::new(1 << 20), |o| {
        o.row_cache = false
    });
    commit_each(&t, 0..100);
    t.freeze();
    t.dump_frozen().unwrap();
    let mb = t.manifest().tables[0].macroblocks[0].id;
    let path = t.macroblock_path(mb);
    fs.flip_bit_on_read(&path, 20);
    match t.get(&key(5), &ReadCtx::at(Version(100))) {
        Err(StorageError::Corrupt {
            path: p, offset, ..
        }) => {
            assert_eq!(p, path);
            assert_eq!(offset, 0);
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    fs.heal();
    assert_eq!(get_k(&t, 5, 100), Some(5));
}

#[test]
fn damaged_manifest_or_footer_stops_the_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let t = open(Arc::new(RealFs), dir.path(), Cache::new(1 << 20));
        commit(&t, 1, 1, 1, &[(1, Some(1))]);
        t.freeze();
        t.dump_frozen().unwrap();
    }
    let blk = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "blk"))
        .unwrap();
    let mut bytes = std::fs::read(&blk).unwrap();
    let n = bytes.len();
    bytes[n - 10] ^= 0xFF;
    std::fs::write(&blk, &bytes).unwrap();
    let opts = reef_storage::tablet::TabletOptions::new(Arc::new(RealFs), Cache::new(1 << 20));
    let err = reef_storage::tablet::Tablet::open(
        reef_common::ids::TabletId(1),
        dir.path(),
        schema(),
        opts,
    )
    .unwrap_err();
    assert!(matches!(err, StorageError::Corrupt { .. }), "{err}");
}

/// Incremental majors over data large enough for many microblocks: clustered and sparse
/// changes, deletes and inserts between rounds; every key must read as a `BTreeMap` says.
#[test]
fn incremental_majors_match_a_model_across_rounds() {
    use std::collections::BTreeMap;
    let dir = tempfile::tempdir().unwrap();
    let t = open(Arc::new(RealFs), dir.path(), Cache::new(8 << 20));
    let mut model: BTreeMap<i64, i64> = BTreeMap::new();
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut rnd = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let mut v = 0u64;
    let mut apply = |t: &reef_storage::tablet::Tablet,
                     model: &mut BTreeMap<i64, i64>,
                     writes: Vec<(i64, Option<i64>)>| {
        v += 1;
        for (id, k) in &writes {
            match k {
                Some(k) => model.insert(*id, *k),
                None => model.remove(id),
            };
        }
        commit(t, v, v, v, &writes);
        v
    };
    let base: Vec<(i64, Option<i64>)> = (0..40_000).map(|i| (i * 2, Some(i))).collect();
    let mut loaded = 0;
    for chunk in base.chunks(5000) {
        loaded = apply(&t, &mut model, chunk.to_vec());
    }
    t.freeze();
    t.dump_frozen().unwrap();
    t.major_compact(Version(loaded)).unwrap();
    let mut copied = 0;
    for round in 0..6i64 {
        // A clustered burst somewhere, a few sparse changes, deletes and fresh odd keys.
        let at = rnd(80_000) as i64;
        let mut writes: Vec<(i64, Option<i64>)> =
            (at..at + 300).map(|i| (i, Some(-i - round))).collect();
        for _ in 0..5 {
            let id = rnd(80_000) as i64;
            writes.push((id, if rnd(3) == 0 { None } else { Some(round) }));
        }
        writes.sort();
        writes.dedup_by_key(|w| w.0);
        let now = apply(&t, &mut model, writes);
        t.freeze();
        t.dump_frozen().unwrap();
        let r = t.major_compact(Version(now)).unwrap();
        copied += r.micros_copied;
        for id in (0..80_000).step_by(7).chain(at..at + 300) {
            assert_eq!(
                get_k(&t, id, now),
                model.get(&id).copied(),
                "round {round}, key {id}: {r:?}"
            );
        }
        let scanned = t
            .scan(full_range(), ReadCtx::at(Version(now)))
            .unwrap()
            .count();
        assert_eq!(scanned, model.len(), "round {round}");
    }
    assert!(copied > 0, "the rounds never exercised microblock copying");
}

#[test]
fn arrow_scans_push_key_ranges_down_and_consult_blooms_for_one_key() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(64 << 20);
    let t = open(Arc::new(RealFs), dir.path(), cache.clone());
    for i in (0..10_000).step_by(2) {
        commit(
            &t,
            i as u64 + 1,
            i as u64 + 1,
            i as u64 + 1,
            &[(i, Some(i))],
        );
    }
    t.freeze();
    t.dump_frozen().unwrap();
    let ctx = ReadCtx::at(Version(10_000));
    let ks = |req: ArrowScanRequest| -> Vec<i64> {
        t.scan_arrow(req, ctx.clone())
            .unwrap()
            .flat_map(|b| {
                let b = b.unwrap();
                let c = b
                    .column(0)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap()
                    .clone();
                c.iter().map(|v| v.unwrap()).collect::<Vec<_>>()
            })
            .collect()
    };
    let range = ArrowScanRequest {
        keys: (
            std::ops::Bound::Included(key(100)),
            std::ops::Bound::Excluded(key(110)),
        ),
        ..ArrowScanRequest::all(vec![1])
    };
    let mut got = ks(range);
    got.sort();
    assert_eq!(got, (100..110).step_by(2).collect::<Vec<_>>());
    let one = |id| ArrowScanRequest {
        keys: (
            std::ops::Bound::Included(key(id)),
            std::ops::Bound::Included(key(id)),
        ),
        ..ArrowScanRequest::all(vec![1])
    };
    assert_eq!(ks(one(4322)), vec![4322]);
    // Between existing keys (odd ids were never written): the bloom filter answers alone.
    let absent = key(4321);
    let before = cache.stats();
    let req = ArrowScanRequest {
        keys: (
            std::ops::Bound::Included(absent.clone()),
            std::ops::Bound::Included(absent),
        ),
        ..ArrowScanRequest::all(vec![1])
    };
    assert!(ks(req).is_empty());
    let after = cache.stats();
    assert_eq!(
        after.block_misses + after.block_hits,
        before.block_misses + before.block_hits,
        "a block was read"
    );
}

#[test]
fn a_dump_whose_fsync_fails_keeps_the_memtable_and_succeeds_later() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultFs::new();
    let t = open(Arc::new(fs.clone()), dir.path(), Cache::new(1 << 20));
    commit_each(&t, 0..300);
    assert!(t.freeze());
    fs.fail_next_syncs(1);
    let err = t.dump_frozen().unwrap_err();
    assert!(matches!(err, StorageError::Io { .. }), "{err}");
    assert_eq!(
        t.stats().frozen,
        1,
        "the MemTable stays until its dump is durable"
    );
    assert_eq!(t.stats().tables, (0, 0, 0));
    assert_eq!(get_k(&t, 123, 300), Some(123));
    let leftovers = macroblock_files(dir.path());
    assert_eq!(leftovers, 0, "the failed dump's files are removed");
    assert!(t.dump_frozen().unwrap());
    assert_eq!(t.stats().frozen, 0);
    assert_eq!(get_k(&t, 299, 300), Some(299));
}

#[test]
fn the_background_compactor_dumps_and_merges_without_being_asked() {
    let dir = tempfile::tempdir().unwrap();
    let t = open_with(Arc::new(RealFs), dir.path(), Cache::new(8 << 20), |o| {
        o.memtable_freeze_bytes = 32 << 10;
        o.minor_trigger = 3;
    });
    let bg = reef_storage::tablet::BackgroundCompactor::spawn(std::time::Duration::from_millis(20));
    bg.register(&t);
    commit_each(&t, 0..3000);
    bg.wake();
    // Wait (bounded) for the thread to catch up: every MemTable dumped, minis merged.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let s = t.stats();
        if s.frozen == 0 && s.tables.0 < 3 && s.tables.1 >= 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "background compaction made no progress: {s:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    drop(bg);
    for id in (0..3000).step_by(97) {
        assert_eq!(get_k(&t, id, 3000), Some(id));
    }
    assert!(t.checkpoint().0 > 0);
}

/// Macroblock files in a tablet directory.
fn macroblock_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".blk")
        })
        .count()
}

/// `get_arrow` reads the rows at whole keys, in the order asked, across SSTables and newer
/// MemTable versions, leaving out deleted and absent keys, and answers what a scan of each
/// key answers.
#[test]
fn keyed_arrow_reads_return_the_visible_rows_in_key_order_asked() {
    let dir = tempfile::tempdir().unwrap();
    let t = open(Arc::new(RealFs), dir.path(), Cache::new(64 << 20));
    commit_each(&t, 0..500);
    assert!(t.freeze());
    assert!(t.dump_frozen().unwrap());
    commit(
        &t,
        1000,
        1000,
        1000,
        &[(7, Some(-7)), (9, None), (600, Some(6))],
    );
    let ctx = ReadCtx::at(Version(1000));
    let keys: Vec<Vec<u8>> = [600, 9, 7, 3, 499, 10_000].into_iter().map(key).collect();
    let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    let b = t.get_arrow(&refs, &[1, 0], &ctx).unwrap();
    let col = |i: usize| -> Vec<i64> {
        let a = b.column(i).as_any().downcast_ref::<Int64Array>().unwrap();
        a.values().to_vec()
    };
    assert_eq!(col(1), vec![600, 7, 3, 499]);
    assert_eq!(col(0), vec![6, -7, 3, 499]);
    // Each agrees with a scan of its key; an older snapshot sees the older versions.
    let before = t
        .get_arrow(&refs, &[1, 0], &ReadCtx::at(Version(999)))
        .unwrap();
    let ids = before
        .column(1)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    assert_eq!(ids.values().to_vec(), vec![9, 7, 3, 499]);
    for k in &keys {
        let scanned: Vec<i64> = t
            .scan(
                (Bound::Included(k.clone()), Bound::Included(k.clone())),
                ctx.clone(),
            )
            .unwrap()
            .map(|r| k_of(&r.unwrap().1))
            .collect();
        let got = t.get_arrow(&[k.as_slice()], &[1], &ctx).unwrap();
        let got = got.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(got.values().to_vec(), scanned);
    }
}

/// A planner's row estimate counts a MemTable's keys in a short range exactly, and a range
/// with more than `MEM_KEYS_COUNTED` of them as the MemTable's every key; SSTable rows come
/// from the index either way.
#[test]
fn row_estimates_count_memtable_keys_only_while_few() {
    use reef_storage::tablet::MEM_KEYS_COUNTED;
    let dir = tempfile::tempdir().unwrap();
    let t = open(Arc::new(RealFs), dir.path(), Cache::new(64 << 20));
    let many = 3 * MEM_KEYS_COUNTED as i64;
    commit_each(&t, 0..many);
    let range = |lo: i64, hi: i64| (Bound::Included(key(lo)), Bound::Excluded(key(hi)));
    assert_eq!(t.estimated_rows_in(&range(10, 110)), 100);
    assert_eq!(t.rows_in(&range(10, 110), u64::MAX), 100);
    // Past the count, the whole MemTable: an upper estimate.
    assert_eq!(t.estimated_rows_in(&range(0, many / 2)), many as u64);
    assert_eq!(t.rows_in(&range(0, many / 2), u64::MAX), many as u64 / 2);
    assert_eq!(t.estimated_rows_in(&full_range()), many as u64);

    // Dumped, the same rows are counted from the SSTable's index, by microblock.
    assert!(t.freeze());
    assert!(t.dump_frozen().unwrap());
    let sstable = t.estimated_rows_in(&range(0, many / 2));
    assert!(
        sstable >= many as u64 / 2 && sstable < many as u64,
        "{sstable}"
    );
    assert_eq!(t.estimated_rows_in(&full_range()), many as u64);
    assert_eq!(
        t.estimated_rows_in(&range(0, many / 2)),
        t.rows_in(&range(0, many / 2), 0)
    );
}

/// `split_keys` cuts a range on macroblock boundaries into parts of about equal rows, and
/// scanning the parts one after another reads exactly what one scan of the range reads,
/// MemTable rows included.
#[test]
fn split_keys_cut_ranges_into_parts_that_read_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let t = open(Arc::new(RealFs), dir.path(), Cache::new(64 << 20));
    let mut n = 0;
    for dump in 0..4i64 {
        for i in dump * 1000..dump * 1000 + 1000 {
            n += 1;
            commit(&t, n, n, n, &[(i, Some(i))]);
        }
        assert!(t.freeze());
        assert!(t.dump_frozen().unwrap());
    }
    assert!(t.split_keys(&full_range(), 1).is_empty());
    assert_eq!(t.split_keys(&full_range(), 2), vec![key(2000)]);
    assert_eq!(
        t.split_keys(&full_range(), 4),
        vec![key(1000), key(2000), key(3000)]
    );
    // Only the macroblocks the range reaches count, and a cut is never its start.
    let from = (Bound::Included(key(2500)), Bound::Unbounded);
    assert_eq!(t.split_keys(&from, 2), vec![key(3000)]);
    assert!(t
        .split_keys(&(Bound::Included(key(3000)), Bound::Unbounded), 2)
        .is_empty());

    // Newer rows in the MemTable, one of them a delete.
    n += 1;
    commit(
        &t,
        n,
        n,
        n,
        &[(999, None), (1000, Some(-1)), (5000, Some(5))],
    );
    let read = |range: KeyRange| -> Vec<i64> {
        t.scan(range, ReadCtx::at(Version(n)))
            .unwrap()
            .map(|r| k_of(&r.unwrap().1))
            .collect()
    };
    let whole = read(full_range());
    assert_eq!(whole.len(), 4000);
    let cuts = t.split_keys(&full_range(), 4);
    let mut parts = Vec::new();
    let mut start = Bound::Unbounded;
    for cut in cuts {
        parts.extend(read((start, Bound::Excluded(cut.clone()))));
        start = Bound::Included(cut);
    }
    parts.extend(read((start, Bound::Unbounded)));
    assert_eq!(parts, whole);
}

/// A tablet whose upkeep compacts tombstones from 100 on, with keys `0..rows` (k = id) in
/// its baseline.
fn baseline_with_tombstone_trigger_100(dir: &std::path::Path, rows: i64) -> Arc<Tablet> {
    let t = open_with(Arc::new(RealFs), dir, Cache::new(64 << 20), |o| {
        o.tombstone_trigger = 100;
    });
    let base: Writes = (0..rows).map(|i| (i, Some(i))).collect();
    major_baseline(&t, &base);
    t
}

/// A queue-like tablet: its head is deleted key by key. Once the active MemTable holds
/// enough tombstones, upkeep freezes, dumps and runs a major that drops the deleted keys
/// and the baseline rows they hid; a reader sees the same rows before and after.
#[test]
fn piled_up_tombstones_trigger_a_major_that_drops_them() {
    let dir = tempfile::tempdir().unwrap();
    let t = baseline_with_tombstone_trigger_100(dir.path(), 1000);
    // A delete and a write again in a later transaction leave no tombstone; a delete of a
    // key that only the baseline holds leaves one.
    commit(&t, 2000, 2000, 2000, &[(0, None)]);
    assert_eq!(t.stats().active_tombstones, 1);
    commit(&t, 2001, 2001, 2001, &[(0, Some(7))]);
    assert_eq!(t.stats().active_tombstones, 0);
    let mut v = 2001;
    for i in 0..99 {
        v += 1;
        commit(&t, v, v, v, &[(i, None)]);
    }
    assert_eq!(t.stats().active_tombstones, 99);
    t.set_gc_horizon(Version(v));
    assert!(
        !t.maintain().unwrap(),
        "99 tombstones are below the trigger"
    );
    assert_eq!(t.stats().tables, (0, 0, 1));
    v += 1;
    commit(&t, v, v, v, &[(99, None)]);
    t.set_gc_horizon(Version(v));
    let before: Vec<Option<i64>> = (0..1000).map(|i| get_k(&t, i, v)).collect();
    assert!(t.maintain().unwrap());
    let s = t.stats();
    assert_eq!((s.tables, s.frozen, s.active_tombstones), ((0, 0, 1), 0, 0));
    assert_eq!(
        s.sstable_versions, 900,
        "deleted keys and what they hid are gone"
    );
    let after: Vec<Option<i64>> = (0..1000).map(|i| get_k(&t, i, v)).collect();
    assert_eq!(after, before);
    assert_eq!(get_k(&t, 100, v), Some(100));
    assert_eq!(get_k(&t, 99, v), None);
}

/// On a large baseline a few tombstones do not rewrite it: the trigger grows with the
/// baseline (a sixteenth of its rows).
#[test]
fn a_large_baseline_is_not_rewritten_for_a_few_tombstones() {
    let dir = tempfile::tempdir().unwrap();
    let t = baseline_with_tombstone_trigger_100(dir.path(), 4000);
    let deletes: Writes = (0..200).map(|i| (i, None)).collect();
    commit(&t, 5000, 5000, 5000, &deletes);
    t.set_gc_horizon(Version(5000));
    assert!(!t.maintain().unwrap());
    assert_eq!(t.stats().active_tombstones, 200);
    let deletes: Writes = (200..250).map(|i| (i, None)).collect();
    commit(&t, 5001, 5001, 5001, &deletes);
    t.set_gc_horizon(Version(5001));
    assert!(t.maintain().unwrap(), "250 tombstones reach 4000 / 16");
    assert_eq!(t.stats().sstable_versions, 3750);
}
