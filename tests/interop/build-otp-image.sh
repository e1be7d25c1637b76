#!/usr/bin/env bash
# Build the OTP interop images locally, the way docker/build-base-image.sh
# builds the base image: debootstrap a minimal Debian with erlang-base,
# erlang-ssl and elixir into a scratch folder, `docker import` it, remove the
# folder.  The interop suite (tests/interop/) runs BEAM nodes from them.
#
#   tests/interop/build-otp-image.sh 27     rollcall-otp27:trixie (OTP 27, Debian trixie)
#   tests/interop/build-otp-image.sh 29     rollcall-otp29:sid    (OTP 29, Debian sid)
#   tests/interop/build-otp-image.sh all    both, one after the other
#   tests/interop/build-otp-image.sh --name 27   print the image name only
#
# Cached: does nothing when the image exists.  One build per image at a time
# (a lock): tests/run.sh starts the builds in the background, and the docker
# tests call this script when an image is still missing; a second caller
# waits for the first, then finds the image.  Needs root (or sudo) and a
# reachable Debian mirror (DEBIAN_MIRROR, else the host's apt sources).
# sid's Release file can be past its Valid-Until date on a mirror snapshot,
# so apt runs with Acquire::Check-Valid-Until=false for it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { printf 'build-otp-image: %s\n' "$*" >&2; }

image_of() {
    case "$1" in
    27) echo "rollcall-otp27:trixie" ;;
    29) echo "rollcall-otp29:sid" ;;
    *) return 1 ;;
    esac
}
suite_of() {
    case "$1" in
    27) echo trixie ;;
    29) echo sid ;;
    esac
}

if [ "${1:-}" = "--name" ]; then
    image_of "${2:-}" || { log "unknown release ${2:-}"; exit 2; }
    exit 0
fi
if [ "${1:-}" = "all" ]; then
    rc=0
    "$0" 27 || rc=1
    "$0" 29 || rc=1
    exit $rc
fi

rel="${1:-}"
IMAGE="$(image_of "$rel")" || { log "usage: $0 27|29|all"; exit 2; }
SUITE="$(suite_of "$rel")"
rootfs="${ROOTFS_DIR:-${TMPDIR:-/var/tmp}/rollcall-rootfs-otp$rel}"

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    log "$IMAGE already present"
    exit 0
fi

exec 9>"${TMPDIR:-/tmp}/rollcall-otp$rel-image.lock"
flock 9
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    log "$IMAGE present (built by another caller meanwhile)"
    exit 0
fi

# shellcheck source=../../docker/debootstrap-lib.sh
. "$here/../../docker/debootstrap-lib.sh"
rc_need_root
rc_pick_mirror
log "building $IMAGE from $SUITE at $DEBIAN_MIRROR"

rc_ensure_debootstrap
if [ ! -e "/usr/share/debootstrap/scripts/$SUITE" ]; then
    log "this debootstrap does not know $SUITE"; exit 1
fi

umount_all() {
    local m
    for m in proc sys dev/pts dev; do
        mountpoint -q "$rootfs/$m" 2>/dev/null && $SUDO umount -l "$rootfs/$m" || true
    done
}
cleanup() {
    umount_all
    $SUDO rm -rf --one-file-system "$rootfs"
}
trap cleanup EXIT
cleanup

$SUDO "$DEBOOTSTRAP" --variant=minbase "$SUITE" "$rootfs" "$DEBIAN_MIRROR"

$SUDO rm -f "$rootfs/etc/apt/sources.list"
if [ "$SUITE" = sid ]; then
    suites="sid"
else
    suites="$SUITE $SUITE-updates"
fi
$SUDO tee "$rootfs/etc/apt/sources.list.d/debian.sources" >/dev/null <<SRC
Types: deb
URIs: $DEBIAN_MIRROR
Suites: $suites
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
$SUDO tee "$rootfs/etc/apt/apt.conf.d/99rollcall" >/dev/null <<'CONF'
Acquire::Check-Valid-Until "false";
APT::Install-Recommends "false";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
CONF
rc_slim_dpkg "$rootfs"

$SUDO mount -t proc proc "$rootfs/proc"
$SUDO chroot "$rootfs" apt-get -o Acquire::Check-Valid-Until=false update -q
$SUDO chroot "$rootfs" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    --no-install-recommends erlang-base erlang-ssl elixir procps iproute2 ca-certificates
$SUDO chroot "$rootfs" erl -noshell -eval \
    'io:format("OTP ~s~n", [erlang:system_info(otp_release)]), halt().' >&2
umount_all

rc_trim_rootfs "$rootfs"
rc_import_rootfs "$rootfs" "$IMAGE" --change 'ENV LANG=C.UTF-8'
