//! The compact row encoding used in MemTables and redo records.
//!
//! `[format: u8 = 1][schema version: varint][column count: varint]` then one tagged value per
//! column: tag `0` NULL, `1` signed (zigzag varint), `2` unsigned (varint), `3` double (8 bytes
//! little-endian), `4` bytes (varint length, then the bytes). Columns are positional by slot;
//! slots are never reused, so a row written before `ADD COLUMN` simply has fewer columns and
//! the reader fills the rest with their defaults. Decoding checks every length and tag and
//! returns an error on malformed input; it never panics.

use crate::types::PhysicalKind;
use crate::value::Value;
use crate::CodecError;

const FORMAT_V1: u8 = 1;
const TAG_NULL: u8 = 0;
const TAG_INT: u8 = 1;
const TAG_UINT: u8 = 2;
const TAG_DOUBLE: u8 = 3;
const TAG_BYTES: u8 = 4;

/// Appends an unsigned LEB128 varint.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads an unsigned LEB128 varint at `*pos`, advancing it.
pub fn get_varint(buf: &[u8], pos: &mut usize) -> Result<u64, CodecError> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let b = *buf
            .get(*pos)
            .ok_or_else(|| CodecError::Corrupt("varint truncated".into()))?;
        *pos += 1;
        v |= ((b & 0x7F) as u64) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(CodecError::Corrupt("varint too long".into()))
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Encodes a row written under `schema_version`.
pub fn encode_row(schema_version: u32, values: &[Value]) -> Vec<u8> {
    let mut w = RowWriter::new(schema_version, values.len(), values.len() * 6);
    for v in values {
        match v {
            Value::Null => w.null(),
            Value::Int(i) => w.int(*i),
            Value::UInt(u) => w.uint(*u),
            Value::Double(d) => w.double(*d),
            Value::Bytes(b) => w.bytes(b),
        }
    }
    w.finish()
}

/// Writes a row value by value, for a caller whose values are not [`Value`]s (an SSTable's
/// columns re-encoding one row): the caller pushes exactly the announced number of columns.
#[derive(Debug)]
pub struct RowWriter {
    out: Vec<u8>,
}

impl RowWriter {
    /// A row of `columns` values under `schema_version`, with room for `value_bytes` bytes
    /// of values.
    pub fn new(schema_version: u32, columns: usize, value_bytes: usize) -> RowWriter {
        let mut out = Vec::with_capacity(4 + value_bytes);
        out.push(FORMAT_V1);
        put_varint(&mut out, schema_version as u64);
        put_varint(&mut out, columns as u64);
        RowWriter { out }
    }

    pub fn null(&mut self) {
        self.out.push(TAG_NULL);
    }

    pub fn int(&mut self, i: i64) {
        self.out.push(TAG_INT);
        put_varint(&mut self.out, zigzag(i));
    }

    pub fn uint(&mut self, u: u64) {
        self.out.push(TAG_UINT);
        put_varint(&mut self.out, u);
    }

    pub fn double(&mut self, d: f64) {
        self.out.push(TAG_DOUBLE);
        self.out.extend_from_slice(&d.to_le_bytes());
    }

    pub fn bytes(&mut self, b: &[u8]) {
        self.out.push(TAG_BYTES);
        put_varint(&mut self.out, b.len() as u64);
        self.out.extend_from_slice(b);
    }

    /// The encoded row.
    pub fn finish(self) -> Vec<u8> {
        self.out
    }
}

/// A decoded row header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowHeader {
    /// The schema version the row was written under.
    pub schema_version: u32,
    /// How many columns the row carries.
    pub columns: usize,
}

/// Decodes a row against the current schema's physical kinds; columns the row does not carry
/// (added after it was written) take `defaults[i]`.
pub fn decode_row(
    buf: &[u8],
    kinds: &[PhysicalKind],
    defaults: &[Value],
) -> Result<Vec<Value>, CodecError> {
    let mut out = Vec::with_capacity(kinds.len());
    let header = decode_row_with(buf, kinds, |_, v| out.push(v))?;
    for d in defaults
        .iter()
        .skip(header.columns)
        .take(kinds.len() - header.columns)
    {
        out.push(d.clone());
    }
    if out.len() != kinds.len() {
        return Err(CodecError::Schema(format!(
            "row has {} columns, schema {} and {} defaults",
            header.columns,
            kinds.len(),
            defaults.len()
        )));
    }
    Ok(out)
}

/// Decodes a row and hands each stored column to `f(slot, value)`.
pub fn decode_row_with(
    buf: &[u8],
    kinds: &[PhysicalKind],
    f: impl FnMut(usize, Value),
) -> Result<RowHeader, CodecError> {
    decode_row_wanted(buf, kinds, None, f)
}

