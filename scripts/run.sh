#!/usr/bin/env bash
# The main job: the benchmark on every GPU present, or the CPU backend where there is none.
set -euo pipefail
build=${1:-build}
gpus=$(nvidia-smi -L 2>/dev/null | wc -l || true)
if [ "${gpus:-0}" -gt 0 ]; then
  mkdir -p scaling/results
  "$build/scaling/flashcore-bench" --grid standard
else
  echo "no GPU found: running the CPU backend on the default problem"
  "$build/scaling/flashcore-bench" --device cpu
fi
