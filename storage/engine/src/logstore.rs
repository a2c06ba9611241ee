//! The log segment store: an append-only store shared by every log stream (Raft group) on a
//! node, on which the openraft log of each stream sits.
//!
//! Files: `seg-<16 hex digits>.log` segments, appended in order and closed (fsynced) at
//! [`LOG_SEGMENT_BYTES_TARGET`]; `votes` holds each group's durable vote, replaced atomically.
//! The current segment is grown by written zeros [`LOG_PREALLOC_BYTES`] at a time ahead of
//! its records, so the fsync after an append flushes data blocks, not a new file size (as
//! InnoDB's preallocated redo log does); a segment is cut back to its records when it closes,
//! and zeros after the last record of the last segment are that unused space.
//!
//! A record is `[crc32c u32][len u32][kind u8][group u64][index u64][term u64]
//! [synced_before u64][payload]`; the CRC covers everything after itself. `synced_before` is
//! how far the segment was known durable when the record was written.
//!
//! Group commit: appenders write their records into the current segment under a mutex (a
//! copy into the page cache) and queue a callback; one syncer thread fsyncs whatever has been
//! written and completes every callback the fsync covered. Many appenders and many groups
//! share one fsync. A failed write or fsync poisons the store: after a failed fsync the page
//! cache state is unknown, so nothing more is acknowledged until the store is reopened.
//!
//! Recovery reads every segment. A bad record in the last segment is a torn tail (written
//! after the last fsync) unless a later valid record says that the bad one had already been
//! fsynced; a torn tail is trimmed. Any other bad record is corruption: opening fails with
//! the file and offset rather than silently dropping acknowledged entries.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex};
use reef_common::limits::{
    LOG_PREALLOC_BYTES, LOG_QUEUE_APPENDS_MAX, LOG_RECORD_BYTES_MAX, LOG_SEGMENT_BYTES_TARGET,
};

use crate::error::{Result, StorageError};
use crate::fs::{FileSystem, ReadFile, WriteFile};

const HEADER_BYTES: usize = 4 + 4 + 1 + 8 + 8 + 8 + 8;
const KIND_ENTRY: u8 = 1;
const KIND_TRUNCATE: u8 = 2;
const KIND_PURGE: u8 = 3;
const VOTES_FILE: &str = "votes";

/// A log stream's id within the store (the caller maps `LsId`s onto these).
pub type GroupId = u64;

/// One log entry as the store keeps it: Raft's index and term, and opaque bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// The Raft log index.
    pub index: u64,
    /// The Raft term of the entry.
    pub term: u64,
    /// The serialized entry.
    pub payload: Arc<[u8]>,
}

/// What a group's log looks like.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupState {
    /// The highest purged index and the payload given with it (openraft's last purged log id).
    pub purged: Option<(u64, Vec<u8>)>,
    /// The first and last index present.
    pub range: Option<(u64, u64)>,
}

#[derive(Clone, Copy, Debug)]
struct Loc {
    segment: u64,
    offset: u64,
    len: u32,
    term: u64,
}

#[derive(Default)]
struct Group {
    first: u64,
    locs: VecDeque<Loc>,
    purged: Option<(u64, Vec<u8>)>,
    /// During recovery: entries up to this index were missing when a later one was read;
    /// a purge record further on must cover them (see `replay_segment`).
    gap: Option<(u64, PathBuf, u64)>,
}

impl Group {
    fn last(&self) -> Option<u64> {
        (!self.locs.is_empty()).then(|| self.first + self.locs.len() as u64 - 1)
    }

    fn next_index(&self) -> Option<u64> {
        self.last()
            .or(self.purged.as_ref().map(|p| p.0))
            .map(|i| i + 1)
    }

    fn truncate(&mut self, from: u64) {
        if from <= self.first {
            self.locs.clear();
        } else {
            self.locs.truncate((from - self.first) as usize);
        }
    }

    fn purge(&mut self, upto: u64, payload: Vec<u8>) {
        let drop = upto
            .saturating_add(1)
            .saturating_sub(self.first)
            .min(self.locs.len() as u64);
        self.locs.drain(..drop as usize);
        self.first = upto + 1;
        self.purged = Some((upto, payload));
    }
}

type Callback = Box<dyn FnOnce(Result<()>) + Send>;

