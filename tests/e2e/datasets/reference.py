#!/usr/bin/env python3
"""Independent reference for the dataset examples (python3 standard library only).

Written from the product contract (docs: ../shared/spec/contract.md, sections
2, 4 and 5), not from journeyd's source. It reads an example config for the
field mapping, time format, lateness and rules, reads the captured dataset the
same way a user would describe it (CSV/TSV with a header), and computes:

  events, dead letters, late events, customers,
  per funnel rule: attempts, completed, pending at end, reached and
  dropped-after per step, and the drop-off alerts;
  per burst rule (gap or within): the alerts;
  every alert as (rule, identity, ts) so the test can compare more than counts.

Only what the example configs use is supported: CSV input with a header,
top-level column names in `fields`, `defaults`, time.format = a strftime
pattern, epoch_s or epoch_ms, match filters of field -> value or list of
values, burst rules (`same`, `count`, `gap` or `within`), funnel rules
(`steps`, `within`), no cooldown, no event_id (so no de-duplication), one
identity per row (so no stitching). Anything else makes it exit 2, so the
reference never silently computes something different from the config.

Semantics implemented (contract wording in quotes):
  * watermark = largest ts seen so far minus time.lateness; an event "older
    than the watermark" (ts < watermark, strictly) is late: a dead letter,
    counted, not evaluated.  The watermark only moves forward.
  * "Each customer's events are evaluated in ts order (ties: arrival order)".
  * A timeout (funnel deadline = start + within) "fires when the watermark
    exceeds its deadline (strictly)", and an event at t is evaluated after
    every timeout whose deadline is before t.  Because a non-late event at t
    always has t >= watermark, a customer's attempt with deadline D drops off
    before that customer's next event iff the event's t > D; so evaluating each
    customer's sorted events on their own is exact.
  * At the end "the final watermark is the largest ts seen: timeouts with a
    deadline before it fire; windows still open are counted as pending"
    -- "unless --flush-at-end is given": then every open attempt drops off
    (alert at start + within) and none is pending.
  * funnel: a step-1 event starts an attempt if none is open; later steps
    must come in order (other events ignored); the last step at or before
    start + within completes it; otherwise it drops off naming the last
    step reached; the next step-1 event after completion or drop-off starts
    a new attempt.
  * burst within: alert when `count` unconsumed matching events of one
    customer (per `same` group) have last - first <= within; they are
    consumed.  burst gap: a chain where each event is at most `gap` after the
    previous one; a longer pause starts a new chain; alert at `count`;
    consumed (the next chain starts empty).
"""
import csv
import datetime
import json
import re
import sys
from collections import defaultdict

CANONICAL = ("ts", "customer_id", "anonymous_id", "type", "channel",
             "event_id", "session_id", "page", "element")
DEFAULT_FIELDS = {k: k for k in CANONICAL}


def die(msg):
    print("reference: " + msg, file=sys.stderr)
    sys.exit(2)


def duration_ms(v):
    if isinstance(v, int):
        return v
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d)", str(v))
    if not m:
        die("unsupported duration %r" % (v,))
    return int(m.group(1)) * {"ms": 1, "s": 1000, "m": 60000,
                              "h": 3600000, "d": 86400000}[m.group(2)]


def iso_ms(ms):
    d = datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=ms)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def parse_epoch(text, scale):
    """Exact decimal parse (no float rounding) of epoch seconds/millis -> ms."""
    m = re.fullmatch(r"\s*(\d+)(?:\.(\d*))?\s*", text)
    if not m:
        return None
    whole, frac = m.group(1), m.group(2) or ""
    if scale == "s":
        # milliseconds: first 3 fraction digits (truncated)
        return int(whole) * 1000 + int((frac + "000")[:3])
    return int(whole)


def make_time_parser(fmt):
    if fmt == "epoch_s":
        return lambda s: parse_epoch(s, "s")
    if fmt == "epoch_ms":
        return lambda s: parse_epoch(s, "ms")
    if "%" not in fmt:
        die("unsupported time.format %r" % fmt)

    def p(s):
        try:
            d = datetime.datetime.strptime(s, fmt)
        except ValueError:
            return None
        d = d.replace(tzinfo=datetime.timezone.utc)
        return int(d.timestamp()) * 1000 + d.microsecond // 1000
    return p


