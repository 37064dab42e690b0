#!/usr/bin/env bash
# What storing copies of the output costs one attention launch, on the device machine's first
# two GPUs: scaling/probes/copies-cost.cu in its hold mode (each way - none, local, peer, both,
# peer2 - back to back for HOLD seconds) while nvidia-smi logs power and SM clock every 50 ms,
# then each way's time, power, clock and cycles a launch (scripts/copies-cost-summary.py).
# With variant names (scripts/build-variants.sh), each shape runs build's library and each
# variant's in turn, ROUNDS times, one process each, every process against its own `none`.
# On one GPU the probe runs none and local only, without the hold mode (ROUNDS rounds of 20).
#   SHAPES="4,4096 8,4096" HOLD=2.5 ROUNDS=2 scripts/copies-cost.sh base
# Builds build/copies-cost (nvcc) where it is missing. Output and logs under $OUT.
set -uo pipefail
final=${OUT:-/tmp/out}
mkdir -p "$final"
libs=$PWD/build:$PWD/.carry/lib
probe=build/copies-cost
if [ ! -x "$probe" ]; then
  nvcc -O2 -std=c++17 -arch=sm_90a -Ic/include scaling/probes/copies-cost.cu -Lbuild -lflashcore -o "$probe" || exit 1
fi
for v in "$@"; do scripts/unpack-variant.sh "$v" "/tmp/fc-copies/lib/$v" || exit 1; done
gpus=$(nvidia-smi -L | wc -l)
hold=${HOLD:-2.5}
[ "$gpus" -ge 2 ] || hold=0
q=timestamp,pci.bus_id,power.draw,clocks.sm,temperature.gpu,clocks_event_reasons.active
nvidia-smi --query-gpu=$q --format=csv,noheader -c 1 > /dev/null 2>&1 ||
  q=timestamp,pci.bus_id,power.draw,clocks.sm,temperature.gpu,clocks_throttle_reasons.active
nvidia-smi --query-gpu=$q --format=csv,noheader -lms 50 > /tmp/fc-copies-smi.csv 2>&1 &
smi=$!
: > "$final/copies-cost.txt"
for shape in ${SHAPES:-4,4096 8,4096}; do
  for ((round = 1; round <= ${ROUNDS:-2}; round++)); do
    for v in build "$@"; do
      lib=$libs
      [ "$v" = build ] || lib=/tmp/fc-copies/lib/$v:$libs
      echo "== $v B,S=$shape round $round" | tee -a "$final/copies-cost.txt"
      LD_LIBRARY_PATH=$lib timeout 120 "$probe" ${shape/,/ } 1 "$hold" 2>&1 | tee -a "$final/copies-cost.txt" | grep -v "^hold"
    done
  done
done
kill $smi
xz -9 < /tmp/fc-copies-smi.csv > "$final/copies-cost-smi.csv.xz"
if [ "$hold" != 0 ]; then
  python3 scripts/copies-cost-summary.py "$final/copies-cost.txt" /tmp/fc-copies-smi.csv per-run | tee "$final/copies-cost-summary.txt"
fi
