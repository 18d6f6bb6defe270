-- test_xform.lua - channel transforms with Lua functions (csp.xf.*),
-- early termination, completion, exception handlers, bad input.
local T = require("harness")
local csp = require("csp")
local xf = csp.xf
local test, eq, raises, same = T.test, T.eq, T.raises, T.same

-- Put every value of VALS on a channel with transform X (buffer N), close
-- it, and return what comes out.
local function through(x, vals, n)
  local ch = csp.chan(n or 64, x)
  for i = 1, #vals do
    if not ch:offer(vals[i]) then break end
  end
  ch:close()
  local out = {}
  for v in ch:iter() do out[#out + 1] = v end
  return out
end

local function inc(x) return x + 1 end
local function odd(x) return x % 2 == 1 end

test("xf_map_transforms_values", function()
  same(through(xf.map(inc), {1, 2, 3}), {2, 3, 4})
end)

test("xf_filter_keeps_matching", function()
  same(through(xf.filter(odd), {1, 2, 3, 4, 5}), {1, 3, 5})
end)

test("xf_remove_drops_matching", function()
  same(through(xf.remove(odd), {1, 2, 3, 4, 5}), {2, 4})
end)

test("xf_keep_drops_nil_results", function()
  same(through(xf.keep(function(x) if x > 2 then return x * 10 end end), {1, 2, 3, 4}), {30, 40})
end)

test("xf_keep_keeps_false", function()
  same(through(xf.keep(function(x) return x > 2 end), {1, 3}), {false, true})
end)

test("xf_mapcat_emits_many", function()
  same(through(xf.mapcat(function(x) return {x, x} end), {1, 2}), {1, 1, 2, 2})
end)

test("xf_mapcat_may_overfill_buffer", function()
  local ch = csp.chan(1, xf.mapcat(function(x) return {x, x, x} end))
  eq(ch:offer(7), true)
  eq(ch:count(), 3)
end)

test("xf_take_closes_channel_after_n", function()
  local ch = csp.chan(10, xf.take(2))
  eq(ch:put(1), true); eq(ch:put(2), true)
  eq(ch:closed(), true)
  eq(ch:put(3), false)
  eq(ch:take(), 1); eq(ch:take(), 2); eq(ch:take(), nil)
end)

test("xf_take_zero_closes_on_first_put", function()
  local ch = csp.chan(1, xf.take(0))
  eq(ch:closed(), false)
  eq(ch:put(1), true)
  eq(ch:closed(), true)
  eq(ch:take(), nil)
end)

test("xf_take_pending_puts_succeed_when_stopped", function()
  local ch = csp.chan(1, xf.take(2))
  local base = csp.stats().pins -- the transform's functions
  local res = {}
  for i = 1, 4 do csp.go(function() res[i] = ch:put(i) end) end
  csp.step()
  eq(ch:take(), 1)
  eq(ch:take(), 2)
  eq(ch:take(), nil)
  csp.run()
  same(res, {true, true, true, true})
  eq(csp.stats().pins, base)
end)

test("xf_take_while_stops_at_first_failure", function()
  same(through(xf.take_while(function(x) return x < 3 end), {1, 2, 3, 1}), {1, 2})
end)

test("xf_drop_skips_first_n", function()
  same(through(xf.drop(2), {1, 2, 3, 4}), {3, 4})
end)

test("xf_drop_while_skips_prefix", function()
  same(through(xf.drop_while(function(x) return x < 3 end), {1, 2, 3, 1}), {3, 1})
end)

test("xf_partition_all_groups_and_flushes_on_close", function()
  local out = through(xf.partition_all(2), {1, 2, 3, 4, 5})
  eq(#out, 3)
  same(out[1], {1, 2}); same(out[2], {3, 4}); same(out[3], {5})
end)

test("xf_partition_by_groups_runs", function()
  local out = through(xf.partition_by(odd), {1, 3, 2, 4, 5})
  eq(#out, 3)
  same(out[1], {1, 3}); same(out[2], {2, 4}); same(out[3], {5})
end)

test("xf_dedupe_drops_consecutive_duplicates", function()
  same(through(xf.dedupe(), {1, 1, 2, 2, 1, 3, 3}), {1, 2, 1, 3})
end)

test("xf_distinct_drops_all_duplicates", function()
  same(through(xf.distinct(), {1, 2, 1, 3, 2, "a", "a"}), {1, 2, 3, "a"})
end)

test("xf_distinct_passes_nan", function()
  local out = through(xf.distinct(), {0 / 0, 0 / 0})
  eq(#out, 2)
end)

test("xf_comp_applies_left_to_right", function()
  local x = xf.comp(xf.map(inc), xf.filter(odd), xf.take(2))
  same(through(x, {0, 1, 2, 3, 4, 5, 6}), {1, 3})
end)

test("xf_comp_empty_is_identity", function()
  same(through(xf.comp(), {1, 2}), {1, 2})
end)

test("xf_complete_runs_once", function()
  local completes = 0
  local function counting(rf)
    return {step = rf.step, complete = function(acc) completes = completes + 1; return rf.complete(acc) end}
  end
  local ch = csp.chan(4, xf.comp(counting, xf.partition_all(3)))
  ch:put(1); ch:close()
  same(ch:take(), {1})
  eq(ch:take(), nil); eq(ch:take(), nil); eq(ch:poll(), nil)
  eq(completes, 1)
end)

test("xf_complete_waits_for_pending_puts", function()
  local ch = csp.chan(1, xf.partition_all(2))
  for i = 1, 3 do csp.go(function() ch:put(i) end) end
  csp.step()
  ch:close()
  local got = {}
  for v in ch:iter() do got[#got + 1] = #v end
  same(got, {2, 1})
end)

test("xf_fresh_state_per_channel", function()
  local x = xf.take(2)
  same(through(x, {1, 2, 3}), {1, 2})
  same(through(x, {4, 5, 6}), {4, 5})
end)

test("xf_user_transducer_works", function()
  local function twice(rf)
    return {step = function(acc, v) acc = rf.step(acc, v); if csp.is_reduced(acc) then return acc end return rf.step(acc, v) end,
            complete = rf.complete}
  end
  same(through(twice, {1, 2}), {1, 1, 2, 2})
end)

test("xf_promise_chan_with_transform_applies_it", function()
  local p = csp.promise_chan(xf.map(inc))
  eq(p:put(1), true)
  eq(p:take(), 2); eq(p:take(), 2, "every take gets the promised value")
end)

test("xf_promise_chan_with_transform_keeps_the_first_value", function()
  local p = csp.promise_chan(xf.filter(function(v) return v > 1 end))
  eq(p:put(1), true, "filtered out, still accepted")
  eq(p:poll(), nil)
  eq(p:offer(5), true); eq(p:put(7), true)
  eq(p:take(), 5)
end)

test("xf_promise_chan_with_transform_reduced_closes_it", function()
  local p = csp.promise_chan(xf.take(1))
  eq(p:put(3), true)
  eq(p:closed(), true)
  eq(p:put(4), false, "closed puts give false")
  eq(p:take(), 3)
end)

test("xf_promise_chan_with_transform_exception_handler_value", function()
  local p = csp.promise_chan(xf.map(function(v) error("boom") end),
                             function(e) return "handled" end)
  eq(p:put(1), true)
  eq(p:take(), "handled")
end)

test("xf_promise_chan_with_transform_in_alts_put", function()
  local p = csp.promise_chan(xf.map(inc))
  local v, ch = csp.alts({{p, 41}})
  eq(v, true); eq(ch, p)
  eq(p:take(), 42)
end)

test("xf_promise_chan_with_transform_put_async_and_close", function()
  local p = csp.promise_chan(xf.map(inc))
  local got
  eq(p:put_async(1, function(ok) got = ok end), true)
  eq(got, true)
  p:close()
  eq(p:take(), 2)
  eq(p:put_async(5, function(ok) got = ok end), false)
  eq(got, false)
end)

test("xf_sliding_buffer_with_transform", function()
  local ch = csp.chan(csp.sliding(2), xf.map(inc))
  for i = 1, 5 do ch:put(i) end
  eq(ch:take(), 5); eq(ch:take(), 6)
end)

test("xf_step_error_goes_to_exception_handler", function()
  local errs = {}
  local ch = csp.chan(4, xf.map(function(x)
    if x == 2 then error("bad two", 0) end
    return x
  end), function(e) errs[#errs + 1] = e; return "replaced" end)
  eq(ch:put(1), true); eq(ch:put(2), true); eq(ch:put(3), true)
  eq(ch:take(), 1); eq(ch:take(), "replaced"); eq(ch:take(), 3)
  same(errs, {"bad two"})
end)

test("xf_handler_nil_result_adds_nothing", function()
  local ch = csp.chan(4, xf.map(function(x) if x == 2 then error("e") end return x end),
                      function() return nil end)
  ch:put(1); ch:put(2); ch:put(3); ch:close()
  same(through(xf.map(function(x) return x end), {}), {})
  eq(ch:take(), 1); eq(ch:take(), 3); eq(ch:take(), nil)
end)

test("xf_handler_result_is_not_transformed", function()
  local ch = csp.chan(2, xf.map(function(x) if x == 0 then error("zero") end return x * 100 end),
                      function() return 7 end)
  ch:put(0)
  eq(ch:take(), 7)
end)

test("xf_step_error_without_handler_reports_and_drops", function()
  local reported = {}
  csp.on_error(function(e) reported[#reported + 1] = e end)
  local ch = csp.chan(4, xf.map(function(x) if x == 2 then error({code = 2}) end return x end))
  ch:put(1); ch:put(2); ch:put(3)
  eq(ch:take(), 1); eq(ch:take(), 3)
  csp.step()
  eq(#reported, 1); eq(reported[1].code, 2)
end)

test("xf_handler_error_is_reported", function()
  local reported = {}
  csp.on_error(function(e) reported[#reported + 1] = tostring(e) end)
  local ch = csp.chan(4, xf.map(function() error("step") end), function() error("handler", 0) end)
  eq(ch:put(1), true)
  csp.step()
  eq(#reported, 1); eq(reported[1], "handler")
  eq(ch:poll() == nil, true)
end)

test("xf_complete_error_goes_to_handler", function()
  local function bad_complete(rf)
    return {step = rf.step, complete = function() error("flush failed", 0) end}
  end
  local ch = csp.chan(2, bad_complete, function(e) return "handled:" .. e end)
  ch:close()
  eq(ch:take(), "handled:flush failed")
end)

test("xf_channel_op_inside_step_is_refused", function()
  local other = csp.chan(1)
  local got
  local ch = csp.chan(2, xf.map(function(x) other:offer(x); return x end),
                      function(e) got = tostring(e); return "refused" end)
  ch:put(1)
  eq(ch:take(), "refused")
  eq(got:find("not allowed inside a transform step") ~= nil, true, got)
  eq(other:count(), 0)
end)

test("xf_emit_nil_is_an_error", function()
  local got
  local ch = csp.chan(2, xf.map(function() return nil end), function(e) got = tostring(e) end)
  ch:put(1)
  eq(got:find("cannot emit nil") ~= nil, true, got)
end)

test("xf_yield_inside_step_is_an_error", function()
  local got
  local ch = csp.chan(2, xf.map(function(x) coroutine.yield() return x end),
                      function(e) got = tostring(e) return "y" end)
  local r = csp.go(function() ch:put(1); return ch:take() end)
  eq(r:take(), "y")
  eq(got:find("yield") ~= nil, true, got)
end)

test("xf_needs_buffer_raises", function()
  raises("a transform needs a buffer", csp.chan, nil, xf.map(inc))
  raises("a transform needs a buffer", csp.chan, 0, xf.map(inc))
end)

test("xf_bad_transducer_raises", function()
  raises("bad argument #2 to 'chan'", csp.chan, 1, 5)
  raises("transducer must return", csp.chan, 1, function() return 5 end)
  raises("bad argument #3 to 'chan'", csp.chan, 1, xf.map(inc), 5)
  raises("exception handler without a transform", csp.chan, 1, nil, function() end)
end)

test("xf_bad_arguments_raise", function()
  raises("bad argument #1 to 'map'", xf.map, nil)
  raises("bad argument #1 to 'filter'", xf.filter, 1)
  raises("bad argument #1 to 'take'", xf.take, -1)
  raises("bad argument #1 to 'take'", xf.take, 1.5)
  raises("bad argument #1 to 'drop'", xf.drop, "2")
  raises("bad argument #1 to 'partition_all'", xf.partition_all, 0)
  raises("bad argument #2 to 'comp'", xf.comp, xf.map(inc), 3)
end)

test("xf_emit_outside_step_raises", function()
  raises("emit outside a transform step", require("csp.core").emit, 1)
end)

test("xf_values_released_after_transform", function()
  local ch = csp.chan(8, xf.comp(xf.map(function(t) return {t[1] * 2} end), xf.partition_all(2)))
  for i = 1, 5 do ch:put({i}) end
  ch:close()
  local n = 0
  for part in ch:iter() do n = n + #part end
  eq(n, 5)
  ch = nil
  collectgarbage(); collectgarbage()
  csp.step()
  eq(csp.stats().pins, 0)
end)

T.run()
