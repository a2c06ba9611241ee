//! A measured run: one thread and connection per terminal, each with a home warehouse and
//! district, drawing transactions from a shuffled deck in the mix's proportions (clause
//! 5.2.4.2), optionally with keying and think times (clause 5.2.5).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Result;
use rand::seq::SliceRandom;
use rand::Rng;

use crate::gen::{Constants, Gen};
use crate::schema::Config;
use crate::stats::{KindStats, Series};
use crate::txn::{Done, Input, Kind, Terminal, TxnError};
use crate::ConnArgs;

#[derive(Clone, Debug)]
pub struct RunOptions {
    pub terminals: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub keying: bool,
    pub seed: u64,
    pub report_every: Duration,
}

/// Errors of one kind from one transaction type: how many, and the first message.
#[derive(Clone, Debug)]
pub struct ErrorLog {
    pub count: u64,
    pub first: String,
}

#[derive(Debug)]
pub struct RunResult {
    pub cfg: Config,
    pub opts: RunOptions,
    pub kinds: [KindStats; 5],
    pub series: Series,
    /// Keyed by transaction name and error key; warm-up included.
    pub errors: BTreeMap<(String, String), ErrorLog>,
}

impl RunResult {
    fn minutes(&self) -> f64 {
        self.opts.duration.as_secs_f64() / 60.0
    }

    /// New-Orders completed per minute, the 1% rolled back by design included.
    pub fn tpmc(&self) -> f64 {
        self.kinds[Kind::NewOrder.index()].latency.count() as f64 / self.minutes()
    }

    /// Transactions of every type completed per minute.
    pub fn tpm_total(&self) -> f64 {
        self.kinds.iter().map(|k| k.latency.count()).sum::<u64>() as f64 / self.minutes()
    }

    pub fn errors(&self) -> u64 {
        self.kinds.iter().map(|k| k.errors).sum()
    }

    pub fn retries(&self) -> u64 {
        self.kinds.iter().map(|k| k.retries).sum()
    }

    /// Whether every type's 90th percentile is within its clause 5.2.5.3 limit.
    pub fn response_times_met(&self) -> bool {
        Kind::ALL.iter().all(|&k| {
            self.kinds[k.index()].latency.percentile_ms(90.0) <= k.response_limit() * 1000.0
        })
    }

