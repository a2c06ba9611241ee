//! Real clients against the toy backend.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::atomic::Ordering;

use reef_mysql::auth;
use reef_mysql::codec::{Cursor, PacketReader, PacketWriter};

use crate::backend::start_toy;

/// Runs a Python snippet with `PORT` set; returns stdout, failing the test on a non-zero exit.
fn python(port: u16, script: &str) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .env("PORT", port.to_string())
        .output()
        .expect("python3 runs (scripts/test.sh installs it and the drivers)");
    assert!(
        out.status.success(),
        "python failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn mysql_cli(port: u16, args: &[&str]) -> (bool, String, String) {
    let out = Command::new("mysql")
        .args([
            "-h127.0.0.1",
            &format!("-P{port}"),
            "--batch",
            "--skip-column-names",
        ])
        .args(args)
        .output()
        .expect("the mysql client runs (scripts/test.sh installs mariadb-client)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_mysql_cli_connects_queries_and_sees_errors() {
    let (server, _) = start_toy();
    let port = server.local_addr().port();
    let (ok, out, err) = mysql_cli(port, &["-uroot", "-e", "select 7; rows 3"]);
    assert!(ok, "{err}");
    assert_eq!(out, "7\n0\trow 0\n1\trow 1\n2\trow 2\n");
    let (ok, _, err) = mysql_cli(port, &["-uroot", "-e", "error 3572"]);
    assert!(!ok);
    assert!(
        err.contains("ERROR 3572 (HY000)") && err.contains("toy error 3572"),
        "{err}"
    );
    let (ok, out, err) = mysql_cli(
        port,
        &[
            "-ualice",
            "-pwonderland",
            "-Dshop",
            "-e",
            "select database(); select user()",
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(out, "shop\nalice\n");
    let (ok, _, err) = mysql_cli(port, &["-ualice", "-pwrong", "-e", "select 1"]);
    assert!(!ok);
    assert!(err.contains("ERROR 1045 (28000)"), "{err}");
    let (ok, _, err) = mysql_cli(port, &["-uroot", "-Dmissing", "-e", "select 1"]);
    assert!(!ok);
    assert!(err.contains("ERROR 1049"), "{err}");
}

#[test]
fn pymysql_sees_status_flags_multi_statements_and_ok_fields() {
    let (server, _) = start_toy();
    let out = python(
        server.local_addr().port(),
        r#"
import os, pymysql
from pymysql.constants import CLIENT
c = pymysql.connect(host="127.0.0.1", port=int(os.environ["PORT"]), user="root", client_flag=CLIENT.MULTI_STATEMENTS)
print("autocommit", c.get_autocommit())
cur = c.cursor()
cur.execute("begin")
print("in_trans", bool(c.server_status & 1))
cur.execute("select 5")
print("row", cur.fetchall(), "in_trans_after_rows", bool(c.server_status & 1))
cur.execute("commit")
print("in_trans", bool(c.server_status & 1))
cur.execute("select 1; select 2; rows 2")
sets = [cur.fetchall()]
while cur.nextset():
    sets.append(cur.fetchall())
print("sets", sets)
n = cur.execute("insert")
print("affected", n, "lastrowid", cur.lastrowid)
try:
    cur.execute("error 1213")
except pymysql.err.OperationalError as e:
    print("error", e.args[0])
c.ping()
print("pinged")
"#,
    );
    assert_eq!(
        out,
        "autocommit True\nin_trans True\nrow ((5,),) in_trans_after_rows True\nin_trans False\nsets [((1,),), ((2,),), ((0, 'row 0'), (1, 'row 1'))]\naffected 3 lastrowid 42\nerror 1213\npinged\n"
    );
}

#[test]
fn mysql_connector_prepares_executes_resets_and_changes_user() {
    let (server, toy) = start_toy();
    let out = python(
        server.local_addr().port(),
        r#"
import os, datetime, mysql.connector
c = mysql.connector.connect(host="127.0.0.1", port=int(os.environ["PORT"]), user="root", use_pure=True)
cur = c.cursor(prepared=True)
cur.execute("select ?, ?, ?, ?", (7, "seven", 2.5, None))
print(cur.fetchall())
cur.execute("select ?, ?, ?, ?", (-1, "x" * 70000, 1.0, datetime.datetime(2024, 2, 29, 12, 30, 5)))
row = cur.fetchall()[0]
print(row[0], len(row[1]), row[2], row[3])
cur.close()
c.cmd_reset_connection()
c.cmd_change_user(username="alice", password="wonderland", database="shop")
cur = c.cursor()
cur.execute("select user()")
print(cur.fetchall())
cur.execute("select database()")
print(cur.fetchall())
"#,
    );
    let lines: Vec<&str> = out.lines().collect();
    // mysql-connector flags non-negative integers as unsigned.
    assert_eq!(lines[0], "[('uint:7', 'bytes:seven', 'double:2.5', None)]");
    assert_eq!(
        lines[1],
        "int:-1 70006 double:1 datetime:2024-02-29 12:30:05"
    );
    assert_eq!(lines[2], "[('alice',)]");
    assert_eq!(lines[3], "[('shop',)]");
    assert!(
        toy.resets.load(Ordering::Relaxed) >= 2,
        "reset and change-user must reach the session"
    );
}

/// Logs in as root with a raw client; returns the reader and writer.
fn raw_login(port: u16) -> (PacketReader<TcpStream>, TcpStream) {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut r = PacketReader::new(stream.try_clone().unwrap());
    let (_, greeting) = r.read_packet().unwrap().unwrap();
    let mut c = Cursor::new(&greeting);
    assert_eq!(c.u8().unwrap(), 10);
    c.nul_str().unwrap();
    c.u32().unwrap();
    let mut scramble = c.take(8).unwrap().to_vec();
    c.u8().unwrap();
    c.u16().unwrap();
    assert_eq!(
        c.u8().unwrap(),
        45,
        "greeting charset is utf8mb4_general_ci"
    );
    assert_eq!(c.u16().unwrap(), 2, "greeting status says autocommit");
    c.u16().unwrap();
    c.u8().unwrap();
    c.take(10).unwrap();
    scramble.extend_from_slice(&c.take(12).unwrap()[..12]);
    let caps: u32 = 0x200 | 0x8000 | 0x8_0000 | 0x1_0000 | 0x2_0000;
    let mut resp = Vec::new();
    resp.extend_from_slice(&caps.to_le_bytes());
    resp.extend_from_slice(&(1u32 << 24).to_le_bytes());
    resp.push(45);
    resp.extend_from_slice(&[0; 23]);
    resp.extend_from_slice(b"root\0");
    let token = auth::client_token(b"", &scramble);
    resp.push(token.len() as u8);
    resp.extend_from_slice(&token);
    resp.extend_from_slice(b"mysql_native_password\0");
    let mut w = PacketWriter::new(stream.try_clone().unwrap());
    w.set_seq(1);
    w.packet(&resp);
    w.flush().unwrap();
    let (_, ok) = r.read_packet().unwrap().unwrap();
    assert_eq!(ok[0], 0x00, "login OK");
    (r, stream)
}

#[test]
fn fifty_pipelined_commands_in_one_write_are_answered_in_order() {
    let (server, _) = start_toy();
    let (mut r, mut stream) = raw_login(server.local_addr().port());
    let mut bytes = Vec::new();
    for i in 0..50 {
        let mut buf = Vec::new();
        let mut tmp = PacketWriter::new(&mut buf);
        tmp.packet(format!("\x03select {i}").as_bytes());
        tmp.flush().unwrap();
        bytes.extend_from_slice(&buf);
    }
    stream.write_all(&bytes).unwrap();
    for i in 0..50 {
        // column count, column definition, EOF, row, EOF (the client did not ask for DEPRECATE_EOF)
        let (_, count) = r.read_packet().unwrap().unwrap();
        assert_eq!(count, vec![1]);
        let _col = r.read_packet().unwrap().unwrap();
        let (_, eof) = r.read_packet().unwrap().unwrap();
        assert_eq!(eof[0], 0xFE);
        let (_, row) = r.read_packet().unwrap().unwrap();
        let text = format!("{i}");
        assert_eq!(&row[1..], text.as_bytes(), "answer {i} out of order");
        let (_, end) = r.read_packet().unwrap().unwrap();
        assert_eq!(end[0], 0xFE);
    }
    // A garbage command is answered with an error and the connection stays usable.
    command(&mut stream, &[0x7E, 1, 2, 3]);
    let (_, err) = r.read_packet().unwrap().unwrap();
    assert_eq!(err[0], 0xFF);
    assert_eq!(u16::from_le_bytes([err[1], err[2]]), 1047);
    command(&mut stream, &[0x01]);
    let mut rest = Vec::new();
    assert_eq!(
        stream.read_to_end(&mut rest).unwrap(),
        0,
        "the server closes after COM_QUIT"
    );
}

#[test]
fn kill_connection_closes_the_socket() {
    let (server, _) = start_toy();
    let (mut r, _stream) = raw_login(server.local_addr().port());
    assert!(server.kill_connection(1));
    assert!(
        r.read_packet().map(|p| p.is_none()).unwrap_or(true),
        "the connection must be closed"
    );
    assert!(!server.kill_connection(999));
}

/// Sends one command packet (sequence 0).
fn command(stream: &mut TcpStream, body: &[u8]) {
    let mut buf = Vec::new();
    let mut w = PacketWriter::new(&mut buf);
    w.packet(body);
    w.flush().unwrap();
    stream.write_all(&buf).unwrap();
}

#[test]
fn long_data_past_max_allowed_packet_fails_the_execute_instead_of_growing() {
    let (server, _) = start_toy();
    let (mut r, mut stream) = raw_login(server.local_addr().port());
    command(&mut stream, b"\x16select ?");
    let (_, ok) = r.read_packet().unwrap().unwrap();
    assert_eq!(ok[0], 0x00, "prepared");
    let id = u32::from_le_bytes(ok[1..5].try_into().unwrap());
    // One parameter definition and EOF, one column definition and EOF.
    for _ in 0..4 {
        r.read_packet().unwrap().unwrap();
    }
    let long_data = |stream: &mut TcpStream, data: &[u8]| {
        let mut body = vec![0x18];
        body.extend_from_slice(&id.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(data);
        command(stream, &body);
    };
    let execute = |stream: &mut TcpStream| {
        let mut body = vec![0x17];
        body.extend_from_slice(&id.to_le_bytes());
        body.push(0); // flags
        body.extend_from_slice(&1u32.to_le_bytes());
        body.extend_from_slice(&[0, 1, 0xFE, 0]); // null bitmap, types follow: VAR_STRING
        command(stream, &body);
    };
    // 5 × 14 MiB: past the 64 MiB the server keeps for one statement's long data.
    let chunk = vec![b'x'; 14 << 20];
    for _ in 0..5 {
        long_data(&mut stream, &chunk);
    }
    execute(&mut stream);
    let (_, err) = r.read_packet().unwrap().unwrap();
    assert_eq!(err[0], 0xFF);
    assert_eq!(u16::from_le_bytes([err[1], err[2]]), 1153);
    // The statement is usable again with data that fits.
    long_data(&mut stream, b"abc");
    execute(&mut stream);
    let (_, count) = r.read_packet().unwrap().unwrap();
    assert_eq!(count, vec![1]);
    let _col = r.read_packet().unwrap().unwrap();
    let _eof = r.read_packet().unwrap().unwrap();
    let (_, row) = r.read_packet().unwrap().unwrap();
    assert!(row.ends_with(b"bytes:abc"), "{row:?}");
}

#[test]
fn mysqladmin_status_reports_real_counts() {
    let (server, _) = start_toy();
    let port = server.local_addr().port();
    let (ok, _, err) = mysql_cli(port, &["-uroot", "-e", "select 1; select 2; select 3"]);
    assert!(ok, "{err}");
    let out = std::process::Command::new("mysqladmin")
        .args(["-h127.0.0.1", &format!("-P{port}"), "-uroot", "status"])
        .output()
        .expect("mysqladmin runs (mariadb-client)");
    let line = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{line}");
    let field = |name: &str| -> u64 {
        line.split(&format!("{name}: "))
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {line:?}"))
    };
    // mysqladmin's own connection is open (the CLI's may still be closing); the CLI sent
    // its three statements and whatever it asks on connect, mysqladmin its status request.
    assert!((1..=2).contains(&field("Threads")), "{line}");
    assert!(field("Questions") >= 4, "{line}");
}
