#!/usr/bin/env bash
# Installs everything journeyd needs to build, test and run its Kafka
# end-to-end tests, from the Debian packages in scripts/debian-packages.txt
# (why each is needed: README, "Dependencies"). Idempotent; root or sudo.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2046
$SUDO apt-get install -y -qq --no-install-recommends $(grep -v '^#' "$here/debian-packages.txt") >/dev/null
