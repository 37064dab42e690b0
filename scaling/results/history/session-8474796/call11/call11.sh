#!/usr/bin/env bash
# Session 8474796, call 11 (one H200): main's library (1e24245's code): test_gpu and the four sanitizers.
set -uo pipefail
export OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"; export FC_COMMIT=$(cat .carry/commit) NCCL_NVLS_ENABLE=0
scripts/gpu-info.sh "$OUT/gpu.txt" > /dev/null; echo "== start $(date +%T)"
python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
  .carry/variants/final/libflashcore.so.0.1.xz build/libflashcore.so.0.1.0
timeout 400 scripts/gpu-check.sh "tests sanitize" auto 2>&1 | tail -n 6 | tee "$OUT/check.txt"
echo "== done $(date +%T)"
