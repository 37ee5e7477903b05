#!/usr/bin/env bash
# Installs what building, running and testing LanSpread needs on Debian or
# Ubuntu: the Rust toolchain if missing, and the system packages Slint and
# the network tests use. Safe to run again; installs only what is missing.
set -euo pipefail

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

packages=(
  build-essential pkg-config curl ca-certificates
  # Slint: fonts and keyboard handling at build time, X11/Wayland/GL at run time
  libfontconfig1-dev libfreetype-dev libxkbcommon-dev libxkbcommon-x11-0
  libx11-xcb1 libxcursor1 libxi6 libxrandr2 libwayland-client0 libwayland-cursor0
  libwayland-egl1 libegl1 libgl1
  # tests: network namespaces for the multicast (mDNS) lab
  iproute2 util-linux
  # RAR game packs are unpacked by an external tool; bsdtar is the free one
  libarchive-tools
  # tests: game packs made with the tools people use (tar, Info-ZIP, 7-Zip)
  tar zip p7zip-full xz-utils bzip2 lz4 zstd
  # tests: the real window under a virtual display
  xvfb
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "deps: installing the Rust toolchain (rustup)" >&2
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component rustfmt,clippy
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
fi
