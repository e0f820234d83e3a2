#!/usr/bin/env bash
# Static checks of the deployment: systemd-analyze verify and security (exposure gate) on the units in
# systemd/, and ansible-lint (production profile, offline) on ansible/. Root on Debian installs what it needs.
# Prints "deploy-lint: exposure X" and exits non-zero on any finding.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
EXPOSURE_THRESHOLD="${EXPOSURE_THRESHOLD:-2.5}"

need=()
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v ansible-lint >/dev/null || need+=(ansible-lint)
command -v ansible-playbook >/dev/null || need+=(ansible-core)
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || { echo "deploy-lint: missing Debian packages: ${need[*]}" >&2; exit 1; }
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# verify also checks that ExecStart's binary exists; on this machine the release is not installed under
# /opt, so the copy checked here points ExecStart at the launcher in the repository (same arguments). The deploy
# test runs verify again inside the container on the installed unit.
sed "s#^ExecStart=/opt/npu-worker/current/bin/npu-worker#ExecStart=$repo/scripts/release/npu-worker.sh#" \
  systemd/npu-worker.service >"$tmp/npu-worker.service"
cp systemd/npu-worker-failure.service "$tmp/"
(cd "$tmp" && systemd-analyze verify ./npu-worker.service ./npu-worker-failure.service)
echo "deploy-lint: systemd-analyze verify clean"

exposure=$(cd "$tmp" && systemd-analyze security --offline=true ./npu-worker.service \
  | sed -n 's/.*Overall exposure level for npu-worker.service: \([0-9.]*\).*/\1/p')
[ -n "$exposure" ] || { echo "deploy-lint: systemd-analyze security reported no exposure" >&2; exit 1; }
awk -v e="$exposure" -v t="$EXPOSURE_THRESHOLD" 'BEGIN { exit !(e <= t) }' \
  || { echo "deploy-lint: exposure $exposure is above $EXPOSURE_THRESHOLD" >&2; exit 1; }
echo "deploy-lint: exposure $exposure (threshold $EXPOSURE_THRESHOLD)"

(cd ansible && ANSIBLE_CONFIG="$repo/ansible/ansible.cfg" ansible-lint --offline --profile production -q)
(cd ansible && ANSIBLE_CONFIG="$repo/ansible/ansible.cfg" ansible-playbook --syntax-check \
  -i inventory/example.yml playbooks/deploy-npu-worker.yml >/dev/null)
echo "deploy-lint: ansible-lint (production profile) and syntax-check clean"
