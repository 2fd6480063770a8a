#!/bin/sh
# One-step set-up on a fresh Debian machine: install the Debian packages
# promoe needs, then configure and build it.  Pass configure options after
# the script name (e.g. ./setup.sh --without-cuda).  Two options are its own:
#   --with-recorder   also install what the PyTorch recorder needs
#                     (python3-torch, python3-numpy, python3-h5py)
#   --packages-only   install the packages, then stop (make check-recorder)
set -eu

recorder=no
packages_only=no
for arg in "$@"; do
  shift
  case $arg in
    --with-recorder) recorder=yes ;;
    --packages-only) packages_only=yes ;;
    *) set -- "$@" "$arg" ;;
  esac
done

PACKAGES="build-essential autoconf automake libtool pkg-config \
  libhdf5-dev hdf5-tools libgsl-dev check libsubunit-dev \
  libopenblas-dev libjansson-dev libinih-dev libzip-dev gnuplot-nox \
  clang libclang-rt-14-dev slurm-wlm munge"
if [ "$recorder" = yes ]; then
  PACKAGES="$PACKAGES python3-torch python3-numpy python3-h5py"
fi

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

[ "$packages_only" = yes ] && exit 0
autoreconf -fi
./configure "$@"
make -j"$(nproc)"
