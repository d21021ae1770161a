#!/usr/bin/env bash
# Set-up for a fresh Debian/Ubuntu machine: a software Vulkan driver when there is no GPU,
# optional tools (ffmpeg for video files, chromium for browser tests), and the npm packages.
# Idempotent: every step checks before it installs. Run as root (or with sudo available).
#
#   bash scripts/setup.sh            # system packages + npm ci
#   SETUP_SKIP_APT=1 bash scripts/setup.sh   # npm only
#   SETUP_PEERS=1 bash scripts/setup.sh      # also the PyTorch CPU peer (`bench model --peers`,
#                                            # scripts/make-*.py): python3-torch on OpenBLAS
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

apt_updated=0
apt_update_once() {
  if [ "$apt_updated" = 0 ]; then $SUDO apt-get update -qq; apt_updated=1; fi
}

# Mesa lavapipe >= 23 is what Dawn accepts; Debian 12 ships 22.x in bookworm and 24.x in
# bookworm-backports. We add the backports suite to the existing sources entry (never a new
# mirror address), and install mesa-vulkan-drivers from it.
lavapipe_ok() {
  local v
  v=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true)
  [ -n "$v" ] && dpkg --compare-versions "$v" ge 23
}

install_lavapipe() {
  local codename=""
  if [ -r /etc/os-release ]; then . /etc/os-release; codename="${VERSION_CODENAME:-}"; fi
  if [ "$codename" = bookworm ]; then
    local src=/etc/apt/sources.list.d/debian.sources
    if [ -f "$src" ] && ! grep -q "bookworm-backports" "$src"; then
      echo "[setup] adding bookworm-backports to the Suites line of $src"
      $SUDO sed -i '0,/^Suites:.*bookworm\b.*$/s//& bookworm-backports/' "$src"
      apt_updated=0
    elif [ ! -f "$src" ] && [ -f /etc/apt/sources.list ] && ! grep -q "bookworm-backports" /etc/apt/sources.list; then
      # one-line format: duplicate the first bookworm main line with the backports suite
      local line
      line=$(grep -m1 -E '^deb .* bookworm .*main' /etc/apt/sources.list || true)
      if [ -n "$line" ]; then
        echo "${line/ bookworm / bookworm-backports }" | $SUDO tee -a /etc/apt/sources.list >/dev/null
        apt_updated=0
      fi
    fi
    apt_update_once
    $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
  else
    apt_update_once
    $SUDO apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null
  fi
}

if [ "${SETUP_SKIP_APT:-0}" != 1 ] && command -v apt-get >/dev/null; then
  if ! lavapipe_ok; then
    echo "[setup] installing Mesa lavapipe (software Vulkan)"
    install_lavapipe || echo "[setup] WARNING: lavapipe install failed; will rely on SwiftShader"
  fi
  # chromium brings SwiftShader (fallback Vulkan ICD) and is the browser for browser tests.
  want=()
  have_pkg chromium || want+=(chromium)
  have_pkg ffmpeg || want+=(ffmpeg)
  have_pkg fonts-dejavu-core || want+=(fonts-dejavu-core)
  if [ ${#want[@]} -gt 0 ]; then
    echo "[setup] installing ${want[*]}"
    apt_update_once
    $SUDO apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
  fi
  # The PyTorch peer, opt-in (the tests need no Python: fixtures are committed). Debian's torch
  # links the generic libblas.so.3; without OpenBLAS the alternatives system gives it the
  # reference BLAS, ~30x slower on GEMMs: not the peer the project measures against (PyTorch
  # CPU with OpenBLAS).
  if [ "${SETUP_PEERS:-0}" = 1 ]; then
    want=()
    have_pkg python3-torch || want+=(python3-torch)
    have_pkg libopenblas0-pthread || want+=(libopenblas0-pthread)
    if [ ${#want[@]} -gt 0 ]; then
      echo "[setup] installing ${want[*]}"
      apt_update_once
      $SUDO apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
    fi
  fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[setup] npm ci"
  npm ci --no-audit --no-fund
fi
echo "[setup] done"
