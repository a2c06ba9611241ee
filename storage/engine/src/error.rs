//! The storage engine's one error type.

use std::path::PathBuf;

use reef_common::error::{self, ErrorCode, MysqlError};
use reef_common::ids::TxnId;
use reef_common::CodecError;

/// Everything the engine can fail with. Corruption always names the file and offset.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// An I/O call failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// A checksum or structural check failed: the bytes are not served as data.
    #[error("corrupt data in {path} at offset {offset}: {what}")]
    Corrupt {
        /// The file holding the bad bytes.
        path: PathBuf,
        /// Byte offset of the bad block or record.
        offset: u64,
        /// What check failed.
        what: String,
    },
    /// Another transaction holds the row: wait for it (through the lock table) and retry.
    #[error("row is locked by transaction {holder}")]
    Locked {
        /// The transaction holding the row lock.
        holder: TxnId,
    },
    /// The transaction was rolled back by the engine (for example, because it held a
    /// MemTable dump back longer than the limit) and can take no more writes.
    #[error("transaction {txn} was rolled back: {reason}")]
    TxnAborted {
        /// The transaction.
        txn: TxnId,
        /// Why the engine rolled it back.
        reason: String,
    },
    /// A reader waited too long for a committing transaction's decision.
    #[error("timed out waiting for transaction {txn} to commit or roll back")]
    DecisionTimeout {
        /// The transaction that did not decide.
        txn: TxnId,
    },
    /// Writes are stalled: frozen MemTables wait for their dump and exceed the memory budget.
    #[error("write stalled: {0}")]
    WriteStall(String),
    /// A key or row exceeds a limit.
    #[error("{0}")]
    TooLarge(String),
    /// A row or key failed to decode.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The log store or tablet is unusable after an earlier failure (for example a failed
    /// fsync, after which the page cache state is unknown); the replica must be reopened.
    #[error("storage is poisoned by an earlier failure: {0}")]
    Poisoned(String),
    /// A caller broke the API contract (a bug in the layer above).
    #[error("invalid request: {0}")]
    Invalid(String),
}

impl StorageError {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> StorageError {
        StorageError::Io {
            path: path.into(),
            source,
        }
    }
}

impl MysqlError for StorageError {
    fn code(&self) -> ErrorCode {
        match self {
            StorageError::Io { .. } | StorageError::Poisoned(_) => error::ER_ERROR_ON_WRITE,
            StorageError::Corrupt { .. } => error::ER_FILE_CORRUPT,
            StorageError::Locked { .. } | StorageError::DecisionTimeout { .. } => {
                error::ER_LOCK_WAIT_TIMEOUT
            }
            StorageError::TxnAborted { .. } => error::ER_LOCK_DEADLOCK,
            StorageError::WriteStall(_) => error::ER_OUT_OF_RESOURCES,
            StorageError::TooLarge(_) => error::ER_TOO_BIG_ROWSIZE,
            StorageError::Codec(e) => e.code(),
            StorageError::Invalid(_) => error::ER_INTERNAL_ERROR,
        }
    }
}

/// The engine's result type.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;
