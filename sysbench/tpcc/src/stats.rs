//! Response-time histograms with about 1% resolution, and per-second counts for charts.

use std::time::Duration;

/// Bucket `i` holds response times in `[GROWTH^i, GROWTH^(i+1))` microseconds.
const GROWTH: f64 = 1.02;
const BUCKETS: usize = 1100;

#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    sum_us: u64,
    max_us: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            sum_us: 0,
            max_us: 0,
        }
    }
}

impl Histogram {
    pub fn record(&mut self, d: Duration) {
        let us = d.as_micros().clamp(1, u128::from(u64::MAX)) as u64;
        let i = ((us as f64).ln() / GROWTH.ln()) as usize;
        self.counts[i.min(BUCKETS - 1)] += 1;
        self.total += 1;
        self.sum_us += us;
        self.max_us = self.max_us.max(us);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.sum_us += other.sum_us;
        self.max_us = self.max_us.max(other.max_us);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    /// The `p`-th percentile (0..=100) in milliseconds: the middle of its bucket.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let rank = ((p / 100.0) * self.total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let mid = GROWTH.powf(i as f64 + 0.5);
                return (mid / 1000.0).min(self.max_ms());
            }
        }
        self.max_ms()
    }

    pub fn mean_ms(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.sum_us as f64 / self.total as f64 / 1000.0
        }
    }

    pub fn max_ms(&self) -> f64 {
        self.max_us as f64 / 1000.0
    }
}

/// One transaction type's outcome over the measured interval.
#[derive(Clone, Debug, Default)]
pub struct KindStats {
    /// Response times of completed transactions (committed or rolled back by design),
    /// retries included.
    pub latency: Histogram,
    pub rolled_back: u64,
    /// Attempts that failed with a retryable error and were run again.
    pub retries: u64,
    /// Transactions abandoned on an error a retry cannot fix.
    pub errors: u64,
}

impl KindStats {
    pub fn merge(&mut self, o: &KindStats) {
        self.latency.merge(&o.latency);
        self.rolled_back += o.rolled_back;
        self.retries += o.retries;
        self.errors += o.errors;
    }
}

/// Completions and summed response time per transaction type, per second of the run.
#[derive(Clone, Debug, Default)]
pub struct Series {
    pub seconds: Vec<[(u32, u64); 5]>,
}

impl Series {
    pub fn record(&mut self, second: usize, kind: usize, d: Duration) {
        if self.seconds.len() <= second {
            self.seconds.resize(second + 1, [(0, 0); 5]);
        }
        let slot = &mut self.seconds[second][kind];
        slot.0 += 1;
        slot.1 += d.as_micros() as u64;
    }

    pub fn merge(&mut self, o: &Series) {
        if self.seconds.len() < o.seconds.len() {
            self.seconds.resize(o.seconds.len(), [(0, 0); 5]);
        }
        for (mine, theirs) in self.seconds.iter_mut().zip(&o.seconds) {
            for (a, b) in mine.iter_mut().zip(theirs) {
                a.0 += b.0;
                a.1 += b.1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_land_within_a_bucket() {
        let mut h = Histogram::default();
        for ms in 1..=1000u64 {
            h.record(Duration::from_millis(ms));
        }
        for (p, want) in [(50.0, 500.0), (90.0, 900.0), (99.0, 990.0)] {
            let got = h.percentile_ms(p);
            assert!((got - want).abs() / want < 0.02, "p{p}: {got} vs {want}");
        }
        assert_eq!(h.max_ms(), 1000.0);
        assert!((h.mean_ms() - 500.5).abs() < 1e-9);
    }

    #[test]
    fn merging_adds_counts() {
        let mut a = Histogram::default();
        let mut b = Histogram::default();
        a.record(Duration::from_millis(2));
        b.record(Duration::from_millis(40));
        a.merge(&b);
        assert_eq!(a.count(), 2);
        assert_eq!(a.max_ms(), 40.0);
        let mut s = Series::default();
        s.record(3, 1, Duration::from_millis(5));
        let mut t = Series::default();
        t.record(1, 1, Duration::from_millis(5));
        s.merge(&t);
        assert_eq!(s.seconds.len(), 4);
        assert_eq!(s.seconds[1][1].0, 1);
        assert_eq!(s.seconds[3][1], (1, 5000));
    }
}
