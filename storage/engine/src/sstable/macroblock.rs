//! Macroblocks: the unit of reuse in major compaction, one file each.
//!
//! Layout: `[microblock frames][bloom frame][index frame][footer]`. The footer is
//! `"REEFMB01" | bloom offset u64 | index offset u64 | index length u32 | crc32c u32` (the CRC
//! covers the footer's first 28 bytes); the bloom and index frames carry their own checksums
//! like every microblock. The index lists each microblock's offset, length, row count, first
//! and last key, and per-column min/max/NULL count for pruning. All versions of a key live in
//! one microblock.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use reef_common::ids::Version;
use reef_common::limits::{BLOOM_BITS_PER_KEY, MACROBLOCK_BYTES_TARGET, MICROBLOCK_BYTES_TARGET};
use reef_common::rowcodec::{get_varint, put_varint};
use reef_common::types::PhysicalKind;
use reef_common::value::Value;

use super::block::{self, Block, BlockBuilder, ColumnStats, Compression};
use super::bloom::{key_hash, Bloom};
use crate::error::{Result, StorageError};
use crate::fs::{FileSystem, ReadFile, WriteFile};
use crate::schema::RowSchema;

const MAGIC: &[u8; 8] = b"REEFMB01";
const FOOTER_BYTES: usize = 32;

/// What the manifest records of a macroblock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MacroblockMeta {
    /// File id: the file is `mb-<id>.blk` in the tablet's directory.
    pub id: u64,
    /// Smallest key.
    pub first_key: Vec<u8>,
    /// Largest key.
    pub last_key: Vec<u8>,
    /// Rows (versions) held.
    pub rows: u64,
    /// Smallest commit version held.
    pub min_version: Version,
    /// Largest commit version held.
    pub max_version: Version,
    /// Whether some key has more than one version (such a block is rewritten, not reused,
    /// by a major compaction, so old versions get dropped).
    pub multi_version: bool,
    /// Whether it holds deletes.
    pub has_deletes: bool,
    /// File size.
    pub size_bytes: u64,
}

/// The file name of macroblock `id`.
pub fn file_name(id: u64) -> String {
    format!("mb-{id:016x}.blk")
}

/// Index entry of one microblock.
#[derive(Clone, Debug)]
pub struct MicroIndex {
    /// Offset of its frame in the file.
    pub offset: u64,
    /// Length of its frame.
    pub len: u32,
    /// Rows held.
    pub rows: u32,
    /// Smallest key.
    pub first_key: Vec<u8>,
    /// Largest key.
    pub last_key: Vec<u8>,
    /// Per column slot.
    pub stats: Vec<ColumnStats>,
}

/// Writes one macroblock file.
pub struct MacroblockWriter {
    file: Arc<dyn WriteFile>,
    path: PathBuf,
    id: u64,
    schema: Arc<RowSchema>,
    compression: Compression,
    offset: u64,
    micros: Vec<MicroIndex>,
    hashes: Vec<u64>,
    current: BlockBuilder,
    current_first: Option<Vec<u8>>,
    last_key: Vec<u8>,
    rows: u64,
    min_version: Version,
    max_version: Version,
    multi_version: bool,
    has_deletes: bool,
}

impl std::fmt::Debug for MacroblockWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MacroblockWriter({})", self.path.display())
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |e| StorageError::io(path, e)
}

impl MacroblockWriter {
    /// Starts macroblock `id` in `dir`.
    pub fn create(
        fs: &dyn FileSystem,
        dir: &Path,
        id: u64,
        schema: Arc<RowSchema>,
        compression: Compression,
    ) -> Result<MacroblockWriter> {
        let path = dir.join(file_name(id));
        let file = fs.create(&path).map_err(io(&path))?;
        Ok(MacroblockWriter {
            file,
            path,
            id,
            current: BlockBuilder::new(schema.clone()),
            schema,
            compression,
            offset: 0,
            micros: Vec::new(),
            hashes: Vec::new(),
            current_first: None,
            last_key: Vec::new(),
            rows: 0,
            min_version: Version::MAX,
            max_version: Version::ZERO,
            multi_version: false,
            has_deletes: false,
        })
    }

