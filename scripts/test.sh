#!/usr/bin/env bash
# The whole test suite: unit tests, image format tests, and real
# checkpoint/restart round trips as root and as an unprivileged user
# (created by the tests when run as root).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
bash scripts/setup.sh
swift build --build-tests
swift test --skip-build
