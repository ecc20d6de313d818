#!/usr/bin/env python3
"""journeyd_ref.py — an independent reference of journeyd's alert semantics.

    journeyd_ref.py [-c CONFIG] [-X key=value ...] [--flush-at-end]
                    [-o ALERTS] [--summary-json FILE] INPUT.ndjson [...]

Written from the product contract (sections 2, 3, 4, 5 and 6, the default
rules of its appendix), not from journeyd's C code; python3 standard library
only. It reads NDJSON events and writes, one NDJSON line per alert, what the
contract says `journeyd replay` must emit: rule, kind, identity
(customer_id or anonymous_id), ts, first_ts, evidence.event_ids, and
evidence.first for sequences / funnel for drop-offs. alert_id is not
computed: README only says "a 64-bit hash of rule, identity and evidence",
not which hash, so compare.py matches alerts on their contents instead.

What it implements (contract wording in quotes):

  Time (4). The watermark is "the largest ts seen minus time.lateness"; an
  event "older than the watermark" (ts < watermark) on arrival is late: a
  dead letter, never evaluated. Every other event is evaluated in (ts,
  arrival) order, all customers on one clock. A timeout (funnel deadline
  start + within) fires before an event at t when its deadline < t, and
  after it when the deadline >= t. At the end the final watermark is the
  largest ts: deadlines before it fire, later ones are pending, unless
  --flush-at-end (then they all fire).

  Duplicates (2). "An event with an event_id already seen for that customer
  within journey.retention is a duplicate: counted, not processed again."
  Checked when the event is evaluated, against every id the (stitched)
  journey holds within retention — the contract's "at least the last
  journey.dedupe_ids" is a floor, this keeps them all (gen_load.py never
  re-sends an event more than a few hundred of its customer's events later,
  so both readings agree on its loads).

  Stitching (3). An evaluated event with customer_id and anonymous_id links
  them; from then on (event time) events with only that anonymous_id belong
  to the customer, and the anonymous journey so far is merged into the
  customer's. Where the contract is silent — how two rule states combine
  when both sides hold some — this follows README ("Identity stitching"):
  burst keeps the pending events that can still chain with the newest, at
  most count - 1; funnel keeps the attempt furthest along (the earlier on a
  tie); sequence keeps both sides' first occurrences. gen_load.py only
  stitches customers with no own events before the link, where every
  reading agrees. A link to a second customer moves the link (README).
  Alerts name customer_id when the journey is a customer's, else
  anonymous_id.

  burst (5): per group of `same` values, unconsumed matching events. `gap`:
  an event more than gap after the previous unconsumed one starts a new
  chain; `within`: events more than within before the new one can no
  longer be first of a window and are forgotten. At `count` one alert
  (ts = the event, evidence = the count events) and they are consumed.
  funnel (5): a step-1 event opens an attempt when none is open; only the
  next step advances it, at t <= start + within; the last step completes
  it; the deadline timeout emits a drop-off (ts = start + within, evidence
  = the steps reached, funnel.last_step). sequence (5): `first` is a filter
  or {"alert": [rules]} (alerts of this customer, including drop-offs, at
  their ts), a list is any-of; a `then` event fires when an unconsumed first
  occurrence lies within `within` before it (ts_then - ts_first <= within),
  and consumes all of them. cooldown (5): an alert less than cooldown after
  the rule's last alert for the customer is suppressed (counted); its
  events are still consumed and it feeds no sequence.

Not modelled (exit 2 if the config asks for them): rule language second
edition (5a), CSV input, JSON Pointer fields, custom time formats. Journey
expiry after journey.retention is not modelled: a warning is printed when
the input spans more than retention. journey.max_groups eviction is not
modelled (loads stay far below 4096 live groups).
"""
import argparse
import datetime
import heapq
import json
import re
import sys
from collections import Counter, defaultdict

