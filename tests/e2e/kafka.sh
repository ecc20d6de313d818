#!/usr/bin/env bash
# End-to-end tests of `journeyd run` / `journeyd produce` on a real Apache
# Kafka broker at 127.0.0.1:9092 (started by `make kafka-up`), driven by kcat.
#
#   1. produce keys events by resolved identity; run turns them into alerts
#      identical (apart from emitted_at) to `journeyd replay` of the same
#      input; bad records land in the dead-letter topic with their source
#      topic/partition/offset; SIGTERM exits 0 with every offset committed
#      (a restart of the group resumes at the end offsets, emits nothing).
#   2. kill -9 of journeyd mid-stream, then a restart: no alert is lost
#      (repeats with the same alert_id are allowed: at-least-once).
#
# Every run uses fresh topic and group names. Waits poll with deadlines.
set -euo pipefail

: "${JOURNEYD:?set JOURNEYD to the journeyd binary}"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BROKER=${KAFKA_BOOTSTRAP:-127.0.0.1:9092}
RUNID="e2e-$(date +%s)-$$"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/jd-kafka-e2e.XXXXXX")
PIDS=()

cleanup() {
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; for f in "$WORK"/*.log; do [[ -f $f ]] && { echo "--- $f" >&2; tail -n 30 "$f" >&2; }; done; exit 1; }
ok() { echo "ok   $*"; }

command -v kcat >/dev/null || fail "kcat not installed"
command -v python3 >/dev/null || fail "python3 not installed"

# wait_until DEADLINE_S CMD...: poll CMD every 0.2s until it succeeds.
wait_until() {
    local deadline=$((SECONDS + $1)); shift
    until "$@"; do
        (( SECONDS < deadline )) || return 1
        sleep 0.2
    done
}

broker_up() { kcat -b "$BROKER" -L -m 3 >/dev/null 2>&1; }
wait_until 20 broker_up || fail "no Kafka broker answers at $BROKER (run: make kafka-up)"

# Messages currently in a topic (0 when it does not exist yet).
consume() { kcat -b "$BROKER" -C -t "$1" -e -q -m 10 ${2:+-f "$2"} 2>/dev/null || true; }
count() { consume "$1" | wc -l; }

# Alerts without emitted_at, one canonical JSON per line, sorted, unique.
canon() {
    python3 -c '
import json, sys
seen = set()
for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    a = json.loads(line)
    a.pop("emitted_at", None)
    seen.add(json.dumps(a, sort_keys=True))
print("\n".join(sorted(seen)))'
}

# ---- the dataset: the shipped sample, two bad records, and a tail ------
# The tail gives every partition a late event so each partition's
# watermark passes the sample's drop-off deadline (section 4: the run
# watermark is the minimum over partitions).
INPUT="$WORK/input.ndjson"
{
    cat "$ROOT/tests/data/demo.ndjson"
    echo 'this is not json'
    echo '{"ts":"yesterday","customer_id":"c-900","type":"click"}'
    # tail-00's page_loop fires only once the watermark of every partition
    # has reached the last ts: its alert says "everything is evaluated"
    for ms in 000 100 200; do
        echo "{\"event_id\":\"tail-00-$ms\",\"ts\":\"2026-11-22T10:58:00.${ms}Z\",\"customer_id\":\"tail-00\",\"type\":\"page_view\",\"channel\":\"web\",\"page\":\"/bye\"}"
    done
    for i in $(seq -w 1 30); do
        echo "{\"event_id\":\"tail-$i\",\"ts\":\"2026-11-22T10:58:00.000Z\",\"customer_id\":\"tail-$i\",\"type\":\"page_view\",\"channel\":\"web\",\"page\":\"/bye\"}"
    done
} > "$INPUT"
NEVENTS=$(wc -l < "$INPUT")

"$JOURNEYD" replay -i "$INPUT" > "$WORK/replay.ndjson" 2> "$WORK/replay.log" \
    || fail "journeyd replay failed"
canon < "$WORK/replay.ndjson" > "$WORK/expected"
NEXPECT=$(wc -l < "$WORK/expected")
(( NEXPECT >= 5 )) || fail "replay gave only $NEXPECT alerts"

# run_args TAG: the config overrides for one scenario's topics and group.
# Scenario a commits only on shutdown (commit_interval 1h), so its restart
# check proves the SIGTERM path commits; b commits every 200ms so the kill -9
# lands between commits.
run_args() {
    local interval=200ms
    [[ $1 == a ]] && interval=1h
    # a killed member's partitions move after session.timeout.ms
    [[ $1 == b ]] && interval="200ms -X kafka.session.timeout.ms=6000"
    echo "-X kafka.bootstrap.servers=$BROKER -X input.topics=$RUNID-$1.in" \
         "-X output.alerts_topic=$RUNID-$1.alerts -X output.dead_letter_topic=$RUNID-$1.dlq" \
         "-X kafka.group.id=$RUNID-$1 -X time.idle_advance=1s -X processing.commit_interval=$interval" \
         "${JD_RUN_ARGS:-}"
}

start_run() { # TAG LOG
    : > "$WORK/$2.log"
    # shellcheck disable=SC2046
    "$JOURNEYD" run $(run_args "$1") > "$WORK/$2.out" 2> "$WORK/$2.log" &
    RUN_PID=$!
    PIDS+=("$RUN_PID")
}

have_alerts() { # TOPIC N: at least N distinct alerts
    [[ $(consume "$1" | canon | grep -c . || true) -ge $2 ]]
}

# ---- 1. produce -> run -> alerts == replay; dead letters; SIGTERM ------
T=$RUNID-a
"$JOURNEYD" produce -X kafka.bootstrap.servers="$BROKER" -i "$INPUT" --topic "$T.in" \
    2> "$WORK/produce-a.log" || fail "journeyd produce failed"
grep -q "$((NEVENTS - 2)) messages" "$WORK/produce-a.log" || fail "produce: unexpected count: $(cat "$WORK/produce-a.log")"
grep -q "dead letters not produced: invalid_json=1, bad_ts=1" "$WORK/produce-a.log" \
    || fail "produce: dead letters not reported: $(cat "$WORK/produce-a.log")"

# keys: the resolved identity; the anonymous events before the login are
# keyed by the customer too (produce reads the file twice), so a task sees
# the whole stitched journey (input.keyed_by=customer)
consume "$T.in" '%k %s\n' > "$WORK/keys"
[[ $(wc -l < "$WORK/keys") -eq $((NEVENTS - 2)) ]] || fail "input topic holds $(wc -l < "$WORK/keys") messages"
grep -q '^c-100 .*"anonymous_id":"anon-7f3","type":"add_to_cart"' "$WORK/keys" || fail "pre-login event not keyed by its customer"
! grep -q '^anon-7f3 ' "$WORK/keys" || fail "an event is keyed by the linked anonymous id"
grep -q '^c-100 .*"customer_id":"c-100","anonymous_id":"anon-7f3"' "$WORK/keys" || fail "linked event not keyed by customer"
grep -q '^dev-19c ' "$WORK/keys" || fail "anonymous-only identity not used as key"
ok "produce: $((NEVENTS - 2)) messages keyed by identity, 2 dead letters reported"

# produce does not send what it cannot decode; put two bad records in the
# topic by hand so run has something to dead-letter
printf '%s\n' 'this is not json' '{"ts":"yesterday","customer_id":"c-900","type":"click"}' \
    | kcat -b "$BROKER" -P -t "$T.in" -k c-900 || fail "kcat -P failed"

start_run a run-a
wait_until 60 have_alerts "$T.alerts" "$NEXPECT" \
    || fail "only $(consume "$T.alerts" | wc -l) of $NEXPECT alerts arrived"
consume "$T.alerts" | canon > "$WORK/got-a"
diff "$WORK/expected" "$WORK/got-a" > "$WORK/diff-a.log" || fail "alerts differ from replay"
# alert keys are the customer identity
consume "$T.alerts" '%k %s\n' | python3 -c '
import json, sys
for line in sys.stdin:
    k, v = line.split(" ", 1)
    a = json.loads(v)
    want = a.get("customer_id") or a.get("anonymous_id")
    assert k == want, (k, want)' || fail "alert keys are not the identity"
ok "run: $NEXPECT alerts, identical to replay, keyed by identity"

wait_until 30 bash -c "[[ \$(kcat -b $BROKER -C -t $T.dlq -e -q 2>/dev/null | wc -l) -ge 2 ]]" \
    || fail "dead letters missing"
consume "$T.dlq" | python3 -c '
import json, sys
errs = set()
for line in sys.stdin:
    d = json.loads(line)
    s = d["source"]
    assert s["topic"] == sys.argv[1] and s["partition"] >= 0 and s["offset"] >= 0, s
    assert "payload" in d
    errs.add(d["error"])
assert errs == {"invalid_json", "bad_ts"}, errs' "$T.in" || fail "bad dead letters"
ok "dead letters: invalid_json and bad_ts with topic/partition/offset"

# SIGTERM: exit 0, offsets committed
kill -TERM "$RUN_PID"
rc=0; wait "$RUN_PID" || rc=$?
[[ $rc -eq 0 ]] || fail "run exited $rc after SIGTERM"
grep -q "stopped:" "$WORK/run-a.log" || fail "no shutdown summary"
ok "SIGTERM: exit 0"

# a restart of the same group resumes at each partition's end offset
start_run a run-a2
assigned() { [[ $(grep -c "assigned $T.in" "$WORK/run-a2.log" || true) -ge 3 ]]; }
wait_until 60 assigned || fail "restart: partitions not assigned"
kill -TERM "$RUN_PID"; rc=0; wait "$RUN_PID" || rc=$?
[[ $rc -eq 0 ]] || fail "second run exited $rc"
for p in 0 1 2; do
    end=$(kcat -b "$BROKER" -Q -t "$T.in:$p:-1" 2>/dev/null | awk '{print $NF}')
    grep -q "assigned $T.in \[$p\], resuming at committed offset $end\$" "$WORK/run-a2.log" \
        || fail "partition $p: committed offset is not the end offset $end: $(grep "assigned $T.in \[$p\]" "$WORK/run-a2.log")"
done
[[ $(consume "$T.alerts" | wc -l) -eq $NEXPECT ]] || fail "restart after a clean stop repeated alerts"
grep -q "stopped: 0 messages" "$WORK/run-a2.log" || fail "restart read input again: $(grep stopped: "$WORK/run-a2.log")"
ok "offsets committed at the end of every partition; restart emits nothing again"

# ---- 2. kill -9 mid-stream, restart: no alert lost ---------------------
T=$RUNID-b
start_run b run-b
FIRST_PID=$RUN_PID
# Create the input topic before the group starts so it is assigned at
# once. The record is not an event (a dead letter): an event would set its
# partition's watermark and hold the others back until that partition saw
# newer events.
echo 'create the topic' | kcat -b "$BROKER" -P -t "$T.in" -k warmup
assigned_b() { grep -q "assigned $T.in" "$WORK/run-b.log"; }
wait_until 60 assigned_b || fail "kill test: no partition assigned"
"$JOURNEYD" produce -X kafka.bootstrap.servers="$BROKER" -i "$INPUT" --topic "$T.in" \
    --rate 10 2> "$WORK/produce-b.log" &
PROD_PID=$!
PIDS+=("$PROD_PID")
wait_until 60 have_alerts "$T.alerts" 1 || fail "no alert before the kill"
kill -0 "$PROD_PID" 2>/dev/null || fail "kill test: the input was not mid-stream any more"
kill -KILL "$FIRST_PID"; wait "$FIRST_PID" 2>/dev/null || true
BEFORE=$(consume "$T.alerts" | wc -l)
start_run b run-b2
wait "$PROD_PID" || fail "produce (paced) failed"
wait_until 90 have_alerts "$T.alerts" "$NEXPECT" \
    || fail "after kill -9 and restart only $(consume "$T.alerts" | canon | wc -l) of $NEXPECT distinct alerts"
consume "$T.alerts" | canon > "$WORK/got-b"
diff "$WORK/expected" "$WORK/got-b" > "$WORK/diff-b.log" || fail "alerts after kill -9 differ from replay"
kill -TERM "$RUN_PID"; rc=0; wait "$RUN_PID" || rc=$?
[[ $rc -eq 0 ]] || fail "restarted run exited $rc after SIGTERM"
TOTAL=$(consume "$T.alerts" | wc -l)
ok "kill -9 after $BEFORE alerts, restart: all $NEXPECT alerts present ($TOTAL messages, repeats allowed)"

echo "kafka e2e: all passed ($RUNID)"
