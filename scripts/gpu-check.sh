#!/usr/bin/env bash
# The whole GPU check, run on a GPU machine from the repository root over a build made by the
# README's test command. `gpu-check.sh tests` runs the GPU tests; `gpu-check.sh evals` runs
# `ksearch eval` of every task's baseline (twice, with different input seeds: run-to-run
# stability) and seeds at their defaults, PyTorch eager on the same shapes, and prints a short
# table per task;
# `gpu-check.sh search [MINUTES] [TASK...]` runs a search per task (default 5 minutes of
# rmsnorm_linear) into one archive and prints its throughput and per-shape table;
# `gpu-check.sh results [MINUTES]` searches every task MINUTES (default 3) and then benches;
# `gpu-check.sh throughput [MINUTES] [KSEARCH...]` runs the same rmsnorm_linear search (default 3
# minutes, seed 1) with each ksearch binary given (default ./build/ksearch), one after the other,
# and prints evaluations per second for each (what a change to the evaluator costs);
# `gpu-check.sh devices [MINUTES] [TASK]` (two or more GPUs): --devices 0 against --devices 0,1,
# evaluations per second, and a two-GPU run stopped by SIGINT and resumed (issue 24.1);
# `gpu-check.sh gemm [VARIANT...]` times the plain GEMM mainloop seed against cuBLASLt on the gemm
# task's shapes (scripts/gemm_table.py);
# `gpu-check.sh llm [MINUTES]` runs a softmax_matmul search (default 2 minutes) whose LLM calls
# are answered by scripts/llm_script_server.py with the hand-written replies in
# bench/llm-replies/, runs it again answered from that archive (--llm-replay), and prints every
# LLM candidate's outcome on every search shape (scripts/llm_summary.py); `gpu-check.sh bench [DB]` runs `ksearch bench` over
# the archive DB (default: the search's, else the seeds alone; BENCH_TASKS limits the tasks) and prints the results table; no
# argument runs tests and evals. `gpu-check.sh layer [DB]` runs issue 23's layer test: a short
# search of each task on exactly a Llama-3-8B layer's shapes (LAYER_SEQS, default "128 512"), an
# audit of each shape's best, the export and its build, then tests/python/llama_layer.py through
# the four libraries (DB: an archive that has those shapes already; the searches are skipped).
# `gpu-check.sh grid [MODEL] [TASK] [MINUTES] [DB]` runs issue 23's export check over a model's
# bucket grid: the library against the baseline and torch.compile on every grid shape, and its
# dispatch and first-use tuning between grid points (scripts/grid_table.py).
# Logs: gpu-tests.log, summary.txt, evals.tgz (every eval's table and JSON), search.db,
# search-TASK.jsonl, search.txt, bench.txt, bench.json, layer-* in $OUT, or in ./gpu-check-out
# when OUT is unset.
set -uo pipefail
what="${1:-all}"
case "$what" in
  -h | --help)
    sed -n '2,/^set -uo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
    exit 0 ;;
  all | tests | evals | gemm | results | search | throughput | devices | llm | bench | export | grid | layer) ;;
  *)
    echo "gpu-check.sh: unknown mode '$what' (tests, evals, gemm, results, search, throughput, devices, llm, bench, export, grid, layer; --help)" >&2
    exit 2 ;;
esac
out="${OUT:-gpu-check-out}"
mkdir -p "$out"
work=$(mktemp -d)
export KSEARCH_CACHE_DIR="${KSEARCH_CACHE_DIR:-$work/cache}"
ks=./build/ksearch

