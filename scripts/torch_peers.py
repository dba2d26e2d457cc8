#!/usr/bin/env python3
"""The peers a user would pick instead of ksearch, timed the way ksearch times (torch_eager.py's
flushed_graph_median_us: the call captured in a CUDA graph, the L2 flushed by a read before each
replay, median over the replays): PyTorch eager and torch.compile of each task's unfused code
(torch_eager.py), on the shapes asked for. `ksearch bench --peers` runs it on the same GPU in the
same run.

Input (stdin), one JSON object per line, each answered before the next is read: {"task": "rmsnorm_linear", "shape": "M=16,K=4096,N=6144", "warmup_s": 2.0}
(sizes in the task's size-symbol order; warmup_s: seconds of warm-up replays before each timing, as
ksearch's beside them; default 0.25). Output (stdout), one JSON line per input line:
{"task", "shape", "eager_us", "compile_us"}, or {"task", "shape", "error"} for a shape that failed.
Progress goes to stderr. Exit 3, with {"error": ...} on stdout, when torch cannot be imported or
there is no CUDA device."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main():
    try:
        import torch
        import torch_eager
        if not torch.cuda.is_available():
            raise RuntimeError("torch sees no CUDA device")
    except Exception as e:  # ImportError, or a torch without CUDA
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}), flush=True)
        return 3
    torch.manual_seed(0)
    # readline, not iteration: each request is answered before the next is read.
    for line in iter(sys.stdin.readline, ""):
        if not line.strip():
            continue
        req = json.loads(line)
        task, shape = req["task"], req["shape"]
        warmup_s = float(req.get("warmup_s", 0.25))
        out = {"task": task, "shape": shape}
        try:
            make = torch_eager.TASKS[task][0]
            sizes = [int(part.split("=")[1]) for part in shape.split(",")]
            _, _, fn = make(*sizes)
            out["eager_us"] = torch_eager.flushed_graph_median_us(fn, warmup_s=warmup_s)
            print(f"torch_peers: {task} {shape}: eager {out['eager_us']:.1f} us; compiling", file=sys.stderr, flush=True)
            torch._dynamo.reset()  # each shape compiled for itself, as a serving engine would
            compiled = torch.compile(fn)
            compiled()  # compile outside the graph capture
            out["compile_us"] = torch_eager.flushed_graph_median_us(compiled, warmup_s=warmup_s)
        except Exception as e:  # one shape's failure is that row's, not the run's
            out["error"] = f"{type(e).__name__}: {e}"
        print(json.dumps(out), flush=True)
        torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
