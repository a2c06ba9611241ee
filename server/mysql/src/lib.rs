//! `reef-mysql`: the MySQL client/server protocol, as ReefDB's server and proxy speak it.
//!
//! The protocol layer owns framing, the handshake and `mysql_native_password`, command
//! dispatch, result-set encoding (text and binary), prepared-statement parameters, and the
//! status flags in every OK and EOF packet. What statements *mean* belongs to the
//! [`Session`] a [`Backend`] opens for each connection. Each connection runs on its own
//! thread with blocking I/O (docs/design/0003-mysql-protocol.md says why).
//!
//! Must not depend on the storage engine, SQL or DataFusion: the proxy uses it too.

pub mod auth;
pub mod codec;
pub mod proto;
mod server;

pub use proto::{Column, ColumnType, OkInfo, QueryError, Response, Value};
pub use server::{start, Server, ServerOptions};

use std::net::SocketAddr;

/// Who is connected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnInfo {
    /// `CONNECTION_ID()`: unique per server process.
    pub id: u32,
    /// The user name.
    pub user: String,
    /// The client's address.
    pub peer: SocketAddr,
    /// The database named at connect, if any.
    pub db: Option<String>,
    /// The client's capability flags.
    pub capabilities: u32,
    /// The character set of the client's handshake.
    pub charset: reef_common::charset::ClientCharset,
}

/// A prepared statement as the session describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prepared {
    /// The statement id the client will execute.
    pub id: u32,
    /// How many `?` parameters it takes.
    pub params: u16,
    /// The columns it returns (empty for statements that return OK).
    pub columns: Vec<Column>,
}

/// One connection's state: what statements mean.
pub trait Session: Send {
    /// `COM_QUERY`: the text may hold several statements (the client allowed
    /// multi-statements); one response each, stopping after the first error.
    fn query(&mut self, sql: &str) -> Vec<Result<Response, QueryError>>;
    /// `COM_STMT_PREPARE`. Answer 1295 for a statement the session does not prepare (drivers
    /// then fall back to the text protocol).
    fn prepare(&mut self, sql: &str) -> Result<Prepared, QueryError>;
    /// `COM_STMT_EXECUTE` with decoded parameters.
    fn execute(&mut self, id: u32, params: Vec<Value>) -> Result<Response, QueryError>;
    /// `COM_STMT_CLOSE`.
    fn close(&mut self, id: u32);
    /// `COM_INIT_DB` (and a database named at connect).
    fn init_db(&mut self, db: &str) -> Result<(), QueryError>;
    /// `COM_RESET_CONNECTION`: roll back, forget variables and prepared statements.
    fn reset(&mut self);
    /// `COM_CHANGE_USER` after the new user authenticated: reset, then become `user`.
    fn change_user(&mut self, user: &str, db: Option<&str>) -> Result<(), QueryError>;
    /// Status flags for the next OK/EOF ([`proto::status`]).
    fn status(&self) -> u16;
    /// Warnings of the last statement (for EOF packets).
    fn warnings(&self) -> u16;
    /// The character sets of the client's statements and of the results it reads.
    fn charsets(
        &self,
    ) -> (
        reef_common::charset::ClientCharset,
        reef_common::charset::ClientCharset,
    ) {
        Default::default()
    }
}

/// Stored credentials of a user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserAuth {
    /// `SHA1(SHA1(password))`, or `None` for an empty password.
    pub stage2: Option<[u8; 20]>,
}

/// The server side behind the protocol.
pub trait Backend: Send + Sync + 'static {
    /// The session type.
    type Session: Session + 'static;
    /// The version string in the greeting (`8.0.x-ReefDB-...`).
    fn server_version(&self) -> String;
    /// The credentials of the account user `name` connecting from `peer` logs in as, or
    /// `None` if no account admits it.
    fn user(&self, name: &str, peer: std::net::IpAddr) -> Option<UserAuth>;
    /// Opens the session of an authenticated connection (fails, for example, on an unknown
    /// database named at connect).
    fn session(&self, conn: &ConnInfo) -> Result<Self::Session, QueryError>;
    /// Called after a connection closed.
    fn closed(&self, _conn_id: u32) {}
}
