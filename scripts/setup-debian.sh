#!/usr/bin/env bash
# Install what the build and tests need on a fresh Debian 12 with the CUDA toolkit in
# /usr/local/cuda. Idempotent: skips apt when everything is already there.
set -euo pipefail
pkgs=(build-essential cmake ninja-build pkg-config libcriterion-dev libhwloc-dev
      libopenmpi-dev openmpi-bin gnuplot-nox bindgen librust-bindgen-dev clang
      libclang-rt-14-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Rust: rustup's cargo where present, else Debian's.
if ! command -v cargo >/dev/null && [ ! -x "$HOME/.cargo/bin/cargo" ]; then
  missing+=(cargo rustc)
fi
if ((${#missing[@]})); then
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update
  "${sudo_cmd[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
fi
