#!/usr/bin/env python3
"""flashcore against PyTorch's CUDNN_ATTENTION backend, call by call in one process on the same
input values: a paired comparison for shapes whose ratio sits near its bar.

    python3 scaling/sdpa_paired.py --lib build/libflashcore.so --grid scaling/results/fwd-grid-sm90-h100.json \
        --samples 60 --inputs uniform --json paired.json [--only D=128,causal=0]

The grid (flashcore-bench, then scaling/sdpa_peers.py) times each shape in a short burst of 20
calls, all of flashcore's shapes first and the peers' a few minutes later in another process,
flashcore on its own generator's values and the peers on torch.randn's. Here the two run
interleaved on one shape: each sample calls flashcore twice and cuDNN twice, back to back
(which goes first alternates), and times the second call of each with CUDA events, so that
every timed call follows a call of itself; untimed samples come first. The GPU computes
without a pause, so it runs at its power cap; called in turn, both run at the same clock
(results/history/session-18d54b0/, call 5), so the ratio is the kernels' speed at one clock.
Run alone at the cap each settles at its own clock, which depends on the power it draws
(call 4: cuDNN's D=128 kernel draws more than flashcore's for the same work). The ratio is
cuDNN's median over flashcore's (> 1: flashcore is faster), with the same ratio in each
quarter of the samples as its spread.
flashcore is called through its C API (ctypes) on PyTorch's current stream; its output is
compared with cuDNN's once per shape, to catch a call that went wrong (the float64 check by
VALIDATION.md's rule is the grid's and the tests')."""
import argparse
import ctypes
import json
import math
import os
import statistics
import subprocess
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel


DTYPE = {"bf16": (torch.bfloat16, 2), "f16": (torch.float16, 1)}  # fc_dtype values


class Tensor(ctypes.Structure):  # fc_tensor
    _fields_ = [("data", ctypes.c_void_p), ("dtype", ctypes.c_int),
                ("shape", ctypes.c_int64 * 4), ("stride", ctypes.c_int64 * 4)]


class Options(ctypes.Structure):  # fc_attn_options, as FC_ATTN_OPTIONS_INIT sets it
    _fields_ = [("size", ctypes.c_size_t), ("softmax_scale", ctypes.c_float), ("causal", ctypes.c_int),
                ("window_left", ctypes.c_int64), ("window_right", ctypes.c_int64), ("softcap", ctypes.c_float),
                ("cu_seqlens_q", ctypes.c_void_p), ("cu_seqlens_k", ctypes.c_void_p),
                ("num_seqs", ctypes.c_int64), ("max_seqlen_q", ctypes.c_int64), ("family", ctypes.c_int),
                ("out_copies", ctypes.c_void_p), ("num_out_copies", ctypes.c_int),
                ("out_signals", ctypes.c_void_p)]


class Flashcore:
    def __init__(self, path, device):
        try:
            self.lib = ctypes.CDLL(path)
        except OSError as e:
            sys.exit(f"cannot load {path}: {e}")
        self.lib.fc_tensor_bshd.restype = Tensor
        self.lib.fc_tensor_bshd.argtypes = [ctypes.c_void_p, ctypes.c_int] + [ctypes.c_int64] * 4
        self.lib.fc_attention_forward.argtypes = [ctypes.c_void_p] * 8
        self.lib.fc_last_error.restype = ctypes.c_char_p
        self.lib.fc_status_string.restype = ctypes.c_char_p
        self.lib.fc_version_string.restype = ctypes.c_char_p
        self.ctx = ctypes.c_void_p()
        if self.lib.fc_context_create(device, ctypes.byref(self.ctx)) != 0:
            sys.exit(f"fc_context_create: {self.lib.fc_last_error(None).decode()}")

    def prepare(self, q, k, v, o, causal):
        """The arguments of one call, built once: q, o [B, S, H, D] and k, v [B, S, Hk, D],
        contiguous, on the current device; the call runs on PyTorch's current stream."""
        code = DTYPE["bf16" if q.dtype == torch.bfloat16 else "f16"][1]
        ts = [self.lib.fc_tensor_bshd(ctypes.c_void_p(t.data_ptr()), code, *t.shape) for t in (q, k, v, o)]
        opts = Options(ctypes.sizeof(Options), 0.0, int(causal), -1, -1, 0.0, None, None, 0, 0, 0, None, 0, None)
        keep = (ts, opts)  # the structures must outlive the pointers to them
        return keep, [self.ctx] + [ctypes.byref(t) for t in ts] + [None, ctypes.byref(opts),
                                                                   ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)]

    def call(self, prepared):
        st = self.lib.fc_attention_forward(*prepared[1])
        if st != 0:
            raise RuntimeError(f"fc_attention_forward: {self.lib.fc_status_string(st).decode()}: "
                               f"{self.lib.fc_last_error(self.ctx).decode()}")


