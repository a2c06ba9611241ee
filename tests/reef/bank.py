"""The bank workload of the transactions fault test (tests/reef/bank.rs).

  bank.py setup ACCOUNTS BALANCE
  bank.py run SECONDS WRITERS READERS ACKED_FILE
  bank.py check ACCOUNTS BALANCE ACKED_FILE

Writers move money between random accounts: SELECT ... FOR UPDATE both rows, UPDATE both,
and record the transfer in a ledger table, in one transaction. A transfer is acknowledged
when COMMIT returns OK; its id is then appended to ACKED_FILE (flushed line by line, so a
kill of the server mid-run leaves exactly the acknowledged ones). Deadlocks and lock
timeouts (1213, 1205) are retried as drivers do. A lost connection ends the writer.

Readers check, under REPEATABLE READ, that the total never changes and no balance is
negative. `run` prints `transfers=N retries=N violations=N`; violations must be 0.

`check` runs after a restart: the total holds, every acknowledged transfer is in the
ledger, and every balance equals its initial balance plus its ledger sum.
"""

import os
import random
import sys
import threading
import time

import pymysql

PORT = int(os.environ["PORT"])
RETRYABLE = (1213, 1205, 1020)


def connect(db="bank"):
    return pymysql.connect(host="127.0.0.1", port=PORT, user="root", database=db,
                           autocommit=True)


def setup(accounts, balance):
    c = pymysql.connect(host="127.0.0.1", port=PORT, user="root", autocommit=True)
    cur = c.cursor()
    cur.execute("CREATE DATABASE bank")
    cur.execute("USE bank")
    cur.execute("CREATE TABLE accounts (id INT PRIMARY KEY, balance BIGINT NOT NULL)")
    cur.execute("CREATE TABLE ledger (id BIGINT PRIMARY KEY, src INT NOT NULL, "
                "dst INT NOT NULL, amount BIGINT NOT NULL, KEY (src), KEY (dst))")
    rows = ",".join(f"({i}, {balance})" for i in range(accounts))
    cur.execute(f"INSERT INTO accounts VALUES {rows}")


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.transfers = 0
        self.retries = 0
        self.violations = []

    def add(self, transfers=0, retries=0, violation=None):
        with self.lock:
            self.transfers += transfers
            self.retries += retries
            if violation:
                self.violations.append(violation)


def writer(n, first_id, deadline, accounts, acked, stats):
    rng = random.Random(n)
    c = connect()
    cur = c.cursor()
    seq = 0
    try:
        while time.time() < deadline:
            seq += 1
            tid = first_id + n * 1_000_000_000 + seq
            a, b = rng.sample(range(accounts), 2)
            amount = rng.randint(1, 50)
            while True:
                try:
                    cur.execute("BEGIN")
                    cur.execute("SELECT id, balance FROM accounts WHERE id IN (%s, %s) "
                                "ORDER BY id FOR UPDATE", (a, b))
                    bal = dict(cur.fetchall())
                    if bal[a] >= amount:
                        cur.execute("UPDATE accounts SET balance = balance - %s WHERE id = %s",
                                    (amount, a))
                        cur.execute("UPDATE accounts SET balance = balance + %s WHERE id = %s",
                                    (amount, b))
                        cur.execute("INSERT INTO ledger VALUES (%s, %s, %s, %s)",
                                    (tid, a, b, amount))
                    cur.execute("COMMIT")
                    if bal[a] >= amount:
                        acked.write(f"{tid}\n")
                        acked.flush()
                        stats.add(transfers=1)
                    break
                except pymysql.MySQLError as e:
                    if e.args and e.args[0] in RETRYABLE:
                        stats.add(retries=1)
                        try:
                            cur.execute("ROLLBACK")
                        except pymysql.MySQLError:
                            return
                        continue
                    if isinstance(e, pymysql.OperationalError):
                        return  # the server went away
                    stats.add(violation=f"writer {n}: unexpected error {e}")
                    return
    except (pymysql.OperationalError, pymysql.InterfaceError, OSError):
        return


def reader(deadline, accounts, total, stats):
    c = connect()
    cur = c.cursor()
    try:
        while time.time() < deadline:
            cur.execute("BEGIN")
            cur.execute("SELECT SUM(balance), COUNT(*) FROM accounts")
            s, n = cur.fetchone()
            cur.execute("SELECT COUNT(*) FROM accounts WHERE balance < 0")
            negative = cur.fetchone()[0]
            cur.execute("SELECT SUM(balance) FROM accounts")
            again = cur.fetchone()[0]
            cur.execute("COMMIT")
            if int(s) != total or n != accounts or negative or int(again) != total:
                stats.add(violation=f"reader saw sum={s} again={again} rows={n} "
                                    f"negative={negative}")
    except (pymysql.OperationalError, pymysql.InterfaceError, OSError):
        return
    except pymysql.MySQLError as e:
        stats.add(violation=f"reader: unexpected error {e}")


def run(seconds, writers, readers, acked_path):
    c = connect()
    cur = c.cursor()
    cur.execute("SELECT COUNT(*), SUM(balance) FROM accounts")
    accounts, total = cur.fetchone()
    total = int(total)
    # Transfer ids of this run lie above every id already in the ledger.
    cur.execute("SELECT COALESCE(MAX(id), 0) FROM ledger")
    first_id = (int(cur.fetchone()[0]) // 10**12 + 1) * 10**12
    c.close()
    deadline = time.time() + seconds
    stats = Stats()
    with open(acked_path, "a") as acked:
        threads = [threading.Thread(target=writer,
                                    args=(n + 1, first_id, deadline, accounts, acked, stats))
                   for n in range(writers)]
        threads += [threading.Thread(target=reader, args=(deadline, accounts, total, stats))
                    for _ in range(readers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    print(f"transfers={stats.transfers} retries={stats.retries} "
          f"violations={len(stats.violations)}")
    for v in stats.violations[:10]:
        print(v)


def check(accounts, balance, acked_path):
    c = connect()
    cur = c.cursor()
    cur.execute("SELECT id, balance FROM accounts ORDER BY id")
    balances = dict(cur.fetchall())
    cur.execute("SELECT id, src, dst, amount FROM ledger")
    ledger = cur.fetchall()
    problems = []
    if len(balances) != accounts:
        problems.append(f"{len(balances)} accounts, expected {accounts}")
    if sum(balances.values()) != accounts * balance:
        problems.append(f"total {sum(balances.values())}, expected {accounts * balance}")
    expected = {i: balance for i in range(accounts)}
    for _, src, dst, amount in ledger:
        expected[src] -= amount
        expected[dst] += amount
    for i, b in balances.items():
        if b != expected[i]:
            problems.append(f"account {i}: balance {b}, ledger says {expected[i]}")
        if b < 0:
            problems.append(f"account {i} is negative: {b}")
    in_ledger = {row[0] for row in ledger}
    with open(acked_path) as f:
        acked = [int(line) for line in f if line.strip()]
    lost = [t for t in acked if t not in in_ledger]
    if lost:
        problems.append(f"{len(lost)} acknowledged transfers are missing, e.g. {lost[:5]}")
    print(f"acked={len(acked)} ledger={len(ledger)} problems={len(problems)}")
    for p in problems[:20]:
        print(p)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "setup":
        setup(int(sys.argv[2]), int(sys.argv[3]))
    elif cmd == "run":
        run(float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    elif cmd == "check":
        check(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    else:
        sys.exit(f"unknown command {cmd}")
