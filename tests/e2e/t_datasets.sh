#!/usr/bin/env bash
# Replays the real captured datasets in ../shared/data through the example
# configs in config/examples/ (field mapping only, no code) and checks that the
# funnel counts, alert counts, late/dead-letter counts and every alert
# (rule, identity, ts, last step) equal what an independent reference
# computes from the contract's semantics (tests/e2e/datasets/reference.py,
# python3 standard library, not derived from journeyd's code).
#
# Needs $JOURNEYD (binary, possibly wrapped) and $ROOT (repo root).
set -eu
: "${JOURNEYD:?set JOURNEYD}"
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
DATA=${JD_DATA:-$ROOT/../shared/data}
REF=$ROOT/tests/e2e/datasets/reference.py
CMP=$ROOT/tests/e2e/datasets/compare.py
REES46=$DATA/rees46-oct2019/2019-Oct-first-8700.csv
YOOCHOOSE=$DATA/yoochoose-clicks/clicks-16k.tsv
for f in "$REES46" "$YOOCHOOSE"; do
    [ -r "$f" ] || { echo "dataset missing: $f (CI keeps ../shared beside the checkout)"; exit 1; }
done
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0

# case LABEL CONFIG INPUT [-X key=value ...]; $want_status: replay's exit
# status (3: most records were dead letters)
case_() {
    local label=$1 conf=$2 input=$3; shift 3
    local d=$tmp/$label status=0
    mkdir -p "$d"
    $JOURNEYD replay -c "$conf" "$@" -i "$input" -o "$d/alerts" \
            --dead-letter "$d/dl" --summary --summary-json "$d/sum" 2>"$d/err" || status=$?
    if [ "$status" != "${want_status:-0}" ]; then
        echo "$label: journeyd replay exit status $status, expected ${want_status:-0}"
        cat "$d/err"; fail=1; return
    fi
    if ! python3 "$REF" "$conf" "$input" "$@" --alerts-out "$d/ref.alerts" >"$d/ref.json"; then
        echo "$label: reference failed"; fail=1; return
    fi
    python3 "$CMP" "$label" "$d/sum" "$d/alerts" "$d/dl" "$d/ref.json" "$d/ref.alerts" || fail=1
    echo
}

ref_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$@"; }

# --- REES46: CSV, strftime time, view -> cart -> purchase funnel + product loop
case_ rees46 "$ROOT/config/examples/rees46.json" "$REES46"
echo "rees46: journeyd --summary as printed:"
sed 's/^/    /' "$tmp/rees46/err"
# the README says the file is sorted by time: the reference checks it, so
# "0 late" is a property of the data, not of a generous lateness
ooo=$(ref_field "$tmp/rees46/ref.json" rows_out_of_order)
if [ "$ooo" != 0 ]; then echo "rees46: $ooo rows out of time order (expected sorted)"; fail=1
else echo "rees46: reference confirms the file is sorted by event_time (0 rows out of order)"; fi
echo

# --flush-at-end: the 2092 pending attempts drop off too (alert at start+within)
case_ rees46-flush-at-end "$ROOT/config/examples/rees46.json" "$REES46" --flush-at-end

# --- YooChoose: TSV, epoch seconds with fractions, session = anonymous identity.
# Rows are grouped by session, not sorted by time (spread over ~1 day), so the
# example uses time.lateness 24h: nothing is late.
case_ yoochoose "$ROOT/config/examples/yoochoose.json" "$YOOCHOOSE"
ooo=$(ref_field "$tmp/yoochoose/ref.json" rows_out_of_order)
echo "yoochoose: $ooo of 16539 rows arrive after a later-timestamped row; with lateness 24h none is late"
echo
# Same file with the default 5s and a 1h lateness: most rows are late and
# must be dead-lettered (reason late) and counted; the rest still alert
# exactly as the reference says.
# Most rows late: replay says so and exits 3.
want_status=3 case_ yoochoose-lateness-1h "$ROOT/config/examples/yoochoose.json" "$YOOCHOOSE" -X time.lateness=1h
want_status=3 case_ yoochoose-lateness-5s "$ROOT/config/examples/yoochoose.json" "$YOOCHOOSE" -X time.lateness=5s
grep -q "input is not sorted: raise time.lateness" "$tmp/yoochoose-lateness-5s/err" \
    || { echo "yoochoose-lateness-5s: no hint about time.lateness"; fail=1; }

# --- REES46 with shorter funnel windows (rules cannot be set with -X, so a
# copy of the example with only "within" changed): many more drop-offs at
# every step, fewer pending at the end.
for w in 1m 5m; do
    python3 - "$ROOT/config/examples/rees46.json" "$w" >"$tmp/rees46-$w.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
for r in c["rules"]:
    if r["kind"] == "funnel":
        r["within"] = sys.argv[2]
json.dump(c, sys.stdout)
PY
    case_ "rees46-funnel-within-$w" "$tmp/rees46-$w.json" "$REES46"
done

if [ "$fail" -ne 0 ]; then echo "t_datasets: FAIL"; exit 1; fi
echo "t_datasets: all dataset counts equal the reference"
