#!/usr/bin/env bash
# Where an N-GPU run loses to T1 (the one-GPU time on GPU 0): each GPU's one-GPU time for the
# whole strong-sweep problem and for one rank's share of it, then the N-GPU run with each
# rank's own times, unchunked and with --chunks auto. Two rounds, so drift shows. No float64
# check (the scaling sessions check every shard). Logs and a tarball under $OUT; a table last.
#   scripts/scale-pergpu.sh
set -uo pipefail
export NCCL_NVLS_ENABLE=0
export LD_LIBRARY_PATH="$PWD/build:$PWD/.carry/lib:${LD_LIBRARY_PATH:-}"
export FC_COMMIT=$(cat .carry/commit 2>/dev/null || echo unknown)
scale=build/scaling/flashcore-scale
final=${OUT:-/tmp/out}
out=/tmp/fc-pergpu
rm -rf "$out" && mkdir -p "$out" "$final"
n=$(nvidia-smi -L | wc -l)
whole=(--shape 1,16,16,16384,128,0 --shape 1,16,16,16384,128,1 --shape 2,16,16,8192,128,0)
share=(--shape 1,$((16 / n)),$((16 / n)),16384,128,0 --shape 1,$((16 / n)),$((16 / n)),16384,128,1 --shape 2,$((16 / n)),$((16 / n)),8192,128,0)
nvidia-smi --query-gpu=index,name,pci.bus_id,clocks.max.sm,power.limit,temperature.gpu --format=csv > "$out/gpus.csv"
cat "$out/gpus.csv"
for round in 1 2; do
  for ((g = 0; g < n; g++)); do
    CUDA_VISIBLE_DEVICES=$g timeout 60 $scale --gpus 1 --collective none --no-check "${whole[@]}" "${share[@]}" \
      > "$out/one-gpu$g-r$round.log" 2>&1
    echo "round $round GPU $g alone (rc=$?):"
    grep -E "^ +1 " "$out/one-gpu$g-r$round.log"
  done
  for chunks in 1 auto; do
    timeout 90 $scale --sweep strong --no-check --chunks $chunks "${whole[@]}" > "$out/n-chunks$chunks-r$round.log" 2>&1
    echo "round $round, $n GPUs, chunks $chunks (rc=$?):"
    grep -E "^ +[0-9]+ +[0-9]+ |time .* ms, attention" "$out/n-chunks$chunks-r$round.log" | sed -E 's/ family .*; time/; time/; s/; check.*//'
  done
done
nvidia-smi --query-gpu=index,temperature.gpu,clocks.sm,power.draw --format=csv >> "$out/gpus.csv"
tar -czf "$final/pergpu-logs.tar.gz" -C "$out" .
