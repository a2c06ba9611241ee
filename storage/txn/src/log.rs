//! Commit records, the log they go to, and replaying them.
//!
//! A transaction that wrote something commits with one log entry: its redo (every row it
//! changed, last change per row wins) and its commit version, so that 1PC costs one log
//! write. [`CommitLog`] is what the transaction layer needs from a log stream. Servers run
//! it on openraft (`reef-server`'s log streams); [`LocalLog`] is a single-replica log on the
//! node's [`reef_storage::logstore::LogStore`] without consensus, for this crate's tests.
//! Both share [`CommitRecord`], [`StreamTablets`] and [`apply_record`].

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use reef_common::ids::{LogIndex, TabletId, TxnId, Version};
use reef_common::rowcodec::{get_varint, put_varint};
use reef_storage::logstore::{GroupId, LogEntry, LogStore};
use reef_storage::mvcc::RowOp;
use reef_storage::tablet::Tablet;
use reef_storage::StorageError;

use crate::error::{Result, TxnError};
use crate::ts::TimestampSource;

/// One row change in a commit record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedoWrite {
    /// The tablet written.
    pub tablet: TabletId,
    /// The encoded primary key.
    pub key: Vec<u8>,
    /// `Put` or `Delete` (lock-only versions are never logged).
    pub op: RowOp,
}

/// Everything a committed transaction changed, at one commit version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitRecord {
    /// The transaction.
    pub txn: TxnId,
    /// Its commit version.
    pub version: Version,
    /// Its changes in the order made (a later change of the same row wins).
    pub writes: Vec<RedoWrite>,
}

const RECORD_FORMAT: u8 = 1;
/// A log entry body holding several commit records: `[BATCH_FORMAT]` then, per record,
/// its length (varint) and its bytes.
const BATCH_FORMAT: u8 = 2;
/// Log entries read into memory at once during recovery.
const REPLAY_BATCH_ENTRIES: u64 = 1024;

impl CommitRecord {
    /// Serialized form (the log store adds a CRC).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + self.writes.len() * 64);
        out.push(RECORD_FORMAT);
        put_varint(&mut out, self.txn.0);
        put_varint(&mut out, self.version.0);
        put_varint(&mut out, self.writes.len() as u64);
        for w in &self.writes {
            put_varint(&mut out, w.tablet.0);
            put_varint(&mut out, w.key.len() as u64);
            out.extend_from_slice(&w.key);
            match &w.op {
                RowOp::Put(row) => {
                    out.push(0);
                    put_varint(&mut out, row.len() as u64);
                    out.extend_from_slice(row);
                }
                RowOp::Delete => out.push(1),
                RowOp::Lock => unreachable!("lock-only versions are not logged"),
            }
        }
        out
    }

    /// The transaction of an encoded record, read without decoding the rest.
    pub fn txn_of(buf: &[u8]) -> Option<TxnId> {
        if buf.first() != Some(&RECORD_FORMAT) {
            return None;
        }
        let mut pos = 1;
        get_varint(buf, &mut pos).ok().map(TxnId)
    }

    /// Parses [`CommitRecord::encode`].
    pub fn decode(buf: &[u8]) -> std::result::Result<CommitRecord, String> {
        let mut pos = 1;
        if buf.first() != Some(&RECORD_FORMAT) {
            return Err("unknown commit record format".into());
        }
        let v = |pos: &mut usize| get_varint(buf, pos).map_err(|e| e.to_string());
        let txn = TxnId(v(&mut pos)?);
        let version = Version(v(&mut pos)?);
        let n = v(&mut pos)? as usize;
        let mut writes = Vec::with_capacity(n.min(1 << 16));
        let take = |pos: &mut usize, n: usize| -> std::result::Result<Vec<u8>, String> {
            let end = pos.checked_add(n).ok_or("overflow")?;
            let b = buf
                .get(*pos..end)
                .ok_or("commit record truncated")?
                .to_vec();
            *pos = end;
            Ok(b)
        };
        for _ in 0..n {
            let tablet = TabletId(v(&mut pos)?);
            let klen = v(&mut pos)? as usize;
            let key = take(&mut pos, klen)?;
            let op = match take(&mut pos, 1)?[0] {
                0 => {
                    let rlen = v(&mut pos)? as usize;
                    RowOp::Put(Arc::from(take(&mut pos, rlen)?))
                }
                1 => RowOp::Delete,
                t => return Err(format!("bad redo op {t}")),
            };
            writes.push(RedoWrite { tablet, key, op });
        }
        if pos != buf.len() {
            return Err("trailing bytes in commit record".into());
        }
        Ok(CommitRecord {
            txn,
            version,
            writes,
        })
    }
}

