//! Table metadata as MySQL shows it: `SHOW CREATE TABLE`, `DESCRIBE` / `SHOW [FULL]
//! COLUMNS`, and the SQL spelling of column types they share.

use reef_common::collation::Collation;
use reef_common::types::ColumnType;

use crate::catalog::{IndexState, TableDef};
use crate::datum::Datum;
use crate::expr::like;
use crate::session::{OutColumn, Output};

/// A column type as `SHOW CREATE TABLE` spells it (MySQL 8: no integer display widths).
pub fn sql_type(ty: &ColumnType) -> String {
    match *ty {
        ColumnType::Int { bytes, unsigned } => {
            let base = match bytes {
                1 => "tinyint",
                2 => "smallint",
                3 => "mediumint",
                4 => "int",
                _ => "bigint",
            };
            if unsigned {
                format!("{base} unsigned")
            } else {
                base.to_string()
            }
        }
        ColumnType::Decimal { precision, scale } => format!("decimal({precision},{scale})"),
        ColumnType::Float => "float".into(),
        ColumnType::Double => "double".into(),
        ColumnType::String {
            len_chars, fixed, ..
        } => match (fixed, len_chars) {
            (true, n) => format!("char({n})"),
            (false, 16_777_215) => "mediumtext".into(),
            (false, u32::MAX) => "longtext".into(),
            (false, 65_535) => "text".into(),
            (false, n) => format!("varchar({n})"),
        },
        ColumnType::Binary { len_bytes, fixed } => match (fixed, len_bytes) {
            (true, n) => format!("binary({n})"),
            (false, 255) => "tinyblob".into(),
            (false, 65_535) => "blob".into(),
            (false, 16_777_215) => "mediumblob".into(),
            (false, u32::MAX) => "longblob".into(),
            (false, n) => format!("varbinary({n})"),
        },
        ColumnType::Date => "date".into(),
        ColumnType::DateTime { fsp: 0 } => "datetime".into(),
        ColumnType::DateTime { fsp } => format!("datetime({fsp})"),
        ColumnType::Timestamp { fsp: 0 } => "timestamp".into(),
        ColumnType::Timestamp { fsp } => format!("timestamp({fsp})"),
    }
}

fn collation_of(ty: &ColumnType) -> Option<Collation> {
    match ty {
        ColumnType::String { collation, .. } => Some(*collation),
        _ => None,
    }
}

/// A collation's MySQL name.
pub fn collation_name(c: Collation) -> &'static str {
    match c {
        Collation::Utf8mb4GeneralCi => "utf8mb4_general_ci",
        Collation::Utf8mb4Bin => "utf8mb4_bin",
        Collation::Binary => "binary",
    }
}

/// The `Key` of column `slot` as DESCRIBE and information_schema.COLUMNS show it: PRI for
/// primary-key columns, MUL for the first column of a (non-unique) index.
pub fn column_key(def: &TableDef, slot: usize) -> &'static str {
    if def.pk.contains(&slot) {
        "PRI"
    } else if def
        .indexes
        .iter()
        .any(|i| i.state == IndexState::Public && i.columns.first() == Some(&slot))
    {
        "MUL"
    } else {
        ""
    }
}

/// An identifier in backquotes, doubling any backquote inside.
pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A string literal in single quotes, escaped as MySQL prints defaults.
fn quote_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// The `CREATE TABLE` statement that recreates `def` (what `SHOW CREATE TABLE` and
/// `mysqldump` print).
pub fn create_table(def: &TableDef) -> String {
    let mut lines = Vec::new();
    for (slot, c) in def.columns.iter().enumerate() {
        let ty = sql_type(&c.ty);
        // MySQL prints no DEFAULT NULL for TEXT and BLOB columns.
        let lob = ty.ends_with("text") || ty.ends_with("blob");
        let mut l = format!("  {} {ty}", quote_ident(&c.name));
        if let Some(coll) = collation_of(&c.ty) {
            if coll != Collation::default() {
                l.push_str(&format!(" COLLATE {}", collation_name(coll)));
            }
        }
        if !c.nullable {
            l.push_str(" NOT NULL");
        }
        match &c.default {
            Some(Datum::Null) | None if c.nullable && !lob && !def.pk.contains(&slot) => {
                l.push_str(" DEFAULT NULL")
            }
            Some(d) if !d.is_null() => {
                l.push_str(&format!(
                    " DEFAULT {}",
                    quote_text(&d.to_text().unwrap_or_default())
                ));
            }
            _ => {}
        }
        if c.auto_increment {
            l.push_str(" AUTO_INCREMENT");
        }
        lines.push(l);
    }
    let names = |slots: &[usize]| {
        slots
            .iter()
            .map(|&s| quote_ident(&def.columns[s].name))
            .collect::<Vec<_>>()
            .join(",")
    };
    if !def.pk.is_empty() {
        lines.push(format!("  PRIMARY KEY ({})", names(&def.pk)));
    }
    for ix in def.indexes.iter().filter(|i| i.state == IndexState::Public) {
        lines.push(format!(
            "  KEY {} ({})",
            quote_ident(&ix.name),
            names(&ix.columns)
        ));
    }
    format!(
        "CREATE TABLE {} (\n{}\n) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci",
        quote_ident(&def.name),
        lines.join(",\n")
    )
}

/// `SHOW CREATE TABLE`.
pub fn show_create_table(def: &TableDef) -> Output {
    let text = |name: &str| OutColumn {
        name: name.to_string(),
        ..OutColumn::default()
    };
    Output::Rows {
        columns: vec![text("Table"), text("Create Table")],
        rows: vec![vec![
            Datum::str(def.name.clone()),
            Datum::str(create_table(def)),
        ]],
    }
}

/// `DESCRIBE t` / `SHOW [FULL] COLUMNS FROM t [LIKE pattern]`.
pub fn show_columns(def: &TableDef, full: bool, pattern: Option<&str>) -> Output {
    let mut names = vec!["Field", "Type"];
    if full {
        names.push("Collation");
    }
    names.extend(["Null", "Key", "Default", "Extra"]);
    if full {
        names.extend(["Privileges", "Comment"]);
    }
    let columns = names
        .iter()
        .map(|n| OutColumn {
            name: n.to_string(),
            ..OutColumn::default()
        })
        .collect();
    let rows = def
        .columns
        .iter()
        .enumerate()
        .filter(|(_, c)| pattern.is_none_or(|p| like(&c.name, p, '\\')))
        .map(|(slot, c)| {
            let mut row = vec![Datum::str(c.name.clone()), Datum::str(sql_type(&c.ty))];
            if full {
                row.push(
                    collation_of(&c.ty).map_or(Datum::Null, |x| Datum::str(collation_name(x))),
                );
            }
            row.extend([
                Datum::str(if c.nullable { "YES" } else { "NO" }),
                Datum::str(column_key(def, slot)),
                c.default
                    .as_ref()
                    .and_then(Datum::to_text)
                    .map_or(Datum::Null, Datum::str),
                Datum::str(if c.auto_increment {
                    "auto_increment"
                } else {
                    ""
                }),
            ]);
            if full {
                row.extend([
                    Datum::str("select,insert,update,references"),
                    Datum::str(""),
                ]);
            }
            row
        })
        .collect();
    Output::Rows { columns, rows }
}
