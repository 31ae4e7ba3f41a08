#!/usr/bin/env bash
# Installs every build and test dependency from Debian packages.
set -euo pipefail
packages=(build-essential cmake g++ libopenmpi-dev openmpi-bin libopenblas-dev
          libboost-serialization-dev nlohmann-json3-dev libspdlog-dev libgtest-dev zlib1g-dev
          python3 python3-numpy iproute2 util-linux)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then SUDO=""
elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"
else
  echo "install-deps: need root or sudo to install: ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "${missing[@]}"
