#!/usr/bin/env bash
# The field's reference suite under swiftcr: CRIU's zdtm static tests, run the
# way zdtm's host flavor runs them, each in its own network, IPC, UTS and
# mount namespace (utsname sets the host name: never this machine's):
#   start the test (it daemonizes with --pidfile/--outfile), cr_checkpoint
#   --kill its tree, cr_restart it (original PIDs, groups and session),
#   SIGTERM the restored test, PASS when its outfile ends with PASS. A
#   test's .hook runs where zdtm.py runs it (its exit status not counted).
#   A test marked crfail (CRIU cannot checkpoint it) passes when swiftcr
#   refuses it too, or saves it and the restored test then passes.
#   A test whose .desc names no host flavor (flavor 'ns uns': orphans must
#   reparent to the test's own init) runs as zdtm's ns flavor runs it: its
#   binary is PID 1 of a new PID namespace (scripts/zdtm-pidns.c), the
#   checkpoint takes that whole namespace, and the restart makes a new one.
#   As zdtm, it also gets a mount namespace of its own (since 2026-12-05;
#   ZDTM_OWN_MNTNS=0 leaves it in the runner's, where what it mounts
#   outlives it and the restart has no mount namespace to make), and since
#   2026-12-06 network, IPC and UTS namespaces of its own, with lo up
#   (ZDTM_OWN_NETNS=0: the runner's, where its devices, addresses, rules
#   and SysV objects outlive it and are not checkpointed at all). Hooks run
#   in the runner's namespaces, as zdtm runs them on the host: a hook that
#   moves a device into the test's namespace finds its PID in
#   NAME.pid.inprogress while it starts. A .desc's --external for a network
#   device (veth, macvlan, netdev) is given to cr_restart.
#
# usage: scripts/zdtm.sh CRIU_SOURCE_DIR [LIST] [-- NAME...]
#   CRIU_SOURCE_DIR  a CRIU v4.2 checkout (test/zdtm/lib and test/zdtm/static)
#   LIST             test names, one a line (default: ../shared/peer-suites/zdtm-open.txt)
#   NAME...          run just these
# Environment:
#   ZDTM_MODE   restore (the default); norst (as zdtm --norst: the checkpoint
#               leaves the test running, nothing is restored, and the test
#               must still pass: what the checkpointer changes in a live
#               target shows); pre (as zdtm --pre 2: two --pre-dump runs,
#               then the --kill checkpoint on top of them, and the restart);
#               lazy (as zdtm --lazy-pages: cr_restart --lazy, the test runs
#               while its memory comes in)
#   ZDTM_ITERS  checkpoint and restart cycles (default 1; as zdtm --iters:
#               the restored test is checkpointed and restarted again)
#   ZDTM_SUITE  static (the default) or transition (tests whose state
#               changes while they are checkpointed)
#   ZDTM_NOAUTO=1 runs the tests whose .desc says noauto too (zdtm runs
#               them only when named; a crfail one must still be refused)
#   ZDTM_WORK (default /tmp/swiftcr-zdtm), SWIFTCR_BIN (default: this
#   checkout's .build/release, built if missing), ZDTM_TIMEOUT seconds per
#   step (default 30), ZDTM_OWN_MNTNS and ZDTM_OWN_NETNS (above).
# Needs root. Prints one line per test and a closing
# "N passed, N failed" line; exits 1 if any failed.
set -uo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
[ $# -ge 1 ] || { echo "usage: $0 CRIU_SOURCE_DIR [LIST] [-- NAME...]" >&2; exit 2; }
src="$1"; shift
list="$here/../shared/peer-suites/zdtm-open.txt"
if [ $# -ge 1 ] && [ "$1" != "--" ]; then list="$1"; shift; fi
[ "${1:-}" = "--" ] && shift
suite="${ZDTM_SUITE:-static}"
[ -d "$src/test/zdtm/$suite" ] || { echo "zdtm: $src/test/zdtm/$suite: no such directory (fetch CRIU v4.2; ZDTM_SUITE is static or transition)" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "zdtm: run as root (the tests are suid and need namespaces)" >&2; exit 2; }
if [ $# -gt 0 ]; then names=("$@"); else
  [ -f "$list" ] || { echo "zdtm: $list: no such file" >&2; exit 2; }
  mapfile -t names < <(grep -v '^\s*\(#\|$\)' "$list")
fi
work="${ZDTM_WORK:-/tmp/swiftcr-zdtm}"
step="${ZDTM_TIMEOUT:-30}"
mode="${ZDTM_MODE:-restore}"
case "$mode" in restore|norst|pre|lazy) ;; *) echo "zdtm: ZDTM_MODE is restore, norst, pre or lazy, not $mode" >&2; exit 2 ;; esac
iters="${ZDTM_ITERS:-1}"
[[ "$iters" =~ ^[1-9][0-9]*$ ]] || { echo "zdtm: ZDTM_ITERS is a number of cycles, not $iters" >&2; exit 2; }
export mode iters
# Two runs in one work directory start, kill and read each other's tests.
# (The tests must not inherit the lock: it would be checkpointed with them.)
mkdir -p "$work"
exec 9>"$work/.lock"
flock -n 9 || { echo "zdtm: another zdtm.sh is running in $work (set ZDTM_WORK for a second one)" >&2; exit 2; }
bin="${SWIFTCR_BIN:-$here/.build/release}"
if [ ! -x "$bin/swiftcr" ]; then
  echo "zdtm: building swiftcr (release)" >&2
  (cd "$here" && PATH="/opt/swift/usr/bin:$PATH" swift build -c release --product swiftcr >&2) || exit 2
fi
# cr_checkpoint and cr_restart are the swiftcr binary under those names.
for t in cr_checkpoint cr_restart; do [ -e "$bin/$t" ] || ln -s swiftcr "$bin/$t"; done
bash "$here/scripts/setup.sh" >&2 || exit 2
# Headers some of the tests build against.
need=()
[ -f /usr/include/libaio.h ] || need+=(libaio-dev)
[ -f /usr/include/sys/capability.h ] || need+=(libcap-dev)
# The conntrack variants of the TCP tests set up rules with these.
command -v iptables-legacy >/dev/null || need+=(iptables)
command -v nft >/dev/null || need+=(nftables)
# netns_sub_veth builds against libnl.
[ -f /usr/include/libnl3/netlink/netlink.h ] || need+=(libnl-3-dev libnl-route-3-dev pkg-config)
if [ ${#need[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; } ||
    echo "zdtm: could not install ${need[*]}; the tests that need them will not build" >&2
fi

# A private copy of the tests, built once.
mkdir -p "$work"
if [ ! -f "$work/zdtm/lib/libzdtmtst.a" ]; then
  rm -rf "$work/zdtm"
  cp -a "$src/test/zdtm" "$work/zdtm"
  make -s -C "$work/zdtm/lib" >"$work/build-lib.log" 2>&1 || { echo "zdtm: building test/zdtm/lib failed, see $work/build-lib.log" >&2; exit 2; }
fi
static="$work/zdtm/$suite"
make -s -k -C "$static" "${names[@]}" >"$work/build.log" 2>&1 || true
nslauncher="$work/zdtm-pidns"
if [ ! -x "$nslauncher" ] || [ "$here/scripts/zdtm-pidns.c" -nt "$nslauncher" ]; then
  cc -O1 -Wall -o "$nslauncher" "$here/scripts/zdtm-pidns.c" || { echo "zdtm: building scripts/zdtm-pidns.c failed" >&2; exit 2; }
fi
export nslauncher

# The hugetlb tests (maps09, maps10, memfd02-hugetlb, shm-hugetlb) need huge
# pages in the pool, as zdtm's CI reserves them: a few for this run, the old
# size put back at the end.
hugepool=/proc/sys/vm/nr_hugepages
hugebefore=$(cat "$hugepool" 2>/dev/null || echo "")
if [ -n "$hugebefore" ] && [ "$hugebefore" -lt 64 ]; then
  echo 64 > "$hugepool" 2>/dev/null && trap 'echo "$hugebefore" > "$hugepool" 2>/dev/null' EXIT
fi

# One test, inside fresh namespaces: prints "PASS" or "FAIL: why" as its last line.
run_one() {
  local name="$1" bin="$2" step="$3" expect_fail="$4" pidns="$5" ropts="${6:-}" dopts="${7:-}"
  cd "$static" || exit 1
  ip link set lo up 2>/dev/null
  # What an earlier run of the test left (its files and directories) would change what it sees.
  rm -rf "$name.pid" "$name".out* "$name".test* "$name".dir.test* "$name.img" "$name".pre[12] "$name.ck" "$name.rs"
  # A test's .hook runs at the points zdtm.py runs it (--post-start while
  # the test starts, --pre-dump, --pre-restore, --post-restore, --clean),
  # from the test directory, with ZDTM_TEST_PID. Its exit status is not
  # counted: many hooks read CRIU's own image files (pycriu), which swiftcr
  # does not write; the test's own verdict decides.
  local hook=""; [ -x "$name.hook" ] && hook="$PWD/$name.hook"
  run_hook() {
    [ -n "$hook" ] || return 0
    (cd ../.. && ZDTM_TEST_PID="${pid:-}" timeout -k 5 "$step" "$hook" "$@") >>"$name.hooklog" 2>&1 </dev/null || true
  }
  rm -f "$name.hooklog"
  # zdtm's pre-dump notification (a test that changes itself between
  # pre-dumps, pid_reuse): two descriptor numbers it makes pipes at; after
  # each pre-dump a word is written to the one and its answer read from the other.
  local notify=0
  if grep -q "pre-dump-notify" "$name.desc" 2>/dev/null; then notify=1; export ZDTM_NOTIFY_FDIN=100 ZDTM_NOTIFY_FDOUT=101; fi
  local start=(make -s "$name.pid")
  # The ns flavor: the command make would run, under the launcher (it writes the pidfile).
  [ "$pidns" = 1 ] && start=("$nslauncher" "$name.pid" $(make -s -n "$name.pid" | tail -n1))
  local flavor_note="" started=1
  run_hook --post-start & local starting=$!
  timeout -k 5 "$step" "${start[@]}" >"$name.start" 2>&1 || started=0
  wait "$starting"
  if [ "$started" = 0 ] && [ "$pidns" = 1 ]; then
    # zdtm's ns flavor also gives the test a /proc of its namespace, which
    # this runner cannot (the checkpointer reads the host's): a test that
    # needs one (/proc/<its PID>) does not start, and runs on the host instead.
    pidns=0; started=1; flavor_note=" (host flavor: it did not start in a PID namespace of its own, where this runner gives it no /proc of that namespace)"
    rm -rf "$name.pid" "$name".out* "$name".test* "$name".dir.test*
    timeout -k 5 "$step" make -s "$name.pid" >"$name.start" 2>&1 || started=0
  fi
  if [ "$started" = 0 ]; then
    echo "FAIL: did not start: $(grep -m1 -v '^make' "$name.start" "$name.out" 2>/dev/null | head -1)"; return
  fi
  local pid; pid=$(cat "$name.pid" 2>/dev/null)
  [ -n "$pid" ] || { echo "FAIL: no pidfile"; return; }
  run_hook --pre-dump
  local kill=--kill; [ "$mode" = norst ] && kill=
  if [ "$mode" = pre ]; then
    local k parent=""
    for k in 1 2; do
      if ! timeout -k 5 "$step" "$bin/cr_checkpoint" --tree --pre-dump $parent $dopts -f "$name.pre$k" "$pid" >"$name.ck" 2>&1; then
        if [ "$expect_fail" = 1 ]; then echo "PASS (pre-dump refused, as the test expects)"; kill -9 "$pid" 2>/dev/null; return; fi
        echo "FAIL: cr_checkpoint --pre-dump: $(head -1 "$name.ck")"; kill -9 "$pid" 2>/dev/null; return
      fi
      parent="--parent $name.pre$k"
      if [ "$notify" = 1 ]; then
        # The answer's pipe has no reader but us: opened before the word is sent.
        local answered=0
        { printf '\0\0\0\0' > "/proc/$pid/fd/100" && timeout "$step" head -c 4 > /dev/null && answered=1; } < "/proc/$pid/fd/101"
        [ "$answered" = 1 ] || { echo "FAIL: the test did not answer the pre-dump notification"; kill -9 "$pid" 2>/dev/null; return; }
      fi
      sleep 0.1
    done
    dopts="$dopts $parent"
  fi
  if ! timeout -k 5 "$step" "$bin/cr_checkpoint" --tree $kill $dopts -f "$name.img" "$pid" >"$name.ck" 2>&1; then
    if [ "$expect_fail" = 1 ]; then echo "PASS (checkpoint refused, as the test expects)"; kill -9 "$pid" 2>/dev/null; return; fi
    echo "FAIL: cr_checkpoint: $(head -1 "$name.ck")"; kill -9 "$pid" 2>/dev/null; return
  fi
  # A test CRIU cannot checkpoint (crfail: it lacks the option, or refuses
  # the state) that swiftcr did save must then pass after the restart.
  local saved_note=""
  if [ "$expect_fail" = 1 ]; then
    saved_note=" (CRIU refuses it; swiftcr saved it and the restored test passed)"
    [ "$mode" = norst ] && saved_note=" (CRIU refuses it; swiftcr saved it and the test passed where it ran on)"
  fi
  saved_note="$saved_note$flavor_note"
  if [ "$mode" = norst ]; then
    # Nothing restored: the test checks itself where it ran on.
    sleep 0.2
    kill -TERM "$pid" 2>/dev/null
    local left=0
    for _ in $(seq $((step * 10))); do kill -0 "$pid" 2>/dev/null || { left=1; break; }; sleep 0.1; done
    [ "$left" = 1 ] || { kill -9 "$pid" 2>/dev/null; echo "FAIL: hangs: the checkpointed test did not exit within ${step}s of SIGTERM"; return; }
    run_hook --clean
    if tail -n1 "$name.out" 2>/dev/null | grep -q 'PASS$'; then echo "PASS$saved_note"; return; fi
    if [ ! -e "$name.out" ] && tail -n1 "$name.out.inprogress" 2>/dev/null | grep -q 'PASS$'; then echo "PASS$saved_note"; return; fi
    echo "FAIL: $(grep -m1 -E 'ERR|FAIL|Fail|fail' "$name.out" 2>/dev/null | sed -E 's/^[0-9:.]+: +[0-9]+: //' || tail -n1 "$name.out")"; return
  fi
  [ "$pidns" = 1 ] && ropts="$ropts --verbose"
  [ "$mode" = lazy ] && ropts="$ropts --lazy"
  local restarter="" cycle
  for cycle in $(seq "$iters"); do
    if [ "$cycle" -gt 1 ]; then
      # Again, from the restored test (its parents were the first cycle's: not again).
      sleep 0.2
      run_hook --pre-dump
      if ! timeout -k 5 "$step" "$bin/cr_checkpoint" --tree --kill ${dopts%%--parent*} -f "$name.img" "$pid" >"$name.ck" 2>&1; then
        echo "FAIL: cr_checkpoint (cycle $cycle): $(head -1 "$name.ck")"; kill -9 "$pid" 2>/dev/null; return
      fi
      wait "$restarter" 2>/dev/null
    fi
    # The killed tree must be gone (and its zombies reaped by init) before its PIDs come back.
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    run_hook --pre-restore
    rm -f "$name.rs"
    timeout -k 5 $((step * 2)) "$bin/cr_restart" --restore-pid --restore-pgid --restore-sid $ropts "$name.img" >"$name.rs" 2>&1 &
    restarter=$!
    local up=0
    for _ in $(seq $((step * 10))); do
      # A new PID namespace's init has a new PID out here: cr_restart -v names it.
      if [ "$pidns" = 1 ]; then
        local now; now=$(grep -o 'as pid [0-9]*' "$name.rs" 2>/dev/null | awk '{print $3}')
        [ -n "$now" ] && pid=$now
      fi
      if [ -e "/proc/$pid" ] && [ "$(awk '/^TracerPid/ {print $2}' "/proc/$pid/status" 2>/dev/null)" = 0 ] &&
         ! grep -q '^State:.*t (tracing stop)' "/proc/$pid/status" 2>/dev/null; then up=1; break; fi
      kill -0 "$restarter" 2>/dev/null || break
      sleep 0.1
    done
    if [ "$up" = 0 ]; then
      wait "$restarter" 2>/dev/null
      echo "FAIL: cr_restart$([ "$cycle" -gt 1 ] && echo " (cycle $cycle)"): $(grep -m1 -v '^\s*$' "$name.rs" || echo 'restored process did not appear')"; return
    fi
    run_hook --post-restore
  done
  sleep 0.2
  kill -TERM "$pid" 2>/dev/null
  local gone=0
  for _ in $(seq $((step * 10))); do kill -0 "$pid" 2>/dev/null || { gone=1; break; }; sleep 0.1; done
  if [ "$gone" = 0 ]; then
    kill -9 "$pid" 2>/dev/null; wait "$restarter" 2>/dev/null
    echo "FAIL: hangs: the restored test did not exit within ${step}s of SIGTERM"; return
  fi
  wait "$restarter" 2>/dev/null
  run_hook --clean
  # The outfile's lines read "TIME: PID: text"; the last one says PASS.
  if tail -n1 "$name.out" 2>/dev/null | grep -q 'PASS$'; then echo "PASS$saved_note"; return; fi
  # A test that ends as another user (thread_different_uid_gid) cannot rename
  # its outfile in this root-owned directory: its own verdict is still the last line.
  if [ ! -e "$name.out" ] && tail -n1 "$name.out.inprogress" 2>/dev/null | grep -q 'PASS$'; then echo "PASS$saved_note"; return; fi
  local why; why=$(grep -m1 -E 'ERR|FAIL|Fail|fail' "$name.out" 2>/dev/null || tail -n1 "$name.out" 2>/dev/null)
  why=$(sed -E 's/^[0-9:.]+: +[0-9]+: //' <<<"$why")
  [ -z "$why" ] && why="no PASS in $name.out; cr_restart: $(grep -m1 -v '^\s*$' "$name.rs")"
  echo "FAIL: $why"
}
export -f run_one
export static

passed=0; failed=0; failures=()
for name in "${names[@]}"; do
  if [ ! -x "$static/$name" ]; then
    echo "FAIL $name: did not build ($(grep -m1 -E "^$name\.c:.*error|^$name\.c:" "$work/build.log" | cut -c1-160))"
    failed=$((failed + 1)); failures+=("$name"); continue
  fi
  desc="$static/$name.desc"
  flags=""; [ -f "$desc" ] && flags=$(tr -d '\n' <"$desc")
  if [[ "$flags" == *noauto* ]] && [ "${ZDTM_NOAUTO:-0}" != 1 ]; then echo "SKIP $name: noauto in its .desc"; continue; fi
  # As zdtm --norst: a test that checks what only a restore does is not run.
  if [ "$mode" = norst ] && [[ "$flags" == *reqrst* ]]; then echo "SKIP $name: reqrst in its .desc (it needs a restore)"; continue; fi
  crfail=0; [[ "$flags" == *crfail* ]] && crfail=1
  # The CRIU options of the .desc files that change what a test expects:
  # connections come back closed; processes go back into their cgroups
  # (swiftcr's one mode is CRIU's soft: no --manage-cgroups=ignore, full or
  # strict), under the --cgroup-root given. The others are what swiftcr does
  # anyway, or name features it does not have.
  ropts=""; [[ "$flags" == *--tcp-close* ]] && ropts="--tcp-close"
  [[ "$flags" == *--manage-cgroups* && "$flags" != *--manage-cgroups=ignore* ]] && ropts="$ropts --manage-cgroups"
  # CRIU's --cgroup-root: where the dump reads cgroups from, and the restore
  # makes them; its --external for network devices.
  dopts=""
  for field in opts dopts ropts; do
    [[ "$flags" =~ \'$field\':\ *\'([^\']*)\' ]] || continue
    set -- ${BASH_REMATCH[1]}
    while [ $# -gt 0 ]; do
      if [ "$1" = --cgroup-root ] && [ $# -gt 1 ]; then
        [ "$field" != ropts ] && dopts="$dopts --cgroup-root $2"
        [ "$field" != dopts ] && ropts="$ropts --cgroup-root $2"
        shift
      fi
      # Where a network device meets the outside (veth, macvlan, netdev), in CRIU's syntax.
      if [ "$1" = --external ] && [ $# -gt 1 ] && [ "$field" != dopts ] && [[ "$2" =~ ^(veth|macvlan|netdev)\[ ]]; then
        ropts="$ropts --external $2"; shift
      fi
      shift
    done
  done
  pidns=0
  if [[ "$flags" =~ \'flavor\':\ *\'([^\']*)\' ]] && [[ " ${BASH_REMATCH[1]} " != *" h "* ]]; then pidns=1; fi
  result=$(timeout -k 5 $((step * 5)) unshare --net --ipc --uts --mount --propagation private bash -c "run_one $name $bin $step $crfail $pidns '$ropts' '$dopts'" 9>&- 2>&1 | tail -n1)
  # Whatever of the test is still about (a start that hung, a restored copy left) goes now.
  pkill -9 -f "^\./$name --pidfile" 2>/dev/null
  pkill -9 -f "$suite/$name\.hook" 2>/dev/null
  [ -n "$result" ] || result="FAIL: no result within $((step * 5))s"
  if [[ "$result" == PASS* ]]; then
    echo "PASS $name${result#PASS}"; passed=$((passed + 1))
  else
    echo "FAIL $name: ${result#FAIL: }" | cut -c1-300; failed=$((failed + 1)); failures+=("$name")
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
