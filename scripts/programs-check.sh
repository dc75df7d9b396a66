#!/usr/bin/env bash
# Real programs under swiftcr, beside the fixtures and zdtm: each is started,
# checkpointed with --tree --kill once it has printed a few lines, restarted
# (--detach), and must go on printing with its own checks passing (its
# asserts, sums and echoes; a Python traceback, Java exception or Rust panic
# fails it). As root, and with --user as the unprivileged test user.
# Programs whose runtime is not installed are skipped and named.
#   Python: threads, a multiprocessing pool, a queue and a lock, SQLite in WAL mode
#   Python in `unshare -Urnum`: root in its user namespace, an echo server in
#     its own network namespace, setting its host name, a tmpfs of its own
#     in its own mount namespace (one thread)
#   Python in bubblewrap (as root): root in its user namespace, in a mount
#     namespace of the user namespace's, the same mounts and options each round
#   Node.js: worker_threads, a child process on pipes
#   Java 21+: a thousand virtual threads
#   Rust (rustc): threads, mutex, channel, an echo server and client (TCP as
#     root; a UNIX socket as a user, who cannot restore TCP connections)
#   Go (go): goroutines, the garbage collector, timers, a channel pipeline
#   tmux + vim: a pseudo-terminal the tree owns; keys typed after the restart,
#     with a second tmux server on the freed terminal index meanwhile
#   GNU screen: a detached session counting in its window, a second session
#     on the freed terminal index meanwhile; screen -X and the count go on
#   PostgreSQL: a postmaster, its background processes and a psql session in
#     an open transaction that commits after the restart; new connections, a
#     write and a clean shutdown
#   OpenSSH (root): a session to a private sshd whose remote loop prints
#     numbered ticks; the client, then the server's session tree, checkpointed
#     and restarted in turn (TCP with the other end outside); no tick lost
#   Redis: a server and the client connection it keeps, counting on (TCP as
#     root, a UNIX socket as a user)
#   memcached: four worker threads, a client connection it keeps, every key
#     stored before read back (TCP as root, a UNIX socket as a user)
#   Erlang: the BEAM's threads and port helper, a ring of 1000 processes, ETS
#   nginx: a master, two workers sharing memory, SIGHUP reloads after the restart
#   dbus-daemon: a session bus whose client outside the checkpoint
#     (dbus-monitor) comes back ended; new clients must still be answered
#   tar | gzip: a pipeline writing an archive that must unpack identical
# usage: scripts/programs-check.sh [--user] [--lazy | --live]   (bounded: about a minute)
#   --lazy  restart with cr_restart --lazy (pages fetched on fault by userfaultfd)
#   --live  no kill, no restart: three checkpoints of the running programs,
#           which must go on as if none had been taken
set -uo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
S="${SWIFTCR_BIN:-$here/.build/release}/swiftcr"
[ -x "$S" ] || (cd "$here" && PATH="/opt/swift/usr/bin:$PATH" swift build -c release --product swiftcr >&2) || exit 2
as=(); lazy=(); live=""
for option in "$@"; do
  case "$option" in
    --user)
      id swiftcr-test >/dev/null 2>&1 || useradd -r -M -s /usr/sbin/nologin swiftcr-test
      # SHELL: tmux starts panes with it, else with the passwd shell (nologin for this user)
      as=(setpriv --reuid=swiftcr-test --regid="$(id -g swiftcr-test)" --clear-groups env HOME=/tmp SHELL=/bin/sh) ;;
    --lazy) lazy=(--lazy) ;;
    --live) live=1 ;;
    *) echo "usage: $0 [--user] [--lazy | --live]" >&2; exit 2 ;;
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

# until_ok SECONDS CMD...: true once CMD succeeds, polling every 0.1 s.
until_ok() { local n=$(($1 * 10)); shift; while [ $n -gt 0 ]; do "$@" && return 0; sleep 0.1; n=$((n - 1)); done; return 1; }
lines_over() { [ "$(wc -l < "$1")" -gt "$2" ]; }
# What a program left running in the work directory (nginx's workers outlive
# a killed master; a server a killed client started): killed by its cwd,
# all but this script.
kill_in_work() {
  local p
  for p in /proc/[0-9]*; do
    [ "${p#/proc/}" != "$$" ] && [ "$(readlink "$p/cwd" 2>/dev/null)" = "$work" ] && kill -9 "${p#/proc/}" 2>/dev/null
  done
  return 0
}
# live_checkpoints NAME PID: with --live, three checkpoints that let it run
# on (true when all three worked; the last one's output in NAME.ck).
live_checkpoints() {
  local k
  for k in 1 2 3; do run "$S" checkpoint --tree -f "$1.img" "$2" > "$1.ck" 2>&1 || return 1; sleep 0.2; done
}

