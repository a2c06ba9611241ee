//! The protocol layer against real clients: the mysql CLI, PyMySQL, mysql-connector-python,
//! and a raw client that pipelines commands. The backend here is a test double that
//! understands a few toy statements; the SQL meaning lives in other crates.

mod backend;
mod clients;
