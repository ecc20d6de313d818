#!/usr/bin/env python3
"""compare.py — journeyd replay against the independent reference, alert by alert.

    compare.py [-c CONFIG] [-X key=value ...] [--flush-at-end] [--limit N]
               [--json OUT] [--keep DIR] [--alerts FILE [--summary FILE]]
               [--model SCRIPT] INPUT.ndjson [...]

Runs `$JOURNEYD replay` (a command line, default build/journeyd; it may be
wrapped, e.g. in valgrind) and tests/reference/journeyd_ref.py on the same
input and config, and prints per rule: expected (reference), got
(journeyd), missing, unexpected, with the first --limit differences of each
rule. --alerts (and --summary) take journeyd's output from files of an
earlier replay instead of running it.

Two alerts are the same when rule, identity (kind and value), ts, first_ts,
the evidence event ids (in order), the sequence's first occurrences (ts plus
event id, or ts plus rule for an alert) and the funnel's last step agree.
alert_id is left out: README names its inputs but not the hash. The counts
duplicates, late, pending (funnel windows open at the end), funnel attempts
and completions are compared too, when journeyd's summary has them.

Exit status: 0 identical, 1 any difference, 2 a run failed.
"""
import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
REF = os.path.join(HERE, "journeyd_ref.py")


def ms(iso):
    d = datetime.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return round(d.timestamp() * 1000)


def key_of(a):
    ident = ("customer", a["customer_id"]) if a.get("customer_id") else \
            ("anonymous", a.get("anonymous_id"))
    ev = a.get("evidence", {})
    firsts = tuple(sorted((ms(f["ts"]), str(f.get("event_id")) if "event_id" in f
                           else "alert:" + str(f.get("rule")))
                          for f in ev.get("first", [])))
    last = (a.get("funnel") or {}).get("last_step")
    return (a["rule"], ident[0], ident[1], ms(a["ts"]),
            tuple(ev.get("event_ids", [])), firsts, last, ms(a["first_ts"]))


def load(path):
    keys = []
    with open(path) as f:
        for line in f:
            if line.strip():
                keys.append(key_of(json.loads(line)))
    return keys


def show(k):
    rule, kind, ident, t, ids, firsts, last, first_ts = k
    ts = datetime.datetime.fromtimestamp(t / 1000, datetime.timezone.utc)
    s = "%s %s=%s ts=%s ids=%s" % (rule, kind, ident, ts.strftime("%H:%M:%S.%f")[:-3],
                                    ",".join("null" if i is None else str(i) for i in ids))
    if firsts:
        s += " first=" + ",".join("%s@%d" % (ref, ft % 86400000) for ft, ref in firsts)
    if last is not None:
        s += " last_step=%d" % last
    return s


def run(cmd, what):
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        print("compare: %s failed (exit %d): %s\n%s" % (what, r.returncode, " ".join(cmd),
                                                      r.stderr[-2000:]), file=sys.stderr)
        sys.exit(2)
    return r.stderr


def jd_counts(summary):
    if not summary or not os.path.exists(summary):
        return {}
    s = json.load(open(summary))
    e = s.get("engine", s)
    out = {}
    for k in ("duplicates", "late", "groups_evicted"):
        if k in e:
            out[k] = e[k]
    if "funnels" in e:
        for k, ref_k in (("pending", "pending"), ("attempts", "funnel_attempts"),
                         ("completed", "funnel_completed")):
            out[ref_k] = sum(f.get(k, 0) for f in e["funnels"].values())
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("inputs", nargs="+")
    p.add_argument("-c", "--config")
    p.add_argument("-X", action="append", default=[])
    p.add_argument("--flush-at-end", action="store_true")
    p.add_argument("--limit", type=int, default=5)
    p.add_argument("--json")
    p.add_argument("--keep", help="keep both alert files and summaries in this directory")
    p.add_argument("--alerts", help="journeyd's alerts from an earlier replay")
    p.add_argument("--summary", help="with --alerts: that replay's --summary-json")
    p.add_argument("--model", default=REF, help="the model to run (default journeyd_ref.py; "
                   "explain_bounds.py checks what journeyd's known limits explain)")
    p.add_argument("--model-arg", action="append", default=[],
                   help="an extra argument for the model only (e.g. --no-burst-cap)")
    args = p.parse_args()

    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
        return compare(args, args.keep)
    with tempfile.TemporaryDirectory(prefix="jd-compare-") as tmp:
        return compare(args, tmp)


