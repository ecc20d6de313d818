#!/usr/bin/env bash
# input.keyed_by=any on a real broker (issue 12): input keyed as a web
# tracker keys it (anonymous events by anonymous_id, logged-in events by
# customer_id, `journeyd produce --key-by raw`), read by `journeyd run -X
# input.keyed_by=any` with 1, 2 and 3 instances, a rebalance mid-stream, a
# link arriving on another instance than the open funnel, and kill -9
# series (at least once, exactly_once). Each scenario compares the alert
# topic with `journeyd replay` of the same events by alert_id (lost /
# duplicated / new / late) and counts apart the alerts that need a link.
# Baselines: keyed_by=customer on customer-keyed input must pass (6p) and on
# tracker-keyed input must lose link alerts (6n, XFAIL). The load comes from
# tests/e2e/faults/anygen.py; the driver is tests/e2e/faults/harness.py
# (python3-confluent-kafka); see tests/e2e/faults/README.md.
#
#   JOURNEYD=build/journeyd bash tests/e2e/kafka_anykeyed.sh [--scale check|soak] [--only 6,6r,6p,6n,7,8,8x]
#
# Environment: KAFKA_BOOTSTRAP (127.0.0.1:9092), FAULTS_SEED (random, printed),
# FAULTS_KEEP=1 (keep topics, logs and loads), JD_RUN_ARGS (more run options),
# ANYKEYED_KEYED_BY=customer ANYKEYED_KEY_BY=resolved (check the harness on a
# binary without keyed_by=any: everything but 6n must then pass).
set -euo pipefail
: "${JOURNEYD:?set JOURNEYD to the journeyd binary}"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# Debian's python3-confluent-kafka lives in the system interpreter, which a
# python3 earlier on PATH (pyenv, venv) may not see.
PY=""
for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null && "$p" -c 'import confluent_kafka' 2>/dev/null; then
        PY=$p
        break
    fi
done
[[ -n $PY ]] || { echo "FAIL: python3 with confluent_kafka not found (apt-get install python3-confluent-kafka)" >&2; exit 1; }
command -v cc >/dev/null || { echo "FAIL: cc not found (the harness builds bench/gen.c)" >&2; exit 1; }

# The harness kills every process it started on any exit (atexit, SIGTERM,
# SIGINT); exec keeps its pid the one a caller signals.
exec "$PY" "$ROOT/tests/e2e/faults/harness.py" --suite anykeyed "$@"
