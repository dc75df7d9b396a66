#!/usr/bin/env bash
# A checkpoint and restart round trip as a user types it, timed from the
# shell: `swiftcr checkpoint --kill` of a bench-target holding MIB MiB
# (default 64) into /dev/shm, then `swiftcr restart --detach` of it. Each
# run starts on prewarmed memory (this VM hands idle memory back to its
# host) and waits until the restored process is gone before the next.
# Prints each run and the medians of the checkpoint, the restart and both,
# then the median of each stage the two commands report (-v, --verbose) and
# of what lies outside their stages (start-up, argument parsing, exit), so a
# fixed cost can be found without a profiler.
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
# stages COMMAND ERRFILE WALL_MS: its "stages: name N ms, ..." line as
# "COMMAND name N" lines, and "COMMAND (outside stages) WALL-SUM".
stages() {
  sed -n 's/.*debug: stages: //p' "$2" | tr ',' '\n' | awk -v cmd="$1" -v wall="$3" '
    NF >= 3 { v = $(NF - 1); $NF = ""; $(NF - 1) = ""; name = $0; gsub(/^ +| +$/, "", name); gsub(/ /, "-", name)
              print cmd, name, v; sum += v }
    END { if (sum > 0) printf "%s (outside-stages) %.1f\n", cmd, wall - sum }' >> "$dir/stages"
}
: > "$dir/times"
: > "$dir/stages"
for i in $(seq 1 "$runs"); do
  "$bin" bench-target "$mib" > "$dir/out" 2>&1 &
  until grep -q READY "$dir/out" 2>/dev/null; do sleep 0.02; done
  pid=$(awk '/READY/ {print $2}' "$dir/out")
  dd if=/dev/zero of="$dir/warm" bs=1M count=$((mib * 3)) status=none; rm -f "$dir/warm"
  t0=$(date +%s%N)
  "$bin" checkpoint -v --kill -f "$dir/image" "$pid" 2> "$dir/ck.err" > /dev/null
  t1=$(date +%s%N)
  # The killed target is our child: its PID stays taken until we reap it,
  # which is not swiftcr's time (the restart would find it in use).
  wait "$pid" 2>/dev/null || true
  t1r=$(date +%s%N)
  "$bin" restart --verbose --detach -f "$dir/image" >/dev/null 2> "$dir/rs.err" </dev/null
  t2=$(date +%s%N)
  c=$(ms "$t0" "$t1") r=$(ms "$t1r" "$t2")
  stages checkpoint "$dir/ck.err" "$c"
  stages restart "$dir/rs.err" "$r"
  echo "run $i: checkpoint $c ms, restart $r ms, round trip $((c + r)) ms"
  echo "$c $r $((c + r))" >> "$dir/times"
  kill -9 "$pid" 2>/dev/null || true
  gone "$pid"
  pid=
  rm -f "$dir/image"
done
echo "${mib} MiB, medians of $runs: checkpoint $(awk '{print $1}' "$dir/times" | median) ms," \
     "restart $(awk '{print $2}' "$dir/times" | median) ms, round trip $(awk '{print $3}' "$dir/times" | median) ms (goal: under 80)"
# Each stage's median, in the order the commands report them.
echo "median of each stage (ms):"
awk '{ key = $1 " " $2; if (!(key in seen)) { seen[key] = 1; order[++n] = key }; v[key] = v[key] " " $3 }
     END { for (k = 1; k <= n; k++) print order[k] v[order[k]] }' "$dir/stages" | while read -r cmd name values; do
  printf '  %-10s %-18s %s\n' "$cmd" "$name" "$(echo $values | tr ' ' '\n' | median)"
done
