use std::sync::atomic::AtomicUsize;

use super::*;
use crate::fs::{FaultFs, RealFs};

fn entry(index: u64, term: u64, body: &str) -> LogEntry {
    LogEntry {
        index,
        term,
        payload: Arc::from(body.as_bytes()),
    }
}

fn bodies(store: &LogStore, group: GroupId, range: RangeInclusive<u64>) -> Vec<String> {
    store
        .entries(group, range)
        .unwrap()
        .into_iter()
        .map(|e| String::from_utf8(e.payload.to_vec()).unwrap())
        .collect()
}

#[test]
fn appended_entries_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = LogStore::open(Arc::new(RealFs), dir.path()).unwrap();
        store
            .append_sync(7, &[entry(1, 1, "a"), entry(2, 1, "b")])
            .unwrap();
        store.append_sync(9, &[entry(5, 2, "x")]).unwrap();
        assert_eq!(bodies(&store, 7, 1..=2), ["a", "b"]);
    }
    let store = LogStore::open(Arc::new(RealFs), dir.path()).unwrap();
    assert_eq!(bodies(&store, 7, 1..=2), ["a", "b"]);
    assert_eq!(bodies(&store, 9, 5..=5), ["x"]);
    assert_eq!(store.term_of(9, 5), Some(2));
    assert_eq!(store.group_state(7).range, Some((1, 2)));
    assert!(store.entries(7, 3..=3).is_err());
}

#[test]
fn non_contiguous_append_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(Arc::new(RealFs), dir.path()).unwrap();
    store.append_sync(1, &[entry(1, 1, "a")]).unwrap();
    assert!(matches!(
        store.append_sync(1, &[entry(3, 1, "c")]),
        Err(StorageError::Invalid(_))
    ));
    store.append_sync(1, &[entry(2, 1, "b")]).unwrap();
}

