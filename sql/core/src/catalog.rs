//! The catalog: databases and table definitions, kept in memory and persisted as rows of the
//! catalog tablet (`CATALOG_TABLET`) through ordinary transactions, so DDL is durable and
//! recovered by the same log replay as user data.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use parking_lot::RwLock;
use reef_common::collation::Collation;
use reef_common::error;
use reef_common::ids::{TabletId, Version};
use reef_common::keycodec::{encode_key, KeyKind};
use reef_common::rowcodec::{decode_row, encode_row, get_varint, put_varint};
use reef_common::types::{ColumnType, PhysicalKind};
use reef_common::value::Value;
use reef_storage::mvcc::ReadCtx;
use reef_storage::schema::RowSchema;
use reef_storage::tablet::{full_range, Tablet};
use reef_txn::txn::Transaction;

use crate::datum::Datum;
use crate::SqlError;

/// The body of the row that records that the first account was created.
const USERS_BOOTSTRAPPED: &[u8] = b"users:bootstrapped";

/// The tablet holding the catalog.
pub const CATALOG_TABLET: TabletId = TabletId(1);
/// The first tablet id given to user tables.
pub const FIRST_USER_TABLET: u64 = 1000;

/// The catalog tablet's rows: one byte-string column.
pub fn catalog_schema() -> RowSchema {
    RowSchema::new(1, vec![PhysicalKind::Bytes])
}

/// One column of a table.
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnDef {
    /// Its name.
    pub name: String,
    /// Its type.
    pub ty: ColumnType,
    /// Whether it accepts NULL.
    pub nullable: bool,
    /// Its default: `None` for no default.
    pub default: Option<Datum>,
    /// AUTO_INCREMENT.
    pub auto_increment: bool,
}

/// Whether an index is complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexState {
    /// Being built: writes maintain it, reads must not use it.
    WriteOnly,
    /// Complete.
    Public,
}

/// A secondary index: its own tablet, colocated with the table.
///
/// A non-unique index's entry is keyed by the indexed columns followed by the row's primary
/// key, and holds no columns. A unique index's entry is keyed by the indexed columns alone
/// and holds the primary key as its one column, so two rows with equal values meet at one
/// key and the transaction layer's unique insert keeps them apart; an entry with a NULL among
/// its values is not unique (MySQL allows any number of them), so it is keyed like a
/// non-unique one.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexDef {
    /// Its name.
    pub name: String,
    /// Its tablet.
    pub id: TabletId,
    /// Indexed columns (slots).
    pub columns: Vec<usize>,
    /// Whether it is complete.
    pub state: IndexState,
    /// UNIQUE.
    pub unique: bool,
}

/// The rows of an index tablet: none for a non-unique index, the primary key for a unique one.
pub fn index_schema(unique: bool) -> RowSchema {
    RowSchema::new(
        1,
        if unique {
            vec![PhysicalKind::Bytes]
        } else {
            Vec::new()
        },
    )
}

/// One index entry of a row.
#[derive(Debug, PartialEq)]
pub struct IndexEntry {
    /// Its key.
    pub key: Vec<u8>,
    /// What it holds.
    pub row: Arc<[u8]>,
    /// Whether no other row may have this key (a unique index's entry without NULLs).
    pub unique: bool,
}

/// The primary key an index entry points at: the end of its key, or for a unique index's
/// entry without NULLs, the column it holds.
pub fn indexed_primary_key(
    entry_key: &[u8],
    entry_row: &[u8],
    kinds: &[KeyKind],
) -> Result<Vec<u8>, String> {
    let at = reef_common::keycodec::key_columns_len(entry_key, kinds).map_err(|e| e.to_string())?;
    if at < entry_key.len() {
        return Ok(entry_key[at..].to_vec());
    }
    match decode_row(entry_row, &[PhysicalKind::Bytes], &[Value::Null])
        .map_err(|e| e.to_string())?
        .pop()
    {
        Some(Value::Bytes(pk)) => Ok(pk),
        _ => Err("a unique index entry without its primary key".into()),
    }
}

