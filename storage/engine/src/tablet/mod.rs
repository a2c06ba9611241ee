//! A tablet: one partition of one table or index, as an LSM tree of MemTables and SSTables.
//!
//! This is the API the transaction and SQL layers use:
//! - [`Tablet::write`]: an uncommitted version tagged with its transaction and statement; it
//!   is the row lock ([`StorageError::Locked`] if another transaction holds the row, in any
//!   MemTable);
//! - [`Tablet::get`] and [`Tablet::scan`]: reads at (snapshot, own transaction, statement);
//! - [`Tablet::latest`]: the newest committed version and any lock, across MemTables and
//!   SSTables (locking reads, unique checks, write conflicts);
//! - [`Tablet::scan_arrow`]: Arrow batches for the OLAP path;
//! - [`Tablet::apply_committed`]: log replay and followers;
//! - freeze, dump, minor and major compaction (see `compaction.rs`).
//!
//! Durability contract with the log layer: the caller reports with [`Tablet::set_applied`]
//! the log index up to which every entry's effects are in this tablet's MemTables (entries
//! are applied in log order). A dump moves the tablet's checkpoint to the highest index whose
//! effects are all in SSTables; after a crash the caller replays the log above
//! [`Tablet::checkpoint`] through `apply_committed`.

mod compaction;

pub use compaction::{BackgroundCompactor, MajorReport};

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, RwLock};
use reef_common::ids::{LogIndex, StmtSeq, TabletId, TxnId, Version};
use reef_common::limits::{
    FREEZE_TXN_WAIT_MS_MAX, FROZEN_MEMTABLES_BYTES_MAX, KEY_BYTES_MAX, MEMTABLE_FREEZE_BYTES,
    ROW_BYTES_MAX,
};

use crate::cache::{Cache, CacheKey, CacheValue, RowEntry};
use crate::error::{Result, StorageError};
use crate::fs::FileSystem;
use crate::manifest::Manifest;
use crate::memtable::{Latest, MemTable, Visible};
use crate::mvcc::{ReadCtx, RowOp, TxnCtx};
use crate::scan::{bound_ref, ArrowScan, ArrowScanRequest, KeyRange, Sources, VisibleMerge};
use crate::schema::RowSchema;
use crate::sstable::block::Compression;
use crate::sstable::macroblock;
use crate::sstable::table::{lookup_hash, ReadEnv, SSTable};
use arrow_array::RecordBatch;
use reef_common::value::Value;

/// MemTable keys [`Tablet::estimated_rows_in`] counts at most per MemTable.
pub const MEM_KEYS_COUNTED: u64 = 1_000;

/// How a tablet behaves; defaults come from `reef_common::limits`.
#[derive(Clone, Debug)]
pub struct TabletOptions {
    /// The file layer.
    pub fs: Arc<dyn FileSystem>,
    /// The node's shared cache.
    pub cache: Arc<Cache>,
    /// Block compression of new SSTables.
    pub compression: Compression,
    /// The active MemTable freezes at this size.
    pub memtable_freeze_bytes: usize,
    /// Writers stall while frozen MemTables hold more than this.
    pub frozen_bytes_max: usize,
    /// How long writers wait for a dump before failing with a stall error.
    pub stall_wait: Duration,
    /// How long a dump waits for undecided transactions before rolling them back.
    pub freeze_txn_wait: Duration,
    /// Whether point reads use the row cache.
    pub row_cache: bool,
    /// Minor compaction merges the mini SSTables once there are this many.
    pub minor_trigger: usize,
    /// The fewest tombstones in the active MemTable that trigger a freeze, dump and major
    /// compaction (more on a large baseline, see [`Tablet::maintain`]).
    pub tombstone_trigger: usize,
    /// The node's column cache for analytical scans (`None`: they decode what they read).
    pub column_cache: Option<Arc<Cache>>,
}

