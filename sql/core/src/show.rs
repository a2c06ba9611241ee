//! Table metadata as MySQL shows it: `SHOW CREATE TABLE`, `DESCRIBE` / `SHOW [FULL]
//! COLUMNS`, `SHOW INDEX`, `SHOW TABLE STATUS`, `SHOW TRIGGERS`, `SHOW WARNINGS`, and the SQL
//! spelling of column types they share.

use reef_common::collation::Collation;
use reef_common::types::ColumnType;

use crate::catalog::{IndexState, TableDef};
use crate::datum::Datum;
use crate::expr::like;
use crate::session::{Diagnostic, OutColumn, Output};

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
/// primary-key columns, UNI for the column of a one-column unique index, MUL for the first
/// column of any other index (values may repeat in it).
pub fn column_key(def: &TableDef, slot: usize) -> &'static str {
    let leading = def
        .indexes
        .iter()
        .filter(|i| i.state == IndexState::Public && i.columns.first() == Some(&slot));
    if def.pk.contains(&slot) {
        "PRI"
    } else if leading.clone().any(|i| i.unique && i.columns.len() == 1) {
        "UNI"
    } else if leading.count() > 0 {
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

/// The `CREATE TABLE` statement that recreates `def` with its next AUTO_INCREMENT value
/// (what `SHOW CREATE TABLE` and `mysqldump` print).
pub fn create_table(def: &TableDef, next_auto_increment: Option<u64>) -> String {
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
    // MySQL lists unique keys before the others.
    let public = || def.indexes.iter().filter(|i| i.state == IndexState::Public);
    for ix in public()
        .filter(|i| i.unique)
        .chain(public().filter(|i| !i.unique))
    {
        lines.push(format!(
            "  {}KEY {} ({})",
            if ix.unique { "UNIQUE " } else { "" },
            quote_ident(&ix.name),
            names(&ix.columns)
        ));
    }
    // MySQL shows the next AUTO_INCREMENT value once it is past 1.
    let auto_increment = match next_auto_increment {
        Some(n) if n > 1 => format!(" AUTO_INCREMENT={n}"),
        _ => String::new(),
    };
    format!(
        "CREATE TABLE {} (\n{}\n){auto_increment} DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci",
        quote_ident(&def.name),
        lines.join(",\n")
    )
}

/// `SHOW CREATE TABLE`; `next_auto_increment` is the table's next AUTO_INCREMENT value.
pub fn show_create_table(def: &TableDef, next_auto_increment: Option<u64>) -> Output {
    Output::Rows {
        columns: vec![text_column("Table"), text_column("Create Table")],
        rows: vec![vec![
            Datum::str(def.name.clone()),
            Datum::str(create_table(def, next_auto_increment)),
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

/// A text result column named `name`.
pub(crate) fn text_column(name: &str) -> OutColumn {
    OutColumn {
        name: name.to_string(),
        ..OutColumn::default()
    }
}

fn int_column(name: &str) -> OutColumn {
    OutColumn {
        name: name.to_string(),
        ty: Some(ColumnType::Int {
            bytes: 8,
            unsigned: true,
        }),
        ..OutColumn::default()
    }
}

fn columns(spec: &[(&str, bool)]) -> Vec<OutColumn> {
    spec.iter()
        .map(|(n, int)| if *int { int_column(n) } else { text_column(n) })
        .collect()
}

/// `SHOW WARNINGS` / `SHOW ERRORS`.
pub fn diagnostics(shown: &[&Diagnostic]) -> Output {
    Output::Rows {
        columns: columns(&[("Level", false), ("Code", true), ("Message", false)]),
        rows: shown
            .iter()
            .map(|d| {
                vec![
                    Datum::str(d.level),
                    Datum::UInt(d.code as u64),
                    Datum::str(d.message.clone()),
                ]
            })
            .collect(),
    }
}

/// `SHOW [FULL] PROCESSLIST`: without FULL, statements are cut to 100 characters.
pub fn processlist(rows: &[crate::process::ProcessRow], full: bool) -> Output {
    let opt = |s: &Option<String>| s.clone().map_or(Datum::Null, Datum::str);
    Output::Rows {
        columns: columns(&[
            ("Id", true),
            ("User", false),
            ("Host", false),
            ("db", false),
            ("Command", false),
            ("Time", true),
            ("State", false),
            ("Info", false),
        ]),
        rows: rows
            .iter()
            .map(|r| {
                let info = r.info.as_ref().map(|i| match full {
                    true => i.clone(),
                    false => i.chars().take(100).collect(),
                });
                vec![
                    Datum::UInt(r.id as u64),
                    Datum::str(r.user.clone()),
                    Datum::str(r.host.clone()),
                    opt(&r.db),
                    Datum::str(r.command),
                    Datum::UInt(r.time),
                    Datum::str(if r.command == "Query" {
                        "executing"
                    } else {
                        ""
                    }),
                    opt(&info),
                ]
            })
            .collect(),
    }
}

/// `SHOW COUNT(*) WARNINGS` / `SHOW COUNT(*) ERRORS`.
pub fn count_diagnostics(errors: bool, n: usize) -> Output {
    let name = if errors {
        "@@session.error_count"
    } else {
        "@@session.warning_count"
    };
    Output::Rows {
        columns: vec![int_column(name)],
        rows: vec![vec![Datum::UInt(n as u64)]],
    }
}

/// `SHOW INDEX FROM t`: one row per indexed column, primary key first.
pub fn show_index(def: &TableDef) -> Output {
    let mut rows = Vec::new();
    for (name, non_unique, cols) in def.visible_indexes() {
        for (seq, &slot) in cols.iter().enumerate() {
            let c = &def.columns[slot];
            rows.push(vec![
                Datum::str(def.name.clone()),
                Datum::UInt(non_unique as u64),
                Datum::str(name),
                Datum::UInt(seq as u64 + 1),
                Datum::str(c.name.clone()),
                Datum::str("A"),
                Datum::Null,
                Datum::Null,
                Datum::Null,
                Datum::str(if c.nullable { "YES" } else { "" }),
                Datum::str("BTREE"),
                Datum::str(""),
                Datum::str(""),
                Datum::str("YES"),
                Datum::Null,
            ]);
        }
    }
    Output::Rows {
        columns: columns(&[
            ("Table", false),
            ("Non_unique", true),
            ("Key_name", false),
            ("Seq_in_index", true),
            ("Column_name", false),
            ("Collation", false),
            ("Cardinality", true),
            ("Sub_part", true),
            ("Packed", false),
            ("Null", false),
            ("Index_type", false),
            ("Comment", false),
            ("Index_comment", false),
            ("Visible", false),
            ("Expression", false),
        ]),
        rows,
    }
}

/// `SHOW TABLE STATUS`: each table with its next AUTO_INCREMENT value. ReefDB keeps no
/// row-count or size estimates per table yet, so those columns are NULL rather than made up.
pub fn table_status(tables: &[(&TableDef, Option<u64>)]) -> Output {
    let rows = tables
        .iter()
        .map(|(def, next_id)| {
            let mut row = vec![
                Datum::str(def.name.clone()),
                Datum::str("ReefDB"),
                Datum::UInt(10),
                Datum::str("Dynamic"),
            ];
            row.extend(std::iter::repeat_n(Datum::Null, 6));
            row.push(next_id.map_or(Datum::Null, Datum::UInt));
            row.extend([Datum::Null, Datum::Null, Datum::Null]);
            row.extend([
                Datum::str("utf8mb4_general_ci"),
                Datum::Null,
                Datum::str(""),
                Datum::str(""),
            ]);
            row
        })
        .collect();
    Output::Rows {
        columns: columns(&[
            ("Name", false),
            ("Engine", false),
            ("Version", true),
            ("Row_format", false),
            ("Rows", true),
            ("Avg_row_length", true),
            ("Data_length", true),
            ("Max_data_length", true),
            ("Index_length", true),
            ("Data_free", true),
            ("Auto_increment", true),
            ("Create_time", false),
            ("Update_time", false),
            ("Check_time", false),
            ("Collation", false),
            ("Checksum", true),
            ("Create_options", false),
            ("Comment", false),
        ]),
        rows,
    }
}

/// `SHOW TRIGGERS`: ReefDB has no triggers, so the list is empty.
pub fn triggers() -> Output {
    Output::Rows {
        columns: columns(&[
            ("Trigger", false),
            ("Event", false),
            ("Table", false),
            ("Statement", false),
            ("Timing", false),
            ("Created", false),
            ("sql_mode", false),
            ("Definer", false),
            ("character_set_client", false),
            ("collation_connection", false),
            ("Database Collation", false),
        ]),
        rows: Vec::new(),
    }
}
