#!/usr/bin/env bash
# cargo for this repository: offline (the crate has no dependencies), linking the library
# that `make build` produced, with a Rust toolchain from rustup or from Debian.
#   scripts/cargo.sh test | run --example cpu_attention | ...
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
export FLASHCORE_LIB_DIR=${FLASHCORE_LIB_DIR:-$PWD/build}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo "$@" --offline
