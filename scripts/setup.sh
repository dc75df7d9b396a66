#!/usr/bin/env bash
# Installs what swiftcr needs on a fresh Debian 12 machine (run as root):
# a C compiler for the test fixtures, setpriv/useradd for the unprivileged
# tests, gdb for the gcore comparison in the benchmark, python3 and
# script(1) for the cr_run and terminal tests, pkg-config for the install test,
# GNU time, make and ip for the soak and peer-suite scripts. Swift itself is
# expected at /opt/swift or on PATH.
set -euo pipefail
need=()
command -v cc >/dev/null || need+=(gcc libc6-dev)
command -v setpriv >/dev/null || need+=(util-linux)
command -v useradd >/dev/null || need+=(passwd)
command -v gcore >/dev/null || need+=(gdb)
command -v python3 >/dev/null || need+=(python3)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v script >/dev/null || need+=(bsdutils)
# scripts/soak.sh measures peak RSS with GNU time; scripts/zdtm.sh builds CRIU's tests and sets up loopback.
[ -x /usr/bin/time ] || need+=(time)
command -v make >/dev/null || need+=(make)
command -v ip >/dev/null || need+=(iproute2)
# The VO module: PAM headers for pam_xos, pamtester to drive it, ssh-keygen/sshd for XOS-ssh.
[ -f /usr/include/security/pam_modules.h ] || need+=(libpam0g-dev)
command -v pamtester >/dev/null || need+=(pamtester)
command -v ssh-keygen >/dev/null || need+=(openssh-client)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing ${need[*]}; run as root or install them" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
if ! command -v swift >/dev/null; then
  if [ -x /opt/swift/usr/bin/swift ]; then
    echo "setup: add /opt/swift/usr/bin to PATH" >&2
  else
    echo "setup: Swift 6 is not installed (https://swift.org/install)" >&2
    exit 1
  fi
fi
