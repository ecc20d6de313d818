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
        if any(r["segment"] or r["struggles"] for r in rows):
            errs.append("segment/struggles are not implemented yet but a row has one")

    if alerts_path:
        check_top_journeys(d, alerts_path, eq)

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
