#!/usr/bin/env bash
# The deploy test: the real release, deployed by the real playbook over SSH to a Debian container booted with
# systemd as PID 1 (systemd-nspawn), then checked from the host. Proves, on a real systemd:
#   - a deploy serves /health and a correct inference; a second run changes nothing (changed=0);
#   - a placeholder release (alive, never binds; also one that lies READY=1 to systemd), a release whose
#     /health reports the wrong version, and one that reports the wrong service, each fail the play, roll
#     back, and leave the previous version answering;
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
mounted_nspawn_tmpfs=false

cleanup() {
  set +e
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
say "building the bad releases"
scripts/deploy-test/make-fixtures.sh "$tarball" "$releases"

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

deploy() { # <version> <log name>: runs the playbook; its output goes to $work/<log>.log
  (cd ansible && ansible-playbook -i "$work/inventory.yml" playbooks/deploy-npu-worker.yml \
    -e "npu_worker_version=$1") >"$work/$2.log" 2>&1
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
  tar -xzOf "$tarball" "npu-worker-$version/share/selftest/mlp-infer.json" >"$fixture"
  python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["request"]))' "$fixture" >"$work/request.json"
  curl -fsS -H "Authorization: Bearer $token" -H 'content-type: application/json' --data-binary @"$work/request.json" \
    "http://127.0.0.1:$WORKER_PORT/v2/models/mlp/infer" -o "$work/answer.json" || return 1
  python3 - "$fixture" "$work/answer.json" <<'PY'
import json, sys
f = json.load(open(sys.argv[1])); a = json.load(open(sys.argv[2]))["outputs"][0]
e, tol = f["expected"], f["tolerance"]
bad = [i for i, (x, y) in enumerate(zip(a["data"], e["data"])) if abs(x - y) > tol["atol"] + tol["rtol"] * abs(y)]
ok = a["name"] == e["name"] and a["shape"] == e["shape"] and len(a["data"]) == len(e["data"]) and not bad
print(f"  inference: {a['name']} {a['shape']}, {len(bad)} of {len(e['data'])} numbers outside tolerance")
sys.exit(0 if ok else 1)
PY
}
main_pid() { in_ct systemctl show -p MainPID --value npu-worker; }
current_release() { in_ct readlink /opt/npu-worker/current; }

# --- first deploy -------------------------------------------------------------------------------------------
t=$(date +%s)
check "deploy $version succeeds" deploy "$version" deploy-1
say "  $(recap deploy-1) ($(($(date +%s) - t)) s)"
check "/health from the host: 200, npu-worker, $version, serving" health_is "$version"
check "inference from the host matches the release's expected output" inference_correct
check "unit is active under systemd" in_ct systemctl is-active --quiet npu-worker
check "worker runs as npu-worker, in the render group" \
  sh -c "[ \"\$(nsenter -t $init_pid -a ps -o user= -p \$(nsenter -t $init_pid -a systemctl show -p MainPID --value npu-worker))\" = npu-worker ] \
  && nsenter -t $init_pid -a id -nG npu-worker | grep -qw render"
check "systemd-analyze verify of the installed unit (real binary) is clean" \
  in_ct systemd-analyze verify /etc/systemd/system/npu-worker.service
exposure=$(in_ct systemd-analyze security npu-worker 2>/dev/null | sed -n 's/.*Overall exposure level for npu-worker.service: \([0-9.]*\).*/\1/p' || true)
say "  exposure of the running unit: ${exposure:-?}"
check "exposure of the running unit <= 2.5" awk -v e="${exposure:-99}" 'BEGIN { exit !(e <= 2.5) }'

# --- idempotence ---------------------------------------------------------------------------------------------
t=$(date +%s)
check "second deploy of $version succeeds" deploy "$version" deploy-2
say "  $(recap deploy-2) ($(($(date +%s) - t)) s)"
check "second deploy reports changed=0" sh -c "grep -E '^deploy-test +:' '$work/deploy-2.log' | grep -q 'changed=0 .*failed=0'"

# --- bad releases: each must fail the play, roll back, and leave $version answering ------------------------------
bad_release() { # <fixture suffix> <text the failure must mention>
  local v="$version-$1"
  t=$(date +%s)
  if deploy "$v" "deploy-$1"; then fail "deploy of $v fails"; else pass "deploy of $v fails"; fi
  say "  $(recap "deploy-$1") ($(($(date +%s) - t)) s)"
  grep -o 'Deploy of npu-worker [^"]*' "$work/deploy-$1.log" | head -1 | cut -c1-400 | sed 's/^/  /'
  check "$v: the failure names the cause ($2) and the rollback to $version" \
    sh -c "grep -q 'Rolled back to $version, which verified' '$work/deploy-$1.log' && grep -q -- '$2' '$work/deploy-$1.log'"
  check "$v: current points back at $version" test "$(current_release)" = "/opt/npu-worker/releases/$version"
  check "$v: $version answers /health after the rollback" health_is "$version"
}
bad_release never-ready "Restart the worker"
bad_release placeholder "never bound its port"
bad_release wrongversion "version=$version"
bad_release wrongservice "service=legacy-npu-service"
check "inference still correct after the rollbacks" inference_correct

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
