-- test_shared.lua - channels shared with C (docs/embedding.md): handles
-- crossing both ways, the runtime a state uses, the worker pool counter,
-- and strings as csp.h's portable byte strings.
local T = require("harness")
local csp = require("csp")
local test, eq, raises = T.test, T.eq, T.raises

local function full_gc()
  collectgarbage(); collectgarbage()
  csp.step()
end

test("shared_handle_is_a_light_userdata", function()
  local ch = csp.chan(1)
  eq(type(ch:handle()), "userdata")
  eq(ch:handle(), ch:handle())
end)

test("shared_wrap_of_a_handle_is_the_same_channel", function()
  local a = csp.chan(2)
  local b = csp.wrap(a:handle())
  eq(csp.is_chan(b), true)
  eq(b:id(), a:id())
  b:put("both"); b:put(7)
  eq(a:take(), "both")
  eq(a:take(), 7)
end)

test("shared_wrap_takes_a_reference_of_its_own", function()
  local a = csp.chan(1)
  local b = csp.wrap(a:handle())
  a = nil
  full_gc()
  b:put({})
  eq(type(b:take()), "table")
  eq(b:closed(), false)
end)

test("shared_wrap_rejects_what_is_not_a_light_userdata", function()
  raises("light userdata", csp.wrap, "0x1234")
  raises("light userdata", csp.wrap, 42)
  raises("light userdata", csp.wrap, csp.chan())
  raises("light userdata", csp.wrap, nil)
end)

test("shared_wrap_of_a_promise_handle_lends_the_value", function()
  local p = csp.promise_chan()
  local q = csp.wrap(p:handle(), true)
  p:put("once")
  eq(q:take(), "once")
  eq(q:take(), "once")
  eq(p:take(), "once")
end)

test("shared_runtime_is_the_same_for_every_call", function()
  eq(type(csp.runtime()), "userdata")
  eq(csp.runtime(), csp.runtime())
end)

test("shared_stats_count_the_runtime_workers", function()
  local w = csp.stats().workers
  eq(math.type and math.type(w) or type(w), math.type and "integer" or "number")
  eq(w >= 0, true)
end)

test("shared_bytes_with_zeros_and_empty_strings_cross_intact", function()
  local ch = csp.chan(3)
  ch:put(""); ch:put(string.rep("\0", 5)); ch:put(string.rep("x", 100000))
  eq(ch:take(), "")
  eq(ch:take(), string.rep("\0", 5))
  eq(ch:take(), string.rep("x", 100000))
  eq(csp.stats().pins, 0)
end)

T.run()
