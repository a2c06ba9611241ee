//! SQL values with MySQL's comparison rules, and conversions to and from stored values.

use std::cmp::Ordering;

use reef_common::collation::Collation;
use reef_common::error::{self, ErrorCode};
use reef_common::types::{ColumnType, DECIMAL_INT_DIGITS_MAX};
use reef_common::value::{DateTime, Decimal, Value};

use crate::SqlError;

/// A value during evaluation.
#[derive(Clone, Debug, PartialEq)]
pub enum Datum {
    /// NULL.
    Null,
    /// Signed integer.
    Int(i64),
    /// Unsigned integer.
    UInt(u64),
    /// FLOAT / DOUBLE.
    Double(f64),
    /// Exact decimal.
    Decimal(Decimal),
    /// A character string (UTF-8) under a collation.
    Str(Vec<u8>, Collation),
    /// A binary string.
    Bytes(Vec<u8>),
    /// DATE (time zero).
    Date(DateTime),
    /// DATETIME / TIMESTAMP.
    DateTime(DateTime),
}

fn err(code: ErrorCode, msg: impl Into<String>) -> SqlError {
    SqlError::new(code, msg)
}

impl Datum {
    /// A UTF-8 string under the default collation.
    pub fn str(s: impl Into<String>) -> Datum {
        Datum::Str(s.into().into_bytes(), Collation::default())
    }

