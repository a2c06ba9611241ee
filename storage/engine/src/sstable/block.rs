//! Microblocks: the unit of compression, checksums and caching.
//!
//! A microblock holds consecutive SSTable rows (sorted by key, then version descending; all
//! versions of one key live in one microblock) as columns: the key, the commit version, a
//! delete flag, then one column per table column slot. Framed on disk as
//! `[codec u8][raw_len u32][stored_len u32][crc32c u32][stored bytes]`, the CRC covering the
//! first three fields and the stored bytes. A microblock is compressed column by column
//! (frame codec [`CODEC_COLUMNS`], each column chunk `[codec u8][raw_len u32][bytes]`), so a
//! scan of a few columns decompresses those alone; microblocks written before that were
//! compressed whole (codecs 1 and 2) and still read. Decoded, a microblock is a set of Arrow
//! arrays ([`Block`]): point gets search its key array, OLAP scans slice its column arrays.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, BinaryArray, Float64Array, Int64Array, UInt64Array};
use arrow_buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use reef_common::ids::Version;
use reef_common::rowcodec::{decode_row_with, RowWriter};
use reef_common::types::PhysicalKind;
use reef_common::value::Value;

use super::encoding::{self, DecodeError};
use crate::error::Result;
use crate::schema::RowSchema;
use crate::StorageError;

/// Block compression, chosen per tablet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Compression {
    /// Stored as encoded.
    None,
    /// LZ4 block format (lz4_flex).
    #[default]
    Lz4,
    /// Snappy raw format (snap).
    Snappy,
}

impl Compression {
    fn code(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Lz4 => 1,
            Compression::Snappy => 2,
        }
    }
}

/// Bytes of the frame header before a block's stored bytes.
pub const FRAME_HEADER_BYTES: usize = 13;
/// Most rows one microblock may claim (a larger count is corruption).
pub const BLOCK_ROWS_MAX: usize = 1 << 20;

/// Frames `raw` with compression and a checksum.
pub fn frame(raw: &[u8], compression: Compression) -> Vec<u8> {
    match compress(compression, raw) {
        Some(c) if c.len() < raw.len() => framed(compression.code(), raw.len(), &c),
        _ => framed(0, raw.len(), raw),
    }
}

/// `data` compressed by `compression` (`None` for no compression or a failed one).
fn compress(compression: Compression, data: &[u8]) -> Option<Vec<u8>> {
    match compression {
        Compression::None => None,
        Compression::Lz4 => Some(lz4_flex::compress(data)),
        Compression::Snappy => snap::raw::Encoder::new().compress_vec(data).ok(),
    }
}

/// `[codec][raw_len][stored_len][crc32c][stored]`, the CRC over the first three and `stored`.
fn framed(codec: u8, raw_len: usize, stored: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(FRAME_HEADER_BYTES + stored.len());
    out.push(codec);
    out.extend_from_slice(&(raw_len as u32).to_le_bytes());
    out.extend_from_slice(&(stored.len() as u32).to_le_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&out[..9]), stored);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(stored);
    out
}

/// The stored length a frame header announces (to read the rest of the frame).
pub fn framed_len(header: &[u8]) -> Option<usize> {
    let stored = u32::from_le_bytes(header.get(5..9)?.try_into().ok()?) as usize;
    Some(FRAME_HEADER_BYTES + stored)
}

/// Verifies a frame's checksum without decompressing it (for copying a block as it is).
pub fn verify_frame(framed: &[u8]) -> std::result::Result<(), DecodeError> {
    let (_, _, stored) = checked_stored(framed)?;
    if framed.len() != FRAME_HEADER_BYTES + stored.len() {
        return Err("block frame length mismatch".into());
    }
    Ok(())
}

/// Frame codec of a microblock whose columns are compressed one by one.
pub const CODEC_COLUMNS: u8 = 3;

