# Shared by docker/build-base-image.sh and tests/interop/build-otp-image.sh,
# which both debootstrap a minimal Debian and `docker import` it. Source it
# after defining log(); every function works on the caller's variables as
# named below. Needs root or sudo.

# SUDO: "" as root, "sudo" where it exists, else the build cannot run.
rc_need_root() {
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
            log "need root (or sudo) to run debootstrap"; exit 1
        fi
    fi
}

# DEBIAN_MIRROR, unless set: the first http(s) URI of a "debian" (not
# -security) archive in the host's apt sources, deb822 (.sources) or one-line
# (.list); else deb.debian.org.
rc_pick_mirror() {
    local f found
    [ -n "${DEBIAN_MIRROR:-}" ] && return 0
    found="$(
        for f in /etc/apt/sources.list.d/*.sources; do
            [ -f "$f" ] || continue
            awk '/^URIs:/ { for (i = 2; i <= NF; i++) print $i }' "$f"
        done
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
            [ -f "$f" ] || continue
            awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^(https?|ftp):/) { print $i; break } }' "$f"
        done
    )"
    DEBIAN_MIRROR="$(printf '%s\n' "$found" | grep -E '/debian/?$' | grep -v -- '-security' | head -n1 || true)"
    DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
}

# DEBOOTSTRAP: the program, installed with apt when missing.
rc_ensure_debootstrap() {
    if ! command -v debootstrap >/dev/null 2>&1 && [ ! -x /usr/sbin/debootstrap ]; then
        log "installing debootstrap"
        $SUDO apt-get update -qq
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap
    fi
    DEBOOTSTRAP="$(command -v debootstrap || echo /usr/sbin/debootstrap)"
}

# Like the official slim images: no documentation kept by later installs.
rc_slim_dpkg() { # rootfs
    $SUDO tee "$1/etc/dpkg/dpkg.cfg.d/docker-slim" >/dev/null <<'CONF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
CONF
}

# No package lists, caches, logs or documentation left in the image.
rc_trim_rootfs() { # rootfs
    $SUDO rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin \
        "$1"/var/cache/apt/archives/*.deb "$1"/var/log/*.log \
        "$1"/usr/share/man/* "$1"/usr/share/info/* "$1"/usr/share/locale/*
    $SUDO find "$1/usr/share/doc" -type f ! -name copyright -delete
}

# Imports the folder as image, with CMD bash, the usual PATH and any further
# `docker import --change` arguments given.
rc_import_rootfs() { # rootfs image [--change X ...]
    local rootfs=$1 image=$2
    shift 2
    $SUDO tar -C "$rootfs" --numeric-owner -c . |
        docker import \
            --change 'CMD ["bash"]' \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            "$@" - "$image" >/dev/null
    log "imported $image ($(docker image inspect -f '{{.Size}}' "$image") bytes)"
}
