#!/usr/bin/env python3
"""TPC-H over the MySQL protocol: generate, load, check against DuckDB, and time.

    tpch.py load  --sf 0.01 --port 3306 [--threads 2]   create the schema and load the data
    tpch.py check --sf 0.01 --port 3306                  the 22 queries, answers vs DuckDB
    tpch.py run   --sf 1    --port 3306 [--repeat 5]     the 22 queries timed (median)
    tpch.py run   --sf 1 --engine duckdb|datafusion      the same on DuckDB's own storage,
                                                         or on DataFusion over Parquet
    tpch.py report --json a.json b.json ...              one Markdown table of runs

The data comes from DuckDB's TPC-H generator (PyPI `duckdb==1.5.5` with
`duckdb-extension-tpch==1.5.5`; newer DuckDB wheels try to download the extension and fail
offline). It is generated once per scale factor into `<cache>/sf<SF>/tpch.duckdb`, which
also answers the reference queries. The 22 queries in `queries/` are the TPC-H
specification's (clause 2.4) with its validation parameters, in a text MySQL, MariaDB and
DuckDB all accept: Q15's view is a common table expression, and Q13 names its derived
table's columns with aliases inside it (MariaDB 10.11 has no derived-table column list).

Answers match when they have the same rows in the same order, numbers equal to 1e-6
relative or 0.01 absolute, and text equal after trailing blanks (CHAR padding) are removed.
Types may differ: DuckDB's averages are doubles, MySQL's are DECIMAL.

Nothing here links ReefDB: it measures what any MySQL client sees. `run` times through
mysqlclient (PyPI `mysqlclient`, on the MariaDB C library) when it is installed, PyMySQL
otherwise (`--client` chooses): PyMySQL decodes each row in Python, which for a query
returning many rows (Q16: 18,314) costs as much as the server's work, while DataFusion and
DuckDB hand their results over in process.
"""

import argparse
import datetime
import decimal
import glob
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
QUERIES = os.path.join(HERE, "queries")

# TPC-H clause 1.4: the eight tables, their columns and primary keys, with MySQL types.
SCHEMA = {
    "region": """r_regionkey INT NOT NULL, r_name CHAR(25) NOT NULL,
        r_comment VARCHAR(152) NOT NULL, PRIMARY KEY (r_regionkey)""",
    "nation": """n_nationkey INT NOT NULL, n_name CHAR(25) NOT NULL,
        n_regionkey INT NOT NULL, n_comment VARCHAR(152) NOT NULL,
        PRIMARY KEY (n_nationkey)""",
    "part": """p_partkey INT NOT NULL, p_name VARCHAR(55) NOT NULL,
        p_mfgr CHAR(25) NOT NULL, p_brand CHAR(10) NOT NULL, p_type VARCHAR(25) NOT NULL,
        p_size INT NOT NULL, p_container CHAR(10) NOT NULL,
        p_retailprice DECIMAL(15,2) NOT NULL, p_comment VARCHAR(23) NOT NULL,
        PRIMARY KEY (p_partkey)""",
    "supplier": """s_suppkey INT NOT NULL, s_name CHAR(25) NOT NULL,
        s_address VARCHAR(40) NOT NULL, s_nationkey INT NOT NULL, s_phone CHAR(15) NOT NULL,
        s_acctbal DECIMAL(15,2) NOT NULL, s_comment VARCHAR(101) NOT NULL,
        PRIMARY KEY (s_suppkey)""",
    "partsupp": """ps_partkey INT NOT NULL, ps_suppkey INT NOT NULL,
        ps_availqty INT NOT NULL, ps_supplycost DECIMAL(15,2) NOT NULL,
        ps_comment VARCHAR(199) NOT NULL, PRIMARY KEY (ps_partkey, ps_suppkey)""",
    "customer": """c_custkey INT NOT NULL, c_name VARCHAR(25) NOT NULL,
        c_address VARCHAR(40) NOT NULL, c_nationkey INT NOT NULL, c_phone CHAR(15) NOT NULL,
        c_acctbal DECIMAL(15,2) NOT NULL, c_mktsegment CHAR(10) NOT NULL,
        c_comment VARCHAR(117) NOT NULL, PRIMARY KEY (c_custkey)""",
    "orders": """o_orderkey INT NOT NULL, o_custkey INT NOT NULL,
        o_orderstatus CHAR(1) NOT NULL, o_totalprice DECIMAL(15,2) NOT NULL,
        o_orderdate DATE NOT NULL, o_orderpriority CHAR(15) NOT NULL,
        o_clerk CHAR(15) NOT NULL, o_shippriority INT NOT NULL,
        o_comment VARCHAR(79) NOT NULL, PRIMARY KEY (o_orderkey)""",
    "lineitem": """l_orderkey INT NOT NULL, l_partkey INT NOT NULL,
        l_suppkey INT NOT NULL, l_linenumber INT NOT NULL,
        l_quantity DECIMAL(15,2) NOT NULL, l_extendedprice DECIMAL(15,2) NOT NULL,
        l_discount DECIMAL(15,2) NOT NULL, l_tax DECIMAL(15,2) NOT NULL,
        l_returnflag CHAR(1) NOT NULL, l_linestatus CHAR(1) NOT NULL,
        l_shipdate DATE NOT NULL, l_commitdate DATE NOT NULL, l_receiptdate DATE NOT NULL,
        l_shipinstruct CHAR(25) NOT NULL, l_shipmode CHAR(10) NOT NULL,
        l_comment VARCHAR(44) NOT NULL, PRIMARY KEY (l_orderkey, l_linenumber)""",
}