struct State {
    groups: HashMap<GroupId, Group>,
    segment_seq: u64,
    segment: Arc<dyn WriteFile>,
    written: u64,
    /// The current segment's length: `written` plus the zeros preallocated after it.
    allocated: u64,
    synced: u64,
    /// Callbacks waiting for an fsync that covers (segment, offset).
    waiters: VecDeque<(u64, u64, Callback)>,
    readers: BTreeMap<u64, Arc<dyn ReadFile>>,
    /// Per segment: group -> highest index written there (to know when it can be deleted).
    segment_groups: BTreeMap<u64, HashMap<GroupId, u64>>,
    poisoned: Option<String>,
    votes: HashMap<GroupId, Vec<u8>>,
}

struct Shared {
    fs: Arc<dyn FileSystem>,
    segment_bytes: u64,
    dir: PathBuf,
    state: Mutex<State>,
    /// Held through a group commit round: rounds run one at a time, so a round never
    /// acknowledges appends after another's failed fsync (the kernel may report a lost
    /// write to one fsync only).
    sync_turn: Mutex<()>,
    work: Condvar,
    space: Condvar,
    stop: AtomicBool,
    syncs: AtomicU64,
    records: AtomicU64,
}

/// Counters of a log store since it was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogStats {
    /// Records appended (entries and truncate/purge markers).
    pub records: u64,
    /// fsyncs issued by the group-commit syncer.
    pub syncs: u64,
}

/// The node's log segment store. Cheap to share (`Arc`); dropping the last handle stops the
/// syncer after completing what it has.
pub struct LogStore {
    shared: Arc<Shared>,
    syncer: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LogStore({})", self.shared.dir.display())
    }
}

fn segment_name(seq: u64) -> String {
    format!("seg-{seq:016x}.log")
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |e| StorageError::io(path, e)
}

/// Encodes one record.
fn encode_record(
    out: &mut Vec<u8>,
    kind: u8,
    group: GroupId,
    index: u64,
    term: u64,
    synced_before: u64,
    payload: &[u8],
) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.push(kind);
    for v in [group, index, term, synced_before] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(payload);
    let crc = crc32c::crc32c(&out[start + 4..]);
    out[start..start + 4].copy_from_slice(&crc.to_le_bytes());
}

/// A decoded record header.
#[derive(Debug, Clone, Copy)]
struct Header {
    len: u32,
    kind: u8,
    group: GroupId,
    index: u64,
    term: u64,
    synced_before: u64,
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Parses the record at `buf[pos..]`; `None` if it is incomplete or fails its checks.
fn parse_record(buf: &[u8], pos: usize) -> Option<(Header, usize)> {
    let h = buf.get(pos..pos + HEADER_BYTES)?;
    let crc = u32::from_le_bytes(h[0..4].try_into().ok()?);
    let len = u32::from_le_bytes(h[4..8].try_into().ok()?);
    if len as usize > LOG_RECORD_BYTES_MAX {
        return None;
    }
    let end = pos + HEADER_BYTES + len as usize;
    let body = buf.get(pos + 4..end)?;
    if crc32c::crc32c(body) != crc || !(KIND_ENTRY..=KIND_PURGE).contains(&h[8]) {
        return None;
    }
    let header = Header {
        len,
        kind: h[8],
        group: u64_at(h, 9),
        index: u64_at(h, 17),
        term: u64_at(h, 25),
        synced_before: u64_at(h, 33),
    };
    Some((header, end))
}

impl LogStore {
    /// Opens (or creates) the store in `dir`, recovering its state from the segments.
    pub fn open(fs: Arc<dyn FileSystem>, dir: &Path) -> Result<LogStore> {
        Self::open_with(fs, dir, LOG_SEGMENT_BYTES_TARGET)
    }

