#!/usr/bin/env bash
# The whole test suite: unit tests, image format tests, and real
# checkpoint/restart round trips as root and as an unprivileged user
# (created by the tests when run as root).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
bash scripts/setup.sh
# Every product (libcr.so too: the libcr tests link against it), then the tests.
swift build
swift build --build-tests
# XCTest only (there are no Swift Testing tests), then one plain summary line.
status=0
swift test --skip-build --disable-swift-testing 2>&1 | tee .build/test.log || status=$?
# "Executed 9 tests, with 0 failures", or "..., with 2 tests skipped and 0 failures".
summary=$(grep -E "Executed [0-9]+ tests?, with ([0-9]+ tests? skipped and )?[0-9]+ failures?" .build/test.log | tail -1 || true)
total=$(sed -nE 's/.*Executed ([0-9]+) tests?.*/\1/p' <<<"$summary")
skipped=$(sed -nE 's/.*with ([0-9]+) tests? skipped.*/\1/p' <<<"$summary")
failed=$(sed -nE 's/.* ([0-9]+) failures?.*/\1/p' <<<"$summary")
echo "$(( ${total:-0} - ${skipped:-0} - ${failed:-0} )) passed, ${skipped:-0} skipped, ${failed:-0} failed"
[ "$status" -eq 0 ] && [ "${total:-0}" -gt 0 ] && [ "${failed:-1}" -eq 0 ]
