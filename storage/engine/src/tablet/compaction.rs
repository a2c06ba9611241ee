//! Dumps and compactions of a tablet, and the background thread that runs them.
//!
//! - **dump** (mini compaction): the oldest frozen MemTable becomes a mini SSTable once every
//!   transaction that wrote into it has decided (a transaction that holds it back longer
//!   than `freeze_txn_wait` is rolled back), and the log checkpoint advances.
//! - **minor**: the mini and minor SSTables merge into one minor SSTable.
//! - Dumps and minors keep, per key, the versions above the tablet's GC horizon and the
//!   newest at or below it (a delete too: older SSTables may hold what it hides).
//! - **major**: everything merges into a new baseline, dropping versions older than the
//!   GC horizon that no reader can need; baseline macroblocks whose key range no newer
//!   SSTable touches (and that hold one version per key, no deletes) are reused by reference.
//!
//! Each step writes and fsyncs its new macroblock files, then installs a new manifest
//! atomically; only then does the in-memory set change (readers hold `Arc`s of the old one
//! and never wait) and are files nobody references any more deleted. A crash at any point
//! leaves the last installed manifest in force.

use std::collections::HashSet;
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use reef_common::ids::{LogIndex, Version};

use super::{TableSet, Tablet};
use crate::error::{Result, StorageError};
use crate::memtable::{MemTable, RowBatch};
use crate::scan::{Sources, VersionMerge};
use crate::sstable::macroblock::{MacroblockMeta, OpenMacroblock};
use crate::sstable::table::{Level, SSTable, SSTableMeta, SSTableWriter, VersionRow};

const DUMP_BATCH_ROWS: usize = 1024;
/// A tombstone-triggered freeze waits while a transaction with writes in the active
/// MemTable is older than this (see [`Tablet::maintain`]).
const TOMBSTONE_FREEZE_TXN_AGE: Duration = Duration::from_secs(1);
/// An untouched macroblock smaller than this is merged into its neighbours (by copying its
/// microblocks) instead of reused by reference, so incremental majors do not fragment the
/// baseline; a run of untouched microblocks at least this large becomes its own macroblock.
const STANDALONE_BYTES_MIN: u64 = (reef_common::limits::MACROBLOCK_BYTES_TARGET / 8) as u64;

/// What a major compaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MajorReport {
    /// Macroblocks in the new baseline.
    pub macroblocks: usize,
    /// Macroblocks the old baseline had.
    pub old_baseline: usize,
    /// Old baseline macroblocks reused whole, by reference.
    pub reused: usize,
    /// Old baseline macroblocks rebuilt by copying their untouched microblocks as they are
    /// and re-encoding only the touched ones.
    pub rebuilt: usize,
    /// Old baseline macroblocks re-encoded entirely (changes too dense, several versions per
    /// key, deletes, or an older schema).
    pub rewritten: usize,
    /// Small untouched macroblocks merged into a neighbour by copying their microblocks.
    pub coalesced: usize,
    /// Microblocks copied as they are.
    pub micros_copied: usize,
    /// Microblocks of the old baseline re-encoded.
    pub micros_rewritten: usize,
    /// Bytes of the new baseline in reused macroblocks.
    pub bytes_reused: u64,
    /// Bytes of the new baseline copied from old microblocks.
    pub bytes_copied: u64,
    /// Bytes of the new baseline in newly written files (copied bytes included).
    pub bytes_new_files: u64,
    /// Rows encoded (not counting reused or copied ones).
    pub rows_written: u64,
    /// Versions dropped as older than the GC horizon.
    pub versions_dropped: u64,
}

impl MajorReport {
    /// Share of the old baseline's macroblocks that were not reused whole.
    pub fn macroblocks_touched_share(&self) -> f64 {
        (self.rebuilt + self.rewritten + self.coalesced) as f64 / self.old_baseline.max(1) as f64
    }

    /// Share of the new baseline's bytes that were encoded anew.
    pub fn bytes_encoded_share(&self) -> f64 {
        let total = self.bytes_reused + self.bytes_new_files;
        (self.bytes_new_files - self.bytes_copied) as f64 / total.max(1) as f64
    }
}

