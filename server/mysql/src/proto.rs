//! What crosses the protocol: column metadata, values (text and binary encodings), responses
//! and errors, and the protocol's constants (from MySQL's client/server protocol docs).

use std::io;

use reef_common::charset::ClientCharset;
use reef_common::error::ErrorCode;
use reef_common::value::DateTime;

use crate::codec::{put_lenenc, put_lenenc_bytes, Cursor};

/// Capability flags.
pub mod cap {
    #![allow(missing_docs)]
    pub const LONG_PASSWORD: u32 = 1;
    pub const FOUND_ROWS: u32 = 2;
    pub const LONG_FLAG: u32 = 4;
    pub const CONNECT_WITH_DB: u32 = 8;
    pub const PROTOCOL_41: u32 = 0x200;
    pub const SSL: u32 = 0x800;
    pub const TRANSACTIONS: u32 = 0x2000;
    pub const SECURE_CONNECTION: u32 = 0x8000;
    pub const MULTI_STATEMENTS: u32 = 0x1_0000;
    pub const MULTI_RESULTS: u32 = 0x2_0000;
    pub const PS_MULTI_RESULTS: u32 = 0x4_0000;
    pub const PLUGIN_AUTH: u32 = 0x8_0000;
    pub const CONNECT_ATTRS: u32 = 0x10_0000;
    pub const PLUGIN_AUTH_LENENC_DATA: u32 = 0x20_0000;
    pub const DEPRECATE_EOF: u32 = 0x100_0000;
    /// What ReefDB offers.
    pub const SERVER: u32 = LONG_PASSWORD
        | FOUND_ROWS
        | LONG_FLAG
        | CONNECT_WITH_DB
        | PROTOCOL_41
        | TRANSACTIONS
        | SECURE_CONNECTION
        | MULTI_STATEMENTS
        | MULTI_RESULTS
        | PS_MULTI_RESULTS
        | PLUGIN_AUTH
        | CONNECT_ATTRS
        | PLUGIN_AUTH_LENENC_DATA
        | DEPRECATE_EOF;
}

/// Server status flags sent in the greeting and every OK/EOF packet.
pub mod status {
    #![allow(missing_docs)]
    pub const IN_TRANS: u16 = 0x0001;
    pub const AUTOCOMMIT: u16 = 0x0002;
    pub const MORE_RESULTS_EXISTS: u16 = 0x0008;
}

/// Column types (`enum_field_types`).
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ColumnType {
    Decimal = 0,
    Tiny = 1,
    Short = 2,
    Long = 3,
    Float = 4,
    Double = 5,
    Null = 6,
    Timestamp = 7,
    LongLong = 8,
    Int24 = 9,
    Date = 10,
    Time = 11,
    DateTime = 12,
    Year = 13,
    VarChar = 15,
    Bit = 16,
    Json = 245,
    NewDecimal = 246,
    Enum = 247,
    Set = 248,
    TinyBlob = 249,
    MediumBlob = 250,
    LongBlob = 251,
    Blob = 252,
    VarString = 253,
    String = 254,
}

impl ColumnType {
    /// The type with wire code `c`.
    pub fn from_code(c: u8) -> Option<ColumnType> {
        use ColumnType::*;
        Some(match c {
            0 => Decimal,
            1 => Tiny,
            2 => Short,
            3 => Long,
            4 => Float,
            5 => Double,
            6 => Null,
            7 => Timestamp,
            8 => LongLong,
            9 => Int24,
            10 => Date,
            11 => Time,
            12 => DateTime,
            13 => Year,
            15 => VarChar,
            16 => Bit,
            245 => Json,
            246 => NewDecimal,
            247 => Enum,
            248 => Set,
            249 => TinyBlob,
            250 => MediumBlob,
            251 => LongBlob,
            252 => Blob,
            253 => VarString,
            254 => String,
            _ => return None,
        })
    }
}

/// Column flags.
pub mod flags {
    #![allow(missing_docs)]
    pub const NOT_NULL: u16 = 1;
    pub const PRI_KEY: u16 = 2;
    pub const UNIQUE_KEY: u16 = 4;
    pub const MULTIPLE_KEY: u16 = 8;
    pub const BLOB: u16 = 16;
    pub const UNSIGNED: u16 = 32;
    pub const BINARY: u16 = 128;
    pub const AUTO_INCREMENT: u16 = 512;
    pub const NUM: u16 = 32768;
}

