//! Column encodings inside a microblock. The writer tries the encodings that fit a column's
//! values and keeps the smallest; the block is then compressed as a whole (LZ4 or Snappy).
//!
//! Integers are handled as order-preserving `u64`s (signed values with the sign bit
//! flipped), so one set of encodings and one min/max serve both:
//! - `CONST`: every value equal;
//! - `FOR`: frame of reference, `value - min` bit-packed at the width of the range;
//! - `DELTA`: differences from the previous value (zigzag), bit-packed above their minimum;
//!   wins on sorted or slowly changing columns (ids, versions, timestamps);
//! - `RLE`: (value, run length) pairs;
//! - `DICT`: sorted distinct values (FOR-encoded) plus bit-packed indexes.
//!
//! Doubles: `CONST`, `PLAIN`, `DICT`. Byte strings: `CONST`, `PLAIN` (FOR-packed lengths and
//! the bytes), `DICT`, `PREFIX` (shared prefix with the previous value, then the suffix; wins
//! on sorted keys), `PACKED` (a column using at most 64 distinct byte values stores each byte
//! as its index in that alphabet, bit-packed: random letters take 5 bits, digit groups 4;
//! general-purpose block compressors such as LZ4 do no entropy coding and miss this).
//!
//! Every column starts with `[encoding u8][has_nulls u8]` and, if it has NULLs, a validity
//! bitmap (bit set = present). Decoding checks every length: a corrupt column is an error.

use std::collections::HashMap;

use xxhash_rust::xxh3::Xxh3Builder;

use reef_common::rowcodec::{get_varint, put_varint};

/// Hash maps of the encoders' dictionaries. They hold at most one microblock's values (and
/// give up past `DICT_ENTRIES_MAX` distinct ones), so even values crafted to collide cost
/// little, and a fast unkeyed hash (xxh3) serves where SipHash showed up in profiles of
/// MemTable dumps.
type FastMap<K, V> = HashMap<K, V, Xxh3Builder>;

/// Why a column failed to decode.
pub type DecodeError = String;
type DResult<T> = std::result::Result<T, DecodeError>;

const CONST: u8 = 0;
const FOR: u8 = 1;
const DELTA: u8 = 2;
const RLE: u8 = 3;
const DICT: u8 = 4;
const PLAIN: u8 = 5;
const PREFIX: u8 = 6;
const PACKED: u8 = 7;

/// Most distinct values a dictionary may hold.
const DICT_ENTRIES_MAX: usize = 1 << 12;

/// Bits needed to hold `v`.
fn width(v: u64) -> u8 {
    (64 - v.leading_zeros()) as u8
}

/// Appends `vals` bit-packed at `w` bits each, least significant bits first.
pub fn pack(vals: impl Iterator<Item = u64>, w: u8, out: &mut Vec<u8>) {
    if w == 0 {
        return;
    }
    let mut acc: u128 = 0;
    let mut bits: u32 = 0;
    for v in vals {
        acc |= (v as u128) << bits;
        bits += w as u32;
        while bits >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            bits -= 8;
        }
    }
    if bits > 0 {
        out.push(acc as u8);
    }
}

fn packed_len(n: usize, w: u8) -> usize {
    (n * w as usize).div_ceil(8)
}

