#!/bin/sh
# lua/rock-build.sh - how `luarocks make` builds and installs the csp.core
# module (the rockspec's command backend runs it from the repository root).
#
#   sh lua/rock-build.sh build CC "CFLAGS" LUA_INCDIR
#   sh lua/rock-build.sh install LIBDIR
#
# csp.core links the shared library libcsp.so.0, so that a C host and
# every language in one process share one runtime (docs/embedding.md):
#
#   - the installed libcsp when pkg-config knows csp with this major
#     version and at least this minor version (CSP_LIBCSP=bundle skips it,
#     CSP_LIBCSP=system makes it required); csp.core gets an rpath to its
#     libdir;
#   - else libcsp.so.0 built here from the same C sources, installed beside
#     csp/core.so and found through the rpath $ORIGIN.
#
# The objects and both libraries go to build-rock/. csp.core exports
# luaopen_csp_core only (lua/csp_core.map).
set -eu
# Run from the repository root, whether luarocks started us there or in
# lua/ (where lua/lua is a symlink to lua/ itself): the core's sources and
# the top-level CMakeLists.txt that lists them are found from there.
cd "$(cd -P "$(dirname "$0")" && cd .. && pwd -P)"
out=build-rock

version_part() {
    sed -n "s/^#define CSP_VERSION_$1 \\([0-9]*\\).*/\\1/p" core/include/csp.h
}

case ${1:-} in
build)
    cc=$2 cflags=$3 luainc=$4
    major=$(version_part MAJOR) minor=$(version_part MINOR)
    mkdir -p "$out"
    rm -f "$out/libcsp.so.0" "$out/core.so" "$out/mode"
    mode=bundle
    if [ "${CSP_LIBCSP:-}" != bundle ] && command -v pkg-config >/dev/null &&
        pkg-config --exists "csp >= $major.$minor" "csp < $((major + 1))"; then
        mode=system
    elif [ "${CSP_LIBCSP:-}" = system ]; then
        echo "rock-build: CSP_LIBCSP=system but pkg-config has no csp $major.$minor+" >&2
        exit 1
    fi
    if [ $mode = system ]; then
        libdir=$(pkg-config --variable=libdir csp)
        # shellcheck disable=SC2046
        set -- $(pkg-config --cflags csp) -Icore/include
        link="-L$libdir -l:libcsp.so.0 -Wl,-rpath,$libdir"
        echo "rock-build: csp.core links the installed $libdir/libcsp.so.0"
    else
        objs=""
        for src in $(sed -n 's/^  \(core\/[a-z_/]*\.[cS]\)$/\1/p; s/^  \(bindings\/loop\.c\)$/\1/p' CMakeLists.txt) \
            core/coro/switch_x86_64.S core/coro/switch_aarch64.S \
            core/coro/switch_ucontext.c; do
            obj=$out/$(echo "$src" | tr / _).o
            case " $objs " in *" $obj "*) continue ;; esac
            # shellcheck disable=SC2086
            $cc $cflags -std=gnu11 -fPIC -fvisibility=hidden -pthread \
                -DCSP_BUILDING -Icore/include -Icore -c "$src" -o "$obj"
            objs="$objs $obj"
        done
        # shellcheck disable=SC2086
        $cc -shared -pthread -Wl,-soname,libcsp.so.0 -o "$out/libcsp.so.0" \
            $objs -lm
        set -- -Icore/include
        link="-L$out -l:libcsp.so.0 -Wl,-rpath,\$ORIGIN"
        echo "rock-build: csp.core links its own libcsp.so.0 (\$ORIGIN)"
    fi
    # shellcheck disable=SC2086
    $cc $cflags -std=gnu11 -fPIC -fvisibility=hidden -pthread "$@" -Ilua \
        -I"$luainc" -shared -o "$out/core.so" lua/csp.c lua/value.c \
        lua/chan.c lua/alts.c lua/ops.c lua/xform.c \
        -Wl,--version-script=lua/csp_core.map $link -lm -ldl
    echo $mode >"$out/mode"
    ;;
install)
    libdir=$2
    mkdir -p "$libdir/csp"
    cp "$out/core.so" "$libdir/csp/core.so"
    if [ "$(cat "$out/mode")" = bundle ]; then
        cp "$out/libcsp.so.0" "$libdir/csp/libcsp.so.0"
    fi
    ;;
*)
    echo "usage: $0 build CC CFLAGS LUA_INCDIR | install LIBDIR" >&2
    exit 2
    ;;
esac
