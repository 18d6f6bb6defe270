-- csp: Clojure core.async's channels, alts and go processes for Lua,
-- over the csp C runtime. Build from the repository root:
--
--   luarocks make lua/csp-0.1.0-1.rockspec [--tree DIR] [--lua-version 5.1]
--
-- The C core is compiled into the csp.core module (no libcsp needed).
-- The objects land next to their sources, as usual for luarocks make.
-- To export luaopen_csp_core only, as the CMake build does, add
--   LIBFLAG='-shared -Wl,--version-script=lua/csp_core.map'
rockspec_format = "3.0"
package = "csp"
version = "0.1.0-1"
source = {
  url = "git+file://.",
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
local core_sources = {
  "lua/csp.c", "lua/value.c", "lua/chan.c", "lua/alts.c", "lua/ops.c",
  "lua/xform.c",
  "core/platform.c", "core/rt.c", "core/fork.c", "core/alloc.c",
  "core/error.c", "core/wait.c", "core/buffer.c", "core/chan.c",
  "core/alts.c",
  "core/xform.c", "core/timer.c", "core/runq.c", "core/sched.c",
  "core/sched_stat.c", "core/proc.c", "core/trace.c",
  "core/thread.c", "core/coro/coro.c", "core/coro/stack.c",
  -- Each backend compiles to nothing unless it is this machine's.
  "core/coro/switch_x86_64.S", "core/coro/switch_aarch64.S",
  "core/coro/switch_ucontext.c",
  "bindings/loop.c",
  "core/ops/xf.c", "core/ops/flow.c", "core/ops/mult.c", "core/ops/mix.c",
  "core/ops/pipeline.c",
}
build = {
  type = "builtin",
  modules = {
    csp = "lua/csp.lua",
    ["csp.core"] = {
      sources = core_sources,
      defines = { "CSP_STATIC" },
      incdirs = { "core/include", "core", "lua" },
      libraries = { "pthread", "m", "dl" },
    },
  },
}
