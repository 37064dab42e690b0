#!/usr/bin/env bash
# A/B of library variants (scripts/build-variants.sh) on the device machine: the same
# flashcore-bench binary runs each variant's library in turn, rounds interleaved so that
# clocks and heat reach every variant alike, and prints each shape's median time per variant
# and its ratio to the first. The first round checks every output (the bench's float64
# check); CHECK=1 first runs the GPU test suite against each variant. Each variant's flashcore-scale
# is unpacked to /tmp/fc-variants/lib/NAME/ for scaling runs.
#   CHECK=1 FAMILY=sm90 ROUNDS=3 scripts/variant-bench.sh base ftz order
# Each test or bench run stops after RUN_TIMEOUT seconds (300), so a variant that hangs
# cannot take the whole device call.
set -uo pipefail
# BENCH_ARGS: more flashcore-bench arguments for every timed run (e.g. --inputs normal).
# BENCH=PATH: another flashcore-bench binary (one built against the older header, when the
# variants' libraries differ in the options they accept).
family=${FAMILY:-auto} rounds=${ROUNDS:-3} bench=${BENCH:-build/scaling/flashcore-bench}
final=${OUT:-/tmp/out}
out=/tmp/fc-variants
rm -rf "$out" && mkdir -p "$out" "$final"
# B,H,Hk,Sq,Sk,D,causal: D=128 and 64 causal and not, small S, D=256, and the H=8 scaling shape
shapes=(${SHAPES:-2,16,16,8192,8192,128,1 2,16,16,8192,8192,128,0 8,16,16,2048,2048,128,1 32,16,16,512,512,128,0 \
  16,16,16,1024,1024,128,1 4,16,16,4096,4096,64,1 4,16,16,4096,4096,64,0 2,16,16,8192,8192,64,0 \
  2,8,8,8192,8192,256,1 1,8,8,4096,4096,128,1})
args=()
for s in "${shapes[@]}"; do args+=(--shape "$s"); done
for v in "$@"; do
  scripts/unpack-variant.sh "$v" "$out/lib/$v" || exit 1
  echo "$v: $(cat ".carry/variants/$v/commit"), loads $(LD_LIBRARY_PATH="$out/lib/$v:$PWD/.carry/lib" ldd "$bench" | grep -o '/[^ ]*libflashcore[^ ]*')"
done
# CHECK=1: first the GPU test suite against every variant (or those in CHECK_VARIANTS), with
# FAMILIES (default "sm90 sm80")
if [ "${CHECK:-0}" = 1 ]; then
  for v in ${CHECK_VARIANTS:-$@}; do
    for fam in ${FAMILIES:-sm90 sm80}; do
      LD_LIBRARY_PATH="$out/lib/$v:$PWD/.carry/lib" FLASHCORE_FAMILY=$fam timeout "${RUN_TIMEOUT:-300}" build/tests/test_gpu --verbose=0 -j4 \
        > "$out/test_gpu-$v-$fam.log" 2>&1
      echo "test_gpu $v $fam: $(grep Synthesis "$out/test_gpu-$v-$fam.log" | sed 's/.*Synthesis: //')"
    done
  done
fi
for r in $(seq 1 "$rounds"); do
  for v in "$@"; do
    # the first round checks every output against the float64 reference; the rest only time
    check=(); [ "$r" = 1 ] || check=(--no-check)
    LD_LIBRARY_PATH="$out/lib/$v:$PWD/.carry/lib" timeout "${RUN_TIMEOUT:-300}" "$bench" --family "$family" \
      "${args[@]}" ${BENCH_ARGS:-} --reps 20 "${check[@]}" > "$out/$v-$r.log" 2>&1 || echo "$v round $r: rc=$?"
  done
done
python3 - "$out" "$rounds" "$@" <<'PY'
import re, statistics, sys
out, rounds, variants = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
times, checks = {}, {}
for v in variants:
    for r in range(1, rounds + 1):
        for line in open(f"{out}/{v}-{r}.log"):
            f = line.split()
            if len(f) >= 10 and f[0].isdigit() and f[6] in ("0", "1"):
                key = " ".join(f[:7])
                times.setdefault(key, {}).setdefault(v, []).append(float(f[7]))
                if f[-1] not in ("pass", "-", "skipped") and not f[-1].replace(".", "").isdigit():
                    checks[(key, v)] = f[-1]
print("%-34s" % "B H Hk Sq Sk D causal" + "".join("%12s" % v for v in variants) + "".join("%9s" % ("x " + v) for v in variants[1:]))
for key, per in times.items():
    med = {v: statistics.median(per[v]) for v in variants if v in per}
    row = "%-34s" % key + "".join("%12.4f" % med.get(v, float("nan")) for v in variants)
    row += "".join("%9.3f" % (med[variants[0]] / med[v]) if v in med and variants[0] in med else "      nan" for v in variants[1:])
    print(row)
print("speed-up = time of %s / time of the variant; checks that did not pass: %s" % (variants[0], checks or "none"))
PY
# The logs only: the unpacked libraries (21 MB each) stay behind.
tar -czf "$final/variants.tar.gz" -C "$out" --exclude=./lib .
