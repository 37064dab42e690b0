#!/usr/bin/env bash
# How often fresh draws miss the correctness rule, case by case, on the device machine:
# fc-cases over the whole matrix (or CASE) in P processes on distinct seeds until TIME_S
# seconds pass, then, per case, the draws, the largest ratio to the naive kernel's error and
# the draws over 2, and every failing line with its seed (FC_TEST_SEED reproduces it, as
# `fc-cases --case NAME` with FC_TEST_SEED = seed - the case's index). One run of the suite
# draws each case once; the first such sweep (results/history/session-9d657f2/) found misses
# in six cases where single runs had shown two.
#   P=14 TIME_S=300 FAMILY=sm90 scripts/rule-sweep.sh     (DEVICE=cpu FAMILY=cpu: the CPU backend)
# RANDOM_SWEEP=1 draws random cases of the feature space instead (fc-cases --random; each line
# names its case in full: random-X, which `fc-cases --random 1 --random-seed X` runs again).
# LIB=DIR runs the libflashcore in DIR (a variant unpacked by scripts/unpack-variant.sh);
# SEED=N fixes the first process's seed (the others add 10^11 each), so two libraries can
# be swept on the same draws.
set -uo pipefail
P=${P:-$(nproc)} limit=${TIME_S:-300} family=${FAMILY:-sm90} lib=${LIB:-$PWD/build}
base=${SEED:-$(( $(date +%s) * 1000 ))}
for v in P TIME_S SEED; do
  [[ -z "${!v:-}" || "${!v}" =~ ^[1-9][0-9]*$ ]] || { echo "rule-sweep: $v=${!v}: use a positive integer" >&2; exit 2; }
done
[ -x build/tests/fc-cases ] || { echo "rule-sweep: build/tests/fc-cases is missing; build first" >&2; exit 2; }
final=${OUT:-/tmp/out}
out=/tmp/fc-rule-sweep
rm -rf "$out" && mkdir -p "$out" "$final"
for k in $(seq 0 $((P - 1))); do
  if [ "${RANDOM_SWEEP:-0}" = 1 ]; then what=(--random 100000000 --random-seed $((base + k * 1000000000)))
  else what=(${CASE:+--case "$CASE"} --seeds 1000000); fi
  FC_TEST_SEED=$((base + k * 100000000000)) LD_LIBRARY_PATH="$lib:$PWD/.carry/lib" timeout "$limit" \
    build/tests/fc-cases --device "${DEVICE:-0}" --family "$family" "${what[@]}" > "$out/p$k.log" 2>&1 &
done
wait
# A line: name, pass|FAIL, max, naive, ratio, ..., seed, message; or name, skip, the forced
# family's sentence for a case it lacks (a head dim).
cat "$out"/p*.log | grep -E '^[^ ]+ +(pass|FAIL|skip) ' > "$out/lines.txt"
if [ ! -s "$out/lines.txt" ]; then  # fc-cases refused its arguments or the device
  echo "rule-sweep: no case ran; fc-cases said:" >&2
  head -n 3 "$out/p0.log" >&2
  exit 1
fi
awk '{ r = 0; for (i = 1; i < NF; i++) if ($i == "ratio") r = $(i + 1) + 0
       if ($2 == "skip") { refused[$1]++; next }
       n[$1]++; if (r > m[$1]) m[$1] = r
       if ($2 == "FAIL") { if ($0 ~ /2\*max\|naive-ref\|/) over[$1]++; else other[$1]++ } }
     END { for (c in n) printf "%-30s draws %6d  max ratio %.3f  over 2 %d  other failures %d\n", c, n[c], m[c], over[c] + 0, other[c] + 0
           for (c in refused) printf "%-30s refused by the family %d times\n", c, refused[c] }' \
  "$out/lines.txt" | sort > "$out/summary.txt"
echo "rule sweep: family $family, $P processes, ${limit} s, first seed $base, library $lib"
awk '{ d += $3; o += $9; x += $12 } END { printf "%d draws, %d over 2, %d other failures\n", d, o, x }' \
  <(grep draws "$out/summary.txt")
sort -k6 -nr "$out/summary.txt" | grep draws | head -n 12
grep ' FAIL ' "$out/lines.txt" | head -n 20
cp "$out/summary.txt" "$final/rule-sweep-summary.txt"
tar -czf "$final/rule-sweep-logs.tar.gz" -C "$out" .