def fail(message):
    print(f"tpch: {message}", file=sys.stderr)
    sys.exit(2)


def duckdb_module():
    try:
        import duckdb
        import duckdb_extension_tpch
    except ImportError:
        fail(
            "needs PyPI duckdb==1.5.5 and duckdb-extension-tpch==1.5.5 "
            "(python3 -m pip install duckdb==1.5.5 duckdb-extension-tpch==1.5.5)"
        )
    found = glob.glob(
        os.path.join(os.path.dirname(duckdb_extension_tpch.__file__), "**", "tpch.duckdb_extension"),
        recursive=True,
    )
    if not found:
        fail("duckdb-extension-tpch holds no tpch.duckdb_extension")
    return duckdb, found[0]


def reference(args):
    """A read-only DuckDB connection to the generated data, generating it on first use."""
    duckdb, extension = duckdb_module()
    directory = os.path.join(args.cache, f"sf{args.sf:g}")
    path = os.path.join(directory, "tpch.duckdb")
    if not os.path.exists(path):
        os.makedirs(directory, exist_ok=True)
        print(f"generating TPC-H sf {args.sf:g} with DuckDB into {path}", file=sys.stderr)
        started = time.monotonic()
        partial = path + ".partial"
        if os.path.exists(partial):
            os.remove(partial)
        con = duckdb.connect(partial)
        con.execute(f"LOAD '{extension}'")
        con.execute(f"CALL dbgen(sf={args.sf})")
        con.close()
        os.replace(partial, path)
        print(f"generated in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return duckdb.connect(path, read_only=True)


def connect(args, database=None, client="pymysql"):
    params = dict(
        host=args.host,
        port=args.port,
        user=args.user,
        password=args.password,
        database=database,
        local_infile=False,
    )
    if client == "mysqlclient":
        try:
            import MySQLdb
        except ImportError:
            fail("--client mysqlclient needs PyPI mysqlclient (and Debian's libmariadb-dev to build it)")
        db = MySQLdb.connect(**params)
        db.autocommit(True)
        return db
    import pymysql

    return pymysql.connect(autocommit=True, **params)


class Progress:
    """One line on stderr per table, rewritten in place: rows loaded of rows to load."""

    def __init__(self, table, total):
        self.table, self.total, self.done = table, total, 0
        self.started = time.monotonic()
        self.shown = 0.0

    def add(self, rows):
        self.done += rows
        now = time.monotonic()
        if now - self.shown >= 0.5 or self.done == self.total:
            self.shown = now
            rate = self.done / max(now - self.started, 1e-9)
            end = "\n" if self.done == self.total else ""
            print(
                f"\r  {self.table:<9} {self.done:>10}/{self.total} rows  {rate:>9.0f} rows/s",
                end=end,
                file=sys.stderr,
                flush=True,
            )


def load(args):
    ref = reference(args)
    server = connect(args)
    with server.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{args.database}`")
        cur.execute(f"CREATE DATABASE `{args.database}`")
    server.close()
    started = time.monotonic()
    for table, columns in SCHEMA.items():
        with connect(args, args.database).cursor() as cur:
            cur.execute(f"CREATE TABLE {table} ({columns})")
        total = ref.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        progress = Progress(table, total)
        # Each worker reads its own slice from DuckDB and sends multi-row INSERTs of
        # `batch` rows on its own connection.
        slices = max(1, min(args.threads, total // args.batch))
        step = -(-total // slices)

        def load_slice(i):
            # Streamed from DuckDB a batch at a time, so memory stays at one batch per
            # connection whatever the scale factor.
            source = ref.cursor()
            source.execute(f"SELECT * FROM {table} LIMIT {step} OFFSET {i * step}")
            db = connect(args, args.database)
            with db.cursor() as cur:
                while chunk := source.fetchmany(args.batch):
                    marks = "(" + ",".join(["%s"] * len(chunk[0])) + ")"
                    cur.execute(
                        f"INSERT INTO {table} VALUES "
                        + ",".join(cur.mogrify(marks, row) for row in chunk)
                    )
                    progress.add(len(chunk))
            db.close()

        with ThreadPoolExecutor(slices) as pool:
            list(pool.map(load_slice, range(slices)))
        if total == 0:
            progress.add(0)
    print(f"loaded sf {args.sf:g} in {time.monotonic() - started:.1f} s", file=sys.stderr)


def query_text(n):
    with open(os.path.join(QUERIES, f"q{n:02}.sql")) as f:
        return f.read().strip().rstrip(";")


def normalize(value):
    if isinstance(value, (decimal.Decimal, float, int)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str):
        return value.rstrip(" ")
    return value


def same(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= max(0.01, 1e-6 * max(abs(a), abs(b)))
    return a == b


def differences(got, want):
    """Why two answers differ, or None when they match."""
    if len(got) != len(want):
        return f"{len(got)} rows, DuckDB has {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        if len(g) != len(w):
            return f"row {i + 1}: {len(g)} columns, DuckDB has {len(w)}"
        for j, (x, y) in enumerate(zip(g, w)):
            if not same(x, y):
                return f"row {i + 1} column {j + 1}: {x!r}, DuckDB has {y!r}"
    return None


def selected(args):
    if not args.queries:
        return list(range(1, 23))
    picked = [int(q) for q in args.queries.split(",")]
    for q in picked:
        if not 1 <= q <= 22:
            fail(f"no query {q}: TPC-H has queries 1 to 22")
    return picked


def check(args):
    ref = reference(args)
    db = connect(args, args.database)
    failures = 0
    for n in selected(args):
        sql = query_text(n)
        want = [tuple(normalize(v) for v in row) for row in ref.execute(sql).fetchall()]
        started = time.monotonic()
        try:
            with db.cursor() as cur:
                cur.execute(sql)
                got = [tuple(normalize(v) for v in row) for row in cur.fetchall()]
        except Exception as e:  # any server error is a failed query, reported by name
            failures += 1
            print(f"Q{n:02}: error {e}")
            continue
        elapsed = time.monotonic() - started
        why = differences(got, want)
        if why:
            failures += 1
            print(f"Q{n:02}: wrong answer: {why}")
        else:
            print(f"Q{n:02}: ok ({len(got)} rows, {elapsed:.2f} s)")
    total = len(selected(args))
    print(f"{total - failures} of {total} queries match DuckDB's answers")
    sys.exit(1 if failures else 0)


def parquet_dir(args, ref):
    """Parquet exports of the generated tables (written by DuckDB on first use)."""
    directory = os.path.join(args.cache, f"sf{args.sf:g}", "parquet")
    if not os.path.exists(os.path.join(directory, "done")):
        os.makedirs(directory, exist_ok=True)
        for table in SCHEMA:
            print(f"exporting {table} to Parquet", file=sys.stderr)
            ref.execute(f"COPY {table} TO '{directory}/{table}.parquet' (FORMAT parquet)")
        open(os.path.join(directory, "done"), "w").close()
    return directory


def engine(args):
    """A function running one query text to its rows, on the engine `args` names."""
    if args.engine == "duckdb":
        con = reference(args)
        return lambda sql: con.execute(sql).fetchall()
    if args.engine == "datafusion":
        directory = parquet_dir(args, reference(args))
        try:
            import datafusion
        except ImportError:
            fail("needs PyPI datafusion (python3 -m pip install datafusion)")
        ctx = datafusion.SessionContext()
        for table in SCHEMA:
            ctx.register_parquet(table, os.path.join(directory, f"{table}.parquet"))
        return lambda sql: ctx.sql(sql).collect()
    db = connect(args, args.database, client_of(args))
    if args.timeout:
        with db.cursor() as cur:
            # ReefDB and MySQL read max_execution_time, MariaDB max_statement_time.
            for setting in (
                f"SET SESSION max_execution_time = {int(args.timeout * 1000)}",
                f"SET SESSION max_statement_time = {args.timeout}",
            ):
                try:
                    cur.execute(setting)
                except Exception:
                    pass

    def on_server(sql):
        with db.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()

    return on_server


def client_of(args):
    """The client `run` times with: --client, or mysqlclient where it is installed."""
    if args.client:
        return args.client
    try:
        import MySQLdb  # noqa: F401

        return "mysqlclient"
    except ImportError:
        return "pymysql"


def run(args):
    execute = engine(args)
    if args.engine == "mysql":
        print(f"client: {client_of(args)}", flush=True)
    results = {}
    for n in selected(args):
        sql = query_text(n)
        times = []
        for _ in range(args.repeat):
            started = time.monotonic()
            try:
                execute(sql)
            except Exception as e:  # a timeout or an error: reported, never timed
                print(f"Q{n:02}: no time ({e})", flush=True)
                times = None
                break
            times.append(time.monotonic() - started)
        results[n] = statistics.median(times) if times else None
        if times:
            print(f"Q{n:02}: {results[n]:.3f} s (median of {len(times)})", flush=True)
    done = [t for t in results.values() if t is not None]
    print(f"total of {len(done)} timed queries: {sum(done):.3f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"label": args.label or args.engine, "sf": args.sf, "repeat": args.repeat,
                 "client": client_of(args) if args.engine == "mysql" else "in process",
                 "seconds": {f"q{n:02}": t for n, t in results.items()}},
                f,
                indent=1,
            )


def report(args):
    """A Markdown table: one column per run, the first run's ratio to each other run."""
    runs = []
    for path in args.runs:
        with open(path) as f:
            runs.append(json.load(f))
    if not runs:
        fail("report needs the JSON files of runs (run --json FILE)")
    first = runs[0]
    head = ["query"] + [r["label"] for r in runs] + [f"{first['label']} / {r['label']}" for r in runs[1:]]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    shown = lambda t: "n/a" if t is None else f"{t:.3f}"
    totals = [0.0] * len(runs)
    for q in sorted(first["seconds"]):
        times = [r["seconds"].get(q) for r in runs]
        ratios = [
            "n/a" if times[0] is None or t is None or t == 0 else f"{times[0] / t:.2f}"
            for t in times[1:]
        ]
        for i, t in enumerate(times):
            totals[i] += t or 0.0
        print(f"| {q.upper()} | " + " | ".join(shown(t) for t in times) + " | " + " | ".join(ratios) + " |")
    print("| all | " + " | ".join(f"{t:.3f}" for t in totals) + " | " + " | ".join(
        f"{totals[0] / t:.2f}" if t else "n/a" for t in totals[1:]) + " |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["load", "check", "run", "report"])
    parser.add_argument("runs", nargs="*", help="report: JSON files written by run --json")
    parser.add_argument(
        "--engine",
        choices=["mysql", "duckdb", "datafusion"],
        default="mysql",
        help="run: a MySQL-protocol server (default), DuckDB, or DataFusion on Parquet",
    )
    parser.add_argument("--label", help="run: the name the report gives this run")
    parser.add_argument(
        "--timeout", type=float, help="run: seconds a query may take on the server"
    )
    parser.add_argument("--sf", type=float, default=0.01, help="scale factor (default 0.01)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3306)
    parser.add_argument("--user", default="root")
    parser.add_argument("--password", default="")
    parser.add_argument("--database", default="tpch")
    parser.add_argument(
        "--cache",
        default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "reef-tpch"),
        help="where generated data is kept between runs",
    )
    parser.add_argument("--threads", type=int, default=2, help="loader connections")
    parser.add_argument("--batch", type=int, default=500, help="rows per INSERT")
    parser.add_argument("--queries", help="comma-separated query numbers (default all 22)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per query")
    parser.add_argument(
        "--client",
        choices=["mysqlclient", "pymysql"],
        help="run: the MySQL client library timed (default mysqlclient if installed)",
    )
    parser.add_argument("--json", help="write the run's medians here")
    args = parser.parse_args()
    {"load": load, "check": check, "run": run, "report": report}[args.command](args)


if __name__ == "__main__":
    main()
