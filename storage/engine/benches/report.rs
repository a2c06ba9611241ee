//! Engine figures that are ratios, not timings: compression, the share of macroblocks an
//! incremental major compaction rewrites, and how many appends share an fsync. Run with
//! `cargo bench -p reef-storage --bench report`; results go to docs/benchmarks.md.

mod support;

use std::sync::Arc;
use std::time::Instant;

use reef_common::ids::Version;
use reef_storage::cache::Cache;
use reef_storage::fs::RealFs;
use reef_storage::logstore::{LogEntry, LogStore};
use reef_storage::mvcc::RowOp;
use reef_storage::sstable::block::Compression;
use reef_storage::tablet::Tablet;
use support::*;

fn mib(b: u64) -> f64 {
    b as f64 / (1 << 20) as f64
}

type Rows = Vec<(Vec<u8>, Vec<u8>)>;

fn sbtest_rows(n: i64) -> Rows {
    let mut rng = Rng(42);
    (0..n)
        .map(|i| (int_key(i), sbtest_row(&mut rng, i, n)))
        .collect()
}

/// TPC-C-like order lines of one warehouse: 10 districts, `orders` orders each, 5-15 lines;
/// the oldest 70% of orders are delivered.
fn order_lines(orders: i64) -> Rows {
    let mut rng = Rng(43);
    let mut out = Vec::new();
    for d in 1..=10 {
        for o in 1..=orders {
            let lines = 5 + rng.below(11) as i64;
            for n in 1..=lines {
                out.push((
                    order_line_key(1, d, o, n),
                    order_line_row(&mut rng, 1, d, o, n, o * 10 < orders * 7),
                ));
            }
        }
    }
    out.sort();
    out
}

fn compression(name: &str, schema: fn() -> reef_storage::schema::RowSchema, rows: &Rows) {
    let raw: u64 = rows.iter().map(|(k, r)| (k.len() + r.len()) as u64).sum();
    for codec in [Compression::None, Compression::Lz4, Compression::Snappy] {
        let dir = tempfile::tempdir().unwrap();
        let t = tablet(dir.path(), schema(), Cache::new(64 << 20), |o| {
            o.compression = codec
        });
        let v = load(&t, rows.iter().cloned(), 0);
        let start = Instant::now();
        settle(&t, v);
        let secs = start.elapsed().as_secs_f64();
        let disk = t.stats().sstable_bytes;
        println!(
            "compression {name:<11} {codec:<7?} rows {:>8}  raw {:>7.1} MiB  sstable {:>6.1} MiB  ratio {:>5.2}x  dump+major {:>6.1} MiB/s",
            rows.len(),
            mib(raw),
            mib(disk),
            raw as f64 / disk as f64,
            mib(raw) / secs
        );
    }
}

/// Changes `changed` (already encoded) rows after a first major, runs a second, and reports
/// the share of the baseline's macroblocks that had to be rewritten.
fn incremental(
    name: &str,
    schema: fn() -> reef_storage::schema::RowSchema,
    rows: &Rows,
    changed: &Rows,
) {
    let dir = tempfile::tempdir().unwrap();
    let t: Arc<Tablet> = tablet(dir.path(), schema(), Cache::new(64 << 20), |_| {});
    let v = load(&t, rows.iter().cloned(), 0);
    settle(&t, v);
    let before = t.stats().macroblocks;
    let v2 = v + 1;
    for (k, r) in changed {
        t.apply_committed(
            k,
            Version(v2),
            RowOp::Put(Arc::from(r.as_slice())),
            reef_common::ids::LogIndex(v2),
        )
        .unwrap();
    }
    t.set_applied(reef_common::ids::LogIndex(v2));
    t.freeze();
    while t.dump_frozen().unwrap() {}
    let start = Instant::now();
    let r = t.major_compact(Version(v2)).unwrap();
    let rewritten = r.old_baseline - r.reused.min(r.old_baseline);
    println!(
        "incremental major {name:<34} baseline {:>4} macroblocks, {:>5} keys changed: reused {:>4}, rewritten {:>4} ({:>5.1}% of the baseline), new total {:>4}, {:.2} s",
        before,
        changed.len(),
        r.reused,
        rewritten,
        100.0 * rewritten as f64 / before as f64,
        r.macroblocks,
        start.elapsed().as_secs_f64()
    );
}

fn group_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(LogStore::open(Arc::new(RealFs), dir.path()).unwrap());
    let payload: Arc<[u8]> = Arc::from(vec![0xCD; 256]);
    let per_writer = 5_000u64;
    let start = Instant::now();
    let writers: Vec<_> = (0..8u64)
        .map(|g| {
            let (store, payload) = (store.clone(), payload.clone());
            std::thread::spawn(move || {
                for i in 1..=per_writer {
                    store
                        .append_sync(
                            g,
                            &[LogEntry {
                                index: i,
                                term: 1,
                                payload: payload.clone(),
                            }],
                        )
                        .unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    let s = store.stats();
    println!(
        "log group commit: 8 writers x {per_writer} appends of 256 B: {:.0} appends/s, {:.0} fsyncs/s, {:.1} appends per fsync",
        s.records as f64 / secs,
        s.syncs as f64 / secs,
        s.records as f64 / s.syncs as f64
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let sb = sbtest_rows(1_000_000);
    compression("sbtest", sbtest_schema, &sb);
    let ol = order_lines(3000);
    compression("order_line", order_line_schema, &ol);

    // Clustered, as TPC-C changes order lines: in each district 15 new orders arrive (10
    // lines each) and the 15 most recent orders get delivered: about 1% of the rows.
    let mut rng = Rng(44);
    let mut clustered: Rows = Vec::new();
    for d in 1..=10i64 {
        for o in 2986..=3015i64 {
            for n in 1..=10 {
                let key = order_line_key(1, d, o, n);
                if o > 3000 || ol.binary_search_by(|(k, _)| k.cmp(&key)).is_ok() {
                    clustered.push((key, order_line_row(&mut rng, 1, d, o, n, o <= 3000)));
                }
            }
        }
    }
    clustered.sort();
    incremental(
        "order_line, 1% clustered (new+recent)",
        order_line_schema,
        &ol,
        &clustered,
    );

    let mut rng = Rng(45);
    let mut uniform: Rows = (0..ol.len() / 100)
        .map(|_| ol[rng.below(ol.len() as u64) as usize].clone())
        .collect();
    uniform.sort();
    uniform.dedup_by(|a, b| a.0 == b.0);
    incremental("order_line, 1% uniform", order_line_schema, &ol, &uniform);

    let mut rng = Rng(46);
    let mut sb_uniform: Rows = (0..sb.len() / 100)
        .map(|_| {
            let i = rng.below(sb.len() as u64) as i64;
            (int_key(i), sbtest_row(&mut rng, i, 1_000_000))
        })
        .collect();
    sb_uniform.sort();
    sb_uniform.dedup_by(|a, b| a.0 == b.0);
    incremental("sbtest, 1% uniform", sbtest_schema, &sb, &sb_uniform);

    group_commit();
}
