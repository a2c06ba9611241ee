//! Merging a tablet's sources (MemTables and SSTables, newest first) in key order.
//!
//! - [`VisibleMerge`] yields, per key, the version visible at a snapshot (the newest source
//!   that has a visible version decides): range scans on the OLTP path.
//! - [`VersionMerge`] yields, per key, every committed version across sources, newest first,
//!   one per commit version: compactions.
//! - [`ArrowScan`] yields Arrow `RecordBatch`es for the OLAP path. Microblocks that no other
//!   SSTable overlaps, that hold one version per key, no deletes and nothing newer than the
//!   snapshot are emitted from their cached column arrays (with min/max pruning per
//!   microblock); where MemTables hold keys of such a microblock's range, the rows they
//!   changed are filtered out of its arrays and the MemTables' visible rows emitted beside
//!   them. Everything else goes through the visible merge.

use std::collections::{HashSet, VecDeque};
use std::ops::Bound;
use std::sync::Arc;

use arrow_array::builder::{BinaryBuilder, Float64Builder, Int64Builder, UInt64Builder};
use arrow_array::cast::AsArray;
use arrow_array::{new_null_array, Array, ArrayRef, BinaryArray, BooleanArray, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use reef_common::ids::Version;
use reef_common::rowcodec::decode_row_wanted;
use reef_common::types::PhysicalKind;
use reef_common::value::Value;

use crate::cache::{CacheKey, CacheValue};
use crate::error::{Result, StorageError};
use crate::memtable::{MemTable, MvccRow, RowBatch, Visible};
use crate::mvcc::ReadCtx;
use crate::schema::RowSchema;
use crate::sstable::block::{keys_lower_bound, keys_slot, value_at, Block, ColumnStats};
use crate::sstable::macroblock::OpenMacroblock;
use crate::sstable::table::{ReadEnv, SSTable, VersionRow};

/// Rows a MemTable cursor reads at a time: the first read takes few, as a LIMIT or a short
/// range needs, and each next one four times more, up to the most.
const MEM_BATCH_ROWS_FIRST: usize = 16;
const MEM_BATCH_ROWS_MAX: usize = 256;

/// A key range: (start, end) bounds over encoded keys.
pub type KeyRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

pub(crate) fn bound_ref(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(k) => Bound::Included(k.as_slice()),
        Bound::Excluded(k) => Bound::Excluded(k.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// Whether `key` lies in `range`.
pub fn range_contains(range: &KeyRange, key: &[u8]) -> bool {
    let after_start = match &range.0 {
        Bound::Unbounded => true,
        Bound::Included(s) => key >= s.as_slice(),
        Bound::Excluded(s) => key > s.as_slice(),
    };
    after_start && before_end(key, &range.1)
}

/// The keys both ranges hold, or `None` when they share none.
pub fn intersect(a: &KeyRange, b: &KeyRange) -> Option<KeyRange> {
    use std::cmp::Ordering::{Greater, Less};
    let start = tighter(&a.0, &b.0, Greater);
    let end = tighter(&a.1, &b.1, Less);
    let empty = match (&start, &end) {
        (Bound::Included(s), Bound::Included(e)) => s > e,
        (Bound::Included(s) | Bound::Excluded(s), Bound::Included(e) | Bound::Excluded(e)) => {
            s >= e
        }
        _ => false,
    };
    (!empty).then_some((start, end))
}

/// Of two starts (`inner` Greater) or two ends (`inner` Less), the one that lets fewer keys
/// in: the key further `inner`, and on the same key the excluding one.
fn tighter(x: &Bound<Vec<u8>>, y: &Bound<Vec<u8>>, inner: std::cmp::Ordering) -> Bound<Vec<u8>> {
    match (x, y) {
        (Bound::Unbounded, b) | (b, Bound::Unbounded) => b.clone(),
        _ => match bound_key(x).cmp(bound_key(y)) {
            o if o == inner => x.clone(),
            std::cmp::Ordering::Equal if matches!(x, Bound::Excluded(_)) => x.clone(),
            _ => y.clone(),
        },
    }
}

/// The key of a bounded end (empty for an unbounded one, which sorts first as a start).
pub fn bound_key(b: &Bound<Vec<u8>>) -> &[u8] {
    match b {
        Bound::Included(k) | Bound::Excluded(k) => k,
        Bound::Unbounded => &[],
    }
}

pub(crate) fn before_end(key: &[u8], end: &Bound<Vec<u8>>) -> bool {
    crate::memtable::before_end(key, bound_ref(end))
}

struct MemCursor {
    mem: Arc<MemTable>,
    /// The rows read, and the one the cursor is on.
    batch: RowBatch,
    at: usize,
    /// How many rows the next read takes.
    next_read: usize,
    after: Bound<Vec<u8>>,
    end: Bound<Vec<u8>>,
    exhausted: bool,
    /// Closed key ranges, ascending and disjoint, whose keys the cursor steps over (an
    /// Arrow scan answers for them microblock by microblock), and the first not yet passed.
    holes: Arc<[(Vec<u8>, Vec<u8>)]>,
    hole: usize,
}

impl MemCursor {
    fn new(mem: Arc<MemTable>, range: &KeyRange) -> MemCursor {
        MemCursor {
            mem,
            batch: RowBatch::default(),
            at: 0,
            next_read: MEM_BATCH_ROWS_FIRST,
            after: range.0.clone(),
            end: range.1.clone(),
            exhausted: false,
            holes: Arc::from([]),
            hole: 0,
        }
    }

    /// Positions on a row outside the holes, or past the end.
    fn settle(&mut self) {
        loop {
            self.fill();
            if self.at >= self.batch.len() {
                return;
            }
            let key = self.batch.key(self.at);
            while self
                .holes
                .get(self.hole)
                .is_some_and(|(_, hi)| hi.as_slice() < key)
            {
                self.hole += 1;
            }
            let Some((lo, hi)) = self.holes.get(self.hole) else {
                return;
            };
            if key < lo.as_slice() {
                return;
            }
            // Inside a hole: read on from its end.
            self.after = Bound::Excluded(hi.clone());
            self.batch.clear();
            self.at = 0;
            self.exhausted = false;
            self.hole += 1;
        }
    }

    /// Reads the next rows once those read are used up.
    fn fill(&mut self) {
        if self.at < self.batch.len() || self.exhausted {
            return;
        }
        if self.batch.len() > 0 {
            // Resume after the last key read, reusing the bound's buffer.
            let mut after = match std::mem::replace(&mut self.after, Bound::Unbounded) {
                Bound::Included(k) | Bound::Excluded(k) => k,
                Bound::Unbounded => Vec::new(),
            };
            after.clear();
            after.extend_from_slice(self.batch.key(self.batch.len() - 1));
            self.after = Bound::Excluded(after);
        }
        let limit = self.next_read;
        self.mem.read_after(
            bound_ref(&self.after),
            bound_ref(&self.end),
            limit,
            &mut self.batch,
        );
        self.at = 0;
        self.exhausted = self.batch.len() < limit;
        self.next_read = (limit * 4).min(MEM_BATCH_ROWS_MAX);
    }

    fn current(&self) -> Option<(&[u8], &Arc<MvccRow>)> {
        (self.at < self.batch.len()).then(|| (self.batch.key(self.at), self.batch.row(self.at)))
    }
}

struct SstCursor {
    table: Arc<SSTable>,
    env: ReadEnv,
    /// Microblocks (macroblock, microblock) to leave out.
    skip: HashSet<(usize, usize)>,
    mb: usize,
    micro: usize,
    row: usize,
    block: Option<Arc<Block>>,
    end: Bound<Vec<u8>>,
    done: bool,
}

impl SstCursor {
    fn new(
        table: Arc<SSTable>,
        env: ReadEnv,
        range: &KeyRange,
        skip: HashSet<(usize, usize)>,
    ) -> Result<SstCursor> {
        let start: Option<(&[u8], bool)> = match &range.0 {
            Bound::Included(k) => Some((k, false)),
            Bound::Excluded(k) => Some((k, true)),
            Bound::Unbounded => None,
        };
        let mb = match start {
            Some((k, _)) => table
                .blocks
                .partition_point(|b| b.meta.last_key.as_slice() < k),
            None => 0,
        };
        let mut c = SstCursor {
            table,
            env,
            skip,
            mb,
            micro: 0,
            row: 0,
            block: None,
            end: range.1.clone(),
            done: false,
        };
        if let (Some(k), Some(open)) = (point_of(range), c.table.blocks.get(c.mb)) {
            if !open.may_contain(crate::sstable::table::lookup_hash(k)) {
                c.done = true;
                return Ok(c);
            }
        }
        if let (Some((k, excl)), Some(open)) = (start, c.table.blocks.get(c.mb)) {
            c.micro = open.micros.partition_point(|m| m.last_key.as_slice() < k);
            if !c.skip.contains(&(c.mb, c.micro)) && c.micro < open.micros.len() {
                let block = c.env.block(open, c.micro)?;
                c.row = block.lower_bound(k);
                if excl {
                    while c.row < block.rows() && block.keys.value(c.row) == k {
                        c.row += 1;
                    }
                }
                c.block = Some(block);
            }
        }
        Ok(c)
    }

    /// Positions on a row (loading blocks as needed) or marks the cursor done.
    fn settle(&mut self) -> Result<()> {
        while !self.done {
            if let Some(b) = &self.block {
                if self.row < b.rows() {
                    if !before_end(b.keys.value(self.row), &self.end) {
                        self.done = true;
                    }
                    return Ok(());
                }
                self.block = None;
                self.micro += 1;
                self.row = 0;
            }
            let Some(open) = self.table.blocks.get(self.mb) else {
                self.done = true;
                return Ok(());
            };
            if self.micro >= open.micros.len() {
                self.mb += 1;
                self.micro = 0;
                continue;
            }
            if self.skip.contains(&(self.mb, self.micro)) {
                self.micro += 1;
                continue;
            }
            self.block = Some(self.env.block(open, self.micro)?);
        }
        Ok(())
    }

    fn key(&self) -> Option<&[u8]> {
        if self.done {
            return None;
        }
        self.block.as_ref().map(|b| b.keys.value(self.row))
    }

    fn key_rows(&self) -> std::ops::Range<usize> {
        let b = self.block.as_ref().expect("settled on a row");
        let k = b.keys.value(self.row);
        let mut end = self.row + 1;
        while end < b.rows() && b.keys.value(end) == k {
            end += 1;
        }
        self.row..end
    }

    fn schema_version(&self) -> u32 {
        self.table.blocks[self.mb].schema_version
    }
}

enum Cursor {
    Mem(MemCursor),
    Sst(SstCursor),
}

impl Cursor {
    fn settle(&mut self) -> Result<()> {
        match self {
            Cursor::Mem(m) => {
                m.settle();
                Ok(())
            }
            Cursor::Sst(s) => s.settle(),
        }
    }

    fn key(&self) -> Option<&[u8]> {
        match self {
            Cursor::Mem(m) => m.current().map(|(k, _)| k),
            Cursor::Sst(s) => s.key(),
        }
    }

    fn resolve(&self, ctx: &ReadCtx) -> Result<Visible> {
        match self {
            Cursor::Mem(m) => m.current().expect("settled").1.read(ctx),
            Cursor::Sst(s) => {
                let b = s.block.as_ref().expect("settled");
                for r in s.key_rows() {
                    if Version(b.versions[r]) <= ctx.snapshot {
                        return Ok(match b.row(r, s.schema_version()) {
                            Some(v) => Visible::Row(v),
                            None => Visible::Deleted,
                        });
                    }
                }
                Ok(Visible::Absent)
            }
        }
    }

    fn versions(&self, out: &mut Vec<VersionRow>) {
        match self {
            Cursor::Mem(m) => out.extend(m.current().expect("settled").1.committed_versions()),
            Cursor::Sst(s) => {
                let b = s.block.as_ref().expect("settled");
                out.extend(
                    s.key_rows()
                        .map(|r| (Version(b.versions[r]), b.row(r, s.schema_version()))),
                );
            }
        }
    }

    fn advance(&mut self) {
        match self {
            Cursor::Mem(m) => m.at += 1,
            Cursor::Sst(s) => s.row = s.key_rows().end,
        }
    }
}

/// The sources of a merge, newest first.
pub(crate) struct Sources {
    cursors: Vec<Cursor>,
}

impl Sources {
    /// Cursors over `mems` (newest first) then `tables` (newest first) within `range`;
    /// `skip[i]` lists (macroblock, microblock) pairs of `tables[i]` to leave out.
    pub(crate) fn new(
        mems: &[Arc<MemTable>],
        tables: &[Arc<SSTable>],
        env: &ReadEnv,
        range: &KeyRange,
        mut skip: Vec<HashSet<(usize, usize)>>,
    ) -> Result<Sources> {
        let mut cursors = Vec::with_capacity(mems.len() + tables.len());
        for m in mems {
            cursors.push(Cursor::Mem(MemCursor::new(m.clone(), range)));
        }
        skip.resize(tables.len(), HashSet::new());
        for (t, s) in tables.iter().zip(skip) {
            cursors.push(Cursor::Sst(SstCursor::new(
                t.clone(),
                env.clone(),
                range,
                s,
            )?));
        }
        Ok(Sources { cursors })
    }

    /// Settles every cursor and returns the one on the smallest key (the newest source
    /// among equals), or `None` when all are done.
    fn min_cursor(&mut self) -> Result<Option<usize>> {
        let mut min: Option<(usize, &[u8])> = None;
        for c in &mut self.cursors {
            c.settle()?;
        }
        for (i, c) in self.cursors.iter().enumerate() {
            if let Some(k) = c.key() {
                if min.is_none_or(|(_, m)| k < m) {
                    min = Some((i, k));
                }
            }
        }
        Ok(min.map(|(i, _)| i))
    }

    /// Leaves the keys of `holes` (closed ranges, ascending and disjoint) out of the
    /// MemTable cursors.
    fn without_mem_ranges(mut self, holes: Arc<[(Vec<u8>, Vec<u8>)]>) -> Sources {
        for c in &mut self.cursors {
            if let Cursor::Mem(m) = c {
                m.holes = holes.clone();
            }
        }
        self
    }

    fn min_key(&mut self) -> Result<Option<Vec<u8>>> {
        Ok(self
            .min_cursor()?
            .map(|i| self.cursors[i].key().expect("settled").to_vec()))
    }
}

/// Rows visible at a snapshot, in key order.
pub struct VisibleMerge {
    sources: Sources,
    ctx: ReadCtx,
    /// The key being merged, in a buffer kept across keys: a key with no visible row (a
    /// delete) costs no allocation.
    key: Vec<u8>,
}

impl std::fmt::Debug for VisibleMerge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VisibleMerge({} sources)", self.sources.cursors.len())
    }
}

impl VisibleMerge {
    pub(crate) fn new(sources: Sources, ctx: ReadCtx) -> VisibleMerge {
        VisibleMerge {
            sources,
            ctx,
            key: Vec::new(),
        }
    }

    /// The next key any source holds, and what the snapshot sees of it across sources: a
    /// row, a delete, or nothing (only versions it does not see).
    fn next_key(&mut self) -> Result<Option<(&[u8], Visible)>> {
        let Some(min) = self.sources.min_cursor()? else {
            return Ok(None);
        };
        self.key.clear();
        self.key
            .extend_from_slice(self.sources.cursors[min].key().expect("settled"));
        let mut found = Visible::Absent;
        for c in &mut self.sources.cursors {
            if c.key() == Some(self.key.as_slice()) {
                if found == Visible::Absent {
                    found = c.resolve(&self.ctx)?;
                }
                c.advance();
            }
        }
        Ok(Some((&self.key, found)))
    }
}

impl Iterator for VisibleMerge {
    type Item = Result<(Vec<u8>, Arc<[u8]>)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.next_key() {
                Ok(Some((key, Visible::Row(v)))) => return Some(Ok((key.to_vec(), v))),
                Ok(Some(_)) => {}
                Ok(None) => return None,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// Every committed version per key across sources, newest first, in key order.
pub(crate) struct VersionMerge {
    sources: Sources,
}

impl VersionMerge {
    pub(crate) fn new(sources: Sources) -> VersionMerge {
        VersionMerge { sources }
    }

    /// The next key at or below `upto` (all keys if `None`) with its versions.
    pub(crate) fn next_upto(
        &mut self,
        upto: Option<&[u8]>,
    ) -> Result<Option<(Vec<u8>, Vec<VersionRow>)>> {
        let Some(key) = self.sources.min_key()? else {
            return Ok(None);
        };
        if upto.is_some_and(|u| key.as_slice() > u) {
            return Ok(None);
        }
        let mut versions = Vec::new();
        for c in &mut self.sources.cursors {
            if c.key() == Some(key.as_slice()) {
                c.versions(&mut versions);
                c.advance();
            }
        }
        // Stable sort: for equal versions (a replayed log entry) the newest source comes first.
        versions.sort_by_key(|v| std::cmp::Reverse(v.0));
        versions.dedup_by(|b, a| a.0 == b.0);
        Ok(Some((key, versions)))
    }

    /// The next key, without consuming it.
    pub(crate) fn peek_key(&mut self) -> Result<Option<Vec<u8>>> {
        self.sources.min_key()
    }
}

/// An inclusive value range on one column, used to skip microblocks whose min/max exclude
/// it. Pruning is inexact: rows outside the range may still be returned.
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnRange {
    /// The column slot.
    pub slot: usize,
    /// Lower bound, if any.
    pub min: Option<Value>,
    /// Upper bound, if any.
    pub max: Option<Value>,
}

fn cmp_values(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::UInt(x), Value::UInt(y)) => Some(x.cmp(y)),
        (Value::Double(x), Value::Double(y)) => x.partial_cmp(y),
        _ => None,
    }
}

/// Whether a microblock with these stats may hold rows in every range.
fn may_match(stats: &[ColumnStats], rows: u32, ranges: &[ColumnRange]) -> bool {
    use std::cmp::Ordering::{Greater, Less};
    ranges.iter().all(|r| {
        let Some(s) = stats.get(r.slot) else {
            return true;
        };
        let below =
            matches!((&r.min, &s.max), (Some(lo), Some(hi)) if cmp_values(lo, hi) == Some(Greater));
        let above =
            matches!((&r.max, &s.min), (Some(hi), Some(lo)) if cmp_values(hi, lo) == Some(Less));
        // A range never matches NULL, so an all-NULL column matches nothing.
        let all_null = rows > 0 && s.nulls == rows && (r.min.is_some() || r.max.is_some());
        !(below || above || all_null)
    })
}

/// Counters of one Arrow scan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Microblocks emitted by slicing their arrays.
    pub blocks_sliced: u64,
    /// Microblocks skipped by min/max.
    pub blocks_pruned: u64,
    /// Rows that went through the visible merge.
    pub rows_merged: u64,
    /// Microblocks emitted from their columns with MemTable versions laid over them.
    pub blocks_patched: u64,
    /// MemTable rows emitted beside patched microblocks.
    pub rows_patched: u64,
    /// Columns of microblocks served by the column cache.
    pub columns_cached: u64,
    /// Columns of microblocks decoded from disk (then cached, if there is a column cache).
    pub columns_decoded: u64,
}