/// One log entry's body for encoded commit records (as [`CommitRecord::encode`] made them):
/// one record is the body as it is (moved, not copied), several are framed in a batch (a log stream gathers the
/// commits that arrive while its log is busy into one entry).
pub fn encode_batch(mut records: Vec<Vec<u8>>) -> Vec<u8> {
    if records.len() == 1 {
        return records.pop().unwrap_or_default();
    }
    let bytes: usize = records.iter().map(|r| r.len() + 5).sum();
    let mut out = Vec::with_capacity(1 + bytes);
    out.push(BATCH_FORMAT);
    for r in &records {
        put_varint(&mut out, r.len() as u64);
        out.extend_from_slice(r);
    }
    out
}

/// The encoded commit records in a log entry's body ([`encode_batch`]).
pub fn records_in(body: &[u8]) -> std::result::Result<Vec<&[u8]>, String> {
    match body.first() {
        Some(&RECORD_FORMAT) => Ok(vec![body]),
        Some(&BATCH_FORMAT) => {
            let mut out = Vec::new();
            let mut pos = 1;
            while pos < body.len() {
                let len = get_varint(body, &mut pos).map_err(|e| e.to_string())? as usize;
                let end = pos
                    .checked_add(len)
                    .filter(|&end| end <= body.len())
                    .ok_or("commit batch truncated")?;
                out.push(&body[pos..end]);
                pos = end;
            }
            Ok(out)
        }
        _ => Err("unknown commit record format".into()),
    }
}

/// What the transaction layer needs from a log stream.
pub trait CommitLog: Send + Sync + std::fmt::Debug {
    /// Appends a commit record; returns its log index once it is durable (on a majority,
    /// for a replicated log stream). Concurrent calls share fsyncs.
    fn append(&self, record: &CommitRecord) -> Result<LogIndex>;
    /// Reports that the record at `index` has been applied to the tablets' MemTables.
    fn applied(&self, index: LogIndex);
}

/// Tracks which log indexes have been applied and advances the contiguous prefix.
#[derive(Debug, Default)]
struct AppliedTracker {
    upto: u64,
    pending: BTreeSet<u64>,
}

impl AppliedTracker {
    fn mark(&mut self, index: u64) -> u64 {
        if index <= self.upto {
            return self.upto;
        }
        self.pending.insert(index);
        while self.pending.remove(&(self.upto + 1)) {
            self.upto += 1;
        }
        self.upto
    }
}

/// The tablets of one log stream and how far its log has been applied to them.
///
/// Entries are applied out of order (each committing transaction stamps its own versions);
/// a tablet hears of an index only once every entry up to it is applied, because its
/// checkpoint must never pass an entry whose effects are not yet in its MemTables.
#[derive(Debug, Default)]
pub struct StreamTablets {
    applied: Mutex<AppliedTracker>,
    tablets: RwLock<HashMap<TabletId, Arc<Tablet>>>,
}

impl StreamTablets {
    /// A set whose log has been applied up to `applied`.
    pub fn new(applied: LogIndex) -> StreamTablets {
        StreamTablets {
            applied: Mutex::new(AppliedTracker {
                upto: applied.0,
                pending: BTreeSet::new(),
            }),
            tablets: RwLock::new(HashMap::new()),
        }
    }

    /// Reports entry `index` applied; tablets learn the new contiguous prefix.
    pub fn mark_applied(&self, index: LogIndex) {
        let upto = self.applied.lock().mark(index.0);
        for t in self.tablets.read().values() {
            t.set_applied(LogIndex(upto));
        }
    }

    /// Every entry up to this index has been applied.
    pub fn applied(&self) -> LogIndex {
        LogIndex(self.applied.lock().upto)
    }

    /// Adds a tablet whose MemTables hold everything applied so far (a new, empty one, or
    /// a recovered one the log has been replayed into).
    pub fn insert(&self, tablet: Arc<Tablet>) {
        let mut map = self.tablets.write();
        tablet.set_applied(self.applied());
        map.insert(tablet.id(), tablet);
    }

    /// Forgets tablets no table uses any more (dropped, truncated or rebuilt), so they no
    /// longer hold the log back.
    pub fn retire(&self, ids: &[TabletId]) {
        let mut map = self.tablets.write();
        for id in ids {
            map.remove(id);
        }
    }

    /// The tablet `id`, if it is on this stream.
    pub fn get(&self, id: TabletId) -> Option<Arc<Tablet>> {
        self.tablets.read().get(&id).cloned()
    }

    /// Applies a committed record (entry `index`) proposed elsewhere to the tablets.
    pub fn apply(
        &self,
        index: LogIndex,
        rec: CommitRecord,
        ts: &dyn TimestampSource,
    ) -> Result<()> {
        apply_record(index, rec, &self.tablets.read(), ts)
    }

