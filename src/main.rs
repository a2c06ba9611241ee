//! The `reef` command: `reef start` runs the playground cluster in one process (one zone, one
//! replica per log stream), serving MySQL clients.

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use reef_server::{Node, NodeConfig, OlapOptions, OlapPriority, ReefBackend};

/// Each statement allocates rows, datums and packets on many connection threads at once;
/// glibc's allocator spent a third of a range-scan profile in malloc and free, mimalloc's
/// thread-local free lists do not.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "reef",
    version,
    about = "ReefDB: a distributed HTAP SQL database for MySQL clients"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start the playground cluster on this machine (data survives restarts).
    Start {
        /// Where data lives.
        #[arg(long, default_value = "reef-data")]
        data_dir: PathBuf,
        /// Address MySQL clients connect to.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// Port MySQL clients connect to (0 picks a free one).
        #[arg(long, default_value_t = 2883)]
        port: u16,
        /// Memory for the row and block caches, in MiB.
        #[arg(long, default_value_t = 256)]
        cache_mib: usize,
        /// Most concurrent client connections.
        #[arg(long, default_value_t = 512)]
        max_connections: usize,
        /// Threads that run analytical queries (joins, subqueries, UNION), apart from the
        /// connection threads.
        #[arg(long, default_value_t = 2)]
        olap_threads: usize,
        /// Memory one analytical query may use for hash tables and sorts, in MiB; past it
        /// the query fails with error 1041.
        #[arg(long, default_value_t = 1024)]
        olap_query_mib: usize,
        /// Memory for the column cache of analytical scans (decoded columns of SSTable
        /// microblocks, apart from the row and block caches), in MiB; 0 turns it off.
        #[arg(long, default_value_t = 1024)]
        olap_cache_mib: usize,
        /// Scheduling of the analytical threads against the transaction threads: `idle`
        /// (they run on CPU time nothing else wants), `low` (niceness 19) or `normal`.
        #[arg(long, value_enum, default_value_t = Priority::Idle)]
        olap_priority: Priority,
    },
}

/// `--olap-priority`'s values.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Priority {
    Idle,
    Low,
    Normal,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("REEF_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Start {
            data_dir,
            host,
            port,
            cache_mib,
            max_connections,
            olap_threads,
            olap_query_mib,
            olap_cache_mib,
            olap_priority,
        } => start(
            data_dir,
            &host,
            port,
            cache_mib,
            max_connections,
            OlapOptions {
                threads: olap_threads,
                query_memory_bytes: olap_query_mib << 20,
                column_cache_bytes: olap_cache_mib << 20,
                priority: match olap_priority {
                    Priority::Idle => OlapPriority::Idle,
                    Priority::Low => OlapPriority::Low,
                    Priority::Normal => OlapPriority::Normal,
                },
            },
        ),
    }
}

fn start(
    data_dir: PathBuf,
    host: &str,
    port: u16,
    cache_mib: usize,
    max_connections: usize,
    olap: OlapOptions,
) -> anyhow::Result<()> {
    let node = Node::open(&NodeConfig {
        data_dir: data_dir.clone(),
        cache_bytes: cache_mib << 20,
        olap,
        log: Default::default(),
    })
    .with_context(|| format!("opening the data directory {}", data_dir.display()))?;
    let listener =
        TcpListener::bind((host, port)).with_context(|| format!("binding {host}:{port}"))?;
    let opts = reef_mysql::ServerOptions { max_connections };
    let server = reef_mysql::start(listener, Arc::new(ReefBackend::new(node.clone())), opts)?;
    node.engine
        .processes
        .set_connection_killer(Box::new(server.connection_killer()));
    let addr = server.local_addr();
    let (tx, rx) = std::sync::mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = tx.send(());
    })?;
    // One machine-readable line: tests and scripts wait for it and read the bound address.
    println!(
        "{{\"event\":\"ready\",\"mysql\":\"{addr}\",\"data_dir\":\"{}\",\"connect\":\"mysql -h{} -P{} -uroot\"}}",
        data_dir.display(),
        addr.ip(),
        addr.port()
    );
    std::io::stdout().flush()?;
    let _ = rx.recv();
    tracing::info!("stopping");
    server.shutdown();
    node.engine
        .settle_counters()
        .context("saving AUTO_INCREMENT counters")?;
    node.checkpoint()
        .context("writing MemTables out before stopping")?;
    println!("{{\"event\":\"stopped\"}}");
    Ok(())
}