/// What an Arrow scan returns and how.
#[derive(Clone, Debug)]
pub struct ArrowScanRequest {
    /// Primary-key range to scan (pushed down from key predicates); a single key also
    /// consults the bloom filters.
    pub keys: KeyRange,
    /// Column slots to return, in order.
    pub projection: Vec<usize>,
    /// Ranges used for pruning.
    pub ranges: Vec<ColumnRange>,
    /// Rows per batch on the merge path.
    pub batch_rows: usize,
}

impl ArrowScanRequest {
    /// All rows, the given columns, no pruning.
    pub fn all(projection: Vec<usize>) -> ArrowScanRequest {
        ArrowScanRequest {
            keys: (Bound::Unbounded, Bound::Unbounded),
            projection,
            ranges: Vec::new(),
            batch_rows: 8192,
        }
    }
}

/// Whether `[lo, hi]` lies inside `range`.
fn within(range: &KeyRange, lo: &[u8], hi: &[u8]) -> bool {
    let start_ok = match &range.0 {
        Bound::Unbounded => true,
        Bound::Included(s) => lo >= s.as_slice(),
        Bound::Excluded(s) => lo > s.as_slice(),
    };
    start_ok && before_end(hi, &range.1)
}

/// The single key a range names, if it names one.
pub fn point_of(range: &KeyRange) -> Option<&[u8]> {
    match range {
        (Bound::Included(a), Bound::Included(b)) if a == b => Some(a),
        _ => None,
    }
}

