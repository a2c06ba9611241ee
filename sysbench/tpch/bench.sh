#!/usr/bin/env bash
# TPC-H side by side: ReefDB (`reef start`, release profile without LTO, after
# `ALTER SYSTEM MAJOR FREEZE`, so every table is one baseline SSTable), DataFusion on
# Parquet exports of the same data, DuckDB on its own storage, and a throwaway MariaDB (own datadir, port and socket
# under a temp dir). Checks ReefDB's answers against DuckDB's, times the 22 queries (median
# of --repeat runs; MariaDB once, under --timeout), and prints one Markdown table.
#
#   sysbench/tpch/bench.sh                        # scale factor 1
#   sysbench/tpch/bench.sh --sf 0.1 --repeat 3 --timeout 120
#   sysbench/tpch/bench.sh --without-mariadb     # MariaDB takes minutes per query at sf 1
#
# Data is generated once per scale factor under $TMPDIR/reef-tpch (tpch.py --cache).
set -euo pipefail
cd "$(dirname "$0")/../.."

SF=1
REPEAT=5
TIMEOUT=300
MARIA=1
while [ $# -gt 0 ]; do
    case "$1" in
        --sf) SF=$2; shift 2 ;;
        --repeat) REPEAT=$2; shift 2 ;;
        --timeout) TIMEOUT=$2; shift 2 ;;
        --without-mariadb) MARIA=0; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

need() { command -v "$1" >/dev/null 2>&1; }
if ! need mariadbd || ! need mysql; then
    echo "== installing mariadb-server, mariadb-client"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mariadb-server mariadb-client >/dev/null
fi
if ! python3 -c "import pymysql, datafusion, duckdb_extension_tpch; import duckdb; assert duckdb.__version__ == '1.5.5'" 2>/dev/null; then
    echo "== installing PyMySQL, DataFusion, DuckDB 1.5.5 with its TPC-H extension"
    python3 -m pip install -q --disable-pip-version-check pymysql datafusion \
        duckdb==1.5.5 duckdb-extension-tpch==1.5.5
fi
# The timed runs read results through mysqlclient (the MariaDB C library) rather than
# PyMySQL, whose decoding in Python would dominate queries that return many rows.
if ! python3 -c "import MySQLdb" 2>/dev/null; then
    echo "== installing mysqlclient (Debian's libmariadb-dev to build it)"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    if ! pkg-config --exists libmariadb 2>/dev/null; then
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libmariadb-dev pkg-config gcc >/dev/null
    fi
    python3 -m pip install -q --disable-pip-version-check mysqlclient
fi

echo "== building ReefDB (release profile, no LTO)"
cargo build --release --locked --workspace --bins -q

WORK=$(mktemp -d)
REEF_PID="" MARIA_PID=""
cleanup() {
    [ -n "$REEF_PID" ] && kill "$REEF_PID" 2>/dev/null || true
    [ -n "$MARIA_PID" ] && kill "$MARIA_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"; }

MARIA_PORT=$(free_port)
. sysbench/reef.sh
start_reef "$WORK/reef"
if [ "$MARIA" = 1 ]; then
    mariadb-install-db --no-defaults --datadir="$WORK/maria" --auth-root-authentication-method=normal \
        --user="$(id -un)" >/dev/null
    mariadbd --no-defaults --datadir="$WORK/maria" --port="$MARIA_PORT" --socket="$WORK/maria.sock" \
        --bind-address=127.0.0.1 --user="$(id -un)" --skip-log-bin --innodb-flush-log-at-trx-commit=1 \
        --innodb-buffer-pool-size=4G --skip-name-resolve >"$WORK/maria.log" 2>&1 &
    MARIA_PID=$!
    for _ in $(seq 120); do
        mysql -h127.0.0.1 -P"$MARIA_PORT" -uroot -e "SELECT 1" >/dev/null 2>&1 && break
        sleep 0.5
    done
fi

TPCH=(python3 sysbench/tpch/tpch.py --sf "$SF")
echo "== loading sf $SF into ReefDB and MariaDB"
"${TPCH[@]}" load --port "$REEF_PORT"
[ "$MARIA" = 1 ] && "${TPCH[@]}" load --port "$MARIA_PORT"
echo "== ALTER SYSTEM MAJOR FREEZE on ReefDB"
time mysql -h127.0.0.1 -P"$REEF_PORT" -uroot -e "ALTER SYSTEM MAJOR FREEZE"
echo "== checking ReefDB's answers against DuckDB's"
"${TPCH[@]}" check --port "$REEF_PORT"

echo "== timing (median of $REPEAT; MariaDB once, at most ${TIMEOUT}s a query)"
"${TPCH[@]}" run --port "$REEF_PORT" --label ReefDB --repeat "$REPEAT" --timeout "$TIMEOUT" --json "$WORK/reef.json"
"${TPCH[@]}" run --engine datafusion --label "DataFusion on Parquet" --repeat "$REPEAT" --json "$WORK/datafusion.json"
"${TPCH[@]}" run --engine duckdb --label DuckDB --repeat "$REPEAT" --json "$WORK/duckdb.json"
[ "$MARIA" = 1 ] && "${TPCH[@]}" run --port "$MARIA_PORT" --label "MariaDB $(mariadbd --version | awk '{print $3}')" \
    --repeat 1 --timeout "$TIMEOUT" --json "$WORK/maria.json"

echo
echo "TPC-H sf $SF, $(nproc) cores, $(date -u +%Y-%m-%d), seconds:"
RUNS=("$WORK/reef.json" "$WORK/datafusion.json" "$WORK/duckdb.json")
[ "$MARIA" = 1 ] && RUNS+=("$WORK/maria.json")
"${TPCH[@]}" report "${RUNS[@]}"