    /// Every tablet of the stream.
    pub fn all(&self) -> Vec<Arc<Tablet>> {
        self.tablets.read().values().cloned().collect()
    }

    /// The log index up to which no tablet of the stream needs the log any more (entries at
    /// or below it may be purged); with no tablets, everything applied.
    pub fn durable_through(&self) -> LogIndex {
        let applied = self.applied();
        self.tablets
            .read()
            .values()
            .map(|t| t.durable_through())
            .min()
            .map_or(applied, |d| d.min(applied))
    }
}

/// Applies one committed record (log entry `index`) to the tablets in `tablets` whose
/// checkpoint is below it; tablets not in the map (dropped ones) are skipped.
pub fn apply_record(
    index: LogIndex,
    rec: CommitRecord,
    tablets: &HashMap<TabletId, Arc<Tablet>>,
    ts: &dyn TimestampSource,
) -> Result<()> {
    ts.observe(rec.version);
    for w in rec.writes {
        let Some(t) = tablets.get(&w.tablet) else {
            continue;
        };
        if index > t.checkpoint() {
            t.apply_committed(&w.key, rec.version, w.op, index)?;
        }
    }
    Ok(())
}

/// Calls `f` on every entry of log group `group` of `store` from index `from` on (or from
/// the first one kept), reading [`REPLAY_BATCH_ENTRIES`] at a time.
pub fn scan_group(
    store: &LogStore,
    group: GroupId,
    from: u64,
    mut f: impl FnMut(&LogEntry) -> Result<()>,
) -> Result<()> {
    let Some((first, end)) = store.group_state(group).range else {
        return Ok(());
    };
    let mut from = first.max(from);
    while from <= end {
        let to = end.min(from + REPLAY_BATCH_ENTRIES - 1);
        for e in store.entries(group, from..=to)? {
            f(&e)?;
        }
        from = to + 1;
    }
    Ok(())
}

/// Replays log group `group` of `store` into `tablets`: every committed record above the
/// lowest of their checkpoints (each tablet takes those above its own). `record_of` finds
/// the encoded records ([`encode_batch`]) in an entry, or `None` for entries that carry none.
pub fn replay_group(
    store: &LogStore,
    group: GroupId,
    tablets: &HashMap<TabletId, Arc<Tablet>>,
    ts: &dyn TimestampSource,
    record_of: fn(&LogEntry) -> std::result::Result<Option<&[u8]>, String>,
) -> Result<()> {
    let Some(lowest) = tablets.values().map(|t| t.checkpoint().0).min() else {
        return Ok(());
    };
    scan_group(store, group, lowest + 1, |e| {
        let Some(body) = record_of(e).map_err(|w| corrupt_entry(e.index, w))? else {
            return Ok(());
        };
        for record in records_in(body).map_err(|w| corrupt_entry(e.index, w))? {
            let rec = CommitRecord::decode(record).map_err(|w| corrupt_entry(e.index, w))?;
            apply_record(LogIndex(e.index), rec, tablets, ts)?;
        }
        Ok(())
    })
}

/// The error for a log entry that does not decode.
pub fn corrupt_entry(index: u64, what: String) -> TxnError {
    TxnError::Storage(StorageError::Corrupt {
        path: "log".into(),
        offset: index,
        what,
    })
}

/// A single-replica log stream on a [`LogStore`] group, without consensus: the
/// transaction layer's own tests and tools run on it. Servers use the openraft log stream
/// in `reef-server`, which shares [`CommitRecord`], [`StreamTablets`] and [`apply_record`].
pub struct LocalLog {
    store: Arc<LogStore>,
    group: GroupId,
    next: Mutex<u64>,
    tablets: StreamTablets,
}

impl std::fmt::Debug for LocalLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LocalLog(group {})", self.group)
    }
}

impl LocalLog {
    /// Opens log stream `group` of `store` for `tablets`: replays every record above each
    /// tablet's checkpoint into it, tells `ts` about the versions seen, and continues after
    /// the last entry.
    pub fn open(
        store: Arc<LogStore>,
        group: GroupId,
        tablets: Vec<Arc<Tablet>>,
        ts: &dyn TimestampSource,
    ) -> Result<LocalLog> {
        let state = store.group_state(group);
        let last = state
            .range
            .map(|(_, end)| end)
            .or(state.purged.as_ref().map(|p| p.0))
            .unwrap_or(0);
        let log = LocalLog {
            store,
            group,
            next: Mutex::new(last + 1),
            tablets: StreamTablets::new(LogIndex(last)),
        };
        log.add_tablets(tablets, ts)?;
        Ok(log)
    }

