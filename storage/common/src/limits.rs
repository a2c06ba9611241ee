//! Every bound the storage layer enforces, in one place, with the relationships between them
//! checked at compile time. Names carry their unit last.

/// A MemTable freezes once its accounted memory reaches this size.
pub const MEMTABLE_FREEZE_BYTES: usize = 64 << 20;
/// Writers stall (with a clear reason) while frozen, not yet dumped MemTables of one tablet
/// hold more than this.
pub const FROZEN_MEMTABLES_BYTES_MAX: usize = 4 * MEMTABLE_FREEZE_BYTES;
/// How long a dump waits for transactions with writes in a frozen MemTable to decide before
/// those transactions are aborted (a transaction cannot hold a dump back forever).
pub const FREEZE_TXN_WAIT_MS_MAX: u64 = 30_000;

/// Largest encoded primary key (MySQL limits an index key to 3,072 bytes; the encoding adds
/// markers and escapes).
pub const KEY_BYTES_MAX: usize = 4 << 10;
/// Largest encoded row.
pub const ROW_BYTES_MAX: usize = 16 << 20;
/// Most columns in a table.
pub const COLUMNS_MAX: usize = 4096;

/// Target size of an SSTable microblock (the unit of reading, caching and checksums),
/// counted as the row-format bytes of its rows before columnar encoding: encoded and
/// compressed a microblock takes a third to a half of that. A scan pays per microblock (a
/// read, a checksum, a cache probe, a batch) and a point read that misses the caches
/// decodes one whole microblock; at 64 KiB TPC-H's lineitem has about 440 rows per
/// microblock.
pub const MICROBLOCK_BYTES_TARGET: usize = 64 << 10;
/// Target size of an SSTable macroblock (the unit of reuse in major compaction).
pub const MACROBLOCK_BYTES_TARGET: usize = 2 << 20;
/// Bits per key of the per-macroblock bloom filter (about 1% false positives).
pub const BLOOM_BITS_PER_KEY: usize = 10;

/// Largest record in the log segment store.
pub const LOG_RECORD_BYTES_MAX: usize = 64 << 20;
/// A log segment file is closed once it grows past this size.
pub const LOG_SEGMENT_BYTES_TARGET: u64 = 64 << 20;
/// A log segment grows by zeros written this far ahead of its records, so the fsync after
/// an append flushes data only, not a new file size (measured here: an fdatasync after a
/// 200-byte append costs about 205 µs on a growing file, 155 µs inside written zeros).
pub const LOG_PREALLOC_BYTES: u64 = 1 << 20;
/// Most bytes one group-commit batch gathers before it is written and synced.
pub const LOG_BATCH_BYTES_MAX: usize = 8 << 20;
/// Most appends waiting for the log writer before appenders block.
pub const LOG_QUEUE_APPENDS_MAX: usize = 64 << 10;

/// Most rows one transaction may change (a larger one fails with a clear error).
pub const TXN_WRITES_MAX: usize = 1 << 20;
/// Most redo bytes one transaction may produce: its commit is one log entry.
pub const TXN_REDO_BYTES_MAX: usize = 60 << 20;

/// Default budget shared by the row cache and the block cache.
pub const CACHE_BYTES_DEFAULT: usize = 256 << 20;

/// Default budget of the column cache of analytical scans (decoded columns of microblocks,
/// apart from the row and block caches): TPC-H's lineitem at scale factor 1 decodes to
/// about 1 GiB, and the columns its queries read to less.
pub const OLAP_COLUMN_CACHE_BYTES_DEFAULT: usize = 1 << 30;

const _: () = assert!(MICROBLOCK_BYTES_TARGET < MACROBLOCK_BYTES_TARGET);
const _: () = assert!(FROZEN_MEMTABLES_BYTES_MAX >= MEMTABLE_FREEZE_BYTES);
const _: () = assert!(ROW_BYTES_MAX <= LOG_RECORD_BYTES_MAX);
const _: () = assert!(LOG_RECORD_BYTES_MAX <= LOG_BATCH_BYTES_MAX * 8);
const _: () = assert!(LOG_PREALLOC_BYTES <= LOG_SEGMENT_BYTES_TARGET);
const _: () = assert!(KEY_BYTES_MAX < MICROBLOCK_BYTES_TARGET);
const _: () = assert!(TXN_REDO_BYTES_MAX + (1 << 20) <= LOG_RECORD_BYTES_MAX);
