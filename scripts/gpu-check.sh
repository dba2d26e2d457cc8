#!/usr/bin/env bash
# The whole GPU check, run on a GPU machine from the repository root over a build made by the
# README's test command. `gpu-check.sh tests` runs the GPU tests; `gpu-check.sh evals` runs
# `ksearch eval` of every task's baseline (twice, with different input seeds: run-to-run
# stability) and seeds at their defaults, PyTorch eager on the same shapes, and prints a short
# table per task;
# `gpu-check.sh search [MINUTES] [TASK]` runs a search (default 5 minutes of rmsnorm_linear) and
# prints its throughput and per-shape table; `gpu-check.sh bench [DB]` runs `ksearch bench` over
# the archive DB (default: the search's, else the seeds alone) and prints the results table; no
# argument runs tests and evals. Logs: gpu-tests.log, summary.txt, evals.tgz (every eval's table
# and JSON), search.db, search.jsonl, search.txt, bench.txt, bench.json in $OUT, or in
# ./gpu-check-out when OUT is unset.
set -uo pipefail
what="${1:-all}"
out="${OUT:-gpu-check-out}"
mkdir -p "$out"
work=$(mktemp -d)
export KSEARCH_CACHE_DIR="${KSEARCH_CACHE_DIR:-$work/cache}"
ks=./build/ksearch

if [ "$what" = tests ] || [ "$what" = all ]; then
  # The test binary itself, not ctest: its test list needs no CMake module on that machine.
  timeout 500 ./build/tests/ksearch_gpu_tests >"$out/gpu-tests.log" 2>&1
  echo "gpu tests (exit $?): $(grep -E '^\[  (PASSED|FAILED) ' "$out/gpu-tests.log" | tr '\n' ' ')"
  grep -E "^([a-z_0-9]+\.cu |fixture|\[ (worker start|overhead) \]|\[ +(OK|FAILED) +\]|\| |best: )" "$out/gpu-tests.log"
fi

if [ "$what" = evals ] || [ "$what" = all ]; then
  mkdir -p "$work/evals"
  for task in $(ls seeds | grep -v include); do
    for f in seeds/$task/*.cu; do
      name=$(basename "$f" .cu)
      # Seeds at their default variant (their spaces are the search's to cover: gpu-check.sh
      # search); the baseline twice, with different input seeds.
      runs=1
      only=(--variant default)
      [ "$name" = baseline ] && runs="1 2" && only=()
      for run in $runs; do
        $ks eval "$f" "${only[@]}" --seed "$run" --save-json "$work/evals/eval-$task-$name-$run.json" \
          >"$work/evals/eval-$task-$name-$run.txt" 2>>"$work/evals/eval.log"
      done
    done
  done
  python3 scripts/torch_eager.py >"$work/evals/torch.jsonl" 2>>"$work/evals/eval.log"
  grep -E "ksearch:|did not pass" "$work/evals/eval.log"
  python3 scripts/gpu_summary.py "$work/evals" >"$out/summary.txt" 2>&1
  tar czf "$out/evals.tgz" -C "$work/evals" .
  cat "$out/summary.txt"
fi
if [ "$what" = search ]; then
  minutes="${2:-5}"
  task="${3:-rmsnorm_linear}"
  rm -f "$out/search.db"*
  $ks run --task "$task" --minutes "$minutes" --seed 1 --db "$out/search.db" --json \
    >"$out/search.jsonl" 2>"$out/search.log"
  echo "ksearch run exit code $?"
  tail -3 "$out/search.log"
  $ks best --db "$out/search.db" --top 3 >"$out/search.txt" 2>&1
  python3 scripts/search_summary.py "$out/search.jsonl" "$out/search.db" | tee -a "$out/search.txt"
  rm -f "$out/search.db-wal" "$out/search.db-shm"
fi
if [ "$what" = bench ]; then
  db="${2:-$out/search.db}"
  src=(--db "$db")
  [ -f "$db" ] || src=(--seeds-only)
  $ks bench "${src[@]}" --json >"$out/bench.json" 2>"$out/bench.log"
  echo "ksearch bench exit code $?"
  python3 - "$out/bench.json" <<'PY' | tee "$out/bench.txt"
import json, sys
b = json.load(open(sys.argv[1]))
print(f"{b['device']}: {b['bandwidth_tbs']:.2f} TB/s, {b['peak_tflops']:.0f} TFLOP/s measured")
print(f"| task | shape | floor us | baseline us | best us | % floor | speedup | candidate |")
print("|---|---|---|---|---|---|---|---|")
for r in b["rows"]:
    print(f"| {r['task']} | {r['shape']} | {r['floor_us']:.1f} | {r['baseline_us']:.1f} | {r['best_us']:.1f} | "
          f"{r['pct_of_floor']:.0f} | {r['speedup']:.2f}x | {r['candidate']} |")
PY
fi
rm -rf "$work"
