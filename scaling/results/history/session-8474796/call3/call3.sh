#!/usr/bin/env bash
# Session 8474796, call 3 (one H200): main against l2x (K/V promotion by 128 bytes for the
# exact softmax's launches only); then l2x's GPU suite (sm90 and sm80) and four sanitizers.
set -uo pipefail
export OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"; export FC_COMMIT=$(cat .carry/commit) NCCL_NVLS_ENABLE=0
scripts/gpu-info.sh "$OUT/gpu.txt" > /dev/null; echo "== start $(date +%T)"
SHAPES="32,32,8,1,8192,128,0 64,32,8,1,8192,128,0 132,32,8,1,8192,128,0 1,32,8,1,8192,128,0 64,32,8,1,8192,64,0 \
32,32,8,1,8192,256,0 32,32,32,1,4096,128,0 16,32,8,4,8192,128,1 8,16,16,2048,2048,128,0 \
32,16,16,512,512,128,0 2,8,8,8192,8192,256,0 4,32,32,4096,4096,64,1" \
FAMILY=sm90 ROUNDS=3 BENCH_ARGS=--no-check RUN_TIMEOUT=200 scripts/variant-bench.sh main l2x 2>&1 | tee "$OUT/ab.txt"
echo "== ab done $(date +%T)"
python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
  .carry/variants/l2x/libflashcore.so.0.1.xz build/libflashcore.so.0.1.0
timeout 300 scripts/gpu-check.sh "tests sanitize" auto 2>&1 | tail -n 8 | tee "$OUT/check-auto.txt"
echo "== check auto done $(date +%T)"
LD_LIBRARY_PATH=$PWD/build:$PWD/.carry/lib FLASHCORE_FAMILY=sm80 timeout 200 build/tests/test_gpu --verbose=0 -j4 > /tmp/fc-logs/test_gpu-sm80.log 2>&1
echo "== test_gpu sm80: $(grep Synthesis /tmp/fc-logs/test_gpu-sm80.log) $(date +%T)" | tee -a "$OUT/check-auto.txt"
tar -czf "$OUT/logs.tar.gz" -C /tmp/fc-logs .
