//! Transactions on real tablets and a real log: isolation, locks, deadlocks, unique keys,
//! savepoints, durability.

mod bank;
mod common;
mod early_release;
mod elle;
mod semantics;
