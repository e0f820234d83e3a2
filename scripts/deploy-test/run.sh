#!/usr/bin/env bash
# The deploy test: the real release, deployed by the real playbook over SSH to a Debian container booted with
# systemd as PID 1 (systemd-nspawn), then checked from the host. Proves, on a real systemd:
#   - a deploy serves /health and a correct inference; a second run (a runtime installed) changes nothing;
#   - a placeholder release (alive, never binds; also one that lies READY=1 to systemd), a release whose
#     /health reports the wrong version, and one that reports the wrong service, each fail the play, roll
#     back, and leave the previous version answering;
#   - a release whose model answers wrong (other weights) fails the inference self-test and rolls back; the
#     verify step against stand-in NPU workers (verify-tolerance.sh) picks the FP16 row there and still refuses
#     wrong answers;
#   - the OpenVINO runtime archive, fetched from a loopback HTTP mirror with its sha256, is unpacked inside the
#     release where openvino-node loads it (a stand-in: /health shows the loader's new error); a bad checksum
#     and a corrupt archive are refused before the switch, with the release in service never restarted; a
#     rollback returns to a release with its own runtime intact;
#   - `npu-worker doctor` runs in the play (its "no NPU" report printed) and by hand as the service user;
#     `npu_worker_require_npu: true` fails the deploy in preflight, naming /dev/accel;
#   - kill -9 of the worker: systemd restarts it healthy; a frozen event loop: the watchdog restarts it;
#   - the unit verifies clean and its security exposure, inside the container, is reported.
# Root on Debian. Standalone and idempotent; the container and its mounts are removed on exit.
# Environment: DEPLOY_TEST_SSH_PORT (42222), DEPLOY_TEST_WORKER_PORT (48081), DEPLOY_TEST_KEEP=1 keeps the
# work folder, DEPLOY_TEST_REUSE_RELEASE=1 skips `pnpm release` when a tarball exists,
# NPU_FLEET_ROOTFS_CACHE (/var/cache/npu-fleet).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
SSH_PORT="${DEPLOY_TEST_SSH_PORT:-42222}"
WORKER_PORT="${DEPLOY_TEST_WORKER_PORT:-48081}"
WATCHDOG_SEC=8
export ORT_DISABLE_TELEMETRY=1 ANSIBLE_CONFIG="$repo/ansible/ansible.cfg" ANSIBLE_HOST_KEY_CHECKING=False
export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0

started=$(date +%s)
passed=0
failed=0
say() { printf '[deploy-test %4ss] %s\n' "$(($(date +%s) - started))" "$*"; }
pass() { passed=$((passed + 1)); say "PASS $*"; }
fail() { failed=$((failed + 1)); say "FAIL $*"; }
check() { # <description> <command...>: PASS when the command succeeds
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}

[ "$(id -u)" -eq 0 ] || { echo "deploy-test: run as root (it boots a container)" >&2; exit 1; }

# --- host packages (CI starts bare) -------------------------------------------------------------------------
need=()
for p in debootstrap systemd-container ansible-core ansible-lint openssh-client curl python3; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

for port in "$SSH_PORT" "$WORKER_PORT"; do
  if ss -Hltn "sport = :$port" | grep -q .; then
    echo "deploy-test: port $port is taken on this host; set DEPLOY_TEST_SSH_PORT / DEPLOY_TEST_WORKER_PORT" >&2
    exit 1
  fi
done

work=$(mktemp -d /tmp/npu-deploy-test.XXXXXX)
root="$work/root"
nspawn_pid=""
init_pid=""
fixtures_pid=""
verify_tolerance_pid=""
mirror_pid=""
mounted_nspawn_tmpfs=false

