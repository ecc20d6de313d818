#!/usr/bin/env bash
# The rule kinds of the second edition (absence, pattern, score, with the
# filter operators) through `journeyd run` on the real broker, and through a
# kill -9 and restart: config/examples/frustration.json over
# tests/data/frustration.ndjson. The first half is consumed and committed,
# journeyd is killed with -9, the second half arrives, and the restarted
# journeyd must restore every kind's open windows, partial matches and
# scores from the changelog: the alert ids then equal `journeyd replay`'s
# on the same events (repeats of an id allowed: at least once).
set -euo pipefail
: "${JOURNEYD:?set JOURNEYD to the journeyd binary}"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BROKER=${KAFKA_BOOTSTRAP:-127.0.0.1:9092}
RUNID="kinds-$(date +%s)-$$"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/jd-kafka-kinds.XXXXXX")
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
PID=""
cleanup() { [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }; done; exit 1; }
wait_until() { local deadline=$((SECONDS + $1)); shift; until "$@"; do (( SECONDS < deadline )) || return 1; sleep 0.2; done; }

CONF="$ROOT/config/examples/frustration.json"
EV="$RUNID.events" AL="$RUNID.alerts"
# one partition, so one event a day later closes every window in run as in
# replay (the watermark is per partition)
$PY -c 'import sys; from confluent_kafka.admin import AdminClient, NewTopic
a = AdminClient({"bootstrap.servers": sys.argv[1]})
for t, f in a.create_topics([NewTopic(sys.argv[2], 1, 1)]).items(): f.result()' "$BROKER" "$EV" \
    || fail "cannot create $EV"
cp "$ROOT/tests/data/frustration.ndjson" "$WORK/all.ndjson"
echo '{"event_id":"tail","ts":"2026-11-23T12:00:00.000Z","customer_id":"c-tail","type":"page_view","channel":"web","page":"/"}' >> "$WORK/all.ndjson"
n=$(wc -l < "$WORK/all.ndjson")
head -n $((n / 2)) "$WORK/all.ndjson" > "$WORK/a.ndjson"
tail -n +$((n / 2 + 1)) "$WORK/all.ndjson" > "$WORK/b.ndjson"
"$JOURNEYD" replay -c "$CONF" -i "$WORK/all.ndjson" -o "$WORK/expected.ndjson" 2>/dev/null \
    || fail "replay"
NEXP=$(wc -l < "$WORK/expected.ndjson")
[ "$NEXP" -ge 8 ] || fail "replay gave only $NEXP alerts"

start() {
    JOURNEYD_LOG=debug "$JOURNEYD" run -c "$CONF" -b "$BROKER" -t "$EV" -X output.alerts_topic="$AL" \
        -X output.dead_letter_topic="$RUNID.dlq" -X kafka.group.id="$RUNID" \
        -X processing.commit_interval=200ms -X kafka.session.timeout.ms=6000 \
        -X http.listen=off > "$WORK/run$1.out" 2> "$WORK/run$1.log" &
    PID=$!
}
"$JOURNEYD" produce -b "$BROKER" -i "$WORK/a.ndjson" -t "$EV" 2>> "$WORK/produce.log" || fail "produce"
start 1
committed() { grep -qE "checkpoint of [1-9][0-9]* records committed" "$WORK/run1.log" 2>/dev/null; }
wait_until 60 committed || fail "no checkpoint with state before the kill"
kill -KILL "$PID"; wait "$PID" 2>/dev/null || true; PID=""
"$JOURNEYD" produce -b "$BROKER" -i "$WORK/b.ndjson" -t "$EV" 2>> "$WORK/produce.log" || fail "produce"
start 2
restored() { grep -q "restored [1-9][0-9]* changelog records" "$WORK/run2.log"; }
wait_until 60 restored || fail "the restart restored nothing"
ids() { kcat -b "$BROKER" -C -t "$AL" -e -q 2>/dev/null | $PY -c 'import json, sys
print("\n".join(sorted({json.loads(l)["alert_id"] for l in sys.stdin if l.strip()})))'; }
all_there() { [ "$(ids | grep -c .)" -ge "$NEXP" ]; }
wait_until 90 all_there || true
$PY -c 'import json, sys; print("\n".join(sorted(json.loads(l)["alert_id"] for l in open(sys.argv[1]))))' \
    "$WORK/expected.ndjson" > "$WORK/want"
ids > "$WORK/got"
diff "$WORK/want" "$WORK/got" > "$WORK/diff.log" || fail "alert ids differ from replay: $(cat "$WORK/diff.log")"
kill -TERM "$PID"; rc=0; wait "$PID" || rc=$?; PID=""
[ "$rc" = 0 ] || fail "SIGTERM exit $rc"
rules=$($PY -c 'import json, sys; print(" ".join(sorted({json.loads(l)["rule"] for l in open(sys.argv[1])})))' "$WORK/expected.ndjson")
echo "ok   frustration rules through run and a kill -9 + restore: $NEXP alert ids equal replay's ($rules)"
