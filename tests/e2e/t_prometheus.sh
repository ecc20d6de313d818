#!/usr/bin/env bash
# A real Prometheus scrapes the /metrics endpoint and Grafana's queries work
# on what it stored: the wiring demo (build/tests/test_http with
# JD_HTTP_SERVE, the runner's calls without Kafka) serves on a free port,
# Prometheus (Debian package prometheus) scrapes it every second, and the
# queries of docker/grafana/journeyd.json return data. Skipped when
# prometheus is not installed.
set -eu
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${JD_BUILD:-$ROOT/build}
command -v prometheus >/dev/null || { echo "skip: prometheus not installed"; exit 0; }
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
WORK=$(mktemp -d)
DEMO="" PROM=""
cleanup() {
    [ -n "$DEMO" ] && kill "$DEMO" 2>/dev/null && wait "$DEMO" 2>/dev/null
    [ -n "$PROM" ] && kill "$PROM" 2>/dev/null && wait "$PROM" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$WORK"/*.log; do echo "--- $f"; tail -n 15 "$f"; done; exit 1; }
wait_until() { local deadline=$((SECONDS + $1)); shift; until "$@"; do (( SECONDS < deadline )) || return 1; sleep 0.2; done; }

[ -x "$BUILD/tests/test_http" ] || { echo "FAIL $BUILD/tests/test_http not built (make e2e builds it)"; exit 1; }
JD_HTTP_SERVE=127.0.0.1:0 "$BUILD/tests/test_http" > "$WORK/port" 2> "$WORK/demo.log" &
DEMO=$!
wait_until 10 test -s "$WORK/port" || fail "the demo did not start"
PORT=$(cat "$WORK/port")
get() { $PY -c 'import sys, urllib.request as u
try: r = u.urlopen(sys.argv[1], timeout=5); print(r.status); print(r.read().decode())
except u.HTTPError as e: print(e.code); print(e.read().decode())' "$1"; }
ready() { local r; r=$(get "http://127.0.0.1:$PORT/readyz"); [ "${r%%$'\n'*}" = 200 ]; }
wait_until 10 ready || fail "/readyz never 200: $(get "http://127.0.0.1:$PORT/readyz")"
[ "$(get "http://127.0.0.1:$PORT/healthz")" = $'200\nok' ] || fail "/healthz"

PPORT=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$WORK/prometheus.yml" <<YML
global: { scrape_interval: 1s }
scrape_configs:
  - job_name: journeyd
    static_configs: [ { targets: ["127.0.0.1:$PORT"] } ]
YML
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
    --web.listen-address="127.0.0.1:$PPORT" > "$WORK/prometheus.log" 2>&1 &
PROM=$!
# every dashboard query, with data once a few scrapes are in
$PY - "$ROOT/docker/grafana/journeyd.json" "http://127.0.0.1:$PPORT" <<'PY' || fail "queries"
import json, sys, time, urllib.parse, urllib.request
dash, base = json.load(open(sys.argv[1])), sys.argv[2]
def query(q):
    url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": q})
    return json.load(urllib.request.urlopen(url, timeout=5))["data"]["result"]
exprs = [t["expr"].replace("$__rate_interval", "10s") for p in dash["panels"] for t in p["targets"]]
deadline, empty = time.monotonic() + 40, exprs
while empty and time.monotonic() < deadline:
    try:
        empty = [e for e in exprs if not query(e)]
    except OSError:
        pass  # Prometheus still starting
    time.sleep(0.5)
if empty:
    sys.exit("no data for: " + "; ".join(empty))
up = query('up{job="journeyd"}')
assert up and up[0]["value"][1] == "1", up
funnel = query(exprs[[i for i, e in enumerate(exprs) if 'kind="funnel"' in e][0]])
assert {r["metric"]["rule"] for r in funnel} == {"checkout_dropoff"}, funnel
print(f"prometheus: {len(exprs)} dashboard queries return data; funnel panel shows only funnel rules")
PY