impl TabletOptions {
    /// Defaults over the real file system.
    pub fn new(fs: Arc<dyn FileSystem>, cache: Arc<Cache>) -> TabletOptions {
        TabletOptions {
            fs,
            cache,
            compression: Compression::Lz4,
            memtable_freeze_bytes: MEMTABLE_FREEZE_BYTES,
            frozen_bytes_max: FROZEN_MEMTABLES_BYTES_MAX,
            stall_wait: Duration::from_secs(10),
            freeze_txn_wait: Duration::from_millis(FREEZE_TXN_WAIT_MS_MAX),
            row_cache: true,
            minor_trigger: 4,
            tombstone_trigger: 1024,
            column_cache: None,
        }
    }
}

struct MemState {
    active: Arc<MemTable>,
    /// Oldest first.
    frozen: Vec<Arc<MemTable>>,
}

/// The SSTables of a tablet and the manifest that lists them (same order: newest first).
pub(crate) struct TableSet {
    pub(crate) manifest: Manifest,
    pub(crate) tables: Vec<Arc<SSTable>>,
}

/// Sizes and counts, for metrics and tests.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TabletStats {
    /// Accounted bytes of the active MemTable.
    pub active_bytes: usize,
    /// Keys whose newest version in the active MemTable is a delete.
    pub active_tombstones: usize,
    /// Frozen MemTables waiting for their dump.
    pub frozen: usize,
    /// Accounted bytes of frozen MemTables.
    pub frozen_bytes: usize,
    /// SSTables by level: (mini, minor, major).
    pub tables: (usize, usize, usize),
    /// Macroblocks across SSTables.
    pub macroblocks: usize,
    /// Bytes of SSTables on disk.
    pub sstable_bytes: u64,
    /// Row versions stored across SSTables (a key in several SSTables counts in each).
    pub sstable_versions: u64,
    /// The log checkpoint.
    pub checkpoint: LogIndex,
}

/// One tablet's LSM tree.
pub struct Tablet {
    id: TabletId,
    dir: PathBuf,
    opts: TabletOptions,
    schema: RwLock<Arc<RowSchema>>,
    mem: RwLock<MemState>,
    set: RwLock<Arc<TableSet>>,
    /// Serializes dumps.
    dump_lock: Mutex<()>,
    /// Serializes minor and major compactions.
    merge_lock: Mutex<()>,
    /// Serializes manifest installs.
    install_lock: Mutex<()>,
    next_file_id: AtomicU64,
    next_memtable_id: AtomicU64,
    applied: AtomicU64,
    /// Versions below this may be dropped when a newer one at or below it exists.
    gc_horizon: AtomicU64,
    dumped: Condvar,
    dumped_mutex: Mutex<()>,
}

impl std::fmt::Debug for Tablet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tablet({}, {})", self.id, self.dir.display())
    }
}

impl Tablet {
    /// Opens the tablet stored in `dir` (creating it if new). Files no manifest references
    /// (left by an interrupted dump or compaction) are deleted.
    pub fn open(
        id: TabletId,
        dir: &Path,
        schema: RowSchema,
        opts: TabletOptions,
    ) -> Result<Arc<Tablet>> {
        let fs = opts.fs.clone();
        fs.create_dir_all(dir)
            .map_err(|e| StorageError::io(dir, e))?;
        let manifest = Manifest::load(fs.as_ref(), dir)?.unwrap_or_default();
        let live = manifest.live_files();
        let mut max_file = manifest.next_file_id;
        for name in fs.list(dir).map_err(|e| StorageError::io(dir, e))? {
            let file_id = name
                .strip_prefix("mb-")
                .and_then(|n| n.strip_suffix(".blk"));
            match file_id.and_then(|h| u64::from_str_radix(h, 16).ok()) {
                Some(fid) if !live.contains(&fid) => {
                    tracing::info!(tablet = %id, file = %name, "removing file of an interrupted compaction");
                    fs.remove(&dir.join(&name))
                        .map_err(|e| StorageError::io(dir.join(&name), e))?;
                }
                Some(fid) => max_file = max_file.max(fid + 1),
                None if name.ends_with(".tmp") => {
                    fs.remove(&dir.join(&name))
                        .map_err(|e| StorageError::io(dir.join(&name), e))?;
                }
                None => {}
            }
        }
        let tables = manifest
            .tables
            .iter()
            .map(|t| SSTable::open(fs.as_ref(), dir, t.clone()).map(Arc::new))
            .collect::<Result<Vec<_>>>()?;
        let checkpoint = manifest.checkpoint;
        Ok(Arc::new(Tablet {
            id,
            dir: dir.to_path_buf(),
            opts,
            schema: RwLock::new(Arc::new(schema)),
            mem: RwLock::new(MemState {
                active: MemTable::new(1),
                frozen: Vec::new(),
            }),
            set: RwLock::new(Arc::new(TableSet { manifest, tables })),
            dump_lock: Mutex::new(()),
            merge_lock: Mutex::new(()),
            install_lock: Mutex::new(()),
            next_file_id: AtomicU64::new(max_file.max(1)),
            next_memtable_id: AtomicU64::new(2),
            applied: AtomicU64::new(checkpoint.0),
            gc_horizon: AtomicU64::new(0),
            dumped: Condvar::new(),
            dumped_mutex: Mutex::new(()),
        }))
    }

