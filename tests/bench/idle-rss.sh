#!/usr/bin/env bash
# The memory of one idle agent per registry backend that needs no account:
# file and Redis (a private redis-server on loopback). Each agent runs alone
# (no peers) at a 1 s interval; /proc/PID/status is read after 3 s, and the
# largest mappings from /proc/PID/smaps are listed.
#
#   tests/bench/idle-rss.sh build-bench/rollcall
#
# Not a timed test: a figure for docs/BENCHMARKS.md ("Idle agent per backend").
set -euo pipefail
BIN=$(realpath "${1:?usage: idle-rss.sh /path/to/rollcall}")
command -v redis-server >/dev/null || { echo "idle-rss: redis-server is not installed" >&2; exit 1; }

D=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() {
  [ -f "$D/redis.pid" ] && kill "$(cat "$D/redis.pid")" 2>/dev/null || true
  rm -rf "$D"
}
trap cleanup EXIT
head -c 15 /dev/urandom | base64 | tr -dc 'A-Za-z' >"$D/cookie"
chmod 600 "$D/cookie"
redis-server --port "$port" --bind 127.0.0.1 --save '' --daemonize yes --dir "$D" \
  --pidfile "$D/redis.pid" --logfile "$D/redis.log" >/dev/null
for _ in $(seq 100); do redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break; sleep 0.05; done

printf '%-10s %9s %9s %9s  %s\n' backend "VmRSS" "RssAnon" "RssFile" "largest mappings (KiB)"
for url in "file://$D/registry" "redis://127.0.0.1:$port/0"; do
  "$BIN" --name "idle@127.0.0.9" --registry "$url" --cookie-file "$D/cookie" --interval 1s \
    --epmd off >"$D/agent.log" 2>&1 &
  pid=$!
  sleep 3
  if ! kill -0 "$pid" 2>/dev/null || grep -q '"level":"error"\|\[error\]' "$D/agent.log"; then
    echo "idle-rss: the agent on $url failed:" >&2
    cat "$D/agent.log" >&2
    exit 1
  fi
  kib() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$pid/status"; }
  maps=$(awk '/^[0-9a-f]+-/ { f = $6 } /^Rss:/ { r[f] += $2 }
              END { for (k in r) if (r[k] >= 100) printf "%d %s\n", r[k], (k == "" ? "[anon]" : k) }' \
           "/proc/$pid/smaps" | sort -rn | head -4 | awk '{ n = split($2, p, "/"); printf "%s %s, ", p[n], $1 }')
  printf '%-10s %6s KiB %6s KiB %6s KiB  %s\n' "${url%%:*}" "$(kib VmRSS)" "$(kib RssAnon)" \
    "$(kib RssFile)" "${maps%, }"
  kill "$pid"
  wait "$pid" || true
done
echo "command: tests/bench/idle-rss.sh $1"
