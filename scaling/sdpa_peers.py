#!/usr/bin/env python3
"""Time PyTorch scaled_dot_product_attention's FLASH_ATTENTION, CUDNN_ATTENTION and
EFFICIENT_ATTENTION backends on the shapes of a flashcore-bench JSON, on the same GPU in the
same run, measure the bf16 matmul and copy ceilings, and write the merged results file.

    python3 scaling/sdpa_peers.py bench.json scaling/results/fwd-grid-sm80-h100.json [--peer-layout bshd]

The peers' q, k and v are BHSD memory (torch.randn(B, H, S, D), each head's rows one run) unless
--peer-layout bshd gives them [B, S, H, D] memory seen as [B, H, S, D] through a transpose, the
layout flashcore-bench uses by default (its --layout bhsd gives flashcore the peers' one). For a
memory-bound decode the layout decides how K and V are read (scaling/probes/kv-stream.cu). The
output records it as "peer_layout".

Timing: CUDA events around each call, 3 warm-ups, median of 20, input sets rotated so that
they do not sit in L2 (the same rule flashcore-bench follows). Where a call takes under
QUEUED_BELOW_MS, it is also timed queued ("queued_ms"): a sleep kernel of about 0.2 ms runs
before each timed call, so that PyTorch's host work for the call (dispatch, and the launches
of each of its kernels) is done while the GPU is busy and the events measure its kernels
alone. Per call, a small shape's time is mostly that host work (FA2 read 112-118 us for
one-sequence decodes of 8192 keys whatever the work, results/history/session-cf2c0e6/)."""
import json
import math
import statistics
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

BACKENDS = {
    "flash": SDPBackend.FLASH_ATTENTION,
    "cudnn": SDPBackend.CUDNN_ATTENTION,
    "efficient": SDPBackend.EFFICIENT_ATTENTION,
}


QUEUED_BELOW_MS = 1.0
SLEEP_CYCLES = 400_000  # torch.cuda._sleep: about 0.2 ms at the H100's 1.98 GHz


def time_fn(fn, sets, reps=20, warm=3, queued=False):
    for i in range(warm):
        fn(*sets[i % len(sets)])
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    for i in range(reps):
        args = sets[i % len(sets)]
        if queued:
            torch.cuda.synchronize()
            torch.cuda._sleep(SLEEP_CYCLES)
        starts[i].record()
        fn(*args)
        ends[i].record()
    torch.cuda.synchronize()
    return statistics.median(s.elapsed_time(e) for s, e in zip(starts, ends))


def ceilings():
    n = 8192
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    ms = time_fn(lambda x, y: x @ y, [(a, b)], reps=20)
    mm = 2 * n**3 / (ms * 1e-3) / 1e12
    x = torch.empty(2 * 1024**3 // 2, device="cuda", dtype=torch.bfloat16).uniform_()
    y = torch.empty_like(x)
    ms = time_fn(lambda s, d: d.copy_(s), [(x, y)], reps=20)
    bw = 2 * x.numel() * 2 / (ms * 1e-3) / 1e12
    del a, b, x, y
    return {"matmul_bf16_tflops": round(mm, 1), "copy_tbps": round(bw, 3)}


def peer_times(r, layout="bhsd"):
    B, H, Hk, Sq, Sk, D = r["B"], r["H"], r["Hk"], r["Sq"], r["Sk"], r["D"]
    dt = torch.bfloat16 if r["dtype"] == "bf16" else torch.float16
    per_set = 2 * (B * H * Sq * D + 2 * B * Hk * Sk * D)
    nsets = max(1, min(8, math.ceil(120e6 / per_set)))

    def tensor(heads, rows):  # [B, heads, rows, D] in the chosen memory layout
        if layout == "bshd":
            return torch.randn(B, rows, heads, D, device="cuda", dtype=dt).transpose(1, 2)
        return torch.randn(B, heads, rows, D, device="cuda", dtype=dt)

    sets = []
    for _ in range(nsets):
        sets.append((tensor(H, Sq), tensor(Hk, Sk), tensor(Hk, Sk)))
    out = {}
    if r["causal"] and Sq != Sk:
        # PyTorch's is_causal aligns the diagonal top-left (query i sees keys 0..i); flashcore's
        # causal mask is bottom-right (the last query sees every key): not the same function.
        why = "causal with Sq != Sk: PyTorch's is_causal mask is top-left, flashcore's bottom-right"
        return {name: {"ms": None, "error": why} for name in BACKENDS}
    for name, be in BACKENDS.items():
        def call(q, k, v, be=be):
            with sdpa_kernel([be]):
                return F.scaled_dot_product_attention(q, k, v, is_causal=r["causal"], enable_gqa=H != Hk)
        try:
            ms = time_fn(call, sets)
            out[name] = {"ms": round(ms, 5)}
            if ms < QUEUED_BELOW_MS and hasattr(torch.cuda, "_sleep"):
                out[name]["queued_ms"] = round(time_fn(call, sets, queued=True), 5)
        except Exception as e:  # a backend that does not take this shape
            out[name] = {"ms": None, "error": str(e).splitlines()[0][:160]}
    del sets
    torch.cuda.empty_cache()
    return out


def main():
    args = sys.argv[1:]
    layout = "bhsd"
    if "--peer-layout" in args:
        i = args.index("--peer-layout")
        layout = args[i + 1] if i + 1 < len(args) else ""
        del args[i:i + 2]
    if len(args) != 2 or layout not in ("bhsd", "bshd"):
        sys.exit("usage: sdpa_peers.py BENCH.json OUT.json [--peer-layout bhsd|bshd]")
    src, dst = args
    res = json.load(open(src))
    res["peer_layout"] = layout
    res["ceilings"] = ceilings()
    res["peer_software"] = {"torch": torch.__version__, "cudnn": torch.backends.cudnn.version()}
    print(f"# {res['device']}: matmul {res['ceilings']['matmul_bf16_tflops']} TFLOP/s, "
          f"copy {res['ceilings']['copy_tbps']} TB/s")
    print(f"{'B':>3} {'H':>3} {'Hk':>3} {'Sq':>6} {'Sk':>6} {'D':>4} {'c':>1} {'fc ms':>8} {'TF/s':>6} "
          f"{'%mm':>4} {'flash':>7} {'cudnn':>7} {'effic':>7} {'x/fa2':>6} {'x/cudnn':>7}")
    for r in res["rows"]:
        r["peers"] = peer_times(r, layout)
        r["ceiling_fraction"] = round(r["tflops"] / res["ceilings"]["matmul_bf16_tflops"], 3)
        for name in BACKENDS:
            p = r["peers"][name]
            if p["ms"]:
                p["ratio"] = round(p["ms"] / r["ms"], 3)  # > 1: flashcore is faster
            if p.get("queued_ms"):
                p["queued_ratio"] = round(p["queued_ms"] / r["ms"], 3)
        f = lambda n: r["peers"][n]["ms"] or float("nan")
        print(f"{r['B']:>3} {r['H']:>3} {r['Hk']:>3} {r['Sq']:>6} {r['Sk']:>6} {r['D']:>4} {int(r['causal']):>1} "
              f"{r['ms']:>8.3f} {r['tflops']:>6.1f} {100*r['ceiling_fraction']:>4.0f} {f('flash'):>7.3f} "
              f"{f('cudnn'):>7.3f} {f('efficient'):>7.3f} {f('flash')/r['ms']:>6.2f} {f('cudnn')/r['ms']:>7.2f}",
              flush=True)
    json.dump(res, open(dst, "w"), indent=1)


if __name__ == "__main__":
    main()
