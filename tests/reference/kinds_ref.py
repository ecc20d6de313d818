#!/usr/bin/env python3
"""An independent model of journeyd's second-edition rule language
(contract section 5a): filter operators, `ignore`, and the `absence`,
`pattern` and `score` kinds, plus `sequence` (section 5) so a score or a
sequence can take other rules' alerts. Written from the contract and the
README's "Rules" section, not from src/.

    kinds_ref.py CONFIG INPUT.ndjson            prints the expected alerts
    kinds_ref.py --gen SEED -o CONFIG -i INPUT  writes a random config/stream
    kinds_ref.py --compare CONFIG INPUT ALERTS  exit 1 on any difference

An alert is compared as: rule, identity, ts (epoch ms), evidence event_ids
in order, and the rules of evidence.first (sorted: first occurrences at one
time have no contract order).

Semantics modelled (and the choices README states where the contract is
silent):
- events are evaluated in (ts, arrival) order; a timeout at deadline d runs
  before an event at t when d < t (an event at exactly d comes first); at
  the end, timeouts with a deadline before the largest ts run, the others
  stay pending (no --flush-at-end);
- rules see an event in config order; an alert is handed at once to the
  rules taking it (sequence first / score contribution), before the next
  rule sees the event;
- values compare as the decoder's text: integers as digits, integral reals
  as integers, booleans as words; numeric operators parse the text as a
  number (not a number: no match); {"not": V} holds on an absent field;
- absence: expect first, then start (an event may close windows and open
  one); an expect closes windows of its group whose deadline is >= its ts;
- pattern: an event outside scope is not seen; expired partial matches
  (overall within from step 1, step within from the previous step) are
  dropped; a step binding a field needs the field; on completion every
  partial match is cleared and the completing event starts none;
- score: an event takes the first matching event contribution, an alert the
  first contribution naming its rule; before = score(t) of earlier
  contributions; re-arm when disarmed and before < threshold/2; fire when
  armed and before + points >= threshold; evidence = contributions with
  2^(-(t - t_i)/half_life) >= 0.01;
- stitching: an event with both ids links the anonymous id to the customer
  and the anonymous journey's states merge into the customer's (windows,
  partial matches and contributions by time, the customer's first on a tie;
  a score is disarmed if either side was).
"""
import argparse
import datetime
import heapq
import json
import math
import random
import sys


def parse_dur(v):
    if isinstance(v, int):
        return v
    units = [("ms", 1), ("s", 1000), ("m", 60000), ("h", 3600000), ("d", 86400000)]
    for suf, mul in units:
        if v.endswith(suf) and v[: -len(suf)].isdigit():
            return int(v[: -len(suf)]) * mul
    raise ValueError(v)


def parse_ts(v):
    if isinstance(v, int):
        return v
    d = datetime.datetime.strptime(v.replace("Z", "+00:00"), "%Y-%m-%dT%H:%M:%S.%f%z")
    return int(round(d.timestamp() * 1000))


