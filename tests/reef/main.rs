//! End-to-end tests: the real `reef` binary, real MySQL clients over TCP.

mod harness;
mod sql;
