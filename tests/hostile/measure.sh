#!/usr/bin/env bash
# tests/hostile/measure.sh [JOURNEYD] — peak memory under hostile input
# (`make hostile`; not part of `make test`/`make check`: minutes of CPU).
#
# Loads (tests/hostile/gen.py, generated in a temporary directory, never
# committed):
#   unique-1M / unique-2M  every event with its own session_id and page, with
#                          -X journey.max_customers=100 -X journey.retention=1s:
#                          interned values must be reclaimed (flat RSS)
#   samets-100k / -1k      2M events with one ts over 100000 / 1000 customers:
#                          time.max_buffered bounds what waits for the watermark
#   bomb                   ~7 MB of gzip inflating to 2 GiB of one repeated event
# For each: wall time, peak RSS (/usr/bin/time), and the summary's
# accounting events_read = evaluated + duplicates + dead letters (a mismatch
# fails the script). RSS above LIMIT_MIB (default 200) is flagged OVER.
set -u -o pipefail
JOURNEYD=${1:-${JOURNEYD:-build/journeyd}}
LIMIT_MIB=${LIMIT_MIB:-200}
BOMB_GIB=${BOMB_GIB:-2}
here=$(cd "$(dirname "$0")" && pwd)
[ -x "$JOURNEYD" ] || { echo "measure: $JOURNEYD is not executable (make first)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "measure: needs /usr/bin/time (Debian package time)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

gen() { python3 "$here/gen.py" "$@"; }
echo "measure: generating loads in $tmp" >&2
gen unique 2000000 > "$tmp/unique-2M.ndjson"
head -n 1000000 "$tmp/unique-2M.ndjson" > "$tmp/unique-1M.ndjson"
gen samets 2000000 100000 > "$tmp/samets-100k.ndjson"
gen samets 2000000 1000 > "$tmp/samets-1k.ndjson"
gen bomb "$BOMB_GIB" > "$tmp/bomb.ndjson.gz"

failed=0
printf '| load | input | wall s | peak RSS MiB | read | evaluated | duplicates | dead letters | forced advances | accounting | < %s MiB |\n' "$LIMIT_MIB"
printf '|---|---|---|---|---|---|---|---|---|---|---|\n'
# run NAME FILE [replay options...]
run() {
    local name=$1 file=$2; shift 2
    local size
    size=$(du -h "$file" | cut -f1)
    /usr/bin/time -f '%e %M' -o "$tmp/$name.time" "$JOURNEYD" replay -i "$file" -o /dev/null \
        --summary-json "$tmp/$name.json" "$@" 2> "$tmp/$name.err"
    local rc=$?
    if [ $rc -ne 0 ]; then
        echo "| $name | $size | replay failed (exit $rc): $(tail -n1 "$tmp/$name.err") |"
        failed=1
        return
    fi
    read -r wall rss < <(tail -n1 "$tmp/$name.time")
    python3 - "$tmp/$name.json" "$name" "$size" "$wall" "$rss" "$LIMIT_MIB" <<'PY' || failed=1
import json, sys
path, name, size, wall, rss, limit = sys.argv[1:7]
s = json.load(open(path))
e = s["engine"]
ok = s["events_read"] == e["events_evaluated"] + e["duplicates"] + s["dead_letters"]
mib = int(rss) / 1024
print(f"| {name} | {size} | {wall} | {mib:.1f} | {s['events_read']} | {e['events_evaluated']} | "
      f"{e['duplicates']} | {s['dead_letters']} | {e['forced_advances']} | "
      f"{'ok' if ok else 'MISMATCH'} | {'yes' if mib < float(limit) else 'OVER'} |")
sys.exit(0 if ok else 1)
PY
}
few=(-X journey.max_customers=100 -X journey.retention=1s)
run unique-1M "$tmp/unique-1M.ndjson" "${few[@]}"
run unique-2M "$tmp/unique-2M.ndjson" "${few[@]}"
run unique-2M-threads2 "$tmp/unique-2M.ndjson" "${few[@]}" -X processing.threads=2
run samets-100k "$tmp/samets-100k.ndjson"
run samets-1k "$tmp/samets-1k.ndjson"
run bomb "$tmp/bomb.ndjson.gz"
exit $failed
