//! Criterion benchmarks of the storage engine. Run with
//! `cargo bench -p reef-storage --bench engine`; results go to docs/benchmarks.md.

mod support;

use std::ops::Bound;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use reef_common::ids::{LogIndex, StmtSeq, TxnId, Version};
use reef_storage::cache::Cache;
use reef_storage::fs::RealFs;
use reef_storage::logstore::{LogEntry, LogStore};
use reef_storage::mvcc::{ReadCtx, RowOp, TxnCtx};
use reef_storage::scan::ArrowScanRequest;
use reef_storage::sstable::block::{self, Block, BlockBuilder, Compression};
use reef_storage::tablet::full_range;
use support::*;

const ROWS: i64 = 1_000_000;

fn memtable(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let t = tablet(dir.path(), sbtest_schema(), Cache::new(64 << 20), |o| {
        o.memtable_freeze_bytes = 4 << 30
    });
    let mut rng = Rng(7);
    let rows = 200_000i64;
    load(
        &t,
        (0..rows).map(|i| (int_key(i), sbtest_row(&mut rng, i, rows))),
        0,
    );
    let keys: Vec<Vec<u8>> = (0..4096)
        .map(|_| int_key(rng.below(rows as u64) as i64))
        .collect();
    let ctx = ReadCtx::at(Version(u64::MAX - 1));
    let mut g = c.benchmark_group("memtable");
    g.throughput(Throughput::Elements(1));
    let mut i = 0;
    g.bench_function("point_get_200k_rows", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            t.get(&keys[i], &ctx).unwrap().unwrap()
        })
    });
    let row: Arc<[u8]> = Arc::from(sbtest_row(&mut rng, 0, rows));
    let mut next = rows;
    let mut txn = 1u64;
    g.bench_function("insert_write_and_commit", |b| {
        b.iter(|| {
            next += 1;
            txn += 1;
            let ctx = TxnCtx::new(TxnId(txn));
            t.write(&ctx, StmtSeq(1), &int_key(next), RowOp::Put(row.clone()))
                .unwrap();
            ctx.set_committing(Version(txn)).unwrap();
            ctx.commit(Version(txn), LogIndex(txn));
        })
    });
    g.finish();

    // Range reads of the OLTP path (`VisibleMerge`): sysbench's 100-row ranges, and TPC-C
    // Delivery's oldest new order, found past a district's delivered (deleted) orders.
    let mut g = c.benchmark_group("memtable_range");
    let starts: Vec<i64> = (0..4096)
        .map(|_| rng.below(rows as u64 - 100) as i64)
        .collect();
    let mut i = 0;
    g.throughput(Throughput::Elements(100));
    g.bench_function("100_rows_of_200k", |b| {
        b.iter(|| {
            i = (i + 1) % starts.len();
            let range = (
                Bound::Included(int_key(starts[i])),
                Bound::Excluded(int_key(starts[i] + 100)),
            );
            assert_eq!(t.scan(range, ctx.clone()).unwrap().count(), 100)
        })
    });
    let deleted = 1000;
    let ctx_del = TxnCtx::new(TxnId(u64::MAX / 2));
    for k in 0..deleted {
        t.write(&ctx_del, StmtSeq(1), &int_key(k), RowOp::Delete)
            .unwrap();
    }
    ctx_del.set_committing(Version(u64::MAX / 2)).unwrap();
    ctx_del.commit(Version(u64::MAX / 2), LogIndex(u64::MAX / 2));
    g.throughput(Throughput::Elements(deleted as u64));
    g.bench_function("first_row_after_1000_deletes", |b| {
        b.iter(|| {
            let range = (Bound::Included(int_key(0)), Bound::Unbounded);
            let first = t.scan(range, ctx.clone()).unwrap().next();
            assert_eq!(first.unwrap().unwrap().0, int_key(deleted));
        })
    });
    g.finish();
}

fn sstable_point_get(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let warm_cache = Cache::new(1 << 30);
    let t = tablet(dir.path(), sbtest_schema(), warm_cache.clone(), |o| {
        o.row_cache = false
    });
    let mut rng = Rng(11);
    let v = load(
        &t,
        (0..ROWS).map(|i| (int_key(i), sbtest_row(&mut rng, i, ROWS))),
        0,
    );
    settle(&t, v);
    drop(t);
    let keys: Vec<Vec<u8>> = (0..4096)
        .map(|_| int_key(rng.below(ROWS as u64) as i64))
        .collect();
    let ctx = ReadCtx::at(Version(v));
    let mut g = c.benchmark_group("sstable_point_get_1m_rows");
    g.throughput(Throughput::Elements(1));
    for (name, cache, row_cache) in [
        ("block_cache_warm_row_cache_off", warm_cache, false),
        ("row_cache_warm", Cache::new(1 << 30), true),
        ("cold_no_cache", Cache::new(0), false),
    ] {
        let t = tablet(dir.path(), sbtest_schema(), cache, |o| {
            o.row_cache = row_cache
        });
        for k in &keys {
            t.get(k, &ctx).unwrap().unwrap();
        }
        let mut i = 0;
        g.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) % keys.len();
                t.get(&keys[i], &ctx).unwrap().unwrap()
            })
        });
    }
    g.finish();
}

