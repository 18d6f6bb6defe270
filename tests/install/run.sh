#!/bin/sh
# run.sh BUILD_DIR THIS_DIR WORK_DIR - install BUILD_DIR into a scratch
# prefix, then build and run the consumer in THIS_DIR/consumer twice: with
# find_package(csp) (shared and static) and with pkg-config.
set -eu
build=$1
here=$2
work=$3
prefix=$work/prefix

rm -rf "$work"
mkdir -p "$work"

echo "== install to $prefix"
cmake --install "$build" --prefix "$prefix" >"$work/install.log"

echo "== find_package(csp)"
cmake -S "$here/consumer" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_BUILD_TYPE=Release >"$work/configure.log"
cmake --build "$work/cmake" >"$work/build.log" 2>&1 || {
    cat "$work/build.log"; exit 1; }
"$work/cmake/consumer_shared"
"$work/cmake/consumer_static"
# The shared one must really use the installed library.
ldd "$work/cmake/consumer_shared" | grep -q "$prefix/.*libcsp.so.0" || {
    echo "consumer_shared does not load libcsp.so.0 from $prefix:"
    ldd "$work/cmake/consumer_shared"; exit 1; }

echo "== pkg-config csp"
pc=$(find "$prefix" -name csp.pc | head -n 1)
[ -n "$pc" ] || { echo "no csp.pc installed under $prefix"; exit 1; }
PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_PATH
libdir=$(pkg-config --variable=libdir csp)
# shellcheck disable=SC2046
cc -std=c11 -o "$work/consumer_pc" "$here/consumer/main.c" \
    $(pkg-config --cflags --libs csp)
LD_LIBRARY_PATH=$libdir "$work/consumer_pc"
echo "csp $(pkg-config --modversion csp): find_package and pkg-config ok"
