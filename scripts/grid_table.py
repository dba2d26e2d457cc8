#!/usr/bin/env python3
"""Issue 23's export check over a model's bucket grid (`gpu-check.sh grid`), as two tables.

On the grid (the shapes the search and `ksearch bench --model` measured): the exported library's
call (its example binary: a CUDA graph of the call, L2 flushed before each replay, median) beside
the baseline pipeline and torch.compile from the bench of the same run, and whether the library
holds the issue's targets there: at least 0.98x the baseline and 0.95x torch.compile (x = their
time / the library's). Between grid points (shapes no one measured): the plan the library
dispatches and its time, against the baseline's time as the library's own tuner measured it
(`--tune`), and what tuning on first use then picks.

Usage: grid_table.py shapes BENCH.json [--grid-only]
       grid_table.py table BENCH.json RUNS.txt
shapes: the shapes to run the example on, a line each: "grid SHAPE" for every bench row, then
"off SHAPE" for the midpoint of M between each two grid points of the same other sizes (unless
--grid-only), SHAPE the example's argument (the sizes in the task's order, comma-separated).
table: RUNS.txt has lines "grid SHAPE OUTPUT", "off SHAPE OUTPUT" and "tuned SHAPE OUTPUT" (the
example with --tune), OUTPUT the example's output on one line."""
import json
import re
import sys


def us(text):
    m = re.search(r"([0-9.]+) us per call", text or "")
    return float(m.group(1)) if m else None


def plan(text):
    m = re.search(r"plan: (.*?) (?:constants |checksum )", text or "")
    return m.group(1) if m else (text or "").strip()[:70]


def ratio(num, den):
    return f"{num / den:.2f}" if num and den else "-"


def shapes(bench, off):
    """The example's arguments: every grid shape, then the midpoints of M between grid points."""
    rows = [re.findall(r"(\w+)=(\d+)", r["shape"]) for r in bench["rows"]]
    lines = ["grid " + ",".join(v for _, v in r) for r in rows]
    groups = {}  # the other sizes -> the grid's M values with them
    for r in rows:
        groups.setdefault(tuple((k, None if k == "M" else v) for k, v in r), set()).add(int(dict(r)["M"]))
    for rest, ms in groups.items() if off else ():
        ms = sorted(ms)
        for a, b in zip(ms, ms[1:]):
            if b - a >= 2:
                lines.append("off " + ",".join(str((a + b) // 2) if k == "M" else v for k, v in rest))
    return lines


def table(bench, runs_path):
    runs = {}
    for line in open(runs_path):
        parts = line.rstrip("\n").split(" ", 2)
        if len(parts) == 3:
            runs[(parts[0], parts[1])] = parts[2]
    device = bench.get("device", "")
    print(f"## The exported library on the bucket grid ({device})")
    print("| shape | library plan | library us | baseline us | torch.compile us | baseline / library | torch.compile / library | targets |")
    print("|---|---|---|---|---|---|---|---|")
    met = total = 0
    for r in bench["rows"]:
        key = ",".join(re.findall(r"=(\d+)", r["shape"]))
        out = runs.get(("grid", key))
        lib = us(out)
        base, comp = r.get("baseline_us"), r.get("torch_compile_us")
        ok = None
        if lib and base:
            ok = base / lib >= 0.98 and (comp is None or comp / lib >= 0.95)
            total += 1
            met += ok
        verdict = "-" if ok is None else ("met" if ok else "MISSED")
        print(f"| {r['shape']} | {plan(out)} | {lib or '-'} | {base:.1f} | {f'{comp:.1f}' if comp else '-'} | "
              f"{ratio(base, lib)} | {ratio(comp, lib)} | {verdict} |")
    print(f"\ngrid: {met} of {total} shapes meet both targets (>= 0.98x the baseline, >= 0.95x torch.compile"
          f"{'' if any('torch_compile_us' in r for r in bench['rows']) else '; torch.compile not measured: no torch'})")
    off = [(k[1], v) for k, v in runs.items() if k[0] == "off"]
    if off:
        print("\n## Between grid points (dispatched by bucket; the baseline as the library's tuner timed it)")
        print("| shape | dispatched plan | library us | tuner's baseline us | baseline / library | after tuning: plan | tune ms | us |")
        print("|---|---|---|---|---|---|---|---|")
        for shape, out in off:
            tuned = runs.get(("tuned", shape), "")
            t = re.search(r"tuned \(([0-9.]+) us, baseline ([0-9.]+) us", tuned)
            ms = re.search(r"tuned in ([0-9.]+) ms", tuned)
            base = float(t.group(2)) if t else None
            print(f"| {shape} | {plan(out)} | {us(out) or '-'} | {base or '-'} | {ratio(base, us(out))} | {plan(tuned)} | "
                  f"{ms.group(1) if ms else '-'} | {us(tuned) or '-'} |")
    return 0


def main():
    if sys.argv[1:2] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    if len(sys.argv) >= 3 and sys.argv[1] == "shapes":
        print("\n".join(shapes(json.load(open(sys.argv[2])), "--grid-only" not in sys.argv[3:])))
        return 0
    if len(sys.argv) == 4 and sys.argv[1] == "table":
        return table(json.load(open(sys.argv[2])), sys.argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
