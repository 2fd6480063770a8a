#!/bin/sh
# One-step set-up on a fresh Debian machine: install the Debian packages
# promoe needs, then configure and build it.  Pass configure options after
# the script name (e.g. ./setup.sh --without-cuda).
set -eu

PACKAGES="build-essential autoconf automake libtool pkg-config \
  libhdf5-dev hdf5-tools libgsl-dev check libsubunit-dev \
  libopenblas-dev libjansson-dev libinih-dev gnuplot-nox \
  clang libclang-rt-14-dev slurm-wlm munge"

missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing="$missing $p"
done

if [ -n "$missing" ]; then
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  echo "setup.sh: installing:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi

autoreconf -fi
./configure "$@"
make -j"$(nproc)"
