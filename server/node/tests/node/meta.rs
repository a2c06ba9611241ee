//! Table metadata statements: SHOW CREATE TABLE (whose output recreates the table),
//! DESCRIBE and SHOW [FULL] COLUMNS.

use reef_sql::SqlSession;

use crate::{open_node, text_rows as rows};

const TABLE: &str = "CREATE TABLE `Acct` (
  `id` bigint unsigned NOT NULL AUTO_INCREMENT,
  `k` int NOT NULL DEFAULT '0',
  `name` varchar(40) COLLATE utf8mb4_bin DEFAULT NULL,
  `note` text,
  `bal` decimal(12,2) NOT NULL DEFAULT '0.00',
  `at` datetime(3) DEFAULT NULL,
  `raw` varbinary(16) DEFAULT NULL,
  `it's` char(3) DEFAULT 'a''b',
  PRIMARY KEY (`id`),
  KEY `k_1` (`k`,`name`)
) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci";

#[test]
fn show_create_table_recreates_the_same_table() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_node(dir.path());
    let mut s = SqlSession::new(node.engine.clone(), 1, "root", false);
    for sql in ["CREATE DATABASE a", "CREATE DATABASE b", "USE a", TABLE] {
        s.execute(sql).pop().unwrap().unwrap();
    }
    let shown = rows(&mut s, "SHOW CREATE TABLE Acct");
    assert_eq!(shown, [vec!["Acct".to_string(), TABLE.to_string()]]);
    // The text recreates an identical table in another database.
    s.execute("USE b").pop().unwrap().unwrap();
    s.execute(&shown[0][1]).pop().unwrap().unwrap();
    assert_eq!(rows(&mut s, "SHOW CREATE TABLE b.Acct"), shown);
    assert_eq!(
        rows(&mut s, "DESCRIBE a.Acct")[..3],
        [
            [
                "id",
                "bigint unsigned",
                "NO",
                "PRI",
                "NULL",
                "auto_increment"
            ],
            ["k", "int", "NO", "MUL", "0", ""],
            ["name", "varchar(40)", "YES", "", "NULL", ""],
        ]
    );
    assert_eq!(
        rows(&mut s, "SHOW FULL COLUMNS FROM Acct LIKE 'na%'"),
        [[
            "name",
            "varchar(40)",
            "utf8mb4_bin",
            "YES",
            "",
            "NULL",
            "",
            "select,insert,update,references",
            ""
        ]]
    );
    assert_eq!(rows(&mut s, "SHOW COLUMNS FROM a.Acct").len(), 8);
    match s.execute("SHOW CREATE TABLE nope").pop().unwrap() {
        Err(e) => assert_eq!(e.code.errno, 1146),
        Ok(o) => panic!("{o:?}"),
    }
}

#[test]
fn information_schema_describes_the_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_node(dir.path());
    let mut s = SqlSession::new(node.engine.clone(), 1, "root", false);
    for sql in [
        "CREATE DATABASE a",
        "USE a",
        TABLE,
        "CREATE TABLE two (x INT)",
    ] {
        s.execute(sql).pop().unwrap().unwrap();
    }
    assert_eq!(
        rows(
            &mut s,
            "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = 'a' ORDER BY TABLE_NAME"
        ),
        [["Acct", "BASE TABLE"], ["two", "BASE TABLE"]]
    );
    assert_eq!(
        rows(
            &mut s,
            "SELECT column_name, data_type, column_type, is_nullable, column_key, \
             numeric_precision, numeric_scale FROM information_schema.columns \
             WHERE table_schema = 'a' AND table_name = 'Acct' AND ordinal_position IN (1, 5)"
        ),
        [
            ["id", "bigint", "bigint unsigned", "NO", "PRI", "20", "0"],
            ["bal", "decimal", "decimal(12,2)", "NO", "", "12", "2"],
        ]
    );
    assert_eq!(
        rows(
            &mut s,
            "SELECT index_name, seq_in_index, column_name FROM information_schema.statistics \
             WHERE table_name = 'Acct' ORDER BY index_name, seq_in_index"
        ),
        [
            ["k_1", "1", "k"],
            ["k_1", "2", "name"],
            ["PRIMARY", "1", "id"]
        ]
    );
    assert!(rows(
        &mut s,
        "SELECT schema_name FROM information_schema.schemata"
    )
    .contains(&vec!["a".to_string()]));
}
