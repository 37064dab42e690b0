#!/usr/bin/env python3
"""A cycle model of one SM's two consumer warpgroups in the sm90 D=128 kernel, to ask whether
offsetting their tiles by half a tile would hide a tile's fixed cost (a prediction, not a
measurement). A probe on an H100 did not bear it out: with 3 stages and an offset of 4 key
tiles the model gives 2-8% faster, the probe ran 0-2% slower (kernels/sm90/NOTES.md,
scaling/results/history/session-34ee23c/, call 10). Kept as the record of that prediction
and of what the model lacks.

Today both warpgroups take the 64-row halves of one 128-row tile, so they cross every tile
boundary together and the tensor cores idle through most of it (about 5,100 cycles a tile
against 2,792 a key tile inside the loop at non-causal S=2048: the clock64 trace,
scaling/results/history/tile-trace-h100/). "offset" keeps one K/V stream for both but starts
the second warpgroup's tiles half a tile later, so each boundary falls in the middle of the
other's tile; the turns then alternate only while both warpgroups want one.

The model:
- Each warpgroup runs the kernel's loop: per key tile a turn, Q K^T and the previous P V
  issued together (T cycles of tensor core each, one FIFO tensor core for the SM), the wait
  for Q K^T, the softmax (S), the wait for P V; a tile starts with Q K^T alone and the first
  softmax (S0) and ends with the last P V and the rest of its fixed cost (EPI).
- The ring has STAGES stages of K and of V; a stage's next load (LOAD cycles) starts once
  every warpgroup that reads it has released it (K after its Q K^T, V after its P V).
- Calibration: T = 698 (a key tile's 2,792 cycles are the two warpgroups' four products),
  S0 = 1,260 (the trace's first softmax), EPI = 5,000 (so that the aligned tile's cost over
  its key tiles is the trace's 5,100 cycles at 16 key tiles); S and LOAD are guesses, swept.
- Not modelled: the start of a run of tiles (the second warpgroup idle for half a tile, or a
  split first tile), the persistent grid's tile handout, shared-memory bandwidth.

    scripts/wg-model.py        # offset / aligned time at 4-64 key tiles, 2 and 3 stages,
                               # then at 16 key tiles against the offset and the stages
"""
import sys


def run(mode, off=None, ntiles=16, nb=16, T=698, S=1000, S0=1260, EPI=5000, STAGES=2, LOAD=700, ISSUE=20):
    """Cycles for ntiles tiles of nb key tiles per warpgroup; mode 'aligned' or 'offset' (the
    second warpgroup `off` key tiles behind, half a tile by default)."""
    first = [0, (nb // 2 if off is None else off) if mode == 'offset' else 0]

    def ops(w):
        p = first[w]
        for _ in range(ntiles):
            yield ('stage', p, 'K'); yield ('turn',); yield ('mma', T, ('qk', p)); yield ('pass',)
            yield ('wait', ('qk', p)); yield ('rel', p, 'K'); yield ('cpu', S0)
            for q in range(p + 1, p + nb):
                yield ('stage', q, 'K'); yield ('stage', q - 1, 'V'); yield ('turn',)
                yield ('mma', T, ('qk', q)); yield ('mma', T, ('pv', q - 1)); yield ('pass',)
                yield ('wait', ('qk', q)); yield ('rel', q, 'K'); yield ('cpu', S)
                yield ('wait', ('pv', q - 1)); yield ('rel', q - 1, 'V'); yield ('cpu', 60)
            q = p + nb - 1
            yield ('stage', q, 'V'); yield ('turn',); yield ('mma', T, ('pv', q)); yield ('pass',)
            yield ('wait', ('pv', q)); yield ('rel', q, 'V'); yield ('cpu', EPI)
            p += nb

    last = [first[w] + ntiles * nb - 1 for w in (0, 1)]
    gens = [ops(0), ops(1)]
    cur = [next(gens[0]), next(gens[1])]
    t = [0.0, 0.0]
    tensor, done, rel = 0.0, {}, {}
    holder, turn_free, last_turn, nturns = None, 0.0, 1, [0, 0]

    def stage_time(p, kind):
        if p < STAGES:
            return LOAD
        need = [(w, p - STAGES, kind) for w in (0, 1) if first[w] <= p - STAGES <= last[w]]
        if any(n not in rel for n in need):
            return None
        return max(rel[n] for n in need) + LOAD

    while cur[0] is not None or cur[1] is not None:
        moved = False
        for w in sorted((0, 1), key=lambda x: t[x] if cur[x] is not None else float('inf')):
            op, o = cur[w], 1 - w
            if op is None:
                continue
            k = op[0]
            if k == 'stage':
                ready = stage_time(op[1], op[2])
                if ready is None:
                    continue
                t[w] = max(t[w], ready)
            elif k == 'turn':
                if holder is not None:
                    continue
                if mode == 'aligned':  # strict alternation, the first warpgroup first
                    if nturns[w] > nturns[o] or (w == 1 and nturns[1] == nturns[0]):
                        continue
                else:  # the other goes first if it waits and this one took the last turn
                    waits = cur[o] is not None and cur[o][0] == 'turn' and t[o] <= max(t[w], turn_free)
                    if last_turn == w and waits:
                        continue
                t[w] = max(t[w], turn_free)
                holder, last_turn = w, w
            elif k == 'pass':
                holder, turn_free = None, t[w]
                nturns[w] += 1
            elif k == 'mma':
                tensor = max(t[w], tensor) + op[1]
                done[(w,) + op[2]] = tensor
                t[w] += ISSUE
            elif k == 'wait':
                t[w] = max(t[w], done[(w,) + op[1]])
            elif k == 'rel':
                rel[(w, op[1], op[2])] = t[w]
            elif k == 'cpu':
                t[w] += op[1]
            cur[w] = next(gens[w], None)
            moved = True
            break
        if not moved:
            raise RuntimeError(f'the model deadlocked at {cur}')
    return max(t)


def main():
    if len(sys.argv) > 1:
        print(__doc__.strip().split('\n\n')[-1])
        return 2
    print('key tiles  S     LOAD  offset/aligned: 2 stages  3 stages')
    for nb in (4, 8, 16, 32, 64):
        for s in (800, 1000, 1200):
            for load in (500, 1000):
                r = [run('offset', nb=nb, S=s, LOAD=load, STAGES=st) / run('aligned', nb=nb, S=s, LOAD=load, STAGES=st)
                     for st in (2, 3)]
                print(f'{nb:9d}  {s:4d}  {load:4d}  {r[0]:23.3f}  {r[1]:8.3f}')
    print('16 key tiles, S 1000, LOAD 700: offset/aligned against the offset (key tiles)')
    for st in (2, 3, 4):
        a = run('aligned', STAGES=st)
        print(f'  {st} stages: ' + '  '.join(f'{o}: {run("offset", off=o, STAGES=st) / a:.3f}' for o in (1, 2, 3, 4, 6, 8)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
