"""List-append histories over the MySQL protocol, for tests/reef/elle.rs.

  elle.py ISOLATION CLIENTS TXNS SEED

Each of CLIENTS PyMySQL connections runs TXNS transactions of 1-4 micro-operations on six
keys of table `la`: a read (`SELECT v FROM la WHERE k = ?`) or an append of a unique value
(`INSERT ... ON DUPLICATE KEY UPDATE v = CONCAT(v, ' ', ?)`), between BEGIN and COMMIT at
the session's isolation level. Prints the history as Elle's JSON lines (invoke, then ok or
fail), each completion written right after COMMIT returned so real-time order is kept.
Deadlocks and lock wait timeouts (1213, 1205) are failed transactions; anything else stops
the run.
"""

import json
import os
import random
import sys
import threading

import pymysql

PORT = int(os.environ["PORT"])
KEYS = 6


def main(isolation, clients, txns, seed):
    setup = pymysql.connect(host="127.0.0.1", port=PORT, user="root", autocommit=True)
    cur = setup.cursor()
    cur.execute("CREATE DATABASE IF NOT EXISTS elle")
    cur.execute("DROP TABLE IF EXISTS elle.la")
    cur.execute("CREATE TABLE elle.la (k INT PRIMARY KEY, v TEXT NOT NULL)")
    history = []
    lock = threading.Lock()
    counter = iter(range(1, 10**9))
    errors = []

    def client(p):
        rng = random.Random(seed * 1000 + p)
        c = pymysql.connect(host="127.0.0.1", port=PORT, user="root", database="elle",
                            autocommit=True)
        cur = c.cursor()
        cur.execute(f"SET SESSION TRANSACTION ISOLATION LEVEL {isolation}")
        for _ in range(txns):
            mops = []
            for _ in range(rng.randint(1, 4)):
                k = rng.randrange(KEYS)
                if rng.random() < 0.5:
                    mops.append(["r", k, None])
                else:
                    with lock:
                        mops.append(["append", k, next(counter)])
            with lock:
                history.append({"type": "invoke", "process": p, "value": mops})
            done = []
            try:
                cur.execute("BEGIN")
                for f, k, v in mops:
                    if f == "r":
                        cur.execute("SELECT v FROM la WHERE k = %s", (k,))
                        row = cur.fetchone()
                        done.append(["r", k, [int(x) for x in row[0].split()] if row else []])
                    else:
                        cur.execute("INSERT INTO la VALUES (%s, %s) ON DUPLICATE KEY UPDATE "
                                    "v = CONCAT(v, ' ', %s)", (k, str(v), str(v)))
                        done.append(["append", k, v])
                cur.execute("COMMIT")
                with lock:
                    history.append({"type": "ok", "process": p, "value": done})
            except pymysql.MySQLError as e:
                code = e.args[0] if e.args else None
                try:
                    cur.execute("ROLLBACK")
                except pymysql.MySQLError:
                    pass
                with lock:
                    history.append({"type": "fail", "process": p, "value": mops})
                if code not in (1213, 1205):
                    with lock:
                        errors.append(f"client {p}: {e}")
                    return

    threads = [threading.Thread(target=client, args=(p,)) for p in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        sys.exit("\n".join(errors))
    for h in history:
        print(json.dumps(h, separators=(",", ":")))


if __name__ == "__main__":
    main(sys.argv[1].replace("-", " "), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
