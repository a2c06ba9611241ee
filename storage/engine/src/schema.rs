//! What the engine knows of a tablet's rows: the physical kind of each column slot and the
//! default a slot takes in rows written before it existed.

use reef_common::types::PhysicalKind;
use reef_common::value::Value;

/// The row layout of a tablet at one schema version.
#[derive(Clone, Debug, PartialEq)]
pub struct RowSchema {
    /// Schema version rows are encoded with.
    pub version: u32,
    /// Physical kind per column slot.
    pub kinds: Vec<PhysicalKind>,
    /// Default per column slot, for rows that predate the slot.
    pub defaults: Vec<Value>,
}

impl RowSchema {
    /// A schema whose slots all default to NULL.
    pub fn new(version: u32, kinds: Vec<PhysicalKind>) -> RowSchema {
        let defaults = vec![Value::Null; kinds.len()];
        RowSchema {
            version,
            kinds,
            defaults,
        }
    }
}
