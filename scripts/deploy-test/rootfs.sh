#!/usr/bin/env bash
# Prints the path of a Debian root filesystem for the deploy test, building it with debootstrap when the
# cache has none. The cache folder is keyed by everything that shapes the rootfs (suite, variant, package
# list, mirror), so a changed list builds a new one and an unchanged one is reused across runs.
# The cached tree is never booted directly: run.sh boots a throw-away overlay on top of it.
set -euo pipefail

SUITE=bookworm
VARIANT=minbase
PACKAGES=systemd,systemd-sysv,dbus,python3,openssh-server,iproute2,curl,procps
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
CACHE_ROOT="${NPU_FLEET_ROOTFS_CACHE:-/var/cache/npu-fleet}"

key=$(printf '%s|%s|%s|%s|v1' "$SUITE" "$VARIANT" "$PACKAGES" "$MIRROR" | sha256sum | cut -c1-16)
rootfs="$CACHE_ROOT/rootfs-$key"

if [ -f "$rootfs/.complete" ]; then
  echo "$rootfs"
  exit 0
fi

mkdir -p "$CACHE_ROOT"
# Build beside the final path and rename at the end: an interrupted build never looks complete.
partial="$rootfs.partial.$$"
trap 'rm -rf "$partial"' EXIT
echo "deploy-test: building the container rootfs with debootstrap (cold cache, a few minutes)" >&2
if ! debootstrap --variant="$VARIANT" --include="$PACKAGES" "$SUITE" "$partial" "$MIRROR" >"$partial.log" 2>&1; then
  tail -n 40 "$partial.log" >&2
  rm -f "$partial.log"
  exit 1
fi
rm -f "$partial.log"
# Smaller and faster to copy; the test installs nothing with apt inside the container.
rm -rf "$partial"/var/cache/apt/archives/*.deb "$partial"/var/lib/apt/lists/*
# sshd host keys are generated per boot by run.sh's overlay; the cached tree keeps none.
rm -f "$partial"/etc/ssh/ssh_host_*
touch "$partial/.complete"
rm -rf "$rootfs"
mv "$partial" "$rootfs"
trap - EXIT
echo "$rootfs"