/// The Arrow type a physical kind is returned as.
pub fn arrow_type(kind: PhysicalKind) -> DataType {
    match kind {
        PhysicalKind::Int => DataType::Int64,
        PhysicalKind::UInt => DataType::UInt64,
        PhysicalKind::Double => DataType::Float64,
        PhysicalKind::Bytes => DataType::Binary,
    }
}

/// The Arrow schema of a scan: one nullable field `c<slot>` per projected slot.
pub fn arrow_schema(schema: &RowSchema, projection: &[usize]) -> SchemaRef {
    Arc::new(Schema::new(
        projection
            .iter()
            .map(|&s| Field::new(format!("c{s}"), arrow_type(schema.kinds[s]), true))
            .collect::<Vec<_>>(),
    ))
}

fn const_array(kind: PhysicalKind, v: &Value, len: usize) -> ArrayRef {
    match (kind, v) {
        (PhysicalKind::Int, Value::Int(i)) => {
            Arc::new(arrow_array::Int64Array::from(vec![*i; len]))
        }
        (PhysicalKind::UInt, Value::UInt(i)) => {
            Arc::new(arrow_array::UInt64Array::from(vec![*i; len]))
        }
        (PhysicalKind::Double, Value::Double(d)) => {
            Arc::new(arrow_array::Float64Array::from(vec![*d; len]))
        }
        (PhysicalKind::Bytes, Value::Bytes(b)) => Arc::new(
            arrow_array::BinaryArray::from_iter_values(std::iter::repeat_n(b.as_slice(), len)),
        ),
        (k, _) => new_null_array(&arrow_type(k), len),
    }
}

