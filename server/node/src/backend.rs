//! The node behind the MySQL protocol: sessions, result metadata and value conversion.

use std::sync::Arc;

use reef_common::charset::ClientCharset;
use reef_common::types::ColumnType as SqlType;
use reef_mysql::proto::{cap, charset, flags, status};
use reef_mysql::{
    Backend, Column, ColumnType, ConnInfo, OkInfo, Prepared, QueryError, Response, Session,
    UserAuth, Value,
};
use reef_sql::datum::Datum;
use reef_sql::{OutColumn, Output, SqlError, SqlSession};

use crate::{Node, SERVER_VERSION};

/// Serves a node's SQL over the MySQL protocol.
#[derive(Debug)]
pub struct ReefBackend {
    node: Arc<Node>,
}

impl ReefBackend {
    /// A backend for `node`.
    pub fn new(node: Arc<Node>) -> ReefBackend {
        ReefBackend { node }
    }
}

/// One client connection's session.
#[derive(Debug)]
pub struct ReefSession(SqlSession, std::net::IpAddr);

fn qerr(e: SqlError) -> QueryError {
    QueryError::new(e.code, e.message)
}

impl Backend for ReefBackend {
    type Session = ReefSession;

    fn server_version(&self) -> String {
        SERVER_VERSION.to_string()
    }

    fn user(&self, name: &str, peer: std::net::IpAddr) -> Option<UserAuth> {
        let account = self.node.engine.catalog.login(name, peer)?;
        Some(UserAuth {
            stage2: account.stage2,
        })
    }

    fn session(&self, conn: &ConnInfo) -> Result<ReefSession, QueryError> {
        let found_rows = conn.capabilities & cap::FOUND_ROWS != 0;
        let mut s = SqlSession::new(self.node.engine.clone(), conn.id, &conn.user, found_rows);
        s.logged_in_from(conn.peer.ip());
        s.set_client_charset(conn.charset);
        if let Some(db) = &conn.db {
            s.use_db(db).map_err(qerr)?;
        }
        Ok(ReefSession(s, conn.peer.ip()))
    }
}

fn proto_type(ty: &SqlType) -> (ColumnType, u16, u16, u32, u8) {
    // (type, flags, charset, length, decimals)
    match *ty {
        SqlType::Int { bytes, unsigned } => {
            let t = match bytes {
                1 => ColumnType::Tiny,
                2 => ColumnType::Short,
                3 => ColumnType::Int24,
                4 => ColumnType::Long,
                _ => ColumnType::LongLong,
            };
            (
                t,
                flags::NUM | if unsigned { flags::UNSIGNED } else { 0 },
                charset::BINARY,
                20,
                0,
            )
        }
        SqlType::Decimal { precision, scale } => (
            ColumnType::NewDecimal,
            flags::NUM,
            charset::BINARY,
            precision as u32 + 2,
            scale,
        ),
        SqlType::Float => (ColumnType::Float, flags::NUM, charset::BINARY, 12, 31),
        SqlType::Double => (ColumnType::Double, flags::NUM, charset::BINARY, 22, 31),
        SqlType::String {
            len_chars, fixed, ..
        } => (
            if fixed {
                ColumnType::String
            } else {
                ColumnType::VarString
            },
            0,
            charset::UTF8MB4_GENERAL_CI,
            len_chars.saturating_mul(4),
            0,
        ),
        SqlType::Binary { len_bytes, fixed } => {
            let t = if len_bytes > 65_535 {
                ColumnType::Blob
            } else if fixed {
                ColumnType::String
            } else {
                ColumnType::VarString
            };
            (t, flags::BINARY, charset::BINARY, len_bytes, 0)
        }
        SqlType::Date => (ColumnType::Date, flags::BINARY, charset::BINARY, 10, 0),
        SqlType::DateTime { fsp } => (
            ColumnType::DateTime,
            flags::BINARY,
            charset::BINARY,
            19 + fsp as u32,
            fsp,
        ),
        SqlType::Timestamp { fsp } => (
            ColumnType::Timestamp,
            flags::BINARY,
            charset::BINARY,
            19 + fsp as u32,
            fsp,
        ),
    }
}

/// The type of a computed column from a sample value (and whether its DATETIMEs carry a
/// fraction of a second, shown then with six digits).
fn inferred(sample: Option<&Datum>, fraction: bool) -> SqlType {
    match sample {
        Some(Datum::Int(_)) => SqlType::Int {
            bytes: 8,
            unsigned: false,
        },
        Some(Datum::UInt(_)) => SqlType::Int {
            bytes: 8,
            unsigned: true,
        },
        Some(Datum::Double(_)) => SqlType::Double,
        Some(Datum::Decimal(d)) => SqlType::Decimal {
            precision: 65,
            scale: d.scale(),
        },
        Some(Datum::Bytes(_)) => SqlType::Binary {
            len_bytes: 65_535,
            fixed: false,
        },
        Some(Datum::Date(_)) => SqlType::Date,
        Some(Datum::DateTime(_)) => SqlType::DateTime {
            fsp: if fraction { 6 } else { 0 },
        },
        _ => SqlType::String {
            len_chars: 256,
            fixed: false,
            collation: Default::default(),
        },
    }
}

