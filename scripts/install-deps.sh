#!/usr/bin/env bash
# Installs everything journeyd needs to build, test and run its Kafka
# end-to-end tests, from Debian packages. Idempotent; run as root or with sudo.
set -euo pipefail
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
    build-essential pkg-config \
    librdkafka-dev libjansson-dev libcmocka-dev zlib1g-dev \
    kcat clang valgrind python3 \
    maven openjdk-17-jdk-headless >/dev/null