/// What an Arrow scan emits from column arrays rather than through the row merge.
enum Slice {
    /// One microblock. `patched`: MemTables hold keys of its range, and their versions are
    /// laid over its rows (see [`ArrowScan::patch`]).
    Micro {
        table: Arc<SSTable>,
        mb: usize,
        micro: usize,
        patched: bool,
    },
    /// Every microblock of a macroblock, none patched, read from one column-cache entry
    /// that holds each column of the whole macroblock as one array (see
    /// [`ArrowScan::macroblock`]).
    Macro { table: Arc<SSTable>, mb: usize },
}

/// The column-cache entry of a whole macroblock uses this microblock index.
const WHOLE_MACROBLOCK: u32 = u32::MAX;

/// A streaming Arrow scan of one tablet at a snapshot.
pub struct ArrowScan {
    schema: Arc<RowSchema>,
    out_schema: SchemaRef,
    req: ArrowScanRequest,
    env: ReadEnv,
    ctx: ReadCtx,
    mems: Vec<Arc<MemTable>>,
    fast: VecDeque<Slice>,
    /// Batches cut and not yet returned: a macroblock's, or a patched microblock's MemTable
    /// rows after its own.
    pending: VecDeque<RecordBatch>,
    merge: VisibleMerge,
    stats: ScanStats,
}