/// Charset ids sent in column definitions.
pub mod charset {
    /// utf8mb4_general_ci.
    pub const UTF8MB4_GENERAL_CI: u16 = 45;
    /// binary (numbers, dates, binary strings).
    pub const BINARY: u16 = 63;
}

/// One result column's metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    /// Schema (database).
    pub schema: String,
    /// Table alias.
    pub table: String,
    /// Underlying table.
    pub org_table: String,
    /// Column alias.
    pub name: String,
    /// Underlying column.
    pub org_name: String,
    /// Character set id.
    pub charset: u16,
    /// Display length.
    pub length: u32,
    /// Type.
    pub ty: ColumnType,
    /// [`flags`].
    pub flags: u16,
    /// Digits after the point (DECIMAL, fractional seconds).
    pub decimals: u8,
}

impl Column {
    /// A computed column (no table) named `name`.
    pub fn computed(name: &str, ty: ColumnType) -> Column {
        let (charset, length) = match ty {
            ColumnType::VarString | ColumnType::String | ColumnType::VarChar => {
                (charset::UTF8MB4_GENERAL_CI, 1024)
            }
            ColumnType::LongLong => (charset::BINARY, 21),
            _ => (charset::BINARY, 64),
        };
        Column {
            schema: String::new(),
            table: String::new(),
            org_table: String::new(),
            name: name.to_string(),
            org_name: String::new(),
            charset,
            length,
            ty,
            flags: 0,
            decimals: if matches!(ty, ColumnType::Double | ColumnType::Float) {
                31
            } else {
                0
            },
        }
    }

    /// The column definition, its names in the client's result character set.
    pub(crate) fn encode(&self, out: &mut Vec<u8>, cs: ClientCharset) {
        put_lenenc_bytes(out, b"def");
        for s in [
            &self.schema,
            &self.table,
            &self.org_table,
            &self.name,
            &self.org_name,
        ] {
            put_lenenc_bytes(out, &cs.encode(s.as_bytes()));
        }
        out.push(0x0C);
        out.extend_from_slice(&self.charset.to_le_bytes());
        out.extend_from_slice(&self.length.to_le_bytes());
        out.push(self.ty as u8);
        out.extend_from_slice(&self.flags.to_le_bytes());
        out.push(self.decimals);
        out.extend_from_slice(&[0, 0]);
    }
}

/// A value sent to or received from a client.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// NULL.
    Null,
    /// Signed integers.
    Int(i64),
    /// Unsigned integers.
    UInt(u64),
    /// FLOAT and DOUBLE.
    Double(f64),
    /// Strings, binary strings, DECIMAL text, JSON.
    Bytes(Vec<u8>),
    /// DATE, DATETIME, TIMESTAMP.
    DateTime(DateTime),
    /// TIME: sign, hours (may exceed 24), minutes, seconds, microseconds.
    Time {
        /// Negative duration.
        negative: bool,
        /// Hours.
        hours: u32,
        /// Minutes.
        minutes: u8,
        /// Seconds.
        seconds: u8,
        /// Microseconds.
        micros: u32,
    },
}

/// Appends an integer's decimal text as a length-encoded string, with no allocation (a
/// result of many rows puts one per integer column per row).
fn put_integer_text(out: &mut Vec<u8>, negative: bool, mut magnitude: u64) {
    let mut digits = [0u8; 21];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (magnitude % 10) as u8;
        magnitude /= 10;
        if magnitude == 0 {
            break;
        }
    }
    if negative {
        at -= 1;
        digits[at] = b'-';
    }
    put_lenenc_bytes(out, &digits[at..]);
}

/// Formats a double as MySQL prints one: shortest round-trip digits, exponent form for very
/// large or small magnitudes.
pub fn format_double(d: f64) -> String {
    if d == 0.0 {
        return "0".into();
    }
    let abs = d.abs();
    if (1e-4..1e15).contains(&abs) {
        format!("{d}")
    } else {
        let s = format!("{d:e}");
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e{e}"),
            Some((m, e)) => format!("{m}e{e}"),
            None => s,
        }
    }
}

