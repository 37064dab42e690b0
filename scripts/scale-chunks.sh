#!/usr/bin/env bash
# How the overlap granularity (--chunks) trades launch size against exposed communication:
# the 2-GPU strong and weak sweeps at several chunk counts (threads mode). Logs under $OUT.
set -uo pipefail
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export LD_LIBRARY_PATH="$PWD/build:$PWD/.carry/lib:${LD_LIBRARY_PATH:-}"
export FC_COMMIT=$(cat .carry/commit 2>/dev/null || echo unknown)
final=${OUT:-/tmp/out}
mkdir -p "$final" /tmp/fc-chunks
for c in ${CHUNKS:-1 2 8}; do
  for sweep in strong weak; do
    if [ $sweep = strong ]; then shapes=(--shape 2,16,16,8192,128,1 --shape 1,16,16,16384,128,1 --shape 2,16,16,8192,128,0 --shape 1,16,16,16384,128,0)
    else shapes=(--shape 1,8,8,4096,128,1 --shape 1,8,8,8192,128,1 --shape 1,8,8,16384,128,1); fi
    echo "== $sweep, --chunks $c"
    build/scaling/flashcore-scale --sweep $sweep --chunks "$c" --no-check "${shapes[@]}" \
      --json "/tmp/fc-chunks/$sweep-chunks$c.json" 2>&1 | grep -E "^ +2 |passed"
  done
done
tar -czf "$final/chunks.tar.gz" -C /tmp/fc-chunks .
