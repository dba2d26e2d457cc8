#!/usr/bin/env bash
# The whole GPU check, run on a GPU machine from the repository root over a build made by the
# README's test command: the GPU tests, `ksearch eval` of every task's baseline and seeds (each
# twice, with different input seeds: run-to-run stability), PyTorch eager on the same shapes,
# and a short table per task last. Logs: gpu-tests.log, summary.txt and gpu-check.tgz (everything) in
# $OUT, or all loose in ./gpu-check-out when OUT is unset.
set -uo pipefail
work=$(mktemp -d)
export KSEARCH_CACHE_DIR="${KSEARCH_CACHE_DIR:-$work/cache}"
ks=./build/ksearch
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv >"$work/nvidia-smi.txt" 2>&1

ctest --test-dir build -L gpu -V >"$work/gpu-tests.log" 2>&1
echo "gpu tests: $(grep -E 'tests passed|tests failed' "$work/gpu-tests.log")"
grep -E "^[0-9]+: ([a-z_0-9]+\.cu |fixture|\[ (worker start|overhead) \])" "$work/gpu-tests.log" | sed 's/^[0-9]*: //' >"$work/hacks.txt"

for task in $(ls seeds | grep -v include); do
  for f in seeds/$task/*.cu; do
    name=$(basename "$f" .cu)
    for run in 1 2; do
      $ks eval "$f" --seed "$run" --save-json "$work/eval-$task-$name-$run.json" >"$work/eval-$task-$name-$run.txt" 2>>"$work/eval.log"
    done
  done
done
python3 scripts/torch_eager.py >"$work/torch.jsonl" 2>>"$work/eval.log"
grep -E "ksearch:|did not pass" "$work/eval.log"
{ cat "$work/hacks.txt"; python3 scripts/gpu_summary.py "$work"; } >"$work/summary.txt" 2>&1

if [ -n "${OUT:-}" ]; then
  tar czf "$OUT/gpu-check.tgz" --exclude=cache -C "$work" .
  cp "$work/gpu-tests.log" "$work/summary.txt" "$OUT/"
else
  mkdir -p gpu-check-out && cp -r "$work"/. gpu-check-out/ && rm -rf gpu-check-out/cache
fi
cat "$work/summary.txt"
