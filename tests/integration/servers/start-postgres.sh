#!/usr/bin/env bash
# A private PostgreSQL for the tests: initdb into DIR (as the postgres user
# when run as root), loopback only, a free port, its socket in DIR, and a
# role "rollcall" with a password owning database "rollcall" (TCP logins need
# the password: scram-sha-256).
#
#   start-postgres.sh DIR            start; prints the registry URL on stdout
#   start-postgres.sh --stop DIR     stop (the outage: DIR, data and port stay)
#   start-postgres.sh --restart DIR  start again on the same port and data
#   start-postgres.sh --cleanup DIR  stop if running and remove DIR
#
# Exits non-zero with a reason on stderr if the server cannot be started.
set -euo pipefail

PASS='pg pass/w@rd' # needs %-escapes in a URL
PASS_URL='pg%20pass%2Fw%40rd'

die() { echo "start-postgres.sh: $*" >&2; exit 1; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -n "$d" ] && [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  return 1
}

ensure_installed() {
  bindir >/dev/null && return 0
  [ "$(id -u)" = 0 ] || die "PostgreSQL is not installed (apt-get install postgresql)"
  echo "start-postgres.sh: installing postgresql" >&2
  apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    --no-install-recommends postgresql >&2 || die "apt-get install postgresql failed"
  bindir >/dev/null || die "no initdb under /usr/lib/postgresql/*/bin after installing"
}

# Runs a command as the server's owner: postgres when we are root. initdb,
# postgres and psql look their own user up; where the postgres user cannot
# read /etc/passwd (some hardened images make it 0700) nss_wrapper gives
# them a passwd file of their own.
as_owner() {
  if [ "$(id -u)" != 0 ]; then
    "$@"
  elif runuser -u postgres -- whoami >/dev/null 2>&1; then
    runuser -u postgres -- "$@"
  else
    runuser -u postgres -- env LD_PRELOAD="$(nss_wrapper_lib)" \
      NSS_WRAPPER_PASSWD="$NSSW_DIR/passwd" NSS_WRAPPER_GROUP=/etc/group "$@"
  fi
}

nss_wrapper_lib() {
  local lib
  lib=$(ls /usr/lib/*/libnss_wrapper.so 2>/dev/null | head -1)
  if [ -z "$lib" ]; then
    echo "start-postgres.sh: installing libnss-wrapper (postgres cannot read /etc/passwd)" >&2
    apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
      --no-install-recommends libnss-wrapper >&2 || die "apt-get install libnss-wrapper failed"
    lib=$(ls /usr/lib/*/libnss_wrapper.so 2>/dev/null | head -1)
  fi
  [ -n "$lib" ] || die "libnss_wrapper.so not found"
  if [ ! -f "$NSSW_DIR/passwd" ]; then
    getent passwd postgres >"$NSSW_DIR/passwd" || die "no postgres user"
    chmod 644 "$NSSW_DIR/passwd"
  fi
  echo "$lib"
}

pg_start() {
  local dir=$1 port=$2 bin
  bin=$(bindir)
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir/sock -c fsync=off" start >/dev/null ||
    die "pg_ctl start failed: $(tail -5 "$dir/server.log" 2>/dev/null)"
  echo "$port" >"$dir/port"
}

stop() {
  local dir=$1 bin
  [ -f "$dir/data/postmaster.pid" ] || return 0
  bin=$(bindir) || return 0
  as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
}

url() {
  echo "postgres://rollcall:$PASS_URL@127.0.0.1:$(cat "$1/port")/rollcall?sslmode=disable"
}

start_new() {
  local dir=$1 port bin
  bin=$(bindir)
  mkdir -p "$dir/sock"
  if [ "$(id -u)" = 0 ]; then
    chown -R postgres: "$dir"
    # the postgres user must be able to reach DIR (mktemp -d makes 0700 dirs)
    local p=$dir perm
    while [ "$p" != "/" ]; do
      p=$(dirname "$p")
      perm=$(stat -c %a "$p")
      if [ $((0$perm & 1)) -eq 0 ]; then
        chmod o+x "$p"
      fi
    done
  fi
  as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth-local=trust \
    --auth-host=scram-sha-256 -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 ||
    die "initdb failed: $(tail -5 "$dir/initdb.log")"
  port=$(free_port)
  pg_start "$dir" "$port"
  as_owner "$bin/psql" -q -h "$dir/sock" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
    -c "CREATE ROLE rollcall LOGIN PASSWORD '$PASS'" \
    -c "CREATE DATABASE rollcall OWNER rollcall" >"$dir/psql.log" 2>&1 ||
    die "creating the role failed: $(tail -5 "$dir/psql.log")"
  url "$dir"
}

NSSW_DIR=${2:-${1:-.}}
[ "${1:-}" = "${1#-}" ] && NSSW_DIR=$1
case "${1:-}" in
  --stop) stop "${2:?DIR}" ;;
  --restart) pg_start "${2:?DIR}" "$(cat "$2/port")"; url "$2" ;;
  --cleanup) stop "${2:?DIR}"; rm -rf "$2" ;;
  -*|"") die "usage: start-postgres.sh [--stop|--restart|--cleanup] DIR" ;;
  *)
    ensure_installed
    [ -e "$1/data" ] && die "$1/data exists already"
    mkdir -p "$1"
    start_new "$1"
    ;;
esac
