#!/usr/bin/env bash
# The one test command (README "Quick start"; .ci/run calls exactly this).
#
# Installs what the tests need (Debian 12 packages; Go tools are installed
# by the tests that need them), builds rollcall with ASan+UBSan, and runs
# every CTest label: unit, integration, docker (skipped when no Docker
# engine answers), then a short libFuzzer smoke run of every fuzz target.
#
#   tests/run.sh                 everything
#   tests/run.sh -L unit         only some labels (extra args go to ctest)
#   FUZZ_SECONDS=30 tests/run.sh longer fuzz smoke (default 10 s per target)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

PKGS=(build-essential cmake pkg-config clang libclang-rt-14-dev clang-format
      libevent-dev libssl-dev libinih-dev libcmocka-dev libhiredis-dev libpq-dev
      libcurl4-openssl-dev libexpat1-dev erlang-base elixir redis-server postgresql
      valgrind debootstrap iproute2 procps python3 ca-certificates curl libnss-wrapper)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "== installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Erlang needs a writable HOME for its cookie; CI may start without one.
export HOME=${HOME:-/root}

BUILD=${BUILD:-$ROOT/build/asan}
echo "== configure + build ($BUILD, ASan+UBSan)"
cmake -S "$ROOT" -B "$BUILD" -DROLLCALL_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$BUILD" -j"$(nproc)"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

echo "== ctest"
status=0
(cd "$BUILD" && ctest --output-on-failure --timeout 900 "$@") || status=$?

if [ $# -eq 0 ] && [ "${FUZZ_SECONDS:-10}" != 0 ]; then
  echo "== fuzz smoke (${FUZZ_SECONDS:-10} s per target)"
  FUZZ_BUILD=$ROOT/build/fuzz
  cmake -S "$ROOT" -B "$FUZZ_BUILD" -DROLLCALL_FUZZ=ON -DROLLCALL_TESTS=OFF \
        -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug >/dev/null
  cmake --build "$FUZZ_BUILD" -j"$(nproc)" >/dev/null
  fuzz_pass=0 fuzz_fail=0
  for bin in "$FUZZ_BUILD"/fuzz_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin")
    work=$(mktemp -d)
    cp -r "$ROOT/tests/fuzz/corpus/$name/." "$work/" 2>/dev/null || true
    if "$bin" -max_total_time="${FUZZ_SECONDS:-10}" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
         -artifact_prefix="$work/" "$work" >"$work.log" 2>&1; then
      echo "fuzz $name: ok ($(grep -o 'stat::number_of_executed_units: [0-9]*' "$work.log" | awk '{print $2}') execs)"
      fuzz_pass=$((fuzz_pass + 1))
    else
      echo "fuzz $name: FAILED"; tail -40 "$work.log"
      fuzz_fail=$((fuzz_fail + 1))
      status=1
    fi
    rm -rf "$work" "$work.log"
  done
  echo "fuzz: $fuzz_pass passed, $fuzz_fail failed"
fi
exit $status