DEFAULT_RULES = [
    {"name": "rage_click", "kind": "burst", "severity": "medium",
     "match": {"type": "click"}, "same": ["page", "element"], "count": 3, "gap": "1s"},
    {"name": "error_burst", "kind": "burst", "severity": "medium",
     "match": {"type": "error"}, "count": 3, "within": "60s"},
    {"name": "login_failures", "kind": "burst", "severity": "medium",
     "match": {"type": "login_failed"}, "count": 3, "within": "10m"},
    {"name": "page_loop", "kind": "burst", "severity": "low",
     "match": {"type": "page_view"}, "same": ["page"], "count": 3, "within": "15s"},
    {"name": "checkout_dropoff", "kind": "funnel", "severity": "high", "within": "30m",
     "steps": [{"name": "add_to_cart", "match": {"type": "add_to_cart"}},
               {"name": "checkout_start", "match": {"type": "checkout_start"}},
               {"name": "purchase", "match": {"type": "purchase"}}]},
    {"name": "channel_escalation", "kind": "sequence", "severity": "high", "within": "24h",
     "first": [{"type": ["error", "payment_failed", "login_failed"]},
               {"alert": ["rage_click", "error_burst", "login_failures", "checkout_dropoff"]}],
     "then": {"type": "support_contact", "channel": ["call", "chat", "email"]}},
    {"name": "repeat_contact", "kind": "burst", "severity": "medium",
     "match": {"type": "support_contact"}, "count": 2, "within": "7d"},
]
CANONICAL = ("ts", "customer_id", "anonymous_id", "type", "channel",
             "event_id", "session_id", "page", "element")


def die(msg):
    print("journeyd_ref: " + msg, file=sys.stderr)
    sys.exit(2)


