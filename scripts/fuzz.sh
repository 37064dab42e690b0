#!/usr/bin/env bash
# Fuzz, with libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer, on the CPU alone:
#   api   the public C API on the CPU backend (tests/fuzz/fuzz_api.c says what must hold)
#   plan  flashcore-scale's argument parser and planners (tests/fuzz/fuzz_plan.c)
# The host library's sources and the planner are compiled here, by clang, without CUDA.
#   scripts/fuzz.sh [SECONDS] [BUILD]      api for SECONDS (default 60), plan for half of it
# Exits non-zero when a property fails, a sanitizer reports, or a target's inputs never got
# through to what it tests; the input that did it is left in BUILD/fuzz/TARGET/ (crash-*,
# timeout-*) and can be replayed: BUILD/fuzz/TARGET/fuzz_TARGET FILE. Corpora grow in
# BUILD/fuzz/TARGET/corpus across runs.
set -uo pipefail
seconds=${1:-60}
build=${2:-build}
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: SECONDS=$seconds: use a positive integer" >&2; exit 2; }
cc=$(command -v clang-14 || command -v clang || true)
[ -n "$cc" ] || { echo "fuzz.sh: clang is missing (scripts/setup-debian.sh installs it)" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
flags=(-g -O1 -std=gnu11 -Werror=implicit-function-declaration -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
       -fno-omit-frame-pointer -I"$root/c/include" -I"$root/kernels/common" -I"$root/c/src")
rc=0
for target in api plan; do
  dir="$build/fuzz/$target"
  mkdir -p "$dir/corpus"
  srcs=("$root"/c/src/*.c "$root/tests/fuzz/fuzz_$target.c")
  [ $target = plan ] && srcs+=("$root/scaling/scale/plan.c") && flags+=(-I"$root/scaling/scale")
  "$cc" "${flags[@]}" "${srcs[@]}" -lm -lpthread -o "$dir/fuzz_$target" || exit 2
  t=$seconds
  [ $target = plan ] && t=$(( seconds / 2 > 10 ? seconds / 2 : 10 ))
  echo "== fuzz_$target, $t s"
  (cd "$dir" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ./fuzz_$target -max_total_time="$t" -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 corpus > log.txt 2>&1)
  r=$?
  tail -n 30 "$dir/log.txt"
  if [ $r -ne 0 ]; then rc=$r; continue; fi
  # A run whose inputs never reached what the target tests tested nothing.
  if [ $target = api ]; then
    read -r a b < <(sed -nE 's/^fuzz_api: [0-9]+ inputs, ([0-9]+) forward calls succeeded, ([0-9]+) refused/\1 \2/p' "$dir/log.txt")
    what="successful and refused forward calls"
  else
    read -r a b < <(sed -nE 's/^fuzz_plan: [0-9]+ inputs, ([0-9]+) command lines parsed, ([0-9]+) shard plans checked/\1 \2/p' "$dir/log.txt")
    what="parsed command lines and checked shard plans"
  fi
  if [ "${a:-0}" -lt 100 ] || [ "${b:-0}" -lt 100 ]; then
    echo "fuzz.sh: fuzz_$target: only ${a:-0} and ${b:-0} $what: the target is not reaching the code" >&2
    rc=1
  fi
done
exit $rc
