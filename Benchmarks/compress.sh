#!/usr/bin/env bash
# Compressed vs plain images on three workloads, in one run: a Python
# process holding a few hundred MiB of objects, random bytes, and pages that
# are almost all zero (one byte set per page). For each: dump time (plain,
# --compress=1), image sizes and ratio, and restore time from each image.
# Images in /dev/shm; each figure the median of REPEAT runs (default 3), each
# started on prewarmed memory.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
repeat=${1:-3}
swift build -c release --product swiftcr >/dev/null
bin=$(pwd)/.build/release/swiftcr
dir=/dev/shm/swiftcr-compress.$$
mkdir -p "$dir"
trap 'rm -rf "$dir"; [ -n "${pid:-}" ] && kill -9 "$pid" 2>/dev/null || true' EXIT

declare -A programs=(
  [python-objects]='import time; x = [{"id": i, "name": "item%d" % i, "tags": [i % 7, i % 11]} for i in range(1500000)]'
  [random]='import os; x = os.urandom(256 << 20)'
  [zero-heavy]='b = bytearray(256 << 20)
for i in range(0, len(b), 4096): b[i] = 1'
)
now() { date +%s.%N; }
# This VM hands memory idle for a few seconds back to its host, and touching
# it again then costs up to ten times as much: each timed figure starts
# right after writing and freeing as much memory as the process holds.
prewarm() {
  local kib; kib=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
  dd if=/dev/zero of="$dir/warm" bs=1M count=$((kib / 1024 + 16)) status=none 2>/dev/null; rm -f "$dir/warm"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "workload         MiB  dump_s  dump_z1_s  z1_speed  ratio  restore_s  restore_z1_s  z1_restore"
for name in python-objects random zero-heavy; do
  python3 -c "${programs[$name]}
import os, sys, time
print('READY', os.getpid(), flush=True)
time.sleep(1e6)" </dev/null > "$dir/out" 2>&1 &
  pid=$!
  until grep -q READY "$dir/out" 2>/dev/null; do sleep 0.2; done
  plain=() packed=() rplain=() rpacked=()
  for _ in $(seq "$repeat"); do
    for mode in plain packed; do
      extra=(); [ "$mode" = packed ] && extra=(--compress=1)
      rm -f "$dir/$mode.img"; prewarm
      t0=$(now); "$bin" checkpoint -p "${extra[@]}" -f "$dir/$mode.img" "$pid" >/dev/null; t1=$(now)
      [ "$mode" = plain ] && plain+=("$(echo "$t1 - $t0" | bc)") || packed+=("$(echo "$t1 - $t0" | bc)")
      # Restore until running untraced (the restorer's own time, -v line), then kill.
      # (Its output in a file: the restored process inherits cr_restart's stdio.)
      prewarm
      "$bin" restart --no-restore-pid --detach --verbose -f "$dir/$mode.img" </dev/null >"$dir/restart.out" 2>&1
      line=$(grep -o 'in [0-9.]* s' "$dir/restart.out" | head -1)
      secs=${line#in }; secs=${secs% s}
      [ "$mode" = plain ] && rplain+=("$secs") || rpacked+=("$secs")
      for p in $(pgrep -f "print\('READY'"); do [ "$p" != "$pid" ] && kill -9 "$p" 2>/dev/null || true; done
    done
  done
  size=$(stat -c %s "$dir/plain.img"); zsize=$(stat -c %s "$dir/packed.img")
  d=$(printf '%s\n' "${plain[@]}" | median); z=$(printf '%s\n' "${packed[@]}" | median)
  r=$(printf '%s\n' "${rplain[@]}" | median); rz=$(printf '%s\n' "${rpacked[@]}" | median)
  printf '%-15s %5d  %6.3f  %9.3f  %7.2fx  %5.2f  %9.3f  %12.3f  %9.2fx\n' "$name" $((size >> 20)) "$d" "$z" \
    "$(echo "$d / $z" | bc -l)" "$(echo "$size / $zsize" | bc -l)" "$r" "$rz" "$(echo "$rz / $r" | bc -l)"
  kill -9 "$pid"; wait "$pid" 2>/dev/null || true; pid=""
done
echo "z1_speed: plain dump time / compressed dump time (goal: at least 0.8x); ratio: plain size / compressed size;"
echo "z1_restore: compressed restore time / plain restore time (goal: at most 1.2x)"
