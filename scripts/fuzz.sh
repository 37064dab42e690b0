#!/usr/bin/env bash
# Fuzz the public C API on the CPU backend (tests/fuzz/fuzz_api.c says what must hold) with
# libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer. No GPU and no CUDA: the host
# library's sources are compiled here, by clang, without the GPU families.
#   scripts/fuzz.sh [SECONDS] [BUILD]      default 60 s, build/
# Exits non-zero when a property fails or a sanitizer reports; the input that did it is left
# in BUILD/fuzz/ (crash-*, timeout-*) and can be replayed: BUILD/fuzz/fuzz_api FILE.
# The corpus grows in BUILD/fuzz/corpus across runs.
set -uo pipefail
seconds=${1:-60}
build=${2:-build}
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: SECONDS=$seconds: use a positive integer" >&2; exit 2; }
cc=$(command -v clang-14 || command -v clang || true)
[ -n "$cc" ] || { echo "fuzz.sh: clang is missing (scripts/setup-debian.sh installs it)" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$build/fuzz"
mkdir -p "$dir/corpus"
flags=(-g -O1 -std=c11 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
       -fno-omit-frame-pointer -I"$root/c/include" -I"$root/kernels/common" -I"$root/c/src")
"$cc" "${flags[@]}" "$root"/c/src/*.c "$root/tests/fuzz/fuzz_api.c" -lm -lpthread -o "$dir/fuzz_api" || exit 2
# One process; -timeout flags a call that takes seconds (the inputs are kept small).
cd "$dir"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ./fuzz_api -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 corpus > log.txt 2>&1
rc=$?
tail -n 40 log.txt
[ $rc -eq 0 ] || exit $rc
# A run whose inputs never reached a successful forward call, or a refused one, tested nothing.
read -r ok refused < <(sed -nE 's/^fuzz_api: [0-9]+ inputs, ([0-9]+) forward calls succeeded, ([0-9]+) refused/\1 \2/p' log.txt)
if [ "${ok:-0}" -lt 100 ] || [ "${refused:-0}" -lt 100 ]; then
  echo "fuzz.sh: only ${ok:-0} successful and ${refused:-0} refused forward calls: the target is not reaching the library" >&2
  exit 1
fi