    /// The tablet's id.
    pub fn id(&self) -> TabletId {
        self.id
    }

    /// The current row schema.
    pub fn schema(&self) -> Arc<RowSchema> {
        self.schema.read().clone()
    }

    /// Replaces the row schema (ADD COLUMN appends slots; old rows read the defaults).
    pub fn set_schema(&self, schema: RowSchema) -> Result<()> {
        let cur = self.schema();
        if schema.kinds.len() < cur.kinds.len() || schema.kinds[..cur.kinds.len()] != cur.kinds[..]
        {
            return Err(StorageError::Invalid(
                "a schema change may only append column slots".into(),
            ));
        }
        *self.schema.write() = Arc::new(schema);
        Ok(())
    }

    /// Log entries at or below this index are in SSTables; replay starts above it.
    pub fn checkpoint(&self) -> LogIndex {
        self.set.read().manifest.checkpoint
    }

    /// The log index up to which this tablet needs nothing from the log: its checkpoint,
    /// or everything applied when no MemTable holds anything (an idle tablet would
    /// otherwise hold the log back until its next dump, which may never come).
    pub fn durable_through(&self) -> LogIndex {
        // `applied` first: an entry at or below it that wrote here put its versions into a
        // MemTable before it was applied, so empty MemTables now mean they were dumped.
        let applied = self.applied.load(Ordering::Acquire);
        let idle = {
            let mem = self.mem.read();
            mem.frozen.is_empty() && mem.active.row_count() == 0
        };
        let checkpoint = self.checkpoint();
        if idle {
            LogIndex(checkpoint.0.max(applied))
        } else {
            checkpoint
        }
    }

    /// Raises the GC horizon: the oldest snapshot any reader may still use. Dumps and
    /// compactions keep, per key, the versions above it and the newest at or below it.
    pub fn set_gc_horizon(&self, v: Version) {
        self.gc_horizon.fetch_max(v.0, Ordering::AcqRel);
    }

    /// The GC horizon (`Version::ZERO`: keep every version).
    pub fn gc_horizon(&self) -> Version {
        Version(self.gc_horizon.load(Ordering::Acquire))
    }

    /// Reports that every log entry up to `index` has been applied to this tablet.
    pub fn set_applied(&self, index: LogIndex) {
        self.applied.fetch_max(index.0, Ordering::AcqRel);
    }

    fn env(&self, fill_cache: bool) -> ReadEnv {
        ReadEnv {
            tablet: self.id,
            cache: self.opts.cache.clone(),
            fill_cache,
            columns: self.opts.column_cache.clone(),
        }
    }

    /// MemTables newest first.
    fn memtables(&self) -> Vec<Arc<MemTable>> {
        let mem = self.mem.read();
        let mut v = Vec::with_capacity(1 + mem.frozen.len());
        v.push(mem.active.clone());
        v.extend(mem.frozen.iter().rev().cloned());
        v
    }

    fn table_set(&self) -> Arc<TableSet> {
        self.set.read().clone()
    }