fn scans(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let t = tablet(dir.path(), four_ints_schema(), Cache::new(2 << 30), |_| {});
    let mut rng = Rng(13);
    let v = load(
        &t,
        (0..ROWS).map(|i| (int_key(i), four_ints_row(&mut rng, i))),
        0,
    );
    settle(&t, v);
    let ctx = ReadCtx::at(Version(v));
    let mut g = c.benchmark_group("scan_1m_rows_four_ints");
    g.throughput(Throughput::Elements(ROWS as u64));
    g.sample_size(10);
    g.bench_function("to_rows", |b| {
        b.iter(|| t.scan(full_range(), ctx.clone()).unwrap().count())
    });
    let req = ArrowScanRequest::all(vec![0, 1, 2, 3]);
    g.bench_function("to_arrow_warm", |b| {
        b.iter(|| {
            t.scan_arrow(req.clone(), ctx.clone())
                .unwrap()
                .map(|b| b.unwrap().num_rows())
                .sum::<usize>()
        })
    });
    let cold = tablet(dir.path(), four_ints_schema(), Cache::new(0), |_| {});
    g.bench_function("to_arrow_cold_decode", |b| {
        b.iter(|| {
            cold.scan_arrow(req.clone(), ctx.clone())
                .unwrap()
                .map(|b| b.unwrap().num_rows())
                .sum::<usize>()
        })
    });
    g.finish();
}

fn log_append(c: &mut Criterion) {
    let mut g = c.benchmark_group("log_append_256b_8_writers");
    let per_writer = 2_000u64;
    g.throughput(Throughput::Elements(8 * per_writer));
    g.sample_size(10);
    g.bench_function("group_commit", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().unwrap();
                let store = Arc::new(LogStore::open(Arc::new(RealFs), dir.path()).unwrap());
                let payload: Arc<[u8]> = Arc::from(vec![0xAB; 256]);
                let start = Instant::now();
                let writers: Vec<_> = (0..8u64)
                    .map(|g| {
                        let store = store.clone();
                        let payload = payload.clone();
                        std::thread::spawn(move || {
                            for i in 1..=per_writer {
                                let e = LogEntry {
                                    index: i,
                                    term: 1,
                                    payload: payload.clone(),
                                };
                                store.append_sync(g, &[e]).unwrap();
                            }
                        })
                    })
                    .collect();
                for w in writers {
                    w.join().unwrap();
                }
                total += start.elapsed();
            }
            total
        })
    });
    g.finish();
}

fn blocks(c: &mut Criterion) {
    let mut g = c.benchmark_group("microblock_16k");
    for (name, schema, rows) in [
        ("sbtest", Arc::new(sbtest_schema()), {
            let mut rng = Rng(3);
            (0..90)
                .map(|i| (int_key(i), sbtest_row(&mut rng, i, ROWS)))
                .collect::<Vec<_>>()
        }),
        ("order_line", Arc::new(order_line_schema()), {
            let mut rng = Rng(5);
            (0..300)
                .map(|n| {
                    (
                        order_line_key(1, 1, n / 10, n % 10),
                        order_line_row(&mut rng, 1, 1, n / 10, n % 10, n < 200),
                    )
                })
                .collect()
        }),
    ] {
        let raw: usize = rows.iter().map(|(k, r)| k.len() + r.len()).sum();
        g.throughput(Throughput::Bytes(raw as u64));
        g.bench_function(format!("{name}_encode_lz4"), |b| {
            b.iter_batched(
                || BlockBuilder::new(schema.clone()),
                |mut bb| {
                    for (k, r) in &rows {
                        bb.push(k, Version(1), Some(r)).unwrap();
                    }
                    block::frame_micro(&bb.finish().0, Compression::Lz4)
                },
                BatchSize::SmallInput,
            )
        });
        let mut bb = BlockBuilder::new(schema.clone());
        for (k, r) in &rows {
            bb.push(k, Version(1), Some(r)).unwrap();
        }
        let framed = block::frame_micro(&bb.finish().0, Compression::Lz4);
        g.bench_function(format!("{name}_decode_lz4"), |b| {
            b.iter(|| {
                Block::decode(&block::unframe_micro(&framed).unwrap(), &schema.kinds).unwrap()
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = memtable, sstable_point_get, scans, log_append, blocks
}
criterion_main!(benches);
