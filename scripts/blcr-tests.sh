#!/usr/bin/env bash
# BLCR's own test suite (BLCR 0.8.6's tests/: crut unit tests, the
# sequence tests, the tool scripts) built against swiftcr's include/libcr.h
# and libcr.so.0 and driven by swiftcr's cr_checkpoint, cr_restart and
# cr_run, the way BLCR's RUN_ME runs them (exit 0 PASS, 77 SKIP, else FAIL).
# The suite is not copied here: give a BLCR source tree (the search tool's
# `fetch github:angelos-se/blcr`, then `git -C <mirror> archive HEAD tests
# libcr/arch | tar -x -C DIR`).
#
# usage: scripts/blcr-tests.sh BLCR_SOURCE_DIR [--user NAME] [TEST...]
#   TEST     names as RUN_ME lists them (simple.ct, stage0001.st, cr_run...);
#            default: every test of BLCR's default list (61)
#   --user   run the tests as that user (root builds and installs)
# Environment: BLCR_TEST_TIMEOUT (seconds per test, default 180).
# Prints one line per test and a summary; exits 1 if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
src="${1:?usage: scripts/blcr-tests.sh BLCR_SOURCE_DIR [--user NAME] [TEST...]}"
shift
user=""
if [ "${1:-}" = "--user" ]; then user="${2:?--user needs a name}"; shift 2; fi
[ -f "$src/tests/crut.c" ] || { echo "blcr-tests: $src/tests/crut.c is missing: not a BLCR source tree" >&2; exit 2; }
timeout_s="${BLCR_TEST_TIMEOUT:-180}"