if [ "$what" = tests ] || [ "$what" = all ]; then
  # The test binary itself, not ctest: its test list needs no CMake module on that machine.
  timeout "${GPU_TESTS_TIMEOUT:-500}" ./build/tests/ksearch_gpu_tests >"$out/gpu-tests.log" 2>&1
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
if [ "$what" = gemm ]; then
  # The plain GEMM mainloop against cuBLASLt on the gemm task's search shapes: each variant given
  # (default: a few of seeds/gemm/wgmma_mainloop.cu's) timed by `ksearch eval`, cuBLASLt being the
  # task's baseline plan, in the same replays; then one table (scripts/gemm_table.py).
  shift
  variants=("$@")
  [ ${#variants[@]} -eq 0 ] && variants=(BN=256,STAGES=3,TMA_STORE=1 BN=256,STAGES=3,TMA_STORE=1,HOOKS=1
    BN=256,STAGES=3,TMA_STORE=1,HOOKS=2 BN=128,STAGES=6,TMA_STORE=1 BN=128,STAGES=6,TMA_STORE=1,HOOKS=2
    BN=64,SPLIT=2,STAGES=6,TMA_STORE=1 BN=128,SPLIT=2,STAGES=3,TMA_STORE=1 BM=64,BN=64,SPLIT=2,STAGES=6
    BM=64,BN=64,SPLIT=2,STAGES=6,HOOKS=2 BM=64,BN=128,STAGES=6,TMA_STORE=1 BM=64,BN=256,TMA_STORE=1)
  mkdir -p "$work/gemm"
  for v in "${variants[@]}"; do
    name=$(echo "$v" | tr ',=' '__')  # files the device tool brings back: plain names
    $ks eval seeds/gemm/wgmma_mainloop.cu --variant "$v" --seed 1 --save-json "$work/gemm/$name.json" \
      >"$work/gemm/$name.txt" 2>>"$out/gemm.log"
  done
  # The peers on the same shapes (M >= 64: the mainloop's), when torch is here.
  peers=()
  if python3 -c 'import torch' 2>/dev/null; then
    $ks tasks --json | python3 -c '
import json, sys
for t in json.load(sys.stdin):
    if t["name"] == "gemm":
        for s in t["shapes"]:
            if s["set"] == "search" and s["shape"]["M"] >= 64:
                print(json.dumps({"task": "gemm", "shape": s["text"]}))' |
      python3 scripts/torch_peers.py >"$work/gemm/peers.jsonl" 2>>"$out/gemm.log"
    peers=(--peers "$work/gemm/peers.jsonl")
  fi
  python3 scripts/gemm_table.py "${peers[@]}" "$work"/gemm/*.json | tee "$out/gemm.txt"
  tar czf "$out/gemm-evals.tgz" -C "$work/gemm" .  # one file: the device tool brings back few
fi
if [ "$what" = results ]; then
  # The results table in one command: every task searched MINUTES (default 3) into one archive,
  # then ksearch bench over it.
  set -- search "${2:-3}" $(ls seeds | grep -v include)
  what=search
  bench_after=1
fi
if [ "$what" = search ]; then
  minutes="${2:-5}"
  tasks=("${@:3}")
  [ ${#tasks[@]} -eq 0 ] && tasks=(rmsnorm_linear)
  rm -f "$out/search.db"* "$out/search"*.jsonl "$out/search.txt"
  for task in "${tasks[@]}"; do
    $ks run --task "$task" --minutes "$minutes" --seed 1 --db "$out/search.db" --json \
      >"$out/search-$task.jsonl" 2>"$out/search-$task.log"
    echo "ksearch run --task $task exit code $?"
    tail -2 "$out/search-$task.log"
    # The summary reads the archive's latest run: this task's.
    python3 scripts/search_summary.py "$out/search-$task.jsonl" "$out/search.db" >>"$out/search.txt"
  done
  $ks best --db "$out/search.db" --top 3 >>"$out/search.txt" 2>&1
  cat "$out/search.txt"
  rm -f "$out/search.db-wal" "$out/search.db-shm"
  [ -n "${bench_after:-}" ] && what=bench && set -- bench
fi
if [ "$what" = throughput ]; then
  minutes="${2:-3}"
  bins=("${@:3}")
  [ ${#bins[@]} -eq 0 ] && bins=("$ks")
  echo "| ksearch | evaluations | seconds | per second | statuses |" >"$out/throughput.txt"
  echo "|---|---|---|---|---|" >>"$out/throughput.txt"
  i=0
  for bin in "${bins[@]}"; do
    i=$((i + 1))
    # A cubin cache of its own each: neither run compiles for the other.
    KSEARCH_CACHE_DIR="$work/cache-throughput-$i" "$bin" run --task rmsnorm_linear --minutes "$minutes" \
      --seed 1 --db "$work/throughput-$i.db" >"$out/throughput-$i.log" 2>&1
    line=$(grep -E "[0-9]+ evaluations in [0-9.]+ s" "$out/throughput-$i.log" | tail -1)
    n=$(sed -E 's/.* ([0-9]+) evaluations in ([0-9.]+) s.*/\1/' <<<"$line")
    sec=$(sed -E 's/.* ([0-9]+) evaluations in ([0-9.]+) s.*/\2/' <<<"$line")
    statuses=$(grep -E "^other outcomes" "$out/throughput-$i.log" | tail -1 | sed 's/other outcomes this session: //')
    echo "| $bin | $n | $sec | $(python3 -c "print(f'{$n / $sec:.2f}')" 2>/dev/null) | ${statuses:-all ok} |" >>"$out/throughput.txt"
  done
  cat "$out/throughput.txt"
fi
if [ "$what" = devices ]; then
  # Issue 24.1 on a machine with two or more GPUs: the same search (TASK, default rmsnorm_linear,
  # MINUTES, default 3, seed 1) with --devices 0 and with --devices 0,1, each from a cold cubin
  # cache, and their evaluations per second; then a --devices 0,1 run stopped by SIGINT halfway
  # through a minute and resumed: what the JSON reported is what the archive kept, both GPUs
  # evaluated, no (candidate, shape) twice. Logs: devices-* in $OUT.
  minutes="${2:-3}"
  task="${3:-rmsnorm_linear}"
  gpus=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | wc -l)
  [ "$gpus" -ge 2 ] || { echo "gpu-check.sh devices: needs two GPUs, this machine has $gpus"; exit 77; }
  for devs in 0 0,1; do
    tag=$(tr ',' '_' <<<"$devs")
    KSEARCH_CACHE_DIR="$work/cache-devices-$tag" $ks run --task "$task" --minutes "$minutes" --seed 1 --devices "$devs" \
      --db "$work/devices-$tag.db" --json >"$out/devices-$tag.jsonl" 2>"$out/devices-$tag.log"
    echo "--devices $devs: exit code $?"
  done
  # Stopped and resumed: SIGINT after 30 s, then --resume for the rest of a 1-minute budget.
  $ks run --task "$task" --minutes 1 --seed 2 --devices 0,1 --db "$work/devices-stop.db" --json \
    >"$out/devices-stop.jsonl" 2>"$out/devices-stop.log" &
  pid=$!
  sleep 30
  kill -INT "$pid"
  wait "$pid"
  echo "stopped run: exit code $? (130 expected)"
  cp "$work/devices-stop.db" "$work/devices-stopped.db"  # the archive as the stop left it
  $ks run --task "$task" --resume --devices 0,1 --db "$work/devices-stop.db" --json \
    >"$out/devices-resume.jsonl" 2>"$out/devices-resume.log"
  echo "resumed run: exit code $?"
  python3 - "$out" "$work" <<'PY' | tee "$out/devices.txt"
