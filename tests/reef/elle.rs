//! List-append histories over the MySQL protocol (issue 4): PyMySQL clients run concurrent
//! read/append transactions against `reef start` (`elle.py`), and the `adya` checker (an
//! independent implementation of Kingsbury & Alvaro's Elle) judges the history.
//! SERIALIZABLE must show no anomaly; REPEATABLE READ nothing read committed forbids and,
//! beyond it, only what docs/isolation.md documents for it (MySQL's REPEATABLE READ: reads
//! at the transaction's snapshot, writes on the latest version).

use std::time::Duration;

use adya::{check, History, Opts, Valid, Workload};

use crate::harness::Reef;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/reef/elle.py");

fn history(r: &Reef, isolation: &str, seed: &str) -> String {
    r.python_with(&[SCRIPT, isolation, "6", "80", seed].map(|s| s.as_ref()))
}

fn report(h: &str, model: &str) -> adya::Report {
    let h = History::from_json(h).expect("a well-formed history");
    let opts = Opts {
        models: vec![model.into()],
        timeout: Duration::from_secs(20),
        ..Opts::default()
    };
    check(&h, Workload::ListAppend, &opts)
}

/// How many transactions of the history committed.
fn committed(h: &str) -> usize {
    h.lines().filter(|l| l.contains("\"type\":\"ok\"")).count()
}

#[test]
fn serializable_over_the_protocol_shows_no_anomaly() {
    let dir = tempfile::tempdir().unwrap();
    let r = Reef::start(dir.path());
    let h = history(&r, "SERIALIZABLE", "1");
    assert!(committed(&h) > 100, "too few commits to judge:\n{h}");
    let rep = report(&h, "strict-serializable");
    assert_eq!(rep.valid, Valid::True, "anomalies: {:?}", rep.anomaly_types);
    r.stop();
}

#[test]
fn repeatable_read_over_the_protocol_shows_only_its_documented_anomalies() {
    let dir = tempfile::tempdir().unwrap();
    let r = Reef::start(dir.path());
    let h = history(&r, "REPEATABLE-READ", "2");
    assert!(committed(&h) > 100, "too few commits to judge:\n{h}");
    let rep = report(&h, "read-committed");
    assert_eq!(
        rep.valid,
        Valid::True,
        "anomalies beyond read committed's: {:?}",
        rep.anomaly_types
    );
    let documented = reef_txn::txn::REPEATABLE_READ_ANOMALIES;
    for a in &report(&h, "serializable").anomaly_types {
        assert!(
            documented.iter().any(|d| a.starts_with(d)),
            "anomaly {a} is not documented for REPEATABLE READ"
        );
    }
    r.stop();
}

#[test]
fn serializable_check_then_insert_books_every_room_once() {
    // The phantom that list-append histories cannot show: a range read that a concurrent
    // insert into the range must invalidate.
    let dir = tempfile::tempdir().unwrap();
    let r = Reef::start(dir.path());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/reef/phantom.py");
    let out = r.python_with(&[script, "SERIALIZABLE", "4", "30"].map(|s| s.as_ref()));
    let rooms: Vec<&str> = out.lines().collect();
    assert_eq!(rooms.len(), 30, "{out}");
    for line in rooms {
        assert!(
            line.ends_with(" 1"),
            "a room booked other than once: {line}\n{out}"
        );
    }
    r.stop();
}
