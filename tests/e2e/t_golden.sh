#!/usr/bin/env bash
# Byte-level goldens (emitted_at removed) and determinism: the same events
# re-ordered within time.lateness, gzip-compressed, or read from stdin give
# byte-identical alerts.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
strip() { sed -E 's/,"emitted_at":"[^"]*"//' "$1"; }
fail=0
for input in "$here"/scenarios/*.ndjson; do
    name=$(basename "$input" .ndjson)
    $JOURNEYD replay -i "$input" -o "$tmp/out" 2>/dev/null
    if [ -n "${UPDATE_GOLDEN:-}" ]; then strip "$tmp/out" > "$here/golden/$name.alerts"; fi
    if ! diff <(strip "$tmp/out") "$here/golden/$name.alerts" >/dev/null; then
        echo "$name: output differs from golden/$name.alerts"; diff <(strip "$tmp/out") "$here/golden/$name.alerts" | head; fail=1
    fi
done
# All scenarios as one stream, then shuffled within 4 s windows.
cat "$here"/scenarios/{rage_click_gap,error_burst_within,escalation,funnel_stitch}.ndjson > "$tmp/all.ndjson"
python3 - "$tmp/all.ndjson" "$tmp/sorted.ndjson" "$tmp/shuffled.ndjson" <<'PY'
import json, random, sys
from datetime import datetime
lines = [l for l in open(sys.argv[1]) if l.strip()]
def ts(l): return datetime.fromisoformat(json.loads(l)["ts"].replace("Z", "+00:00")).timestamp()
lines.sort(key=ts)
open(sys.argv[2], "w").writelines(lines)
rng = random.Random(7)
out = lines[:]
for _ in range(2000):   # random swaps of neighbours closer than the lateness
    i = rng.randrange(len(out) - 1)
    if abs(ts(out[i]) - ts(out[i + 1])) < 4 and ts(out[i]) != ts(out[i + 1]):
        out[i], out[i + 1] = out[i + 1], out[i]
open(sys.argv[3], "w").writelines(out)
PY
cmp -s "$tmp/sorted.ndjson" "$tmp/shuffled.ndjson" && { echo "shuffle changed nothing"; fail=1; }
$JOURNEYD replay -i "$tmp/sorted.ndjson" -o "$tmp/a" 2>/dev/null
$JOURNEYD replay -i "$tmp/shuffled.ndjson" -o "$tmp/b" 2>/dev/null
gzip -c "$tmp/shuffled.ndjson" > "$tmp/shuffled.ndjson.gz"
$JOURNEYD replay -i "$tmp/shuffled.ndjson.gz" -o "$tmp/c" 2>/dev/null
$JOURNEYD replay -i - < "$tmp/shuffled.ndjson" > "$tmp/d" 2>/dev/null
# Threads: many decoder batches (the pool hands out 1024 lines at a time)
# and, from 4 threads, customers sharded over 2 and 3 engines with stitches
# crossing shards: alerts, dead letters and counters identical to one thread.
# The copies run years past today, so time.max_future is off for them.
python3 - "$tmp/sorted.ndjson" "$tmp/big.ndjson" <<'PY'
import json, sys
from datetime import datetime, timedelta
lines = [json.loads(l) for l in open(sys.argv[1])]
with open(sys.argv[2], "w") as out:
    for k in range(400):            # 400 copies, 3 days apart, distinct identities
        for e in lines:
            e = dict(e)
            t = datetime.fromisoformat(e["ts"].replace("Z", "+00:00")) + timedelta(days=3 * k)
            e["ts"] = t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)
            for f in ("customer_id", "anonymous_id", "event_id"):
                if f in e:
                    e[f] = "%s-%d" % (e[f], k)
            out.write(json.dumps(e) + "\n")
        out.write('{"broken json\n')   # dead letters keep their place too
PY
for t in 1 2 3 4 6; do
    $JOURNEYD replay -i "$tmp/big.ndjson" -o "$tmp/big$t" --dead-letter "$tmp/bigdl$t" \
        --summary-json "$tmp/bigsum$t" -X processing.threads=$t -X time.max_future=off 2>/dev/null
done
counters() { # the engine's counters, less the sampled peak
    python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["engine"]; e.pop("customers_peak"); print(json.dumps(e, sort_keys=True))' "$1"
}
bn=$(wc -l < "$tmp/big1")
[ "$bn" -ge 3200 ] || { echo "threads: expected at least 3200 alerts, got $bn"; fail=1; }
for t in 2 3 4 6; do
    cmp -s <(strip "$tmp/big1") <(strip "$tmp/big$t") || { echo "threads=$t alerts differ from threads=1"; fail=1; }
    cmp -s "$tmp/bigdl1" "$tmp/bigdl$t" || { echo "threads=$t dead letters differ"; fail=1; }
    [ "$(counters "$tmp/bigsum1")" = "$(counters "$tmp/bigsum$t")" ] || { echo "threads=$t counters differ"; fail=1; }
done
[ "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["engine"]["merges"])' "$tmp/bigsum1")" -ge 400 ] \
    || { echo "expected stitches (merges) in the threads input"; fail=1; }
[ "$(wc -l < "$tmp/bigdl1")" -eq 400 ] || { echo "expected 400 dead letters"; fail=1; }
n=$(wc -l < "$tmp/a")
[ "$n" -ge 8 ] || { echo "expected at least 8 alerts, got $n"; fail=1; }
for f in b c d; do
    if ! cmp -s <(strip "$tmp/a") <(strip "$tmp/$f"); then echo "determinism: run $f differs"; fail=1; fi
done
[ $fail -eq 0 ] && echo "goldens match; $n alerts identical across reorder, gzip and stdin; $bn alerts identical with 1, 2, 3, 4 and 6 threads"
exit $fail
