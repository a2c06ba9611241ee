//! Memcomparable primary keys: the bytes of two encoded keys compare as the keys do under
//! their columns' types and collations, and each column's encoding is prefix-free, so
//! composite keys compare column by column. NULL sorts first, as in MySQL's ascending order.
//!
//! Per column: `0x00` for NULL, else `0x01` followed by
//! - signed integers (and packed temporal values): the value with its sign bit flipped,
//!   8 bytes big-endian;
//! - unsigned integers: 8 bytes big-endian;
//! - doubles: the IEEE bits, all flipped when negative and sign bit set when not;
//!   `-0.0` is encoded as `0.0`;
//! - DECIMAL: a sign class (`0x00` below zero, `0x01` zero, `0x02` above), then for non-zero
//!   values the decimal exponent and the significant digits, inverted when negative, then a
//!   terminator that sorts a shorter digit string before a longer one with the same prefix;
//! - character strings: the collation's sort key (not reversible: rows keep the value);
//! - binary strings: the bytes with `0x00` escaped, terminated by `0x00 0x01`.

use crate::collation::Collation;
use crate::types::ColumnType;
use crate::value::{Decimal, Value};
use crate::CodecError;

/// How one key column is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// Signed integers and packed temporal values.
    Int,
    /// Unsigned integers.
    UInt,
    /// FLOAT and DOUBLE.
    Double,
    /// DECIMAL of more than 18 digits, held as canonical text.
    Decimal,
    /// Character strings under a collation.
    String(Collation),
    /// Binary strings.
    Binary,
}

impl KeyKind {
    /// The key encoding of a column type.
    pub fn of(ty: &ColumnType) -> KeyKind {
        match ty {
            ColumnType::Int { unsigned: true, .. } => KeyKind::UInt,
            ColumnType::Int { .. }
            | ColumnType::Date
            | ColumnType::DateTime { .. }
            | ColumnType::Timestamp { .. } => KeyKind::Int,
            // Scaled integers of one scale order as their values.
            ColumnType::Decimal { .. } if ty.scaled_decimal().is_some() => KeyKind::Int,
            ColumnType::Float | ColumnType::Double => KeyKind::Double,
            ColumnType::Decimal { .. } => KeyKind::Decimal,
            ColumnType::String { collation, .. } => KeyKind::String(*collation),
            ColumnType::Binary { .. } => KeyKind::Binary,
        }
    }
}

/// Appends the encoding of `values` (one per kind) to `out`.
pub fn encode_key_into(
    values: &[Value],
    kinds: &[KeyKind],
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    if values.len() != kinds.len() {
        return Err(CodecError::Schema(format!(
            "key has {} values for {} columns",
            values.len(),
            kinds.len()
        )));
    }
    for (v, k) in values.iter().zip(kinds) {
        encode_column(v, *k, out)?;
    }
    Ok(())
}

/// The encoding of `values` (one per kind).
pub fn encode_key(values: &[Value], kinds: &[KeyKind]) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(9 * values.len());
    encode_key_into(values, kinds, &mut out)?;
    Ok(out)
}

fn encode_column(v: &Value, kind: KeyKind, out: &mut Vec<u8>) -> Result<(), CodecError> {
    if v.is_null() {
        out.push(0x00);
        return Ok(());
    }
    out.push(0x01);
    match (kind, v) {
        (KeyKind::Int, Value::Int(i)) => {
            out.extend_from_slice(&((*i as u64) ^ (1 << 63)).to_be_bytes())
        }
        (KeyKind::UInt, Value::UInt(u)) => out.extend_from_slice(&u.to_be_bytes()),
        (KeyKind::Double, Value::Double(d)) => out.extend_from_slice(&double_key(*d).to_be_bytes()),
        (KeyKind::Decimal, Value::Bytes(b)) => {
            let text = std::str::from_utf8(b)
                .map_err(|_| CodecError::Corrupt("DECIMAL key value is not text".into()))?;
            let d = Decimal::parse(text).map_err(|e| CodecError::Corrupt(e.to_string()))?;
            decimal_key_into(&d, out);
        }
        (KeyKind::String(c), Value::Bytes(b)) => c.sort_key_into(b, out),
        (KeyKind::Binary, Value::Bytes(b)) => Collation::Binary.sort_key_into(b, out),
        (k, v) => {
            return Err(CodecError::Schema(format!(
                "key column of kind {k:?} got {v:?}"
            )));
        }
    }
    Ok(())
}

