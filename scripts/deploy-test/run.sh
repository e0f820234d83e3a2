#!/usr/bin/env bash
# The deploy test: the real release, deployed by the real playbook over SSH to two Debian containers (two hosts
# of one fleet) booted with systemd as PID 1 (systemd-nspawn), then checked from the host. Proves, on a real
# systemd:
#   - a deploy serves /health and a correct inference; a second run (a runtime installed) changes nothing;
#   - a release that never starts, one whose /health reports the wrong version, and one that reports the wrong
#     service, each fail the play, roll back, and leave the previous version answering (two such deploys at a
#     time, one on each host: their playbook runs are independent);
#   - a rolling upgrade of the fleet 1.0.0 -> 1.1.0, one host at a time (drain, switch, restart, verify), under a
#     steady stream of tasks from a real @npu-fleet/pool on the host: 0 failed tasks (the retries it took are
#     reported); a roll to a placeholder that tells systemd READY=1 and never binds stops at the first host,
#     which rolls back, the second host left untouched on 1.1.0, again with 0 failed tasks; the fleet summary;
#   - a release whose model answers wrong (other weights) fails the inference self-test and rolls back; the
#     verify step against stand-in NPU workers (verify-tolerance.sh) picks the FP16 row there and still refuses
#     wrong answers;
#   - the OpenVINO runtime archive, fetched from a loopback HTTP mirror with its sha256, is unpacked inside the
#     release where openvino-node loads it (a stand-in: /health shows the loader's new error); a bad checksum
#     and a corrupt archive are refused before the switch, with the release in service never restarted; a
#     rollback returns to a release with its own runtime intact;
#   - `npu-worker doctor` runs in the play (its "no NPU" report printed) and by hand as the service user;
#     `npu_worker_require_npu: true` fails the deploy in preflight, naming /dev/accel;
#   - kill -9 of the worker: systemd restarts it healthy; a frozen event loop: the watchdog restarts it; a worker
#     that keeps dying hits the start-rate limit (StartLimitBurst), and npu-worker-failure.service says so;
#   - the unit verifies clean and its security exposure, inside the container, is reported.
# Both containers share the host's loopback (each sshd and worker on its own port). Root on Debian. Standalone
# and idempotent; the containers and their mounts are removed on exit.
# Environment: DEPLOY_TEST_SSH_PORT (42222; the second host takes the next port), DEPLOY_TEST_WORKER_PORT
# (48081; likewise), DEPLOY_TEST_KEEP=1 keeps the work folder, DEPLOY_TEST_REUSE_RELEASE=1 skips `pnpm release`
# when a tarball exists, NPU_FLEET_ROOTFS_CACHE (/var/cache/npu-fleet).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
SSH_PORT="${DEPLOY_TEST_SSH_PORT:-42222}"
WORKER_PORT="${DEPLOY_TEST_WORKER_PORT:-48081}"
SSH_PORT_B=$((SSH_PORT + 1))
WORKER_PORT_B=$((WORKER_PORT + 1))
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

for port in "$SSH_PORT" "$SSH_PORT_B" "$WORKER_PORT" "$WORKER_PORT_B"; do
  if ss -Hltn "sport = :$port" | grep -q .; then
    echo "deploy-test: port $port is taken on this host; set DEPLOY_TEST_SSH_PORT / DEPLOY_TEST_WORKER_PORT" >&2
    exit 1
  fi
done

work=$(mktemp -d /tmp/npu-deploy-test.XXXXXX)
# Two hosts of one fleet: a runs every single-host case, both take part in the rolling upgrades.
hosts=(a b)
declare -A ssh_port=([a]=$SSH_PORT [b]=$SSH_PORT_B) worker_port=([a]=$WORKER_PORT [b]=$WORKER_PORT_B)
declare -A nspawn_pid=() init_pid=()
fixtures_pid=""
verify_tolerance_pid=""
mirror_pid=""
load_pid=""
mounted_nspawn_tmpfs=false

