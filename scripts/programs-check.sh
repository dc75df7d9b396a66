#!/usr/bin/env bash
# Real programs under swiftcr, beside the fixtures and zdtm: each is started,
# checkpointed with --tree --kill once it has printed a few lines, restarted
# (--detach), and must go on printing with its own checks passing (its
# asserts, sums and echoes; a Python traceback, Java exception or Rust panic
# fails it). As root, and with --user as the unprivileged test user.
# Programs whose runtime is not installed are skipped and named.
#   Python: threads, a multiprocessing pool, a queue and a lock, SQLite in WAL mode
#   Node.js: worker_threads, a child process on pipes
#   Java 21+: a thousand virtual threads
#   Rust (rustc): threads, mutex, channel, an echo server and client (TCP as
#     root; a UNIX socket as a user, who cannot restore TCP connections)
#   tmux + vim: a pseudo-terminal the tree owns; keys typed after the restart
#   tar | gzip: a pipeline writing an archive that must unpack identical
# usage: scripts/programs-check.sh [--user] [--lazy]   (bounded: about a minute)
#   --lazy  restart with cr_restart --lazy (pages fetched on fault by userfaultfd)
set -uo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
S="${SWIFTCR_BIN:-$here/.build/release}/swiftcr"
[ -x "$S" ] || (cd "$here" && PATH="/opt/swift/usr/bin:$PATH" swift build -c release --product swiftcr >&2) || exit 2
as=(); lazy=()
for option in "$@"; do
  case "$option" in
    --user)
      id swiftcr-test >/dev/null 2>&1 || useradd -r -M -s /usr/sbin/nologin swiftcr-test
      as=(setpriv --reuid=swiftcr-test --regid="$(id -g swiftcr-test)" --clear-groups env HOME=/tmp) ;;
    --lazy) lazy=(--lazy) ;;
    *) echo "usage: $0 [--user] [--lazy]" >&2; exit 2 ;;
  esac