    fn check_sizes(key: &[u8], op: &RowOp) -> Result<()> {
        if key.len() > KEY_BYTES_MAX {
            return Err(StorageError::TooLarge(format!(
                "key of {} bytes exceeds {KEY_BYTES_MAX}",
                key.len()
            )));
        }
        if let RowOp::Put(v) = op {
            if v.len() > ROW_BYTES_MAX {
                return Err(StorageError::TooLarge(format!(
                    "row of {} bytes exceeds {ROW_BYTES_MAX}",
                    v.len()
                )));
            }
        }
        Ok(())
    }

    /// Waits while frozen MemTables exceed their budget; fails after `stall_wait`.
    pub fn wait_for_room(&self) -> Result<()> {
        let deadline = Instant::now() + self.opts.stall_wait;
        loop {
            let (count, bytes) = {
                let mem = self.mem.read();
                (
                    mem.frozen.len(),
                    mem.frozen.iter().map(|m| m.bytes()).sum::<usize>(),
                )
            };
            if bytes <= self.opts.frozen_bytes_max {
                return Ok(());
            }
            let mut g = self.dumped_mutex.lock();
            if self.dumped.wait_until(&mut g, deadline).timed_out() {
                return Err(StorageError::WriteStall(format!(
                    "tablet {}: {count} frozen MemTables hold {} MiB waiting for their dump (limit {} MiB)",
                    self.id,
                    bytes >> 20,
                    self.opts.frozen_bytes_max >> 20
                )));
            }
        }
    }

    /// Writes an uncommitted version for `txn`'s statement `seq`. Fails with
    /// [`StorageError::Locked`] if another transaction holds the row: the caller waits for
    /// it (lock table) and retries.
    pub fn write(&self, txn: &Arc<TxnCtx>, seq: StmtSeq, key: &[u8], op: RowOp) -> Result<()> {
        self.wait_for_room()?;
        self.write_admitted(txn, seq, key, op)
    }

    /// [`Self::write`] for a caller that has just waited in [`Self::wait_for_room`] (the
    /// transaction layer waits there before it takes its locks' guards).
    pub fn write_admitted(
        &self,
        txn: &Arc<TxnCtx>,
        seq: StmtSeq,
        key: &[u8],
        op: RowOp,
    ) -> Result<()> {
        Self::check_sizes(key, &op)?;
        let full = {
            let mem = self.mem.read();
            let mut guard = txn.write_guard()?;
            let me = txn.id();
            mem.active.write(&mut guard, key, seq, op, || {
                for m in mem.frozen.iter().rev() {
                    if let Some(row) = m.row(key) {
                        let l = row.latest(Some(me), seq);
                        if l.latest.locked_by.is_some() || l.any {
                            return (l.latest.locked_by, l.latest.depends);
                        }
                    }
                }
                (None, None)
            })?;
            mem.active.bytes() >= self.opts.memtable_freeze_bytes
        };
        if full {
            self.freeze();
        }
        Ok(())
    }

    /// Applies a committed version from the log (replay after a crash, or a follower).
    pub fn apply_committed(
        &self,
        key: &[u8],
        version: Version,
        op: RowOp,
        log_index: LogIndex,
    ) -> Result<()> {
        Self::check_sizes(key, &op)?;
        self.wait_for_room()?;
        let full = {
            let mem = self.mem.read();
            mem.active.apply_committed(key, version, op, log_index);
            mem.active.bytes() >= self.opts.memtable_freeze_bytes
        };
        if full {
            self.freeze();
        }
        Ok(())
    }

    /// Freezes the active MemTable (if it has rows) and starts a new one; returns whether it
    /// froze. The frozen MemTable waits for a dump.
    pub fn freeze(&self) -> bool {
        let mut mem = self.mem.write();
        if mem.active.row_count() == 0 {
            return false;
        }
        let next = MemTable::new(self.next_memtable_id.fetch_add(1, Ordering::Relaxed));
        let old = std::mem::replace(&mut mem.active, next);
        old.freeze();
        tracing::debug!(tablet = %self.id, memtable = old.id(), bytes = old.bytes(), "froze MemTable");
        mem.frozen.push(old);
        true
    }

