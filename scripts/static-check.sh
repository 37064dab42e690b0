#!/usr/bin/env bash
# Static analysis: clang's analyzer (scan-build, Debian's clang-tools-14) over a Debug build
# (D=128 only, in a scratch folder) of the host C code (the library, flashcore-bench,
# flashcore-scale, the tests), then cppcheck where installed, then clippy on the Rust crate
# where the toolchain has it. Fails on any report; the analyzer's HTML stays in the scratch folder. Not part of `make test` (the build takes minutes more);
# kernels are nvcc's and go unanalysed.
#   scripts/static-check.sh [SCRATCH]        (default /tmp/fc-static)
set -uo pipefail
cd "$(dirname "$0")/.."
dir=${1:-/tmp/fc-static}
sb=$(command -v scan-build-14 || command -v scan-build) || { echo "static-check: no scan-build (apt-get install clang-tools-14)" >&2; exit 2; }
rm -rf "$dir" && mkdir -p "$dir"
"$sb" -o "$dir/report" cmake -S . -B "$dir/build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DFLASHCORE_HEAD_DIMS=128 > "$dir/configure.log" 2>&1 ||
  { tail -n 20 "$dir/configure.log"; exit 1; }
"$sb" -o "$dir/report" --status-bugs ninja -C "$dir/build" > "$dir/analyze.log" 2>&1
rc=$?
grep -E "^scan-build: [0-9]+ bugs? found|No bugs found" "$dir/analyze.log"
for f in "$dir"/report/*/report-*.html; do
  [ -e "$f" ] || continue
  sed -n 's/.*<!-- BUGFILE \(.*\) -->.*/\1/p; s/.*<!-- BUGLINE \(.*\) -->.*/\1/p; s/.*<!-- BUGDESC \(.*\) -->.*/\1/p' "$f" | paste -sd' '
done
if command -v cppcheck > /dev/null; then
  out=$(cppcheck --enable=warning,performance,portability --std=c11 -q -I c/include -I c/src -I kernels/common \
        -D__GNUC__=12 -D__x86_64__ c/src scaling/scale/*.c scaling/bench.c tests/run_cases.c tests/support/*.c 2>&1)
  [ -z "$out" ] && echo "cppcheck: nothing found" || { echo "$out"; rc=1; }
fi
# The Rust crate under clippy, where the toolchain has it (rustup's does; Debian's cargo may not).
if [ -x "$HOME/.cargo/bin/cargo-clippy" ] || command -v cargo-clippy > /dev/null; then
  # (cargo.sh appends --offline, so the lints' level stays clippy's own: any warning fails here)
  if ./scripts/cargo.sh clippy --all-targets > "$dir/clippy.log" 2>&1 && ! grep -qE "^(warning|error)" "$dir/clippy.log"; then
    echo "clippy: nothing found"
  else grep -E "^(warning|error)" -A6 "$dir/clippy.log" | head -n 40; rc=1; fi
fi
exit $rc
