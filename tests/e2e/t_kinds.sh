#!/usr/bin/env bash
# The second-edition rule kinds (absence, pattern, score; filter operators,
# ignore) end to end:
#   1. config/examples/frustration.json on tests/data/frustration.ndjson
#      gives exactly the hand-derived alerts in tests/data/frustration.expected
#      (rule, identity, ts, evidence ids, the rules of evidence.first), and
#      the independent model tests/reference/kinds_ref.py agrees with them;
#   2. journeyd against that model on seeded random streams (stitching,
#      arrival order shuffled within the lateness), threads 1 and 2:
#      0 differences.
# Needs $JOURNEYD (binary, possibly wrapped) and $ROOT (repo root).
set -u
: "${JOURNEYD:?set JOURNEYD}"
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
REF=$ROOT/tests/reference/kinds_ref.py
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0

# "rule<TAB>identity<TAB>ts<TAB>ids<TAB>first rules" lines, sorted.
summarise() {
    python3 -c '
import json, sys
rows = []
for line in sys.stdin:
    a = json.loads(line)
    ev = a["evidence"]
    ident = a.get("customer_id") or a.get("anonymous_id") or a.get("identity")
    first = sorted(f["rule"] for f in ev.get("first", []) if f.get("rule")) if "evidence" in a else []
    rows.append("\t".join([a["rule"], ident, a["ts"], ",".join(ev["event_ids"]), ",".join(first)]))
print("\n".join(sorted(rows)))'
}

grep -v '^#' "$ROOT/tests/data/frustration.expected" | sort >"$tmp/want"
# shellcheck disable=SC2086
$JOURNEYD replay -c "$ROOT/config/examples/frustration.json" \
    -i "$ROOT/tests/data/frustration.ndjson" -o "$tmp/got.ndjson" 2>"$tmp/err" || {
    echo "FAIL replay of the frustration sample"; cat "$tmp/err"; exit 1; }
summarise <"$tmp/got.ndjson" >"$tmp/got"
if diff -u "$tmp/want" "$tmp/got"; then
    echo "ok   frustration sample: $(wc -l <"$tmp/want") hand-derived alerts"
else
    echo "FAIL frustration sample: journeyd differs from tests/data/frustration.expected"; fail=1
fi
python3 "$REF" "$ROOT/config/examples/frustration.json" "$ROOT/tests/data/frustration.ndjson" |
    python3 -c '
import json, sys
for line in sys.stdin:
    a = json.loads(line)
    print("\t".join([a["rule"], a["identity"], a["ts"], ",".join(a["event_ids"]), ",".join(a["first"])]))' |
    sort >"$tmp/model"
if diff -u "$tmp/want" "$tmp/model"; then
    echo "ok   frustration sample: the model agrees with the hand-derived alerts"
else
    echo "FAIL frustration sample: the model differs from tests/data/frustration.expected"; fail=1
fi

# The new kinds' alerts (score evidence, absence groups) fit docs/alert.schema.json.
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3   # Debian's, with python3-jsonschema
echo 'not json' | $JOURNEYD replay -i - -o /dev/null --dead-letter "$tmp/dl" 2>/dev/null
if out=$($PY "$ROOT/tests/e2e/ops/check_schema.py" "$ROOT/docs/alert.schema.json" \
        alerts "$tmp/got.ndjson" dead_letters "$tmp/dl"); then
    echo "ok   frustration sample: alerts valid against docs/alert.schema.json"
else
    echo "FAIL frustration sample: schema"; echo "$out"; fail=1
fi

# Under valgrind a shorter stream keeps the run short.
n=3000
case "$JOURNEYD" in *valgrind*) n=500 ;; esac
for seed in 1 2 3 4; do
    python3 "$REF" --gen "$seed" -n "$n" -o "$tmp/c.json" -i "$tmp/in.ndjson"
    for threads in 1 2; do
        # shellcheck disable=SC2086
        $JOURNEYD replay -c "$tmp/c.json" -X processing.threads=$threads -i "$tmp/in.ndjson" \
            -o "$tmp/a.ndjson" 2>"$tmp/err" || { echo "FAIL replay seed $seed"; cat "$tmp/err"; fail=1; continue; }
        if out=$(python3 "$REF" --compare "$tmp/c.json" "$tmp/in.ndjson" "$tmp/a.ndjson"); then
            echo "ok   random seed $seed, threads $threads: ${out##*$'\n'}"
        else
            echo "FAIL random seed $seed, threads $threads:"; echo "$out"; fail=1
        fi
    done
done
exit $fail
