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

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        log "need root (or sudo) to run debootstrap"; exit 1
    fi
fi

# The Debian mirror: the first http(s) URI of a "debian" (not -security)
# archive in the host's apt sources, deb822 (.sources) or one-line (.list).
find_mirror() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk '/^URIs:/ { for (i = 2; i <= NF; i++) print $i }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^(https?|ftp):/) { print $i; break } }' "$f"
    done
}
if [ -z "${DEBIAN_MIRROR:-}" ]; then
    DEBIAN_MIRROR="$(find_mirror | grep -E '/debian/?$' | grep -v -- '-security' | head -n1 || true)"
    DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
fi
log "building $BASE_IMAGE from $SUITE at $DEBIAN_MIRROR"

if ! command -v debootstrap >/dev/null 2>&1 && [ ! -x /usr/sbin/debootstrap ]; then
    log "installing debootstrap"
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap
fi
DEBOOTSTRAP="$(command -v debootstrap || echo /usr/sbin/debootstrap)"

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
$SUDO tee "$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" >/dev/null <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
$SUDO tee "$rootfs/etc/apt/apt.conf.d/docker-clean" >/dev/null <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
$SUDO tee "$rootfs/etc/apt/apt.conf.d/docker-no-recommends" >/dev/null <<'EOF'
APT::Install-Recommends "false";
EOF
$SUDO rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/*.log \
    "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/*
$SUDO find "$rootfs/usr/share/doc" -type f ! -name copyright -delete

$SUDO tar -C "$rootfs" --numeric-owner -c . |
    docker import \
        --change 'CMD ["bash"]' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        - "$BASE_IMAGE" >/dev/null
log "imported $BASE_IMAGE ($(docker image inspect -f '{{.Size}}' "$BASE_IMAGE") bytes)"
