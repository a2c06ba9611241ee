//! MySQL types on the Arrow side: the logical Arrow type of each column type, the
//! conversion of the storage engine's physical arrays (DECIMAL as text, temporal values
//! packed into integers) into them, and the way back from result arrays to MySQL values.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::ArrowPrimitiveType;
use arrow_array::types::{
    Date32Type, Decimal128Type, Decimal256Type, Float32Type, Float64Type, Int16Type, Int32Type,
    Int64Type, Int8Type, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{
    Array, ArrayRef, BinaryArray, Date32Array, Decimal128Array, Decimal256Array, Float64Array,
    Int64Array, NullArray, RecordBatch, StringArray, TimestampMicrosecondArray, UInt64Array,
};
use arrow_buffer::{i256, ScalarBuffer};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use reef_common::collation::Collation;
use reef_common::error;
use reef_common::types::ColumnType;
use reef_common::value::{civil_from_days, DateTime, Decimal, PackedDays};
use reef_sql::catalog::TableDef;
use reef_sql::datum::Datum;
use reef_sql::show::collation_name;
use reef_sql::{OutColumn, SqlError};

/// Field metadata key naming a string column's collation (its MySQL name).
const COLLATION_KEY: &str = "reef.collation";

/// Field metadata key holding a DATETIME or TIMESTAMP column's fractional digits.
pub(crate) const FSP_KEY: &str = "reef.fsp";

/// The fractional-second digits a temporal field's metadata gives, if it gives them.
fn fsp_in(f: &Field) -> Option<u8> {
    f.metadata().get(FSP_KEY).and_then(|v| v.parse().ok())
}

/// The fractional-second digits of a temporal field (0 when it does not say).
pub fn fsp_of(f: &Field) -> u8 {
    fsp_in(f).unwrap_or(0)
}

/// A date as Arrow's Date32: days since 1970-01-01.
fn date32(d: &DateTime) -> i32 {
    d.days() as i32
}

/// The collation a string field compares under: its column's, or the connection's
/// utf8mb4_general_ci for computed values.
pub fn field_collation(f: &Field) -> Collation {
    match f.metadata().get(COLLATION_KEY).map(String::as_str) {
        Some(name) if name == collation_name(Collation::Utf8mb4Bin) => Collation::Utf8mb4Bin,
        Some(name) if name == collation_name(Collation::Binary) => Collation::Binary,
        _ => Collation::Utf8mb4GeneralCi,
    }
}

/// The widest DECIMAL held in a 128-bit Arrow decimal.
const DECIMAL128_MAX_PRECISION: u8 = 38;

/// The Arrow type a MySQL column is seen as on the OLAP path.
pub fn arrow_type(ty: &ColumnType) -> DataType {
    match *ty {
        ColumnType::Int {
            unsigned: false, ..
        } => DataType::Int64,
        ColumnType::Int { unsigned: true, .. } => DataType::UInt64,
        ColumnType::Decimal { precision, scale } if precision <= DECIMAL128_MAX_PRECISION => {
            DataType::Decimal128(precision, scale as i8)
        }
        ColumnType::Decimal { precision, scale } => DataType::Decimal256(precision, scale as i8),
        ColumnType::Float | ColumnType::Double => DataType::Float64,
        ColumnType::String { .. } => DataType::Utf8,
        ColumnType::Binary { .. } => DataType::Binary,
        ColumnType::Date => DataType::Date32,
        ColumnType::DateTime { .. } | ColumnType::Timestamp { .. } => {
            DataType::Timestamp(TimeUnit::Microsecond, None)
        }
    }
}

/// The Arrow schema of a table: lower-case column names (MySQL column names are
/// case-insensitive; the OLAP path lower-cases identifiers), collations in field metadata.
pub fn table_schema(def: &TableDef) -> SchemaRef {
    Arc::new(Schema::new(
        def.columns
            .iter()
            .map(|c| {
                let f = Field::new(c.name.to_lowercase(), arrow_type(&c.ty), c.nullable);
                match c.ty {
                    ColumnType::String { collation, .. } => f.with_metadata(HashMap::from([(
                        COLLATION_KEY.to_string(),
                        collation_name(collation).to_string(),
                    )])),
                    ColumnType::DateTime { fsp } | ColumnType::Timestamp { fsp } => {
                        f.with_metadata(HashMap::from([(FSP_KEY.to_string(), fsp.to_string())]))
                    }
                    _ => f,
                }
            })
            .collect::<Vec<_>>(),
    ))
}

fn corrupt(what: &str, detail: impl std::fmt::Display) -> SqlError {
    SqlError::new(
        error::ER_FILE_CORRUPT,
        format!("stored {what} value cannot be read: {detail}"),
    )
}

/// Walks a stored DECIMAL's canonical text (`-12.5`) as its unscaled integer at `scale`:
/// gives `digit` each digit, most significant first (fraction digits past `scale` dropped,
/// missing ones as zeros), and returns whether the number is negative. None for text that
/// is not a decimal, or when `digit` refuses one (an overflow).
fn unscaled_digits(
    text: &[u8],
    scale: u8,
    mut digit: impl FnMut(u8) -> Option<()>,
) -> Option<bool> {
    let (neg, body) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    if body.is_empty() {
        return None;
    }
    let mut fraction: Option<u8> = None;
    for &b in body {
        match b {
            b'0'..=b'9' => {
                if let Some(f) = &mut fraction {
                    if *f == scale {
                        continue;
                    }
                    *f += 1;
                }
                digit(b - b'0')?;
            }
            b'.' if fraction.is_none() => fraction = Some(0),
            _ => return None,
        }
    }
    for _ in fraction.unwrap_or(0)..scale {
        digit(0)?;
    }
    Some(neg)
}

/// The unscaled integer of a DECIMAL's text at `scale` as digits (`-12.5` at scale 2 is
/// `-1250`).
pub(crate) fn unscaled(text: &str, scale: u8) -> Option<String> {
    let mut digits = String::with_capacity(text.len() + scale as usize + 1);
    let neg = unscaled_digits(text.as_bytes(), scale, |d| {
        digits.push(char::from(b'0' + d));
        Some(())
    })?;
    if digits.is_empty() {
        digits.push('0');
    }
    if neg {
        digits.insert(0, '-');
    }
    Some(digits)
}

/// The same as an i128, read straight from the stored bytes without allocating: the
/// scan's hot loop. None past i128.
pub(crate) fn unscaled_i128(text: &[u8], scale: u8) -> Option<i128> {
    let mut v: i128 = 0;
    let neg = unscaled_digits(text, scale, |d| {
        v = v.checked_mul(10)?.checked_add(i128::from(d))?;
        Some(())
    })?;
    Some(if neg { -v } else { v })
}

/// Converts one physical column of a scan (see `reef_storage::scan::arrow_type`) into the
/// column's logical Arrow array.
pub fn logical_array(ty: &ColumnType, physical: &ArrayRef) -> Result<ArrayRef, SqlError> {
    Ok(match *ty {
        ColumnType::Int { .. }
        | ColumnType::Float
        | ColumnType::Double
        | ColumnType::Binary { .. } => physical.clone(),
        ColumnType::String { .. } => {
            // The same buffers, checked to be UTF-8 on character boundaries: no copy.
            let b = physical.as_binary::<i32>();
            let s =
                StringArray::try_new(b.offsets().clone(), b.values().clone(), b.nulls().cloned())
                    .map_err(|e| corrupt("string", e))?;
            Arc::new(s)
        }
        ColumnType::Decimal { precision, scale } if ty.scaled_decimal().is_some() => {
            // Stored as the unscaled integer: widen it, keep the validity as it is.
            let p = physical.as_primitive::<Int64Type>();
            let vals: ScalarBuffer<i128> = p.values().iter().map(|&v| i128::from(v)).collect();
            Arc::new(
                Decimal128Array::try_new(vals, p.nulls().cloned())
                    .and_then(|a| a.with_precision_and_scale(precision, scale as i8))
                    .map_err(|e| corrupt("DECIMAL", e))?,
            )
        }
        ColumnType::Decimal { precision, scale } => {
            let b = physical.as_binary::<i32>();
            if precision <= DECIMAL128_MAX_PRECISION {
                let vals: Vec<Option<i128>> = b
                    .iter()
                    .map(|v| {
                        v.map(|bytes| {
                            unscaled_i128(bytes, scale)
                                .ok_or_else(|| corrupt("DECIMAL", String::from_utf8_lossy(bytes)))
                        })
                        .transpose()
                    })
                    .collect::<Result<_, _>>()?;
                Arc::new(
                    Decimal128Array::from(vals)
                        .with_precision_and_scale(precision, scale as i8)
                        .map_err(|e| corrupt("DECIMAL", e))?,
                )
            } else {
                let texts = b.iter().map(|v| {
                    v.map(|bytes| {
                        std::str::from_utf8(bytes)
                            .ok()
                            .and_then(|t| unscaled(t, scale))
                            .ok_or_else(|| corrupt("DECIMAL", String::from_utf8_lossy(bytes)))
                    })
                    .transpose()
                });
                let vals: Vec<Option<i256>> = texts
                    .map(|t| {
                        t?.map(|s| {
                            i256::from_string(&s).ok_or_else(|| corrupt("DECIMAL", s.clone()))
                        })
                        .transpose()
                    })
                    .collect::<Result<_, _>>()?;
                Arc::new(
                    Decimal256Array::from(vals)
                        .with_precision_and_scale(precision, scale as i8)
                        .map_err(|e| corrupt("DECIMAL", e))?,
                )
            }
        }
        ColumnType::Date => {
            let p = physical.as_primitive::<Int64Type>();
            let days = PackedDays::new();
            let d: Date32Array = p.unary(|packed| days.days(packed) as i32);
            Arc::new(d)
        }
        ColumnType::DateTime { .. } | ColumnType::Timestamp { .. } => {
            let p = physical.as_primitive::<Int64Type>();
            let days = PackedDays::new();
            let t: TimestampMicrosecondArray = p.unary(|packed| days.unix_micros(packed));
            Arc::new(t)
        }
    })
}

/// Converts a scan batch (physical columns `projection` of `def`) to the table's logical
/// schema projected the same way.
pub fn logical_batch(
    def: &TableDef,
    projection: &[usize],
    schema: &SchemaRef,
    batch: &RecordBatch,
) -> Result<RecordBatch, SqlError> {
    let cols = projection
        .iter()
        .zip(batch.columns())
        .map(|(&slot, a)| logical_array(&def.columns[slot].ty, a))
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(schema.clone(), cols)
        .map_err(|e| SqlError::internal(format!("building an OLAP batch: {e}")))
}

/// The MySQL type a result column of Arrow type `dt` is reported as.
pub fn mysql_type(field: &Field) -> Option<ColumnType> {
    let int = |bytes: u8, unsigned: bool| Some(ColumnType::Int { bytes, unsigned });
    match field.data_type() {
        DataType::Boolean => int(1, false),
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => int(8, false),
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => int(8, true),
        DataType::Float16 | DataType::Float32 | DataType::Float64 => Some(ColumnType::Double),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => Some(ColumnType::Decimal {
            precision: *p,
            scale: (*s).max(0) as u8,
        }),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Some(ColumnType::String {
            len_chars: 65_535,
            fixed: false,
            collation: field_collation(field),
        }),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
            Some(ColumnType::Binary {
                len_bytes: 65_535,
                fixed: false,
            })
        }
        DataType::Date32 | DataType::Date64 => Some(ColumnType::Date),
        DataType::Timestamp(unit, _) => Some(ColumnType::DateTime {
            fsp: fsp_in(field).unwrap_or(if *unit == TimeUnit::Second { 0 } else { 6 }),
        }),
        _ => None,
    }
}

