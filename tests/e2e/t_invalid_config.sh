#!/usr/bin/env bash
# Every tests/invalid/config/<case>/config.json must be rejected by
# `journeyd check-config` with exit status 2 and an error containing the
# text of <case>/expected (its position and key path, so a regression in
# error reporting fails here too).
# $JOURNEYD may carry a wrapper (valgrind ...), hence unquoted below.
set -u
: "${JOURNEYD:?set JOURNEYD to the journeyd binary}"
cases=$(cd "$(dirname "$0")/../invalid/config" && pwd)
failed=0
total=0
for dir in "$cases"/*/; do
    dir=${dir%/}
    name=${dir##*/}
    total=$((total + 1))
    expected=$(cat "$dir/expected")
    # shellcheck disable=SC2086
    stderr=$($JOURNEYD check-config -c "$dir/config.json" 2>&1 >/dev/null)
    status=$?
    if [ "$status" -ne 2 ]; then
        echo "FAIL invalid_config/$name: exit status $status, expected 2"
        printf '  stderr: %s\n' "$stderr"
        failed=$((failed + 1))
    elif ! grep -qF -- "$expected" <<<"$stderr"; then
        echo "FAIL invalid_config/$name: stderr lacks the expected text"
        printf '  want: %s\n  got:  %s\n' "$expected" "$stderr"
        failed=$((failed + 1))
    else
        echo "ok   invalid_config/$name"
    fi
done
echo "t_invalid_config: $((total - failed))/$total passed"
[ "$failed" -eq 0 ]