def draw(shape, dt, inputs):
    if inputs == "normal":
        return torch.randn(shape, device="cuda", dtype=dt)
    return (torch.rand(shape, device="cuda", dtype=torch.float32) * 2 - 1).to(dt)  # flashcore-bench's range


def paired(fc, r, samples, inputs):
    B, H, Hk, Sq, Sk, D, causal = r["B"], r["H"], r["Hk"], r["Sq"], r["Sk"], r["D"], bool(r["causal"])
    dt = DTYPE[r.get("dtype", "bf16")][0]
    # Input sets rotated as in sdpa_peers.py: each implementation's sets (q, k, v in its own
    # layout) take at least 120 MB together, so that they do not sit in L2.
    per_set = 2 * (B * H * Sq * D + 2 * B * Hk * Sk * D)
    nsets = max(1, min(8, math.ceil(120e6 / per_set)))
    fsets, csets = [], []
    for _ in range(nsets):
        q, k, v = draw((B, Sq, H, D), dt, inputs), draw((B, Sk, Hk, D), dt, inputs), draw((B, Sk, Hk, D), dt, inputs)
        o = torch.empty_like(q)
        fsets.append((fc.prepare(q, k, v, o, causal), o))
        csets.append(tuple(t.transpose(1, 2).contiguous() for t in (q, k, v)))  # the grid's peers' layout

    def cudnn(q, k, v):
        with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
            return F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=H != Hk)

    fc.call(fsets[0][0])
    ref = cudnn(*csets[0]).transpose(1, 2)
    diff = (fsets[0][1].float() - ref.float()).abs().max().item()
    if not diff < 0.05:  # both are bf16/f16 attention of the same values; NaN fails too
        raise RuntimeError(f"flashcore and cuDNN disagree by {diff} on {r}")
    calls = {"fc": lambda i: fc.call(fsets[i % nsets][0]), "cudnn": lambda i: cudnn(*csets[i % nsets])}
    ev = [[torch.cuda.Event(enable_timing=True) for _ in range(4)] for _ in range(samples)]
    # The host must stay ahead of the GPU, or a timed interval would hold the host's time to
    # issue the call (PyTorch's dispatch is slower than ctypes): the GPU first spins for about
    # 0.1 s while every sample is queued behind it. The spin draws little power, so the first
    # samples after it ran at other clocks (call 3 of results/history/session-18d54b0/): a
    # sixth as many untimed samples come first.
    torch.cuda._sleep(200_000_000)
    for i in range(-max(8, samples // 6), samples):
        order = ("fc", "cudnn") if i % 2 == 0 else ("cudnn", "fc")
        for j, name in enumerate(order):
            calls[name](2 * i)  # the timed call follows one of its own
            if i >= 0:
                ev[i][2 * j].record()
            calls[name](2 * i + 1)
            if i >= 0:
                ev[i][2 * j + 1].record()
    torch.cuda.synchronize()
    t = {"fc": [], "cudnn": []}
    for i in range(samples):
        order = ("fc", "cudnn") if i % 2 == 0 else ("cudnn", "fc")
        for j, name in enumerate(order):
            t[name].append(ev[i][2 * j].elapsed_time(ev[i][2 * j + 1]))
    med = {name: statistics.median(x) for name, x in t.items()}
    q = max(1, samples // 4)
    parts = [statistics.median(t["cudnn"][k:k + q]) / statistics.median(t["fc"][k:k + q])
             for k in range(0, samples - q + 1, q)]
    del fsets, csets
    torch.cuda.empty_cache()
    return {"B": B, "H": H, "Hk": Hk, "Sq": Sq, "Sk": Sk, "D": D, "causal": causal, "dtype": r.get("dtype", "bf16"),
            "max_abs_diff_vs_cudnn": round(diff, 5), "fc_ms": round(med["fc"], 5), "cudnn_ms": round(med["cudnn"], 5),
            "ratio": round(med["cudnn"] / med["fc"], 4), "ratio_quarters": [round(x, 4) for x in parts],
            "fc_samples_ms": [round(x, 5) for x in t["fc"]], "cudnn_samples_ms": [round(x, 5) for x in t["cudnn"]]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lib", default="build/libflashcore.so")
    ap.add_argument("--grid", required=True, help="a grid JSON whose rows give the shapes")
    ap.add_argument("--only", default="", help="keep rows matching D=N and/or causal=0|1, comma-separated")
    ap.add_argument("--samples", type=int, default=60)
    ap.add_argument("--inputs", choices=["uniform", "normal"], default="uniform")
    ap.add_argument("--json", required=True)
    a = ap.parse_args()
    if a.samples < 4:
        sys.exit("--samples must be at least 4")
    pairs = [kv.split("=", 1) for kv in a.only.split(",") if kv]
    if not all(len(kv) == 2 and kv[0] in ("D", "causal") and kv[1].isdigit() for kv in pairs):
        sys.exit(f"--only takes D=N and causal=0|1, not {a.only}")
    keep = dict(pairs)
    try:
        grid = json.load(open(a.grid))["rows"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        sys.exit(f"cannot read the rows of {a.grid}: {e!r}")
    rows = [r for r in grid if all(str(int(r[key])) == val for key, val in keep.items())]
    if not rows:
        sys.exit(f"no row of {a.grid} matches --only {a.only}")
    if not torch.cuda.is_available():
        sys.exit("no CUDA device: the paired comparison times flashcore and cuDNN on a GPU")
    fc = Flashcore(a.lib, torch.cuda.current_device())
    # The device machine's copy of the tree has no git: the commit comes as FC_COMMIT there.
    commit = os.environ.get("FC_COMMIT") or subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True,
                                                           text=True).stdout.strip() or "unknown"
    res = {"device": torch.cuda.get_device_name(), "commit": commit, "date": __import__("datetime").date.today().isoformat(),
           "flashcore": fc.lib.fc_version_string().decode(), "inputs": a.inputs, "samples": a.samples,
           "peer_software": {"torch": torch.__version__, "cudnn": torch.backends.cudnn.version()}, "rows": []}
    print(f"# {res['device']}, {a.inputs} inputs, {a.samples} interleaved samples")
    print(f"{'B':>3} {'H':>3} {'Hk':>3} {'Sq':>6} {'Sk':>6} {'D':>4} {'c':>1} {'fc ms':>8} {'cudnn ms':>8} "
          f"{'x/cudnn':>7} {'by quarter':>27}")
    for r in rows:
        p = paired(fc, r, a.samples, a.inputs)
        res["rows"].append(p)
        print(f"{p['B']:>3} {p['H']:>3} {p['Hk']:>3} {p['Sq']:>6} {p['Sk']:>6} {p['D']:>4} {int(p['causal']):>1} "
              f"{p['fc_ms']:>8.4f} {p['cudnn_ms']:>8.4f} {p['ratio']:>7.4f} "
              f"{' '.join(f'{x:.4f}' for x in p['ratio_quarters'])}", flush=True)
    json.dump(res, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
