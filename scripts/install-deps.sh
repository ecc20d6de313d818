#!/usr/bin/env bash
# Installs everything journeyd needs to build, test and run its Kafka
# end-to-end tests, from the Debian packages in scripts/debian-packages.txt
# (why each is needed: README, "Dependencies"). Idempotent.
# As root it calls apt-get directly (containers have no sudo); otherwise
# through sudo, and says so if sudo is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
SUDO=()
if [ "$(id -u)" != 0 ]; then
    if ! command -v sudo >/dev/null; then
        echo "install-deps.sh: not root and no sudo: run it as root (su -c 'bash $0')" >&2
        exit 1
    fi
    SUDO=(sudo)
fi
mapfile -t pkgs < <(grep -v -e '^#' -e '^[[:space:]]*$' "$here/debian-packages.txt")
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