def duration_ms(v):
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d)?", str(v))   # no unit: ms (-X gives strings)
    if not m:
        die("unsupported duration %r" % (v,))
    return int(m.group(1)) * {"ms": 1, "s": 1000, "m": 60000,
                              "h": 3600000, "d": 86400000}[m.group(2) or "ms"]


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def parse_ts(v):
    """RFC 3339 (offsets allowed) or integer epoch ms -> ms, None if bad."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if not isinstance(v, str):
        return None
    if re.fullmatch(r"-?\d+", v):
        return int(v)
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", v):
        return None
    try:
        d = datetime.datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        return None
    delta = d - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000


def iso_ms(ms):
    d = datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=ms)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def field_str(v):
    """Identity and filter values as strings; '' and null count as absent."""
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return json.dumps(v)
    if isinstance(v, str):
        return v
    return None


# ---- filters ---------------------------------------------------------------

def compile_filter(flt, where):
    if not isinstance(flt, dict):
        die("%s: a match filter must be an object" % where)
    tests = []
    for k, want in flt.items():
        if k.startswith("/"):
            die("%s: JSON Pointer filters are not modelled" % where)
        vals = want if isinstance(want, list) else [want]
        for v in vals:
            if isinstance(v, (dict, list)):
                die("%s: operator filters (contract 5a) are not modelled" % where)
        tests.append((k, frozenset(field_str(v) for v in vals)))

    def match(ev):
        for k, allowed in tests:
            if ev.get(k) not in allowed:
                return False
        return True
    return match


# ---- rules -----------------------------------------------------------------

class Rule:
    def __init__(self, r):
        self.name = r["name"]
        self.kind = r["kind"]
        self.severity = r.get("severity", "medium")
        self.cooldown = duration_ms(r["cooldown"]) if "cooldown" in r else None
        for key in ("ignore", "breakdown_by"):
            if key in r:
                die("rule %s: %s (contract 5a) is not modelled" % (self.name, key))


class Burst(Rule):
    def __init__(self, r):
        super().__init__(r)
        self.match = compile_filter(r.get("match", {}), self.name)
        self.same = list(r.get("same", []))
        self.count = int(r["count"])
        self.gap = duration_ms(r["gap"]) if "gap" in r else None
        self.within = duration_ms(r["within"]) if "within" in r else None
        if (self.gap is None) == (self.within is None):
            die("burst %s needs exactly one of gap and within" % self.name)

    def on_event(self, eng, j, ev):
        if not self.match(ev):
            return
        groups = j.bursts[self.name]
        key = tuple(ev.get(f) for f in self.same)
        g = groups.get(key)
        if g is None:
            g = groups[key] = []
        t = ev["_t"]
        if self.gap is not None:
            if g and t - g[-1]["_t"] > self.gap:
                g.clear()
        else:
            while g and t - g[0]["_t"] > self.within:
                g.pop(0)
        g.append(ev)
        if len(g) >= self.count:
            extra = {"count": len(g)}
            if self.same:
                extra["group"] = {f: v for f, v in zip(self.same, key)}
            eng.emit(j, self, t, list(g), extra)
            g.clear()
        if not g:
            del groups[key]

    def merge(self, eng, into, other):
        """README: interleave, keep what can still chain with the newest,
        at most count - 1, so a merge never fires by itself."""
        a, b = into.bursts[self.name], other.bursts[self.name]
        for key, evs in b.items():
            both = sorted(a.get(key, []) + evs, key=lambda e: (e["_t"], e["_n"]))
            newest = both[-1]["_t"]
            if self.gap is not None:
                keep = [both[-1]]
                for e in reversed(both[:-1]):
                    if keep[0]["_t"] - e["_t"] > self.gap:
                        break
                    keep.insert(0, e)
            else:
                keep = [e for e in both if newest - e["_t"] <= self.within]
            a[key] = keep[-(self.count - 1):] if self.count > 1 else []


class Funnel(Rule):
    def __init__(self, r):
        super().__init__(r)
        self.steps = [(s["name"], compile_filter(s["match"], self.name)) for s in r["steps"]]
        self.within = duration_ms(r["within"])
        if len(self.steps) < 2:
            die("funnel %s: one step" % self.name)

    def on_event(self, eng, j, ev):
        att = j.funnels.get(self.name)
        if att is None:
            if self.steps[0][1](ev):
                eng.stats["funnel_attempts"] += 1
                att = {"start": ev["_t"], "events": [ev], "token": eng.next_token()}
                j.funnels[self.name] = att
                eng.add_timer(att["start"] + self.within, j, self, att["token"])
            return
        # An open attempt has deadline >= t: earlier deadlines fired first.
        step = len(att["events"])
        if self.steps[step][1](ev):
            att["events"].append(ev)
            if len(att["events"]) == len(self.steps):
                eng.stats["funnel_completed"] += 1
                del j.funnels[self.name]

    def on_timer(self, eng, j, token):
        att = j.funnels.get(self.name)
        if att is None or att["token"] != token:
            return
        del j.funnels[self.name]
        last = len(att["events"])
        eng.stats["funnel_dropped"] += 1
        eng.emit(j, self, att["start"] + self.within, att["events"],
                 {"funnel": {"steps": len(self.steps), "last_step": last,
                             "last_step_name": self.steps[last - 1][0]}})

    def merge(self, eng, into, other):
        """README: the attempt furthest along survives, the earlier on a tie;
        the other is forgotten as if it never started."""
        a, b = into.funnels.get(self.name), other.funnels.get(self.name)
        if b is None:
            return
        if a is not None:
            eng.stats["funnel_attempts"] -= 1     # "as if it never started"
            if (len(a["events"]), -a["start"]) >= (len(b["events"]), -b["start"]):
                return          # the customer's own attempt survives
        into.funnels[self.name] = b   # its timer resolves to `into` via live()


class Sequence(Rule):
    def __init__(self, r):
        super().__init__(r)
        firsts = r["first"] if isinstance(r["first"], list) else [r["first"]]
        self.first_filters, self.first_alerts = [], set()
        for f in firsts:
            if isinstance(f, dict) and set(f) == {"alert"}:
                self.first_alerts.update(f["alert"] if isinstance(f["alert"], list) else [f["alert"]])
            else:
                self.first_filters.append(compile_filter(f, self.name))
        thens = r["then"] if isinstance(r["then"], list) else [r["then"]]
        self.then_filters = [compile_filter(f, self.name) for f in thens]
        self.within = duration_ms(r["within"])

    def on_event(self, eng, j, ev):
        # "then" first: an event is never its own earlier first occurrence.
        if any(f(ev) for f in self.then_filters):
            t = ev["_t"]
            firsts = j.firsts[self.name]
            live = [o for o in firsts if t - o["t"] <= self.within]
            if live:
                firsts.clear()
                eng.emit(j, self, t, [ev], {"first": live})
            else:
                firsts.clear()    # all older than within: can never fire
        if any(f(ev) for f in self.first_filters):
            j.firsts[self.name].append({"t": ev["_t"], "n": ev["_n"],
                                        "event_id": ev.get("event_id")})

    def on_alert(self, j, rule_name, t):
        if rule_name in self.first_alerts:
            j.firsts[self.name].append({"t": t, "rule": rule_name})

    def merge(self, eng, into, other):
        both = into.firsts[self.name] + other.firsts[self.name]
        both.sort(key=lambda o: o["t"])
        into.firsts[self.name] = both


KINDS = {"burst": Burst, "funnel": Funnel, "sequence": Sequence}


# ---- journeys ----------------------------------------------------------------

class Journey:
    __slots__ = ("kind", "ident", "ids", "bursts", "funnels", "firsts", "last_alert",
                 "merged_into")

    def __init__(self, kind, ident):
        self.kind, self.ident = kind, ident
        self.ids = {}                      # event_id -> ts
        self.bursts = defaultdict(dict)    # rule -> group key -> [events]
        self.funnels = {}                  # rule -> open attempt
        self.firsts = defaultdict(list)    # sequence rule -> unconsumed firsts
        self.last_alert = {}               # rule -> ts of the last emitted alert
        self.merged_into = None

    def live(self):
        j = self
        while j.merged_into is not None:
            j = j.merged_into
        return j


class Engine:
    def __init__(self, rules, retention):
        self.rules = rules
        self.sequences = [r for r in rules if isinstance(r, Sequence)]
        self.retention = retention
        self.customers, self.anons, self.links = {}, {}, {}
        self.timers, self._token, self._tseq = [], 0, 0
        self.alerts = []
        self.stats = Counter()

    def next_token(self):
        self._token += 1
        return self._token

    def add_timer(self, deadline, j, rule, token):
        self._tseq += 1
        heapq.heappush(self.timers, (deadline, self._tseq, j, rule, token))

    def fire_before(self, t):
        """Timeouts with deadline < t (strictly) fire, in deadline order."""
        while self.timers and (t is None or self.timers[0][0] < t):
            _, _, j, rule, token = heapq.heappop(self.timers)
            rule.on_timer(self, j.live(), token)

    def pending(self):
        return sum(len(j.funnels) for j in self._journeys())

    def _journeys(self):
        for d in (self.customers, self.anons):
            for j in d.values():
                if j.merged_into is None:
                    yield j

    def emit(self, j, rule, t, evidence, extra):
        if rule.cooldown is not None:
            last = j.last_alert.get(rule.name)
            if last is not None and t - last < rule.cooldown:
                self.stats["suppressed_by_cooldown"] += 1
                return
        j.last_alert[rule.name] = t
        a = {"rule": rule.name, "kind": rule.kind, "severity": rule.severity}
        a["customer_id" if j.kind == "customer" else "anonymous_id"] = j.ident
        a["identity"] = j.kind
        a["ts"] = iso_ms(t)
        firsts = extra.pop("first", None)
        times = [o["t"] for o in firsts] if firsts else []
        times += [e["_t"] for e in evidence]
        a["first_ts"] = iso_ms(min(times))
        ev = {"event_ids": [e.get("event_id") for e in evidence], "count": len(evidence)}
        if firsts is not None:
            ev["first"] = [({"ts": iso_ms(o["t"]), "rule": o["rule"]} if "rule" in o
                            else {"ts": iso_ms(o["t"]), "event_id": o["event_id"]})
                           for o in firsts]
        if "group" in extra:
            ev["group"] = extra.pop("group")
        extra.pop("count", None)
        a["evidence"] = ev
        a.update(extra)
        self.alerts.append(a)
        for s in self.sequences:
            s.on_alert(j, rule.name, t)

    def journey_of(self, ev):
        c, a = ev.get("customer_id"), ev.get("anonymous_id")
        if c is not None:
            j = self.customers.get(c)
            if j is None:
                j = self.customers[c] = Journey("customer", c)
            if a is not None and self.links.get(a) != c:
                self.link(a, c, j)
            return j
        linked = self.links.get(a)
        if linked is not None:
            return self.customers[linked]
        j = self.anons.get(a)
        if j is None or j.merged_into is not None:
            j = self.anons[a] = Journey("anonymous", a)
        return j

    def link(self, a, c, cj):
        self.links[a] = c
        self.stats["links"] += 1
        aj = self.anons.get(a)
        if aj is None or aj.merged_into is not None:
            return
        self.stats["merges"] += 1
        for r in self.rules:
            if hasattr(r, "merge"):
                r.merge(self, cj, aj)
        for k, v in aj.ids.items():
            if cj.ids.get(k, -1 << 62) < v:
                cj.ids[k] = v
        for k, v in aj.last_alert.items():
            if cj.last_alert.get(k, -1 << 62) < v:
                cj.last_alert[k] = v
        aj.merged_into = cj

    def evaluate(self, ev):
        t = ev["_t"]
        self.fire_before(t)
        j = self.journey_of(ev)
        eid = ev.get("event_id")
        if eid is not None:
            seen = j.ids.get(eid)
            if seen is not None and t - seen <= self.retention:
                self.stats["duplicates"] += 1
                return
            j.ids[eid] = t
        self.stats["evaluated"] += 1
        for r in self.rules:
            r.on_event(self, j, ev)


# ---- input -------------------------------------------------------------------

def read_events(paths, fields, defaults, lateness, stats):
    """Arrival pass: decode, dead-letter, and the late check against the
    watermark as it stood when the event arrived."""
    events, max_ts, n = [], None, 0
    for path in paths:
        fh = sys.stdin if path == "-" else open(path, encoding="utf-8", errors="replace")
        for line in fh:
            if not line.strip():
                continue
            stats["events_read"] += 1
            try:
                obj = json.loads(line)
            except ValueError:
                stats["dl_invalid_json"] += 1
                continue
            if not isinstance(obj, dict):
                stats["dl_not_an_object"] += 1
                continue
            ev = {}
            for canon in CANONICAL:
                v = field_str(obj.get(fields[canon])) if canon != "ts" else obj.get(fields["ts"])
                if v is None and canon in defaults:
                    v = field_str(defaults[canon])
                if v is not None:
                    ev[canon] = v
            for k, v in obj.items():      # original fields, for filters
                if k not in ev:
                    s = field_str(v)
                    if s is not None:
                        ev[k] = s
            if "ts" not in ev:
                stats["dl_missing_ts"] += 1
                continue
            t = parse_ts(ev["ts"])
            if t is None:
                stats["dl_bad_ts"] += 1
                continue
            if "type" not in ev:
                stats["dl_missing_type"] += 1
                continue
            if "customer_id" not in ev and "anonymous_id" not in ev:
                stats["dl_missing_identity"] += 1
                continue
            if max_ts is not None and t < max_ts - lateness:
                stats["late"] += 1
                continue
            if max_ts is None or t > max_ts:
                max_ts = t
            ev["_t"], ev["_n"] = t, n
            n += 1
            events.append(ev)
        if fh is not sys.stdin:
            fh.close()
    return events, max_ts


def set_path(conf, path, value):
    keys = path.split(".")
    node = conf
    for k in keys[:-1]:
        node = node.setdefault(k, {})
    node[keys[-1]] = value


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("inputs", nargs="+")
    p.add_argument("-c", "--config")
    p.add_argument("-X", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("-o", "--output", default="-")
    p.add_argument("--flush-at-end", action="store_true")
    p.add_argument("--summary-json")
    args = p.parse_args(argv)

    conf = json.load(open(args.config)) if args.config else {}
    for ov in args.X:
        k, _, v = ov.partition("=")
        set_path(conf, k, v)
    if conf.get("input", {}).get("format", "ndjson") != "ndjson":
        die("only NDJSON input is modelled")
    if conf.get("time", {}).get("format", "auto") != "auto":
        die("only time.format auto is modelled")
    fields = {k: k for k in CANONICAL}
    fields.update(conf.get("fields", {}))
    if any(v.startswith("/") for v in fields.values()):
        die("JSON Pointer fields are not modelled")
    defaults = {"channel": "unknown"}
    defaults.update(conf.get("defaults", {}))
    lateness = duration_ms(conf.get("time", {}).get("lateness", "5s"))
    retention = duration_ms(conf.get("journey", {}).get("retention", "7d"))
    rules = []
    for r in conf.get("rules", DEFAULT_RULES):
        if r.get("kind") not in KINDS:
            die("rule kind %r is not modelled" % r.get("kind"))
        rules.append(KINDS[r["kind"]](r))

    stats = Counter()
    events, max_ts = read_events(args.inputs, fields, defaults, lateness, stats)
    if events and max(e["_t"] for e in events) - min(e["_t"] for e in events) > retention:
        print("journeyd_ref: warning: input spans more than journey.retention; "
              "journey expiry is not modelled", file=sys.stderr)
    events.sort(key=lambda e: (e["_t"], e["_n"]))

    eng = Engine(rules, retention)
    eng.stats.update(stats)
    for ev in events:
        eng.evaluate(ev)
    if max_ts is not None:
        eng.fire_before(None if args.flush_at_end else max_ts)
    eng.stats["pending"] = eng.pending()

    out = sys.stdout if args.output == "-" else open(args.output, "w")
    for a in eng.alerts:
        out.write(json.dumps(a, separators=(",", ":")) + "\n")
    if out is not sys.stdout:
        out.close()
    s = eng.stats
    summary = {
        "events_read": s["events_read"], "evaluated": s["evaluated"],
        "duplicates": s["duplicates"], "late": s["late"],
        "dead_letters": sum(v for k, v in s.items() if k.startswith("dl_")) + s["late"],
        "links": s["links"], "merges": s["merges"],
        "customers": len(eng.customers) + sum(1 for j in eng.anons.values()),
        "alerts": len(eng.alerts),
        "alerts_by_rule": {r.name: sum(1 for a in eng.alerts if a["rule"] == r.name) for r in rules},
        "suppressed_by_cooldown": s["suppressed_by_cooldown"],
        "pending": s["pending"],
        "funnel_attempts": s["funnel_attempts"], "funnel_completed": s["funnel_completed"],
        "funnel_dropped": s["funnel_dropped"],
    }
    if args.summary_json:
        with open(args.summary_json, "w") as f:
            json.dump(summary, f, indent=1)
    print("journeyd_ref: %d events, %d evaluated, %d duplicates, %d late, %d alerts, %d pending"
          % (s["events_read"], s["evaluated"], s["duplicates"], s["late"], len(eng.alerts),
             s["pending"]), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