/// A table.
#[derive(Clone, Debug, PartialEq)]
pub struct TableDef {
    /// Its tablet.
    pub id: TabletId,
    /// Its database.
    pub db: String,
    /// Its name.
    pub name: String,
    /// Its columns, in slot order.
    pub columns: Vec<ColumnDef>,
    /// Primary key columns (slot indexes); empty: a hidden row id is the key.
    pub pk: Vec<usize>,
    /// Secondary indexes.
    pub indexes: Vec<IndexDef>,
}

impl TableDef {
    /// The tablets holding its rows and its indexes.
    pub fn tablet_ids(&self) -> Vec<TabletId> {
        std::iter::once(self.id)
            .chain(self.indexes.iter().map(|i| i.id))
            .collect()
    }

    /// The indexes readers can see, as `SHOW INDEX` and `information_schema.STATISTICS`
    /// list them: (name, non-unique, column slots), the primary key first, then the unique
    /// keys.
    pub fn visible_indexes(&self) -> Vec<(&str, bool, &[usize])> {
        let mut out: Vec<(&str, bool, &[usize])> = Vec::new();
        if !self.pk.is_empty() {
            out.push(("PRIMARY", false, &self.pk));
        }
        for ix in self
            .indexes
            .iter()
            .filter(|i| i.state == IndexState::Public)
        {
            out.push((&ix.name, !ix.unique, &ix.columns));
        }
        // MySQL lists unique keys before the others, each kind in creation order.
        out.sort_by_key(|&(_, non_unique, _)| non_unique);
        out
    }

    /// `index`'s entry for a row with stored `values` and primary key `pk_key`: the indexed
    /// columns' memcomparable encoding, then (unless the entry is unique) the primary key;
    /// both are prefix-free, so entries sort by indexed values, then by primary key.
    pub fn index_entry(&self, index: &IndexDef, values: &[Value], pk_key: &[u8]) -> IndexEntry {
        let vals: Vec<Value> = index.columns.iter().map(|&i| values[i].clone()).collect();
        let unique = index.unique && !vals.iter().any(|v| matches!(v, Value::Null));
        let mut key =
            encode_key(&vals, &self.index_kinds(index)).expect("stored values fit their columns");
        if !unique {
            key.extend_from_slice(pk_key);
        }
        let row = if index.unique {
            encode_row(1, &[Value::Bytes(pk_key.to_vec())])
        } else {
            encode_row(1, &[])
        };
        IndexEntry {
            key,
            row: row.into(),
            unique,
        }
    }

    /// The key encoding of `index`'s columns (its entries continue with the primary key).
    pub fn index_kinds(&self, index: &IndexDef) -> Vec<KeyKind> {
        index
            .columns
            .iter()
            .map(|&i| KeyKind::of(&self.columns[i].ty))
            .collect()
    }

    /// The engine's view of its rows.
    pub fn row_schema(&self) -> RowSchema {
        RowSchema::new(1, self.columns.iter().map(|c| c.ty.physical()).collect())
    }

    /// The key encoding of its primary key columns.
    pub fn key_kinds(&self) -> Vec<KeyKind> {
        self.pk
            .iter()
            .map(|&i| KeyKind::of(&self.columns[i].ty))
            .collect()
    }

