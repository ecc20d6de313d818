#!/usr/bin/env python3
"""compare.py LABEL SUMMARY_JSON ALERTS_NDJSON DEADLETTERS REF_JSON REF_ALERTS

Compares what journeyd reported (its --summary-json, its alert lines and its
dead-letter file) with the independent reference (reference.py), prints every
compared quantity side by side, and exits 1 on any difference.
"""
import json
import sys
from collections import Counter

label, sum_path, alerts_path, dl_path, ref_path, ref_alerts_path = sys.argv[1:7]
s = json.load(open(sum_path))
eng = s["engine"]
ref = json.load(open(ref_path))

rows = []          # (quantity, journeyd, reference)


def cmp(name, got, exp):
    rows.append((name, got, exp))


cmp("events read", s["events_read"], ref["events_read"])
cmp("late (dead letters)", eng["late"], ref["late"])
cmp("dead letters", s["dead_letters"], ref["dead_letters"])
cmp("dead letters by reason", json.dumps(s["dead_letters_by_reason"], sort_keys=True),
    json.dumps(ref["dead_letters_by_reason"], sort_keys=True))
dl_lines = [json.loads(l) for l in open(dl_path) if l.strip()]
cmp("dead-letter file lines", len(dl_lines), ref["dead_letters"])
cmp("late lines in dead-letter file", sum(1 for d in dl_lines if d.get("error") == "late"),
    ref["late"])
cmp("customers", eng["customers_total"], ref["customers"])
cmp("max ts", eng["max_ts"], ref["max_ts"])
cmp("alerts", eng["alerts"], ref["alerts"])
for rule, n in sorted(ref["alerts_by_rule"].items()):
    cmp("alerts %s" % rule, eng["alerts_by_rule"].get(rule, 0), n)
for fname, f in sorted(ref["funnels"].items()):
    g = eng["funnels"].get(fname, {})
    for k in ("attempts", "completed", "pending"):
        cmp("funnel %s %s" % (fname, k), g.get(k), f[k])
    gsteps = g.get("steps", [])
    for i, st in enumerate(f["steps"]):
        gs = gsteps[i] if i < len(gsteps) else {}
        cmp("funnel %s step %d %s reached" % (fname, i + 1, st["name"]),
            gs.get("reached"), st["reached"])
        cmp("funnel %s step %d %s dropped_after" % (fname, i + 1, st["name"]),
            gs.get("dropped_after"), st["dropped_after"])
    cmp("funnel %s drop-off alerts" % fname,
        eng["alerts_by_rule"].get(fname, 0), f["dropped"])

# every alert: rule, identity, ts (and the last step for drop-offs)
got = []
for line in open(alerts_path):
    a = json.loads(line)
    tail = ""
    if "funnel" in a:
        tail = "\tlast_step=%d" % a["funnel"]["last_step"]
    got.append("%s\t%s\t%s%s" % (a["rule"], a.get("customer_id") or a.get("anonymous_id"),
                                 a["ts"], tail))
exp = [l.rstrip("\n") for l in open(ref_alerts_path)]
gc, ec = Counter(got), Counter(exp)
only_got = sorted((gc - ec).elements())
only_exp = sorted((ec - gc).elements())
cmp("alert lines (rule, identity, ts, last step) equal",
    "%d lines" % len(got), "%d lines" % len(exp))

width = max(len(r[0]) for r in rows)
print("%s: journeyd vs independent reference" % label)
print("  %-*s  %24s  %24s" % (width, "quantity", "journeyd", "reference"))
bad = 0
for name, g, e in rows:
    mark = "" if g == e else "   <-- DIFFERS"
    if g != e:
        bad += 1
    print("  %-*s  %24s  %24s%s" % (width, name, g, e, mark))
if only_got or only_exp:
    bad += 1
    print("  alert lines only in journeyd (%d):" % len(only_got))
    for l in only_got[:20]:
        print("    + " + l)
    print("  alert lines only in the reference (%d):" % len(only_exp))
    for l in only_exp[:20]:
        print("    - " + l)
else:
    print("  all %d alert lines match one for one" % len(got))
if bad:
    print("%s: FAIL (%d differences)" % (label, bad))
    sys.exit(1)
print("%s: ok" % label)
