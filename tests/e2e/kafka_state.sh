#!/usr/bin/env bash
# Per-customer state survives a crash (contract section 7): two clicks are
# evaluated and their offsets committed, journeyd is killed with -9, a third
# click arrives, and the restarted journeyd — which resumes after the first
# two, so it never sees them again — must still raise the rage_click. Only
# the changelog can carry the first two clicks across the crash.
set -euo pipefail
: "${JOURNEYD:?set JOURNEYD to the journeyd binary}"
BROKER=${KAFKA_BOOTSTRAP:-127.0.0.1:9092}
RUNID="state-$(date +%s)-$$"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/jd-kafka-state.XXXXXX")
PID=""
cleanup() { [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 25 "$f" >&2; }; done; exit 1; }
wait_until() { local deadline=$((SECONDS + $1)); shift; until "$@"; do (( SECONDS < deadline )) || return 1; sleep 0.2; done; }

EV="$RUNID.events" AL="$RUNID.alerts" GROUP="$RUNID"
click() { printf '{"event_id":"%s","ts":"2026-11-22T10:00:0%s.000Z","customer_id":"c-state","type":"click","channel":"web","page":"/pay","element":"#go"}\n' "$1" "$2"; }

start() {
    JOURNEYD_LOG=debug $JOURNEYD run -X input.topics="$EV" -X output.alerts_topic="$AL" \
        -X output.dead_letter_topic="$RUNID.dlq" -X kafka.group.id="$GROUP" \
        -X kafka.bootstrap.servers="$BROKER" -X time.lateness=0 -X time.idle_advance=1s \
        -X processing.commit_interval=200ms -X kafka.session.timeout.ms=6000 > "$WORK/run$1.out" 2> "$WORK/run$1.log" &
    PID=$!
}
alerts() { kcat -b "$BROKER" -C -t "$AL" -e -q 2>/dev/null | grep -c '"rage_click"' || true; }

{ click s1 0; click s2 1; } > "$WORK/first.ndjson"
$JOURNEYD produce -i "$WORK/first.ndjson" --topic "$EV" -X kafka.bootstrap.servers="$BROKER" 2>"$WORK/produce1.log" || fail "produce"
start 1
committed() { grep -qE "committed $EV \[[0-9]+\] at offset 2" "$WORK/run1.log"; }
wait_until 60 committed || fail "the two clicks were not committed within 60 s"
kill -KILL "$PID"; wait "$PID" 2>/dev/null || true; PID=""
[ "$(alerts)" = 0 ] || fail "an alert before the third click"
echo "ok   two clicks committed, journeyd killed with -9"

click s3 2 > "$WORK/second.ndjson"
$JOURNEYD produce -i "$WORK/second.ndjson" --topic "$EV" -X kafka.bootstrap.servers="$BROKER" 2>"$WORK/produce2.log" || fail "produce"
start 2
resumed() { grep -qE "assigned $EV \[[0-9]+\], resuming at committed offset 2" "$WORK/run2.log"; }
wait_until 60 resumed || fail "the restart did not resume at offset 2"
one_alert() { [ "$(alerts)" -ge 1 ]; }
wait_until 60 one_alert || fail "no rage_click after the restart: state was lost"
kcat -b "$BROKER" -C -t "$AL" -e -q | python3 -c '
import json, sys
a = [json.loads(l) for l in sys.stdin if l.strip()]
assert len(a) == 1, a
assert a[0]["evidence"]["event_ids"] == ["s1", "s2", "s3"], a[0]["evidence"]
' || fail "wrong alert"
kill -TERM "$PID"; rc=0; wait "$PID" || rc=$?; PID=""
[ "$rc" = 0 ] || fail "SIGTERM exit $rc"
echo "ok   restart resumed at offset 2 and still raised rage_click [s1,s2,s3]: state restored from the changelog"
