#!/usr/bin/env python3
"""Reads what a keyed_by=any group left on the broker, for a failed
scenario's post-mortem: the committed offsets of its repartition topic, the
records of one repartition partition (events, markers, notices, hand-overs;
the formats are in src/kafka/repart.h), and the waits still live in one
changelog partition.

    python3 repdump.py GROUP                  committed / end offsets
    python3 repdump.py GROUP P [--from N]     repartition partition P
    python3 repdump.py GROUP P --waits        live w:/t: records of changelog P
    python3 repdump.py GROUP P --links        links of partition P without a hand-over

KAFKA_BOOTSTRAP names the broker (127.0.0.1:9092).

A link whose hand-over is missing, or a wait still live at the end, is
where a frozen customer is stuck."""
import argparse
import os
import struct
import time

from confluent_kafka import Consumer, TopicPartition

from kafkaio import Cluster

BOOT = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")


def _str(b, o):
    n, = struct.unpack_from("<I", b, o)
    o += 4
    if n == 0xFFFFFFFF:
        return None, o
    return b[o:o + n].decode(errors="replace"), o + n


def _event(b, o):
    ts, = struct.unpack_from("<q", b, o)
    o += 8
    cust, o = _str(b, o)
    anon, o = _str(b, o)
    eid, o = _str(b, o)
    ns, = struct.unpack_from("<I", b, o)
    o += 4
    for _ in range(ns):
        _, o = _str(b, o)
    return {"ts": ts, "customer": cust, "anon": anon, "event_id": eid}, o


def decode(b):
    kind = chr(b[0])
    if kind == "E":
        ev, _ = _event(b, 2)
        return {"kind": "E", "link": bool(b[1] & 1), **ev}
    if kind == "M":
        src, r, f, idle = struct.unpack_from("<Iqqb", b, 1)
        return {"kind": "M", "src": src, "r": r, "f": f, "idle": idle}
    if kind == "N":
        ts, dest = struct.unpack_from("<qI", b, 1)
        anon, _ = _str(b, 13)
        return {"kind": "N", "ts": ts, "dest": dest, "anon": anon}
    if kind == "H":
        ts, = struct.unpack_from("<q", b, 1)
        anon, o = _str(b, 9)
        nrec, = struct.unpack_from("<I", b, o)
        o += 4
        keys = []
        for _ in range(nrec):
            k, o = _str(b, o)
            _, o = _str(b, o)
            keys.append(k)
        nev, = struct.unpack_from("<I", b, o)
        o += 4
        evs = []
        for _ in range(nev):
            ev, o = _event(b, o)
            evs.append(ev["event_id"])
        return {"kind": "H", "ts": ts, "anon": anon, "records": keys, "events": evs}
    return {"kind": kind}


def read(topic, part, start=0):
    c = Consumer({"bootstrap.servers": BOOT, "group.id": "journeyd-repdump",
                  "enable.auto.commit": False, "isolation.level": "read_committed",
                  "enable.partition.eof": True})
    c.assign([TopicPartition(topic, part, start)])
    try:
        while True:
            m = c.poll(5)
            if m is None or m.error():
                return
            yield m
    finally:
        c.close()


def when(m):
    return time.strftime("%H:%M:%S", time.gmtime(m.timestamp()[1] / 1000))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("group")
    ap.add_argument("partition", nargs="?", type=int)
    ap.add_argument("--from", dest="start", type=int, default=0)
    ap.add_argument("--waits", action="store_true")
    ap.add_argument("--links", action="store_true")
    a = ap.parse_args()
    rp, cl = a.group + "-journeyd-repartition", a.group + "-journeyd-changelog"
    if a.partition is None:
        cluster = Cluster(BOOT)
        n = cluster.partitions(rp)
        committed, ends = cluster.committed(a.group, rp, n), cluster.end_offsets(rp, n)
        for p in range(n):
            c = committed[p]
            print("%s [%d] committed %d end %d behind %d" % (rp, p, c, ends[p],
                                                            ends[p] - max(c, 0)))
        cluster.close()
    elif a.waits:
        live = {}
        for m in read(cl, a.partition):
            k = m.key().decode(errors="replace")
            if not (k.startswith("w:") or k.startswith("t:")):
                continue
            if m.value() is None:
                live.pop(k, None)
            else:
                live[k] = (m.offset(), when(m), m.value().decode(errors="replace"))
        for k, (off, t, v) in sorted(live.items()):
            print(off, t, k, v[:300])
    elif a.links:
        links, hos = {}, set()
        for m in read(rp, a.partition):
            d = decode(m.value())
            if d["kind"] == "E" and d["link"]:
                links[(d["anon"], d["ts"])] = (m.offset(), when(m), d["customer"])
            elif d["kind"] == "H":
                hos.add((d["anon"], d["ts"]))
        missing = sorted((v, k) for k, v in links.items() if k not in hos)
        print("%d links, %d without a hand-over" % (len(links), len(missing)))
        for (off, t, cust), (anon, ts) in missing:
            print(off, t, anon, "->", cust, "at", ts)
    else:
        for m in read(rp, a.partition, a.start):
            print(m.offset(), when(m), decode(m.value()))


if __name__ == "__main__":
    main()
