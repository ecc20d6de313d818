#!/usr/bin/env bash
# `journeyd replay --report`: renders the report of the shipped demo, of the
# REES46 sample (../shared/data, as t_datasets.sh) and of an all-bad input in
# headless Chromium, and checks that
#   - the numbers the browser reads from the DOM (data-* attributes) equal
#     --summary-json's: records, events, customers, alerts per rule, dead
#     letters by reason, every funnel's attempts/completed/pending/conversion
#     and reached/dropped/rates per step;
#   - --dropoffs-csv has one row per drop-off alert, with its segment and
#     struggles as the alert carries them;
#   - a breakdown_by funnel's segments (shown ones, the rest, "(other)")
#     and the drop-offs with a struggle, by step, equal the summary's and
#     the alerts';
#   - the ten journeys with the most alerts are those of the alert file;
#   - nothing in the file reaches the network (no http(s) src/href, no
#     script, no CSS url()/@import);
#   - an empty or all-bad input says so instead of drawing charts.
# A screenshot of each section goes to build/report/ (look at them).
# Chromium is required: if it is missing or cannot start, this test fails.
#
# Needs $JOURNEYD (binary, possibly wrapped) and $ROOT (repo root).
set -eu
: "${JOURNEYD:?set JOURNEYD}"
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
DATA=${JD_DATA:-$ROOT/../shared/data}
REES46=$DATA/rees46-oct2019/2019-Oct-first-8700.csv
CHECK=$ROOT/tests/e2e/report/check_report.py
SHOTS=$ROOT/build/report
CHROMIUM=${CHROMIUM:-chromium}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$SHOTS"
fail=0

[ -r "$REES46" ] || { echo "dataset missing: $REES46 (CI keeps ../shared beside the checkout)"; exit 1; }
if ! command -v "$CHROMIUM" >/dev/null; then
    echo "t_report: FAIL: '$CHROMIUM' not found; install Debian's chromium (the report is checked in a real browser)"
    exit 1
fi

# chrome ARGS...: headless Chromium with its own profile (other tests may run
# one at the same time), killed after 60 s.
chrome() {
    timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars \
        --user-data-dir="$tmp/profile" --no-first-run --disable-extensions \
        --host-resolver-rules="MAP * ~NOTFOUND" "$@" 2>>"$tmp/chromium.log"
}
echo '<html><body><p id="ok">ok</p></body></html>' >"$tmp/probe.html"
if ! chrome --dump-dom "file://$tmp/probe.html" | grep -q 'id="ok"'; then
    echo "t_report: FAIL: headless Chromium cannot run here, so the report cannot be checked:"
    tail -5 "$tmp/chromium.log"
    exit 1
fi

