#!/usr/bin/env bash
# Side-by-side sysbench: ReefDB (`reef start`, one zone, one replica per log stream) and a
# throwaway MariaDB (own datadir, port and socket under a temp dir; durable:
# innodb_flush_log_at_trx_commit=1, binary log off), same data size, threads and duration,
# workloads alternated so machine drift hits both. Writes the table to docs/benchmarks.md
# between the sysbench markers, and prints it.
#
#   sysbench/run.sh                                  # short default run
#   sysbench/run.sh --time 60 --threads 16 --table-size 1000000 --rounds 3
set -euo pipefail
cd "$(dirname "$0")/.."

TIME=15
THREADS=4
TABLE_SIZE=100000
ROUNDS=1
PS_MODE=auto
WORKLOADS="oltp_point_select oltp_read_only oltp_read_write oltp_write_only oltp_insert"
while [ $# -gt 0 ]; do
    case "$1" in
        --time) TIME=$2; shift 2 ;;
        --threads) THREADS=$2; shift 2 ;;
        --table-size) TABLE_SIZE=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --workloads) WORKLOADS=$2; shift 2 ;;
        --ps-mode) PS_MODE=$2; shift 2 ;;  # auto (prepared statements) or disable (text protocol)
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

need() { command -v "$1" >/dev/null 2>&1; }
if ! need sysbench || ! need mariadbd || ! need mysql; then
    echo "== installing sysbench, mariadb-server, mariadb-client"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq sysbench mariadb-server mariadb-client >/dev/null
fi

echo "== building ReefDB (release profile, no LTO)"
cargo build --release --locked -q

WORK=$(mktemp -d)
cleanup() {
    [ -n "${REEF_PID:-}" ] && kill "$REEF_PID" 2>/dev/null || true
    [ -n "${MARIA_PID:-}" ] && kill "$MARIA_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "== starting ReefDB"
./target/release/reef start --data-dir "$WORK/reef" --port 0 >"$WORK/reef.out" 2>"$WORK/reef.log" &
REEF_PID=$!
for _ in $(seq 1 100); do grep -q '"event":"ready"' "$WORK/reef.out" 2>/dev/null && break; sleep 0.2; done
REEF_PORT=$(sed -n 's/.*"mysql":"[^"]*:\([0-9]*\)".*/\1/p' "$WORK/reef.out")
[ -n "$REEF_PORT" ] || { echo "ReefDB did not start"; cat "$WORK/reef.log"; exit 1; }

echo "== starting a throwaway MariaDB"
MARIA_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mariadb-install-db --no-defaults --datadir="$WORK/maria" --auth-root-authentication-method=normal --user="$(id -un)" >/dev/null 2>&1
mariadbd --no-defaults --datadir="$WORK/maria" --port="$MARIA_PORT" --socket="$WORK/maria.sock" \
    --bind-address=127.0.0.1 --user="$(id -un)" --skip-log-bin --innodb-flush-log-at-trx-commit=1 \
    --innodb-buffer-pool-size=1G --max-connections=1000 --skip-name-resolve >"$WORK/maria.log" 2>&1 &
MARIA_PID=$!
for _ in $(seq 1 100); do mysql -h127.0.0.1 -P"$MARIA_PORT" -uroot -e "select 1" >/dev/null 2>&1 && break; sleep 0.2; done

for port in "$REEF_PORT" "$MARIA_PORT"; do
    mysql -h127.0.0.1 -P"$port" -uroot -e "CREATE DATABASE IF NOT EXISTS sbtest"
done

common() { echo "--mysql-host=127.0.0.1 --mysql-port=$1 --mysql-user=root --mysql-db=sbtest --tables=1 --table-size=$TABLE_SIZE --db-ps-mode=$PS_MODE"; }

echo "== preparing $TABLE_SIZE rows on both"
for port in "$REEF_PORT" "$MARIA_PORT"; do
    sysbench oltp_common $(common "$port") prepare >/dev/null
done

declare -A TPS QPS P95
run() { # system port workload
    local out
    out=$(sysbench "$3" $(common "$2") --threads="$THREADS" --time="$TIME" --report-interval=0 run 2>&1) || { echo "$out" | tail -5; return 1; }
    local tps qps p95
    local errs
    errs=$(echo "$out" | sed -n 's/.*ignored errors: *\([0-9]*\).*/\1/p')
    [ "${errs:-0}" = 0 ] || echo "   ($1 $3: $errs retryable errors ignored by sysbench)"
    tps=$(echo "$out" | sed -n 's/.*transactions: *[0-9]* *(\([0-9.]*\) per sec.*/\1/p')
    qps=$(echo "$out" | sed -n 's/.*queries: *[0-9]* *(\([0-9.]*\) per sec.*/\1/p')
    p95=$(echo "$out" | sed -n 's/.*95th percentile: *\([0-9.]*\).*/\1/p')
    TPS[$1,$3]="${TPS[$1,$3]:-} $tps"; QPS[$1,$3]="${QPS[$1,$3]:-} $qps"; P95[$1,$3]="${P95[$1,$3]:-} $p95"
    echo "   $1 $3: $tps tps, $qps qps, p95 $p95 ms"
}
for round in $(seq 1 "$ROUNDS"); do
    for w in $WORKLOADS; do
        echo "== round $round: $w"
        run ReefDB "$REEF_PORT" "$w"
        run MariaDB "$MARIA_PORT" "$w"
    done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
REEF_V=$(./target/release/reef --version)
MARIA_V=$(mariadbd --version | head -1)
SB_V=$(sysbench --version)
{
    echo "Run: \`sysbench/run.sh --time $TIME --threads $THREADS --table-size $TABLE_SIZE --rounds $ROUNDS --ps-mode $PS_MODE\` on $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -r)."
    echo "$REEF_V (one zone, one replica per log stream, fsync per commit group); $MARIA_V (innodb_flush_log_at_trx_commit=1, binary log off, 1 GiB buffer pool); $SB_V; client and servers on the same machine. Medians over rounds."
    echo
    echo "| workload | ReefDB tps | MariaDB tps | ReefDB / MariaDB | ReefDB qps | MariaDB qps | ReefDB p95 ms | MariaDB p95 ms |"
    echo "|---|---|---|---|---|---|---|---|"
    for w in $WORKLOADS; do
        rt=$(echo "${TPS[ReefDB,$w]}" | median); mt=$(echo "${TPS[MariaDB,$w]}" | median)
        rq=$(echo "${QPS[ReefDB,$w]}" | median); mq=$(echo "${QPS[MariaDB,$w]}" | median)
        rp=$(echo "${P95[ReefDB,$w]}" | median); mp=$(echo "${P95[MariaDB,$w]}" | median)
        ratio=$(awk -v a="$rt" -v b="$mt" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
        echo "| $w | $rt | $mt | $ratio | $rq | $mq | $rp | $mp |"
    done
} >"$WORK/table.md"
cat "$WORK/table.md"

python3 - "$WORK/table.md" <<'PY'
import sys, re
table = open(sys.argv[1]).read().strip()
path = "docs/benchmarks.md"
doc = open(path).read()
begin, end = "<!-- sysbench:begin -->", "<!-- sysbench:end -->"
block = f"{begin}\n{table}\n{end}"
if begin in doc:
    doc = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda m: block, doc, flags=re.S)
else:
    doc += f"\n## sysbench, side by side with MariaDB\n\n{block}\n"
open(path, "w").write(doc)
print(f"== wrote the table to {path}")
PY
