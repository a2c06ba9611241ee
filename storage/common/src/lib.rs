//! `reef-common`: the vocabulary every ReefDB crate shares.
//!
//! - [`ids`]: newtype ids (`TxnId`, `TabletId`, `LsId`, ...) and MVCC [`ids::Version`]s.
//! - [`limits`]: every bound the storage layer enforces, checked against each other at
//!   compile time.
//! - [`error`]: the registry mapping errors to MySQL errno, SQLSTATE and a retry hint.
//! - [`types`], [`value`], [`collation`]: MySQL column types, values (DECIMAL up to 65 digits,
//!   packed temporal values) and collations (`utf8mb4_general_ci`, `utf8mb4_bin`, `binary`).
//! - [`keycodec`]: memcomparable primary keys (byte order is the SQL order).
//! - [`rowcodec`]: the compact, schema-versioned row encoding.
//!
//! This crate must not depend on anything heavier than `thiserror`: storage, transactions,
//! SQL, the proxy and the benchmarks all build on it.

pub mod charset;
pub mod collation;
pub mod error;
pub mod ids;
pub mod keycodec;
pub mod limits;
pub mod rowcodec;
pub mod sqltext;
pub mod types;
pub mod value;

/// Errors of the key and row codecs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The bytes are not a valid encoding (corruption, or a bug upstream).
    #[error("corrupt encoding: {0}")]
    Corrupt(String),
    /// The values do not fit the schema they are encoded against.
    #[error("schema mismatch: {0}")]
    Schema(String),
}

impl error::MysqlError for CodecError {
    fn code(&self) -> error::ErrorCode {
        match self {
            CodecError::Corrupt(_) => error::ER_FILE_CORRUPT,
            CodecError::Schema(_) => error::ER_INTERNAL_ERROR,
        }
    }
}
