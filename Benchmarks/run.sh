#!/usr/bin/env bash
# Dump and restore speed for 64 MiB to 2 GiB processes, next to dd writing the
# same bytes to the same tmpfs, memcpy, and gcore/criu when installed, all in
# one run. Pass swiftcr bench options through (e.g. --sizes 1024 --repeat 5).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
swift build -c release
.build/release/swiftcr bench "$@"
