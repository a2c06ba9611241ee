//! The bank (issue 4's acceptance test): concurrent transfers under row locks, readers
//! checking the total under REPEATABLE READ, `kill -9` in the middle of the run, and after
//! the restart the total holds, every acknowledged transfer is in the ledger and every
//! balance equals its ledger sum. The workload is `bank.py`, over PyMySQL.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::Reef;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/reef/bank.py");
const ACCOUNTS: &str = "20";
const BALANCE: &str = "1000";

/// The number after `key=` in `out`.
fn field(out: &str, key: &str) -> u64 {
    out.split_whitespace()
        .find_map(|w| w.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key}= in {out}"))
}

#[test]
fn bank_transfers_survive_kill_9_and_every_acknowledged_one_is_in_the_ledger() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let acked = work.path().join("acked");
    let acked = acked.to_str().unwrap();
    let r = Reef::start(data.path());
    r.python_with(&[
        SCRIPT.as_ref(),
        "setup".as_ref(),
        ACCOUNTS.as_ref(),
        BALANCE.as_ref(),
    ]);

    // A round that ends on its own: readers never see the total move.
    let out = r.python_with(&[SCRIPT, "run", "2", "6", "2", acked].map(|s| s.as_ref()));
    assert_eq!(field(&out, "violations"), 0, "{out}");
    assert!(field(&out, "transfers") > 0, "{out}");

    // A round the server does not survive.
    let run = Command::new("python3")
        .args([SCRIPT, "run", "60", "6", "2", acked])
        .env("PORT", r.port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    std::thread::sleep(Duration::from_secs(3));
    r.kill9();
    let out = run.wait_with_output().expect("the workload ends");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(field(&stdout, "violations"), 0, "{stdout}");
    assert!(field(&stdout, "transfers") > 0, "{stdout}");

    let r = Reef::start(data.path());
    let check =
        |r: &Reef| r.python_with(&[SCRIPT, "check", ACCOUNTS, BALANCE, acked].map(|s| s.as_ref()));
    let out = check(&r);
    assert_eq!(field(&out, "problems"), 0, "{out}");
    assert!(field(&out, "acked") > 0, "{out}");

    // Transfers go on after the restart, and a clean stop keeps them too.
    let out = r.python_with(&[SCRIPT, "run", "1", "4", "1", acked].map(|s| s.as_ref()));
    assert_eq!(field(&out, "violations"), 0, "{out}");
    r.stop();
    let r = Reef::start(data.path());
    let out = check(&r);
    assert_eq!(field(&out, "problems"), 0, "{out}");
    r.stop();
}
