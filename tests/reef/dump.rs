//! mysqldump round trips and the table locks it takes, through the real binary.

use crate::harness::Reef;

/// A dump without the lines that name the database, the host or the time.
fn comparable(dump: &[u8]) -> Vec<Vec<u8>> {
    dump.split(|&b| b == b'\n')
        .filter(|l| !l.starts_with(b"-- "))
        .map(|l| l.to_vec())
        .collect()
}

#[test]
fn mysqldump_output_reloads_into_an_identical_database() {
    let dir = tempfile::tempdir().unwrap();
    let r = Reef::start(dir.path());
    r.ok(
        None,
        "CREATE DATABASE src; CREATE DATABASE copy; USE src;
         CREATE TABLE items (id INT NOT NULL AUTO_INCREMENT, name VARCHAR(40) NOT NULL DEFAULT 'x',
           price DECIMAL(10,2), added DATETIME, day DATE, PRIMARY KEY (id), KEY by_name (name),
           UNIQUE KEY u_price (price));
         CREATE TABLE blobs (k BIGINT UNSIGNED NOT NULL, b BLOB, v VARBINARY(8), PRIMARY KEY (k));
         CREATE TABLE nokey (a INT, t TEXT);
         INSERT INTO items (name, price, added, day) VALUES
           ('apple', 1.5, '2026-11-21 10:00:00', '2026-11-21'), ('it''s', NULL, NULL, NULL),
           ('caf\u{e9} \\\\ \"q\"', -0.01, '1999-12-31 23:59:59', '1000-01-01'), ('tab\there', 0, NULL, NULL);
         DELETE FROM items WHERE id = 2; DELETE FROM items WHERE id = 4;
         INSERT INTO blobs VALUES (1, 0x00FF10275C, 0x0A0D), (2, '', ''), (3, NULL, NULL);
         INSERT INTO nokey VALUES (1, 'one'), (1, 'one'), (NULL, NULL);",
    );
    for args in [&["src"][..], &["--single-transaction", "src"][..]] {
        let dump = r.mysqldump(args);
        // The dump locks each table while it reloads it.
        assert!(dump.windows(11).any(|w| w == b"LOCK TABLES"));
        r.ok(None, "DROP DATABASE IF EXISTS copy; CREATE DATABASE copy");
        r.mysql_script(Some("copy"), &dump);
        let again = r.mysqldump(&["copy"]);
        assert_eq!(comparable(&dump), comparable(&again), "dump of {args:?}");
        for table in ["items", "blobs", "nokey"] {
            let q = |db: &str| r.ok(Some(db), &format!("SELECT * FROM {table} ORDER BY 1, 2"));
            assert_eq!(q("src"), q("copy"), "{table}");
        }
        assert_eq!(
            r.ok(
                Some("copy"),
                "SELECT k FROM blobs WHERE b = 0x00FF10275C AND v = 0x0A0D"
            ),
            "1\n",
            "raw bytes in dumped string literals come back byte for byte"
        );
    }
    // The copy keeps its indexes and continues AUTO_INCREMENT like the source (after the
    // deleted largest id: the dump's AUTO_INCREMENT = 5 says where).
    assert_eq!(
        r.ok(Some("copy"), "SHOW INDEX FROM items")
            .lines()
            .map(|l| l.split('\t').nth(2).unwrap().to_string())
            .collect::<Vec<_>>(),
        ["PRIMARY", "u_price", "by_name"]
    );
    r.ok(Some("copy"), "INSERT INTO items (name) VALUES ('next')");
    assert_eq!(
        r.ok(Some("copy"), "SELECT id FROM items WHERE name = 'next'"),
        "5\n"
    );
    r.stop();
}

