#!/usr/bin/env bash
# test_epmd_interop.sh - rollcall's EPMD code against OTP's own epmd and erl.
#
# Runs the unit binary test_epmd with ROLLCALL_REAL_EPMD and ROLLCALL_REAL_ERL
# set, which turns on its two opt-in tests:
#   test_real_epmd  OTP's `epmd -port P` as a child on a free port: the keeper
#                   registers in system and auto mode and gets its creation,
#                   the client looks names up, `epmd -names` lists them, a
#                   duplicate name is refused; then epmd is killed: system mode
#                   notices, auto mode takes the port over within one check
#                   interval, and `epmd -names` reads the embedded server.
#   test_real_erl   `erl -name beam1@127.0.0.1 -start_epmd false` registers
#                   with the embedded server (ALIVE2), erl_epmd:names/1 sees
#                   both nodes, the client finds its port, and its death
#                   unregisters it.
# No rollcall binary and no fixed port (4369 is never touched). Unlike the unit
# run, where both skip, here they must run: a missing epmd/erl is installed
# (Debian's erlang-base, apt) or the test fails loudly.
#
# Usage: tests/integration/test_epmd_interop.sh BUILD_DIR/test_epmd
set -uo pipefail

bin=${1:-}
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    echo "usage: $0 path/to/test_epmd (built by cmake)" >&2
    exit 2
fi

if ! command -v epmd >/dev/null || ! command -v erl >/dev/null; then
    echo "test_epmd_interop: installing erlang-base (apt)"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
    export DEBIAN_FRONTEND=noninteractive
    if ! { $sudo apt-get update && $sudo apt-get install -y --no-install-recommends erlang-base; } \
        >/tmp/test_epmd_interop.apt.log 2>&1; then
        tail -20 /tmp/test_epmd_interop.apt.log >&2
        echo "test_epmd_interop: FAILED: epmd/erl missing and erlang-base could not be installed" >&2
        exit 1
    fi
fi
epmd=$(command -v epmd) || { echo "test_epmd_interop: FAILED: no epmd" >&2; exit 1; }
erl=$(command -v erl) || { echo "test_epmd_interop: FAILED: no erl" >&2; exit 1; }

# Nothing from the caller's Erlang setup may leak into the children.
unset ERL_EPMD_PORT ERL_AFLAGS ERL_FLAGS ERL_ZFLAGS ERL_EPMD_ADDRESS
out=$(ROLLCALL_REAL_EPMD="$epmd" ROLLCALL_REAL_ERL="$erl" "$bin" 2>&1)
rc=$?
printf '%s\n' "$out"
if [ "$rc" -ne 0 ]; then
    echo "test_epmd_interop: FAILED (test_epmd exit $rc)" >&2
    exit 1
fi
for t in test_real_epmd test_real_erl; do
    if ! grep -qF "[       OK ] $t" <<<"$out"; then
        echo "test_epmd_interop: FAILED: $t did not run" >&2
        exit 1
    fi
done
echo "test_epmd_interop: passed ($epmd, $erl)"
