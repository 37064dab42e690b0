#!/usr/bin/env bash
# temporary: the GQA decode fold on one H100: tests (sm90, sm80), sanitizers, SASS, A/B, peers
set -uo pipefail
export NCCL_NVLS_ENABLE=0
out=${OUT:-/tmp/out}; mkdir -p "$out"
t0=$(date +%s)
libs="$PWD/build:$PWD/.carry/lib"
nvidia-smi --query-gpu=name,clocks.max.sm --format=csv,noheader | tee "$out/summary.txt"
for fam in sm90 sm80 auto; do
  if [ $fam = auto ]; then env=(); else env=(FLASHCORE_FAMILY=$fam); fi
  env LD_LIBRARY_PATH=$libs "${env[@]}" timeout 200 build/tests/test_gpu --verbose=0 -j4 > "/tmp/test_gpu-$fam.log" 2>&1
  echo "test_gpu ($fam): $(grep Synthesis /tmp/test_gpu-$fam.log | sed 's/.*Synthesis: //')" | tee -a "$out/summary.txt"
  grep -E "^\[FAIL\]" /tmp/test_gpu-$fam.log | head -5 | tee -a "$out/summary.txt"
done
for fam in sm90 sm80; do
  LD_LIBRARY_PATH=$libs timeout 60 build/tests/fc-cases --family $fam | grep -E "decode|q1-" | tee -a "$out/summary.txt"
done
echo "tests took $(( $(date +%s) - t0 )) s" | tee -a "$out/summary.txt"
timeout 260 scripts/gpu-check.sh sanitize,sass sm90 2>&1 | tail -n 6 | tee -a "$out/summary.txt"
echo "sanitize took $(( $(date +%s) - t0 )) s" | tee -a "$out/summary.txt"
FAMILY=auto ROUNDS=3 OUT=/tmp/ab SHAPES="64,32,8,1,8192,128,0 64,32,8,1,8192,128,1 16,32,4,1,32768,128,0 64,32,8,1,8192,64,0 64,32,32,1,8192,128,0 8,16,16,2048,2048,128,0" \
  timeout 200 scripts/variant-bench.sh base fold > "$out/ab.txt" 2>&1
FAMILY=sm80 ROUNDS=2 OUT=/tmp/ab80 SHAPES="64,32,8,1,8192,128,0" timeout 60 scripts/variant-bench.sh base fold > "$out/ab-sm80.txt" 2>&1
LD_LIBRARY_PATH=$libs FC_COMMIT=$(cat .carry/commit) timeout 60 build/scaling/flashcore-bench --shape 64,32,8,1,8192,128,0 \
  --shape 16,32,4,1,32768,128,0 --shape 64,32,8,1,8192,64,0 --json /tmp/decode.json > /tmp/decode.log 2>&1
timeout 120 python3 scaling/sdpa_peers.py /tmp/decode.json "$out/decode-peers-h100.json" > "$out/decode-peers.log" 2>&1
tar -czf "$out/logs.tar.gz" -C /tmp test_gpu-sm90.log test_gpu-sm80.log test_gpu-auto.log decode.log fc-logs
echo "total $(( $(date +%s) - t0 )) s"
cat "$out/summary.txt"; tail -n 9 "$out/ab.txt"; tail -n 3 "$out/ab-sm80.txt"; tail -n 5 "$out/decode-peers.log"