import json, sqlite3, sys
out, work = sys.argv[1], sys.argv[2]
def events(path):
    return [json.loads(l) for l in open(path) if l.startswith("{")]
def gpu_evals(evs):
    return [e for e in evs if e["event"] == "eval" and e.get("status") != "not_applicable"]
def kept(db):
    c = sqlite3.connect(db)
    n = c.execute("select count(*) from evaluations where status != 'not_applicable'").fetchone()[0]
    twice = c.execute("select count(*) from (select candidate_id, shape from evaluations group by run_id, candidate_id, "
                      "shape having count(*) > 1)").fetchone()[0]
    return n, twice
print("| devices | evaluations | seconds | per second | by device | evaluated twice |")
print("|---|---|---|---|---|---|")
rate = {}
for tag in ("0", "0_1"):
    evs = events(f"{out}/devices-{tag}.jsonl")
    done = [e for e in evs if e["event"] == "done"]
    n, sec = (done[-1]["evals"], done[-1]["seconds"]) if done else (len(gpu_evals(evs)), float("nan"))
    rate[tag] = n / sec if sec else float("nan")
    by = {}
    for e in gpu_evals(evs):
        by[e.get("device")] = by.get(e.get("device"), 0) + 1
    print(f"| {tag.replace('_', ',')} | {n} | {sec:.1f} | {rate[tag]:.2f} | {by} | {kept(f'{work}/devices-{tag}.db')[1]} |")
print(f"\ntwo GPUs / one: {rate['0_1'] / rate['0']:.2f}x (the issue wants >= 1.8x)")
stopped, resumed = gpu_evals(events(f"{out}/devices-stop.jsonl")), gpu_evals(events(f"{out}/devices-resume.jsonl"))
n_stop, _ = kept(f"{work}/devices-stopped.db")
n_all, twice = kept(f"{work}/devices-stop.db")
print(f"stopped by SIGINT: {len(stopped)} evaluations reported, {n_stop} kept "
      f"({'nothing lost' if n_stop == len(stopped) else 'MISMATCH'}); resumed: {len(resumed)} more on devices "
      f"{sorted({e.get('device') for e in resumed})}, {n_all} kept in all "
      f"({'ok' if n_all == n_stop + len(resumed) else 'MISMATCH'}); evaluated twice: {twice}")
