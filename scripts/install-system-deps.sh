#!/usr/bin/env bash
# Debian packages the tests need. Today the worker's tests need none beyond Node; the list grows with the
# OCR accuracy tests (fonts), the embedding reference (python3-onnx) and the deploy test (systemd-nspawn).
set -euo pipefail
pkgs=(curl)
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