/// The result column for `field`, named `name`.
pub fn out_column(field: &Field, name: String) -> OutColumn {
    OutColumn {
        name,
        ty: mysql_type(field),
        not_null: !field.is_nullable(),
        ..OutColumn::default()
    }
}

fn decimal_datum(text: String) -> Result<Datum, SqlError> {
    Decimal::parse(&text)
        .map(Datum::Decimal)
        .map_err(|e| SqlError::internal(format!("DECIMAL result {text}: {e:?}")))
}

/// A Date32 value (days since 1970-01-01) as a MySQL DATE.
fn date_datum(days: i32) -> Datum {
    let (y, m, d) = civil_from_days(days as i64);
    Datum::Date(DateTime {
        year: y.clamp(0, 9999) as u16,
        month: m,
        day: d,
        ..DateTime::default()
    })
}

/// The values of a result array as MySQL values, the types results mostly have converted
/// with one look at the array's type (the rest value by value through [`datum_at`]).
pub(crate) fn datums_of(a: &dyn Array) -> Result<Vec<Datum>, SqlError> {
    fn each<T: ArrowPrimitiveType>(a: &dyn Array, f: impl Fn(T::Native) -> Datum) -> Vec<Datum> {
        let a = a.as_primitive::<T>();
        a.iter().map(|v| v.map_or(Datum::Null, &f)).collect()
    }
    fn text<'a>(values: impl Iterator<Item = Option<&'a str>>) -> Vec<Datum> {
        values.map(|v| v.map_or(Datum::Null, Datum::str)).collect()
    }
    Ok(match a.data_type() {
        DataType::Int64 => each::<Int64Type>(a, Datum::Int),
        DataType::Int32 => each::<Int32Type>(a, |v| Datum::Int(v as i64)),
        DataType::UInt64 => each::<UInt64Type>(a, Datum::UInt),
        DataType::Float64 => each::<Float64Type>(a, Datum::Double),
        DataType::Date32 => each::<Date32Type>(a, date_datum),
        DataType::Utf8 => text(a.as_string::<i32>().iter()),
        DataType::Utf8View => text(a.as_string_view().iter()),
        _ => (0..a.len())
            .map(|r| datum_at(a, r))
            .collect::<Result<_, _>>()?,
    })
}