    pub fn print(&self) {
        let o = &self.opts;
        println!(
            "TPC-C: {} warehouse(s), {} terminals, {} s measured after {} s warm-up, keying and think times {}",
            self.cfg.warehouses,
            o.terminals,
            o.duration.as_secs(),
            o.warmup.as_secs(),
            if o.keying { "on" } else { "off" }
        );
        println!(
            "{:<13} {:>9} {:>6} {:>8} {:>8} {:>8} {:>8} {:>9} {:>8} {:>8} {:>7}",
            "transaction",
            "count",
            "share",
            "p50 ms",
            "p90 ms",
            "p95 ms",
            "p99 ms",
            "max ms",
            "rollback",
            "retries",
            "errors"
        );
        let total: u64 = self.kinds.iter().map(|k| k.latency.count()).sum();
        for k in Kind::ALL {
            let s = &self.kinds[k.index()];
            let h = &s.latency;
            println!(
                "{:<13} {:>9} {:>5.1}% {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>9.2} {:>8} {:>8} {:>7}",
                k.name(),
                h.count(),
                100.0 * h.count() as f64 / total.max(1) as f64,
                h.percentile_ms(50.0),
                h.percentile_ms(90.0),
                h.percentile_ms(95.0),
                h.percentile_ms(99.0),
                h.max_ms(),
                s.rolled_back,
                s.retries,
                s.errors
            );
        }
        println!(
            "tpmC {:.1}   tpmTOTAL {:.1}   retries {}   errors {}   90th percentiles within limits: {}",
            self.tpmc(),
            self.tpm_total(),
            self.retries(),
            self.errors(),
            if self.response_times_met() { "yes" } else { "no" }
        );
        for ((kind, key), log) in &self.errors {
            println!("error {kind} {key} ×{}: {}", log.count, log.first);
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        let kinds: Vec<serde_json::Value> = Kind::ALL
            .iter()
            .map(|&k| {
                let s = &self.kinds[k.index()];
                let h = &s.latency;
                serde_json::json!({
                    "name": k.name(),
                    "count": h.count(),
                    "rolled_back": s.rolled_back,
                    "retries": s.retries,
                    "errors": s.errors,
                    "mean_ms": h.mean_ms(),
                    "p50_ms": h.percentile_ms(50.0),
                    "p90_ms": h.percentile_ms(90.0),
                    "p95_ms": h.percentile_ms(95.0),
                    "p99_ms": h.percentile_ms(99.0),
                    "max_ms": h.max_ms(),
                })
            })
            .collect();
        let errors: Vec<serde_json::Value> = self
            .errors
            .iter()
            .map(|((kind, key), log)| {
                serde_json::json!({"transaction": kind, "error": key, "count": log.count, "first": log.first})
            })
            .collect();
        serde_json::json!({
            "warehouses": self.cfg.warehouses,
            "terminals": self.opts.terminals,
            "warmup_s": self.opts.warmup.as_secs_f64(),
            "duration_s": self.opts.duration.as_secs_f64(),
            "keying": self.opts.keying,
            "tpmC": self.tpmc(),
            "tpmTOTAL": self.tpm_total(),
            "retries": self.retries(),
            "errors": self.errors(),
            "response_times_met": self.response_times_met(),
            "transactions": kinds,
            "error_log": errors,
        })
    }

    /// Per-second completions and mean response times, one row per second.
    pub fn series_csv(&self) -> String {
        let mut out = String::from("second");
        for k in Kind::ALL {
            out.push_str(&format!(",{}", k.name()));
        }
        for k in Kind::ALL {
            out.push_str(&format!(",{} mean ms", k.name()));
        }
        out.push('\n');
        for (s, row) in self.series.seconds.iter().enumerate() {
            out.push_str(&(s + 1).to_string());
            for (n, _) in row {
                out.push_str(&format!(",{n}"));
            }
            for (n, us) in row {
                let mean = if *n == 0 {
                    0.0
                } else {
                    *us as f64 / f64::from(*n) / 1000.0
                };
                out.push_str(&format!(",{mean:.3}"));
            }
            out.push('\n');
        }
        out
    }
}

/// What the terminals share: the clock, the stop flag, live counters and the error log.
struct Shared {
    stop: AtomicBool,
    measure_start: Instant,
    measure_end: Instant,
    completed: [AtomicU64; 5],
    retries: AtomicU64,
    errors: AtomicU64,
    error_log: Mutex<BTreeMap<(String, String), ErrorLog>>,
}

impl Shared {
    fn note_error(&self, kind: Kind, e: &TxnError) {
        let mut log = self.error_log.lock().expect("no panics hold it");
        let entry = log
            .entry((kind.name().to_string(), e.key()))
            .or_insert_with(|| {
                eprintln!("tpcc: {} failed: {e}", kind.name());
                ErrorLog {
                    count: 0,
                    first: e.to_string(),
                }
            });
        entry.count += 1;
    }

    /// Sleeps `d`, or less if the run stops.
    fn sleep(&self, d: Duration) {
        let until = Instant::now() + d;
        while !self.stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            if now >= until {
                return;
            }
            std::thread::sleep((until - now).min(Duration::from_millis(100)));
        }
    }
}

/// Runs the terminals for the warm-up and the measured interval.
pub fn run(args: &ConnArgs, opts: RunOptions) -> Result<RunResult> {
    let cfg = Config::read(&mut args.connect()?)?;
    let mut rng = rand::rng();
    let c_run = Constants::for_run(cfg.c_load, &mut rng);
    let measure_start = Instant::now() + opts.warmup;
    let shared = Shared {
        stop: AtomicBool::new(false),
        measure_start,
        measure_end: measure_start + opts.duration,
        completed: Default::default(),
        retries: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        error_log: Mutex::new(BTreeMap::new()),
    };
    // Connect every terminal before the clock matters.
    let mut terminals = Vec::with_capacity(opts.terminals);
    for t in 0..opts.terminals {
        let w_id = (t as u32 % cfg.warehouses) + 1;
        let d_id = (t as u32 / cfg.warehouses) % cfg.scale.districts + 1;
        terminals.push(Terminal {
            conn: args.connect()?,
            gen: Gen::new(opts.seed.wrapping_add(t as u64 * 7919), c_run),
            w_id,
            d_id,
            cfg,
        });
    }
    let results: Vec<([KindStats; 5], Series)> = std::thread::scope(|s| {
        let handles: Vec<_> = terminals
            .into_iter()
            .map(|term| {
                let (shared, opts) = (&shared, &opts);
                s.spawn(move || terminal(args, term, opts, shared))
            })
            .collect();
        live_report(&shared, &opts);
        shared.stop.store(true, Ordering::Relaxed);
        handles
            .into_iter()
            .map(|h| h.join().expect("terminal threads do not panic"))
            .collect()
    });
    let mut kinds: [KindStats; 5] = Default::default();
    let mut series = Series::default();
    for (k, s) in &results {
        for (mine, theirs) in kinds.iter_mut().zip(k) {
            mine.merge(theirs);
        }
        series.merge(s);
    }
    series
        .seconds
        .truncate(opts.duration.as_secs().max(1) as usize);
    let errors = shared.error_log.into_inner().expect("no panics hold it");
    Ok(RunResult {
        cfg,
        opts,
        kinds,
        series,
        errors,
    })
}