fn column(c: &OutColumn, sample: Option<&Datum>, fraction: bool) -> Column {
    let ty = c.ty.unwrap_or_else(|| inferred(sample, fraction));
    let (t, mut fl, cs, len, dec) = proto_type(&ty);
    if c.not_null {
        fl |= flags::NOT_NULL;
    }
    if c.primary_key {
        fl |= flags::PRI_KEY;
    }
    if c.auto_increment {
        fl |= flags::AUTO_INCREMENT;
    }
    Column {
        schema: c.db.clone(),
        table: c.table.clone(),
        org_table: c.org_table.clone(),
        name: c.name.clone(),
        org_name: c.org_name.clone(),
        charset: cs,
        length: len,
        ty: t,
        flags: fl,
        decimals: dec,
    }
}

fn value(d: Datum) -> Value {
    match d {
        Datum::Null => Value::Null,
        Datum::Int(i) => Value::Int(i),
        Datum::UInt(u) => Value::UInt(u),
        Datum::Double(f) => Value::Double(f),
        Datum::Decimal(x) => Value::Bytes(x.to_string().into_bytes()),
        Datum::Str(b, _) | Datum::Bytes(b) => Value::Bytes(b),
        Datum::Date(dt) | Datum::DateTime(dt) => Value::DateTime(dt),
    }
}

fn datum(v: Value) -> Datum {
    match v {
        Value::Null => Datum::Null,
        Value::Int(i) => Datum::Int(i),
        Value::UInt(u) => Datum::UInt(u),
        Value::Double(f) => Datum::Double(f),
        Value::Bytes(b) => match String::from_utf8(b) {
            Ok(s) => Datum::str(s),
            Err(e) => Datum::Bytes(e.into_bytes()),
        },
        Value::DateTime(dt) => Datum::DateTime(dt),
        Value::Time { .. } => Datum::str(String::new()),
    }
}

fn response(out: Output) -> Response {
    match out {
        Output::Ok {
            affected,
            last_insert_id,
            info,
            warnings,
        } => Response::Ok(OkInfo {
            affected_rows: affected,
            last_insert_id,
            warnings,
            info,
        }),
        Output::Rows { columns, rows } => {
            let cols: Vec<Column> = columns
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if c.ty.is_some() {
                        return column(c, None, false);
                    }
                    // A computed column is typed by its values: the first non-NULL one,
                    // and, for DATETIMEs, whether any carries a fraction of a second.
                    let mut values = rows.iter().map(|r| &r[i]).filter(|d| !d.is_null());
                    let sample = values.next();
                    let fraction = matches!(sample, Some(Datum::DateTime(_)))
                        && sample
                            .into_iter()
                            .chain(values)
                            .any(|d| matches!(d, Datum::DateTime(t) if t.micro != 0));
                    column(c, sample, fraction)
                })
                .collect();
            let rows = rows
                .into_iter()
                .map(|r| Ok(r.into_iter().map(value).collect()));
            Response::Rows {
                columns: cols,
                rows: Box::new(rows.collect::<Vec<_>>().into_iter()),
            }
        }
    }
}

impl Session for ReefSession {
    fn query(&mut self, sql: &str) -> Vec<Result<Response, QueryError>> {
        self.0
            .execute(sql)
            .into_iter()
            .map(|r| r.map(response).map_err(qerr))
            .collect()
    }

    fn prepare(&mut self, sql: &str) -> Result<Prepared, QueryError> {
        let (id, params, cols) = self.0.prepare(sql).map_err(qerr)?;
        Ok(Prepared {
            id,
            params: params as u16,
            columns: cols.iter().map(|c| column(c, None, false)).collect(),
        })
    }

    fn execute(&mut self, id: u32, params: Vec<Value>) -> Result<Response, QueryError> {
        self.0
            .execute_prepared(id, params.into_iter().map(datum).collect())
            .map(response)
            .map_err(qerr)
    }

    fn close(&mut self, id: u32) {
        self.0.close_prepared(id);
    }

    fn init_db(&mut self, db: &str) -> Result<(), QueryError> {
        self.0.use_db(db).map_err(qerr)
    }

    fn reset(&mut self) {
        self.0.reset();
    }

    fn change_user(&mut self, user: &str, db: Option<&str>) -> Result<(), QueryError> {
        self.0.change_user(user, db).map_err(qerr)?;
        self.0.logged_in_from(self.1);
        Ok(())
    }

    fn status(&self) -> u16 {
        (if self.0.autocommit() {
            status::AUTOCOMMIT
        } else {
            0
        }) | if self.0.in_transaction() {
            status::IN_TRANS
        } else {
            0
        }
    }

    fn warnings(&self) -> u16 {
        self.0.warnings()
    }

    fn charsets(&self) -> (ClientCharset, ClientCharset) {
        self.0.charsets()
    }
}