impl std::fmt::Debug for ArrowScan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ArrowScan({} fast microblocks left)", self.fast.len())
    }
}

impl ArrowScan {
    /// Plans the scan over `mems` and `tables` (both newest first).
    ///
    /// A microblock inside the key range that holds one version per key, no deletes and
    /// nothing newer than the snapshot, and that no other SSTable overlaps, is emitted
    /// from its column arrays. If MemTables hold keys of its range, their visible versions
    /// are laid over it: its rows whose keys the MemTables changed are filtered out and the
    /// MemTable rows emitted beside them, and the merge steps over that range. Everything
    /// else goes through the visible merge.
    pub(crate) fn new(
        schema: Arc<RowSchema>,
        mems: &[Arc<MemTable>],
        tables: &[Arc<SSTable>],
        env: ReadEnv,
        ctx: ReadCtx,
        req: ArrowScanRequest,
    ) -> Result<ArrowScan> {
        if let Some(&bad) = req.projection.iter().find(|&&s| s >= schema.kinds.len()) {
            return Err(StorageError::Invalid(format!(
                "projected slot {bad} does not exist"
            )));
        }
        let mut skip = vec![HashSet::new(); tables.len()];
        let mut fast = VecDeque::new();
        let mut holes = Vec::new();
        // Only the macroblocks and microblocks the key range meets are looked at (found by
        // binary search), so a scan of one key, as a join reads its probe side, costs no
        // walk over the whole table.
        let start = bound_key(&req.keys.0);
        for (t, table) in tables.iter().enumerate() {
            let first_mb = table
                .blocks
                .partition_point(|b| b.meta.last_key.as_slice() < start);
            for (i, mb) in table.blocks.iter().enumerate().skip(first_mb) {
                let m = &mb.meta;
                if !before_end(&m.first_key, &req.keys.1) {
                    break;
                }
                if m.multi_version || m.has_deletes || m.max_version > ctx.snapshot {
                    continue;
                }
                let first_micro = mb.micros.partition_point(|m| m.last_key.as_slice() < start);
                let mut slices = Vec::new();
                for (j, micro) in mb.micros.iter().enumerate().skip(first_micro) {
                    if !before_end(&micro.first_key, &req.keys.1) {
                        break;
                    }
                    let (lo, hi) = (micro.first_key.as_slice(), micro.last_key.as_slice());
                    if !within(&req.keys, lo, hi) {
                        continue;
                    }
                    let overlaps_table = tables
                        .iter()
                        .enumerate()
                        .any(|(o, other)| o != t && table_overlaps(other, lo, hi));
                    if overlaps_table {
                        continue;
                    }
                    let patched = mems
                        .iter()
                        .any(|mem| mem.count_keys(Bound::Included(lo), Bound::Included(hi), 1) > 0);
                    if patched {
                        holes.push((lo.to_vec(), hi.to_vec()));
                    }
                    skip[t].insert((i, j));
                    slices.push(Slice::Micro {
                        table: table.clone(),
                        mb: i,
                        micro: j,
                        patched,
                    });
                }
                // A macroblock sliced whole, with a column cache to keep it in, is read as
                // one array per column: its batches are slices of those, not copies.
                let whole = env.columns.is_some()
                    && slices.len() == mb.micros.len()
                    && slices
                        .iter()
                        .all(|s| matches!(s, Slice::Micro { patched: false, .. }));
                if whole {
                    fast.push_back(Slice::Macro {
                        table: table.clone(),
                        mb: i,
                    });
                } else {
                    fast.extend(slices);
                }
            }
        }
        // Microblocks of one SSTable are disjoint, and those of different SSTables here
        // do not overlap either.
        holes.sort_unstable();
        let sources =
            Sources::new(mems, tables, &env, &req.keys, skip)?.without_mem_ranges(Arc::from(holes));
        let out_schema = arrow_schema(&schema, &req.projection);
        Ok(ArrowScan {
            schema,
            out_schema,
            req,
            env,
            ctx: ctx.clone(),
            mems: mems.to_vec(),
            fast,
            pending: VecDeque::new(),
            merge: VisibleMerge::new(sources, ctx),
            stats: ScanStats::default(),
        })
    }

    /// The schema of the batches.
    pub fn schema(&self) -> SchemaRef {
        self.out_schema.clone()
    }

    /// Counters so far.
    pub fn stats(&self) -> ScanStats {
        self.stats
    }

    /// The next batch cut from column arrays: a microblock's, a macroblock's, or a patched
    /// microblock's (then its MemTable rows).
    fn next_sliced(&mut self) -> Result<Option<RecordBatch>> {
        loop {
            if let Some(batch) = self.pending.pop_front() {
                return Ok(Some(batch));
            }
            let Some(slice) = self.fast.pop_front() else {
                return Ok(None);
            };
            match slice {
                Slice::Macro { table, mb } => self.macroblock(&table, mb)?,
                Slice::Micro {
                    table,
                    mb,
                    micro,
                    patched,
                } => {
                    let meta = &table.blocks[mb].micros[micro];
                    let matches = may_match(&meta.stats, meta.rows, &self.req.ranges);
                    if patched {
                        self.patch(&table, mb, micro, matches)?;
                    } else if matches {
                        let (batch, _) = self.columns(&table, mb, micro, false)?;
                        self.stats.blocks_sliced += 1;
                        self.pending.push_back(batch);
                    } else {
                        self.stats.blocks_pruned += 1;
                    }
                }
            }
        }
    }

