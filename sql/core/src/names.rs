//! Result column names as MySQL gives them: a computed select item with no alias is named
//! by its text as the client wrote it (`SELECT 7/2, COUNT( * )` names the columns `7/2`
//! and `COUNT( * )`), a string literal by its value. The parser keeps no source text, so
//! after parsing each such item of a statement's top-level SELECT gets that text as its
//! alias, found by re-reading the statement's tokens; every path (OLTP, OLAP, prepared
//! statement metadata) then reports the alias.

use sqlparser::ast::{Expr, Ident, Select, SelectItem, SetExpr, Statement, Value};
use sqlparser::dialect::MySqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

/// Words that end a SELECT list at parenthesis depth 0.
const LIST_ENDS: [&str; 13] = [
    "FROM",
    "WHERE",
    "GROUP",
    "HAVING",
    "ORDER",
    "LIMIT",
    "INTO",
    "UNION",
    "EXCEPT",
    "INTERSECT",
    "FOR",
    "LOCK",
    "WINDOW",
];
/// Words that may open a SELECT list before its first item.
const MODIFIERS: [&str; 10] = [
    "DISTINCT",
    "ALL",
    "DISTINCTROW",
    "HIGH_PRIORITY",
    "STRAIGHT_JOIN",
    "SQL_SMALL_RESULT",
    "SQL_BIG_RESULT",
    "SQL_BUFFER_RESULT",
    "SQL_NO_CACHE",
    "SQL_CALC_FOUND_ROWS",
];

/// The SELECT that names a query's result columns: the first branch of a UNION, EXCEPT
/// or INTERSECT (a parenthesized branch is left alone: its text is not at the top level).
fn first_select(body: &SetExpr) -> Option<&Select> {
    match body {
        SetExpr::Select(sel) => Some(sel),
        SetExpr::SetOperation { left, .. } => first_select(left),
        _ => None,
    }
}

fn first_select_mut(body: &mut SetExpr) -> Option<&mut Select> {
    match body {
        SetExpr::Select(sel) => Some(sel),
        SetExpr::SetOperation { left, .. } => first_select_mut(left),
        _ => None,
    }
}

fn needs_name(item: &SelectItem) -> bool {
    matches!(item, SelectItem::UnnamedExpr(e)
        if !matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_)))
}

fn word(t: &Token) -> Option<&str> {
    match t {
        Token::Word(w) if w.quote_style.is_none() => Some(&w.value),
        _ => None,
    }
}

/// MySQL's composite interval units, as the parser's `FIRST TO LAST` spells them
/// (SECOND_MICROSECOND reversed: the parser reads nothing after a leading SECOND).
const COMPOSITE_UNITS: [(&str, &str); 11] = [
    ("SECOND_MICROSECOND", "MICROSECOND TO SECOND"),
    ("MINUTE_MICROSECOND", "MINUTE TO MICROSECOND"),
    ("MINUTE_SECOND", "MINUTE TO SECOND"),
    ("HOUR_MICROSECOND", "HOUR TO MICROSECOND"),
    ("HOUR_SECOND", "HOUR TO SECOND"),
    ("HOUR_MINUTE", "HOUR TO MINUTE"),
    ("DAY_MICROSECOND", "DAY TO MICROSECOND"),
    ("DAY_SECOND", "DAY TO SECOND"),
    ("DAY_MINUTE", "DAY TO MINUTE"),
    ("DAY_HOUR", "DAY TO HOUR"),
    ("YEAR_MONTH", "YEAR TO MONTH"),
];