def fmt_ts(ms):
    d = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def text(v):
    """A JSON scalar as the decoder's text; None for absent/null/containers."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    if isinstance(v, str):
        return v
    return None


def num(s):
    try:
        d = float(s)
    except (TypeError, ValueError):
        return None
    return d if math.isfinite(d) else None


class Filter:
    """{field: value}; all fields must hold."""

    def __init__(self, obj):
        self.conds = list((obj or {}).items())

    def holds(self, ev, bound=None):
        return all(value_holds(v, field_text(ev, f), bound) for f, v in self.conds)


def field_text(ev, f):
    if f.startswith("/"):
        cur = ev
        for part in f[1:].split("/"):
            if not isinstance(cur, dict) or part not in cur:
                return None
            cur = cur[part]
        return text(cur)
    return text(ev.get(f))


def value_holds(v, x, bound):
    if isinstance(v, list):
        return any(value_holds(a, x, bound) for a in v)
    if isinstance(v, dict):
        (op, arg), = v.items()
        if op == "not":
            return not value_holds(arg, x, bound)
        if op == "exists":
            return (x is not None) == arg
        if x is None:
            return False
        if op == "prefix":
            return x.startswith(arg)
        if op == "var":
            return bound is not None and bound.get(arg) == x
        n, lim = num(x), float(arg)
        if n is None:
            return False
        return {"gt": n > lim, "gte": n >= lim, "lt": n < lim, "lte": n <= lim}[op]
    return x is not None and x == text(v)


class Model:
    def __init__(self, conf):
        self.rules = conf["rules"]
        self.idx = {r["name"]: i for i, r in enumerate(self.rules)}
        self.state = {}        # (journey key, rule index) -> state
        self.links = {}        # anonymous id -> customer id
        self.timers = []       # heap of (deadline, order, key, rule index)
        self.order = 0
        self.alerts = []
        for r in self.rules:
            r["_ignore"] = Filter(r["ignore"]) if "ignore" in r else None
            r["_within"] = parse_dur(r["within"]) if "within" in r else 0

    # -- plumbing ---------------------------------------------------------
    def emit(self, key, ri, ts, evid, first=()):
        r = self.rules[ri]
        self.alerts.append({"rule": r["name"], "identity": key[2:], "ts": ts,
                            "event_ids": [e for e in evid],
                            "first": sorted(f for f in first)})
        for li, lr in enumerate(self.rules):
            if li != ri and self.takes(lr, r["name"]):
                self.on_alert(key, li, ts, r["name"])

    def takes(self, lr, name):
        if lr["kind"] == "sequence":
            alts = lr["first"] if isinstance(lr["first"], list) else [lr["first"]]
            return any(name in as_list(a.get("alert", [])) for a in alts)
        if lr["kind"] == "score":
            return any(name in as_list(c.get("alert", [])) for c in lr["contributions"])
        return False

    def arm_timer(self, key, ri, deadline):
        self.order += 1
        heapq.heappush(self.timers, (deadline, self.order, key, ri))

    def fire_before(self, t):
        while self.timers and self.timers[0][0] < t:
            deadline, _, key, ri = heapq.heappop(self.timers)
            self.absence_timer(key, ri, deadline)

    # -- events -------------------------------------------------------------
    def run(self, events):
        evs = sorted(enumerate(events), key=lambda p: (p[1]["_ts"], p[0]))
        for _, ev in evs:
            self.fire_before(ev["_ts"])
            key = self.resolve(ev)
            for ri, r in enumerate(self.rules):
                if r["_ignore"] and r["_ignore"].holds(ev):
                    continue
                getattr(self, r["kind"] + "_event")(key, ri, ev)
        if evs:
            self.fire_before(max(e["_ts"] for _, e in evs))
        return self.alerts

    def resolve(self, ev):
        cid, aid = ev.get("customer_id"), ev.get("anonymous_id")
        if cid is not None and aid is not None and aid not in self.links:
            self.links[aid] = cid
            self.merge("a:" + aid, "c:" + cid)
        if cid is not None:
            return "c:" + cid
        return "c:" + self.links[aid] if aid in self.links else "a:" + aid

    def merge(self, src, dst):
        for ri, r in enumerate(self.rules):
            s = self.state.pop((src, ri), None)
            if s is None:
                continue
            d = self.state.get((dst, ri))
            if r["kind"] == "absence":
                d = d or []
                for w in s:
                    insert_by(d, w, lambda x: x["start"])
                self.state[(dst, ri)] = d
                self.timers = [(a, o, dst if k == src and i == ri else k, i)
                               for a, o, k, i in self.timers]
                heapq.heapify(self.timers)
            elif r["kind"] == "pattern":
                d = d or []
                for pm in s:
                    insert_by(d, pm, lambda x: x["start"])
                self.state[(dst, ri)] = d
            elif r["kind"] == "score":
                if d is None:
                    self.state[(dst, ri)] = s
                else:
                    d["disarmed"] = d["disarmed"] or s["disarmed"]
                    for c in s["c"]:
                        insert_by(d["c"], c, lambda x: x[0])
            elif r["kind"] == "sequence":
                d = d or []
                for o in s:
                    insert_by(d, o, lambda x: x[0])
                self.state[(dst, ri)] = d

    # -- absence --------------------------------------------------------------
    def absence_event(self, key, ri, ev):
        r = self.rules[ri]
        group = tuple(field_text(ev, f) for f in r.get("same", []))
        wins = self.state.get((key, ri), [])
        if wins and Filter(r["expect"]).holds(ev):
            wins[:] = [w for w in wins
                       if not (w["group"] == group and ev["_ts"] <= w["start"] + r["_within"])]
        if Filter(r["start"]).holds(ev):
            wins.append({"start": ev["_ts"], "group": group, "id": ev.get("event_id")})
            self.arm_timer(key, ri, ev["_ts"] + r["_within"])
        self.state[(key, ri)] = wins

    def absence_timer(self, key, ri, deadline):
        r = self.rules[ri]
        wins = self.state.get((key, ri), [])
        for w in wins:
            if w["start"] + r["_within"] == deadline:
                wins.remove(w)
                self.emit(key, ri, deadline, [w["id"]])
                return
        # the window was closed by an expect (or moved by a merge)

    # -- pattern --------------------------------------------------------------
    def pattern_event(self, key, ri, ev):
        r = self.rules[ri]
        if "scope" in r and not Filter(r["scope"]).holds(ev):
            return
        steps, within = r["steps"], r["_within"]
        pms = self.state.get((key, ri), [])
        t = ev["_ts"]
        kept = []
        for pm in pms:
            k = len(pm["ids"])
            sw = parse_dur(steps[k]["within"]) if "within" in steps[k] else 0
            if (within and t > pm["start"] + within) or (sw and t > pm["last"] + sw):
                continue
            if step_takes(steps[k], ev, pm["vars"]):
                take(steps[k], ev, pm)
                if len(pm["ids"]) == len(steps):
                    self.state[(key, ri)] = []
                    self.emit(key, ri, t, pm["ids"])
                    return
            elif r.get("contiguous"):
                continue
            kept.append(pm)
        if step_takes(steps[0], ev, {}):
            pm = {"start": t, "last": t, "ids": [], "vars": {}}
            take(steps[0], ev, pm)
            kept.append(pm)
        self.state[(key, ri)] = kept

    # -- score ------------------------------------------------------------------
    def score_event(self, key, ri, ev):
        r = self.rules[ri]
        for c in r["contributions"]:
            if "match" in c and Filter(c["match"]).holds(ev):
                self.score_add(key, ri, ev["_ts"], c["points"], ("e", ev.get("event_id")))
                return

    def on_alert(self, key, ri, ts, name):
        r = self.rules[ri]
        if r["kind"] == "sequence":
            self.state.setdefault((key, ri), []).append((ts, ("a", name)))
            return
        for c in r["contributions"]:
            if name in as_list(c.get("alert", [])):
                self.score_add(key, ri, ts, c["points"], ("a", name))
                return

    def score_add(self, key, ri, t, points, what):
        r = self.rules[ri]
        hl, th = parse_dur(r["half_life"]), r["threshold"]
        s = self.state.setdefault((key, ri), {"disarmed": False, "c": []})
        before = 0.0
        for ts, p, _ in s["c"]:
            before += p * math.pow(2.0, -(t - ts) / hl)
        if s["disarmed"] and before < th / 2:
            s["disarmed"] = False
        s["c"].append((t, points, what))
        if not s["disarmed"] and before + points >= th:
            s["disarmed"] = True
            live = [c for c in s["c"] if math.pow(2.0, -(t - c[0]) / hl) >= 0.01]
            self.emit(key, ri, t, [w[1] for _, _, w in live if w[0] == "e"],
                      [w[1] for _, _, w in live if w[0] == "a"])

    # -- sequence ---------------------------------------------------------------
    def sequence_event(self, key, ri, ev):
        r = self.rules[ri]
        t, within = ev["_ts"], r["_within"]
        occ = [o for o in self.state.get((key, ri), []) if t <= o[0] + within]
        thens = r["then"] if isinstance(r["then"], list) else [r["then"]]
        if occ and any(Filter(f).holds(ev) for f in thens):
            self.emit(key, ri, t, [ev.get("event_id")], [w[1] for _, w in occ if w[0] == "a"])
            occ = []
        alts = r["first"] if isinstance(r["first"], list) else [r["first"]]
        if any("alert" not in a and Filter(a).holds(ev) for a in alts):
            occ.append((t, ("e", ev.get("event_id"))))
        self.state[(key, ri)] = occ


def as_list(v):
    return v if isinstance(v, list) else [v]


def insert_by(lst, item, key):
    i = len(lst)
    while i > 0 and key(lst[i - 1]) > key(item):
        i -= 1
    lst.insert(i, item)


def step_takes(step, ev, bound):
    if not Filter(step["match"]).holds(ev, bound):
        return False
    return all(field_text(ev, f) is not None for f in step.get("bind", {}).values())


def take(step, ev, pm):
    for var, f in step.get("bind", {}).items():
        pm["vars"][var] = field_text(ev, f)
    pm["ids"].append(ev.get("event_id"))
    pm["last"] = ev["_ts"]


def load_events(path):
    evs = []
    with open(path) as fh:
        for line in fh:
            if line.strip():
                ev = json.loads(line)
                ev["_ts"] = parse_ts(ev["ts"])
                evs.append(ev)
    return evs


def key_of(a):
    return (a["rule"], a["identity"], a["ts"], tuple(a["event_ids"]), tuple(a["first"]))


def from_journeyd(line):
    a = json.loads(line)
    ev = a["evidence"]
    return {"rule": a["rule"], "identity": a.get("customer_id") or a.get("anonymous_id"),
            "ts": parse_ts(a["ts"]), "event_ids": ev["event_ids"],
            "first": sorted(f.get("rule") or ("e:" + str(f.get("event_id")))
                            for f in ev.get("first", []) if f.get("rule"))}


# -- random configs and streams ------------------------------------------------
GEN_CONFIG = {"rules": [
    {"name": "dead", "kind": "absence", "start": {"type": "click"},
     "expect": {"type": ["page_view", "dom_change", "network_response"]},
     "within": "2500ms", "same": ["session_id"], "ignore": {"element": {"prefix": "#s"}}},
    {"name": "call", "kind": "absence", "start": {"type": "call_queued"},
     "expect": {"type": "call_answered"}, "within": 300005},
    {"name": "back", "kind": "pattern", "scope": {"type": "page_view"}, "contiguous": True,
     "steps": [{"match": {"type": "page_view"}, "bind": {"p": "page"}},
               {"match": {"page": {"not": {"var": "p"}}}},
               {"match": {"page": {"var": "p"}}, "within": "5s"}]},
    {"name": "retry", "kind": "pattern", "within": "20s",
     "steps": [{"match": {"type": "error"}, "bind": {"s": "session_id"}},
               {"match": {"type": "click", "session_id": {"var": "s"}}},
               {"match": {"type": "survey", "csat": [{"lte": 2}, {"exists": False}]}}]},
    {"name": "unhappy", "kind": "sequence", "first": {"alert": ["call", "dead"]},
     "then": {"type": "survey", "csat": {"lt": "3"}}, "within": "60s"},
    {"name": "score", "kind": "score", "half_life": "60s", "threshold": 6,
     "ignore": {"page": {"prefix": "/e"}},
     "contributions": [{"alert": ["dead", "back"], "points": 2},
                       {"alert": ["call", "retry", "unhappy"], "points": 3},
                       {"match": {"type": "error", "csat": {"not": {"gte": 4}}}, "points": 1.5}]},
]}


def gen(seed, n):
    rnd = random.Random(seed)
    types = ["click"] * 4 + ["page_view"] * 8 + ["dom_change", "network_response", "error", "error",
             "survey", "survey", "call_queued", "call_answered"]
    out, t = [], 1795341600000
    customers = ["c%d" % i for i in range(8)]
    anons = {"a%d" % i: None for i in range(4)}
    for i in range(n):
        t += rnd.choice([0, 10, 10, 100, 300, 500, 1000, 2500, 3000, 8000])
        ev = {"event_id": "e%d" % i, "ts": t, "type": rnd.choice(types)}
        who = rnd.random()
        if who < 0.2:
            a = rnd.choice(list(anons))
            ev["anonymous_id"] = a
            if anons[a] is None and rnd.random() < 0.15:
                anons[a] = rnd.choice(customers)
                ev["customer_id"] = anons[a]
        else:
            ev["customer_id"] = rnd.choice(customers)
        if rnd.random() < 0.9:
            ev["session_id"] = rnd.choice(["s1", "s2"])
        ev["page"] = rnd.choice(["/a", "/b", "/a", "/b", "/c", "/e1"])
        if rnd.random() < 0.5:
            ev["element"] = rnd.choice(["#x", "#s1"])
        if ev["type"] in ("survey", "error") and rnd.random() < 0.8:
            ev["csat"] = rnd.choice([1, 2, 3, 4, 5, "2", "x"])
        out.append(ev)
    # arrival order: shuffled within 2 s (inside the 5 s lateness)
    keyed = sorted(out, key=lambda e: e["ts"] + rnd.randint(0, 2000))
    return keyed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("config", nargs="?")
    ap.add_argument("input", nargs="?")
    ap.add_argument("alerts", nargs="?")
    ap.add_argument("--gen", type=int)
    ap.add_argument("-n", type=int, default=400)
    ap.add_argument("-o")
    ap.add_argument("-i")
    ap.add_argument("--compare", action="store_true")
    a = ap.parse_args()
    if a.gen is not None:
        with open(a.o, "w") as fh:
            json.dump(GEN_CONFIG, fh, indent=1)
        with open(a.i, "w") as fh:
            for ev in gen(a.gen, a.n):
                fh.write(json.dumps(ev) + "\n")
        return 0
    with open(a.config) as fh:
        conf = json.load(fh)
    want = Model(conf).run(load_events(a.input))
    if not a.compare:
        for x in want:
            print(json.dumps({**x, "ts": fmt_ts(x["ts"])}))
        return 0
    with open(a.alerts) as fh:
        got = [from_journeyd(l) for l in fh if l.strip()]
    wk = sorted(key_of(x) for x in want)
    gk = sorted(key_of(x) for x in got)
    missing = [k for k in wk if k not in gk]
    extra = [k for k in gk if k not in wk]
    for k in missing[:10]:
        print("missing   ", k)
    for k in extra[:10]:
        print("unexpected", k)
    print("alerts: model %d, journeyd %d, missing %d, unexpected %d"
          % (len(wk), len(gk), len(missing), len(extra)))
    return 1 if missing or extra or len(wk) != len(gk) else 0


if __name__ == "__main__":
    sys.exit(main())
