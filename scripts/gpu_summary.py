#!/usr/bin/env python3
"""Reads the eval JSON files and PyTorch's times that scripts/gpu-check.sh wrote, and prints one
short table per task: per shape the baseline, PyTorch (two ways), the best seed and its variant,
its speedup and % of the roofline floor, and how far two runs of the baseline agree; last, the
largest run-to-run difference over every candidate and shape."""
import json
import sys
from pathlib import Path

NAN = float("nan")


def rows(path):
    """The ok, timed rows of an eval JSON file, flattened to what the table shows."""
    if not Path(path).exists():
        return None, []
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
    if (out / "torch.jsonl").exists():
        for line in (out / "torch.jsonl").read_text().splitlines():
            if line.startswith("{"):
                j = json.loads(line)
                torch[(j["task"], j["shape"])] = (j["torch_us"], j["torch_flushed_us"])
    worst = (0.0, "-", "-", "-")
    tasks = sorted({f.name.split("-")[1] for f in out.glob("eval-*-baseline-1.json")})
    for task in tasks:
        doc, base1 = rows(out / f"eval-{task}-baseline-1.json")
        if doc is None:
            continue
        print(f"\n{task} on {doc['device']} (measured {doc['bandwidth_tbs']:.2f} TB/s, {doc['peak_tflops']:.0f} TFLOP/s)")
        best, run2 = {}, {}
        for f in sorted(out.glob(f"eval-{task}-*-1.json")):
            name = f.name[len(f"eval-{task}-"):-len("-1.json")]
            _, r1 = rows(f)
            _, r2 = rows(out / f"eval-{task}-{name}-2.json")  # only the baseline runs twice
            second = {(r["shape"], r["variant"]): r["median_us"] for r in r2}
            for r in r1:
                key = (r["shape"], r["variant"])
                if key in second:
                    d = abs(second[key] / r["median_us"] - 1) * 100
                    run2[(name,) + key] = d
                    worst = max(worst, (d, f"{task}/{name}", r["shape"], r["variant"]))
                if name != "baseline" and (r["shape"] not in best or r["median_us"] < best[r["shape"]]["median_us"]):
                    best[r["shape"]] = dict(r, seed=name)
        print(f"{'shape':<26}{'baseline':>9}{'torch':>8}{'ratio':>7}{'torch fl':>9}{'ratio':>7}"
              f"{'best seed':>40}{'us':>8}{'speedup':>8}{'%floor':>7}{'floor':>7}{'run2':>7}")
        for r in base1:
            s = r["shape"]
            t, tf = torch.get((task, s), (NAN, NAN))
            b = best.get(s)
            print(f"{s:<26}{r['median_us']:>9.1f}{t:>8.1f}{r['median_us'] / t:>7.2f}{tf:>9.1f}{r['median_us'] / tf:>7.2f}"
                  f"{('  ' + b['seed'] + ' ' + b['variant'] if b else '-'):>40}"
                  f"{(b['median_us'] if b else NAN):>8.1f}{(b['speedup'] if b else NAN):>8.2f}"
                  f"{(b['pct_of_floor'] if b else NAN):>7.0f}{r['floor_us']:>7.1f}"
                  f"{run2.get(('baseline', s, r['variant']), NAN):>6.1f}%")
    print(f"\nlargest run-to-run difference of a baseline median: "
          f"{worst[0]:.1f}% ({worst[1]} {worst[2]} {worst[3]})")


if __name__ == "__main__":
    main(sys.argv[1])
