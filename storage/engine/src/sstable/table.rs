//! An SSTable: an ordered list of macroblocks, with point lookup through bloom filter, sparse
//! index and the block cache, and the writer that cuts a sorted stream into macroblocks.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use reef_common::ids::{TabletId, Version};

use super::block::{Block, Compression};
use super::bloom::key_hash;
use super::macroblock::{MacroblockMeta, MacroblockWriter, OpenMacroblock};
use crate::cache::{Cache, CacheKey, CacheValue};
use crate::error::Result;
use crate::fs::FileSystem;
use crate::schema::RowSchema;

/// Where an SSTable sits in the LSM tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// A dumped MemTable.
    Mini,
    /// Merged minis.
    Minor,
    /// The baseline: everything merged, old versions dropped.
    Major,
}

/// What the manifest records of an SSTable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SSTableMeta {
    /// Unique within the tablet, increasing with age (newer tables have larger ids).
    pub id: u64,
    /// Its level.
    pub level: Level,
    /// Its macroblocks in key order.
    pub macroblocks: Vec<MacroblockMeta>,
}

impl SSTableMeta {
    /// Largest commit version held.
    pub fn max_version(&self) -> Version {
        self.macroblocks
            .iter()
            .map(|m| m.max_version)
            .max()
            .unwrap_or(Version::ZERO)
    }

    /// Rows held.
    pub fn rows(&self) -> u64 {
        self.macroblocks.iter().map(|m| m.rows).sum()
    }

    /// Bytes on disk.
    pub fn size_bytes(&self) -> u64 {
        self.macroblocks.iter().map(|m| m.size_bytes).sum()
    }
}

/// An open SSTable.
#[derive(Debug)]
pub struct SSTable {
    /// Its manifest entry.
    pub meta: SSTableMeta,
    /// Its macroblocks, opened.
    pub blocks: Vec<Arc<OpenMacroblock>>,
}

/// One version of a key as an SSTable holds it: `None` row for a delete.
pub type VersionRow = (Version, Option<Arc<[u8]>>);

/// Context for reading SSTables of one tablet.
#[derive(Clone, Debug)]
pub struct ReadEnv {
    /// The tablet (for cache keys).
    pub tablet: TabletId,
    /// The shared cache.
    pub cache: Arc<Cache>,
    /// Whether blocks read from disk go into the cache (compactions read around it).
    pub fill_cache: bool,
    /// The column cache of analytical scans, if the node keeps one.
    pub columns: Option<Arc<Cache>>,
}

impl ReadEnv {
    /// Microblock `micro` of `mb` if the block cache holds it.
    pub fn cached_block(&self, mb: &OpenMacroblock, micro: usize) -> Option<Arc<Block>> {
        let key = CacheKey::Block {
            tablet: self.tablet,
            macroblock: mb.meta.id,
            micro: micro as u32,
        };
        match self.cache.get(&key) {
            Some(CacheValue::Block(b)) => Some(b),
            _ => None,
        }
    }

    /// Microblock `micro` of `mb`, from the block cache or disk.
    pub fn block(&self, mb: &OpenMacroblock, micro: usize) -> Result<Arc<Block>> {
        let key = CacheKey::Block {
            tablet: self.tablet,
            macroblock: mb.meta.id,
            micro: micro as u32,
        };
        if let Some(CacheValue::Block(b)) = self.cache.get(&key) {
            return Ok(b);
        }
        let b = Arc::new(mb.read_micro(micro)?);
        if self.fill_cache {
            self.cache.insert(key, CacheValue::Block(b.clone()));
        }
        Ok(b)
    }
}

impl SSTable {
    /// Opens every macroblock of `meta` in `dir`.
    pub fn open(fs: &dyn FileSystem, dir: &Path, meta: SSTableMeta) -> Result<SSTable> {
        let blocks = meta
            .macroblocks
            .iter()
            .map(|m| OpenMacroblock::open(fs, dir, m.clone()).map(Arc::new))
            .collect::<Result<Vec<_>>>()?;
        Ok(SSTable { meta, blocks })
    }

    /// Index of the macroblock whose key range could hold `key`.
    pub fn macroblock_for(&self, key: &[u8]) -> Option<usize> {
        let i = self
            .blocks
            .partition_point(|b| b.meta.last_key.as_slice() < key);
        (i < self.blocks.len() && self.blocks[i].meta.first_key.as_slice() <= key).then_some(i)
    }

