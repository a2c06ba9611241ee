"""Check-then-insert races over the MySQL protocol, for tests/reef/elle.rs.

  phantom.py ISOLATION CLIENTS ROOMS   (ISOLATION as SQL spells it: "REPEATABLE READ")

For each of ROOMS rooms, CLIENTS PyMySQL connections start together (a barrier) and each
runs, between BEGIN and COMMIT at the session's isolation level, "count the room's
bookings; book it if there are none" (`SELECT COUNT(*) ... WHERE room = ?`, a range of the
primary key `(room, who)`, then an INSERT of its own key). Deadlocks and lock wait timeouts
(1213, 1205) are retried; anything else stops the run. Prints one line per room:
`room <n> <bookings>`. A serializable database books every room exactly once.
"""

import os
import sys
import threading

import pymysql

PORT = int(os.environ["PORT"])
RETRYABLE = (1213, 1205)


def main(isolation, clients, rooms):
    setup = pymysql.connect(host="127.0.0.1", port=PORT, user="root", autocommit=True)
    cur = setup.cursor()
    cur.execute("CREATE DATABASE IF NOT EXISTS phantom")
    cur.execute("DROP TABLE IF EXISTS phantom.booking")
    cur.execute("CREATE TABLE phantom.booking (room INT, who INT, PRIMARY KEY (room, who))")
    barrier = threading.Barrier(clients)
    errors = []

    def client(who):
        try:
            book(who)
        except threading.BrokenBarrierError:
            pass
        except Exception as e:  # any failure fails the run, never a silent thread
            errors.append(repr(e))
            barrier.abort()

    def book(who):
        c = pymysql.connect(host="127.0.0.1", port=PORT, user="root", database="phantom",
                            autocommit=True)
        cur = c.cursor()
        cur.execute(f"SET SESSION TRANSACTION ISOLATION LEVEL {isolation}")
        for room in range(rooms):
            barrier.wait()
            while True:
                try:
                    cur.execute("BEGIN")
                    cur.execute("SELECT COUNT(*) FROM booking WHERE room = %s", (room,))
                    if cur.fetchone()[0] == 0:
                        cur.execute("INSERT INTO booking VALUES (%s, %s)", (room, who))
                    cur.execute("COMMIT")
                    break
                except pymysql.err.OperationalError as e:
                    if e.args[0] not in RETRYABLE:
                        raise
                    cur.execute("ROLLBACK")

    threads = [threading.Thread(target=client, args=(w,)) for w in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        sys.exit("errors: " + "; ".join(errors))
    cur.execute("SELECT room, COUNT(*) FROM phantom.booking GROUP BY room ORDER BY room")
    counts = dict(cur.fetchall())
    for room in range(rooms):
        print(f"room {room} {counts.get(room, 0)}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
