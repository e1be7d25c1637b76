#!/usr/bin/env bash
# cmake --install puts the binary, the example rollcall.ini and the systemd
# unit in place; the unit passes `systemd-analyze verify` (where systemd is
# installed) and the example ini is accepted by `rollcall check-config`.
# Usage: test_install.sh SOURCE_DIR
set -euo pipefail
src=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pass=0 fail=0
ok() { echo "ok: $*"; pass=$((pass + 1)); }
bad() { echo "FAILED: $*"; fail=$((fail + 1)); }

cmake -S "$src" -B "$work/build" -DROLLCALL_TESTS=OFF -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_INSTALL_PREFIX="$work/prefix" >/dev/null
cmake --build "$work/build" --target rollcall -j"$(nproc)" >/dev/null
cmake --install "$work/build" >/dev/null

for f in bin/rollcall etc/rollcall/rollcall.ini lib/systemd/system/rollcall.service \
         lib/rollcall/rollcall-redis.so lib/rollcall/rollcall-postgres.so lib/rollcall/rollcall-s3.so; do
  if [ -e "$work/prefix/$f" ]; then ok "installed $f"; else bad "missing $f"; fi
done

unit=$work/prefix/lib/systemd/system/rollcall.service
if grep -q "^ExecStart=$work/prefix/bin/rollcall --config $work/prefix/etc/rollcall/rollcall.ini" "$unit"; then
  ok "unit ExecStart points at the installed binary and ini"
else
  bad "unit ExecStart: $(grep ExecStart "$unit")"
fi

if command -v systemd-analyze >/dev/null; then
  if out=$(systemd-analyze verify "$unit" 2>&1) && [ -z "$out" ]; then
    ok "systemd-analyze verify"
  else
    bad "systemd-analyze verify: $out"
  fi
else
  echo "note: systemd-analyze not installed; unit not verified"
fi

out=$(ROLLCALL_COOKIE=install-test-cookie "$work/prefix/bin/rollcall" \
        -c "$work/prefix/etc/rollcall/rollcall.ini" check-config 2>&1) || true
if echo "$out" | grep -q "interval" && ! echo "$out" | grep -q "install-test-cookie"; then
  ok "example ini accepted by check-config, cookie masked"
else
  bad "check-config on the example ini: $out"
fi

# The installed binary finds its installed modules (not the build tree's):
# check-config loads the module of the registry's scheme.
for url in redis://127.0.0.1:6379/0 postgres://rc@127.0.0.1/rc s3://bucket; do
  if out=$(env -u ROLLCALL_MODULE_DIR ROLLCALL_COOKIE=c "$work/prefix/bin/rollcall" \
             check-config --registry "$url" 2>&1); then
    ok "installed binary loads the ${url%%:*} module"
  else
    bad "check-config --registry $url: $out"
  fi
done
# ... and says which one it misses, and where it looked, when it is gone.
rm "$work/prefix/lib/rollcall/rollcall-s3.so"
out=$(ROLLCALL_COOKIE=c "$work/prefix/bin/rollcall" check-config --registry s3://bucket 2>&1) || true
if echo "$out" | grep -q "rollcall-s3.so not found (looked in .*$work/prefix/lib/rollcall"; then
  ok "a missing module is named, with the directories searched"
else
  bad "missing module: $out"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
