#!/usr/bin/env bash
# A private redis-server for the tests: loopback only, a free port, no
# persistence, AUTH through an ACL user (the default user is off, so a
# client that does not authenticate fails loudly). A second user, evalonly
# (same password), may run scripts but not the SCRIPT command, as some
# managed Redis ACLs have it: the backend must then fall back to EVAL.
#
#   start-redis.sh DIR            start; prints the registry URL on stdout
#   start-redis.sh --stop DIR     stop (the outage: DIR and the port stay)
#   start-redis.sh --restart DIR  start again on the same port (empty data)
#   start-redis.sh --cleanup DIR  stop if running and remove DIR
#
# DIR is created if missing and holds the config, pid file and log. Exits
# non-zero with a reason on stderr if the server cannot be started.
set -euo pipefail

PASS='s3cr3t/p@ss' # a password that needs %-escapes in a URL
PASS_URL='s3cr3t%2Fp%40ss'

die() { echo "start-redis.sh: $*" >&2; exit 1; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

ensure_installed() {
  command -v redis-server >/dev/null && return 0
  [ "$(id -u)" = 0 ] || die "redis-server is not installed (apt-get install redis-server)"
  echo "start-redis.sh: installing redis-server" >&2
  apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    --no-install-recommends redis-server >&2 || die "apt-get install redis-server failed"
}

stop() {
  local dir=$1 pid
  [ -f "$dir/redis.pid" ] || return 0
  pid=$(cat "$dir/redis.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  rm -f "$dir/redis.pid"
}

start() {
  local dir=$1 port=$2 pid
  printf 'user default off\nuser rollcall on >%s ~* &* +@all\nuser evalonly on >%s ~* &* +@all -script\n' \
    "$PASS" "$PASS" >"$dir/users.acl"
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$dir" --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
    --aclfile "$dir/users.acl" --protected-mode yes >/dev/null ||
    die "redis-server did not start: $(tail -5 "$dir/redis.log" 2>/dev/null)"
  for _ in $(seq 200); do
    if REDISCLI_AUTH="$PASS" redis-cli -h 127.0.0.1 -p "$port" --user rollcall --no-auth-warning \
         ping 2>/dev/null | grep -q PONG; then
      echo "$port" >"$dir/port"
      echo "redis://rollcall:$PASS_URL@127.0.0.1:$port/0"
      return 0
    fi
    sleep 0.05
  done
  die "redis-server on port $port does not answer: $(tail -5 "$dir/redis.log" 2>/dev/null)"
}

case "${1:-}" in
  --stop) stop "${2:?DIR}" ;;
  --restart) start "${2:?DIR}" "$(cat "$2/port")" ;;
  --cleanup) stop "${2:?DIR}"; rm -rf "$2" ;;
  -*|"") die "usage: start-redis.sh [--stop|--restart|--cleanup] DIR" ;;
  *)
    ensure_installed
    mkdir -p "$1"
    start "$1" "$(free_port)"
    ;;
esac