/// The text with MySQL spellings the parser does not know written as ones it does:
/// `LOCK IN SHARE MODE` as `FOR SHARE`, the infix `a MOD b` as `a % b` (same precedence;
/// `MOD(a, b)` stays a function call), composite interval units (`INTERVAL '1:30'
/// HOUR_MINUTE`) as `FIRST TO LAST`, and `GROUP BY a, b WITH ROLLUP` as `GROUP BY
/// ROLLUP(a, b)` (a call the analytical path turns into DataFusion's ROLLUP). `None` if
/// there is none of them.
pub fn mysql_spellings(sql: &str) -> Option<String> {
    const SHARE: [&str; 4] = ["LOCK", "IN", "SHARE", "MODE"];
    if !mentions(sql, &[b"SHARE", b"MOD", b"INTERVAL", b"ROLLUP"]) {
        return None;
    }
    let tokens = Tokenizer::new(&MySqlDialect {}, sql)
        .tokenize_with_location()
        .ok()?;
    let words: Vec<&TokenWithSpan> = tokens
        .iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .collect();
    let is = |t: &TokenWithSpan, k: &str| word(&t.token).is_some_and(|v| v.eq_ignore_ascii_case(k));
    let mut edits: Vec<(Location, Location, &str)> = Vec::new();
    // Per parenthesis depth: where the innermost open GROUP BY list starts.
    let mut group_by: Vec<Option<Location>> = vec![None];
    let mut i = 0;
    while i < words.len() {
        let w = &words[i..];
        match w[0].token {
            Token::LParen => group_by.push(None),
            Token::RParen if group_by.len() > 1 => {
                group_by.pop();
            }
            _ => {}
        }
        if w.len() >= 2 && is(w[0], "GROUP") && is(w[1], "BY") {
            *group_by.last_mut().expect("never empty") = Some(w[1].span.end);
        }
        if w.len() >= 2 && is(w[0], "WITH") && is(w[1], "ROLLUP") {
            if let Some(list) = group_by.last_mut().and_then(Option::take) {
                edits.push((list, list, " ROLLUP("));
                edits.push((w[0].span.start, w[1].span.end, ")"));
                i += 2;
                continue;
            }
        }
        if w.len() >= SHARE.len() && w.iter().zip(SHARE).all(|(t, k)| is(t, k)) {
            edits.push((w[0].span.start, w[SHARE.len() - 1].span.end, "FOR SHARE"));
            i += SHARE.len();
            continue;
        }
        if i >= 2 && is(words[i - 2], "INTERVAL") {
            if let Some((_, spelled)) = COMPOSITE_UNITS.iter().find(|(u, _)| is(w[0], u)) {
                edits.push((w[0].span.start, w[0].span.end, spelled));
            }
        }
        if is(w[0], "MOD") && i > 0 {
            let after_operand = match &words[i - 1].token {
                Token::Number(..)
                | Token::SingleQuotedString(_)
                | Token::DoubleQuotedString(_)
                | Token::RParen
                | Token::Placeholder(_) => true,
                Token::Word(v) => v.quote_style.is_some() || v.keyword == Keyword::NoKeyword,
                _ => false,
            };
            let call = matches!(w.get(1).map(|t| &t.token), Some(Token::LParen));
            if after_operand || !call {
                edits.push((w[0].span.start, w[0].span.end, "%"));
            }
        }
        i += 1;
    }
    if edits.is_empty() {
        return None;
    }
    edits.sort_by_key(|(start, ..)| (start.line, start.column));
    let mut out = String::with_capacity(sql.len());
    let mut copied = 0;
    for (start, end, text) in edits {
        out.push_str(&sql[copied..offset(sql, start)?]);
        out.push_str(text);
        copied = offset(sql, end)?;
    }
    out.push_str(&sql[copied..]);
    Some(out)
}

/// Whether `sql` holds one of `words`, as a whole word, in any letter case (a cheap test
/// before tokenizing; every statement's text passes here, and a bulk INSERT whose data says
/// "model" should not be tokenized twice for it). One pass over the text, word by word.
fn mentions(sql: &str, words: &[&[u8]]) -> bool {
    sql.as_bytes()
        .split(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))
        .any(|w| words.iter().any(|x| w.eq_ignore_ascii_case(x)))
}

