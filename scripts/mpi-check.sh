#!/usr/bin/env bash
# MPI jobs through MPICH Hydra's BLCR support, with swiftcr's libcr in place
# of BLCR's. Needs an MPICH 3.3.2 built with
#   --with-device=ch3:nemesis --enable-checkpointing
#   --with-hydra-ckpointlib=blcr --with-blcr=SWIFTCR_PREFIX
# (docs/SCALE-OUT.md says how; not part of the suite: CI has no MPICH).
#
#   scripts/mpi-check.sh MPICH_PREFIX [SWIFTCR_PREFIX]
#
# Runs Fixtures/mpi/ringsum.c (4 ranks: a ring exchange and an allreduce per
# round) with periodic checkpoints (-ckpointlib blcr -ckpoint-prefix DIR
# -ckpoint-interval S), kills the job after its checkpoints, restarts it
# (-ckpoint-num N) and compares the final result with an uninterrupted
# run's: restarting from the first and from the second checkpoint, with all
# ranks on one host (shared memory) and spread over two "hosts" (-hosts, so
# ranks talk over TCP). Prints "N passed, N failed".
set -uo pipefail

mpich=${1:?usage: mpi-check.sh MPICH_PREFIX [SWIFTCR_PREFIX]}
swiftcr=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/swiftcr-mpi.XXXXXX)
[ -n "$swiftcr" ] && export LD_LIBRARY_PATH=$swiftcr/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} PATH=$swiftcr/bin:$PATH
export PATH=$mpich/bin:$PATH
steps=400 step_ms=40           # 16 s of rounds
interval=4                     # a checkpoint every 4 s
passed=0 failed=0

trap 'pkill -KILL -f "$work/ringsum" 2>/dev/null; pkill -KILL -f "hydra_pmi_proxy.*$work" 2>/dev/null; true' EXIT

mpicc -O2 -o "$work/ringsum" "$here/../Fixtures/mpi/ringsum.c" || { echo "mpicc failed"; echo "0 passed, 1 failed"; exit 1; }
expected=$(mpiexec -n 4 "$work/ringsum" "$steps" 0 | grep '^result')
echo "uninterrupted: $expected"

# run NAME CHECKPOINT-TO-RESTART-FROM HOSTS-OPTIONS...
run() {
  local name=$1 from=$2; shift 2
  local dir=$work/$name
  mkdir -p "$dir"
  local common=(-ckpointlib blcr -ckpoint-prefix "$dir" -genv MPIR_CVAR_NEMESIS_ENABLE_CKPOINT 1 "$@")
  mpiexec "${common[@]}" -ckpoint-interval "$interval" -n 4 "$work/ringsum" "$steps" "$step_ms" >"$dir/first.out" 2>&1 &
  local job=$! waited=0
  # Until checkpoint number FROM+1 has begun (so FROM is complete), then kill the job.
  while [ $waited -lt 120 ]; do
    ls "$dir"/context-num$((from + 1))-* >/dev/null 2>&1 && break
    kill -0 $job 2>/dev/null || break
    sleep 0.5; waited=$((waited + 1))
  done
  kill -KILL $job 2>/dev/null
  pkill -KILL -f "$work/ringsum" 2>/dev/null
  pkill -KILL -f hydra_pmi_proxy 2>/dev/null
  { wait $job; } 2>/dev/null  # (no "Killed" notice)
  sleep 1
  local images
  images=$(ls "$dir"/context-num"$from"-* 2>/dev/null | wc -l)
  if [ "$images" -eq 0 ]; then
    echo "FAIL $name: no checkpoint number $from was written"
    sed 's/^/    /' "$dir/first.out" | tail -15
    failed=$((failed + 1)); return
  fi
  local before
  before=$(grep '^step' "$dir/first.out" | tail -1)
  timeout 120 mpiexec "${common[@]}" -ckpoint-num "$from" -n 4 >"$dir/restart.out" 2>&1
  local rc=$? got
  got=$(grep '^result' "$dir/restart.out" | tail -1)
  if [ $rc -eq 0 ] && [ "$got" = "$expected" ]; then
    echo "PASS $name: killed after '${before:-no step}', restarted from checkpoint $from ($images images), $got"
    passed=$((passed + 1))
  else
    echo "FAIL $name: restart exit $rc, '${got:-no result}' (want '$expected')"
    sed 's/^/    /' "$dir/restart.out" | tail -20
    failed=$((failed + 1))
  fi
}

run one-host-first 0
run one-host-second 1
run two-hosts-second 1 -launcher fork -hosts localhost:2,127.0.0.1:2

echo "images: $(du -sh "$work" | cut -f1) in $work"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
