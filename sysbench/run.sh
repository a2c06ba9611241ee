#!/usr/bin/env bash
# Side-by-side sysbench and TPC-C: ReefDB (`reef start`, one zone, one replica per log stream) and a
# throwaway MariaDB (own datadir, port and socket under a temp dir; durable:
# innodb_flush_log_at_trx_commit=1, binary log off), same data size, threads and duration,
# workloads alternated so machine drift hits both. Writes the tables to docs/benchmarks.md
# between the sysbench and tpcc markers, SVG charts of round 1 to docs/benchmarks/, and
# prints the tables.
#
#   sysbench/run.sh                                  # short default run
#   sysbench/run.sh --duration 60 --threads 16 --table-size 1000000 --rounds 3 --warehouses 4
#
# TPC-C uses our driver (sysbench/tpcc, `tpcc --help`): the same warehouses, terminals
# (--threads) and measured seconds (--duration, also spelled --time) on both, consistency conditions checked on both
# after the last round. `--workloads tpcc` runs it alone.
set -euo pipefail
cd "$(dirname "$0")/.."

TIME=15
THREADS=4
TABLE_SIZE=100000
ROUNDS=1
PS_MODE=auto
WAREHOUSES=1
WORKLOADS="oltp_point_select oltp_read_only oltp_read_write oltp_write_only oltp_insert tpcc"
while [ $# -gt 0 ]; do
    case "$1" in
        --time|--duration) TIME=$2; shift 2 ;;
        --threads) THREADS=$2; shift 2 ;;
        --table-size) TABLE_SIZE=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --workloads) WORKLOADS=$2; shift 2 ;;
        --ps-mode) PS_MODE=$2; shift 2 ;;  # auto (prepared statements) or disable (text protocol)
        --warehouses) WAREHOUSES=$2; shift 2 ;;
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

echo "== building ReefDB and the TPC-C driver (release profile, no LTO)"
cargo build --release --locked --workspace --bins -q
TPCC=./target/release/tpcc
SYSBENCH_WORKLOADS=$(echo "$WORKLOADS" | tr ' ' '\n' | grep -v '^tpcc$' | tr '\n' ' ' || true)
case " $WORKLOADS " in *" tpcc "*) WITH_TPCC=1 ;; *) WITH_TPCC=0 ;; esac

