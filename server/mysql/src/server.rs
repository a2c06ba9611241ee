//! Accepting connections and serving each on its own thread.

use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::Mutex;
use reef_common::charset::ClientCharset;
use reef_common::error;

use crate::auth::{self, SCRAMBLE_BYTES};
use crate::codec::{put_lenenc, Cursor, PacketReader, PacketWriter, MAX_ALLOWED_PACKET};
use crate::proto::{
    cap, charset, encode_eof, encode_ok, status, OkInfo, QueryError, Response, Value,
};
use crate::{Backend, ConnInfo, Session};

const NATIVE: &str = "mysql_native_password";
const FLUSH_BYTES: usize = 1 << 20;

const COM_QUIT: u8 = 0x01;
const COM_INIT_DB: u8 = 0x02;
const COM_QUERY: u8 = 0x03;
const COM_FIELD_LIST: u8 = 0x04;
const COM_STATISTICS: u8 = 0x09;
const COM_PING: u8 = 0x0E;
const COM_CHANGE_USER: u8 = 0x11;
const COM_STMT_PREPARE: u8 = 0x16;
const COM_STMT_EXECUTE: u8 = 0x17;
const COM_STMT_SEND_LONG_DATA: u8 = 0x18;
const COM_STMT_CLOSE: u8 = 0x19;
const COM_STMT_RESET: u8 = 0x1A;
const COM_SET_OPTION: u8 = 0x1B;
const COM_RESET_CONNECTION: u8 = 0x1F;

/// Limits of the listener.
#[derive(Clone, Copy, Debug)]
pub struct ServerOptions {
    /// `max_connections`: further clients get 1040.
    pub max_connections: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_connections: 512,
        }
    }
}

/// A running listener. Dropping it stops accepting; open connections finish on their own.
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<HashMap<u32, TcpStream>>>,
    accept: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Server({})", self.addr)
    }
}

impl Server {
    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes connection `id`'s socket (`KILL CONNECTION`); false if there is none.
    pub fn kill_connection(&self, id: u32) -> bool {
        close_connection(&self.conns, id)
    }

    /// [`Server::kill_connection`] as a function the SQL layer can keep.
    pub fn connection_killer(&self) -> impl Fn(u32) -> bool + Send + Sync + 'static {
        let conns = self.conns.clone();
        move |id| close_connection(&conns, id)
    }

    /// Stops accepting and closes every open connection.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = TcpStream::connect(self.addr); // wake the accept loop
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        for (_, s) in self.conns.lock().drain() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_now();
    }
}

fn close_connection(conns: &Mutex<HashMap<u32, TcpStream>>, id: u32) -> bool {
    match conns.lock().get(&id) {
        Some(s) => s.shutdown(Shutdown::Both).is_ok(),
        None => false,
    }
}

/// Starts serving `backend` on `listener`.
pub fn start<B: Backend>(
    listener: TcpListener,
    backend: Arc<B>,
    opts: ServerOptions,
) -> io::Result<Server> {
    let addr = listener.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let conns: Arc<Mutex<HashMap<u32, TcpStream>>> = Arc::new(Mutex::new(HashMap::new()));
    let (stop2, conns2) = (stop.clone(), conns.clone());
    let stats = Arc::new(Stats {
        started: std::time::Instant::now(),
        questions: AtomicU64::new(0),
        conns: conns.clone(),
    });
    let accept = std::thread::Builder::new()
        .name("reef-mysql-accept".into())
        .spawn(move || {
            let next_id = AtomicU32::new(1);
            for stream in listener.incoming() {
                if stop2.load(Ordering::Acquire) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let id = next_id.fetch_add(1, Ordering::Relaxed);
                let over = conns2.lock().len() >= opts.max_connections;
                if let Ok(clone) = stream.try_clone() {
                    conns2.lock().insert(id, clone);
                }
                let (backend, conns, stats) = (backend.clone(), conns2.clone(), stats.clone());
                let spawned = std::thread::Builder::new()
                    .name(format!("reef-conn-{id}"))
                    .spawn(move || {
                        if let Err(e) = serve(stream, id, backend.as_ref(), over, stats) {
                            tracing::debug!(conn = id, error = %e, "connection ended");
                        }
                        conns.lock().remove(&id);
                        backend.closed(id);
                    });
                if spawned.is_err() {
                    conns2.lock().remove(&id);
                }
            }
        })?;
    Ok(Server {
        addr,
        stop,
        conns,
        accept: Some(accept),
    })
}

