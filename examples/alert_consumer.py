#!/usr/bin/env python3
"""Example downstream consumer of journeyd's alert topic: per-rule counts in
SQLite, for a dashboard team to copy and adapt.

  python3 examples/alert_consumer.py -b 127.0.0.1:9092 -t cx.alerts --db alerts.db
  sqlite3 alerts.db 'SELECT rule, severity, alerts FROM rule_counts'

- read_committed: with processing.guarantee=exactly_once, alerts of aborted
  transactions are never seen (harmless with at_least_once).
- De-duplicated by alert_id: journeyd is at-least-once by default, and a crash
  may repeat an alert, always with the same alert_id. The PRIMARY KEY makes a
  repeat a no-op, so counts stay exact.
- Offsets are committed after the SQLite transaction commits: a crash in
  between re-reads alerts that the primary key then ignores.
Needs python3-confluent-kafka (Debian) and the standard library.
"""
import argparse
import json
import sqlite3
import sys
import time

from confluent_kafka import Consumer, KafkaError

SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    alert_id TEXT PRIMARY KEY, rule TEXT NOT NULL, kind TEXT, severity TEXT,
    identity TEXT, customer TEXT, ts TEXT, emitted_at TEXT);
CREATE TABLE IF NOT EXISTS rule_counts (
    rule TEXT NOT NULL, severity TEXT NOT NULL, alerts INTEGER NOT NULL,
    PRIMARY KEY (rule, severity));
CREATE TABLE IF NOT EXISTS rejected (topic TEXT, partition INTEGER, "offset" INTEGER, reason TEXT);
"""


def store(db, msg):
    """One alert in the current transaction; False if it was a repeat."""
    try:
        a = json.loads(msg.value())
        row = (a["alert_id"], a["rule"], a.get("kind"), a.get("severity", ""), a.get("identity"),
               a.get("customer_id") or a.get("anonymous_id"), a.get("ts"), a.get("emitted_at"))
    except (ValueError, KeyError, TypeError) as e:
        # not an alert: keep a trace, never stop the stream for it
        db.execute("INSERT INTO rejected VALUES (?,?,?,?)",
                   (msg.topic(), msg.partition(), msg.offset(), repr(e)[:200]))
        return False
    if db.execute("INSERT OR IGNORE INTO alerts VALUES (?,?,?,?,?,?,?,?)", row).rowcount == 0:
        return False
    db.execute("INSERT INTO rule_counts VALUES (?,?,1) ON CONFLICT (rule, severity) "
               "DO UPDATE SET alerts = alerts + 1", (row[1], row[3]))
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-b", "--bootstrap", default="127.0.0.1:9092")
    ap.add_argument("-t", "--topic", default="cx.alerts")
    ap.add_argument("-g", "--group", default="alert-dashboard")
    ap.add_argument("--db", default="alerts.db")
    ap.add_argument("--deadline", type=float, default=0, help="stop after this many seconds (0 = never)")
    ap.add_argument("--idle-exit", type=float, default=0,
                    help="stop once every partition is at its end and nothing came for this many seconds")
    args = ap.parse_args()

    db = sqlite3.connect(args.db)
    db.executescript(SCHEMA)
    consumer = Consumer({"bootstrap.servers": args.bootstrap, "group.id": args.group,
                         "isolation.level": "read_committed", "enable.auto.commit": False,
                         "auto.offset.reset": "earliest", "enable.partition.eof": True})
    consumer.subscribe([args.topic])
    start = last = time.monotonic()
    at_end, new, repeats = set(), 0, 0
    try:
        while not args.deadline or time.monotonic() - start < args.deadline:
            msgs = consumer.consume(num_messages=500, timeout=0.5)
            with db:  # one SQLite transaction per batch
                for m in msgs:  # in order: a partition's EOF comes after its messages
                    if not m.error():
                        at_end.discard((m.topic(), m.partition()))
                        if store(db, m):
                            new += 1
                        else:
                            repeats += 1
                    elif m.error().code() == KafkaError._PARTITION_EOF:
                        at_end.add((m.topic(), m.partition()))
                    else:
                        print(f"alert_consumer: {m.error()}", file=sys.stderr)
            if any(not m.error() for m in msgs):
                consumer.commit(asynchronous=False)
                last = time.monotonic()
            idle = time.monotonic() - last
            if args.idle_exit and at_end and len(at_end) == len(consumer.assignment()) and idle >= args.idle_exit:
                break
    finally:
        consumer.close()
    print(f"alert_consumer: {new} new alerts, {repeats} repeats or rejected", file=sys.stderr)
    for rule, sev, n in db.execute("SELECT rule, severity, alerts FROM rule_counts ORDER BY rule, severity"):
        print(f"{rule}\t{sev}\t{n}")
    db.close()


if __name__ == "__main__":
    main()
