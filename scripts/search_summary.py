#!/usr/bin/env python3
"""Summarizes a `ksearch run --json` log and its archive: throughput, where the time went, and
per shape the best speedup at the end against the best seed default, and the time to 95% of it.
Usage: search_summary.py RUN.jsonl ARCHIVE.db"""
import json
import sqlite3
import statistics
import sys

events = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
done = next((e for e in events if e.get("event") == "done"), None)
db = sqlite3.connect(sys.argv[2])
run = db.execute("SELECT id, device, seed, state, active_seconds, bandwidth, peak_flops FROM runs ORDER BY id DESC LIMIT 1").fetchone()
rows = db.execute("SELECT shape, status, seconds FROM evaluations WHERE run_id = ?", (run[0],)).fetchall()
gpu = [r for r in rows if r[1] != "not_applicable"]
print(f"run {run[0]} on {run[1]} (seed {run[2]}): {run[3]}; {len(gpu)} evaluations in {run[4]:.0f} s "
      f"= {len(gpu) / max(run[4], 1e-9):.2f}/s; ceilings {run[5] / 1e12:.2f} TB/s, {run[6] / 1e12:.0f} TFLOP/s")
by_status = {}
for r in gpu:
    by_status[r[1]] = by_status.get(r[1], 0) + 1
print("outcomes:", ", ".join(f"{k} {v}" for k, v in sorted(by_status.items())))
if done:
    print("children proposed:", ", ".join(f"{k} {v}" for k, v in sorted(done["by_operator"].items())))
print("\nseconds per evaluation, by shape (ok rows; the first on a shape builds its inputs and references)")
print(f"{'shape':22} {'n':>4} {'median':>7} {'p90':>7} {'max':>7}")
for shape in sorted({r[0] for r in gpu}):
    s = sorted(r[2] for r in gpu if r[0] == shape and r[1] == "ok")
    if s:
        print(f"{shape:22} {len(s):4} {statistics.median(s):7.2f} {s[int(0.9 * (len(s) - 1))]:7.2f} {s[-1]:7.2f}")
if done:
    print(f"\n{'shape':22} {'floor us':>8} {'base us':>8} {'seed dflt':>9} {'best':>6} {'best us':>8} {'% floor':>7} {'to 95% s':>8}  candidate")
    for s in done["shapes"]:
        def f(k, fmt):
            return format(s[k], fmt) if k in s else "-"
        pct = f"{100 * s['floor_us'] / s['best_us']:.0f}" if "best_us" in s else "-"
        cand = ""
        if "best_candidate" in s:
            name, params, origin, gen = db.execute(
                "SELECT s.name, c.params, c.origin, c.generation FROM candidates c JOIN sources s ON s.id = c.source_id WHERE c.id = ?",
                (s["best_candidate"],)).fetchone()
            cand = f"#{s['best_candidate']} {name} {params} ({origin}, gen {gen})"
        print(f"{s['shape']:22} {s['floor_us']:8.1f} {f('baseline_us', '8.1f'):>8} {f('best_seed_default_speedup', '8.2f'):>9} "
              f"{f('best_speedup', '6.2f'):>6} {f('best_us', '8.1f'):>8} {pct:>7} {f('seconds_to_95', '8.0f'):>8}  {cand}")