    /// Queues the batches of macroblock `mb`: slices of its whole-macroblock arrays over
    /// the runs of microblocks that min/max pruning leaves, each at most `batch_rows` rows.
    fn macroblock(&mut self, table: &SSTable, mb: usize) -> Result<()> {
        let open = &table.blocks[mb];
        let mut runs: Vec<(usize, usize)> = Vec::new();
        let mut rows = 0;
        for m in &open.micros {
            let n = m.rows as usize;
            if may_match(&m.stats, m.rows, &self.req.ranges) {
                self.stats.blocks_sliced += 1;
                match runs.last_mut() {
                    Some((at, len)) if *at + *len == rows => *len += n,
                    _ => runs.push((rows, n)),
                }
            } else {
                self.stats.blocks_pruned += 1;
            }
            rows += n;
        }
        if runs.is_empty() {
            return Ok(());
        }
        let whole = self.macroblock_batch(table, mb, rows)?;
        let step = self.req.batch_rows.max(1);
        for (at, len) in runs {
            let mut from = at;
            while from < at + len {
                let n = step.min(at + len - from);
                self.pending.push_back(whole.slice(from, n));
                from += n;
            }
        }
        Ok(())
    }

    /// The projection over every row of macroblock `mb` (`rows` rows, as its index says),
    /// from its whole-macroblock column-cache entry; columns the entry lacks are decoded
    /// microblock by microblock, joined, and added to it.
    fn macroblock_batch(&mut self, table: &SSTable, mb: usize, rows: usize) -> Result<RecordBatch> {
        let open = &table.blocks[mb];
        let stored = open.kinds.len();
        let wanted = self.stored_projection(stored);
        let micros = open.micros.len();
        let columns =
            self.through_column_cache(open, WHOLE_MACROBLOCK, &wanted, micros as u64, |missing| {
                let mut parts: Vec<Vec<ArrayRef>> = vec![Vec::with_capacity(micros); missing.len()];
                for i in 0..micros {
                    let (_, read) = open.read_micro_slots(i, missing)?;
                    for (part, array) in parts.iter_mut().zip(read) {
                        part.push(array);
                    }
                }
                parts
                    .iter()
                    .map(|part| {
                        let arrays: Vec<&dyn Array> = part.iter().map(|a| a.as_ref()).collect();
                        let joined = arrow_select::concat::concat(&arrays).map_err(|e| {
                            StorageError::Invalid(format!("joining microblocks: {e}"))
                        })?;
                        if joined.len() != rows {
                            return Err(StorageError::Invalid(format!(
                                "macroblock {} has {} rows, its index says {rows}",
                                open.meta.id,
                                joined.len()
                            )));
                        }
                        Ok(joined)
                    })
                    .collect()
            })?;
        self.batch(rows, stored, columns)
    }

    /// Queues patched microblock `micro` of macroblock `mb`: its rows less those the
    /// MemTables replace or delete (unless min/max pruning rules its rows out: `matches`),
    /// then the MemTables' visible rows of its key range.
    fn patch(&mut self, table: &SSTable, mb: usize, micro: usize, matches: bool) -> Result<()> {
        let meta = &table.blocks[mb].micros[micro];
        // The MemTables' view of the range: rows that replace or add to the microblock's,
        // and keys they delete.
        let range = (
            Bound::Included(meta.first_key.clone()),
            Bound::Included(meta.last_key.clone()),
        );
        let sources = Sources::new(&self.mems, &[], &self.env, &range, Vec::new())?;
        let mut merge = VisibleMerge::new(sources, self.ctx.clone());
        let mut changed: Vec<Vec<u8>> = Vec::new();
        let mut rows = ArrowRows::new(&self.schema, &self.req.projection)?;
        while let Some((key, seen)) = merge.next_key()? {
            match seen {
                Visible::Row(row) => {
                    rows.push(&row)?;
                    changed.push(key.to_vec());
                }
                Visible::Deleted => changed.push(key.to_vec()),
                Visible::Absent => {}
            }
        }
        self.stats.blocks_patched += 1;
        self.stats.rows_patched += rows.len() as u64;
        let delta = (rows.len() > 0)
            .then(|| rows.finish(&self.out_schema))
            .transpose()?;
        if matches {
            let (own, keys) = self.columns(table, mb, micro, true)?;
            let keys =
                keys.ok_or_else(|| StorageError::Invalid("microblock keys missing".into()))?;
            let mut keep = vec![true; keys.len()];
            let mut from = 0;
            for key in &changed {
                let at = keys_lower_bound(&keys, from, key);
                if at < keys.len() && keys.value(at) == key.as_slice() {
                    keep[at] = false;
                }
                from = at;
            }
            let own = if keep.iter().all(|&k| k) {
                own
            } else {
                arrow_select::filter::filter_record_batch(&own, &BooleanArray::from(keep))
                    .map_err(|e| StorageError::Invalid(format!("filtering a batch: {e}")))?
            };
            self.pending.push_back(own);
        } else {
            // None of the microblock's own rows can match; the MemTables' may.
            self.stats.blocks_pruned += 1;
        }
        self.pending.extend(delta);
        Ok(())
    }

    /// The projected slots a microblock or macroblock storing `stored` slots holds.
    fn stored_projection(&self, stored: usize) -> Vec<usize> {
        self.req
            .projection
            .iter()
            .copied()
            .filter(|&s| s < stored)
            .collect()
    }

    /// The batch of the projection from a microblock of `n` rows that stores `stored`
    /// slots, given its projected stored columns in projection order; slots added after
    /// the microblock was written read as their defaults.
    fn batch(&self, n: usize, stored: usize, columns: Vec<ArrayRef>) -> Result<RecordBatch> {
        let mut columns = columns.into_iter();
        let mut cols: Vec<ArrayRef> = Vec::with_capacity(self.req.projection.len());
        for &s in &self.req.projection {
            cols.push(if s < stored {
                columns.next().ok_or_else(|| {
                    StorageError::Invalid(format!("microblock lacks stored column {s}"))
                })?
            } else {
                const_array(self.schema.kinds[s], &self.schema.defaults[s], n)
            });
        }
        RecordBatch::try_new(self.out_schema.clone(), cols)
            .map_err(|e| StorageError::Invalid(format!("building a batch: {e}")))
    }

