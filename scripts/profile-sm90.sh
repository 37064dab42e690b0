#!/usr/bin/env bash
# Nsight Compute profile of the sm90 forward kernel on a few grid shapes (device machine), to
# see where a short launch loses against a long one: speed of light, occupancy, warp stall
# reasons, launch statistics. One kernel launch per shape (after 3 warm-up launches).
#   scripts/profile-sm90.sh [B,H,Hk,Sq,Sk,D,causal ...]
# VARIANTS="a b" profiles the libraries of scripts/build-variants.sh instead of build/'s
# (unpacked by scripts/variant-bench.sh with ROUNDS=0 into /tmp/fc-variants/lib/NAME).
# SOURCE=1 adds the warp-state sampling per SASS instruction (section SourceCounters) and
# writes it as src-TAG.csv beside the report: where the warps wait, instruction by instruction.
set -uo pipefail
final=${OUT:-/tmp/out}
mkdir -p "$final"
ncu=$(command -v ncu || ls /usr/local/cuda*/bin/ncu 2>/dev/null | head -n 1)
[ -n "$ncu" ] || { echo "no ncu on this machine"; exit 0; }
shapes=("$@")
[ ${#shapes[@]} -gt 0 ] || shapes=(8,16,16,2048,2048,128,0 1,16,16,16384,16384,128,0 32,16,16,512,512,128,0)
for v in ${VARIANTS:-main}; do
  lib=$PWD/build
  [ "$v" = main ] || lib=/tmp/fc-variants/lib/$v
  for s in "${shapes[@]}"; do
    tag=$v-$(echo "$s" | tr ',' '-')
    src=(); [ "${SOURCE:-0}" = 1 ] && src=(--section SourceCounters -f -o "/tmp/ncu-$tag")
    LD_LIBRARY_PATH="$lib:$PWD/.carry/lib" timeout 240 "$ncu" -k regex:fwd_kernel --launch-skip 3 --launch-count 1 \
      --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats --section SchedulerStats \
      --section MemoryWorkloadAnalysis "${src[@]}" build/scaling/flashcore-bench --family sm90 --shape "$s" --reps 5 --no-check \
      > "$final/ncu-$tag.txt" 2>&1
    echo "== $v $s (rc=$?)"
    if [ "${SOURCE:-0}" = 1 ]; then
      "$ncu" -i "/tmp/ncu-$tag.ncu-rep" --page details >> "$final/ncu-$tag.txt" 2>&1
      "$ncu" -i "/tmp/ncu-$tag.ncu-rep" --page source --csv --print-source sass > "$final/src-$tag.csv" 2>&1
      echo "   src-$tag.csv: $(wc -l < "$final/src-$tag.csv") lines"
    fi
    grep -E "Duration|Compute \(SM\) Throughput|Memory Throughput|Achieved Occupancy|Registers Per Thread|Waves Per SM|Warp Cycles Per Issued|Issue Slots Busy|No Eligible|L2 Hit Rate|DRAM Throughput|Grid Size|Block Size" \
      "$final/ncu-$tag.txt" | sed 's/  */ /g' | head -n 16
  done
done
