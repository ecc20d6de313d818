#!/usr/bin/env bash
# Runs every tests/e2e/t_*.sh with $JOURNEYD pointing at the binary under
# test (possibly wrapped in valgrind). Each script exits non-zero on failure.
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${JOURNEYD:?set JOURNEYD to the journeyd binary}"
export JOURNEYD
export ROOT=$(cd "$here/../.." && pwd)
pass=0 fail=0 failed=()
for t in "$here"/t_*.sh; do
    name=$(basename "$t" .sh)
    if bash "$t" >"${TMPDIR:-/tmp}/jd-e2e-$name.log" 2>&1; then
        pass=$((pass + 1)); echo "ok   $name"
    else
        fail=$((fail + 1)); failed+=("$name"); echo "FAIL $name"
        sed 's/^/    /' "${TMPDIR:-/tmp}/jd-e2e-$name.log" | tail -40
    fi
done
echo "e2e: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
