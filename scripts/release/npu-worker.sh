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
if [ "${1:-}" = doctor ]; then
  shift
  exec "$release_dir/node/bin/node" "$release_dir/app/dist/doctor-main.js" "$@"
fi
exec "$release_dir/node/bin/node" "$release_dir/app/dist/server.js" "$@"
