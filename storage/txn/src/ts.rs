//! Timestamps: where snapshots, prepare versions and commit versions come from.
//!
//! The transaction layer only sees [`TimestampSource`]; the cluster's GTS client (batched RPCs
//! to the RootService) will implement it. [`LocalTimestamps`] serves one node: a hybrid clock
//! (wall-clock microseconds, or one more than the last timestamp if that is larger), floored
//! at the highest version recovery found, so it never goes backwards across restarts.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use reef_common::ids::Version;

/// Hands out strictly increasing versions.
pub trait TimestampSource: Send + Sync + std::fmt::Debug {
    /// A version larger than every version this source returned before.
    fn next(&self) -> Version;
    /// Tells the source that `v` is in use (a version seen in a log or from another node);
    /// later versions will exceed it.
    fn observe(&self, v: Version);
    /// The last version handed out: every later [`TimestampSource::next`] exceeds it.
    fn last(&self) -> Version;
}

/// A node-local hybrid clock.
#[derive(Debug)]
pub struct LocalTimestamps {
    last: AtomicU64,
}

impl LocalTimestamps {
    /// A source whose versions all exceed `floor` (the highest version recovery found).
    pub fn new(floor: Version) -> LocalTimestamps {
        LocalTimestamps {
            last: AtomicU64::new(floor.0),
        }
    }

    fn wall_us() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64)
    }
}

impl TimestampSource for LocalTimestamps {
    fn next(&self) -> Version {
        let wall = Self::wall_us();
        let mut cur = self.last.load(Ordering::Acquire);
        loop {
            let next = wall.max(cur + 1);
            match self
                .last
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Version(next),
                Err(seen) => cur = seen,
            }
        }
    }

    fn observe(&self, v: Version) {
        self.last.fetch_max(v.0, Ordering::AcqRel);
    }

    fn last(&self) -> Version {
        Version(self.last.load(Ordering::Acquire))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn strictly_increasing_across_threads_and_above_the_floor() {
        let floor = Version(u64::MAX / 2);
        let ts = Arc::new(LocalTimestamps::new(floor));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let ts = ts.clone();
                std::thread::spawn(move || (0..10_000).map(|_| ts.next()).collect::<Vec<_>>())
            })
            .collect();
        let mut all: Vec<Version> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        for per_thread in all.chunks(10_000) {
            assert!(per_thread.windows(2).all(|w| w[0] < w[1]));
        }
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n, "a version was handed out twice");
        assert!(all[0] > floor);
        ts.observe(Version(u64::MAX - 10));
        assert!(ts.next() > Version(u64::MAX - 10));
    }
}
