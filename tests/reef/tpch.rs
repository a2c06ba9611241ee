//! TPC-H at scale factor 0.01 through the MySQL protocol (`sysbench/tpch/tpch.py`): the 22
//! queries must return DuckDB's answers on the freshly loaded data (MemTables), again
//! after a restart (SSTables) and after `ALTER SYSTEM MAJOR FREEZE` (one baseline), and a
//! changed row must change the answer.

use std::process::{Command, Output};

use crate::harness::Reef;

fn tpch(port: u16, cache: &std::path::Path, args: &[&str]) -> Output {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/sysbench/tpch/tpch.py");
    Command::new("python3")
        .arg(script)
        .args(args)
        .args(["--sf", "0.01", "--port", &port.to_string()])
        .arg("--cache")
        .arg(cache)
        .output()
        .expect("python3 runs")
}

fn report(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_all_match(out: &Output) {
    let text = report(out);
    assert!(out.status.success(), "tpch check failed:\n{text}");
    assert!(
        text.contains("22 of 22 queries match DuckDB's answers"),
        "{text}"
    );
}

#[test]
fn tpch_queries_return_duckdb_answers() {
    let data = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let r = Reef::start(data.path());
    let out = tpch(r.port, cache.path(), &["load", "--threads", "2"]);
    assert!(out.status.success(), "tpch load failed:\n{}", report(&out));
    assert_all_match(&tpch(r.port, cache.path(), &["check"]));

    r.stop();
    let r = Reef::start(data.path());
    assert_all_match(&tpch(r.port, cache.path(), &["check"]));
    // After a major freeze every table is one baseline SSTable: the answers stand, and the
    // lineitem scan is cut into parts (one per OLAP thread, two by default) on macroblock
    // boundaries, read in parallel.
    assert_eq!(
        r.ok(Some("tpch"), "ALTER SYSTEM MAJOR FREEZE"),
        "",
        "an OK packet, no rows"
    );
    assert_all_match(&tpch(r.port, cache.path(), &["check"]));
    let plan = r.ok(
        Some("tpch"),
        "EXPLAIN ANALYZE SELECT count(*) FROM lineitem",
    );
    assert!(
        plan.contains("ReefScanExec: table=lineitem, partitions=2"),
        "{plan}"
    );
    assert!(plan.contains("rows=1)"), "{plan}");

    // The comparison is real: one more unit on one line item moves Q1's sum_qty.
    r.ok(
        Some("tpch"),
        "UPDATE lineitem SET l_quantity = l_quantity + 1 WHERE l_orderkey = 1 AND l_linenumber = 1",
    );
    let out = tpch(r.port, cache.path(), &["check", "--queries", "1"]);
    let text = report(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("Q01: wrong answer: row "), "{text}");
}