/// Columns shorter than this stay uncompressed: LZ4 has nothing to find in a few bytes.
const COLUMN_COMPRESS_MIN: usize = 64;

/// Frames an encoded microblock ([`BlockBuilder::finish`]'s bytes), compressing each column
/// on its own so that reading some columns decompresses only those.
pub fn frame_micro(raw: &[u8], compression: Compression) -> Vec<u8> {
    let Some(spans) = column_spans(raw).filter(|_| compression != Compression::None) else {
        return frame(raw, Compression::None);
    };
    let mut stored = Vec::with_capacity(raw.len() / 2 + 64);
    stored.extend_from_slice(&raw[..6]);
    let mut chunk = Vec::new();
    for span in spans {
        let col = &raw[span];
        chunk.clear();
        let compressed = (col.len() >= COLUMN_COMPRESS_MIN)
            .then(|| compress(compression, col))
            .flatten();
        match compressed {
            Some(c) if c.len() + 4 < col.len() => {
                chunk.push(compression.code());
                chunk.extend_from_slice(&(col.len() as u32).to_le_bytes());
                chunk.extend_from_slice(&c);
            }
            _ => {
                chunk.push(0);
                chunk.extend_from_slice(col);
            }
        }
        stored.extend_from_slice(&(chunk.len() as u32).to_le_bytes());
        stored.extend_from_slice(&chunk);
    }
    framed(CODEC_COLUMNS, stored.len(), &stored)
}

/// Where each length-prefixed column of a microblock's bytes is (after the 6-byte header);
/// `None` if the lengths overrun the bytes.
fn column_spans(raw: &[u8]) -> Option<Vec<Range<usize>>> {
    let ncols = u16::from_le_bytes(raw.get(4..6)?.try_into().ok()?) as usize;
    let mut spans = Vec::with_capacity(ncols);
    let mut pos = 6;
    for _ in 0..ncols {
        let len = u32::from_le_bytes(raw.get(pos..pos + 4)?.try_into().ok()?) as usize;
        let end = (pos + 4).checked_add(len).filter(|&e| e <= raw.len())?;
        spans.push(pos + 4..end);
        pos = end;
    }
    Some(spans)
}

/// The bytes of an unframed microblock, checksum verified: the encoded columns, each
/// possibly compressed on its own.
#[derive(Debug)]
pub struct MicroBytes<'a> {
    bytes: Cow<'a, [u8]>,
    per_column: bool,
}

impl MicroBytes<'_> {
    /// Column `span`'s encoded bytes, decompressed if it was stored compressed.
    fn column(&self, span: Range<usize>) -> std::result::Result<Cow<'_, [u8]>, DecodeError> {
        let chunk = &self.bytes[span];
        if !self.per_column {
            return Ok(Cow::Borrowed(chunk));
        }
        let (&codec, body) = chunk.split_first().ok_or("microblock column chunk empty")?;
        if codec == 0 {
            return Ok(Cow::Borrowed(body));
        }
        let (len, data) = body
            .split_first_chunk::<4>()
            .ok_or("microblock column chunk truncated")?;
        let raw_len = u32::from_le_bytes(*len) as usize;
        let raw = decompress(codec, data, raw_len).map_err(|e| format!("column {e}"))?;
        Ok(Cow::Owned(raw))
    }
}

/// Verifies a microblock's frame and opens it: a whole-block codec is decompressed now, a
/// per-column one ([`CODEC_COLUMNS`]) column by column as the columns are read.
pub fn unframe_micro(framed: &[u8]) -> std::result::Result<MicroBytes<'_>, DecodeError> {
    if framed.first() == Some(&CODEC_COLUMNS) {
        return Ok(MicroBytes {
            bytes: Cow::Borrowed(checked_stored(framed)?.2),
            per_column: true,
        });
    }
    Ok(MicroBytes {
        bytes: Cow::Owned(unframe(framed)?),
        per_column: false,
    })
}

