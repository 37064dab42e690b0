#!/usr/bin/env bash
# Plot speedup and efficiency against GPUs from flashcore-scale JSON files (gnuplot-nox).
#   scaling/plot.sh OUT.png strong.json [weak.json ...]
set -euo pipefail
out=$1; shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
plots_speed=() plots_eff=()
i=0
for f in "$@"; do
  # One data file per (file, shape): columns ranks, speedup, efficiency.
  python3 - "$f" "$tmp/$i" <<'PY'
import json, sys, collections
d = json.load(open(sys.argv[1]))
series = collections.OrderedDict()
for r in d["rows"]:
    key = "%s %s %s B=%d H=%d/%d S=%d D=%d%s" % (d["sweep"], d["mode"], d.get("gather", ""), r["B"], r["H"] // r["ranks"] if d["sweep"] == "weak" else r["H"],
          r["Hk"] // r["ranks"] if d["sweep"] == "weak" else r["Hk"], r["S"], r["D"], " causal" if r["causal"] else "")
    series.setdefault(key, []).append((r["ranks"], r["speedup"], 100 * r["efficiency"]))
for n, (k, pts) in enumerate(series.items()):
    with open("%s-%d.dat" % (sys.argv[2], n), "w") as f:
        f.write("# %s\n" % k)
        for p in pts:
            f.write("%d %.4f %.2f\n" % p)
    print("%s-%d.dat\t%s" % (sys.argv[2], n, k))
PY
  i=$((i + 1))
done > "$tmp/index"
while IFS=$'\t' read -r dat title; do
  plots_speed+=("'$dat' using 1:2 with linespoints title '$title'")
  plots_eff+=("'$dat' using 1:3 with linespoints title '$title'")
done < "$tmp/index"
join() { local IFS=,; echo "$*"; }
gnuplot <<GP
set terminal pngcairo size 1400,560 font ",10"
set output '$out'
set multiplot layout 1,2 title "flashcore-scale: $(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(d['device'], d['date'], 'commit', d['commit'][:10])" "$1")"
set xlabel "GPUs"
set xtics 1
set grid
set key top left font ",8"
set ylabel "speedup (strong: T1/TN; weak: N*T1/TN)"
plot $(join "${plots_speed[@]}"), x with lines dt 2 lc rgb "gray" title "ideal"
set ylabel "efficiency (%)"
set yrange [0:110]
set key bottom left font ",8"
plot $(join "${plots_eff[@]}")
unset multiplot
GP
echo "wrote $out"