/// Delta entries (key and versions) waiting to be merged.
type Pending = std::iter::Peekable<std::vec::IntoIter<(Vec<u8>, Vec<VersionRow>)>>;

impl Tablet {
    /// Waits until every transaction with versions in `m` has decided, rolling back those
    /// still active after `freeze_txn_wait`.
    fn wait_for_decisions(&self, m: &MemTable) {
        let deadline = Instant::now() + self.opts.freeze_txn_wait;
        loop {
            let undecided = m.undecided();
            if undecided.is_empty() {
                return;
            }
            let now = Instant::now();
            if now >= deadline {
                for t in &undecided {
                    if t.force_abort(&format!(
                        "it kept a MemTable dump of tablet {} waiting longer than {} ms",
                        self.id,
                        self.opts.freeze_txn_wait.as_millis()
                    )) {
                        tracing::warn!(tablet = %self.id, txn = %t.id(), "rolled back a transaction that held a dump back");
                    }
                }
            }
            let step = deadline
                .saturating_duration_since(now)
                .clamp(Duration::from_millis(1), Duration::from_millis(50));
            for t in undecided {
                let _ = t.wait_decided(step);
            }
        }
    }

    /// Writes a new SSTable's macroblocks with `fill`; returns them and the ids of the files
    /// created. On failure the files created so far are removed.
    fn write_sstable(
        &self,
        fill: impl FnOnce(&mut SSTableWriter<'_>) -> Result<()>,
    ) -> Result<(Vec<MacroblockMeta>, Vec<u64>)> {
        let fs = self.opts.fs.as_ref();
        let mut w = SSTableWriter::new(
            fs,
            &self.dir,
            self.schema(),
            self.opts.compression,
            &self.next_file_id,
        );
        let filled = fill(&mut w);
        let created = w.created.clone();
        match filled.and_then(|_| w.finish()) {
            Ok(mbs) => Ok((mbs, created)),
            Err(e) => {
                self.remove_files(&created);
                Err(e)
            }
        }
    }

    /// Dumps the oldest frozen MemTable into a mini SSTable; returns whether there was one.
    pub fn dump_frozen(&self) -> Result<bool> {
        let _dump = self.dump_lock.lock();
        let Some(m) = self.mem.read().frozen.first().cloned() else {
            return Ok(false);
        };
        self.wait_for_decisions(&m);
        let horizon = self.gc_horizon();
        let (mbs, created) = self.write_sstable(|w| {
            let mut batch = RowBatch::default();
            let mut after: Option<Vec<u8>> = None;
            loop {
                let lo = after.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
                m.read_after(lo, Bound::Unbounded, DUMP_BATCH_ROWS, &mut batch);
                for i in 0..batch.len() {
                    for (v, val) in thin(batch.row(i).committed_versions(), horizon, false) {
                        w.push(batch.key(i), v, val.as_deref())?;
                    }
                }
                if batch.len() < DUMP_BATCH_ROWS {
                    return Ok(());
                }
                after = Some(batch.key(batch.len() - 1).to_vec());
            }
        })?;
        let table_id = self.next_file_id.fetch_add(1, Ordering::Relaxed);
        let new_table = SSTableMeta {
            id: table_id,
            level: Level::Mini,
            macroblocks: mbs,
        };
        let result = self.install(|set| {
            let mut manifest = set.manifest.clone();
            let mut tables = set.tables.clone();
            if !new_table.macroblocks.is_empty() {
                let opened = SSTable::open(self.opts.fs.as_ref(), &self.dir, new_table.clone())?;
                manifest.tables.insert(0, new_table.clone());
                tables.insert(0, Arc::new(opened));
            }
            manifest.checkpoint = manifest.checkpoint.max(self.checkpoint_without(&m));
            Ok((manifest, tables))
        });
        if let Err(e) = result {
            self.remove_files(&created);
            return Err(e);
        }
        self.mem.write().frozen.retain(|f| !Arc::ptr_eq(f, &m));
        let _g = self.dumped_mutex.lock();
        self.dumped.notify_all();
        tracing::debug!(tablet = %self.id, memtable = m.id(), "dumped MemTable");
        Ok(true)
    }

    /// The checkpoint once `dumped` is in SSTables: below the lowest log index any other
    /// MemTable holds, and never above what has been applied.
    fn checkpoint_without(&self, dumped: &Arc<MemTable>) -> LogIndex {
        let applied = self.applied.load(Ordering::Acquire);
        let mem = self.mem.read();
        let lowest = std::iter::once(&mem.active)
            .chain(mem.frozen.iter())
            .filter(|m| !Arc::ptr_eq(m, dumped))
            .filter_map(|m| m.log_range())
            .map(|(lo, _)| lo.0)
            .min();
        LogIndex(lowest.map_or(applied, |lo| applied.min(lo.saturating_sub(1))))
    }

    /// Builds the next manifest and table list from the current ones and installs them:
    /// manifest first (durably), then the in-memory set; then deletes unreferenced files.
    fn install(
        &self,
        build: impl FnOnce(&TableSet) -> Result<(crate::manifest::Manifest, Vec<Arc<SSTable>>)>,
    ) -> Result<()> {
        let _install = self.install_lock.lock();
        let old = self.table_set();
        let (mut manifest, tables) = build(&old)?;
        manifest.generation = old.manifest.generation + 1;
        manifest.next_file_id = self.next_file_id.load(Ordering::Relaxed);
        debug_assert_eq!(manifest.tables.len(), tables.len());
        manifest.store(self.opts.fs.as_ref(), &self.dir)?;
        let live = manifest.live_files();
        let dead: Vec<u64> = old
            .manifest
            .live_files()
            .difference(&live)
            .copied()
            .collect();
        *self.set.write() = Arc::new(TableSet { manifest, tables });
        self.remove_files(&dead);
        Ok(())
    }

    fn remove_files(&self, ids: &[u64]) {
        for &id in ids {
            let path = self.macroblock_path(id);
            if let Err(e) = self.opts.fs.remove(&path) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(file = %path.display(), error = %e, "could not remove macroblock file");
                }
            }
        }
    }

    /// Merges all mini and minor SSTables into one minor SSTable; returns whether it ran.
    pub fn minor_compact(&self) -> Result<bool> {
        let _merge = self.merge_lock.lock();
        let set = self.table_set();
        let inputs: Vec<Arc<SSTable>> = set
            .tables
            .iter()
            .filter(|t| t.meta.level != Level::Major)
            .cloned()
            .collect();
        if inputs.len() < 2 {
            return Ok(false);
        }
        let env = self.env(false);
        let range = (Bound::Unbounded, Bound::Unbounded);
        let mut merge = VersionMerge::new(Sources::new(&[], &inputs, &env, &range, Vec::new())?);
        let horizon = self.gc_horizon();
        let (mbs, created) = self.write_sstable(|w| {
            while let Some((key, versions)) = merge.next_upto(None)? {
                for (v, row) in thin(versions, horizon, false) {
                    w.push(&key, v, row.as_deref())?;
                }
            }
            Ok(())
        })?;
        let id = inputs.iter().map(|t| t.meta.id).max().expect("two inputs");
        let out = SSTableMeta {
            id,
            level: Level::Minor,
            macroblocks: mbs,
        };
        let r = self.replace_tables(&inputs, out, None);
        if r.is_err() {
            self.remove_files(&created);
        }
        r.map(|_| true)
    }

    /// Replaces `inputs` in the current set by `out`, placed where the newest input was
    /// (tables dumped meanwhile stay in front).
    fn replace_tables(
        &self,
        inputs: &[Arc<SSTable>],
        out: SSTableMeta,
        horizon: Option<Version>,
    ) -> Result<()> {
        let gone: HashSet<u64> = inputs.iter().map(|t| t.meta.id).collect();
        self.install(|set| {
            let mut manifest = set.manifest.clone();
            let mut tables = Vec::with_capacity(set.tables.len());
            let mut metas = Vec::with_capacity(set.tables.len());
            let mut placed = out.macroblocks.is_empty();
            for t in &set.tables {
                if gone.contains(&t.meta.id) {
                    if !placed {
                        tables.push(Arc::new(SSTable::open(
                            self.opts.fs.as_ref(),
                            &self.dir,
                            out.clone(),
                        )?));
                        metas.push(out.clone());
                        placed = true;
                    }
                } else {
                    tables.push(t.clone());
                    metas.push(t.meta.clone());
                }
            }
            if !placed {
                return Err(StorageError::Invalid(
                    "compaction inputs vanished from the tablet".into(),
                ));
            }
            manifest.tables = metas;
            if let Some(h) = horizon {
                manifest.major_horizon = manifest.major_horizon.max(h);
            }
            Ok((manifest, tables))
        })
    }

    /// Merges every SSTable into a new baseline. Per key it keeps the versions newer than
    /// `horizon` and the newest version at or below it (dropped if that is a delete): a
    /// reader at a snapshot `>= horizon` sees exactly what it saw before.
    pub fn major_compact(&self, horizon: Version) -> Result<MajorReport> {
        let _merge = self.merge_lock.lock();
        let set = self.table_set();
        let inputs = set.tables.clone();
        if inputs.is_empty() {
            return Ok(MajorReport::default());
        }
        let (base, deltas): (Option<Arc<SSTable>>, Vec<Arc<SSTable>>) = match inputs.last() {
            Some(t) if t.meta.level == Level::Major => {
                (Some(t.clone()), inputs[..inputs.len() - 1].to_vec())
            }
            _ => (None, inputs.clone()),
        };
        let env = self.env(false);
        let all = (Bound::Unbounded, Bound::Unbounded);
        let mut delta = VersionMerge::new(Sources::new(&[], &deltas, &env, &all, Vec::new())?);
        let mut report = MajorReport {
            old_baseline: base.as_ref().map_or(0, |b| b.blocks.len()),
            ..Default::default()
        };
        let kinds = self.schema().kinds.clone();
        let (mbs, created) = self.write_sstable(|w| {
            let mut run = Major {
                w,
                delta: &mut delta,
                env: &env,
                horizon,
                report: &mut report,
                kinds,
            };
            if let Some(base) = &base {
                for mb in &base.blocks {
                    run.base_macroblock(base, mb)?;
                }
            }
            while let Some((k, vs)) = run.delta.next_upto(None)? {
                run.gc(&k, vs)?;
            }
            Ok(())
        })?;
        report.macroblocks = mbs.len();
        let fresh: HashSet<u64> = created.iter().copied().collect();
        for m in &mbs {
            if fresh.contains(&m.id) {
                report.bytes_new_files += m.size_bytes;
            } else {
                report.bytes_reused += m.size_bytes;
            }
        }
        let id = inputs.iter().map(|t| t.meta.id).max().expect("non-empty");
        let out = SSTableMeta {
            id,
            level: Level::Major,
            macroblocks: mbs,
        };
        if let Err(e) = self.replace_tables(&inputs, out, Some(horizon)) {
            self.remove_files(&created);
            return Err(e);
        }
        tracing::info!(tablet = %self.id, ?report, "major compaction done");
        Ok(report)
    }

    /// A major freeze of this tablet (OceanBase's `ALTER SYSTEM MAJOR FREEZE`, for one
    /// tablet): freezes the active MemTable, dumps every frozen one, and merges all SSTables
    /// into a new baseline at the GC horizon. Afterwards a scan of the tablet reads one
    /// SSTable, on the Arrow scan's fast path wherever a key has one version.
    pub fn major_freeze(&self) -> Result<MajorReport> {
        self.freeze();
        while self.dump_frozen()? {}
        self.major_compact(self.gc_horizon())
    }

    /// One round of upkeep: freeze a full MemTable, dump frozen ones, merge minis when
    /// there are enough, and run a major compaction when tombstones pile up in the active
    /// MemTable or the deltas outgrow the baseline. Returns whether anything was done.
    pub fn maintain(&self) -> Result<bool> {
        let mut did = false;
        if self.mem.read().active.bytes() >= self.opts.memtable_freeze_bytes {
            did |= self.freeze();
        }
        while self.dump_frozen()? {
            did = true;
        }
        let minis = self
            .table_set()
            .manifest
            .tables
            .iter()
            .filter(|t| t.level == Level::Mini)
            .count();
        if minis >= self.opts.minor_trigger {
            did |= self.minor_compact()?;
        }
        did |= self.major_when_tombstones_pile_up()?;
        did |= self.major_when_deltas_outgrow_base()?;
        Ok(did)
    }

    /// Freezes the active MemTable, dumps it and runs a major compaction at the GC horizon
    /// when the MemTable holds many tombstones (keys whose newest version is a delete):
    /// at least `tombstone_trigger`, and at least a sixteenth of the baseline's rows, so a
    /// large tablet is not rewritten for a few deletes. A queue-like table (TPC-C's
    /// new-order rows, a job queue) is read at its head and deleted there; until a major
    /// drops them, every read of the head steps over all the deleted keys and the rows they
    /// hide. This is the adaptive compaction OceanBase runs for such "buffer tables", and
    /// what RocksDB's deletion-triggered compaction does. It skips a round while a
    /// transaction that wrote into the MemTable has been open for longer than
    /// [`TOMBSTONE_FREEZE_TXN_AGE`]: the dump would have to wait for it, and roll it back
    /// in the end, for a cleanup that can come later.
    fn major_when_tombstones_pile_up(&self) -> Result<bool> {
        let horizon = self.gc_horizon();
        if horizon == Version::ZERO {
            return Ok(false);
        }
        let (tombstones, all_young) = {
            let mem = self.mem.read();
            let young = mem
                .active
                .undecided()
                .iter()
                .all(|t| t.age() < TOMBSTONE_FREEZE_TXN_AGE);
            (mem.active.tombstones(), young)
        };
        let base_rows: u64 = self
            .table_set()
            .manifest
            .tables
            .iter()
            .filter(|t| t.level == Level::Major)
            .flat_map(|t| &t.macroblocks)
            .map(|m| m.rows)
            .sum();
        let trigger = (self.opts.tombstone_trigger as u64).max(base_rows / 16);
        if (tombstones as u64) < trigger || !all_young {
            return Ok(false);
        }
        tracing::debug!(tablet = %self.id, tombstones, base_rows, "compacting away tombstones");
        self.freeze();
        while self.dump_frozen()? {}
        self.major_compact(horizon)?;
        Ok(true)
    }

    /// Runs a major compaction at the GC horizon when the deltas (mini and minor SSTables)
    /// have grown to a quarter of the baseline (and at least 1 MiB): every range scan merges
    /// them, and old versions in them cost comparisons until a major drops them.
    fn major_when_deltas_outgrow_base(&self) -> Result<bool> {
        const MIN_DELTA_BYTES: u64 = 1 << 20;
        let horizon = self.gc_horizon();
        if horizon == Version::ZERO {
            return Ok(false);
        }
        let (mut base, mut deltas) = (0u64, 0u64);
        for t in &self.table_set().manifest.tables {
            let bytes: u64 = t.macroblocks.iter().map(|m| m.size_bytes).sum();
            if t.level == Level::Major {
                base += bytes;
            } else {
                deltas += bytes;
            }
        }
        if deltas < MIN_DELTA_BYTES.max(base / 4) {
            return Ok(false);
        }
        self.major_compact(horizon)?;
        Ok(true)
    }
}

