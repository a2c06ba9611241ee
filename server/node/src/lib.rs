//! `reef-server`: the server role. A [`Node`] owns a data directory: the catalog tablet and
//! the user tablets, the log segment store and the log stream on it, the transaction
//! manager, background compaction, and the SQL engine; [`ReefBackend`] serves it over the
//! MySQL protocol.
//!
//! Today a node hosts one log stream ([`logstream::LogStream`], a Raft group on openraft)
//! with one replica, holding every tablet.
//!
//! Data directory layout: `log/` (segments and votes), `tablets/<id>/` (one per tablet; id 1
//! is the catalog).

mod backend;
pub mod logstream;

pub use backend::{ReefBackend, ReefSession};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use logstream::{LogStream, LogStreamOptions};
use parking_lot::RwLock;
use reef_common::ids::{TabletId, Version};
use reef_olap::OlapEngine;
pub use reef_olap::{OlapOptions, OlapPriority};
use reef_sql::catalog::{catalog_schema, index_schema, Catalog, CATALOG_TABLET};
use reef_sql::{SqlEngine, SqlError, TabletSource};
use reef_storage::cache::Cache;
use reef_storage::fs::{FileSystem, RealFs};
use reef_storage::logstore::LogStore;
use reef_storage::tablet::{BackgroundCompactor, Tablet, TabletOptions};
use reef_txn::ts::{LocalTimestamps, TimestampSource};
use reef_txn::txn::TxnManager;

/// The version string clients see: MySQL 8.0 so drivers pick MySQL 8 behaviour.
pub const SERVER_VERSION: &str = concat!("8.0.36-ReefDB-", env!("CARGO_PKG_VERSION"));

/// Why a node could not open.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The storage layer failed (I/O, corruption).
    #[error(transparent)]
    Storage(#[from] reef_storage::StorageError),
    /// The transaction layer failed during recovery.
    #[error(transparent)]
    Txn(#[from] reef_txn::TxnError),
    /// The catalog could not be loaded.
    #[error("catalog: {0}")]
    Catalog(#[from] SqlError),
    /// A thread pool could not start.
    #[error("starting threads: {0}")]
    Io(#[from] std::io::Error),
    /// Another process has the data directory open.
    #[error("data directory {0} is in use by another reef process (it holds {0}/LOCK)")]
    DataDirInUse(String),
}

/// What a node is configured with.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The data directory.
    pub data_dir: PathBuf,
    /// Budget of the row and block caches.
    pub cache_bytes: usize,
    /// The OLAP path's threads and per-query memory.
    pub olap: OlapOptions,
    /// Log segment size and how log streams checkpoint.
    pub log: LogOptions,
}

/// The log's configuration.
#[derive(Debug, Clone, Copy)]
pub struct LogOptions {
    /// A log segment file is closed past this size (and deleted once purged).
    pub segment_bytes: u64,
    /// How log streams checkpoint.
    pub stream: LogStreamOptions,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            segment_bytes: reef_common::limits::LOG_SEGMENT_BYTES_TARGET,
            stream: LogStreamOptions::default(),
        }
    }
}

/// This node's id in its log streams' memberships (one node per cluster for now).
const NODE_ID: logstream::NodeId = 1;
/// The log segment store group of the node's one log stream.
const LOG_STREAM_GROUP: u64 = 1;

struct Tablets {
    dir: PathBuf,
    fs: Arc<dyn FileSystem>,
    cache: Arc<Cache>,
    /// The column cache of analytical scans, if configured.
    columns: Option<Arc<Cache>>,
    open: RwLock<HashMap<TabletId, Arc<Tablet>>>,
    log: RwLock<Option<Arc<LogStream>>>,
    compactor: BackgroundCompactor,
}

impl Tablets {
    fn open_tablet(
        &self,
        id: TabletId,
        schema: reef_storage::schema::RowSchema,
    ) -> Result<Arc<Tablet>, reef_storage::StorageError> {
        let mut opts = TabletOptions::new(self.fs.clone(), self.cache.clone());
        opts.column_cache = self.columns.clone();
        let t = Tablet::open(id, &self.dir.join(id.0.to_string()), schema, opts)?;
        self.compactor.register(&t);
        self.open.write().insert(id, t.clone());
        Ok(t)
    }
}

/// `<data dir>/tablets/ID_HIGH_WATER`: the highest tablet id ever handed out, kept durable
/// before any tablet directory is deleted, so ids (and the log entries that name them) are
/// never reused.
const ID_HIGH_WATER: &str = "ID_HIGH_WATER";

