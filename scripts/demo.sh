#!/usr/bin/env bash
# Zero-install demo (`make demo`): journeyd's full Kafka path on librdkafka's
# embedded mock cluster with the shipped multi-channel sample. Alerts are
# printed as NDJSON on stdout as the broker acknowledges them; progress and
# the summary go to stderr.
#   bash scripts/demo.sh [path/to/journeyd] [extra journeyd demo options]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${1:-"$ROOT/build/journeyd"}
shift || true
cd "$ROOT"
exec "$BIN" demo -i tests/data/demo.ndjson "$@"
