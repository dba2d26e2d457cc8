"""scripts/grid_table.py, the tables of `gpu-check.sh grid` (issue 23's export check over a
model's bucket grid), on made-up bench and example outputs: which shapes the example runs on
(the grid, then the midpoints of M with the other sizes of the same grid points, M wherever the
task puts it), and the targets' verdicts (>= 0.98x the baseline, >= 0.95x torch.compile).

    python3 test_grid_table.py
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir, "scripts", "grid_table.py")


def run(*args):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True)


def example(us, plan="measured: candidate #7 seed (A=1)"):
    return f"status 0 plan: {plan} checksum 1.5 {us:.2f} us per call (median of 200 CUDA-graph replays)"


class GridTable(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="grid_table_")

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def bench(self, rows):
        return self.write("bench.json", json.dumps({"device": "TEST GPU", "rows": rows}))

    def test_shapes_are_the_grid_then_midpoints_of_m_per_other_sizes(self):
        rows = [{"shape": f"B=32,M={m},N={n},D=128", "baseline_us": 1.0} for n in (512, 8192) for m in (1, 2, 4, 16)]
        out = run("shapes", self.bench(rows))
        self.assertEqual(out.returncode, 0, out.stderr)
        lines = out.stdout.split("\n")
        self.assertEqual([l for l in lines if l.startswith("grid")][:2], ["grid 32,1,512,128", "grid 32,2,512,128"])
        self.assertEqual(sorted(l for l in lines if l.startswith("off")),
                         sorted(["off 32,3,512,128", "off 32,10,512,128", "off 32,3,8192,128", "off 32,10,8192,128"]))
        only = run("shapes", self.bench(rows), "--grid-only")
        self.assertNotIn("off", only.stdout)
        self.assertEqual(len(only.stdout.split()), 2 * 8)

    def test_verdicts_hold_both_targets(self):
        rows = [
            {"shape": "M=1,H=64,I=64", "baseline_us": 100.0, "torch_compile_us": 100.0},  # even: met
            {"shape": "M=2,H=64,I=64", "baseline_us": 100.0, "torch_compile_us": 200.0},  # 0.97x the baseline
            {"shape": "M=4,H=64,I=64", "baseline_us": 200.0, "torch_compile_us": 94.0},   # 0.94x torch.compile
            {"shape": "M=8,H=64,I=64", "baseline_us": 98.0, "torch_compile_us": 95.0},    # both at the limit
            {"shape": "M=16,H=64,I=64", "baseline_us": 50.0},                            # no run: no verdict
        ]
        runs = self.write("runs.txt", "\n".join([
            "grid 1,64,64 " + example(100.0), "grid 2,64,64 " + example(103.0),
            "grid 4,64,64 " + example(100.0), "grid 8,64,64 " + example(100.0),
            "off 3,64,64 " + example(80.0, "bucket M=2: baseline"),
            "tuned 3,64,64 tuned in 212.5 ms status 0 plan: tuned (70.0 us, baseline 84.0 us): candidate #7 seed (A=1) "
            "checksum 1 70.00 us per call"]) + "\n")
        out = run("table", self.bench(rows), runs)
        self.assertEqual(out.returncode, 0, out.stderr)
        verdicts = {l.split("|")[1].strip(): l.split("|")[-2].strip() for l in out.stdout.split("\n") if l.startswith("| M=")}
        self.assertEqual(verdicts, {"M=1,H=64,I=64": "met", "M=2,H=64,I=64": "MISSED", "M=4,H=64,I=64": "MISSED",
                                    "M=8,H=64,I=64": "met", "M=16,H=64,I=64": "-"})
        self.assertIn("grid: 2 of 4 shapes meet both targets", out.stdout)
        off = [l for l in out.stdout.split("\n") if l.startswith("| 3,64,64")]
        self.assertEqual(len(off), 1)
        cells = [c.strip() for c in off[0].split("|")[1:-1]]
        self.assertEqual(cells[1:5], ["bucket M=2: baseline", "80.0", "84.0", "1.05"])
        self.assertEqual(cells[6:], ["212.5", "70.0"])

    def test_bad_usage_says_how(self):
        out = run("tables")
        self.assertEqual(out.returncode, 2)
        self.assertIn("Usage", out.stderr)
        self.assertEqual(run("--help").returncode, 0)


if __name__ == "__main__":
    unittest.main()