/// Prints throughput every `report_every` until the measured interval ends.
fn live_report(shared: &Shared, opts: &RunOptions) {
    let mut last = (Instant::now(), 0u64, 0u64);
    loop {
        let now = Instant::now();
        if now >= shared.measure_end {
            return;
        }
        std::thread::sleep(opts.report_every.min(shared.measure_end - now));
        let now = Instant::now();
        let new_orders = shared.completed[Kind::NewOrder.index()].load(Ordering::Relaxed);
        let all: u64 = shared
            .completed
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum();
        let minutes = (now - last.0).as_secs_f64() / 60.0;
        let phase = if now < shared.measure_start {
            "warm-up".to_string()
        } else {
            format!("{:4.0} s", (now - shared.measure_start).as_secs_f64())
        };
        eprintln!(
            "[{phase}] tpmC {:.0}  tpmTOTAL {:.0}  retries {}  errors {}",
            (new_orders - last.1) as f64 / minutes,
            (all - last.2) as f64 / minutes,
            shared.retries.load(Ordering::Relaxed),
            shared.errors.load(Ordering::Relaxed)
        );
        last = (now, new_orders, all);
    }
}

fn deck(rng: &mut impl Rng) -> Vec<Kind> {
    let mut cards: Vec<Kind> = Kind::ALL
        .iter()
        .flat_map(|&k| std::iter::repeat_n(k, k.weight()))
        .collect();
    cards.shuffle(rng);
    cards
}

fn terminal(
    args: &ConnArgs,
    mut term: Terminal,
    opts: &RunOptions,
    shared: &Shared,
) -> ([KindStats; 5], Series) {
    let mut kinds: [KindStats; 5] = Default::default();
    let mut series = Series::default();
    let mut cards = Vec::new();
    while !shared.stop.load(Ordering::Relaxed) {
        if cards.is_empty() {
            cards = deck(term.gen.rng());
        }
        let kind = cards.pop().expect("refilled");
        let input: Input = term.input(kind);
        let (keying, think) = kind.keying_and_think();
        if opts.keying {
            shared.sleep(Duration::from_secs_f64(keying));
        }
        let began = Instant::now();
        let mut retries = 0;
        let result = loop {
            match term.execute(&input) {
                Err(e) if e.retryable() && !shared.stop.load(Ordering::Relaxed) => {
                    retries += 1;
                    shared.retries.fetch_add(1, Ordering::Relaxed);
                }
                other => break other,
            }
        };
        let ended = Instant::now();
        let measured = began >= shared.measure_start && ended <= shared.measure_end;
        let stats = &mut kinds[kind.index()];
        if measured {
            stats.retries += retries;
        }
        match result {
            Ok(done) => {
                if measured {
                    let rt = ended - began;
                    stats.latency.record(rt);
                    if done == Done::RolledBack {
                        stats.rolled_back += 1;
                    }
                    let second = (ended - shared.measure_start).as_secs() as usize;
                    series.record(second, kind.index(), rt);
                }
                shared.completed[kind.index()].fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                if measured {
                    stats.errors += 1;
                }
                shared.errors.fetch_add(1, Ordering::Relaxed);
                shared.note_error(kind, &e);
                if e.connection_lost() {
                    reconnect(args, &mut term, shared);
                }
            }
        }
        if opts.keying {
            // Negative exponential think time, capped at ten times its mean (5.2.5.4).
            let r: f64 = term.gen.rng().random_range(f64::MIN_POSITIVE..=1.0);
            shared.sleep(Duration::from_secs_f64((-r.ln() * think).min(10.0 * think)));
        }
    }
    (kinds, series)
}

fn reconnect(args: &ConnArgs, term: &mut Terminal, shared: &Shared) {
    while !shared.stop.load(Ordering::Relaxed) {
        match args.connect() {
            Ok(conn) => {
                term.conn = conn;
                return;
            }
            Err(_) => shared.sleep(Duration::from_secs(1)),
        }
    }
}
