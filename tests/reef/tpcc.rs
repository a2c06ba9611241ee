//! The TPC-C driver (`sysbench/tpcc`) against `reef start`: a tiny load, a short run of the
//! full mix with the specification's consistency conditions checked after it, and the same
//! conditions after `kill -9` in the middle of a run and a restart. The driver is built with
//! the workspace (`scripts/test.sh` builds every binary) and links no ReefDB crate.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::harness::Reef;

fn tpcc() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_BIN_EXE_reef")).with_file_name("tpcc");
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build --workspace --bins` (scripts/test.sh does)",
        path.display()
    );
    path
}

fn driver(port: u16, args: &[&str]) -> Command {
    let mut cmd = Command::new(tpcc());
    cmd.args(["--port", &port.to_string()]).args(args);
    cmd
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Asserts every checked consistency condition held, and that all eleven were checked.
fn assert_consistent(out: &Output) {
    let report = text(out);
    assert!(out.status.success(), "tpcc failed:\n{report}");
    let held = report
        .lines()
        .filter(|l| l.starts_with("consistency condition") && l.contains(": ok ("))
        .count();
    assert_eq!(held, 11, "{report}");
}

/// A load is a function of its seed: the same rows whichever loader thread takes which
/// warehouse or item range.
#[test]
fn tpcc_loads_the_same_rows_from_the_same_seed() {
    let data = tempfile::tempdir().unwrap();
    let r = Reef::start(data.path());
    for (db, threads) in [("tpcc_one", "1"), ("tpcc_three", "3")] {
        let out = driver(
            r.port,
            &[
                "load",
                "--tiny",
                "--warehouses",
                "2",
                "--threads",
                threads,
                "--database",
                db,
            ],
        )
        .output()
        .unwrap();
        assert!(out.status.success(), "load failed:\n{}", text(&out));
    }
    let rows = "SELECT c_w_id, c_d_id, c_id, c_last, c_first, c_credit, c_data FROM customer \
                ORDER BY c_w_id, c_d_id, c_id; \
                SELECT s_w_id, s_i_id, s_quantity, s_data FROM stock ORDER BY s_w_id, s_i_id; \
                SELECT o_w_id, o_d_id, o_id, o_c_id, o_ol_cnt FROM orders \
                ORDER BY o_w_id, o_d_id, o_id; \
                SELECT i_id, i_name, i_price, i_data FROM item ORDER BY i_id";
    let one = r.ok(Some("tpcc_one"), rows);
    assert!(one.lines().count() > 1000, "{one}");
    assert!(
        one == r.ok(Some("tpcc_three"), rows),
        "the two loads differ"
    );
}

#[test]
fn tpcc_runs_clean_and_stays_consistent_through_a_crash() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let r = Reef::start(data.path());

    let out = driver(
        r.port,
        &["load", "--tiny", "--warehouses", "2", "--threads", "2"],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "load failed:\n{}", text(&out));

    let json = work.path().join("run.json");
    let out = driver(
        r.port,
        &[
            "run",
            "--terminals",
            "4",
            "--duration",
            "8",
            "--warmup",
            "1",
            "--check",
            "--json",
        ],
    )
    .arg(&json)
    .output()
    .unwrap();
    assert_consistent(&out);
    let result: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(result["errors"], 0, "{}", text(&out));
    assert!(result["tpmC"].as_f64().unwrap() > 0.0);
    for t in result["transactions"].as_array().unwrap() {
        assert!(t["count"].as_u64().unwrap() > 0, "none completed: {t}");
    }

    // A run cut short by kill -9: whatever committed must leave the database consistent.
    let mut run = driver(
        r.port,
        &[
            "run",
            "--terminals",
            "4",
            "--duration",
            "6",
            "--warmup",
            "0",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    r.kill9();
    let _ = run.wait();

    let r = Reef::start(data.path());
    assert_consistent(&driver(r.port, &["check"]).output().unwrap());
    // And the database takes new orders after the restart.
    let out = driver(
        r.port,
        &[
            "run",
            "--terminals",
            "2",
            "--duration",
            "3",
            "--warmup",
            "0",
            "--check",
        ],
    )
    .output()
    .unwrap();
    assert_consistent(&out);
    r.stop();
}
