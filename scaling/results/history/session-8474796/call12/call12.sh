#!/usr/bin/env bash
# Session 8474796, call 12 (one H200): pre (2798a64) against whole (4 stages for exact D=64
# launches that do not split), 7 rounds of flashcore-bench --json; whole's suite and sanitizers.
set -uo pipefail
export OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"; export FC_COMMIT=$(cat .carry/commit) NCCL_NVLS_ENABLE=0
scripts/gpu-info.sh "$OUT/gpu.txt" > /dev/null; echo "== start $(date +%T)"
vs="pre whole"
for v in $vs; do scripts/unpack-variant.sh $v /tmp/v/$v; done
args=(--shape 1,8,1,1,65536,64,0 --shape 1,32,8,1,8192,64,0 --shape 1,32,8,1,32768,64,0 --shape 64,32,8,1,8192,64,0 --shape 32,32,32,1,4096,64,0)
for r in 1 2 3 4 5 6 7; do for v in $vs; do
  LD_LIBRARY_PATH=/tmp/v/$v:$PWD/.carry/lib timeout 60 build/scaling/flashcore-bench --family auto --no-check "${args[@]}" --json /tmp/v/$v-$r.json > /tmp/v/$v-$r.log 2>&1 || echo "$v $r rc=$?"
done; done; echo "== rounds done $(date +%T)"
tar -czf "$OUT/runs.tar.gz" -C /tmp/v --exclude=pre --exclude=whole .
python3 - <<'PY' | tee "$OUT/summary.txt"
import json, statistics
vs = ["pre", "whole"]
t = {}
for v in vs:
    for r in range(1, 8):
        for row in json.load(open(f"/tmp/v/{v}-{r}.json"))["rows"]:
            k = " ".join(str(row[x]) for x in ("B", "H", "Hk", "Sq", "Sk", "D"))
            t.setdefault(k, {}).setdefault(v, []).append(row["ms"] * 1000)
print(f"{'B H Hk Sq Sk D':24}" + "".join(f"{v + ' us':>10}" for v in vs) + f"{'x whole':>9}   (medians of 7; each run's range)")
for k, d in t.items():
    m = {v: statistics.median(d[v]) for v in vs}
    print(f"{k:24}" + "".join(f"{m[v]:10.2f}" for v in vs) + f"{m['pre'] / m['whole']:9.3f}   " +
          " ".join(f"{v} {min(d[v]):.2f}-{max(d[v]):.2f}" for v in vs))
PY
cp /tmp/v/whole/libflashcore.so.0.1 build/libflashcore.so.0.1.0
timeout 200 scripts/gpu-check.sh "tests sanitize" auto 2>&1 | tail -n 6 | tee "$OUT/check.txt"
echo "== done $(date +%T)"