/// A frame's codec, raw length and stored bytes, once its length and checksum hold.
fn checked_stored(framed: &[u8]) -> std::result::Result<(u8, usize, &[u8]), DecodeError> {
    if framed.len() < FRAME_HEADER_BYTES {
        return Err("block frame truncated".into());
    }
    let codec = framed[0];
    let raw_len = u32::from_le_bytes(framed[1..5].try_into().expect("4")) as usize;
    let stored_len = u32::from_le_bytes(framed[5..9].try_into().expect("4")) as usize;
    let crc = u32::from_le_bytes(framed[9..13].try_into().expect("4"));
    let stored = framed
        .get(FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + stored_len)
        .ok_or("block truncated")?;
    let want = crc32c::crc32c_append(crc32c::crc32c(&framed[..9]), stored);
    if want != crc {
        return Err(format!(
            "block checksum mismatch (stored {crc:08x}, computed {want:08x})"
        ));
    }
    Ok((codec, raw_len, stored))
}

/// Verifies a frame's checksum and decompresses it (a whole-block codec).
pub fn unframe(framed: &[u8]) -> std::result::Result<Vec<u8>, DecodeError> {
    let (codec, raw_len, stored) = checked_stored(framed)?;
    if codec == 0 {
        return Ok(stored.to_vec());
    }
    decompress(codec, stored, raw_len).map_err(|e| format!("block {e}"))
}

/// `data` decompressed by `codec` (LZ4 or Snappy), which must give `raw_len` bytes.
fn decompress(codec: u8, data: &[u8], raw_len: usize) -> std::result::Result<Vec<u8>, DecodeError> {
    let raw = match codec {
        1 => lz4_flex::decompress(data, raw_len).map_err(|e| format!("lz4: {e}"))?,
        2 => snap::raw::Decoder::new()
            .decompress_vec(data)
            .map_err(|e| format!("snappy: {e}"))?,
        c => return Err(format!("codec {c} is unknown")),
    };
    if raw.len() != raw_len {
        return Err(format!(
            "decompressed to {} bytes where {raw_len} were announced",
            raw.len()
        ));
    }
    Ok(raw)
}

/// Min, max and NULL count of one column in one microblock (min/max for numeric columns).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ColumnStats {
    /// Smallest non-NULL value.
    pub min: Option<Value>,
    /// Largest non-NULL value.
    pub max: Option<Value>,
    /// NULLs in the column.
    pub nulls: u32,
}

enum ColBuilder {
    Int {
        vals: Vec<u64>,
        valid: Vec<bool>,
        unsigned: bool,
    },
    Double {
        vals: Vec<f64>,
        valid: Vec<bool>,
    },
    Bytes {
        offsets: Vec<usize>,
        data: Vec<u8>,
        valid: Vec<bool>,
    },
}

impl ColBuilder {
    fn new(kind: PhysicalKind) -> ColBuilder {
        match kind {
            PhysicalKind::Int => ColBuilder::Int {
                vals: Vec::new(),
                valid: Vec::new(),
                unsigned: false,
            },
            PhysicalKind::UInt => ColBuilder::Int {
                vals: Vec::new(),
                valid: Vec::new(),
                unsigned: true,
            },
            PhysicalKind::Double => ColBuilder::Double {
                vals: Vec::new(),
                valid: Vec::new(),
            },
            PhysicalKind::Bytes => ColBuilder::Bytes {
                offsets: vec![0],
                data: Vec::new(),
                valid: Vec::new(),
            },
        }
    }

