#!/usr/bin/env bash
# Hand-written scenarios whose expected alerts (rule, identity, ts, in
# order) were derived from the contract, not from journeyd's output.
set -eu
dir=$(cd "$(dirname "$0")/scenarios" && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
for input in "$dir"/*.ndjson; do
    name=$(basename "$input" .ndjson)
    $JOURNEYD replay -i "$input" -o "$tmp/$name.alerts" --dead-letter "$tmp/$name.dl" \
        --summary-json "$tmp/$name.sum" 2>"$tmp/$name.err" || { echo "$name: exit $?"; cat "$tmp/$name.err"; fail=1; continue; }
    python3 - "$tmp/$name.alerts" > "$tmp/$name.got" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    a = json.loads(line)
    print("%s\t%s\t%s" % (a["rule"], a.get("customer_id") or a.get("anonymous_id"), a["ts"]))
PY
    if ! diff -u "$dir/$name.expect" "$tmp/$name.got"; then
        echo "$name: alerts differ from expected"; fail=1
    else
        echo "$name: ok ($(wc -l < "$tmp/$name.got") alerts)"
    fi
done
# misc: one duplicate (s2 twice) and one late event (t2, 20 min behind).
python3 - "$tmp/misc.sum" "$tmp/misc.dl" <<'PY' || fail=1
import json, sys
s = json.load(open(sys.argv[1]))
assert s["engine"]["duplicates"] == 1, s["engine"]["duplicates"]
assert s["dead_letters_by_reason"] == {"late": 1}, s["dead_letters_by_reason"]
dl = [json.loads(l) for l in open(sys.argv[2])]
assert len(dl) == 1 and dl[0]["error"] == "late" and dl[0]["source"]["line"] == 11, dl
assert json.loads(dl[0]["payload"])["event_id"] == "t2"
print("misc: duplicate and late counted, late event dead-lettered with its line")
PY
# the drop-off alert names the last step reached and the stitched customer
python3 - "$tmp/funnel_stitch.alerts" <<'PY' || fail=1
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
assert a[0]["funnel"] == {"steps": 3, "last_step": 2, "last_step_name": "checkout_start"}, a[0]
assert a[0]["evidence"]["event_ids"] == ["g1", "g2"], a[0]["evidence"]
assert a[1]["identity"] == "anonymous" and a[1]["funnel"]["last_step"] == 1, a[1]
print("funnel: drop-off evidence and last step ok")
PY
exit $fail
