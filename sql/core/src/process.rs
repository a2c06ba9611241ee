//! The process list: one entry per session, as `SHOW PROCESSLIST` lists them, and `KILL`.
//!
//! `KILL QUERY id` raises the session's interrupt flag: its transaction's lock waits look at
//! it every 100 ms and the executor's scans every few thousand rows, and the statement fails
//! with 1317 (rolled back; the transaction goes on). `KILL [CONNECTION] id` does the same
//! and has the protocol layer close the connection, which rolls its transaction back.
//!
//! `max_execution_time` uses the same flag: a SELECT that runs under one is watched by the
//! node's one watchdog thread, which raises the flag at the deadline and marks the statement
//! timed out, so it fails with 3024 instead of 1317.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use reef_common::error;

use crate::SqlError;

/// What a session is doing.
#[derive(Debug)]
struct State {
    host: String,
    db: Option<String>,
    /// `Query` while a statement runs, `Sleep` between statements.
    command: &'static str,
    since: Instant,
    /// The running statement's text, while `command` is `Query` (the buffer is kept between
    /// statements, so recording a statement allocates only when it outgrows it).
    info: String,
    /// The session's latest transaction (open or not: readers match it against the open
    /// ones).
    txn: Option<u64>,
}

/// One session's entry.
#[derive(Debug)]
pub struct Process {
    id: u32,
    user: String,
    state: Mutex<State>,
    /// Raised by `KILL`; lowered when the next statement starts.
    pub(crate) interrupt: Arc<AtomicBool>,
    /// Counts watched statements, so a deadline left from an earlier one never fires.
    watched: AtomicU64,
    /// Raised with `interrupt` when a watched statement outlived its deadline.
    timed_out: AtomicBool,
}

impl Process {
    /// A statement starts.
    pub(crate) fn begin(&self, sql: &str, db: Option<&str>) {
        self.interrupt.store(false, Ordering::Relaxed);
        self.timed_out.store(false, Ordering::Relaxed);
        let mut st = self.state.lock();
        st.command = "Query";
        st.since = Instant::now();
        st.info.clear();
        st.info.push_str(sql);
        if st.db.as_deref() != db {
            st.db = db.map(str::to_string);
        }
    }

    /// The statement ended.
    pub(crate) fn end(&self) {
        let mut st = self.state.lock();
        st.command = "Sleep";
        st.since = Instant::now();
    }

    /// Whether the running statement was stopped by its `max_execution_time`.
    pub(crate) fn timed_out(&self) -> bool {
        self.timed_out.load(Ordering::Relaxed)
    }

    /// The watched statement ended: its deadline no longer applies.
    pub(crate) fn unwatch(&self) {
        self.watched.fetch_add(1, Ordering::Relaxed);
    }

    /// The session began transaction `id`.
    pub(crate) fn set_txn(&self, id: u64) {
        self.state.lock().txn = Some(id);
    }

    /// The client's address, once known.
    pub(crate) fn set_host(&self, host: String) {
        self.state.lock().host = host;
    }
}

/// A row of `SHOW PROCESSLIST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessRow {
    /// `CONNECTION_ID()`.
    pub id: u32,
    /// The user.
    pub user: String,
    /// The client's address.
    pub host: String,
    /// The current database.
    pub db: Option<String>,
    /// `Query` or `Sleep`.
    pub command: &'static str,
    /// Seconds in this command.
    pub time: u64,
    /// The running statement.
    pub info: Option<String>,
    /// The session's latest transaction (it may have ended).
    pub txn: Option<u64>,
}

/// Closes connection `id` (the protocol layer's `KILL CONNECTION`); false if there is none.
pub type ConnectionKiller = Box<dyn Fn(u32) -> bool + Send + Sync>;

/// Every session of the node.
#[derive(Default)]
pub struct ProcessList {
    procs: Mutex<HashMap<u32, Arc<Process>>>,
    killer: OnceLock<ConnectionKiller>,
    /// Deadlines for the watchdog thread (started on the first one).
    watchdog: OnceLock<Mutex<mpsc::Sender<Deadline>>>,
}

/// A watched statement: when, whose, and which of its statements.
type Deadline = (Instant, Arc<Process>, u64);