/// What `COM_STATISTICS` (`mysqladmin status`) reports.
struct Stats {
    started: std::time::Instant,
    /// Commands received from every client.
    questions: AtomicU64,
    conns: Arc<Mutex<HashMap<u32, TcpStream>>>,
}

impl Stats {
    fn line(&self) -> String {
        let up = self.started.elapsed().as_secs_f64();
        let q = self.questions.load(Ordering::Relaxed);
        format!(
            "Uptime: {}  Threads: {}  Questions: {q}  Queries per second avg: {:.3}",
            up as u64,
            self.conns.lock().len(),
            q as f64 / up.max(1.0)
        )
    }
}

struct Conn<B: Backend> {
    stats: Arc<Stats>,
    reader: PacketReader<TcpStream>,
    writer: PacketWriter<TcpStream>,
    caps: u32,
    scramble: [u8; SCRAMBLE_BYTES],
    stmts: HashMap<u32, Stmt>,
    /// The session's `character_set_client` as the current command began: statements and
    /// text parameters are decoded from it.
    client: ClientCharset,
    /// The session's `character_set_results` as of its last command or result set: error
    /// messages, column names and text values go out in it.
    results: ClientCharset,
    _b: std::marker::PhantomData<B>,
}

#[derive(Default)]
struct Stmt {
    params: u16,
    types: Vec<(u8, bool)>,
    /// COM_STMT_SEND_LONG_DATA chunks per parameter, at most `MAX_ALLOWED_PACKET` in all.
    long_data: HashMap<u16, Vec<u8>>,
    /// Long data went past the limit: the next execute fails and the data is gone.
    long_data_overflow: bool,
}

impl Stmt {
    fn clear_long_data(&mut self) {
        self.long_data.clear();
        self.long_data_overflow = false;
    }
}

fn serve<B: Backend>(
    stream: TcpStream,
    id: u32,
    backend: &B,
    over_limit: bool,
    stats: Arc<Stats>,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let peer = stream.peer_addr()?;
    let mut c: Conn<B> = Conn {
        stats,
        reader: PacketReader::new(stream.try_clone()?),
        writer: PacketWriter::new(stream),
        caps: 0,
        scramble: auth::scramble(),
        stmts: HashMap::new(),
        client: ClientCharset::default(),
        results: ClientCharset::default(),
        _b: std::marker::PhantomData,
    };
    if over_limit {
        return c.fail(QueryError::new(
            error::ER_CON_COUNT_ERROR,
            "Too many connections",
        ));
    }
    c.greet(backend, id)?;
    let Some(info) = c.login(backend, id, peer)? else {
        return Ok(());
    };
    let mut session = match backend.session(&info) {
        Ok(s) => s,
        Err(e) => return c.fail(e),
    };
    c.ok(&OkInfo::default(), session.status())?;
    c.writer.flush()?;
    while let Some((seq, packet)) = c.reader.read_packet()? {
        c.writer.set_seq(seq.wrapping_add(1));
        if !c.command(backend, &mut session, &info, &packet)? {
            break;
        }
        c.writer.flush()?;
    }
    Ok(())
}

impl<B: Backend> Conn<B> {
    fn fail(&mut self, e: QueryError) -> io::Result<()> {
        self.err(&e);
        self.writer.flush()
    }

    fn err(&mut self, e: &QueryError) {
        let mut out = Vec::with_capacity(16 + e.message.len());
        e.encode(&mut out, self.results);
        self.writer.packet(&out);
    }

    fn ok(&mut self, ok: &OkInfo, status: u16) -> io::Result<()> {
        let mut out = Vec::with_capacity(16 + ok.info.len());
        encode_ok(&mut out, 0x00, ok, status);
        self.writer.packet(&out);
        Ok(())
    }