cleanup() {
  set +e
  for job in "$fixtures_pid" "$verify_tolerance_pid" "$mirror_pid"; do [ -n "$job" ] && kill "$job" 2>/dev/null && wait "$job" 2>/dev/null; done
  if [ -n "$init_pid" ] && kill -0 "$init_pid" 2>/dev/null; then
    nsenter -t "$init_pid" -a systemctl poweroff >/dev/null 2>&1
  fi
  if [ -n "$nspawn_pid" ]; then
    for _ in $(seq 1 30); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$nspawn_pid" 2>/dev/null && kill -KILL "$nspawn_pid"
    wait "$nspawn_pid" 2>/dev/null
  fi
  mountpoint -q "$root" && umount "$root"
  $mounted_nspawn_tmpfs && umount /run/systemd/nspawn
  if [ "${DEPLOY_TEST_KEEP:-0}" = 1 ]; then echo "deploy-test: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- static checks ------------------------------------------------------------------------------------------
lint_out=$(scripts/deploy-test/lint.sh 2>&1) && lint_rc=0 || lint_rc=$?
printf '%s\n' "$lint_out"
check "lint: systemd-analyze verify, exposure <= 2.5, ansible-lint production profile" test "$lint_rc" -eq 0

# --- release and its bad twins ------------------------------------------------------------------------------
version=$(node -p "require('./apps/npu-worker/package.json').version")
release_version=$version
tarball="release/npu-worker-$version-linux-x64.tar.gz"
if [ "${DEPLOY_TEST_REUSE_RELEASE:-0}" = 1 ] && [ -f "$tarball" ]; then
  say "reusing $tarball"
else
  say "building the release (pnpm release)"
  corepack_pnpm=(pnpm)
  command -v pnpm >/dev/null || corepack_pnpm=(npx -y pnpm@10.34.9)
  "${corepack_pnpm[@]}" release
fi
releases="$work/releases"
mkdir -p "$releases"
cp "$tarball" "$tarball.sha256" "$releases/"
# The bad releases take a while to pack; they are not needed before the first deploy is checked.
say "building the bad releases (in the background)"
scripts/deploy-test/make-fixtures.sh "$tarball" "$releases" >"$work/fixtures.log" 2>&1 &
fixtures_pid=$!
scripts/deploy-test/verify-tolerance.sh >"$work/verify-tolerance.log" 2>&1 &
verify_tolerance_pid=$!

# --- container ----------------------------------------------------------------------------------------------
rootfs=$(scripts/deploy-test/rootfs.sh)
say "rootfs $rootfs"
# A throw-away overlay over the cached rootfs: every run starts from the same clean tree.
mkdir -p "$root" "$work/upper" "$work/overlay-work"
mount -t overlay overlay -o "lowerdir=$rootfs,upperdir=$work/upper,workdir=$work/overlay-work" "$root"

ssh-keygen -q -t ed25519 -N '' -f "$work/id_ed25519"
install -d -m 0700 "$root/root/.ssh"
install -m 0600 "$work/id_ed25519.pub" "$root/root/.ssh/authorized_keys"
cat >"$root/etc/ssh/sshd_config.d/deploy-test.conf" <<CONF
Port $SSH_PORT
ListenAddress 127.0.0.1
PermitRootLogin prohibit-password
CONF
chroot "$root" ssh-keygen -A >/dev/null
echo npu-deploy-test >"$root/etc/hostname"

# systemd-nspawn refuses a /run/systemd/nspawn that is not on tmpfs here.
if [ "$(stat -f -c %T /run/systemd/nspawn 2>/dev/null || true)" != tmpfs ]; then
  mkdir -p /run/systemd/nspawn
  mount -t tmpfs tmpfs /run/systemd/nspawn
  mounted_nspawn_tmpfs=true
fi
# No --private-network: the container shares the host's loopback, so its sshd and worker answer on 127.0.0.1.
setsid systemd-nspawn --register=no --keep-unit -q -b -D "$root" -M npu-deploy-test >"$work/boot.log" 2>&1 &
nspawn_pid=$!
# nspawn forks a short-lived helper before the container's init: wait for the child that is systemd itself.
for _ in $(seq 1 150); do
  init_pid=$(cat "/proc/$nspawn_pid/task/$nspawn_pid/children" 2>/dev/null | awk '{print $1}')
  [ -n "$init_pid" ] && [ "$(cat "/proc/$init_pid/comm" 2>/dev/null)" = systemd ] && break
  init_pid=""
  sleep 0.2
done
[ -n "$init_pid" ] || { cat "$work/boot.log"; echo "deploy-test: container did not start" >&2; exit 1; }
in_ct() { nsenter -t "$init_pid" -a "$@"; }
state=""
for _ in $(seq 1 120); do
  state=$(in_ct systemctl is-system-running 2>/dev/null || true)
  case "$state" in running | degraded) break ;; esac
  sleep 0.5