# check NAME PATTERN CMD...: start, checkpoint after 2 s (or once it has printed
# 4 lines, up to 10 s), restart, then 2 s more (or up to 10 s for 4 more lines);
# PATTERN (pkill -f) ends what is left of the program.
check() {
  local name="$1" pattern="$2"; shift 2
  owned "$name.out"
  "${as[@]}" setsid "$@" > "$name.out" 2>&1 < /dev/null &  # not through run(): $! must be the program
  disown  # its --kill is expected: no "Killed" line from this shell
  local pid=$!
  sleep 2
  until_ok 8 lines_over "$name.out" 3  # a loaded machine starts runtimes slowly
  local before; before=$(wc -l < "$name.out")
  if [ -n "$live" ]; then
    if ! live_checkpoints "$name" "$pid"; then
      echo "FAIL $name: checkpoint: $(tail -1 "$name.ck")"; failed=$((failed + 1)); pkill -9 -f -- "$pattern"; return
    fi
    before=$(wc -l < "$name.out")
  else
    if ! run "$S" checkpoint --tree --kill -f "$name.img" "$pid" > "$name.ck" 2>&1; then
      echo "FAIL $name: checkpoint: $(tail -1 "$name.ck")"; failed=$((failed + 1)); pkill -9 -f -- "$pattern"; return
    fi
    sleep 0.3
    before=$(wc -l < "$name.out")
    if ! run "$S" restart "${lazy[@]}" --detach "$name.img" > "$name.rs" 2>&1; then
      echo "FAIL $name: restart: $(tail -1 "$name.rs")"; failed=$((failed + 1)); return
    fi
  fi
  sleep 2
  until_ok 8 lines_over "$name.out" $((before + 3))
  local after; after=$(wc -l < "$name.out")
  local broken="Traceback|Exception|panicked|Error|fatal error|unexpected return pc|^panic:"
  if grep -a -q -E "$broken" "$name.out"; then
    echo "FAIL $name: $(grep -a -m1 -E "$broken" "$name.out")"; failed=$((failed + 1))
  elif [ "$after" -le $((before + 3)) ]; then
    echo "FAIL $name: $before lines before the checkpoint, $after two seconds after the $([ -n "$live" ] && echo checkpoints || echo restart)"; failed=$((failed + 1))
  else
    echo "PASS $name ($before lines before, $after after)"; passed=$((passed + 1))
  fi
  pkill -9 -f -- "$pattern" 2>/dev/null
  kill_in_work
}

if command -v python3 >/dev/null; then check python threads_pool_sqlite.py python3 -u threads_pool_sqlite.py; else skipped+=(python); fi
# A sandbox: root in a user namespace of its own, its network, UTS and mount namespaces inside it.
if command -v python3 >/dev/null && command -v unshare >/dev/null; then
  check python-userns sandbox_echo.py unshare -Urnum python3 -u sandbox_echo.py
