#!/usr/bin/env python3
"""Checks a --report HTML file against the same replay's --summary-json.

usage: check_report.py LABEL RAW.html DOM.html SUMMARY.json [DROPOFFS.csv [ALERTS.ndjson]]

RAW.html is the file journeyd wrote (checked for anything that would reach
the network); DOM.html is what headless Chromium parsed from it
(--dump-dom), so the numbers are read as a browser sees them. Every number
the report shows in a data-* attribute must equal the summary's.
Exit 1 with one line per difference.
"""
import csv
import json
import re
import sys
from html.parser import HTMLParser


class Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.elems = []          # (tag, attrs dict) in document order
        self.urls = []           # every src/href/xlink:href value
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.elems.append((tag, a))
        if tag == "script":
            self.scripts += 1
        for k in ("src", "href", "xlink:href", "action", "srcset", "poster"):
            if a.get(k) is not None:
                self.urls.append(a[k])


def main():
    label, raw_path, dom_path, sum_path = sys.argv[1:5]
    drop_path = sys.argv[5] if len(sys.argv) > 5 else None
    alerts_path = sys.argv[6] if len(sys.argv) > 6 else None
    errs = []
    raw = open(raw_path, encoding="utf-8").read()
    dom = open(dom_path, encoding="utf-8").read()
    summ = json.load(open(sum_path))
    eng = summ["engine"]

    # --- nothing reaches the network
    p = Collect()
    p.feed(raw)
    if p.scripts:
        errs.append("the report contains <script>")
    for u in p.urls:
        if not u.startswith("#"):
            errs.append("a link or source leaves the file: %r" % u)
    if re.search(r"url\(\s*['\"]?(https?:)?//", raw, re.I) or re.search(r"@import", raw, re.I):
        errs.append("the CSS loads something from the network")
    if re.search(r"(src|href)\s*=\s*['\"]?\s*https?://", raw, re.I):
        errs.append("an http(s) URL in src/href")

    # --- the numbers, as the browser parsed them
    d = Collect()
    d.feed(dom)
    if len(d.elems) < 20:
        errs.append("the DOM has only %d elements: did Chromium load the file?" % len(d.elems))

    def one(attr):
        vals = [a[attr] for _, a in d.elems if attr in a]
        if len(vals) != 1:
            errs.append("expected one element with %s, found %d" % (attr, len(vals)))
            return None
        return vals[0]

    def eq(what, got, want):
        if got is None:
            return
        if isinstance(want, float):
            if abs(float(got) - want) > 1e-6:
                errs.append("%s: report %s, summary %s" % (what, got, want))
        elif str(got) != str(want):
            errs.append("%s: report %s, summary %s" % (what, got, want))

    eq("records read", one("data-kpi-events-read"), summ["events_read"])
    eq("events evaluated", one("data-kpi-events-evaluated"), eng["events_evaluated"])
    eq("customers", one("data-kpi-customers"), eng["customers_total"])
    eq("alerts", one("data-kpi-alerts"), eng["alerts"])
    eq("dead letters", one("data-kpi-dead-letters"), summ["dead_letters"])
    reasons = {a["data-reason"]: a["data-count"] for _, a in d.elems if "data-reason" in a}
    eq("dead letters by reason", json.dumps(reasons, sort_keys=True),
       json.dumps({k: str(v) for k, v in summ["dead_letters_by_reason"].items()}, sort_keys=True))

    empty = any("data-empty" in a for _, a in d.elems)
    if eng["events_evaluated"] == 0:
        if not empty:
            errs.append("no event was evaluated, but the report does not say so")
        if any(t == "svg" and a.get("class") == "map" for t, a in d.elems):
            errs.append("an empty input still draws a journey map")
    else:
        if empty:
            errs.append("the report says it is empty")
        rules = {a["data-rule"]: a["data-alerts"] for t, a in d.elems
                 if t == "tr" and "data-rule" in a}
        eq("alerts by rule", json.dumps(rules, sort_keys=True),
           json.dumps({k: str(v) for k, v in eng["alerts_by_rule"].items()}, sort_keys=True))
        check_funnels(d, eng, eq, errs)
        if not any(t == "svg" and a.get("class") == "map" for t, a in d.elems):
            errs.append("no journey map drawn")

    if drop_path:
        rows = list(csv.DictReader(open(drop_path, newline="")))
        for name, f in eng.get("funnels", {}).items():
            n = sum(1 for r in rows if r["rule"] == name)
            eq("drop-off rows of " + name, n, sum(s["dropped_after"] for s in f["steps"]))
            eq("drop-off rows of %s vs its alerts" % name, n, eng["alerts_by_rule"][name])
        if alerts_path:
            check_dropoff_rows(rows, alerts_path, eq)

    if alerts_path:
        check_top_journeys(d, alerts_path, eq)
        check_dropoff_struggles(d, eng, alerts_path, eq, errs)

    for e in errs:
        print("%s: %s" % (label, e))
    if not errs:
        print("%s: report numbers equal --summary-json (%d alerts, %d funnels), no network reference"
              % (label, eng["alerts"], len(eng.get("funnels", {}))))
    return 1 if errs else 0


