//! reef-storage: see the crate documentation as it grows.