/// Of one key's versions (newest first), keeps those newer than `horizon` and the newest at
/// or below it: no reader's snapshot is below the horizon, so no reader can see the others.
/// That newest one is dropped too if it is a delete and `whole` says every version of the
/// key is in this merge; a dump or minor merge keeps it, as older SSTables outside the merge
/// may hold versions it hides.
fn thin<R>(
    versions: Vec<(Version, Option<R>)>,
    horizon: Version,
    whole: bool,
) -> impl Iterator<Item = (Version, Option<R>)> {
    let mut kept_old = false;
    versions.into_iter().filter(move |(v, row)| {
        let keep = *v > horizon || (!kept_old && (row.is_some() || !whole));
        kept_old |= *v <= horizon;
        keep
    })
}

/// One major compaction's writing state.
struct Major<'a, 'w> {
    w: &'a mut SSTableWriter<'w>,
    delta: &'a mut VersionMerge,
    env: &'a crate::sstable::table::ReadEnv,
    horizon: Version,
    report: &'a mut MajorReport,
    /// Column kinds of the current schema (copied microblocks must match them).
    kinds: Vec<reef_common::types::PhysicalKind>,
}

impl Major<'_, '_> {
    /// Writes the versions of `key` the compaction keeps: those newer than the horizon and
    /// the newest at or below it (unless that is a delete).
    fn gc(&mut self, key: &[u8], versions: Vec<VersionRow>) -> Result<()> {
        let all = versions.len() as u64;
        let mut written = 0u64;
        for (v, row) in thin(versions, self.horizon, true) {
            self.w.push(key, v, row.as_deref())?;
            written += 1;
        }
        self.report.rows_written += written;
        self.report.versions_dropped += all - written;
        Ok(())
    }

