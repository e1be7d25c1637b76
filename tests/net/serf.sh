#!/usr/bin/env bash
# Finds or builds the Serf agent the network harness runs as its anchor
# (HashiCorp's SWIM + Lifeguard membership agent). Built once from source
# with `go install` at a pinned version into ~/.cache/rollcall/bin (about a
# minute on two cores; later runs reuse it). Prints the binary's path.
#
#   tests/net/serf.sh
set -euo pipefail

SERF_VERSION=v0.10.2 # github.com/hashicorp/serf
GO=${GO:-/usr/local/go/bin/go}
BINDIR=${ROLLCALL_CACHE_BIN:-$HOME/.cache/rollcall/bin}
bin=$BINDIR/serf

die() { echo "serf.sh: $*" >&2; exit 1; }

[ -x "$bin" ] && { echo "$bin"; exit 0; }
command -v "$GO" >/dev/null || [ -x "$GO" ] || die "no Go toolchain at $GO to build Serf"
mkdir -p "$BINDIR"
exec 9>"$BINDIR/.serf.lock"
flock 9
if [ ! -x "$bin" ]; then
  echo "serf.sh: building Serf $SERF_VERSION (first run only)" >&2
  (cd "$BINDIR" && GOBIN=$BINDIR GOFLAGS=-buildvcs=false GOTOOLCHAIN=local \
     "$GO" install "github.com/hashicorp/serf/cmd/serf@$SERF_VERSION") >"$BINDIR/serf-build.log" 2>&1 ||
    die "building Serf failed: $(tail -20 "$BINDIR/serf-build.log")"
fi
flock -u 9
[ -x "$bin" ] || die "no Serf binary after the build"
echo "$bin"
