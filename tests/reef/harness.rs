//! Starting `reef start` processes and talking to them with real clients.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `reef start`.
pub struct Reef {
    child: Child,
    /// The MySQL port it bound.
    pub port: u16,
}

impl Reef {
    /// Starts the server on a free port with data in `dir`; waits for its ready line.
    pub fn start(dir: &Path) -> Reef {
        let mut child = Command::new(env!("CARGO_BIN_EXE_reef"))
            .args(["start", "--port", "0", "--data-dir"])
            .arg(dir)
            .env("REEF_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the reef binary starts");
        let stdout = child.stdout.take().expect("piped");
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(60);
        let port = loop {
            assert!(Instant::now() < deadline, "no ready line from reef start");
            let line = lines
                .next()
                .expect("reef start exited before it was ready")
                .expect("readable stdout");
            if let Some(rest) = line.split("\"mysql\":\"").nth(1) {
                let addr = rest.split('"').next().expect("address");
                break addr
                    .rsplit(':')
                    .next()
                    .expect("port")
                    .parse()
                    .expect("numeric port");
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Reef { child, port }
    }

    /// Stops the server the way Ctrl-C does, and waits for it.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let status = self.child.wait().expect("reef exits");
        assert!(status.success(), "reef did not stop cleanly: {status}");
    }

    /// `kill -9`: no chance to flush or dump anything.
    pub fn kill9(mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }

    /// Runs SQL through the mysql CLI; (success, stdout, stderr).
    pub fn mysql(&self, db: Option<&str>, sql: &str) -> (bool, String, String) {
        let mut cmd = Command::new("mysql");
        cmd.args([
            "-h127.0.0.1",
            &format!("-P{}", self.port),
            "-uroot",
            "--batch",
            "--skip-column-names",
        ]);
        if let Some(db) = db {
            cmd.arg(format!("-D{db}"));
        }
        let out = cmd
            .arg("-e")
            .arg(sql)
            .output()
            .expect("the mysql client runs (scripts/test.sh installs it)");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `mysqldump` with `args`; returns the dump (which must succeed).
    pub fn mysqldump(&self, args: &[&str]) -> Vec<u8> {
        let out = Command::new("mysqldump")
            .args(["-h127.0.0.1", &format!("-P{}", self.port), "-uroot"])
            .args(args)
            .output()
            .expect("mysqldump runs (scripts/test.sh installs it)");
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "mysqldump {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Feeds `script` to the mysql CLI on stdin, as `mysql db < dump.sql` does.
    pub fn mysql_script(&self, db: Option<&str>, script: &[u8]) {
        use std::io::Write;
        let mut cmd = Command::new("mysql");
        cmd.args(["-h127.0.0.1", &format!("-P{}", self.port), "-uroot"]);
        if let Some(db) = db {
            cmd.arg(format!("-D{db}"));
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the mysql client runs");
        child
            .stdin
            .take()
            .expect("piped")
            .write_all(script)
            .expect("script written");
        let out = child.wait_with_output().expect("mysql exits");
        assert!(
            out.status.success(),
            "script failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs SQL that must succeed; returns its output.
    pub fn ok(&self, db: Option<&str>, sql: &str) -> String {
        let (ok, out, err) = self.mysql(db, sql);
        assert!(ok, "{sql}\n{err}");
        out
    }

    /// Runs `script` after a prelude that connects with PyMySQL (autocommit) and defines
    /// `run(sql)`: it prints the affected or returned row count and the rows, or `err <errno>`.
    pub fn python_run(&self, script: &str) -> String {
        self.python(&format!("{RUN_PRELUDE}{script}"))
    }

    /// Runs a Python snippet with `PORT` set; returns stdout (the snippet must succeed).
    pub fn python(&self, script: &str) -> String {
        self.python_with(&["-c".as_ref(), script.as_ref()])
    }

    /// Runs `python3 args...` with `PORT` set; returns stdout (it must succeed).
    pub fn python_with(&self, args: &[&std::ffi::OsStr]) -> String {
        let out = Command::new("python3")
            .args(args)
            .env("PORT", self.port.to_string())
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "python failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }
}

impl Drop for Reef {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The prelude of [`Reef::python_run`] scripts.
const RUN_PRELUDE: &str = r#"import os, pymysql
port = int(os.environ["PORT"])
c = pymysql.connect(host="127.0.0.1", port=port, user="root", autocommit=True)
cur = c.cursor()
def run(sql):
    try:
        n = cur.execute(sql)
        rows = cur.fetchall()
        print(n, list(rows) if rows else "")
    except pymysql.MySQLError as e:
        print("err", e.args[0])
"#;
