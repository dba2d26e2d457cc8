#!/usr/bin/env python3
"""The plain GEMM table: every `ksearch eval --save-json` file given (one per variant of a gemm
seed), one row per shape: the candidate's median, cuBLASLt's (the gemm task's baseline plan, timed
in the same replays), their ratio, and TFLOP/s. Usage: gemm_table.py EVAL.json..."""
import json
import sys

rows = {}
device = ""
for path in sys.argv[1:]:
    with open(path) as f:
        run = json.load(f)
    device = run.get("device", device)
    for r in run["rows"]:
        # variant: [[name, value], ...] in the plan's order; shape: {symbol: size}
        variant = ",".join(f"{k}={x}" for k, x in r["variant"]) or "default"
        shape = ",".join(f"{k}={r['shape'][k]}" for k in ("M", "K", "N"))
        rows.setdefault(shape, []).append((variant, r))

print(f"plain GEMM (task gemm) against cuBLASLt, {device}; ratio = cuBLASLt median / ours")
print(f"{'shape':24} {'variant':44} {'status':14} {'ours us':>9} {'cuBLASLt us':>11} {'ratio':>6} {'TFLOP/s':>8}")
for shape in sorted(rows, key=lambda s: [int(x.split("=")[1]) for x in s.split(",")]):
    dims = {k: int(v) for k, v in (x.split("=") for x in shape.split(","))}
    flops = 2 * dims["M"] * dims["N"] * dims["K"]
    for variant, r in rows[shape]:
        t = r.get("timing")
        if r["status"] == "not_applicable":
            continue
        if not t:
            print(f"{shape:24} {variant:44} {r['status']:14} {r.get('error', '')[:60]}")
            continue
        ours, lt = t["candidate"]["median_us"], t["baseline"]["median_us"]
        print(f"{shape:24} {variant:44} {r['status']:14} {ours:9.1f} {lt:11.1f} {t['speedup']:6.2f} "
              f"{flops / ours / 1e6:8.0f}")