WORK=$(mktemp -d)
cleanup() {
    [ -n "${REEF_PID:-}" ] && kill "$REEF_PID" 2>/dev/null || true
    [ -n "${MARIA_PID:-}" ] && kill "$MARIA_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "== starting ReefDB"
. sysbench/reef.sh
start_reef "$WORK/reef"

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

if [ -n "${SYSBENCH_WORKLOADS// /}" ]; then
    echo "== preparing $TABLE_SIZE rows on both"
    for port in "$REEF_PORT" "$MARIA_PORT"; do
        sysbench oltp_common $(common "$port") prepare >/dev/null
    done
fi
if [ "$WITH_TPCC" = 1 ]; then
    for side in "ReefDB $REEF_PORT" "MariaDB $MARIA_PORT"; do
        set -- $side
        echo "== loading TPC-C, $WAREHOUSES warehouse(s), into $1"
        "$TPCC" --port "$2" load --warehouses "$WAREHOUSES" --threads 4
    done
fi

declare -A TPS QPS P95
run() { # system port workload round
    local out
    out=$(sysbench "$3" $(common "$2") --threads="$THREADS" --time="$TIME" --report-interval=1 run 2>&1) || { echo "$out" | tail -5; return 1; }
    echo "$out" >"$WORK/sb-$1-$3-$4.log"
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
declare -A TPMC TPMT NOP90 TRETRY TERR
run_tpcc() { # system port round
    local json="$WORK/tpcc-$1-$3.json"
    "$TPCC" --port "$2" run --terminals "$THREADS" --duration "$TIME" --warmup 5 \
        --report-every "$TIME" --json "$json" --series "$WORK/tpcc-$1-$3.csv" >"$WORK/tpcc-$1-$3.out" 2>&1 || true
    [ -s "$json" ] || { echo "   $1 tpcc: no result"; tail -5 "$WORK/tpcc-$1-$3.out"; return 1; }
    read -r tpmc tpmt nop90 retries errors < <(python3 - "$json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
no = r["transactions"][0]
print("%.0f %.0f %.1f %d %d" % (r["tpmC"], r["tpmTOTAL"], no["p90_ms"], r["retries"], r["errors"]))
PY
)
    TPMC[$1]="${TPMC[$1]:-} $tpmc"; TPMT[$1]="${TPMT[$1]:-} $tpmt"; NOP90[$1]="${NOP90[$1]:-} $nop90"
    TRETRY[$1]=$(( ${TRETRY[$1]:-0} + retries )); TERR[$1]=$(( ${TERR[$1]:-0} + errors ))
    echo "   $1 tpcc: tpmC $tpmc, tpmTOTAL $tpmt, New-Order p90 $nop90 ms, $retries retries, $errors errors"
    sed -n '/^transaction /,/^tpmC/p' "$WORK/tpcc-$1-$3.out" | sed 's/^/     /'
    [ "$errors" = 0 ] || grep '^error' "$WORK/tpcc-$1-$3.out" | head -5 | sed 's/^/     /'
}
for round in $(seq 1 "$ROUNDS"); do
    for w in $WORKLOADS; do
        echo "== round $round: $w"
        if [ "$w" = tpcc ]; then
            run_tpcc ReefDB "$REEF_PORT" "$round"
            run_tpcc MariaDB "$MARIA_PORT" "$round"
        else
            run ReefDB "$REEF_PORT" "$w" "$round"
            run MariaDB "$MARIA_PORT" "$w" "$round"
        fi
    done
done
declare -A CONSISTENT
if [ "$WITH_TPCC" = 1 ]; then
    for side in "ReefDB $REEF_PORT" "MariaDB $MARIA_PORT"; do
        set -- $side
        echo "== TPC-C consistency conditions on $1"
        if "$TPCC" --port "$2" check | sed 's/^/   /'; then CONSISTENT[$1]=yes; else CONSISTENT[$1]=NO; fi
    done
fi

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
REEF_V=$(./target/release/reef --version)
MARIA_V=$(mariadbd --version | head -1)
SB_V=$(sysbench --version)
{
    echo "Run: \`sysbench/run.sh --time $TIME --threads $THREADS --table-size $TABLE_SIZE --rounds $ROUNDS --ps-mode $PS_MODE --warehouses $WAREHOUSES --workloads \"$WORKLOADS\"\` on $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -r)."
    echo "$REEF_V (one zone, one replica per log stream, fsync per commit group); $MARIA_V (innodb_flush_log_at_trx_commit=1, binary log off, 1 GiB buffer pool); $SB_V; client and servers on the same machine. Medians over rounds."
    echo
    echo "| workload | ReefDB tps | MariaDB tps | ReefDB / MariaDB | ReefDB qps | MariaDB qps | ReefDB p95 ms | MariaDB p95 ms |"
    echo "|---|---|---|---|---|---|---|---|"
    for w in $SYSBENCH_WORKLOADS; do
        rt=$(echo "${TPS[ReefDB,$w]}" | median); mt=$(echo "${TPS[MariaDB,$w]}" | median)
        rq=$(echo "${QPS[ReefDB,$w]}" | median); mq=$(echo "${QPS[MariaDB,$w]}" | median)
        rp=$(echo "${P95[ReefDB,$w]}" | median); mp=$(echo "${P95[MariaDB,$w]}" | median)
        ratio=$(awk -v a="$rt" -v b="$mt" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
        echo "| $w | $rt | $mt | $ratio | $rq | $mq | $rp | $mp |"
    done
    charts=""
    for w in $SYSBENCH_WORKLOADS; do
        if python3 sysbench/chart.py --sysbench --out docs/benchmarks --prefix "$w" \
            "ReefDB=$WORK/sb-ReefDB-$w-1.log" "MariaDB=$WORK/sb-MariaDB-$w-1.log" >&2; then
            charts="$charts ![$w throughput](benchmarks/$w-throughput.svg) ![$w p95 latency](benchmarks/$w-latency.svg)"
        fi
    done
    [ -z "$charts" ] || { echo; echo "Round 1, per second:$charts"; }
} >"$WORK/table.md"
[ -n "${SYSBENCH_WORKLOADS// /}" ] || : >"$WORK/table.md"
: >"$WORK/tpcc.md"
if [ "$WITH_TPCC" = 1 ]; then
    {
        echo "Run: \`sysbench/run.sh --time $TIME --threads $THREADS --rounds $ROUNDS --warehouses $WAREHOUSES --workloads \"$WORKLOADS\"\` on $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -r)."
        echo "$REEF_V (one zone, one replica per log stream); $MARIA_V (innodb_flush_log_at_trx_commit=1, binary log off, 1 GiB buffer pool); client and servers on the same machine. Medians over rounds."
        rc=$(echo "${TPMC[ReefDB]:-}" | median); mc=$(echo "${TPMC[MariaDB]:-}" | median)
        echo
        echo "TPC-C (\`sysbench/tpcc\`): $WAREHOUSES warehouse(s), $THREADS terminals, $TIME s measured after 5 s warm-up, no keying or think time. tpmC counts New-Orders per minute (the 1% rolled back by design included)."
        echo
        echo "| system | tpmC | tpmTOTAL | ReefDB / MariaDB (tpmC) | New-Order p90 ms | retries | errors | consistency conditions |"
        echo "|---|---|---|---|---|---|---|---|"
        ratio=$(awk -v a="$rc" -v b="$mc" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
        echo "| ReefDB | $rc | $(echo "${TPMT[ReefDB]:-}" | median) | $ratio | $(echo "${NOP90[ReefDB]:-}" | median) | ${TRETRY[ReefDB]:-0} | ${TERR[ReefDB]:-0} | ${CONSISTENT[ReefDB]:-} |"
        echo "| MariaDB | $mc | $(echo "${TPMT[MariaDB]:-}" | median) | 1.00 | $(echo "${NOP90[MariaDB]:-}" | median) | ${TRETRY[MariaDB]:-0} | ${TERR[MariaDB]:-0} | ${CONSISTENT[MariaDB]:-} |"
        if python3 sysbench/chart.py --out docs/benchmarks --prefix tpcc \
            "ReefDB=$WORK/tpcc-ReefDB-1.csv,$WORK/tpcc-ReefDB-1.json" \
            "MariaDB=$WORK/tpcc-MariaDB-1.csv,$WORK/tpcc-MariaDB-1.json" >&2; then
            echo
            echo "Round 1: ![TPC-C throughput over time](benchmarks/tpcc-throughput.svg) ![TPC-C response times](benchmarks/tpcc-latency.svg)"
        fi
    } >"$WORK/tpcc.md"
fi
cat "$WORK/table.md" "$WORK/tpcc.md"
# The raw round-1 results beside the charts, so they can be redrawn or compared later.
mkdir -p docs/benchmarks/data
for f in "$WORK"/sb-*-1.log "$WORK"/tpcc-*-1.json "$WORK"/tpcc-*-1.csv "$WORK"/tpcc-*-1.out; do
    [ -e "$f" ] && cp "$f" docs/benchmarks/data/
done

python3 - "$WORK/table.md" "$WORK/tpcc.md" <<'PY'
import sys, re
path = "docs/benchmarks.md"
doc = open(path).read()
for file, marker, title in [(sys.argv[1], "sysbench", "sysbench, side by side with MariaDB"),
                            (sys.argv[2], "tpcc", "TPC-C, side by side with MariaDB")]:
    table = open(file).read().strip()
    if not table:
        continue
    begin, end = f"<!-- {marker}:begin -->", f"<!-- {marker}:end -->"
    block = f"{begin}\n{table}\n{end}"
    if begin in doc:
        doc = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda m: block, doc, flags=re.S)
    else:
        doc += f"\n## {title}\n\n{block}\n"
    print(f"== wrote the {marker} table to {path}")
open(path, "w").write(doc)
PY
