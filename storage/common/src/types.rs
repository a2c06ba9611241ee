//! MySQL column types as ReefDB stores them, and the physical kind each is stored as.

use crate::collation::Collation;

/// A column's declared MySQL type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnType {
    /// TINYINT (1), SMALLINT (2), MEDIUMINT (3), INT (4), BIGINT (8); BOOL is TINYINT(1).
    Int { bytes: u8, unsigned: bool },
    /// DECIMAL(precision, scale), precision up to 65 and scale up to 30 as in MySQL.
    Decimal { precision: u8, scale: u8 },
    /// FLOAT (single precision, kept as a double in memory).
    Float,
    /// DOUBLE.
    Double,
    /// CHAR(len), VARCHAR(len) and the TEXT types; `len` counts characters, `max_bytes` is
    /// the storage bound (65,535 for TEXT, 2^32-1 for LONGTEXT).
    String {
        len_chars: u32,
        fixed: bool,
        collation: Collation,
    },
    /// BINARY(len), VARBINARY(len) and the BLOB types; `len` counts bytes.
    Binary { len_bytes: u32, fixed: bool },
    /// DATE.
    Date,
    /// DATETIME(fsp).
    DateTime { fsp: u8 },
    /// TIMESTAMP(fsp), stored in UTC.
    Timestamp { fsp: u8 },
}

/// How a type's values are laid out in rows and in SSTable columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PhysicalKind {
    /// Signed 64-bit integers; also DATE, DATETIME and TIMESTAMP in their packed form.
    Int,
    /// Unsigned 64-bit integers.
    UInt,
    /// IEEE doubles (FLOAT and DOUBLE).
    Double,
    /// Byte strings: character strings (UTF-8), binary strings and DECIMAL of more than
    /// [`DECIMAL_INT_DIGITS_MAX`] digits in text form.
    Bytes,
}

/// Most digits of a DECIMAL stored as a scaled signed 64-bit integer (`unscaled * 10^-scale`;
/// 10^18 - 1 fits, 10^19 - 1 does not). Columnar SSTables bit-pack such columns like any
/// integer and keep their min/max; wider DECIMALs are stored as text.
pub const DECIMAL_INT_DIGITS_MAX: u8 = 18;

impl ColumnType {
    /// The scale of a DECIMAL stored as a scaled integer (see [`DECIMAL_INT_DIGITS_MAX`]).
    pub fn scaled_decimal(&self) -> Option<u8> {
        match *self {
            ColumnType::Decimal { precision, scale } if precision <= DECIMAL_INT_DIGITS_MAX => {
                Some(scale)
            }
            _ => None,
        }
    }

    /// The physical kind values of this type are stored as.
    pub fn physical(&self) -> PhysicalKind {
        match self {
            ColumnType::Int { unsigned: true, .. } => PhysicalKind::UInt,
            ColumnType::Int { .. }
            | ColumnType::Date
            | ColumnType::DateTime { .. }
            | ColumnType::Timestamp { .. } => PhysicalKind::Int,
            ColumnType::Decimal { precision, .. } if *precision <= DECIMAL_INT_DIGITS_MAX => {
                PhysicalKind::Int
            }
            ColumnType::Float | ColumnType::Double => PhysicalKind::Double,
            ColumnType::Decimal { .. } | ColumnType::String { .. } | ColumnType::Binary { .. } => {
                PhysicalKind::Bytes
            }
        }
    }
}
