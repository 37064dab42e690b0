#!/usr/bin/env python3
"""Markdown tables for README and docs/ from the results files (so every number there has a file).
    python3 scripts/results-table.py scaling/results/fwd-grid-sm90-h100.json scaling/results/scale-*-h200x2.json
    python3 scripts/results-table.py --series [DIR ...]
--series: README's 2 x H100 summary against issue 6's targets: over several series (each a
folder of flashcore-scale JSON files, strong and weak, threads and MPI, or a
scripts/scale-session.sh log where a series kept no JSON), every 2-rank row's efficiency,
its range, median and how many reach the target; by default the sixteen primed ce-store
H100-pair series README names."""
import glob
import json
import os
import re
import statistics
import sys
from decimal import ROUND_HALF_UP, Decimal

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))


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
    # "counted": the ranks waited for each other's counted stores (out_signals); busbw is 0
    # where the kernels store the output themselves, so the table gives chunks and counted.
    print("| file | mode | sweep | B | H/GPU or H | S | causal | 1 GPU ms | 2 GPUs ms | exposed ms | chunks | counted | efficiency | #wrong |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
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
                  f"{r1['time_ms']:.3f} | {r2['time_ms']:.3f} | {r2['exposed_ms']:.3f} | {r2.get('chunks', '-')} | "
                  f"{'yes' if r2.get('counted_stores') else 'no'} | "
                  f"{100 * r2['efficiency']:.1f}% | {r2['wrong']} |")
    print()


R = 'scaling/results'
# The sixteen primed ce-store series on H100 pairs (README, Multi-GPU scaling): session afeb150's
# call 5 (the top-level files), session cbe1508's call 9 (the last launch timed in a third run,
# f55d712), session c5a3b23's calls 6 and 6b (one pair; the gathered buffer poisoned, #wrong
# scanning it), session dada976's call 5 (the barrier by events) and call 3, session fdf6fae's calls 16 and 15, e533e06, 7f829d4 on
# three pairs, 43ad7b6, 6ffdb7e, 772738f and 126f609 (whose folder kept the session's log only).
SERIES = [f'{R}/history/session-afeb150/call5', f'{R}/history/session-cbe1508/call9', f'{R}/history/session-c5a3b23/call6',
          f'{R}/history/session-c5a3b23/call6b', f'{R}/history/session-dada976/call5', f'{R}/history/session-dada976/call3', f'{R}/history/session-fdf6fae/call16/logs',
          f'{R}/history/session-fdf6fae/call15/logs',
          f'{R}/history/session-9d657f2/call1', f'{R}/history/scale-x2-session-7f829d4',
          f'{R}/history/scale-x2-session-7f829d4/run2', f'{R}/history/scale-x2-session-7f829d4/run3',
          f'{R}/history/scale-h100x2-43ad7b6', f'{R}/history/scale-h100x2-6ffdb7e',
          f'{R}/history/scale-h100x2-772738f', f'{R}/history/scale-primed-h100x2-126f609/session.txt']
ROWS = [('strong', 8192, 1, 90), ('strong', 8192, 0, 90), ('strong', 16384, 1, 95), ('strong', 16384, 0, 95),
        ('weak', 16384, 1, 95), ('weak', 8192, 1, 95), ('weak', 4096, 1, 95)]


def main_files(spec):
    """The strong and weak sweeps' JSON files of a series (not store, ce, tokens or mixed runs)."""
    files = glob.glob(os.path.join(ROOT, spec)) if spec.endswith('.json') else glob.glob(os.path.join(ROOT, spec, '*.json'))
    keep = []
    for f in files:
        b = os.path.basename(f)
        if ('strong' in b or 'weak' in b) and not any(x in b for x in ('store', '-ce-', 'tokens', 'gather', 'mixed')):
            keep.append(f)
    return keep


def values(spec):
    """(sweep, S, causal) -> efficiencies in % of a series' 2-rank rows."""
    out = {}
    if spec.endswith('.txt'):  # scripts/scale-session.sh's log: "== strong-threads", ... sections
        section = ''
        for line in open(os.path.join(ROOT, spec)):
            if line.startswith('== '):
                section = line[3:].strip()
                continue
            # ranks B H Hk S D causal ... efficiency% #wrong
            m = re.match(r'\s+2\s+\d+\s+\d+\s+\d+\s+(\d+)\s+128\s+([01])\s.*\s([\d.]+)%\s+\d+\s*$', line)
            if m and section in ('strong-threads', 'strong-mpi', 'weak-threads', 'weak-mpi'):
                out.setdefault((section.split('-')[0], int(m[1]), int(m[2])), []).append(float(m[3]))
        return out
    for f in main_files(spec):
        d = json.load(open(f))
        if 'H100' not in d.get('device', ''):
            continue
        for r in d['rows']:
            if r['ranks'] == 2:
                out.setdefault((d['sweep'], r['S'], int(r['causal'])), []).append(round(100 * r['efficiency'], 1))
    return out


def series(specs):
    """README's 2 x H100 summary against issue 6's targets over several series."""
    series = specs or SERIES
    allv = {}
    for spec in series:
        try:
            v = values(spec)
        except (OSError, ValueError, KeyError) as e:
            print(f'{spec}: cannot read ({e})')
            return 2
        if not v:
            print(f'{spec}: no 2-rank rows found')
            return 2
        for k, x in v.items():
            allv.setdefault(k, []).extend(x)
    print(f'| sweep | S | target | values | range | median | at the target |')
    print('|---|---|---|---|---|---|---|')
    for sweep, s, causal, target in ROWS:
        x = allv.get((sweep, s, causal), [])
        if not x:
            continue
        name = f"{sweep} {'causal' if causal else 'non-causal'}" if sweep == 'strong' else sweep
        med = Decimal(str(statistics.median(x))).quantize(Decimal('0.1'), ROUND_HALF_UP)
        print(f'| {name} | {s} | ≥ {target}% | {len(x)} | {min(x):.1f}-{max(x):.1f}% | {med}% | '
              f'{sum(v >= target for v in x)} of {len(x)} |')
    return 0



if len(sys.argv) < 2:
    print(__doc__.strip().split('\n', 1)[1])
    sys.exit(2)
if sys.argv[1] == '--series':
    sys.exit(series(sys.argv[2:]))
d = json.load(open(sys.argv[1]))
grid(d)
if sys.argv[2:]:
    scale(sys.argv[2:])
