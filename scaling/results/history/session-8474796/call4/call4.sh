#!/usr/bin/env bash
# Session 8474796, call 4 (one H200): main, l2, l2x on the decodes on one GPU; then the
# standard grid with l2x and its SDPA peers.
set -uo pipefail
export OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"; export FC_COMMIT=$(cat .carry/commit) NCCL_NVLS_ENABLE=0
scripts/gpu-info.sh "$OUT/gpu.txt" > /dev/null; echo "== start $(date +%T)"
SHAPES="32,32,8,1,8192,128,0 64,32,8,1,8192,128,0 132,32,8,1,8192,128,0 32,32,8,1,8192,256,0 32,32,32,1,4096,128,0 16,32,8,4,8192,128,1" \
FAMILY=sm90 ROUNDS=3 BENCH_ARGS=--no-check RUN_TIMEOUT=120 scripts/variant-bench.sh main l2 l2x 2>&1 | tee "$OUT/ab.txt"
mv "$OUT/variants.tar.gz" "$OUT/ab-logs.tar.gz"; echo "== ab done $(date +%T)"
python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
  .carry/variants/l2x/libflashcore.so.0.1.xz build/libflashcore.so.0.1.0
timeout 420 scripts/gpu-check.sh bench auto > /tmp/grid.log 2>&1; echo "== grid rc=$? $(date +%T)"
grep -v Warning /tmp/grid.log | grep -v "return F" > "$OUT/grid.log"
g=$(ls "$OUT"/fwd-grid-auto-*.json | head -n 1)
python3 scripts/results-table.py "$g" | tail -n 6
