//! A node in miniature: tablets, a log store, a local log stream, a transaction manager.

use std::path::Path;
use std::sync::Arc;

use reef_common::ids::{TabletId, Version};
use reef_common::keycodec::{encode_key, KeyKind};
use reef_common::rowcodec::{decode_row, encode_row};
use reef_common::types::PhysicalKind;
use reef_common::value::Value;
use reef_storage::cache::Cache;
use reef_storage::fs::FileSystem;
use reef_storage::logstore::LogStore;
use reef_storage::schema::RowSchema;
use reef_storage::tablet::{Tablet, TabletOptions};
use reef_txn::log::LocalLog;
use reef_txn::ts::{LocalTimestamps, TimestampSource};
use reef_txn::txn::TxnManager;

/// Two-column rows: (id INT, value INT).
pub fn schema() -> RowSchema {
    RowSchema::new(1, vec![PhysicalKind::Int, PhysicalKind::Int])
}

pub fn key(id: i64) -> Vec<u8> {
    encode_key(&[Value::Int(id)], &[KeyKind::Int]).unwrap()
}

pub fn row(id: i64, v: i64) -> Arc<[u8]> {
    Arc::from(encode_row(1, &[Value::Int(id), Value::Int(v)]))
}

pub fn val(row: &[u8]) -> i64 {
    match decode_row(row, &schema().kinds, &schema().defaults).unwrap()[1] {
        Value::Int(v) => v,
        ref v => panic!("{v:?}"),
    }
}

pub struct Node {
    pub tablets: Vec<Arc<Tablet>>,
    pub log: Arc<LocalLog>,
    pub mgr: Arc<TxnManager>,
}

impl Node {
    /// Opens `tablets` tablets and the log under `dir`, replaying what the log holds.
    pub fn open(fs: Arc<dyn FileSystem>, dir: &Path, tablets: u64) -> Node {
        let cache = Cache::new(16 << 20);
        let tablets: Vec<Arc<Tablet>> = (1..=tablets)
            .map(|i| {
                let opts = TabletOptions::new(fs.clone(), cache.clone());
                Tablet::open(
                    TabletId(i),
                    &dir.join(format!("tablet-{i}")),
                    schema(),
                    opts,
                )
                .unwrap()
            })
            .collect();
        let store = Arc::new(LogStore::open(fs, &dir.join("log")).unwrap());
        let ts = Arc::new(LocalTimestamps::new(Version::ZERO));
        let log = Arc::new(LocalLog::open(store.clone(), 1, tablets.clone(), ts.as_ref()).unwrap());
        let mgr = TxnManager::new(ts as Arc<dyn TimestampSource>, log.clone());
        Node { tablets, log, mgr }
    }

    pub fn t(&self, i: usize) -> &Arc<Tablet> {
        &self.tablets[i]
    }
}

/// The id column of a row.
pub fn id_of(row: &[u8]) -> i64 {
    match decode_row(row, &schema().kinds, &schema().defaults).unwrap()[0] {
        Value::Int(v) => v,
        ref v => panic!("{v:?}"),
    }
}
