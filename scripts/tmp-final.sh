#!/usr/bin/env bash
# temporary: the standard grid with peers at HEAD, then base against fold on decode shapes
set -uo pipefail
export NCCL_NVLS_ENABLE=0
out=${OUT:-/tmp/out}; mkdir -p "$out"
t0=$(date +%s)
scripts/gpu-check.sh bench sm90 > "$out/grid-run.txt" 2>&1
rm -f "$out"/logs-*.tar.gz
echo "grid took $(( $(date +%s) - t0 )) s"
FAMILY=auto ROUNDS=2 OUT=/tmp/ab SHAPES="64,32,8,1,8192,128,0 64,32,8,1,8192,64,0 16,16,16,1,8192,128,0 8,16,16,2048,2048,128,0" \
  scripts/variant-bench.sh base fold > "$out/ab-decode.txt" 2>&1
rm -f /tmp/ab/variants.tar.gz
echo "total $(( $(date +%s) - t0 )) s"
tail -n 7 "$out/ab-decode.txt"; python3 scripts/results-table.py "$out"/fwd-grid-sm90-h100.json | tail -n 3
