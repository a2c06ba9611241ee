//! Queries on the OLAP path (DataFusion) through SQL sessions: joins, subqueries, UNION,
//! CTEs, derived tables, with MySQL's collation, division and aggregate semantics, at the
//! session's snapshot including its own uncommitted writes.

use reef_sql::{Output, SqlSession};

use crate::{open_node, session};

/// The rows of `sql` as text (NULL as "NULL"), in the order returned.
fn text(s: &mut SqlSession, sql: &str) -> Vec<String> {
    crate::text_rows(s, sql)
        .into_iter()
        .map(|r| r.join(","))
        .collect()
}

fn error_code(s: &mut SqlSession, sql: &str) -> u16 {
    match s.execute(sql).pop().unwrap() {
        Err(e) => e.code.errno,
        Ok(o) => panic!("{sql} succeeded: {o:?}"),
    }
}

fn setup(node: &std::sync::Arc<reef_server::Node>) -> SqlSession {
    let mut s = SqlSession::new(node.engine.clone(), 1, "root", false);
    s.execute("CREATE DATABASE d").pop().unwrap().unwrap();
    s.use_db("d").unwrap();
    for sql in [
        "CREATE TABLE customer (id INT PRIMARY KEY, name VARCHAR(20), region VARCHAR(10))",
        "CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT, amount DECIMAL(10,2), placed DATE)",
        "INSERT INTO customer VALUES (1, 'Ann', 'north'), (2, 'bob', 'North '), (3, 'Cid', 'south'), (4, 'Dee', NULL)",
        "INSERT INTO orders VALUES (10, 1, 5.50, '2026-01-02'), (11, 1, 4.50, '2026-01-03'), \
         (12, 2, 7.00, '2026-02-01'), (13, 3, 1.25, '2026-02-02'), (14, 9, 3.00, '2026-03-01')",
    ] {
        s.execute(sql).pop().unwrap().unwrap();
    }
    s
}

#[test]
fn joins_group_by_and_order_follow_mysql() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_node(dir.path());
    let mut s = setup(&node);
    assert_eq!(
        text(
            &mut s,
            "SELECT c.name, SUM(o.amount) AS total FROM customer c JOIN orders o \
             ON o.customer_id = c.id GROUP BY c.name ORDER BY total DESC"
        ),
        ["Ann,10.00", "bob,7.00", "Cid,1.25"]
    );
    // Comma join, WHERE join condition, LEFT JOIN keeps customers without orders.
    assert_eq!(
        text(
            &mut s,
            "SELECT c.id, COUNT(o.id) FROM customer c LEFT JOIN orders o ON o.customer_id = c.id \
             GROUP BY c.id ORDER BY c.id"
        ),
        ["1,2", "2,1", "3,1", "4,0"]
    );
    assert_eq!(
        text(
            &mut s,
            "SELECT o.id FROM customer c, orders o WHERE c.id = o.customer_id AND c.name = 'ANN' ORDER BY o.id"
        ),
        ["10", "11"]
    );
    // utf8mb4_general_ci with PAD SPACE: 'north' and 'North ' are one group, reported
    // with one of their values; ORDER BY ignores case.
    let groups = text(
        &mut s,
        "SELECT region, COUNT(*) FROM customer c JOIN orders o ON o.customer_id = c.id \
         GROUP BY region ORDER BY region",
    );
    assert_eq!(groups.len(), 2, "{groups:?}");
    assert!(
        groups[0] == "north,3" || groups[0] == "North ,3",
        "{groups:?}"
    );
    assert_eq!(groups[1], "south,1");
    assert_eq!(
        text(
            &mut s,
            "SELECT name FROM customer WHERE id IN (SELECT customer_id FROM orders) ORDER BY name"
        ),
        ["Ann", "bob", "Cid"]
    );
    assert_eq!(
        text(
            &mut s,
            "SELECT COUNT(DISTINCT region) FROM customer WHERE id IN (SELECT id FROM customer)"
        ),
        ["2"]
    );
}