impl Tablets {
    /// Tablet directories under the tablets directory: (id, path).
    fn dirs_on_disk(&self) -> Result<Vec<(u64, PathBuf)>, NodeError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(reef_storage::StorageError::io(&self.dir, e).into()),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| reef_storage::StorageError::io(&self.dir, e))?;
            if let Some(id) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u64>().ok())
            {
                out.push((id, entry.path()));
            }
        }
        Ok(out)
    }

    /// The recorded id high-water mark (0 if none).
    fn recorded_high_water(&self) -> Result<u64, NodeError> {
        let path = self.dir.join(ID_HIGH_WATER);
        match std::fs::read_to_string(&path) {
            Ok(text) => text.trim().parse().map_err(|_| {
                NodeError::Storage(reef_storage::StorageError::Corrupt {
                    path: path.clone(),
                    offset: 0,
                    what: format!("not a tablet id: {text:?}"),
                })
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(reef_storage::StorageError::io(&path, e).into()),
        }
    }

    /// Makes `id` the durable high-water mark (write new, fsync, rename, fsync directory).
    fn record_high_water(&self, id: u64) -> Result<(), NodeError> {
        let tmp = self.dir.join(format!("{ID_HIGH_WATER}.tmp"));
        let io = |e| reef_storage::StorageError::io(&self.dir, e);
        let f = self.fs.create(&tmp).map_err(io)?;
        f.write_all(format!("{id}\n").as_bytes()).map_err(io)?;
        f.sync().map_err(io)?;
        self.fs
            .rename(&tmp, &self.dir.join(ID_HIGH_WATER))
            .map_err(io)?;
        self.fs.sync_dir(&self.dir).map_err(io)?;
        Ok(())
    }

    /// Deletes the directories of tablets no table names (dropped, truncated or rebuilt
    /// tables' and indexes', and those of DDL that never committed), after recording the
    /// highest id so none is handed out again. Returns that id.
    fn remove_unnamed(&self, named: &std::collections::HashSet<u64>) -> Result<u64, NodeError> {
        let dirs = self.dirs_on_disk()?;
        let high = dirs
            .iter()
            .map(|(id, _)| *id)
            .max()
            .unwrap_or(0)
            .max(self.recorded_high_water()?);
        let doomed: Vec<&(u64, PathBuf)> =
            dirs.iter().filter(|(id, _)| !named.contains(id)).collect();
        if doomed.is_empty() {
            return Ok(high);
        }
        self.record_high_water(high)?;
        for (id, path) in doomed {
            std::fs::remove_dir_all(path).map_err(|e| reef_storage::StorageError::io(path, e))?;
            tracing::info!(tablet = id, "removed the files of a tablet no table uses");
        }
        Ok(high)
    }
}

impl TabletSource for Tablets {
    fn tablet(&self, id: TabletId) -> Option<Arc<Tablet>> {
        self.open.read().get(&id).cloned()
    }

    fn all_tablets(&self) -> Vec<Arc<Tablet>> {
        self.open.read().values().cloned().collect()
    }

    fn create_tablet(
        &self,
        id: TabletId,
        schema: reef_storage::schema::RowSchema,
    ) -> Result<Arc<Tablet>, SqlError> {
        let t = self.open_tablet(id, schema)?;
        if let Some(log) = self.log.read().as_ref() {
            log.register_new(t.clone());
        }
        Ok(t)
    }

    fn retire_tablets(&self, ids: &[TabletId]) {
        if ids.is_empty() {
            return;
        }
        {
            let mut open = self.open.write();
            for id in ids {
                open.remove(id);
            }
        }
        if let Some(log) = self.log.read().as_ref() {
            log.retire(ids);
        }
        tracing::info!(tablets = ?ids, "retired tablets no table uses");
    }
}

/// A running server node.
pub struct Node {
    /// The SQL engine sessions run on.
    pub engine: Arc<SqlEngine>,
    log: Arc<LogStream>,
    tablets: Arc<Tablets>,
    dir: PathBuf,
    /// `<data dir>/LOCK`, locked exclusively while the node is open: two processes on one
    /// data directory would interleave their logs and files.
    _dir_lock: std::fs::File,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Node({})", self.dir.display())
    }
}

