#!/usr/bin/env bash
# Debian packages the tests need: fonts to render OCR test images, python3-onnx/numpy to generate the test
# embedding model and its reference vectors, and the systemd-nspawn + Ansible toolchain of the deploy test.
set -euo pipefail
pkgs=(fonts-dejavu-core fonts-liberation2 fonts-noto-core python3-onnx python3-numpy
      debootstrap systemd-container ansible-core ansible-lint openssh-client curl)
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
