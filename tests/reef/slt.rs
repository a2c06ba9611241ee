//! The `.slt` files of `tests/slt/`, run over the MySQL protocol against a fresh server by
//! `tests/slt/run.py` (PyMySQL). Their expected answers are checked against MariaDB with
//! `tests/slt/mariadb.sh`.

use crate::harness::Reef;

#[test]
fn slt_files_give_mysqls_answers() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<String> = std::fs::read_dir(root.join("tests/slt"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "slt"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .slt files found");
    let dir = tempfile::tempdir().unwrap();
    let r = Reef::start(dir.path());
    let runner = root.join("tests/slt/run.py");
    let port = r.port.to_string();
    let mut args: Vec<&std::ffi::OsStr> =
        vec![runner.as_os_str(), "--port".as_ref(), port.as_ref()];
    args.extend(files.iter().map(std::ffi::OsStr::new));
    let out = r.python_with(&args);
    assert!(out.ends_with(" 0 failures\n"), "{out}");
    r.stop();
}