def check_top_journeys(d, alerts_path, eq):
    """With fewer customers with alerts than the report's 1024 counters, its
    top 10 is exact: the same customers, counts and order (ties by id)."""
    counts = {}
    for line in open(alerts_path):
        a = json.loads(line)
        who = a.get("customer_id", a.get("anonymous_id"))
        counts[who] = counts.get(who, 0) + 1
    if len(counts) > 1024:
        return
    want = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].encode()))[:10]
    got = [(a["data-customer"], int(a["data-alerts"])) for t, a in d.elems
           if t == "div" and "data-customer" in a]
    eq("journeys with the most alerts", got, want)


def dropoff_alerts(alerts_path):
    for line in open(alerts_path):
        a = json.loads(line)
        if "funnel" in a:
            yield a


def check_dropoff_rows(rows, alerts_path, eq):
    """--dropoffs-csv: one row per drop-off alert, in order, with its
    segment and its struggles (rule:alert_id;... then +N omitted)."""
    want = []
    for a in dropoff_alerts(alerts_path):
        seg = a["funnel"].get("segment", "")
        ev = a["evidence"]
        strs = ";".join("%s:%s" % (s["rule"], s["alert_id"]) for s in ev["struggles"])
        if ev.get("struggles_omitted"):
            strs += (";" if strs else "") + "+%d" % ev["struggles_omitted"]
        want.append((a["alert_id"], "(none)" if seg is None else seg, strs))
    got = [(r["alert_id"], r["segment"], r["struggles"]) for r in rows]
    eq("drop-off rows (alert_id, segment, struggles)", got, want)


def check_dropoff_struggles(d, eng, alerts_path, eq, errs):
    """The Struggles section's drop-offs with a struggle, by last step and
    by the rule listed, equal what the drop-off alerts carry."""
    want = {}
    for a in dropoff_alerts(alerts_path):
        f = want.setdefault(a["rule"], {"steps": {}, "rules": {}})
        k = a["funnel"]["last_step_name"]
        ev = a["evidence"]
        n, hit = f["steps"].get(k, (0, 0))
        f["steps"][k] = (n + 1, hit + (1 if ev["struggles"] or ev.get("struggles_omitted") else 0))
        for r in {s["rule"] for s in ev["struggles"]}:
            f["rules"][r] = f["rules"].get(r, 0) + 1
    got = {}
    cur = None
    for t, a in d.elems:
        if "data-dropoff-struggles" in a:
            cur = got.setdefault(a["data-dropoff-struggles"], {"steps": {}, "rules": {}})
        elif cur is not None and "data-drop-step" in a:
            if int(a["data-drops"]):
                cur["steps"][a["data-drop-step"]] = (int(a["data-drops"]), int(a["data-struggled"]))
        elif cur is not None and "data-struggle-rule" in a:
            cur["rules"][a["data-struggle-rule"]] = int(a["data-dropoffs"])
    for name in eng.get("funnels", {}):
        eq(name + " drop-offs with a struggle", json.dumps(got.get(name, {"steps": {}, "rules": {}}),
           sort_keys=True), json.dumps(want.get(name, {"steps": {}, "rules": {}}), sort_keys=True))


def seg_numbers(s, nsteps):
    return (s["attempts"], s["completed"], s["pending"],
            "/".join(str(x["reached"]) for x in s["steps"]),
            "/".join(str(x["dropped_after"]) for x in s["steps"]))