    /// The slot of column `name` (case-insensitive, as MySQL column names are).
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// The AUTO_INCREMENT column, if any.
    pub fn auto_increment(&self) -> Option<usize> {
        self.columns.iter().position(|c| c.auto_increment)
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.push(2);
        put_varint(&mut out, self.id.0);
        put_str(&mut out, &self.db);
        put_str(&mut out, &self.name);
        put_varint(&mut out, self.columns.len() as u64);
        for c in &self.columns {
            put_str(&mut out, &c.name);
            encode_type(&c.ty, &mut out);
            out.push(
                c.nullable as u8 | (c.auto_increment as u8) << 1 | (c.default.is_some() as u8) << 2,
            );
            if let Some(d) = &c.default {
                let v = d.to_stored(&c.ty, &c.name).unwrap_or(Value::Null);
                let row = encode_row(1, &[v]);
                put_varint(&mut out, row.len() as u64);
                out.extend_from_slice(&row);
            }
        }
        put_varint(&mut out, self.pk.len() as u64);
        for &i in &self.pk {
            put_varint(&mut out, i as u64);
        }
        put_varint(&mut out, self.indexes.len() as u64);
        for ix in &self.indexes {
            put_str(&mut out, &ix.name);
            put_varint(&mut out, ix.id.0);
            // Bit 0: public; bit 1: unique.
            out.push(matches!(ix.state, IndexState::Public) as u8 | (ix.unique as u8) << 1);
            put_varint(&mut out, ix.columns.len() as u64);
            for &c in &ix.columns {
                put_varint(&mut out, c as u64);
            }
        }
        out
    }

    fn decode(buf: &[u8]) -> Result<TableDef, String> {
        let mut pos = 1;
        let format = *buf.first().ok_or("empty table definition")?;
        if format != 1 && format != 2 {
            return Err("unknown table definition format".into());
        }
        let v = |pos: &mut usize| get_varint(buf, pos).map_err(|e| e.to_string());
        let id = TabletId(v(&mut pos)?);
        let db = get_str(buf, &mut pos)?;
        let name = get_str(buf, &mut pos)?;
        let n = v(&mut pos)? as usize;
        let mut columns = Vec::with_capacity(n.min(4096));
        for _ in 0..n {
            let cname = get_str(buf, &mut pos)?;
            let ty = decode_type(buf, &mut pos)?;
            let flags = *buf.get(pos).ok_or("truncated")?;
            pos += 1;
            let default = if flags & 4 != 0 {
                let len = v(&mut pos)? as usize;
                let row = buf.get(pos..pos + len).ok_or("truncated")?;
                pos += len;
                let vals =
                    decode_row(row, &[ty.physical()], &[Value::Null]).map_err(|e| e.to_string())?;
                Some(Datum::from_stored(&vals[0], &ty))
            } else {
                None
            };
            columns.push(ColumnDef {
                name: cname,
                ty,
                nullable: flags & 1 != 0,
                default,
                auto_increment: flags & 2 != 0,
            });
        }
        let columns_len = columns.len();
        let npk = v(&mut pos)? as usize;
        let pk = (0..npk)
            .map(|_| v(&mut pos).map(|x| x as usize))
            .collect::<Result<Vec<_>, _>>()?;
        if pk.iter().any(|&i| i >= columns.len()) {
            return Err("primary key names a missing column".into());
        }
        Ok(TableDef {
            id,
            db,
            name,
            columns,
            pk,
            indexes: decode_indexes(buf, &mut pos, format, columns_len)?,
        })
    }
}

/// Reads the index list (format 2 onwards; format 1 had none).
fn decode_indexes(
    buf: &[u8],
    pos: &mut usize,
    format: u8,
    columns: usize,
) -> Result<Vec<IndexDef>, String> {
    if format < 2 {
        return Ok(Vec::new());
    }
    let v = |pos: &mut usize| get_varint(buf, pos).map_err(|e| e.to_string());
    let n = v(pos)? as usize;
    let mut indexes = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        let name = get_str(buf, pos)?;
        let id = TabletId(v(pos)?);
        let flags = *buf.get(*pos).ok_or("truncated")?;
        if flags > 3 {
            return Err(format!("unknown index flags {flags}"));
        }
        let (public, unique) = (flags & 1 != 0, flags & 2 != 0);
        *pos += 1;
        let nc = v(pos)? as usize;
        let cols = (0..nc)
            .map(|_| v(pos).map(|x| x as usize))
            .collect::<Result<Vec<_>, _>>()?;
        if cols.is_empty() || cols.iter().any(|&c| c >= columns) {
            return Err("index names a missing column".into());
        }
        let state = if public {
            IndexState::Public
        } else {
            IndexState::WriteOnly
        };
        indexes.push(IndexDef {
            name,
            id,
            columns: cols,
            state,
            unique,
        });
    }
    Ok(indexes)
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn get_str(buf: &[u8], pos: &mut usize) -> Result<String, String> {
    let n = get_varint(buf, pos).map_err(|e| e.to_string())? as usize;
    let s = buf.get(*pos..*pos + n).ok_or("truncated")?;
    *pos += n;
    String::from_utf8(s.to_vec()).map_err(|e| e.to_string())
}