    /// Whether this is NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Datum::Null)
    }

    /// SQL truth: NULL is unknown (`None`).
    pub fn truth(&self) -> Option<bool> {
        match self {
            Datum::Null => None,
            Datum::Int(i) => Some(*i != 0),
            Datum::UInt(u) => Some(*u != 0),
            Datum::Double(d) => Some(*d != 0.0),
            Datum::Decimal(d) => Some(!d.is_zero()),
            Datum::Str(s, _) | Datum::Bytes(s) => Some(parse_number_prefix(s) != 0.0),
            Datum::Date(_) | Datum::DateTime(_) => Some(true),
        }
    }

    /// A boolean as MySQL returns one.
    pub fn bool(b: Option<bool>) -> Datum {
        match b {
            None => Datum::Null,
            Some(b) => Datum::Int(b as i64),
        }
    }

    fn is_numeric(&self) -> bool {
        matches!(
            self,
            Datum::Int(_) | Datum::UInt(_) | Datum::Double(_) | Datum::Decimal(_)
        )
    }

    /// The value of an integer datum (signed or unsigned), exactly; `None` for other kinds.
    pub fn as_exact_int(&self) -> Option<i128> {
        match self {
            Datum::Int(i) => Some(*i as i128),
            Datum::UInt(u) => Some(*u as i128),
            _ => None,
        }
    }

    /// The value as a double (strings by their numeric prefix, as MySQL does).
    pub fn as_f64(&self) -> f64 {
        match self {
            Datum::Null => 0.0,
            Datum::Int(i) => *i as f64,
            Datum::UInt(u) => *u as f64,
            Datum::Double(d) => *d,
            Datum::Decimal(d) => d.to_string().parse().unwrap_or(0.0),
            Datum::Str(s, _) | Datum::Bytes(s) => parse_number_prefix(s),
            // As MySQL reads a temporal value in arithmetic: its digits.
            Datum::Date(d) => d.date_number() as f64,
            Datum::DateTime(d) => d.datetime_number() as f64 + d.micro as f64 / 1e6,
        }
    }

    /// The value as text, as MySQL prints it.
    pub fn to_text(&self) -> Option<String> {
        Some(match self {
            Datum::Null => return None,
            Datum::Int(i) => i.to_string(),
            Datum::UInt(u) => u.to_string(),
            Datum::Double(d) => reef_mysql_format_double(*d),
            Datum::Decimal(d) => d.to_string(),
            Datum::Str(s, _) | Datum::Bytes(s) => String::from_utf8_lossy(s).into_owned(),
            Datum::Date(dt) => dt.date_string(),
            Datum::DateTime(dt) => dt.datetime_string(if dt.micro != 0 { 6 } else { 0 }),
        })
    }

    /// Compares under MySQL's rules; `None` if either side is NULL.
    pub fn compare(&self, other: &Datum) -> Option<Ordering> {
        use Datum::*;
        Some(match (self, other) {
            (Null, _) | (_, Null) => return None,
            (Int(a), Int(b)) => a.cmp(b),
            (UInt(a), UInt(b)) => a.cmp(b),
            (Int(a), UInt(b)) => {
                if *a < 0 {
                    Ordering::Less
                } else {
                    (*a as u64).cmp(b)
                }
            }
            (UInt(a), Int(b)) => {
                if *b < 0 {
                    Ordering::Greater
                } else {
                    a.cmp(&(*b as u64))
                }
            }
            (Decimal(a), Decimal(b)) => a.cmp(b),
            (Decimal(a), Int(b)) => a.cmp(&reef_common::value::Decimal::from_i128(*b as i128)),
            (Int(a), Decimal(b)) => reef_common::value::Decimal::from_i128(*a as i128).cmp(b),
            (Decimal(a), UInt(b)) => a.cmp(&reef_common::value::Decimal::from_i128(*b as i128)),
            (UInt(a), Decimal(b)) => reef_common::value::Decimal::from_i128(*a as i128).cmp(b),
            (Str(a, ca), Str(b, _)) => ca.compare(a, b),
            (Bytes(a), Bytes(b)) | (Str(a, _), Bytes(b)) | (Bytes(a), Str(b, _)) => a.cmp(b),
            (Date(a) | DateTime(a), Date(b) | DateTime(b)) => a.cmp(b),
            (Date(a) | DateTime(a), Str(s, _)) => a.cmp(&parse_datetime(s)?),
            (Str(s, _), Date(b) | DateTime(b)) => parse_datetime(s)?.cmp(b),
            (a, b) if a.is_numeric() || b.is_numeric() => a.as_f64().partial_cmp(&b.as_f64())?,
            (a, b) => a.as_f64().partial_cmp(&b.as_f64())?,
        })
    }

    /// Appends a key that is equal for two values exactly when [`Datum::group_key_into`]'s
    /// keys are, without its order: strings get their collation's equality key, cheaper
    /// than a sort key. For DISTINCT, which keeps rows in the order they come.
    pub fn eq_key_into(&self, out: &mut Vec<u8>) {
        match self {
            Datum::Str(s, c) => {
                out.push(3);
                let start = out.len();
                c.eq_key_into(s, out);
                // The key's length after it, so a row's keys read back one way only.
                let len = (out.len() - start) as u32;
                out.extend_from_slice(&len.to_be_bytes());
            }
            _ => self.group_key_into(out),
        }
    }

    /// Appends a key that is equal for two values exactly when MySQL's GROUP BY and DISTINCT
    /// treat them as equal (collation-aware for strings; 1 and 1.0 are equal), and whose byte
    /// order is MySQL's order for values of one type (NULL first), for ORDER BY.
    pub fn group_key_into(&self, out: &mut Vec<u8>) {
        match self {
            Datum::Null => out.push(0),
            Datum::Int(i) => {
                out.push(1);
                reef_common::keycodec::decimal_key_into(&Decimal::from_i128(*i as i128), out);
            }
            Datum::UInt(u) => {
                out.push(1);
                reef_common::keycodec::decimal_key_into(&Decimal::from_i128(*u as i128), out);
            }
            Datum::Decimal(d) => {
                out.push(1);
                reef_common::keycodec::decimal_key_into(d, out);
            }
            Datum::Double(d) => {
                out.push(2);
                let bits = if *d == 0.0 {
                    0.0f64.to_bits()
                } else {
                    d.to_bits()
                };
                let ordered = if bits >> 63 == 1 {
                    !bits
                } else {
                    bits | (1 << 63)
                };
                out.extend_from_slice(&ordered.to_be_bytes());
            }
            Datum::Str(s, c) => {
                out.push(3);
                c.sort_key_into(s, out);
            }
            Datum::Bytes(b) => {
                out.push(4);
                Collation::Binary.sort_key_into(b, out);
            }
            Datum::Date(d) | Datum::DateTime(d) => {
                out.push(5);
                out.extend_from_slice(&((d.pack() as u64) ^ (1 << 63)).to_be_bytes());
            }
        }
    }

    /// Converts to the stored form of a column of type `ty`, applying strict mode: a value
    /// that does not fit is an error naming the column, never a silent truncation.
    pub fn to_stored(&self, ty: &ColumnType, column: &str) -> Result<Value, SqlError> {
        if self.is_null() {
            return Ok(Value::Null);
        }
        match ty {
            ColumnType::Int { bytes, unsigned } => self.to_int(*bytes, *unsigned, column),
            ColumnType::Float | ColumnType::Double => Ok(Value::Double(self.as_f64())),
            ColumnType::Decimal { precision, scale } => self.to_decimal(*precision, *scale, column),
            ColumnType::String { len_chars, .. } => {
                let text = self.to_text().unwrap_or_default();
                if text.chars().count() > *len_chars as usize {
                    return Err(err(
                        error::ER_DATA_TOO_LONG,
                        format!("Data too long for column '{column}' at row 1"),
                    ));
                }
                Ok(Value::Bytes(text.into_bytes()))
            }
            ColumnType::Binary { len_bytes, fixed } => {
                let mut b = match self {
                    Datum::Str(s, _) | Datum::Bytes(s) => s.clone(),
                    other => other.to_text().unwrap_or_default().into_bytes(),
                };
                if b.len() > *len_bytes as usize {
                    return Err(err(
                        error::ER_DATA_TOO_LONG,
                        format!("Data too long for column '{column}' at row 1"),
                    ));
                }
                if *fixed {
                    b.resize(*len_bytes as usize, 0);
                }
                Ok(Value::Bytes(b))
            }
            ColumnType::Date | ColumnType::DateTime { .. } | ColumnType::Timestamp { .. } => {
                let dt = match self {
                    Datum::Date(d) | Datum::DateTime(d) => *d,
                    Datum::Str(s, _) | Datum::Bytes(s) => parse_datetime(s).ok_or_else(|| {
                        err(
                            error::ER_TRUNCATED_WRONG_VALUE,
                            format!(
                                "Incorrect datetime value: '{}' for column '{column}' at row 1",
                                String::from_utf8_lossy(s)
                            ),
                        )
                    })?,
                    other => {
                        return Err(err(
                            error::ER_TRUNCATED_WRONG_VALUE,
                            format!(
                                "Incorrect datetime value: '{}' for column '{column}' at row 1",
                                other.to_text().unwrap_or_default()
                            ),
                        ))
                    }
                };
                let dt = if *ty == ColumnType::Date {
                    DateTime {
                        hour: 0,
                        minute: 0,
                        second: 0,
                        micro: 0,
                        ..dt
                    }
                } else {
                    dt
                };
                Ok(Value::Int(dt.pack()))
            }
        }
    }

    fn to_int(&self, bytes: u8, unsigned: bool, column: &str) -> Result<Value, SqlError> {
        let bits = bytes as u32 * 8;
        let range_err = || {
            err(
                error::ER_WARN_DATA_OUT_OF_RANGE,
                format!("Out of range value for column '{column}' at row 1"),
            )
        };
        let as_i128: i128 = match self {
            Datum::Int(i) => *i as i128,
            Datum::UInt(u) => *u as i128,
            Datum::Double(d) => d.round() as i128,
            Datum::Decimal(d) => d
                .rescale(0)
                .to_string()
                .parse::<i128>()
                .map_err(|_| range_err())?,
            Datum::Str(s, _) | Datum::Bytes(s) => {
                let t = String::from_utf8_lossy(s);
                match t.trim().parse::<i128>() {
                    Ok(v) => v,
                    Err(_) => match t.trim().parse::<f64>() {
                        Ok(f) => f.round() as i128,
                        Err(_) => {
                            return Err(err(
                                error::ER_TRUNCATED_WRONG_VALUE_FOR_FIELD,
                                format!(
                                    "Incorrect integer value: '{t}' for column '{column}' at row 1"
                                ),
                            ))
                        }
                    },
                }
            }
            Datum::Date(dt) | Datum::DateTime(dt) => dt.date_number() as i128,
            Datum::Null => unreachable!("handled above"),
        };
        let (lo, hi) = if unsigned {
            (0i128, (1i128 << bits) - 1)
        } else {
            (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
        };
        if as_i128 < lo || as_i128 > hi {
            return Err(range_err());
        }
        Ok(if unsigned {
            Value::UInt(as_i128 as u64)
        } else {
            Value::Int(as_i128 as i64)
        })
    }

    fn to_decimal(&self, precision: u8, scale: u8, column: &str) -> Result<Value, SqlError> {
        let d = match self {
            Datum::Decimal(d) => d.clone(),
            Datum::Int(i) => Decimal::from_i128(*i as i128),
            Datum::UInt(u) => Decimal::from_i128(*u as i128),
            Datum::Double(f) => Decimal::parse(&format!("{f}"))
                .map_err(|e| err(error::ER_TRUNCATED_WRONG_VALUE_FOR_FIELD, e.to_string()))?,
            other => {
                let t = other.to_text().unwrap_or_default();
                Decimal::parse(&t).map_err(|_| {
                    err(
                        error::ER_TRUNCATED_WRONG_VALUE_FOR_FIELD,
                        format!("Incorrect decimal value: '{t}' for column '{column}' at row 1"),
                    )
                })?
            }
        };
        let d = d.rescale(scale);
        let int_digits = d.precision().saturating_sub(scale as usize);
        if int_digits > (precision - scale) as usize && d.normalized().1 > 0 {
            return Err(err(
                error::ER_WARN_DATA_OUT_OF_RANGE,
                format!("Out of range value for column '{column}' at row 1"),
            ));
        }
        if precision <= DECIMAL_INT_DIGITS_MAX {
            // At most 18 digits: fits, as the range check above made sure.
            let unscaled = d.unscaled_i64().ok_or_else(|| {
                err(
                    error::ER_WARN_DATA_OUT_OF_RANGE,
                    format!("Out of range value for column '{column}' at row 1"),
                )
            })?;
            return Ok(Value::Int(unscaled));
        }
        Ok(Value::Bytes(d.to_string().into_bytes()))
    }

    /// Reads a stored value of a column of type `ty`.
    pub fn from_stored(v: &Value, ty: &ColumnType) -> Datum {
        Datum::from_value(v.clone(), ty)
    }

    /// [`Datum::from_stored`], taking the value (its bytes move instead of being copied).
    pub fn from_value(v: Value, ty: &ColumnType) -> Datum {
        match (v, ty) {
            (Value::Null, _) => Datum::Null,
            (Value::Int(i), ColumnType::Date) => Datum::Date(DateTime::unpack(i)),
            (Value::Int(i), ColumnType::Decimal { scale, .. }) => {
                Datum::Decimal(Decimal::from_unscaled(i, *scale))
            }
            (Value::Int(i), ColumnType::DateTime { .. } | ColumnType::Timestamp { .. }) => {
                Datum::DateTime(DateTime::unpack(i))
            }
            (Value::Int(i), _) => Datum::Int(i),
            (Value::UInt(u), _) => Datum::UInt(u),
            (Value::Double(d), _) => Datum::Double(d),
            (Value::Bytes(b), ColumnType::Decimal { .. }) => {
                Decimal::parse(&String::from_utf8_lossy(&b))
                    .map(Datum::Decimal)
                    .unwrap_or(Datum::Null)
            }
            (Value::Bytes(b), ColumnType::String { collation, .. }) => Datum::Str(b, *collation),
            (Value::Bytes(b), _) => Datum::Bytes(b),
        }
    }
}