def seg_sum(segs, nsteps):
    tot = {"attempts": 0, "completed": 0, "pending": 0,
           "steps": [{"reached": 0, "dropped_after": 0} for _ in range(nsteps)]}
    for s in segs:
        for k in ("attempts", "completed", "pending"):
            tot[k] += s[k]
        for i, x in enumerate(s["steps"]):
            tot["steps"][i]["reached"] += x["reached"]
            tot["steps"][i]["dropped_after"] += x["dropped_after"]
    return tot


def check_segments(d, name, f, eq, errs):
    """A funnel's breakdown_by table: each shown segment (in the summary's
    order) has the summary's numbers; the rest and (other) rows add up to
    the summary's remaining segments plus other_segments."""
    rows, inside = [], False
    for t, a in d.elems:
        if t == "table":
            inside = a.get("data-segments") == name
        elif inside and t == "tr" and "data-seg-attempts" in a:
            rows.append(a)
    if "segments" not in f:
        if rows:
            errs.append("%s has no breakdown_by but the report shows segments" % name)
        return
    n = len(f["steps"])
    shown = [r for r in rows if "data-segment" in r or "data-segment-none" in r]
    if len(shown) != min(12, len(f["segments"])):
        errs.append("%s: %d segments shown, expected %d" % (name, len(shown), min(12, len(f["segments"]))))
    for r, s in zip(shown, f["segments"]):
        label = r.get("data-segment", None)
        eq("%s segment value" % name, label if label is not None else None, s["value"])
        got = (int(r["data-seg-attempts"]), int(r["data-seg-completed"]), int(r["data-seg-pending"]),
               r["data-seg-reached"], r["data-seg-dropped"])
        eq("%s segment %s" % (name, s["value"]), got, seg_numbers(s, n))
    rest = [r for r in rows if "data-segment-rest" in r or "data-segment-other" in r]
    tot = [0, 0, 0, [0] * n, [0] * n]
    for r in rest:
        tot[0] += int(r["data-seg-attempts"])
        tot[1] += int(r["data-seg-completed"])
        tot[2] += int(r["data-seg-pending"])
        for i, x in enumerate(r["data-seg-reached"].split("/")):
            tot[3][i] += int(x)
        for i, x in enumerate(r["data-seg-dropped"].split("/")):
            tot[4][i] += int(x)
    got = (tot[0], tot[1], tot[2], "/".join(map(str, tot[3])), "/".join(map(str, tot[4])))
    eq("%s rest and (other) segments" % name, got,
       seg_numbers(seg_sum(f["segments"][12:] + [f["other_segments"]], n), n))
    # every attempt is in exactly one segment
    eq("%s attempts over segments" % name,
       sum(s["attempts"] for s in f["segments"]) + f["other_segments"]["attempts"], f["attempts"])
    eq("%s pending over segments" % name,
       sum(s["pending"] for s in f["segments"]) + f["other_segments"]["pending"], f["pending"])


def check_funnels(d, eng, eq, errs):
    divs = {}
    steps = {}
    cur = None
    for t, a in d.elems:
        if "data-funnel" in a:
            cur = a["data-funnel"]
            divs[cur] = a
            steps[cur] = []
        elif "data-step" in a and cur is not None:
            steps[cur].append(a)
    eq("funnels", sorted(divs), sorted(eng.get("funnels", {})))
    for name, f in eng.get("funnels", {}).items():
        a = divs.get(name)
        if not a:
            continue
        eq(name + " attempts", a["data-attempts"], f["attempts"])
        eq(name + " completed", a["data-completed"], f["completed"])
        eq(name + " pending", a["data-pending"], f["pending"])
        eq(name + " conversion", a["data-conversion"], float(f["conversion"]))
        check_segments(d, name, f, eq, errs)
        if len(steps[name]) != len(f["steps"]):
            errs.append("%s: %d steps in the report, %d in the summary"
                        % (name, len(steps[name]), len(f["steps"])))
            continue
        for got, want in zip(steps[name], f["steps"]):
            w = "%s step %s" % (name, want["name"])
            eq(w + " name", got["data-step"], want["name"])
            eq(w + " reached", got["data-reached"], want["reached"])
            eq(w + " dropped", got["data-dropped"], want["dropped_after"])
            eq(w + " rate from start", got["data-rate-from-start"], float(want["rate_from_start"]))
            eq(w + " rate from previous", got["data-rate-from-previous"],
               float(want["rate_from_previous"]))


if __name__ == "__main__":
    sys.exit(main())
