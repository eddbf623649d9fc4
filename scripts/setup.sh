#!/bin/sh
# Sets up a fresh Debian machine for xling: installs the build dependencies from
# Debian packages, builds, and (unless --deps-only / --no-run) runs the demo job.
#   scripts/setup.sh             install + build + demo
#   scripts/setup.sh --deps-only install the packages only (used by .ci/run)
#   scripts/setup.sh --no-run    install + build
#   scripts/setup.sh --aarch64   also the aarch64 cross toolchain, qemu-user and the arm64
#                                libraries (multiarch) for `make aarch64-test`, then stop
# wrk: the HTTP server benchmark (bench/, not a test).
# chromium: tests/cli/eval_test.py renders the HTML report headless (~350 MB installed).
set -eu
if [ "${1:-}" = "--aarch64" ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    dpkg --print-foreign-architectures | grep -qx arm64 || $SUDO dpkg --add-architecture arm64
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends gcc-aarch64-linux-gnu \
        libc6-dev-arm64-cross qemu-user libjansson-dev:arm64 libutf8proc-dev:arm64 libpcre2-dev:arm64 \
        libopenblas-openmp-dev:arm64 liblinear-dev:arm64 libsqlite3-dev:arm64 \
        libmicrohttpd-dev:arm64 libcurl4-openssl-dev:arm64 libssl-dev:arm64 libzip-dev:arm64 g++-aarch64-linux-gnu >/dev/null
    exit 0
fi
PKGS="build-essential pkg-config libopenblas-openmp-dev libutf8proc-dev libpcre2-dev libjansson-dev liblinear-dev libsqlite3-dev libhnswlib-dev libmicrohttpd-dev libcurl4-openssl-dev libssl-dev libzip-dev wrk g++ clang libclang-rt-14-dev python3 chromium"
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
