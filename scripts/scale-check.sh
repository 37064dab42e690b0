#!/usr/bin/env bash
# One call on the multi-GPU device machine: strong and weak sweeps in threads mode and under
# mpirun, and a mixed-family correctness run. Binaries come prebuilt in build/; the Debian
# libraries they need travel in .carry/lib. NVLink multicast stays off.
set -uo pipefail
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export LD_LIBRARY_PATH="$PWD/build:$PWD/.carry/lib:${LD_LIBRARY_PATH:-}"
export FC_COMMIT=$(cat .carry/commit 2>/dev/null || echo unknown)
final=${OUT:-/tmp/out}
out=/tmp/fc-scale
mkdir -p "$out" "$final"
gpus=$(nvidia-smi -L | wc -l)
tag=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n1 | grep -oiE 'h100|h200' | tr 'A-Z' 'a-z')
echo "# $gpus x $(nvidia-smi --query-gpu=name --format=csv,noheader | head -n1)"
nvidia-smi topo -m 2>&1 | head -n 4
strong=(--shape 2,16,16,8192,128,1 --shape 1,16,16,16384,128,1 --shape 2,16,16,8192,128,0 --shape 1,16,16,16384,128,0)
weak=(--shape 1,8,8,4096,128,1 --shape 1,8,8,8192,128,1 --shape 1,8,8,16384,128,1)
mpi=(mpirun --allow-run-as-root -np "$gpus" -x NCCL_NVLS_ENABLE -x LD_LIBRARY_PATH -x FC_COMMIT --bind-to none)
# every run has a time limit, so one that hangs cannot take the whole device call with it
run() { local name=$1; shift; echo "== $name"; timeout 150 "$@" 2>&1 | tee "$out/$name.log" | grep -vE "^      rank" ; }
run strong-threads build/scaling/flashcore-scale --sweep strong "${strong[@]}" --json "$out/strong-threads-$tag.json"
run weak-threads build/scaling/flashcore-scale --sweep weak "${weak[@]}" --json "$out/weak-threads-$tag.json"
run strong-mpi "${mpi[@]}" build/scaling/flashcore-scale-mpi --sweep strong "${strong[@]}" --json "$out/strong-mpi-$tag.json"
run weak-mpi "${mpi[@]}" build/scaling/flashcore-scale-mpi --sweep weak "${weak[@]}" --json "$out/weak-mpi-$tag.json"
run mixed build/scaling/flashcore-scale --families auto,sm80 --shape 1,8,2,4096,128,1 --shape 2,6,3,1000,64,0 --reps 5 --json "$out/mixed-families-$tag.json"
grep -E "^      rank" "$out/mixed.log" "$out/strong-threads.log" | head -n 12
cp "$out"/*.json "$final"/
tar -czf "$final/scale-logs.tar.gz" -C "$out" .
