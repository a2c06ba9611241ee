//! The block cache and the row cache, under one memory budget; the column cache of
//! analytical scans, under another.
//!
//! One sharded CLOCK cache (an LRU approximation with O(1) hits: a hit sets a reference bit,
//! eviction sweeps a hand that clears set bits and evicts clear ones) holds two kinds of
//! entries: decoded microblocks keyed by (tablet, macroblock, microblock), and rows keyed by
//! (tablet, SSTable-set generation, primary key), holding the newest version the tablet's
//! SSTables have of that key (or that none has one). SSTables are immutable, so a cached
//! entry is valid until the SSTable set changes, which bumps the generation.
//!
//! A second cache of the same kind holds decoded microblock columns as Arrow arrays, one
//! entry per (tablet, macroblock, microblock) with every column analytical scans have
//! decoded from it. Kept apart, a scan of a large table evicts only other scans' columns,
//! never the blocks and rows transactions read.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow_array::ArrayRef;
use parking_lot::Mutex;
use reef_common::ids::{TabletId, Version};
use xxhash_rust::xxh3::Xxh3Builder;

use crate::sstable::block::Block;

const SHARDS: usize = 16;
/// Accounted bytes of a row entry beyond its key and value.
const ROW_ENTRY_OVERHEAD_BYTES: usize = 96;

/// What a cache entry is keyed by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CacheKey {
    /// A decoded microblock.
    Block {
        /// The tablet.
        tablet: TabletId,
        /// Its macroblock file id.
        macroblock: u64,
        /// Index of the microblock.
        micro: u32,
    },
    /// The decoded columns of a microblock that analytical scans have read so far.
    Columns {
        /// The tablet.
        tablet: TabletId,
        /// Its macroblock file id.
        macroblock: u64,
        /// Index of the microblock.
        micro: u32,
    },
    /// The newest SSTable version of a row.
    Row {
        /// The tablet.
        tablet: TabletId,
        /// Generation of the tablet's SSTable set.
        generation: u64,
        /// The encoded primary key.
        key: Vec<u8>,
    },
}

/// A key goes to the hasher in one write (a row key's bytes in a second): the streaming XXH3
/// hasher pays per write, a derived `Hash` wrote each field apart, and an analytical scan
/// looks up every microblock it reads.
impl std::hash::Hash for CacheKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let (kind, tablet, file, at) = match self {
            CacheKey::Block {
                tablet,
                macroblock,
                micro,
            } => (0u8, tablet.0, *macroblock, u64::from(*micro)),
            CacheKey::Columns {
                tablet,
                macroblock,
                micro,
            } => (1, tablet.0, *macroblock, u64::from(*micro)),
            CacheKey::Row {
                tablet, generation, ..
            } => (2, tablet.0, *generation, 0),
        };
        let mut head = [0u8; 25];
        head[0] = kind;
        head[1..9].copy_from_slice(&tablet.to_le_bytes());
        head[9..17].copy_from_slice(&file.to_le_bytes());
        head[17..25].copy_from_slice(&at.to_le_bytes());
        state.write(&head);
        if let CacheKey::Row { key, .. } = self {
            state.write(key);
        }
    }
}

/// The newest version of a key across a tablet's SSTables: `None` if none has the key.
pub type RowEntry = Option<(Version, Option<Arc<[u8]>>)>;

/// A cached value.
#[derive(Clone, Debug)]
pub enum CacheValue {
    /// A decoded microblock.
    Block(Arc<Block>),
    /// A row cache entry.
    Row(RowEntry),
    /// A microblock's decoded columns by slot, those not read yet `None`.
    Columns(Arc<[Option<ArrayRef>]>),
}

/// Hit, miss and eviction counts of one kind of entry.
#[derive(Debug, Default)]
pub struct KindStats {
    /// Lookups answered from the cache.
    pub hits: AtomicU64,
    /// Lookups that missed.
    pub misses: AtomicU64,
    /// Entries evicted to make room.
    pub evictions: AtomicU64,
}