fn encode_type(ty: &ColumnType, out: &mut Vec<u8>) {
    match *ty {
        ColumnType::Int { bytes, unsigned } => out.extend_from_slice(&[0, bytes, unsigned as u8]),
        // Code 1 was DECIMAL stored as text at every precision (before scaled integers).
        ColumnType::Decimal { precision, scale } => out.extend_from_slice(&[9, precision, scale]),
        ColumnType::Float => out.push(2),
        ColumnType::Double => out.push(3),
        ColumnType::String {
            len_chars,
            fixed,
            collation,
        } => {
            out.extend_from_slice(&[4, fixed as u8, collation.mysql_id() as u8]);
            put_varint(out, len_chars as u64);
        }
        ColumnType::Binary { len_bytes, fixed } => {
            out.extend_from_slice(&[5, fixed as u8]);
            put_varint(out, len_bytes as u64);
        }
        ColumnType::Date => out.push(6),
        ColumnType::DateTime { fsp } => out.extend_from_slice(&[7, fsp]),
        ColumnType::Timestamp { fsp } => out.extend_from_slice(&[8, fsp]),
    }
}

fn decode_type(buf: &[u8], pos: &mut usize) -> Result<ColumnType, String> {
    let b = |pos: &mut usize| -> Result<u8, String> {
        let x = *buf.get(*pos).ok_or("truncated")?;
        *pos += 1;
        Ok(x)
    };
    Ok(match b(pos)? {
        0 => ColumnType::Int {
            bytes: b(pos)?,
            unsigned: b(pos)? != 0,
        },
        9 => ColumnType::Decimal {
            precision: b(pos)?,
            scale: b(pos)?,
        },
        1 => {
            let (precision, scale) = (b(pos)?, b(pos)?);
            if precision <= reef_common::types::DECIMAL_INT_DIGITS_MAX {
                return Err(format!(
                    "DECIMAL({precision},{scale}) column written by an older ReefDB, which \
                     stored it as text; this version stores it as a scaled integer: dump the \
                     table with the older version and load it again"
                ));
            }
            ColumnType::Decimal { precision, scale }
        }
        2 => ColumnType::Float,
        3 => ColumnType::Double,
        4 => {
            let fixed = b(pos)? != 0;
            let collation = match b(pos)? {
                46 => Collation::Utf8mb4Bin,
                63 => Collation::Binary,
                _ => Collation::Utf8mb4GeneralCi,
            };
            let len_chars = get_varint(buf, pos).map_err(|e| e.to_string())? as u32;
            ColumnType::String {
                len_chars,
                fixed,
                collation,
            }
        }
        5 => {
            let fixed = b(pos)? != 0;
            ColumnType::Binary {
                len_bytes: get_varint(buf, pos).map_err(|e| e.to_string())? as u32,
                fixed,
            }
        }
        6 => ColumnType::Date,
        7 => ColumnType::DateTime { fsp: b(pos)? },
        8 => ColumnType::Timestamp { fsp: b(pos)? },
        t => return Err(format!("unknown column type tag {t}")),
    })
}

fn bytes_key(parts: &[&str]) -> Vec<u8> {
    let values: Vec<Value> = parts
        .iter()
        .map(|p| Value::Bytes(p.as_bytes().to_vec()))
        .collect();
    encode_key(&values, &vec![KeyKind::Binary; parts.len()]).expect("byte keys encode")
}

