//! `reef-txn`: transactions on ReefDB's storage engine.
//!
//! - [`txn`]: [`txn::TxnManager`] and [`txn::Transaction`]: isolation levels with MySQL's
//!   semantics, current reads under row locks, unique inserts, `FOR UPDATE` / `FOR SHARE`
//!   with `NOWAIT` and `SKIP LOCKED`, statement-level rollback, savepoints, 1PC commit.
//! - [`lock`]: waiting for row locks, deadlock detection, shared locks.
//! - [`ts`]: the timestamp-source trait (the GTS client will implement it) and a local one.
//! - [`log`]: commit records, the commit-log trait a log stream implements, replay.
//!
//! The contract with the engine is docs/design/0002-storage-api.md. This crate does no I/O
//! of its own except through [`log::LocalLog`], the single-replica stand-in for a
//! replicated log stream, and must not depend on SQL, DataFusion or the network.

pub mod error;
pub mod lock;
pub mod log;
pub mod ts;
pub mod txn;

pub use error::{Result, TxnError};
