#!/usr/bin/env python3
"""A model of the sm90 forward kernels' arithmetic (D=128 and 256, two consumer warpgroups),
for questions about rounding that the GPU answers one seed at a time.

It draws a test case's inputs exactly as tests/support/harness.c does (splitmix64, the
Irwin-Hall normal, bf16 rounding), computes the float64 reference and the same-precision naive
output as the harness does, and runs the kernel's online softmax as the kernel runs it: key
tiles of 128 from the diagonal's tile backwards, each thread's 32 columns of a row (the wgmma
accumulator layout) with its exponentials against the running maximum (the early
exponentials), the lazy maximum (kMaxSlack), optionally the row's slack from a bound on its
sum so far (the branch's kRowSlack), P rounded to bf16 before P V, the row sum from unrounded
P, O normalised at the end and rounded to bf16.

    python3 scripts/sm90_numerics.py --seeds 200            # ratio to the naive error
    python3 scripts/sm90_numerics.py --first 1795725303339767 --seeds 1 --compare out.bin

--compare takes the GPU's output of the first seed as float32 in BSHD order (fc_case.keep_out)
and says how many elements the model gives bit for bit. Needs numpy. The case is
q127-k1000-causal unless --shape B,Sq,Sk,H,Hk,D,causal says otherwise (bf16, default scale).
Variants: lazy (kMaxSlack alone, as the kernels run), exact (the maximum moves on every rise),
row slack (the rule of branch next/row-slack, not merged:
scaling/results/history/variants-h100-sm90-dominance/); or with --slacks 8,1,0 the lazy
maximum with each slack (scaling/results/history/variants-h100-sm90-slack/). --shape 2,1,1000,8,1,64,0 is q1-k1000 (D=64: its warps hold
192-row blocks, --bm 192). --dtype f16, --softcap and --bhsd (the harness draws the inputs in
the layout's memory order) for the cases that have them, e.g. decode-gqa3-bhsd-softcap:
--shape 2,1,300,6,2,64,0 --bm 192 --dtype f16 --softcap 20 --bhsd (its window of 7 to the
right leaves every key of a one-row query visible).
"""
import argparse
import sys

import numpy as np

M64 = (1 << 64) - 1