    /// Writes the delta keys below `key`.
    fn drain_below(&mut self, key: &[u8]) -> Result<()> {
        while let Some(k) = self.delta.peek_key()? {
            if k.as_slice() >= key {
                break;
            }
            let (k, vs) = self.delta.next_upto(None)?.expect("peeked");
            self.gc(&k, vs)?;
        }
        Ok(())
    }

    /// Carries one macroblock of the old baseline into the new one: by reference if no
    /// delta key falls in it, by copying its untouched microblocks if few are touched, or
    /// by re-encoding it.
    fn base_macroblock(&mut self, base: &Arc<SSTable>, mb: &OpenMacroblock) -> Result<()> {
        let m = &mb.meta;
        self.drain_below(&m.first_key)?;
        let mut pending = Vec::new();
        while let Some(kv) = self.delta.next_upto(Some(&m.last_key))? {
            pending.push(kv);
        }
        let single = !m.multi_version && !m.has_deletes;
        let copyable = single && mb.kinds == self.kinds;
        if pending.is_empty() && single && (m.size_bytes >= STANDALONE_BYTES_MIN || !copyable) {
            self.w.reuse(m.clone())?;
            self.report.reused += 1;
            return Ok(());
        }
        let touched: Vec<bool> = mb
            .micros
            .iter()
            .map(|mi| {
                let i = pending.partition_point(|(k, _)| k.as_slice() < mi.first_key.as_slice());
                pending
                    .get(i)
                    .is_some_and(|(k, _)| k.as_slice() <= mi.last_key.as_slice())
            })
            .collect();
        let dense = touched.iter().filter(|t| **t).count() * 4 > touched.len();
        let mut pending = pending.into_iter().peekable();
        if !copyable || dense {
            self.report.rewritten += 1;
            self.report.micros_rewritten += mb.micros.len();
            return self.merge_range(base, &m.first_key, &m.last_key, &mut pending);
        }
        if touched.iter().any(|t| *t) {
            self.report.rebuilt += 1;
        } else {
            self.report.coalesced += 1;
        }
        let mut prev: Option<bool> = None;
        for (j, micro) in mb.micros.iter().enumerate() {
            while pending
                .peek()
                .is_some_and(|(k, _)| k.as_slice() < micro.first_key.as_slice())
            {
                let (k, vs) = pending.next().expect("peeked");
                self.gc(&k, vs)?;
            }
            // Cut where changes stop, and where they start if the untouched run before them
            // can stand alone: the next major then reuses the untouched part whole.
            let cut = match (prev, touched[j]) {
                (Some(true), false) => true,
                (Some(false), true) => self.w.current_bytes() >= STANDALONE_BYTES_MIN,
                _ => false,
            };
            if cut {
                self.w.cut()?;
            }
            prev = Some(touched[j]);
            if touched[j] {
                self.report.micros_rewritten += 1;
                self.merge_range(base, &micro.first_key, &micro.last_key, &mut pending)?;
            } else {
                let framed = mb.read_micro_framed(j)?;
                let block = self.env.block(mb, j)?;
                self.w.push_micro_copy(&framed, &block, micro)?;
                self.report.micros_copied += 1;
                self.report.bytes_copied += framed.len() as u64;
            }
        }
        for (k, vs) in pending {
            self.gc(&k, vs)?;
        }
        Ok(())
    }

