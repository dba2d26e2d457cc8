#!/usr/bin/env bash
# slurm.ArrayThenMerge: scripts/slurm/ against a real Slurm of one node, started here and torn
# down after (munged, slurmctld, slurmd from Debian's munge and slurm-wlm, each with its files in
# a temporary folder and its own ports and munge key). The node has two GPUs that are /dev/null
# (gres), so the array's --gres=gpu:1 is granted as written; each element runs the real
# `ksearch run`, its worker the fake one (KSEARCH_WORKER: every evaluation ok, on the CPU), into
# an archive of its own. Element 0 is requeued in the middle of its run (`scontrol requeue`, as a
# preemption would), so its second start resumes the run and spends what is left of its budget.
# Then the dependent merge job runs the real `ksearch merge`; every row of every element's
# archive must be in the merged one.
#
#   test_slurm.sh KSEARCH FAKE_WORKER ARCHIVE_ROWS SOURCE_DIR
#
# Exits 77 (ctest's SKIP_RETURN_CODE), saying why, where Slurm and munge are not installed and
# cannot be, or where the daemons cannot run here. It apt-gets slurm-wlm and munge only when
# KSEARCH_SLURM_INSTALL=1 or CI is set (not "false"), as root or with passwordless sudo;
# KSEARCH_SLURM_INSTALL=0 never installs.
set -euo pipefail

