#!/usr/bin/env python3
"""Reads the eval JSON files and PyTorch's times the GPU check wrote, prints the short table:
per shape the baseline, PyTorch, the best seed and its variant, speedup, % of roofline floor,
and how far two runs of the same candidate agree."""
import json
import sys
from pathlib import Path


def rows(path):
    """The ok, timed rows of an eval JSON file, flattened to what the table shows."""
    doc = json.loads(Path(path).read_text())
    out = []
    for r in doc["rows"]:
        if r["status"] == "ok" and "timing" in r:
            t = r["timing"]
            out.append({"shape": r["shape_text"], "variant": r["variant_text"], "floor_us": r["floor_us"],
                        "median_us": t["candidate"]["median_us"], "speedup": t["speedup"],
                        "pct_of_floor": r["pct_of_floor"]})
    return doc, out


def main(out):
    out = Path(out)
    torch = {}
    tp = out / "torch.jsonl"
    if tp.exists():
        for line in tp.read_text().splitlines():
            if line.startswith("{"):
                j = json.loads(line)
                torch[j["shape"]] = (j["torch_us"], j["torch_flushed_us"])
    doc, base1 = rows(out / "eval-baseline-1.json")
    _, base2 = rows(out / "eval-baseline-2.json")
    print(f"device: {doc['device']}  measured {doc['bandwidth_tbs']:.2f} TB/s, {doc['peak_tflops']:.0f} TFLOP/s")
    best, run2 = {}, {}
    for f in sorted(out.glob("eval-*-1.json")):
        name = f.name[len("eval-"):-len("-1.json")]
        _, r2 = rows(out / f"eval-{name}-2.json")
        run2.update({(name, r["shape"], r["variant"]): r["median_us"] for r in r2})
        if name == "baseline":
            continue
        _, rs = rows(f)
        for r in rs:
            if r["shape"] not in best or r["median_us"] < best[r["shape"]]["median_us"]:
                best[r["shape"]] = dict(r, seed=name)
    worst = max((abs(run2[(n, r["shape"], r["variant"])] / r["median_us"] - 1) * 100, n, r["shape"], r["variant"])
                for n in {k[0] for k in run2}
                for r in rows(out / f"eval-{n}-1.json")[1] if (n, r["shape"], r["variant"]) in run2)
    hdr = (f"{'shape':<22}{'baseline':>9}{'torch':>8}{'ratio':>7}{'torch fl':>9}{'ratio':>7}"
           f"{'best seed':>36}{'us':>8}{'speedup':>8}{'%floor':>7}{'floor':>7}{'run2 diff':>10}")
    print(hdr)
    b2 = {r["shape"]: r for r in base2}
    for r in base1:
        s = r["shape"]
        t = torch.get(s)
        b = best.get(s)
        diff = abs(b2[s]["median_us"] / r["median_us"] - 1) * 100 if s in b2 else float("nan")
        nan = float("nan")
        t, tf = t if t else (nan, nan)
        print(f"{s:<22}{r['median_us']:>9.1f}{t:>8.1f}{r['median_us'] / t:>7.2f}{tf:>9.1f}{r['median_us'] / tf:>7.2f}"
              f"{('  ' + b['seed'] + ' ' + b['variant'] if b else '-'):>36}"
              f"{(b['median_us'] if b else nan):>8.1f}{(b['speedup'] if b else nan):>8.2f}"
              f"{(b['pct_of_floor'] if b else nan):>7.0f}{r['floor_us']:>7.1f}{diff:>9.1f}%")
    print(f"largest run-to-run difference of a median over all candidates and shapes: {worst[0]:.1f}% ({worst[1]} {worst[2]} {worst[3]})")


if __name__ == "__main__":
    main(sys.argv[1])
