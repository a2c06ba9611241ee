//! A toy backend: `select <n>`, `rows <n>`, `begin`, `commit`, `insert`, `error <errno>`,
//! `set names ...`, `select user()`, `select database()`; prepared `select ?, ...` echoes
//! its parameters.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use reef_common::error;
use reef_mysql::proto::status;
use reef_mysql::{
    auth, Backend, Column, ColumnType, ConnInfo, OkInfo, Prepared, QueryError, Response, Server,
    ServerOptions, Session, UserAuth, Value,
};

pub struct Toy {
    pub resets: AtomicUsize,
}

pub struct ToySession {
    user: String,
    db: Option<String>,
    in_txn: bool,
    stmts: HashMap<u32, usize>,
    next: u32,
    backend: Arc<Toy>,
}

fn rows(columns: Vec<Column>, rows: Vec<Vec<Value>>) -> Response {
    Response::Rows {
        columns,
        rows: Box::new(rows.into_iter().map(Ok)),
    }
}

impl Session for ToySession {
    fn query(&mut self, sql: &str) -> Vec<Result<Response, QueryError>> {
        let mut out = Vec::new();
        for stmt in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            let r = self.one(stmt);
            let failed = r.is_err();
            out.push(r);
            if failed {
                break;
            }
        }
        out
    }

    fn prepare(&mut self, sql: &str) -> Result<Prepared, QueryError> {
        if !sql.to_ascii_lowercase().starts_with("select ?") {
            return Err(QueryError::new(
                error::ER_UNKNOWN_ERROR,
                "This command is not supported in the prepared statement protocol yet",
            ));
        }
        let n = sql.matches('?').count();
        self.next += 1;
        self.stmts.insert(self.next, n);
        let columns = (0..n)
            .map(|i| Column::computed(&format!("p{i}"), ColumnType::VarString))
            .collect();
        Ok(Prepared {
            id: self.next,
            params: n as u16,
            columns,
        })
    }

    fn execute(&mut self, id: u32, params: Vec<Value>) -> Result<Response, QueryError> {
        let n = *self
            .stmts
            .get(&id)
            .ok_or_else(|| QueryError::new(error::ER_UNKNOWN_STMT_HANDLER, "no such statement"))?;
        assert_eq!(params.len(), n);
        let cols = (0..n)
            .map(|i| Column::computed(&format!("p{i}"), ColumnType::VarString))
            .collect();
        let echoed = params
            .into_iter()
            .map(|p| match p {
                Value::Null => Value::Null,
                Value::Int(i) => Value::Bytes(format!("int:{i}").into_bytes()),
                Value::UInt(u) => Value::Bytes(format!("uint:{u}").into_bytes()),
                Value::Double(d) => Value::Bytes(format!("double:{d}").into_bytes()),
                Value::Bytes(b) => Value::Bytes([b"bytes:".as_slice(), &b].concat()),
                Value::DateTime(dt) => {
                    Value::Bytes(format!("datetime:{}", dt.datetime_string(0)).into_bytes())
                }
                other => Value::Bytes(format!("{other:?}").into_bytes()),
            })
            .collect();
        Ok(rows(cols, vec![echoed]))
    }

    fn close(&mut self, id: u32) {
        self.stmts.remove(&id);
    }

    fn init_db(&mut self, db: &str) -> Result<(), QueryError> {
        if db == "missing" {
            return Err(QueryError::new(
                error::ER_BAD_DB_ERROR,
                format!("Unknown database '{db}'"),
            ));
        }
        self.db = Some(db.to_string());
        Ok(())
    }

    fn reset(&mut self) {
        self.in_txn = false;
        self.stmts.clear();
        self.backend.resets.fetch_add(1, Ordering::Relaxed);
    }

    fn change_user(&mut self, user: &str, db: Option<&str>) -> Result<(), QueryError> {
        self.reset();
        self.user = user.to_string();
        self.db = db.map(str::to_string);
        Ok(())
    }

    fn status(&self) -> u16 {
        status::AUTOCOMMIT | if self.in_txn { status::IN_TRANS } else { 0 }
    }

    fn warnings(&self) -> u16 {
        0
    }
}

