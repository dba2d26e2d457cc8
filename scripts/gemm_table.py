#!/usr/bin/env python3
"""The plain GEMM table: every `ksearch eval --save-json` file given (one per variant of a gemm
seed), one row per shape and variant: the candidate's median, cuBLASLt's (the gemm task's baseline
plan, timed in the same replays), their ratio, and TFLOP/s; then one row per shape with the best
variant beside the peers (PyTorch eager and torch.compile, from scripts/torch_peers.py's output on
the same GPU in the same run, when --peers names it).
Usage: gemm_table.py [--peers PEERS.jsonl] EVAL.json..."""
import json
import sys

args = sys.argv[1:]
peers = {}
if args[:1] == ["--peers"]:
    with open(args[1]) as f:
        for line in f:
            if line.strip():
                p = json.loads(line)
                peers[p.get("shape", "")] = p
    args = args[2:]

rows = {}
device = ""
for path in args:
    with open(path) as f:
        run = json.load(f)
    device = run.get("device", device)
    for r in run["rows"]:
        # variant: [[name, value], ...] in the plan's order; shape: {symbol: size}
        variant = ",".join(f"{k}={x}" for k, x in r["variant"]) or "default"
        shape = ",".join(f"{k}={r['shape'][k]}" for k in ("M", "K", "N"))
        rows.setdefault(shape, []).append((variant, r))


def order(shape):
    return [int(x.split("=")[1]) for x in shape.split(",")]


def tflops(shape, us):
    dims = {k: int(v) for k, v in (x.split("=") for x in shape.split(","))}
    return 2 * dims["M"] * dims["N"] * dims["K"] / us / 1e6


print(f"plain GEMM (task gemm) against cuBLASLt, {device}; ratio = cuBLASLt median / ours")
print(f"{'shape':24} {'variant':52} {'status':14} {'ours us':>9} {'cuBLASLt us':>11} {'ratio':>6} {'TFLOP/s':>8}")
best = {}
for shape in sorted(rows, key=order):
    for variant, r in rows[shape]:
        t = r.get("timing")
        if r["status"] == "not_applicable":
            continue
        if not t:
            print(f"{shape:24} {variant:52} {r['status']:14} {r.get('error', '')[:60]}")
            continue
        ours, lt = t["candidate"]["median_us"], t["baseline"]["median_us"]
        print(f"{shape:24} {variant:52} {r['status']:14} {ours:9.1f} {lt:11.1f} {t['speedup']:6.2f} "
              f"{tflops(shape, ours):8.0f}")
        if r["status"] == "ok" and (shape not in best or t["speedup"] > best[shape][1]["speedup"]):
            best[shape] = (variant, t)

print()
print("| shape (M,K,N) | best variant | ours, us | cuBLASLt, us | ratio | TFLOP/s | PyTorch eager, us | torch.compile, us |")
print("|---|---|---|---|---|---|---|---|")
for shape in sorted(best, key=order):
    variant, t = best[shape]
    p = peers.get(shape, {})
    peer = lambda k: f"{p[k]:.1f}" if k in p else (p.get("error", "-")[:30] if p else "-")
    ours = t["candidate"]["median_us"]
    print(f"| {shape} | {variant} | {ours:.1f} | {t['baseline']['median_us']:.1f} | {t['speedup']:.2f} | "
          f"{tflops(shape, ours):.0f} | {peer('eager_us')} | {peer('compile_us')} |")
