#!/bin/sh
# Sets up a fresh Debian machine for xling: installs the build dependencies from
# Debian packages, builds, and (unless --deps-only / --no-run) runs the demo job.
#   scripts/setup.sh             install + build + demo
#   scripts/setup.sh --deps-only install the packages only (used by .ci/run)
#   scripts/setup.sh --no-run    install + build
set -eu
PKGS="build-essential pkg-config libopenblas-openmp-dev libutf8proc-dev libpcre2-dev libjansson-dev liblinear-dev clang libclang-rt-14-dev python3"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    echo "setup: installing$missing" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
[ "${1:-}" = "--deps-only" ] && exit 0
cd "$(dirname "$0")/.."
make -j"$(nproc)"
[ "${1:-}" = "--no-run" ] && exit 0
sh scripts/demo.sh
