#!/usr/bin/env python3
"""Where a kernel's warps wait, region by region, from the per-instruction warp-state samples
that `SOURCE=1 scripts/profile-sm90.sh` writes (src-*.csv, ncu's source page with SASS).

    python3 scripts/ncu-regions.py src.csv [START_HEX ...]

Prints the loops (backward branches around at least 0x300 bytes, with their trip counts), then,
for each region that starts at an offset given (from the kernel's first instruction), its
share of the samples, its instructions executed and its top stall reasons."""
import collections
import csv
import lzma
import sys

path = sys.argv[1]
rows = list(csv.reader((lzma.open if path.endswith(".xz") else open)(path, "rt")))
hdr, data = rows[1], rows[2:]
ix = {h: i for i, h in enumerate(hdr)}
stalls = [h for h in hdr if h.startswith("stall_") and "Not Issued" not in h]
base = int(data[0][ix["Address"]], 16)
ins = []
for r in data:
    samples = {k[6:]: int(r[ix[k]]) for k in stalls if r[ix[k]] not in ("", "0")}
    ins.append((int(r[ix["Address"]], 16) - base, r[ix["Source"]].strip(), int(r[ix["Instructions Executed"]] or 0), samples))
for a, src, ex, _ in ins:
    if "BRA" in src and "0x" in src and ex:
        try:
            t = int(src.split("0x")[-1].split()[0].rstrip(";"), 16) - base
        except ValueError:
            continue
        if t < a and a - t > 0x300:
            print(f"loop {t:06x}..{a:06x}: {ex} back branches")
cuts = sorted({0, *(int(x, 16) for x in sys.argv[2:])})
samples, executed = collections.defaultdict(collections.Counter), collections.Counter()
for a, _, ex, s in ins:
    c = max(x for x in cuts if x <= a)
    executed[c] += ex
    samples[c].update(s)
total = sum(sum(c.values()) for c in samples.values())
print(f"{total} samples")
for c in cuts:
    n = sum(samples[c].values())
    top = ", ".join(f"{k} {v}" for k, v in samples[c].most_common(4))
    print(f"from {c:06x}: {n:6d} samples ({100 * n / max(total, 1):4.1f}%), {executed[c]:11d} instructions; {top}")
