#!/usr/bin/env bash
# Prints the path of a Debian trixie root filesystem holding the Python stack the worker replaces
# (FastAPI + uvicorn with uvloop and httptools, ONNX Runtime, numpy, orjson), building it with debootstrap
# when the cache has none. Bookworm has no python3-onnxruntime; trixie does. The cache folder is keyed by
# everything that shapes the tree (suite, variant, package list, mirror), as scripts/deploy-test/rootfs.sh
# keys the deploy test's, so an unchanged list is reused across runs. `--cached-only` never builds: it
# prints the path if the cache has it and exits 3 otherwise (the smoke pass uses it).
set -euo pipefail

SUITE=trixie
VARIANT=minbase
# debootstrap's own resolver fails to configure python3-onnxruntime; apt inside the new tree installs it.
PACKAGES=python3-onnxruntime,python3-numpy,python3-fastapi,python3-uvicorn,python3-uvloop,python3-httptools,python3-orjson
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
CACHE_ROOT="${NPU_FLEET_ROOTFS_CACHE:-/var/cache/npu-fleet}"

key=$(printf '%s|%s|%s|%s|v1' "$SUITE" "$VARIANT" "$PACKAGES" "$MIRROR" | sha256sum | cut -c1-16)
rootfs="$CACHE_ROOT/python-peer-$key"

if [ -f "$rootfs/.complete" ]; then
  echo "$rootfs"
  exit 0
fi
if [ "${1:-}" = "--cached-only" ]; then
  echo "python peer: no cached rootfs at $rootfs (run pnpm bench:peers once to build it)" >&2
  exit 3
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "python peer: debootstrap needs root" >&2
  exit 1
fi
if ! command -v debootstrap >/dev/null; then
  echo "python peer: debootstrap is not installed (apt-get install debootstrap)" >&2
  exit 1
fi

mkdir -p "$CACHE_ROOT"
# Build beside the final path and rename at the end: an interrupted build never looks complete.
partial="$rootfs.partial.$$"
trap 'rm -rf "$partial" "$partial.log"' EXIT
echo "python peer: building a Debian $SUITE rootfs with debootstrap (cold cache, a few minutes)" >&2
if ! debootstrap --variant="$VARIANT" --include=python3 "$SUITE" "$partial" "$MIRROR" >"$partial.log" 2>&1; then
  tail -n 40 "$partial.log" >&2
  exit 1
fi
# apt and ONNX Runtime (which reads /proc/cpuinfo) need /proc; a private mount namespace takes the mounts away
# with the process, so nothing stays mounted on the host whatever happens.
in_tree() {
  unshare --mount --propagation private sh -c \
    'mount -t proc proc "$0/proc" && mount --bind /dev "$0/dev" && exec chroot "$0" "$@"' "$partial" "$@"
}
if ! in_tree env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${PACKAGES//,/ } \
  >"$partial.log" 2>&1; then
  tail -n 40 "$partial.log" >&2
  exit 1
fi
# The peer must import what it serves with; a tree that cannot is not cached.
if ! in_tree /usr/bin/python3 -c 'import onnxruntime, numpy, fastapi, uvicorn, uvloop, httptools, orjson' \
  >"$partial.log" 2>&1; then
  grep -v '^Schema error\|^$' "$partial.log" | tail -n 20 >&2
  exit 1
fi
rm -rf "$partial"/var/cache/apt/archives/*.deb "$partial"/var/lib/apt/lists/*
touch "$partial/.complete"
rm -rf "$rootfs"
mv "$partial" "$rootfs"
trap - EXIT
rm -f "$partial.log"
echo "$rootfs"
