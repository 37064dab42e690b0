#!/usr/bin/env bash
# Session 8474796, call 7 (one H200): README's ten short-batch decodes, pre (ecc9115) against
# now (09ea038's kernels); now's with the SDPA peers.
set -uo pipefail
export OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"; export FC_COMMIT=$(cat .carry/commit) NCCL_NVLS_ENABLE=0
scripts/gpu-info.sh "$OUT/gpu.txt" > /dev/null; echo "== start $(date +%T)"
shapes="1,8,1,1,65536,256,0 1,8,1,1,131072,128,0 1,8,1,1,65536,64,0 1,32,8,1,8192,128,0 1,32,8,1,32768,128,0 1,32,8,1,131072,128,0 4,32,8,1,8192,128,0 1,32,32,1,8192,128,0 1,32,8,16,32768,128,1 16,32,8,1,8192,128,0"
SHAPES="$shapes" FAMILY=auto ROUNDS=3 BENCH_ARGS=--no-check RUN_TIMEOUT=120 scripts/variant-bench.sh pre now 2>&1 | tee "$OUT/ab.txt"
mv "$OUT/variants.tar.gz" "$OUT/ab-logs.tar.gz"; echo "== ab done $(date +%T)"
args=(); for s in $shapes; do args+=(--shape $s); done
LD_LIBRARY_PATH=/tmp/fc-variants/lib/now:$PWD/.carry/lib timeout 200 build/scaling/flashcore-bench --family auto "${args[@]}" --json /tmp/dec.json > "$OUT/bench.log" 2>&1
echo "== bench rc=$? $(date +%T)"; cat "$OUT/bench.log"
PYTHONUNBUFFERED=1 timeout 200 python3 scaling/sdpa_peers.py /tmp/dec.json "$OUT/decode-sm90-h200.json" 2>&1 | grep -v Warning | grep -v "return F" > "$OUT/peers.log"
echo "== peers rc=$? $(date +%T)"; cat "$OUT/peers.log"
