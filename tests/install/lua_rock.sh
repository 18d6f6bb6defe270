#!/bin/sh
# lua_rock.sh SRC_DIR WORK_DIR - pack the source rock from the checkout
# (lua/pack.sh, i.e. `luarocks pack`), install it into an empty tree for
# each Lua found (5.4, 5.1, LuaJIT), and run README.md's Lua example with
# only that tree on the search paths. Then `luarocks make` from lua/.
set -eu
src=$1
work=$2
rm -rf "$work"
mkdir -p "$work"

# README.md's first ```lua block after "## Lua".
awk '/^## Lua/{s=1} s&&/^```lua/{p=1;next} p&&/^```/{exit} p' "$src/README.md" >"$work/readme.lua"
test -s "$work/readme.lua" || { echo "no Lua example in README.md"; exit 1; }
cat >"$work/expected" <<'OUT'
2
4
6
nil
nil	true
OUT

echo "== luarocks pack"
rock=$("$src/lua/pack.sh" "$work")
ls -l "$rock"

run() { # name interpreter lua-version [extra luarocks args]
    name=$1 lua=$2 ver=$3
    shift 3
    command -v "$lua" >/dev/null || { echo "== $name: $lua not installed"; return 0; }
    tree=$work/tree-$name
    echo "== $name: luarocks install into $tree"
    luarocks --lua-version "$ver" --tree "$tree" install "$rock" "$@" \
        >"$work/install-$name.log" 2>&1 || { cat "$work/install-$name.log"; exit 1; }
    LUA_PATH="$tree/share/lua/$ver/?.lua;$tree/share/lua/$ver/?/init.lua" \
    LUA_CPATH="$tree/lib/lua/$ver/?.so" \
        "$lua" "$work/readme.lua" >"$work/out-$name" 2>&1 || { cat "$work/out-$name"; exit 1; }
    diff -u "$work/expected" "$work/out-$name"
    echo "== $name: README example ok"
}
run lua54 lua5.4 5.4
run lua51 lua5.1 5.1
run luajit luajit 5.1 LUA_INCDIR=/usr/include/luajit-2.1

# From lua/ of the packed source, not of the checkout: luarocks make
# leaves its objects next to the sources.
echo "== luarocks make from lua/"
mkdir -p "$work/make-src"
(cd "$work/make-src" && unzip -q "$rock" && tar xzf csp-0.1.0.tar.gz)
( cd "$work/make-src/csp-0.1.0/lua" && luarocks --lua-version 5.4 --tree "$work/tree-make" make \
      >"$work/make.log" 2>&1 ) || { cat "$work/make.log"; exit 1; }
LUA_PATH="$work/tree-make/share/lua/5.4/?.lua;$work/tree-make/share/lua/5.4/?/init.lua" \
LUA_CPATH="$work/tree-make/lib/lua/5.4/?.so" \
    lua5.4 "$work/readme.lua" >"$work/out-make" 2>&1 || { cat "$work/out-make"; exit 1; }
diff -u "$work/expected" "$work/out-make"
echo "== luarocks make from lua/: ok"
