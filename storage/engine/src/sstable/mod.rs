//! SSTables: immutable, columnar, sorted by (key, version descending).
//!
//! An SSTable is a list of macroblocks (see [`macroblock`]); each macroblock is its own file
//! of microblocks ([`block`]) plus a bloom filter and a sparse index, so that a major
//! compaction can reuse an unchanged macroblock by reference instead of rewriting it.

pub mod block;
pub mod bloom;
pub mod encoding;
pub mod macroblock;
pub mod table;
