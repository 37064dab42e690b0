#!/usr/bin/env bash
# Session 8474796, call 6 (one H200): s4's GPU suite and sanitizers; kv-stream at D=64; the D=64
# decodes in BSHD and BHSD memory with the peers in both layouts.
set -uo pipefail
export OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"; export FC_COMMIT=$(cat .carry/commit) NCCL_NVLS_ENABLE=0
scripts/gpu-info.sh "$OUT/gpu.txt" > /dev/null; echo "== start $(date +%T)"
python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
  .carry/variants/s4/libflashcore.so.0.1.xz build/libflashcore.so.0.1.0
for b in 64 132; do timeout 90 build/kv-stream $b 20 64 > "$OUT/kv-stream-d64-b$b.txt" 2>&1; echo "== kv-stream $b rc=$? $(date +%T)"; cat "$OUT/kv-stream-d64-b$b.txt"; done
B=(env LD_LIBRARY_PATH=$PWD/build:$PWD/.carry/lib timeout 120 build/scaling/flashcore-bench --family auto)
"${B[@]}" --layout bhsd --shape 4,32,8,1,8192,64,0 --shape 2,32,8,4,8192,64,1 > "$OUT/check-bhsd.log" 2>&1; echo "== check rc=$?"; cat "$OUT/check-bhsd.log"
for lay in bshd bhsd; do
  "${B[@]}" --layout $lay --no-check --shape 64,32,8,1,8192,64,0 --shape 132,32,8,1,8192,64,0 --json /tmp/d64-$lay.json > /tmp/bench-$lay.log 2>&1
  echo "== bench $lay rc=$?"; cat /tmp/bench-$lay.log
done
for lay in bhsd bshd; do
  PYTHONUNBUFFERED=1 timeout 120 python3 scaling/sdpa_peers.py /tmp/d64-bshd.json "$OUT/decode-d64-peers-$lay-h200.json" --peer-layout $lay 2>&1 | grep -v Warning | grep -v "return F" | tail -3
done
cp /tmp/d64-bhsd.json "$OUT/decode-d64-bhsd-nopeers-h200.json"
echo "== peers done $(date +%T)"
timeout 300 scripts/gpu-check.sh "tests sanitize" auto 2>&1 | tail -n 6
echo "== checks done $(date +%T)"
