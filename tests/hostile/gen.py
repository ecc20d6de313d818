#!/usr/bin/env python3
"""Hostile loads for journeyd (tests/hostile/measure.sh and t_unique_values).

  gen.py unique N   N events, every one with its own session_id and page,
                    5000 customers, 1 ms apart: the interner's worst case.
  gen.py samets N [C]  N events sharing one ts (the same-ts flood), over C
                    customers (default 100000).
  gen.py bomb  GIB  one event repeated to GIB GiB, as gzip on stdout.

NDJSON on stdout; the same arguments give the same bytes.
"""
import gzip
import sys

BASE_MS = 1795860000000  # 2026-11-28T10:00:00Z


def unique(n, out):
    buf = []
    for i in range(n):
        buf.append('{"ts":%d,"customer_id":"c-%d","type":"page_view","channel":"web",'
                   '"event_id":"e-%d","session_id":"s-%d","page":"/p/%d"}\n'
                   % (BASE_MS + i, i % 5000, i, i, i))
        if len(buf) == 10000:
            out.write("".join(buf))
            buf = []
    out.write("".join(buf))


def samets(n, out, customers=100000):
    buf = []
    for i in range(n):
        buf.append('{"ts":%d,"customer_id":"c-%d","type":"page_view","channel":"web",'
                   '"page":"/home"}\n' % (BASE_MS, i % customers))
        if len(buf) == 10000:
            out.write("".join(buf))
            buf = []
    out.write("".join(buf))


def bomb(gib, out):
    line = ('{"ts":%d,"customer_id":"c-1","type":"page_view","channel":"web","page":"/home"}\n'
            % BASE_MS).encode()
    chunk = line * ((1 << 20) // len(line))
    total = gib << 30
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9, mtime=0) as gz:
        done = 0
        while done + len(chunk) <= total:
            gz.write(chunk)
            done += len(chunk)
        rest = (total - done) // len(line)
        gz.write(line * rest)


def main():
    if len(sys.argv) not in (3, 4) or sys.argv[1] not in ("unique", "samets", "bomb"):
        sys.exit(__doc__)
    kind, n = sys.argv[1], int(sys.argv[2])
    if kind == "bomb":
        bomb(n, sys.stdout.buffer)
    elif kind == "samets":
        samets(n, sys.stdout, *(int(a) for a in sys.argv[3:]))
    else:
        unique(n, sys.stdout)


if __name__ == "__main__":
    main()