impl Node {
    /// Opens (or creates) the node in `cfg.data_dir`, recovering from its log: first the
    /// catalog, then every table the catalog names.
    pub fn open(cfg: &NodeConfig) -> Result<Arc<Node>, NodeError> {
        std::fs::create_dir_all(&cfg.data_dir)?;
        let dir_lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(cfg.data_dir.join("LOCK"))?;
        if let Err(e) = dir_lock.try_lock() {
            return Err(match e {
                std::fs::TryLockError::WouldBlock => {
                    NodeError::DataDirInUse(cfg.data_dir.display().to_string())
                }
                std::fs::TryLockError::Error(e) => e.into(),
            });
        }
        let fs: Arc<dyn FileSystem> = Arc::new(RealFs);
        let tablets = Arc::new(Tablets {
            dir: cfg.data_dir.join("tablets"),
            fs: fs.clone(),
            cache: Cache::new(cfg.cache_bytes),
            columns: (cfg.olap.column_cache_bytes > 0)
                .then(|| Cache::new(cfg.olap.column_cache_bytes)),
            open: RwLock::new(HashMap::new()),
            log: RwLock::new(None),
            compactor: BackgroundCompactor::spawn(Duration::from_millis(500)),
        });
        let catalog_tablet = tablets.open_tablet(CATALOG_TABLET, catalog_schema())?;
        let store = Arc::new(LogStore::open_with(
            fs,
            &cfg.data_dir.join("log"),
            cfg.log.segment_bytes,
        )?);
        let ts = Arc::new(LocalTimestamps::new(Version::ZERO));
        let raft_runtime = Arc::new(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("reef-raft")
                .enable_time()
                .build()?,
        );
        let log = Arc::new(LogStream::recover(
            store,
            LOG_STREAM_GROUP,
            NODE_ID,
            vec![catalog_tablet.clone()],
            ts.clone(),
            raft_runtime,
            cfg.log.stream,
        )?);
        let catalog = Catalog::load(catalog_tablet)?;
        // Tablets the catalog no longer names (dropped tables and indexes, old tablets of
        // TRUNCATE and ALTER, DDL that never committed) lose their files now; their ids,
        // which log entries may still name, are never handed out again.
        let named: std::collections::HashSet<u64> = std::iter::once(CATALOG_TABLET.0)
            .chain(
                catalog
                    .all_tables()
                    .iter()
                    .flat_map(|d| d.tablet_ids())
                    .map(|id| id.0),
            )
            .collect();
        catalog.reserve_tablet_ids_below(tablets.remove_unnamed(&named)? + 1);
        let mut user = Vec::new();
        for def in catalog.all_tables() {
            user.push(tablets.open_tablet(def.id, def.row_schema())?);
            for ix in &def.indexes {
                user.push(tablets.open_tablet(ix.id, index_schema(ix.unique))?);
            }
        }
        log.add_tablets(user)?;
        *tablets.log.write() = Some(log.clone());
        let weak_tablets = Arc::downgrade(&tablets);
        log.start(Arc::new(move || {
            if let Some(t) = weak_tablets.upgrade() {
                t.compactor.wake();
            }
        }))?;
        let txns = TxnManager::new(ts as Arc<dyn TimestampSource>, log.clone());
        let weak = Arc::downgrade(&txns);
        tablets.compactor.set_horizon_source(Arc::new(move || {
            weak.upgrade().map_or(Version::ZERO, |t| t.gc_horizon())
        }));
        if !catalog.users_bootstrapped() {
            let mut t = txns.begin(reef_txn::txn::TxnOptions::default());
            t.begin_statement()?;
            let root = catalog.bootstrap_users(&mut t)?;
            t.commit()?;
            catalog.apply_bootstrap_users(root);
            tracing::info!("created the first account, 'root'@'%' without a password");
        }
        let engine = SqlEngine::new(catalog, tablets.clone(), txns, SERVER_VERSION.to_string());
        engine.set_query_engine(OlapEngine::new(cfg.olap)?);
        tracing::info!(data_dir = %cfg.data_dir.display(), tables = engine.catalog.all_tables().len(), "node open");
        Ok(Arc::new(Node {
            engine,
            log,
            tablets,
            dir: cfg.data_dir.clone(),
            _dir_lock: dir_lock,
        }))
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// Dumps MemTables and trims the log (for a clean stop; a crash is recovered from the
    /// log instead).
    pub fn checkpoint(&self) -> Result<(), NodeError> {
        let open: Vec<Arc<Tablet>> = self.tablets.open.read().values().cloned().collect();
        for t in open {
            t.freeze();
            while t.dump_frozen()? {}
        }
        self.log.purge_now(Duration::from_secs(5))?;
        Ok(())
    }

    /// The node's log stream.
    pub fn log_stream(&self) -> &Arc<LogStream> {
        &self.log
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.log.shutdown();
    }
}