    /// The row visible to `ctx`, or `None`.
    pub fn get(&self, key: &[u8], ctx: &ReadCtx) -> Result<Option<Arc<[u8]>>> {
        for m in self.memtables() {
            if let Some(row) = m.row(key) {
                match row.read(ctx)? {
                    Visible::Row(v) => return Ok(Some(v)),
                    Visible::Deleted => return Ok(None),
                    Visible::Absent => {}
                }
            }
        }
        let set = self.table_set();
        Ok(self
            .sst_visible(&set, key, ctx.snapshot)?
            .and_then(|(_, row)| row))
    }

    /// The newest SSTable version of `key` visible at `snapshot`, through the row cache.
    fn sst_visible(&self, set: &TableSet, key: &[u8], snapshot: Version) -> Result<RowEntry> {
        let cache_key = self.opts.row_cache.then(|| CacheKey::Row {
            tablet: self.id,
            generation: set.manifest.generation,
            key: key.to_vec(),
        });
        if let Some(ck) = &cache_key {
            if let Some(CacheValue::Row(entry)) = self.opts.cache.get(ck) {
                match entry {
                    None => return Ok(None),
                    Some((v, row)) if v <= snapshot => return Ok(Some((v, row))),
                    Some(_) => {}
                }
            }
        }
        let env = self.env(true);
        let hash = lookup_hash(key);
        let mut newest: Option<RowEntry> = None;
        let mut visible = None;
        for t in &set.tables {
            let versions = t.versions(&env, key, hash)?;
            if versions.is_empty() {
                continue;
            }
            newest.get_or_insert_with(|| Some(versions[0].clone()));
            if let Some(v) = versions.into_iter().find(|(v, _)| *v <= snapshot) {
                visible = Some(v);
                break;
            }
        }
        if let Some(ck) = cache_key {
            self.opts
                .cache
                .insert(ck, CacheValue::Row(newest.unwrap_or(None)));
        }
        Ok(visible)
    }

    /// The newest committed version of `key`, any other transaction's lock on it, and `me`'s
    /// own latest write of a statement before `seq`, across MemTables and SSTables.
    pub fn latest(&self, key: &[u8], me: Option<TxnId>, seq: StmtSeq) -> Result<Latest> {
        let mut out = Latest::default();
        for m in self.memtables() {
            let Some(row) = m.row(key) else { continue };
            let rl = row.latest(me, seq).latest;
            out.locked_by = out.locked_by.or(rl.locked_by);
            out.own = out.own.or(rl.own);
            if rl.committed.is_some() {
                out.committed = rl.committed;
                out.depends = rl.depends;
                return Ok(out);
            }
        }
        let set = self.table_set();
        out.committed = self.sst_visible(&set, key, Version::MAX)?;
        Ok(out)
    }

    /// A transaction other than `me` holding a row in `range` (an undecided version in a
    /// MemTable): what a reader that must see the range's latest state waits for.
    pub fn holder_in(&self, range: &KeyRange, me: TxnId) -> Option<TxnId> {
        let (start, end) = (bound_ref(&range.0), bound_ref(&range.1));
        self.memtables()
            .iter()
            .find_map(|m| m.holder_in(start, end, me))
    }

    /// Rows visible to `ctx` in `range`, in key order.
    pub fn scan(&self, range: KeyRange, ctx: ReadCtx) -> Result<VisibleMerge> {
        let mems = self.memtables();
        let set = self.table_set();
        let sources = Sources::new(&mems, &set.tables, &self.env(true), &range, Vec::new())?;
        Ok(VisibleMerge::new(sources, ctx))
    }

    /// The rows visible to `ctx` at `keys` (whole primary keys), in the order of `keys`, as
    /// one Arrow batch of the `projection`'s columns (the schema of [`crate::scan::arrow_schema`]);
    /// a key with no visible row is left out. Each key is a point read (MemTables, the row
    /// cache, then the SSTables' bloom filters), so a join's probe side that names its rows'
    /// keys reads those rows and nothing around them.
    pub fn get_arrow(
        &self,
        keys: &[&[u8]],
        projection: &[usize],
        ctx: &ReadCtx,
    ) -> Result<RecordBatch> {
        let schema = self.schema();
        let mut rows = crate::scan::ArrowRows::new(&schema, projection)?;
        for key in keys {
            if let Some(row) = self.get(key, ctx)? {
                rows.push(&row)?;
            }
        }
        rows.finish(&crate::scan::arrow_schema(&schema, projection))
    }

