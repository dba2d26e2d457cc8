#!/usr/bin/env python3
"""PyTorch eager on the rmsnorm_linear search shapes: F.linear(F.rms_norm(x, (K,), g, 1e-6), w),
timed with triton.testing.do_bench (median; CUDA graphs for M <= 16). Prints JSON lines."""
import json
import sys

import torch
import torch.nn.functional as F
import triton.testing

SHAPES = [(1, 4096, 4096), (16, 4096, 6144), (128, 4096, 4096), (512, 4096, 4096), (2048, 4096, 6144)]


def main():
    torch.manual_seed(0)
    for m, k, n in SHAPES:
        x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
        g = (1 + 0.25 * torch.randn(k, device="cuda")).to(torch.bfloat16)
        w = (0.02 * torch.randn(n, k, device="cuda")).to(torch.bfloat16)
        fn = lambda: F.linear(F.rms_norm(x, (k,), g, 1e-6), w)
        if m <= 16:
            with torch.cuda.stream(torch.cuda.Stream()):
                ms = triton.testing.do_bench_cudagraph(fn, return_mode="median")
        else:
            ms = triton.testing.do_bench(fn, return_mode="median")
        print(json.dumps({"shape": f"M={m},K={k},N={n}", "torch_us": ms * 1e3}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
