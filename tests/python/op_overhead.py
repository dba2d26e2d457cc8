"""Host time per call of an exported op (python/ksearch_<task>.py over its built library) on a
tiny shape, against torch.mm on a 1x64 @ 64x64 bf16 product: what a model in eager mode pays per
op beyond the GPU time. Each row times N calls back to back (no synchronization inside) and
divides; the median of --repeat runs, each started on an idle GPU. The rows split the op's cost:

    torch.mm                   the stock op, for scale
    module function            ksearch_<task>.<task>(...): type checks, then the op
    torch.ops op               torch.ops.ksearch.<task>.default(...): the dispatcher and the kernel
    kernel (no dispatcher)     the module's _impl(...): checks, allocations, stream, the C call
    C call alone               the library's function through ctypes with prepared arguments

under grad mode (nothing requires grad), torch.no_grad() and torch.inference_mode(); the last
column is the wall time per call including the GPU (synchronized at the end, inference_mode): where
it is above the host time, the GPU, not the host, bounds the loop.

    python3 op_overhead.py MODULE.py --library LIB.so [--sizes M=1,K=64,N=64] [-n 300] [--repeat 7]

MODULE.py: an export's python/ksearch_<task>.py; LIB.so: its libksearch_<task>.so (the export's
cmake build). Sizes not given are 64, the first size symbol 1. Exit 77 without torch or a GPU.
"""
import argparse
import importlib.util
import json
import os
import statistics
import sys
import time

SKIP = 77


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("module", help="the export's python/ksearch_<task>.py")
    p.add_argument("--library", help="its libksearch_<task>.so (default: where the module looks)")
    p.add_argument("--sizes", default="", help="size symbols, e.g. M=1,K=64,N=64 (default: 64, the first 1)")
    p.add_argument("-n", type=int, default=300, help="calls per timed run (default 300)")
    p.add_argument("--repeat", type=int, default=7, help="timed runs; the median is printed (default 7)")
    p.add_argument("--json", action="store_true", help="also print the results as one JSON line")
    return p.parse_args()


def load_module(path):
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, os.path.abspath(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def host_us(torch, fn, n, repeat):
    """Median host microseconds per call of fn over `repeat` runs of n calls each."""
    runs = []
    for _ in range(repeat):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(runs)


def wall_us(torch, fn, n, repeat):
    """Median microseconds per call including the GPU: n calls, then a synchronize."""
    runs = []
    for _ in range(repeat):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        torch.cuda.synchronize()
        runs.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(runs)


def main():
    args = parse_args()
    try:
        import torch
    except ImportError:
        print("SKIPPED: torch is not installed")
        return SKIP
    if not torch.cuda.is_available():
        print("SKIPPED: no CUDA device")
        return SKIP
    mod = load_module(args.module)
    lib = mod.load(args.library) if args.library else mod.load()
    task = mod.TASK

    sizes = {s: (1 if i == 0 else 64) for i, s in enumerate(mod.SIZES)}
    for item in filter(None, args.sizes.split(",")):
        name, value = item.split("=")
        if name not in sizes:
            sys.exit("--sizes: %s is not one of %s" % (name, ", ".join(mod.SIZES)))
        sizes[name] = int(value)
    device = torch.device("cuda", torch.cuda.current_device())
    gen = torch.Generator(device=device)
    gen.manual_seed(0)
    inputs = [(torch.randn([d if isinstance(d, int) else sizes[d] for d in dims], generator=gen, device=device) * 0.5).to(dtype)
              for dtype, dims in mod.INPUTS.values()]
    constants = dict(mod.CONSTANTS)
    op = getattr(torch.ops.ksearch, task).default
    public = getattr(mod, task)
    a = torch.randn(sizes[mod.SIZES[0]], 64, generator=gen, device=device).to(torch.bfloat16)
    b = torch.randn(64, 64, generator=gen, device=device).to(torch.bfloat16)

    # The C call alone: the arguments _impl would pass, prepared once.
    outputs = [torch.empty([d if isinstance(d, int) else sizes[d] for d in dims], dtype=dtype, device=device)
               for dtype, dims in mod.OUTPUTS.values()]
    size_args = [sizes[s] for s in mod.SIZES]
    nbytes = getattr(lib, "ksearch_%s_workspace_size" % task)(*size_args)
    workspace = torch.empty(max(nbytes, 1), dtype=torch.uint8, device=device)
    pointers = dict(zip(mod.INPUTS, (t.data_ptr() for t in inputs)))
    pointers.update(zip(mod.OUTPUTS, (t.data_ptr() for t in outputs)))
    stream = torch.cuda.current_stream(device).cuda_stream
    c_args = [pointers[n] for n in mod.BUFFERS] + size_args + [float(v) for v in constants.values()]
    c_args += [workspace.data_ptr() if nbytes else None, stream]
    c_fn = getattr(lib, "ksearch_" + task)

    def c_call():
        status = c_fn(*c_args)
        if status:
            raise RuntimeError("ksearch_%s returned %d" % (task, status))

    rows = [
        ("torch.mm %dx64 @ 64x64" % sizes[mod.SIZES[0]], lambda: torch.mm(a, b)),
        ("module function", lambda: public(*inputs, **constants)),
        ("torch.ops op", lambda: op(*inputs, *constants.values())),
        ("kernel (no dispatcher)", lambda: mod._impl(*inputs, *constants.values())),
        ("C call alone", c_call),
    ]
    t0 = time.perf_counter()
    with torch.no_grad():
        public(*inputs, **constants)  # the first call loads the cubins
    torch.cuda.synchronize()
    first_ms = (time.perf_counter() - t0) * 1e3
    for _, fn in rows:
        with torch.no_grad():
            for _ in range(50):
                fn()
    torch.cuda.synchronize()

    results = []
    for name, fn in rows:
        r = {"row": name}
        r["grad_us"] = host_us(torch, fn, args.n, args.repeat)
        with torch.no_grad():
            r["no_grad_us"] = host_us(torch, fn, args.n, args.repeat)
        with torch.inference_mode():
            r["inference_us"] = host_us(torch, fn, args.n, args.repeat)
            r["wall_us"] = wall_us(torch, fn, args.n, args.repeat)
        results.append(r)

    print("%s on %s, torch %s, sizes %s, %d calls x %d runs (median); first call %.1f ms"
          % (task, torch.cuda.get_device_name(device), torch.__version__,
             ",".join("%s=%d" % kv for kv in sizes.items()), args.n, args.repeat, first_ms))
    print("%-26s %12s %12s %12s %12s" % ("host us/call", "grad mode", "no_grad", "inference", "wall (GPU)"))
    for r in results:
        print("%-26s %12.2f %12.2f %12.2f %12.2f" % (r["row"], r["grad_us"], r["no_grad_us"], r["inference_us"], r["wall_us"]))
    if args.json:
        print(json.dumps({"task": task, "sizes": sizes, "torch": torch.__version__, "device": torch.cuda.get_device_name(device),
                          "first_call_ms": first_ms, "rows": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
