#!/usr/bin/env bash
# One device call for the sm90 family: GPU tests, sanitizers on the ragged suite, the SASS
# check, a mixed-family 2-GPU scaling run (where 2 GPUs exist), and the benchmark grid with
# its PyTorch peers. FC_SKIP_BENCH=1 stops before the grid.
set -uo pipefail
export NCCL_NVLS_ENABLE=0
final=${OUT:-/tmp/out}
mkdir -p "$final"
rm -rf /tmp/fc-logs  # a warm machine keeps the last call's logs; report only this call's
timeout 150 scripts/gpu-check.sh tests sm90 | tail -n 3
timeout 100 scripts/gpu-check.sh tests auto | tail -n 2
timeout 240 scripts/gpu-check.sh sanitize,sass sm90 | tail -n 6
if [ "$(nvidia-smi -L | wc -l)" -ge 2 ]; then
  LD_LIBRARY_PATH="$PWD/build:$PWD/.carry/lib" FC_COMMIT=$(cat .carry/commit) timeout 90 \
    build/scaling/flashcore-scale --families auto,sm80 --shape 1,8,2,4096,128,1 \
    --shape 2,6,3,1000,64,0 --reps 5 --json "$final/mixed-families.json" > "$final/mixed.log" 2>&1
  grep -E "rank|wrong|PASS|FAIL" "$final/mixed.log" | head -n 12
fi
[ "${FC_SKIP_BENCH:-0}" = 1 ] && exit 0
timeout 300 scripts/gpu-check.sh bench sm90 > /tmp/bench-sm90.log 2>&1
grep -E "passed|failed" /tmp/bench-sm90.log
tail -n 44 /tmp/bench-sm90.log
