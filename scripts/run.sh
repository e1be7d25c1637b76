#!/usr/bin/env bash
# Builds rollcall (installing the build dependencies if missing) and runs it
# in the foreground with the given arguments: scripts/run.sh --name a@127.0.0.1
set -euo pipefail
cd "$(dirname "$0")/.."
PKGS=(build-essential cmake pkg-config libevent-dev libssl-dev libinih-dev libhiredis-dev
      libpq-dev libcurl4-openssl-dev libexpat1-dev)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DROLLCALL_TESTS=OFF >/dev/null
cmake --build build/release -j"$(nproc)" >/dev/null
exec build/release/rollcall "$@"
