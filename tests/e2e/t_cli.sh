#!/usr/bin/env bash
# The command line every command shares (src/cli/options.c) and replay's
# guard rails: outputs created only after every input is found, one stream
# on stdout, exit 3 with a hint when most records are dead letters, and a
# warning for rule fields that nothing maps and the input does not carry.
# $JOURNEYD may carry a wrapper (valgrind ...), hence unquoted below.
set -u
: "${JOURNEYD:?set JOURNEYD to the journeyd binary}"
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
good=$here/scenarios/misc.ndjson
fail=0
total=0

# check NAME WANT_STATUS STATUS [TEXT FILE]: the status, and TEXT in FILE.
check() {
    local name=$1 want=$2 got=$3 text=${4:-} file=${5:-}
    total=$((total + 1))
    if [ "$got" != "$want" ]; then
        echo "FAIL $name: exit status $got, expected $want"
        [ -n "$file" ] && sed 's/^/  | /' "$file" | head -5
        fail=$((fail + 1))
    elif [ -n "$text" ] && ! grep -qF -- "$text" "$file"; then
        echo "FAIL $name: lacks: $text"
        sed 's/^/  | /' "$file" | head -5
        fail=$((fail + 1))
    else
        echo "ok   $name"
    fi
}

# --- -o is created only after every -i is found ------------------------------
echo "KEEP" > "$tmp/out"
echo "KEEP" > "$tmp/dl"
$JOURNEYD replay -i "$good" -i "$tmp/no-such-input.ndjson" -o "$tmp/out" \
    --dead-letter "$tmp/dl" 2>"$tmp/err"
check "missing -i fails" 1 $? "cannot open $tmp/no-such-input.ndjson" "$tmp/err"
total=$((total + 1))
if [ "$(cat "$tmp/out")" = KEEP ] && [ "$(cat "$tmp/dl")" = KEEP ]; then
    echo "ok   missing -i leaves -o and --dead-letter untouched"
else
    echo "FAIL missing -i truncated an earlier output"; fail=$((fail + 1))
fi
cp "$good" "$tmp/in.ndjson"
$JOURNEYD replay -i "$tmp/in.ndjson" -o "$tmp/in.ndjson" 2>"$tmp/err"
check "-o naming an input is refused" 1 $? "refusing to overwrite it" "$tmp/err"
total=$((total + 1))
if cmp -s "$good" "$tmp/in.ndjson"; then echo "ok   the input is intact"
else echo "FAIL -o destroyed its own input"; fail=$((fail + 1)); fi

# --- --summary-json - ---------------------------------------------------------
$JOURNEYD replay -i "$good" -o "$tmp/alerts" --summary-json - >"$tmp/sum" 2>"$tmp/err"
check "--summary-json - with -o FILE" 0 $? '"events_read": 12' "$tmp/sum"
$JOURNEYD replay -i "$good" --summary-json - >"$tmp/sum" 2>"$tmp/err"
check "--summary-json - with alerts on stdout is a usage error" 2 $? \
    "--summary-json - and -o (the default) both write to stdout" "$tmp/err"
$JOURNEYD replay -i "$good" -o - --dead-letter - >/dev/null 2>"$tmp/err"
check "--dead-letter - with -o - is a usage error" 2 $? "both write to stdout" "$tmp/err"

# --- exit 3: most records rejected, with the likely cause ----------------------
printf 'ts,customer_id,type\n2026-11-22T10:00:00Z,c1,click\n2026-11-22T10:00:01Z,c1,click\n' \
    > "$tmp/events.csv"
$JOURNEYD replay -i "$tmp/events.csv" -o "$tmp/alerts" 2>"$tmp/err"
check "CSV read as NDJSON exits 3" 3 $? "use --format csv" "$tmp/err"
$JOURNEYD replay -i "$tmp/events.csv" -o "$tmp/alerts" --format csv 2>"$tmp/err"
check "the same with --format csv exits 0" 0 $?
python3 - "$tmp/unsorted.ndjson" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(10):   # every event 1 s before the previous one
        f.write('{"ts":%d,"customer_id":"c%d","type":"page_view"}\n' % (1764000000000 - 1000 * i, i))
PY
$JOURNEYD replay -i "$tmp/unsorted.ndjson" -o "$tmp/alerts" -X time.lateness=0 2>"$tmp/err"
check "unsorted input exits 3" 3 $? "input is not sorted: raise time.lateness (-X time.lateness=...)" "$tmp/err"
$JOURNEYD replay -i "$tmp/unsorted.ndjson" -o "$tmp/alerts" -X time.lateness=10s 2>"$tmp/err"
check "the same with enough lateness exits 0" 0 $?
$JOURNEYD replay -i "$good" -o "$tmp/alerts" -X time.format=epoch_s 2>"$tmp/err"
check "timestamps in another format exit 3" 3 $? "check time.format" "$tmp/err"