def set_path(conf, path, value):
    keys = path.split(".")
    node = conf
    for k in keys[:-1]:
        node = node.setdefault(k, {})
    node[keys[-1]] = value


def load_config(path, overrides):
    conf = json.load(open(path))
    for ov in overrides:
        k, _, v = ov.partition("=")
        set_path(conf, k, v)
    return conf


class Funnel:
    def __init__(self, rule):
        self.name = rule["name"]
        self.steps = rule["steps"]
        self.within = duration_ms(rule["within"])
        self.attempts = 0
        self.completed = 0
        self.pending = 0
        self.reached = [0] * len(self.steps)
        self.dropped_after = [0] * len(self.steps)
        self.flush_at_end = False

    def run(self, ident, events, final_wm, match, alerts, resolve):
        n = len(self.steps)
        start = None      # ts of the open attempt's step-1 event, or None
        last = 0          # index (1-based) of last step reached

        def drop():
            self.dropped_after[last - 1] += 1
            alerts.append((self.name, ident, start + self.within,
                           {"last_step": last,
                            "last_step_name": self.steps[last - 1]["name"]}))

        for ev in events:
            t = ev["_ts"]
            if start is not None and start + self.within < t:
                drop()                       # deadline before t fires first
                start = None
            if start is None:
                if match(ev, self.steps[0]["match"]):
                    start, last = t, 1
                    self.attempts += 1
                    self.reached[0] += 1
                    if n == 1:
                        die("one-step funnel")
                continue
            # attempt open and t <= deadline: only the next step counts
            if match(ev, self.steps[last]["match"]):
                last += 1
                self.reached[last - 1] += 1
                if last == n:
                    self.completed += 1
                    start = None
        if start is not None:
            if start + self.within < final_wm or self.flush_at_end:
                drop()
            else:
                self.pending += 1

    def report(self):
        return {"attempts": self.attempts, "completed": self.completed,
                "pending": self.pending,
                "dropped": sum(self.dropped_after),
                "steps": [{"name": s["name"], "reached": r, "dropped_after": d}
                          for s, r, d in zip(self.steps, self.reached,
                                             self.dropped_after)]}


class Burst:
    def __init__(self, rule):
        self.name = rule["name"]
        self.filter = rule.get("match", {})
        self.same = rule.get("same", [])
        self.count = int(rule["count"])
        self.gap = duration_ms(rule["gap"]) if "gap" in rule else None
        self.within = duration_ms(rule["within"]) if "within" in rule else None
        if (self.gap is None) == (self.within is None):
            die("burst %s needs exactly one of gap/within" % self.name)

    def run(self, ident, events, final_wm, match, alerts, resolve):
        pending = defaultdict(list)     # group -> unconsumed event times
        for ev in events:
            if not match(ev, self.filter):
                continue
            group = tuple(resolve(ev, f) for f in self.same)
            g = pending[group]
            t = ev["_ts"]
            if self.within is not None:
                # events more than `within` before t can never again be the
                # first of a window ending at t or later (ts order)
                while g and t - g[0] > self.within:
                    g.pop(0)
            elif g and t - g[-1] > self.gap:
                g.clear()                 # a longer pause starts a new chain
            g.append(t)
            if len(g) >= self.count:
                alerts.append((self.name, ident, t,
                               {"first_ts": g[0], "group": dict(zip(self.same, group))}))
                g.clear()                 # the events that fired it are consumed


