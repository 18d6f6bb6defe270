#!/bin/sh
# which_libcsp.sh SOURCE_DIR BUILD_DIR WORK_DIR PYTHON - `pip install ./python`
# and `luarocks make` on a machine without an installed libcsp build and
# ship their own libcsp.so.0 (beside the extension / csp/core.so), and with
# one installed (pkg-config knows csp) they use it: checked by the file
# each interpreter has mapped (/proc/self/maps).
#
# Each build runs in a scratch copy of the sources, so that the tree's own
# python/build and build-rock stay untouched; pkg-config looks only where
# this script says (PKG_CONFIG_LIBDIR), so an installed csp elsewhere on
# the machine does not count.
set -eu
src=$1 build=$2 work=$3 py=$4  # PYTHON: with pip, cffi and setuptools
rm -rf "$work"
mkdir -p "$work/empty-pc"

copy() { # copy DEST: the sources the bindings build from
    mkdir -p "$1"
    (cd "$src" && tar cf - --exclude=python/build --exclude='*.egg-info' \
        --exclude=__pycache__ --exclude=build-rock CMakeLists.txt core \
        bindings python lua) | (cd "$1" && tar xf -)
}

mapped() { # mapped CMD...: the libcsp file the interpreter has mapped
    "$@" | sed -n 's/^LIBCSP=//p'
}

py_check='import csp; print("LIBCSP=" + str(csp.libcsp_path()))'
lua_check='require("csp"); for l in io.lines("/proc/self/maps") do local p = l:match("(/%S*libcsp%.so[^/]*)$"); if p then print("LIBCSP=" .. p); break end end'

pip_install() { # pip_install COPY TARGET
    (cd "$1" && env -u CSP_BUILD_DIR -u CSP_LIBCSP_DIR \
        "$py" -m pip install -q --no-index --no-build-isolation --no-deps \
        --target "$2" ./python >"$2.log" 2>&1) || { cat "$2.log"; exit 1; }
}

rock_make() { # rock_make COPY TREE
    (cd "$1" && luarocks --lua-version 5.4 make --tree "$2" \
        lua/csp-0.1.0-1.rockspec >"$2.log" 2>&1) || { cat "$2.log"; exit 1; }
}

run_py() { PYTHONPATH=$1 "$py" -c "$py_check"; }
run_lua() {
    LUA_PATH="$1/share/lua/5.4/?.lua;;" LUA_CPATH="$1/lib/lua/5.4/?.so" \
        lua5.4 -e "$lua_check"
}

expect() { # expect WHAT GOT WANT
    if [ "$(readlink -f "$2")" != "$(readlink -f "$3")" ]; then
        echo "FAIL: $1 loads ${2:-no libcsp}, expected $3"
        exit 1
    fi
    echo "ok: $1 loads $2"
}

echo "== nothing installed"
export PKG_CONFIG_LIBDIR="$work/empty-pc" PKG_CONFIG_PATH=
copy "$work/src1"
pip_install "$work/src1" "$work/py1"
expect "pip install, nothing installed" "$(mapped run_py "$work/py1")" \
    "$work/py1/csp/libcsp.so.0"
rock_make "$work/src1" "$work/rock1"
expect "luarocks make, nothing installed" "$(mapped run_lua "$work/rock1")" \
    "$work/rock1/lib/lua/5.4/csp/libcsp.so.0"

echo "== libcsp installed"
cmake --install "$build" --prefix "$work/prefix" >"$work/install.log"
pc=$(dirname "$(find "$work/prefix" -name csp.pc | head -n 1)")
libdir=$(PKG_CONFIG_LIBDIR=$pc pkg-config --variable=libdir csp)
export PKG_CONFIG_LIBDIR="$pc"
copy "$work/src2"
pip_install "$work/src2" "$work/py2"
[ ! -e "$work/py2/csp/libcsp.so.0" ] || {
    echo "FAIL: pip shipped its own libcsp.so.0 although one is installed"; exit 1; }
expect "pip install, libcsp installed" "$(mapped run_py "$work/py2")" \
    "$libdir/libcsp.so.0"
rock_make "$work/src2" "$work/rock2"
[ ! -e "$work/rock2/lib/lua/5.4/csp/libcsp.so.0" ] || {
    echo "FAIL: the rock shipped its own libcsp.so.0 although one is installed"; exit 1; }
expect "luarocks make, libcsp installed" "$(mapped run_lua "$work/rock2")" \
    "$libdir/libcsp.so.0"