cleanup() {
  set +e
  for job in "$fixtures_pid" "$verify_tolerance_pid" "$mirror_pid" "$load_pid" ${bad_release_jobs[@]+"${bad_release_jobs[@]}"}; do
    [ -n "$job" ] && kill "$job" 2>/dev/null && wait "$job" 2>/dev/null
  done
  for h in "${hosts[@]}"; do
    pid=${init_pid[$h]:-}
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && nsenter -t "$pid" -a systemctl poweroff >/dev/null 2>&1
  done
  for h in "${hosts[@]}"; do
    pid=${nspawn_pid[$h]:-}
    [ -n "$pid" ] || continue
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    wait "$pid" 2>/dev/null
  done
  for h in "${hosts[@]}"; do mountpoint -q "$work/$h/root" && umount "$work/$h/root"; done
  for h in "${hosts[@]}"; do # the containers' own cgroups, deepest first (empty now)
    declare -F container_cgroups >/dev/null || break
    for cg in $(container_cgroups "$h"); do
      [ -d "$cg" ] && find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
    done
  done
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
# The rolling upgrade goes to the next minor version (1.0.0 -> 1.1.0): the real release, renumbered.
next=$(node -p "const [a, b] = process.argv[1].split('-')[0].split('.').map(Number); \`\${a}.\${b + 1}.0\`" "$version")
# The test's own release, apart from release/'s: the real build (scripts/release/build-release.sh) embedding only the
# mlp model, so that each of the many tarballs below is smaller to pack, copy and unpack, and each worker and doctor
# run is faster. The worker's code paths are the same; the full model set is the worker suite's business.
test_release_dir=release/deploy-test
tarball="$test_release_dir/npu-worker-$version-linux-x64.tar.gz"
if [ "${DEPLOY_TEST_REUSE_RELEASE:-0}" = 1 ] && [ -f "$tarball" ]; then
  say "reusing $tarball"
else
  say "building the release (pnpm release --models mlp --out $test_release_dir)"
  corepack_pnpm=(pnpm)
  command -v pnpm >/dev/null || corepack_pnpm=(npx -y pnpm@10.34.9)
  "${corepack_pnpm[@]}" release --models mlp --out "$test_release_dir"
fi
say "  $(du -h "$tarball" | cut -f1) $tarball"
releases="$work/releases"
mkdir -p "$releases"
cp "$tarball" "$tarball.sha256" "$releases/"
# The bad releases take a while to pack; they are not needed before the first deploy is checked.
say "building the bad releases and $next (in the background)"
scripts/deploy-test/make-fixtures.sh "$tarball" "$releases" "$next" >"$work/fixtures.log" 2>&1 &
fixtures_pid=$!
scripts/deploy-test/verify-tolerance.sh >"$work/verify-tolerance.log" 2>&1 &
verify_tolerance_pid=$!
# The release's inference self-test: what the host-side checks and the fleet load send and expect.
fixture="$work/selftest.json"
tar -xzOf "$tarball" "npu-worker-$release_version/share/selftest/mlp-infer.json" >"$fixture"

# --- containers ---------------------------------------------------------------------------------------------
rootfs=$(scripts/deploy-test/rootfs.sh)
say "rootfs $rootfs"
ssh-keygen -q -t ed25519 -N '' -f "$work/id_ed25519"
ssh_opts=(-i "$work/id_ed25519" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
  -o BatchMode=yes)
# systemd-nspawn refuses a /run/systemd/nspawn that is not on tmpfs here.
if [ "$(stat -f -c %T /run/systemd/nspawn 2>/dev/null || true)" != tmpfs ]; then
  mkdir -p /run/systemd/nspawn
  mount -t tmpfs tmpfs /run/systemd/nspawn
  mounted_nspawn_tmpfs=true
fi

container_cgroups() { # <host>: the folders of that container's own cgroup, one per hierarchy systemd uses
  local h=$1 path
  if [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then
    path=$(sed -n 's/^0:://p' /proc/self/cgroup)
    echo "/sys/fs/cgroup${path%/}/npu-deploy-$h"
  else # hybrid: systemd's own v1 hierarchy, and the unified one when mounted
    path=$(sed -n 's/^[0-9]*:name=systemd://p' /proc/self/cgroup)
    echo "/sys/fs/cgroup/systemd${path%/}/npu-deploy-$h"
    if [ -d /sys/fs/cgroup/unified ]; then
      path=$(sed -n 's/^0:://p' /proc/self/cgroup)
      echo "/sys/fs/cgroup/unified${path%/}/npu-deploy-$h"
    fi
  fi
}
boot() { # <host>: a throw-away overlay over the cached rootfs (each host, each run, starts from the same clean tree)
  local h=$1 dir="$work/$1" r="$work/$1/root"
  mkdir -p "$r" "$dir/upper" "$dir/overlay-work"
  mount -t overlay overlay -o "lowerdir=$rootfs,upperdir=$dir/upper,workdir=$dir/overlay-work" "$r"
  install -d -m 0700 "$r/root/.ssh"
  install -m 0600 "$work/id_ed25519.pub" "$r/root/.ssh/authorized_keys"
  printf 'Port %s\nListenAddress 127.0.0.1\nPermitRootLogin prohibit-password\n' "${ssh_port[$h]}" \
    >"$r/etc/ssh/sshd_config.d/deploy-test.conf"
  chroot "$r" ssh-keygen -A >/dev/null
  echo "npu-deploy-$h" >"$r/etc/hostname"
  # Each container in a cgroup of its own. With --keep-unit, nspawn puts the container under the cgroup it was
  # started in (<cgroup>/payload): two started from one cgroup share one tree, where each one's systemd kills and
  # removes the other's npu-worker.service cgroup (219/CGROUP at a start, "Failed to kill control group").
  local cgroups=()
  mapfile -t cgroups < <(container_cgroups "$h")
  for cg in ${cgroups[@]+"${cgroups[@]}"}; do mkdir -p "$cg"; done
  # No --private-network: the container shares the host's loopback, so its sshd and worker answer on 127.0.0.1.
  setsid sh -c 'for cg in "$@"; do [ "$cg" = -- ] && break; echo $$ >"$cg/cgroup.procs"; done
    while [ "$1" != -- ]; do shift; done; shift; exec systemd-nspawn "$@"' sh ${cgroups[@]+"${cgroups[@]}"} -- \
    --register=no --keep-unit -q -b -D "$r" -M "npu-deploy-$h" >"$dir/boot.log" 2>&1 &
  nspawn_pid[$h]=$!
}
wait_booted() { # <host>: waits for the container's systemd (PID 1) and its sshd
  local h=$1 pid="" state=""
  # nspawn forks a short-lived helper before the container's init: wait for the child that is systemd itself.
  for _ in $(seq 1 150); do
    pid=$(cat "/proc/${nspawn_pid[$h]}/task/${nspawn_pid[$h]}/children" 2>/dev/null | awk '{print $1}')
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = systemd ] && break
    pid=""
    sleep 0.2
  done
  [ -n "$pid" ] || { cat "$work/$h/boot.log"; echo "deploy-test: container $h did not start" >&2; exit 1; }
  init_pid[$h]=$pid
  for _ in $(seq 1 120); do
    state=$(nsenter -t "$pid" -a systemctl is-system-running 2>/dev/null || true)
    case "$state" in running | degraded) break ;; esac
    sleep 0.5
  done
  check "host $h: the container boots systemd as PID 1 ($state)" test "$state" = running -o "$state" = degraded
  for _ in $(seq 1 60); do ssh "${ssh_opts[@]}" -p "${ssh_port[$h]}" root@127.0.0.1 true 2>/dev/null && break; sleep 0.5; done
  check "host $h: sshd in the container answers on 127.0.0.1:${ssh_port[$h]}" \
    ssh "${ssh_opts[@]}" -p "${ssh_port[$h]}" root@127.0.0.1 true
}
for h in "${hosts[@]}"; do boot "$h"; done
for h in "${hosts[@]}"; do wait_booted "$h"; done
booted=$(date +%s)
on() { local h=$1; shift; nsenter -t "${init_pid[$h]}" -a "$@"; } # <host> <command...>: inside that container
in_ct() { on a "$@"; }
root="$work/a/root"

