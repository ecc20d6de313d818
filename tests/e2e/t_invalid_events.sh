#!/usr/bin/env bash
# Every tests/invalid/events/<case>/input.ndjson holds one good event and then
# one bad one. `journeyd replay` must exit 0 and write exactly one dead letter
# whose "error" is <case>/expected, pointing at line 2 of the input, with the
# original line as payload (invalid UTF-8 replaced by U+FFFD), so bad input
# is never dropped silently and never stops the replay.
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
    rm -f "$tmp/dl.ndjson"
    # shellcheck disable=SC2086
    stderr=$($JOURNEYD replay -i "$dir/input.ndjson" --dead-letter "$tmp/dl.ndjson" \
        -o /dev/null 2>&1)
    status=$?
    if [ "$status" -ne 0 ]; then
        echo "FAIL invalid_events/$name: exit status $status, expected 0"
        printf '  stderr: %s\n' "$stderr"
        failed=$((failed + 1))
        continue
    fi
    if ! why=$(python3 - "$tmp/dl.ndjson" "$dir/input.ndjson" "$expected" <<'EOF'
import json, sys
dl_path, input_path, expected = sys.argv[1], sys.argv[2], sys.argv[3]
try:
    raw = open(dl_path, 'rb').read()
except OSError as e:
    sys.exit(f"no dead-letter file: {e}")
lines = raw.split(b'\n')
if lines and lines[-1] == b'':
    lines.pop()
if len(lines) != 1:
    sys.exit(f"{len(lines)} dead letters, expected exactly 1")
try:
    dl = json.loads(lines[0].decode('utf-8'))  # strict: must be valid UTF-8
except (UnicodeDecodeError, ValueError) as e:
    sys.exit(f"dead letter is not valid JSON: {e}")
if dl.get("error") != expected:
    sys.exit(f"error {dl.get('error')!r}, expected {expected!r}")
src = dl.get("source") or {}
if src.get("line") != 2 or not str(src.get("file", "")).endswith("input.ndjson"):
    sys.exit(f"source {src!r}, expected line 2 of input.ndjson")
bad = open(input_path, 'rb').read().split(b'\n')[1]
if dl.get("payload") != bad.decode('utf-8', errors='replace'):
    sys.exit(f"payload {dl.get('payload')!r} is not the original line")
if not isinstance(dl.get("detail"), str) or not dl["detail"]:
    sys.exit("no detail")
EOF
    ); then
        echo "FAIL invalid_events/$name: $why"
        sed 's/^/  dl: /' "$tmp/dl.ndjson" 2>/dev/null | head -3
        failed=$((failed + 1))
    else
        echo "ok   invalid_events/$name"
    fi
done
echo "t_invalid_events: $((total - failed))/$total passed"
[ "$failed" -eq 0 ]
