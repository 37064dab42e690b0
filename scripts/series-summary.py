#!/usr/bin/env python3
"""README's 2 x H100 summary against issue 6's targets, from the results files: over several
series (each a folder of flashcore-scale JSON files, strong and weak, threads and MPI, or a
session log where a series kept no JSON), every 2-rank row's efficiency, its range, median and
how many reach the target.

    scripts/series-summary.py            # the eight primed ce-store H100-pair series
    scripts/series-summary.py DIR ...    # other folders (scaling/results/... JSON or session.txt)
"""
import glob
import json
import os
import re
import statistics
import sys
from decimal import ROUND_HALF_UP, Decimal

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
R = 'scaling/results'
# The eight primed ce-store series on H100 pairs (README, Multi-GPU scaling): e533e06, 7f829d4
# on three pairs, 43ad7b6, 6ffdb7e, 772738f and 126f609 (whose folder kept the session's log only).
SERIES = [f'{R}/scale-*-sm90-h100x2.json', f'{R}/history/scale-x2-session-7f829d4',
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


def main(argv):
    series = argv[1:] or SERIES
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


if __name__ == '__main__':
    sys.exit(main(sys.argv))