    /// [`LogStore::open`] with segments closed at `segment_bytes` instead of the default.
    pub fn open_with(fs: Arc<dyn FileSystem>, dir: &Path, segment_bytes: u64) -> Result<LogStore> {
        fs.create_dir_all(dir).map_err(io_err(dir))?;
        let mut segs: Vec<u64> = fs
            .list(dir)
            .map_err(io_err(dir))?
            .iter()
            .filter_map(|n| n.strip_prefix("seg-")?.strip_suffix(".log"))
            .filter_map(|h| u64::from_str_radix(h, 16).ok())
            .collect();
        segs.sort_unstable();
        let mut groups: HashMap<GroupId, Group> = HashMap::new();
        let mut segment_groups = BTreeMap::new();
        let mut readers = BTreeMap::new();
        let mut tail_len = 0;
        for (i, &seq) in segs.iter().enumerate() {
            let path = dir.join(segment_name(seq));
            let file = fs.open_read(&path).map_err(io_err(&path))?;
            let len = file.size_bytes().map_err(io_err(&path))?;
            let mut buf = vec![0u8; len as usize];
            file.read_exact_at(&mut buf, 0).map_err(io_err(&path))?;
            let last = i + 1 == segs.len();
            let (good_len, seen) = replay_segment(&buf, seq, &path, last, &mut groups)?;
            if good_len < len {
                if buf[good_len as usize..].iter().all(|&b| b == 0) {
                    tracing::debug!(file = %path.display(), offset = good_len,
                        "cutting the last log segment's preallocated zeros");
                } else {
                    tracing::warn!(file = %path.display(), offset = good_len,
                        dropped = len - good_len,
                        "trimming torn log tail written after the last fsync");
                }
                let w = fs.open_append(&path).map_err(io_err(&path))?;
                w.set_len(good_len).map_err(io_err(&path))?;
                w.sync().map_err(io_err(&path))?;
            }
            tail_len = good_len;
            segment_groups.insert(seq, seen);
            readers.insert(seq, file);
        }
        if let Some((id, g)) = groups.iter().find(|(_, g)| g.gap.is_some()) {
            let (upto, path, offset) = g.gap.clone().expect("found above");
            return Err(not_contiguous(&path, offset as usize, *id, upto + 1));
        }
        let votes = read_votes(fs.as_ref(), dir)?;
        let (segment_seq, segment) = match segs.last() {
            Some(&seq) => {
                let path = dir.join(segment_name(seq));
                (seq, fs.open_append(&path).map_err(io_err(&path))?)
            }
            None => {
                let path = dir.join(segment_name(1));
                let w = fs.create(&path).map_err(io_err(&path))?;
                fs.sync_dir(dir).map_err(io_err(dir))?;
                readers.insert(1, fs.open_read(&path).map_err(io_err(&path))?);
                segment_groups.insert(1, HashMap::new());
                (1, w)
            }
        };
        let state = State {
            groups,
            segment_seq,
            segment,
            written: tail_len,
            allocated: tail_len,
            synced: tail_len,
            waiters: VecDeque::new(),
            readers,
            segment_groups,
            poisoned: None,
            votes,
        };
        let shared = Arc::new(Shared {
            fs,
            segment_bytes,
            dir: dir.to_path_buf(),
            state: Mutex::new(state),
            sync_turn: Mutex::new(()),
            work: Condvar::new(),
            space: Condvar::new(),
            stop: AtomicBool::new(false),
            syncs: AtomicU64::new(0),
            records: AtomicU64::new(0),
        });
        let s2 = shared.clone();
        let syncer = std::thread::Builder::new()
            .name("reef-log-sync".into())
            .spawn(move || syncer_loop(&s2))
            .map_err(io_err(dir))?;
        Ok(LogStore {
            shared,
            syncer: Mutex::new(Some(syncer)),
        })
    }

    /// Appends entries of one group (indexes contiguous with what the group has) and calls
    /// `done` once they are durable (or with the error that makes them never durable). The
    /// entries are readable as soon as this returns.
    pub fn append(&self, group: GroupId, entries: &[LogEntry], done: Callback) {
        if self.append_waiting(group, entries, done) {
            self.shared.work.notify_one();
        }
    }

    /// [`LogStore::append`] for a caller that calls [`LogStore::sync_appended`] itself
    /// soon, once it has no more to append right now: the syncer thread is not woken, so a
    /// caller that gathers appends on one thread and then syncs them there completes them
    /// with no hand-off to another thread (the log stream's Raft thread does this).
    pub fn append_unsynced(&self, group: GroupId, entries: &[LogEntry], done: Callback) {
        self.append_waiting(group, entries, done);
    }

    /// Fsyncs what has been written and completes the appends the fsync covers, on the
    /// calling thread. Appends arriving meanwhile wait for the next sync.
    pub fn sync_appended(&self) {
        if sync_round(&self.shared) {
            // Appends queued during this fsync: the syncer takes them.
            let st = self.shared.state.lock();
            if !st.waiters.is_empty() {
                self.shared.work.notify_one();
            }
        }
    }

