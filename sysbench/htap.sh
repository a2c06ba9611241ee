#!/usr/bin/env bash
# The HTAP run (issue 5): sysbench oltp_read_write alone and with a dashboard loop,
# alternated, against a fresh `reef start` (release profile, no LTO). See sysbench/htap.py.
#
#   sysbench/htap.sh [--no-build] [htap.py options: --rounds 5 --time 20 --threads 4 ...]
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=1
if [ "${1:-}" = "--no-build" ]; then BUILD=0; shift; fi
if ! command -v sysbench >/dev/null 2>&1; then
    echo "== installing sysbench"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq sysbench >/dev/null
fi
python3 -c "import pymysql" 2>/dev/null || python3 -m pip install -q pymysql
if [ "$BUILD" = 1 ]; then
    echo "== building ReefDB (release profile, no LTO)"
    cargo build --release --locked --workspace --bins -q
fi

WORK=$(mktemp -d)
cleanup() {
    [ -n "${REEF_PID:-}" ] && kill "$REEF_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
. sysbench/reef.sh
start_reef "$WORK/reef"
echo "== ReefDB $(git describe --always --dirty), $(nproc) cores, $(date -u +%Y-%m-%d)"
python3 sysbench/htap.py --port "$REEF_PORT" "$@"
