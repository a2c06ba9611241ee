//! Engine figures that are ratios, not timings: compression, the share of macroblocks an
//! incremental major compaction rewrites, and how many appends share an fsync. Run with
//! `cargo bench -p reef-storage --bench report`; results go to docs/benchmarks.md.

mod support;

use std::sync::Arc;
use std::time::Instant;

use reef_common::ids::{LogIndex, Version};
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

/// Loads `rows`, runs a major, then for each round applies its changes and runs another
/// major, reporting how much of the baseline each round reused, copied and re-encoded.
fn incremental(
    name: &str,
    schema: fn() -> reef_storage::schema::RowSchema,
    rows: &Rows,
    rounds: &[Rows],
) {
    let dir = tempfile::tempdir().unwrap();
    let t: Arc<Tablet> = tablet(dir.path(), schema(), Cache::new(64 << 20), |_| {});
    let mut v = load(&t, rows.iter().cloned(), 0);
    settle(&t, v);
    for (round, changed) in rounds.iter().enumerate() {
        v += 1;
        for (k, r) in changed {
            t.apply_committed(
                k,
                Version(v),
                RowOp::Put(Arc::from(r.as_slice())),
                LogIndex(v),
            )
            .unwrap();
        }
        t.set_applied(LogIndex(v));
        t.freeze();
        while t.dump_frozen().unwrap() {}
        let start = Instant::now();
        let r = t.major_compact(Version(v)).unwrap();
        println!(
            "incremental major {name:<26} round {}: {:>5} keys changed; old baseline {:>3} macroblocks: {:>3} reused, {:>3} rebuilt, {:>3} rewritten, {:>2} coalesced ({:>5.1}% touched); microblocks {:>5} copied, {:>5} re-encoded; {:>5.1}% of bytes encoded anew; new baseline {:>3} macroblocks; {:.2} s",
            round + 1,
            changed.len(),
            r.old_baseline,
            r.reused,
            r.rebuilt,
            r.rewritten,
            r.coalesced,
            100.0 * r.macroblocks_touched_share(),
            r.micros_copied,
            r.micros_rewritten,
            100.0 * r.bytes_encoded_share(),
            r.macroblocks,
            start.elapsed().as_secs_f64()
        );
    }
}

/// One day of TPC-C-like change in every district: `new` orders arrive after `last` (10
/// lines each) and the `new` most recent existing orders get delivered.
fn clustered_day(ol: &Rows, rng: &mut Rng, last: i64, new: i64) -> Rows {
    let mut out = Vec::new();
    for d in 1..=10i64 {
        for o in last - new + 1..=last + new {
            for n in 1..=10 {
                let key = order_line_key(1, d, o, n);
                if o > 3000 || ol.binary_search_by(|(k, _)| k.cmp(&key)).is_ok() {
                    out.push((key, order_line_row(rng, 1, d, o, n, o <= last)));
                }
            }
        }
    }
    out.sort();
    out
}

/// 8 writers append 256-byte entries; each keeps up to `in_flight` appends waiting for
/// durability (1: every append waits for its fsync; Raft pipelines appends with callbacks).
fn group_commit(in_flight: usize) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(LogStore::open(Arc::new(RealFs), dir.path()).unwrap());
    let payload: Arc<[u8]> = Arc::from(vec![0xCD; 256]);
    let per_writer = 20_000u64;
    let start = Instant::now();
    let writers: Vec<_> = (0..8u64)
        .map(|g| {
            let (store, payload) = (store.clone(), payload.clone());
            std::thread::spawn(move || {
                let (tx, rx) = std::sync::mpsc::channel::<()>();
                let mut waiting = 0;
                for i in 1..=per_writer {
                    if waiting == in_flight {
                        rx.recv().unwrap();
                        waiting -= 1;
                    }
                    let tx = tx.clone();
                    let e = LogEntry {
                        index: i,
                        term: 1,
                        payload: payload.clone(),
                    };
                    store.append(
                        g,
                        &[e],
                        Box::new(move |r| {
                            r.unwrap();
                            let _ = tx.send(());
                        }),
                    );
                    waiting += 1;
                }
                for _ in 0..waiting {
                    rx.recv().unwrap();
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
        "log group commit: 8 writers x {per_writer} appends of 256 B, {in_flight:>2} in flight each: {:>7.0} appends/s, {:>6.0} fsyncs/s, {:>5.1} appends per fsync",
        s.records as f64 / secs,
        s.syncs as f64 / secs,
        s.records as f64 / s.syncs as f64
    );
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // `cargo bench --bench report -- incremental` runs only the sections named.
    let run = |section: &str| args.is_empty() || args.iter().any(|a| a == section);
    let sb = sbtest_rows(1_000_000);
    let ol = order_lines(3000);
    if run("compression") {
        compression("sbtest", sbtest_schema, &sb);
        compression("order_line", order_line_schema, &ol);
    }
    if run("incremental") {
        // Clustered, as TPC-C changes order lines: in each district new orders arrive and
        // the most recent ones get delivered, about 1% of the rows a day; five days in a row.
        let mut rng = Rng(44);
        let days: Vec<Rows> = (0..5)
            .map(|d| clustered_day(&ol, &mut rng, 3000 + 15 * d, 15))
            .collect();
        incremental("order_line, 1% clustered", order_line_schema, &ol, &days);
        let mut rng = Rng(45);
        let mut uniform: Rows = (0..ol.len() / 100)
            .map(|_| ol[rng.below(ol.len() as u64) as usize].clone())
            .collect();
        uniform.sort();
        uniform.dedup_by(|a, b| a.0 == b.0);
        incremental("order_line, 1% uniform", order_line_schema, &ol, &[uniform]);
        let mut rng = Rng(46);
        let mut sb_uniform: Rows = (0..sb.len() / 100)
            .map(|_| {
                let i = rng.below(sb.len() as u64) as i64;
                (int_key(i), sbtest_row(&mut rng, i, 1_000_000))
            })
            .collect();
        sb_uniform.sort();
        sb_uniform.dedup_by(|a, b| a.0 == b.0);
        incremental("sbtest, 1% uniform", sbtest_schema, &sb, &[sb_uniform]);
    }
    if run("log") {
        for in_flight in [1, 8, 32] {
            group_commit(in_flight);
        }
    }
}