/// A user account: `'name'@'host'` (host: a name, an address, or a LIKE pattern such as
/// `%`) and `SHA1(SHA1(password))` for `mysql_native_password` (`None`: empty password).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserDef {
    /// The user name.
    pub name: String,
    /// The host part.
    pub host: String,
    /// `SHA1(SHA1(password))`, or `None` for an empty password.
    pub stage2: Option<[u8; 20]>,
}

impl UserDef {
    /// What `mysql_native_password` keeps of `password`: `SHA1(SHA1(password))`, or
    /// `None` for the empty password.
    pub fn hash_password(password: &[u8]) -> Option<[u8; 20]> {
        use sha1::{Digest, Sha1};
        (!password.is_empty()).then(|| Sha1::digest(Sha1::digest(password)).into())
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = b"user:".to_vec();
        put_str(&mut out, &self.name);
        put_str(&mut out, &self.host);
        match &self.stage2 {
            Some(h) => {
                out.push(1);
                out.extend_from_slice(h);
            }
            None => out.push(0),
        }
        out
    }

    fn decode(body: &[u8]) -> Result<UserDef, String> {
        let mut pos = 0;
        let name = get_str(body, &mut pos)?;
        let host = get_str(body, &mut pos)?;
        let stage2 = match body.get(pos) {
            Some(0) => None,
            Some(1) => Some(
                body.get(pos + 1..pos + 21)
                    .and_then(|h| h.try_into().ok())
                    .ok_or("truncated password hash")?,
            ),
            _ => return Err("bad user row".into()),
        };
        Ok(UserDef { name, host, stage2 })
    }

    /// Whether the host part admits a client connecting from `peer`.
    pub fn admits(&self, peer: std::net::IpAddr) -> bool {
        let ip = peer.to_string();
        let host = self.host.to_ascii_lowercase();
        (host == "localhost" && peer.is_loopback()) || crate::expr::like(&ip, &host, '\\')
    }

    /// How specific the host part is (MySQL tries the most specific first): a literal
    /// before a pattern, `%` last.
    fn specificity(&self) -> u8 {
        if self.host == "%" {
            0
        } else if self.host.contains(['%', '_']) {
            1
        } else {
            2
        }
    }
}

/// The key of user account rows (and of the row recording that the first account exists).
fn user_key(name: &str, host: &str) -> Vec<u8> {
    bytes_key(&["user", name, &host.to_ascii_lowercase()])
}

#[derive(Default)]
struct State {
    dbs: BTreeSet<String>,
    tables: BTreeMap<(String, String), Arc<TableDef>>,
    next_tablet: u64,
    users: BTreeMap<(String, String), UserDef>,
    /// Per table tablet: AUTO_INCREMENT values below this one may have been handed out.
    autoinc: std::collections::HashMap<u64, u64>,
    /// Whether the first account (root) was ever created: a data directory whose users
    /// were all dropped stays without them.
    users_bootstrapped: bool,
}

/// Databases and tables.
pub struct Catalog {
    tablet: Arc<Tablet>,
    state: RwLock<State>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.state.read();
        write!(
            f,
            "Catalog({} databases, {} tables)",
            s.dbs.len(),
            s.tables.len()
        )
    }
}

