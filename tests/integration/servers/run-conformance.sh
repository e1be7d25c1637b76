#!/usr/bin/env bash
# Runs the registry conformance suite against a freshly started private
# server of one kind, with an outage (stop, then restart) in the middle:
#
#   run-conformance.sh file|redis|postgres|s3|s3-sts /path/to/conformance [conformance args]
#
# s3-sts runs against MinIO with temporary credentials (AssumeRole) given
# through AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN.
# Starts the server (servers/start-<kind>.sh), runs conformance, stops and
# removes the server whatever happened. A server that cannot be started is a
# failure, never a skip. The last line is conformance's "N passed, M failed".
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
KIND=${1:?kind}
CONF=${2:?conformance binary}
shift 2

TMP=$(mktemp -d "${TMPDIR:-/tmp}/rollcall-backend-$KIND.XXXXXX")
SRV=$TMP/server
cleanup() {
  case "$KIND" in
    redis|postgres|s3|s3-sts)
      script=$HERE/start-$KIND.sh
      [ "${KIND%-sts}" = s3 ] && script=$HERE/start-minio.sh
      "$script" --cleanup "$SRV" || true ;;
  esac
  rm -rf "$TMP"
}
trap cleanup EXIT

case "$KIND" in
  file)
    mkdir -p "$TMP/registry"
    URL="file://$TMP/registry"
    # down: the directory replaced by a regular file (root ignores modes)
    OUTAGE="mv '$TMP/registry' '$TMP/registry.away' && touch '$TMP/registry'"
    RESTORE="rm -f '$TMP/registry' && mv '$TMP/registry.away' '$TMP/registry'"
    ;;
  s3-sts)
    # temporary credentials from MinIO's STS (AssumeRole): the session token
    # path (x-amz-security-token) and credentials from the environment
    script=$HERE/start-minio.sh
    if ! URL=$("$script" "$SRV"); then
      echo "run-conformance: the s3 server did not start (see above)" >&2
      echo "0 passed, 1 failed"
      exit 1
    fi
    if ! python3 - "$URL" >"$TMP/sts.env" <<'PY'
import re, subprocess, sys, urllib.parse
m = re.match(r"^s3://([^:]+):([^@]+)@[^?]*\?endpoint=([^&]+)&region=([^&]+)$", sys.argv[1])
ak, sk, endpoint, region = m.group(1), urllib.parse.unquote(m.group(2)), m.group(3), m.group(4)
out = subprocess.run(["curl", "-sS", "--fail", "--aws-sigv4", "aws:amz:%s:sts" % region,
                      "--user", "%s:%s" % (ak, sk), "-d",
                      "Action=AssumeRole&Version=2011-06-15&DurationSeconds=3600", endpoint + "/"],
                     stdout=subprocess.PIPE, check=True, text=True).stdout
for tag, var in (("AccessKeyId", "AWS_ACCESS_KEY_ID"), ("SecretAccessKey", "AWS_SECRET_ACCESS_KEY"),
                 ("SessionToken", "AWS_SESSION_TOKEN")):
    v = re.search("<%s>([^<]+)</%s>" % (tag, tag), out).group(1)
    print("export %s='%s'" % (var, v))
PY
    then
      echo "run-conformance: AssumeRole against MinIO failed" >&2
      echo "0 passed, 1 failed"
      exit 1
    fi
    # shellcheck disable=SC1091
    . "$TMP/sts.env"
    URL=$(echo "$URL" | sed -E 's#^s3://[^@]*@#s3://#')
    OUTAGE="'$script' --stop '$SRV'"
    RESTORE="'$script' --restart '$SRV' >/dev/null"
    ;;
  redis|postgres|s3)
    script=$HERE/start-$KIND.sh
    [ "$KIND" = s3 ] && script=$HERE/start-minio.sh
    if ! URL=$("$script" "$SRV"); then
      echo "run-conformance: the $KIND server did not start (see above)" >&2
      echo "0 passed, 1 failed"
      exit 1
    fi
    OUTAGE="'$script' --stop '$SRV'"
    RESTORE="'$script' --restart '$SRV' >/dev/null"
    ;;
  *)
    echo "run-conformance: unknown kind $KIND" >&2
    exit 2
    ;;
esac

"$CONF" --outage-cmd "$OUTAGE" --restore-cmd "$RESTORE" "$@" "$URL"
rc=$?
if [ $rc -eq 0 ] && [ "$KIND" = redis ]; then
  # Again as a user that may EVAL but not SCRIPT LOAD (start-redis.sh): the
  # backend learns script digests through SCRIPT LOAD and must fall back to
  # EVAL when refused. First prove that the server does refuse it.
  port=$(cat "$SRV/port")
  refused=$(REDISCLI_AUTH='s3cr3t/p@ss' redis-cli -h 127.0.0.1 -p "$port" --user evalonly \
              --no-auth-warning SCRIPT LOAD 'return 1' 2>&1)
  case "$refused" in
    *NOPERM*) echo "evalonly: SCRIPT LOAD refused as expected ($refused)" ;;
    *) echo "run-conformance: user evalonly was not refused SCRIPT LOAD: $refused" >&2
       echo "0 passed, 1 failed"; exit 1 ;;
  esac
  echo "== again as user evalonly (EVAL only)"
  "$CONF" --outage-cmd "$OUTAGE" --restore-cmd "$RESTORE" "$@" "${URL/\/\/rollcall:/\/\/evalonly:}"
  rc=$?
fi
if [ $rc -ne 0 ]; then
  for log in "$SRV"/*.log; do
    [ -f "$log" ] && { echo "--- $log (last lines)"; tail -20 "$log"; }
  done
fi
exit $rc
