#!/usr/bin/env bash
# Debian packages the tests need: fonts the OCR accuracy tests render text with, numpy + onnx for the
# embedding pipeline's reference computation (run with /usr/bin/python3), haproxy, the peer the pool
# benchmark measures itself against, prometheus (promtool checks the expositions and the alert rules; the
# monitoring test runs a real server), chromium (the headless browser the fleet page test drives through
# playwright-core) and ansible-core (the monitoring test renders the scrape targets with the real playbook).
# The deploy test installs its own (debootstrap, systemd-container, ansible) in scripts/deploy-test/run.sh.
# With package names as arguments it ensures only those (the pool benchmark asks for haproxy alone).
set -euo pipefail
pkgs=(curl fonts-dejavu-core fonts-liberation2 python3-numpy python3-onnx haproxy prometheus chromium ansible-core)
if [ $# -gt 0 ]; then pkgs=("$@"); fi
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then echo "system packages present"; exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${missing[*]} (run as root, or install them: apt-get install ${missing[*]})" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
