-- test_conventions.lua - issue 16: one result convention (docs/lua.md,
-- "Results"), async ops as methods with on_caller, no global side
-- effects, iterator sources, negative delays, the csp/ package layout.
local T = require("harness")
local csp = require("csp")
local test, eq, raises, same = T.test, T.eq, T.raises, T.same

local THIS = "test_conventions.lua:%d+:"

-- Results ---------------------------------------------------------------

test("conv_put_on_closed_gives_false", function()
  local ch = csp.chan(); ch:close()
  eq(ch:put(1), false)
end)

test("conv_offer_on_closed_gives_false", function()
  local ch = csp.chan(1); ch:close()
  eq(ch:offer(1), false)
end)

test("conv_alts_put_on_closed_gives_false", function()
  local ch = csp.chan(); ch:close()
  local v, c = csp.alts({{ch, 1}})
  eq(v, false); eq(c, ch)
end)

test("conv_put_async_callback_on_closed_gets_false", function()
  local ch = csp.chan(); ch:close()
  local got
  eq(ch:put_async(1, function(ok) got = ok end), false)
  eq(got, false)
end)

test("conv_offer_that_would_wait_gives_nil_only", function()
  eq(select("#", csp.chan():offer(1)), 1)
  eq(csp.chan():offer(1), nil)
end)

test("conv_poll_that_would_wait_gives_nil_only", function()
  eq(select("#", csp.chan():poll()), 1)
  eq(csp.chan():poll(), nil)
end)

test("conv_put_nil_raises_at_the_callers_line", function()
  local ch = csp.chan(1)
  local err = raises("cannot put nil", function() ch:put(nil) end)
  eq(tostring(err):find(THIS) ~= nil, true, "caller's line in " .. tostring(err))
  eq(tostring(err):find("core_put", 1, true), nil)
end)

test("conv_offer_nil_raises_at_the_callers_line", function()
  local ch = csp.chan(1)
  local err = raises("cannot put nil", function() ch:offer(nil) end)
  eq(tostring(err):find(THIS) ~= nil, true, tostring(err))
end)

test("conv_put_on_a_non_channel_raises_at_the_callers_line", function()
  local err = raises("channel expected", function() csp.put({}, 1) end)
  eq(tostring(err):find(THIS) ~= nil, true, tostring(err))
  err = raises("channel expected", function() csp.poll(5) end)
  eq(tostring(err):find(THIS) ~= nil, true, tostring(err))
end)

test("conv_put_on_timeout_raises_at_the_callers_line", function()
  local t = csp.timeout(100)
  local err = raises("EPERM", function() t:put(1) end)
  eq(tostring(err):find(THIS) ~= nil, true, tostring(err))
end)

test("conv_pending_limit_put_async_raises_and_never_calls_back", function()
  local ch = csp.chan()
  local calls = 0
  for i = 1, 1024 do ch:put_async(i, function() calls = calls + 1 end) end
  local called = false
  raises("EBUSY", ch.put_async, ch, 1025, function() called = true end)
  eq(called, false)
  for _ = 1, 1024 do ch:take() end
  csp.run()
  eq(called, false, "never called back")
  eq(calls, 1024)
end)

test("conv_pending_limit_take_async_raises_and_never_calls_back", function()
  local ch = csp.chan()
  for _ = 1, 1024 do ch:take_async(function() end) end
  local called = false
  raises("EBUSY", ch.take_async, ch, function() called = true end)
  ch:close()
  csp.run()
  eq(called, false)
end)

-- Async ops as methods, on_caller ----------------------------------------

test("conv_put_async_and_take_async_are_methods_and_aliases", function()
  local ch = csp.chan()
  eq(ch.put_async, csp.put_async); eq(ch.take_async, csp.take_async)
  local got
  ch:take_async(function(v) got = v end)
  local ok
  eq(ch:put_async(5, function(r) ok = r end), true)
  csp.run()
  eq(got, 5); eq(ok, true)
end)

test("conv_on_caller_false_defers_an_immediate_take_callback", function()
  local ch = csp.chan(1)
  ch:put(1)
  local got
  eq(ch:take_async(function(v) got = v end, {on_caller = false}), true)
  eq(got, nil, "not run on the caller")
  csp.step()
  eq(got, 1)
end)

test("conv_on_caller_false_defers_an_immediate_put_callback", function()
  local ch = csp.chan(1)
  local got
  eq(ch:put_async(1, function(v) got = v end, {on_caller = false}), true)
  eq(got, nil)
  csp.run()
  eq(got, true)
end)

test("conv_on_caller_default_runs_an_immediate_callback_at_once", function()
  local ch = csp.chan(1)
  local got
  ch:put_async(1, function(v) got = v end)
  eq(got, true)
end)

test("conv_synchronous_callback_error_reaches_the_caller", function()
  local ch = csp.chan(1)
  raises("sync boom", ch.put_async, ch, 1, function() error("sync boom") end)
end)

