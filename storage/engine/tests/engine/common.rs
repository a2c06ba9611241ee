//! Helpers shared by the engine's integration tests.

use std::path::Path;
use std::sync::Arc;

use reef_common::ids::{LogIndex, StmtSeq, TabletId, TxnId, Version};
use reef_common::rowcodec::{decode_row, encode_row};
use reef_common::types::PhysicalKind;
use reef_common::value::Value;
use reef_storage::cache::Cache;
use reef_storage::fs::FileSystem;
use reef_storage::mvcc::{ReadCtx, RowOp, TxnCtx};
use reef_storage::schema::RowSchema;
use reef_storage::tablet::{Tablet, TabletOptions};

/// sbtest-like rows: id (key), k, c, pad.
pub fn schema() -> RowSchema {
    RowSchema::new(
        1,
        vec![
            PhysicalKind::Int,
            PhysicalKind::Int,
            PhysicalKind::Bytes,
            PhysicalKind::Bytes,
        ],
    )
}

pub fn key(id: i64) -> Vec<u8> {
    reef_common::keycodec::encode_key(&[Value::Int(id)], &[reef_common::keycodec::KeyKind::Int])
        .unwrap()
}

pub fn row(id: i64, k: i64, c: &str) -> Arc<[u8]> {
    Arc::from(encode_row(
        1,
        &[
            Value::Int(id),
            Value::Int(k),
            Value::Bytes(c.as_bytes().to_vec()),
            Value::Bytes(b"pad".to_vec()),
        ],
    ))
}

pub fn k_of(row: &[u8]) -> i64 {
    match &decode_row(row, &schema().kinds, &schema().defaults).unwrap()[1] {
        Value::Int(k) => *k,
        v => panic!("k is {v:?}"),
    }
}

pub fn open(fs: Arc<dyn FileSystem>, dir: &Path, cache: Arc<Cache>) -> Arc<Tablet> {
    open_with(fs, dir, cache, |_| {})
}

pub fn open_with(
    fs: Arc<dyn FileSystem>,
    dir: &Path,
    cache: Arc<Cache>,
    tweak: impl FnOnce(&mut TabletOptions),
) -> Arc<Tablet> {
    let mut opts = TabletOptions::new(fs, cache);
    tweak(&mut opts);
    Tablet::open(TabletId(1), dir, schema(), opts).unwrap()
}

/// Commits `writes` in one transaction at `version` / `log_index`.
pub fn commit(t: &Tablet, txn: u64, version: u64, log_index: u64, writes: &[(i64, Option<i64>)]) {
    let ctx = TxnCtx::new(TxnId(txn));
    for (id, k) in writes {
        let op = match k {
            Some(k) => RowOp::Put(row(*id, *k, "c")),
            None => RowOp::Delete,
        };
        t.write(&ctx, StmtSeq(1), &key(*id), op).unwrap();
    }
    ctx.set_committing(Version(version)).unwrap();
    ctx.commit(Version(version), LogIndex(log_index));
    t.set_applied(LogIndex(log_index));
}

pub fn get_k(t: &Tablet, id: i64, snapshot: u64) -> Option<i64> {
    t.get(&key(id), &ReadCtx::at(Version(snapshot)))
        .unwrap()
        .map(|r| k_of(&r))
}

/// A transaction's writes: (id, Some(k) = put / None = delete).
pub type Writes = Vec<(i64, Option<i64>)>;

/// A committed transaction as the log holds it: (version = log index, writes).
pub type LogRecord = (u64, Writes);

/// Replays the log records above the tablet's checkpoint, as recovery does.
pub fn replay(t: &Tablet, log: &[LogRecord]) {
    let cp = t.checkpoint().0;
    for (v, writes) in log.iter().filter(|(v, _)| *v > cp) {
        for (id, k) in writes {
            let op = k.map_or(RowOp::Delete, |k| RowOp::Put(row(*id, k, "c")));
            t.apply_committed(&key(*id), Version(*v), op, LogIndex(*v))
                .unwrap();
        }
        t.set_applied(LogIndex(*v));
    }
}

/// Commits key `id` with k = `id` for each id in `ids`, each in its own transaction at
/// version and log index `id + 1`.
pub fn commit_each(t: &Tablet, ids: std::ops::Range<i64>) {
    for i in ids {
        let v = i as u64 + 1;
        commit(t, v, v, v, &[(i, Some(i))]);
    }
}