#[test]
fn concurrent_writers_share_fsyncs_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(LogStore::open(Arc::new(RealFs), dir.path()).unwrap());
    let acked = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..8u64)
        .map(|g| {
            let store = store.clone();
            let acked = acked.clone();
            std::thread::spawn(move || {
                for i in 1..=200u64 {
                    store
                        .append_sync(g, &[entry(i, 1, &format!("{g}-{i}"))])
                        .unwrap();
                    acked.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(acked.load(Ordering::Relaxed), 1600);
    let stats = store.stats();
    assert_eq!(stats.records, 1600);
    assert!(
        stats.syncs < stats.records,
        "no two appends shared an fsync: {stats:?}"
    );
    drop(store);
    let store = LogStore::open(Arc::new(RealFs), dir.path()).unwrap();
    for g in 0..8u64 {
        let got = bodies(&store, g, 1..=200);
        assert_eq!(got.len(), 200);
        assert_eq!(got[199], format!("{g}-200"));
    }
}

#[test]
fn dropping_a_store_always_stops_its_syncer() {
    // The syncer checks its stop flag and parks in one critical section; a store dropped
    // while the syncer is between the two must still wake it (this hung CI once).
    let dir = tempfile::tempdir().unwrap();
    for i in 0..2000u64 {
        let store = LogStore::open(Arc::new(RealFs), dir.path()).unwrap();
        if i % 100 == 0 {
            store.append_sync(1, &[entry(i / 100 + 1, 1, "x")]).unwrap();
        }
    }
}

#[test]
fn truncated_suffix_is_replaced_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = LogStore::open(Arc::new(RealFs), dir.path()).unwrap();
        store
            .append_sync(1, &[entry(1, 1, "a"), entry(2, 1, "b"), entry(3, 1, "c")])
            .unwrap();
        store.truncate(1, 2).unwrap();
        assert_eq!(store.group_state(1).range, Some((1, 1)));
        store.append_sync(1, &[entry(2, 2, "B")]).unwrap();
    }
    let store = LogStore::open(Arc::new(RealFs), dir.path()).unwrap();
    assert_eq!(bodies(&store, 1, 1..=2), ["a", "B"]);
    assert_eq!(store.group_state(1).range, Some((1, 2)));
    assert_eq!(store.term_of(1, 2), Some(2));
}

#[test]
fn purge_deletes_old_segments_and_remembers_the_purged_id() {
    let dir = tempfile::tempdir().unwrap();
    let big = "x".repeat(1000);
    {
        let store = LogStore::open_with(Arc::new(RealFs), dir.path(), 4096).unwrap();
        for i in 1..=40 {
            store.append_sync(1, &[entry(i, 1, &big)]).unwrap();
            store.append_sync(2, &[entry(i, 1, &big)]).unwrap();
        }
        let before = store.segment_count();
        store.purge(1, 30, 1, b"purged-1-30").unwrap();
        assert!(
            store.segment_count() >= before,
            "group 2 still needs every segment"
        );
        store.purge(2, 35, 1, b"purged-2-35").unwrap();
        assert!(
            store.segment_count() < before / 2,
            "{} of {before}",
            store.segment_count()
        );
        assert!(store.entries(1, 30..=30).is_err());
        assert_eq!(bodies(&store, 1, 31..=40).len(), 10);
    }
    let store = LogStore::open_with(Arc::new(RealFs), dir.path(), 4096).unwrap();
    let st = store.group_state(1);
    assert_eq!(st.purged, Some((30, b"purged-1-30".to_vec())));
    assert_eq!(st.range, Some((31, 40)));
    assert_eq!(store.group_state(2).purged.unwrap().0, 35);
    store.append_sync(1, &[entry(41, 1, "next")]).unwrap();
}

#[test]
fn purge_beyond_the_last_entry_empties_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(Arc::new(RealFs), dir.path()).unwrap();
    store.append_sync(1, &[entry(1, 1, "a")]).unwrap();
    store.purge(1, 10, 3, b"snap").unwrap();
    assert_eq!(store.group_state(1).range, None);
    assert!(store.append_sync(1, &[entry(5, 3, "x")]).is_err());
    store.append_sync(1, &[entry(11, 3, "x")]).unwrap();
}

#[test]
fn torn_tail_after_a_failed_fsync_is_trimmed_and_durable_entries_stay() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultFs::new();
    {
        let store = LogStore::open(Arc::new(fs.clone()), dir.path()).unwrap();
        store
            .append_sync(1, &[entry(1, 1, "durable-1"), entry(2, 1, "durable-2")])
            .unwrap();
        fs.fail_next_syncs(1);
        let r = store.append_sync(1, &[entry(3, 1, "never-acked"), entry(4, 1, "never-acked")]);
        assert!(
            r.is_err(),
            "an append whose fsync failed must not be acknowledged"
        );
        // After a failed fsync the store is poisoned: nothing more is acknowledged.
        assert!(matches!(
            store.append_sync(1, &[entry(5, 1, "no")]),
            Err(StorageError::Poisoned(_))
        ));
    }
    fs.heal();
    fs.crash(|unsynced| unsynced / 2, true).unwrap();
    let store = LogStore::open(Arc::new(fs.clone()), dir.path()).unwrap();
    assert_eq!(bodies(&store, 1, 1..=2), ["durable-1", "durable-2"]);
    assert_eq!(store.group_state(1).range, Some((1, 2)));
    store.append_sync(1, &[entry(3, 1, "again")]).unwrap();
    drop(store);
    let store = LogStore::open(Arc::new(fs), dir.path()).unwrap();
    assert_eq!(bodies(&store, 1, 3..=3), ["again"]);
}

