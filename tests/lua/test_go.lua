-- test_go.lua - go processes: spawning, results, errors, scheduling,
-- blocking outside a go process, csp.run and deadlocks.
local T = require("harness")
local csp = require("csp")
local test, eq, raises, same = T.test, T.eq, T.raises, T.same

test("go_result_chan_gets_return_value", function()
  local r = csp.go(function() return 42 end)
  eq(r:take(), 42)
  eq(r:take(), nil, "closed after the value")
end)

test("go_result_chan_closes_without_value_on_nil", function()
  local r = csp.go(function() end)
  eq(r:take(), nil)
  eq(r:closed(), true)
end)

test("go_result_is_first_return_value_only", function()
  local r = csp.go(function() return 1, 2, 3 end)
  eq(r:take(), 1)
  eq(r:take(), nil)
end)

test("go_passes_arguments_including_nils", function()
  local r = csp.go(function(...) return select("#", ...) .. ":" .. tostring((select(2, ...))) end,
                   nil, "b", nil)
  eq(r:take(), "3:b")
end)

test("go_accepts_callable_tables", function()
  local obj = setmetatable({}, {__call = function(self, x) return x * 2 end})
  eq(csp.go(obj, 21):take(), 42)
end)

test("go_non_function_raises", function()
  raises("bad argument #1 to 'go'", csp.go, 3)
  raises("bad argument #1 to 'go'", csp.go)
  raises("bad argument #1 to 'go'", csp.go, {})
end)

