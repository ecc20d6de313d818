#!/usr/bin/env python3
"""bench/check.py — detection check for `make bench`.

  check.py ALERTS TRUTH [--json OUT] [--events FILE]
      Compare the alerts a replay wrote (NDJSON, fields "rule" and
      "customer_id" / "anonymous_id") with the generator's truth file.
      Every truth line without "expect":0 is one expected alert
      (rule, customer); "expect":0 lines are negative controls (e.g. a
      completed checkout, which must not raise checkout_dropoff). Reports
      missed patterns and unexpected alerts, exits 1 on any mismatch.
      --events adds the event lines of each mismatch to the report;
      --dedupe counts each alert_id once (alerts read back from Kafka).

  check.py --reference EVENTS [-o ALERTS]
      An independent, deliberately simple model of the default rules
      (contract section 5, with stitching of section 3 and the event-time
      order of section 4) that writes the alerts it expects, for checking
      the generator's truth without the engine:
          check.py --reference ev.ndjson -o ref.ndjson && check.py ref.ndjson truth
      It assumes what the generator guarantees: no late events, no
      duplicates, and every anonymous event of a stitched identity either
      before its link or harmless. Not a second engine. The check of every
      alert, on any input, is tests/reference/compare.py (bench/run.sh runs
      it after this one).
"""
import argparse
import collections
import datetime
import json
import sys


def ident(a):
    c = a.get("customer_id")
    return c if c else a.get("anonymous_id")


def load_truth(path):
    expected = collections.Counter()
    controls = {}
    info = collections.defaultdict(list)
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            t = json.loads(line)
            key = (t["rule"], t["customer"])
            info[key].append(t)
            if t.get("expect", 1):
                expected[key] += 1
            else:
                controls[key] = t
    return expected, controls, info


def load_alerts(path, dedupe=False):
    got = collections.Counter()
    lines = collections.defaultdict(list)
    seen = set()
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            a = json.loads(line)
            if dedupe and "alert_id" in a:
                if a["alert_id"] in seen:
                    continue
                seen.add(a["alert_id"])
            key = (a.get("rule"), ident(a))
            got[key] += 1
            lines[key].append(n)
    return got, lines


def events_of(path, ids, customers):
    """Event lines by event_id, and every line of the given identities."""
    by_id, by_who = {}, collections.defaultdict(list)
    with open(path) as f:
        for n, line in enumerate(f, 1):
            e = json.loads(line)
            if e.get("event_id") in ids:
                by_id[e["event_id"]] = (n, line.rstrip("\n"))
            for k in ("customer_id", "anonymous_id"):
                if e.get(k) in customers:
                    by_who[e[k]].append((n, line.rstrip("\n")))
    return by_id, by_who