done
check "container boots systemd as PID 1 ($state)" test "$state" = running -o "$state" = degraded
ssh_opts=(-i "$work/id_ed25519" -p "$SSH_PORT" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
  -o LogLevel=ERROR -o BatchMode=yes)
for _ in $(seq 1 60); do ssh "${ssh_opts[@]}" root@127.0.0.1 true 2>/dev/null && break; sleep 0.5; done
check "sshd in the container answers on 127.0.0.1:$SSH_PORT" ssh "${ssh_opts[@]}" root@127.0.0.1 true
booted=$(date +%s)

# --- inventory: the test host (the only host this test ever connects to) --------------------------------------
token=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32)
cat >"$work/inventory.yml" <<INV
npu_workers:
  hosts:
    deploy-test:
      ansible_host: 127.0.0.1
      ansible_port: $SSH_PORT
      ansible_user: root
      ansible_ssh_private_key_file: $work/id_ed25519
      ansible_ssh_common_args: -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
      ansible_python_interpreter: /usr/bin/python3
  vars:
    npu_worker_release_dir: $releases
    # Loopback only: the container shares the host's network, and nothing else should reach the worker.
    npu_worker_host: 127.0.0.1
    npu_worker_port: $WORKER_PORT
    npu_worker_auth_token: $token
    # No NPU and no OpenVINO runtime here: the worker serves on ONNX Runtime/CPU and says degraded.
    npu_worker_allow_cpu_fallback: true
    # Test-only: /_test/freeze, to prove the watchdog.
    npu_worker_test_hooks: true
    npu_worker_watchdog_sec: $WATCHDOG_SEC
    npu_worker_start_timeout_sec: 20
    npu_worker_verify_port_timeout_sec: 15
    npu_worker_verify_health_timeout_sec: 90
INV

deploy() { # <version> <log name> [ansible-playbook args]: runs the playbook; its output goes to $work/<log>.log
  local v=$1 log=$2
  shift 2
  (cd ansible && ansible-playbook -i "$work/inventory.yml" playbooks/deploy-npu-worker.yml \
    -e "npu_worker_version=$v" "$@") >"$work/$log.log" 2>&1
}
recap() { grep -E '^deploy-test +:' "$work/$1.log" | tail -1; }
health_is() { # <version>: /health from the host is 200, npu-worker, that version, healthy or degraded
  curl -fsS "http://127.0.0.1:$WORKER_PORT/health" -o "$work/health.json" || return 1
  python3 - "$work/health.json" "$1" <<'PY'
import json, sys
h = json.load(open(sys.argv[1]))
ok = h.get("service") == "npu-worker" and h.get("version") == sys.argv[2] and h.get("status") in ("healthy", "degraded")
print(f"  /health: service={h.get('service')} version={h.get('version')} status={h.get('status')}")
sys.exit(0 if ok else 1)
PY
}
wait_health() { # <version> <seconds>
  local until=$(($(date +%s) + $2))
  while [ "$(date +%s)" -lt "$until" ]; do
    health_is "$1" >/dev/null 2>&1 && { health_is "$1"; return 0; }
    sleep 1
  done
  health_is "$1"
}
inference_correct() { # an inference from the host, compared with the release's expected output
  local fixture="$work/selftest.json"
  tar -xzOf "$tarball" "npu-worker-$release_version/share/selftest/mlp-infer.json" >"$fixture"
  python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["request"]))' "$fixture" >"$work/request.json"
  curl -fsS -H "Authorization: Bearer $token" -H 'content-type: application/json' --data-binary @"$work/request.json" \
    "http://127.0.0.1:$WORKER_PORT/v2/models/mlp/infer" -o "$work/answer.json" || return 1
  curl -fsS "http://127.0.0.1:$WORKER_PORT/health" -o "$work/health.json" || return 1
  python3 - "$fixture" "$work/answer.json" "$work/health.json" <<'PY'
