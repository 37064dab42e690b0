#!/usr/bin/env bash
# The main job: on the GPUs present, the benchmark grid (with the PyTorch SDPA peers when
# python3 has torch) and, with two GPUs or more, the strong and weak scaling sweeps; without
# a GPU, the CPU backend on the default problem, checked against the float64 reference.
# Results go to $RESULTS (default build/results).
set -euo pipefail
build=${1:-build}
results=${RESULTS:-$build/results}
export NCCL_NVLS_ENABLE=0
gpus=$(nvidia-smi -L 2>/dev/null | wc -l || true)
if [ "${gpus:-0}" -eq 0 ]; then
  echo "no GPU found: running the CPU backend on the default problem"
  exec "$build/scaling/flashcore-bench" --device cpu
fi
mkdir -p "$results"
export FC_COMMIT=$(git rev-parse HEAD 2>/dev/null || echo unknown)
"$build/scaling/flashcore-bench" --grid standard --json "$results/bench.json"
if python3 -c "import torch" 2>/dev/null; then
  python3 scaling/sdpa_peers.py "$results/bench.json" "$results/fwd-grid.json"
else
  echo "python3 has no torch: the PyTorch SDPA peers are not timed"
fi
if [ "$gpus" -ge 2 ] && [ -x "$build/scaling/flashcore-scale" ]; then
  "$build/scaling/flashcore-scale" --sweep strong --json "$results/scale-strong.json"
  "$build/scaling/flashcore-scale" --sweep weak --shape 1,8,8,4096,128,1 --shape 1,8,8,8192,128,1 \
    --shape 1,8,8,16384,128,1 --json "$results/scale-weak.json"
  if command -v gnuplot >/dev/null; then
    scaling/plot.sh "$results/scale.png" "$results/scale-strong.json" "$results/scale-weak.json"
  fi
fi
echo "results in $results"
