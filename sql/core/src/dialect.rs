//! The SQL dialect ReefDB parses: sqlparser's MySQL dialect, with literals parsed directly.
//!
//! sqlparser reads every prefix expression first as a possible typed literal (`DATE '...'`,
//! `BINARY x`): it parses a data type speculatively and, for a number, a string or a `?`,
//! fails and formats an error message it then throws away. An `INSERT` of sysbench's four
//! values paid that four times. Here those tokens, which never start a data type, go
//! straight to the literal they are: the same `Expr::Value` the parser builds for them after
//! the failed attempt.
//!
//! Everything else is the MySQL dialect's: the wrapper reports MySQL's type id (the parser
//! asks `dialect_of!(... is MySqlDialect)` in many places) and forwards each method the MySQL
//! dialect overrides. A test parses every statement of the SQL logic tests with both
//! dialects and compares the trees, so a forwarding left out shows up as a difference.

use std::any::TypeId;

use sqlparser::ast::{Expr, Statement};
use sqlparser::dialect::{Dialect, MySqlDialect};
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;

/// ReefDB's dialect (see the module comment).
#[derive(Debug, Default, Clone, Copy)]
pub struct ReefDialect {
    mysql: MySqlDialect,
}

impl Dialect for ReefDialect {
    fn dialect(&self) -> TypeId {
        self.mysql.dialect()
    }

    fn parse_prefix(&self, parser: &mut Parser) -> Option<Result<Expr, ParserError>> {
        match parser.peek_token_ref().token {
            Token::Number(..)
            | Token::SingleQuotedString(_)
            | Token::DoubleQuotedString(_)
            | Token::HexStringLiteral(_)
            | Token::Placeholder(_) => Some(parser.parse_value().map(Expr::Value)),
            _ => None,
        }
    }

