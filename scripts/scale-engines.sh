#!/usr/bin/env bash
# Who should move the all-gather's bytes: the copy engines (--gather ce), NCCL's kernels
# (--gather sm), or either with the kernel's stores (store, ce-store)? One call on the 2-GPU
# device machine: a probe that shows from NCCL's own log which path ran, then the strong and
# weak sweeps (threads mode, no float64 check; the gathered buffer is still verified) for
# each engine and chunk count, ROUNDS times (engines interleaved). Logs and JSON under $OUT.
#   ENGINES="ce ce-store" CHUNKS=auto ROUNDS=2 scripts/scale-engines.sh
set -uo pipefail
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export LD_LIBRARY_PATH="$PWD/build:$PWD/.carry/lib:${LD_LIBRARY_PATH:-}"
export FC_COMMIT=$(cat .carry/commit 2>/dev/null || echo unknown)
final=${OUT:-/tmp/out}
out=/tmp/fc-engines
rm -rf "$out" && mkdir -p "$out" "$final"
echo "== probe: which all-gather path NCCL took"
NCCL_DEBUG=INFO NCCL_DEBUG_SUBSYS=INIT timeout 60 build/scaling/flashcore-scale --gpus 2 --shape 1,4,4,2048,128,1 \
  --reps 3 --no-check > "$out/probe.log" 2>&1
grep -E "NCCL version|Init CE|CTA policy|flashcore-scale:|^ +[12] " "$out/probe.log" | sort -u | head -n 12
strong=(--shape 2,16,16,8192,128,1 --shape 1,16,16,16384,128,1 --shape 2,16,16,8192,128,0 --shape 1,16,16,16384,128,0)
weak=(--shape 1,8,8,4096,128,1 --shape 1,8,8,8192,128,1 --shape 1,8,8,16384,128,1)
for ((round = 1; round <= ${ROUNDS:-1}; round++)); do
  for engine in ${ENGINES:-ce sm}; do
    for c in ${CHUNKS:-4}; do
      for sweep in strong weak; do
        [ $sweep = strong ] && shapes=("${strong[@]}") || shapes=("${weak[@]}")
        name=$sweep-$engine-chunks$c-r$round
        echo "== $sweep, --gather $engine, --chunks $c, round $round"
        timeout 120 build/scaling/flashcore-scale --sweep $sweep --gather $engine --chunks "$c" --no-check "${shapes[@]}" \
          --json "$out/$name.json" > "$out/$name.log" 2>&1
        grep -E "^ +[12] |ERROR|error" "$out/$name.log" | head -n 16
      done
    done
  done
done
tar -czf "$final/engines.tar.gz" -C "$out" .