test("go_error_closes_result_chan_and_calls_on_error", function()
  local seen = {}
  csp.on_error(function(err, trace) seen[#seen + 1] = {err, trace} end)
  local r = csp.go(function() error("boom") end)
  eq(r:take(), nil)
  eq(#seen, 1)
  eq(tostring(seen[1][1]):find("boom") ~= nil, true, "error object")
  eq(seen[1][2]:find("stack traceback") ~= nil, true, "traceback")
end)

test("go_error_with_table_value_reaches_on_error", function()
  local got
  csp.on_error(function(err) got = err end)
  local e = {code = 7}
  csp.go(function() error(e) end)
  csp.run()
  eq(got, e)
end)

test("go_default_on_error_prints_traceback", function()
  local out = {}
  local real = io.stderr
  io.stderr = {write = function(_, ...) for _, s in ipairs({...}) do out[#out + 1] = s end end}
  local ok, err = pcall(function()
    csp.go(function() error("default handler") end)
    csp.run()
  end)
  io.stderr = real
  assert(ok, err)
  local text = table.concat(out)
  eq(text:find("default handler") ~= nil, true, "message")
  eq(text:find("stack traceback") ~= nil, true, "traceback")
end)

test("go_on_error_returns_previous_handler", function()
  local h1 = function() end
  local prev = csp.on_error(h1)
  eq(type(prev), "function")
  eq(csp.on_error(nil), h1)
  raises("bad argument #1 to 'on_error'", csp.on_error, 5)
end)

test("go_error_in_on_error_handler_is_contained", function()
  local out = {}
  local real = io.stderr
  io.stderr = {write = function(_, ...) for _, s in ipairs({...}) do out[#out + 1] = s end end}
  csp.on_error(function() error("handler broke") end)
  local r = csp.go(function() error("x") end)
  local v = r:take()
  io.stderr = real
  eq(v, nil)
  eq(table.concat(out):find("handler broke") ~= nil, true)
end)

-- Stackful: a process parks deep inside ordinary helper functions.
test("go_parks_across_helper_functions", function()
  local ch, out = csp.chan(), csp.chan()
  local function leaf() return ch:take() end
  local function middle(n) if n == 0 then return leaf() end return middle(n - 1) end
  local function top() return middle(50) + 1 end
  csp.go(function() out:put(top()) end)
  csp.go(function() ch:put(41) end)
  eq(out:take(), 42)
end)

test("go_parks_inside_metamethods", function()
  local ch = csp.chan()
  local obj = setmetatable({}, {__index = function(_, k) return ch:take() .. k end})
  local r = csp.go(function() return obj.x end)
  csp.go(function() ch:put("v") end)
  csp.on_error(function() end)
  if T.lua51 then
    eq(r:take(), nil, "5.1 cannot yield across a metamethod")
  else
    eq(r:take(), "vx")
  end
end)

test("go_100k_processes_daisy_chain", function()
  local n = 100000
  local first = csp.chan()
  local left = first
  for _ = 1, n do
    local right = csp.chan()
    local l, r = left, right
    csp.go(function() r:put(l:take() + 1) end)
    left = right
  end
  first:put(0)
  eq(left:take(), n)
  csp.run()
  eq(csp.stats().live, 0)
end)

test("go_100k_processes_each_return", function()
  local n = 100000
  local rs = {}
  for i = 1, n do rs[i] = csp.go(function() return i end) end
  local sum = 0
  for i = 1, n do sum = sum + rs[i]:take() end
  eq(sum, n * (n + 1) / 2)
end)

test("go_spawned_inside_go_runs", function()
  local r = csp.go(function()
    return csp.go(function() return "inner" end):take()
  end)
  eq(r:take(), "inner")
end)

test("go_processes_run_in_spawn_order", function()
  local order = {}
  for i = 1, 5 do csp.go(function() order[#order + 1] = i end) end
  csp.run()
  same(order, {1, 2, 3, 4, 5})
end)

test("go_yield_lets_others_run", function()
  local log = {}
  csp.go(function() log[#log + 1] = "a1"; csp.yield(); log[#log + 1] = "a2" end)
  csp.go(function() log[#log + 1] = "b1"; csp.yield(); log[#log + 1] = "b2" end)
  csp.run()
  same(log, {"a1", "b1", "a2", "b2"})
end)

test("go_plain_coroutine_yield_reschedules", function()
  local log = {}
  csp.go(function() log[#log + 1] = 1; coroutine.yield("ignored"); log[#log + 1] = 3 end)
  csp.go(function() log[#log + 1] = 2 end)
  csp.run()
  same(log, {1, 2, 3})
end)

test("go_yield_outside_go_runs_ready_processes", function()
  local ran = false
  csp.go(function() ran = true end)
  csp.yield()
  eq(ran, true)
end)

test("go_in_go_reports_context", function()
  eq(csp.in_go(), false)
  eq(csp.go(function() return csp.in_go() end):take(), true)
end)

test("go_sleep_parks_for_at_least_ms", function()
  local r = csp.go(function()
    local t0 = csp.now()
    csp.sleep(30)
    return csp.now() - t0
  end)
  local dt = r:take()
  eq(dt >= 30, true, "slept " .. dt .. " ms")
  eq(dt < 1000, true, "slept " .. dt .. " ms")
end)

test("go_sleep_outside_go_blocks", function()
  local t0 = csp.now()
  csp.sleep(20)
  local dt = csp.now() - t0
  eq(dt >= 20, true, "slept " .. dt .. " ms")
end)

test("go_sleep_keeps_others_running", function()
  local ticks = 0
  csp.go(function() for _ = 1, 5 do ticks = ticks + 1; csp.yield() end end)
  csp.sleep(10)
  eq(ticks, 5)
end)

test("go_sleep_bad_arg_raises", function()
  raises("bad argument #1 to 'sleep'", csp.sleep, "1")
  raises("bad argument #1 to 'sleep'", csp.sleep, 0 / 0)
end)

test("go_main_take_with_no_possible_putter_raises_deadlock", function()
  local ch = csp.chan()
  raises("deadlock", ch.take, ch)
  -- The withdrawn take does not swallow a later value.
  csp.go(function() ch:put(5) end)
  eq(ch:take(), 5)
end)

test("go_main_put_with_no_possible_taker_raises_deadlock", function()
  local ch = csp.chan()
  raises("deadlock", ch.put, ch, {})
  eq(csp.stats().pins, 0, "the withdrawn put released its value")
end)

test("go_run_returns_true_when_all_finished", function()
  local ch = csp.chan()
  csp.go(function() ch:put(1) end)
  csp.go(function() ch:take() end)
  eq(csp.run(), true)
  eq(csp.stats().live, 0)
end)

test("go_run_reports_deadlock", function()
  local ch = csp.chan()
  csp.go(function() ch:take() end)
  local r, msg, name = csp.run()
  eq(r, nil); eq(name, "DEADLOCK"); eq(msg:find("1 go process") ~= nil, true)
end)

test("go_run_waits_for_timers", function()
  local done = false
  csp.go(function() csp.sleep(20); done = true end)
  eq(csp.run(), true)
  eq(done, true)
end)

test("go_blocked_take_completed_by_a_put_that_then_parks_returns", function()
  -- The put hands the main chunk's take its value at once (the fast path)
  -- and its process then parks for good: the blocked take must return,
  -- not report a deadlock.
  local res = csp.chan()
  csp.go(function() csp.sleep(1); res:put(1); res:put(-1) end)
  eq(res:take(), 1)
end)

test("go_blocked_put_completed_by_a_take_that_then_parks_returns", function()
  local ch = csp.chan()
  csp.go(function() csp.sleep(1); ch:take(); ch:take() end)
  eq(ch:put(1), true)
end)

T.run()