# --- rule fields nobody maps ---------------------------------------------------
cat > "$tmp/typo.json" <<'EOF'
{"rules": [{"name": "rage", "kind": "burst", "match": {"typ": "click"}, "count": 3, "gap": "1s"},
           {"name": "pricey", "kind": "burst", "match": {"price": 5}, "count": 1, "within": "1s"}]}
EOF
$JOURNEYD check-config -c "$tmp/typo.json" >/dev/null 2>"$tmp/err"
check "check-config warns about \"typ\"" 0 $? 'warning: rule "rage" uses field "typ"' "$tmp/err"
printf '{"ts":1764000000000,"customer_id":"c","type":"click","price":5}\n' > "$tmp/priced.ndjson"
$JOURNEYD replay -c "$tmp/typo.json" -i "$tmp/priced.ndjson" -o "$tmp/alerts" 2>"$tmp/err"
check "replay warns about \"typ\"" 0 $? \
    'field "typ", which is neither a canonical field (type, channel, session_id, page, element), nor mapped in "fields", nor present in the first 1 records' "$tmp/err"
total=$((total + 1))
if grep -q '"price"' "$tmp/err"; then
    echo "FAIL replay warned about \"price\", which the input carries"; fail=$((fail + 1))
else echo "ok   no warning for a field the input carries"; fi
$JOURNEYD check-config >/dev/null 2>"$tmp/err"
total=$((total + 1))
if [ -s "$tmp/err" ]; then echo "FAIL the default rules draw a warning"; fail=$((fail + 1))
else echo "ok   no warning for the default rules"; fi

# --- -X: no limit, UTF-8 ---------------------------------------------------------
xs=()
for i in $(seq 1 299); do xs+=(-X "journey.history=$((i % 50 + 20))"); done
$JOURNEYD check-config "${xs[@]}" -X time.lateness=7s >"$tmp/dump" 2>"$tmp/err"
check "300 -X are all applied" 0 $? '"lateness": "7s"' "$tmp/dump"
$JOURNEYD check-config "${xs[@]}" -X time.lateness=soon >/dev/null 2>"$tmp/err"
check "the 300th -X is checked too" 2 $? "-X time.lateness=soon: expected a duration" "$tmp/err"
$JOURNEYD check-config -X "output.alerts_topic=caf$(printf '\303')" >/dev/null 2>"$tmp/err"
check "non-UTF-8 -X value" 2 $? "-X output.alerts_topic=...: value is not valid UTF-8" "$tmp/err"

# --- kcat habits: -b and -t ------------------------------------------------------
$JOURNEYD run -b "$(printf '\377')" -t a,b >/dev/null 2>"$tmp/err"
check "run -b is kafka.bootstrap.servers" 2 $? \
    "-X kafka.bootstrap.servers=...: value is not valid UTF-8" "$tmp/err"
$JOURNEYD run -t "a,,b" >/dev/null 2>"$tmp/err"
check "run -t is input.topics" 2 $? "-X input.topics=a,,b: expected a non-empty list" "$tmp/err"
JOURNEYD_LOG=error $JOURNEYD produce -b 127.0.0.1:1 -i "$tmp/no-such-input.ndjson" \
    -t config_cli_topic >/dev/null 2>"$tmp/err"
check "produce -t is --topic" 1 $? "to config_cli_topic" "$tmp/err"

# --- usage -----------------------------------------------------------------------
for c in run replay produce check-config demo; do
    $JOURNEYD $c --help >"$tmp/help" 2>&1
    check "$c --help" 0 $? "-X key=value" "$tmp/help"
    $JOURNEYD $c --no-such-option >/dev/null 2>"$tmp/err"
    check "$c --no-such-option" 2 $? "unknown option \"--no-such-option\"" "$tmp/err"
done
$JOURNEYD replay --help >"$tmp/help" 2>&1
check "replay --help documents exit 3" 0 $? "3 ran, but most input was rejected" "$tmp/help"
$JOURNEYD replay -i "$good" stray >/dev/null 2>"$tmp/err"
check "a stray argument" 2 $? 'unexpected argument "stray"' "$tmp/err"
$JOURNEYD replay -i >/dev/null 2>"$tmp/err"
check "-i without its argument" 2 $? "option -i needs an argument" "$tmp/err"

echo "t_cli: $((total - fail))/$total passed"
[ "$fail" -eq 0 ]