impl Catalog {
    /// Loads the catalog from its tablet (after log replay).
    pub fn load(tablet: Arc<Tablet>) -> Result<Catalog, SqlError> {
        let mut st = State {
            next_tablet: FIRST_USER_TABLET,
            ..State::default()
        };
        let schema = catalog_schema();
        for item in tablet.scan(full_range(), ReadCtx::at(Version::MAX))? {
            let (key, row) = item?;
            let vals = decode_row(&row, &schema.kinds, &schema.defaults)
                .map_err(|e| SqlError::internal(e.to_string()))?;
            let Value::Bytes(body) = &vals[0] else {
                return Err(SqlError::internal("catalog row without a body"));
            };
            // Database rows hold `db:<name>`; table rows hold an encoded definition.
            if let Some(name) = body.strip_prefix(b"db:") {
                st.dbs.insert(String::from_utf8_lossy(name).into_owned());
                continue;
            }
            if let Some(rest) = body.strip_prefix(b"autoinc:") {
                let mut pos = 0;
                let mut v =
                    || get_varint(rest, &mut pos).map_err(|e| SqlError::internal(e.to_string()));
                let (id, upto) = (v()?, v()?);
                st.autoinc.insert(id, upto);
                continue;
            }
            if body.as_slice() == USERS_BOOTSTRAPPED {
                st.users_bootstrapped = true;
                continue;
            }
            if let Some(user) = body.strip_prefix(b"user:") {
                let u = UserDef::decode(user)
                    .map_err(|e| SqlError::internal(format!("catalog row {key:?}: {e}")))?;
                st.users
                    .insert((u.name.clone(), u.host.to_ascii_lowercase()), u);
                continue;
            }
            let def = TableDef::decode(body)
                .map_err(|e| SqlError::internal(format!("catalog row {key:?}: {e}")))?;
            st.next_tablet = st.next_tablet.max(def.id.0 + 1);
            for ix in &def.indexes {
                st.next_tablet = st.next_tablet.max(ix.id.0 + 1);
            }
            st.tables
                .insert((def.db.clone(), def.name.clone()), Arc::new(def));
        }
        Ok(Catalog {
            tablet,
            state: RwLock::new(st),
        })
    }

    /// Database names.
    pub fn databases(&self) -> Vec<String> {
        self.state.read().dbs.iter().cloned().collect()
    }

    /// Whether database `db` exists.
    pub fn has_database(&self, db: &str) -> bool {
        self.state.read().dbs.contains(db)
    }

    /// Table names of `db`.
    pub fn tables(&self, db: &str) -> Vec<String> {
        self.state
            .read()
            .tables
            .keys()
            .filter(|(d, _)| d == db)
            .map(|(_, t)| t.clone())
            .collect()
    }

    /// A table's definition.
    pub fn table(&self, db: &str, name: &str) -> Option<Arc<TableDef>> {
        let st = self.state.read();
        st.tables
            .get(&(db.to_string(), name.to_string()))
            .cloned()
            .or_else(|| {
                st.tables
                    .iter()
                    .find(|((d, t), _)| d == db && t.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.clone())
            })
    }

    /// Every table definition.
    pub fn all_tables(&self) -> Vec<Arc<TableDef>> {
        self.state.read().tables.values().cloned().collect()
    }

    /// Records a new database in `txn`; applied to memory by [`Catalog::apply_create_db`].
    pub fn create_database(&self, txn: &mut Transaction, db: &str) -> Result<(), SqlError> {
        if self.has_database(db) {
            return Err(SqlError::new(
                error::ER_DB_CREATE_EXISTS,
                format!("Can't create database '{db}'; database exists"),
            ));
        }
        let row = encode_row(1, &[Value::Bytes(format!("db:{db}").into_bytes())]);
        txn.put(&self.tablet, &bytes_key(&["db", db]), row.into())?;
        Ok(())
    }

    /// Makes a committed CREATE DATABASE visible.
    pub fn apply_create_db(&self, db: &str) {
        self.state.write().dbs.insert(db.to_string());
    }

    /// Records dropping a database and its tables in `txn`; returns the dropped tables.
    pub fn drop_database(
        &self,
        txn: &mut Transaction,
        db: &str,
    ) -> Result<Vec<Arc<TableDef>>, SqlError> {
        if !self.has_database(db) {
            return Err(SqlError::new(
                error::ER_DB_DROP_EXISTS,
                format!("Can't drop database '{db}'; database doesn't exist"),
            ));
        }
        let tables: Vec<Arc<TableDef>> = self
            .all_tables()
            .into_iter()
            .filter(|t| t.db == db)
            .collect();
        for t in &tables {
            txn.delete(&self.tablet, &bytes_key(&["table", db, &t.name]))?;
        }
        txn.delete(&self.tablet, &bytes_key(&["db", db]))?;
        Ok(tables)
    }

    /// Makes a committed DROP DATABASE visible.
    pub fn apply_drop_db(&self, db: &str) {
        let mut st = self.state.write();
        st.dbs.remove(db);
        st.tables.retain(|(d, _), _| d != db);
    }