    /// Every version of `key` held here, newest first.
    pub fn versions(&self, env: &ReadEnv, key: &[u8], hash: u64) -> Result<Vec<VersionRow>> {
        let Some(i) = self.macroblock_for(key) else {
            return Ok(Vec::new());
        };
        let mb = &self.blocks[i];
        if !mb.may_contain(hash) {
            return Ok(Vec::new());
        }
        let Some(m) = mb.micro_for(key) else {
            return Ok(Vec::new());
        };
        let block = env.block(mb, m)?;
        Ok(match block.find(key) {
            None => Vec::new(),
            Some(rows) => rows
                .map(|r| (Version(block.versions[r]), block.row(r, mb.schema_version)))
                .collect(),
        })
    }
}

/// The hash SSTable lookups use for a key (computed once per lookup).
pub fn lookup_hash(key: &[u8]) -> u64 {
    key_hash(key)
}

/// Cuts a stream of (key ascending, version descending) rows into macroblocks, and accepts
/// whole reused macroblocks in between.
pub struct SSTableWriter<'a> {
    fs: &'a dyn FileSystem,
    dir: PathBuf,
    schema: Arc<RowSchema>,
    compression: Compression,
    next_file_id: &'a AtomicU64,
    current: Option<MacroblockWriter>,
    done: Vec<MacroblockMeta>,
    /// Files this writer created (to remove if the compaction fails).
    pub created: Vec<u64>,
}

impl std::fmt::Debug for SSTableWriter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SSTableWriter({} macroblocks)", self.done.len())
    }
}

impl<'a> SSTableWriter<'a> {
    /// A writer creating macroblock files in `dir`, ids from `next_file_id`.
    pub fn new(
        fs: &'a dyn FileSystem,
        dir: &Path,
        schema: Arc<RowSchema>,
        compression: Compression,
        next_file_id: &'a AtomicU64,
    ) -> SSTableWriter<'a> {
        SSTableWriter {
            fs,
            dir: dir.to_path_buf(),
            schema,
            compression,
            next_file_id,
            current: None,
            done: Vec::new(),
            created: Vec::new(),
        }
    }

    /// Adds a version.
    pub fn push(&mut self, key: &[u8], version: Version, row: Option<&[u8]>) -> Result<()> {
        if let Some(cur) = &self.current {
            if cur.is_full() && cur.last_key() != Some(key) {
                self.close_current()?;
            }
        }
        self.ensure_current()?.push(key, version, row)
    }

    fn close_current(&mut self) -> Result<()> {
        if let Some(cur) = self.current.take() {
            self.done.push(cur.finish()?);
        }
        Ok(())
    }

    /// Bytes in the macroblock being written (0 if none is open).
    pub fn current_bytes(&self) -> u64 {
        self.current.as_ref().map_or(0, |c| c.size_estimate())
    }

    /// Closes the macroblock being written, so the next row starts a new one.
    pub fn cut(&mut self) -> Result<()> {
        self.close_current()
    }

    /// Appends an existing microblock as it is (see [`MacroblockWriter::push_micro_copy`]).
    pub fn push_micro_copy(
        &mut self,
        framed: &[u8],
        block: &Block,
        index: &super::macroblock::MicroIndex,
    ) -> Result<()> {
        if self.current.as_ref().is_some_and(|c| c.is_full()) {
            self.close_current()?;
        }
        self.ensure_current()?.push_micro_copy(framed, block, index)
    }

    /// The macroblock being written, opening a new file if none is.
    fn ensure_current(&mut self) -> Result<&mut MacroblockWriter> {
        if self.current.is_none() {
            let id = self.next_file_id.fetch_add(1, Ordering::Relaxed);
            self.created.push(id);
            self.current = Some(MacroblockWriter::create(
                self.fs,
                &self.dir,
                id,
                self.schema.clone(),
                self.compression,
            )?);
        }
        Ok(self.current.as_mut().expect("just opened"))
    }

    /// Appends an existing macroblock unchanged (it must sort after everything written).
    pub fn reuse(&mut self, meta: MacroblockMeta) -> Result<()> {
        self.close_current()?;
        if let Some(last) = self.done.last() {
            assert!(
                last.last_key < meta.first_key,
                "reused macroblock out of key order"
            );
        }
        self.done.push(meta);
        Ok(())
    }

    /// Finishes; returns the macroblocks in key order.
    pub fn finish(mut self) -> Result<Vec<MacroblockMeta>> {
        self.close_current()?;
        Ok(std::mem::take(&mut self.done))
    }
}
