#!/usr/bin/env bash
# swiftcr-job under a real Slurm: a throwaway one-node cluster
# (scripts/slurm-cluster.sh), then one job and a job array of 4 running at
# once, each computing a known result for about 75 s under a 1-minute time
# limit. Slurm's warning signal (--signal=B:USR1@55) makes swiftcr-job
# checkpoint the program and requeue the job, the requeued job restarts from
# the image, and so on until the program ends. Each job must end with the
# result of an uninterrupted run, and Slurm's job completion log (sacct -c)
# must show at least two requeues of it. Then a job that fills the node is
# preempted by an urgent one: checkpointed on the signal Slurm sends at
# preemption, requeued, and restarted once the urgent job is done.
# Prints "N passed, N failed".
#
#   scripts/slurm-check.sh [--user NAME] [--keep] BIN WORK
#
# BIN holds swiftcr's tools (cr_run, cr_checkpoint, cr_restart) and the
# fixture batchwork; WORK is a fresh directory. As root; jobs run as NAME
# (default: root). Everything started is stopped on exit.
set -uo pipefail

user=root keep=0
while [ $# -gt 0 ]; do
  case $1 in
    --user) user=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) break ;;
  esac
done
[ $# -eq 2 ] || { echo "usage: slurm-check.sh [--user NAME] [--keep] BIN WORK" >&2; exit 2; }
bin=$(cd "$1" && pwd) work=$2
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work" && work=$(cd "$work" && pwd)
chmod 755 "$work"

steps=750 step_ms=100        # 75 s of work
limit_minutes=1 warn=55       # so at least two requeues: a run ends 5-35 s in (checks every 30 s)
deadline_seconds=600

cluster=$work/cluster
if ! bash "$here/slurm-cluster.sh" start "$cluster" 8 >"$work/cluster.log" 2>&1; then
  cat "$work/cluster.log" >&2
  echo "0 passed, 1 failed"
  exit 1
fi
export SLURM_CONF=$cluster/slurm.conf
cleanup() {
  scancel --full --quiet --user="$user" 2>/dev/null || true
  bash "$here/slurm-cluster.sh" stop "$cluster" >/dev/null 2>&1
  [ "$keep" = 1 ] || rm -rf "$cluster/state" "$cluster/spool"
}
trap cleanup EXIT

jobs=$work/jobs
mkdir -p "$jobs"
chown "$user" "$jobs"
as_user() { if [ "$user" = root ]; then "$@"; else runuser -u "$user" -- "$@"; fi; }

expected=$("$bin/batchwork" "$steps" 0 | tail -1)

# The batch script, as docs/SLURM.md shows it (exec: the warning signal goes
# to the batch shell, which is then swiftcr-job).
cat >"$jobs/job.sh" <<EOF
#!/bin/bash
#SBATCH --time=$limit_minutes
#SBATCH --signal=B:USR1@$warn
#SBATCH --requeue
#SBATCH --open-mode=append
exec $here/swiftcr-job --bin $bin --dir $jobs/ckpt/\$SLURM_JOB_ID -- $bin/batchwork $steps $step_ms
EOF
chmod 755 "$jobs/job.sh"

cd "$jobs"
single=$(as_user sbatch --parsable --job-name=single --output="$jobs/single-%j.out" "$jobs/job.sh") || { echo "sbatch failed"; echo "0 passed, 1 failed"; exit 1; }
array=$(as_user sbatch --parsable --job-name=array --array=0-3 --output="$jobs/array-%A_%a.out" "$jobs/job.sh") || { echo "sbatch --array failed"; echo "0 passed, 1 failed"; exit 1; }
echo "submitted job $single and array $array (0-3) as $user; each needs $((steps * step_ms / 1000)) s under a $limit_minutes min limit"

# Until no job of ours is left in the queue (or the deadline).
started=$SECONDS
while [ $((SECONDS - started)) -lt $deadline_seconds ]; do
  left=$(squeue -h -j "$single,$array" 2>/dev/null | wc -l)
  [ "$left" -eq 0 ] && break
  sleep 5
done
echo "queue empty after $((SECONDS - started)) s"

passed=0 failed=0
check() {  # check NAME JOBID OUTPUT [LEAST-REQUEUES]
  local name=$1 id=$2 out=$3 least=${4:-2} result requeues state commits
  result=$(grep '^result ' "$out" 2>/dev/null | tail -1)
  # Every requeue must follow a checkpoint of this job's own (none forced by another's).
  commits=$(grep -c 'checkpoint committed' "$out" 2>/dev/null)
  # sacct -c: one record per end of a run; a requeue is recorded as PENDING.
  requeues=$(sacct -c -n -P -j "$id" --format=State 2>/dev/null | grep -c '^PENDING')
  state=$(sacct -c -n -P -j "$id" --format=State 2>/dev/null | tail -1)
  if [ "$result" = "$expected" ] && [ "$requeues" -ge "$least" ] && [ "$commits" = "$requeues" ] && [ "$state" = COMPLETED ]; then
    echo "PASS $name (job $id): $result after $requeues requeues"
    passed=$((passed + 1))
  else
    echo "FAIL $name (job $id): '${result:-no result}' (want '$expected'), $requeues requeues (want >= $least) after $commits checkpoints (want as many), last state '${state:-none}'"
    sed 's/^/    /' "$out" 2>/dev/null | tail -20
    failed=$((failed + 1))
  fi
}
check single "$single" "$jobs/single-$single.out"
for task in 0 1 2 3; do
  id=$(scontrol show job "${array}_$task" 2>/dev/null | sed -n 's/^JobId=\([0-9]*\) .*/\1/p' | head -1)
  [ -n "$id" ] || id=$(sacct -c -n -P --format=JobID 2>/dev/null | sort -un | awk -v a="$array" -v t="$task" '$1 >= a { if (n++ == t) print }')
  check "array task $task" "${id:-unknown}" "$jobs/array-${array}_$task.out"
done
# Preemption: a job using the whole node is preempted by one in the
# "urgent" partition; Slurm sends its --signal at once (preempt_send_user_signal),
# swiftcr-job checkpoints and requeues it, and it goes on after the urgent job.
pre_steps=300
pre_expected=$("$bin/batchwork" "$pre_steps" 0 | tail -1)
sed "s/ $steps $step_ms\$/ $pre_steps $step_ms/; s/^#SBATCH --time=.*/#SBATCH --time=10/" "$jobs/job.sh" >"$jobs/preempted.sh"
chmod 755 "$jobs/preempted.sh"
low=$(as_user sbatch --parsable --job-name=preempted -c 8 --output="$jobs/preempted-%j.out" "$jobs/preempted.sh")
for _ in $(seq 60); do grep -q '^step 100' "$jobs/preempted-$low.out" 2>/dev/null && break; sleep 1; done
high=$(as_user sbatch --parsable --job-name=urgent -p urgent -c 8 --time=1 --output="$jobs/urgent-%j.out" --wrap "sleep 5")
started=$SECONDS
while [ $((SECONDS - started)) -lt 180 ] && [ "$(squeue -h -j "$low,$high" 2>/dev/null | wc -l)" -gt 0 ]; do sleep 3; done
expected_saved=$expected
expected=$pre_expected
check "preempted job" "$low" "$jobs/preempted-$low.out" 1
expected=$expected_saved
urgent=$(sacct -c -n -P -j "$high" --format=State 2>/dev/null | tail -1)
if [ "$urgent" = COMPLETED ]; then echo "PASS urgent job (job $high) ran in between"; passed=$((passed + 1))
else echo "FAIL urgent job (job $high): state '${urgent:-none}'"; failed=$((failed + 1)); fi

echo "sacct -c (job completion log):"
sacct -c -P --format=JobID,JobName,State,Start,End 2>/dev/null | sed 's/^/    /'
left=$(pgrep -u "$user" -f "$bin/batchwork|swiftcr-job|cr_restart" | wc -l)
if [ "$left" -ne 0 ]; then
  echo "FAIL: $left job processes still running"
  failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