/// The watchdog thread: sleeps until the earliest deadline (or a new one), then stops every
/// statement whose deadline passed and that is still the one it was set for. It keeps one
/// deadline per session, the latest (a session runs one statement at a time), so what it
/// holds is bounded by the sessions, however many statements they run.
fn watchdog(rx: mpsc::Receiver<Deadline>) {
    let mut pending: HashMap<u32, Deadline> = HashMap::new();
    loop {
        let message = match pending.values().map(|d| d.0).min() {
            Some(at) => rx.recv_timeout(at.saturating_duration_since(Instant::now())),
            None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
        };
        match message {
            Ok(d) => {
                pending.insert(d.1.id, d);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        let now = Instant::now();
        pending.retain(|_, (at, p, seq)| {
            if *at > now {
                return true;
            }
            if p.watched.load(Ordering::Relaxed) == *seq {
                p.timed_out.store(true, Ordering::Relaxed);
                p.interrupt.store(true, Ordering::Relaxed);
            }
            false
        });
    }
}

impl std::fmt::Debug for ProcessList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProcessList({} sessions)", self.procs.lock().len())
    }
}

impl ProcessList {
    /// Registers session `id` of `user`.
    pub(crate) fn register(&self, id: u32, user: &str) -> Arc<Process> {
        let p = Arc::new(Process {
            id,
            user: user.to_string(),
            state: Mutex::new(State {
                host: "localhost".into(),
                db: None,
                command: "Sleep",
                since: Instant::now(),
                info: String::new(),
                txn: None,
            }),
            interrupt: Arc::new(AtomicBool::new(false)),
            watched: AtomicU64::new(0),
            timed_out: AtomicBool::new(false),
        });
        self.procs.lock().insert(id, p.clone());
        p
    }

    /// Stops `process`'s next statement (the one about to run) once it has run for
    /// `limit`, unless [`Process::unwatch`] comes first.
    pub(crate) fn watch(&self, process: &Arc<Process>, limit: Duration) {
        let seq = process.watched.fetch_add(1, Ordering::Relaxed) + 1;
        let tx = self.watchdog.get_or_init(|| {
            let (tx, rx) = mpsc::channel();
            std::thread::Builder::new()
                .name("reef-watchdog".into())
                .spawn(move || watchdog(rx))
                .expect("the watchdog thread starts");
            Mutex::new(tx)
        });
        let _ = tx
            .lock()
            .send((Instant::now() + limit, process.clone(), seq));
    }

    /// Forgets session `id` (its session ended).
    pub(crate) fn remove(&self, process: &Arc<Process>) {
        let mut procs = self.procs.lock();
        if procs
            .get(&process.id)
            .is_some_and(|p| Arc::ptr_eq(p, process))
        {
            procs.remove(&process.id);
        }
    }

    /// Lets `KILL CONNECTION` close connections (set once, by the server that owns them).
    pub fn set_connection_killer(&self, killer: ConnectionKiller) {
        let _ = self.killer.set(killer);
    }

    /// The sessions, by id.
    pub fn rows(&self) -> Vec<ProcessRow> {
        let procs: Vec<Arc<Process>> = self.procs.lock().values().cloned().collect();
        let mut rows: Vec<ProcessRow> = procs
            .iter()
            .map(|p| {
                let st = p.state.lock();
                ProcessRow {
                    id: p.id,
                    user: p.user.clone(),
                    host: st.host.clone(),
                    db: st.db.clone(),
                    command: st.command,
                    time: st.since.elapsed().as_secs(),
                    info: (st.command == "Query").then(|| st.info.clone()),
                    txn: st.txn,
                }
            })
            .collect();
        rows.sort_by_key(|r| r.id);
        rows
    }

    /// `KILL QUERY id` (`connection`: `KILL [CONNECTION] id`).
    pub(crate) fn kill(&self, id: u64, connection: bool) -> Result<(), SqlError> {
        let p = u32::try_from(id)
            .ok()
            .and_then(|id| self.procs.lock().get(&id).cloned())
            .ok_or_else(|| {
                SqlError::new(error::ER_NO_SUCH_THREAD, format!("Unknown thread id: {id}"))
            })?;
        p.interrupt.store(true, Ordering::Relaxed);
        if connection {
            if let Some(kill) = self.killer.get() {
                kill(p.id);
            }
        }
        tracing::info!(id, connection, "killed");
        Ok(())
    }
}
