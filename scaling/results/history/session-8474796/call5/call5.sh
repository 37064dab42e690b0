#!/usr/bin/env bash
# Session 8474796, call 5 (one H200): main (d802808's library) against s4 and s6 (4 and 6 K/V
# stages for the exact D=64 launches); s6's GPU suite, decodes with the SDPA peers, sanitizers.
set -uo pipefail
export OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"; export FC_COMMIT=$(cat .carry/commit) NCCL_NVLS_ENABLE=0
scripts/gpu-info.sh "$OUT/gpu.txt" > /dev/null; echo "== start $(date +%T)"
SHAPES="64,32,8,1,8192,64,0 132,32,8,1,8192,64,0 1,32,8,1,8192,64,0 32,32,32,1,4096,64,0 16,32,8,4,8192,64,1 \
64,32,8,1,8192,128,0 4,32,32,4096,4096,64,1" \
CHECK=1 CHECK_VARIANTS=s6 FAMILIES=sm90 FAMILY=sm90 ROUNDS=3 BENCH_ARGS=--no-check RUN_TIMEOUT=200 \
  scripts/variant-bench.sh main s4 s6 2>&1 | tee "$OUT/ab.txt"
mv "$OUT/variants.tar.gz" "$OUT/ab-logs.tar.gz"; echo "== ab done $(date +%T)"
L=(env LD_LIBRARY_PATH=/tmp/fc-variants/lib/s6:$PWD/.carry/lib timeout 120 build/scaling/flashcore-bench --family auto)
"${L[@]}" --shape 4,32,8,1,8192,64,0 --shape 2,32,8,4,8192,64,1 --shape 3,32,32,1,3000,64,0 > "$OUT/check-s6.log" 2>&1
echo "== check rc=$? $(date +%T)"; cat "$OUT/check-s6.log"
"${L[@]}" --no-check --shape 64,32,8,1,8192,64,0 --shape 132,32,8,1,8192,64,0 --shape 32,32,32,1,4096,64,0 --json /tmp/dec.json > "$OUT/bench-s6.log" 2>&1
PYTHONUNBUFFERED=1 timeout 120 python3 scaling/sdpa_peers.py /tmp/dec.json "$OUT/decode-d64-s6-h200.json" > /tmp/peers.log 2>&1
echo "== peers rc=$? $(date +%T)"; grep -v Warning /tmp/peers.log | grep -v "return F" > "$OUT/peers.log"; cat "$OUT/peers.log"
python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
  .carry/variants/s6/libflashcore.so.0.1.xz build/libflashcore.so.0.1.0
timeout 240 scripts/gpu-check.sh sanitize auto 2>&1 | tail -n 5 | tee "$OUT/sanitize.txt"
echo "== sanitize done $(date +%T)"