#[test]
fn lock_tables_keeps_other_sessions_out_until_unlock() {
    let dir = tempfile::tempdir().unwrap();
    let r = Reef::start(dir.path());
    r.ok(
        None,
        "CREATE DATABASE d; CREATE TABLE d.t (id INT PRIMARY KEY, v INT); CREATE TABLE d.u (id INT PRIMARY KEY);
         INSERT INTO d.t VALUES (1, 1)",
    );
    let out = r.python(
        r#"
import os, pymysql
def conn():
    c = pymysql.connect(host="127.0.0.1", port=int(os.environ["PORT"]), user="root", database="d", autocommit=True)
    c.cursor().execute("SET lock_wait_timeout = 1")
    return c
def run(c, sql):
    cur = c.cursor()
    try:
        cur.execute(sql)
        return "ok %s" % (cur.fetchall(),)
    except pymysql.MySQLError as e:
        return "err %d" % e.args[0]
a, b = conn(), conn()
print("read lock", run(a, "LOCK TABLES t READ"))
print("a reads", run(a, "SELECT v FROM t"))
print("a writes", run(a, "UPDATE t SET v = 2"))
print("a other table", run(a, "SELECT * FROM u"))
print("a information_schema", run(a, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'd'"))
print("b reads", run(b, "SELECT v FROM t"))
print("b writes", run(b, "UPDATE t SET v = 3"))
print("unlock", run(a, "UNLOCK TABLES"))
print("b writes", run(b, "UPDATE t SET v = 3"))
print("write lock", run(a, "LOCK TABLES t WRITE"))
print("b reads", run(b, "SELECT v FROM t"))
print("a writes", run(a, "UPDATE t SET v = 4"))
print("begin ends it", run(a, "BEGIN"))
print("b reads", run(b, "SELECT v FROM t"))
run(a, "COMMIT")
run(b, "BEGIN")
print("b writes in txn", run(b, "UPDATE t SET v = 5"))
print("read lock waits for b", run(a, "LOCK TABLES t READ"))
run(b, "COMMIT")
print("read lock", run(a, "LOCK TABLES t READ"))
print("a reads", run(a, "SELECT v FROM t"))
print("drop waits", run(b, "DROP TABLE t"))
a.close()
print("drop", run(b, "DROP TABLE t"))
"#,
    );
    assert_eq!(
        out,
        "read lock ok []
a reads ok ((1,),)
a writes err 1099
a other table err 1100
a information_schema ok ((2,),)
b reads ok ((1,),)
b writes err 1205
unlock ok []
b writes ok []
write lock ok []
b reads err 1205
a writes ok []
begin ends it ok []
b reads ok ((4,),)
b writes in txn ok []
read lock waits for b err 1205
read lock ok []
a reads ok ((5,),)
drop waits err 1205
drop ok []
"
    );
    r.stop();
}

#[test]
fn show_warnings_explains_the_last_statement() {
    let dir = tempfile::tempdir().unwrap();
    let r = Reef::start(dir.path());
    r.ok(
        None,
        "CREATE DATABASE d; CREATE TABLE d.t (id INT PRIMARY KEY)",
    );
    let out = r.python(
        r#"
import os, pymysql
c = pymysql.connect(host="127.0.0.1", port=int(os.environ["PORT"]), user="root", database="d", autocommit=True)
cur = c.cursor()
cur.execute("INSERT INTO t VALUES (1)")
n = cur.execute("INSERT IGNORE INTO t VALUES (1), (2), (1)")
print(n, c.get_server_info() != "", cur.connection._result.warning_count, c.info if hasattr(c, "info") else "")
cur.execute("SHOW WARNINGS"); print(cur.fetchall())
cur.execute("SHOW COUNT(*) WARNINGS"); print(cur.fetchall())
try:
    cur.execute("SELECT * FROM missing")
except pymysql.MySQLError as e:
    print(e.args[0])
cur.execute("SHOW WARNINGS"); print(cur.fetchall())
cur.execute("SHOW ERRORS"); print(cur.fetchall())
cur.execute("SELECT 1")
cur.execute("SHOW WARNINGS"); print(cur.fetchall())
"#,
    );
    assert_eq!(
        out,
        "1 True 2 \n\
         (('Warning', 1062, \"Duplicate entry '1' for key 't.PRIMARY'\"), ('Warning', 1062, \"Duplicate entry '1' for key 't.PRIMARY'\"))\n\
         ((2,),)\n\
         1146\n\
         (('Error', 1146, \"Table 'd.missing' doesn't exist\"),)\n\
         (('Error', 1146, \"Table 'd.missing' doesn't exist\"),)\n\
         ()\n"
    );
    let (_, stdout, _) = r.mysql(Some("d"), "INSERT INTO t VALUES (5), (6)");
    assert_eq!(stdout, "");
    assert_eq!(
        r.ok(None, "CREATE DATABASE IF NOT EXISTS d; SHOW WARNINGS"),
        "Note\t1007\tCan't create database 'd'; database exists\n"
    );
    r.stop();
}