/// The length of the encoded columns of `kinds` at the start of `key` (what follows, such as
/// the primary key after an index entry's columns, is not looked at).
pub fn key_columns_len(key: &[u8], kinds: &[KeyKind]) -> Result<usize, CodecError> {
    let bad = || CodecError::Corrupt("key: truncated or malformed column".into());
    let mut pos = 0;
    for kind in kinds {
        let tag = *key.get(pos).ok_or_else(bad)?;
        pos += 1;
        match tag {
            0x00 => continue,
            0x01 => {}
            _ => return Err(bad()),
        }
        let rest = &key[pos..];
        let len = match kind {
            KeyKind::Int | KeyKind::UInt | KeyKind::Double => 8,
            KeyKind::Decimal => match rest.first().ok_or_else(bad)? {
                0x01 => 1,
                0x00 => {
                    3 + rest
                        .get(3..)
                        .and_then(|d| d.iter().position(|&b| b == 0xFF))
                        .ok_or_else(bad)?
                        + 1
                }
                0x02 => {
                    3 + rest
                        .get(3..)
                        .and_then(|d| d.iter().position(|&b| b == 0x00))
                        .ok_or_else(bad)?
                        + 1
                }
                _ => return Err(bad()),
            },
            KeyKind::String(c) => c.sort_key_len(rest).ok_or_else(bad)?,
            KeyKind::Binary => Collation::Binary.sort_key_len(rest).ok_or_else(bad)?,
        };
        if rest.len() < len {
            return Err(bad());
        }
        pos += len;
    }
    Ok(pos)
}

