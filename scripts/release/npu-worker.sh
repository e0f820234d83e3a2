#!/bin/sh
# Launcher of an npu-worker release: runs the worker on the Node runtime the release carries, from any
# working directory and through any symlink (such as /opt/npu-worker/current). `exec` keeps one process, so
# systemd's main PID is Node itself: signals reach it and its sd_notify messages come from the main PID.
# `npu-worker doctor [--json] [--require-npu] ...` checks the host instead (exit 0 ready, 1 not, 2 bad args).
set -eu
release_dir=$(dirname -- "$(dirname -- "$(readlink -f -- "$0")")")
# ONNX Runtime otherwise writes a telemetry database under ~/.cache.
ORT_DISABLE_TELEMETRY="${ORT_DISABLE_TELEMETRY:-1}"
export ORT_DISABLE_TELEMETRY
# Memory, measured in BENCHMARKS.md ("Where the worker's memory goes"); bench/lib.mjs starts the worker with the
# same two settings, read from this file. A fixed trim threshold makes glibc hand freed memory back to the
# kernel (its default, a threshold that grows with the largest buffer freed, kept the worker's freed
# tensor and body buffers resident); 4 MiB semi-spaces keep V8's young generation from growing to 16 MiB per
# space under request load (+38 to +48 MiB RSS). 4 rather than 2: a small request leaves ~50 KB of garbage, and
# at 2 MiB the scavenges cost ~9% of its CPU (measured pinned, alternating rounds: 32 -> 19 scavenges per 1000
# MLP requests, CPU/request x0.91) for ~7 MiB less RSS after load. An operator's own value of either wins.
MALLOC_TRIM_THRESHOLD_="${MALLOC_TRIM_THRESHOLD_:-1048576}"
export MALLOC_TRIM_THRESHOLD_
node_memory_flags="${NPU_WORKER_NODE_FLAGS:---max-semi-space-size=4}"
if [ "${1:-}" = doctor ]; then
  shift
  exec "$release_dir/node/bin/node" "$release_dir/app/dist/doctor-main.js" "$@"
fi
# Unquoted on purpose: the flags are words.
# shellcheck disable=SC2086
exec "$release_dir/node/bin/node" $node_memory_flags "$release_dir/app/dist/server.js" "$@"
