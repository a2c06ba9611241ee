//! How openraft's entries, votes and purge marks are laid out in the log segment store.
//!
//! An entry's payload is `[ENTRY_FORMAT][kind][leader node id varint][body]` (the store
//! keeps index and term itself). The body of a normal entry is a
//! [`reef_txn::log::CommitRecord`] as encoded by the transaction layer, untouched, so the
//! commit path encodes redo once; membership entries, votes and purge marks are rare and
//! small, and use JSON.

use std::io;
use std::sync::Arc;

use openraft::{CommittedLeaderId, EntryPayload, LogId, StoredMembership, Vote};
use reef_common::rowcodec::{get_varint, put_varint};
use reef_storage::logstore::LogEntry;
use serde::{Deserialize, Serialize};

use super::{Entry, NodeId, Redo, StreamTypes};

const ENTRY_FORMAT: u8 = 0x52;
const KIND_BLANK: u8 = 0;
const KIND_NORMAL: u8 = 1;
const KIND_MEMBERSHIP: u8 = 2;

/// An entry as the segment store keeps it.
pub(crate) fn encode_entry(e: &Entry) -> io::Result<LogEntry> {
    let leader = e.log_id.leader_id.node_id;
    let mut out = Vec::with_capacity(16 + normal_len(&e.payload));
    out.push(ENTRY_FORMAT);
    match &e.payload {
        EntryPayload::Blank => {
            out.push(KIND_BLANK);
            put_varint(&mut out, leader);
        }
        EntryPayload::Normal(redo) => {
            out.push(KIND_NORMAL);
            put_varint(&mut out, leader);
            out.extend_from_slice(&redo.0);
        }
        EntryPayload::Membership(m) => {
            out.push(KIND_MEMBERSHIP);
            put_varint(&mut out, leader);
            serde_json::to_writer(&mut out, m).map_err(io::Error::other)?;
        }
    }
    Ok(LogEntry {
        index: e.log_id.index,
        term: e.log_id.leader_id.term,
        payload: Arc::from(out),
    })
}

fn normal_len(p: &EntryPayload<StreamTypes>) -> usize {
    match p {
        EntryPayload::Normal(r) => r.0.len(),
        _ => 0,
    }
}

/// The header of a stored entry: its log id, kind and where the body starts.
fn header(e: &LogEntry) -> Result<(LogId<NodeId>, u8, usize), String> {
    let p = &e.payload;
    if p.first() != Some(&ENTRY_FORMAT) {
        return Err(format!(
            "log entry {} is not in the log stream format (a data directory written before \
             ReefDB's log streams ran on openraft cannot be opened; start with a new one)",
            e.index
        ));
    }
    let kind = *p.get(1).ok_or("log entry without a kind")?;
    let mut pos = 2;
    let leader = get_varint(p, &mut pos).map_err(|e| e.to_string())?;
    let log_id = LogId::new(CommittedLeaderId::new(e.term, leader), e.index);
    Ok((log_id, kind, pos))
}

/// The log id of a stored entry.
pub(crate) fn entry_log_id(e: &LogEntry) -> Result<LogId<NodeId>, String> {
    header(e).map(|(id, _, _)| id)
}

/// A stored entry back as openraft's.
pub(crate) fn decode_entry(e: &LogEntry) -> Result<Entry, String> {
    let (log_id, kind, body) = header(e)?;
    let body = &e.payload[body..];
    let payload = match kind {
        KIND_BLANK => EntryPayload::Blank,
        KIND_NORMAL => EntryPayload::Normal(Redo(body.to_vec(), Default::default())),
        KIND_MEMBERSHIP => {
            EntryPayload::Membership(serde_json::from_slice(body).map_err(|err| err.to_string())?)
        }
        k => return Err(format!("log entry {} has unknown kind {k}", e.index)),
    };
    Ok(Entry { log_id, payload })
}

/// The body of a stored normal entry (a commit record), or `None` for the other kinds.
pub(crate) fn normal_body(e: &LogEntry) -> Result<Option<&[u8]>, String> {
    let (_, kind, body) = header(e)?;
    Ok((kind == KIND_NORMAL).then(|| &e.payload[body..]))
}

/// What a purge leaves behind: the last purged log id and the membership in force there
/// (its entry may be purged too, and a restart needs it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PurgeMark {
    pub(crate) log_id: Option<LogId<NodeId>>,
    pub(crate) membership: StoredMembership<NodeId, openraft::BasicNode>,
}

pub(crate) fn encode_purge(m: &PurgeMark) -> Vec<u8> {
    serde_json::to_vec(m).expect("a purge mark serializes")
}

pub(crate) fn decode_purge(b: &[u8]) -> Result<PurgeMark, String> {
    serde_json::from_slice(b).map_err(|e| format!("purge mark: {e}"))
}

pub(crate) fn encode_vote(v: &Vote<NodeId>) -> Vec<u8> {
    serde_json::to_vec(v).expect("a vote serializes")
}

pub(crate) fn decode_vote(b: &[u8]) -> Result<Vote<NodeId>, String> {
    serde_json::from_slice(b).map_err(|e| format!("vote: {e}"))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use openraft::Membership;

    use super::*;

    fn round_trip(e: Entry) {
        let stored = encode_entry(&e).unwrap();
        let back = decode_entry(&stored).unwrap();
        assert_eq!(back.log_id, e.log_id);
        assert_eq!(format!("{:?}", back.payload), format!("{:?}", e.payload));
    }

    #[test]
    fn entries_round_trip_and_foreign_payloads_are_refused() {
        let id = LogId::new(CommittedLeaderId::new(3, 7), 42);
        round_trip(Entry {
            log_id: id,
            payload: EntryPayload::Blank,
        });
        round_trip(Entry {
            log_id: id,
            payload: EntryPayload::Normal(Redo(vec![1, 2, 3], Default::default())),
        });
        let members = Membership::new(vec![BTreeSet::from([7])], None);
        round_trip(Entry {
            log_id: id,
            payload: EntryPayload::Membership(members),
        });
        let stored = encode_entry(&Entry {
            log_id: id,
            payload: EntryPayload::Normal(Redo(vec![9], Default::default())),
        })
        .unwrap();
        assert_eq!(normal_body(&stored).unwrap(), Some(&[9u8][..]));
        let foreign = LogEntry {
            index: 1,
            term: 1,
            payload: Arc::from(&[1u8, 0, 0][..]),
        };
        assert!(decode_entry(&foreign).unwrap_err().contains("new one"));
    }

    #[test]
    fn purge_marks_and_votes_round_trip() {
        let m = PurgeMark {
            log_id: Some(LogId::new(CommittedLeaderId::new(2, 1), 10)),
            membership: StoredMembership::default(),
        };
        assert_eq!(decode_purge(&encode_purge(&m)).unwrap(), m);
        let v = Vote::new_committed(4, 1);
        assert_eq!(decode_vote(&encode_vote(&v)).unwrap(), v);
        assert!(decode_vote(b"garbage").is_err());
    }
}