# --- inventory: the test hosts (the only hosts this test ever connects to) ------------------------------------
token=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32)
cat >"$work/inventory.yml" <<INV
npu_workers:
  hosts:
    deploy-a:
      ansible_port: ${ssh_port[a]}
      npu_worker_port: ${worker_port[a]}
    deploy-b:
      ansible_port: ${ssh_port[b]}
      npu_worker_port: ${worker_port[b]}
  vars:
    ansible_host: 127.0.0.1
    ansible_user: root
    ansible_ssh_private_key_file: $work/id_ed25519
    ansible_ssh_common_args: -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
    ansible_python_interpreter: /usr/bin/python3
    npu_worker_release_dir: $releases
    # Loopback only: the containers share the host's network, and nothing else should reach the workers.
    npu_worker_host: 127.0.0.1
    npu_worker_auth_token: $token
    # No NPU and no OpenVINO runtime here: the worker serves on ONNX Runtime/CPU and says degraded.
    npu_worker_allow_cpu_fallback: true
    # Test-only: /_test/freeze, to prove the watchdog.
    npu_worker_test_hooks: true
    npu_worker_watchdog_sec: $WATCHDOG_SEC
    # A real worker binds its port within a few seconds here; only the release that never does waits this out.
    npu_worker_start_timeout_sec: 12
    # Type=notify: a start returns only after the worker's READY=1, sent once the port is bound, so a real worker
    # is listening before the wait begins; only the placeholder that lies READY=1 waits this out.
    npu_worker_verify_port_timeout_sec: 5
    npu_worker_verify_health_timeout_sec: 90
    # The fleet load's pool checks health every 0.5 s: the drain delay and the pause between hosts follow (2 s).
    npu_worker_client_health_interval_sec: 0.5
