-- test_local.lua - local channels (docs/lua.md, "Speed"): a channel only
-- this state can reach keeps its buffer and parked go processes in Lua,
-- and moves into C, in order and for good, when C, alts, an async op or
-- a blocking caller needs it. The results are those of a C channel.
local T = require("harness")
local csp = require("csp")
local test, eq, same = T.test, T.eq, T.same

-- Spawn N go processes that each put i on CH; returns their result
-- channels (each gets what its put returned).
local function putters(ch, n)
  local rs = {}
  for i = 1, n do rs[i] = csp.go(function() return ch:put(i) end) end
  return rs
end

local function results(rs)
  local out = {}
  for i = 1, #rs do out[i] = rs[i]:take() end
  return out
end

test("local_buffer_keeps_fifo_order_across_wrap_around", function()
  local ch = csp.chan(3)
  local got, want = {}, {0}
  ch:put(0)
  for i = 1, 100 do
    ch:put(i); ch:put(-i) -- the buffer holds 1 to 3 values, wrapping
    got[#got + 1] = ch:take()
    got[#got + 1] = ch:take()
    want[#want + 1] = i; want[#want + 1] = -i
  end
  got[#got + 1] = ch:take()
  eq(ch:count(), 0)
  same(got, want)
end)

test("local_parked_puts_enter_a_full_buffer_in_order", function()
  local ch = csp.chan(2)
  local rs = putters(ch, 6)
  csp.step()
  eq(csp.stats().waiting, 4, "two buffered, four parked")
  local got = {}
  for i = 1, 6 do got[i] = ch:take() end
  same(got, {1, 2, 3, 4, 5, 6})
  same(results(rs), {true, true, true, true, true, true})
end)

test("local_handle_moves_buffered_values_into_c_in_order", function()
  local ch = csp.chan(3)
  ch:put("a"); ch:put({1}); ch:put(3)
  eq(csp.stats().pins, 0, "a local buffer pins nothing")
  local c = csp.wrap(ch:handle())
  eq(csp.stats().pins, 1, "the table is pinned once in C")
  eq(c:take(), "a"); eq(c:take()[1], 1); eq(c:take(), 3)
  eq(csp.stats().pins, 0)
end)

test("local_parked_puts_move_into_c_in_order_and_complete", function()
  local ch = csp.chan()
  local rs = putters(ch, 3)
  csp.step()
  eq(csp.stats().ops, 3)
  local c = csp.wrap(ch:handle())
  eq(csp.stats().ops, 3, "still three pending, now in C")
  eq(c:take(), 1); eq(c:take(), 2); eq(c:take(), 3)
  same(results(rs), {true, true, true})
end)

test("local_parked_takes_move_into_c_for_alts", function()
  local ch = csp.chan()
  local r1 = csp.go(function() return ch:take() end)
  local r2 = csp.go(function() return ch:take() end)
  csp.step()
  local v, c = csp.alts({{ch, "x"}})
  eq(v, true); eq(c, ch)
  eq(ch:offer("y"), true, "the second parked take, now in C")
  eq(r1:take(), "x"); eq(r2:take(), "y")
end)

test("local_close_wakes_parked_takes_with_nil", function()
  local ch = csp.chan()
  local rs = {}
  for i = 1, 3 do rs[i] = csp.go(function() return ch:take() == nil end) end
  csp.step()
  ch:close()
  same(results(rs), {true, true, true})
  eq(ch:closed(), true)
end)

-- A close with parked puts goes through C: the puts end as they would on
-- a channel that was in C all along.
test("local_close_with_parked_puts_matches_a_c_channel", function()
  local function run(escape_first)
    local ch = csp.chan()
    if escape_first then ch:handle() end
    local rs = putters(ch, 2)
    csp.step()
    ch:close()
    local taken = {ch:take(), ch:take(), ch:take()}
    return {results(rs), taken}
  end
  same(run(false), run(true))
end)

test("local_closed_channel_drains_then_gives_nil_and_refuses_puts", function()
  local ch = csp.chan(2)
  ch:put(1); ch:close()
  eq(ch:put(2), false); eq(ch:offer(2), false)
  eq(ch:count(), 1)
  eq(ch:take(), 1); eq(ch:take(), nil); eq(ch:poll(), nil)
end)

test("local_poll_takes_a_parked_put", function()
  local ch = csp.chan()
  local rs = putters(ch, 1)
  csp.step()
  eq(ch:poll(), 1)
  eq(ch:poll(), nil)
  same(results(rs), {true})
end)

test("local_offer_hands_to_a_parked_take", function()
  local ch = csp.chan()
  local r = csp.go(function() return ch:take() end)
  csp.step()
  eq(ch:offer(7), true)
  eq(ch:offer(8), nil, "nobody waits now")
  eq(r:take(), 7)
end)

test("local_1025th_parked_op_raises_ebusy_as_in_c", function()
  local seen = {}
  local prev = csp.on_error(function(err) seen[#seen + 1] = tostring(err) end)
  local ch = csp.chan()
  for _ = 1, 1025 do csp.go(function() ch:take() end) end
  csp.step()
  csp.on_error(prev)
  eq(#seen, 1)
  eq(seen[1]:find("EBUSY") ~= nil, true, seen[1])
  eq(csp.stats().ops, 1024, "the first 1024 wait, now in C")
  ch:close()
  csp.run()
end)

test("local_ops_inside_a_transform_step_are_refused", function()
  local other = csp.chan(1)
  local errs = {}
  local ch = csp.chan(1, csp.xf.map(function(x)
    local ok, e = pcall(function() return other:poll() end)
    errs[#errs + 1] = ok and "ok" or tostring(e)
    return x
  end))
  ch:put(1)
  eq(errs[1]:find("not allowed inside a transform step") ~= nil, true, errs[1])
end)

test("local_stats_count_parked_go_processes", function()
  local ch = csp.chan()
  csp.go(function() ch:take() end)
  csp.step()
  local s = csp.stats()
  eq(s.waiting, 1); eq(s.ops, 1)
  ch:close()
  csp.run()
  eq(csp.stats().waiting, 0)
end)

test("local_result_channel_has_no_csp_chan_until_c_needs_it", function()
  -- Earlier tests' channels are garbage now; collect them first, or
  -- LuaJIT frees one during run() and the count drops below c0.
  collectgarbage(); collectgarbage()
  local c0 = csp.stats().chans
  local r = csp.go(function() return 5 end)
  eq(csp.is_chan(r), true)
  csp.run()
  eq(csp.stats().chans, c0, "no csp_chan made")
  local c = csp.wrap(r:handle())
  eq(csp.stats().chans, c0 + 1)
  eq(c:take(), 5); eq(c:take(), nil)
end)

test("local_blocking_take_outside_go_moves_the_channel_into_c", function()
  local ch = csp.chan()
  csp.go(function() csp.sleep(1); ch:put("late") end)
  eq(ch:take(), "late")
end)

T.run()