import json, sys
f = json.load(open(sys.argv[1])); a = json.load(open(sys.argv[2]))["outputs"][0]
# The row of the device /health says serves the model, from the table the release's fixture carries.
device = next(m["device"] for m in json.load(open(sys.argv[3]))["models"] if m["name"] == f["model"])
precision = f["precision_of_device"].get(device.split(".")[0].upper(), f["precision_of_device"]["default"])
e, tol = f["expected"], f["tolerances"][precision]
bad = [i for i, (x, y) in enumerate(zip(a["data"], e["data"])) if abs(x - y) > tol["atol"] + tol["rtol"] * abs(y)]
ok = a["name"] == e["name"] and a["shape"] == e["shape"] and len(a["data"]) == len(e["data"]) and not bad
print(f"  inference: {a['name']} {a['shape']} on {device}, {len(bad)} of {len(e['data'])} numbers outside the {precision} tolerance")
sys.exit(0 if ok else 1)
PY
}
main_pid() { in_ct systemctl show -p MainPID --value npu-worker; }
current_release() { in_ct readlink /opt/npu-worker/current; }
logged() { grep -q -- "$2" "$work/$1.log"; } # <log name> <text>
quote() { # <log name> <pattern>: prints the first match, indented (nothing when none)
  { grep -o -- "$2" "$work/$1.log" || true; } | head -1 | cut -c1-400 | sed 's/^/  /'
}
openvino_error() { # what /health says about loading openvino-node
  curl -fsS "http://127.0.0.1:$WORKER_PORT/health" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["capabilities"]["openvino"]["error"])'
}
openvino_error_says() { openvino_error | grep -q -- "$1"; }
untouched() { # <log name> <main pid before>: the failed deploy never switched or restarted the release in service
  test "$(current_release)" = "/opt/npu-worker/releases/$version" && test "$(main_pid)" = "$2" && health_is "$version"
}

# --- first deploy -------------------------------------------------------------------------------------------
t=$(date +%s)
check "deploy $version succeeds" deploy "$version" deploy-1
say "  $(recap deploy-1) ($(($(date +%s) - t)) s)"
check "/health from the host: 200, npu-worker, $version, serving" health_is "$version"
check "inference from the host matches the release's expected output" inference_correct
check "the play held the answer to the CPU's FP32 row of the release's tolerance table" \
  logged deploy-1 'Inference self-test passed: mlp on CPU (onnxruntime), FP32 tolerance atol 0.0001 rtol 0.001'
check "the play reports the release's native runtime as not installed" \
  logged deploy-1 'openvino-node 2026.4.0: NOT installed'
check "unit is active under systemd" in_ct systemctl is-active --quiet npu-worker
check "worker runs as npu-worker, in the render group" \
  sh -c "[ \"\$(nsenter -t $init_pid -a ps -o user= -p \$(nsenter -t $init_pid -a systemctl show -p MainPID --value npu-worker))\" = npu-worker ] \
  && nsenter -t $init_pid -a id -nG npu-worker | grep -qw render"
check "systemd-analyze verify of the installed unit (real binary) is clean" \
  in_ct systemd-analyze verify /etc/systemd/system/npu-worker.service
exposure=$(in_ct systemd-analyze security npu-worker 2>/dev/null | sed -n 's/.*Overall exposure level for npu-worker.service: \([0-9.]*\).*/\1/p' || true)
say "  exposure of the running unit: ${exposure:-?}"
check "exposure of the running unit <= 2.5" awk -v e="${exposure:-99}" 'BEGIN { exit !(e <= 2.5) }'

# --- the NPU required on a host without one --------------------------------------------------------------------
pid=$(main_pid)
t=$(date +%s)
if deploy "$version" require-npu -e npu_worker_require_npu=true; then fail "deploy with npu_worker_require_npu fails"; else
  pass "deploy with npu_worker_require_npu fails"; fi
say "  $(recap require-npu) ($(($(date +%s) - t)) s)"
quote require-npu 'npu_worker_require_npu is true but[^"]*'
check "require_npu: it fails in preflight, naming /dev/accel" \
  sh -c "grep -q 'Fail when the NPU is required and missing' '$work/require-npu.log' \
  && grep -q '/dev/accel/accel\* is missing' '$work/require-npu.log'"
check "require_npu: $version keeps serving, not restarted" untouched require-npu "$pid"