/// A point-in-time copy of the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Block cache hits.
    pub block_hits: u64,
    /// Block cache misses.
    pub block_misses: u64,
    /// Blocks evicted.
    pub block_evictions: u64,
    /// Row cache hits.
    pub row_hits: u64,
    /// Row cache misses.
    pub row_misses: u64,
    /// Rows evicted.
    pub row_evictions: u64,
    /// Column cache hits.
    pub column_hits: u64,
    /// Column cache misses.
    pub column_misses: u64,
    /// Columns evicted.
    pub column_evictions: u64,
    /// Bytes held now.
    pub bytes: u64,
    /// The budget.
    pub capacity_bytes: u64,
}

struct Slot {
    key: CacheKey,
    value: CacheValue,
    size: usize,
    referenced: bool,
}

struct Shard {
    map: HashMap<CacheKey, usize, Xxh3Builder>,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    hand: usize,
    bytes: usize,
}

/// The engine's cache; share one per node.
pub struct Cache {
    shards: Vec<Mutex<Shard>>,
    shard_bytes_max: usize,
    blocks: KindStats,
    rows: KindStats,
    columns: KindStats,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cache({:?})", self.stats())
    }
}

fn size_of(key: &CacheKey, value: &CacheValue) -> usize {
    let k = match key {
        CacheKey::Block { .. } => 32,
        CacheKey::Columns { .. } => 32,
        CacheKey::Row { key, .. } => key.len() + ROW_ENTRY_OVERHEAD_BYTES,
    };
    k + match value {
        CacheValue::Block(b) => b.mem_bytes,
        CacheValue::Columns(c) => {
            c.len() * std::mem::size_of::<Option<ArrayRef>>()
                + c.iter()
                    .flatten()
                    .map(|a| a.get_array_memory_size())
                    .sum::<usize>()
        }
        CacheValue::Row(Some((_, Some(v)))) => v.len(),
        CacheValue::Row(_) => 0,
    }
}

impl Cache {
    /// A cache holding at most `capacity_bytes` (split evenly across shards).
    pub fn new(capacity_bytes: usize) -> Arc<Cache> {
        let shards = (0..SHARDS)
            .map(|_| {
                Mutex::new(Shard {
                    map: HashMap::with_hasher(Xxh3Builder::new()),
                    slots: Vec::new(),
                    free: Vec::new(),
                    hand: 0,
                    bytes: 0,
                })
            })
            .collect();
        Arc::new(Cache {
            shards,
            shard_bytes_max: capacity_bytes / SHARDS,
            blocks: KindStats::default(),
            rows: KindStats::default(),
            columns: KindStats::default(),
        })
    }

    fn shard(&self, key: &CacheKey) -> &Mutex<Shard> {
        use std::hash::BuildHasher;
        let h = Xxh3Builder::new().hash_one(key);
        &self.shards[(h as usize) % SHARDS]
    }

    fn stats_of(&self, key: &CacheKey) -> &KindStats {
        match key {
            CacheKey::Block { .. } => &self.blocks,
            CacheKey::Columns { .. } => &self.columns,
            CacheKey::Row { .. } => &self.rows,
        }
    }

