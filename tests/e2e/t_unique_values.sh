#!/usr/bin/env bash
# Interned values are reclaimed: a replay of events whose pages and
# sessions are all unique (tests/hostile/gen.py unique), with few customers
# kept (journey.max_customers=100, journey.retention=1s), must not grow
# with the input. Peak RSS at 2M events may exceed that at 1M by at most
# MARGIN_KIB (before reference counting: 61 MB at 1M, 117 MB at 2M).
# Skipped under a wrapper (valgrind) or a sanitizer build, whose own
# memory use is not the program's.
set -u
: "${JOURNEYD:?set JOURNEYD to the journeyd binary}"
MARGIN_KIB=${MARGIN_KIB:-16384}
case "$JOURNEYD" in *" "*) echo "skip: wrapped binary"; exit 0 ;; esac
case "${JD_BUILD:-}" in *san*) echo "skip: sanitizer build"; exit 0 ;; esac
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 "$here/../hostile/gen.py" unique 2000000 > "$tmp/2m.ndjson" || exit 1
head -n 1000000 "$tmp/2m.ndjson" > "$tmp/1m.ndjson"

# peak N COUNT: replays N's file, prints its peak RSS in KiB, checks that
# every event was evaluated.
peak() {
    local f=$tmp/$1 rss
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -f %M -o "$f.rss" "$JOURNEYD" replay -i "$f.ndjson" -o /dev/null \
            --summary-json "$f.json" -X journey.max_customers=100 -X journey.retention=1s \
            2>/dev/null || { echo "replay $1 failed" >&2; return 1; }
        rss=$(tail -n1 "$f.rss")
    else   # a forked Python counts too: a few MB more, the same for both
        rss=$(python3 -c 'import resource, subprocess, sys
rc = subprocess.call(sys.argv[1:], stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss if rc == 0 else -1)' \
            "$JOURNEYD" replay -i "$f.ndjson" -o /dev/null --summary-json "$f.json" \
            -X journey.max_customers=100 -X journey.retention=1s)
        [ "$rss" -ge 0 ] || { echo "replay $1 failed" >&2; return 1; }
    fi
    python3 - "$f.json" "$2" <<'PY' || return 1
import json, sys
s, n = json.load(open(sys.argv[1])), int(sys.argv[2])
e = s["engine"]
if s["events_read"] != n or e["events_evaluated"] != n or s["dead_letters"] or e["duplicates"]:
    sys.exit(f"expected {n} events evaluated, got {s['events_read']} read, "
             f"{e['events_evaluated']} evaluated, {s['dead_letters']} dead letters")
PY
    echo "$rss"
}
r1=$(peak 1m 1000000) || exit 1
r2=$(peak 2m 2000000) || exit 1
echo "peak RSS: 1M events ${r1} KiB, 2M events ${r2} KiB (margin ${MARGIN_KIB} KiB)"
if (( r2 - r1 > MARGIN_KIB )); then
    echo "FAIL: memory grows with unique values: +$((r2 - r1)) KiB from 1M to 2M events"
    exit 1
fi
