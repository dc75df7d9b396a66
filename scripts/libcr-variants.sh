#!/bin/bash
# Builds BLCR's two link-time alternatives to cr_run beside libcr.so.0 in DIR:
# libcr_run.so.0 and libcr_omit.so.0, with their .so links. Each exports only
# its marker (BLCR's nm check) and loads libcr.so.0 from beside it when it
# loads, keeping libcr's API out of the program's scope (load_libcr.h).
# Usage: scripts/libcr-variants.sh DIR   (DIR holds libcr.so.0)
set -euo pipefail
dir=${1:?usage: libcr-variants.sh DIR}
here=$(cd "$(dirname "$0")" && pwd)
[ -e "$dir/libcr.so.0" ] || { echo "libcr-variants: $dir/libcr.so.0 is missing" >&2; exit 2; }
cc=${CC:-cc}
command -v "$cc" >/dev/null || cc=clang
for v in run omit; do
  "$cc" -shared -fPIC -O2 -o "$dir/libcr_$v.so.0" "$here/libcr-variants/cr_${v}_link.c" \
    -Wl,-soname,"libcr_$v.so.0" -ldl
  ln -sfn "libcr_$v.so.0" "$dir/libcr_$v.so"
done
