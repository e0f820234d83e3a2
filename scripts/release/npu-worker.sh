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
# same settings, read from this file. A fixed trim threshold makes glibc hand freed memory back to the
# kernel (its default, a threshold that grows with the largest buffer freed, kept the worker's freed
# tensor and body buffers resident); 4 MiB semi-spaces keep V8's young generation from growing to 16 MiB per
# space under request load (+38 to +48 MiB RSS). 4 rather than 2: a small request leaves ~50 KB of garbage, and
# at 2 MiB the scavenges cost ~9% of its CPU (measured pinned, alternating rounds: 32 -> 19 scavenges per 1000
# MLP requests, CPU/request x0.91) for ~7 MiB less RSS after load.
# --initial-old-space-size=64 puts a floor under the old generation's limit. V8 counts ArrayBuffer bytes
# allocated since the last mark-compact against that limit, and the main heap (~20 MiB live) had only the
# minimum 8 MiB of slack: the 6 MB bodies in flight under detector load (live, not garbage) started a
# mark-compact every 3-4 requests. 64 is V8's own soft limit for external memory. Measured pinned, alternating
# rounds, with the threads' reset below (detector JSON, then binary): 0.21 -> 0.013 and 0.135 -> 0.016
# mark-compacts per request, CPU per request x0.91 for both, /health p99 per round x0.55 (JSON); idle RSS
# unchanged, 6 to 22 MiB more after load. The worker resets the flag for its
# threads' isolates (src/server.ts), which otherwise kept ~40 MiB more after binary load. The flag exists in
# Node 20 (V8 11.3) and Node 24 (V8 13.6); node refuses to start on an unknown one. An operator's own value of
# either setting wins.
MALLOC_TRIM_THRESHOLD_="${MALLOC_TRIM_THRESHOLD_:-1048576}"
export MALLOC_TRIM_THRESHOLD_
# A fixed mmap threshold of 64 KiB instead of glibc's 128 KiB (setting the trim threshold had fixed it at 128):
# each 64 KiB socket read of a request body (libuv's read buffer and the HTTP parser's copy of the body piece)
# then gets pages of its own that go back to the kernel when freed. At 128 KiB those buffers came from the main
# arena, and the few longer-lived small allocations between them kept it from shrinking: after the peers' load
# sequence the main arena held 13 to 30 MiB with ~5 MiB in use (malloc_stats through gdb), which no trim
# threshold hands back; with 64 KiB it held 8 to 10 MiB. Measured pinned, the peers' load sequence on our side
# alone, 6 alternating runs per side: RSS 16 s after the load x0.92 (rounds 0.82 to 1.01; 165-174 MiB against
# 165-211: the reading also catches the idle hand-over under way), 36 s after x0.95, idle x1.00, CPU per
# request MLP x0.84, detector x1.05 (rounds 0.87 to 1.19).
MALLOC_MMAP_THRESHOLD_="${MALLOC_MMAP_THRESHOLD_:-65536}"
export MALLOC_MMAP_THRESHOLD_
# Two malloc arenas instead of glibc's eight per core. Every thread (the inference threads, the JSON thread, each
# retired and replaced) otherwise got an arena of its own, and an arena outlives its thread with what it held:
# after the peers' load sequence, three new arenas held 21 MiB. The threads' heavy buffers are mmapped (above)
# or V8's, so they hardly contend for the arenas. Measured pinned with the peers' bench, 2 alternating runs per
# side: RSS after the runs 162 and 173 MiB against 197 and 187, idle 128 and 123 against 134 and 127, CPU per
# detector request 56 and 61 ms against 65 and 62.
MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
export MALLOC_ARENA_MAX
node_memory_flags="${NPU_WORKER_NODE_FLAGS:---max-semi-space-size=4 --initial-old-space-size=64}"
if [ "${1:-}" = doctor ]; then
  shift
  exec "$release_dir/node/bin/node" "$release_dir/app/dist/doctor-main.js" "$@"
fi
# Unquoted on purpose: the flags are words.
# shellcheck disable=SC2086
exec "$release_dir/node/bin/node" $node_memory_flags "$release_dir/app/dist/server.js" "$@"