if (($# != 4)); then
  echo "usage: test_slurm.sh KSEARCH FAKE_WORKER ARCHIVE_ROWS SOURCE_DIR" >&2
  exit 2
fi
ksearch="$(realpath "$1")" fake="$(realpath "$2")" rows="$(realpath "$3")" src="$(realpath "$4")"
max_evals=8   # each element's budget

skip() {
  echo "SKIPPED: $*"
  exit 77
}
fail() {
  echo "FAILED: $*" >&2
  exit 1
}
# A program on PATH or in the sbin folders (not on PATH for every user).
find_bin() { PATH="$PATH:/usr/sbin:/sbin:/usr/local/sbin" command -v "$1" 2>/dev/null; }

# --- Slurm and munge: there, or installed, or a skip that says why.
bins=(munged slurmctld slurmd sbatch squeue scontrol sinfo scancel)
missing=()
for b in "${bins[@]}"; do find_bin "$b" >/dev/null || missing+=("$b"); done
if ((${#missing[@]})); then
  why="Slurm and munge are not installed (no ${missing[*]})"
  install="${KSEARCH_SLURM_INSTALL:-}"
  if [ -z "$install" ] && [ -n "${CI:-}" ] && [ "${CI:-}" != "false" ]; then install=1; fi
  [ "$install" = 1 ] ||
    skip "$why; KSEARCH_SLURM_INSTALL=1 (or CI=true) lets this test apt-get install slurm-wlm and munge"
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null || ! sudo -n true 2>/dev/null; then
      skip "$why, and installing slurm-wlm and munge needs root or passwordless sudo (uid $(id -u))"
    fi
    sudo=(sudo -n)
  fi
  command -v apt-get >/dev/null || skip "$why, and there is no apt-get to install slurm-wlm and munge with"
  echo "installing slurm-wlm and munge (missing: ${missing[*]})"
  log="$(mktemp)"
  if ! { "${sudo[@]}" apt-get update -qq &&
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge; } \
    >"$log" 2>&1; then
    tail -n 5 "$log"
    rm -f "$log"
    skip "$why, and apt-get could not install slurm-wlm and munge (above)"
  fi
  rm -f "$log"
  for b in "${bins[@]}"; do find_bin "$b" >/dev/null || skip "slurm-wlm and munge were installed, yet there is no $b"; done
fi
munged="$(find_bin munged)" slurmctld="$(find_bin slurmctld)" slurmd="$(find_bin slurmd)"
echo "$("$slurmctld" -V), munge $("$munged" -V 2>&1 | head -n 1 | awk '{print $2}'), as $(id -un)"

# --- One node, in a temporary folder. munged wants every folder above its socket searchable.
T="$(mktemp -d "${TMPDIR:-/tmp}/ksearch-slurm.XXXXXX")"
chmod 755 "$T"
mkdir -p "$T/munge" "$T/state" "$T/spool" "$T/log" "$T/dev" "$T/jobs"
chmod 755 "$T/munge"
daemons=()
export SLURM_CONF="$T/slurm.conf"
teardown() {
  local rc=$?
  set +e
  if [ -e "$SLURM_CONF" ] && ((${#daemons[@]} > 1)); then
    scancel --user="$(id -un)" 2>/dev/null  # jobs still there (a failure): their steps end too
    for _ in $(seq 20); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.5; done
  fi
  for ((i = ${#daemons[@]} - 1; i >= 0; i--)); do kill "${daemons[$i]}" 2>/dev/null; done
  for pid in "${daemons[@]}"; do wait "$pid" 2>/dev/null; done
  if ((rc != 0 && rc != 77)); then
    for f in "$T"/log/*.log "$T"/jobs/*; do
      [ -f "$f" ] && { echo "--- $f (last lines)"; tail -n 25 "$f"; }
    done
  fi
  rm -rf "$T"
  exit "$rc"
}
trap teardown EXIT
trap 'exit 1' INT TERM

# Why the daemons did not come up: the last lines of their logs, then the skip.
cannot_run() {
  for f in "$T"/log/*; do [ -s "$f" ] && { echo "--- $f (last lines)"; tail -n 8 "$f"; }; done
  skip "$* (their logs above): Slurm cannot run in this container"
}

head -c 1024 /dev/urandom >"$T/munge/munge.key"
chmod 400 "$T/munge/munge.key"
"$munged" --foreground --key-file="$T/munge/munge.key" --socket="$T/munge/munge.socket" \
  --pid-file="$T/munge/munged.pid" --seed-file="$T/munge/munged.seed" --log-file="$T/log/munged.log" \
  >"$T/log/munged.out" 2>&1 &
daemons+=($!)
for _ in $(seq 50); do [ -S "$T/munge/munge.socket" ] && break; sleep 0.2; done
[ -S "$T/munge/munge.socket" ] || cannot_run "munged did not start"

# Two free ports (a port something answers on is taken).
taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port=0
for _ in $(seq 50); do
  p=$((20000 + RANDOM % 30000))
  if ! taken "$p" && ! taken $((p + 1)); then port=$p && break; fi
done
((port)) || skip "no two free ports found for slurmctld and slurmd"

ln -s /dev/null "$T/dev/gpu0"
ln -s /dev/null "$T/dev/gpu1"
echo "Name=gpu File=$T/dev/gpu[0-1]" >"$T/gres.conf"
me="$(id -un)"
cat >"$SLURM_CONF" <<EOF
ClusterName=ksearchtest
SlurmctldHost=localhost
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=$me
SlurmdUser=$me
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$T/munge/munge.socket
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/log/slurmctld.log
SlurmdLogFile=$T/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
ReturnToService=2
GresTypes=gpu
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$(nproc) Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
"$slurmctld" -D -f "$SLURM_CONF" >"$T/log/slurmctld.out" 2>&1 &
daemons+=($!)
"$slurmd" -D -N localhost -f "$SLURM_CONF" >"$T/log/slurmd.out" 2>&1 &
daemons+=($!)
state=""
for _ in $(seq 120); do
  state="$(sinfo -h -N -n localhost -o %T 2>/dev/null || true)"
  [ "$state" = idle ] && break
  for pid in "${daemons[@]}"; do kill -0 "$pid" 2>/dev/null || cannot_run "a daemon ended (pid $pid)"; done
  sleep 0.5
done
[ "$state" = idle ] || cannot_run "the node is not idle after 60 s (state '${state:-none}')"
echo "slurm up: slurmctld on port $port, one node with $(nproc) CPUs and 2 GPUs (/dev/null)"

# --- The array, then the merge, as the README submits them. Each element gets one CPU and one
# of the two GPUs, so both run at once.
export KSEARCH="$ksearch" KSEARCH_WORKER="$fake" KSEARCH_ROOT="$src"
export KSEARCH_CACHE_DIR="${KSEARCH_CACHE_DIR:-$T/cache}"
export KSEARCH_TASKS="rmsnorm_linear softmax_matmul" KSEARCH_MINUTES=10 KSEARCH_OUT="$T/out"
export KSEARCH_RUN_ARGS="--max-evals $max_evals --seed 7" KSEARCH_GPU="Fake GPU"
export KSEARCH_FAKE_DELAY_MS=1000  # a second per evaluation: time to requeue in the middle
read -ra tasks <<<"$KSEARCH_TASKS"
array="$(sbatch --parsable --array=0-1 --cpus-per-task=1 --chdir="$T" --output="$T/jobs/run-%A_%a.out" \
  "$src/scripts/slurm/search-array.sbatch")"
array="${array%%;*}"
merge="$(sbatch --parsable --dependency=afterok:"$array" --chdir="$T" --output="$T/jobs/merge.out" \
  "$src/scripts/slurm/merge.sbatch")"
merge="${merge%%;*}"
echo "submitted array $array (${tasks[*]}) and merge $merge (afterok:$array)"

job_field() { scontrol show job "$1" -o 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }
evaluated() {  # evaluations on the GPU in an archive so far (0 while it is not there)
  { "$rows" "$1" 2>/dev/null || true; } | awk -F'\t' '$1 == "evaluation" && $5 != "not_applicable"' | wc -l
}

# Element 0, requeued once it has results and before its budget is spent.
db0="$T/out/runs/${tasks[0]}-Fake_GPU.db"
deadline=$((SECONDS + 300))
until (($(evaluated "$db0") >= 2)); do
  s="$(job_field "${array}_0" JobState)"
  [ "$s" = PENDING ] || [ "$s" = RUNNING ] || fail "element 0 ended $s before it had results to be requeued with"
  ((SECONDS < deadline)) || fail "element 0 wrote no evaluations in 300 s"
  sleep 0.5
done
n=$(evaluated "$db0")
((n < max_evals)) || fail "element 0 spent its budget ($n evaluations) before it could be requeued"
scontrol requeue "${array}_0"
echo "requeued element 0 after $n of its $max_evals evaluations"
# A requeued job waits two minutes before it may start again; this one need not.
until [ "$(job_field "${array}_0" JobState)" = PENDING ]; do
  ((SECONDS < deadline)) || fail "element 0 is not pending again after its requeue"
  sleep 0.5
done
scontrol update JobId="${array}_0" StartTime=now

deadline=$((SECONDS + 480))
while :; do
  s="$(job_field "$merge" JobState)"
  case "$s" in
    COMPLETED) break ;;
    PENDING | RUNNING | CONFIGURING | COMPLETING) ;;
    *) fail "the merge job ended $s ($(job_field "$merge" Reason))" ;;
  esac
  ((SECONDS < deadline)) || fail "the merge job is still $s after 480 s ($(job_field "$merge" Reason))"
  sleep 1
done
echo "merge job $merge completed"

# --- What must hold.
log0="$(ls "$T"/jobs/run-*_0.out)"
grep -q "DUE TO JOB REQUEUE" "$log0" || fail "element 0's log does not show its requeue"
grep -q "restart 1: " "$log0" || fail "element 0 did not start a second time"
grep -q -- "--resume" "$log0" || fail "element 0's second start did not pass --resume"
grep -q "resuming run 1" "$log0" || fail "element 0's second start did not resume its run"

merged="$T/out/ksearch.db"
[ -f "$merged" ] || fail "no merged archive at $merged"
"$rows" "$merged" | sort >"$T/merged.rows"
for i in "${!tasks[@]}"; do
  db="$T/out/runs/${tasks[$i]}-Fake_GPU.db"
  [ -f "$db" ] || fail "element $i wrote no archive at $db"
  "$rows" "$db" | sort >"$T/$i.rows"
  runs="$(awk -F'\t' '$1 == "run"' "$T/$i.rows")"
  [ "$(wc -l <<<"$runs")" -eq 1 ] || fail "element $i's archive holds other than one run: $runs"
  [ "$(cut -f 6 <<<"$runs")" -eq "$max_evals" ] ||
    fail "element $i's run evaluated other than its budget of $max_evals: $runs"
  [ "$(cut -f 5 <<<"$runs")" = budget ] || fail "element $i's run did not end at its budget: $runs"
  bad="$(awk -F'\t' '$1 == "evaluation" && $5 != "ok" && $5 != "not_applicable"' "$T/$i.rows")"
  [ -z "$bad" ] || fail "element $i recorded failures (the requeue's signal must not be one):"$'\n'"$bad"
  lost="$(comm -23 "$T/$i.rows" "$T/merged.rows")"
  [ -z "$lost" ] || fail "rows of element $i's archive are not in the merged one:"$'\n'"$lost"
  echo "element $i (${tasks[$i]}): $(grep -c '^candidate' "$T/$i.rows") candidates, $(grep -c '^evaluation' "$T/$i.rows") evaluations, all in the merged archive"
done
[ "$(grep -c '^run' "$T/merged.rows")" -eq "${#tasks[@]}" ] || fail "the merged archive holds other than ${#tasks[@]} runs"
for t in "${tasks[@]}"; do
  grep -q "$t on Fake GPU" "$T/jobs/merge.out" || fail "the merge job's leaderboard has no $t"
done
echo "--- element 0's output (both starts)"
cat "$log0"
echo "--- the merge job's output"
cat "$T/jobs/merge.out"
echo "PASSED: the array (one element requeued and resumed) and the merge of its archives"
