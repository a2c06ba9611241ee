//! End-to-end tests: the real `reef` binary, real MySQL clients over TCP.

mod bank;
mod dump;
mod elle;
mod harness;
mod slt;
mod sql;
mod tpcc;
mod tpch;
