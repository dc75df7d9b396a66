#!/usr/bin/env bash
# Builds MPICH 3.3.2 with Hydra's BLCR checkpointing against swiftcr's libcr,
# in a scratch directory, for scripts/mpi-check.sh. Not vendored: give it
# MPICH's source (tag v3.3.2, with its hwloc submodule in src/hwloc, as a
# git checkout or the release tarball unpacked).
#
#   scripts/mpich-build.sh MPICH_SOURCE SWIFTCR_PREFIX DEST
#
# Two things 3.3.2 needs on Debian 12: autoconf 2.69 (its configure scripts
# break under 2.71: apt-get install autoconf2.69 automake libtool), and a
# one-character fix in src/pmi/simple/simple_pmi.c, whose PMII_Connect_to_pm
# takes MPL_get_sockaddr's 0 (success) for failure. Hydra gives ranks a
# PMI_PORT instead of a PMI_FD only when checkpointing is on, so without
# the fix every rank of a checkpointable job fails in MPI_Init ("Unable to
# get host entry"). Installs under DEST; takes about 10 minutes on 2 cores.
set -euo pipefail
src=${1:?usage: mpich-build.sh MPICH_SOURCE SWIFTCR_PREFIX DEST}
swiftcr=$(cd "${2:?usage: mpich-build.sh MPICH_SOURCE SWIFTCR_PREFIX DEST}" && pwd)
dest=${3:?usage: mpich-build.sh MPICH_SOURCE SWIFTCR_PREFIX DEST}
[ -f "$swiftcr/include/libcr.h" ] && [ -e "$swiftcr/lib/libcr.so" ] || { echo "mpich-build: $swiftcr has no libcr (scripts/install.sh --prefix $swiftcr)" >&2; exit 1; }
[ -f "$src/src/hwloc/configure.ac" ] || { echo "mpich-build: $src/src/hwloc is empty (MPICH needs its hwloc submodule)" >&2; exit 1; }
command -v autoconf2.69 >/dev/null || { echo "mpich-build: needs autoconf2.69, automake and libtool (apt-get install autoconf2.69 automake libtool)" >&2; exit 1; }

scratch=$(mktemp -d /tmp/mpich-build.XXXXXX)
cp -a "$src" "$scratch/src"
# autoconf 2.69 under the plain names autogen.sh calls.
mkdir -p "$scratch/autotools"
for t in autoconf autoheader autoreconf autom4te autoscan autoupdate ifnames; do
  ln -s "$(command -v ${t}2.69)" "$scratch/autotools/$t"
done
export PATH=$scratch/autotools:$PATH
sed -i 's/^    if (!ret) {$/    if (ret) {/' "$scratch/src/src/pmi/simple/simple_pmi.c"
grep -q '^    if (ret) {$' "$scratch/src/src/pmi/simple/simple_pmi.c"
(cd "$scratch/src" && ./autogen.sh -without-izem -without-ofi -without-ucx)
mkdir -p "$scratch/build"
cd "$scratch/build"
"$scratch/src/configure" --prefix="$dest" --with-device=ch3:nemesis --enable-checkpointing \
  --with-hydra-ckpointlib=blcr --with-blcr="$swiftcr" --disable-fortran --disable-cxx --disable-romio --enable-fast=O2
# libmpi.so needs libcr.so.0, which the linker must find for MPICH's own programs.
export LD_LIBRARY_PATH=$swiftcr/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
make -j"$(nproc)"
make install
echo "MPICH installed under $dest (build tree $scratch); run: scripts/mpi-check.sh $dest $swiftcr"