    /// Adds tablets found after the log was opened (user tables named by the catalog, which
    /// is itself recovered first): replays the records above each one's checkpoint.
    pub fn add_tablets(&self, tablets: Vec<Arc<Tablet>>, ts: &dyn TimestampSource) -> Result<()> {
        let added: HashMap<TabletId, Arc<Tablet>> =
            tablets.into_iter().map(|t| (t.id(), t)).collect();
        replay_group(&self.store, self.group, &added, ts, |e| {
            Ok(Some(&e.payload))
        })?;
        for t in added.into_values() {
            self.tablets.insert(t);
        }
        Ok(())
    }

    /// Adds a new, empty tablet (a table created now): nothing in the log concerns it.
    pub fn register_new(&self, tablet: Arc<Tablet>) {
        self.tablets.insert(tablet);
    }

    /// Drops log entries every tablet has in its SSTables, so the log does not grow without
    /// bound.
    pub fn purge_to_checkpoints(&self) -> Result<()> {
        let upto = self.tablets.durable_through().0;
        let st = self.store.group_state(self.group);
        let Some((first, end)) = st.range else {
            return Ok(());
        };
        let upto = upto.min(end);
        if upto < first {
            return Ok(());
        }
        let term = self.store.term_of(self.group, upto).unwrap_or(1);
        self.store
            .purge(self.group, upto, term, &upto.to_le_bytes())?;
        Ok(())
    }
}

impl CommitLog for LocalLog {
    fn append(&self, record: &CommitRecord) -> Result<LogIndex> {
        let payload: Arc<[u8]> = Arc::from(record.encode());
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let index = {
            // Index order must be append order: hold the counter while handing the entry
            // to the store (which only copies it; the fsync happens later, shared).
            let mut next = self.next.lock();
            let index = *next;
            let entry = LogEntry {
                index,
                term: 1,
                payload,
            };
            self.store
                .append(self.group, &[entry], Box::new(move |r| drop(tx.send(r))));
            *next += 1;
            index
        };
        match rx.recv() {
            Ok(Ok(())) => Ok(LogIndex(index)),
            Ok(Err(e)) => Err(TxnError::CommitFailed(e.to_string())),
            Err(_) => Err(TxnError::CommitFailed("the log store stopped".into())),
        }
    }

    fn applied(&self, index: LogIndex) {
        self.tablets.mark_applied(index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_reject_garbage() {
        let r = CommitRecord {
            txn: TxnId(7),
            version: Version(99),
            writes: vec![
                RedoWrite {
                    tablet: TabletId(1),
                    key: b"k1".to_vec(),
                    op: RowOp::Put(Arc::from(&b"row"[..])),
                },
                RedoWrite {
                    tablet: TabletId(2),
                    key: b"k2".to_vec(),
                    op: RowOp::Delete,
                },
            ],
        };
        let bytes = r.encode();
        assert_eq!(CommitRecord::decode(&bytes).unwrap(), r);
        assert!(CommitRecord::decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(CommitRecord::decode(&[9, 9, 9]).is_err());
    }

    #[test]
    fn batches_frame_their_records_and_one_record_stays_as_it_is() {
        let rec = |txn| {
            CommitRecord {
                txn: TxnId(txn),
                version: Version(txn * 10),
                writes: vec![RedoWrite {
                    tablet: TabletId(1),
                    key: vec![txn as u8],
                    op: RowOp::Put(Arc::from(&b"row"[..])),
                }],
            }
            .encode()
        };
        let one = encode_batch(vec![rec(1)]);
        assert_eq!(one, rec(1));
        assert_eq!(records_in(&one).unwrap(), [&rec(1)[..]]);
        let three = encode_batch(vec![rec(1), rec(2), rec(3)]);
        let back: Vec<CommitRecord> = records_in(&three)
            .unwrap()
            .into_iter()
            .map(|r| CommitRecord::decode(r).unwrap())
            .collect();
        assert_eq!(
            back.iter().map(|r| r.txn).collect::<Vec<_>>(),
            [TxnId(1), TxnId(2), TxnId(3)]
        );
        assert!(records_in(&three[..three.len() - 2]).is_err());
        assert!(records_in(&[7, 1, 2]).is_err());
        assert!(records_in(&[]).is_err());
    }

    #[test]
    fn applied_index_advances_only_over_a_contiguous_prefix() {
        let mut a = AppliedTracker::default();
        assert_eq!(a.mark(2), 0);
        assert_eq!(a.mark(3), 0);
        assert_eq!(a.mark(1), 3);
        assert_eq!(a.mark(5), 3);
        assert_eq!(a.mark(4), 5);
    }
}
