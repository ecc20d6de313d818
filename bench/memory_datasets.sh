#!/usr/bin/env bash
# bench/memory_datasets.sh [JOURNEYD] — peak RSS of `journeyd replay` on the
# real captured datasets at 1x and at MULT x (default 10x) their size.
#
# The MULT x files are built in build/datasets/ by repeating the sample MULT
# times; copy k has every timestamp shifted by k x (the sample's time span +
# a margin) and every identity shifted (REES46 user_id + k*10^9 and
# user_session "k-..."; YooChoose SessionId + k*10^8), so it is MULT times
# the events AND MULT times the distinct customers, spread over MULT times the
# event time.  Runs (example configs from config/examples/):
#
#   rees46    1x / MULTx            default journey.retention (7d): every
#                                   customer stays in memory, so the state
#                                   grows with the customers seen
#   rees46    MULTx retention=1h    customers idle for 1h expire: active
#                                   customers (and RSS) stay at the 1x level
#   rees46    MULTx same ids        times shifted, identities not: 10x the
#                                   file, 1x the customers
#   yoochoose 1x / MULTx            lateness 24h: about one copy (one day of
#                                   event time) waits in the re-order buffer
#
# Peak RSS comes from python3 resource.getrusage(RUSAGE_CHILDREN).ru_maxrss of
# a fresh python per run (so exactly one child is measured); customer counts
# come from journeyd's own --summary-json (customers_total, customers_peak).
# Not part of `make test` (it is a measurement, not a pass/fail gate).
set -eu -o pipefail
cd "$(dirname "$0")/.."
JOURNEYD=${1:-build/journeyd}
MULT=${MULT:-10}
DATA=${JD_DATA:-../shared/data}
REES46=$DATA/rees46-oct2019/2019-Oct-first-8700.csv
YOOCHOOSE=$DATA/yoochoose-clicks/clicks-16k.tsv
OUT=build/datasets
mkdir -p "$OUT"
[ -x "$JOURNEYD" ] || { echo "no binary $JOURNEYD (run make)"; exit 1; }

# gen KIND SRC DST MULT SHIFT_IDS
gen() {
    python3 - "$@" <<'PY'
import csv, datetime, sys
kind, src, dst, mult, shift_ids = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] == "1"
fmt = "%Y-%m-%d %H:%M:%S UTC"
with open(src, newline="") as fh:
    delim = "\t" if kind == "yoochoose" else ","
    rows = list(csv.reader(fh, delimiter=delim))
head, body = rows[0], rows[1:]
if kind == "rees46":
    ti, ui, si = head.index("event_time"), head.index("user_id"), head.index("user_session")
    ts = [datetime.datetime.strptime(r[ti], fmt) for r in body]
    step = (max(ts) - min(ts)) + datetime.timedelta(seconds=1)
else:
    ti, si = head.index("Time"), head.index("SessionId")
    ts = [float(r[ti]) for r in body]
    step = int(max(ts) - min(ts)) + 3600      # whole seconds keep the fractions
with open(dst, "w", newline="") as out:
    w = csv.writer(out, delimiter=delim, lineterminator="\n")
    w.writerow(head)
    for k in range(mult):
        for r, t in zip(body, ts):
            r = list(r)
            if kind == "rees46":
                r[ti] = (t + k * step).strftime(fmt)
                if shift_ids:
                    r[ui] = str(int(r[ui]) + k * 1000000000)
                    r[si] = "%d-%s" % (k, r[si]) if k else r[si]
            else:
                whole, _, frac = r[ti].partition(".")
                r[ti] = str(int(whole) + k * step) + ("." + frac if frac else "")
                if shift_ids:
                    r[si] = str(int(r[si]) + k * 100000000)
            w.writerow(r)
PY
}

gen rees46 "$REES46" "$OUT/rees46-${MULT}x.csv" "$MULT" 1
gen rees46 "$REES46" "$OUT/rees46-${MULT}x-same-ids.csv" "$MULT" 0
gen yoochoose "$YOOCHOOSE" "$OUT/yoochoose-${MULT}x.tsv" "$MULT" 1
head -1 "$REES46" > "$OUT/rees46-empty.csv"      # baseline: header only

# measure LABEL CONFIG INPUT [-X ...] -> one table row
measure() {
    local label=$1 conf=$2 input=$3; shift 3
    local sum=$OUT/mem-$label.json
    python3 - "$JOURNEYD" "$conf" "$input" "$sum" "$label" "$@" <<'PY'
import json, os, resource, subprocess, sys
jd, conf, inp, sump, label = sys.argv[1:6]
extra = sys.argv[6:]
cmd = [jd, "replay", "-c", conf, *extra, "-i", inp, "-o", "/dev/null",
       "--dead-letter", "/dev/null", "--summary-json", sump, "--no-progress"]
r = subprocess.run(cmd, stderr=subprocess.PIPE)
if r.returncode != 0:
    sys.stderr.write(r.stderr.decode()); sys.exit(1)
rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss   # KiB on Linux
s = json.load(open(sump))
e = s["engine"]
print("| %-30s | %8.1f MB | %9d | %9d | %9d | %8d | %9.1f MB |" % (
    label, os.path.getsize(inp) / 1e6, s["events_read"], e["customers_total"],
    e["customers_peak"], e["alerts"], rss_kb / 1024.0))
PY
}

echo "journeyd replay peak RSS, 1x vs ${MULT}x ($(basename "$JOURNEYD"), $(date -u +%Y-%m-%d))"
echo
echo "| run                            |   input    |    events | customers |  peak act |   alerts |   peak RSS   |"
echo "|--------------------------------|-----------:|----------:|----------:|----------:|---------:|-------------:|"
R=config/examples/rees46.json Y=config/examples/yoochoose.json
measure "rees46 header only (baseline)"   $R "$OUT/rees46-empty.csv"
measure "rees46 1x"                       $R "$REES46"
measure "rees46 ${MULT}x"                 $R "$OUT/rees46-${MULT}x.csv"
measure "rees46 1x retention=1h"          $R "$REES46" -X journey.retention=1h
measure "rees46 ${MULT}x retention=1h"    $R "$OUT/rees46-${MULT}x.csv" -X journey.retention=1h
measure "rees46 ${MULT}x same ids"        $R "$OUT/rees46-${MULT}x-same-ids.csv"
measure "yoochoose 1x"                    $Y "$YOOCHOOSE"
measure "yoochoose ${MULT}x"              $Y "$OUT/yoochoose-${MULT}x.tsv"
measure "yoochoose ${MULT}x retention=1h" $Y "$OUT/yoochoose-${MULT}x.tsv" -X journey.retention=1h
echo
echo "customers = distinct identities seen; peak act = most journeys held at once"
echo "(journey.retention expires idle ones). Inputs in $OUT/."
