-- test_alts.lua - csp.alts: first of several puts and takes, priority,
-- default, closed channels, bad input, values held by losing puts.
local T = require("harness")
local csp = require("csp")
local test, eq, raises = T.test, T.eq, T.raises

test("alts_takes_ready_value", function()
  local a, b = csp.chan(1), csp.chan(1)
  b:put("vb")
  local v, ch = csp.alts({a, b})
  eq(v, "vb"); eq(ch, b)
end)

test("alts_put_commits_and_returns_true", function()
  local a = csp.chan(1)
  local v, ch = csp.alts({{a, "x"}})
  eq(v, true); eq(ch, a)
  eq(a:poll(), "x")
end)

test("alts_waits_for_first_ready_inside_go", function()
  local a, b = csp.chan(), csp.chan()
  local r = csp.go(function()
    local v, ch = csp.alts({a, b})
    return v .. (ch == b and "b" or "a")
  end)
  csp.go(function() b:put("v") end)
  eq(r:take(), "vb")
end)

test("alts_blocks_outside_go", function()
  local a, b = csp.chan(), csp.chan()
  csp.go(function() a:put(1) end)
  local v, ch = csp.alts({b, a})
  eq(v, 1); eq(ch, a)
end)

test("alts_mixed_put_and_take_commit_exactly_one", function()
  local out, inp = csp.chan(), csp.chan()
  local got
  csp.go(function() got = out:take() end)
  local v, ch = csp.alts({inp, {out, "sent"}})
  eq(v, true); eq(ch, out)
  csp.run()
  eq(got, "sent")
  local r, msg = inp:offer(1)
  eq(r, nil, "the losing take is gone"); eq(msg, nil)
end)

test("alts_priority_picks_first_ready", function()
  local a, b = csp.chan(1), csp.chan(1)
  for _ = 1, 100 do
    a:put("a"); b:put("b")
    local v, ch = csp.alts({a, b}, {priority = true})
    eq(v, "a"); eq(ch, a)
    b:take()
  end
end)

test("alts_without_priority_picks_every_ready_op", function()
  local a, b = csp.chan(1), csp.chan(1)
  local seen = {}
  for _ = 1, 200 do
    if a:count() == 0 then a:put("a") end
    if b:count() == 0 then b:put("b") end
    local v = csp.alts({a, b})
    seen[v] = true
  end
  eq(seen.a and seen.b, true, "both chosen")
end)

test("alts_default_when_nothing_ready", function()
  local v, ch = csp.alts({csp.chan(), {csp.chan(), 1}}, {default = "none"})
  eq(v, "none"); eq(ch, "default")
end)

test("alts_default_not_used_when_ready", function()
  local a = csp.chan(1)
  a:put(9)
  local v, ch = csp.alts({a}, {default = "none"})
  eq(v, 9); eq(ch, a)
end)

test("alts_default_false_is_returned", function()
  local v, ch = csp.alts({csp.chan()}, {default = false})
  eq(v, false); eq(ch, "default")
end)

test("alts_default_inside_go_does_not_park", function()
  local r = csp.go(function()
    local v = csp.alts({csp.chan()}, {default = 1, priority = true})
    return v
  end)
  eq(r:take(), 1)
end)

test("alts_take_from_closed_returns_nil_and_chan", function()
  local a = csp.chan()
  a:close()
  local v, ch = csp.alts({a})
  eq(v, nil); eq(ch, a)
end)

test("alts_put_to_closed_returns_false", function()
  local a = csp.chan()
  a:close()
  local v, ch = csp.alts({{a, 1}})
  eq(v, false); eq(ch, a)
  eq(csp.stats().pins, 0)
end)

test("alts_close_wakes_parked_alts", function()
  local a, b = csp.chan(), csp.chan()
  local r = csp.go(function()
    local v, ch = csp.alts({a, b})
    return tostring(v) .. (ch == b and "b" or "a")
  end)
  csp.step()
  b:close()
  eq(r:take(), "nilb")
end)

test("alts_with_timeout_returns_timeout_chan", function()
  local t = csp.timeout(10)
  local v, ch = csp.alts({csp.chan(), t})
  eq(v, nil); eq(ch, t)
end)

test("alts_same_channel_twice", function()
  local a = csp.chan(1)
  a:put(1)
  local v, ch = csp.alts({a, a})
  eq(v, 1); eq(ch, a)
end)

test("alts_many_channels", function()
  local chs = {}
  for i = 1, 100 do chs[i] = csp.chan(1) end
  chs[77]:put("x")
  local v, ch = csp.alts(chs)
  eq(v, "x"); eq(ch, chs[77])
end)

test("alts_losing_put_values_are_released", function()
  local base = csp.stats().pins
  local a, b = csp.chan(), csp.chan()
  local r = csp.go(function()
    local v, ch = csp.alts({{a, {"table a"}}, {b, {"table b"}}})
    return ch == b
  end)
  csp.step()
  eq(csp.stats().pins, base + 2, "both put values pinned while parked")
  local t = b:take()
  eq(t[1], "table b")
  eq(r:take(), true)
  eq(csp.stats().pins, base, "losing value released")
end)

test("alts_empty_raises", function()
  raises("no operations", csp.alts, {})
end)

test("alts_bad_ops_raise", function()
  raises("bad argument #1 to 'alts'", csp.alts)
  raises("bad argument #1 to 'alts'", csp.alts, "x")
  raises("entry 2", csp.alts, {csp.chan(), 5})
  raises("entry 1", csp.alts, {{}})
  raises("entry 1", csp.alts, {{csp.chan()}})
  raises("cannot put nil", csp.alts, {{csp.chan(), nil}})
  raises("entry 1", csp.alts, {{"x", 1}})
  eq(csp.stats().pins, 0, "nothing pinned by a rejected alts")
end)

test("alts_bad_options_raise", function()
  raises("bad argument #2 to 'alts'", csp.alts, {csp.chan(1)}, 5)
end)

test("alts_put_on_timeout_chan_raises_eperm", function()
  raises("EPERM", csp.alts, {{csp.timeout(100), 1}})
  eq(csp.stats().pins, 0)
end)

T.run()