    /// Bytes written so far plus the open microblock's estimate.
    pub fn size_estimate(&self) -> u64 {
        self.offset + self.current.raw_bytes() as u64 / 2
    }

    /// Whether the macroblock is full (callers close it at the next key boundary).
    pub fn is_full(&self) -> bool {
        self.size_estimate() >= MACROBLOCK_BYTES_TARGET as u64
    }

    /// The last key written.
    pub fn last_key(&self) -> Option<&[u8]> {
        (self.rows > 0).then_some(self.last_key.as_slice())
    }

    /// Adds a version; rows come in (key ascending, version descending) order.
    pub fn push(&mut self, key: &[u8], version: Version, row: Option<&[u8]>) -> Result<()> {
        let same_key = self.rows > 0 && key == self.last_key.as_slice();
        assert!(
            self.rows == 0 || key > self.last_key.as_slice() || same_key,
            "SSTable rows out of key order"
        );
        if !same_key {
            if self.current.raw_bytes() >= MICROBLOCK_BYTES_TARGET {
                self.flush_micro()?;
            }
            self.hashes.push(key_hash(key));
            self.last_key.clear();
            self.last_key.extend_from_slice(key);
        } else {
            self.multi_version = true;
        }
        if self.current_first.is_none() {
            self.current_first = Some(key.to_vec());
        }
        self.current.push(key, version, row)?;
        self.rows += 1;
        self.min_version = self.min_version.min(version);
        self.max_version = self.max_version.max(version);
        self.has_deletes |= row.is_none();
        Ok(())
    }

    fn flush_micro(&mut self) -> Result<()> {
        if self.current.rows() == 0 {
            return Ok(());
        }
        let builder = std::mem::replace(&mut self.current, BlockBuilder::new(self.schema.clone()));
        let rows = builder.rows() as u32;
        let (raw, stats) = builder.finish();
        let framed = block::frame_micro(&raw, self.compression);
        self.file.write_all(&framed).map_err(io(&self.path))?;
        self.micros.push(MicroIndex {
            offset: self.offset,
            len: framed.len() as u32,
            rows,
            first_key: self
                .current_first
                .take()
                .expect("non-empty block has a first key"),
            last_key: self.last_key.clone(),
            stats,
        });
        self.offset += framed.len() as u64;
        Ok(())
    }

    /// Appends an existing microblock as it is: `framed` are its checksummed bytes, `block`
    /// its decoded form (for the bloom filter and version range), `index` its index entry.
    /// Its keys must sort after everything written so far.
    pub fn push_micro_copy(
        &mut self,
        framed: &[u8],
        block: &Block,
        index: &MicroIndex,
    ) -> Result<()> {
        self.flush_micro()?;
        assert!(
            self.rows == 0 || index.first_key.as_slice() > self.last_key.as_slice(),
            "copied microblock out of key order"
        );
        self.file.write_all(framed).map_err(io(&self.path))?;
        let mut prev: Option<&[u8]> = None;
        for i in 0..block.rows() {
            let k = block.keys.value(i);
            if prev == Some(k) {
                self.multi_version = true;
            } else {
                self.hashes.push(key_hash(k));
            }
            prev = Some(k);
            let v = Version(block.versions[i]);
            self.min_version = self.min_version.min(v);
            self.max_version = self.max_version.max(v);
            self.has_deletes |= block.deleted[i];
        }
        self.micros.push(MicroIndex {
            offset: self.offset,
            len: framed.len() as u32,
            ..index.clone()
        });
        self.offset += framed.len() as u64;
        self.rows += block.rows() as u64;
        self.last_key.clear();
        self.last_key.extend_from_slice(&index.last_key);
        Ok(())
    }

