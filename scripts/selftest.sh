#!/usr/bin/env bash
# Verifies an installation: `swiftcr check`, then a sample program (the
# demo counter, run under cr_run) is checkpointed, killed, restarted, and
# must go on counting from where it was. Usage: selftest.sh [PREFIX]
set -euo pipefail
prefix="${1:-$(cd "$(dirname "$0")/../.." && pwd)}"
bin="$prefix/bin"
work=$(mktemp -d)
restarter=""
trap '[ -n "$restarter" ] && kill "$restarter" 2>/dev/null; rm -rf "$work"' EXIT
"$bin/swiftcr" check
"$bin/cr_run" "$bin/swiftcr" demo-counter > "$work/before" &
disown  # the checkpoint kills it: no "Killed" from the shell
sleep 2.5
pid=$(awk '/started as/ { print $NF; exit }' "$work/before" | tr -d ')')
"$bin/cr_checkpoint" -p --require-libcr --kill -f "$work/context" "$pid"
# Read after the kill: the original can no longer add a line of its own.
last=$(awk '/counter:/ { n = $2 } END { print n }' "$work/before")
"$bin/cr_restart" --no-restore-pid "$work/context" > "$work/after" 2>&1 &
restarter=$!
disown
# Its stdout was a file, so the restarted counter writes on in that file:
# wait up to 10 s for it to count past where it was.
first=""
for _ in $(seq 1 50); do
  sleep 0.2
  first=$(awk '/counter:/ { n = $2 } END { print n }' "$work/before")
  if [ -n "$first" ] && [ -n "$last" ] && [ "$first" -gt "$last" ]; then break; fi
done
kill "$restarter" 2>/dev/null || true
restarter=""
if [ -n "$first" ] && [ "$first" -gt "$last" ]; then
  echo "selftest: PASS (counted to $last before the checkpoint, went on to $first after the restart)"
else
  echo "selftest: FAIL (before: ${last:-nothing}, after: ${first:-nothing})" >&2
  echo "cr_restart said:" >&2
  cat "$work/after" >&2
  exit 1
fi