def compare(args, tmp):
    common = []
    if args.config:
        common += ["-c", args.config]
    for x in args.X:
        common += ["-X", x]
    if args.flush_at_end:
        common.append("--flush-at-end")

    jd_alerts, jd_sum = args.alerts, args.summary
    if not jd_alerts:
        jd = shlex.split(os.environ.get("JOURNEYD", "build/journeyd"))
        jd_alerts, jd_sum = os.path.join(tmp, "journeyd.alerts"), os.path.join(tmp, "journeyd.sum")
        cmd = jd + ["replay"] + common + ["-o", jd_alerts, "--summary-json", jd_sum,
                                          "--dead-letter", os.path.join(tmp, "journeyd.dl")]
        for i in args.inputs:
            cmd += ["-i", i]
        run(cmd, "journeyd replay")
    ref_alerts, ref_sum = os.path.join(tmp, "ref.alerts"), os.path.join(tmp, "ref.sum")
    run([sys.executable, args.model] + args.model_arg + common + ["-o", ref_alerts, "--summary-json", ref_sum]
        + args.inputs, "reference")

    want, got = Counter(load(ref_alerts)), Counter(load(jd_alerts))
    missing, unexpected = want - got, got - want
    rules = []
    for k in list(want) + list(got):
        if k[0] not in rules:
            rules.append(k[0])
    per = defaultdict(lambda: [0, 0, 0, 0])
    for c, i in ((want, 0), (got, 1), (missing, 2), (unexpected, 3)):
        for k, n in c.items():
            per[k[0]][i] += n

    print("%-20s %9s %9s %9s %11s" % ("rule", "expected", "got", "missing", "unexpected"))
    for r in rules:
        e, g, m, u = per[r]
        print("%-20s %9d %9d %9d %11d%s" % (r, e, g, m, u, "" if m or u else "  ok"))
    tot = [sum(v[i] for v in per.values()) for i in range(4)]
    print("%-20s %9d %9d %9d %11d" % ("total", *tot))

    ref_s = json.load(open(ref_sum))
    counts_diff = []
    jc = jd_counts(jd_sum)
    for k in ("duplicates", "late", "pending", "funnel_attempts", "funnel_completed"):
        if k in jc:
            flag = "ok" if jc[k] == ref_s[k] else "DIFFERENT"
            print("count %-16s expected %9d got %9d  %s" % (k, ref_s[k], jc[k], flag))
            if jc[k] != ref_s[k]:
                counts_diff.append(k)
    if jc.get("groups_evicted"):
        print("note: journeyd evicted %d burst groups (journey.max_groups)" % jc["groups_evicted"])

    for r in rules:
        for label, c in (("MISSING", missing), ("UNEXPECTED", unexpected)):
            ks = sorted(k for k in c if k[0] == r)
            for k in ks[:args.limit]:
                print("%s %s%s" % (label, show(k), " (x%d)" % c[k] if c[k] > 1 else ""))
            if len(ks) > args.limit:
                print("%s ... %d more %s alerts" % (label, len(ks) - args.limit, r))

    ok = not missing and not unexpected and not counts_diff
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"ok": ok, "by_rule": {r: dict(zip(("expected", "got", "missing", "unexpected"),
                                                         per[r])) for r in rules},
                       "counts": {k: {"expected": ref_s[k], "got": jc[k]} for k in jc if k in ref_s},
                       "expected": tot[0], "got": tot[1], "missing": tot[2],
                       "unexpected": tot[3]}, f, indent=1)
    print("reference comparison: " + ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