/// Value `row` of a result array as a MySQL value.
pub fn datum_at(a: &dyn Array, row: usize) -> Result<Datum, SqlError> {
    if a.is_null(row) {
        return Ok(Datum::Null);
    }
    Ok(match a.data_type() {
        DataType::Null => Datum::Null,
        DataType::Boolean => Datum::Int(a.as_boolean().value(row) as i64),
        DataType::Int8 => Datum::Int(a.as_primitive::<Int8Type>().value(row) as i64),
        DataType::Int16 => Datum::Int(a.as_primitive::<Int16Type>().value(row) as i64),
        DataType::Int32 => Datum::Int(a.as_primitive::<Int32Type>().value(row) as i64),
        DataType::Int64 => Datum::Int(a.as_primitive::<Int64Type>().value(row)),
        DataType::UInt8 => Datum::UInt(a.as_primitive::<UInt8Type>().value(row) as u64),
        DataType::UInt16 => Datum::UInt(a.as_primitive::<UInt16Type>().value(row) as u64),
        DataType::UInt32 => Datum::UInt(a.as_primitive::<UInt32Type>().value(row) as u64),
        DataType::UInt64 => Datum::UInt(a.as_primitive::<UInt64Type>().value(row)),
        DataType::Float32 => Datum::Double(a.as_primitive::<Float32Type>().value(row) as f64),
        DataType::Float64 => Datum::Double(a.as_primitive::<Float64Type>().value(row)),
        DataType::Decimal128(..) => {
            decimal_datum(a.as_primitive::<Decimal128Type>().value_as_string(row))?
        }
        DataType::Decimal256(..) => {
            decimal_datum(a.as_primitive::<Decimal256Type>().value_as_string(row))?
        }
        DataType::Utf8 => Datum::str(a.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => Datum::str(a.as_string::<i64>().value(row)),
        DataType::Utf8View => Datum::str(a.as_string_view().value(row)),
        DataType::Binary => Datum::Bytes(a.as_binary::<i32>().value(row).to_vec()),
        DataType::LargeBinary => Datum::Bytes(a.as_binary::<i64>().value(row).to_vec()),
        DataType::BinaryView => Datum::Bytes(a.as_binary_view().value(row).to_vec()),
        DataType::Date32 => date_datum(a.as_primitive::<Date32Type>().value(row)),
        DataType::Timestamp(unit, _) => {
            let us = match unit {
                TimeUnit::Second => a.as_primitive::<TimestampSecondType>().value(row) * 1_000_000,
                TimeUnit::Millisecond => {
                    a.as_primitive::<TimestampMillisecondType>().value(row) * 1000
                }
                TimeUnit::Microsecond => a.as_primitive::<TimestampMicrosecondType>().value(row),
                TimeUnit::Nanosecond => {
                    a.as_primitive::<TimestampNanosecondType>().value(row) / 1000
                }
            };
            Datum::DateTime(DateTime::from_unix_micros(us))
        }
        other => {
            return Err(SqlError::unsupported(format!(
                "result values of type {other} on the OLAP path"
            )))
        }
    })
}

/// `vals` as an array of `ty`, each value converted the way MySQL's CAST to the matching
/// type converts it (a computed value of another type, such as one branch of IF, takes the
/// result's type). The inverse of [`datum_at`] for the types computed values have.
pub fn array_of(ty: &DataType, vals: &[Datum]) -> Result<ArrayRef, SqlError> {
    use sqlparser::ast::{DataType as Sql, ExactNumberInfo};
    let cast = |v: &Datum, t: &Sql| reef_sql::cast(v, t).unwrap_or(Datum::Null);
    Ok(match ty {
        DataType::Null => Arc::new(NullArray::new(vals.len())),
        DataType::Int64 => Arc::new(Int64Array::from_iter(vals.iter().map(|v| match v {
            Datum::Int(i) => Some(*i),
            other => match cast(other, &Sql::Signed) {
                Datum::Int(i) => Some(i),
                _ => None,
            },
        }))),
        DataType::UInt64 => Arc::new(UInt64Array::from_iter(vals.iter().map(|v| match v {
            Datum::UInt(u) => Some(*u),
            other => match cast(other, &Sql::Unsigned) {
                Datum::UInt(u) => Some(u),
                _ => None,
            },
        }))),
        DataType::Float64 => Arc::new(Float64Array::from_iter(
            vals.iter().map(|v| (!v.is_null()).then(|| v.as_f64())),
        )),
        DataType::Decimal128(p, s) => {
            let target = Sql::Decimal(ExactNumberInfo::PrecisionAndScale(*p as u64, *s as i64));
            let scale = (*s).max(0) as u8;
            let unscaled_of = |v: &Datum| match cast(v, &target) {
                Datum::Decimal(d) => unscaled(&d.to_string(), scale)
                    .and_then(|t| t.parse::<i128>().ok())
                    .ok_or_else(|| SqlError::internal(format!("DECIMAL result {d}"))),
                _ => Ok(0),
            };
            let mut out = Vec::with_capacity(vals.len());
            for v in vals {
                out.push(if v.is_null() {
                    None
                } else {
                    Some(unscaled_of(v)?)
                });
            }
            Arc::new(
                Decimal128Array::from(out)
                    .with_precision_and_scale(*p, *s)
                    .map_err(|e| SqlError::internal(format!("DECIMAL({p},{s}) result: {e}")))?,
            )
        }
        DataType::Utf8 => Arc::new(StringArray::from_iter(vals.iter().map(Datum::to_text))),
        DataType::Binary => Arc::new(BinaryArray::from_iter(vals.iter().map(|v| match v {
            Datum::Null => None,
            Datum::Str(b, _) | Datum::Bytes(b) => Some(b.clone()),
            other => other.to_text().map(String::into_bytes),
        }))),
        DataType::Date32 => Arc::new(Date32Array::from_iter(vals.iter().map(|v| match v {
            Datum::Date(d) | Datum::DateTime(d) => Some(date32(d)),
            other => match cast(other, &Sql::Date) {
                Datum::Date(d) => Some(date32(&d)),
                _ => None,
            },
        }))),
        DataType::Timestamp(TimeUnit::Microsecond, None) => Arc::new(
            TimestampMicrosecondArray::from_iter(vals.iter().map(|v| match v {
                Datum::Date(d) | Datum::DateTime(d) => Some(d.unix_micros()),
                other => match cast(other, &Sql::Datetime(None)) {
                    Datum::DateTime(d) => Some(d.unix_micros()),
                    _ => None,
                },
            })),
        ),
        other => {
            return Err(SqlError::internal(format!(
                "a computed value of Arrow type {other}"
            )))
        }
    })
}

/// All rows of `batches` as MySQL values.
pub fn rows_of(batches: &[RecordBatch]) -> Result<Vec<Vec<Datum>>, SqlError> {
    let mut rows = Vec::with_capacity(batches.iter().map(RecordBatch::num_rows).sum());
    for b in batches {
        let mut columns = b
            .columns()
            .iter()
            .map(|c| datums_of(c.as_ref()).map(Vec::into_iter))
            .collect::<Result<Vec<_>, _>>()?;
        for _ in 0..b.num_rows() {
            rows.push(
                columns
                    .iter_mut()
                    .map(|c| c.next().unwrap_or(Datum::Null))
                    .collect(),
            );
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unscaled_integers_read_straight_from_the_text_agree_with_unscaled() {
        for (text, scale) in [
            ("12.5", 2),
            ("-12.5", 2),
            ("0.07", 2),
            ("-0.07", 4),
            ("123", 0),
            ("123", 3),
            ("1.239", 2),
            (".5", 1),
            ("99999999999999999999999999999999999.999", 3),
        ] {
            let want = unscaled(text, scale).map(|d| d.parse::<i128>().unwrap());
            assert_eq!(
                unscaled_i128(text.as_bytes(), scale),
                want,
                "{text} at {scale}"
            );
        }
        for bad in ["", "-", "1.2.3", "1e5", "12a"] {
            assert_eq!(unscaled_i128(bad.as_bytes(), 2), None, "{bad}");
        }
        // Past i128: None, never a wrapped number.
        assert_eq!(unscaled_i128("9".repeat(40).as_bytes(), 0), None);
    }
    use arrow_array::{BinaryArray, Int64Array};

    #[test]
    fn decimal_text_becomes_unscaled_integers() {
        assert_eq!(unscaled("12.5", 2).as_deref(), Some("1250"));
        assert_eq!(unscaled("-0.07", 2).as_deref(), Some("-007"));
        assert_eq!(unscaled("3", 0).as_deref(), Some("3"));
        assert_eq!(unscaled("1e5", 0), None);
        let a: ArrayRef = Arc::new(BinaryArray::from(vec![
            Some(b"12.50".as_slice()),
            None,
            Some(b"-3.01".as_slice()),
        ]));
        // Text is how DECIMALs of more than 18 digits are stored.
        let out = logical_array(
            &ColumnType::Decimal {
                precision: 20,
                scale: 2,
            },
            &a,
        )
        .expect("converts");
        assert_eq!(
            datum_at(out.as_ref(), 0).unwrap().to_text().unwrap(),
            "12.50"
        );
        assert!(datum_at(out.as_ref(), 1).unwrap().is_null());
        assert_eq!(
            datum_at(out.as_ref(), 2).unwrap().to_text().unwrap(),
            "-3.01"
        );
    }

    #[test]
    fn columns_convert_as_their_values_do_one_by_one() {
        use arrow_array::{Int32Array, StringViewArray};
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![Some(-3), None, Some(i64::MAX)])),
            Arc::new(Int32Array::from(vec![None, Some(7), Some(-8)])),
            Arc::new(UInt64Array::from(vec![Some(u64::MAX), Some(0), None])),
            Arc::new(Float64Array::from(vec![Some(0.5), None, Some(-1e300)])),
            Arc::new(Date32Array::from(vec![Some(0), Some(-719_528), None])),
            Arc::new(StringArray::from(vec![Some("a"), None, Some("ü")])),
            Arc::new(StringViewArray::from(vec![
                None,
                Some("a string longer than twelve bytes"),
                Some(""),
            ])),
            Arc::new(BinaryArray::from(vec![Some(&b"\xff"[..]), None, Some(b"")])),
        ];
        for a in &arrays {
            let one_by_one: Vec<Datum> = (0..a.len())
                .map(|r| datum_at(a.as_ref(), r).unwrap())
                .collect();
            assert_eq!(
                datums_of(a.as_ref()).unwrap(),
                one_by_one,
                "{}",
                a.data_type()
            );
        }
        let batch = RecordBatch::try_from_iter(
            arrays
                .iter()
                .enumerate()
                .map(|(i, a)| (format!("c{i}"), a.clone())),
        )
        .unwrap();
        let rows = rows_of(&[batch.slice(1, 2), batch.slice(0, 1)]).unwrap();
        assert_eq!(rows.len(), 3);
        for (row, r) in rows.iter().zip([1, 2, 0]) {
            let want: Vec<Datum> = arrays
                .iter()
                .map(|a| datum_at(a.as_ref(), r).unwrap())
                .collect();
            assert_eq!(row, &want, "row {r}");
        }
    }

    #[test]
    fn scaled_integer_decimals_keep_their_values_and_nulls() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![Some(1250), None, Some(-301)]));
        let ty = ColumnType::Decimal {
            precision: 10,
            scale: 2,
        };
        let out = logical_array(&ty, &a).expect("converts");
        let shown: Vec<Option<String>> = (0..3)
            .map(|i| datum_at(out.as_ref(), i).unwrap().to_text())
            .collect();
        assert_eq!(
            shown,
            [Some("12.50".to_string()), None, Some("-3.01".to_string())]
        );
    }

    #[test]
    fn temporal_values_survive_the_trip() {
        let dt = DateTime::parse("2026-11-21 13:45:07.000123").expect("parses");
        let a: ArrayRef = Arc::new(Int64Array::from(vec![dt.pack()]));
        let out = logical_array(&ColumnType::DateTime { fsp: 6 }, &a).expect("converts");
        assert_eq!(datum_at(out.as_ref(), 0).unwrap(), Datum::DateTime(dt));
        let d = DateTime::parse("1969-12-31").expect("parses");
        let a: ArrayRef = Arc::new(Int64Array::from(vec![d.pack()]));
        let out = logical_array(&ColumnType::Date, &a).expect("converts");
        assert_eq!(datum_at(out.as_ref(), 0).unwrap(), Datum::Date(d));
    }

    #[test]
    fn invalid_utf8_is_an_error_not_a_panic() {
        let a: ArrayRef = Arc::new(BinaryArray::from(vec![Some(&[0xff, 0xfe][..])]));
        let ty = ColumnType::String {
            len_chars: 10,
            fixed: false,
            collation: Collation::default(),
        };
        assert_eq!(
            logical_array(&ty, &a).unwrap_err().code,
            error::ER_FILE_CORRUPT
        );
    }
}