impl Value {
    /// The text protocol's form (`None` for NULL).
    pub fn text(&self, col: &Column) -> Option<Vec<u8>> {
        Some(match self {
            Value::Null => return None,
            Value::Int(i) => i.to_string().into_bytes(),
            Value::UInt(u) => u.to_string().into_bytes(),
            Value::Double(d) => {
                if col.ty == ColumnType::Float {
                    format_double(*d as f32 as f64).into_bytes()
                } else {
                    format_double(*d).into_bytes()
                }
            }
            Value::Bytes(b) => b.clone(),
            Value::DateTime(dt) => match col.ty {
                ColumnType::Date => dt.date_string().into_bytes(),
                _ => dt.datetime_string(col.decimals.min(6)).into_bytes(),
            },
            Value::Time {
                negative,
                hours,
                minutes,
                seconds,
                micros,
            } => {
                let mut s = format!(
                    "{}{:02}:{:02}:{:02}",
                    if *negative { "-" } else { "" },
                    hours,
                    minutes,
                    seconds
                );
                if col.decimals > 0 && col.decimals <= 6 {
                    s.push_str(&format!(".{:06}", micros)[..=col.decimals as usize]);
                }
                s.into_bytes()
            }
        })
    }

    /// Appends the binary protocol's form for a column of `col`'s type (NULL is in the
    /// row's bitmap, not here).
    pub fn binary(&self, col: &Column, out: &mut Vec<u8>) {
        use ColumnType::*;
        let as_i64 = || match self {
            Value::Int(i) => *i,
            Value::UInt(u) => *u as i64,
            Value::Double(d) => *d as i64,
            _ => 0,
        };
        match col.ty {
            Tiny => out.push(as_i64() as u8),
            Short | Year => out.extend_from_slice(&(as_i64() as u16).to_le_bytes()),
            Long | Int24 => out.extend_from_slice(&(as_i64() as u32).to_le_bytes()),
            LongLong => out.extend_from_slice(&(as_i64() as u64).to_le_bytes()),
            Float => out.extend_from_slice(&(self.as_f64() as f32).to_le_bytes()),
            Double => out.extend_from_slice(&self.as_f64().to_le_bytes()),
            Date | DateTime | Timestamp => match self {
                Value::DateTime(dt) => put_binary_datetime(out, dt, col.ty == Date),
                _ => out.push(0),
            },
            Time => match self {
                Value::Time {
                    negative,
                    hours,
                    minutes,
                    seconds,
                    micros,
                } => {
                    let (days, h) = (hours / 24, hours % 24);
                    out.push(if *micros > 0 { 12 } else { 8 });
                    out.push(*negative as u8);
                    out.extend_from_slice(&days.to_le_bytes());
                    out.extend_from_slice(&[h as u8, *minutes, *seconds]);
                    if *micros > 0 {
                        out.extend_from_slice(&micros.to_le_bytes());
                    }
                }
                _ => out.push(0),
            },
            _ => self.put_text(col, out),
        }
    }

    /// Writes the value as a text-protocol field: length-encoded, or `0xFB` for NULL.
    /// Strings are written from where they are, without a copy.
    pub fn put_text(&self, col: &Column, out: &mut Vec<u8>) {
        match self {
            Value::Bytes(b) => put_lenenc_bytes(out, b),
            Value::Int(i) => put_integer_text(out, *i < 0, i.unsigned_abs()),
            Value::UInt(u) => put_integer_text(out, false, *u),
            _ => match self.text(col) {
                Some(b) => put_lenenc_bytes(out, &b),
                None => out.push(0xFB),
            },
        }
    }

