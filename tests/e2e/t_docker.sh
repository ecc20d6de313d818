#!/usr/bin/env bash
# docker/ checked offline (this machine has no Docker engine): compose file,
# Dockerfile health check, Prometheus and Grafana provisioning, and every
# metric the Grafana dashboard queries against what /metrics serves (the
# metric table rendered by build/tests/test_metrics). With promtool installed
# (Debian package prometheus) also: prometheus.yml, the exposition format and
# the syntax of every dashboard query.
set -eu
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${JD_BUILD:-$ROOT/build}
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3   # Debian's, with python3-yaml
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
[ -x "$BUILD/tests/test_metrics" ] || { echo "FAIL $BUILD/tests/test_metrics not built (make e2e builds it)"; exit 1; } 2>&1
JD_METRICS_DUMP=$WORK/metrics.prom "$BUILD/tests/test_metrics" >/dev/null 2>&1
$PY "$ROOT/tests/e2e/ops/check_docker.py" "$ROOT" "$WORK/metrics.prom" "$WORK/rules.yml"
if command -v promtool >/dev/null; then
    promtool check config "$ROOT/docker/prometheus.yml" >/dev/null
    promtool check metrics <"$WORK/metrics.prom"
    promtool check rules "$WORK/rules.yml" >/dev/null
    echo "promtool: config, metrics and dashboard queries valid"
else
    echo "promtool not installed: exposition lint and query syntax not checked"
fi
