#!/usr/bin/env bash
# Operations of `journeyd run` on the real broker, watched by a real
# Prometheus (Debian package prometheus), contract section 8:
#   - /readyz answers 503 with a reason before the tasks are restored, 200
#     after; /healthz 200 while the loop runs;
#   - Prometheus scrapes /metrics: journeyd_alerts_total equals the alerts
#     read back from the alert topic, and journeyd_consumer_lag falls to 0
#     once the input is consumed;
#   - log.format=json: every stderr line is a JSON object with ts and level.
set -euo pipefail
: "${JOURNEYD:?set JOURNEYD to the journeyd binary}"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BROKER=${KAFKA_BOOTSTRAP:-127.0.0.1:9092}
RUNID="ops-$(date +%s)-$$"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/jd-kafka-ops.XXXXXX")
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
RUN="" PROM=""
cleanup() {
    [ -n "$RUN" ] && kill -KILL "$RUN" 2>/dev/null
    [ -n "$PROM" ] && kill "$PROM" 2>/dev/null && wait "$PROM" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }; done; exit 1; }
wait_until() { local deadline=$((SECONDS + $1)); shift; until "$@"; do (( SECONDS < deadline )) || return 1; sleep 0.2; done; }
command -v prometheus >/dev/null || fail "prometheus not installed (Debian package prometheus)"
freeport() { $PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# get URL: the status line, then the body; status URL: the status alone
get() { $PY -c 'import sys, urllib.request as u
try: r = u.urlopen(sys.argv[1], timeout=5); print(r.status); print(r.read().decode())
except u.HTTPError as e: print(e.code); print(e.read().decode())
except OSError: print(0)' "$1"; }
status() { local r; r=$(get "$1"); echo "${r%%$'\n'*}"; }

JPORT=$(freeport)
T=$RUNID
# the input topic does not exist yet: nothing can be assigned, so /readyz
# must say 503 until it exists and its tasks are restored
$JOURNEYD run -b "$BROKER" -t "$T.in" -X output.alerts_topic="$T.alerts" \
    -X output.dead_letter_topic="$T.dlq" -X kafka.group.id="$T" \
    -X http.listen="127.0.0.1:$JPORT" -X log.format=json -X time.idle_advance=1s \
    -X kafka.topic.metadata.refresh.interval.ms=1000 \
    > "$WORK/run.out" 2> "$WORK/run.log" &
RUN=$!
answers() { [ "$(status "http://127.0.0.1:$JPORT/healthz")" = 200 ]; }
wait_until 20 answers || fail "/healthz never answered 200"
first=$(get "http://127.0.0.1:$JPORT/readyz")
[ "${first%%$'\n'*}" = 503 ] || fail "/readyz before assignment: $first"
echo "$first" | grep -q 'waiting for a partition assignment\|restoring' || fail "/readyz 503 without a reason: $first"
echo 'create the topic' | kcat -b "$BROKER" -P -t "$T.in" -k warmup || fail "kcat -P"
ready() { [ "$(status "http://127.0.0.1:$JPORT/readyz")" = 200 ]; }
wait_until 60 ready || fail "/readyz never 200"
echo "ok   /readyz 503 (${first#*$'\n'}) before the tasks are restored, 200 after; /healthz 200"

"$JOURNEYD" produce -b "$BROKER" -i "$ROOT/tests/data/demo.ndjson" -t "$T.in" 2> "$WORK/produce.log" \
    || fail "produce"
NEXPECT=$("$JOURNEYD" replay -i "$ROOT/tests/data/demo.ndjson" 2>/dev/null | wc -l)
have_alerts() { [ "$(kcat -b "$BROKER" -C -t "$T.alerts" -e -q 2>/dev/null | wc -l)" -ge "$NEXPECT" ]; }
wait_until 90 have_alerts || fail "only $(kcat -b "$BROKER" -C -t "$T.alerts" -e -q 2>/dev/null | wc -l) of $NEXPECT alerts"
GOT=$(kcat -b "$BROKER" -C -t "$T.alerts" -e -q 2>/dev/null | wc -l)

PPORT=$(freeport)
cat > "$WORK/prometheus.yml" <<YML
global: { scrape_interval: 1s }
scrape_configs:
  - job_name: journeyd
    static_configs: [ { targets: ["127.0.0.1:$JPORT"] } ]
YML
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
    --web.listen-address="127.0.0.1:$PPORT" > "$WORK/prometheus.log" 2>&1 &
PROM=$!
$PY - "http://127.0.0.1:$PPORT" "$GOT" <<'PY' || fail "Prometheus' view differs"
import json, sys, time, urllib.parse, urllib.request
base, want = sys.argv[1], int(sys.argv[2])
def q(expr):
    url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    r = json.load(urllib.request.urlopen(url, timeout=5))["data"]["result"]
    return float(r[0]["value"][1]) if r else None
deadline, last = time.monotonic() + 60, None
while time.monotonic() < deadline:
    try:
        last = (q("sum(journeyd_alerts_total)"), q("sum(journeyd_consumer_lag)"),
                q("sum(journeyd_events_consumed_total)"), q("journeyd_tasks_assigned"))
    except OSError:
        last = None
    if last and last[0] == want and last[1] == 0 and last[3] and last[3] >= 1:
        print("ok   Prometheus: journeyd_alerts_total = %d = alerts on the topic, consumer lag 0, "
              "%d events consumed, %d tasks" % (want, last[2], last[3]))
        sys.exit(0)
    time.sleep(0.5)
print("last (alerts, lag, consumed, tasks):", last, "want alerts", want)
sys.exit(1)
PY

kill -TERM "$RUN"; rc=0; wait "$RUN" || rc=$?; RUN=""
[ "$rc" = 0 ] || fail "run exited $rc"
$PY - "$WORK/run.log" <<'PY' || fail "log lines are not JSON"
import json, sys
lines = [l for l in open(sys.argv[1]) if l.strip()]
assert lines, "no log line"
for l in lines:
    o = json.loads(l)
    assert o["level"] in ("error", "warn", "info", "debug") and o["ts"].endswith("Z"), o
assert any("starting run" in json.loads(l)["msg"] for l in lines), "no banner"
print("ok   %d log lines, each a JSON object with ts and level; banner first" % len(lines))
PY