    fn is_identifier_start(&self, ch: char) -> bool {
        self.mysql.is_identifier_start(ch)
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        self.mysql.is_identifier_part(ch)
    }

    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        self.mysql.is_delimited_identifier_start(ch)
    }

    fn identifier_quote_style(&self, identifier: &str) -> Option<char> {
        self.mysql.identifier_quote_style(identifier)
    }

    fn supports_string_literal_backslash_escape(&self) -> bool {
        self.mysql.supports_string_literal_backslash_escape()
    }

    fn supports_string_literal_concatenation(&self) -> bool {
        self.mysql.supports_string_literal_concatenation()
    }

    fn ignores_wildcard_escapes(&self) -> bool {
        self.mysql.ignores_wildcard_escapes()
    }

    fn supports_numeric_prefix(&self) -> bool {
        self.mysql.supports_numeric_prefix()
    }

    fn supports_bitwise_shift_operators(&self) -> bool {
        self.mysql.supports_bitwise_shift_operators()
    }

    fn supports_multiline_comment_hints(&self) -> bool {
        self.mysql.supports_multiline_comment_hints()
    }

    fn parse_infix(
        &self,
        parser: &mut Parser,
        expr: &Expr,
        precedence: u8,
    ) -> Option<Result<Expr, ParserError>> {
        self.mysql.parse_infix(parser, expr, precedence)
    }

    fn parse_statement(&self, parser: &mut Parser) -> Option<Result<Statement, ParserError>> {
        self.mysql.parse_statement(parser)
    }

    fn require_interval_qualifier(&self) -> bool {
        self.mysql.require_interval_qualifier()
    }

    fn supports_limit_comma(&self) -> bool {
        self.mysql.supports_limit_comma()
    }

    fn supports_create_table_select(&self) -> bool {
        self.mysql.supports_create_table_select()
    }

    fn supports_insert_set(&self) -> bool {
        self.mysql.supports_insert_set()
    }

    fn supports_user_host_grantee(&self) -> bool {
        self.mysql.supports_user_host_grantee()
    }

    fn is_table_factor_alias(&self, explicit: bool, kw: &Keyword, parser: &mut Parser) -> bool {
        self.mysql.is_table_factor_alias(explicit, kw, parser)
    }

    fn supports_table_hints(&self) -> bool {
        self.mysql.supports_table_hints()
    }

    fn requires_single_line_comment_whitespace(&self) -> bool {
        self.mysql.requires_single_line_comment_whitespace()
    }

    fn supports_match_against(&self) -> bool {
        self.mysql.supports_match_against()
    }

    fn supports_select_modifiers(&self) -> bool {
        self.mysql.supports_select_modifiers()
    }

    fn supports_set_names(&self) -> bool {
        self.mysql.supports_set_names()
    }

    fn supports_comma_separated_set_assignments(&self) -> bool {
        self.mysql.supports_comma_separated_set_assignments()
    }

    fn supports_update_order_by(&self) -> bool {
        self.mysql.supports_update_order_by()
    }

    fn supports_data_type_signed_suffix(&self) -> bool {
        self.mysql.supports_data_type_signed_suffix()
    }

    fn supports_cross_join_constraint(&self) -> bool {
        self.mysql.supports_cross_join_constraint()
    }

    fn supports_double_ampersand_operator(&self) -> bool {
        self.mysql.supports_double_ampersand_operator()
    }

    fn supports_binary_kw_as_cast(&self) -> bool {
        self.mysql.supports_binary_kw_as_cast()
    }

    fn supports_comment_optimizer_hint(&self) -> bool {
        self.mysql.supports_comment_optimizer_hint()
    }

    fn supports_constraint_keyword_without_name(&self) -> bool {
        self.mysql.supports_constraint_keyword_without_name()
    }

    fn supports_key_column_option(&self) -> bool {
        self.mysql.supports_key_column_option()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The statements of the SQL logic tests (`tests/slt`) and the TPC-H queries.
    fn corpus() -> Vec<String> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut out = Vec::new();
        let mut files: Vec<_> = ["tests/slt", "sysbench/tpch/queries"]
            .iter()
            .flat_map(|d| std::fs::read_dir(root.join(d)).expect("corpus directory"))
            .map(|e| e.expect("directory entry").path())
            .collect();
        files.sort();
        for path in files {
            let text = std::fs::read_to_string(&path).expect("readable");
            match path.extension().and_then(|e| e.to_str()) {
                Some("sql") => out.push(text),
                Some("slt") => {
                    let mut lines = text.lines();
                    while let Some(l) = lines.next() {
                        if l.starts_with("statement") || l.starts_with("query") {
                            let stmt: Vec<&str> = lines
                                .by_ref()
                                .take_while(|l| !l.is_empty() && *l != "----")
                                .collect();
                            out.push(stmt.join("\n"));
                        }
                    }
                }
                _ => {}
            }
        }
        out
    }

    #[test]
    fn statements_parse_as_the_mysql_dialect_parses_them() {
        let mut extra = vec![
            "INSERT INTO sbtest1 (id, k, c, pad) VALUES (0, 4993, '83868641912-28773972837', 'x')",
            "SELECT c FROM sbtest1 WHERE id = ?",
            "SELECT DATE '2020-01-02', BINARY 'a', INTERVAL 3 DAY + d, _utf8mb4'x' 'y', X'4142'",
            "SELECT -1, +2.5e3, 'a' 'b', \"dq\", 0x1F, b'101', N'nat', ?, @v, @@session.x",
            "UPDATE t SET a = 'it''s', b = \"q\" WHERE id IN (1, '2', ?) ORDER BY id LIMIT 2, 3",
            "SELECT 'x' COLLATE utf8mb4_bin, '1' + 1, 5 DIV 2, 'a' LIKE 'b' ESCAPE '!'",
            // One statement or more for each method the MySQL dialect overrides.
            "SELECT a FROM t LIMIT 1, 2",
            "CREATE TABLE t2 AS SELECT 1 AS a",
            "CREATE TABLE t3 SELECT a FROM t",
            "INSERT INTO t SET a = 1, b = 'x'",
            "GRANT SELECT ON db.* TO 'u'@'localhost'",
            "SELECT a FROM t USE INDEX (k) JOIN u FORCE INDEX FOR JOIN (k2) ON t.a = u.a",
            "SELECT 1 --comment",
            "SELECT 1 -- comment\n, 2",
            "SELECT MATCH (a, b) AGAINST ('x' IN BOOLEAN MODE) FROM t",
            "SELECT HIGH_PRIORITY SQL_CALC_FOUND_ROWS DISTINCT a FROM t",
            "SET NAMES utf8mb4 COLLATE utf8mb4_bin",
            "SET @a = 1, @@session.sql_mode = 'x'",
            "UPDATE t SET a = 1 ORDER BY b LIMIT 3",
            "CREATE TABLE t4 (a INT SIGNED, b BIGINT UNSIGNED)",
            "SELECT * FROM t CROSS JOIN u ON t.a = u.a",
            "SELECT a && b, a || b, a << 2, b >> 1, a XOR b FROM t",
            "SELECT BINARY a, CAST(a AS BINARY) FROM t",
            "SELECT /*+ MAX_EXECUTION_TIME(10) */ a FROM t",
            "SELECT /*!40101 a, */ b FROM t",
            "CREATE TABLE t5 (a INT, CONSTRAINT CHECK (a > 0), CONSTRAINT UNIQUE (a))",
            "CREATE TABLE t6 (a INT, KEY k (a) COMMENT 'x', UNIQUE KEY (a) USING BTREE)",
            "CREATE TABLE t7 (a INT KEY, b INT UNIQUE KEY)",
            "LOCK TABLES t READ, u AS x WRITE",
            "UNLOCK TABLES",
            "SELECT 'a\\'b', 'c\\\\d', 'e\\%' LIKE 'e\\%'",
            "SELECT 1a, 1e1x, $a, a$b, `1` FROM t",
            "SELECT a FROM t STRAIGHT_JOIN u ON t.a = u.a WHERE t.b = 1",
            "SELECT a FROM t AS x, u y",
            "SELECT a FROM t PARTITION (p1)",
            "SELECT DATE_ADD(d, INTERVAL 1 DAY), d - INTERVAL '1:2' HOUR_MINUTE FROM t",
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
        let mut all = corpus();
        assert!(all.len() > 300, "only {} statements found", all.len());
        all.append(&mut extra);
        // How the parser quotes identifiers it prints; no parse tree shows it.
        assert_eq!(
            ReefDialect::default().identifier_quote_style("a"),
            MySqlDialect {}.identifier_quote_style("a")
        );
        for sql in &all {
            let mysql = Parser::parse_sql(&MySqlDialect {}, sql);
            let reef = Parser::parse_sql(&ReefDialect::default(), sql);
            match (mysql, reef) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{sql}"),
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{sql}"),
                (a, b) => panic!("{sql}: MySQL dialect {a:?}, ReefDB's {b:?}"),
            }
        }
    }
}