else skipped+=(python-userns); fi
# A bubblewrap sandbox (as root: run by a user it makes two user namespaces, one inside the other, which are not saved).
if [ ${#as[@]} -eq 0 ] && command -v bwrap >/dev/null && command -v python3 >/dev/null; then
  check python-bwrap bwrap_sandbox.py bwrap --unshare-user --uid 0 --ro-bind / / --tmpfs /tmp --ro-bind "$work" "$work" --proc /proc --dev /dev \
    python3 -u "$work/bwrap_sandbox.py"
else skipped+=(python-bwrap); fi
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
# Redis: a server and one client connection in one tree; its counter and
# list must go on where they were (TCP as root, a UNIX socket as a user).
if command -v redis-server >/dev/null && command -v python3 >/dev/null; then
  check redis redis_client.py python3 -u redis_client.py "$([ ${#as[@]} -eq 0 ] && echo tcp || echo unix)"
else skipped+=(redis); fi
# memcached: a server with four worker threads and one client connection,
# every key stored before must still hold its value (TCP as root, a UNIX socket as a user).
if command -v memcached >/dev/null && command -v python3 >/dev/null; then
  check memcached memcached_client.py python3 -u memcached_client.py "$([ ${#as[@]} -eq 0 ] && echo tcp || echo unix)"
else skipped+=(memcached); fi
# Erlang: the BEAM's scheduler threads and child port helper; a ring of a
# thousand Erlang processes and an ETS table checked every tick.
if command -v erlc >/dev/null && command -v erl >/dev/null && erlc erlang_ring.erl 2>/dev/null; then
  [ ${#as[@]} -gt 0 ] && chown swiftcr-test erlang_ring.beam
  check erlang "erlang_ring main" erl -noshell -s erlang_ring main
else skipped+=(erlang); fi
# nginx: a master and two workers sharing a limit_req zone, reloaded by
# SIGHUP every 8 requests (new workers must answer), its client in the tree.
if command -v nginx >/dev/null && command -v python3 >/dev/null; then
  check nginx nginx_reload.py python3 -u nginx_reload.py
else skipped+=(nginx); fi
go=$(command -v go)
if [ -n "$go" ] && GOCACHE="$work/.gocache" GOPATH="$work/.gopath" "$go" build -o goroutines goroutines.go 2>/dev/null; then
  [ ${#as[@]} -gt 0 ] && chown swiftcr-test goroutines
  check go ./goroutines ./goroutines
else skipped+=(go); fi

# tmux + vim: the tree's own terminal; keys typed after the restart reach vim.
# Between checkpoint and restart a second tmux server opens a terminal, which
# takes the freed index if it is the lowest: the pane must come back at
# another (said in a warning), not on the second server's.
# Each step waits for what it needs (up to 10 s) rather than for a fixed time:
# a loaded machine may take seconds to start the server or draw vim.
if command -v tmux >/dev/null && command -v vim >/dev/null; then
  sock="$work/tmux.sock"
  tmx() { run tmux -S "$sock" "$@"; }
  other() { run tmux -S "$work/other.sock" "$@"; }
  pane_shows() { tmx capture-pane -p 2>/dev/null | grep -q -- "$1"; }
  holds() { [ "$(cat edit.txt 2>/dev/null)" = "$1" ]; }
  tmux_step=""
  tmx new -d -x 100 -y 30 vim -u NONE -n "$work/edit.txt"  # argv form: no shell in between
  if ! until_ok 10 pane_shows edit.txt; then tmux_step="vim never showed in the pane"
  else
    tmx send-keys "ibefore" Escape  # typed, not saved: it lives only in vim's memory
    if ! until_ok 10 pane_shows '^before'; then tmux_step="the pane never showed the typed text"
    else
      server=$(tmx display -p '#{pid}')
      pane_tty=$(tmx display -p '#{pane_tty}')
      if [ -n "$live" ]; then
        live_checkpoints tmux "$server" || tmux_step="checkpoint: $(tail -1 tmux.ck)"
      elif ! run "$S" checkpoint --tree --kill -f tmux.img "$server" > tmux.ck 2>&1; then tmux_step="checkpoint: $(tail -1 tmux.ck)"
      elif ! other new -d -x 80 -y 20 sleep 600 || ! until_ok 10 other has-session; then tmux_step="a second tmux server did not start"
      elif ! run "$S" restart "${lazy[@]}" --detach --restore-sid --restore-pgid tmux.img > tmux.rs 2>&1; then tmux_step="restart: $(tail -1 tmux.rs)"
      elif [ "$(other display -p '#{pane_tty}')" = "$pane_tty" ] && ! grep -q "$pane_tty is taken by another terminal now" tmux.rs; then
        tmux_step="the second server holds $pane_tty, and the restart did not say where the pane went: $(tail -1 tmux.rs)"
      fi
      if [ -n "$tmux_step" ]; then :
      elif ! until_ok 10 tmx has-session; then tmux_step="no tmux server answers after the restart"
      else
        tmx send-keys "oafter" Escape ":wq" Enter
        until_ok 10 holds "$(printf 'before\nafter')" || tmux_step="the file holds '$(cat edit.txt 2>/dev/null)'"
      fi
    fi
  fi
  if [ -z "$tmux_step" ]; then echo "PASS tmux+vim"; passed=$((passed + 1))
  else echo "FAIL tmux+vim: $tmux_step"; failed=$((failed + 1)); fi
  tmx kill-server 2>/dev/null
  other kill-server 2>/dev/null
else skipped+=(tmux+vim); fi

# GNU screen, as HPC users keep a job in it: a detached session whose
# window counts; a second session takes the freed terminal index before the
# restart. After it the session still answers screen -X, text stuffed into
# its window shows in a hardcopy, and the count goes on.
if command -v screen >/dev/null; then
  sdir="$work/screen.d"
  run mkdir -p "$sdir" && run chmod 700 "$sdir"
  scr() { run env SCREENDIR="$sdir" screen "$@"; }
  owned screen.ticks
  counted() { [ "$(wc -l < screen.ticks)" -gt "$1" ]; }
  shows() { scr -S job -X hardcopy "$work/screen.hc" 2>/dev/null; grep -q "$1" screen.hc 2>/dev/null; }
  screen_step=""
  scr -dmS job sh -c "i=0; while :; do i=\$((i+1)); echo \$i >> '$work/screen.ticks'; sleep 0.1; done"
  if ! until_ok 10 counted 3; then screen_step="the window never counted"
  else
    server=$(scr -ls 2>/dev/null | awk -F. '/\.job[[:space:]]/ {print $1 + 0; exit}')
    if [ -z "$server" ]; then screen_step="screen -ls does not list the session"
    elif [ -n "$live" ]; then
      live_checkpoints screen "$server" || screen_step="checkpoint: $(tail -1 screen.ck)"
    elif ! run "$S" checkpoint --tree --kill -f screen.img "$server" > screen.ck 2>&1; then screen_step="checkpoint: $(tail -1 screen.ck)"
    elif ! scr -dmS other sleep 600; then screen_step="a second screen session did not start"
    elif ! run "$S" restart "${lazy[@]}" --detach --restore-sid --restore-pgid screen.img > screen.rs 2>&1; then screen_step="restart: $(tail -1 screen.rs)"
    fi
    if [ -z "$screen_step" ]; then
      at=$(wc -l < screen.ticks)
      if ! until_ok 10 counted $((at + 3)); then screen_step="the count stopped at $at"
      elif ! scr -S job -X stuff "typed-after\n"; then screen_step="screen -X cannot reach the session"
      elif ! until_ok 10 shows typed-after; then screen_step="the stuffed text never showed in the window"
      fi
    fi
  fi
  if [ -z "$screen_step" ]; then echo "PASS screen"; passed=$((passed + 1))
  else echo "FAIL screen: $screen_step"; failed=$((failed + 1)); fi
  scr -S job -X quit 2>/dev/null
  scr -S other -X quit 2>/dev/null
else skipped+=(screen); fi

# dbus-daemon: a session bus with a client left outside the checkpoint
# (dbus-monitor, started on its own). That connection comes back ended;
# the bus must drop it and answer new clients, five in a row.
if command -v dbus-daemon >/dev/null && command -v dbus-send >/dev/null && command -v dbus-monitor >/dev/null; then
  bus="unix:path=$work/bus"
  asks() { run env DBUS_SESSION_BUS_ADDRESS="$bus" timeout 5 dbus-send --session --print-reply --dest=org.freedesktop.DBus / org.freedesktop.DBus.ListNames > /dev/null 2>&1; }
  five_ask() { local k; for k in 1 2 3 4 5; do asks || return 1; done; }
  dbus_step=""
  owned dbus.out
  "${as[@]}" setsid dbus-daemon --session --nofork --address="$bus" > dbus.out 2>&1 < /dev/null &
  disown
  dbus=$!
  if ! until_ok 10 asks; then dbus_step="the bus never answered: $(tail -1 dbus.out)"
  else
    "${as[@]}" env DBUS_SESSION_BUS_ADDRESS="$bus" setsid dbus-monitor --session > dbus-monitor.out 2>&1 < /dev/null &
    disown
    until_ok 10 grep -q NameAcquired dbus-monitor.out || dbus_step="dbus-monitor never connected"
    if [ -n "$dbus_step" ]; then :
    elif [ -n "$live" ]; then
      live_checkpoints dbus "$dbus" || dbus_step="checkpoint: $(tail -1 dbus.ck)"
    elif ! run "$S" checkpoint --tree --kill -f dbus.img "$dbus" > dbus.ck 2>&1; then dbus_step="checkpoint: $(tail -1 dbus.ck)"
    elif ! run "$S" restart "${lazy[@]}" --detach dbus.img > dbus.rs 2>&1; then dbus_step="restart: $(tail -1 dbus.rs)"
    fi
    [ -n "$dbus_step" ] || five_ask || dbus_step="the bus stopped answering new clients after the $([ -n "$live" ] && echo checkpoints || echo restart)"
  fi
  if [ -z "$dbus_step" ]; then echo "PASS dbus"; passed=$((passed + 1))
  else echo "FAIL dbus: $dbus_step"; failed=$((failed + 1)); fi
  pkill -9 -f "dbus-daemon --session --nofork --address=$bus" 2>/dev/null
  pkill -9 -f "dbus-monitor --session" 2>/dev/null
else skipped+=(dbus); fi

# PostgreSQL: a postmaster with its background processes, shared memory
# (mmap'ed, System V and POSIX), a UNIX and a TCP listening socket, and a psql
# session in the same tree left inside an open transaction. After the
# restart the uncommitted rows must stay invisible, the session must commit
# them, the server must serve new connections (forked from the restored
# postmaster) and take a write, then shut down cleanly. It never runs as
# root: as the test user in both modes (root then checkpoints and restarts
# another user's tree).
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -n "$pgbin" ] && [ -x "$pgbin/postgres" ] && command -v psql >/dev/null; then
  id swiftcr-test >/dev/null 2>&1 || useradd -r -M -s /usr/sbin/nologin swiftcr-test
  pgas=(setpriv --reuid=swiftcr-test --regid="$(id -g swiftcr-test)" --clear-groups env HOME=/tmp)
  pg_step=""
  # The server's System V segments, to remove those a failed run leaves (a killed postmaster cannot).
  user_segments() { awk -v u="$(id -u swiftcr-test)" 'NR > 1 && $7 == 0 && $8 == u {print $2}' /proc/sysvipc/shm; }
  segments_before=$(user_segments)
  port=$((40000 + RANDOM % 20000))
  mkdir -p pgdata pgsock && mkfifo pgsock/session && : > pg.out && : > pg.session
  chown swiftcr-test pgdata pgsock pgsock/session pg.out pg.session
  q() { psql -X -q -A -t -h "$work/pgsock" -p "$port" -U pg -d postgres -c "$1" 2>&1; }
  answers() { [ "$(q "$1")" = "$2" ]; }
  # The tree: the server, its table, and a session (reading the FIFO) that
  # opens a transaction; the shell keeps the FIFO's writing end.
  cat > pgtree.sh <<EOS
#!/bin/bash
"$pgbin/postgres" -D "$work/pgdata" -k "$work/pgsock" -p $port -c listen_addresses=127.0.0.1 > "$work/pg.out" 2>&1 < /dev/null &
for i in \$(seq 200); do psql -X -q -h "$work/pgsock" -p $port -U pg -d postgres -c 'select 1' >/dev/null 2>&1 && break; sleep 0.1; done
psql -X -q -h "$work/pgsock" -p $port -U pg -d postgres -c 'create table t(a int); insert into t select generate_series(1, 100000)'
psql -X -q -A -t -h "$work/pgsock" -p $port -U pg -d postgres < "$work/pgsock/session" > "$work/pg.session" 2>&1 &
exec 3> "$work/pgsock/session"
echo "begin; insert into t select generate_series(1, 1000); select 'open';" >&3
exec sleep 100000
EOS
  chmod 755 pgtree.sh
  session_says() { grep -q -x -- "$1" pg.session; }
  if ! "${pgas[@]}" "$pgbin/initdb" -D "$work/pgdata" -A trust -U pg > pg.init 2>&1; then pg_step="initdb: $(tail -1 pg.init)"
  else
    "${pgas[@]}" setsid ./pgtree.sh > /dev/null 2>&1 < /dev/null &
    tree=$!
    disown
    if ! until_ok 30 session_says open; then pg_step="the session never opened its transaction: $(tail -1 pg.out) $(tail -1 pg.session)"
    elif [ -n "$live" ] && ! live_checkpoints pg "$tree"; then pg_step="checkpoint: $(tail -1 pg.ck)"
    elif [ -z "$live" ] && ! run "$S" checkpoint --tree --kill -f pg.img "$tree" > pg.ck 2>&1; then pg_step="checkpoint: $(tail -1 pg.ck)"
    elif [ -z "$live" ] && ! until_ok 10 bash -c "! kill -0 $tree 2>/dev/null"; then pg_step="the killed tree did not go"
    elif [ -z "$live" ] && ! run "$S" restart "${lazy[@]}" --detach pg.img > pg.rs 2>&1; then pg_step="restart: $(tail -1 pg.rs)"
    elif ! until_ok 10 answers "select count(*), sum(a) from t" "100000|5000050000"; then pg_step="its table after the restart (the open transaction's rows must not show): $(q 'select count(*), sum(a) from t')"
    elif ! { echo "commit; select count(*) from t;" > pgsock/session && until_ok 10 session_says 101000; }; then pg_step="the session did not commit: $(tail -2 pg.session | tr '\n' ' ')"
    elif ! answers "insert into t values (7); select count(*) from t" 101001; then pg_step="a write after the restart: $(q 'select count(*) from t')"
    elif ! [ "$(psql -X -q -A -t -h 127.0.0.1 -p "$port" -U pg -d postgres -c "select count(*) from pg_stat_activity where backend_type in ('checkpointer', 'background writer', 'walwriter')" 2>&1)" = 3 ]; then
      pg_step="over TCP, its background processes: $(psql -X -q -A -t -h 127.0.0.1 -p "$port" -U pg -d postgres -c 'select backend_type from pg_stat_activity' 2>&1 | tr '\n' ' ')"
    else
      # A fast shutdown of the restored postmaster (the tree's shell's child
      # named postgres; the shell's PID as the restart says, which for a
      # user is not the original one; with --live, the tree's own): it signals its children and waits.
      shell=$tree
      [ -n "$live" ] || shell=$(sed -n 's/.*runs on as pid \([0-9]*\).*/\1/p' pg.rs)
      kill -INT "$(pgrep -P "$shell" -x postgres)"
      until_ok 20 grep -q "database system is shut down" pg.out || pg_step="no clean shutdown: $(tail -1 pg.out)"
    fi
  fi
  if [ -z "$pg_step" ]; then echo "PASS postgresql"; passed=$((passed + 1))
  else echo "FAIL postgresql: $pg_step"; failed=$((failed + 1)); fi
  pkill -9 -u swiftcr-test -f "pgtree.sh|$pgbin/postgres|psql -X" 2>/dev/null
  pkill -9 -u swiftcr-test -f "^sleep 100000" 2>/dev/null
  for id in $(user_segments); do grep -qx "$id" <<< "$segments_before" || ipcrm -m "$id" 2>/dev/null; done
else skipped+=(postgresql); fi

# OpenSSH: a key login to a private sshd on 127.0.0.1 whose remote loop
# prints numbered ticks. The client is checkpointed and restarted, then the
# server's session tree (the connection's sshd and its shell): both TCP ends
# come back in turn, the other end outside the image, and the ticks must go
# on with none lost or repeated. As root only: a user cannot restore TCP
# connections (TCP_REPAIR needs CAP_NET_ADMIN; README).
if [ ${#as[@]} -eq 0 ] && [ -x /usr/sbin/sshd ] && command -v ssh >/dev/null && command -v ssh-keygen >/dev/null; then
  ssh_step=""
  ssh_port=$((40000 + RANDOM % 20000))
  ssh-keygen -q -t ed25519 -N "" -C swiftcr-check -f "$work/ssh_id" < /dev/null
  ssh-keygen -q -t ed25519 -N "" -C swiftcr-check -f "$work/ssh_host" < /dev/null
  cp "$work/ssh_id.pub" "$work/ssh_keys"
  printf '%s\n' "Port $ssh_port" "ListenAddress 127.0.0.1" "HostKey $work/ssh_host" "AuthorizedKeysFile $work/ssh_keys" \
    "PasswordAuthentication no" "PermitRootLogin prohibit-password" "UsePAM no" "StrictModes no" "PidFile $work/sshd.pid" > "$work/sshd_config"
  mkdir -p /run/sshd
  ticks_ok() { awk '/^tick / { if (n && $2 != n + 1) bad = 1; n = $2 } END { exit bad || n == 0 }' ssh.out; }
  ticks() { grep -c '^tick ' ssh.out; }
  # ssh_round WHAT PID [restart options]: checkpoint (--live: three that let it run) and restart; more ticks after.
  ssh_round() {
    local what="$1" pid="$2"; shift 2
    local before; before=$(ticks)
    if [ -n "$live" ]; then live_checkpoints "ssh-$what" "$pid" || { ssh_step="$what: checkpoint: $(tail -1 "ssh-$what.ck")"; return 1; }
    else
      run "$S" checkpoint --tree --kill -f "ssh-$what.img" "$pid" > "ssh-$what.ck" 2>&1 || { ssh_step="$what: checkpoint: $(tail -1 "ssh-$what.ck")"; return 1; }
      sleep 0.5  # ticks pile up at the other end meanwhile
      run "$S" restart "${lazy[@]}" --detach "$@" "ssh-$what.img" > "ssh-$what.rs" 2>&1 || { ssh_step="$what: restart: $(tail -1 "ssh-$what.rs")"; return 1; }
    fi
    until_ok 10 bash -c "[ \$(grep -c '^tick ' ssh.out) -gt $((before + 5)) ]" || { ssh_step="$what: $before ticks before, $(ticks) after"; return 1; }
    ticks_ok || { ssh_step="$what: ticks lost or repeated: $(grep '^tick ' ssh.out | tr '\n' ' ' | tail -c 300)"; return 1; }
  }
  if ! /usr/sbin/sshd -f "$work/sshd_config" -E "$work/sshd.log"; then ssh_step="sshd did not start: $(tail -1 sshd.log)"
  else
    setsid ssh -i "$work/ssh_id" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -p "$ssh_port" root@127.0.0.1 \
      'n=0; while sleep 0.1; do n=$((n + 1)); echo tick $n; done' > ssh.out 2>&1 < /dev/null &
    client=$!
    disown
    if ! until_ok 10 bash -c "[ \$(grep -c '^tick ' ssh.out) -gt 5 ]"; then ssh_step="no ticks from the session: $(tail -1 ssh.out) $(tail -1 sshd.log)"
    elif ssh_round client "$client"; then
      session=$(pgrep -P "$(cat "$work/sshd.pid")" | head -1)
      if [ -z "$session" ]; then ssh_step="no session process under sshd"
      else ssh_round server "$session" --restore-sid --restore-pgid; fi
    fi
  fi
  if [ -z "$ssh_step" ]; then echo "PASS ssh ($(ticks) ticks in order)"; passed=$((passed + 1))
  else echo "FAIL ssh: $ssh_step"; failed=$((failed + 1)); fi
  pkill -9 -f "ssh -i $work/ssh_id" 2>/dev/null
  pkill -9 -f "sshd -f $work/sshd_config" 2>/dev/null
  pkill -9 -f 'n=0; while sleep 0.1' 2>/dev/null
  [ -f "$work/sshd.pid" ] && kill -9 "$(cat "$work/sshd.pid")" 2>/dev/null
else skipped+=("ssh (root only)"); fi

# tar | gzip, checkpointed half way: the archive must unpack to the same files.
mkdir -p src
for i in $(seq 1 40); do head -c 3000000 /dev/urandom | base64 > "src/f$i"; done
[ ${#as[@]} -gt 0 ] && chown -R swiftcr-test src
printf '#!/bin/bash\ntar cf - src | gzip -1 > out.tgz\necho DONE $?\n' > pipeline.sh; chmod 755 pipeline.sh
owned pipeline.out
"${as[@]}" setsid ./pipeline.sh > pipeline.out 2>&1 < /dev/null &
sleep 0.7
pipeline_through() {
  if [ -n "$live" ]; then live_checkpoints pipeline "$1" && until_ok 60 grep -q "DONE" pipeline.out
  else run "$S" checkpoint --tree --kill -f pipeline.img "$1" > pipeline.ck 2>&1 && run "$S" restart "${lazy[@]}" pipeline.img > pipeline.rs 2>&1; fi
}
if pipeline_through $! && grep -q "DONE 0" pipeline.out && mkdir -p unpack && tar xzf out.tgz -C unpack && diff -r src unpack/src >/dev/null; then
  echo "PASS tar|gzip"; passed=$((passed + 1))
else
  echo "FAIL tar|gzip: $(cat pipeline.out pipeline.ck pipeline.rs 2>/dev/null | tail -1)"; failed=$((failed + 1))
fi

[ ${#skipped[@]} -gt 0 ] && echo "skipped (not installed, or not for this user): ${skipped[*]}"
echo "$passed passed, $failed failed"
cd / && rm -rf "$work"
[ "$failed" -eq 0 ]
