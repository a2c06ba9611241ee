//! Transactions on real tablets and a real log: isolation, locks, deadlocks, unique keys,
//! savepoints, durability.

mod bank;
mod common;
mod elle;
mod semantics;