    /// Merges the base rows with keys in `[first, last]` with the pending delta keys up to
    /// `last`.
    fn merge_range(
        &mut self,
        base: &Arc<SSTable>,
        first: &[u8],
        last: &[u8],
        pending: &mut Pending,
    ) -> Result<()> {
        // Macroblocks of one SSTable do not overlap, so a key range isolates a part of one.
        let only = (
            Bound::Included(first.to_vec()),
            Bound::Included(last.to_vec()),
        );
        let mut old = VersionMerge::new(Sources::new(
            &[],
            std::slice::from_ref(base),
            self.env,
            &only,
            Vec::new(),
        )?);
        loop {
            let kb = old.peek_key()?;
            let kd = pending
                .peek()
                .map(|(k, _)| k.clone())
                .filter(|k| k.as_slice() <= last);
            let (key, mut versions) = match (kb, kd) {
                (None, None) => return Ok(()),
                (Some(b), Some(d)) if b == d => {
                    let (k, mut vs) = pending.next().expect("peeked");
                    vs.extend(old.next_upto(None)?.expect("peeked").1);
                    (k, vs)
                }
                (Some(b), Some(d)) if d < b => pending.next().expect("peeked"),
                (Some(_), _) => old.next_upto(None)?.expect("peeked"),
                (None, Some(_)) => pending.next().expect("peeked"),
            };
            versions.sort_by_key(|v| std::cmp::Reverse(v.0));
            versions.dedup_by(|b, a| a.0 == b.0);
            self.gc(&key, versions)?;
        }
    }
}