    /// Looks `key` up, counting a hit or a miss.
    pub fn get(&self, key: &CacheKey) -> Option<CacheValue> {
        let mut shard = self.shard(key).lock();
        let found = shard.map.get(key).copied();
        let stats = self.stats_of(key);
        match found {
            Some(i) => {
                let slot = shard.slots[i].as_mut().expect("mapped slot is live");
                slot.referenced = true;
                let v = slot.value.clone();
                drop(shard);
                stats.hits.fetch_add(1, Ordering::Relaxed);
                Some(v)
            }
            None => {
                drop(shard);
                stats.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Inserts (or replaces) an entry, evicting others as needed. An entry larger than a
    /// shard's budget is not cached.
    pub fn insert(&self, key: CacheKey, value: CacheValue) {
        let size = size_of(&key, &value);
        if size > self.shard_bytes_max {
            return;
        }
        let stats = self.stats_of(&key);
        let mut shard = self.shard(&key).lock();
        if let Some(i) = shard.map.remove(&key) {
            let old = shard.slots[i].take().expect("mapped slot is live");
            shard.bytes -= old.size;
            shard.free.push(i);
        }
        let mut evicted = 0u64;
        while shard.bytes + size > self.shard_bytes_max && !shard.map.is_empty() {
            evicted += shard.evict_one();
        }
        let slot = Slot {
            key: key.clone(),
            value,
            size,
            referenced: false,
        };
        let i = match shard.free.pop() {
            Some(i) => {
                shard.slots[i] = Some(slot);
                i
            }
            None => {
                shard.slots.push(Some(slot));
                shard.slots.len() - 1
            }
        };
        shard.map.insert(key, i);
        shard.bytes += size;
        drop(shard);
        if evicted > 0 {
            stats.evictions.fetch_add(evicted, Ordering::Relaxed);
        }
    }

    /// Counters and occupancy.
    pub fn stats(&self) -> CacheStats {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CacheStats {
            block_hits: l(&self.blocks.hits),
            block_misses: l(&self.blocks.misses),
            block_evictions: l(&self.blocks.evictions),
            row_hits: l(&self.rows.hits),
            row_misses: l(&self.rows.misses),
            row_evictions: l(&self.rows.evictions),
            column_hits: l(&self.columns.hits),
            column_misses: l(&self.columns.misses),
            column_evictions: l(&self.columns.evictions),
            bytes: self.shards.iter().map(|s| s.lock().bytes as u64).sum(),
            capacity_bytes: (self.shard_bytes_max * SHARDS) as u64,
        }
    }
}

impl Shard {
    /// Advances the clock hand until it evicts one entry; returns 1.
    fn evict_one(&mut self) -> u64 {
        loop {
            if self.hand >= self.slots.len() {
                self.hand = 0;
            }
            let i = self.hand;
            self.hand += 1;
            let Some(slot) = self.slots[i].as_mut() else {
                continue;
            };
            if slot.referenced {
                slot.referenced = false;
                continue;
            }
            let slot = self.slots[i].take().expect("checked live");
            self.map.remove(&slot.key);
            self.bytes -= slot.size;
            self.free.push(i);
            return 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row_key(i: u32) -> CacheKey {
        CacheKey::Row {
            tablet: TabletId(1),
            generation: 1,
            key: i.to_be_bytes().to_vec(),
        }
    }

    fn row_val(len: usize) -> CacheValue {
        CacheValue::Row(Some((Version(1), Some(Arc::from(vec![7u8; len])))))
    }

    #[test]
    fn stays_within_budget_and_counts() {
        let cache = Cache::new(16 * 4096);
        for i in 0..1000 {
            cache.insert(row_key(i), row_val(100));
        }
        let s = cache.stats();
        assert!(s.bytes <= s.capacity_bytes, "{s:?}");
        assert!(s.row_evictions > 0);
        assert!(cache.get(&row_key(999)).is_some());
        assert!(cache
            .get(&CacheKey::Row {
                tablet: TabletId(2),
                generation: 1,
                key: vec![]
            })
            .is_none());
        let s = cache.stats();
        assert_eq!((s.row_hits, s.row_misses), (1, 1));
    }

    #[test]
    fn referenced_entries_survive_a_sweep() {
        let cache = Cache::new(16 * 1024);
        // Fill one shard's worth of distinct keys; keep touching key 0.
        for i in 0..2000 {
            cache.insert(row_key(i), row_val(8));
            cache.get(&row_key(0));
        }
        assert!(cache.get(&row_key(0)).is_some(), "a hot entry was evicted");
    }
}