    /// Writes the bloom filter, index and footer and fsyncs the file.
    pub fn finish(mut self) -> Result<MacroblockMeta> {
        self.flush_micro()?;
        assert!(!self.micros.is_empty(), "finishing an empty macroblock");
        let bloom = block::frame(
            &Bloom::build(&self.hashes, BLOOM_BITS_PER_KEY).to_bytes(),
            Compression::None,
        );
        let bloom_off = self.offset;
        let index = block::frame(&encode_index(&self.micros, &self.schema), self.compression);
        let index_off = bloom_off + bloom.len() as u64;
        let mut footer = Vec::with_capacity(FOOTER_BYTES);
        footer.extend_from_slice(MAGIC);
        footer.extend_from_slice(&bloom_off.to_le_bytes());
        footer.extend_from_slice(&index_off.to_le_bytes());
        footer.extend_from_slice(&(index.len() as u32).to_le_bytes());
        let crc = crc32c::crc32c(&footer);
        footer.extend_from_slice(&crc.to_le_bytes());
        for part in [&bloom, &index, &footer] {
            self.file.write_all(part).map_err(io(&self.path))?;
        }
        self.file.sync().map_err(io(&self.path))?;
        Ok(MacroblockMeta {
            id: self.id,
            first_key: self.micros[0].first_key.clone(),
            last_key: self.last_key.clone(),
            rows: self.rows,
            min_version: self.min_version,
            max_version: self.max_version,
            multi_version: self.multi_version,
            has_deletes: self.has_deletes,
            size_bytes: index_off + index.len() as u64 + FOOTER_BYTES as u64,
        })
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn put_stat_value(out: &mut Vec<u8>, v: &Option<Value>) {
    match v {
        Some(Value::Int(i)) => {
            out.push(1);
            out.extend_from_slice(&i.to_le_bytes());
        }
        Some(Value::UInt(u)) => {
            out.push(2);
            out.extend_from_slice(&u.to_le_bytes());
        }
        Some(Value::Double(d)) => {
            out.push(3);
            out.extend_from_slice(&d.to_le_bytes());
        }
        _ => out.push(0),
    }
}

fn kind_code(k: PhysicalKind) -> u8 {
    match k {
        PhysicalKind::Int => 0,
        PhysicalKind::UInt => 1,
        PhysicalKind::Double => 2,
        PhysicalKind::Bytes => 3,
    }
}

fn kind_of(c: u8) -> Option<PhysicalKind> {
    Some(match c {
        0 => PhysicalKind::Int,
        1 => PhysicalKind::UInt,
        2 => PhysicalKind::Double,
        3 => PhysicalKind::Bytes,
        _ => return None,
    })
}

fn encode_index(micros: &[MicroIndex], schema: &RowSchema) -> Vec<u8> {
    let mut out = Vec::new();
    out.push(1);
    put_varint(&mut out, schema.version as u64);
    put_varint(&mut out, schema.kinds.len() as u64);
    out.extend(schema.kinds.iter().map(|k| kind_code(*k)));
    put_varint(&mut out, micros.len() as u64);
    for m in micros {
        put_varint(&mut out, m.offset);
        put_varint(&mut out, m.len as u64);
        put_varint(&mut out, m.rows as u64);
        put_bytes(&mut out, &m.first_key);
        put_bytes(&mut out, &m.last_key);
        for s in &m.stats {
            put_varint(&mut out, s.nulls as u64);
            put_stat_value(&mut out, &s.min);
            put_stat_value(&mut out, &s.max);
        }
    }
    out
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn varint(&mut self) -> std::result::Result<u64, String> {
        get_varint(self.b, &mut self.pos).map_err(|e| e.to_string())
    }
    fn take(&mut self, n: usize) -> std::result::Result<&[u8], String> {
        let end = self.pos.checked_add(n).ok_or("overflow")?;
        let s = self.b.get(self.pos..end).ok_or("index truncated")?;
        self.pos = end;
        Ok(s)
    }
    fn bytes(&mut self) -> std::result::Result<Vec<u8>, String> {
        let n = self.varint()? as usize;
        Ok(self.take(n)?.to_vec())
    }
    fn stat_value(&mut self) -> std::result::Result<Option<Value>, String> {
        let tag = self.take(1)?[0];
        if tag == 0 {
            return Ok(None);
        }
        let b: [u8; 8] = self.take(8)?.try_into().expect("8");
        Ok(Some(match tag {
            1 => Value::Int(i64::from_le_bytes(b)),
            2 => Value::UInt(u64::from_le_bytes(b)),
            3 => Value::Double(f64::from_le_bytes(b)),
            t => return Err(format!("bad stat tag {t}")),
        }))
    }
}

/// The parsed index of a macroblock: schema version, slot kinds, microblocks.
type ParsedIndex = (u32, Vec<PhysicalKind>, Vec<MicroIndex>);

fn decode_index(raw: &[u8]) -> std::result::Result<ParsedIndex, String> {
    let mut c = Cursor { b: raw, pos: 0 };
    if c.take(1)?[0] != 1 {
        return Err("unknown index format".into());
    }
    let version = u32::try_from(c.varint()?).map_err(|_| "schema version out of range")?;
    let nkinds = c.varint()? as usize;
    let kinds = c
        .take(nkinds)?
        .iter()
        .map(|&k| kind_of(k).ok_or("bad column kind"))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let nmicro = c.varint()? as usize;
    let mut micros = Vec::with_capacity(nmicro.min(1 << 16));
    for _ in 0..nmicro {
        let offset = c.varint()?;
        let len = u32::try_from(c.varint()?).map_err(|_| "microblock length out of range")?;
        let rows = u32::try_from(c.varint()?).map_err(|_| "row count out of range")?;
        let first_key = c.bytes()?;
        let last_key = c.bytes()?;
        let mut stats = Vec::with_capacity(nkinds);
        for _ in 0..nkinds {
            let nulls = c.varint()? as u32;
            stats.push(ColumnStats {
                nulls,
                min: c.stat_value()?,
                max: c.stat_value()?,
            });
        }
        micros.push(MicroIndex {
            offset,
            len,
            rows,
            first_key,
            last_key,
            stats,
        });
    }
    Ok((version, kinds, micros))
}

/// An opened macroblock: its index and bloom filter in memory, its file open for reads.
#[derive(Debug)]
pub struct OpenMacroblock {
    /// What the manifest says of it.
    pub meta: MacroblockMeta,
    /// The schema version its rows were written with.
    pub schema_version: u32,
    /// Column slot kinds of its rows.
    pub kinds: Vec<PhysicalKind>,
    /// Its microblocks.
    pub micros: Vec<MicroIndex>,
    bloom: Bloom,
    file: Arc<dyn ReadFile>,
    path: PathBuf,
}

impl OpenMacroblock {
    /// Opens `mb-<id>.blk` in `dir`, verifying footer, bloom and index checksums.
    pub fn open(fs: &dyn FileSystem, dir: &Path, meta: MacroblockMeta) -> Result<OpenMacroblock> {
        let path = dir.join(file_name(meta.id));
        let file = fs.open_read(&path).map_err(io(&path))?;
        let len = file.size_bytes().map_err(io(&path))?;
        let corrupt = |offset: u64, what: String| StorageError::Corrupt {
            path: path.clone(),
            offset,
            what,
        };
        if len < FOOTER_BYTES as u64 || len != meta.size_bytes {
            return Err(corrupt(
                0,
                format!("file is {len} bytes, manifest says {}", meta.size_bytes),
            ));
        }
        let foot_off = len - FOOTER_BYTES as u64;
        let mut footer = [0u8; FOOTER_BYTES];
        file.read_exact_at(&mut footer, foot_off)
            .map_err(io(&path))?;
        let crc = u32::from_le_bytes(footer[28..32].try_into().expect("4"));
        if &footer[..8] != MAGIC || crc32c::crc32c(&footer[..28]) != crc {
            return Err(corrupt(foot_off, "bad macroblock footer".into()));
        }
        let bloom_off = u64::from_le_bytes(footer[8..16].try_into().expect("8"));
        let index_off = u64::from_le_bytes(footer[16..24].try_into().expect("8"));
        let index_len = u32::from_le_bytes(footer[24..28].try_into().expect("4")) as u64;
        if bloom_off > index_off || index_off + index_len != foot_off {
            return Err(corrupt(
                foot_off,
                "macroblock footer offsets are inconsistent".into(),
            ));
        }
        let mut bloom_buf = vec![0u8; (index_off - bloom_off) as usize];
        file.read_exact_at(&mut bloom_buf, bloom_off)
            .map_err(io(&path))?;
        let bloom = block::unframe(&bloom_buf)
            .ok()
            .and_then(|b| Bloom::from_bytes(&b))
            .ok_or_else(|| corrupt(bloom_off, "bloom filter fails its checks".into()))?;
        let mut index_buf = vec![0u8; index_len as usize];
        file.read_exact_at(&mut index_buf, index_off)
            .map_err(io(&path))?;
        let (schema_version, kinds, micros) = block::unframe(&index_buf)
            .and_then(|raw| decode_index(&raw))
            .map_err(|e| corrupt(index_off, format!("index: {e}")))?;
        if micros.iter().any(|m| m.offset + m.len as u64 > bloom_off) {
            return Err(corrupt(
                index_off,
                "microblock extends past the data area".into(),
            ));
        }
        Ok(OpenMacroblock {
            meta,
            schema_version,
            kinds,
            micros,
            bloom,
            file,
            path,
        })
    }

    /// False only if `key` is certainly not here.
    pub fn may_contain(&self, hash: u64) -> bool {
        self.bloom.may_contain(hash)
    }

    /// The microblock that would hold `key`, if any.
    pub fn micro_for(&self, key: &[u8]) -> Option<usize> {
        let i = self.micros.partition_point(|m| m.last_key.as_slice() < key);
        (i < self.micros.len() && self.micros[i].first_key.as_slice() <= key).then_some(i)
    }

    /// The checksummed bytes of microblock `i` as stored (checksum verified).
    pub fn read_micro_framed(&self, i: usize) -> Result<Vec<u8>> {
        let m = &self.micros[i];
        let mut buf = vec![0u8; m.len as usize];
        self.file
            .read_exact_at(&mut buf, m.offset)
            .map_err(io(&self.path))?;
        block::verify_frame(&buf).map_err(|what| StorageError::Corrupt {
            path: self.path.clone(),
            offset: m.offset,
            what,
        })?;
        Ok(buf)
    }

    /// Reads microblock `i` and decodes only the columns at `slots` (each below
    /// `kinds.len()`), verifying its checksum: a scan's read, which skips the columns it
    /// does not project and leaves the block cache alone.
    pub fn read_micro_slots(
        &self,
        i: usize,
        slots: &[usize],
    ) -> Result<(usize, Vec<arrow_array::ArrayRef>)> {
        self.read_decoded(i, |raw| {
            let (n, columns) = Block::decode_slots(raw, &self.kinds, slots)?;
            Ok((n, (n, columns)))
        })
    }

    /// Reads and decodes microblock `i`, verifying its checksum.
    pub fn read_micro(&self, i: usize) -> Result<Block> {
        self.read_decoded(i, |raw| {
            let b = Block::decode(raw, &self.kinds)?;
            Ok((b.rows(), b))
        })
    }

    /// Reads microblock `i`, checks its frame, and decodes the unframed bytes with `decode`
    /// (which also says how many rows it found: they must be as many as the index says).
    fn read_decoded<T>(
        &self,
        i: usize,
        decode: impl FnOnce(&block::MicroBytes) -> std::result::Result<(usize, T), String>,
    ) -> Result<T> {
        let m = &self.micros[i];
        let mut buf = vec![0u8; m.len as usize];
        self.file
            .read_exact_at(&mut buf, m.offset)
            .map_err(io(&self.path))?;
        let corrupt = |what: String| StorageError::Corrupt {
            path: self.path.clone(),
            offset: m.offset,
            what,
        };
        let raw = block::unframe_micro(&buf).map_err(corrupt)?;
        let (rows, out) = decode(&raw).map_err(corrupt)?;
        if rows != m.rows as usize {
            return Err(corrupt(format!(
                "microblock has {rows} rows, index says {}",
                m.rows
            )));
        }
        Ok(out)
    }

    /// Memory held by the index and bloom filter.
    pub fn mem_bytes(&self) -> usize {
        self.bloom.mem_bytes()
            + self
                .micros
                .iter()
                .map(|m| 64 + m.first_key.len() + m.last_key.len() + m.stats.len() * 40)
                .sum::<usize>()
    }
}