    /// Writes the entries and queues `done` behind them; false if `done` was called
    /// already (the append failed).
    fn append_waiting(&self, group: GroupId, entries: &[LogEntry], done: Callback) -> bool {
        let mut st = self.shared.state.lock();
        while st.waiters.len() >= LOG_QUEUE_APPENDS_MAX && st.poisoned.is_none() {
            // The queue drains through the syncer, even for appends that would sync
            // themselves (their thread is the one waiting here).
            self.shared.work.notify_one();
            self.shared.space.wait(&mut st);
        }
        if let Err(e) = self.append_locked(&mut st, group, entries) {
            drop(st);
            done(Err(e));
            return false;
        }
        let (seg, off) = (st.segment_seq, st.written);
        st.waiters.push_back((seg, off, done));
        true
    }

    /// [`LogStore::append`], waiting for durability.
    pub fn append_sync(&self, group: GroupId, entries: &[LogEntry]) -> Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.append(group, entries, Box::new(move |r| drop(tx.send(r))));
        rx.recv()
            .unwrap_or_else(|_| Err(StorageError::Poisoned("log syncer stopped".into())))
    }

    fn check_usable(st: &State) -> Result<()> {
        match &st.poisoned {
            Some(why) => Err(StorageError::Poisoned(why.clone())),
            None => Ok(()),
        }
    }

    fn append_locked(&self, st: &mut State, group: GroupId, entries: &[LogEntry]) -> Result<()> {
        Self::check_usable(st)?;
        let g = st.groups.entry(group).or_default();
        let mut expect = g.next_index();
        for e in entries {
            if expect.is_some_and(|x| x != e.index) {
                return Err(StorageError::Invalid(format!(
                    "log group {group}: append of index {} where {} was expected",
                    e.index,
                    expect.unwrap_or_default()
                )));
            }
            if e.payload.len() > LOG_RECORD_BYTES_MAX {
                return Err(StorageError::TooLarge(format!(
                    "log entry of {} bytes exceeds {LOG_RECORD_BYTES_MAX}",
                    e.payload.len()
                )));
            }
            expect = Some(e.index + 1);
        }
        self.maybe_rotate(st)?;
        let mut buf = Vec::new();
        let mut offsets = Vec::with_capacity(entries.len());
        for e in entries {
            offsets.push(st.written + buf.len() as u64);
            encode_record(
                &mut buf, KIND_ENTRY, group, e.index, e.term, st.synced, &e.payload,
            );
        }
        self.write_locked(st, &buf)?;
        self.shared
            .records
            .fetch_add(entries.len() as u64, Ordering::Relaxed);
        let seg = st.segment_seq;
        let g = st.groups.get_mut(&group).expect("inserted above");
        for (e, off) in entries.iter().zip(offsets) {
            if g.locs.is_empty() {
                g.first = e.index;
            }
            g.locs.push_back(Loc {
                segment: seg,
                offset: off,
                len: e.payload.len() as u32,
                term: e.term,
            });
        }
        if let Some(last) = entries.last() {
            let seen = st.segment_groups.entry(seg).or_default();
            let hi = seen.entry(group).or_default();
            *hi = (*hi).max(last.index);
        }
        Ok(())
    }

    fn write_locked(&self, st: &mut State, buf: &[u8]) -> Result<()> {
        let end = st.written + buf.len() as u64;
        if end > st.allocated {
            let step = LOG_PREALLOC_BYTES.min(self.shared.segment_bytes).max(1);
            let to = end.div_ceil(step) * step;
            match st.segment.extend_zeroed(to) {
                Ok(()) => st.allocated = to,
                Err(e) => {
                    // Not fatal: the records still append, only their fsyncs cost more.
                    let path = self.shared.dir.join(segment_name(st.segment_seq));
                    tracing::warn!(file = %path.display(), error = %e,
                        "could not preallocate the log segment");
                    st.allocated = u64::MAX;
                }
            }
        }
        if let Err(e) = st.segment.write_all(buf) {
            let path = self.shared.dir.join(segment_name(st.segment_seq));
            st.poisoned = Some(format!("write to {} failed: {e}", path.display()));
            return Err(StorageError::io(path, e));
        }
        st.written += buf.len() as u64;
        Ok(())
    }

