//! A node in-process: SQL sessions on real tablets and a real log.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use reef_common::ids::Version;
use reef_common::keycodec::{encode_key, KeyKind};
use reef_common::value::Value;
use reef_server::{Node, NodeConfig};
use reef_sql::datum::Datum;
use reef_sql::{Output, SqlSession};
use reef_storage::mvcc::ReadCtx;
use reef_storage::tablet::full_range;

mod log;
mod meta;
mod olap;

fn session(node: &Arc<Node>, id: u32) -> SqlSession {
    let mut s = SqlSession::new(node.engine.clone(), id, "root", false);
    s.use_db("d").unwrap();
    s
}

fn rows(s: &mut SqlSession, sql: &str) -> Vec<Vec<Datum>> {
    match s.execute(sql).pop().unwrap().unwrap() {
        Output::Rows { rows, .. } => rows,
        other => panic!("{sql}: {other:?}"),
    }
}

/// The rows of `sql` as text, NULL as "NULL".
fn text_rows(s: &mut SqlSession, sql: &str) -> Vec<Vec<String>> {
    match s.execute(sql).pop().unwrap() {
        Ok(Output::Rows { rows, .. }) => rows
            .into_iter()
            .map(|r| {
                r.iter()
                    .map(|d| d.to_text().unwrap_or_else(|| "NULL".into()))
                    .collect()
            })
            .collect(),
        other => panic!("{sql}: {other:?}"),
    }
}

/// Every (k, id) pair the index on `k` holds, decoded from its keys.
fn index_entries(node: &Arc<Node>) -> BTreeSet<(i64, i64)> {
    let def = node.engine.catalog.table("d", "t").unwrap();
    let ix = &def.indexes[0];
    let tablet = node.engine.tablets.tablet(ix.id).unwrap();
    let mut out = BTreeSet::new();
    for item in tablet
        .scan(full_range(), ReadCtx::at(Version::MAX))
        .unwrap()
    {
        let (key, _) = item.unwrap();
        // Find the (k, id) pair whose encoding is this key (both are INT: 9 bytes each).
        let k = i64::from_be_bytes(key[1..9].try_into().unwrap()) ^ i64::MIN;
        let id = i64::from_be_bytes(key[10..18].try_into().unwrap()) ^ i64::MIN;
        let expect = [
            encode_key(&[Value::Int(k)], &[KeyKind::Int]).unwrap(),
            encode_key(&[Value::Int(id)], &[KeyKind::Int]).unwrap(),
        ]
        .concat();
        assert_eq!(key, expect, "index key layout");
        out.insert((k, id));
    }
    out
}

fn table_pairs(s: &mut SqlSession) -> BTreeSet<(i64, i64)> {
    rows(s, "SELECT k, id FROM t")
        .into_iter()
        .map(|r| match (&r[0], &r[1]) {
            (Datum::Int(k), Datum::Int(id)) => (*k, *id),
            other => panic!("{other:?}"),
        })
        .collect()
}

fn open_node(dir: &std::path::Path) -> Arc<Node> {
    let cfg = NodeConfig {
        data_dir: dir.to_path_buf(),
        cache_bytes: 16 << 20,
        olap: Default::default(),
        log: Default::default(),
    };
    Node::open(&cfg).unwrap()
}

#[test]
fn an_index_built_during_concurrent_writes_matches_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_node(dir.path());
    let mut s = SqlSession::new(node.engine.clone(), 1, "root", false);
    for r in
        s.execute("CREATE DATABASE d; USE d; CREATE TABLE t (id INT PRIMARY KEY, k INT NOT NULL)")
    {
        r.unwrap();
    }
    let values: Vec<String> = (0..3000).map(|i| format!("({i}, {})", i % 97)).collect();
    s.execute(&format!("INSERT INTO t VALUES {}", values.join(",")))
        .pop()
        .unwrap()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..3u32)
        .map(|w| {
            let (node, stop) = (node.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut s = session(&node, 10 + w);
                let mut i = 0i64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let id = (i * 7 + w as i64 * 1000) % 3000;
                    let sql = match i % 3 {
                        0 => format!("UPDATE t SET k = k + 1 WHERE id = {id}"),
                        1 => format!("DELETE FROM t WHERE id = {id}"),
                        _ => format!(
                            "INSERT IGNORE INTO t VALUES ({}, {})",
                            3000 + i + w as i64 * 100_000,
                            i % 13
                        ),
                    };
                    s.execute(&sql).pop().unwrap().unwrap();
                }
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(50));
    s.execute("CREATE INDEX k_1 ON t (k)")
        .pop()
        .unwrap()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let def = node.engine.catalog.table("d", "t").unwrap();
    assert_eq!(def.indexes.len(), 1);
    assert_eq!(def.indexes[0].state, reef_sql::catalog::IndexState::Public);
    assert_eq!(
        index_entries(&node),
        table_pairs(&mut s),
        "index entries differ from the table's rows"
    );
    // After a restart (recovery from the log), the index is still there and still exact.
    drop(s);
    drop(node);
    let node = open_node(dir.path());
    let mut s = session(&node, 2);
    assert_eq!(index_entries(&node), table_pairs(&mut s));
    s.execute("UPDATE t SET k = -1 WHERE id = 5; DELETE FROM t WHERE id = 6")
        .into_iter()
        .for_each(|r| {
            r.unwrap();
        });
    assert_eq!(index_entries(&node), table_pairs(&mut s));
}

#[test]
fn a_session_holds_a_bounded_number_of_prepared_statements() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_node(dir.path());
    let mut s = SqlSession::new(node.engine.clone(), 1, "root", false);
    let mut first = None;
    for _ in 0..reef_sql::PREPARED_PER_SESSION_MAX {
        let (id, _, _) = s.prepare("SELECT ?").unwrap();
        first.get_or_insert(id);
    }
    let err = s.prepare("SELECT ?").unwrap_err();
    assert_eq!(err.code.errno, 1461);
    // Closing one makes room again.
    s.close_prepared(first.unwrap());
    s.prepare("SELECT ?").unwrap();
}

#[test]
fn a_data_directory_opens_in_one_node_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_node(dir.path());
    let cfg = NodeConfig {
        data_dir: dir.path().to_path_buf(),
        cache_bytes: 16 << 20,
        olap: Default::default(),
        log: Default::default(),
    };
    let err = Node::open(&cfg).unwrap_err().to_string();
    assert!(err.contains("in use by another reef process"), "{err}");
    drop(node);
    let again = Node::open(&cfg).expect("the lock goes with the node");
    drop(again);
}