/// Decodes a row, handing `f(slot, value)` only the stored columns `wanted[slot]` asks for:
/// the others are checked and stepped over without building their values (a scan that
/// projects three columns of a wide row does not copy the other strings).
pub fn decode_row_wanted(
    buf: &[u8],
    kinds: &[PhysicalKind],
    wanted: Option<&[bool]>,
    mut f: impl FnMut(usize, Value),
) -> Result<RowHeader, CodecError> {
    let corrupt = |what: &str| CodecError::Corrupt(format!("row: {what}"));
    if buf.first() != Some(&FORMAT_V1) {
        return Err(corrupt("unknown format"));
    }
    let mut pos = 1;
    let schema_version = u32::try_from(get_varint(buf, &mut pos)?)
        .map_err(|_| corrupt("schema version out of range"))?;
    let columns = get_varint(buf, &mut pos)? as usize;
    if columns > kinds.len() {
        return Err(CodecError::Schema(format!(
            "row has {columns} columns but the schema has {}",
            kinds.len()
        )));
    }
    for (slot, kind) in kinds.iter().enumerate().take(columns) {
        let want = wanted.is_none_or(|w| w.get(slot).copied().unwrap_or(false));
        let tag = *buf.get(pos).ok_or_else(|| corrupt("truncated"))?;
        pos += 1;
        let v = match (tag, kind) {
            (TAG_NULL, _) => Value::Null,
            (TAG_INT, PhysicalKind::Int) => Value::Int(unzigzag(get_varint(buf, &mut pos)?)),
            (TAG_UINT, PhysicalKind::UInt) => Value::UInt(get_varint(buf, &mut pos)?),
            (TAG_DOUBLE, PhysicalKind::Double) => {
                let b = buf
                    .get(pos..pos + 8)
                    .ok_or_else(|| corrupt("truncated double"))?;
                pos += 8;
                Value::Double(f64::from_le_bytes(b.try_into().expect("8 bytes")))
            }
            (TAG_BYTES, PhysicalKind::Bytes) => {
                let len = get_varint(buf, &mut pos)? as usize;
                let end = pos
                    .checked_add(len)
                    .ok_or_else(|| corrupt("length overflow"))?;
                let b = buf
                    .get(pos..end)
                    .ok_or_else(|| corrupt("truncated bytes"))?;
                pos = end;
                if !want {
                    continue;
                }
                Value::Bytes(b.to_vec())
            }
            (tag, kind) => {
                return Err(corrupt(&format!("tag {tag} in a column of kind {kind:?}")));
            }
        };
        if want {
            f(slot, v);
        }
    }
    if pos != buf.len() {
        return Err(corrupt("trailing bytes"));
    }
    Ok(RowHeader {
        schema_version,
        columns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KINDS: [PhysicalKind; 4] = [
        PhysicalKind::Int,
        PhysicalKind::UInt,
        PhysicalKind::Double,
        PhysicalKind::Bytes,
    ];

    #[test]
    fn wanted_columns_only_are_handed_over_and_bad_input_still_fails() {
        let row = encode_row(
            3,
            &[
                Value::Int(-5),
                Value::UInt(7),
                Value::Double(2.5),
                Value::Bytes(b"skip me".to_vec()),
            ],
        );
        let mut got = Vec::new();
        let header = decode_row_wanted(&row, &KINDS, Some(&[false, true, false, false]), |s, v| {
            got.push((s, v))
        })
        .unwrap();
        assert_eq!(got, vec![(1, Value::UInt(7))]);
        assert_eq!(header.columns, 4);
        let mut truncated = row.clone();
        truncated.pop();
        assert!(decode_row_wanted(
            &truncated,
            &KINDS,
            Some(&[true, false, false, false]),
            |_, _| {}
        )
        .is_err());
    }

    #[test]
    fn added_columns_read_as_defaults() {
        let old = encode_row(1, &[Value::Int(-5), Value::UInt(7)]);
        let defaults = [
            Value::Null,
            Value::Null,
            Value::Double(1.5),
            Value::Bytes(b"x".to_vec()),
        ];
        let row = decode_row(&old, &KINDS, &defaults).unwrap();
        assert_eq!(row[0], Value::Int(-5));
        assert_eq!(row[2], Value::Double(1.5));
        assert_eq!(row[3], Value::Bytes(b"x".to_vec()));
    }

    #[test]
    fn mismatched_kinds_are_errors() {
        let row = encode_row(1, &[Value::UInt(1)]);
        assert!(decode_row(&row, &[PhysicalKind::Int], &[Value::Null]).is_err());
    }

    fn value_of(kind: PhysicalKind) -> BoxedStrategy<Value> {
        let v = match kind {
            PhysicalKind::Int => any::<i64>().prop_map(Value::Int).boxed(),
            PhysicalKind::UInt => any::<u64>().prop_map(Value::UInt).boxed(),
            PhysicalKind::Double => any::<f64>().prop_map(Value::Double).boxed(),
            PhysicalKind::Bytes => proptest::collection::vec(any::<u8>(), 0..40)
                .prop_map(Value::Bytes)
                .boxed(),
        };
        prop_oneof![1 => Just(Value::Null), 4 => v].boxed()
    }

    proptest! {
        #[test]
        fn rows_round_trip(a in value_of(PhysicalKind::Int), b in value_of(PhysicalKind::UInt),
                           c in value_of(PhysicalKind::Double), d in value_of(PhysicalKind::Bytes)) {
            let values = vec![a, b, c, d];
            let enc = encode_row(3, &values);
            let back = decode_row(&enc, &KINDS, &[]).unwrap();
            // Compare doubles bitwise so NaN round-trips too.
            prop_assert_eq!(format!("{:?}", back), format!("{:?}", values));
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_row(&bytes, &KINDS, &[Value::Null, Value::Null, Value::Null, Value::Null]);
        }
    }
}