    fn push(&mut self, v: &Value) -> Result<()> {
        match (self, v) {
            (ColBuilder::Int { vals, valid, .. }, Value::Null) => {
                vals.push(vals.last().copied().unwrap_or(0));
                valid.push(false);
            }
            (
                ColBuilder::Int {
                    vals,
                    valid,
                    unsigned: false,
                },
                Value::Int(i),
            ) => {
                vals.push((*i as u64) ^ (1 << 63));
                valid.push(true);
            }
            (
                ColBuilder::Int {
                    vals,
                    valid,
                    unsigned: true,
                },
                Value::UInt(u),
            ) => {
                vals.push(*u);
                valid.push(true);
            }
            (ColBuilder::Double { vals, valid }, Value::Null) => {
                vals.push(vals.last().copied().unwrap_or(0.0));
                valid.push(false);
            }
            (ColBuilder::Double { vals, valid }, Value::Double(d)) => {
                vals.push(*d);
                valid.push(true);
            }
            (
                ColBuilder::Bytes {
                    offsets,
                    data,
                    valid,
                },
                Value::Null,
            ) => {
                offsets.push(data.len());
                valid.push(false);
            }
            (
                ColBuilder::Bytes {
                    offsets,
                    data,
                    valid,
                },
                Value::Bytes(b),
            ) => {
                data.extend_from_slice(b);
                offsets.push(data.len());
                valid.push(true);
            }
            (_, v) => {
                return Err(StorageError::Invalid(format!(
                    "value {v:?} does not fit its column"
                )))
            }
        }
        Ok(())
    }

    fn encode(&self, out: &mut Vec<u8>) -> ColumnStats {
        match self {
            ColBuilder::Int {
                vals,
                valid,
                unsigned,
            } => {
                encoding::encode_ints(vals, Some(valid), out);
                let present = vals.iter().zip(valid).filter(|(_, v)| **v).map(|(x, _)| *x);
                let (min, max) =
                    present.fold((None, None), |(lo, hi): (Option<u64>, Option<u64>), x| {
                        (
                            Some(lo.map_or(x, |l| l.min(x))),
                            Some(hi.map_or(x, |h| h.max(x))),
                        )
                    });
                let to_value = |x: u64| {
                    if *unsigned {
                        Value::UInt(x)
                    } else {
                        Value::Int((x ^ (1 << 63)) as i64)
                    }
                };
                ColumnStats {
                    min: min.map(to_value),
                    max: max.map(to_value),
                    nulls: count_nulls(valid),
                }
            }
            ColBuilder::Double { vals, valid } => {
                encoding::encode_doubles(vals, Some(valid), out);
                let present = vals
                    .iter()
                    .zip(valid)
                    .filter(|(x, v)| **v && !x.is_nan())
                    .map(|(x, _)| *x);
                let (min, max) =
                    present.fold((None, None), |(lo, hi): (Option<f64>, Option<f64>), x| {
                        (
                            Some(lo.map_or(x, |l| l.min(x))),
                            Some(hi.map_or(x, |h| h.max(x))),
                        )
                    });
                ColumnStats {
                    min: min.map(Value::Double),
                    max: max.map(Value::Double),
                    nulls: count_nulls(valid),
                }
            }
            ColBuilder::Bytes {
                offsets,
                data,
                valid,
            } => {
                encoding::encode_bytes(offsets, data, Some(valid), out);
                ColumnStats {
                    min: None,
                    max: None,
                    nulls: count_nulls(valid),
                }
            }
        }
    }
}

fn count_nulls(valid: &[bool]) -> u32 {
    valid.iter().filter(|v| !**v).count() as u32
}

/// Accumulates rows of one microblock.
pub struct BlockBuilder {
    schema: Arc<RowSchema>,
    key_offsets: Vec<usize>,
    key_data: Vec<u8>,
    versions: Vec<u64>,
    deleted: Vec<u64>,
    cols: Vec<ColBuilder>,
    raw_bytes: usize,
}

impl std::fmt::Debug for BlockBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "BlockBuilder({} rows, {} bytes)",
            self.rows(),
            self.raw_bytes
        )
    }
}

