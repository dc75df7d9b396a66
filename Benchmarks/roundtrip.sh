#!/usr/bin/env bash
# A checkpoint and restart round trip as a user types it, timed from the
# shell: `swiftcr checkpoint --kill` of a bench-target holding MIB MiB
# (default 64) into /dev/shm, then `swiftcr restart --detach` of it. Each
# run starts on prewarmed memory (this VM hands idle memory back to its
# host) and waits until the restored process is gone before the next.
# Prints each run and the medians of the checkpoint, the restart and both.
# usage: Benchmarks/roundtrip.sh [RUNS] [MIB]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
runs=${1:-9}
mib=${2:-64}
swift build -c release --product swiftcr >/dev/null
bin=$(pwd)/.build/release/swiftcr
dir=/dev/shm/swiftcr-roundtrip.$$
mkdir -p "$dir"
pid=
# (A failed kill must not stop the trap before the rm: set -e applies there too.)
trap 'if [ -n "$pid" ]; then kill -9 "$pid" 2>/dev/null || true; fi; rm -rf "$dir"' EXIT
ms() { echo $(( ($2 - $1) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
gone() { while [ -e "/proc/$1" ]; do sleep 0.02; done; }
: > "$dir/times"
for i in $(seq 1 "$runs"); do
  "$bin" bench-target "$mib" > "$dir/out" 2>&1 &
  until grep -q READY "$dir/out" 2>/dev/null; do sleep 0.02; done
  pid=$(awk '/READY/ {print $2}' "$dir/out")
  dd if=/dev/zero of="$dir/warm" bs=1M count=$((mib * 3)) status=none; rm -f "$dir/warm"
  t0=$(date +%s%N)
  "$bin" checkpoint --kill -f "$dir/image" "$pid"
  t1=$(date +%s%N)
  # The killed target is our child: its PID stays taken until we reap it,
  # which is not swiftcr's time (the restart would find it in use).
  wait "$pid" 2>/dev/null || true
  t1r=$(date +%s%N)
  "$bin" restart --detach -f "$dir/image" >/dev/null 2>&1 </dev/null
  t2=$(date +%s%N)
  c=$(ms "$t0" "$t1") r=$(ms "$t1r" "$t2")
  echo "run $i: checkpoint $c ms, restart $r ms, round trip $((c + r)) ms"
  echo "$c $r $((c + r))" >> "$dir/times"
  kill -9 "$pid" 2>/dev/null || true
  gone "$pid"
  pid=
  rm -f "$dir/image"
done
echo "${mib} MiB, medians of $runs: checkpoint $(awk '{print $1}' "$dir/times" | median) ms," \
     "restart $(awk '{print $2}' "$dir/times" | median) ms, round trip $(awk '{print $3}' "$dir/times" | median) ms (goal: under 80)"