    /// A microblock's rows as a batch of the projection, and its keys if asked for: from a
    /// cached block as it is, or from the column cache, decoding (and caching) what it
    /// lacks.
    fn columns(
        &mut self,
        table: &SSTable,
        mb: usize,
        micro: usize,
        with_keys: bool,
    ) -> Result<(RecordBatch, Option<BinaryArray>)> {
        let open = &table.blocks[mb];
        let stored = open.kinds.len();
        if let Some(block) = self.env.cached_block(open, micro) {
            let cols = self
                .req
                .projection
                .iter()
                .filter_map(|&s| block.columns.get(s).cloned())
                .collect();
            let batch = self.batch(block.rows(), stored, cols)?;
            return Ok((batch, with_keys.then(|| block.keys.clone())));
        }
        let mut wanted = self.stored_projection(stored);
        if with_keys {
            wanted.push(keys_slot(&open.kinds));
        }
        let (n, mut cols) = self.stored_columns(table, mb, micro, &wanted)?;
        let keys =
            if with_keys {
                let keys = cols
                    .pop()
                    .ok_or_else(|| StorageError::Invalid("microblock keys missing".into()))?;
                Some(keys.as_binary_opt::<i32>().cloned().ok_or_else(|| {
                    StorageError::Invalid("microblock keys are not binary".into())
                })?)
            } else {
                None
            };
        Ok((self.batch(n, stored, cols)?, keys))
    }

    /// The stored columns `wanted` (slots, the keys' pseudo-slot among them) of
    /// microblock `micro` of macroblock `mb`, in that order, with its row count: from the
    /// column cache where it holds them, the rest decoded from the microblock (only those)
    /// and put in the cache.
    fn stored_columns(
        &mut self,
        table: &SSTable,
        mb: usize,
        micro: usize,
        wanted: &[usize],
    ) -> Result<(usize, Vec<ArrayRef>)> {
        let open = &table.blocks[mb];
        if self.env.columns.is_none() {
            self.stats.columns_decoded += wanted.len() as u64;
            return open.read_micro_slots(micro, wanted);
        }
        // One entry per microblock holds every column scans have decoded from it, so a
        // scan looks the microblock up once, not once per column.
        let columns = self.through_column_cache(open, micro as u32, wanted, 1, |missing| {
            Ok(open.read_micro_slots(micro, missing)?.1)
        })?;
        Ok((open.micros[micro].rows as usize, columns))
    }

    /// The columns `wanted` (slots, the keys' pseudo-slot among them) of the column-cache
    /// entry of microblock `micro` of `open` (or of all of it, [`WHOLE_MACROBLOCK`]), in that
    /// order: those the entry lacks are read by `read` (given the slots, returning their
    /// arrays in that order) and added to it. Counted as `weight` microblocks' columns.
    fn through_column_cache(
        &mut self,
        open: &OpenMacroblock,
        micro: u32,
        wanted: &[usize],
        weight: u64,
        read: impl FnOnce(&[usize]) -> Result<Vec<ArrayRef>>,
    ) -> Result<Vec<ArrayRef>> {
        let cache = self.env.columns.clone().ok_or_else(|| {
            StorageError::Invalid("a scan reads cached columns only with a column cache".into())
        })?;
        let slots = keys_slot(&open.kinds) + 1;
        let key = CacheKey::Columns {
            tablet: self.env.tablet,
            macroblock: open.meta.id,
            micro,
        };
        let mut all: Vec<Option<ArrayRef>> = match cache.get(&key) {
            Some(CacheValue::Columns(c)) if c.len() == slots => c.to_vec(),
            _ => vec![None; slots],
        };
        let missing: Vec<usize> = wanted
            .iter()
            .copied()
            .filter(|&s| all.get(s).is_some_and(Option::is_none))
            .collect();
        self.stats.columns_cached += (wanted.len() - missing.len()) as u64 * weight;
        if !missing.is_empty() {
            let arrays = read(&missing)?;
            if arrays.len() != missing.len() {
                return Err(StorageError::Invalid(
                    "microblock lacks a stored column".into(),
                ));
            }
            self.stats.columns_decoded += missing.len() as u64 * weight;
            for (&slot, array) in missing.iter().zip(arrays) {
                all[slot] = Some(array);
            }
            cache.insert(key, CacheValue::Columns(Arc::from(all.clone())));
        }
        wanted
            .iter()
            .map(|&s| {
                all.get(s).cloned().flatten().ok_or_else(|| {
                    StorageError::Invalid(format!("microblock lacks stored column {s}"))
                })
            })
            .collect()
    }

    fn next_merged(&mut self) -> Result<Option<RecordBatch>> {
        let mut rows = ArrowRows::new(&self.schema, &self.req.projection)?;
        while rows.len() < self.req.batch_rows {
            let Some(item) = self.merge.next() else { break };
            rows.push(&item?.1)?;
        }
        self.stats.rows_merged += rows.len() as u64;
        if rows.len() == 0 {
            return Ok(None);
        }
        rows.finish(&self.out_schema).map(Some)
    }
}

/// Encoded rows turned into an Arrow batch of projected columns (a slot may be projected
/// more than once; columns added after a row was written read as their defaults).
pub(crate) struct ArrowRows<'a> {
    schema: &'a RowSchema,
    projection: &'a [usize],
    /// Per slot, the builders it feeds.
    feeds: Vec<Vec<usize>>,
    wanted: Vec<bool>,
    builders: Vec<ColumnBuilder>,
    rows: usize,
}