INV

play() { # <version> <log name> [ansible-playbook args]: the playbook on the fleet; its output goes to $work/<log>.log
  local v=$1 log=$2 began rc
  shift 2
  began=$(date +%s)
  (cd ansible && ansible-playbook -i "$work/inventory.yml" playbooks/deploy-npu-worker.yml \
    -e "npu_worker_version=$v" "$@") >"$work/$log.log" 2>&1 && rc=0 || rc=$?
  echo "$log $(($(date +%s) - began))" >>"$work/play-times.txt"
  return "$rc"
}
deploy() { # <version> <log name> [ansible-playbook args]: the playbook on host a alone
  local v=$1 log=$2
  shift 2
  play "$v" "$log" --limit deploy-a "$@"
}
recap() { grep -E "^deploy-${2:-a} +:" "$work/$1.log" | tail -1; } # <log name> [host]
health_is() { # <version> [host]: /health from the host is 200, npu-worker, that version, healthy or degraded
  curl -fsS "http://127.0.0.1:${worker_port[${2:-a}]}/health" -o "$work/health.json" || return 1
  python3 - "$work/health.json" "$1" "${2:-a}" <<'PY'
import json, sys
h = json.load(open(sys.argv[1]))
ok = h.get("service") == "npu-worker" and h.get("version") == sys.argv[2] and h.get("status") in ("healthy", "degraded")
print(f"  host {sys.argv[3]} /health: service={h.get('service')} version={h.get('version')} status={h.get('status')}")
sys.exit(0 if ok else 1)
PY
}
thread_priority_lowered() { # host a's /health agrees with the kernel: threads at nice 10, can_restore as RLIMIT_NICE says
  curl -fsS "http://127.0.0.1:${worker_port[a]}/health" -o "$work/health.json" || return 1
  # LimitNICE=+0 is RLIMIT_NICE 20 (nice 0 allowed). A machine whose own hard limit is lower, without
  # CAP_SYS_RESOURCE (this build machine: 0), cannot grant it to the container, and /health must then say so.
  local rlimit
  rlimit=$(nsenter -t "${init_pid[a]}" -a sh -c 'p=$(systemctl show -p MainPID --value npu-worker); \
    awk "/^Max nice priority/ { print \$4 }" /proc/$p/limits') || return 1
  python3 - "$work/health.json" "$rlimit" <<'PY'
import json, sys
t = json.load(open(sys.argv[1])).get("thread_priority") or {}
rlimit = int(sys.argv[2])
got = (t.get("state"), t.get("niceness"), t.get("can_restore"), t.get("refused_starts"))
print(f"  thread_priority: {got}; the service's RLIMIT_NICE: {rlimit} ({'allows' if rlimit >= 20 else 'does not allow'} nice 0)")
if rlimit < 20:
    print("  (the unit asks LimitNICE=+0; this machine's own RLIMIT_NICE hard limit is lower and it has no CAP_SYS_RESOURCE)")
sys.exit(0 if got == ("lowered", 10, rlimit >= 20, 0) else 1)
PY
}
wait_health() { # <version> <seconds> [host]
  local until=$(($(date +%s) + $2))
  while [ "$(date +%s)" -lt "$until" ]; do
    health_is "$1" "${3:-a}" >/dev/null 2>&1 && { health_is "$1" "${3:-a}"; return 0; }
    sleep 1
  done
  health_is "$1" "${3:-a}"
}
inference_correct() { # an inference from the host, compared with the release's expected output
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
main_pid() { on "${1:-a}" systemctl show -p MainPID --value npu-worker; } # [host]
current_release() { on "${1:-a}" readlink /opt/npu-worker/current; }   # [host]
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

# --- first deploy: both hosts at once ------------------------------------------------------------------------
t=$(date +%s)
check "deploy $version to both hosts (2 at a time) succeeds" play "$version" deploy-1 -e npu_worker_serial=2
say "  $(recap deploy-1 a) ($(($(date +%s) - t)) s)"
say "  $(recap deploy-1 b)"
check "/health from the host: 200, npu-worker, $version, serving (host a)" health_is "$version"
check "/health from the host: 200, npu-worker, $version, serving (host b)" health_is "$version" b
check "the fleet summary lists both hosts: version, status, device, outcome" sh -c "\
  grep -q 'deploy-a $version degraded CPU deployed $version' '$work/deploy-1.log' \
  && grep -q 'deploy-b $version degraded CPU deployed $version' '$work/deploy-1.log'"
check "inference from the host matches the release's expected output" inference_correct
check "the play held the answer to the CPU's FP32 row of the release's tolerance table" \
  logged deploy-1 'Inference self-test passed: mlp on CPU (onnxruntime), FP32 tolerance atol 0.0001 rtol 0.001'
check "the play reports the release's native runtime as not installed" \
  logged deploy-1 'openvino-node 2026.4.0: NOT installed'
check "unit is active under systemd" in_ct systemctl is-active --quiet npu-worker
check "worker runs as npu-worker, in the render group" \
  sh -c "[ \"\$(nsenter -t ${init_pid[a]} -a ps -o user= -p \$(nsenter -t ${init_pid[a]} -a systemctl show -p MainPID --value npu-worker))\" = npu-worker ] \
  && nsenter -t ${init_pid[a]} -a id -nG npu-worker | grep -qw render"
check "the worker's inference threads run at nice 10 under the unit's filters, its event loop at 0" \
  nsenter -t "${init_pid[a]}" -a sh -c 'p=$(systemctl show -p MainPID --value npu-worker); \
    n=$(for t in /proc/$p/task/*; do sed "s/.*) //" "$t/stat" | cut -d" " -f17; done | sort -un | tr "\n" " "); \
    [ "$(sed "s/.*) //" /proc/$p/stat | cut -d" " -f17)" = 0 ] && [ "$n" = "0 10 " ]'
check "/health says so too: thread_priority lowered to nice 10, can_restore exactly when RLIMIT_NICE allows nice 0" \
  thread_priority_lowered
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
check "bad releases, $next and stand-in runtime archives built (waited $(($(date +%s) - t)) s)" test "$fixtures_rc" -eq 0
[ "$fixtures_rc" -eq 0 ] || cat "$work/fixtures.log"
wait "$verify_tolerance_pid" && verify_tolerance_rc=0 || verify_tolerance_rc=$?
verify_tolerance_pid=""
sed 's/^/  /' "$work/verify-tolerance.log"
check "verify against stand-in workers: CPU held to FP32, NPU to FP16, wrong answers refused at every row" \
  test "$verify_tolerance_rc" -eq 0

# --- bad releases: each must fail the play, roll back, and leave $version answering ------------------------------
bad_release_jobs=()
bad_release_start() { # <fixture suffix> <host>: deploys that bad release to the host alone, in the background
  local v="$release_version-$1"
  rm -f "$work/deploy-$1.rc"
  (play "$v" "deploy-$1" --limit "deploy-$2" && echo 0 >"$work/deploy-$1.rc" || echo 1 >"$work/deploy-$1.rc") &
  bad_release_jobs+=($!)
}
bad_release_wait() { # waits for the bad releases started (never for the test's other background jobs)
  wait "${bad_release_jobs[@]}" || true
  bad_release_jobs=()
}
bad_release_check() { # <fixture suffix> <text the failure must mention> <host> <release it must roll back to>
  local v="$release_version-$1" h=$3 back=$4
  if [ "$(cat "$work/deploy-$1.rc" 2>/dev/null)" = 1 ]; then pass "deploy of $v to host $h fails"; else
    fail "deploy of $v to host $h fails"; fi
  say "  $(recap "deploy-$1" "$h") ($(awk -v l="deploy-$1" '$1 == l {print $2}' "$work/play-times.txt") s)"
  quote "deploy-$1" 'Deploy of npu-worker [^"]*'
  check "$v: the failure names the cause ($2) and the rollback to $back" \
    sh -c "grep -q 'Rolled back to $back, which verified' '$work/deploy-$1.log' && grep -q -- '$2' '$work/deploy-$1.log'"
  check "$v: current points back at $back (host $h)" test "$(current_release "$h")" = "/opt/npu-worker/releases/$back"
  check "$v: $back answers /health after the rollback (host $h)" health_is "$back" "$h"
}
# Two bad releases at a time, one on each host (their playbook runs are independent; the hosts are not a roll).
bad_release_start never-ready a
bad_release_start wrongversion b
bad_release_wait
bad_release_check never-ready "Restart the worker" a "$version"
bad_release_check wrongversion "version=$version" b "$version"
# The placeholder that binds nothing (its READY=1 a lie) is the rolling upgrade's bad release, below; the release
# that names another service goes to host b later, next to the one with wrong answers on host a.
check "inference still correct after the rollbacks" inference_correct

# --- rolling upgrades under a steady stream of tasks ---------------------------------------------------------------
# A real @npu-fleet/pool on the host (fleet-load.mjs, the built package) sends 40 inferences a second to both
# hosts for the whole roll; every answer is checked against the release's expected output.
load_start() { # <name>: starts the stream; returns once the pool has both hosts healthy
  node scripts/deploy-test/fleet-load.mjs --worker "deploy-a=http://127.0.0.1:${worker_port[a]}" \
    --worker "deploy-b=http://127.0.0.1:${worker_port[b]}" --token "$token" --request "$fixture" \
    --out "$work/$1.json" >"$work/$1.log" 2>&1 &
  load_pid=$!
  for _ in $(seq 1 100); do grep -q 'healthy=2/2' "$work/$1.log" 2>/dev/null && break; sleep 0.2; done
}
load_stop() { # <name>: stops the stream, lets its tasks finish, prints what the pool saw
  kill -TERM "$load_pid" 2>/dev/null
  wait "$load_pid" || true
  load_pid=""
  python3 - "$work/$1.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
workers = ", ".join(f"{w}: {v.get('succeeded', 0)} answers, {v.get('failed_attempts', 0)} failed attempts, versions {'/'.join(s['versions_seen'].get(w, []))}"
                    for w, v in sorted(s["by_worker"].items()))
print(f"  pool: {s['tasks']} tasks, {s['succeeded']} succeeded, {s['failed']} failed {s['failures_by_code'] or ''}; "
      f"{s['retries']} retries ({s['retries_denied_by_budget']} denied by the budget); {workers}")
for f in s["first_failures"][:3]: print(f"  pool failure: {f}")
for w in s["pool_warnings"]: print(f"  pool: {w.get('worker')}: {w.get('msg')}: {w.get('reason', '')}")
PY
}
load_clean() { # <name>: the stream ran, and no task failed or got a wrong answer
  python3 -c 'import json, sys; s = json.load(open(sys.argv[1])); sys.exit(0 if s["tasks"] > 100 and s["failed"] == 0 else 1)' \
    "$work/$1.json"
}
pool_saw() { # <name> <reason> <worker id...>: the pool logged each of these workers down for that reason
  python3 -c 'import json, sys; s = json.load(open(sys.argv[1])); sys.exit(0 if all(any(w.get("worker") == h
    and sys.argv[2] in str(w.get("reason")) for w in s["pool_warnings"]) for h in sys.argv[3:]) else 1)' "$work/$1.json" "${@:2}"
}
worker_times() { # <host>: "<ms> <worker_version> <msg>" for each of the worker's log lines in the journal
  on "$1" journalctl -u npu-worker -o cat --no-pager | python3 -c '
import json, sys
for line in sys.stdin:
    try: e = json.loads(line)
    except ValueError: continue
    print(e.get("time"), e.get("worker_version"), e.get("msg"))'
}
one_at_a_time() { # <old> <new> <since ms>: host a drained <old>, served <new>, and only then host b began to drain
  worker_times a >"$work/times-a.txt"
  worker_times b >"$work/times-b.txt"
  python3 - "$work/times-a.txt" "$work/times-b.txt" "$1" "$2" "$3" <<'PY'
import sys
since = int(sys.argv[5])
def events(path):
    return [e for e in (line.rstrip("\n").split(" ", 2) for line in open(path)) if e[0].isdigit() and int(e[0]) >= since]
a, b, old, new = events(sys.argv[1]), events(sys.argv[2]), sys.argv[3], sys.argv[4]
def first(evs, version, msg): return next((int(t) for t, v, m in evs if v == version and m.startswith(msg)), None)
a_drain, a_serving = first(a, old, "draining"), first(a, new, "models loaded")
b_drain, b_serving = first(b, old, "draining"), first(b, new, "models loaded")
print(f"  host a: drained {old} at +0 ms, served {new} at +{a_serving - a_drain} ms; "
      f"host b: drained at +{b_drain - a_drain} ms, served {new} at +{b_serving - a_drain} ms")
sys.exit(0 if None not in (a_drain, a_serving, b_drain, b_serving) and a_drain < a_serving < b_drain < b_serving else 1)
PY
}