PY
fi
if [ "$what" = llm ]; then
  minutes="${2:-2}"
  port=18733
  python3 scripts/llm_script_server.py "$port" bench/llm-replies/* &
  server=$!
  sleep 1
  rm -f "$out/llm.db"*
  $ks run --task softmax_matmul --minutes "$minutes" --seed 1 --db "$out/llm.db" \
    --llm-url "http://127.0.0.1:$port/v1" --llm-model scripted --llm-concurrency 2 --llm-turns 1 \
    >"$out/llm-run.txt" 2>&1
  echo "ksearch run (LLM replies scripted) exit code $?"
  kill $server 2>/dev/null
  grep -E "^LLM|evaluations in|pending" "$out/llm-run.txt"
  # The same run again, its LLM calls answered from the archive just recorded: how a user
  # reproduces or shares an LLM run.
  rm -f "$out/llm-replay.db"*
  $ks run --task softmax_matmul --minutes "$minutes" --seed 1 --db "$out/llm-replay.db" \
    --llm-replay "$out/llm.db" --llm-concurrency 2 --llm-turns 1 >"$out/llm-replay-run.txt" 2>&1
  echo "ksearch run --llm-replay exit code $?"
  grep -E "^LLM|evaluations in|pending" "$out/llm-replay-run.txt"
  python3 scripts/llm_summary.py "$out/llm.db" "$out/llm-replay.db" | tee "$out/llm-table.txt"
fi
if [ "$what" = bench ]; then
  db="${2:-$out/search.db}"
  src=(--db "$db")
  [ -f "$db" ] || src=(--seeds-only)
  # The clocks seen while the bench runs, sampled every half second.
  nvidia-smi --query-gpu=clocks.sm,clocks.mem,temperature.gpu,power.draw --format=csv,noheader,nounits \
    -lms 500 >"$out/clocks.csv" 2>/dev/null &
  smi=$!
  # The peers (PyTorch eager, torch.compile) timed live beside ksearch, when torch is here.
  peers=()
  python3 -c 'import torch' 2>/dev/null && peers=(--peers)
  # BENCH_TASKS="gemm rmsnorm_linear": only these tasks (default every task).
  only=()
  for t in ${BENCH_TASKS:-}; do only+=(--task "$t"); done
  # BENCH_WARMUP_MS: the warm-up before each time (default 2000, a sustained load's: README "Timing").
  $ks bench "${src[@]}" "${only[@]}" "${peers[@]}" --min-ms "${BENCH_MIN_MS:-200}" --warmup-ms "${BENCH_WARMUP_MS:-2000}" \
    --json >"$out/bench.json" 2>"$out/bench.log"
  echo "ksearch bench exit code $?"
  kill $smi 2>/dev/null
  python3 - "$out/clocks.csv" <<'PY'
import statistics, sys
rows = [[float(x) for x in l.split(",")] for l in open(sys.argv[1]) if l.strip() and "N/A" not in l]
if rows:
    col = lambda i: sorted(r[i] for r in rows)
    sm, mem, temp, pw = col(0), col(1), col(2), col(3)
    print(f"clocks over {len(rows)} samples: SM median {statistics.median(sm):.0f} MHz (min {sm[0]:.0f}), "
          f"memory {statistics.median(mem):.0f} MHz, {temp[0]:.0f}-{temp[-1]:.0f} C, "
          f"power median {statistics.median(pw):.0f} W (max {pw[-1]:.0f} W)")
PY
  python3 - "$out/bench.json" <<'PY' | tee "$out/bench.txt"
import json, sys
b = json.load(open(sys.argv[1]))
print(f"{b['device']}: {b['bandwidth_tbs']:.2f} TB/s, {b['peak_tflops']:.0f} TFLOP/s measured")
print("| task | shape | PyTorch eager | torch.compile | floor | target | baseline | best | % floor | vs baseline | target | best candidate |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in b["rows"]:
    ref = lambda k: f"{r[k]:.1f}" if k in r else "-"
    met = ("met" if r["target_met"] else "missed") if "target_met" in r else "-"
    print(f"| {r['task']} | {r['shape']} | {ref('torch_eager_us')} | {ref('torch_compile_us')} | {r['floor_us']:.1f} | "
          f"{ref('target_us')} | {r['baseline_us']:.1f} | {r['best_us']:.1f} | {r['pct_of_floor']:.0f} | {r['speedup']:.2f}x | "
          f"{met} | {r['candidate']} |")
PY
fi
if [ "$what" = export ]; then
  # The loop from a search to a library: audit the archive's best (DB, default the search's),
  # export, build with cmake and g++, and run the example on every search and held-out shape,
  # timed as ksearch times; the table sets its time beside the archive's.
  db="${2:-$out/search.db}"
  task="${3:-rmsnorm_linear}"
  $ks audit --task "$task" --top 1 --seed 4 --db "$db" >"$out/audit.txt" 2>"$out/audit.log"
  echo "ksearch audit exit code $?"
  tail -1 "$out/audit.txt"
  rm -rf "$work/lib"
  $ks export --task "$task" --db "$db" --out "$work/lib" >"$out/export.txt" 2>&1 || { cat "$out/export.txt"; exit 1; }
  (cmake -S "$work/lib" -B "$work/lib/build" && cmake --build "$work/lib/build" -j8) >"$out/export-build.log" 2>&1 \
    || { tail -20 "$out/export-build.log"; exit 1; }
  cp "$work/lib/manifest.json" "$out/manifest.json"
  shapes=$($ks tasks --json | python3 -c "
import json, sys
t = next(t for t in json.load(sys.stdin) if t['name'] == '$task')
print(' '.join(','.join(p.split('=')[1] for p in s['text'].split(',')) for s in t['shapes']))")
  # --warmup=0.25: the archive's times are a search's (0.25 s of warm-up, README "Timing"), and
  # this compares with them.
  for s in $shapes; do echo "$s $("$work/lib/build/ksearch_${task}_example" "$s" --warmup=0.25 2>&1 | tr '\n' ' ')"; done >"$out/export-run.txt"
  python3 - "$out/manifest.json" "$out/export-run.txt" <<'PY' | tee "$out/export-table.txt"
import json, re, sys
m = json.load(open(sys.argv[1]))
archive = {",".join(re.findall(r"=(\d+)", s["shape"])): s for s in m["shapes"]}
print(f"{m['gpu']} ({m['arch']}), exported {m['generated_at']}")
print("| shape | plan | archive us | exported us | exported / archive | status |")
print("|---|---|---|---|---|---|")
bad = 0
for line in open(sys.argv[2]):
    shape, rest = line.split(" ", 1)
    us = re.search(r"([0-9.]+) us per call", rest)
    a = archive.get(shape, {})
    plan = f"#{a['candidate']} {a['name']} {a['params']}" if a.get("candidate") not in (None, "baseline") else ("baseline" if a else "(held out: dispatched)")
    ref = a.get("median_us")
    ratio = f"{float(us.group(1)) / ref:.3f}" if us and ref else "-"
    status = re.search(r"status (\d+)", rest)
    # Every call must succeed, and a measured shape may not run more than 3% slower than the archive says.
    bad += not status or status.group(1) != "0" or (ratio != "-" and float(ratio) > 1.03)
    print(f"| {shape} | {plan} | {ref and f'{ref:.1f}' or '-'} | {us.group(1) if us else '-'} | {ratio} | {status.group(1) if status else rest.strip()[:60]} |")
print("export check: " + ("FAILED (a call failed, or a shape ran more than 3% slower than the archive)" if bad else "ok"))
sys.exit(1 if bad else 0)
PY
  # Tuning on first use (issue 23, item 3): every shape again, tuned first (--tune; no cache file,
  # so tuned afresh; a measured shape keeps its plan): the tuning's one-time cost, the plan kept,
  # the tuner's times of it and of the baseline, and the call's time before and after.
  for s in $shapes; do
    echo "$s $(env -u KSEARCH_TUNE -u KSEARCH_TUNE_CACHE "$work/lib/build/ksearch_${task}_example" "$s" --tune 2>&1 | tr '\n' ' ')"
  done >"$out/export-tune.txt"
  python3 - "$out/export-run.txt" "$out/export-tune.txt" <<'PY' | tee "$out/export-tune-table.txt"
import re, sys
rows = lambda path: dict(l.rstrip("\n").split(" ", 1) for l in open(path) if " " in l)
before, after = rows(sys.argv[1]), rows(sys.argv[2])
def us(text):
    m = re.search(r"([0-9.]+) us per call", text or "")
    return float(m.group(1)) if m else None
print("| shape | plan after tuning | tune ms | tuner: baseline us / plan us | call us before | call us after | before / after |")
print("|---|---|---|---|---|---|---|")
for shape, rest in after.items():
    tune = re.search(r"tuned in ([0-9.]+) ms", rest)
    plan = re.search(r"plan: (.*?) (?:constants |checksum )", rest)
    timed = re.search(r"tuned \(([0-9.]+) us, baseline ([0-9.]+) us", rest)
    b, a = us(before.get(shape)), us(rest)
    print(f"| {shape} | {plan.group(1) if plan else rest.strip()[:60]} | {tune.group(1) if tune else '-'} | "
          f"{f'{float(timed.group(2)) / float(timed.group(1)):.3f}' if timed else '-'} | {b or '-'} | {a or '-'} | "
          f"{f'{b / a:.3f}' if a and b else '-'} |")
PY
fi
if [ "$what" = grid ]; then
  # Issue 23's export check over a model's bucket grid: `ksearch run --model MODEL` of TASK for
  # MINUTES (default llama-3-8b, swiglu_mlp, 2) into grid.db, `ksearch audit --model` of each grid
  # shape's best, the export and its cmake build, `ksearch bench --model --peers` (baseline, best,
  # PyTorch eager and torch.compile on every grid shape, in this run), the library's example on
  # every grid shape and on the midpoints between grid points of M (its dispatch, then --tune: the
  # baseline as its tuner times it, the plan it keeps and the tuning's cost), and
  # scripts/grid_table.py's two tables. DB: an archive with that search done already (its audit
  # too): the search and audit are skipped, e.g. a grid.db from an earlier call. GRID_OFF=0: the
  # grid only. GRID_FORCE=1: export unaudited candidates too (export --force). GRID_SEARCH_ONLY=1:
  # the search and audit alone, into $OUT/grid.db (the whole check outlasts one 600 s device call:
  # run it in two, the second given that archive). Logs: grid-* in $OUT.
  model="${2:-llama-3-8b}"
  task="${3:-swiglu_mlp}"
  minutes="${4:-2}"
  db="${5:-}"
  if [ -z "$db" ]; then
    db="$out/grid.db"
    rm -f "$db" "$db-wal" "$db-shm"
    $ks run --task "$task" --model "$model" --minutes "$minutes" --seed 1 --db "$db" \
      >"$out/grid-run.txt" 2>"$out/grid-run.log"
    echo "ksearch run --task $task --model $model: exit code $?"
    tail -2 "$out/grid-run.log"
    $ks audit --task "$task" --model "$model" --top 1 --seed 4 --db "$db" >"$out/grid-audit.txt" 2>"$out/grid-audit.log"
    echo "ksearch audit: exit code $?; $(tail -1 "$out/grid-audit.txt")"
    if [ "${GRID_SEARCH_ONLY:-0}" = 1 ]; then
      rm -f "$db-wal" "$db-shm"
      echo "gpu-check.sh grid: search and audit done, the rest skipped (GRID_SEARCH_ONLY=1): $db"
      exit 0
    fi
  fi
  [ -f "$db" ] || { echo "gpu-check.sh grid: no archive at $db"; exit 2; }
  lib="$work/grid-lib"
  force=()
  [ "${GRID_FORCE:-0}" = 1 ] && force=(--force)
  $ks export --task "$task" --db "$db" --out "$lib" "${force[@]}" >"$out/grid-export.txt" 2>&1 \
    || { echo "ksearch export failed: $(tail -2 "$out/grid-export.txt")"; exit 1; }
  (cmake -S "$lib" -B "$lib/build" -DCMAKE_BUILD_TYPE=Release && cmake --build "$lib/build" -j8) \
    >"$out/grid-build.log" 2>&1 || { tail -20 "$out/grid-build.log"; exit 1; }
  peers=()
  python3 -c 'import torch' 2>/dev/null && peers=(--peers)
  $ks bench --db "$db" --task "$task" --model "$model" "${peers[@]}" --json >"$out/grid-bench.json" 2>"$out/grid-bench.log"
  echo "ksearch bench: exit code $?"
  # The model's constants for the task (eps), as the example takes them: NAME=VALUE.
  consts=$(python3 - "$model" "$task" <<'PY'
import json, os, sys
path = sys.argv[1] if os.path.isfile(sys.argv[1]) else os.path.join("models", sys.argv[1] + ".json")
c = json.load(open(path))["tasks"].get(sys.argv[2], {}).get("constants", {})
print(" ".join(f"{k}={v!r}" for k, v in c.items()))
PY
)
  # Grid shapes (the bench's rows, as the example's argument), then the midpoints of M between them.
  only=
  [ "${GRID_OFF:-1}" = 0 ] && only=--grid-only
  python3 scripts/grid_table.py shapes "$out/grid-bench.json" $only >"$work/grid-shapes.txt"
  ex="$lib/build/ksearch_${task}_example"
  while read -r kind shape; do
    echo "$kind $shape $("$ex" "$shape" $consts 2>&1 | tr '\n' ' ')"
    [ "$kind" = off ] && echo "tuned $shape $(env -u KSEARCH_TUNE -u KSEARCH_TUNE_CACHE "$ex" "$shape" --tune $consts 2>&1 | tr '\n' ' ')"
  done <"$work/grid-shapes.txt" >"$out/grid-runs.txt"
  python3 scripts/grid_table.py table "$out/grid-bench.json" "$out/grid-runs.txt" | tee "$out/grid-table.txt"
  rm -f "$db-wal" "$db-shm"
fi
if [ "$what" = layer ]; then
  # Issue 23's GPU test: a random Llama-3-8B-shaped layer through the exported ops against the
  # stock layer (tests/python/llama_layer.py). Per task: `ksearch run` on exactly the layer's
  # shapes at each sequence length (batch 1; rmsnorm_linear: the QKV projection, M x 4096 ->
  # 6144, at eps 1e-5; softmax_matmul: 32 heads' S [s, s] @ V [s, 128]; swiglu_mlp: M x 4096,
  # I = 14336; gemm: o_proj, M x 4096 -> 4096), short (LAYER_SEARCH_S seconds, default 40, gemm
  # 20; LAYER_SEED_VARIANTS (4) variants of each seed in generation 0, LAYER_MIN_MS (30) ms of
  # timing per evaluation); `ksearch audit --top 1`; `ksearch export` (with --force, said loudly,
  # only where no candidate passed its audit); the library built with cmake in the background
  # while the next task searches. Then the layer test over the libraries that built, within what
  # is left of LAYER_BUDGET_S (420); LAYER_TEST_ARGS are passed on (e.g. --op-compile). About 6-7
  # minutes on an H200 from a cold cubin cache. Logs: layer-*.log/txt, layer-exports.txt,
  # layer.json, layer.db in $OUT; the layer test's table is printed last.
  t_start=$SECONDS
  read -r -a seqs <<<"${LAYER_SEQS:-128 512}"
  read -r -a ltasks <<<"${LAYER_TASKS:-rmsnorm_linear softmax_matmul swiglu_mlp gemm}"
  db="${2:-}"
  if [ -z "$db" ]; then
    db="$out/layer.db"
    rm -f "$db" "$db-wal" "$db-shm"
    search=1
  else
    search=
    [ -f "$db" ] || { echo "gpu-check.sh layer: no archive at $db"; exit 2; }
  fi
  layer_shapes() {  # the --shape texts of task $1 at every sequence length
    for s in "${seqs[@]}"; do
      case "$1" in
        rmsnorm_linear) echo "$s,4096,6144" ;;
        softmax_matmul) echo "32,$s,$s,128" ;;
        swiglu_mlp) echo "$s,4096,14336" ;;
        gemm) echo "$s,4096,4096" ;;
      esac
    done
  }
  builds=()
  libdirs=()
  : >"$out/layer-steps.txt"
  for task in "${ltasks[@]}"; do
    shape_args=()
    for s in $(layer_shapes "$task"); do shape_args+=(--shape "$s"); done
    consts=()
    [ "$task" = rmsnorm_linear ] && consts=(--const eps=1e-5)  # Llama-3's; the library takes eps at run time
    if [ -n "$search" ]; then
      secs="${LAYER_SEARCH_S:-40}"
      [ "$task" = gemm ] && secs="${LAYER_SEARCH_S:-20}"
      minutes=$(python3 -c "print($secs / 60)")
      # SIGTERM ends a run as Ctrl-C does (the evaluation in flight is written); the kill is a backstop.
      timeout -k 15 $((secs + 60)) $ks run --task "$task" "${shape_args[@]}" "${consts[@]}" --minutes "$minutes" \
        --seed-variants "${LAYER_SEED_VARIANTS:-4}" --min-ms "${LAYER_MIN_MS:-30}" --seed 1 --db "$db" \
        >"$out/layer-run-$task.txt" 2>"$out/layer-run-$task.log"
      echo "ksearch run --task $task ${shape_args[*]}: exit code $? at $((SECONDS - t_start)) s" | tee -a "$out/layer-steps.txt"
      # Its closing summary: evaluations, and the best per shape against the baseline.
      sed -n '/^run [0-9]* (/,/^other outcomes\|^children proposed/p' "$out/layer-run-$task.txt" | grep -v "^children proposed"
      [ -s "$out/layer-run-$task.txt" ] || tail -3 "$out/layer-run-$task.log"
    fi
    timeout -k 10 120 $ks audit --task "$task" --top 1 --seed 4 --min-ms 20 "${consts[@]}" --db "$db" \
      >"$out/layer-audit-$task.txt" 2>"$out/layer-audit-$task.log"
    rc=$?
    said=$(tail -1 "$out/layer-audit-$task.txt")
    [ -n "$said" ] || said=$(tail -1 "$out/layer-audit-$task.log")
    echo "ksearch audit --task $task: exit code $rc at $((SECONDS - t_start)) s; $said" | tee -a "$out/layer-steps.txt"
    lib="$work/lib-$task"
    rm -rf "$lib"
    if ! $ks export --task "$task" --db "$db" --out "$lib" >"$out/layer-export-$task.txt" 2>&1; then
      echo "ksearch export --task $task failed: $(tail -1 "$out/layer-export-$task.txt")" | tee -a "$out/layer-steps.txt"
      echo "FORCED: exporting $task's unaudited candidates (--force); the layer test still checks them" | tee -a "$out/layer-steps.txt"
      $ks export --task "$task" --db "$db" --out "$lib" --force >>"$out/layer-export-$task.txt" 2>&1 \
        || { echo "ksearch export --task $task --force failed too: $(tail -1 "$out/layer-export-$task.txt")" | tee -a "$out/layer-steps.txt"; continue; }
    fi
    cp "$lib/manifest.json" "$out/layer-manifest-$task.json"
    # The shared library alone (not the example), in the background while the next task searches.
    (cmake -S "$lib" -B "$lib/build" -DCMAKE_BUILD_TYPE=Release && cmake --build "$lib/build" -j4 --target "ksearch_${task}_shared") \
      >"$out/layer-build-$task.log" 2>&1 &
    builds+=("$!:$task")
    libdirs+=(--lib-dir "$lib")
  done
  for b in "${builds[@]}"; do
    wait "${b%%:*}"
    echo "build of libksearch_${b#*:}.so: exit code $? at $((SECONDS - t_start)) s" | tee -a "$out/layer-steps.txt"
    [ -f "$work/lib-${b#*:}/build/libksearch_${b#*:}.so" ] || tail -5 "$out/layer-build-${b#*:}.log"
  done
  rm -f "$db-wal" "$db-shm"
  # What each library runs on the layer's shapes (the manifests), and a warning where a layer
  # shape was not exported (a ksearch whose export keeps only the task's search shapes).
  python3 - "$out" "${seqs[@]}" <<'PY' | tee "$out/layer-exports.txt"
import glob, json, os, sys
out, seqs = sys.argv[1], sys.argv[2:]
want = {"rmsnorm_linear": "M={s},K=4096,N=6144", "softmax_matmul": "B=32,M={s},N={s},D=128",
        "swiglu_mlp": "M={s},H=4096,I=14336", "gemm": "M={s},K=4096,N=4096"}
print("| task | layer shape | exported plan | archive us | baseline us | speedup | audit rows passed |")
print("|---|---|---|---|---|---|---|")
for path in sorted(glob.glob(os.path.join(out, "layer-manifest-*.json"))):
    m = json.load(open(path))
    shapes = {s["shape"]: s for s in m["shapes"]}
    for seq in seqs:
        text = want[m["task"]].format(s=seq)
        s = shapes.get(text)
        if s is None:
            print("| %s | %s | NOT EXPORTED: dispatched by the nearest-bucket rule, else the baseline | - | - | - | - |" % (m["task"], text))
            continue
        plan = "baseline" if s["candidate"] == "baseline" else "#%s %s %s" % (s["candidate"], s["name"], s["params"])
        f = lambda v, fmt: "-" if v is None else fmt % v
        print("| %s | %s | %s%s | %s | %s | %s | %s/%s |" % (m["task"], text, plan, " (FORCED)" if m.get("forced") else "",
              f(s.get("median_us"), "%.1f"), f(s.get("baseline_us"), "%.1f"), f(s.get("speedup"), "%.2fx"),
              s["audit"]["passed"], s["audit"]["rows"]))
PY
  # The fused ops must load; gemm (o_proj) is used where it loads, else torch's.
  require=()
  for task in "${ltasks[@]}"; do [ "$task" != gemm ] && require+=("$task"); done
  req=$(IFS=,; echo "${require[*]}")
  # What is left of LAYER_BUDGET_S (default 420: the whole mode in 7 minutes), at least 120 s;
  # the test skips a torch.compile variant, saying so, once fewer than 60 s of it are left.
  left=$(( ${LAYER_BUDGET_S:-420} - (SECONDS - t_start) ))
  [ "$left" -lt 120 ] && left=120
  echo "layer test starts at $((SECONDS - t_start)) s, $left s left"
  timeout -k 10 "$left" python3 tests/python/llama_layer.py "${libdirs[@]}" --seq "${seqs[@]}" \
    --require "${req:-none}" --time-budget $((left - 15)) --json "$out/layer.json" ${LAYER_TEST_ARGS:-} \
    >"$out/layer-test.log" 2>&1
  rc=$?
  echo "layer test exit code $rc after $((SECONDS - t_start)) s in all"
  # The table last: what the test printed from its table on (its tracebacks stay in the log).
  sed -n '/^## Llama layer/,$p' "$out/layer-test.log" | grep -q . && sed -n '/^## Llama layer/,$p' "$out/layer-test.log" \
    || tail -30 "$out/layer-test.log"
  rm -rf "$work"
  exit "$rc"
fi
rm -rf "$work"