impl ToySession {
    fn one(&mut self, stmt: &str) -> Result<Response, QueryError> {
        let lower = stmt.to_ascii_lowercase();
        let words: Vec<&str> = lower.split_whitespace().collect();
        match words.as_slice() {
            ["begin"] => {
                self.in_txn = true;
                Ok(Response::Ok(OkInfo::default()))
            }
            ["commit"] => {
                self.in_txn = false;
                Ok(Response::Ok(OkInfo::default()))
            }
            ["select", "user()"] => Ok(rows(
                vec![Column::computed("user()", ColumnType::VarString)],
                vec![vec![Value::Bytes(self.user.clone().into_bytes())]],
            )),
            ["select", "database()"] => Ok(rows(
                vec![Column::computed("database()", ColumnType::VarString)],
                vec![vec![self
                    .db
                    .clone()
                    .map_or(Value::Null, |d| Value::Bytes(d.into_bytes()))]],
            )),
            ["select", n] => match n.parse::<i64>() {
                Ok(n) => Ok(rows(
                    vec![Column::computed(&n.to_string(), ColumnType::LongLong)],
                    vec![vec![Value::Int(n)]],
                )),
                Err(_) => Err(QueryError::new(
                    error::ER_PARSE_ERROR,
                    "You have an error in your SQL syntax",
                )),
            },
            ["rows", n] => {
                let n: i64 = n.parse().unwrap();
                let cols = vec![
                    Column::computed("i", ColumnType::LongLong),
                    Column::computed("s", ColumnType::VarString),
                ];
                Ok(rows(
                    cols,
                    (0..n)
                        .map(|i| vec![Value::Int(i), Value::Bytes(format!("row {i}").into_bytes())])
                        .collect(),
                ))
            }
            ["insert"] => Ok(Response::Ok(OkInfo {
                affected_rows: 3,
                last_insert_id: 42,
                ..OkInfo::default()
            })),
            // Drivers set their character set on connect.
            ["set", ..] => Ok(Response::Ok(OkInfo::default())),
            ["error", errno] => {
                let code = error::by_errno(errno.parse().unwrap()).unwrap();
                Err(QueryError::new(code, format!("toy error {errno}")))
            }
            _ => Err(QueryError::new(
                error::ER_PARSE_ERROR,
                format!("You have an error in your SQL syntax near '{stmt}'"),
            )),
        }
    }
}

/// The backend handed to the server.
pub struct ToyBackend(Arc<Toy>);

impl Backend for ToyBackend {
    type Session = ToySession;

    fn server_version(&self) -> String {
        "8.0.36-ReefDB-test".into()
    }

    fn user(&self, name: &str, _peer: std::net::IpAddr) -> Option<UserAuth> {
        match name {
            "root" => Some(UserAuth { stage2: None }),
            "alice" => Some(UserAuth {
                stage2: Some(auth::stage2(b"wonderland")),
            }),
            _ => None,
        }
    }

    fn session(&self, conn: &ConnInfo) -> Result<ToySession, QueryError> {
        let mut s = ToySession {
            user: conn.user.clone(),
            db: None,
            in_txn: false,
            stmts: HashMap::new(),
            next: 0,
            backend: self.0.clone(),
        };
        if let Some(db) = &conn.db {
            s.init_db(db)?;
        }
        Ok(s)
    }
}

/// Starts a toy server on an ephemeral port.
pub fn start_toy() -> (Server, Arc<Toy>) {
    let toy = Arc::new(Toy {
        resets: AtomicUsize::new(0),
    });
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = reef_mysql::start(
        listener,
        Arc::new(ToyBackend(toy.clone())),
        ServerOptions::default(),
    )
    .unwrap();
    (server, toy)
}