load_start load-1
t=$(date +%s)
roll_started_ms=$(date +%s%3N)
check "rolling upgrade $version -> $next of both hosts succeeds" play "$next" roll-1
say "  $(recap roll-1 a); $(recap roll-1 b | sed 's/^ *//') ($(($(date +%s) - t)) s)"
load_stop load-1
check "roll $version -> $next: 0 failed tasks under a steady stream from the pool" load_clean load-1
check "roll: the pool saw each host leave through /health (503 draining), not only by failed requests" \
  pool_saw load-1 'HTTP 503 (draining)' deploy-a deploy-b
check "roll: host a answers $next" health_is "$next" a
check "roll: host b answers $next" health_is "$next" b
check "roll: one host at a time (a drained, served $next, then b drained)" one_at_a_time "$version" "$next" "$roll_started_ms"
grep -o 'Drained (Result[^"]*' "$work/roll-1.log" | head -2 | cut -c1-300 | sed 's/^/  /' || true
check "roll: each host drained cleanly, every connection closed after its last answer or idle, none destroyed" \
  test "$(grep -c 'Drained (Result=success, exit status 0); at the listener close .*, 0 destroyed at the limit' "$work/roll-1.log")" -eq 2
check "roll: the summary gives each host's version, status, device and outcome" sh -c "\
  grep -q 'deploy-a $next degraded CPU deployed $next (was $version)' '$work/roll-1.log' \
  && grep -q 'deploy-b $next degraded CPU deployed $next (was $version)' '$work/roll-1.log'"

