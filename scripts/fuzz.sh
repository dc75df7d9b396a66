#!/usr/bin/env bash
# Fuzzes the image reader and cr_restart's pre-fork stage with libFuzzer for
# a bounded time.
#   scripts/fuzz.sh [SECONDS] [--keep]   (default 60 s)
# --keep merges what the run found (minimized) into Fuzz/corpus, the corpus
# kept in the repository and used as seed by every run.
# The target (Fuzz/ImageReaderFuzz.swift) is built with Sources/CheckpointImage
# under -sanitize=fuzzer,address. The seed corpus is the committed sample
# images plus a fresh real image of a small process. Findings (crashes,
# timeouts, allocations over 1 GiB) are written to .build/fuzz/findings/
# and make the script fail.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
seconds="${1:-60}"
keep="${2:-}"
out=.build/fuzz
mkdir -p "$out/module" "$out/corpus" "$out/findings"
cat > "$out/module/module.modulemap" <<MAP
module CChecksum [system] {
    header "$PWD/Sources/CChecksum/include/CChecksum.h"
    export *
}
module CZstd [system] {
    header "$PWD/Sources/CZstd/shim.h"
    link "zstd"
    export *
}
module CLinux [system] {
    header "$PWD/Sources/CLinux/include/CLinux.h"
    export *
}
MAP
swiftc -sanitize=fuzzer,address -parse-as-library -O -I "$out/module" \
  -module-name ImageFuzz Fuzz/ImageReaderFuzz.swift Sources/CheckpointImage/*.swift Sources/CheckpointImage/Resources/*.swift -o "$out/image-fuzz"

cp Fixtures/images/*.swiftcr "$out/corpus/"
cp Fuzz/corpus/* "$out/corpus/" 2>/dev/null || true
# A real image: a small process, checkpointed by the debug build.
swift build --product swiftcr >/dev/null
sleep 30 & victim=$!
.build/debug/swiftcr cr_checkpoint -p -f "$out/corpus/real-sleep.swiftcr" "$victim" >/dev/null 2>&1 || true
kill "$victim" 2>/dev/null || true

"$out/image-fuzz" "$out/corpus" -max_total_time="$seconds" -max_len=262144 -timeout=10 \
  -rss_limit_mb=2048 -malloc_limit_mb=1024 -artifact_prefix="$out/findings/" -print_final_stats=1 2>&1 | tail -15
if ls "$out/findings/"* >/dev/null 2>&1; then
  echo "fuzz: findings in $out/findings" >&2
  exit 1
fi
echo "fuzz: no findings in $seconds s"
if [ "$keep" = "--keep" ]; then
  mkdir -p Fuzz/corpus
  "$out/image-fuzz" -merge=1 -max_len=262144 -timeout=10 -rss_limit_mb=2048 Fuzz/corpus "$out/corpus" 2>&1 | tail -1
  echo "fuzz: Fuzz/corpus holds $(ls Fuzz/corpus | wc -l) inputs"
fi