#[test]
fn corruption_before_the_durable_end_stops_the_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = LogStore::open(Arc::new(RealFs), dir.path()).unwrap();
        store.append_sync(1, &[entry(1, 1, "first")]).unwrap();
        store.append_sync(1, &[entry(2, 1, "second")]).unwrap();
    }
    let seg = dir.path().join(segment_name(1));
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[HEADER_BYTES + 2] ^= 0x40; // inside the first record's payload
    std::fs::write(&seg, &bytes).unwrap();
    match LogStore::open(Arc::new(RealFs), dir.path()) {
        Err(StorageError::Corrupt { path, offset, .. }) => {
            assert_eq!(path, seg);
            assert_eq!(offset, 0);
        }
        other => panic!("expected corruption error, got {other:?}"),
    }
}

#[test]
fn bit_flip_on_read_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultFs::new();
    let store = LogStore::open(Arc::new(fs.clone()), dir.path()).unwrap();
    store.append_sync(1, &[entry(1, 1, "payload")]).unwrap();
    fs.flip_bit_on_read(&dir.path().join(segment_name(1)), HEADER_BYTES as u64 + 1);
    assert!(matches!(
        store.entries(1, 1..=1),
        Err(StorageError::Corrupt { .. })
    ));
    fs.heal();
    assert_eq!(bodies(&store, 1, 1..=1), ["payload"]);
}

#[test]
fn failed_write_is_reported_and_poisons() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultFs::new();
    let store = LogStore::open(Arc::new(fs.clone()), dir.path()).unwrap();
    store.append_sync(1, &[entry(1, 1, "ok")]).unwrap();
    fs.fail_writes_after(10);
    assert!(matches!(
        store.append_sync(1, &[entry(2, 1, "fails")]),
        Err(StorageError::Io { .. })
    ));
    fs.heal();
    assert!(matches!(
        store.append_sync(1, &[entry(2, 1, "no")]),
        Err(StorageError::Poisoned(_))
    ));
    drop(store);
    // The partial record is a torn tail: trimmed on reopen, the durable entry stays.
    let store = LogStore::open(Arc::new(fs), dir.path()).unwrap();
    assert_eq!(bodies(&store, 1, 1..=1), ["ok"]);
    assert_eq!(store.group_state(1).range, Some((1, 1)));
}

#[test]
fn votes_are_durable() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = LogStore::open(Arc::new(RealFs), dir.path()).unwrap();
        store.save_vote(3, b"term=5,node=2").unwrap();
        store.save_vote(4, b"term=1").unwrap();
        store.save_vote(3, b"term=6,node=1").unwrap();
    }
    let store = LogStore::open(Arc::new(RealFs), dir.path()).unwrap();
    assert_eq!(store.vote(3).unwrap(), b"term=6,node=1");
    assert_eq!(store.vote(4).unwrap(), b"term=1");
    assert_eq!(store.vote(5), None);
}

/// Segment deletion re-logs purge marks into the current segment, after entries that
/// followed the purged ones; the segments those were in may be gone on reopen. Recovery must
/// take the later purge mark as covering the gap (found by a node test: `index N is not
/// contiguous` on reopen after a purge while entries were being appended).
#[test]
fn a_purge_mark_relogged_after_later_entries_covers_the_deleted_ones() {
    let body = "x".repeat(100);
    for segment_bytes in (100..=700).step_by(40) {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = LogStore::open_with(Arc::new(RealFs), dir.path(), segment_bytes).unwrap();
            let mut next = 1;
            for round in 0..6u64 {
                for _ in 0..3 {
                    s.append_sync(1, &[entry(next, 1, &body)]).unwrap();
                    next += 1;
                }
                s.purge(1, next - 2, 1, format!("p{round}").as_bytes())
                    .unwrap();
            }
            s.append_sync(1, &[entry(next, 1, &body)]).unwrap();
        }
        let s = LogStore::open_with(Arc::new(RealFs), dir.path(), segment_bytes)
            .unwrap_or_else(|e| panic!("segments of {segment_bytes} bytes: {e}"));
        let st = s.group_state(1);
        assert_eq!(st.purged.as_ref().map(|p| p.0), Some(17), "{segment_bytes}");
        assert_eq!(st.range, Some((18, 19)), "{segment_bytes}");
        assert_eq!(bodies(&s, 1, 18..=19), [body.clone(), body.clone()]);
    }
}