pid_b=$(main_pid b)
load_start load-2
t=$(date +%s)
if play "$release_version-placeholder" roll-2; then fail "roll to a placeholder release fails"; else pass "roll to a placeholder release fails"; fi
say "  $(recap roll-2 a) ($(($(date +%s) - t)) s)"
load_stop load-2
quote roll-2 'Roll stopped at [^"]*'
check "placeholder roll: the play names the host, the cause and the rollback" sh -c "\
  grep -q 'Roll stopped at deploy-a: Deploy of npu-worker $release_version-placeholder FAILED at Wait for the worker to bind its port' '$work/roll-2.log' \
  && grep -q 'never bound its port' '$work/roll-2.log' && grep -q 'Rolled back to $next, which verified' '$work/roll-2.log' \
  && grep -q 'Not reached, left on the release they serve: deploy-b.' '$work/roll-2.log'"
check "placeholder roll: systemd called the placeholder active (its READY=1 a lie)" \
  sh -c "grep -A2 'TASK \[npu_worker : Restart the worker on the new release or config\]' '$work/roll-2.log' | grep -q 'changed: \[deploy-a\]'"
check "placeholder roll: host a is back on $next" sh -c "\
  [ \"\$(nsenter -t ${init_pid[a]} -a readlink /opt/npu-worker/current)\" = /opt/npu-worker/releases/$next ]"
