#!/usr/bin/env bash
# Builds the deploy test's releases from the real one, so each differs from a good release in exactly one
# way. Usage: make-fixtures.sh <real tarball> <output folder> <next version>. Writes, each with its .sha256:
#   <v>-never-ready   bin/npu-worker only sleeps: never binds, never tells systemd it is ready
#   <v>-placeholder   bin/npu-worker tells systemd READY=1 (from the main PID, as the real worker does) and
#                     then only sleeps: systemd says "active (running)" while nothing listens on the port
#   <v>-wrongversion  the real worker, but it reports the previous version in /health
#   <v>-wrongservice  the real worker, but /health names another service
#   <v>-wronganswer   the real worker, but its mlp has other weights (the release's own generator, another
#                     seed): it loads, serves and says healthy, and answers wrong
#   <next version>    a good release of the next version (the rolling upgrade and the runtime-archive deploys
#                     go to it)
# Every fixture passes --check-config, as the placeholder of the old system would have.
# And the stand-in OpenVINO runtime archives, under runtime/ (served by the test over loopback HTTP):
#   runtime/mirror/<the path of the release's openvino-node runtime URL>: the archive's name and layout
#     (ov_node_addon.node and a library at its top), but text files, not a real addon
#   runtime/corrupt/<same name>: that archive cut short (a corrupt download whose checksum is known)
set -euo pipefail
real=$1
out=$2
next=$3
base=$(basename "$real" -linux-x64.tar.gz)       # npu-worker-1.0.0
version=${base#npu-worker-}
src="$out/.src"
rm -rf "$src"
mkdir -p "$src"
tar -xzf "$real" -C "$src"

make_fixture() { # <fixture version> <function that edits the tree in $1>
  local fv=$1 edit=$2 dir="$out/.build/npu-worker-$1"
  rm -rf "$out/.build"
  mkdir -p "$out/.build"
  cp -al "$src/$base" "$dir" # hard links: fast; files to change are replaced, not edited in place
  printf '%s\n' "$fv" >"$dir/VERSION.new" && mv "$dir/VERSION.new" "$dir/VERSION"
  "$edit" "$dir" "$fv"
  tar -C "$out/.build" -cf - "npu-worker-$fv" | gzip -1 >"$out/npu-worker-$fv-linux-x64.tar.gz"
  (cd "$out" && sha256sum "npu-worker-$fv-linux-x64.tar.gz" >"npu-worker-$fv-linux-x64.tar.gz.sha256")
  rm -rf "$out/.build"
}

launcher_prologue='#!/bin/sh
case " $* " in *" --check-config "*) echo "config OK"; exit 0 ;; esac
release_dir=$(dirname -- "$(dirname -- "$(readlink -f -- "$0")")")'

never_ready() {
  rm "$1/bin/npu-worker"
  printf '%s\nexec sleep infinity\n' "$launcher_prologue" >"$1/bin/npu-worker"
  chmod 0755 "$1/bin/npu-worker"
}

placeholder() {
  rm "$1/bin/npu-worker"
  # Node (the release's own) sends READY=1 with node-unix-socket from the main process, then idles forever.
  cat >"$1/bin/npu-worker" <<SH
$launcher_prologue
exec "\$release_dir/node/bin/node" -e '
const { DgramSocket } = require(process.argv[1] + "/app/node_modules/node-unix-socket")
const path = process.env.NOTIFY_SOCKET
const message = Buffer.from("READY=1\nSTATUS=placeholder: sleeping")
if (path) new DgramSocket().sendTo(message, 0, message.length, path.replace(/^@/, "\0"), () => {})
setInterval(() => {}, 1 << 30)
' "\$release_dir"
SH
  chmod 0755 "$1/bin/npu-worker"
}

wrong_version() { :; } # VERSION says the new version; app/package.json still says the previous one

app_version() { # <tree> <version>: the worker reports this version in /health
  local pkg="$1/app/package.json"
  sed "s/\"version\": \"$version\"/\"version\": \"$2\"/" "$pkg" >"$pkg.new" && rm "$pkg" && mv "$pkg.new" "$pkg"
}

wrong_service() {
  local f="$1/app/dist/health/health-report.js"
  grep -q "service: 'npu-worker'" "$f"
  sed "s/service: 'npu-worker'/service: 'legacy-npu-service'/" "$f" >"$f.new" && rm "$f" && mv "$f.new" "$f"
  app_version "$1" "$2" # its version is right, so only the service name is wrong
}

wrong_answer() {
  local model="$1/app/generated/models/mlp/1/model.onnx"
  rm "$model" # a hard link into the real release: replace, never write through it
  "$1/node/bin/node" --input-type=module -e '
const [, dist, out] = process.argv
const { buildMlpModel } = await import(`${dist}/models/mlp-model.js`)
const { writeFileSync } = await import("node:fs")
writeFileSync(out, buildMlpModel(1))
' "$1/app/dist" "$model"
  app_version "$1" "$2"
}

next_release() { app_version "$1" "$2"; }

make_fixture "$version-never-ready" never_ready
make_fixture "$version-placeholder" placeholder
make_fixture "$version-wrongversion" wrong_version
make_fixture "$version-wrongservice" wrong_service
make_fixture "$version-wronganswer" wrong_answer
make_fixture "$next" next_release

# The stand-in runtime: named and laid out as the archive the release's openvino-node expects, at the path
# of the address openvino-node's own installer would fetch it from.
url=$("$src/$base/node/bin/node" "$src/$base/share/release-runtimes.mjs" status --release "$src/$base" --json \
  | "$src/$base/node/bin/node" -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () =>
      console.log(JSON.parse(s).find((r) => r.name === "openvino-node").url))')
url_path=$(printf '%s' "$url" | sed 's#^[a-z]*://[^/]*/##')
rm -rf "$out/runtime" "$out/.standin"
mkdir -p "$out/.standin" "$out/runtime/mirror/$(dirname "$url_path")" "$out/runtime/corrupt"
for f in ov_node_addon.node libopenvino.so.2600; do
  printf 'Stand-in for %s, made by the npu-fleet deploy test: it is not an ELF shared object, and nothing\n%s\n' \
    "$f" 'here has ever loaded the real OpenVINO runtime.' >"$out/.standin/$f"
done
tar --sort=name --owner=0 --group=0 --numeric-owner -C "$out/.standin" -czf "$out/runtime/mirror/$url_path" .
head -c "$(($(stat -c %s "$out/runtime/mirror/$url_path") / 2))" "$out/runtime/mirror/$url_path" \
  >"$out/runtime/corrupt/$(basename "$url_path")"
rm -rf "$out/.standin" "$src"
printf '%s\n' "$url_path" >"$out/runtime/url-path"
