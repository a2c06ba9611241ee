//! ReefDB's macroblock format against Apache Parquet for the same rows: file size, point-read
//! cost and scan speed. Run with
//! `cargo bench -p reef-storage --features parquet-compare --bench formats`; the decision it
//! informs is docs/design/0001-sstable-format.md.

mod support;

use std::fs::File;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::{Array, ArrayRef, BinaryArray, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection,
    RowSelector,
};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression as PqCompression;
use parquet::file::page_index::column_index::ColumnIndexMetaData;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use reef_common::ids::Version;
use reef_common::rowcodec::decode_row;
use reef_common::value::Value;
use reef_storage::cache::Cache;
use reef_storage::mvcc::ReadCtx;
use reef_storage::scan::ArrowScanRequest;
use reef_storage::schema::RowSchema;
use support::*;

const ROWS: i64 = 1_000_000;
const LOOKUPS: usize = 20_000;

fn to_batch(schema: &RowSchema, rows: &[(Vec<u8>, Vec<u8>)]) -> RecordBatch {
    let decoded: Vec<Vec<Value>> = rows
        .iter()
        .map(|(_, r)| decode_row(r, &schema.kinds, &schema.defaults).unwrap())
        .collect();
    let mut fields = Vec::new();
    let mut cols: Vec<ArrayRef> = Vec::new();
    for (slot, kind) in schema.kinds.iter().enumerate() {
        match kind {
            reef_common::types::PhysicalKind::Int => {
                fields.push(Field::new(format!("c{slot}"), DataType::Int64, false));
                cols.push(Arc::new(Int64Array::from_iter_values(decoded.iter().map(
                    |r| match r[slot] {
                        Value::Int(i) => i,
                        _ => unreachable!(),
                    },
                ))));
            }
            _ => {
                fields.push(Field::new(format!("c{slot}"), DataType::Binary, false));
                cols.push(Arc::new(BinaryArray::from_iter_values(decoded.iter().map(
                    |r| match &r[slot] {
                        Value::Bytes(b) => b.clone(),
                        _ => unreachable!(),
                    },
                ))));
            }
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap()
}

/// Writes `batch` as Parquet with row groups of about `rows_per_group` rows, pages of about
/// 16 KiB, page-level statistics, a bloom filter on the key column and LZ4.
fn write_parquet(path: &std::path::Path, batch: &RecordBatch, rows_per_group: usize) {
    let props = WriterProperties::builder()
        .set_compression(PqCompression::LZ4_RAW)
        .set_max_row_group_row_count(Some(rows_per_group))
        .set_data_page_size_limit(16 << 10)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_column_bloom_filter_enabled(ColumnPath::from("c0"), true)
        .build();
    let mut w =
        ArrowWriter::try_new(File::create(path).unwrap(), batch.schema(), Some(props)).unwrap();
    for start in (0..batch.num_rows()).step_by(65_536) {
        w.write(&batch.slice(start, 65_536.min(batch.num_rows() - start)))
            .unwrap();
    }
    w.close().unwrap();
}

/// A point read in Parquet done as a Parquet-based engine would: row group by statistics,
/// page by the column index, then only that page's rows through a row selection.
fn parquet_get(file: &File, meta: &ArrowReaderMetadata, key: i64) -> Option<Vec<u8>> {
    let md = meta.metadata();
    let rg = (0..md.num_row_groups()).find(|&i| {
        let ColumnIndexMetaData::INT64(ci) = &md.column_index().unwrap()[i][0] else {
            unreachable!()
        };
        ci.min_values()[0] <= key && key <= *ci.max_values().last().unwrap()
    })?;
    let ColumnIndexMetaData::INT64(ci) = &md.column_index().unwrap()[rg][0] else {
        unreachable!()
    };
    let page = ci.max_values().partition_point(|&m| m < key);
    let locs = md.offset_index().unwrap()[rg][0].page_locations();
    let first = locs[page].first_row_index as usize;
    let end = locs
        .get(page + 1)
        .map_or(md.row_group(rg).num_rows() as usize, |l| {
            l.first_row_index as usize
        });
    let selection = RowSelection::from(vec![
        RowSelector::skip(first),
        RowSelector::select(end - first),
    ]);
    let reader =
        ParquetRecordBatchReaderBuilder::new_with_metadata(file.try_clone().unwrap(), meta.clone())
            .with_row_groups(vec![rg])
            .with_row_selection(selection)
            .with_batch_size(end - first)
            .build()
            .unwrap();
    for batch in reader {
        let batch = batch.unwrap();
        let ids = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        let i = ids.values().partition_point(|&v| v < key);
        if i < ids.len() && ids.value(i) == key {
            let c = batch
                .column(2)
                .as_any()
                .downcast_ref::<BinaryArray>()
                .unwrap();
            return Some(c.value(i).to_vec());
        }
    }
    None
}

fn point_reads(rows: &[(Vec<u8>, Vec<u8>)]) {
    let dir = tempfile::tempdir().unwrap();
    let t = tablet(dir.path(), sbtest_schema(), Cache::new(1 << 30), |o| {
        o.row_cache = false
    });
    let v = load(&t, rows.iter().cloned(), 0);
    settle(&t, v);
    let ours_bytes = t.stats().sstable_bytes;
    let macroblocks = t.stats().macroblocks;
    drop(t);
    let pq = dir.path().join("sbtest.parquet");
    write_parquet(
        &pq,
        &to_batch(&sbtest_schema(), rows),
        rows.len() / macroblocks,
    );
    let pq_bytes = std::fs::metadata(&pq).unwrap().len();
    println!(
        "sbtest {} rows: ReefDB {:.1} MiB in {macroblocks} macroblocks; Parquet {:.1} MiB in {macroblocks} row groups",
        rows.len(),
        ours_bytes as f64 / 1048576.0,
        pq_bytes as f64 / 1048576.0
    );
    let mut rng = Rng(99);
    let keys: Vec<i64> = (0..LOOKUPS)
        .map(|_| rng.below(ROWS as u64) as i64)
        .collect();
    let ctx = ReadCtx::at(Version(v));
    for (name, cache) in [
        ("no block cache", Cache::new(0)),
        ("block cache warm", Cache::new(1 << 30)),
    ] {
        let t = tablet(dir.path(), sbtest_schema(), cache, |o| o.row_cache = false);
        for &k in keys
            .iter()
            .take(if name.contains("warm") { LOOKUPS } else { 0 })
        {
            t.get(&int_key(k), &ctx).unwrap().unwrap();
        }
        let start = Instant::now();
        for &k in &keys {
            t.get(&int_key(k), &ctx).unwrap().unwrap();
        }
        println!(
            "point read ReefDB ({name}): {:.2} us",
            start.elapsed().as_secs_f64() * 1e6 / LOOKUPS as f64
        );
    }
    let file = File::open(&pq).unwrap();
    let meta = ArrowReaderMetadata::load(
        &file,
        ArrowReaderOptions::new()
            .with_page_index_policy(parquet::file::metadata::PageIndexPolicy::Required),
    )
    .unwrap();
    let start = Instant::now();
    for &k in &keys {
        parquet_get(&file, &meta, k).unwrap();
    }
    println!(
        "point read Parquet (metadata and page index in memory): {:.2} us",
        start.elapsed().as_secs_f64() * 1e6 / LOOKUPS as f64
    );
}

fn scans() {
    let mut rng = Rng(17);
    let rows: Vec<(Vec<u8>, Vec<u8>)> = (0..ROWS)
        .map(|i| (int_key(i), four_ints_row(&mut rng, i)))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let t = tablet(dir.path(), four_ints_schema(), Cache::new(0), |_| {});
    let v = load(&t, rows.iter().cloned(), 0);
    settle(&t, v);
    let (ours_bytes, macroblocks) = (t.stats().sstable_bytes, t.stats().macroblocks);
    let pq = dir.path().join("ints.parquet");
    write_parquet(
        &pq,
        &to_batch(&four_ints_schema(), &rows),
        rows.len() / macroblocks,
    );
    println!(
        "four ints {} rows: ReefDB {:.1} MiB, Parquet {:.1} MiB",
        rows.len(),
        ours_bytes as f64 / 1048576.0,
        std::fs::metadata(&pq).unwrap().len() as f64 / 1048576.0
    );
    let req = ArrowScanRequest::all(vec![0, 1, 2, 3]);
    for round in 0..3 {
        let start = Instant::now();
        let n: usize = t
            .scan_arrow(req.clone(), ReadCtx::at(Version(v)))
            .unwrap()
            .map(|b| b.unwrap().num_rows())
            .sum();
        let ours = n as f64 / start.elapsed().as_secs_f64() / 1e6;
        let start = Instant::now();
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&pq).unwrap())
            .unwrap()
            .with_batch_size(8192)
            .build()
            .unwrap();
        let m: usize = reader.map(|b| b.unwrap().num_rows()).sum();
        let theirs = m as f64 / start.elapsed().as_secs_f64() / 1e6;
        assert_eq!(n, m);
        println!("scan to Arrow, decoding every block (round {round}): ReefDB {ours:.1} M rows/s, Parquet {theirs:.1} M rows/s");
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let mut rng = Rng(42);
    let rows: Vec<(Vec<u8>, Vec<u8>)> = (0..ROWS)
        .map(|i| (int_key(i), sbtest_row(&mut rng, i, ROWS)))
        .collect();
    point_reads(&rows);
    scans();
}
