#!/usr/bin/env bash
# A private MinIO (which verifies SigV4 the way AWS does) for the tests:
# 127.0.0.1 on a free port, data in DIR, known root credentials, one bucket
# "rollcall-test". The URL printed carries the credentials in its userinfo
# (the form s3://ACCESS_KEY:SECRET@bucket/prefix?...); DIR/env holds them as
# AWS_* variables for tests that use the environment instead.
#
#   start-minio.sh DIR            start; prints the registry URL on stdout
#   start-minio.sh --stop DIR     stop (the outage: DIR, data and port stay)
#   start-minio.sh --restart DIR  start again on the same port and data
#   start-minio.sh --cleanup DIR  stop if running and remove DIR
#   start-minio.sh --build        only build (or find) the MinIO binary
#
# MinIO is built from source once with `go install` at a pinned version into
# ~/.cache/rollcall/bin (several minutes on two cores; later runs reuse it).
# Exits non-zero with a reason on stderr if the server cannot be started.
set -euo pipefail

MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c # github.com/minio/minio, 2026-02-12
GO=${GO:-/usr/local/go/bin/go}
BINDIR=${ROLLCALL_CACHE_BIN:-$HOME/.cache/rollcall/bin}
AK=rollcalltest
SK='minio/secret+key' # needs %-escapes in a URL
SK_URL='minio%2Fsecret%2Bkey'
BUCKET=rollcall-test
REGION=us-east-1

die() { echo "start-minio.sh: $*" >&2; exit 1; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

build() {
  local bin=$BINDIR/minio
  [ -x "$bin" ] && { echo "$bin"; return 0; }
  command -v "$GO" >/dev/null || [ -x "$GO" ] || die "no Go toolchain at $GO to build MinIO"
  mkdir -p "$BINDIR"
  # one build at a time; the others wait for it
  exec 9>"$BINDIR/.minio.lock"
  flock 9
  if [ ! -x "$bin" ]; then
    echo "start-minio.sh: building MinIO $MINIO_VERSION (first run only, takes minutes)" >&2
    local t0=$SECONDS
    (cd "$BINDIR" && GOBIN=$BINDIR GOFLAGS=-buildvcs=false GOTOOLCHAIN=local \
       "$GO" install "github.com/minio/minio@$MINIO_VERSION") >"$BINDIR/minio-build.log" 2>&1 ||
      die "building MinIO failed: $(tail -20 "$BINDIR/minio-build.log")"
    echo "start-minio.sh: MinIO built in $((SECONDS - t0)) s" >&2
  fi
  flock -u 9
  [ -x "$bin" ] || die "no MinIO binary after the build"
  echo "$bin"
}

signed_curl() {
  curl -sS --aws-sigv4 "aws:amz:$REGION:s3" --user "$AK:$SK" \
    -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" "$@"
}

stop() {
  local dir=$1 pid
  [ -f "$dir/minio.pid" ] || return 0
  pid=$(cat "$dir/minio.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  rm -f "$dir/minio.pid"
}

run() {
  local dir=$1 port=$2 bin pid
  bin=$(build)
  mkdir -p "$dir/data"
  MINIO_ROOT_USER=$AK MINIO_ROOT_PASSWORD=$SK MINIO_BROWSER=off MINIO_UPDATE=off \
    MINIO_REGION=$REGION MINIO_CI_CD=1 HOME=$dir \
    setsid "$bin" server --quiet --address "127.0.0.1:$port" "$dir/data" \
    >>"$dir/minio.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$dir/minio.pid"
  echo "$port" >"$dir/port"
  for _ in $(seq 600); do
    kill -0 "$pid" 2>/dev/null || die "MinIO exited: $(tail -20 "$dir/minio.log")"
    # ready = a signed ListBuckets succeeds (health/live answers earlier,
    # while requests still get 503 XMinioServerNotInitialized)
    if [ "$(signed_curl -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/" 2>/dev/null)" = 200 ]; then
      return 0
    fi
    sleep 0.1
  done
  die "MinIO on port $port does not answer: $(tail -20 "$dir/minio.log")"
}

url() {
  echo "s3://$AK:$SK_URL@$BUCKET/registry/nodes?endpoint=http://127.0.0.1:$(cat "$1/port")&region=$REGION"
}

make_bucket() {
  local dir=$1 port code
  port=$(cat "$dir/port")
  code=$(signed_curl -o "$dir/mkbucket.out" -w '%{http_code}' -X PUT \
    "http://127.0.0.1:$port/$BUCKET") || die "creating the bucket failed (curl)"
  [ "$code" = 200 ] || die "creating the bucket: HTTP $code: $(cat "$dir/mkbucket.out")"
  printf 'export AWS_ACCESS_KEY_ID=%q\nexport AWS_SECRET_ACCESS_KEY=%q\nexport AWS_REGION=%q\n' \
    "$AK" "$SK" "$REGION" >"$dir/env"
}

case "${1:-}" in
  --build) build ;;
  --stop) stop "${2:?DIR}" ;;
  --restart) run "${2:?DIR}" "$(cat "$2/port")"; url "$2" ;;
  --cleanup) stop "${2:?DIR}"; rm -rf "$2" ;;
  -*|"") die "usage: start-minio.sh [--stop|--restart|--cleanup] DIR | --build" ;;
  *)
    command -v curl >/dev/null || die "curl is needed"
    mkdir -p "$1"
    run "$1" "$(free_port)"
    make_bucket "$1"
    url "$1"
    ;;
esac