    /// Never hands out ids below `id` (those of tablets whose data still exists on disk,
    /// such as the tablets of dropped tables and indexes: a new tablet must not pick their
    /// files or log entries up).
    pub fn reserve_tablet_ids_below(&self, id: u64) {
        let mut st = self.state.write();
        st.next_tablet = st.next_tablet.max(id);
    }

    /// Allocates a tablet id for a new table.
    pub fn next_tablet_id(&self) -> TabletId {
        let mut st = self.state.write();
        let id = st.next_tablet;
        st.next_tablet += 1;
        TabletId(id)
    }

    /// Records a new table in `txn`.
    pub fn create_table(&self, txn: &mut Transaction, def: &TableDef) -> Result<(), SqlError> {
        if self.table(&def.db, &def.name).is_some() {
            return Err(SqlError::new(
                error::ER_TABLE_EXISTS_ERROR,
                format!("Table '{}' already exists", def.name),
            ));
        }
        self.update_table(txn, def)
    }

    /// Makes a committed CREATE TABLE visible.
    pub fn apply_create_table(&self, def: TableDef) {
        self.state
            .write()
            .tables
            .insert((def.db.clone(), def.name.clone()), Arc::new(def));
    }

    /// Records the definition of a table in `txn` (new or changed).
    pub fn update_table(&self, txn: &mut Transaction, def: &TableDef) -> Result<(), SqlError> {
        let row = encode_row(1, &[Value::Bytes(def.encode())]);
        txn.put(
            &self.tablet,
            &bytes_key(&["table", &def.db, &def.name]),
            row.into(),
        )?;
        Ok(())
    }

    /// The persisted AUTO_INCREMENT reservation of table tablet `id`: values below it may
    /// have been handed out, so a restart continues from it.
    pub fn autoinc_reserved(&self, id: TabletId) -> Option<u64> {
        self.state.read().autoinc.get(&id.0).copied()
    }

    /// Records in `txn` that AUTO_INCREMENT values of table tablet `id` below `upto` may be
    /// handed out; applied by [`Catalog::apply_autoinc`].
    pub fn reserve_autoinc(
        &self,
        txn: &mut Transaction,
        id: TabletId,
        upto: u64,
    ) -> Result<(), SqlError> {
        let mut body = b"autoinc:".to_vec();
        put_varint(&mut body, id.0);
        put_varint(&mut body, upto);
        let row = encode_row(1, &[Value::Bytes(body)]);
        txn.put(
            &self.tablet,
            &bytes_key(&["autoinc", &id.0.to_string()]),
            row.into(),
        )?;
        Ok(())
    }

    /// Makes a committed reservation visible.
    pub fn apply_autoinc(&self, id: TabletId, upto: u64) {
        self.state.write().autoinc.insert(id.0, upto);
    }

    /// Whether the first account was ever created.
    pub fn users_bootstrapped(&self) -> bool {
        self.state.read().users_bootstrapped
    }

    /// Records the first account, `'root'@'%'` with an empty password, in `txn` (a new
    /// data directory: the playground lets root in without a password, as issue 3 asks).
    pub fn bootstrap_users(&self, txn: &mut Transaction) -> Result<UserDef, SqlError> {
        let root = UserDef {
            name: "root".into(),
            host: "%".into(),
            stage2: None,
        };
        self.put_user(txn, &root)?;
        let row = encode_row(1, &[Value::Bytes(USERS_BOOTSTRAPPED.to_vec())]);
        txn.put(&self.tablet, &bytes_key(&["users"]), row.into())?;
        Ok(root)
    }

    /// Makes a committed bootstrap visible.
    pub fn apply_bootstrap_users(&self, root: UserDef) {
        let mut st = self.state.write();
        st.users_bootstrapped = true;
        st.users
            .insert((root.name.clone(), root.host.to_ascii_lowercase()), root);
    }