    fn eof(&mut self, warnings: u16, status: u16) {
        let mut out = Vec::with_capacity(12);
        if self.caps & cap::DEPRECATE_EOF != 0 {
            encode_ok(
                &mut out,
                0xFE,
                &OkInfo {
                    warnings,
                    ..OkInfo::default()
                },
                status,
            );
        } else {
            encode_eof(&mut out, warnings, status);
        }
        self.writer.packet(&out);
    }

    /// Sends Protocol::HandshakeV10.
    fn greet(&mut self, backend: &B, id: u32) -> io::Result<()> {
        let mut out = Vec::with_capacity(128);
        out.push(10);
        out.extend_from_slice(backend.server_version().as_bytes());
        out.push(0);
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&self.scramble[..8]);
        out.push(0);
        out.extend_from_slice(&(cap::SERVER as u16).to_le_bytes());
        out.push(charset::UTF8MB4_GENERAL_CI as u8);
        out.extend_from_slice(&status::AUTOCOMMIT.to_le_bytes());
        out.extend_from_slice(&((cap::SERVER >> 16) as u16).to_le_bytes());
        out.push(SCRAMBLE_BYTES as u8 + 1);
        out.extend_from_slice(&[0; 10]);
        out.extend_from_slice(&self.scramble[8..]);
        out.push(0);
        out.extend_from_slice(NATIVE.as_bytes());
        out.push(0);
        self.writer.set_seq(0);
        self.writer.packet(&out);
        self.writer.flush()
    }

    /// Reads HandshakeResponse41 and authenticates; `None` if the client was refused.
    fn login(&mut self, backend: &B, id: u32, peer: SocketAddr) -> io::Result<Option<ConnInfo>> {
        let Some((seq, packet)) = self.reader.read_packet()? else {
            return Ok(None);
        };
        self.writer.set_seq(seq.wrapping_add(1));
        let mut c = Cursor::new(&packet);
        let caps = c.u32()?;
        if caps & cap::PROTOCOL_41 == 0 {
            self.fail(QueryError::new(
                error::ER_HANDSHAKE_ERROR,
                "Bad handshake: protocol 4.1 is required",
            ))?;
            return Ok(None);
        }
        if caps & cap::SSL != 0 {
            self.fail(QueryError::new(
                error::ER_HANDSHAKE_ERROR,
                "Bad handshake: SSL is not offered",
            ))?;
            return Ok(None);
        }
        self.caps = caps & cap::SERVER;
        let _max_packet = c.u32()?;
        let charset = ClientCharset::from_collation_id(c.u8()?);
        c.take(23)?;
        let user = String::from_utf8_lossy(c.nul_str()?).into_owned();
        let mut token = if caps & cap::PLUGIN_AUTH_LENENC_DATA != 0 {
            c.lenenc_bytes()?.to_vec()
        } else {
            let n = c.u8()? as usize;
            c.take(n)?.to_vec()
        };
        let db = if caps & cap::CONNECT_WITH_DB != 0 && c.remaining() > 0 {
            Some(String::from_utf8_lossy(c.nul_str()?).into_owned()).filter(|d| !d.is_empty())
        } else {
            None
        };
        let plugin = if caps & cap::PLUGIN_AUTH != 0 && c.remaining() > 0 {
            String::from_utf8_lossy(c.nul_str()?).into_owned()
        } else {
            NATIVE.to_string()
        };
        if plugin != NATIVE {
            token = self.auth_switch()?;
        }
        if !self.authenticate(backend, &user, &peer, &token)? {
            return Ok(None);
        }
        Ok(Some(ConnInfo {
            id,
            user,
            peer,
            db,
            capabilities: self.caps,
            charset,
        }))
    }

    /// AuthSwitchRequest to `mysql_native_password` with a fresh scramble; returns the token.
    fn auth_switch(&mut self) -> io::Result<Vec<u8>> {
        self.scramble = auth::scramble();
        let mut out = vec![0xFE];
        out.extend_from_slice(NATIVE.as_bytes());
        out.push(0);
        out.extend_from_slice(&self.scramble);
        out.push(0);
        self.writer.packet(&out);
        self.writer.flush()?;
        let (seq, reply) = self.reader.read_packet()?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "client left during authentication",
            )
        })?;
        self.writer.set_seq(seq.wrapping_add(1));
        Ok(reply)
    }

    fn authenticate(
        &mut self,
        backend: &B,
        user: &str,
        peer: &SocketAddr,
        token: &[u8],
    ) -> io::Result<bool> {
        let ok = backend
            .user(user, peer.ip())
            .is_some_and(|u| auth::verify(u.stage2.as_ref(), &self.scramble, token));
        if !ok {
            let msg = format!(
                "Access denied for user '{user}'@'{}' (using password: {})",
                peer.ip(),
                if token.is_empty() { "NO" } else { "YES" }
            );
            self.fail(QueryError::new(error::ER_ACCESS_DENIED_ERROR, msg))?;
        }
        Ok(ok)
    }

    /// Handles one command; false when the client quit.
    fn command(
        &mut self,
        backend: &B,
        s: &mut B::Session,
        info: &ConnInfo,
        packet: &[u8],
    ) -> io::Result<bool> {
        let Some((&cmd, body)) = packet.split_first() else {
            self.err(&QueryError::new(
                error::ER_UNKNOWN_COM_ERROR,
                "Unknown command",
            ));
            return Ok(true);
        };
        self.stats.questions.fetch_add(1, Ordering::Relaxed);
        (self.client, self.results) = s.charsets();
        match cmd {
            COM_QUIT => return Ok(false),
            COM_QUERY => self.query(s, &self.client.decode(body))?,
            COM_INIT_DB => match s.init_db(&String::from_utf8_lossy(body)) {
                Ok(()) => self.ok(&OkInfo::default(), s.status())?,
                Err(e) => self.err(&e),
            },
            COM_PING => self.ok(&OkInfo::default(), s.status())?,
            COM_FIELD_LIST => self.eof(0, s.status()),
            COM_STATISTICS => self.writer.packet(self.stats.line().as_bytes()),
            COM_SET_OPTION => self.eof(0, s.status()),
            COM_STMT_PREPARE => self.prepare(s, &self.client.decode(body)),
            COM_STMT_EXECUTE => self.execute(s, body)?,
            COM_STMT_SEND_LONG_DATA => self.long_data(body)?,
            COM_STMT_CLOSE => {
                if body.len() >= 4 {
                    let id = u32::from_le_bytes(body[..4].try_into().expect("4"));
                    self.stmts.remove(&id);
                    s.close(id);
                }
            }
            COM_STMT_RESET => {
                let id = Cursor::new(body).u32()?;
                match self.stmts.get_mut(&id) {
                    Some(st) => {
                        st.clear_long_data();
                        self.ok(&OkInfo::default(), s.status())?;
                    }
                    None => self.err(&unknown_stmt(id, "mysqld_stmt_reset")),
                }
            }
            COM_RESET_CONNECTION => {
                for id in self.stmts.drain().map(|(id, _)| id).collect::<Vec<_>>() {
                    s.close(id);
                }
                s.reset();
                self.ok(&OkInfo::default(), s.status())?;
            }
            COM_CHANGE_USER => self.change_user(backend, s, info, body)?,
            _ => self.err(&QueryError::new(
                error::ER_UNKNOWN_COM_ERROR,
                "Unknown command",
            )),
        }
        Ok(true)
    }

    fn query(&mut self, s: &mut B::Session, sql: &str) -> io::Result<()> {
        let results = s.query(sql);
        let n = results.len();
        for (i, r) in results.into_iter().enumerate() {
            let more = if i + 1 < n {
                status::MORE_RESULTS_EXISTS
            } else {
                0
            };
            match r {
                Ok(resp) => self.respond(s, resp, false, more)?,
                Err(e) => {
                    self.err(&e);
                    break;
                }
            }
        }
        if n == 0 {
            self.err(&QueryError::new(error::ER_PARSE_ERROR, "Query was empty"));
        }
        Ok(())
    }

    fn respond(
        &mut self,
        s: &B::Session,
        resp: Response,
        binary: bool,
        more: u16,
    ) -> io::Result<()> {
        match resp {
            Response::Ok(ok) => self.ok(&ok, s.status() | more),
            Response::Rows { mut columns, rows } => {
                // Text columns leave in the client's `character_set_results` (which the
                // statement itself may have just set).
                self.results = s.charsets().1;
                // The text columns, when their values need converting.
                let text: Option<Vec<bool>> = self.results.result_collation_id().map(|id| {
                    columns
                        .iter_mut()
                        .map(|c| {
                            let is_text = c.charset != charset::BINARY;
                            if is_text {
                                c.charset = id;
                            }
                            is_text
                        })
                        .collect()
                });
                let mut out = Vec::with_capacity(256);
                put_lenenc(&mut out, columns.len() as u64);
                self.writer.packet(&out);
                for col in &columns {
                    out.clear();
                    col.encode(&mut out, self.results);
                    self.writer.packet(&out);
                }
                if self.caps & cap::DEPRECATE_EOF == 0 {
                    self.eof(0, s.status());
                }
                for row in rows {
                    match row {
                        Ok(mut values) => {
                            for (v, _) in values
                                .iter_mut()
                                .zip(text.iter().flatten())
                                .filter(|(_, t)| **t)
                            {
                                if let Value::Bytes(b) = v {
                                    if let std::borrow::Cow::Owned(e) = self.results.encode(b) {
                                        *b = e;
                                    }
                                }
                            }
                            out.clear();
                            if binary {
                                encode_binary_row(&mut out, &columns, &values);
                            } else {
                                encode_text_row(&mut out, &columns, &values);
                            }
                            self.writer.packet(&out);
                            if self.writer.buffered() > FLUSH_BYTES {
                                self.writer.flush()?;
                            }
                        }
                        Err(e) => {
                            self.err(&e);
                            return Ok(());
                        }
                    }
                }
                self.eof(s.warnings(), s.status() | more);
                Ok(())
            }
        }
    }

    fn prepare(&mut self, s: &mut B::Session, sql: &str) {
        match s.prepare(sql) {
            Err(e) => self.err(&e),
            Ok(p) => {
                let mut out = vec![0x00];
                out.extend_from_slice(&p.id.to_le_bytes());
                out.extend_from_slice(&(p.columns.len() as u16).to_le_bytes());
                out.extend_from_slice(&p.params.to_le_bytes());
                out.push(0);
                out.extend_from_slice(&0u16.to_le_bytes());
                self.writer.packet(&out);
                let status = s.status();
                if p.params > 0 {
                    let param = crate::Column::computed("?", crate::ColumnType::VarString);
                    for _ in 0..p.params {
                        out.clear();
                        param.encode(&mut out, self.results);
                        self.writer.packet(&out);
                    }
                    if self.caps & cap::DEPRECATE_EOF == 0 {
                        self.eof(0, status);
                    }
                }
                if !p.columns.is_empty() {
                    for col in &p.columns {
                        out.clear();
                        col.encode(&mut out, self.results);
                        self.writer.packet(&out);
                    }
                    if self.caps & cap::DEPRECATE_EOF == 0 {
                        self.eof(0, status);
                    }
                }
                self.stmts.insert(
                    p.id,
                    Stmt {
                        params: p.params,
                        ..Stmt::default()
                    },
                );
            }
        }
    }

    fn execute(&mut self, s: &mut B::Session, body: &[u8]) -> io::Result<()> {
        let mut c = Cursor::new(body);
        let id = c.u32()?;
        let Some(st) = self.stmts.get_mut(&id) else {
            self.err(&unknown_stmt(id, "mysqld_stmt_execute"));
            return Ok(());
        };
        let _flags = c.u8()?;
        let _iterations = c.u32()?;
        if st.long_data_overflow {
            st.clear_long_data();
            self.err(&QueryError::new(
                error::ER_NET_PACKET_TOO_LARGE,
                format!(
                    "Parameter of prepared statement which is set through \
                     mysql_send_long_data() is longer than 'max_allowed_packet' \
                     ({MAX_ALLOWED_PACKET}) bytes"
                ),
            ));
            return Ok(());
        }
        let mut params = match decode_params(&mut c, st) {
            Ok(p) => p,
            Err(e) => {
                self.err(&QueryError::new(
                    error::ER_WRONG_ARGUMENTS,
                    format!("Incorrect arguments to mysqld_stmt_execute: {e}"),
                ));
                return Ok(());
            }
        };
        st.clear_long_data();
        // Text parameters arrive in the client's character set.
        for (v, &(ty, _)) in params.iter_mut().zip(&st.types) {
            if let Value::Bytes(b) = v {
                if is_text_param(ty) {
                    *b = self.client.decode_value(std::mem::take(b));
                }
            }
        }
        match s.execute(id, params) {
            Ok(resp) => self.respond(s, resp, true, 0),
            Err(e) => {
                self.err(&e);
                Ok(())
            }
        }
    }

    fn long_data(&mut self, body: &[u8]) -> io::Result<()> {
        let mut c = Cursor::new(body);
        let id = c.u32()?;
        let param = c.u16()?;
        let chunk = c.rest();
        if let Some(st) = self.stmts.get_mut(&id) {
            let held: usize = st.long_data.values().map(Vec::len).sum();
            if param >= st.params || st.long_data_overflow {
                // Data for a parameter the statement does not have is dropped.
            } else if held + chunk.len() > MAX_ALLOWED_PACKET {
                st.long_data.clear();
                st.long_data_overflow = true;
            } else {
                st.long_data
                    .entry(param)
                    .or_default()
                    .extend_from_slice(chunk);
            }
        }
        Ok(()) // no response, as the protocol says
    }

    fn change_user(
        &mut self,
        backend: &B,
        s: &mut B::Session,
        info: &ConnInfo,
        body: &[u8],
    ) -> io::Result<()> {
        let mut c = Cursor::new(body);
        let user = String::from_utf8_lossy(c.nul_str()?).into_owned();
        let n = c.u8()? as usize;
        c.take(n)?;
        let db = String::from_utf8_lossy(c.nul_str().unwrap_or_default()).into_owned();
        // Authenticate the new user against a fresh scramble.
        let token = self.auth_switch()?;
        if !self.authenticate(backend, &user, &info.peer, &token)? {
            return Ok(());
        }
        self.stmts.clear();
        match s.change_user(&user, Some(db.as_str()).filter(|d| !d.is_empty())) {
            Ok(()) => self.ok(&OkInfo::default(), s.status()),
            Err(e) => {
                self.err(&e);
                Ok(())
            }
        }
    }
}