test("conv_deferred_callback_error_goes_to_on_error", function()
  local seen
  csp.on_error(function(e) seen = tostring(e) end)
  local ch = csp.chan(1)
  ch:put_async(1, function() error("late boom") end, {on_caller = false})
  csp.run()
  eq(seen ~= nil and seen:find("late boom") ~= nil, true)
end)

test("conv_async_bad_options_raise", function()
  raises("bad argument #4 to 'put_async'", csp.put_async, csp.chan(1), 1, print, 5)
  raises("bad argument #3 to 'take_async'", csp.take_async, csp.chan(1), print, "x")
end)

-- No global side effects ----------------------------------------------------

test("conv_require_changes_no_global", function()
  local function snap(t)
    local s = {}
    for k, v in pairs(t) do s[k] = v end
    return s
  end
  local g, co, str, tbl = snap(_G), snap(coroutine), snap(string), snap(table)
  for k in pairs(package.loaded) do
    if k == "csp" or k:match("^csp%.") and k ~= "csp.core" then package.loaded[k] = nil end
  end
  local again = require("csp")
  eq(again ~= csp, true, "loaded afresh")
  for _, pair in ipairs({{g, _G}, {co, coroutine}, {str, string}, {tbl, table}}) do
    local before, now = pair[1], pair[2]
    for k, v in pairs(now) do eq(before[k], v, "global " .. tostring(k)) end
    for k, v in pairs(before) do eq(now[k], v, "global " .. tostring(k)) end
  end
end)

-- Iterator sources ---------------------------------------------------------

local function drain(ch)
  local out = {}
  while true do
    local v = ch:take()
    if v == nil then return out end
    out[#out + 1] = v
  end
end

test("conv_to_chan_from_a_generator_function", function()
  local i = 0
  same(drain(csp.to_chan(function() i = i + 1; if i <= 3 then return i * 10 end end)),
       {10, 20, 30})
end)

test("conv_to_chan_from_a_generic_for_triple", function()
  same(drain(csp.to_chan(("a b c"):gmatch("%a"))), {"a", "b", "c"})
  same(drain(csp.to_chan(ipairs({"x", "y"}))), {1, 2}, "the first value of each step")
end)

test("conv_onto_chan_from_an_infinite_generator_is_lazy", function()
  local ch = csp.chan()
  local made = 0
  csp.onto_chan(ch, function() made = made + 1; return made end)
  eq(ch:take(), 1); eq(ch:take(), 2); eq(ch:take(), 3)
  csp.step()
  eq(made <= 4, true, "back-pressure: made " .. made)
  ch:close()
  csp.run()
  eq(made <= 5, true, "stops once the channel is closed")
end)

test("conv_onto_chan_triple_with_close_false_leaves_open", function()
  local ch = csp.chan(10)
  local f, t, var = ipairs({7, 8})
  local done = csp.onto_chan(ch, f, t, var, false)
  eq(done:take(), nil)
  eq(ch:closed(), false)
  eq(ch:take(), 1); eq(ch:take(), 2)
end)

test("conv_onto_chan_generator_with_close_false_leaves_open", function()
  local ch = csp.chan(10)
  local n = 0
  csp.onto_chan(ch, function() n = n + 1; if n <= 2 then return n end end, false):take()
  eq(ch:closed(), false)
  eq(ch:count(), 2)
end)

test("conv_onto_chan_iterator_error_closes_and_reports", function()
  local seen
  csp.on_error(function(e) seen = tostring(e) end)
  local ch = csp.chan(10)
  local n = 0
  csp.onto_chan(ch, function() n = n + 1; if n > 2 then error("iter boom") end return n end)
  same(drain(ch), {1, 2})
  csp.run()
  eq(seen ~= nil and seen:find("iter boom") ~= nil, true)
end)

test("conv_onto_chan_bad_source_raises", function()
  raises("bad argument #2 to 'onto_chan'", csp.onto_chan, csp.chan(), 5)
  raises("bad argument #1 to 'to_chan'", csp.to_chan, "abc")
end)

test("conv_onto_chan_coroutine_generator", function()
  local gen = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i) end end)
  same(drain(csp.to_chan(gen)), {1, 2, 3})
end)

-- Negative delays ------------------------------------------------------------

test("conv_negative_timeout_is_zero", function()
  local t = csp.timeout(-1)
  eq(t:take(), nil)
  eq(t:closed(), true)
end)

test("conv_negative_sleep_is_zero", function()
  local t0 = csp.now()
  csp.sleep(-5)
  eq(csp.now() - t0 < 1000, true)
end)

-- Layout --------------------------------------------------------------------

test("conv_package_modules_load", function()
  eq(type(require("csp.sched").spawn), "function")
  eq(require("csp.xf"), csp.xf)
  eq(type(require("csp.ops")), "function")
end)

T.run()
