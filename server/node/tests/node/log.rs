//! The log stays bounded while a node runs: snapshots follow what the tablets have durable,
//! long logs make the MemTables holding them dump, and tablets no table uses any more stop
//! holding the log back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reef_server::logstream::LogStreamOptions;
use reef_server::{LogOptions, Node, NodeConfig};
use reef_sql::SqlSession;

use crate::text_rows;

fn open(dir: &std::path::Path, segments_before_freeze: usize) -> Arc<Node> {
    Node::open(&NodeConfig {
        data_dir: dir.to_path_buf(),
        cache_bytes: 16 << 20,
        olap: Default::default(),
        log: LogOptions {
            segment_bytes: 64 << 10,
            stream: LogStreamOptions {
                checkpoint_interval: Duration::from_millis(20),
                segments_before_freeze,
            },
        },
    })
    .unwrap()
}

fn session(node: &Arc<Node>) -> SqlSession {
    let mut s = SqlSession::new(node.engine.clone(), 1, "root", false);
    for r in s.execute("CREATE DATABASE IF NOT EXISTS d") {
        r.unwrap();
    }
    s.use_db("d").unwrap();
    s
}

fn run(s: &mut SqlSession, sql: &str) {
    for r in s.execute(sql) {
        r.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

/// Polls `done` for up to 20 s (the checkpointer runs every 20 ms here).
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting until {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn the_log_is_purged_while_the_node_runs_and_a_restart_finds_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let node = open(dir.path(), 3);
    let mut s = session(&node);
    run(
        &mut s,
        "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(1000))",
    );
    let filler = "x".repeat(900);
    let mut peak = 0;
    for batch in 0..60 {
        let values: Vec<String> = (0..100)
            .map(|i| format!("({}, '{filler}')", batch * 100 + i))
            .collect();
        run(
            &mut s,
            &format!("INSERT INTO t VALUES {}", values.join(",")),
        );
        peak = peak.max(node.log_stream().segment_count());
    }
    // About 5.5 MiB of log in 64 KiB segments: nearly all of it must have gone.
    let log = node.log_stream().clone();
    // Each entry (100 rows of 900 bytes) fills about a segment: once the log holds more
    // than 3, the MemTables holding its older half dump and it is purged down again.
    eventually("the log is back within 3 segments", || {
        log.segment_count() <= 3 && log.purged_through().0 + 3 >= log.applied_through().0
    });
    assert!(peak < 60, "the log reached {peak} segments before purging");
    drop(s);
    drop(log);
    drop(node);
    let node = open(dir.path(), 3);
    let mut s = session(&node);
    assert_eq!(
        text_rows(&mut s, "SELECT COUNT(*), SUM(id), MIN(LENGTH(v)) FROM t"),
        [["6000", "17997000", "900"]]
    );
}

#[test]
fn tablets_a_table_no_longer_uses_leave_the_log_stream() {
    let dir = tempfile::tempdir().unwrap();
    let node = open(dir.path(), 3);
    let log = node.log_stream().clone();
    let mut s = session(&node);
    let base = log.tablet_count();
    run(
        &mut s,
        "CREATE TABLE a (id INT PRIMARY KEY, k INT, KEY (k))",
    );
    run(&mut s, "INSERT INTO a VALUES (1, 1)");
    assert_eq!(log.tablet_count(), base + 2);
    run(&mut s, "TRUNCATE TABLE a");
    assert_eq!(log.tablet_count(), base + 2, "the old tablets went");
    run(&mut s, "ALTER TABLE a ADD COLUMN c INT");
    assert_eq!(log.tablet_count(), base + 2, "the copied-from tablets went");
    run(&mut s, "ALTER TABLE a DROP INDEX k");
    assert_eq!(log.tablet_count(), base + 1);
    run(&mut s, "CREATE TABLE b (id INT PRIMARY KEY)");
    run(&mut s, "INSERT INTO a VALUES (2, 2, 2)");
    run(&mut s, "DROP TABLE b");
    assert_eq!(log.tablet_count(), base + 1);
    run(&mut s, "DROP DATABASE d");
    assert_eq!(log.tablet_count(), base);
}

/// The tablet directories under `dir`, by id.
fn tablet_dirs(dir: &std::path::Path) -> std::collections::BTreeSet<u64> {
    std::fs::read_dir(dir.join("tablets"))
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_str()?.parse().ok())
        .collect()
}

#[test]
fn files_of_tablets_no_table_uses_go_at_the_next_open_and_their_ids_stay_used() {
    let dir = tempfile::tempdir().unwrap();
    let node = open(dir.path(), 3);
    let mut s = session(&node);
    run(&mut s, "CREATE TABLE b (id INT PRIMARY KEY)");
    run(&mut s, "INSERT INTO b VALUES (1), (2)");
    run(&mut s, "TRUNCATE TABLE b");
    run(&mut s, "INSERT INTO b VALUES (3)");
    // a holds the highest ids: without a durable high-water mark the next table would
    // reuse them once a's directories are gone.
    run(
        &mut s,
        "CREATE TABLE a (id INT PRIMARY KEY, k INT, KEY (k))",
    );
    run(&mut s, "INSERT INTO a VALUES (1, 1)");
    let before = tablet_dirs(dir.path());
    run(&mut s, "DROP TABLE a");
    drop(s);
    drop(node);
    let node = open(dir.path(), 3);
    let mut s = session(&node);
    let after = tablet_dirs(dir.path());
    // The catalog's tablet and b's new one remain; a's two and b's old one are gone.
    assert_eq!(after.len(), 2, "{after:?}");
    assert_eq!(text_rows(&mut s, "SELECT id FROM b"), [["3"]]);
    drop(s);
    drop(node);
    // Opened again, with a's directories long gone, a new table still gets a new id.
    let node = open(dir.path(), 3);
    let mut s = session(&node);
    run(&mut s, "CREATE TABLE c (id INT PRIMARY KEY)");
    let newest = *tablet_dirs(dir.path()).iter().max().unwrap();
    let highest_before = *before.iter().max().unwrap();
    assert!(
        newest > highest_before,
        "a new table reused a tablet id: {newest} (before: {before:?}, after: {after:?})"
    );
    assert_eq!(tablet_dirs(dir.path()).len(), 3);
    assert_eq!(text_rows(&mut s, "SELECT COUNT(*) FROM c"), [["0"]]);
}
