#!/usr/bin/env bash
# Installs what swiftcr needs on a fresh Debian 12 machine (run as root).
#   setup.sh --demo   only what `scripts/demo.sh` runs: nothing beyond Swift
#                     and a C library (the demo needs no other package).
#   setup.sh          the test suite's needs as well: a C compiler for the
#                     fixtures, setpriv/useradd for the unprivileged tests, gdb
#                     for the gcore comparison in the benchmark, python3 and
#                     script(1) for the cr_run and terminal tests, pkg-config
#                     for the install test, GNU time, make and ip for the soak
#                     and peer-suite scripts, and for the VO module's tests PAM
#                     headers, pamtester and the ssh tools. The ssh server is
#                     installed for the certificate-login test, which starts
#                     its own on a private port: it is not started or enabled.
#                     Slurm (slurmctld, slurmd, munge, the client tools) for
#                     the batch job test, which runs its own cluster: its
#                     services are not started or enabled either.
#                     PostgreSQL for the real-programs test (it runs its own
#                     server as the test user; the package's is not started),
#                     and Go, whose runtime that test checkpoints too.
# Swift itself is expected at /opt/swift or on PATH.
set -euo pipefail
mode=tests
[ "${1:-}" = "--demo" ] && mode=demo
need=()
if [ "$mode" = tests ]; then
  command -v cc >/dev/null || need+=(gcc libc6-dev)
  command -v setpriv >/dev/null || need+=(util-linux)
  command -v useradd >/dev/null || need+=(passwd)
  command -v gcore >/dev/null || need+=(gdb)
  command -v python3 >/dev/null || need+=(python3)
  command -v go >/dev/null || need+=(golang-go)
  command -v pkg-config >/dev/null || need+=(pkg-config)
  command -v script >/dev/null || need+=(bsdutils)
  [ -x /usr/bin/time ] || need+=(time)
  command -v make >/dev/null || need+=(make)
  command -v ip >/dev/null || need+=(iproute2)
  # Fixtures/tcpstates.c drops a connection's segments with an nftables rule.
  command -v nft >/dev/null || need+=(nftables)
  # Fixtures/netfilter.c sets iptables (both backends) and ip6tables rules.
  command -v iptables-legacy >/dev/null || need+=(iptables)
  [ -f /usr/include/security/pam_modules.h ] || need+=(libpam0g-dev)
  [ -f /usr/include/zstd.h ] || need+=(libzstd-dev)
  # A 32-bit program for the test that shows it refused (BadInputTests).
  [ -f /usr/lib32/Scrt1.o ] || need+=(gcc-multilib)
  command -v pamtester >/dev/null || need+=(pamtester)
  command -v ssh-keygen >/dev/null || need+=(openssh-client)
  [ -x /usr/sbin/sshd ] || need+=(openssh-server)
  # The Slurm job test runs its own one-node cluster (scripts/slurm-cluster.sh).
  [ -x /usr/sbin/slurmctld ] || need+=(slurmctld)
  [ -x /usr/sbin/slurmd ] || need+=(slurmd)
  [ -x /usr/sbin/munged ] || need+=(munge)
  command -v sbatch >/dev/null || need+=(slurm-client)
  # PostgreSQL for the real-programs test (its own server on a private port; the package's is not started).
  ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
  command -v psql >/dev/null || need+=(postgresql-client)
  # A bubblewrap sandbox for the real-programs test.
  command -v bwrap >/dev/null || need+=(bubblewrap)
  # Redis and nginx for the real-programs test (their own on private ports; the packages' are not started).
  command -v redis-server >/dev/null || need+=(redis-server)
  command -v nginx >/dev/null || need+=(nginx-light)
  # memcached and Erlang too (memcached's own service is not started: policy-rc.d below).
  command -v memcached >/dev/null || need+=(memcached)
  command -v erlc >/dev/null || need+=(erlang-base)
  # A private D-Bus session bus and its command-line clients (the system bus is not started).
  command -v dbus-daemon >/dev/null || need+=(dbus-daemon)
  command -v dbus-monitor >/dev/null || need+=(dbus-bin)
  # GNU screen for the real-programs test (a detached session of its own).
  command -v screen >/dev/null || need+=(screen)
fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing ${need[*]}; run as root or install them" >&2
    exit 1
  fi
  echo "setup: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Packages with services (openssh-server) are installed, not started:
  # policy-rc.d answers "not allowed" to their start during the install.
  policy=/usr/sbin/policy-rc.d
  made_policy=0
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod 755 "$policy"; made_policy=1; fi
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
  [ "$made_policy" = 1 ] && rm -f "$policy"
  # Neither are Slurm's and munge's services: the Slurm test starts its own.
  for service in munge slurmctld slurmd; do
    if [[ " ${need[*]} " == *" $service "* ]]; then
      if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then systemctl disable --now "$service" >/dev/null 2>&1 || true; fi
      command -v update-rc.d >/dev/null && update-rc.d "$service" disable >/dev/null 2>&1 || true
    fi
  done
  if [[ " ${need[*]} " == *" openssh-server "* ]]; then
    # Not enabled at boot either: the tests start their own sshd.
    if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then systemctl disable --now ssh >/dev/null 2>&1 || true; fi
    command -v update-rc.d >/dev/null && update-rc.d ssh disable >/dev/null 2>&1 || true
  fi
fi
if ! command -v swift >/dev/null; then
  if [ -x /opt/swift/usr/bin/swift ]; then
    echo "setup: add /opt/swift/usr/bin to PATH" >&2
  else
    echo "setup: Swift 6 is not installed (https://swift.org/install)" >&2
    exit 1
  fi
fi
