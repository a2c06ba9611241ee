#!/usr/bin/env bash
# ReefDB's test command: what CI runs (.ci/run) and what a developer runs on a fresh machine.
# Installs what the suite needs, then runs every crate's unit and integration tests in the
# dev profile (one build, shared by all test binaries).
#
# Long soaks stay out of the default run; raise them by hand, for example
#   REEF_MODEL_CASES=5000 scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo is required (https://rustup.rs); this machine image ships it" >&2
    exit 1
fi

# Real MySQL clients for the protocol and integration tests: the mysql CLI (Debian's
# mariadb-client), PyMySQL and mysql-connector-python.
if ! command -v mysql >/dev/null 2>&1; then
    echo "== installing mariadb-client"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mariadb-client >/dev/null
fi
if ! python3 -c "import pymysql, mysql.connector" >/dev/null 2>&1; then
    echo "== installing PyMySQL and mysql-connector-python"
    python3 -m pip install -q --disable-pip-version-check pymysql mysql-connector-python
fi
# DuckDB generates TPC-H data and answers the reference queries (tests/reef/tpch.rs). The two
# versions must match: newer wheels fetch the extension over the network.
if ! python3 -c "import duckdb, duckdb_extension_tpch; assert duckdb.__version__ == '1.5.5'" \
    >/dev/null 2>&1; then
    echo "== installing DuckDB 1.5.5 with its TPC-H extension"
    python3 -m pip install -q --disable-pip-version-check duckdb==1.5.5 duckdb-extension-tpch==1.5.5
fi

echo "== cargo $(cargo --version | cut -d' ' -f2), $(nproc) cores"
# cargo-nextest (on the machine image) runs each test in its own process and kills one that
# hangs (.config/nextest.toml), so a deadlock fails that test by name instead of stalling
# the whole run. Without it, plain `cargo test` runs under an overall time limit.
# Every binary first: end-to-end tests start `reef` and drive it with `tpcc` (sysbench/tpcc),
# which no test target of its own would build. Binaries and tests in one build: built apart,
# the test targets' dev-dependencies change features of shared crates (DataFusion among
# them) and the test build compiles them all a second time.
cargo build --workspace --bins --tests --locked
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --locked
else
    timeout --signal=KILL 35m cargo test --workspace --locked --no-fail-fast
fi
