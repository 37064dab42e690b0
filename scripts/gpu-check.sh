#!/usr/bin/env bash
# One call on the device machine: GPU tests, compute-sanitizer on the ragged suite, the
# benchmark grid with its PyTorch peers, and a short table last. Binaries come prebuilt in
# build/ (Criterion is not installed there); their libraries travel in .carry/lib.
#   scripts/gpu-check.sh [all|tests|sanitize|sass|rust|bench|paired] [family]
# BENCH_ARGS: more flashcore-bench arguments for the grid (e.g. --inputs normal).
# paired (not in all): scaling/sdpa_paired.py on the grid's shapes (this call's grid, else the
# committed H100 grid), flashcore and cuDNN call by call, uniform values then torch.randn's;
# PAIRED_ARGS: more of its arguments (e.g. --only D=128).
set -uo pipefail
what=${1:-all}
family=${2:-auto}
# Only our binaries see the carried libraries (python3 keeps its own).
libs="$PWD/build:$PWD/.carry/lib"
export NCCL_NVLS_ENABLE=0
final=${OUT:-/tmp/out}
out=/tmp/fc-logs
mkdir -p "$out" "$final"
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1)
tag=$(echo "$gpu" | grep -oiE 'h100|h200|a100|l4|l40s|4090' | head -n 1 | tr 'A-Z' 'a-z')
echo "# $gpu ($(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -n1)), family $family"
[ "$family" = auto ] || export FLASHCORE_FAMILY=$family
summary=()
if [[ $what == all || $what == *tests* ]]; then
  LD_LIBRARY_PATH=$libs build/tests/test_gpu --verbose=0 -j4 2>&1 | tee "$out/test_gpu-$family.log" | grep -E "^\[(----|FAIL)\]|Synthesis" | tail -n 25
  summary+=("test_gpu ($family): $(grep Synthesis "$out/test_gpu-$family.log" | sed 's/.*Synthesis: //')")
fi
if [[ $what == all || $what == *sanitize* ]]; then
  for tool in memcheck racecheck initcheck synccheck; do
    LD_LIBRARY_PATH=$libs compute-sanitizer --tool $tool --error-exitcode 9 build/tests/fc-cases --ragged > "$out/sanitize-$tool-$family.log" 2>&1
    rc=$?
    errs=$(grep -oE "ERROR SUMMARY: [0-9]+ error" "$out/sanitize-$tool-$family.log" | tail -n1)
    res=$(tail -n 1 "$out/sanitize-$tool-$family.log")
    summary+=("sanitizer $tool ($family): rc=$rc, ${errs:-no summary}, $res")
  done
fi
if [[ $what == all || $what == *rust* ]] && [ -x .carry/rust-gpu-tests ]; then
  LD_LIBRARY_PATH=$libs .carry/rust-gpu-tests --test-threads 1 --nocapture > "$out/rust-gpu-$family.log" 2>&1
  grep -E "^ok:|skipped" "$out/rust-gpu-$family.log"
  summary+=("rust GPU tests ($family): $(grep -E '^test result' "$out/rust-gpu-$family.log")")
fi
if [[ $what == all || $what == *sass* ]]; then
  scripts/sass-check.sh build/libflashcore.so > "$out/sass-check.txt" 2>&1
  grep -E "sm_90a|sass-check" "$out/sass-check.txt" | cut -c1-150
  summary+=("$(tail -n 1 "$out/sass-check.txt")")
  cp "$out/sass-check.txt" "$final"/
fi
if [[ $what == all || $what == *bench* ]]; then
  LD_LIBRARY_PATH=$libs FC_COMMIT=$(cat .carry/commit 2>/dev/null || echo unknown) build/scaling/flashcore-bench --grid standard \
    --family "$family" ${BENCH_ARGS:-} --json "$out/bench-$family.json" 2>&1 | tee "$out/bench-$family.log"
  PYTHONUNBUFFERED=1 python3 scaling/sdpa_peers.py "$out/bench-$family.json" "$out/fwd-grid-$family-$tag.json" 2>&1 \
    | tee "$out/peers-$family.log"
fi
if [[ $what == *paired* ]]; then
  grid=$(ls "$out"/fwd-grid-"$family"-*.json 2>/dev/null | head -n 1)
  for inputs in uniform normal; do
    LD_LIBRARY_PATH=$libs FC_COMMIT=$(cat .carry/commit 2>/dev/null || echo unknown) PYTHONUNBUFFERED=1 \
      python3 scaling/sdpa_paired.py --grid "${grid:-scaling/results/fwd-grid-sm90-h100.json}" --inputs $inputs \
      ${PAIRED_ARGS:-} --json "$out/paired-$family-$tag-$inputs.json" 2>&1 | grep -v Warning | tee "$out/paired-$inputs.log"
  done
  cp "$out"/paired-*.json "$final"/ 2>/dev/null
fi
cp "$out"/fwd-grid-*.json "$final"/ 2>/dev/null
tar -czf "$final/logs-$family.tar.gz" -C "$out" .
echo
printf '%s\n' "${summary[@]}"
