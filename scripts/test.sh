#!/usr/bin/env bash
# Every test: the Criterion suites (GPU cases skip without a GPU), then the Rust crate's tests.
# Ends with one line "tests: N passed, N failed, N skipped" over everything that ran.
set -uo pipefail
build=${1:-build}
passed=0 failed=0 skipped=0 rc=0
for t in "$build"/tests/test_*; do
  [ -x "$t" ] || continue
  echo "== $(basename "$t")"
  out=$("$t" --verbose=0 -j2 2>&1) || rc=1
  echo "$out" | grep -E "^\[(----|FAIL)\]" | head -n 40
  line=$(echo "$out" | grep "Synthesis" | tail -n 1)
  echo "$line"
  [ -n "$line" ] || { echo "no Criterion summary from $t"; rc=1; continue; }
  n=$(echo "$line" | sed -E 's/.*Tested: ([0-9]+).*/\1/')
  p=$(echo "$line" | sed -E 's/.*Passing: ([0-9]+).*/\1/')
  f=$(echo "$line" | sed -E 's/.*Failing: ([0-9]+).*/\1/')
  s=$(echo "$out" | grep -c "^\[SKIP\]" || true)
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
done
# Static kernel audit (no GPU): must pass as built, and must fail on planted spills.
if command -v /usr/local/cuda/bin/nvcc >/dev/null; then
  echo "== kernel audit"
  if ./scripts/audit-kernels.sh; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
  echo "== kernel audit self-test (spills planted with -DFC_SM80_MIN_BLOCKS=4 must be caught)"
  if ./scripts/audit-kernels.sh -DFC_SM80_MIN_BLOCKS=4 > /tmp/fc-audit-plant.log 2>&1; then
    echo "FAIL: the audit passed a build with planted spills"; failed=$((failed + 1))
  else
    grep -m1 "spill stores" /tmp/fc-audit-plant.log; echo "caught"; passed=$((passed + 1))
  fi
fi
# libFuzzer with AddressSanitizer and UndefinedBehaviorSanitizer on the C API over the CPU
# backend and on flashcore-scale's parser and planners (tests/fuzz/ says what must hold).
echo "== fuzz: the C API on the CPU backend (${FUZZ_SECONDS:-60} s), the scaling planner (half that); ASan, UBSan"
if ./scripts/fuzz.sh "${FUZZ_SECONDS:-60}" "$build" > /tmp/fc-fuzz.log 2>&1; then
  grep -E "^fuzz_(api|plan): " /tmp/fc-fuzz.log; passed=$((passed + 1))
else
  echo "FAIL"; grep -E "runtime error|property violated|ERROR: |SUMMARY|Base64|Test unit written|fuzz.sh" /tmp/fc-fuzz.log | head -n 12
  failed=$((failed + 1))
fi
# The device machine's scripts run only there: here they must at least parse, and the
# stand-alone probes (scaling/probes/, built by hand there) must compile.
echo "== device scripts parse"
bad=0
for f in $(git ls-files 'scripts/*.sh' 'scaling/*.sh' 2>/dev/null); do bash -n "$f" || { echo "FAIL $f"; bad=1; }; done
for f in $(git ls-files 'scripts/*.py' 'scaling/*.py' 2>/dev/null); do
  python3 -c 'import ast, sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])' "$f" || { echo "FAIL $f"; bad=1; }
done
if [ "$bad" -eq 0 ]; then passed=$((passed + 1)); echo ok; else failed=$((failed + 1)); fi
if command -v /usr/local/cuda/bin/nvcc >/dev/null; then
  echo "== probes compile"
  bad=0
  for f in scaling/probes/*.cu; do
    /usr/local/cuda/bin/nvcc -std=c++17 -arch=sm_90a -Ic/include -c "$f" -o /tmp/fc-probe.o > /tmp/fc-probe.log 2>&1 ||
      { echo "FAIL $f"; head -n 20 /tmp/fc-probe.log; bad=1; }
  done
  if [ "$bad" -eq 0 ]; then passed=$((passed + 1)); echo ok; else failed=$((failed + 1)); fi
fi
# flashcore-bench refuses what it cannot run with a sentence and a status, before any work:
# a shape whose element counts overflow 64 bits, a left window that is no key count, and a JSON
# file it cannot write (no GPU needed).
echo "== flashcore-bench refuses bad input"
bad=0
bench_refuses() {  # status, text the output must hold, arguments...
  local want=$1 text=$2; shift 2
  local out st
  out=$("$build/scaling/flashcore-bench" --device cpu "$@" 2>&1); st=$?
  if [ "$st" -ne "$want" ] || ! grep -qF -- "$text" <<< "$out"; then
    echo "FAIL flashcore-bench $*: status $st (want $want), output: $(tail -n 3 <<< "$out")"; bad=1
  fi
}
bench_refuses 2 "bad --shape 4611686018427387904" --no-check --shape 4611686018427387904,1,1,2,2,64,0
bench_refuses 2 "bad --shape 65536" --no-check --shape 65536,65536,65536,65536,65536,4096,0
bench_refuses 2 "--window-left -3: use a key count of 0 or more" --no-check --window-left -3
bench_refuses 2 "--window-left 12x: use a key count of 0 or more" --no-check --window-left 12x
bench_refuses 2 "--layout bxsd: use bshd or bhsd" --no-check --layout bxsd
bench_refuses 2 "--graph all: use ws or pool" --no-check --graph all
bench_refuses 2 "--graph: CUDA graphs need a GPU device" --no-check --graph ws
bench_refuses 1 "/dev/full: No space left on device" --reps 1 --shape 1,2,2,64,64,64,1 --json /dev/full
if [ "$bad" -eq 0 ]; then passed=$((passed + 1)); echo ok; else failed=$((failed + 1)); fi
# Every claim in README rests on a results file: the files and folders the documents cite must exist.
echo "== cited results files exist"
if python3 scripts/doc-paths.py; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
echo "== generated wgmma wrappers match their generator"
if python3 scripts/gen-wgmma.py --check; then passed=$((passed + 1)); echo ok; else failed=$((failed + 1)); fi
if [ -f flashcore-rs/Cargo.toml ]; then
  count() {  # name, command...: one test that passes when the command does
    local name=$1; shift
    if "$@" > /tmp/fc-step.log 2>&1; then passed=$((passed + 1)); echo "ok   $name"
    else failed=$((failed + 1)); echo "FAIL $name"; tail -n 30 /tmp/fc-step.log; fi
  }
  echo "== Rust bindings drift"
  if command -v bindgen >/dev/null; then count "bindings match the header" ./scripts/gen-bindings.sh --check; fi
  echo "== cargo test"
  cout=$(./scripts/cargo.sh test 2>&1) || rc=1
  echo "$cout" | grep -E "^test result|FAILED|panicked|^error" | head -n 40
  while read -r p f; do
    passed=$((passed + p)) failed=$((failed + f))
  done < <(echo "$cout" | sed -nE 's/^test result: [a-zA-Z]+\. ([0-9]+) passed; ([0-9]+) failed.*/\1 \2/p')
  echo "== Rust example and downstream crate"
  count "cargo run --example cpu_attention" ./scripts/cargo.sh run --example cpu_attention
  # The downstream crate builds the library itself from source, as a user's build would.
  count "downstream crate (flashcore = { path = .. })" env -u FLASHCORE_LIB_DIR \
    CARGO_TARGET_DIR="$PWD/target/downstream" CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-80}" \
    bash -c 'cd flashcore-rs/downstream && { [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"; cargo run --offline; }'
fi
[ "$failed" -eq 0 ] || rc=1
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit $rc