    /// Starts a new segment once the current one is full; the old one is fsynced first so
    /// that durability never depends on two files at once.
    fn maybe_rotate(&self, st: &mut State) -> Result<()> {
        if st.written < self.shared.segment_bytes {
            return Ok(());
        }
        let old = self.shared.dir.join(segment_name(st.segment_seq));
        // Closed segments end at their last record: only the last one may end in zeros.
        if st.allocated > st.written {
            if let Err(e) = st.segment.set_len(st.written) {
                st.poisoned = Some(format!("cutting {} failed: {e}", old.display()));
                return Err(StorageError::io(old, e));
            }
        }
        if let Err(e) = st.segment.sync() {
            st.poisoned = Some(format!("fsync of {} failed: {e}", old.display()));
            return Err(StorageError::io(old, e));
        }
        let seq = st.segment_seq + 1;
        let path = self.shared.dir.join(segment_name(seq));
        let w = self.shared.fs.create(&path).map_err(io_err(&path))?;
        self.shared
            .fs
            .sync_dir(&self.shared.dir)
            .map_err(io_err(&self.shared.dir))?;
        let r = self.shared.fs.open_read(&path).map_err(io_err(&path))?;
        // Everything in the old segment is durable: complete its waiters.
        let done: Vec<Callback> = drain_covered(&mut st.waiters, st.segment_seq, u64::MAX);
        st.segment = w;
        st.segment_seq = seq;
        st.written = 0;
        st.allocated = 0;
        st.synced = 0;
        st.readers.insert(seq, r);
        st.segment_groups.insert(seq, HashMap::new());
        for cb in done {
            cb(Ok(()));
        }
        Ok(())
    }

    /// Removes entries `>= from` of `group` (Raft overwriting a conflicting suffix). Durable
    /// once this returns.
    pub fn truncate(&self, group: GroupId, from: u64) -> Result<()> {
        self.meta_record(group, KIND_TRUNCATE, from, 0, &[], |g| g.truncate(from))
    }

    /// Drops entries `<= upto` of `group`, remembering `payload` (openraft's purged log id)
    /// and the term; whole segments no group needs any more are deleted. Durable once this
    /// returns.
    pub fn purge(&self, group: GroupId, upto: u64, term: u64, payload: &[u8]) -> Result<()> {
        let p = payload.to_vec();
        self.meta_record(group, KIND_PURGE, upto, term, payload, move |g| {
            g.purge(upto, p)
        })?;
        self.delete_unneeded_segments()
    }

