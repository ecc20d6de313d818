#!/usr/bin/env bash
# examples/alert_consumer.py against the real broker: the demo sample's
# alerts (from `journeyd replay`) are produced twice, as a redelivery would,
# plus a record that is not an alert, an alert in an aborted transaction and
# one in a committed transaction. The consumer must count each alert_id once
# per rule, skip the aborted one (read_committed), set the bad record aside,
# and on a second run of the same group find nothing new.
# Topics and groups are named ops-consumer-*; the topic is deleted at the end.
set -euo pipefail
: "${JOURNEYD:?set JOURNEYD to the journeyd binary}"
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BROKER=${KAFKA_BOOTSTRAP:-127.0.0.1:9092}
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3   # Debian's, with python3-confluent-kafka
RUNID="ops-consumer-$(date +%s)-$$"
T="$RUNID.alerts"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/jd-kafka-consumer.XXXXXX")
admin() {
    $PY - "$BROKER" "$T" "$1" <<'PY'
import sys
from confluent_kafka.admin import AdminClient, NewTopic
a = AdminClient({"bootstrap.servers": sys.argv[1]})
f = a.create_topics([NewTopic(sys.argv[2], 2, 1)]) if sys.argv[3] == "create" else a.delete_topics([sys.argv[2]])
for fut in f.values():
    fut.result(30)
PY
}
cleanup() { admin delete 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }; done; exit 1; }

$JOURNEYD replay -i "$ROOT/tests/data/demo.ndjson" --flush-at-end -o "$WORK/alerts.ndjson" 2>/dev/null
[ -s "$WORK/alerts.ndjson" ] || fail "replay gave no alerts"
admin create || fail "cannot create $T"
# key = identity, as journeyd keys them; every alert twice
$PY -c '
import json, sys
for l in open(sys.argv[1]):
    a = json.loads(l)
    print((a.get("customer_id") or a.get("anonymous_id")) + "\t" + l.strip())' "$WORK/alerts.ndjson" > "$WORK/keyed"
cat "$WORK/keyed" "$WORK/keyed" | kcat -P -b "$BROKER" -t "$T" -K $'\t' || fail "kcat produce"
printf 'c-x\tnot an alert\n' | kcat -P -b "$BROKER" -t "$T" -K $'\t'
$PY - "$BROKER" "$T" <<'PY' || fail "transactional produce"
import json, sys
from confluent_kafka import Producer
p = Producer({"bootstrap.servers": sys.argv[1], "transactional.id": sys.argv[2] + "-tx"})
p.init_transactions(30)
def alert(aid, rule):
    return json.dumps({"alert_id": aid, "rule": rule, "kind": "burst", "severity": "low",
                       "customer_id": "c-tx", "identity": "customer"})
p.begin_transaction()
p.produce(sys.argv[2], key="c-tx", value=alert("00000000000000aa", "aborted_rule"))
p.flush(30)
p.abort_transaction(30)
p.begin_transaction()
p.produce(sys.argv[2], key="c-tx", value=alert("00000000000000cc", "committed_rule"))
p.commit_transaction(30)
PY

# expected: distinct alert_ids per (rule, severity), plus the committed one
$PY -c '
import json, sys, collections
seen, n = set(), collections.Counter()
for l in open(sys.argv[1]):
    a = json.loads(l)
    if a["alert_id"] not in seen:
        seen.add(a["alert_id"]); n[(a["rule"], a["severity"])] += 1
n[("committed_rule", "low")] += 1
for (r, s), c in sorted(n.items()): print(f"{r}\t{s}\t{c}")' "$WORK/alerts.ndjson" > "$WORK/expected"

consume() {
    timeout 90 $PY "$ROOT/examples/alert_consumer.py" -b "$BROKER" -t "$T" -g "$RUNID-$1" \
        --db "$WORK/alerts.db" --deadline 60 --idle-exit 2 > "$WORK/$2.out" 2> "$WORK/$2.log"
}
consume g1 first || fail "consumer failed"
diff -u "$WORK/expected" "$WORK/first.out" || fail "per-rule counts differ"
grep -q "aborted_rule" "$WORK/first.out" && fail "an aborted alert was counted"
rejected=$($PY -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from rejected").fetchone()[0])' "$WORK/alerts.db")
[ "$rejected" = 1 ] || fail "rejected records: $rejected, expected 1"
echo "ok   $(wc -l < "$WORK/alerts.ndjson") alerts produced twice: counts per rule match, aborted one skipped, bad record set aside"

consume g1 second || fail "consumer failed (second run)"
grep -q "^alert_consumer: 0 new alerts, 0 repeats" "$WORK/second.log" || fail "same group read again: $(cat "$WORK/second.log")"
diff -u "$WORK/expected" "$WORK/second.out" || fail "counts changed on the second run"
consume g2 third || fail "consumer failed (new group)"
grep -q "^alert_consumer: 0 new alerts" "$WORK/third.log" || fail "a new group counted repeats: $(cat "$WORK/third.log")"
diff -u "$WORK/expected" "$WORK/third.out" || fail "counts changed with a new group"
echo "ok   committed offsets resume; a re-read from the start adds nothing (alert_id de-duplication)"
