#!/usr/bin/env python3
"""A timing model of flashcore-scale's overlapped rank, to choose chunk plans without a GPU.

The model:
- Every CTA is one 128-row block of one (batch, head). It costs its number of 128-key tiles,
  plus one tile of fixed cost, times T_TILE. One CTA runs per SM, on 132 SMs.
- CTAs are dispatched in the kernel's grid order (fc_block_order): under a causal mask the
  (batch, head) pairs of a group of those whose K and V fit 24 MiB take turns, row blocks
  from the last to the first; otherwise per pair, row blocks from the last to the first.
- Launches alternate between two streams. A launch waits for the previous launch on its own
  stream, and its CTAs take SMs as they free up.
- The gathers run one after another. Each costs L plus its bytes / BW, and each waits for
  its chunk's attention.

Calibration (2x H100 80GB HBM3, 2026-11-25, sm90 D=128):
- T_TILE comes from the unchunked single-GPU times (1.67-1.79 us across seven shapes).
- L and BW come from the gather-only times of the same runs (8, 16 and 32 MiB per rank, in
  4 calls).
- On those seven shapes the model gives the measured 2-GPU attention and total times within
  about 3% (scaling/results/history/scale-h100x2-aa2a11c/).
- It also predicts runs it was not fitted to, the 2- and 8-chunk sweeps
  (results/history/scale-engines/chunks-2-8-40032f9/): the 2-GPU totals come out within 2-6%,
  and slightly pessimistic at causal S=16384.
- That calibration predates the causal dispatch order above (added 2026-11-26, with head
  chunks); it was not fitted again.

    scripts/chunk-model.py            # the seven sweep shapes: plans side by side
"""
import heapq
import math

T_TILE = 1.72e-3  # ms per 128x128 tile of one CTA (D=128)
L = 0.016         # ms per copy-engine all-gather call (two cross-GPU syncs and the copy launch)
BW = 300e9        # bytes/s of one rank's gather
SMS = 132


