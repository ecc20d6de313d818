"""The harness's loads: bench/gen.c output made per-customer, a tail that
closes every window, and the reference alerts from `journeyd replay`.
"""
import datetime
import json
import os
import subprocess
from collections import Counter


def build_gen(root, outdir):
    src = os.path.join(root, "bench", "gen.c")
    exe = os.path.join(outdir, "gen")
    if not os.path.exists(exe) or os.path.getmtime(exe) < os.path.getmtime(src):
        subprocess.run(["cc", "-std=c11", "-O2", "-o", exe, src, "-lm"], check=True)
    return exe


def generate(gen, out, events, customers, seed, span_h=6):
    """Skewed (Zipf 1.2, one customer up to 8000 events), multi-channel
    (web, app, email, sms, store, call, chat), many injected patterns so a
    lost alert shows. Returns gen's one-line summary."""
    raw = out + ".raw"
    r = subprocess.run([gen, "-n", str(events), "-c", str(customers), "-s", str(seed),
                        "-o", raw, "--truth", out + ".truth", "--zipf", "1.2",
                        "--cap", "8000", "--pattern-pct", "50", "--span-h", str(span_h)],
                       check=True, capture_output=True, text=True)
    per_customer(raw, out)
    os.unlink(raw)
    return r.stderr.strip()


TS_FORMAT = "%Y-%m-%dT%H:%M:%S"


def parse_ts(ts):
    """gen.c's "2026-11-22T06:00:00.020Z" as a naive UTC datetime."""
    return datetime.datetime.strptime(ts[:23], TS_FORMAT + ".%f")


def format_ts(t):
    return t.strftime(TS_FORMAT) + ".%03dZ" % (t.microsecond // 1000)


def per_customer(src, dst):
    """Gives every anonymous event of a customer who links later that
    customer's id, so `journeyd produce` keys all of a customer's events
    alike and they share a partition (input.keyed_by=customer, contract
    section 7). Re-keying across partitions (keyed_by=any) is not what this
    harness tests.
    gen.c dates its events from 2026-11-22. On a clock earlier than the
    tail (a day after the last event), every event would be a `future_ts`
    dead letter (time.max_future), so the dates then move back by whole
    days."""
    links = {}
    last = ""
    with open(src, "rb") as f:
        for line in f:
            e = json.loads(line)
            last = max(last, e["ts"])
            if "customer_id" in e and "anonymous_id" in e:
                links.setdefault(e["anonymous_id"], e["customer_id"])
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    tail = parse_ts(last) + datetime.timedelta(days=1)
    shift = datetime.timedelta(days=max(0, (tail - now).days + 2))
    with open(src, "rb") as f, open(dst, "wb") as out:
        for line in f:
            e = json.loads(line)
            changed = False
            if "customer_id" not in e and e.get("anonymous_id") in links:
                e["customer_id"] = links[e["anonymous_id"]]
                changed = True
            if shift:
                e["ts"] = format_ts(parse_ts(e["ts"]) - shift)
                changed = True
            if changed:
                line = (json.dumps(e, separators=(",", ":")) + "\n").encode()
            out.write(line)


def split(src, fractions, prefix):
    """Cuts src into consecutive files at the given fractions of its lines."""
    with open(src, "rb") as f:
        lines = f.readlines()
    cuts = [0] + [int(len(lines) * x) for x in fractions] + [len(lines)]
    paths = []
    for i in range(len(cuts) - 1):
        p = "%s.%d.ndjson" % (prefix, i)
        with open(p, "wb") as out:
            out.writelines(lines[cuts[i]:cuts[i + 1]])
        paths.append(p)
    return paths


def max_ts(path):
    best = ""
    with open(path, "rb") as f:
        for line in f:
            ts = json.loads(line)["ts"]
            best = max(best, ts)
    return best


def murmur2(data):
    """Kafka's murmur2 (the Java client's default partitioner), which
    journeyd's producer matches with partitioner=murmur2_random."""
    m, r = 0x5BD1E995, 24
    length = len(data)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    i = 0
    while length - i >= 4:
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
        i += 4
    rest = length - i
    if rest == 3:
        h ^= data[i + 2] << 16
    if rest >= 2:
        h ^= data[i + 1] << 8
    if rest >= 1:
        h ^= data[i]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


def partition_of(key, nparts):
    return (murmur2(key.encode()) & 0x7FFFFFFF) % nparts


def key_on(partition, nparts, prefix):
    """A key the producer sends to `partition`."""
    i = 0
    while partition_of("%s-%d" % (prefix, i), nparts) != partition:
        i += 1
    return "%s-%d" % (prefix, i)


def write_tail(path, after_ts, nparts):
    """One page_view per partition, a day after the load's last event: every
    partition's watermark passes every window of the load (the longest
    timeout is checkout_dropoff's 30 m), in replay and in run alike. A lone
    page_view raises nothing. Returns the keys in partition order."""
    t = parse_ts(after_ts) + datetime.timedelta(days=1)
    keys = [key_on(p, nparts, "tail") for p in range(nparts)]
    with open(path, "w") as out:
        for k in keys:
            out.write(json.dumps({"event_id": k, "ts": format_ts(t),
                                  "customer_id": k, "type": "page_view", "channel": "web",
                                  "page": "/tail"}, separators=(",", ":")) + "\n")
    return keys


def replay(journeyd, files, out, log):
    """Reference alert ids: `journeyd replay` of files, in order."""
    cmd = [*journeyd, "replay"]
    for f in files:
        cmd += ["-i", f]
    with open(out, "wb") as o, open(log, "wb") as e:
        subprocess.run(cmd, stdout=o, stderr=e, check=True)
    ids = Counter()
    with open(out, "rb") as f:
        for line in f:
            if line.strip():
                ids[json.loads(line)["alert_id"]] += 1
    if any(n > 1 for n in ids.values()):
        raise RuntimeError("replay itself repeats an alert_id")
    return set(ids)
