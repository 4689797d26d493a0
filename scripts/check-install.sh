#!/usr/bin/env bash
# check-install.sh BUILD_DIR - install rail into a scratch prefix and build a
# consumer against it twice: with pkg-config and with find_package(rail).
set -euo pipefail
build=$1
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
src=$(cd "$(dirname "$0")/../tests/install" && pwd)

libdir=$(dirname "$(find "$prefix" -name rail.pc)")
export PKG_CONFIG_PATH=$libdir
cc -std=c11 -Wall -Wextra -Wpedantic -Werror "$src/consumer.c" -o "$prefix/by-pkg-config" \
    $(pkg-config --cflags --libs rail)
LD_LIBRARY_PATH=$(dirname "$libdir") "$prefix/by-pkg-config"

cmake -S "$src" -B "$prefix/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$prefix/cmake-build" >/dev/null
"$prefix/cmake-build/consumer"
echo "install check: pkg-config and find_package(rail) consumers built and ran"