def head_group(S, D, causal, pairs, budget=24 << 20):
    """fc_head_group: under a causal mask, as many (batch, head) pairs as keep their K and V
    (2 * S * D bf16 values each) within the L2 budget."""
    return max(1, min(pairs, budget // (2 * S * D * 2))) if causal else 1


def ctas(B, H, S, causal, r0, r1, bm=128, bn=128, D=128):
    """Tile counts of one launch's CTAs, in dispatch order (fc_block_order: pairs in groups,
    the remainder group first; inside a group row blocks from the last, every pair of the
    group before the next row block)."""
    nm = math.ceil((r1 - r0) / bm)
    pairs = B * H
    g = head_group(r1, D, causal, pairs)
    sizes = ([pairs % g] if pairs % g else []) + [g] * (pairs // g)
    out = []
    for size in sizes:
        for x in range(nm):
            m = nm - 1 - x
            end = min(r0 + (m + 1) * bm, r1)
            out += [math.ceil((end if causal else S) / bn)] * size
    return out


def run(B, H, S, causal, bounds, D=128, gather=True):
    """(attention end, total end) in ms for one rank with H local heads, row chunks."""
    return run_chunks(B, S, causal, [(bounds[i], bounds[i + 1], H) for i in range(len(bounds) - 1)], D, gather)


def run_chunks(B, S, causal, chunks, D=128, gather=True):
    """As run, for chunks of (first row, end row, heads): row chunks, or head chunks
    (fc_plan_head_split) whose rows are the whole sequence."""
    free = [0.0] * SMS
    stream_ready = [0.0, 0.0]
    ends = []
    for i, (r0, r1, H) in enumerate(chunks):
        ready = stream_ready[i % 2]
        fin = ready
        for tiles in ctas(B, H, S, causal, r0, r1):
            t0 = max(heapq.heappop(free), ready)
            t1 = t0 + (tiles + 1) * T_TILE
            heapq.heappush(free, t1)
            fin = max(fin, t1)
        ends.append(fin)
        stream_ready[i % 2] = fin
    attn = max(ends)
    if not gather:
        return attn, attn
    g = 0.0
    for (r0, r1, H), end in zip(chunks, ends):
        g = max(g, end) + L + (r1 - r0) * B * H * D * 2 / BW * 1e3
    return attn, max(attn, g)


def shares(S, causal, C, align=128):
    """The harness's earlier plan: work shares C : C-1 : ... : 1."""
    total, w, b = C * (C + 1) / 2, 0.0, [0]
    for i in range(C - 1):
        w += (C - i) / total
        r = round((math.sqrt(w) if causal else w) * S / align) * align
        if b[-1] < r < S:
            b.append(r)
    return b + [S]


def last_fraction(S, causal, f, k, align=128):
    """The last chunk holds S*f rows; the rows before it are cut into k chunks of equal work.
    fc_plan_chunks is this with f = 1/8 and k = chunks - 1."""
    rest = S - round(S * f / align) * align
    b = [0]
    for i in range(1, k):
        r = round((math.sqrt(i / k) if causal else i / k) * rest / align) * align
        if b[-1] < r < rest:
            b.append(r)
    return b + [rest, S]


SHAPES = [  # B, local heads at 2 GPUs, S, causal, sweep
    (2, 8, 8192, 1, "strong"), (1, 8, 16384, 1, "strong"), (2, 8, 8192, 0, "strong"),
    (1, 8, 16384, 0, "strong"), (1, 8, 4096, 1, "weak"), (1, 8, 8192, 1, "weak"), (1, 8, 16384, 1, "weak")]


def main():
    plans = {"shares 4 (before)": lambda S, c: shares(S, c, 4), "shares 2": lambda S, c: shares(S, c, 2)}
    for f in (1 / 8, 1 / 4):
        for k in (1, 2):
            plans["last S/%d, %d before" % (round(1 / f), k)] = lambda S, c, f=f, k=k: last_fraction(S, c, f, k)
    # fc_plan_head_split: causal problems in two chunks of whole sequences, the last with H/4
    # heads (row chunks otherwise, as fc_plan_chunks with 2 chunks)
    head_plans = {"heads: last H/4": lambda H, S, c: [(0, S, H - H // 4), (0, S, H // 4)] if c
                  else [(0, r0, H), (r0, S, H)] if (r0 := last_fraction(S, c, 1 / 8, 1)[1]) else None}
    print("%-22s %s" % ("plan", " ".join("%s%d%s" % (w[0], s // 1024, "kc" if c else "k ") for _, _, s, c, w in SHAPES)))
    for name, plan in plans.items():
        effs = []
        for B, H, S, c, sweep in SHAPES:
            t1 = run(B, 2 * H if sweep == "strong" else H, S, c, [0, S], gather=False)[0]
            t2 = run(B, H, S, c, plan(S, c))[1]
            effs.append(t1 / (2 * t2) if sweep == "strong" else t1 / t2)
        print("%-22s %s  min %.1f%% mean %.1f%%" % (name, " ".join("%5.1f" % (100 * e) for e in effs),
                                                   100 * min(effs), 100 * sum(effs) / len(effs)))
    for name, plan in head_plans.items():
        effs = []
        for B, H, S, c, sweep in SHAPES:
            t1 = run(B, 2 * H if sweep == "strong" else H, S, c, [0, S], gather=False)[0]
            t2 = run_chunks(B, S, c, plan(H, S, c))[1]
            effs.append(t1 / (2 * t2) if sweep == "strong" else t1 / t2)
        print("%-22s %s  min %.1f%% mean %.1f%%" % (name, " ".join("%5.1f" % (100 * e) for e in effs),
                                                   100 * min(effs), 100 * sum(effs) / len(effs)))


if __name__ == "__main__":
    main()