check "placeholder roll: host a answers $next" health_is "$next" a
check "placeholder roll: host b untouched (same process, still $next, nothing ran there)" sh -c "\
  [ \"\$(nsenter -t ${init_pid[b]} -a systemctl show -p MainPID --value npu-worker)\" = '$pid_b' ] \
  && [ \"\$(nsenter -t ${init_pid[b]} -a readlink /opt/npu-worker/current)\" = /opt/npu-worker/releases/$next ] \
  && ! grep -qE '^(ok|changed|fatal|skipping): \[deploy-b\]' '$work/roll-2.log'" 
check "placeholder roll: host b answers $next" health_is "$next" b
check "placeholder roll: 0 failed tasks under a steady stream from the pool" load_clean load-2
check "placeholder roll: the summary marks a rolled back and b not reached" sh -c "\
  grep -q 'deploy-a $next degraded CPU FAILED $release_version-placeholder, ROLLED BACK to $next' '$work/roll-2.log' \
  && grep -q 'deploy-b $next degraded CPU not reached: left as it was' '$work/roll-2.log'"
version=$next # the release in service from here on, on both hosts

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
# Cleanup (npu_worker_keep_releases 3, never the current or the previous): the releases older than the newest 3
# go, with their tarballs.
check "cleanup kept the newest 3 releases and removed the older one with its tarball" sh -c "\
  [ \"\$(ls '$root/opt/npu-worker/releases' | sort | tr '\n' ' ')\" = '$release_version-never-ready $release_version-placeholder $next ' ] \
  && [ ! -e '$root/opt/npu-worker/archives/npu-worker-$release_version-linux-x64.tar.gz' ]"
check "the runtime is unpacked inside $next, where openvino-node loads its addon" test -f "$root/opt/npu-worker/releases/$next/$addon"
check "no other release on the host has a runtime (nothing was shared or moved)" sh -c "\
  for r in '$root'/opt/npu-worker/releases/*; do [ \"\$r\" = '$root/opt/npu-worker/releases/$next' ] || [ ! -e \"\$r/$addon\" ] || exit 1; done"
check "the play reports the runtime installed from $runtime_name" logged runtime-1 "openvino-node 2026.4.0: installed from $runtime_name"
ov_error=$(openvino_error || true)
say "  /health capabilities.openvino.error: $ov_error"
check "/health shows the loader's new error (the stand-in is no ELF addon), not a missing module" \
  openvino_error_says 'invalid ELF header'
t=$(date +%s)
# Idempotence, runtime included. More releases kept: the previous release is now $next itself, and the cleanup
# would take the oldest one left (a change).
check "second deploy of $next (same release, same runtime) succeeds" deploy "$next" runtime-2 \
  -e "$(runtime_vars "$runtime_url" "$runtime_sha256")" -e npu_worker_keep_releases=10