/// Unpacks `n` values of `w` bits from `buf`, adding `base` (wrapping) to each.
pub fn unpack(buf: &[u8], n: usize, w: u8, base: u64, out: &mut Vec<u64>) -> DResult<usize> {
    if w > 64 {
        return Err(format!("bit width {w}"));
    }
    let need = packed_len(n, w);
    if buf.len() < need {
        return Err(format!("packed data needs {need} bytes, has {}", buf.len()));
    }
    if w == 0 {
        out.extend(std::iter::repeat_n(base, n));
        return Ok(0);
    }
    out.reserve(n);
    let mut done = 0usize;
    if w <= 56 && buf.len() >= 8 {
        // Fast path: one unaligned 8-byte load per value whose 8 bytes are all in `buf`
        // (value i starts in byte i*w/8, which must be at most len - 8), counted first so
        // that the loop is one `extend` of known length.
        let w = w as usize;
        let mask = (1u64 << w) - 1;
        done = n.min((8 * (buf.len() - 7)).div_ceil(w));
        out.extend((0..done).map(|i| {
            let bit = i * w;
            let at = bit / 8;
            let word = u64::from_le_bytes(buf[at..at + 8].try_into().expect("8 bytes"));
            ((word >> (bit % 8)) & mask).wrapping_add(base)
        }));
    }
    // The tail (and widths above 56 bits) one byte at a time.
    let mask: u128 = if w == 64 {
        u64::MAX as u128
    } else {
        (1u128 << w) - 1
    };
    let start_bit = done * w as usize;
    let (mut acc, mut bits, mut pos) = (0u128, 0u32, start_bit / 8);
    if !start_bit.is_multiple_of(8) {
        acc = (buf[pos] >> (start_bit % 8)) as u128;
        bits = 8 - (start_bit % 8) as u32;
        pos += 1;
    }
    for _ in done..n {
        while bits < w as u32 {
            acc |= (buf[pos] as u128) << bits;
            pos += 1;
            bits += 8;
        }
        out.push(((acc & mask) as u64).wrapping_add(base));
        acc >>= w;
        bits -= w as u32;
    }
    Ok(need)
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn u8(&mut self) -> DResult<u8> {
        let b = *self.buf.get(self.pos).ok_or("truncated column")?;
        self.pos += 1;
        Ok(b)
    }
    fn u64(&mut self) -> DResult<u64> {
        let b = self.bytes(8)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }
    fn varint(&mut self) -> DResult<u64> {
        get_varint(self.buf, &mut self.pos).map_err(|e| e.to_string())
    }
    fn bytes(&mut self, n: usize) -> DResult<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or("length overflow")?;
        let b = self.buf.get(self.pos..end).ok_or("truncated column")?;
        self.pos = end;
        Ok(b)
    }
    fn unpack(&mut self, n: usize, w: u8, base: u64, out: &mut Vec<u64>) -> DResult<()> {
        let used = unpack(&self.buf[self.pos..], n, w, base, out)?;
        self.pos += used;
        Ok(())
    }
}

fn write_validity(valid: Option<&[bool]>, out: &mut Vec<u8>) {
    match valid {
        Some(v) if v.iter().any(|b| !b) => {
            out.push(1);
            pack(v.iter().map(|&b| b as u64), 1, out);
        }
        _ => out.push(0),
    }
}

fn read_validity(r: &mut Reader<'_>, n: usize) -> DResult<Option<Vec<bool>>> {
    match r.u8()? {
        0 => Ok(None),
        1 => {
            let mut bits = Vec::with_capacity(n);
            r.unpack(n, 1, 0, &mut bits)?;
            Ok(Some(bits.into_iter().map(|b| b == 1).collect()))
        }
        x => Err(format!("bad validity flag {x}")),
    }
}