    fn as_f64(&self) -> f64 {
        match self {
            Value::Int(i) => *i as f64,
            Value::UInt(u) => *u as f64,
            Value::Double(d) => *d,
            Value::Bytes(b) => std::str::from_utf8(b)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0.0),
            _ => 0.0,
        }
    }

    /// Decodes one parameter of a `COM_STMT_EXECUTE` sent with type code `ty`.
    pub fn decode_param(c: &mut Cursor<'_>, ty: u8, unsigned: bool) -> io::Result<Value> {
        let t = ColumnType::from_code(ty).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unknown parameter type {ty}"),
            )
        })?;
        use ColumnType::*;
        Ok(match t {
            Null => Value::Null,
            Tiny => int_param(c.u8()? as u64, 8, unsigned),
            Short | Year => int_param(c.u16()? as u64, 16, unsigned),
            Long | Int24 => int_param(c.u32()? as u64, 32, unsigned),
            LongLong => int_param(c.u64()?, 64, unsigned),
            Float => Value::Double(f32::from_le_bytes(c.take(4)?.try_into().expect("4")) as f64),
            Double => Value::Double(f64::from_le_bytes(c.take(8)?.try_into().expect("8"))),
            Date | DateTime | Timestamp => Value::DateTime(read_binary_datetime(c)?),
            Time => read_binary_time(c)?,
            _ => Value::Bytes(c.lenenc_bytes()?.to_vec()),
        })
    }
}

fn int_param(raw: u64, bits: u32, unsigned: bool) -> Value {
    if unsigned {
        Value::UInt(raw)
    } else {
        let shift = 64 - bits;
        Value::Int(((raw << shift) as i64) >> shift)
    }
}

fn put_binary_datetime(out: &mut Vec<u8>, dt: &DateTime, date_only: bool) {
    let has_time = !date_only && (dt.hour | dt.minute | dt.second) != 0;
    let len = if !date_only && dt.micro != 0 {
        11
    } else if has_time {
        7
    } else {
        4
    };
    out.push(len);
    out.extend_from_slice(&dt.year.to_le_bytes());
    out.extend_from_slice(&[dt.month, dt.day]);
    if len >= 7 {
        out.extend_from_slice(&[dt.hour, dt.minute, dt.second]);
    }
    if len == 11 {
        out.extend_from_slice(&dt.micro.to_le_bytes());
    }
}

fn read_binary_datetime(c: &mut Cursor<'_>) -> io::Result<DateTime> {
    let len = c.u8()?;
    let mut dt = DateTime::default();
    if len >= 4 {
        dt.year = c.u16()?;
        dt.month = c.u8()?;
        dt.day = c.u8()?;
    }
    if len >= 7 {
        dt.hour = c.u8()?;
        dt.minute = c.u8()?;
        dt.second = c.u8()?;
    }
    if len >= 11 {
        dt.micro = c.u32()?;
    }
    if !matches!(len, 0 | 4 | 7 | 11) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "bad DATETIME parameter length",
        ));
    }
    Ok(dt)
}

fn read_binary_time(c: &mut Cursor<'_>) -> io::Result<Value> {
    let len = c.u8()?;
    if len == 0 {
        return Ok(Value::Time {
            negative: false,
            hours: 0,
            minutes: 0,
            seconds: 0,
            micros: 0,
        });
    }
    if len != 8 && len != 12 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "bad TIME parameter length",
        ));
    }
    let negative = c.u8()? != 0;
    let days = c.u32()?;
    let (h, m, s) = (c.u8()?, c.u8()?, c.u8()?);
    let micros = if len == 12 { c.u32()? } else { 0 };
    Ok(Value::Time {
        negative,
        hours: days * 24 + h as u32,
        minutes: m,
        seconds: s,
        micros,
    })
}

/// What a statement returns.
pub enum Response {
    /// An OK packet.
    Ok(OkInfo),
    /// A result set; rows are produced as they are sent.
    Rows {
        /// The columns.
        columns: Vec<Column>,
        /// The rows.
        rows: Box<dyn Iterator<Item = Result<Vec<Value>, QueryError>> + Send>,
    },
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Response::Ok(ok) => write!(f, "Ok({ok:?})"),
            Response::Rows { columns, .. } => write!(f, "Rows({} columns)", columns.len()),
        }
    }
}

/// The contents of an OK packet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OkInfo {
    /// Rows changed (or matched, with `CLIENT_FOUND_ROWS`).
    pub affected_rows: u64,
    /// The AUTO_INCREMENT value generated.
    pub last_insert_id: u64,
    /// Warnings the statement raised.
    pub warnings: u16,
    /// Human-readable info (`Rows matched: 1  Changed: 1  Warnings: 0`).
    pub info: String,
}

