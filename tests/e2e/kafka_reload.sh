#!/usr/bin/env bash
# SIGHUP reloads the rules of `journeyd run` (as Vector and Fluent Bit do):
#   - a new config that validates replaces the rules; an unchanged rule keeps
#     its state (two errors before the reload + one after = error_burst with
#     all three), a changed rule starts empty (two clicks before the reload
#     do not count for the new rage_click);
#   - an invalid file is logged and the current rules stay;
#   - SIGHUP never stops run (it used to exit 129 with no checkpoint).
set -euo pipefail
: "${JOURNEYD:?set JOURNEYD to the journeyd binary}"
BROKER=${KAFKA_BOOTSTRAP:-127.0.0.1:9092}
RUNID="reload-$(date +%s)-$$"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/jd-kafka-reload.XXXXXX")
PID=""
cleanup() { [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$WORK/run.log" ] && tail -n 30 "$WORK/run.log" >&2; exit 1; }
wait_until() { local deadline=$((SECONDS + $1)); shift; until "$@"; do (( SECONDS < deadline )) || return 1; sleep 0.2; done; }

EV="$RUNID.events" AL="$RUNID.alerts"
rules() { # $1 = rage_click count
    cat <<JSON
{"rules": [
  {"name": "error_burst", "kind": "burst", "match": {"type": "error"}, "count": 3, "within": "60s"},
  {"name": "rage_click", "kind": "burst", "match": {"type": "click"}, "same": ["page", "element"],
   "count": $1, "gap": "1s"}
]}
JSON
}
ev() { printf '{"event_id":"%s","ts":"2026-11-22T10:00:%s","customer_id":"c-r","type":"%s","channel":"web","page":"/pay","element":"#go"}\n' "$1" "$2" "$3"; }
send() { "$JOURNEYD" produce -b "$BROKER" -i "$1" -t "$EV" 2>>"$WORK/produce.log" || fail "produce"; }
alerts() { kcat -b "$BROKER" -C -t "$AL" -e -q 2>/dev/null | grep -c "\"$1\"" || true; }

rules 3 > "$WORK/config.json"
{ ev e1 00.000Z error; ev e2 01.000Z error; ev c1 02.000Z click; ev c2 02.300Z click; } > "$WORK/a.ndjson"
send "$WORK/a.ndjson"
JOURNEYD_LOG=debug "$JOURNEYD" run -c "$WORK/config.json" -b "$BROKER" -t "$EV" \
    -X output.alerts_topic="$AL" -X output.dead_letter_topic="$RUNID.dlq" -X kafka.group.id="$RUNID" \
    -X time.lateness=0 -X time.idle_advance=0 -X processing.commit_interval=200ms \
    -X http.listen=off > "$WORK/run.out" 2> "$WORK/run.log" &
PID=$!
committed() { grep -qE "committed $EV \[[0-9]+\] at offset 4" "$WORK/run.log" 2>/dev/null; }
wait_until 60 committed || fail "the first four events were not committed"

rules 2 > "$WORK/config.json"           # rage_click changed, error_burst unchanged
kill -HUP "$PID"
reloaded() { grep -q "SIGHUP: 2 rules loaded" "$WORK/run.log"; }
wait_until 30 reloaded || fail "no reload"
kill -0 "$PID" || fail "SIGHUP stopped run"
echo "ok   SIGHUP: new rules loaded, run still running"

echo '{"rules": [ {"name": "broken"' > "$WORK/config.json"
kill -HUP "$PID"
rejected() { grep -q "SIGHUP: the configuration does not validate, the current rules stay" "$WORK/run.log"; }
wait_until 30 rejected || fail "the invalid file was not reported"
kill -0 "$PID" || fail "a bad reload stopped run"
echo "ok   SIGHUP with an invalid file: logged, the current rules stay"

{ ev c3 02.600Z click; ev c4 02.900Z click; ev e3 03.000Z error; } > "$WORK/b.ndjson"
send "$WORK/b.ndjson"
both() { [ "$(alerts error_burst)" -ge 1 ] && [ "$(alerts rage_click)" -ge 1 ]; }
wait_until 60 both || fail "error_burst or rage_click missing after the reload: $(kcat -b "$BROKER" -C -t "$AL" -e -q 2>/dev/null)"
kcat -b "$BROKER" -C -t "$AL" -e -q | python3 -c '
import json, sys
a = [json.loads(l) for l in sys.stdin if l.strip()]
eb = [x for x in a if x["rule"] == "error_burst"]
assert len(eb) == 1 and eb[0]["evidence"]["event_ids"] == ["e1", "e2", "e3"], eb
rc = [x for x in a if x["rule"] == "rage_click"]
# count 2 from an empty state: [c3, c4]; kept state would have chained c1, c2
assert len(rc) == 1 and rc[0]["evidence"]["event_ids"] == ["c3", "c4"], rc
' || fail "wrong alerts after the reload"
kill -TERM "$PID"; rc=0; wait "$PID" || rc=$?; PID=""
[ "$rc" = 0 ] || fail "SIGTERM exit $rc"
echo "ok   unchanged error_burst kept [e1,e2] and fired on e3; the changed rage_click (count 2) started empty and fired on [c3,c4]; SIGTERM exit 0"