say "  $(recap runtime-2) ($(($(date +%s) - t)) s)"
check "second deploy reports changed=0" sh -c "grep -E '^deploy-a +:' '$work/runtime-2.log' | grep -q 'changed=0 .*failed=0'"

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
  [ \"\$(nsenter -t ${init_pid[a]} -a systemctl show -p MainPID --value npu-worker)\" = '$pid' ] \
  && test -f '$root/opt/npu-worker/releases/$next/$addon' \
  && grep -q '$runtime_sha256' '$root/opt/npu-worker/releases/$next/app/node_modules/openvino-node/bin/.npu-fleet-runtime.json'"
check "corrupt runtime archive: /health still shows the installed runtime's loader error" openvino_error_says 'invalid ELF header'

bad_release_start wronganswer a
bad_release_start wrongservice b
bad_release_wait
bad_release_check wronganswer "The inference answer is wrong" a "$next"
bad_release_check wrongservice "service=legacy-npu-service" b "$next"
check "after the rollback, $next still has its own runtime" test -f "$root/opt/npu-worker/releases/$next/$addon"
check "after the rollback, /health shows that runtime's loader error again" openvino_error_says 'invalid ELF header'

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
  sh -c "nsenter -t ${init_pid[a]} -a journalctl -u npu-worker --no-pager | grep -qi 'watchdog timeout'"
check "frozen event loop: the new worker is healthy" wait_health "$version" 60
say "  recovered in $(($(date +%s) - t)) s"


# --- the start-rate limit -----------------------------------------------------------------------------------------
# A worker that keeps dying is restarted (Restart=on-failure) until StartLimitBurst starts within
# StartLimitIntervalSec; then systemd gives up, and OnFailure= starts npu-worker-failure.service, which says so in
# the journal. Only the pacing is the test's (RestartSec=100ms, in a runtime drop-in under /run, so that the
# kills take seconds, not a minute): the limit, the restart policy and the notice are the installed unit's.
on b sh -c 'mkdir -p /run/systemd/system/npu-worker.service.d \
  && printf "[Service]\nRestartSec=100ms\n" >/run/systemd/system/npu-worker.service.d/90-deploy-test-pacing.conf \
  && systemctl daemon-reload'
t=$(date +%s)
kills=0
last=""
state=""
for _ in $(seq 1 600); do
  state=$(on b systemctl show -p ActiveState --value npu-worker)
  [ "$state" = failed ] && break
  pid=$(main_pid b)
  if [ "$pid" != 0 ] && [ "$pid" != "$last" ] && on b kill -9 "$pid" 2>/dev/null; then
    kills=$((kills + 1))
    last=$pid
  fi
  sleep 0.1
done
result=$(on b systemctl show -p Result --value npu-worker)
say "  $kills kills in $(($(date +%s) - t)) s: ActiveState=$state Result=$result"
# systemd 252 keeps the last failure's Result (signal) when the limit stops an automatic restart; the journal says why.
check "start limit: a worker killed over and over is given up on (failed, no restart pending)" test "$state" = failed
check "start limit: systemd's journal says the start request repeated too quickly" \
  sh -c "nsenter -t ${init_pid[b]} -a journalctl -u npu-worker --no-pager | grep -q 'Start request repeated too quickly'"
for _ in $(seq 1 50); do
  on b journalctl -u npu-worker-failure --no-pager 2>/dev/null | grep -q 'restart limit hit' && break
  sleep 0.2
done
on b journalctl -u npu-worker-failure --no-pager -o cat | grep 'restart limit hit' | head -1 | cut -c1-200 | sed 's/^/  /' || true
check "start limit: npu-worker-failure.service (OnFailure=) says so in the journal" \
  sh -c "nsenter -t ${init_pid[b]} -a journalctl -u npu-worker-failure --no-pager | grep -q 'npu-worker: restart limit hit (StartLimitBurst=10'"
on b sh -c 'rm /run/systemd/system/npu-worker.service.d/90-deploy-test-pacing.conf && systemctl daemon-reload \
  && systemctl reset-failed npu-worker && systemctl start npu-worker'
check "start limit: after reset-failed and a start, as the notice says, host b serves again" wait_health "$version" 60 b

# --- timings ------------------------------------------------------------------------------------------------------
finished=$(date +%s)
say "  playbook runs, slowest first:"
sort -k2 -n -r "$work/play-times.txt" | head -8 | awk '{printf "    %4d s  %s\n", $2, $1}'
say "timings: containers ready $((booted - started)) s after start; whole test $((finished - started)) s"
echo "deploy-test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