#[test]
fn subqueries_unions_ctes_and_derived_tables() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_node(dir.path());
    let mut s = setup(&node);
    assert_eq!(
        text(
            &mut s,
            "SELECT id FROM orders WHERE amount > (SELECT AVG(amount) FROM orders) ORDER BY id"
        ),
        ["10", "11", "12"]
    );
    // Correlated scalar subquery and EXISTS.
    assert_eq!(
        text(
            &mut s,
            "SELECT c.id, (SELECT MAX(o.amount) FROM orders o WHERE o.customer_id = c.id) \
             FROM customer c ORDER BY c.id"
        ),
        ["1,5.50", "2,7.00", "3,1.25", "4,NULL"]
    );
    assert_eq!(
        text(
            &mut s,
            "SELECT id FROM customer c WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id)"
        ),
        ["4"]
    );
    assert_eq!(
        text(
            &mut s,
            "SELECT id FROM customer WHERE id < 3 UNION SELECT customer_id FROM orders ORDER BY 1"
        ),
        ["1", "2", "3", "9"]
    );
    assert_eq!(
        text(
            &mut s,
            "SELECT customer_id FROM orders WHERE id < 12 UNION ALL SELECT 1"
        ),
        ["1", "1", "1"]
    );
    assert_eq!(
        text(
            &mut s,
            "WITH big AS (SELECT customer_id, amount FROM orders WHERE amount >= 4) \
             SELECT customer_id, SUM(amount) FROM big GROUP BY customer_id ORDER BY customer_id"
        ),
        ["1,10.00", "2,7.00"]
    );
    assert_eq!(
        text(
            &mut s,
            "SELECT t.n FROM (SELECT customer_id, COUNT(*) AS n FROM orders GROUP BY customer_id) t \
             WHERE t.customer_id = 1"
        ),
        ["2"]
    );
}