impl BlockBuilder {
    /// An empty microblock for rows of `schema`.
    pub fn new(schema: Arc<RowSchema>) -> BlockBuilder {
        let cols = schema.kinds.iter().map(|k| ColBuilder::new(*k)).collect();
        BlockBuilder {
            schema,
            key_offsets: vec![0],
            key_data: Vec::new(),
            versions: Vec::new(),
            deleted: Vec::new(),
            cols,
            raw_bytes: 0,
        }
    }

    /// Rows so far.
    pub fn rows(&self) -> usize {
        self.versions.len()
    }

    /// Approximate bytes of the rows so far, before encoding.
    pub fn raw_bytes(&self) -> usize {
        self.raw_bytes
    }

    /// Adds a version: `row` is the encoded row, `None` a delete. Rows must come in (key,
    /// version descending) order.
    pub fn push(&mut self, key: &[u8], version: Version, row: Option<&[u8]>) -> Result<()> {
        self.key_data.extend_from_slice(key);
        self.key_offsets.push(self.key_data.len());
        self.versions.push(version.0);
        self.deleted.push(row.is_none() as u64);
        self.raw_bytes += key.len() + 16 + row.map_or(0, |r| r.len());
        match row {
            None => {
                for c in &mut self.cols {
                    c.push(&Value::Null)?;
                }
            }
            Some(row) => {
                let mut filled = 0;
                let mut err = None;
                let cols = &mut self.cols;
                let header = decode_row_with(row, &self.schema.kinds, |slot, v| {
                    filled = slot + 1;
                    if let Err(e) = cols[slot].push(&v) {
                        err.get_or_insert(e);
                    }
                })?;
                if let Some(e) = err {
                    return Err(e);
                }
                debug_assert_eq!(filled, header.columns);
                for slot in header.columns..self.cols.len() {
                    let d = self
                        .schema
                        .defaults
                        .get(slot)
                        .cloned()
                        .unwrap_or(Value::Null);
                    self.cols[slot].push(&d)?;
                }
            }
        }
        Ok(())
    }

    /// Encodes the microblock; returns its unframed bytes and per-column stats.
    pub fn finish(self) -> (Vec<u8>, Vec<ColumnStats>) {
        let n = self.versions.len();
        let mut out = Vec::with_capacity(self.raw_bytes / 2 + 64);
        out.extend_from_slice(&(n as u32).to_le_bytes());
        out.extend_from_slice(&((3 + self.cols.len()) as u16).to_le_bytes());
        let mut col = Vec::new();
        let put = |col: &mut Vec<u8>, out: &mut Vec<u8>| {
            out.extend_from_slice(&(col.len() as u32).to_le_bytes());
            out.extend_from_slice(col);
            col.clear();
        };
        encoding::encode_bytes(&self.key_offsets, &self.key_data, None, &mut col);
        put(&mut col, &mut out);
        encoding::encode_ints(&self.versions, None, &mut col);
        put(&mut col, &mut out);
        encoding::encode_ints(&self.deleted, None, &mut col);
        put(&mut col, &mut out);
        let mut stats = Vec::with_capacity(self.cols.len());
        for c in &self.cols {
            stats.push(c.encode(&mut col));
            put(&mut col, &mut out);
        }
        (out, stats)
    }
}

/// The pseudo-slot [`Block::decode_slots`] reads the primary keys from: the one after the
/// stored columns.
pub fn keys_slot(kinds: &[PhysicalKind]) -> usize {
    kinds.len()
}

