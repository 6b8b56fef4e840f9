#!/usr/bin/env bash
# deps.sh: install every Debian package certbound needs to build, test and run locally.
# Idempotent; needs root (or sudo). Used by etc/quickstart.sh, tests/run-all.sh and CI.
set -euo pipefail

PKGS=(
    build-essential cmake pkg-config clang libclang-rt-14-dev openssl ca-certificates curl
    libhiredis-dev libevent-dev libmsgpack-dev libpq-dev libssl-dev libjansson-dev
    libcmocka-dev libcurl4-openssl-dev libhttp-parser-dev docker-compose
    redis-server redis-tools postgresql postgresql-client nginx-light
)

SUDO=
if [ "$(id -u)" != 0 ]; then
    SUDO=sudo
fi

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "deps.sh: installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