fn double_key(d: f64) -> u64 {
    let d = if d == 0.0 { 0.0 } else { d };
    let bits = d.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

/// Appends the memcomparable encoding of a decimal.
pub fn decimal_key_into(d: &Decimal, out: &mut Vec<u8>) {
    let (digits, exp) = d.normalized();
    if digits.is_empty() {
        out.push(0x01);
        return;
    }
    let biased = (exp + 0x8000) as u16;
    if d.is_negative() {
        out.push(0x00);
        out.extend_from_slice(&(!biased).to_be_bytes());
        out.extend(digits.iter().map(|&x| 0xFE - x));
        out.push(0xFF);
    } else {
        out.push(0x02);
        out.extend_from_slice(&biased.to_be_bytes());
        out.extend(digits.iter().map(|&x| x + 1));
        out.push(0x00);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc(v: Value, k: KeyKind) -> Vec<u8> {
        encode_key(&[v], &[k]).unwrap()
    }

    #[test]
    fn integers_and_nulls_order() {
        let k = |i| enc(Value::Int(i), KeyKind::Int);
        assert!(enc(Value::Null, KeyKind::Int) < k(i64::MIN));
        assert!(k(-1) < k(0) && k(0) < k(1) && k(1) < k(i64::MAX));
        let u = |i| enc(Value::UInt(i), KeyKind::UInt);
        assert!(u(1) < u(u64::MAX));
    }

    #[test]
    fn composite_keys_compare_column_by_column() {
        let kinds = [KeyKind::String(Collation::Utf8mb4GeneralCi), KeyKind::Int];
        let a = encode_key(&[Value::Bytes(b"ab".to_vec()), Value::Int(9)], &kinds).unwrap();
        let b = encode_key(&[Value::Bytes(b"abc".to_vec()), Value::Int(1)], &kinds).unwrap();
        let c = encode_key(&[Value::Bytes(b"AB ".to_vec()), Value::Int(10)], &kinds).unwrap();
        assert!(a < b);
        assert!(a < c && c < b);
    }

    fn any_column() -> impl Strategy<Value = (Value, KeyKind)> {
        prop_oneof![
            Just((Value::Null, KeyKind::Int)),
            any::<i64>().prop_map(|i| (Value::Int(i), KeyKind::Int)),
            any::<u64>().prop_map(|u| (Value::UInt(u), KeyKind::UInt)),
            any::<f64>().prop_map(|d| (Value::Double(d), KeyKind::Double)),
            "-?[0-9]{1,6}(\\.[0-9]{1,4})?"
                .prop_map(|t| (Value::Bytes(t.into_bytes()), KeyKind::Decimal)),
            "[a-zA-Z \\x00\\t\u{e9}\u{1F600}]{0,40}".prop_map(|t| (
                Value::Bytes(t.into_bytes()),
                KeyKind::String(Collation::Utf8mb4GeneralCi)
            )),
            "[a-z \\x00]{0,30}".prop_map(|t| (
                Value::Bytes(t.into_bytes()),
                KeyKind::String(Collation::Utf8mb4Bin)
            )),
            proptest::collection::vec(any::<u8>(), 0..30)
                .prop_map(|b| (Value::Bytes(b), KeyKind::Binary)),
        ]
    }

    proptest! {
        #[test]
        fn key_columns_len_finds_where_the_columns_end(
            cols in proptest::collection::vec(any_column(), 1..4),
            tail in proptest::collection::vec(any::<u8>(), 0..12),
        ) {
            let (values, kinds): (Vec<Value>, Vec<KeyKind>) = cols.into_iter().unzip();
            let mut key = encode_key(&values, &kinds).unwrap();
            let len = key.len();
            key.extend_from_slice(&tail);
            prop_assert_eq!(key_columns_len(&key, &kinds).unwrap(), len);
            prop_assert!(key_columns_len(&key[..len - 1], &kinds).is_err());
        }
    }

    #[test]
    fn wrong_kind_is_an_error() {
        assert!(encode_key(&[Value::Int(1)], &[KeyKind::Binary]).is_err());
        assert!(encode_key(&[Value::Int(1)], &[]).is_err());
    }

    fn decimal_text() -> impl Strategy<Value = String> {
        (any::<bool>(), "[0-9]{0,12}", "[0-9]{0,6}").prop_map(|(neg, i, f)| {
            let i = if i.is_empty() { "0".to_string() } else { i };
            if f.is_empty() {
                format!("{}{}", if neg { "-" } else { "" }, i)
            } else {
                format!("{}{}.{}", if neg { "-" } else { "" }, i, f)
            }
        })
    }

    proptest! {
        #[test]
        fn decimal_keys_agree_with_decimal_order(a in decimal_text(), b in decimal_text()) {
            let (da, db) = (Decimal::parse(&a).unwrap(), Decimal::parse(&b).unwrap());
            let ka = enc(Value::Bytes(a.clone().into_bytes()), KeyKind::Decimal);
            let kb = enc(Value::Bytes(b.clone().into_bytes()), KeyKind::Decimal);
            prop_assert_eq!(ka.cmp(&kb), da.cmp(&db), "{} vs {}", a, b);
        }

        #[test]
        fn double_keys_agree_with_float_order(a in -1e300f64..1e300, b in -1e300f64..1e300) {
            let ka = enc(Value::Double(a), KeyKind::Double);
            let kb = enc(Value::Double(b), KeyKind::Double);
            prop_assert_eq!(ka.cmp(&kb), a.partial_cmp(&b).unwrap());
        }

        #[test]
        fn int_keys_agree_with_int_order(a: i64, b: i64, x: u8, y: u8) {
            // Two-column keys: the prefix-free first column keeps the second's order intact.
            let kinds = [KeyKind::Int, KeyKind::UInt];
            let ka = encode_key(&[Value::Int(a), Value::UInt(x as u64)], &kinds).unwrap();
            let kb = encode_key(&[Value::Int(b), Value::UInt(y as u64)], &kinds).unwrap();
            prop_assert_eq!(ka.cmp(&kb), (a, x).cmp(&(b, y)));
        }
    }
}