    fn meta_record(
        &self,
        group: GroupId,
        kind: u8,
        index: u64,
        term: u64,
        payload: &[u8],
        apply: impl FnOnce(&mut Group),
    ) -> Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        {
            let mut st = self.shared.state.lock();
            Self::check_usable(&st)?;
            self.maybe_rotate(&mut st)?;
            let mut buf = Vec::new();
            encode_record(&mut buf, kind, group, index, term, st.synced, payload);
            self.write_locked(&mut st, &buf)?;
            apply(st.groups.entry(group).or_default());
            let (seg, off) = (st.segment_seq, st.written);
            st.waiters
                .push_back((seg, off, Box::new(move |r| drop(tx.send(r)))));
        }
        self.shared.work.notify_one();
        rx.recv()
            .unwrap_or_else(|_| Err(StorageError::Poisoned("log syncer stopped".into())))
    }

    /// Deletes the oldest segments whose entries every group has purged. Before deleting, the
    /// purge markers of every group are re-logged in the current segment, so recovery still
    /// knows each group's last purged id.
    fn delete_unneeded_segments(&self) -> Result<()> {
        let doomed: Vec<u64> = {
            let st = self.shared.state.lock();
            let mut doomed = Vec::new();
            for (&seq, seen) in &st.segment_groups {
                let needed = seq == st.segment_seq
                    || seen.iter().any(|(g, hi)| {
                        st.groups
                            .get(g)
                            .and_then(|g| g.purged.as_ref())
                            .is_none_or(|p| p.0 < *hi)
                    });
                if needed {
                    break;
                }
                doomed.push(seq);
            }
            doomed
        };
        if doomed.is_empty() {
            return Ok(());
        }
        let purges: Vec<(GroupId, u64, Vec<u8>)> = {
            let st = self.shared.state.lock();
            st.groups
                .iter()
                .filter_map(|(id, g)| g.purged.as_ref().map(|(i, p)| (*id, *i, p.clone())))
                .collect()
        };
        for (group, upto, payload) in purges {
            let term = 0;
            self.meta_record(group, KIND_PURGE, upto, term, &payload, |_| {})?;
        }
        let mut st = self.shared.state.lock();
        for seq in doomed {
            let path = self.shared.dir.join(segment_name(seq));
            self.shared.fs.remove(&path).map_err(io_err(&path))?;
            st.readers.remove(&seq);
            st.segment_groups.remove(&seq);
        }
        drop(st);
        self.shared
            .fs
            .sync_dir(&self.shared.dir)
            .map_err(io_err(&self.shared.dir))
    }

    /// Reads entries of `group` in `range` (all must be present).
    pub fn entries(&self, group: GroupId, range: RangeInclusive<u64>) -> Result<Vec<LogEntry>> {
        let (locs, readers) = {
            let st = self.shared.state.lock();
            let g = st.groups.get(&group);
            let mut locs = Vec::new();
            for i in range.clone() {
                let loc = g
                    .filter(|g| i >= g.first)
                    .and_then(|g| g.locs.get((i - g.first) as usize))
                    .ok_or_else(|| {
                        StorageError::Invalid(format!("log group {group} has no entry {i}"))
                    })?;
                locs.push((i, *loc));
            }
            let readers: BTreeMap<u64, Arc<dyn ReadFile>> = locs
                .iter()
                .filter_map(|(_, l)| st.readers.get(&l.segment).map(|r| (l.segment, r.clone())))
                .collect();
            (locs, readers)
        };
        let mut out = Vec::with_capacity(locs.len());
        for (index, loc) in locs {
            let path = self.shared.dir.join(segment_name(loc.segment));
            let reader = readers.get(&loc.segment).ok_or_else(|| {
                StorageError::Invalid(format!(
                    "segment {} of entry {index} is gone",
                    path.display()
                ))
            })?;
            let mut buf = vec![0u8; HEADER_BYTES + loc.len as usize];
            reader
                .read_exact_at(&mut buf, loc.offset)
                .map_err(io_err(&path))?;
            match parse_record(&buf, 0) {
                Some((h, _)) if h.group == group && h.index == index && h.kind == KIND_ENTRY => {
                    out.push(LogEntry {
                        index,
                        term: loc.term,
                        payload: Arc::from(&buf[HEADER_BYTES..]),
                    });
                }
                _ => {
                    return Err(StorageError::Corrupt {
                        path,
                        offset: loc.offset,
                        what: format!("log record of group {group} index {index} fails its checks"),
                    })
                }
            }
        }
        Ok(out)
    }

    /// The group's purged id and present range.
    pub fn group_state(&self, group: GroupId) -> GroupState {
        let st = self.shared.state.lock();
        match st.groups.get(&group) {
            None => GroupState::default(),
            Some(g) => GroupState {
                purged: g.purged.clone(),
                range: g.last().map(|l| (g.first, l)),
            },
        }
    }

    /// The term of entry `index` of `group`, if present.
    pub fn term_of(&self, group: GroupId, index: u64) -> Option<u64> {
        let st = self.shared.state.lock();
        let g = st.groups.get(&group)?;
        if index < g.first {
            return None;
        }
        g.locs.get((index - g.first) as usize).map(|l| l.term)
    }

    /// Makes `vote` the durable vote of `group` (write new file, fsync, rename, fsync dir).
    pub fn save_vote(&self, group: GroupId, vote: &[u8]) -> Result<()> {
        let mut st = self.shared.state.lock();
        Self::check_usable(&st)?;
        let mut votes = st.votes.clone();
        votes.insert(group, vote.to_vec());
        write_votes(self.shared.fs.as_ref(), &self.shared.dir, &votes)?;
        st.votes = votes;
        Ok(())
    }

    /// The durable vote of `group`.
    pub fn vote(&self, group: GroupId) -> Option<Vec<u8>> {
        self.shared.state.lock().votes.get(&group).cloned()
    }

    /// Records appended and fsyncs issued since open.
    pub fn stats(&self) -> LogStats {
        LogStats {
            records: self.shared.records.load(Ordering::Relaxed),
            syncs: self.shared.syncs.load(Ordering::Relaxed),
        }
    }

    /// Number of segment files.
    pub fn segment_count(&self) -> usize {
        self.shared.state.lock().segment_groups.len()
    }
}