/// The numeric prefix of a string, as MySQL reads `'12abc'` as 12.
pub fn parse_number_prefix(s: &[u8]) -> f64 {
    let t = String::from_utf8_lossy(s);
    let t = t.trim_start();
    let mut end = 0;
    let b = t.as_bytes();
    let mut seen_digit = false;
    let mut seen_dot = false;
    let mut seen_e = false;
    while end < b.len() {
        let c = b[end];
        let ok = match c {
            b'0'..=b'9' => {
                seen_digit = true;
                true
            }
            b'+' | b'-' => end == 0 || (seen_e && matches!(b[end - 1], b'e' | b'E')),
            b'.' if !seen_dot && !seen_e => {
                seen_dot = true;
                true
            }
            b'e' | b'E' if seen_digit && !seen_e => {
                seen_e = true;
                true
            }
            _ => false,
        };
        if !ok {
            break;
        }
        end += 1;
    }
    let mut cand = &t[..end];
    while !cand.is_empty() {
        if let Ok(v) = cand.parse::<f64>() {
            return v;
        }
        cand = &cand[..cand.len() - 1];
    }
    0.0
}

fn parse_datetime(s: &[u8]) -> Option<DateTime> {
    DateTime::parse(std::str::from_utf8(s).ok()?).ok()
}

