//! Newtype identifiers and versions. A bare `u64` never crosses a crate boundary: each id
//! says what it names, so a log index cannot be passed where a commit version is expected.

use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub u64);

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

id_type!(
    /// A transaction, unique on the node that started it.
    TxnId
);
id_type!(
    /// A tablet: one partition of one table or index.
    TabletId
);
id_type!(
    /// A log stream: one Raft group carrying the redo of many tablets.
    LsId
);
id_type!(
    /// A server process in the cluster.
    NodeId
);
id_type!(
    /// A table (or index) in the catalog.
    TableId
);
id_type!(
    /// A position in a log stream's Raft log (Raft's *log index*, not a commit version).
    LogIndex
);

/// An MVCC version: a timestamp from the timestamp source (GTS). Snapshots and commit
/// versions are both `Version`s; a reader at snapshot `s` sees commits with version `<= s`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Version(pub u64);

impl Version {
    /// Below every real version: nothing committed is visible at it.
    pub const ZERO: Version = Version(0);
    /// Above every real version: a snapshot at `MAX` sees everything committed.
    pub const MAX: Version = Version(u64::MAX);
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A statement's sequence number inside its transaction. Writes carry the sequence number of
/// the statement that made them; a statement reads its transaction's writes with a smaller
/// sequence number only, so it never reads its own output (`INSERT ... SELECT` from the same
/// table terminates), and statement-level rollback removes the writes at or above one number.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct StmtSeq(pub u32);
