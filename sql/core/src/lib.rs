//! `reef-sql`: ReefDB's SQL layer without DataFusion.
//!
//! ```text
//!  SQL text ─► sqlparser (MySQL dialect) ─► SqlSession::execute
//!                                             ├─ session statements: SET, SHOW, USE, SELECT @@...
//!                                             ├─ transactions: BEGIN/COMMIT/ROLLBACK/SAVEPOINT, autocommit
//!                                             ├─ DDL: databases, tables (catalog in its own tablet)
//!                                             ├─ DML and OLTP queries on reef-txn transactions
//!                                             └─ other queries: handed to a QueryEngine (reef-olap)
//! ```
//!
//! Statements and expressions ReefDB does not implement yet answer MySQL error 1235
//! (`ER_NOT_SUPPORTED_YET`) naming what is missing; nothing is silently approximated.
//! Must not depend on DataFusion (the OLAP crate builds on this one) or on the network.

mod alter;
pub mod catalog;
pub mod datum;
pub mod dialect;
mod dml;
pub mod expr;
mod functions;
pub mod mdl;
mod mysql_only;
mod names;
pub mod olap;
pub mod process;
pub mod session;
pub mod show;
mod str_to_date;
pub mod vars;

use reef_common::error::{self, ErrorCode, MysqlError};

pub use dml::{primary_key_range, KeyBound};
pub use functions::{cast, cast_type, interval_keeps_date};
pub use olap::{QueryEngine, QueryRequest};
pub use session::{
    OutColumn, Output, SqlEngine, SqlSession, TabletSource, PREPARED_PER_SESSION_MAX,
};
pub use str_to_date::format_has_time;

/// An error answered to the client.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SqlError {
    /// MySQL errno and SQLSTATE.
    pub code: ErrorCode,
    /// The message.
    pub message: String,
}

impl SqlError {
    /// An error with `code`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> SqlError {
        SqlError {
            code,
            message: message.into(),
        }
    }

    /// A broken invariant inside the SQL layer: reported, never a crash.
    pub fn internal(message: impl Into<String>) -> SqlError {
        SqlError::new(
            error::ER_INTERNAL_ERROR,
            format!("internal error (a bug in ReefDB): {}", message.into()),
        )
    }

    /// A feature ReefDB does not have yet.
    pub fn unsupported(what: impl std::fmt::Display) -> SqlError {
        SqlError::new(
            error::ER_NOT_SUPPORTED_YET,
            format!("This version of ReefDB doesn't yet support '{what}'"),
        )
    }
}

impl From<reef_storage::StorageError> for SqlError {
    fn from(e: reef_storage::StorageError) -> Self {
        SqlError::new(e.code(), e.to_string())
    }
}

impl From<reef_txn::TxnError> for SqlError {
    fn from(e: reef_txn::TxnError) -> Self {
        SqlError::new(e.code(), e.to_string())
    }
}