/// Encodes order-preserving integers; `valid[i] == false` marks NULL (its value is ignored).
pub fn encode_ints(vals: &[u64], valid: Option<&[bool]>, out: &mut Vec<u8>) {
    let n = vals.len();
    let (mut min, mut max) = (u64::MAX, 0u64);
    for &v in vals {
        min = min.min(v);
        max = max.max(v);
    }
    if n == 0 || min == max {
        out.push(CONST);
        write_validity(valid, out);
        out.extend_from_slice(&(if n == 0 { 0 } else { min }).to_le_bytes());
        return;
    }
    let for_bytes = packed_len(n, width(max - min));
    let deltas: Vec<u64> = vals
        .windows(2)
        .map(|w| zigzag(w[1].wrapping_sub(w[0]) as i64))
        .collect();
    let (dmin, dmax) = deltas
        .iter()
        .fold((u64::MAX, 0), |(a, b), &d| (a.min(d), b.max(d)));
    let delta_bytes = 9 + packed_len(n - 1, width(dmax - dmin));
    let runs = 1 + vals.windows(2).filter(|w| w[0] != w[1]).count();
    let rle_bytes = runs * (width(max) as usize / 7 + 2);
    let mut distinct: Vec<u64> = Vec::new();
    if runs * 2 < n || n > 64 {
        let mut seen: FastMap<u64, ()> = FastMap::default();
        for &v in vals {
            if seen.insert(v, ()).is_none() && seen.len() > DICT_ENTRIES_MAX {
                break;
            }
        }
        if seen.len() <= DICT_ENTRIES_MAX {
            distinct = seen.into_keys().collect();
        }
    }
    let dict_bytes = if distinct.is_empty() {
        usize::MAX
    } else {
        packed_len(distinct.len(), width(max - min))
            + packed_len(n, width(distinct.len() as u64 - 1))
            + 4
    };
    let best = for_bytes.min(delta_bytes).min(rle_bytes).min(dict_bytes);
    if best == rle_bytes {
        out.push(RLE);
        write_validity(valid, out);
        put_varint(out, runs as u64);
        let mut i = 0;
        while i < n {
            let mut j = i + 1;
            while j < n && vals[j] == vals[i] {
                j += 1;
            }
            put_varint(out, vals[i]);
            put_varint(out, (j - i) as u64);
            i = j;
        }
    } else if best == delta_bytes {
        out.push(DELTA);
        write_validity(valid, out);
        out.extend_from_slice(&vals[0].to_le_bytes());
        out.extend_from_slice(&dmin.to_le_bytes());
        let w = width(dmax - dmin);
        out.push(w);
        pack(deltas.iter().map(|d| d - dmin), w, out);
    } else if best == dict_bytes {
        distinct.sort_unstable();
        out.push(DICT);
        write_validity(valid, out);
        put_varint(out, distinct.len() as u64);
        out.extend_from_slice(&min.to_le_bytes());
        let w = width(max - min);
        out.push(w);
        pack(distinct.iter().map(|d| d - min), w, out);
        let index: FastMap<u64, u64> = distinct
            .iter()
            .enumerate()
            .map(|(i, &d)| (d, i as u64))
            .collect();
        let iw = width(distinct.len() as u64 - 1);
        out.push(iw);
        pack(vals.iter().map(|v| index[v]), iw, out);
    } else {
        out.push(FOR);
        write_validity(valid, out);
        out.extend_from_slice(&min.to_le_bytes());
        let w = width(max - min);
        out.push(w);
        pack(vals.iter().map(|v| v - min), w, out);
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Decodes `n` integers; returns the values and the validity (None: no NULLs).
pub fn decode_ints(buf: &[u8], n: usize) -> DResult<(Vec<u64>, Option<Vec<bool>>)> {
    let mut r = Reader { buf, pos: 0 };
    let enc = r.u8()?;
    let valid = read_validity(&mut r, n)?;
    let mut vals = Vec::with_capacity(n);
    match enc {
        CONST => vals.extend(std::iter::repeat_n(r.u64()?, n)),
        FOR => {
            let min = r.u64()?;
            let w = r.u8()?;
            r.unpack(n, w, min, &mut vals)?;
        }
        DELTA => {
            let first = r.u64()?;
            let dmin = r.u64()?;
            let w = r.u8()?;
            let mut deltas = Vec::with_capacity(n);
            if n > 0 {
                r.unpack(n - 1, w, dmin, &mut deltas)?;
                vals.push(first);
                let mut cur = first;
                for d in deltas {
                    cur = cur.wrapping_add(unzigzag(d) as u64);
                    vals.push(cur);
                }
            }
        }
        RLE => {
            let runs = r.varint()?;
            for _ in 0..runs {
                let v = r.varint()?;
                let len = r.varint()? as usize;
                if vals.len() + len > n {
                    return Err("RLE runs exceed the row count".into());
                }
                vals.extend(std::iter::repeat_n(v, len));
            }
        }
        DICT => {
            let count = r.varint()? as usize;
            if count == 0 || count > DICT_ENTRIES_MAX {
                return Err(format!("dictionary of {count} entries"));
            }
            let min = r.u64()?;
            let w = r.u8()?;
            let mut dict = Vec::with_capacity(count);
            r.unpack(count, w, min, &mut dict)?;
            let iw = r.u8()?;
            let mut idx = Vec::with_capacity(n);
            r.unpack(n, iw, 0, &mut idx)?;
            for i in idx {
                vals.push(
                    *dict
                        .get(i as usize)
                        .ok_or("dictionary index out of range")?,
                );
            }
        }
        e => return Err(format!("unknown integer encoding {e}")),
    }
    if vals.len() != n {
        return Err(format!(
            "integer column has {} values for {n} rows",
            vals.len()
        ));
    }
    Ok((vals, valid))
}

/// Encodes doubles.
pub fn encode_doubles(vals: &[f64], valid: Option<&[bool]>, out: &mut Vec<u8>) {
    let bits: Vec<u64> = vals.iter().map(|v| v.to_bits()).collect();
    if bits.windows(2).all(|w| w[0] == w[1]) {
        out.push(CONST);
        write_validity(valid, out);
        out.extend_from_slice(&bits.first().copied().unwrap_or(0).to_le_bytes());
        return;
    }
    let mut distinct: Vec<u64> = bits.clone();
    distinct.sort_unstable();
    distinct.dedup();
    let iw = width(distinct.len() as u64 - 1);
    if distinct.len() <= DICT_ENTRIES_MAX
        && distinct.len() * 8 + packed_len(vals.len(), iw) < vals.len() * 8
    {
        out.push(DICT);
        write_validity(valid, out);
        put_varint(out, distinct.len() as u64);
        for d in &distinct {
            out.extend_from_slice(&d.to_le_bytes());
        }
        out.push(iw);
        let index: FastMap<u64, u64> = distinct
            .iter()
            .enumerate()
            .map(|(i, &d)| (d, i as u64))
            .collect();
        pack(bits.iter().map(|b| index[b]), iw, out);
    } else {
        out.push(PLAIN);
        write_validity(valid, out);
        for b in bits {
            out.extend_from_slice(&b.to_le_bytes());
        }
    }
}

/// Decodes `n` doubles.
pub fn decode_doubles(buf: &[u8], n: usize) -> DResult<(Vec<f64>, Option<Vec<bool>>)> {
    let mut r = Reader { buf, pos: 0 };
    let enc = r.u8()?;
    let valid = read_validity(&mut r, n)?;
    let vals = match enc {
        CONST => vec![f64::from_bits(r.u64()?); n],
        PLAIN => {
            let b = r.bytes(n.checked_mul(8).ok_or("overflow")?)?;
            b.chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8")))
                .collect()
        }
        DICT => {
            let count = r.varint()? as usize;
            if count == 0 || count > DICT_ENTRIES_MAX {
                return Err(format!("dictionary of {count} entries"));
            }
            let dict: Vec<f64> = (0..count)
                .map(|_| r.u64().map(f64::from_bits))
                .collect::<DResult<_>>()?;
            let iw = r.u8()?;
            let mut idx = Vec::with_capacity(n);
            r.unpack(n, iw, 0, &mut idx)?;
            idx.into_iter()
                .map(|i| {
                    dict.get(i as usize)
                        .copied()
                        .ok_or_else(|| "dictionary index out of range".to_string())
                })
                .collect::<DResult<_>>()?
        }
        e => return Err(format!("unknown double encoding {e}")),
    };
    Ok((vals, valid))
}

/// Encodes byte strings given as `offsets` (n+1 entries) into `data`.
pub fn encode_bytes(offsets: &[usize], data: &[u8], valid: Option<&[bool]>, out: &mut Vec<u8>) {
    let n = offsets.len() - 1;
    let val = |i: usize| &data[offsets[i]..offsets[i + 1]];
    if n == 0 || (1..n).all(|i| val(i) == val(0)) {
        out.push(CONST);
        write_validity(valid, out);
        let v = if n == 0 { &[][..] } else { val(0) };
        put_varint(out, v.len() as u64);
        out.extend_from_slice(v);
        return;
    }
    let lens: Vec<u64> = (0..n).map(|i| val(i).len() as u64).collect();
    let plain_bytes = data.len() + packed_len(n, width(*lens.iter().max().unwrap_or(&0)));
    let mut prefix_bytes = 0usize;
    for i in 0..n {
        let shared = if i == 0 {
            0
        } else {
            common_prefix(val(i - 1), val(i))
        };
        prefix_bytes += 2 + val(i).len() - shared;
    }
    let mut dict: FastMap<&[u8], u64> = FastMap::default();
    let mut order: Vec<&[u8]> = Vec::new();
    for i in 0..n {
        if dict.len() > DICT_ENTRIES_MAX {
            break;
        }
        dict.entry(val(i)).or_insert_with(|| {
            order.push(val(i));
            order.len() as u64 - 1
        });
    }
    let dict_bytes = if dict.len() <= DICT_ENTRIES_MAX && dict.len() * 4 < n * 3 {
        order.iter().map(|v| v.len() + 2).sum::<usize>()
            + packed_len(n, width(dict.len() as u64 - 1))
    } else {
        usize::MAX
    };
    let alphabet = alphabet_of(data);
    let packed_bytes = alphabet.as_ref().map_or(usize::MAX, |a| {
        a.len()
            + 2
            + packed_len(n, width(*lens.iter().max().unwrap_or(&0)))
            + packed_len(data.len(), width(a.len() as u64 - 1))
    });
    if packed_bytes < plain_bytes.min(prefix_bytes).min(dict_bytes) {
        let alphabet = alphabet.expect("size computed from it");
        out.push(PACKED);
        write_validity(valid, out);
        encode_ints(&lens, None, out);
        put_varint(out, alphabet.len() as u64);
        out.extend_from_slice(&alphabet);
        let mut index = [0u8; 256];
        for (i, &b) in alphabet.iter().enumerate() {
            index[b as usize] = i as u8;
        }
        pack(
            data.iter().map(|&b| index[b as usize] as u64),
            width(alphabet.len() as u64 - 1),
            out,
        );
    } else if dict_bytes <= plain_bytes && dict_bytes <= prefix_bytes {
        out.push(DICT);
        write_validity(valid, out);
        put_varint(out, order.len() as u64);
        for v in &order {
            put_varint(out, v.len() as u64);
            out.extend_from_slice(v);
        }
        let iw = width(order.len() as u64 - 1);
        out.push(iw);
        pack((0..n).map(|i| dict[val(i)]), iw, out);
    } else if prefix_bytes < plain_bytes {
        out.push(PREFIX);
        write_validity(valid, out);
        for i in 0..n {
            let shared = if i == 0 {
                0
            } else {
                common_prefix(val(i - 1), val(i))
            };
            put_varint(out, shared as u64);
            put_varint(out, (val(i).len() - shared) as u64);
            out.extend_from_slice(&val(i)[shared..]);
        }
    } else {
        out.push(PLAIN);
        write_validity(valid, out);
        encode_ints(&lens, None, out);
        out.extend_from_slice(data);
    }
}

/// The sorted distinct bytes of `data`, if there are between 2 and 64 of them and packing
/// them could save at least a quarter.
fn alphabet_of(data: &[u8]) -> Option<Vec<u8>> {
    if data.len() < 64 {
        return None;
    }
    let mut seen = [false; 256];
    for &b in data {
        seen[b as usize] = true;
    }
    let alphabet: Vec<u8> = (0..=255u8).filter(|&b| seen[b as usize]).collect();
    (2..=64).contains(&alphabet.len()).then_some(alphabet)
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Decoded byte strings: `offsets` (n+1 entries) into `data`.
#[derive(Debug, Default)]
pub struct DecodedBytes {
    /// Start of each value, then the end of the last.
    pub offsets: Vec<usize>,
    /// The values back to back.
    pub data: Vec<u8>,
    /// Validity (None: no NULLs).
    pub valid: Option<Vec<bool>>,
}

/// Decodes `n` byte strings.
pub fn decode_bytes(buf: &[u8], n: usize) -> DResult<DecodedBytes> {
    let mut r = Reader { buf, pos: 0 };
    let enc = r.u8()?;
    let valid = read_validity(&mut r, n)?;
    let mut offsets = Vec::with_capacity(n + 1);
    offsets.push(0);
    let mut data = Vec::new();
    match enc {
        CONST => {
            let len = r.varint()? as usize;
            let v = r.bytes(len)?;
            for _ in 0..n {
                data.extend_from_slice(v);
                offsets.push(data.len());
            }
        }
        DICT => {
            let count = r.varint()? as usize;
            if count == 0 || count > DICT_ENTRIES_MAX {
                return Err(format!("dictionary of {count} entries"));
            }
            let mut dict = Vec::with_capacity(count);
            for _ in 0..count {
                let len = r.varint()? as usize;
                dict.push(r.bytes(len)?);
            }
            let iw = r.u8()?;
            let mut idx = Vec::with_capacity(n);
            r.unpack(n, iw, 0, &mut idx)?;
            for i in idx {
                data.extend_from_slice(
                    dict.get(i as usize)
                        .ok_or("dictionary index out of range")?,
                );
                offsets.push(data.len());
            }
        }
        PREFIX => {
            let mut prev = 0usize;
            for _ in 0..n {
                let shared = r.varint()? as usize;
                let len = r.varint()? as usize;
                let start = data.len();
                if shared > start - prev {
                    return Err("prefix longer than the previous value".into());
                }
                data.extend_from_within(prev..prev + shared);
                data.extend_from_slice(r.bytes(len)?);
                prev = start;
                offsets.push(data.len());
            }
        }
        PACKED => {
            let rest = &buf[r.pos..];
            let (lens, _) = decode_ints(rest, n)?;
            r.pos += encoded_ints_len(rest, n)?;
            let count = r.varint()? as usize;
            if !(2..=64).contains(&count) {
                return Err(format!("alphabet of {count} bytes"));
            }
            let alphabet = r.bytes(count)?.to_vec();
            let total: u64 = lens
                .iter()
                .try_fold(0u64, |a, &l| a.checked_add(l))
                .ok_or("overflow")?;
            let total = usize::try_from(total).map_err(|_| "overflow")?;
            if total > buf.len() * 8 {
                return Err("packed column claims more bytes than it can hold".into());
            }
            let mut idx = Vec::with_capacity(total);
            r.unpack(total, width(count as u64 - 1), 0, &mut idx)?;
            data.reserve(total);
            for i in idx {
                data.push(
                    *alphabet
                        .get(i as usize)
                        .ok_or("alphabet index out of range")?,
                );
            }
            let mut at = 0usize;
            for l in lens {
                at += l as usize;
                offsets.push(at);
            }
        }
        PLAIN => {
            let rest = &buf[r.pos..];
            let (lens, _) = decode_ints(rest, n)?;
            // Re-derive where the length column ended: it is the prefix that decoded.
            let used = encoded_ints_len(rest, n)?;
            r.pos += used;
            let total: u64 = lens
                .iter()
                .try_fold(0u64, |a, &l| a.checked_add(l))
                .ok_or("overflow")?;
            data.extend_from_slice(r.bytes(usize::try_from(total).map_err(|_| "overflow")?)?);
            let mut at = 0usize;
            for l in lens {
                at += l as usize;
                offsets.push(at);
            }
        }
        e => return Err(format!("unknown bytes encoding {e}")),
    }
    if offsets.len() != n + 1 {
        return Err(format!(
            "bytes column has {} values for {n} rows",
            offsets.len() - 1
        ));
    }
    Ok(DecodedBytes {
        offsets,
        data,
        valid,
    })
}

/// The encoded length of an integer column of `n` values at the start of `buf`.
fn encoded_ints_len(buf: &[u8], n: usize) -> DResult<usize> {
    let mut r = Reader { buf, pos: 0 };
    let enc = r.u8()?;
    let _ = read_validity(&mut r, n)?;
    let mut sink = Vec::new();
    match enc {
        CONST => {
            r.u64()?;
        }
        FOR => {
            r.u64()?;
            let w = r.u8()?;
            r.pos += packed_len(n, w);
        }
        DELTA => {
            r.u64()?;
            r.u64()?;
            let w = r.u8()?;
            r.pos += packed_len(n.saturating_sub(1), w);
        }
        RLE => {
            let runs = r.varint()?;
            for _ in 0..runs {
                r.varint()?;
                r.varint()?;
            }
        }
        DICT => {
            let count = r.varint()? as usize;
            r.u64()?;
            let w = r.u8()?;
            r.unpack(count, w, 0, &mut sink)?;
            let iw = r.u8()?;
            r.pos += packed_len(n, iw);
        }
        e => return Err(format!("unknown integer encoding {e}")),
    }
    if r.pos > buf.len() {
        return Err("truncated column".into());
    }
    Ok(r.pos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_ints(vals: Vec<u64>) {
        let mut out = Vec::new();
        encode_ints(&vals, None, &mut out);
        let (back, valid) = decode_ints(&out, vals.len()).unwrap();
        assert_eq!(back, vals);
        assert!(valid.is_none());
    }

    #[test]
    fn integer_encodings_round_trip() {
        round_ints(vec![]);
        round_ints(vec![7; 100]);
        round_ints((0..1000).collect());
        round_ints((0..1000).map(|i| i * 1_000_000_007).collect());
        round_ints((0..1000).map(|i| i / 100).collect());
        round_ints((0..1000).map(|i| (i * 7919) % 13).collect());
        round_ints(vec![u64::MAX, 0, u64::MAX / 2, 1]);
    }

    #[test]
    fn unpack_matches_pack_at_every_width_and_length() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for w in 1..=64u8 {
            for n in [1usize, 7, 8, 9, 63, 64, 65, 200] {
                let vals: Vec<u64> = (0..n)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        if w == 64 {
                            x
                        } else {
                            x & ((1u64 << w) - 1)
                        }
                    })
                    .collect();
                let mut buf = Vec::new();
                pack(vals.iter().copied(), w, &mut buf);
                let mut back = Vec::new();
                assert_eq!(unpack(&buf, n, w, 0, &mut back).unwrap(), buf.len());
                assert_eq!(back, vals, "width {w}, {n} values");
            }
        }
    }

    #[test]
    fn sorted_ids_pick_a_compact_encoding() {
        let vals: Vec<u64> = (1_000_000..1_010_000).collect();
        let mut out = Vec::new();
        encode_ints(&vals, None, &mut out);
        assert!(out.len() < 20, "{} bytes for consecutive ids", out.len());
    }

    /// Values as a bytes column holds them: offsets (one more than values) and data.
    fn flatten<T: AsRef<[u8]>>(vals: &[T]) -> (Vec<usize>, Vec<u8>) {
        let mut offsets = vec![0];
        let mut data = Vec::new();
        for v in vals {
            data.extend_from_slice(v.as_ref());
            offsets.push(data.len());
        }
        (offsets, data)
    }

    #[test]
    fn small_alphabets_are_bit_packed() {
        let mut x = 88172645463325252u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let vals: Vec<String> = (0..300)
            .map(|_| {
                (0..24)
                    .map(|_| (b'a' + (next() % 26) as u8) as char)
                    .collect()
            })
            .collect();
        let (offsets, data) = flatten(&vals);
        let mut out = Vec::new();
        encode_bytes(&offsets, &data, None, &mut out);
        assert_eq!(out[0], PACKED);
        assert!(
            out.len() < data.len() * 5 / 8 + 100,
            "{} for {}",
            out.len(),
            data.len()
        );
        let d = decode_bytes(&out, vals.len()).unwrap();
        assert_eq!(d.data, data);
        assert_eq!(d.offsets, offsets);
    }

    #[test]
    fn bytes_encodings_round_trip_and_prefix_wins_on_sorted_keys() {
        let vals: Vec<Vec<u8>> = (0..500)
            .map(|i| format!("customer-key-{i:08}").into_bytes())
            .collect();
        let (offsets, data) = flatten(&vals);
        let mut out = Vec::new();
        encode_bytes(&offsets, &data, None, &mut out);
        assert!(
            out.len() < data.len() / 2,
            "{} of {}",
            out.len(),
            data.len()
        );
        let d = decode_bytes(&out, vals.len()).unwrap();
        assert_eq!(d.offsets, offsets);
        assert_eq!(d.data, data);
    }

    proptest! {
        #[test]
        fn ints_round_trip(vals in proptest::collection::vec(prop_oneof![any::<u64>(), 0u64..10, 1000u64..1010], 0..300),
                           nulls in proptest::collection::vec(any::<bool>(), 300)) {
            let valid: Vec<bool> = nulls[..vals.len()].to_vec();
            let mut out = Vec::new();
            encode_ints(&vals, Some(&valid), &mut out);
            let (back, v) = decode_ints(&out, vals.len()).unwrap();
            prop_assert_eq!(back, vals.clone());
            if valid.iter().any(|b| !b) {
                prop_assert_eq!(v.unwrap(), valid);
            }
        }

        #[test]
        fn bytes_round_trip(vals in proptest::collection::vec(prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..12),
                "[a-e]{0,30}".prop_map(String::into_bytes),
                Just(b"same".to_vec())], 0..200)) {
            let (offsets, data) = flatten(&vals);
            let mut out = Vec::new();
            encode_bytes(&offsets, &data, None, &mut out);
            let d = decode_bytes(&out, vals.len()).unwrap();
            prop_assert_eq!(d.offsets, offsets);
            prop_assert_eq!(d.data, data);
        }

        #[test]
        fn doubles_round_trip(vals in proptest::collection::vec(prop_oneof![any::<f64>(), Just(1.5)], 0..200)) {
            let mut out = Vec::new();
            encode_doubles(&vals, None, &mut out);
            let (back, _) = decode_doubles(&out, vals.len()).unwrap();
            let a: Vec<u64> = back.iter().map(|v| v.to_bits()).collect();
            let b: Vec<u64> = vals.iter().map(|v| v.to_bits()).collect();
            prop_assert_eq!(a, b);
        }

        #[test]
        fn garbage_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..100), n in 0usize..50) {
            let _ = decode_ints(&buf, n);
            let _ = decode_doubles(&buf, n);
            let _ = decode_bytes(&buf, n);
        }
    }
}