/// The byte offset of a tokenizer location (lines and columns count characters from 1).
fn offset(sql: &str, at: Location) -> Option<usize> {
    let mut line = 1;
    let mut col = 1;
    for (i, c) in sql.char_indices() {
        if line == at.line && col == at.column {
            return Some(i);
        }
        if c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    (line == at.line && col == at.column).then_some(sql.len())
}

/// The source text of each item of the top-level SELECT list in `tokens` (one statement),
/// which ends where `end` begins (`None`: at the end of `sql`).
fn item_texts(sql: &str, tokens: &[TokenWithSpan], end: Option<Location>) -> Option<Vec<String>> {
    let mut depth = 0i32;
    let mut i = 0;
    // The first SELECT outside parentheses (after any WITH clause).
    loop {
        let t = &tokens.get(i)?.token;
        match t {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            _ if depth == 0 && word(t).is_some_and(|w| w.eq_ignore_ascii_case("SELECT")) => break,
            _ => {}
        }
        i += 1;
    }
    i += 1;
    let significant = |t: &Token| !matches!(t, Token::Whitespace(_));
    // Skip whitespace and modifiers.
    let modifier =
        |t: &Token| word(t).is_some_and(|w| MODIFIERS.iter().any(|m| m.eq_ignore_ascii_case(w)));
    while tokens
        .get(i)
        .is_some_and(|t| !significant(&t.token) || modifier(&t.token))
    {
        i += 1;
    }
    let mut items = Vec::new();
    let mut start: Option<Location> = None;
    loop {
        let (t, at) = match tokens.get(i) {
            Some(t) => (&t.token, Some(t.span.start)),
            None => (&Token::EOF, end),
        };
        let ends_list = depth == 0
            && (matches!(t, Token::EOF | Token::SemiColon)
                || word(t).is_some_and(|w| LIST_ENDS.iter().any(|e| e.eq_ignore_ascii_case(w))));
        if ends_list || (depth == 0 && *t == Token::Comma) {
            let from = offset(sql, start?)?;
            let to = match at {
                Some(at) => offset(sql, at)?,
                None => sql.len(),
            };
            items.push(sql.get(from..to)?.trim_end().to_string());
            start = None;
            if ends_list {
                return Some(items);
            }
        } else {
            match t {
                Token::LParen => depth += 1,
                Token::RParen => depth -= 1,
                _ => {}
            }
            if start.is_none() && significant(t) {
                start = at;
            }
        }
        i += 1;
    }
}

/// Names the unnamed computed items of each statement's top-level SELECT by their text.
/// Statements whose text cannot be matched to their items keep the parser's rendering.
pub fn name_select_items(sql: &str, stmts: &mut [Statement]) {
    let wanted = |s: &Statement| match s {
        Statement::Query(q) => {
            first_select(&q.body).is_some_and(|sel| sel.projection.iter().any(needs_name))
        }
        _ => false,
    };
    if !stmts.iter().any(wanted) {
        return;
    }
    let Ok(tokens) = Tokenizer::new(&MySqlDialect {}, sql).tokenize_with_location() else {
        return;
    };
    // Each statement's tokens run up to the next `;` outside parentheses.
    let mut ranges = Vec::new();
    let (mut from, mut depth) = (0, 0i32);
    for (i, t) in tokens.iter().enumerate() {
        match t.token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            Token::SemiColon if depth == 0 => {
                ranges.push((from, i));
                from = i + 1;
            }
            _ => {}
        }
    }
    ranges.push((from, tokens.len()));
    for (stmt, &(from, to)) in stmts.iter_mut().zip(&ranges) {
        if !wanted(stmt) {
            continue;
        }
        let end = tokens.get(to).map(|t| t.span.start);
        let group = &tokens[from..to];
        let Statement::Query(q) = stmt else { continue };
        let Some(sel) = first_select_mut(&mut q.body) else {
            continue;
        };
        let Some(texts) = item_texts(sql, group, end) else {
            continue;
        };
        if texts.len() != sel.projection.len() {
            continue;
        }
        let mut names: Vec<String> = Vec::with_capacity(texts.len());
        for (item, text) in sel.projection.iter().zip(&texts) {
            names.push(match item {
                SelectItem::UnnamedExpr(Expr::Value(v)) => match &v.value {
                    Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
                    _ => text.clone(),
                },
                _ => text.clone(),
            });
        }
        for (k, item) in sel.projection.iter_mut().enumerate() {
            let name = &names[k];
            // A name twice in the list, or one a backtick would have to quote, stays as the
            // parser renders it.
            let unique = names.iter().filter(|n| *n == name).count() == 1;
            if !needs_name(item) || !unique || name.contains('`') || name.is_empty() {
                continue;
            }
            if let SelectItem::UnnamedExpr(e) = item {
                let expr = std::mem::replace(e, Expr::value(Value::Null));
                *item = SelectItem::ExprWithAlias {
                    expr,
                    alias: Ident::with_quote('`', name.clone()),
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::parser::Parser;

    fn names(sql: &str) -> Vec<String> {
        let mut stmts = Parser::parse_sql(&MySqlDialect {}, sql).unwrap();
        name_select_items(sql, &mut stmts);
        let Statement::Query(q) = stmts.last().unwrap() else {
            panic!()
        };
        let sel = first_select(&q.body).expect("a SELECT");
        sel.projection
            .iter()
            .map(|i| match i {
                SelectItem::ExprWithAlias { alias, .. } => alias.value.clone(),
                other => format!("unnamed {other}"),
            })
            .collect()
    }

    #[test]
    fn only_whole_words_call_for_a_rewrite() {
        assert!(mentions("SELECT a MOD 2", &[b"MOD"]));
        assert!(mentions("x\tmod(1", &[b"SHARE", b"MOD"]));
        assert!(mentions("mod", &[b"MOD"]));
        assert!(!mentions(
            "INSERT INTO t VALUES ('model', 'a_mod')",
            &[b"MOD"]
        ));
        assert!(!mentions("SELECT sharer FROM t", &[b"SHARE", b"MOD"]));
        // A non-ASCII byte ends a word: at worst a statement is tokenized for nothing.
        assert!(mentions("SELECT 'émod'", &[b"MOD"]));
    }

    #[test]
    fn mysql_spellings_become_the_parsers() {
        let f = mysql_spellings;
        assert_eq!(
            f("SELECT a FROM t WHERE k = 1 lock In  SHARE mode;").as_deref(),
            Some("SELECT a FROM t WHERE k = 1 FOR SHARE;")
        );
        assert_eq!(
            f("SELECT 'LOCK IN SHARE MODE' FROM t LOCK IN SHARE MODE").as_deref(),
            Some("SELECT 'LOCK IN SHARE MODE' FROM t FOR SHARE")
        );
        assert_eq!(f("SELECT 'lock in share mode', 'a mod b'"), None);
        assert_eq!(f("SELECT share FROM t FOR SHARE"), None);
        assert_eq!(
            f("SELECT a MOD 3, 7 mod (2), (a) MOD b, MOD(a, 2), ? MOD 2 FROM t").as_deref(),
            Some("SELECT a % 3, 7 % (2), (a) % b, MOD(a, 2), ? % 2 FROM t")
        );
        assert_eq!(f("SELECT MOD(a, 2) FROM t WHERE MOD(b, 3) = 1"), None);
        assert_eq!(f("ALTER TABLE t MODIFY c INT"), None);
        assert_eq!(
            f("SELECT d + INTERVAL '1:30' hour_minute, DATE_SUB(d, INTERVAL ? SECOND_MICROSECOND)")
                .as_deref(),
            Some("SELECT d + INTERVAL '1:30' HOUR TO MINUTE, DATE_SUB(d, INTERVAL ? MICROSECOND TO SECOND)")
        );
        assert_eq!(f("SELECT 'x' day_hour, d + INTERVAL 1 DAY FROM t"), None);
        assert_eq!(
            f("SELECT a, (SELECT 1 FROM u GROUP BY x), SUM(b) FROM t GROUP BY a, YEAR(d) with rollup HAVING 1")
                .as_deref(),
            Some("SELECT a, (SELECT 1 FROM u GROUP BY x), SUM(b) FROM t GROUP BY ROLLUP( a, YEAR(d) ) HAVING 1")
        );
    }

    #[test]
    fn computed_items_take_their_text() {
        assert_eq!(
            names(
                "select 1+1, 1 +  1, count(*), COUNT( * ), (1+2)*3, 'a', concat('a' ,'b') from t"
            ),
            [
                "1+1",
                "1 +  1",
                "count(*)",
                "COUNT( * )",
                "(1+2)*3",
                "a",
                "concat('a' ,'b')"
            ]
        );
    }

    #[test]
    fn columns_aliases_and_modifiers_stay() {
        assert_eq!(
            names("SELECT DISTINCT a, t.b, c+1 AS x, SUM(d)\nFROM t GROUP BY a"),
            ["unnamed a", "unnamed t.b", "x", "SUM(d)"]
        );
        assert_eq!(names("SELECT 7/2"), ["7/2"]);
        assert_eq!(
            names("SELECT TRIM(x FROM y), EXTRACT(YEAR FROM d) FROM t WHERE 1"),
            ["TRIM(x FROM y)", "EXTRACT(YEAR FROM d)"]
        );
    }

    #[test]
    fn each_statement_of_a_batch_is_named_from_its_own_text() {
        assert_eq!(
            names("SELECT 1+2; SELECT  é , 2*3 FROM t"),
            ["unnamed é", "2*3"]
        );
        assert_eq!(
            names("WITH c AS (SELECT 1 AS x) SELECT x+1 FROM c"),
            ["x+1"]
        );
    }

    #[test]
    fn a_union_is_named_by_its_first_branch() {
        assert_eq!(
            names("SELECT 1+1, 'x' UNION ALL SELECT 2 * 2, 'y'"),
            ["1+1", "x"]
        );
    }

    #[test]
    fn duplicates_keep_the_parsers_rendering() {
        assert_eq!(names("SELECT 1+1, 1+1"), ["unnamed 1 + 1", "unnamed 1 + 1"]);
    }
}