fn segment_len(dir: &Path, seq: u64) -> u64 {
    std::fs::metadata(dir.join(segment_name(seq)))
        .unwrap()
        .len()
}

/// The current segment runs ahead of its records in written zeros; closed segments end at
/// their last record; a reopen reads the records, not the zeros, and appends after them.
#[test]
fn segments_are_preallocated_and_cut_back_when_they_close() {
    let dir = tempfile::tempdir().unwrap();
    let body = "y".repeat(300);
    {
        let store = LogStore::open(Arc::new(RealFs), dir.path()).unwrap();
        store.append_sync(1, &[entry(1, 1, &body)]).unwrap();
        assert_eq!(segment_len(dir.path(), 1), LOG_PREALLOC_BYTES);
    }
    {
        let store = LogStore::open(Arc::new(RealFs), dir.path()).unwrap();
        assert_eq!(bodies(&store, 1, 1..=1), std::slice::from_ref(&body));
        let record = (HEADER_BYTES + body.len()) as u64;
        assert_eq!(
            segment_len(dir.path(), 1),
            record,
            "the zeros are cut at open"
        );
        store.append_sync(1, &[entry(2, 1, "after")]).unwrap();
    }
    let store = LogStore::open(Arc::new(RealFs), dir.path()).unwrap();
    assert_eq!(
        bodies(&store, 1, 1..=2),
        [body.clone(), "after".to_string()]
    );

    // Small segments: each closes at its records' end; only the last has zeros.
    let dir = tempfile::tempdir().unwrap();
    let record = (HEADER_BYTES + body.len()) as u64;
    {
        let store = LogStore::open_with(Arc::new(RealFs), dir.path(), 1000).unwrap();
        for i in 1..=10 {
            store.append_sync(1, &[entry(i, 1, &body)]).unwrap();
        }
        let segments = store.segment_count() as u64;
        assert!(segments >= 3, "{segments} segments");
        for seq in 1..segments {
            assert_eq!(segment_len(dir.path(), seq) % record, 0, "segment {seq}");
        }
        assert_eq!(segment_len(dir.path(), segments) % 1000, 0);
    }
    let store = LogStore::open_with(Arc::new(RealFs), dir.path(), 1000).unwrap();
    assert_eq!(bodies(&store, 1, 1..=10).len(), 10);
}

/// Records written into preallocated zeros but never fsynced are lost in a crash, and the
/// zeros that come back in their place read as the end of the log, not as corruption.
#[test]
fn unsynced_records_inside_preallocated_space_are_lost_cleanly() {
    for torn in [0u64, 7, 30] {
        let dir = tempfile::tempdir().unwrap();
        let fs = FaultFs::new();
        {
            let store = LogStore::open(Arc::new(fs.clone()), dir.path()).unwrap();
            store.append_sync(1, &[entry(1, 1, "durable")]).unwrap();
            fs.fail_next_syncs(1);
            assert!(store.append_sync(1, &[entry(2, 1, "lost")]).is_err());
        }
        fs.heal();
        fs.crash(|unsynced| torn.min(unsynced), false).unwrap();
        let seg = segment_len(dir.path(), 1);
        assert_eq!(seg, LOG_PREALLOC_BYTES, "the synced length stays");
        let store = LogStore::open(Arc::new(fs.clone()), dir.path()).unwrap();
        assert_eq!(bodies(&store, 1, 1..=1), ["durable"], "torn {torn}");
        assert_eq!(store.group_state(1).range, Some((1, 1)), "torn {torn}");
        store.append_sync(1, &[entry(2, 1, "again")]).unwrap();
    }
}