/// Doubles print as MySQL prints them (shared with the protocol's formatter).
fn reef_mysql_format_double(d: f64) -> String {
    if d == 0.0 {
        return "0".into();
    }
    if (1e-4..1e15).contains(&d.abs()) {
        format!("{d}")
    } else {
        format!("{d:e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_follow_mysql() {
        assert_eq!(
            Datum::str("abc").compare(&Datum::str("ABC ")),
            Some(Ordering::Equal)
        );
        assert_eq!(
            Datum::Int(-1).compare(&Datum::UInt(0)),
            Some(Ordering::Less)
        );
        assert_eq!(
            Datum::str("10").compare(&Datum::Int(9)),
            Some(Ordering::Greater)
        );
        assert_eq!(Datum::Null.compare(&Datum::Int(1)), None);
        assert_eq!(parse_number_prefix(b"12abc"), 12.0);
        assert_eq!(parse_number_prefix(b" -1.5e2x"), -150.0);
        assert_eq!(parse_number_prefix(b"abc"), 0.0);
    }

    #[test]
    fn group_keys_order_and_equate_like_compare() {
        let samples = [
            vec![
                Datum::Int(-5),
                Datum::Int(0),
                Datum::Int(3),
                Datum::UInt(3),
                Datum::Decimal(Decimal::parse("3.0").unwrap()),
                Datum::Decimal(Decimal::parse("-0.5").unwrap()),
            ],
            vec![
                Datum::Double(-2.5),
                Datum::Double(0.0),
                Datum::Double(-0.0),
                Datum::Double(1e10),
                Datum::Double(-1e-3),
            ],
            vec![
                Datum::str("b"),
                Datum::str("A"),
                Datum::str("a "),
                Datum::str("ä"),
                Datum::str("ab"),
            ],
        ];
        for group in &samples {
            for a in group {
                for b in group {
                    let (mut ka, mut kb) = (Vec::new(), Vec::new());
                    a.group_key_into(&mut ka);
                    b.group_key_into(&mut kb);
                    assert_eq!(ka.cmp(&kb), a.compare(b).unwrap(), "{a:?} vs {b:?}");
                }
            }
        }
        let (mut n, mut k) = (Vec::new(), Vec::new());
        Datum::Null.group_key_into(&mut n);
        Datum::Int(i64::MIN).group_key_into(&mut k);
        assert!(n < k, "NULL sorts first");
    }

    #[test]
    fn strict_mode_rejects_what_does_not_fit() {
        let tiny = ColumnType::Int {
            bytes: 1,
            unsigned: false,
        };
        assert_eq!(
            Datum::Int(127).to_stored(&tiny, "c").unwrap(),
            Value::Int(127)
        );
        assert_eq!(
            Datum::Int(128)
                .to_stored(&tiny, "c")
                .unwrap_err()
                .code
                .errno,
            1264
        );
        let s = ColumnType::String {
            len_chars: 3,
            fixed: false,
            collation: Collation::default(),
        };
        assert_eq!(
            Datum::str("abcd")
                .to_stored(&s, "c")
                .unwrap_err()
                .code
                .errno,
            1406
        );
        let d = ColumnType::Decimal {
            precision: 5,
            scale: 2,
        };
        // Up to 18 digits a DECIMAL is stored as its unscaled integer; wider ones as text.
        assert_eq!(
            Datum::str("1.005").to_stored(&d, "c").unwrap(),
            Value::Int(101)
        );
        assert_eq!(
            Datum::from_value(Value::Int(-101), &d).to_text().unwrap(),
            "-1.01"
        );
        let wide = ColumnType::Decimal {
            precision: 30,
            scale: 2,
        };
        assert_eq!(
            Datum::str("-1.005").to_stored(&wide, "c").unwrap(),
            Value::Bytes(b"-1.01".to_vec())
        );
        let most = ColumnType::Decimal {
            precision: 18,
            scale: 0,
        };
        assert_eq!(
            Datum::str("-999999999999999999")
                .to_stored(&most, "c")
                .unwrap(),
            Value::Int(-999_999_999_999_999_999)
        );
        assert_eq!(
            Datum::str("1000000000000000000")
                .to_stored(&most, "c")
                .unwrap_err()
                .code
                .errno,
            1264
        );
        assert_eq!(
            Datum::str("1000")
                .to_stored(&d, "c")
                .unwrap_err()
                .code
                .errno,
            1264
        );
        assert_eq!(
            Datum::str("x")
                .to_stored(
                    &ColumnType::Int {
                        bytes: 4,
                        unsigned: false
                    },
                    "c"
                )
                .unwrap_err()
                .code
                .errno,
            1366
        );
    }
}
