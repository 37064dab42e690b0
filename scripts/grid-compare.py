#!/usr/bin/env python3
"""Side by side: the first results file (with peers) against other runs of the same grid.
   scripts/grid-compare.py base.json other.json [...]   prints ms and the ratio to cuDNN."""
import json
import sys

def key(r):
    return (r["B"], r["H"], r["Hk"], r["Sq"], r["Sk"], r["D"], bool(r["causal"]))

runs = [json.load(open(f)) for f in sys.argv[1:]]
others = [{key(r): r for r in d["rows"]} for d in runs[1:]]
print(f"{'B':>3} {'H':>3} {'Sq':>6} {'D':>4} c " + " ".join(f"{'ms' + str(i):>8} {'x/cudnn':>7}" for i in range(len(runs))) + f" {'cudnn':>8}")
for r in runs[0]["rows"]:
    cudnn = (r.get("peers", {}).get("cudnn") or {}).get("ms")
    line = f"{r['B']:>3} {r['H']:>3} {r['Sq']:>6} {r['D']:>4} {int(r['causal'])} "
    for row in [r] + [o.get(key(r)) for o in others]:
        ms = row["ms"] if row else float("nan")
        line += f"{ms:>8.3f} {cudnn / ms if cudnn else float('nan'):>7.2f} "
    print(line + (f"{cudnn:>8.3f}" if cudnn else ""))