/// A thread that keeps registered tablets' MemTables dumped and minis merged.
pub struct BackgroundCompactor {
    shared: Arc<BgShared>,
    handle: Option<JoinHandle<()>>,
}

struct BgShared {
    tablets: Mutex<Vec<Weak<Tablet>>>,
    wake: Condvar,
    wake_mutex: Mutex<bool>,
    stop: AtomicBool,
    horizon: Mutex<Option<HorizonSource>>,
}

/// Where the compactor learns the GC horizon (the oldest snapshot still in use).
pub type HorizonSource = Arc<dyn Fn() -> Version + Send + Sync>;

impl std::fmt::Debug for BackgroundCompactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "BackgroundCompactor({} tablets)",
            self.shared.tablets.lock().len()
        )
    }
}

impl BackgroundCompactor {
    /// Starts the thread; it runs each tablet's upkeep every `interval` or when woken.
    pub fn spawn(interval: Duration) -> BackgroundCompactor {
        let shared = Arc::new(BgShared {
            tablets: Mutex::new(Vec::new()),
            wake: Condvar::new(),
            wake_mutex: Mutex::new(false),
            stop: AtomicBool::new(false),
            horizon: Mutex::new(None),
        });
        let s = shared.clone();
        let handle = std::thread::Builder::new()
            .name("reef-compact".into())
            .spawn(move || loop {
                {
                    let mut woken = s.wake_mutex.lock();
                    if !*woken {
                        s.wake.wait_for(&mut woken, interval);
                    }
                    *woken = false;
                }
                if s.stop.load(Ordering::Acquire) {
                    return;
                }
                let tablets: Vec<Arc<Tablet>> = {
                    let mut list = s.tablets.lock();
                    list.retain(|t| t.strong_count() > 0);
                    list.iter().filter_map(Weak::upgrade).collect()
                };
                let horizon = s.horizon.lock().clone().map(|f| f());
                for t in tablets {
                    if let Some(h) = horizon {
                        t.set_gc_horizon(h);
                    }
                    if let Err(e) = t.maintain() {
                        tracing::error!(tablet = %t.id(), error = %e, "background compaction failed");
                    }
                }
            })
            .expect("spawning the compaction thread");
        BackgroundCompactor {
            shared,
            handle: Some(handle),
        }
    }

    /// Adds a tablet to the upkeep list.
    pub fn register(&self, tablet: &Arc<Tablet>) {
        self.shared.tablets.lock().push(Arc::downgrade(tablet));
    }

    /// Lets each round raise every tablet's GC horizon to what `source` returns; without
    /// one, tablets keep every version until someone sets their horizon.
    pub fn set_horizon_source(&self, source: HorizonSource) {
        *self.shared.horizon.lock() = Some(source);
    }

    /// Runs a round now.
    pub fn wake(&self) {
        *self.shared.wake_mutex.lock() = true;
        self.shared.wake.notify_one();
    }
}

impl Drop for BackgroundCompactor {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.wake();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
