#!/usr/bin/env python3
"""The HTAP run: does a real-time dashboard slow the transaction path, and is it fresh?

    sysbench/htap.py --port 2883 [--rounds 5] [--time 20] [--threads 4] [--table-size 100000]

Against a running server, after `sysbench oltp_read_write ... prepare` (done here): runs
sysbench `oltp_read_write` alone and with a dashboard loop, alternating the two `--rounds`
times so machine drift hits both, and reports the median transactions per second of each
and the drop.

The dashboard, once a second, runs a handful of aggregate queries over `sbtest1` (the
analytical path) and one freshness probe: a second connection commits a row into
`htap_fresh` and the dashboard's next aggregate over that table must count it. The probe
reports how long after its commit the query started and whether it saw the row.

Nothing here links ReefDB: it measures what any MySQL client sees.
"""

import argparse
import re
import statistics
import subprocess
import sys
import threading
import time

DASHBOARD = [
    "SELECT COUNT(*), SUM(k), AVG(k), MIN(id), MAX(id) FROM sbtest1",
    "SELECT k % 10 AS bucket, COUNT(*), SUM(LENGTH(c)) FROM sbtest1 GROUP BY bucket ORDER BY bucket",
    "SELECT COUNT(DISTINCT k) FROM sbtest1 WHERE k BETWEEN 40000 AND 60000",
    "SELECT LEFT(c, 2) AS prefix, COUNT(*) FROM sbtest1 GROUP BY prefix ORDER BY 2 DESC LIMIT 5",
]
FRESH = "SELECT COUNT(*), MAX(f.id) FROM htap_fresh f JOIN htap_fresh g ON f.id = g.id"


def connect(args):
    import pymysql

    return pymysql.connect(
        host=args.host, port=args.port, user=args.user, password=args.password,
        database=args.db, autocommit=True,
    )


def sysbench(args, command, seconds=None):
    cmd = [
        "sysbench", "oltp_read_write", f"--mysql-host={args.host}", f"--mysql-port={args.port}",
        f"--mysql-user={args.user}", f"--mysql-password={args.password}", f"--mysql-db={args.db}",
        "--tables=1", f"--table-size={args.table_size}", f"--threads={args.threads}",
        "--db-ps-mode=auto", "--mysql-ignore-errors=1213,1205,1020,1317", command,
    ]
    if seconds:
        cmd.insert(-1, f"--time={seconds}")
        cmd.insert(-1, "--report-interval=0")
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        print(out.stdout, out.stderr, file=sys.stderr)
        sys.exit(f"sysbench {command} failed")
    return out.stdout


class Dashboard(threading.Thread):
    """The dashboard loop, run until `stop` is set."""

    def __init__(self, args):
        super().__init__(daemon=True)
        self.args = args
        self.stop = threading.Event()
        self.rounds = 0
        self.query_seconds = []
        self.fresh_seen = 0
        self.fresh_missed = 0
        self.fresh_lag = []
        self.errors = []

    def run(self):
        db, writer = connect(self.args), connect(self.args)
        cur, wcur = db.cursor(), writer.cursor()
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                for sql in DASHBOARD:
                    t = time.monotonic()
                    cur.execute(sql)
                    cur.fetchall()
                    self.query_seconds.append(time.monotonic() - t)
                wcur.execute("INSERT INTO htap_fresh (at) VALUES (NOW(6))")
                marker = wcur.lastrowid
                committed = time.monotonic()
                cur.execute(FRESH)
                self.fresh_lag.append(time.monotonic() - committed)
                # (the gap from the commit to the end of the query that saw it)
                _, newest = cur.fetchone()
                if newest is not None and newest >= marker:
                    self.fresh_seen += 1
                else:
                    self.fresh_missed += 1
            except Exception as e:  # reported at the end, never hidden
                self.errors.append(str(e))
            self.rounds += 1
            self.stop.wait(max(0.0, 1.0 - (time.monotonic() - started)))


def tps(report):
    m = re.search(r"transactions:\s+\d+\s+\(([\d.]+) per sec", report)
    if not m:
        sys.exit("no transaction rate in sysbench's report:\n" + report)
    return float(m.group(1))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2883)
    parser.add_argument("--user", default="root")
    parser.add_argument("--password", default="")
    parser.add_argument("--db", default="sbtest")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--time", type=int, default=20, help="seconds per sysbench run")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--table-size", type=int, default=100000)
    args = parser.parse_args()

    admin = connect(argparse.Namespace(**{**vars(args), "db": None}))
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {args.db}")
        cur.execute(f"CREATE DATABASE {args.db}")
        cur.execute(
            f"CREATE TABLE {args.db}.htap_fresh (id BIGINT AUTO_INCREMENT PRIMARY KEY, at DATETIME(6))"
        )
    print(f"preparing sbtest1 with {args.table_size} rows", file=sys.stderr)
    sysbench(args, "prepare")

    alone, loaded, dashboards = [], [], []
    for r in range(1, args.rounds + 1):
        alone.append(tps(sysbench(args, "run", args.time)))
        board = Dashboard(args)
        board.start()
        loaded.append(tps(sysbench(args, "run", args.time)))
        board.stop.set()
        board.join()
        dashboards.append(board)
        print(
            f"round {r}: alone {alone[-1]:.1f} TPS, with the dashboard {loaded[-1]:.1f} TPS "
            f"({board.rounds} dashboard refreshes, {len(board.errors)} errors)",
            flush=True,
        )

    a, l = statistics.median(alone), statistics.median(loaded)
    queries = [q for b in dashboards for q in b.query_seconds]
    lags = [x for b in dashboards for x in b.fresh_lag]
    seen = sum(b.fresh_seen for b in dashboards)
    missed = sum(b.fresh_missed for b in dashboards)
    errors = [e for b in dashboards for e in b.errors]
    print()
    print(f"oltp_read_write, {args.threads} threads, 1 x {args.table_size} rows, {args.rounds} rounds of {args.time} s")
    print(f"median TPS alone:              {a:.1f}")
    print(f"median TPS with the dashboard: {l:.1f}  ({(l - a) / a * 100:+.1f}%)")
    if queries:
        print(f"dashboard query time: median {statistics.median(queries) * 1000:.0f} ms, "
              f"max {max(queries) * 1000:.0f} ms over {len(queries)} queries")
    if lags:
        print(f"freshness: {seen} of {seen + missed} probes saw the row committed "
              f"at most {statistics.median(lags) * 1000:.1f} ms (median; max {max(lags) * 1000:.1f} ms) "
              f"before its query returned")
    for e in errors[:5]:
        print(f"dashboard error: {e}")
    sys.exit(1 if missed or errors else 0)


if __name__ == "__main__":
    main()
