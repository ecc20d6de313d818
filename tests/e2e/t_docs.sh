#!/usr/bin/env bash
# The README's configuration key reference is the one generated from the key
# table in src/config/keys.c (docs move with the code).
set -eu
readme="$ROOT/README.md"
got=$(sed -n '/<!-- keys:begin -->/,/<!-- keys:end -->/p' "$readme" | sed '1d;$d')
want=$($JOURNEYD check-config --keys)
if [ "$got" != "$want" ]; then
    echo "README key reference differs from 'journeyd check-config --keys':"
    diff <(echo "$want") <(echo "$got") | head -20
    exit 1
fi
# --help names every command
for c in run replay produce check-config demo; do
    $JOURNEYD --help | grep -q "journeyd $c" || { echo "--help lacks $c"; exit 1; }
done
echo "README key reference matches the config table; --help lists every command"