    /// Arrow batches of the rows visible to `ctx` (in no particular order).
    pub fn scan_arrow(&self, req: ArrowScanRequest, ctx: ReadCtx) -> Result<ArrowScan> {
        let mems = self.memtables();
        let set = self.table_set();
        ArrowScan::new(self.schema(), &mems, &set.tables, self.env(true), ctx, req)
    }

    /// An upper estimate of the rows a full scan reads, without reading any: keys in the
    /// MemTables plus row versions in the SSTables. A key written in several places counts
    /// in each, so the figure is high after updates and deletes until a compaction merges
    /// them. Cheap enough to ask per statement: a few atomic loads and one manifest walk.
    pub fn approx_rows(&self) -> u64 {
        let mem: u64 = {
            let mem = self.mem.read();
            (mem.active.row_count() + mem.frozen.iter().map(|m| m.row_count()).sum::<usize>())
                as u64
        };
        mem + self.table_set().manifest.versions()
    }

    /// An estimate of the rows a scan of `range` reads, without reading any rows: MemTable
    /// keys in the range, counted until `enough` is reached (so asking about a short range
    /// costs what reading it would, and a long one no more than `enough` steps), plus the
    /// row versions of the SSTable microblocks the range meets, from their index. Like
    /// [`Tablet::approx_rows`] it is high after updates; the planner uses it to tell a
    /// short range from one that covers much of the table.
    pub fn rows_in(&self, range: &KeyRange, enough: u64) -> u64 {
        let (start, end) = (bound_ref(&range.0), bound_ref(&range.1));
        let mut rows = 0u64;
        for mem in self.memtables() {
            rows += mem.count_keys(start, end, enough.saturating_sub(rows));
        }
        rows + self.sstable_rows_in(range)
    }

    /// An estimate of the rows a scan of `range` reads, for a planner's statistics, that
    /// costs at most [`MEM_KEYS_COUNTED`] steps per MemTable: a MemTable's keys in the range
    /// are counted, and one with more than that many there counts as all its keys (an upper
    /// estimate, and at least what was counted). SSTable rows come from the index, as in
    /// [`Tablet::rows_in`]. A large range is told from a short one, which is what join order
    /// and thread choice need, without walking a MemTable of loaded rows on every query.
    pub fn estimated_rows_in(&self, range: &KeyRange) -> u64 {
        let (start, end) = (bound_ref(&range.0), bound_ref(&range.1));
        let mut rows = 0u64;
        for mem in self.memtables() {
            let counted = mem.count_keys(start, end, MEM_KEYS_COUNTED);
            rows += if counted < MEM_KEYS_COUNTED {
                counted
            } else {
                (mem.row_count() as u64).max(counted)
            };
        }
        rows + self.sstable_rows_in(range)
    }

    /// The row versions of the SSTable microblocks `range` meets, from their index.
    fn sstable_rows_in(&self, range: &KeyRange) -> u64 {
        let set = self.table_set();
        micros_meeting(&set, range)
            .map(|micro| u64::from(micro.rows))
            .sum()
    }

    /// The smallest and largest value of each integer slot in `slots` across the SSTable
    /// microblocks `range` meets, from their index (`None` for other kinds, or with no
    /// non-NULL value). MemTable rows are not looked at: an estimate for planning only.
    pub fn sstable_int_ranges(&self, range: &KeyRange, slots: &[usize]) -> Vec<Option<(i64, i64)>> {
        let mut out: Vec<Option<(i64, i64)>> = vec![None; slots.len()];
        let set = self.table_set();
        for micro in micros_meeting(&set, range) {
            for (i, &slot) in slots.iter().enumerate() {
                let Some(st) = micro.stats.get(slot) else {
                    continue;
                };
                if let (Some(Value::Int(lo)), Some(Value::Int(hi))) = (&st.min, &st.max) {
                    let (lo, hi) = match out[i] {
                        Some((a, b)) => (a.min(*lo), b.max(*hi)),
                        None => (*lo, *hi),
                    };
                    out[i] = Some((lo, hi));
                }
            }
        }
        out
    }

