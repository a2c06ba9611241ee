#!/usr/bin/env bash
# Runs the .slt files against a throwaway MariaDB (own datadir, port and socket under a temp
# dir, utf8mb4_general_ci as ReefDB defaults to), to check that their expected answers are
# MySQL's before ReefDB is held to them.
#
#   tests/slt/mariadb.sh                 # every file
#   tests/slt/mariadb.sh tests/slt/x.slt # some
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v mariadbd >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mariadb-server mariadb-client >/dev/null
fi
python3 -c "import pymysql" 2>/dev/null || python3 -m pip install -q pymysql
WORK=$(mktemp -d)
trap 'kill "$PID" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mariadb-install-db --no-defaults --datadir="$WORK/data" --auth-root-authentication-method=normal --user="$(id -un)" >/dev/null 2>&1
mariadbd --no-defaults --datadir="$WORK/data" --port="$PORT" --socket="$WORK/sock" \
    --bind-address=127.0.0.1 --user="$(id -un)" --skip-log-bin \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci >"$WORK/log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do mysql -h127.0.0.1 -P"$PORT" -uroot -e "select 1" >/dev/null 2>&1 && break; sleep 0.2; done
if [ $# -eq 0 ]; then set -- tests/slt/*.slt; fi
python3 tests/slt/run.py --port "$PORT" "$@"