done
work=$(mktemp -d /tmp/swiftcr-programs.XXXXXX)
chmod 755 "$work"
cp "$here"/scripts/programs/* "$work"/
[ ${#as[@]} -gt 0 ] && chown -R swiftcr-test "$work"
cd "$work" || exit 2
passed=0; failed=0; skipped=()
run() { "${as[@]}" "$@"; }
# A file the program writes to is the user's: the restart reopens it as that user.
owned() { : > "$1"; [ ${#as[@]} -eq 0 ] || chown swiftcr-test "$1"; }

# check NAME PATTERN CMD...: start, checkpoint after 2 s, restart, 2 s more;
# PATTERN (pkill -f) ends what is left of the program.
check() {
  local name="$1" pattern="$2"; shift 2
  owned "$name.out"
  "${as[@]}" setsid "$@" > "$name.out" 2>&1 < /dev/null &  # not through run(): $! must be the program
  disown  # its --kill is expected: no "Killed" line from this shell
  local pid=$!
  sleep 2
  local before; before=$(wc -l < "$name.out")
  if ! run "$S" checkpoint --tree --kill -f "$name.img" "$pid" > "$name.ck" 2>&1; then
    echo "FAIL $name: checkpoint: $(tail -1 "$name.ck")"; failed=$((failed + 1)); pkill -9 -f -- "$pattern"; return
  fi
  sleep 0.3
  before=$(wc -l < "$name.out")
  if ! run "$S" restart "${lazy[@]}" --detach "$name.img" > "$name.rs" 2>&1; then
    echo "FAIL $name: restart: $(tail -1 "$name.rs")"; failed=$((failed + 1)); return
  fi
  sleep 2
  local after; after=$(wc -l < "$name.out")
  if grep -q -E "Traceback|Exception|panicked|Error" "$name.out"; then
    echo "FAIL $name: $(grep -m1 -E "Traceback|Exception|panicked|Error" "$name.out")"; failed=$((failed + 1))
  elif [ "$after" -le $((before + 3)) ]; then
    echo "FAIL $name: $before lines before the checkpoint, $after two seconds after the restart"; failed=$((failed + 1))
  else
    echo "PASS $name ($before lines before, $after after)"; passed=$((passed + 1))
  fi
  pkill -9 -f -- "$pattern" 2>/dev/null
}

if command -v python3 >/dev/null; then check python threads_pool_sqlite.py python3 -u threads_pool_sqlite.py; else skipped+=(python); fi
if command -v node >/dev/null; then check node workers_child.js node workers_child.js; else skipped+=(node); fi
java=""
for j in /usr/lib/jvm/*/bin/java; do
  v=$("$j" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
  [ -n "$v" ] && [ "$v" -ge 21 ] && java="$j" && break
done
if [ -n "$java" ] && run "$(dirname "$java")/javac" -d . V.java 2>/dev/null; then check java-virtual-threads "java -cp . V" "$java" -cp . V; else skipped+=(java21); fi
rustc=$(command -v rustc || ls /root/.cargo/bin/rustc 2>/dev/null)
if [ -n "$rustc" ] && "$rustc" -O -o threads_tcp threads_tcp.rs 2>/dev/null; then
  [ ${#as[@]} -gt 0 ] && chown swiftcr-test threads_tcp
  # A user cannot restore TCP connections (TCP_REPAIR needs CAP_NET_ADMIN; README): a UNIX socket then.
  check rust threads_tcp ./threads_tcp "$([ ${#as[@]} -eq 0 ] && echo tcp || echo unix)"
else skipped+=(rust); fi

# tmux + vim: the tree's own terminal; keys typed after the restart reach vim.
if command -v tmux >/dev/null && command -v vim >/dev/null; then
  sock="$work/tmux.sock"
  run tmux -S "$sock" new -d -x 100 -y 30 "vim -u NONE -n $work/edit.txt"
  sleep 1
  run tmux -S "$sock" send-keys "ibefore" Escape
  sleep 0.5
  server=$(pgrep -f "tmux -S $sock" | head -1)
  if run "$S" checkpoint --tree --kill -f tmux.img "$server" > tmux.ck 2>&1 &&
     run "$S" restart "${lazy[@]}" --detach --restore-sid --restore-pgid tmux.img > tmux.rs 2>&1; then
    sleep 1
    run tmux -S "$sock" send-keys "oafter" Escape ":wq" Enter
    sleep 1
    if [ "$(cat edit.txt 2>/dev/null)" = "$(printf 'before\nafter')" ]; then echo "PASS tmux+vim"; passed=$((passed + 1))
    else echo "FAIL tmux+vim: the file holds '$(cat edit.txt 2>/dev/null)'"; failed=$((failed + 1)); fi
  else
    echo "FAIL tmux+vim: $(tail -1 tmux.ck tmux.rs 2>/dev/null | tail -1)"; failed=$((failed + 1))
  fi
  run tmux -S "$sock" kill-server 2>/dev/null
else skipped+=(tmux+vim); fi

# tar | gzip, checkpointed half way: the archive must unpack to the same files.
mkdir -p src
for i in $(seq 1 40); do head -c 3000000 /dev/urandom | base64 > "src/f$i"; done
[ ${#as[@]} -gt 0 ] && chown -R swiftcr-test src
printf '#!/bin/bash\ntar cf - src | gzip -1 > out.tgz\necho DONE $?\n' > pipeline.sh; chmod 755 pipeline.sh
owned pipeline.out
"${as[@]}" setsid ./pipeline.sh > pipeline.out 2>&1 < /dev/null &
sleep 0.7
if run "$S" checkpoint --tree --kill -f pipeline.img $! > pipeline.ck 2>&1 && run "$S" restart "${lazy[@]}" pipeline.img > pipeline.rs 2>&1 &&
   grep -q "DONE 0" pipeline.out && mkdir -p unpack && tar xzf out.tgz -C unpack && diff -r src unpack/src >/dev/null; then
  echo "PASS tar|gzip"; passed=$((passed + 1))
else
  echo "FAIL tar|gzip: $(cat pipeline.out pipeline.ck pipeline.rs 2>/dev/null | tail -1)"; failed=$((failed + 1))
fi

[ ${#skipped[@]} -gt 0 ] && echo "skipped (not installed): ${skipped[*]}"
echo "$passed passed, $failed failed"
cd / && rm -rf "$work"
[ "$failed" -eq 0 ]
