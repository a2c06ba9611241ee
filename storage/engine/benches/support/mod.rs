//! Data shapes the engine benchmarks and reports share: sysbench's `sbtest` rows and TPC-C
//! `order_line`-like rows, generated deterministically.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use reef_common::ids::{LogIndex, TabletId, Version};
use reef_common::keycodec::{encode_key, KeyKind};
use reef_common::rowcodec::encode_row;
use reef_common::types::PhysicalKind;
use reef_common::value::{DateTime, Value};
use reef_storage::cache::Cache;
use reef_storage::fs::RealFs;
use reef_storage::mvcc::RowOp;
use reef_storage::schema::RowSchema;
use reef_storage::tablet::{Tablet, TabletOptions};

/// A small xorshift generator: the same data on every run.
#[derive(Debug)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// sysbench's `c`/`pad` shape: groups of 11 digits separated by dashes.
    pub fn digit_groups(&mut self, groups: usize) -> String {
        (0..groups)
            .map(|_| format!("{:011}", self.below(100_000_000_000)))
            .collect::<Vec<_>>()
            .join("-")
    }
    pub fn alpha(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| (b'a' + self.below(26) as u8) as char)
            .collect()
    }
}

pub fn int_key(id: i64) -> Vec<u8> {
    encode_key(&[Value::Int(id)], &[KeyKind::Int]).unwrap()
}

/// `sbtest`: id INT (key), k INT, c CHAR(120), pad CHAR(60).
pub fn sbtest_schema() -> RowSchema {
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

pub fn sbtest_row(rng: &mut Rng, id: i64, rows: i64) -> Vec<u8> {
    let k = rng.below(rows as u64) as i64;
    let c = rng.digit_groups(10);
    let pad = rng.digit_groups(5);
    encode_row(
        1,
        &[
            Value::Int(id),
            Value::Int(k),
            Value::Bytes(c.into_bytes()),
            Value::Bytes(pad.into_bytes()),
        ],
    )
}

/// `order_line`: (w, d, o, number) key, i_id, supply_w, delivery_d, quantity, amount,
/// dist_info CHAR(24).
pub fn order_line_schema() -> RowSchema {
    use PhysicalKind::*;
    RowSchema::new(
        1,
        vec![Int, Int, Int, Int, Int, Int, Int, Int, Bytes, Bytes],
    )
}

pub fn order_line_key(w: i64, d: i64, o: i64, n: i64) -> Vec<u8> {
    let v = [Value::Int(w), Value::Int(d), Value::Int(o), Value::Int(n)];
    encode_key(&v, &[KeyKind::Int; 4]).unwrap()
}

pub fn order_line_row(rng: &mut Rng, w: i64, d: i64, o: i64, n: i64, delivered: bool) -> Vec<u8> {
    let when = DateTime {
        year: 2026,
        month: 11,
        day: 21,
        hour: 10,
        minute: (o % 60) as u8,
        second: (n * 3 % 60) as u8,
        micro: 0,
    };
    let amount = if delivered {
        "0.00".to_string()
    } else {
        format!("{}.{:02}", rng.below(10_000), rng.below(100))
    };
    encode_row(
        1,
        &[
            Value::Int(w),
            Value::Int(d),
            Value::Int(o),
            Value::Int(n),
            Value::Int(1 + rng.below(100_000) as i64),
            Value::Int(w),
            if delivered {
                Value::Int(when.pack())
            } else {
                Value::Null
            },
            Value::Int(5),
            Value::Bytes(amount.into_bytes()),
            Value::Bytes(rng.alpha(24).into_bytes()),
        ],
    )
}

/// Four integer columns: the OLAP scan target's shape.
pub fn four_ints_schema() -> RowSchema {
    RowSchema::new(1, vec![PhysicalKind::Int; 4])
}

pub fn four_ints_row(rng: &mut Rng, id: i64) -> Vec<u8> {
    encode_row(
        1,
        &[
            Value::Int(id),
            Value::Int(rng.below(1000) as i64),
            Value::Int(rng.below(1 << 30) as i64),
            Value::Int(id / 16),
        ],
    )
}

/// Opens a tablet in `dir` with `cache`; `tweak` adjusts options.
pub fn tablet(
    dir: &Path,
    schema: RowSchema,
    cache: Arc<Cache>,
    tweak: impl FnOnce(&mut TabletOptions),
) -> Arc<Tablet> {
    let mut opts = TabletOptions::new(Arc::new(RealFs), cache);
    tweak(&mut opts);
    Tablet::open(TabletId(1), dir, schema, opts).unwrap()
}

/// Loads rows as committed versions (what log replay does), `batch` rows per version.
pub fn load(t: &Tablet, rows: impl Iterator<Item = (Vec<u8>, Vec<u8>)>, first_version: u64) -> u64 {
    let mut v = first_version;
    for (i, (k, r)) in rows.enumerate() {
        if i % 1000 == 0 {
            v += 1;
            t.set_applied(LogIndex(v - 1));
            while t.dump_frozen().unwrap() {}
        }
        t.apply_committed(&k, Version(v), RowOp::Put(Arc::from(r)), LogIndex(v))
            .unwrap();
    }
    t.set_applied(LogIndex(v));
    v
}

/// Freezes, dumps everything and runs a major compaction at `horizon`.
pub fn settle(t: &Tablet, horizon: u64) {
    t.freeze();
    while t.dump_frozen().unwrap() {}
    t.major_compact(Version(horizon)).unwrap();
}