# The NPU driver packages go through the same controller-side checks (installing one needs a real NPU host).
printf 'stand-in for an NPU driver package\n' >"$work/intel-driver-compiler-npu_stand-in_amd64.deb"
t=$(date +%s)
if deploy "$version" driver-badsum -e npu_worker_npu_driver_install=true -e "$(printf \
  '{"npu_worker_npu_driver_packages": [{"file": "%s", "sha256": "%s"}]}' \
  "$work/intel-driver-compiler-npu_stand-in_amd64.deb" "$(printf 'another file' | sha256sum | cut -d' ' -f1)")"; then
  fail "driver package with a wrong sha256: the deploy fails"; else pass "driver package with a wrong sha256: the deploy fails"; fi
say "  $(recap driver-badsum) ($(($(date +%s) - t)) s)"
check "driver package with a wrong sha256: refused on the controller, naming the checksum" \
  sh -c "grep -q 'driver intel-driver-compiler-npu_stand-in_amd64.deb: checksum mismatch' '$work/driver-badsum.log' \
  && grep -q 'Nothing was changed on the host' '$work/driver-badsum.log'"
check "driver package with a wrong sha256: $version keeps serving, not restarted" untouched driver-badsum "$pid"

# --- npu-worker doctor ------------------------------------------------------------------------------------------
doctor() { in_ct runuser -u npu-worker -- /opt/npu-worker/current/bin/npu-worker doctor --config /etc/npu-worker/config.yaml "$@"; }
check "the play printed npu-worker doctor's report: no NPU, /dev/accel missing" \
  sh -c "sed -n \"/Print the doctor's report/,/^\\\$/p\" '$work/deploy-1.log' | grep -q 'no NPU: /dev/accel missing'"
{ sed -n "/Print the doctor's report/,/^\$/p" "$work/deploy-1.log" | grep -E '(WARN|FAIL|OK|SKIP) ' \
  | sed 's/^ *"\(.*\)",\{0,1\}$/  doctor: \1/' | head -12; } || true
check "the play's doctor ran as npu-worker, in the render group, and passed" \
  sh -c "grep -q 'running as npu-worker (uid [0-9]*, groups: npu-worker, render)' '$work/deploy-1.log' \
  && ! grep -q 'npu-worker doctor exited' '$work/deploy-1.log'"
doctor --require-npu --json >"$work/doctor-npu.json" 2>"$work/doctor-npu.err" && rc=0 || rc=$?
check "doctor --require-npu --json: exit 1 (rc $rc), not ready, its problems naming /dev/accel" python3 - "$rc" "$work/doctor-npu.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[2]))
print(f"  doctor problems: {report['problems'][:2]}")
sys.exit(0 if sys.argv[1] == "1" and not report["ready"] and any("/dev/accel" in p for p in report["problems"]) else 1)
PY

t=$(date +%s)
wait "$fixtures_pid" && fixtures_rc=0 || fixtures_rc=$?
fixtures_pid=""
check "bad releases and stand-in runtime archives built (waited $(($(date +%s) - t)) s)" test "$fixtures_rc" -eq 0
[ "$fixtures_rc" -eq 0 ] || cat "$work/fixtures.log"
wait "$verify_tolerance_pid" && verify_tolerance_rc=0 || verify_tolerance_rc=$?
verify_tolerance_pid=""
sed 's/^/  /' "$work/verify-tolerance.log"
check "verify against stand-in workers: CPU held to FP32, NPU to FP16, wrong answers refused at every row" \
  test "$verify_tolerance_rc" -eq 0

# --- bad releases: each must fail the play, roll back, and leave $version answering ------------------------------
bad_release() { # <fixture suffix> <text the failure must mention> [<release it must roll back to>]
  local v="$version-$1" back=${3:-$version}
  t=$(date +%s)
  if deploy "$v" "deploy-$1"; then fail "deploy of $v fails"; else pass "deploy of $v fails"; fi
  say "  $(recap "deploy-$1") ($(($(date +%s) - t)) s)"
  quote "deploy-$1" 'Deploy of npu-worker [^"]*'
  check "$v: the failure names the cause ($2) and the rollback to $back" \
    sh -c "grep -q 'Rolled back to $back, which verified' '$work/deploy-$1.log' && grep -q -- '$2' '$work/deploy-$1.log'"
  check "$v: current points back at $back" test "$(current_release)" = "/opt/npu-worker/releases/$back"
  check "$v: $back answers /health after the rollback" health_is "$back"
}
bad_release never-ready "Restart the worker"
bad_release placeholder "never bound its port"
bad_release wrongversion "version=$version"
bad_release wrongservice "service=legacy-npu-service"
check "inference still correct after the rollbacks" inference_correct

