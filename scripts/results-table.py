#!/usr/bin/env python3
"""Markdown tables for README from the results files (so every number there has a file).
    python3 scripts/results-table.py scaling/results/fwd-grid-sm90-h100.json scaling/results/scale-*-h200x2.json"""
import json
import statistics
import sys


def grid(d):
    print(f"`{sys.argv[1]}`: {d['device']}, {d['date']}, commit {d['commit'][:10]}, {d.get('inputs', 'uniform')} inputs; bf16 matmul ceiling "
          f"{d['ceilings']['matmul_bf16_tflops']} TFLOP/s, copy {d['ceilings']['copy_tbps']} TB/s; "
          f"peers: PyTorch {d['peer_software']['torch']} SDPA, same run, same GPU.\n")
    print("| B | H | Hk | Sq | Sk | D | causal | flashcore ms | TFLOP/s | % of matmul | x FA2 | x cuDNN | x efficient |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in d["rows"]:
        p = r["peers"]
        x = lambda n: f"{p[n]['ms'] / r['ms']:.2f}" if p[n].get("ms") else "n/a"
        tf = f"{r['tflops']:.0f}" if r["Sq"] > 1 else f"{r['gbps']:.0f} GB/s"
        print(f"| {r['B']} | {r['H']} | {r['Hk']} | {r['Sq']} | {r['Sk']} | {r['D']} | {int(r['causal'])} | {r['ms']:.3f} | "
              f"{tf} | {100 * r['ceiling_fraction']:.0f} | {x('flash')} | {x('cudnn')} | {x('efficient')} |")
    std = [r for r in d["rows"] if r["Sq"] == r["Sk"] and r["H"] == r["Hk"] and r["B"] * r["Sq"] == 16384
           and r["D"] in (64, 128)]
    fa = [r["peers"]["flash"]["ms"] / r["ms"] for r in std]
    cu = [r["peers"]["cudnn"]["ms"] / r["ms"] for r in std]
    print(f"\nStandard grid (D=64 and 128, S 512..16384, causal and not, {len(std)} shapes): median "
          f"{statistics.median(fa):.2f}x FlashAttention-2 (min {min(fa):.2f}, max {max(fa):.2f}), median "
          f"{statistics.median(cu):.2f}x cuDNN.\n")
    # The sm90 family's bars against cuDNN (issue: Hopper family), shape by shape.
    bars = [("D=128, S >= 2048", lambda r: r["D"] == 128 and r["H"] == r["Hk"] and r["Sq"] >= 2048 and r["Sq"] <= 16384, 1.0),
            ("D=128, S 512 and 1024", lambda r: r["D"] == 128 and r["Sq"] in (512, 1024), 0.9),
            ("D=64, S >= 2048", lambda r: r["D"] == 64 and r["Sq"] >= 2048, 1.0),
            ("D=256 (H=8)", lambda r: r["D"] == 256, 0.9),
            ("long context (S 32768, 65536)", lambda r: r["Sq"] >= 32768, 1.0)]
    out = []
    for name, pick, bar in bars:
        rows = [r for r in d["rows"] if pick(r) and r["peers"]["cudnn"].get("ms")]
        if not rows:
            continue
        x = [r["peers"]["cudnn"]["ms"] / r["ms"] for r in rows]
        out.append(f"{name}: {sum(v >= bar for v in x)} of {len(x)} at >= {bar:.1f}x cuDNN "
                   f"({min(x):.2f}-{max(x):.2f}x)")
    print("Against cuDNN: " + "; ".join(out) + ".\n")


def scale(files):
    print("| file | mode | sweep | B | H/GPU or H | S | causal | 1 GPU ms | 2 GPUs ms | exposed comm ms | busbw GB/s | efficiency | #wrong |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for f in files:
        d = json.load(open(f))
        rows = d["rows"]
        for r2 in rows:
            if r2["ranks"] == 1:
                continue
            r1 = next(r for r in rows if r["ranks"] == 1 and r["S"] == r2["S"] and r["B"] == r2["B"] and r["causal"] == r2["causal"]
                      and (r["H"] == r2["H"] or d["sweep"] == "weak"))
            h = r2["H"] // r2["ranks"] if d["sweep"] == "weak" else r2["H"]
            print(f"| {f.split('/')[-1]} | {d['mode']} | {d['sweep']} | {r2['B']} | {h} | {r2['S']} | {int(r2['causal'])} | "
                  f"{r1['time_ms']:.3f} | {r2['time_ms']:.3f} | {r2['exposed_ms']:.3f} | {r2['busbw_gbps']:.0f} | "
                  f"{100 * r2['efficiency']:.1f}% | {r2['wrong']} |")
    print()


d = json.load(open(sys.argv[1]))
grid(d)
if sys.argv[2:]:
    scale(sys.argv[2:])