def main(argv):
    args, overrides, alerts_out, flush = [], [], None, False
    i = 0
    while i < len(argv):
        if argv[i] == "--flush-at-end":
            flush = True; i += 1
        elif argv[i] == "-X":
            overrides.append(argv[i + 1]); i += 2
        elif argv[i] == "--alerts-out":
            alerts_out = argv[i + 1]; i += 2
        else:
            args.append(argv[i]); i += 1
    if len(args) < 2:
        die("usage: reference.py CONFIG FILE... [-X key=value] [--flush-at-end] [--alerts-out F]")
    conf = load_config(args[0], overrides)
    inp = conf.get("input", {})
    if inp.get("format") != "csv":
        die("only csv input supported")
    csvc = inp.get("csv", {})
    delim = csvc.get("delimiter", ",")
    if delim == "\\t":
        delim = "\t"
    if csvc.get("header", True) is not True:
        die("only csv with header supported")
    fields = dict(DEFAULT_FIELDS)
    fields.update(conf.get("fields", {}))
    defaults = {"channel": "unknown"}
    defaults.update(conf.get("defaults", {}))
    tconf = conf.get("time", {})
    parse_ts = make_time_parser(tconf.get("format", "auto"))
    lateness = duration_ms(tconf.get("lateness", "5s"))
    for f in fields.values():
        if f.startswith("/"):
            die("JSON Pointer fields not supported")

    rules = []
    for r in conf.get("rules", []):
        if "cooldown" in r:
            die("cooldown not supported")
        if r["kind"] == "funnel":
            rules.append(Funnel(r))
            rules[-1].flush_at_end = flush
        elif r["kind"] == "burst":
            rules.append(Burst(r))
        else:
            die("rule kind %s not supported" % r["kind"])

    def resolve(ev, name):
        if name in CANONICAL:
            return ev.get(name)
        return ev["_row"].get(name)

    def match(ev, flt):
        for k, want in flt.items():
            got = resolve(ev, k)
            if isinstance(want, list):
                if got not in [str(w) for w in want]:
                    return False
            elif got != str(want):
                return False
        return True

    events_read = dead = late = 0
    dl_reasons = defaultdict(int)
    max_ts = None
    nonmonotonic = 0          # rows whose ts is below an earlier row's ts
    per_cust = defaultdict(list)
    arrival = 0
    for path in args[1:]:
        with open(path, newline="") as fh:
            for row in csv.DictReader(fh, delimiter=delim):
                events_read += 1
                ev = {}
                for canon in CANONICAL:
                    col = fields[canon]
                    v = row.get(col)
                    if v is None or v == "":
                        v = defaults.get(canon)
                    if v is not None:
                        ev[canon] = v
                ts = parse_ts(ev["ts"]) if "ts" in ev else None
                ident = ev.get("customer_id") or ev.get("anonymous_id")
                if ts is None or "type" not in ev or not ident:
                    dead += 1
                    dl_reasons["invalid"] += 1
                    continue
                if max_ts is not None and ts < max_ts:
                    nonmonotonic += 1
                if max_ts is not None and ts < max_ts - lateness:
                    dead += 1
                    late += 1
                    dl_reasons["late"] += 1
                    continue
                if max_ts is None or ts > max_ts:
                    max_ts = ts
                ev["_ts"] = ts
                ev["_row"] = row
                ev["_arrival"] = arrival
                arrival += 1
                per_cust[ident].append(ev)

    final_wm = max_ts
    alerts = []
    for ident, evs in per_cust.items():
        evs.sort(key=lambda e: (e["_ts"], e["_arrival"]))
        for r in rules:
            r.run(ident, evs, final_wm, match, alerts, resolve)

    by_rule = defaultdict(int)
    for a in alerts:
        by_rule[a[0]] += 1
    out = {
        "events_read": events_read,
        "dead_letters": dead,
        "dead_letters_by_reason": dict(dl_reasons),
        "late": late,
        "rows_out_of_order": nonmonotonic,
        "customers": len(per_cust),
        "max_ts": iso_ms(max_ts) if max_ts is not None else None,
        "alerts": len(alerts),
        "alerts_by_rule": {r.name: by_rule.get(r.name, 0) for r in rules},
        "funnels": {r.name: r.report() for r in rules if isinstance(r, Funnel)},
    }
    if alerts_out:
        with open(alerts_out, "w") as fh:
            for rule, ident, ts, extra in sorted(alerts, key=lambda a: (a[0], a[1], a[2])):
                tail = ""
                if "last_step" in extra:
                    tail = "\tlast_step=%d" % extra["last_step"]
                fh.write("%s\t%s\t%s%s\n" % (rule, ident, iso_ms(ts), tail))
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main(sys.argv[1:])