# --- the OpenVINO runtime archive ---------------------------------------------------------------------------------
# A loopback HTTP mirror of the storage host's layout, serving the stand-in under the path of the real address.
python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$releases/runtime/mirror" >"$work/mirror.log" 2>&1 &
mirror_pid=$!
mirror_port=""
for _ in $(seq 1 50); do
  mirror_port=$(sed -n 's/.* port \([0-9][0-9]*\).*/\1/p' "$work/mirror.log" | head -1)
  [ -n "$mirror_port" ] && break
  sleep 0.1
done
url_path=$(cat "$releases/runtime/url-path")
runtime_name=$(basename "$url_path")
runtime_url="http://127.0.0.1:$mirror_port/$url_path"
runtime_sha256=$(sha256sum "$releases/runtime/mirror/$url_path" | cut -d' ' -f1)
corrupt="$releases/runtime/corrupt/$runtime_name"
check "loopback mirror serves the stand-in runtime ($runtime_url)" curl -fsS -o /dev/null "$runtime_url"
next="$version-next"
runtime_vars() { # <url> <sha256>
  printf '{"npu_worker_openvino_runtime_url": "%s", "npu_worker_openvino_runtime_sha256": "%s"}' "$1" "$2"
}

pid=$(main_pid)
t=$(date +%s)
wrong_sha256=$(printf 'not the archive' | sha256sum | cut -d' ' -f1)
if deploy "$next" runtime-badsum -e "$(runtime_vars "$runtime_url" "$wrong_sha256")"; then
  fail "runtime with a wrong sha256: the deploy fails"; else pass "runtime with a wrong sha256: the deploy fails"; fi
say "  $(recap runtime-badsum) ($(($(date +%s) - t)) s)"
quote runtime-badsum 'runtimes openvino-node from [^"]*'
check "runtime with a wrong sha256: refused on the controller, naming the checksum, before the host changes" \
  sh -c "grep -q 'did not match' '$work/runtime-badsum.log' && grep -q 'Nothing was changed on the host' '$work/runtime-badsum.log'"
check "runtime with a wrong sha256: $version keeps serving, not restarted" untouched runtime-badsum "$pid"

t=$(date +%s)
check "deploy $next with the runtime from the mirror succeeds" deploy "$next" runtime-1 -e "$(runtime_vars "$runtime_url" "$runtime_sha256")"
say "  $(recap runtime-1) ($(($(date +%s) - t)) s)"
addon="app/node_modules/openvino-node/bin/ov_node_addon.node"
# Cleanup (npu_worker_keep_releases 3, never the current or the previous): the two oldest bad releases go, with
# their tarballs.
check "cleanup removed the oldest releases and their tarballs" sh -c "\
  [ ! -e '$root/opt/npu-worker/releases/$version-never-ready' ] && [ ! -e '$root/opt/npu-worker/releases/$version-placeholder' ] \
  && [ ! -e '$root/opt/npu-worker/archives/npu-worker-$version-never-ready-linux-x64.tar.gz' ] \
  && [ -e '$root/opt/npu-worker/releases/$version' ]"
check "the runtime is unpacked inside $next, where openvino-node loads its addon" test -f "$root/opt/npu-worker/releases/$next/$addon"
check "release $version has no runtime of its own (nothing was shared or moved)" test ! -e "$root/opt/npu-worker/releases/$version/$addon"
check "the play reports the runtime installed from $runtime_name" logged runtime-1 "openvino-node 2026.4.0: installed from $runtime_name"
ov_error=$(openvino_error || true)
say "  /health capabilities.openvino.error: $ov_error"
check "/health shows the loader's new error (the stand-in is no ELF addon), not a missing module" \
  openvino_error_says 'invalid ELF header'
