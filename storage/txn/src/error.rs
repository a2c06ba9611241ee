//! The transaction layer's errors, with MySQL's messages where MySQL has one.

use reef_common::error::{self, ErrorCode, MysqlError};
use reef_storage::mvcc::DependencyFailure;
use reef_storage::StorageError;

/// Everything a transaction can fail with.
#[derive(Debug, thiserror::Error)]
pub enum TxnError {
    /// Waited `innodb_lock_wait_timeout` for a row lock.
    #[error("Lock wait timeout exceeded; try restarting transaction")]
    LockWaitTimeout,
    /// Chosen as the victim of a wait-for cycle; the transaction was rolled back.
    #[error("Deadlock found when trying to get lock; try restarting transaction")]
    Deadlock,
    /// A unique key already holds this value.
    #[error("Duplicate entry '{key}' for key '{index}'")]
    Duplicate {
        /// The value, as MySQL prints it.
        key: String,
        /// The index name.
        index: String,
    },
    /// `NOWAIT` met a locked row.
    #[error(
        "Statement aborted because lock(s) could not be acquired immediately and NOWAIT is set."
    )]
    LockNowait,
    /// A write in a `READ ONLY` transaction.
    #[error("Cannot execute statement in a READ ONLY transaction.")]
    ReadOnly,
    /// `ROLLBACK TO` or `RELEASE` of an unknown savepoint.
    #[error("SAVEPOINT {0} does not exist")]
    NoSavepoint(String),
    /// The transaction was already committed or rolled back (for example, as a deadlock
    /// victim, or by the engine).
    #[error("transaction {0} is no longer active")]
    NotActive(String),
    /// A transaction exceeded a documented limit.
    #[error("transaction too large: {0}")]
    TooLarge(String),
    /// The commit record could not be made durable; whether it survives is unknown until
    /// the replica recovers.
    #[error("commit failed: {0}")]
    CommitFailed(String),
    /// The transaction changed or read rows right after another transaction released them
    /// while committing, and that one did not commit (or took too long to): this one was
    /// rolled back without reaching the log.
    #[error("{}", dependency_message(.0))]
    DependencyFailed(DependencyFailure),
    /// `KILL QUERY` (or `KILL CONNECTION`) stopped the statement.
    #[error("Query execution was interrupted")]
    Interrupted,
    /// The storage engine failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl MysqlError for TxnError {
    fn code(&self) -> ErrorCode {
        match self {
            TxnError::LockWaitTimeout => error::ER_LOCK_WAIT_TIMEOUT,
            TxnError::Deadlock => error::ER_LOCK_DEADLOCK,
            TxnError::Duplicate { .. } => error::ER_DUP_ENTRY,
            TxnError::LockNowait => error::ER_LOCK_NOWAIT,
            TxnError::ReadOnly => error::ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION,
            TxnError::NoSavepoint(_) => error::ER_SP_DOES_NOT_EXIST,
            TxnError::NotActive(_) => error::ER_LOCK_DEADLOCK,
            TxnError::TooLarge(_) => error::ER_TRANS_CACHE_FULL,
            TxnError::CommitFailed(_) => error::ER_ERROR_ON_WRITE,
            TxnError::DependencyFailed(_) => error::ER_LOCK_DEADLOCK,
            TxnError::Interrupted => error::ER_QUERY_INTERRUPTED,
            TxnError::Storage(e) => e.code(),
        }
    }
}

fn dependency_message(f: &DependencyFailure) -> String {
    match f {
        DependencyFailure::Aborted(t) => format!(
            "Transaction rolled back: it used rows of transaction {t}, which failed to commit; try restarting transaction"
        ),
        DependencyFailure::Undecided(t) => format!(
            "Transaction rolled back: transaction {t}, whose rows it used, did not finish committing in time; try restarting transaction"
        ),
    }
}

/// The transaction layer's result type.
pub type Result<T, E = TxnError> = std::result::Result<T, E>;
