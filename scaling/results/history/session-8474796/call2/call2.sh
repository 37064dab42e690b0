#!/usr/bin/env bash
# Session 8474796, call 2 (one H200): main against l2 (K/V maps promoting by 128 bytes).
set -uo pipefail
export OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"; export FC_COMMIT=$(cat .carry/commit)
scripts/gpu-info.sh "$OUT/gpu.txt" > /dev/null; echo "== start $(date +%T)"
SHAPES="32,32,8,1,8192,128,0 64,32,8,1,8192,128,0 132,32,8,1,8192,128,0 1,32,8,1,8192,128,0 64,32,8,1,8192,64,0 \
32,32,8,1,8192,256,0 32,32,32,1,4096,128,0 16,32,8,4,8192,128,1 8,16,16,2048,2048,128,0 2,16,16,8192,8192,128,1 \
32,16,16,512,512,128,0 4,32,32,4096,4096,64,1 8,32,32,2048,2048,64,0 2,8,8,8192,8192,256,0 4,32,8,4096,4096,128,1" \
CHECK=1 FAMILIES=sm90 ROUNDS=3 BENCH_ARGS=--no-check RUN_TIMEOUT=240 scripts/variant-bench.sh main l2 2>&1 | tee "$OUT/ab.txt"
echo "== ab done $(date +%T)"
L=(env LD_LIBRARY_PATH=/tmp/fc-variants/lib/l2:$PWD/.carry/lib timeout 120 build/scaling/flashcore-bench --family auto)
"${L[@]}" --shape 4,32,8,1,8192,128,0 --shape 2,32,8,4,8192,128,1 --shape 3,32,8,1,3000,64,0 > "$OUT/check-l2.log" 2>&1
echo "== check rc=$? $(date +%T)"; cat "$OUT/check-l2.log"
"${L[@]}" --no-check --shape 32,32,8,1,8192,128,0 --shape 64,32,8,1,8192,128,0 --shape 132,32,8,1,8192,128,0 --json /tmp/dec.json > "$OUT/bench-l2.log" 2>&1
echo "== bench rc=$? $(date +%T)"
PYTHONUNBUFFERED=1 timeout 150 python3 scaling/sdpa_peers.py /tmp/dec.json "$OUT/decode-l2-h200.json" > /tmp/peers.log 2>&1
echo "== peers rc=$? $(date +%T)"; grep -v Warning /tmp/peers.log | grep -v "return F" > "$OUT/peers.log"; cat "$OUT/peers.log"