t=$(date +%s)
# Idempotence, runtime included. More releases kept: the previous release is now $next itself, and the cleanup
# would take $version (a change).
check "second deploy of $next (same release, same runtime) succeeds" deploy "$next" runtime-2 \
  -e "$(runtime_vars "$runtime_url" "$runtime_sha256")" -e npu_worker_keep_releases=10
say "  $(recap runtime-2) ($(($(date +%s) - t)) s)"
check "second deploy reports changed=0" sh -c "grep -E '^deploy-test +:' '$work/runtime-2.log' | grep -q 'changed=0 .*failed=0'"

# A corrupt archive for the release in service (its checksum right, so only tar can tell): refused before anything
# is swapped in, and the runtime that release already has stays as it was.
pid=$(main_pid)
t=$(date +%s)
if deploy "$next" runtime-corrupt -e "npu_worker_openvino_runtime_archive=$corrupt" \
  -e "npu_worker_openvino_runtime_sha256=$(sha256sum "$corrupt" | cut -d' ' -f1)"; then
  fail "corrupt runtime archive (its checksum right): the deploy fails"; else
  pass "corrupt runtime archive (its checksum right): the deploy fails"; fi
say "  $(recap runtime-corrupt) ($(($(date +%s) - t)) s)"
quote runtime-corrupt 'Deploy of npu-worker [^"]*'
check "corrupt runtime archive: refused before the switch, naming the cause" \
  sh -c "grep -q 'FAILED before the switch' '$work/runtime-corrupt.log' && grep -q 'not a readable .tar.gz' '$work/runtime-corrupt.log'"
check "corrupt runtime archive: $next keeps serving, not restarted, its runtime intact" sh -c "\
  [ \"\$(nsenter -t $init_pid -a systemctl show -p MainPID --value npu-worker)\" = '$pid' ] \
  && test -f '$root/opt/npu-worker/releases/$next/$addon' \
  && grep -q '$runtime_sha256' '$root/opt/npu-worker/releases/$next/app/node_modules/openvino-node/bin/.npu-fleet-runtime.json'"
check "corrupt runtime archive: /health still shows the installed runtime's loader error" openvino_error_says 'invalid ELF header'

bad_release wronganswer "The inference answer is wrong" "$next"
check "after the rollback, $next still has its own runtime" test -f "$root/opt/npu-worker/releases/$next/$addon"
check "after the rollback, /health shows that runtime's loader error again" openvino_error_says 'invalid ELF header'
version=$next # the process faults below run on the release now in service

# --- process faults -------------------------------------------------------------------------------------------
pid=$(main_pid)
in_ct kill -9 "$pid"
t=$(date +%s)
for _ in $(seq 1 60); do
  new=$(main_pid)
  [ "$new" != 0 ] && [ "$new" != "$pid" ] && break
  sleep 0.5
done
check "kill -9: systemd starts a new worker (pid $pid -> $new)" test "$new" != 0 -a "$new" != "$pid"
check "kill -9: the new worker is healthy" wait_health "$version" 60
say "  recovered in $(($(date +%s) - t)) s"

pid=$(main_pid)
curl -fsS -H "Authorization: Bearer $token" -H 'content-type: application/json' \
  -d "{\"ms\": $((WATCHDOG_SEC * 4 * 1000))}" "http://127.0.0.1:$WORKER_PORT/_test/freeze" >/dev/null
t=$(date +%s)
for _ in $(seq 1 120); do
  new=$(main_pid)
  [ "$new" != 0 ] && [ "$new" != "$pid" ] && break
  sleep 0.5
done
check "frozen event loop: the watchdog replaces the worker (pid $pid -> $new)" test "$new" != 0 -a "$new" != "$pid"
check "frozen event loop: the journal says watchdog timeout" \
  sh -c "nsenter -t $init_pid -a journalctl -u npu-worker --no-pager | grep -qi 'watchdog timeout'"
check "frozen event loop: the new worker is healthy" wait_health "$version" 60
say "  recovered in $(($(date +%s) - t)) s"

finished=$(date +%s)
say "timings: container ready $((booted - started)) s after start; whole test $((finished - started)) s"
echo "deploy-test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