#[test]
fn arithmetic_and_aggregates_have_mysql_types() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_node(dir.path());
    let mut s = setup(&node);
    // `/` on integers is a DECIMAL with four more digits; on zero it is NULL.
    assert_eq!(
        text(
            &mut s,
            "SELECT id / 4, id / 0 FROM customer WHERE id IN (SELECT 2) "
        ),
        ["0.5000,NULL"]
    );
    // AVG over integers has four digits of scale; SUM over integers is exact.
    assert_eq!(
        text(
            &mut s,
            "SELECT AVG(id), SUM(id) FROM customer WHERE id IN (SELECT customer_id FROM orders)"
        ),
        ["2.0000,6"]
    );
    assert_eq!(
        text(
            &mut s,
            "SELECT MIN(name), MAX(name) FROM customer WHERE id IN (SELECT id FROM customer)"
        ),
        ["Ann,Dee"]
    );
    assert_eq!(
        text(
            &mut s,
            "SELECT name FROM customer WHERE name LIKE 'b%' AND id IN (SELECT id FROM customer)"
        ),
        ["bob"]
    );
    // Column names: alias, column as written, expression text.
    match s.execute("SELECT c.Name, c.id AS k, c.id + 1 FROM customer c JOIN orders o ON o.customer_id = c.id LIMIT 1").pop().unwrap().unwrap() {
        Output::Rows { columns, .. } => {
            let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
            assert_eq!(names, ["Name", "k", "c.id + 1"]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn olap_reads_see_the_transactions_snapshot_and_own_writes() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_node(dir.path());
    let mut a = setup(&node);
    let mut b = session(&node, 2);
    a.execute("BEGIN").pop().unwrap().unwrap();
    a.execute("INSERT INTO orders VALUES (15, 4, 2.00, '2026-04-01')")
        .pop()
        .unwrap()
        .unwrap();
    let q = "SELECT c.id, COUNT(o.id) FROM customer c JOIN orders o ON o.customer_id = c.id \
             WHERE c.id = 4 GROUP BY c.id";
    assert_eq!(text(&mut a, q), ["4,1"], "own uncommitted write");
    assert!(
        text(&mut b, q).is_empty(),
        "another session does not see it"
    );
    // b's REPEATABLE READ snapshot stays fixed after a commits.
    b.execute("BEGIN").pop().unwrap().unwrap();
    assert!(text(&mut b, q).is_empty());
    a.execute("COMMIT").pop().unwrap().unwrap();
    assert!(text(&mut b, q).is_empty(), "repeatable read");
    b.execute("COMMIT").pop().unwrap().unwrap();
    assert_eq!(text(&mut b, q), ["4,1"], "fresh snapshot sees the commit");
}

#[test]
fn olap_errors_are_mysql_errors() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_node(dir.path());
    let mut s = setup(&node);
    assert_eq!(
        error_code(
            &mut s,
            "SELECT * FROM customer c JOIN nope n ON n.id = c.id"
        ),
        1146
    );
    assert_eq!(
        error_code(
            &mut s,
            "SELECT c.nope FROM customer c JOIN orders o ON o.id = c.id"
        ),
        1054
    );
    // A function ReefDB does not have is refused, not approximated by DataFusion's.
    assert_eq!(
        error_code(
            &mut s,
            "SELECT SOUNDEX(c.name) FROM customer c JOIN orders o ON o.customer_id = c.id"
        ),
        1235
    );
    assert_eq!(
        error_code(
            &mut s,
            "SELECT c.id FROM customer c JOIN orders o ON o.customer_id = c.id FOR UPDATE"
        ),
        1235
    );
}

#[test]
fn insert_select_reads_the_statement_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_node(dir.path());
    let mut s = setup(&node);
    s.execute("CREATE TABLE totals (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20), total DECIMAL(12,2))")
        .pop()
        .unwrap()
        .unwrap();
    // Through the OLAP path (a join) ...
    let out = s
        .execute(
            "INSERT INTO totals (name, total) SELECT c.name, SUM(o.amount) FROM customer c \
             JOIN orders o ON o.customer_id = c.id GROUP BY c.name ORDER BY c.name",
        )
        .pop()
        .unwrap()
        .unwrap();
    assert!(
        matches!(
            out,
            Output::Ok {
                affected: 3,
                last_insert_id: 1,
                ..
            }
        ),
        "{out:?}"
    );
    assert_eq!(
        text(&mut s, "SELECT id, name, total FROM totals"),
        ["1,Ann,10.00", "2,bob,7.00", "3,Cid,1.25"]
    );
    // ... and the OLTP path; a table copying itself doubles once, not forever.
    let out = s
        .execute("INSERT INTO totals (name, total) SELECT name, total * 2 FROM totals")
        .pop()
        .unwrap()
        .unwrap();
    assert!(matches!(out, Output::Ok { affected: 3, .. }), "{out:?}");
    assert_eq!(
        text(&mut s, "SELECT COUNT(*), SUM(total) FROM totals"),
        ["6,54.75"]
    );
    // A duplicate key fails the whole statement; IGNORE skips it.
    assert_eq!(
        error_code(
            &mut s,
            "INSERT INTO totals SELECT id, name, total FROM totals WHERE id = 1"
        ),
        1062
    );
    let out = s
        .execute("INSERT IGNORE INTO totals SELECT id + 5, name, total FROM totals WHERE id <= 2")
        .pop()
        .unwrap()
        .unwrap();
    assert!(
        matches!(
            out,
            Output::Ok {
                affected: 1,
                warnings: 1,
                ..
            }
        ),
        "{out:?}"
    );
    assert_eq!(
        error_code(
            &mut s,
            "INSERT INTO totals (name) SELECT name, id FROM customer"
        ),
        1136
    );
}
