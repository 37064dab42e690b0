#!/usr/bin/env bash
# One device call on all its GPUs (1, 2, 4, ... and N in the sweeps), most important first,
# each run under its own time limit: the strong sweep in threads mode with the float64 check of every shard, the weak sweep, both again
# under mpirun, the kernel all-gather (--gather sm) for comparison, and the mixed-family run.
# JSON and logs under $OUT.
set -uo pipefail
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
# VARIANT=NAME runs the flashcore-scale and library of .carry/variants/NAME (unpacked by
# scripts/variant-bench.sh into /tmp/fc-variants/lib/NAME) in the threads-mode runs.
vdir=${VARIANT:+/tmp/fc-variants/lib/$VARIANT}
export LD_LIBRARY_PATH="${vdir:+$vdir:}$PWD/build:$PWD/.carry/lib:${LD_LIBRARY_PATH:-}"
scale=${vdir:-build/scaling}/flashcore-scale
export FC_COMMIT=$(cat .carry/commit 2>/dev/null || echo unknown)
final=${OUT:-/tmp/out}
out=/tmp/fc-session
rm -rf "$out" && mkdir -p "$out" "$final"
# GPUS=N: run on N GPUs, e.g. a pair of a larger machine: the first N, or the first N of
# CUDA_VISIBLE_DEVICES where the caller set it. Every run (threads, MPI, mixed) then sees those N.
present=$(nvidia-smi -L 2>/dev/null | wc -l)
if [ -n "${CUDA_VISIBLE_DEVICES:-}" ]; then
  IFS=, read -ra visible <<< "$CUDA_VISIBLE_DEVICES"
  present=${#visible[@]}
fi
gpus=${GPUS:-$present}
[[ $gpus =~ ^[1-9][0-9]*$ ]] || { echo "scale-session.sh: $gpus GPUs (GPUS or nvidia-smi): need at least one" >&2; exit 2; }
(( gpus <= present )) || { echo "scale-session.sh: GPUS=$gpus but $present GPUs visible" >&2; exit 2; }
if [ -n "${CUDA_VISIBLE_DEVICES:-}" ]; then
  export CUDA_VISIBLE_DEVICES=$(IFS=,; echo "${visible[*]:0:gpus}")
else
  export CUDA_VISIBLE_DEVICES=$(seq -s, 0 $((gpus - 1)))
fi
# GATHER=ENGINE: the main sweeps' --gather (default: flashcore-scale's, ce-store)
gather=(${GATHER:+--gather $GATHER})
strong=(--shape 2,16,16,8192,128,1 --shape 1,16,16,16384,128,1 --shape 2,16,16,8192,128,0 --shape 1,16,16,16384,128,0)
# WITH_S4096=1: the strong sweep also at S=4096 (B=4, H=16, causal), as the 4- and 8-GPU studies ask
[ -n "${WITH_S4096:-}" ] && strong=(--shape 4,16,16,4096,128,1 "${strong[@]}")
# WITH_S32768=1: both sweeps also at S=32768 (causal; strong B=1 H=16, weak 8 heads a GPU), the
# longest length the 8-GPU study asks for
[ -n "${WITH_S32768:-}" ] && strong+=(--shape 1,16,16,32768,128,1)
# Time limits scale with the GPU count (the float64 check of every shard grows with it).
slow=$(( gpus > 2 ? 2 : 1 ))
weak=(--shape 1,8,8,4096,128,1 --shape 1,8,8,8192,128,1 --shape 1,8,8,16384,128,1)
[ -n "${WITH_S32768:-}" ] && weak+=(--shape 1,8,8,32768,128,1)
mpi=(mpirun --allow-run-as-root -np "$gpus" -x NCCL_NVLS_ENABLE -x LD_LIBRARY_PATH -x FC_COMMIT -x CUDA_VISIBLE_DEVICES --bind-to none)
run() {
  local name=$1 limit=$2; shift 2
  echo "== $name"
  timeout "$limit" "$@" > "$out/$name.log" 2>&1
  echo "   rc=$? $(grep -m1 -oE 'NCCL [0-9.]+' "$out/$name.log")"
  grep -E "^ +[0-9]+ +[0-9]+ |ERROR" "$out/$name.log" | head -n 24
}
# STORE_ONLY=1 (with WITH_STORE=1): only the --gather store runs (and the mixed run if asked),
# for a change that touches the kernels' copy stores alone.
if [ -z "${STORE_ONLY:-}" ]; then
  run strong-threads $((150 * slow)) $scale --sweep strong "${gather[@]}" "${strong[@]}" --json "$out/strong-threads.json"
  run weak-threads $((60 * slow)) $scale --sweep weak "${gather[@]}" --no-check "${weak[@]}" --json "$out/weak-threads.json"
  [ -z "$vdir" ] && run strong-mpi $((60 * slow)) "${mpi[@]}" build/scaling/flashcore-scale-mpi --sweep strong "${gather[@]}" --no-check "${strong[@]}" --json "$out/strong-mpi.json"
  [ -z "$vdir" ] && run weak-mpi $((50 * slow)) "${mpi[@]}" build/scaling/flashcore-scale-mpi --sweep weak "${gather[@]}" --no-check "${weak[@]}" --json "$out/weak-mpi.json"
  [ -n "${WITH_SM:-}" ] && run strong-threads-gather-sm 50 $scale --sweep strong --gather sm --no-check "${strong[@]}" --json "$out/strong-threads-gather-sm.json"
  # WITH_TOKENS=1: the weak sweep again with 16384 tokens per GPU (B x S, the standard grid's
  # convention) instead of one sequence, so that S=4096 and 8192 carry the work of S=16384.
  [ -n "${WITH_TOKENS:-}" ] && run weak-tokens-threads 60 $scale --sweep weak --no-check --shape 4,8,8,4096,128,1 --shape 2,8,8,8192,128,1 --json "$out/weak-tokens-threads.json"
fi
# WITH_CE=1: the threads-mode sweeps again with the copy engines alone (--gather ce), no check
if [ -n "${WITH_CE:-}" ]; then
  run strong-threads-ce $((60 * slow)) $scale --sweep strong --gather ce --no-check "${strong[@]}" --json "$out/strong-threads-ce.json"
  run weak-threads-ce $((60 * slow)) $scale --sweep weak --gather ce --no-check "${weak[@]}" --json "$out/weak-threads-ce.json"
fi
# WITH_STORE=1: the sweeps again with --gather store (the kernel's stores into every rank's
# window instead of an all-gather after it), threads and MPI.
if [ -n "${WITH_STORE:-}" ]; then
  run store-weak-threads $((60 * slow)) $scale --sweep weak --gather store --no-check "${weak[@]}" --json "$out/store-weak-threads.json"
  run store-strong-threads $((60 * slow)) $scale --sweep strong --gather store --no-check "${strong[@]}" --json "$out/store-strong-threads.json"
  [ -z "$vdir" ] && run store-weak-mpi $((50 * slow)) "${mpi[@]}" build/scaling/flashcore-scale-mpi --sweep weak --gather store --no-check "${weak[@]}" --json "$out/store-weak-mpi.json"
  [ -n "${WITH_TOKENS:-}" ] && run store-weak-tokens-threads 60 $scale --sweep weak --gather store --no-check --shape 4,8,8,4096,128,1 --shape 2,8,8,8192,128,1 --json "$out/store-weak-tokens-threads.json"
  [ -z "$vdir" ] && run store-strong-mpi $((60 * slow)) "${mpi[@]}" build/scaling/flashcore-scale-mpi --sweep strong --gather store --no-check "${strong[@]}" --json "$out/store-strong-mpi.json"
fi
[ -n "${WITH_MIXED:-}" ] && run mixed 60 $scale --families auto,sm80 --shape 1,8,2,4096,128,1 --shape 2,6,3,1000,64,0 --reps 5 --json "$out/mixed-families.json"
[ -f "$out/mixed.log" ] && grep -E "^      rank" "$out/mixed.log" | head -n 8
cp "$out"/*.json "$final"/ 2>/dev/null
tar -czf "$final/session-logs.tar.gz" -C "$out" .
