#!/usr/bin/env bash
# Every tests/invalid/events/<case>/ holds input.ndjson (one good event, then
# one bad one on line 2) or input.csv (a header, one good record, then the
# bad one on line 3; LF, CRLF or CR line ends). `journeyd replay` must exit 0
# and write exactly one dead letter whose "error" is <case>/expected,
# pointing at that line, with the original record as payload (invalid UTF-8
# replaced by U+FFFD), so bad input is never dropped silently and never
# stops the replay. An expected of "none" means the case is valid input
# that must not be dead-lettered at all: both records are events.
# Then the inputs that are errors rather than dead letters: a cut gzip and a
# CSV header that swallows the file.
# $JOURNEYD may carry a wrapper (valgrind ...), hence unquoted below.
set -u
: "${JOURNEYD:?set JOURNEYD to the journeyd binary}"
cases=$(cd "$(dirname "$0")/../invalid/events" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0
total=0
for dir in "$cases"/*/; do
    dir=${dir%/}
    name=${dir##*/}
    total=$((total + 1))
    expected=$(cat "$dir/expected")
    if [ -f "$dir/input.csv" ]; then
        input=$dir/input.csv fmt=csv line=3
    else
        input=$dir/input.ndjson fmt=ndjson line=2
    fi
    rm -f "$tmp/dl.ndjson"
    # shellcheck disable=SC2086
    stderr=$($JOURNEYD replay -i "$input" --format $fmt --dead-letter "$tmp/dl.ndjson" \
        -o /dev/null 2>&1)
    status=$?
    if [ "$status" -ne 0 ]; then
        echo "FAIL invalid_events/$name: exit status $status, expected 0"
        printf '  stderr: %s\n' "$stderr"
        failed=$((failed + 1))
        continue
    fi
    if ! why=$(python3 - "$tmp/dl.ndjson" "$input" "$expected" "$line" "$stderr" 2>&1 <<'EOF2'
import json, re, sys
dl_path, input_path, expected, line, stderr = sys.argv[1:6]
line = int(line)
try:
    raw = open(dl_path, 'rb').read()
except OSError as e:
    sys.exit(f"no dead-letter file: {e}")
lines = raw.split(b'\n')
if lines and lines[-1] == b'':
    lines.pop()
if expected == "none":
    m = re.search(r"replay: (\d+) events", stderr)
    if lines or not m or m.group(1) != "2":
        sys.exit(f"{len(lines)} dead letters, expected none and 2 events: {stderr!r}")
    sys.exit(0)
if len(lines) != 1:
    sys.exit(f"{len(lines)} dead letters, expected exactly 1")
try:
    dl = json.loads(lines[0].decode('utf-8'))  # strict: must be valid UTF-8
except (UnicodeDecodeError, ValueError) as e:
    sys.exit(f"dead letter is not valid JSON: {e}")
if dl.get("error") != expected:
    sys.exit(f"error {dl.get('error')!r}, expected {expected!r}")
src = dl.get("source") or {}
if src.get("line") != line or not str(src.get("file", "")).endswith(input_path.rsplit("/", 1)[1]):
    sys.exit(f"source {src!r}, expected line {line} of {input_path}")
data = open(input_path, 'rb').read()
# NDJSON lines end at LF only; CSV records at LF, CRLF or CR.
bad = (data.split(b'\n') if input_path.endswith(".ndjson") else data.splitlines())[line - 1]
if dl.get("payload") != bad.decode('utf-8', errors='replace'):
    sys.exit(f"payload {dl.get('payload')!r} is not the original line")
if not isinstance(dl.get("detail"), str) or not dl["detail"]:
    sys.exit("no detail")
EOF2
    ); then
        echo "FAIL invalid_events/$name: $why"
        sed 's/^/  dl: /' "$tmp/dl.ndjson" 2>/dev/null | head -3
        failed=$((failed + 1))
    else
        echo "ok   invalid_events/$name"
    fi
done

# A gzip cut short ends the input like EOF: the events before the cut are
# evaluated (here: a rage click, 3 clicks), the summary is written, and the
# exit status is 1 with the reason on stderr.
total=$((total + 1))
python3 - "$tmp/cut.ndjson.gz" <<'EOF2'
import gzip, sys
lines = []
for i in range(3):
    lines.append('{"ts":"2026-11-22T10:00:0%d.000Z","customer_id":"c1","type":"click",'
                 '"page":"/p","element":"#b"}' % i)
for i in range(3000):  # enough to be cut well after the clicks
    lines.append('{"ts":"2026-11-22T10:01:00.000Z","customer_id":"x%d","type":"page_view",'
                 '"page":"/q%d"}' % (i, i * 7919 % 1000))
data = gzip.compress(("\n".join(lines) + "\n").encode())
open(sys.argv[1], "wb").write(data[: len(data) * 2 // 3])
EOF2
stderr=$($JOURNEYD replay -i "$tmp/cut.ndjson.gz" -o "$tmp/cut.alerts" \
    --summary-json "$tmp/cut.sum" 2>&1)
status=$?
if [ "$status" -ne 1 ]; then
    echo "FAIL cut gzip: exit status $status, expected 1"; failed=$((failed + 1))
elif ! grep -q 'cut.ndjson.gz: truncated gzip stream: input ends at line' <<<"$stderr"; then
    echo "FAIL cut gzip: stderr lacks the reason: $stderr"; failed=$((failed + 1))
elif ! grep -q '"rule":"rage_click"' "$tmp/cut.alerts"; then
    echo "FAIL cut gzip: the events before the cut were not evaluated"; failed=$((failed + 1))
elif ! python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); sys.exit(not (100 < s["events_read"] < 3003 and s["dead_letters"] == 0))' "$tmp/cut.sum"; then
    echo "FAIL cut gzip: summary $(cat "$tmp/cut.sum" 2>/dev/null | head -c 300)"; failed=$((failed + 1))
else
    echo "ok   cut gzip"
fi

# A CSV header row longer than any real one (here: no line end the reader
# knows, so the header would be the whole file) is an error, not 0 events.
total=$((total + 1))
python3 -c 'import sys; sys.stdout.write("ts,customer_id,type" + "".join(",c%d" % i for i in range(20000)) + "\n")' \
    > "$tmp/wide.csv"
stderr=$($JOURNEYD replay -i "$tmp/wide.csv" --format csv -o /dev/null 2>&1)
status=$?
if [ "$status" -eq 0 ] || ! grep -q 'wide.csv:1: the CSV header row is longer than 65536 bytes' <<<"$stderr"; then
    echo "FAIL wide CSV header: exit $status, stderr $stderr"; failed=$((failed + 1))
else
    echo "ok   wide CSV header"
fi
echo "t_invalid_events: $((total - failed))/$total passed"
[ "$failed" -eq 0 ]
