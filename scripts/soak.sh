#!/usr/bin/env bash
# Soak: checkpoint (--kill) and restart the same process N times, as root.
#   scripts/soak.sh [N]   (default 500; not part of the test suite)
# The process (Fixtures/killable.c, 64 MiB) checks its memory, signal mask,
# alternate stack and pipe after every restart (SIGHUP -> "CHECK n PASS").
# Printed: each 50th generation, and at the end the first and last peak RSS of
# cr_checkpoint and cr_restart, the fd counts of cr_restart and of the
# restored process, and whether they stayed flat. Exits 1 on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
n="${1:-500}"
[[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] || { echo "usage: $0 [N]" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "soak: run as root (it restores the original PID)" >&2; exit 2; }
bash scripts/setup.sh >/dev/null
swift build -c release --product swiftcr >/dev/null || exit 2
bin=.build/release
# cr_checkpoint and cr_restart are the swiftcr binary under those names.
for t in cr_checkpoint cr_restart; do ln -sfn swiftcr "$bin/$t"; done
work=$(mktemp -d /tmp/swiftcr-soak.XXXXXX)
trap 'kill -9 $(cat "$work/pid" 2>/dev/null) 2>/dev/null; rm -rf "$work"' EXIT
cc -O1 -Wall -o "$work/killable" Fixtures/killable.c || exit 2
: >"$work/out"
"$work/killable" 64 >>"$work/out" 2>&1 &
pid=$!
echo "$pid" >"$work/pid"
for _ in $(seq 100); do grep -q READY "$work/out" && break; sleep 0.05; done

# Peak RSS (KiB) of a command, by GNU time's %M.
measure() { /usr/bin/time -f "%M" -o "$work/rss" "$@"; }
first=() last=()
fail() { echo "soak: generation $i: $*" >&2; exit 1; }
started=$(date +%s)
for i in $(seq "$n"); do
  measure "$bin/cr_checkpoint" --kill -f "$work/img" "$pid" >"$work/ck" 2>&1 || fail "cr_checkpoint: $(head -1 "$work/ck")"
  ck_rss=$(tail -n1 "$work/rss")
  # The previous generation's cr_restart ends with its killed child: its peak RSS.
  if [ "$i" -gt 1 ]; then wait "$restarter" 2>/dev/null; rs_rss=$(tail -n1 "$work/rss.rs"); fi
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.02; done
  /usr/bin/time -f "%M" -o "$work/rss.rs" "$bin/cr_restart" "$work/img" >>"$work/out" 2>&1 &
  restarter=$!
  up=0
  for _ in $(seq 300); do
    if [ "$(awk '/^TracerPid/ {print $2}' /proc/$pid/status 2>/dev/null)" = 0 ]; then up=1; break; fi
    sleep 0.02
  done
  [ "$up" = 1 ] || fail "the restored process did not appear"
  # cr_restart is /usr/bin/time's child; count its descriptors and the process's.
  tool=$(pgrep -P "$restarter" -x cr_restart | head -1)
  tool_fds=$(ls "/proc/$tool/fd" 2>/dev/null | wc -l)
  target_fds=$(ls "/proc/$pid/fd" | wc -l)
  kill -HUP "$pid"
  for _ in $(seq 200); do grep -q "CHECK $i " "$work/out" && break; sleep 0.02; done
  grep -q "CHECK $i PASS" "$work/out" || fail "self-check: $(grep -m1 'FAIL' "$work/out" || echo 'no CHECK line')"
  row="$ck_rss $tool_fds $target_fds ${rs_rss:-0}"
  [ "$i" -eq 2 ] && first=($row)
  last=($row)
  if [ $((i % 50)) -eq 0 ] || [ "$i" -eq 1 ]; then
    echo "generation $i: peak RSS cr_checkpoint ${ck_rss} KiB, cr_restart ${rs_rss:--} KiB; fds cr_restart $tool_fds, process $target_fds"
  fi
done
kill -9 "$pid"
wait "$restarter" 2>/dev/null
elapsed=$(( $(date +%s) - started ))
echo "soak: $n generations in ${elapsed}s, every self-check PASS"
[ "$n" -ge 2 ] || { echo "soak: one generation: nothing to compare"; exit 0; }
echo "soak: peak RSS cr_checkpoint ${first[0]} KiB at generation 2, ${last[0]} KiB last; cr_restart ${first[3]} KiB, ${last[3]} KiB"
echo "soak: fds cr_restart ${first[1]} then ${last[1]}; restored process ${first[2]} then ${last[2]}"
[ "${first[1]}" = "${last[1]}" ] && [ "${first[2]}" = "${last[2]}" ] || { echo "soak: descriptor counts grew" >&2; exit 1; }
for k in 0 3; do
  [ $(( last[k] )) -le $(( first[k] * 5 / 4 + 1024 )) ] || { echo "soak: peak RSS grew" >&2; exit 1; }
done
echo "soak: flat"