    /// Keys that cut `range` into at most `parts` sub-ranges of about equal SSTable rows,
    /// ascending, each strictly inside `range`: the first keys of macroblocks, so each part
    /// starts on a macroblock boundary and whole macroblocks stay on the scan's fast path.
    /// A range within fewer macroblocks than `parts` gets fewer cuts, and one held only by
    /// MemTables gets none.
    pub fn split_keys(&self, range: &KeyRange, parts: usize) -> Vec<Vec<u8>> {
        let set = self.table_set();
        let mut blocks: Vec<(&[u8], u64)> = set
            .manifest
            .tables
            .iter()
            .flat_map(|t| &t.macroblocks)
            .filter(|m| {
                crate::scan::before_end(&m.first_key, &range.1)
                    && after_start(&m.last_key, &range.0)
            })
            .map(|m| (m.first_key.as_slice(), m.rows))
            .collect();
        blocks.sort_unstable();
        let total: u64 = blocks.iter().map(|b| b.1).sum();
        let mut cuts: Vec<Vec<u8>> = Vec::new();
        let mut seen = 0u64;
        for (first, rows) in blocks {
            let next_share = total * (cuts.len() as u64 + 1) / parts.max(1) as u64;
            if cuts.len() + 1 < parts
                && seen >= next_share
                && after_start(first, &range.0)
                && cuts.last().is_none_or(|c| c.as_slice() < first)
            {
                cuts.push(first.to_vec());
            }
            seen += rows;
        }
        cuts
    }

    /// Sizes and counts.
    pub fn stats(&self) -> TabletStats {
        let (active_bytes, active_tombstones, frozen, frozen_bytes) = {
            let mem = self.mem.read();
            (
                mem.active.bytes(),
                mem.active.tombstones(),
                mem.frozen.len(),
                mem.frozen.iter().map(|m| m.bytes()).sum(),
            )
        };
        let set = self.table_set();
        let mut tables = (0, 0, 0);
        for t in &set.manifest.tables {
            match t.level {
                crate::sstable::table::Level::Mini => tables.0 += 1,
                crate::sstable::table::Level::Minor => tables.1 += 1,
                crate::sstable::table::Level::Major => tables.2 += 1,
            }
        }
        TabletStats {
            active_bytes,
            active_tombstones,
            frozen,
            frozen_bytes,
            tables,
            macroblocks: set
                .manifest
                .tables
                .iter()
                .map(|t| t.macroblocks.len())
                .sum(),
            sstable_bytes: set.manifest.tables.iter().map(|t| t.size_bytes()).sum(),
            sstable_versions: set.manifest.versions(),
            checkpoint: set.manifest.checkpoint,
        }
    }

    /// The tablet's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Macroblock file path of `id` (for tools and fault tests).
    pub fn macroblock_path(&self, id: u64) -> PathBuf {
        self.dir.join(macroblock::file_name(id))
    }

    /// The manifest now in force.
    pub fn manifest(&self) -> Manifest {
        self.table_set().manifest.clone()
    }
}

/// The index entries of the SSTable microblocks of `set` that `range` meets.
fn micros_meeting<'a>(
    set: &'a TableSet,
    range: &'a KeyRange,
) -> impl Iterator<Item = &'a crate::sstable::macroblock::MicroIndex> + 'a {
    let meets = |first: &[u8], last: &[u8]| {
        crate::scan::before_end(first, &range.1) && after_start(last, &range.0)
    };
    set.tables
        .iter()
        .flat_map(|t| &t.blocks)
        .filter(move |b| meets(&b.meta.first_key, &b.meta.last_key))
        .flat_map(move |b| {
            b.micros
                .iter()
                .filter(move |m| meets(&m.first_key, &m.last_key))
        })
}

/// Whether `key` comes after the start of a range.
fn after_start(key: &[u8], start: &std::ops::Bound<Vec<u8>>) -> bool {
    match start {
        std::ops::Bound::Unbounded => true,
        std::ops::Bound::Included(s) | std::ops::Bound::Excluded(s) => key > s.as_slice(),
    }
}

pub fn full_range() -> KeyRange {
    (Bound::Unbounded, Bound::Unbounded)
}