impl Drop for LogStore {
    fn drop(&mut self) {
        // Raised under the mutex: the syncer checks the flag and parks in one critical
        // section, so a flag raised outside it could land between the two and the wakeup
        // would be lost (the syncer parked for good, this join waiting on it).
        {
            let _st = self.shared.state.lock();
            self.shared.stop.store(true, Ordering::Release);
        }
        self.shared.work.notify_all();
        if let Some(h) = self.syncer.lock().take() {
            let _ = h.join();
        }
    }
}

fn drain_covered(
    waiters: &mut VecDeque<(u64, u64, Callback)>,
    seg: u64,
    upto: u64,
) -> Vec<Callback> {
    let mut done = Vec::new();
    while let Some((s, off, _)) = waiters.front() {
        if *s < seg || (*s == seg && *off <= upto) {
            done.push(waiters.pop_front().expect("front exists").2);
        } else {
            break;
        }
    }
    done
}

fn syncer_loop(shared: &Shared) {
    loop {
        {
            let mut st = shared.state.lock();
            while st.waiters.is_empty() && !shared.stop.load(Ordering::Acquire) {
                shared.work.wait(&mut st);
            }
            if st.waiters.is_empty() {
                return;
            }
        }
        sync_round(shared);
    }
}

/// One group commit: fsyncs what has been written and completes every callback the fsync
/// covers, or fails them all once the store is poisoned. Returns false if none waited. The
/// syncer and a [`LogStore::sync_appended`] caller take turns; each completes only what its
/// own fsync covered.
fn sync_round(shared: &Shared) -> bool {
    let _turn = shared.sync_turn.lock();
    let (file, seg, target) = {
        let mut st = shared.state.lock();
        if st.waiters.is_empty() {
            return false;
        }
        if let Some(why) = st.poisoned.clone() {
            let all: Vec<Callback> = st.waiters.drain(..).map(|w| w.2).collect();
            drop(st);
            shared.space.notify_all();
            for cb in all {
                cb(Err(StorageError::Poisoned(why.clone())));
            }
            return true;
        }
        (st.segment.clone(), st.segment_seq, st.written)
    };
    let result = file.sync();
    shared.syncs.fetch_add(1, Ordering::Relaxed);
    let mut st = shared.state.lock();
    let done = match result {
        Ok(()) => {
            if st.segment_seq == seg {
                st.synced = st.synced.max(target);
            }
            drain_covered(&mut st.waiters, seg, target)
        }
        Err(e) => {
            let path = shared.dir.join(segment_name(seg));
            st.poisoned = Some(format!("fsync of {} failed: {e}", path.display()));
            Vec::new()
        }
    };
    drop(st);
    shared.space.notify_all();
    for cb in done {
        cb(Ok(()));
    }
    true
}

/// The error for an entry that does not continue its group's log.
fn not_contiguous(path: &Path, pos: usize, group: GroupId, index: u64) -> StorageError {
    StorageError::Corrupt {
        path: path.to_path_buf(),
        offset: pos as u64,
        what: format!("log group {group} index {index} is not contiguous"),
    }
}

