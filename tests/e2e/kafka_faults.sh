#!/usr/bin/env bash
# Fault tests of `journeyd run` (contract section 7) on a real broker: SIGTERM
# under backlog, kill -9 series (at least once, and exactly_once when the
# binary has it), 3 instances stopping / dying / joining, a broker crash,
# poison records. Each scenario compares the alert topic with `journeyd
# replay` of the same events by alert_id and prints lost / duplicated / new /
# late and PASS / FAIL / SKIP. The driver is tests/e2e/faults/harness.py
# (python3-confluent-kafka); see tests/e2e/faults/README.md.
#
#   JOURNEYD=build/journeyd bash tests/e2e/kafka_faults.sh [--scale check|soak] [--only 0,1,2,2x,3,4,5]
#
# Environment: KAFKA_BOOTSTRAP (127.0.0.1:9092), FAULTS_SEED (random, printed),
# FAULTS_BROKER_PORT (19092: scenario 4's private broker), FAULTS_KEEP=1
# (keep topics, logs and loads).
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
command -v cc >/dev/null || { echo "FAIL: cc not found (bench/gen.c makes the loads)" >&2; exit 1; }

# The harness kills every process it started on any exit (atexit, SIGTERM,
# SIGINT); exec keeps its pid the one a caller signals.
exec "$PY" "$ROOT/tests/e2e/faults/harness.py" "$@"
