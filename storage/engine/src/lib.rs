//! `reef-storage`: ReefDB's per-tablet LSM storage engine.
//!
//! ```text
//!  writes ──► active MemTable ──freeze──► frozen MemTables ──mini──► mini SSTables
//!             (skip list + hash,                                      │ minor
//!              MVCC version chains)                                   ▼
//!                                                      major ◄── minor SSTables
//!                                                        │
//!                                                        ▼
//!                                        baseline SSTable (macroblocks reused when unchanged)
//!  reads: MemTables newest first ─► row cache ─► bloom ─► SSTables newest first
//! ```
//!
//! The Raft log of a log stream is the redo log; the engine keeps no WAL of its own. The
//! [`logstore`] module is the append-only segment store that log sits on.
//!
//! Key types: [`mvcc::TxnCtx`] (a transaction's versions), [`memtable::MemTable`],
//! [`tablet::Tablet`]. Invariants are documented where they are kept. This crate must not
//! depend on DataFusion, sqlparser, tokio or the network.

pub mod cache;
pub mod error;
pub mod fs;
pub mod logstore;
pub mod manifest;
pub mod memtable;
pub mod mvcc;
pub mod scan;
pub mod schema;
pub mod sstable;
pub mod tablet;

pub use error::{Result, StorageError};