    /// The account `'name'@'host'`.
    pub fn user(&self, name: &str, host: &str) -> Option<UserDef> {
        self.state
            .read()
            .users
            .get(&(name.to_string(), host.to_ascii_lowercase()))
            .cloned()
    }

    /// Every account, ordered by name and host.
    pub fn users(&self) -> Vec<UserDef> {
        self.state.read().users.values().cloned().collect()
    }

    /// The account a client named `name` connecting from `peer` logs in as: of the
    /// accounts with that name whose host admits it, the most specific.
    pub fn login(&self, name: &str, peer: std::net::IpAddr) -> Option<UserDef> {
        self.state
            .read()
            .users
            .values()
            .filter(|u| u.name == name && u.admits(peer))
            .max_by_key(|u| u.specificity())
            .cloned()
    }

    /// Records an account (new or changed) in `txn`; applied by [`Catalog::apply_user`].
    pub fn put_user(&self, txn: &mut Transaction, user: &UserDef) -> Result<(), SqlError> {
        let row = encode_row(1, &[Value::Bytes(user.encode())]);
        txn.put(&self.tablet, &user_key(&user.name, &user.host), row.into())?;
        Ok(())
    }

    /// Records dropping an account in `txn`.
    pub fn drop_user(&self, txn: &mut Transaction, name: &str, host: &str) -> Result<(), SqlError> {
        txn.delete(&self.tablet, &user_key(name, host))?;
        Ok(())
    }

    /// Makes a committed account change visible: `Some` puts it, `None` drops
    /// `'name'@'host'`.
    pub fn apply_user(&self, name: &str, host: &str, user: Option<UserDef>) {
        let mut st = self.state.write();
        let key = (name.to_string(), host.to_ascii_lowercase());
        match user {
            Some(u) => st.users.insert(key, u),
            None => st.users.remove(&key),
        };
    }

    /// Records dropping a table in `txn`.
    pub fn drop_table(&self, txn: &mut Transaction, def: &TableDef) -> Result<(), SqlError> {
        txn.delete(&self.tablet, &bytes_key(&["table", &def.db, &def.name]))?;
        Ok(())
    }

    /// Makes a committed DROP TABLE visible.
    pub fn apply_drop_table(&self, def: &TableDef) {
        self.state
            .write()
            .tables
            .remove(&(def.db.clone(), def.name.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_definitions_round_trip() {
        let def = TableDef {
            id: TabletId(1001),
            db: "shop".into(),
            name: "orders".into(),
            columns: vec![
                ColumnDef {
                    name: "id".into(),
                    ty: ColumnType::Int {
                        bytes: 8,
                        unsigned: true,
                    },
                    nullable: false,
                    default: None,
                    auto_increment: true,
                },
                ColumnDef {
                    name: "note".into(),
                    ty: ColumnType::String {
                        len_chars: 20,
                        fixed: false,
                        collation: Collation::Utf8mb4Bin,
                    },
                    nullable: true,
                    default: Some(Datum::str("none")),
                    auto_increment: false,
                },
                ColumnDef {
                    name: "amount".into(),
                    ty: ColumnType::Decimal {
                        precision: 10,
                        scale: 2,
                    },
                    nullable: false,
                    default: None,
                    auto_increment: false,
                },
            ],
            pk: vec![0],
            indexes: vec![IndexDef {
                name: "k_1".into(),
                id: TabletId(1002),
                columns: vec![2],
                state: IndexState::WriteOnly,
                unique: true,
            }],
        };
        let back = TableDef::decode(&def.encode()).unwrap();
        assert_eq!(back.indexes, def.indexes);
        assert_eq!(
            back.columns[1].default,
            Some(Datum::Str(b"none".to_vec(), Collation::Utf8mb4Bin))
        );
        assert_eq!(back.name, "orders");
        assert_eq!(
            back.columns[2].ty,
            ColumnType::Decimal {
                precision: 10,
                scale: 2
            }
        );
        assert_eq!(back.pk, vec![0]);
        assert!(TableDef::decode(&def.encode()[..10]).is_err());
    }
}
