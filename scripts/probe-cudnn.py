#!/usr/bin/env python3
"""What PyTorch's CUDNN_ATTENTION backend launches for a few shapes, for the sm90 notes.

    python3 scripts/probe-cudnn.py profile B,H,S,D,causal ...   one call each, between
        cudaProfilerStart and Stop (run it under ncu --profile-from-start off)
    python3 scripts/probe-cudnn.py batches H,S,D,causal B1 B2 ...   median time (CUDA events,
        20 calls, 3 warm-ups) at each batch size: steps in time against B show how many
        tiles one wave of the kernel's grid holds.
"""
import statistics
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel


def inputs(B, H, S, D):
    g = torch.Generator(device="cuda").manual_seed(1)
    return [torch.randn(B, H, S, D, device="cuda", dtype=torch.bfloat16, generator=g) for _ in range(3)]


def call(q, k, v, causal):
    with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal)


def median_ms(B, H, S, D, causal, reps=20):
    q, k, v = inputs(B, H, S, D)
    for _ in range(3):
        call(q, k, v, causal)
    ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(reps)]
    for a, b in ev:
        a.record()
        call(q, k, v, causal)
        b.record()
    torch.cuda.synchronize()
    return statistics.median(a.elapsed_time(b) for a, b in ev)


def main():
    mode = sys.argv[1]
    if mode == "profile":
        for s in sys.argv[2:]:
            B, H, S, D, c = (int(x) for x in s.split(","))
            q, k, v = inputs(B, H, S, D)
            for _ in range(3):
                call(q, k, v, bool(c))
            torch.cuda.synchronize()
            torch.cuda.cudart().cudaProfilerStart()
            call(q, k, v, bool(c))
            torch.cuda.synchronize()
            torch.cuda.cudart().cudaProfilerStop()
            print(f"profiled B={B} H={H} S={S} D={D} causal={c}", flush=True)
    elif mode == "batches":
        H, S, D, c = (int(x) for x in sys.argv[2].split(","))
        print(f"# cuDNN SDPA, H={H} S={S} D={D} causal={c}, {torch.cuda.get_device_name()}")
        print("   B   tiles128      ms   us/wave (132 tiles of 128 rows)")
        for B in (int(x) for x in sys.argv[3:]):
            ms = median_ms(B, H, S, D, bool(c))
            tiles = B * H * ((S + 127) // 128)
            print(f"{B:4d} {tiles:10d} {ms:7.4f} {1e3 * ms / tiles * 132:10.2f}", flush=True)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
