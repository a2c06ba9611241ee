#!/usr/bin/env python3
"""Runs sqllogictest-style files against a MySQL-protocol server and reports every mismatch.

    tests/slt/run.py --port 3306 FILE.slt [FILE.slt ...]

The format is the common subset of sqllogictest (as DataFusion's and sqllogictest-rs's
files use it), for MySQL servers:

    statement ok
    <sql, one or more lines>

    statement error <errno>
    <sql>

    query <column types, ignored> [rowsort]
    <sql>
    ----
    <one line per row, values separated by a space; NULL as NULL, '' as (empty)>

Records end at a blank line; `#` starts a comment line. Each file runs in a fresh database
named after it (dropped first), on one autocommit connection. The same files run against
ReefDB (tests/reef/slt.rs) and against a throwaway MariaDB (tests/slt/mariadb.sh), which is
how their expected answers are checked to be MySQL's.
"""

import argparse
import os
import sys

import pymysql


def records(path):
    """Yields (line number, header words, sql, expected lines or None)."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if not line or line.startswith("#"):
            i += 1
            continue
        start, header = i + 1, line.split()
        i += 1
        sql = []
        while i < len(lines) and lines[i].strip() and lines[i].strip() != "----":
            sql.append(lines[i])
            i += 1
        expected = None
        if i < len(lines) and lines[i].strip() == "----":
            i += 1
            expected = []
            while i < len(lines) and lines[i].strip():
                expected.append(lines[i].rstrip())
                i += 1
        yield start, header, "\n".join(sql), expected


def text(v):
    if v is None:
        return "NULL"
    if v == "" or v == b"":
        return "(empty)"
    if isinstance(v, bytes):
        return v.decode("utf-8", "backslashreplace")
    return str(v)


def run_file(port, path):
    """Runs one file; returns the list of failure messages."""
    db = "slt_" + os.path.splitext(os.path.basename(path))[0].replace("-", "_")
    conn = pymysql.connect(host="127.0.0.1", port=port, user="root", autocommit=True)
    cur = conn.cursor()
    cur.execute(f"DROP DATABASE IF EXISTS {db}")
    cur.execute(f"CREATE DATABASE {db}")
    cur.execute(f"USE {db}")
    failures = []
    for line, header, sql, expected in records(path):
        where = f"{path}:{line}"
        kind = header[0]
        try:
            cur.execute(sql)
            rows = cur.fetchall() if cur.description else []
            error = None
        except pymysql.MySQLError as e:
            rows, error = [], e.args[0]
        if kind == "statement" and header[1:] == ["ok"]:
            if error is not None:
                failures.append(f"{where}: expected ok, got error {error}\n  {sql}")
        elif kind == "statement" and header[1] == "error":
            want = int(header[2]) if len(header) > 2 else None
            if error is None or (want is not None and error != want):
                failures.append(f"{where}: expected error {want}, got {error}\n  {sql}")
        elif kind == "query":
            if error is not None:
                failures.append(f"{where}: query failed with {error}\n  {sql}")
                continue
            got = [" ".join(text(v) for v in r) for r in rows]
            if "rowsort" in header[2:]:
                got.sort()
            if got != (expected or []):
                failures.append(
                    f"{where}: query results differ\n  {sql}\n  expected: {expected}\n  got:      {got}"
                )
        else:
            failures.append(f"{where}: unknown record {' '.join(header)}")
    cur.execute(f"DROP DATABASE IF EXISTS {db}")
    conn.close()
    return failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    failures = []
    for path in args.files:
        failures += run_file(args.port, path)
    for f in failures:
        print(f)
    print(f"{len(args.files)} files, {len(failures)} failures")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
