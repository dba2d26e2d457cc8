#!/usr/bin/env python3
"""PyTorch eager on the rmsnorm_linear search shapes: F.linear(F.rms_norm(x, (K,), g, 1e-6), w).
Two timings per shape, printed as JSON lines:
  torch_us          triton.testing.do_bench, median (do_bench_cudagraph for M <= 16), the way
                    the issue's reference numbers were taken; do_bench_cudagraph does not flush
                    the L2, so a weight that fits in it (M <= 16 here) is read from cache.
  torch_flushed_us  ksearch's own method: the call captured in a CUDA graph, the L2 flushed by a
                    memset of twice its size before each replay (outside the events), median."""
import json
import sys

import torch
import torch.nn.functional as F
import triton.testing

SHAPES = [(1, 4096, 4096), (16, 4096, 6144), (128, 4096, 4096), (512, 4096, 4096), (2048, 4096, 6144)]


def flushed_graph_median_us(fn, replays=200):
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        for _ in range(3):
            fn()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=stream):
            fn()
    torch.cuda.synchronize()
    l2 = torch.cuda.get_device_properties(0).L2_cache_size
    flush = torch.empty(2 * l2, dtype=torch.uint8, device="cuda")
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(replays)]
    stops = [torch.cuda.Event(enable_timing=True) for _ in range(replays)]
    for i in range(replays):
        flush.zero_()
        starts[i].record()
        graph.replay()
        stops[i].record()
    torch.cuda.synchronize()
    times = sorted(s.elapsed_time(e) * 1e3 for s, e in zip(starts, stops))
    return times[len(times) // 2]


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
        print(json.dumps({"shape": f"M={m},K={k},N={n}", "torch_us": ms * 1e3,
                          "torch_flushed_us": flushed_graph_median_us(fn)}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