def compare(args):
    expected, controls, info = load_truth(args.truth)
    got, alert_lines = load_alerts(args.alerts, args.dedupe)
    missed, unexpected = [], []
    for key, n in sorted(expected.items()):
        if got[key] < n:
            missed.append((key, n, got[key]))
    for key, n in sorted(got.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1]))):
        if n > expected.get(key, 0):
            unexpected.append((key, expected.get(key, 0), n))
    n_exp = sum(expected.values())
    n_got = sum(got.values())
    detected = n_exp - sum(e - g for _, e, g in missed)
    by_rule = collections.defaultdict(lambda: [0, 0, 0])  # expected, detected, unexpected
    for (rule, _), n in expected.items():
        by_rule[rule][0] += n
        by_rule[rule][1] += min(n, got[(rule, _)])
    for (rule, _), e, g in unexpected:
        by_rule[rule][2] += g - e

    print(f"detection: {detected}/{n_exp} expected alerts found, {len(missed)} patterns missed, "
          f"{sum(g - e for _, e, g in unexpected)} unexpected alerts ({n_got} alerts in total)")
    for rule in sorted(by_rule):
        e, d, u = by_rule[rule]
        print(f"  {rule:20s} expected {e:6d}  detected {d:6d}  unexpected {u:6d}")

    ev_ids, who = set(), set()
    for key, _, _ in missed + unexpected:
        who.add(key[1])
        for t in info.get(key, []):
            ev_ids.update(t.get("event_ids", []))
    by_id, by_who = ({}, {})
    if args.events and (missed or unexpected):
        by_id, by_who = events_of(args.events, ev_ids, who)

    limit = args.limit
    for i, (key, e, g) in enumerate(missed):
        if i == limit:
            print(f"  ... {len(missed) - limit} more missed")
            break
        t = info[key][0]
        print(f"MISSED {key[0]} for {key[1]}: expected {e}, got {g} "
              f"(pattern {t.get('pattern')}, events {','.join(t.get('event_ids', []))})")
        for eid in t.get("event_ids", []):
            if eid in by_id:
                print(f"    line {by_id[eid][0]}: {by_id[eid][1]}")
    for i, (key, e, g) in enumerate(unexpected):
        if i == limit:
            print(f"  ... {len(unexpected) - limit} more unexpected")
            break
        why = ""
        if key in controls:
            why = f" (negative control: pattern {controls[key].get('pattern')})"
        print(f"UNEXPECTED {key[0]} for {key[1]}: expected {e}, got {g}{why}, "
              f"alert lines {','.join(map(str, alert_lines[key][:5]))}")
        for n, line in by_who.get(key[1], [])[:12]:
            print(f"    line {n}: {line}")

    if args.json:
        with open(args.json, "w") as f:
            json.dump({
                "expected": n_exp, "detected": detected, "alerts": n_got,
                "missed": len(missed),
                "unexpected": sum(g - e for _, e, g in unexpected),
                "controls": len(controls),
                "by_rule": {r: {"expected": v[0], "detected": v[1], "unexpected": v[2]}
                            for r, v in sorted(by_rule.items())},
                "ok": not missed and not unexpected,
            }, f, indent=1)
    ok = not missed and not unexpected
    print("detection check: " + ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


# ---- reference model -------------------------------------------------------

def parse_ts(s):
    if isinstance(s, int):
        return s
    d = datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
    return round(d.timestamp() * 1000)


SEC, MIN, HOUR, DAY = 1000, 60000, 3600000, 86400000
BURSTS = [  # name, type, same, count, gap, within
    ("rage_click", "click", ("page", "element"), 3, 1 * SEC, None),
    ("error_burst", "error", (), 3, None, 60 * SEC),
    ("login_failures", "login_failed", (), 3, None, 10 * MIN),
    ("page_loop", "page_view", ("page",), 3, None, 15 * SEC),
    ("repeat_contact", "support_contact", (), 2, None, 7 * DAY),
]
FUNNEL = ("checkout_dropoff", ["add_to_cart", "checkout_start", "purchase"], 30 * MIN)
SEQ_FIRST_TYPES = {"error", "payment_failed", "login_failed"}
SEQ_FIRST_ALERTS = {"rage_click", "error_burst", "login_failures", "checkout_dropoff"}
SEQ_THEN_CHANNELS = {"call", "chat", "email"}
SEQ_WITHIN = 24 * HOUR


def reference(args):
    parent = {}

    def find(x):
        while parent.get(x, x) != x:
            parent[x] = parent.get(parent[x], parent[x])
            x = parent[x]
        return x

    events = []
    link_ts = {}  # anonymous_id -> ts of its first link
    with open(args.reference) as f:
        for n, line in enumerate(f):
            e = json.loads(line)
            e["_t"] = parse_ts(e["ts"])
            e["_n"] = n
            events.append(e)
            c, a = e.get("customer_id"), e.get("anonymous_id")
            if c and a:
                ra, rc = find("a:" + a), find("c:" + c)
                if ra != rc:
                    parent[ra] = rc
                link_ts.setdefault(a, e["_t"])
    max_ts = max(e["_t"] for e in events)
    groups = collections.defaultdict(list)
    for e in events:
        c, a = e.get("customer_id"), e.get("anonymous_id")
        groups[find("c:" + c if c else "a:" + a)].append(e)

    alerts = []
    for root, evs in groups.items():
        evs.sort(key=lambda e: (e["_t"], e["_n"]))
        cust = root[2:] if root.startswith("c:") else None
        anon = root[2:] if root.startswith("a:") else None
        linked = {}  # anonymous ids of this group -> link ts

        def name(t, e=None):
            # customer_id when known at time t, else the anonymous id
            if cust is None:
                return ("anonymous_id", anon)
            if e is not None and e.get("customer_id"):
                return ("customer_id", cust)
            a = e.get("anonymous_id") if e is not None else None
            if a and link_ts.get(a, max_ts + 1) > t:
                return ("anonymous_id", a)
            if a is None and linked and min(linked.values()) > t:
                return ("anonymous_id", min(linked, key=linked.get))
            return ("customer_id", cust)

        for e in evs:
            a = e.get("anonymous_id")
            if a and a in link_ts:
                linked[a] = link_ts[a]
        chains = collections.defaultdict(list)
        firsts = []
        funnel = None  # [start, step]
        out = []

        def emit(rule, t, e=None):
            k, v = name(t, e)
            out.append({"rule": rule, k: v, "ts": t})
            if rule in SEQ_FIRST_ALERTS:
                firsts.append(t)

        def fire_funnel_before(t):
            nonlocal funnel
            if funnel and funnel[0] + FUNNEL[2] < t:
                emit(FUNNEL[0], funnel[0] + FUNNEL[2], funnel[2])
                funnel = None

        for e in evs:
            t, ty = e["_t"], e.get("type")
            fire_funnel_before(t)
            for rname, mtype, same, count, gap, within in BURSTS:
                if ty != mtype:
                    continue
                ch = chains[(rname,) + tuple(e.get(s) for s in same)]
                if gap is not None:
                    if ch and t - ch[-1] > gap:
                        ch.clear()
                    ch.append(t)
                else:
                    ch.append(t)
                    while t - ch[0] > within:
                        ch.pop(0)
                if len(ch) >= count:
                    ch.clear()
                    emit(rname, t, e)
            steps = FUNNEL[1]
            if funnel is None:
                if ty == steps[0]:
                    funnel = [t, 1, e]
            elif funnel[1] < len(steps) and ty == steps[funnel[1]] and t <= funnel[0] + FUNNEL[2]:
                funnel[1] += 1
                funnel[2] = e
                if funnel[1] == len(steps):
                    funnel = None
            if ty in SEQ_FIRST_TYPES:
                firsts.append(t)
            if ty == "support_contact" and e.get("channel") in SEQ_THEN_CHANNELS:
                live = [f for f in firsts if 0 <= t - f <= SEQ_WITHIN]
                if live:
                    emit("channel_escalation", t, e)
                firsts = [f for f in firsts if f > t]
        if funnel and funnel[0] + FUNNEL[2] < max_ts:
            emit(FUNNEL[0], funnel[0] + FUNNEL[2], funnel[2])
        alerts.extend(out)

    alerts.sort(key=lambda a: (a["ts"], a["rule"], ident(a)))
    f = open(args.output, "w") if args.output and args.output != "-" else sys.stdout
    for a in alerts:
        f.write(json.dumps(a) + "\n")
    if f is not sys.stdout:
        f.close()
    print(f"reference: {len(events)} events, {len(groups)} identities, {len(alerts)} alerts",
          file=sys.stderr)
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("alerts", nargs="?")
    p.add_argument("truth", nargs="?")
    p.add_argument("--json", help="write the figures as JSON here")
    p.add_argument("--events", help="the replayed event file, to quote mismatching lines")
    p.add_argument("--limit", type=int, default=20, help="mismatches printed per kind")
    p.add_argument("--dedupe", action="store_true",
                   help="count an alert_id once (at-least-once redelivery, e.g. from Kafka)")
    p.add_argument("--reference", metavar="EVENTS", help="run the reference model instead")
    p.add_argument("-o", "--output", help="with --reference: alerts file (default stdout)")
    args = p.parse_args()
    if args.reference:
        return reference(args)
    if not args.alerts or not args.truth:
        p.error("ALERTS and TRUTH are required")
    return compare(args)


if __name__ == "__main__":
    sys.exit(main())
