#!/usr/bin/env bash
# scripts/install-deps.sh calls apt-get directly as root, through sudo
# otherwise, and fails clearly without sudo. apt-get and sudo are stand-ins
# that record their arguments; nothing is installed.
set -eu
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
[ "$(id -u)" = 0 ] || { echo "skip: needs root to run the script as another user"; exit 0; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir "$WORK/bin" "$WORK/nosudo"
cat > "$WORK/bin/apt-get" <<'SH'
#!/bin/sh
echo "apt-get $*" >> "$LOG"
SH
cat > "$WORK/bin/sudo" <<'SH'
#!/bin/sh
echo "sudo $1 $2" >> "$LOG"
exec "$@"
SH
cp "$WORK/bin/apt-get" "$WORK/nosudo/"
chmod -R a+rx "$WORK"
chmod a+rwx "$WORK"
# a copy the unprivileged user can read wherever the checkout lives
mkdir "$WORK/scripts" && cp "$ROOT/scripts/install-deps.sh" "$ROOT/scripts/debian-packages.txt" "$WORK/scripts/"
chmod -R a+rX "$WORK/scripts"
npkgs=$(grep -cv -e '^#' -e '^[[:space:]]*$' "$ROOT/scripts/debian-packages.txt")

# root: no sudo even when sudo exists
LOG=$WORK/root.log PATH="$WORK/bin:/usr/bin:/bin" bash "$WORK/scripts/install-deps.sh"
grep -q sudo "$WORK/root.log" && { echo "FAIL root went through sudo"; cat "$WORK/root.log"; exit 1; }
grep -q "^apt-get update" "$WORK/root.log" || { echo "FAIL root: no apt-get update"; exit 1; }
line=$(grep "^apt-get install" "$WORK/root.log")
[ "$(wc -w <<<"$line")" -eq $((npkgs + 5)) ] || { echo "FAIL root: not every package: $line"; exit 1; }
grep -q " libmicrohttpd-dev" <<<"$line" || { echo "FAIL libmicrohttpd-dev missing"; exit 1; }
echo "ok   root: apt-get directly, $npkgs packages"

# another user: through sudo
touch "$WORK/user.log" && chmod a+rw "$WORK/user.log"
setpriv --reuid=65534 --regid=65534 --clear-groups \
    env LOG="$WORK/user.log" PATH="$WORK/bin:/usr/bin:/bin" bash "$WORK/scripts/install-deps.sh"
[ "$(grep -c '^sudo apt-get' "$WORK/user.log")" = 1 ] && [ "$(grep -c '^sudo env' "$WORK/user.log")" = 1 ] \
    || { echo "FAIL user: apt-get not through sudo"; cat "$WORK/user.log"; exit 1; }
echo "ok   user: apt-get through sudo"

# another user without sudo: a clear error
if [ -x /usr/bin/sudo ] || [ -x /bin/sudo ]; then
    echo "skip: sudo is installed, the no-sudo case cannot be staged"
else
    if out=$(setpriv --reuid=65534 --regid=65534 --clear-groups \
             env LOG="$WORK/user.log" PATH="$WORK/nosudo:/usr/bin:/bin" bash "$WORK/scripts/install-deps.sh" 2>&1); then
        echo "FAIL user without sudo: exit 0"; exit 1
    fi
    grep -q "not root and no sudo" <<<"$out" || { echo "FAIL no clear error: $out"; exit 1; }
    echo "ok   user without sudo: $out"
fi
