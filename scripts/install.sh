#!/usr/bin/env bash
# Installs swiftcr under a prefix, as BLCR's `make install` did:
#   bin/      swiftcr, and cr_checkpoint cr_restart cr_run as links to it; swiftcr-job (docs/SLURM.md)
#             (one engine binary: it is each tool by the name it is run as)
#   bin/      xos, and xos-ca xos-ams xos-ssh pam_app_conv as links to it (the VO tools)
#   lib/      libcr.so.0 (libcr.so a link), libcr_run.so.0 and libcr_omit.so.0 (tiny, they need libcr.so.0), pkgconfig/cr.pc cr_run.pc cr_omit.pc,
#             security/pam_xos.so (the VO module)
#   include/  libcr.h blcr_common.h blcr_errcodes.h blcr_proc.h blcr_ioctl.h
#   share/man/man1/  the tools' manual pages
#   share/swiftcr/   the install manifest (for --uninstall) and selftest.sh
#
# Usage: scripts/install.sh [--prefix DIR] [--from BUILD_DIR] [--uninstall]
#   --prefix DIR     where to install (default /usr/local)
#   --from DIR       take already built files from DIR instead of building
#                    a release with the Swift runtime linked in statically
#                    (built in .build/install, apart from the .build/release
#                    the demo and benchmarks use, so neither rebuilds the other)
# Binaries and libraries are installed stripped.
#   --uninstall      remove exactly what an earlier install put there
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=/usr/local from="" uninstall=0
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="$2"; shift 2 ;;
    --prefix=*) prefix="${1#--prefix=}"; shift ;;
    --from) from="$2"; shift 2 ;;
    --uninstall) uninstall=1; shift ;;
    *) echo "install: unknown option $1" >&2; exit 255 ;;
  esac
done
manifest="$prefix/share/swiftcr/manifest"

if [ "$uninstall" = 1 ]; then
  [ -f "$manifest" ] || { echo "install: no swiftcr installation under $prefix ($manifest missing)" >&2; exit 2; }
  while read -r f; do rm -f "$prefix/$f"; done < "$manifest"
  rm -f "$manifest"
  rmdir -p --ignore-fail-on-non-empty "$prefix/share/swiftcr" "$prefix/lib/pkgconfig" "$prefix/lib/security" "$prefix/share/man/man1" "$prefix/include" 2>/dev/null || true
  echo "swiftcr removed from $prefix"
  exit 0
fi

if [ -z "$from" ]; then
  echo "install: building a release with the Swift runtime linked in (in .build/install)"
  swift build -c release --static-swift-stdlib --scratch-path .build/install
  from=".build/install/release"
fi
for f in swiftcr libcr.so; do
  [ -e "$from/$f" ] || { echo "install: $from/$f is missing (build first, or drop --from)" >&2; exit 2; }
done

installed=()
put() {  # put MODE SOURCE DEST-RELATIVE-TO-PREFIX
  install -D -m "$1" "$2" "$prefix/$3"
  installed+=("$3")
}
putStripped() {  # putStripped SOURCE DEST-RELATIVE-TO-PREFIX: symbols and debug info dropped, dynamic symbols kept
  put 755 "$1" "$2"
  strip --strip-unneeded "$prefix/$2"
}
link() {  # link TARGET-NAME DEST-RELATIVE-TO-PREFIX (a link beside its target)
  ln -sfn "$1" "$prefix/$2"
  installed+=("$2")
}
putStripped "$from/swiftcr" bin/swiftcr
for t in cr_checkpoint cr_restart cr_run; do link swiftcr "bin/$t"; done
# The batch job wrapper (docs/SLURM.md); it finds the tools beside itself.
put 755 scripts/swiftcr-job bin/swiftcr-job
# The VO module: its tools, and pam_xos.so under lib/security (link it into the system's PAM
# module directory, e.g. /lib/x86_64-linux-gnu/security, or name it by absolute path in pam.d).
# One binary for the four VO tools too (they share XOS, X509 and Crypto).
if [ -e "$from/xos" ]; then
  putStripped "$from/xos" bin/xos
  for t in xos-ca xos-ams xos-ssh pam_app_conv; do link xos "bin/$t"; done
fi
[ -e "$from/libpam_xos.so" ] && putStripped "$from/libpam_xos.so" "lib/security/pam_xos.so"

# libcr.so.0 (its SONAME) and the link -lcr finds; then BLCR's two link-time
# alternatives to cr_run, tiny libraries that pull libcr.so.0 in.
putStripped "$from/libcr.so" lib/libcr.so.0
link libcr.so.0 lib/libcr.so
bash scripts/libcr-variants.sh "$prefix/lib"  # (cwd is the repository)
for l in libcr_run libcr_omit; do installed+=("lib/$l.so.0" "lib/$l.so"); done
for h in include/*.h; do put 644 "$h" "include/$(basename "$h")"; done
for page in docs/man/*.1; do [ -e "$page" ] && put 644 "$page" "share/man/man1/$(basename "$page")"; done
put 755 scripts/selftest.sh share/swiftcr/selftest.sh

# One version, from one place: the binary's own (SwiftCRVersion).
version=$("$prefix/bin/swiftcr" --version | sed -n 's/^swiftcr \([0-9.]*\).*/\1/p')
pc() {  # pc NAME LIBS
  local tmp; tmp=$(mktemp)
  cat > "$tmp" <<PC
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: $1
Description: swiftcr's libcr: BLCR's checkpoint/restart API (BLCR 0.8.6 compatible)
Version: $version
Libs: -L\${libdir} -Wl,-rpath,\${libdir} $2
Cflags: -I\${includedir}
PC
  put 644 "$tmp" "lib/pkgconfig/$1.pc"
  rm -f "$tmp"
}
pc cr "-lcr"
# BLCR's link-time alternatives to cr_run; --no-as-needed because only -u refers to the library.
pc cr_run "-Wl,--no-as-needed -lcr_run -Wl,-u,cr_run_link_me"
pc cr_omit "-Wl,--no-as-needed -lcr_omit -Wl,-u,cr_omit_link_me"

mkdir -p "$(dirname "$manifest")"
printf '%s\n' "${installed[@]}" "share/swiftcr/manifest" > "$manifest"
echo "swiftcr installed under $prefix (${#installed[@]} files); verify with: $prefix/share/swiftcr/selftest.sh $prefix"
