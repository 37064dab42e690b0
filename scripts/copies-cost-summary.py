#!/usr/bin/env python3
"""copies-cost-summary.py HOLD_TXT SMI_CSV [per-run]: each way's block of copies-cost's hold
mode (scripts/copies-cost.sh) with the mean power and SM clock nvidia-smi logged on both GPUs
from one second after the block began to its end, and the launch's time in thousands of SM
cycles (ms x MHz) on GPU 0. Each way against the shape's first `none`, or with a third
argument against its own run's. Lines starting "== " (the calling script's labels) pass
through."""
import datetime, re, statistics, sys

def bus(s):
    return s.strip().lower()[-7:]

if len(sys.argv) not in (3, 4):
    sys.exit("usage: copies-cost-summary.py HOLD_TXT SMI_CSV [per-run]")
try:
    hold_lines, smi_lines = open(sys.argv[1]).readlines(), open(sys.argv[2], errors="replace").readlines()
except OSError as e:
    sys.exit(f"copies-cost-summary.py: {e}")
rows = []
for line in smi_lines:
    p = [x.strip() for x in line.split(",")]
    try:
        t = datetime.datetime.strptime(p[0], "%Y/%m/%d %H:%M:%S.%f").replace(tzinfo=datetime.timezone.utc).timestamp()
        rows.append((t, bus(p[1]), float(p[2].split()[0]), float(p[3].split()[0]), p[5]))
    except (ValueError, IndexError):
        continue
shape, b0, b1 = "?", "", ""
base = {}
for line in hold_lines:
    if line.startswith("== "):  # a label the calling script printed
        print(line.strip())
        continue
    m = re.match(r"(B=\S+ S=\S+) .*GPU 0 (\S+), GPU 1 (\S+)", line)
    if m:
        shape, b0, b1 = m.group(1), bus(m.group(2)), bus(m.group(3))
        if len(sys.argv) > 3:  # each process against its own first `none`
            base.pop(shape, None)
        print(f"{shape}: GPU 0 {b0}, GPU 1 {b1}")
        continue
    m = re.match(r"hold (\S+)\s+start ([\d.]+) end ([\d.]+) launches (\d+) ms ([\d.]+)", line)
    if not m:
        continue
    way, a, b, ms = m.group(1), float(m.group(2)), float(m.group(3)), float(m.group(5))
    out = []
    for name, bid in (("GPU0", b0), ("GPU1", b1)):
        sel = [r for r in rows if r[1] == bid and a + 1.0 <= r[0] <= b]
        if not sel:
            out.append(f"{name}: no samples")
            continue
        w, mhz = statistics.mean(r[2] for r in sel), statistics.mean(r[3] for r in sel)
        if name == "GPU0":
            kc = ms * mhz
            ref = base.setdefault(shape, (ms, mhz, kc)) if way == "none" else base.get(shape)
            rel = f"time {100 * (ms / ref[0] - 1):+5.2f}% clock {100 * (mhz / ref[1] - 1):+5.2f}% cycles {100 * (kc / ref[2] - 1):+5.2f}%" if ref else ""
            out.append(f"{name} {w:6.1f} W {mhz:5.0f} MHz {kc:7.1f} kcycles {rel} reasons {','.join(sorted(set(r[4] for r in sel)))}")
        else:
            out.append(f"{name} {w:6.1f} W {mhz:5.0f} MHz")
    print(f"  {way:6s} {ms:.4f} ms  " + "  |  ".join(out))