/// Index of the first of `keys[from..]` (ascending) that is `>= key`.
pub fn keys_lower_bound(keys: &BinaryArray, from: usize, key: &[u8]) -> usize {
    let (mut lo, mut hi) = (from, keys.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if keys.value(mid) < key {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// A decoded microblock.
#[derive(Debug, Clone)]
pub struct Block {
    /// Encoded primary keys, ascending (a key repeats once per version).
    pub keys: BinaryArray,
    /// Commit versions, descending within a key.
    pub versions: Vec<u64>,
    /// Whether each row is a delete.
    pub deleted: Vec<bool>,
    /// One array per column slot stored in the block.
    pub columns: Vec<ArrayRef>,
    /// Approximate memory held.
    pub mem_bytes: usize,
}

fn nulls(valid: Option<Vec<bool>>) -> Option<NullBuffer> {
    valid.map(NullBuffer::from)
}

impl Block {
    /// The columns at `slots` of an encoded microblock, in that order, with its row
    /// count; the other columns (and the versions) are stepped over undecoded. A scan that
    /// projects a few columns of a wide table pays for those alone. Slot `kinds.len()`
    /// ([`keys_slot`]) stands for the primary keys, returned as a `BinaryArray`.
    pub fn decode_slots(
        raw: &MicroBytes,
        kinds: &[PhysicalKind],
        slots: &[usize],
    ) -> std::result::Result<(usize, Vec<ArrayRef>), DecodeError> {
        let (n, spans) = header(raw, kinds)?;
        let columns = slots
            .iter()
            .map(|&s| {
                if s == keys_slot(kinds) {
                    let keys =
                        bytes_array(encoding::decode_bytes(&raw.column(spans[0].clone())?, n)?)?;
                    return Ok(Arc::new(keys) as ArrayRef);
                }
                let kind = *kinds.get(s).ok_or_else(|| format!("no slot {s}"))?;
                decode_column(kind, &raw.column(spans[3 + s].clone())?, n)
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok((n, columns))
    }

    /// Decodes a whole microblock: keys, versions, deletes and every column.
    pub fn decode(
        raw: &MicroBytes,
        kinds: &[PhysicalKind],
    ) -> std::result::Result<Block, DecodeError> {
        let (n, spans) = header(raw, kinds)?;
        let col = |i: usize| raw.column(spans[i].clone());
        let keys = bytes_array(encoding::decode_bytes(&col(0)?, n)?)?;
        let (versions, _) = encoding::decode_ints(&col(1)?, n)?;
        let (deleted, _) = encoding::decode_ints(&col(2)?, n)?;
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(kinds.len());
        for (i, kind) in kinds.iter().enumerate() {
            columns.push(decode_column(*kind, &col(3 + i)?, n)?);
        }
        if (1..keys.len()).any(|i| keys.value(i - 1) > keys.value(i)) {
            return Err("microblock keys out of order".into());
        }
        let mem_bytes = keys.get_array_memory_size()
            + columns
                .iter()
                .map(|c| c.get_array_memory_size())
                .sum::<usize>()
            + n * 9
            + 128;
        Ok(Block {
            keys,
            versions,
            deleted: deleted.into_iter().map(|d| d != 0).collect(),
            columns,
            mem_bytes,
        })
    }

    /// Rows in the block.
    pub fn rows(&self) -> usize {
        self.versions.len()
    }

    /// The rows holding versions of `key` (newest first), if any.
    pub fn find(&self, key: &[u8]) -> Option<Range<usize>> {
        let n = self.rows();
        let start = self.lower_bound(key);
        let mut end = start;
        while end < n && self.keys.value(end) == key {
            end += 1;
        }
        (end > start).then_some(start..end)
    }

    /// Index of the first row with key `>= key`.
    pub fn lower_bound(&self, key: &[u8]) -> usize {
        keys_lower_bound(&self.keys, 0, key)
    }

    /// Row `i` re-encoded in the row format (for the OLTP path); `None` for a delete.
    pub fn row(&self, i: usize, schema_version: u32) -> Option<Arc<[u8]>> {
        if self.deleted[i] {
            return None;
        }
        // Straight from the arrays into the row: no `Value` (and no copy of a string) per
        // column in between.
        let bytes: usize = self
            .columns
            .iter()
            .map(|c| match cell_at(c.as_ref(), i) {
                Cell::Bytes(b) => b.len() + 3,
                _ => 10,
            })
            .sum();
        let mut w = RowWriter::new(schema_version, self.columns.len(), bytes);
        for c in &self.columns {
            match cell_at(c.as_ref(), i) {
                Cell::Null => w.null(),
                Cell::Int(v) => w.int(v),
                Cell::UInt(v) => w.uint(v),
                Cell::Double(v) => w.double(v),
                Cell::Bytes(b) => w.bytes(b),
            }
        }
        Some(Arc::from(w.finish()))
    }
}

/// A microblock's row count and where its columns are, checked against the slots it
/// should hold.
fn header(
    raw: &MicroBytes,
    kinds: &[PhysicalKind],
) -> std::result::Result<(usize, Vec<Range<usize>>), DecodeError> {
    let head = raw.bytes.get(..6).ok_or("microblock truncated")?;
    let n = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let ncols = u16::from_le_bytes([head[4], head[5]]) as usize;
    if n > BLOCK_ROWS_MAX || ncols != 3 + kinds.len() {
        return Err(format!(
            "microblock claims {n} rows and {ncols} columns for {} slots",
            kinds.len()
        ));
    }
    let spans = column_spans(&raw.bytes).ok_or("microblock column truncated")?;
    Ok((n, spans))
}

/// One stored column of `n` rows as its physical Arrow array.
fn decode_column(
    kind: PhysicalKind,
    buf: &[u8],
    n: usize,
) -> std::result::Result<ArrayRef, DecodeError> {
    Ok(match kind {
        PhysicalKind::Int => {
            let (v, valid) = encoding::decode_ints(buf, n)?;
            let v: Vec<i64> = v.into_iter().map(|x| (x ^ (1 << 63)) as i64).collect();
            Arc::new(Int64Array::new(ScalarBuffer::from(v), nulls(valid)))
        }
        PhysicalKind::UInt => {
            let (v, valid) = encoding::decode_ints(buf, n)?;
            Arc::new(UInt64Array::new(ScalarBuffer::from(v), nulls(valid)))
        }
        PhysicalKind::Double => {
            let (v, valid) = encoding::decode_doubles(buf, n)?;
            Arc::new(Float64Array::new(ScalarBuffer::from(v), nulls(valid)))
        }
        PhysicalKind::Bytes => Arc::new(bytes_array(encoding::decode_bytes(buf, n)?)?),
    })
}

fn bytes_array(d: encoding::DecodedBytes) -> std::result::Result<BinaryArray, DecodeError> {
    let offsets: Vec<i32> = d
        .offsets
        .iter()
        .map(|&o| i32::try_from(o).map_err(|_| "bytes column exceeds 2 GiB".to_string()))
        .collect::<std::result::Result<_, _>>()?;
    BinaryArray::try_new(
        OffsetBuffer::new(ScalarBuffer::from(offsets)),
        Buffer::from_vec(d.data),
        nulls(d.valid),
    )
    .map_err(|e| e.to_string())
}

/// A value of a column array, borrowed from it.
enum Cell<'a> {
    Null,
    Int(i64),
    UInt(u64),
    Double(f64),
    Bytes(&'a [u8]),
}

/// The value at row `i` of a column array, borrowed.
fn cell_at(col: &dyn Array, i: usize) -> Cell<'_> {
    if col.is_null(i) {
        return Cell::Null;
    }
    let any = col.as_any();
    if let Some(a) = any.downcast_ref::<Int64Array>() {
        Cell::Int(a.value(i))
    } else if let Some(a) = any.downcast_ref::<BinaryArray>() {
        Cell::Bytes(a.value(i))
    } else if let Some(a) = any.downcast_ref::<UInt64Array>() {
        Cell::UInt(a.value(i))
    } else if let Some(a) = any.downcast_ref::<Float64Array>() {
        Cell::Double(a.value(i))
    } else {
        unreachable!("SSTable columns are Int64, UInt64, Float64 or Binary arrays")
    }
}

/// The value at row `i` of a column array.
pub fn value_at(col: &dyn Array, i: usize) -> Value {
    match cell_at(col, i) {
        Cell::Null => Value::Null,
        Cell::Int(v) => Value::Int(v),
        Cell::UInt(v) => Value::UInt(v),
        Cell::Double(v) => Value::Double(v),
        Cell::Bytes(b) => Value::Bytes(b.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reef_common::rowcodec::encode_row;

    #[test]
    fn decoding_some_slots_gives_the_columns_a_full_decode_gives() {
        let kinds = vec![
            PhysicalKind::Int,
            PhysicalKind::Bytes,
            PhysicalKind::Double,
            PhysicalKind::UInt,
        ];
        let mut b = BlockBuilder::new(Arc::new(RowSchema::new(1, kinds.clone())));
        let mut rows = Vec::new();
        for i in 0..100i64 {
            let text = if i % 3 == 0 {
                Value::Null
            } else {
                Value::Bytes(format!("v{i}").into_bytes())
            };
            let row = encode_row(
                1,
                &[
                    Value::Int(i - 50),
                    text,
                    Value::Double(i as f64 / 4.0),
                    Value::UInt(i as u64 * 7),
                ],
            );
            b.push(&i.to_be_bytes(), Version(1), Some(&row)).unwrap();
            rows.push(row);
        }
        let (raw, _) = b.finish();
        let plain = MicroBytes {
            bytes: Cow::Borrowed(&raw),
            per_column: false,
        };
        let full = Block::decode(&plain, &kinds).unwrap();
        assert_eq!(full.rows(), 100);
        // Each row re-encoded from the columns is the row that was pushed.
        for (i, row) in rows.iter().enumerate() {
            assert_eq!(full.row(i, 1).as_deref(), Some(row.as_slice()), "row {i}");
        }
        let (n, some) = Block::decode_slots(&plain, &kinds, &[3, 1, 1, 0]).unwrap();
        assert_eq!(n, 100);
        assert_eq!(&some[0], &full.columns[3]);
        assert_eq!(&some[1], &full.columns[1]);
        assert_eq!(&some[2], &full.columns[1]);
        assert_eq!(&some[3], &full.columns[0]);
        // The slot after the stored ones reads the keys.
        let (_, keys) = Block::decode_slots(&plain, &kinds, &[keys_slot(&kinds)]).unwrap();
        assert_eq!(keys[0].as_ref(), &full.keys as &dyn Array);
        assert!(Block::decode_slots(&plain, &kinds, &[5]).is_err());
        let cut = MicroBytes {
            bytes: Cow::Borrowed(&raw[..raw.len() - 3]),
            per_column: false,
        };
        assert!(Block::decode_slots(&cut, &kinds, &[0]).is_err());

        // Every way a microblock is framed, column by column or whole (as blocks written
        // before per-column compression are), decodes to the same arrays.
        let framings = [
            frame_micro(&raw, Compression::Lz4),
            frame_micro(&raw, Compression::Snappy),
            frame_micro(&raw, Compression::None),
            frame(&raw, Compression::Lz4),
            frame(&raw, Compression::Snappy),
        ];
        assert_eq!(framings[0][0], CODEC_COLUMNS);
        assert_eq!(framings[1][0], CODEC_COLUMNS);
        for framed in &framings {
            verify_frame(framed).unwrap();
            let micro = unframe_micro(framed).unwrap();
            let again = Block::decode(&micro, &kinds).unwrap();
            assert_eq!(again.keys, full.keys);
            assert_eq!(again.versions, full.versions);
            assert_eq!(again.columns, full.columns);
            let (n, some) = Block::decode_slots(&micro, &kinds, &[1, 2]).unwrap();
            assert_eq!(n, 100);
            assert_eq!(some, vec![full.columns[1].clone(), full.columns[2].clone()]);
        }
        // A flipped byte fails the checksum, before anything is decompressed.
        let mut bad = framings[0].clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(unframe_micro(&bad).is_err());
    }
}