work=$(mktemp -d /tmp/swiftcr-blcr.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
# hugetlbfs.ct looks for a hugetlbfs mount in /proc/mounts and skips without
# one: where the kernel has huge pages set aside but nothing mounts them
# (systemd's /dev/hugepages), the run mounts one of its own for the time
# being, writable by the test user too.
huge=""
if ! grep -q ' hugetlbfs ' /proc/mounts && [ "$(awk '/^HugePages_Total:/ {print $2}' /proc/meminfo)" -gt 0 ] 2>/dev/null; then
  mkdir -p "$work/hugepages" && mount -t hugetlbfs -o mode=1777 swiftcr-blcr "$work/hugepages" 2>/dev/null && huge="$work/hugepages"
fi
trap '[ -n "$huge" ] && umount "$huge"; rm -rf "$work"' EXIT
prefix="$work/prefix" build="$work/tests"

# swiftcr, installed as BLCR's `make install` would put it (bin, lib, include).
export PATH=/opt/swift/usr/bin:$PATH
swift build -c release >/dev/null || { echo "blcr-tests: swift build failed" >&2; exit 2; }
bash scripts/install.sh --prefix "$prefix" --from .build/release >/dev/null || exit 2

# BLCR's tests, as its tests/Makefile.am builds them (libtest.a from the crut
# sources; every program against -lcr; helpers without it).
cp -r "$src/tests" "$build"
cat > "$build/blcr_config.h" <<'H'
#define HAVE_PTHREAD_ATTR_SETSTACKSIZE 1
#define HAVE_PRCTL 1
#define CR_HAVE_BUG2524 0
#define CR_INLINE static inline
H
simple_progs="atomics bug2524"
simple_scripts="cr_run cr_targ cr_targ2 cr_omit dlopen bug2003 run_on save_exe save_priv save_share save_all reloc_exe reloc_file reloc_fifo reloc_dir reloc_all clobber"
seq="stage0001 stage0002 stage0003 stage0004 critical_sections replace_cb failed_cb failed_cb2 pid_in_use cs_enter_leave cs_enter_leave2 cr_tryenter_cs stopped edeadlk pid_restore"
crut="simple simple_pthread cwd dup filedescriptors pipe named_fifo cloexec get_info orphan overlap child mmaps hugetlbfs readdir dev_null cr_signal linked_fifo sigpending dpipe forward hooks math sigaltstack prctl lam nscd"
(
  cd "$build" || exit 2
  cflags="-O1 -w -I. -I$prefix/include -I$src/libcr/arch/x86_64"
  libs="-L$prefix/lib -Wl,-rpath,$prefix/lib"
  for f in crut crut_util crut_util_pth crut_util_libcr; do gcc $cflags -c $f.c || exit 2; done
  ar rcs libtest.a crut.o crut_util.o crut_util_pth.o crut_util_libcr.o
  gcc $cflags -o atomics atomics.c -lpthread || exit 2
  for t in bug2524 $seq $crut seq_wrapper crut_wrapper; do gcc $cflags -o $t $t.c libtest.a $libs -lcr -lpthread || exit 2; done
  for t in hello pause bug2003_aux; do gcc $cflags -o $t $t.c || exit 2; done
  for t in save_aux reloc_aux; do gcc $cflags -o $t $t.c libtest.a -lpthread || exit 2; done
  gcc $cflags -o dlopen_aux dlopen_aux.c -ldl || exit 2
  for s in $simple_scripts; do cp $s.sh $s; chmod +x $s; done
  for t in $seq; do ln -sf seq_wrapper $t.st; done
  for t in $crut; do printf '#!/bin/sh\nexec `dirname $0`/crut_wrapper -q "$@" %s\n' $t > $t.ct; chmod +x $t.ct; done
  echo '# empty in an installed test suite' > shellinit
) > "$work/build.log" 2>&1 || { echo "blcr-tests: building BLCR's tests failed:" >&2; tail -20 "$work/build.log" >&2; exit 2; }

if [ $# -gt 0 ]; then tests="$*"; else
  tests="$simple_progs $simple_scripts $(for t in $seq; do printf '%s.st ' $t; done)$(for t in $crut; do printf '%s.ct ' $t; done)"
fi
as=()
if [ -n "$user" ]; then
  id "$user" >/dev/null || exit 2
  chown -R "$user" "$work"
  as=(setpriv --reuid="$user" --regid="$(id -g "$user")" --clear-groups)
fi
pass=0 fail=0 skip=0 failed=()
for t in $tests; do
  dir=$(mktemp -d "$work/run.XXXXXX")
  : > "$work/$t.log"
  # (The test's own output file: a restart by that user reopens it by path.)
  [ -n "$user" ] && chown "$user" "$dir" "$work/$t.log"
  (cd "$dir" && env cr_testsdir="$build" LIBCR_DISABLE_NSCD=1 LD_LIBRARY_PATH="$prefix/lib" \
     cr_checkpoint="$prefix/bin/cr_checkpoint" cr_restart="$prefix/bin/cr_restart" cr_run="$prefix/bin/cr_run" cr_pwd=/bin/pwd \
     PATH="$prefix/bin:$PATH" timeout -k 5 "$timeout_s" "${as[@]}" "$build/$t") > "$work/$t.log" 2>&1 < /dev/null
  case $? in
    0) echo "PASS: $t"; pass=$((pass + 1)) ;;
    77) echo "SKIP: $t"; skip=$((skip + 1)) ;;
    *) echo "FAIL: $t"; sed 's/^/    /' "$work/$t.log" | tail -6; fail=$((fail + 1)); failed+=("$t") ;;
  esac
  # A restored process can outlive its test (a spinning one did): whatever
  # still works in its directory, or runs a program built or installed here, goes.
  for p in /proc/[0-9]*; do
    exe=$(readlink "$p/exe" 2>/dev/null)
    if [ "$(readlink "$p/cwd" 2>/dev/null)" = "$dir" ] || [ "${exe#"$work"/}" != "$exe" ]; then kill -9 "${p#/proc/}" 2>/dev/null; fi
  done
  rm -rf "$dir"
done
echo "BLCR tests${user:+ as $user}: $pass passed, $fail failed, $skip skipped${failed:+ (failed: ${failed[*]})}"
[ $fail -eq 0 ]