/// An error sent as an ERR packet.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{} ({}): {message}", code.errno, code.sqlstate)]
pub struct QueryError {
    /// MySQL errno and SQLSTATE.
    pub code: ErrorCode,
    /// The message.
    pub message: String,
}

impl QueryError {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> QueryError {
        QueryError {
            code,
            message: message.into(),
        }
    }

    /// The ERR packet, its message in the client's result character set.
    pub(crate) fn encode(&self, out: &mut Vec<u8>, cs: ClientCharset) {
        out.push(0xFF);
        out.extend_from_slice(&self.code.errno.to_le_bytes());
        out.push(b'#');
        out.extend_from_slice(self.code.sqlstate.as_bytes());
        out.extend_from_slice(&cs.encode(self.message.as_bytes()));
    }
}

pub(crate) fn encode_ok(out: &mut Vec<u8>, header: u8, ok: &OkInfo, status: u16) {
    out.push(header);
    put_lenenc(out, ok.affected_rows);
    put_lenenc(out, ok.last_insert_id);
    out.extend_from_slice(&status.to_le_bytes());
    out.extend_from_slice(&ok.warnings.to_le_bytes());
    // MySQL's server writes the info as a length-encoded string (`net_send_ok`), and
    // libmariadb reads it that way; the protocol docs' string<EOF> is not what clients expect.
    if !ok.info.is_empty() {
        put_lenenc_bytes(out, ok.info.as_bytes());
    }
}

pub(crate) fn encode_eof(out: &mut Vec<u8>, warnings: u16, status: u16) {
    out.push(0xFE);
    out.extend_from_slice(&warnings.to_le_bytes());
    out.extend_from_slice(&status.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_put_as_text_read_as_their_decimal_form() {
        let col = Column::computed("n", ColumnType::LongLong);
        let cases = [
            Value::Int(0),
            Value::Int(7),
            Value::Int(-1),
            Value::Int(-40),
            Value::Int(i64::MIN),
            Value::Int(i64::MAX),
            Value::UInt(10),
            Value::UInt(u64::MAX),
        ];
        for v in cases {
            let want = match &v {
                Value::Int(i) => i.to_string(),
                Value::UInt(u) => u.to_string(),
                _ => unreachable!(),
            };
            let mut out = Vec::new();
            v.put_text(&col, &mut out);
            assert_eq!(out[0] as usize, want.len(), "{want}");
            assert_eq!(&out[1..], want.as_bytes());
            assert_eq!(v.text(&col).as_deref(), Some(want.as_bytes()));
        }
    }

    #[test]
    fn binary_params_decode_with_sign_and_width() {
        let mut c = Cursor::new(&[0xFF]);
        assert_eq!(
            Value::decode_param(&mut c, 1, false).unwrap(),
            Value::Int(-1)
        );
        let mut c = Cursor::new(&[0xFF]);
        assert_eq!(
            Value::decode_param(&mut c, 1, true).unwrap(),
            Value::UInt(255)
        );
        let mut c = Cursor::new(&[0xFE, 0xFF, 0xFF, 0xFF]);
        assert_eq!(
            Value::decode_param(&mut c, 3, false).unwrap(),
            Value::Int(-2)
        );
        let mut c = Cursor::new(&[3, b'a', b'b', b'c']);
        assert_eq!(
            Value::decode_param(&mut c, 253, false).unwrap(),
            Value::Bytes(b"abc".to_vec())
        );
        let mut c = Cursor::new(&[7, 0xE8, 0x07, 11, 21, 10, 30, 5]);
        let Value::DateTime(dt) = Value::decode_param(&mut c, 12, false).unwrap() else {
            panic!()
        };
        assert_eq!(dt.datetime_string(0), "2024-11-21 10:30:05");
        assert!(Value::decode_param(&mut Cursor::new(&[1, 2]), 8, false).is_err());
        assert!(Value::decode_param(&mut Cursor::new(&[]), 99, false).is_err());
    }

    #[test]
    fn doubles_print_like_mysql() {
        assert_eq!(format_double(0.1), "0.1");
        assert_eq!(format_double(1.5), "1.5");
        assert_eq!(format_double(100.0), "100");
        assert_eq!(format_double(1e20), "1e20");
        assert_eq!(format_double(-2.5e-7), "-2.5e-7");
    }
}