fn unknown_stmt(id: u32, what: &str) -> QueryError {
    QueryError::new(
        error::ER_UNKNOWN_STMT_HANDLER,
        format!("Unknown prepared statement handler ({id}) given to {what}"),
    )
}

/// Whether a parameter of wire type `ty` is text (VARCHAR, VAR_STRING, STRING), which
/// arrives in the client's character set; BLOB types are bytes.
fn is_text_param(ty: u8) -> bool {
    matches!(ty, 15 | 253 | 254)
}

fn decode_params(c: &mut Cursor<'_>, st: &mut Stmt) -> io::Result<Vec<Value>> {
    let n = st.params as usize;
    if n == 0 {
        return Ok(Vec::new());
    }
    let nulls = c.take(n.div_ceil(8))?.to_vec();
    if c.u8()? == 1 {
        st.types = (0..n)
            .map(|_| Ok((c.u8()?, c.u8()? & 0x80 != 0)))
            .collect::<io::Result<_>>()?;
    }
    if st.types.len() != n {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "parameter types were never sent",
        ));
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        if nulls[i / 8] & (1 << (i % 8)) != 0 {
            out.push(Value::Null);
        } else if let Some(data) = st.long_data.get(&(i as u16)) {
            out.push(Value::Bytes(data.clone()));
        } else {
            let (ty, unsigned) = st.types[i];
            out.push(Value::decode_param(c, ty, unsigned)?);
        }
    }
    Ok(out)
}

fn encode_text_row(out: &mut Vec<u8>, columns: &[crate::Column], values: &[Value]) {
    for (v, col) in values.iter().zip(columns) {
        v.put_text(col, out);
    }
}

fn encode_binary_row(out: &mut Vec<u8>, columns: &[crate::Column], values: &[Value]) {
    out.push(0x00);
    let start = out.len();
    out.resize(start + (columns.len() + 7 + 2) / 8, 0);
    for (i, v) in values.iter().enumerate() {
        if v == &Value::Null {
            let bit = i + 2;
            out[start + bit / 8] |= 1 << (bit % 8);
        }
    }
    for (v, col) in values.iter().zip(columns) {
        if v != &Value::Null {
            v.binary(col, out);
        }
    }
}