impl<'a> ArrowRows<'a> {
    pub(crate) fn new(schema: &'a RowSchema, projection: &'a [usize]) -> Result<ArrowRows<'a>> {
        let mut feeds: Vec<Vec<usize>> = vec![Vec::new(); schema.kinds.len()];
        for (i, &s) in projection.iter().enumerate() {
            feeds
                .get_mut(s)
                .ok_or_else(|| StorageError::Invalid(format!("no column {s} to project")))?
                .push(i);
        }
        Ok(ArrowRows {
            schema,
            projection,
            wanted: feeds.iter().map(|f| !f.is_empty()).collect(),
            feeds,
            builders: projection
                .iter()
                .map(|&s| ColumnBuilder::new(schema.kinds[s]))
                .collect(),
            rows: 0,
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.rows
    }

    pub(crate) fn push(&mut self, row: &[u8]) -> Result<()> {
        let (feeds, builders) = (&self.feeds, &mut self.builders);
        let header = decode_row_wanted(row, &self.schema.kinds, Some(&self.wanted), |s, v| {
            for &b in &feeds[s] {
                builders[b].push(&v);
            }
        })?;
        for (i, &s) in self.projection.iter().enumerate() {
            if s >= header.columns {
                let d =
                    self.schema.defaults.get(s).ok_or_else(|| {
                        StorageError::Invalid(format!("column {s} has no default"))
                    })?;
                self.builders[i].push(d);
            }
        }
        self.rows += 1;
        Ok(())
    }

    pub(crate) fn finish(self, schema: &SchemaRef) -> Result<RecordBatch> {
        let cols: Vec<ArrayRef> = self
            .builders
            .into_iter()
            .map(ColumnBuilder::finish)
            .collect();
        RecordBatch::try_new(schema.clone(), cols)
            .map_err(|e| StorageError::Invalid(format!("building a batch: {e}")))
    }
}

impl Iterator for ArrowScan {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_sliced() {
            Ok(Some(b)) => return Some(Ok(b)),
            Ok(None) => {}
            Err(e) => return Some(Err(e)),
        }
        self.next_merged().transpose()
    }
}

/// Whether `table` holds any microblock whose key range meets `[lo, hi]`.
fn table_overlaps(table: &SSTable, lo: &[u8], hi: &[u8]) -> bool {
    let mut i = table
        .blocks
        .partition_point(|b| b.meta.last_key.as_slice() < lo);
    while let Some(mb) = table.blocks.get(i) {
        if mb.meta.first_key.as_slice() > hi {
            return false;
        }
        let j = mb.micros.partition_point(|m| m.last_key.as_slice() < lo);
        if mb
            .micros
            .get(j)
            .is_some_and(|m| m.first_key.as_slice() <= hi)
        {
            return true;
        }
        i += 1;
    }
    false
}

enum ColumnBuilder {
    Int(Int64Builder),
    UInt(UInt64Builder),
    Double(Float64Builder),
    Bytes(BinaryBuilder),
}

impl ColumnBuilder {
    fn new(kind: PhysicalKind) -> ColumnBuilder {
        match kind {
            PhysicalKind::Int => ColumnBuilder::Int(Int64Builder::new()),
            PhysicalKind::UInt => ColumnBuilder::UInt(UInt64Builder::new()),
            PhysicalKind::Double => ColumnBuilder::Double(Float64Builder::new()),
            PhysicalKind::Bytes => ColumnBuilder::Bytes(BinaryBuilder::new()),
        }
    }

    fn push(&mut self, v: &Value) {
        match (self, v) {
            (ColumnBuilder::Int(b), Value::Int(i)) => b.append_value(*i),
            (ColumnBuilder::UInt(b), Value::UInt(u)) => b.append_value(*u),
            (ColumnBuilder::Double(b), Value::Double(d)) => b.append_value(*d),
            (ColumnBuilder::Bytes(b), Value::Bytes(x)) => b.append_value(x),
            (ColumnBuilder::Int(b), _) => b.append_null(),
            (ColumnBuilder::UInt(b), _) => b.append_null(),
            (ColumnBuilder::Double(b), _) => b.append_null(),
            (ColumnBuilder::Bytes(b), _) => b.append_null(),
        }
    }

    fn finish(self) -> ArrayRef {
        match self {
            ColumnBuilder::Int(mut b) => Arc::new(b.finish()),
            ColumnBuilder::UInt(mut b) => Arc::new(b.finish()),
            ColumnBuilder::Double(mut b) => Arc::new(b.finish()),
            ColumnBuilder::Bytes(mut b) => Arc::new(b.finish()),
        }
    }
}

/// Reads one column value of a decoded block (for tests and tools).
pub fn block_value(block: &Block, slot: usize, row: usize) -> Value {
    value_at(block.columns[slot].as_ref(), row)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: Bound<&[u8]>, end: Bound<&[u8]>) -> KeyRange {
        (start.map(|k| k.to_vec()), end.map(|k| k.to_vec()))
    }

    #[test]
    fn ranges_intersect_on_their_tighter_ends() {
        use Bound::{Excluded as E, Included as I, Unbounded as U};
        let all = r(U, U);
        let point = r(I(b"k"), I(b"k"));
        assert_eq!(intersect(&all, &point), Some(point.clone()));
        assert_eq!(intersect(&r(I(b"a"), E(b"m")), &point), Some(point.clone()));
        assert_eq!(intersect(&r(I(b"a"), E(b"k")), &point), None);
        assert_eq!(intersect(&r(E(b"k"), U), &point), None);
        assert_eq!(intersect(&r(I(b"k"), E(b"z")), &point), Some(point.clone()));
        assert_eq!(
            intersect(&r(I(b"a"), E(b"m")), &r(I(b"f"), U)),
            Some(r(I(b"f"), E(b"m")))
        );
        assert_eq!(intersect(&r(I(b"a"), E(b"f")), &r(I(b"f"), U)), None);
    }
}
