#!/usr/bin/env bash
# Build the base image `debian:bookworm-slim` locally when the Docker engine
# cannot pull it: debootstrap a minimal bookworm into docker/rootfs (ignored by
# git), `docker import` it under that name, then remove the folder.
#
# Idempotent: does nothing when the image already exists.  Needs root (or
# sudo) for debootstrap, and a reachable Debian mirror; the mirror is taken
# from the host's apt sources unless DEBIAN_MIRROR is set.
#
#   docker/build-base-image.sh            # build if missing
#   BASE_IMAGE=debian:bookworm-slim DEBIAN_MIRROR=http://deb.debian.org/debian docker/build-base-image.sh
set -euo pipefail

BASE_IMAGE="${BASE_IMAGE:-debian:bookworm-slim}"
SUITE="${DEBIAN_SUITE:-bookworm}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
rootfs="${ROOTFS_DIR:-$here/rootfs}"

log() { printf 'build-base-image: %s\n' "$*" >&2; }

if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    log "$BASE_IMAGE already present"
    exit 0
fi

# One build at a time: tests/run.sh starts one in the background, and the
# docker tests call this script when the image is still missing. A second
# caller waits for the first, then finds the image.
exec 9>"${TMPDIR:-/tmp}/rollcall-base-image.lock"
flock 9
if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    log "$BASE_IMAGE present (built by another caller meanwhile)"
    exit 0
fi

# shellcheck source=debootstrap-lib.sh
. "$here/debootstrap-lib.sh"
rc_need_root
rc_pick_mirror
log "building $BASE_IMAGE from $SUITE at $DEBIAN_MIRROR"

rc_ensure_debootstrap

cleanup() { $SUDO rm -rf --one-file-system "$rootfs"; }
trap cleanup EXIT
cleanup   # a half-built folder from an interrupted run

$SUDO "$DEBOOTSTRAP" --variant=minbase "$SUITE" "$rootfs" "$DEBIAN_MIRROR"

# Make it look like the official slim image: apt sources in deb822 form,
# no package lists or caches, no documentation kept by later installs.
$SUDO rm -f "$rootfs/etc/apt/sources.list"
$SUDO tee "$rootfs/etc/apt/sources.list.d/debian.sources" >/dev/null <<EOF
Types: deb
URIs: $DEBIAN_MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
rc_slim_dpkg "$rootfs"
$SUDO tee "$rootfs/etc/apt/apt.conf.d/docker-clean" >/dev/null <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
$SUDO tee "$rootfs/etc/apt/apt.conf.d/docker-no-recommends" >/dev/null <<'EOF'
APT::Install-Recommends "false";
EOF
rc_trim_rootfs "$rootfs"
rc_import_rootfs "$rootfs" "$BASE_IMAGE"
