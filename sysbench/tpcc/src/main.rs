//! `tpcc`: a TPC-C driver (TPC-C 5.11) for any MySQL-protocol server, used to measure
//! ReefDB beside MariaDB. It links no ReefDB crate: it sees what any client sees.
//!
//! ```text
//! tpcc --port 2883 load --warehouses 2          # schema and initial population
//! tpcc --port 2883 run --terminals 8 --duration 60 --json out.json --series out.csv
//! tpcc --port 2883 check                        # consistency conditions
//! ```

mod check;
mod gen;
mod load;
mod progress;
mod run;
mod schema;
mod stats;
mod txn;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use mysql::prelude::Queryable;
use mysql::{Conn, OptsBuilder};

#[derive(Parser, Debug)]
#[command(name = "tpcc", about = "TPC-C driver for MySQL-protocol servers")]
struct Cli {
    #[command(flatten)]
    conn: ConnArgs,
    #[command(subcommand)]
    command: Command,
}

/// Where the server is.
#[derive(clap::Args, Debug, Clone)]
pub struct ConnArgs {
    #[arg(long, default_value = "127.0.0.1", global = true)]
    host: String,
    #[arg(long, default_value_t = 3306, global = true)]
    port: u16,
    #[arg(long, default_value = "root", global = true)]
    user: String,
    #[arg(long, default_value = "", global = true)]
    password: String,
    #[arg(long, default_value = "tpcc", global = true)]
    database: String,
}

impl ConnArgs {
    fn opts(&self, database: Option<&str>) -> OptsBuilder {
        OptsBuilder::new()
            .ip_or_hostname(Some(self.host.clone()))
            .tcp_port(self.port)
            .user(Some(self.user.clone()))
            .pass(Some(self.password.clone()))
            .db_name(database)
            .prefer_socket(false)
            .tcp_nodelay(true)
            .stmt_cache_size(64)
    }

    /// A connection to the TPC-C database.
    pub fn connect(&self) -> Result<Conn> {
        Conn::new(self.opts(Some(&self.database)))
            .with_context(|| format!("connecting to {}:{}", self.host, self.port))
    }

    pub fn create_database(&self) -> Result<()> {
        let mut conn = Conn::new(self.opts(None))
            .with_context(|| format!("connecting to {}:{}", self.host, self.port))?;
        conn.query_drop(format!(
            "CREATE DATABASE IF NOT EXISTS `{}`",
            self.database.replace('`', "``")
        ))?;
        Ok(())
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Drop and create the tables and load the initial population.
    Load {
        #[arg(long, default_value_t = 1)]
        warehouses: u32,
        /// Loader connections.
        #[arg(long, default_value_t = 4)]
        threads: usize,
        /// 1,000 items and 30 customers and orders per district instead of 100,000 and
        /// 3,000: every relation and ratio kept, for smoke tests.
        #[arg(long)]
        tiny: bool,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Run the transaction mix and report tpmC and response times.
    Run {
        /// Emulated terminals, one connection each (default: 10 per warehouse, at most 64).
        #[arg(long)]
        terminals: Option<usize>,
        /// Measured seconds.
        #[arg(long, default_value_t = 60)]
        duration: u64,
        /// Seconds run before measuring.
        #[arg(long, default_value_t = 10)]
        warmup: u64,
        /// Keying and think times of the specification (off: as fast as possible).
        #[arg(long)]
        keying: bool,
        #[arg(long, default_value_t = 2)]
        seed: u64,
        /// Seconds between progress lines.
        #[arg(long, default_value_t = 10)]
        report_every: u64,
        /// Write the results as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Write per-second completions and mean response times as CSV here.
        #[arg(long)]
        series: Option<PathBuf>,
        /// Check the consistency conditions after the run.
        #[arg(long)]
        check: bool,
    },
    /// Check the consistency conditions (on a quiet database).
    Check,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match execute(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("tpcc: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Ok(false): the run finished but something failed (errors, a consistency condition).
fn execute(cli: Cli) -> Result<bool> {
    match cli.command {
        Command::Load {
            warehouses,
            threads,
            tiny,
            seed,
        } => {
            anyhow::ensure!(warehouses >= 1, "at least one warehouse");
            let scale = if tiny {
                schema::Scale::TINY
            } else {
                schema::Scale::FULL
            };
            let started = std::time::Instant::now();
            load::load(&cli.conn, warehouses, scale, threads, seed)?;
            println!(
                "loaded {warehouses} warehouse(s) in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            Ok(true)
        }
        Command::Run {
            terminals,
            duration,
            warmup,
            keying,
            seed,
            report_every,
            json,
            series,
            check,
        } => {
            let warehouses = schema::Config::read(&mut cli.conn.connect()?)?.warehouses;
            let terminals = terminals.unwrap_or((10 * warehouses as usize).min(64));
            anyhow::ensure!(
                terminals >= 1 && duration >= 1,
                "terminals and duration ≥ 1"
            );
            let result = run::run(
                &cli.conn,
                run::RunOptions {
                    terminals,
                    warmup: Duration::from_secs(warmup),
                    duration: Duration::from_secs(duration),
                    keying,
                    seed,
                    report_every: Duration::from_secs(report_every.max(1)),
                },
            )?;
            result.print();
            if let Some(path) = json {
                std::fs::write(&path, serde_json::to_string_pretty(&result.to_json())?)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            if let Some(path) = series {
                std::fs::write(&path, result.series_csv())
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            let consistent = !check || check::check(&mut cli.conn.connect()?)?;
            Ok(result.errors() == 0 && consistent)
        }
        Command::Check => check::check(&mut cli.conn.connect()?),
    }
}
