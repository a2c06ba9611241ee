//! A progress line for long steps: redrawn in place on a terminal, a line every few seconds
//! into a log.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Progress {
    label: &'static str,
    total: u64,
    done: AtomicU64,
    finished: AtomicBool,
    start: Instant,
}

impl Progress {
    pub fn new(label: &'static str, total: u64) -> Progress {
        Progress {
            label,
            total,
            done: AtomicU64::new(0),
            finished: AtomicBool::new(false),
            start: Instant::now(),
        }
    }

    pub fn add(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }

    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// Ends `report`'s loop.
    pub fn finish(&self) {
        self.finished.store(true, Ordering::Relaxed);
    }

    /// Prints the line until `finish`, then a final one.
    pub fn report(&self) {
        let tty = std::io::stderr().is_terminal();
        let every = if tty {
            Duration::from_millis(500)
        } else {
            Duration::from_secs(5)
        };
        let mut last = Instant::now();
        while !self.finished.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
            if last.elapsed() >= every {
                last = Instant::now();
                self.print(tty, false);
            }
        }
        self.print(tty, true);
    }

    fn print(&self, tty: bool, last: bool) {
        let done = self.done();
        let secs = self.start.elapsed().as_secs_f64().max(1e-3);
        let rate = done as f64 / secs;
        let pct = 100.0 * done as f64 / self.total.max(1) as f64;
        let eta = if rate > 0.0 && done < self.total {
            format!(", {:.0} s left", (self.total - done) as f64 / rate)
        } else {
            String::new()
        };
        let line = format!(
            "{}: {pct:5.1}% {done}/{} rows, {rate:.0} rows/s, {secs:.0} s{eta}",
            self.label, self.total
        );
        let mut err = std::io::stderr().lock();
        let _ = if tty {
            write!(err, "\r\x1b[2K{line}{}", if last { "\n" } else { "" })
        } else {
            writeln!(err, "{line}")
        };
        let _ = err.flush();
    }
}
