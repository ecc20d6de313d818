"""Validates journeyd's output records against docs/alert.schema.json.

usage: check_schema.py SCHEMA [alerts|golden|dead_letters FILE ...] ...
  alerts FILE        every line must be a valid alert
  golden FILE        the same, emitted_at aside (goldens strip it)
  dead_letters FILE  every line must be a valid dead letter
Then checks the schema rejects broken records (so this check can fail).
Prints one line per failure; exit 1 if any.
"""
import copy
import json
import sys

import jsonschema

schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)


def validator(defname, drop_required=()):
    s = copy.deepcopy(schema)
    s["$defs"][defname]["required"] = [r for r in s["$defs"][defname]["required"] if r not in drop_required]
    s = dict(s)
    s.pop("oneOf")
    s["$ref"] = f"#/$defs/{defname}"
    return jsonschema.Draft202012Validator(s)


V = {"alerts": validator("alert"), "golden": validator("alert", ["emitted_at"]),
     "dead_letters": validator("dead_letter")}
failures, counts = [], {"alerts": 0, "golden": 0, "dead_letters": 0}
args = sys.argv[2:]
for mode, path in zip(args[::2], args[1::2]):
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        if not line.strip():
            continue
        rec = json.loads(line)
        counts[mode] += 1
        for e in V[mode].iter_errors(rec):
            failures.append(f"{path}:{n}: {'/'.join(map(str, e.absolute_path))}: {e.message}")

# the schema must reject these
alert = {"alert_id": "3f9a0c1e5b7d2a64", "rule": "rage_click", "kind": "burst", "severity": "medium",
         "customer_id": "c-17", "identity": "customer", "ts": "2026-11-22T10:00:03.120Z",
         "first_ts": "2026-11-22T10:00:02.010Z", "channels": ["web"],
         "evidence": {"event_ids": ["e-1", "e-2", "e-3"], "count": 3, "group": {"page": "/checkout"}},
         "journey": [{"ts": "2026-11-22T10:00:03.120Z", "channel": "web", "type": "click"}],
         "emitted_at": "2026-11-22T10:00:03.402Z"}
dl = {"error": "late", "detail": "x", "source": {"topic": "cx.events", "partition": 3, "offset": 42},
      "payload": "{}", "truncated": False}
if list(V["alerts"].iter_errors(alert)) or list(V["dead_letters"].iter_errors(dl)):
    failures.append("schema rejects the contract's own example")
bad = [
    ("alert_id uppercase", "alerts", dict(alert, alert_id="3F9A0C1E5B7D2A64")),
    ("alert_id 15 digits", "alerts", dict(alert, alert_id="3f9a0c1e5b7d2a6")),
    ("unknown severity", "alerts", dict(alert, severity="urgent")),
    ("unknown kind", "alerts", dict(alert, kind="streak")),
    ("ts without ms", "alerts", dict(alert, ts="2026-11-22T10:00:03Z")),
    ("customer identity without customer_id", "alerts",
     {k: v for k, v in dict(alert, anonymous_id="a-1").items() if k != "customer_id"}),
    ("no emitted_at", "alerts", {k: v for k, v in alert.items() if k != "emitted_at"}),
    ("unknown field", "alerts", dict(alert, extra=1)),
    ("funnel on a burst", "alerts", dict(alert, funnel={"steps": 3, "last_step": 1, "last_step_name": "a"})),
    ("sequence without first", "alerts", dict(alert, kind="sequence")),
    ("unknown reason", "dead_letters", dict(dl, error="bogus")),
    ("source with neither", "dead_letters", dict(dl, source={"topic": "t"})),
    ("payload not a string", "dead_letters", dict(dl, payload={})),
    ("no source", "dead_letters", {k: v for k, v in dl.items() if k != "source"}),
]
for what, mode, rec in bad:
    if not list(V[mode].iter_errors(rec)):
        failures.append(f"schema accepts a broken record: {what}")

for f in failures:
    print("FAIL " + f)
print(f"{counts['alerts']} alerts, {counts['golden']} golden alerts, {counts['dead_letters']} dead letters "
      f"valid; {len(bad)} broken records rejected; {len(failures)} failures")
if not counts["alerts"] or not counts["dead_letters"]:
    print("FAIL nothing to validate")
    sys.exit(1)
sys.exit(1 if failures else 0)