def normals(seed, n):
    """n draws of the harness's next_normal(), and the generator's state after them."""
    out = np.empty(n)
    s = seed
    for i in range(n):
        s = (s + 0x9E3779B97F4A7C15) & M64
        z = ((s ^ (s >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        r = z ^ (z >> 31)
        total = (r & 0xFFFF) + ((r >> 16) & 0xFFFF) + ((r >> 32) & 0xFFFF) + (r >> 48)
        out[i] = (total / 65536.0 - 2.0) * 1.7320508075688772
    return out, s


def bf16(x):
    """Round float32 to bf16 (to nearest, ties to even), returned as float32."""
    u = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return (((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16).astype(np.uint32).view(np.float32)


def f16(x):
    """Round float32 to f16 (to nearest, ties to even), returned as float32."""
    return np.asarray(x, dtype=np.float32).astype(np.float16).astype(np.float32)


rnd = bf16  # the inputs' type, which P and the output are rounded to (--dtype)
softcap = 0.0  # --softcap: scores become softcap * tanh(scores / softcap)
bhsd = False  # --bhsd: the harness draws the tensors in [B][H][S][D] memory order


def inputs(seed, B, Sq, Sk, H, Hk, D):
    a, s = normals(seed, B * Sq * H * D)
    b, s = normals(s, B * Sk * Hk * D)
    c, s = normals(s, B * Sk * Hk * D)
    if bhsd:
        q = rnd(a.astype(np.float32)).reshape(B, H, Sq, D).transpose(0, 2, 1, 3)
        k = rnd(b.astype(np.float32)).reshape(B, Hk, Sk, D).transpose(0, 2, 1, 3)
        v = rnd(c.astype(np.float32)).reshape(B, Hk, Sk, D).transpose(0, 2, 1, 3)
        return q, k, v
    q = rnd(a.astype(np.float32)).reshape(B, Sq, H, D)
    k = rnd(b.astype(np.float32)).reshape(B, Sk, Hk, D)
    v = rnd(c.astype(np.float32)).reshape(B, Sk, Hk, D)
    return q, k, v


def reference(q, k, v, causal):
    """The harness's float64 reference and its naive pipeline (P normalised, then rounded)."""
    B, Sq, H, D = q.shape
    Sk, Hk = k.shape[1], k.shape[2]
    scale = np.float32(1 / np.sqrt(D))
    ref = np.zeros((B, Sq, H, D))
    naive = np.zeros((B, Sq, H, D), dtype=np.float32)
    for b in range(B):
        for h in range(H):
            K, V = k[b, :, h // (H // Hk)], v[b, :, h // (H // Hk)]
            for i in range(Sq):
                n = i + Sk - Sq + 1 if causal else Sk
                s = (q[b, i, h].astype(np.float64) @ K[:n].T.astype(np.float64)) * float(scale)
                if softcap > 0:
                    s = softcap * np.tanh(s / softcap)
                p = np.exp(s - s.max())
                ref[b, i, h] = (p / p.sum()) @ V[:n]
                sf = (q[b, i, h] @ K[:n].T) * scale
                if softcap > 0:
                    sf = (np.float32(softcap) * np.tanh(sf / np.float32(softcap))).astype(np.float32)
                pf = np.exp(sf - sf.max()).astype(np.float32)
                pf = rnd(pf / pf.sum(dtype=np.float32))
                naive[b, i, h] = rnd(pf @ V[:n])
    return ref, naive


def kernel(q, k, v, causal, slack=8.0, log2_dominance=None, BN=128, BM=128, stats=None):
    """The kernel's output. slack=0 is the exact softmax; log2_dominance=6 is the row's slack
    (the branch's kRowSlack, kLog2Dominance): the maximum moves on a rise past max(row max, B), at most
    slack, B = log2 of a bound on the row's sum so far (128 x each tile's largest exp, the
    largest such term) less log2_dominance. stats: a list of two counts, to which it adds the
    warps that rescale O in a key tile and the warps that run one."""
    B, Sq, H, D = q.shape
    Sk, Hk = k.shape[1], k.shape[2]
    to_log2 = np.float32(np.float32(1 / np.sqrt(D)) * np.float32(1.4426950408889634))
    if softcap > 0:  # the launch's pre_cap and post_cap; the softmax then takes S as log2 units
        pre_cap = np.float32(np.float32(1 / np.sqrt(D)) / np.float32(softcap))
        post_cap = np.float32(np.float32(softcap) * np.float32(1.4426950408889634))
        to_log2 = np.float32(1)
    cols = [np.array([8 * i + 2 * t + e for i in range(BN // 8) for e in (0, 1)]) for t in range(4)]
    warp = (np.arange(Sq) + (-Sq) % BM) // 16  # row blocks end at the sequence's end
    out = np.zeros((B, Sq, H, D), dtype=np.float32)
    f32 = np.float32
    for b in range(B):
        for h in range(H):
            K = k[b, :, h // (H // Hk)]
            V = v[b, :, h // (H // Hk)]
            S = (q[b, :, h].astype(np.float64) @ K.T.astype(np.float64)).astype(f32)
            if softcap > 0:
                S = (post_cap * np.tanh((S * pre_cap).astype(f32))).astype(f32)
            if causal:
                S = np.where(np.arange(Sk)[None, :] <= np.arange(Sq)[:, None] + Sk - Sq, S, -np.inf).astype(f32)
            O = np.zeros((Sq, D), dtype=f32)
            m = np.full(Sq, -np.inf, dtype=f32)
            part = np.zeros((Sq, 4), dtype=f32)  # each thread's part of the row sum
            bound = np.full(Sq, -np.inf, dtype=f32)  # the row's slack: B
            for t0 in range((Sk - 1) // BN * BN, -1, -BN):
                w = min(BN, Sk - t0)
                s = np.full((Sq, BN), -np.inf, dtype=f32)
                s[:, :w] = S[:, t0:t0 + w]
                own = np.stack([s[:, cols[t]].max(axis=1) for t in range(4)], 1) * to_log2
                has = np.isfinite(m)[:, None]
                bo = np.where(has, np.maximum(m[:, None], own - 100), np.where(np.isfinite(own), own, 0)).astype(f32)
                P = np.zeros((Sq, BN), dtype=f32)
                sums = np.zeros((Sq, 4), dtype=f32)
                for t in range(4):
                    P[:, cols[t]] = np.exp2(s[:, cols[t]] * to_log2 - bo[:, t:t + 1]).astype(f32)
                    sums[:, t] = P[:, cols[t]].sum(axis=1, dtype=f32)
                mt = own.max(axis=1)
                lim = m + f32(slack)
                if log2_dominance is not None:
                    with np.errstate(invalid="ignore"):
                        lim = np.minimum(m + f32(slack), np.maximum(m, bound)).astype(f32)
                newm = np.where(mt > lim, mt, m)
                if log2_dominance is not None:  # after the decision, for the next tile
                    bound = np.maximum(bound, mt + f32(7 - log2_dominance)).astype(f32)
                if stats is not None:  # warps whose O is rescaled in this key tile
                    moved = np.isfinite(m) & (newm != m)
                    stats[0] += len(np.unique(warp[moved]))
                    stats[1] += len(np.unique(warp[np.isfinite(newm)]))
                base = np.where(newm == -np.inf, f32(0), newm).astype(f32)
                corr = np.exp2(m - base).astype(f32)
                f = np.where((np.isfinite(m) | np.isfinite(mt))[:, None], np.exp2(bo - base[:, None]), 1).astype(f32)
                for t in range(4):
                    P[:, cols[t]] *= f[:, t:t + 1]
                    sums[:, t] *= f[:, t]
                part = (part * corr[:, None] + sums).astype(f32)
                O = (O * corr[:, None]).astype(f32)
                O = (O + (rnd(P)[:, :w].astype(np.float64) @ V[t0:t0 + w].astype(np.float64)).astype(f32)).astype(f32)
                m = newm
            out[b, :, h] = rnd(O / part.sum(axis=1, dtype=f32)[:, None])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", default="1,127,1000,4,2,128,1", help="B,Sq,Sk,H,Hk,D,causal")
    ap.add_argument("--first", type=int, default=12345678901, help="first seed")
    ap.add_argument("--seeds", type=int, default=100, help="seeds: first, first + 7919, ...")
    ap.add_argument("--compare", help="the GPU's output of the first seed (float32, BSHD)")
    ap.add_argument("--dtype", choices=("bf16", "f16"), default="bf16", help="the inputs' type")
    ap.add_argument("--softcap", type=float, default=0.0, help="the case's softcap (0: none)")
    ap.add_argument("--bhsd", action="store_true", help="the case's layout is BHSD (inputs drawn in that order)")
    ap.add_argument("--bm", type=int, default=128, help="rows a CTA (D=64: 192)")
    ap.add_argument("--slacks", help="instead of the three variants, the lazy maximum with each of "
                    "these kMaxSlack values, e.g. 8,4,3,2,1,0 (0: exact)")
    a = ap.parse_args()
    B, Sq, Sk, H, Hk, D, causal = (int(x) for x in a.shape.split(","))
    if a.softcap < 0:
        ap.error("--softcap %g: use 0 (none) or a positive cap" % a.softcap)
    global rnd, softcap, bhsd
    rnd = f16 if a.dtype == "f16" else bf16
    softcap, bhsd = a.softcap, a.bhsd
    variants = [("lazy", {}), ("exact", {"slack": 0.0}), ("row slack", {"log2_dominance": 6.0})]
    if a.slacks:
        variants = [("slack %g" % float(x), {"slack": float(x)}) for x in a.slacks.split(",")]
    ratios = {name: [] for name, _ in variants}
    for r in range(a.seeds):
        seed = a.first + 7919 * r
        q, k, v = inputs(seed, B, Sq, Sk, H, Hk, D)
        ref, naive = reference(q, k, v, causal)
        worst = np.abs(naive - ref).max()
        line = []
        for name, kw in variants:
            o = kernel(q, k, v, causal, BM=a.bm, **kw)
            ratios[name].append(np.abs(o - ref).max() / worst)
            line.append("%s %.3f" % (name, ratios[name][-1]))
            if a.compare and r == 0 and name == variants[0][0]:
                g = np.fromfile(a.compare, dtype=np.float32).reshape(o.shape)
                print("--compare: %d of %d elements equal to the lazy model (GPU ratio %.3f)" %
                      ((g == o).sum(), o.size, np.abs(g - ref).max() / worst))
        print("seed %d naive %.4g  %s" % (seed, worst, "  ".join(line)), flush=True)
    for name, _ in variants:
        x = np.array(ratios[name])
        print("%-10s median %.3f  p99 %.3f  max %.3f  over 2: %d of %d" %
              (name, np.median(x), np.quantile(x, 0.99), x.max(), (x > 2).sum(), len(x)))


if __name__ == "__main__":
    sys.exit(main())
