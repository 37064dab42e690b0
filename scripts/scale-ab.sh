#!/usr/bin/env bash
# A/B of flashcore-scale builds on the same GPUs: `build` (this tree) against the variants
# named (scripts/build-variants.sh), ROUNDS rounds interleaved, each run the same sweep with
# the arguments given after --. Logs under $OUT; each run's sweep table last.
#   ROUNDS=2 scripts/scale-ab.sh base -- --sweep strong --no-check --shape 1,16,16,16384,128,1
set -uo pipefail
export NCCL_NVLS_ENABLE=0
export FC_COMMIT=$(cat .carry/commit 2>/dev/null || echo unknown)
names=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do names+=("$1"); shift; done
shift
final=${OUT:-/tmp/out}
out=/tmp/fc-scale-ab
rm -rf "$out" && mkdir -p "$out" "$final"
for v in "${names[@]}"; do scripts/unpack-variant.sh "$v" "$out/lib/$v" || exit 1; done
for ((round = 1; round <= ${ROUNDS:-2}; round++)); do
  for v in build "${names[@]}"; do
    if [ "$v" = build ]; then lib=$PWD/build bin=build/scaling/flashcore-scale
    else lib=$out/lib/$v bin=$out/lib/$v/flashcore-scale; fi
    LD_LIBRARY_PATH="$lib:$PWD/.carry/lib" timeout 120 "$bin" "$@" > "$out/$v-r$round.log" 2>&1
    echo "== $v round $round (rc=$?)"
    grep -E "^ +[0-9]+ +[0-9]+ " "$out/$v-r$round.log"
  done
done
rm -rf "$out/lib"
tar -czf "$final/scale-ab-logs.tar.gz" -C "$out" .