/// Replays one segment into `groups`; returns the length of its valid prefix and the highest
/// index each group has in it.
fn replay_segment(
    buf: &[u8],
    seq: u64,
    path: &Path,
    last: bool,
    groups: &mut HashMap<GroupId, Group>,
) -> Result<(u64, HashMap<GroupId, u64>)> {
    let mut seen: HashMap<GroupId, u64> = HashMap::new();
    let mut pos = 0usize;
    while pos < buf.len() {
        let Some((h, end)) = parse_record(buf, pos) else {
            let unused = buf[pos..].iter().all(|&b| b == 0);
            if last && (unused || !later_record_saw_durable(buf, pos)) {
                return Ok((pos as u64, seen));
            }
            return Err(StorageError::Corrupt {
                path: path.to_path_buf(),
                offset: pos as u64,
                what: "log record fails its checksum before the durable end of the log".into(),
            });
        };
        let g = groups.entry(h.group).or_default();
        match h.kind {
            KIND_ENTRY => {
                if let Some(n) = g.next_index().filter(|&n| n != h.index) {
                    if h.index < g.first {
                        return Err(not_contiguous(path, pos, h.group, h.index));
                    }
                    if h.index > n {
                        // Entries below this one were in segments deleted after a purge, and
                        // the purge's record was re-logged after this entry (segment deletion
                        // re-logs purge marks into the current segment): a purge record
                        // further on must cover the gap, or the log is corrupt.
                        g.locs.clear();
                        g.first = h.index;
                        g.gap = Some((h.index - 1, path.to_path_buf(), pos as u64));
                    } else {
                        g.truncate(h.index);
                    }
                }
                if g.locs.is_empty() {
                    g.first = h.index;
                }
                g.locs.push_back(Loc {
                    segment: seq,
                    offset: pos as u64,
                    len: h.len,
                    term: h.term,
                });
                let hi = seen.entry(h.group).or_default();
                *hi = (*hi).max(h.index);
            }
            KIND_TRUNCATE => g.truncate(h.index),
            _ => {
                let payload = buf[pos + HEADER_BYTES..end].to_vec();
                if g.purged.as_ref().is_none_or(|p| p.0 <= h.index) {
                    if g.gap.as_ref().is_some_and(|(upto, _, _)| *upto <= h.index) {
                        g.gap = None;
                    }
                    // Entries read after a gap stay: this purge only covers the gap.
                    if h.index >= g.first || g.locs.is_empty() {
                        g.purge(h.index, payload);
                    } else {
                        g.purged = Some((h.index, payload));
                    }
                }
            }
        }
        pos = end;
    }
    Ok((pos as u64, seen))
}

/// Whether some valid record after `bad` was written when `bad` was already fsynced (so the
/// bad record is corruption, not a torn write).
fn later_record_saw_durable(buf: &[u8], bad: usize) -> bool {
    (bad + 1..buf.len().saturating_sub(HEADER_BYTES - 1))
        .filter_map(|p| parse_record(buf, p))
        .any(|(h, _)| h.synced_before > bad as u64)
}

fn read_votes(fs: &dyn FileSystem, dir: &Path) -> Result<HashMap<GroupId, Vec<u8>>> {
    let path = dir.join(VOTES_FILE);
    if !fs.exists(&path) {
        return Ok(HashMap::new());
    }
    let f = fs.open_read(&path).map_err(io_err(&path))?;
    let mut buf = vec![0u8; f.size_bytes().map_err(io_err(&path))? as usize];
    f.read_exact_at(&mut buf, 0).map_err(io_err(&path))?;
    let corrupt = |what: &str| StorageError::Corrupt {
        path: path.clone(),
        offset: 0,
        what: what.into(),
    };
    if buf.len() < 4
        || crc32c::crc32c(&buf[4..]) != u32::from_le_bytes(buf[..4].try_into().expect("4"))
    {
        return Err(corrupt("votes file fails its checksum"));
    }
    let mut votes = HashMap::new();
    let mut pos = 4;
    while pos < buf.len() {
        let head = buf
            .get(pos..pos + 12)
            .ok_or_else(|| corrupt("votes file truncated"))?;
        let group = u64_at(head, 0);
        let len = u32::from_le_bytes(head[8..12].try_into().expect("4")) as usize;
        let v = buf
            .get(pos + 12..pos + 12 + len)
            .ok_or_else(|| corrupt("votes file truncated"))?;
        votes.insert(group, v.to_vec());
        pos += 12 + len;
    }
    Ok(votes)
}

fn write_votes(fs: &dyn FileSystem, dir: &Path, votes: &HashMap<GroupId, Vec<u8>>) -> Result<()> {
    let mut buf = vec![0u8; 4];
    for (g, v) in votes {
        buf.extend_from_slice(&g.to_le_bytes());
        buf.extend_from_slice(&(v.len() as u32).to_le_bytes());
        buf.extend_from_slice(v);
    }
    let crc = crc32c::crc32c(&buf[4..]);
    buf[..4].copy_from_slice(&crc.to_le_bytes());
    crate::fs::write_file_atomic(fs, dir, VOTES_FILE, &buf)
}

#[cfg(test)]
#[path = "logstore_tests.rs"]
mod tests;
