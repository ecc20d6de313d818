#!/usr/bin/env bash
# Every alert and dead letter the replay suites produce is valid against
# docs/alert.schema.json: the scenarios (with and without --flush-at-end),
# the demo sample, the goldens (emitted_at stripped) and the dead letters of
# every tests/invalid/events case. Needs python3-jsonschema (Debian).
set -eu
: "${JOURNEYD:?set JOURNEYD}"
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3   # Debian's, with python3-jsonschema
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
args=()
n=0
for input in "$ROOT"/tests/e2e/scenarios/*.ndjson "$ROOT"/tests/data/demo.ndjson; do
    for flush in "" --flush-at-end; do
        n=$((n + 1))
        # shellcheck disable=SC2086
        $JOURNEYD replay -i "$input" $flush -o "$WORK/$n.alerts" --dead-letter "$WORK/$n.dl" 2>/dev/null
        args+=(alerts "$WORK/$n.alerts" dead_letters "$WORK/$n.dl")
    done
done
for dir in "$ROOT"/tests/invalid/events/*/; do
    n=$((n + 1))
    # a case made only of bad records exits 3 ("most input was rejected")
    if [ -f "$dir/input.csv" ]; then in=("$dir/input.csv" --format csv); else in=("$dir/input.ndjson"); fi
    rc=0
    $JOURNEYD replay -i "${in[@]}" -o "$WORK/$n.alerts" \
        --dead-letter "$WORK/$n.dl" 2>/dev/null || rc=$?
    case $rc in 0|3) ;; *) echo "replay of $dir exited $rc"; exit 1 ;; esac
    args+=(dead_letters "$WORK/$n.dl")
done
for g in "$ROOT"/tests/e2e/golden/*.alerts; do
    args+=(golden "$g")
done
$PY "$ROOT/tests/e2e/ops/check_schema.py" "$ROOT/docs/alert.schema.json" "${args[@]}"