# case LABEL SCREENSHOTS(0/1) REPLAY-ARGS...; the replay must exit with
# $want (default 0).
case_() {
    local label=$1 shots=$2; shift 2
    local d=$tmp/$label status=0
    mkdir -p "$d"
    $JOURNEYD replay "$@" -o "$d/alerts" --summary-json "$d/sum" --report "$d/report.html" \
        --dropoffs-csv "$d/dropoffs.csv" --no-progress 2>"$d/err" || status=$?
    if [ "$status" -ne "${want:-0}" ]; then
        echo "$label: journeyd replay exited $status, expected ${want:-0}"; cat "$d/err"; fail=1; return
    fi
    if ! chrome --dump-dom "file://$d/report.html" >"$d/dom.html" || [ ! -s "$d/dom.html" ]; then
        echo "$label: Chromium could not load the report"; tail -5 "$tmp/chromium.log"; fail=1; return
    fi
    python3 "$CHECK" "$label" "$d/report.html" "$d/dom.html" "$d/sum" "$d/dropoffs.csv" \
        "$d/alerts" || fail=1
    cp "$d/report.html" "$SHOTS/$label.html"
    [ "$shots" = 1 ] || return 0
    local s h
    for s in overview:1000 journey-map:1150 funnels:1000 struggles:900 alerts:1500; do
        h=${s#*:}; s=${s%%:*}
        rm -f "$SHOTS/$label-$s.png"
        chrome --screenshot="$SHOTS/$label-$s.png" --window-size=1400,"$h" \
            "file://$d/report.html#only-$s" >/dev/null || true
        # a blank page compresses to a few KB; a drawn section does not
        if [ ! -s "$SHOTS/$label-$s.png" ] || [ "$(stat -c %s "$SHOTS/$label-$s.png")" -lt 20000 ]; then
            echo "$label: no (or a blank) screenshot of section $s"; fail=1
        fi
    done
    echo "$label: screenshots in build/report/$label-*.png"
}

case_ demo 1 -i "$ROOT/tests/data/demo.ndjson"
case_ demo-threads-2 0 -i "$ROOT/tests/data/demo.ndjson" -X processing.threads=2
case_ rees46 1 -c "$ROOT/config/examples/rees46.json" -i "$REES46"
case_ rees46-flush-at-end 0 -c "$ROOT/config/examples/rees46.json" -i "$REES46" --flush-at-end

# The same funnel split by brand (contract 5a breakdown_by): the sample has
# more brands than an engine's 256 segments, so "(other)" is drawn too, and
# product_loop alerts inside open attempts give drop-offs their struggles.
python3 - "$ROOT/config/examples/rees46.json" "$tmp/rees46-brand.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
next(r for r in c["rules"] if r["kind"] == "funnel")["breakdown_by"] = "brand"
json.dump(c, open(sys.argv[2], "w"))
PY
case_ rees46-brand 1 -c "$tmp/rees46-brand.json" -i "$REES46"
case_ rees46-brand-threads-4 0 -c "$tmp/rees46-brand.json" -i "$REES46" -X processing.threads=4
if ! grep -q 'data-segment-other=' "$tmp/rees46-brand/dom.html"; then
    echo "rees46-brand: no (other) segment row although the sample has more than 256 brands"; fail=1
fi
if ! grep -q ',product_loop:[0-9a-f]\{16\}' "$tmp/rees46-brand/dropoffs.csv"; then
    echo "rees46-brand: no drop-off lists a struggle in --dropoffs-csv"; fail=1
fi
# A funnel with at most 256 values per segment table (category_code: 98)
# has the same segments for any processing.threads.
sed 's/"breakdown_by": "brand"/"breakdown_by": "category_code"/' "$tmp/rees46-brand.json" >"$tmp/rees46-cat.json"
for t in 1 4; do
    $JOURNEYD replay -c "$tmp/rees46-cat.json" -i "$REES46" -X processing.threads=$t -o /dev/null \
        --summary-json "$tmp/cat$t.json" --no-progress 2>/dev/null
done
if ! python3 - "$tmp/cat1.json" "$tmp/cat4.json" <<'PY'
import json, sys
a, b = (json.load(open(p))["engine"]["funnels"]["view_cart_purchase"] for p in sys.argv[1:])
sys.exit(0 if a == b and len(a["segments"]) > 50 and a["other_segments"]["attempts"] == 0 else 1)
PY
then
    echo "rees46 by category_code: segments differ between 1 and 4 threads"; fail=1
fi

# Every record rejected, and no record at all: the report says so. Most
# input rejected is exit 3, and both files are still written.
printf '{"ts":"yesterday","customer_id":"c","type":"click"}\nnot json\n' >"$tmp/bad.ndjson"
want=3 case_ all-bad 0 -i "$tmp/bad.ndjson"
if ! grep -q 'No event was accepted' "$tmp/all-bad/dom.html" ||
   ! grep -q 'of the records were rejected' "$tmp/all-bad/dom.html"; then
    echo "all-bad: the report does not say that every record was rejected"; fail=1
fi
: >"$tmp/empty.ndjson"
case_ empty 0 -i "$tmp/empty.ndjson"
grep -q 'the input holds no record' "$tmp/empty/dom.html" ||
    { echo "empty: the report does not say the input was empty"; fail=1; }

# A report that cannot be written is an error (exit 1), and the alerts
# still go out.
if $JOURNEYD replay -i "$ROOT/tests/data/demo.ndjson" -o "$tmp/alerts2" \
        --report /nonexistent-dir/r.html 2>"$tmp/err2"; then
    echo "an unwritable --report path did not fail the replay"; fail=1
elif ! grep -q '/nonexistent-dir/r.html' "$tmp/err2" || [ ! -s "$tmp/alerts2" ]; then
    echo "unwritable --report: unclear error or no alerts:"; cat "$tmp/err2"; fail=1
fi

if [ "$fail" -ne 0 ]; then echo "t_report: FAIL"; exit 1; fi
echo "t_report: every report matches its --summary-json and loads nothing from the network"
