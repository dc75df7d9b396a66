#!/usr/bin/env bash
# The main job, watchable: build swiftcr, start a counter, checkpoint it,
# kill it, restart it from the image, and see it continue. Builds only the
# swiftcr binary (cr_checkpoint and cr_restart are that binary) and
# installs nothing the demo does not run.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
bash scripts/setup.sh --demo
echo "demo: building swiftcr (release; the first build takes a few minutes, later ones seconds)"
mkdir -p .build
log=.build/demo-build.log
swift build -c release --product swiftcr > "$log" 2>&1 &
build=$!
seconds=0
while kill -0 "$build" 2>/dev/null; do
  sleep 1
  seconds=$((seconds + 1))
  if [ $((seconds % 15)) -eq 0 ]; then echo "  still building: ${seconds} s, $(grep -c Compiling "$log" || true) files compiled"; fi
done
wait "$build" || { tail -20 "$log" >&2; echo "demo: the build failed (whole log: $log)" >&2; exit 1; }
echo "demo: checking this machine (swiftcr check)"
.build/release/swiftcr check
.build/release/swiftcr demo "$@"
