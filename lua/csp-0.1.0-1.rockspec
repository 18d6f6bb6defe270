-- csp: Clojure core.async's channels, alts and go processes for Lua,
-- over the csp C runtime. Build and install from a checkout, from the
-- repository root or from lua/ (lua/core, lua/bindings and lua/lua are
-- symlinks, so the paths below resolve from both):
--
--   luarocks make lua/csp-0.1.0-1.rockspec [--tree DIR] [--lua-version 5.1]
--   cd lua && luarocks make [--tree DIR]
--
-- A source rock: lua/pack.sh [OUT_DIR] runs `luarocks pack` on a copy of
-- this rockspec whose source is the checkout (git archive of the working
-- tree), giving csp-0.1.0-1.src.rock; `luarocks install` it anywhere.
--
-- csp.core links the shared library libcsp.so.0: the installed one when
-- pkg-config knows it, else a copy built from the same C sources and
-- installed beside csp/core.so (found through an $ORIGIN rpath), so this
-- works on a machine with nothing installed. lua/rock-build.sh does it
-- (CSP_LIBCSP=bundle or system forces a choice); objects go to
-- build-rock/. csp.core exports luaopen_csp_core only.
rockspec_format = "3.0"
package = "csp"
version = "0.1.0-1"
source = {
  -- lua/pack.sh replaces this with the checkout's archive.
  url = "file://csp-0.1.0.tar.gz",
  dir = "csp-0.1.0",
}
description = {
  summary = "Clojure core.async channels, alts and go processes over a C runtime",
  detailed = [[
Channels (unbuffered, fixed, dropping, sliding, promise) with transforms,
put/take that park inside go processes (Lua coroutines) and block outside
them, alts with priority and default, timeouts, and core.async's
combinators: pipe, merge, split, mult, pub/sub, mix, pipeline.
]],
  license = "MIT",
}
dependencies = {
  "lua >= 5.1, < 5.5",
}
build = {
  type = "command",
  build_command = [[sh lua/rock-build.sh build "$(CC)" "$(CFLAGS)" "$(LUA_INCDIR)"]],
  install_command = [[sh lua/rock-build.sh install "$(LIBDIR)"]],
  install = {
    lua = {
      csp = "lua/csp/init.lua",
      ["csp.sched"] = "lua/csp/sched.lua",
      ["csp.xf"] = "lua/csp/xf.lua",
      ["csp.ops"] = "lua/csp/ops.lua",
    },
  },
}
