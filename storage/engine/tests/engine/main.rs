//! Integration tests of the storage engine through the `Tablet` API.

mod common;
mod model;
mod mvcc;
mod sstables;
