#!/usr/bin/env bash
# The main job, watchable: build swiftcr, start a counter, checkpoint it,
# kill it, restart it from the image, and see it continue.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
bash scripts/setup.sh
swift build -c release
.build/release/swiftcr check
.build/release/swiftcr demo "$@"
