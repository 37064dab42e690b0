#!/usr/bin/env bash
# Session 8474796, call 10 (one H200): main against l2r (kv_read_once(): 128-byte K/V promotion
# wherever one CTA reads each K/V tile); the GPU suite with each.
set -uo pipefail
export OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"; export FC_COMMIT=$(cat .carry/commit)
scripts/gpu-info.sh "$OUT/gpu.txt" > /dev/null; echo "== start $(date +%T)"
SHAPES="16,32,32,128,8192,128,1 16,32,32,64,8192,128,1 16,32,32,32,8192,128,0 16,32,32,128,8192,128,0 \
16,32,32,128,8192,64,1 8,16,16,128,8192,256,1 16,32,8,64,8192,128,1 8,32,8,128,32768,128,1 \
2,16,16,8192,8192,128,1 8,16,16,2048,2048,128,0 64,32,8,1,8192,128,0 16,32,8,4,8192,128,1" \
CHECK=1 FAMILIES=sm90 FAMILY=auto ROUNDS=3 BENCH_ARGS=--no-check RUN_TIMEOUT=150 scripts/variant-bench.sh main l2r 2>&1 | tee "$OUT/ab.txt"
echo "== ab done $(date +%T)"
