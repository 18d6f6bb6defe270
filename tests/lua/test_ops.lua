-- test_ops.lua - the combinators: pipe, onto_chan, to_chan, into, reduce,
-- transduce, merge, split, mult, pub/sub, mix, pipeline*, map, take.
local T = require("harness")
local csp = require("csp")
local xf = csp.xf
local test, eq, raises, same = T.test, T.eq, T.raises, T.same

local function drain(ch)
  local out = {}
  for v in ch:iter() do out[#out + 1] = v end
  return out
end

local function sorted(t) table.sort(t); return t end

-- Run go processes until none is ready: every effect of what main did so
-- far has happened.
local function settle() while csp.step() > 0 do end end

test("pipe_copies_values_and_closes_target", function()
  local to = csp.chan(10)
  eq(csp.pipe(csp.to_chan({1, 2, 3}), to), to)
  same(drain(to), {1, 2, 3})
end)

test("pipe_close_false_keeps_target_open", function()
  local to = csp.chan(10)
  csp.pipe(csp.to_chan({1}), to, false)
  eq(to:take(), 1)
  csp.run()
  eq(to:closed(), false)
end)

test("pipe_stops_when_target_closes", function()
  local from, to = csp.chan(), csp.chan()
  csp.pipe(from, to)
  to:close()
  csp.go(function() from:put(1) end)
  csp.run()
  eq(from:offer(2), nil, "nobody reads the source any more")
end)

test("pipe_bad_args_raise", function()
  raises("bad argument #1 to 'pipe'", csp.pipe, 1, csp.chan())
  raises("bad argument #2 to 'pipe'", csp.pipe, csp.chan(), {})
end)

test("onto_chan_puts_all_and_closes", function()
  local ch = csp.chan()
  local done = csp.onto_chan(ch, {"a", "b"})
  same(drain(ch), {"a", "b"})
  eq(done:take(), nil)
end)

test("onto_chan_close_false_keeps_open", function()
  local ch = csp.chan(5)
  csp.onto_chan(ch, {1, 2}, false):take()
  eq(ch:closed(), false)
  eq(ch:count(), 2)
end)

test("onto_chan_bad_args_raise", function()
  raises("bad argument #1 to 'onto_chan'", csp.onto_chan, {}, {})
  raises("bad argument #2 to 'onto_chan'", csp.onto_chan, csp.chan(), 5)
end)

test("to_chan_of_empty_table_closes", function()
  eq(csp.to_chan({}):take(), nil)
end)

test("to_chan_bad_arg_raises", function()
  raises("bad argument #1 to 'to_chan'", csp.to_chan, "x")
end)

test("into_collects_into_table", function()
  local r = csp.into({0}, csp.to_chan({1, 2})):take()
  same(r, {0, 1, 2})
end)

test("into_bad_args_raise", function()
  raises("bad argument #1 to 'into'", csp.into, 1, csp.chan())
  raises("bad argument #2 to 'into'", csp.into, {}, 1)
end)

test("reduce_folds_values", function()
  eq(csp.reduce(function(a, v) return a + v end, 0, csp.to_chan({1, 2, 3, 4})):take(), 10)
end)

test("reduce_stops_at_reduced", function()
  local src = csp.to_chan({1, 2, 3, 4})
  local r = csp.reduce(function(a, v) if v == 3 then return csp.reduced(a) end return a + v end, 0, src)
  eq(r:take(), 3)
  eq(src:take(), 4, "the rest stays unread")
end)

test("reduce_of_empty_gives_init", function()
  eq(csp.reduce(function() end, "init", csp.to_chan({})):take(), "init")
end)

test("transduce_applies_transform_and_completion", function()
  local r = csp.transduce(xf.comp(xf.filter(function(x) return x % 2 == 0 end), xf.partition_all(2)),
                          function(acc, part) acc[#acc + 1] = #part; return acc end, {},
                          csp.to_chan({1, 2, 3, 4, 5, 6}))
  same(r:take(), {2, 1})
end)

test("merge_merges_and_closes_when_all_close", function()
  local out = csp.merge({csp.to_chan({1, 2}), csp.to_chan({3}), csp.to_chan({})})
  same(sorted(drain(out)), {1, 2, 3})
end)

test("merge_of_nothing_closes", function()
  eq(csp.merge({}):take(), nil)
end)

test("merge_keeps_draining_after_output_closes", function()
  local a = csp.chan()
  local out = csp.merge({a})
  out:close()
  for i = 1, 3 do a:put(i) end
  eq(a:put(4), true, "sources are still read")
end)

test("merge_bad_args_raise", function()
  raises("bad argument #1 to 'merge'", csp.merge, 5)
  raises("bad argument #1 to 'merge'", csp.merge, {1})
end)

test("split_routes_by_predicate", function()
  local t, f = csp.split(function(x) return x > 2 end, csp.to_chan({1, 3, 2, 4}), 10, 10)
  csp.run()
  same(drain(t), {3, 4}); same(drain(f), {1, 2})
end)

test("mult_tap_gets_every_value", function()
  local src = csp.chan()
  local m = csp.mult(src)
  local a, b = csp.chan(10), csp.chan(10)
  eq(m:tap(a), a); csp.tap(m, b)
  csp.onto_chan(src, {1, 2, 3})
  same(drain(a), {1, 2, 3}); same(drain(b), {1, 2, 3})
end)

test("mult_with_no_taps_drops_values", function()
  local src = csp.chan()
  local m = csp.mult(src)
  src:put(1); settle()
  local a = csp.chan(10)
  m:tap(a)
  src:put(2); src:close()
  same(drain(a), {2})
end)

test("mult_waits_for_every_tap", function()
  local src = csp.chan()
  local m = csp.mult(src)
  local fast, slow = csp.chan(10), csp.chan()
  m:tap(fast); m:tap(slow)
  csp.go(function() for i = 1, 3 do src:put(i) end end)
  settle()
  eq(fast:count(), 1, "the second value waits for the slow tap")
  eq(slow:take(), 1)
  settle()
  eq(fast:count(), 2)
end)

test("mult_untap_stops_delivery", function()
  local src = csp.chan()
  local m = csp.mult(src)
  local a, b = csp.chan(10), csp.chan(10)
  m:tap(a); m:tap(b)
  -- A put on src returns once the mult took the value; step lets the
  -- mult deliver it before the taps change.
  src:put(1); settle()
  m:untap(b)
  src:put(2); settle()
  csp.untap_all(m)
  src:put(3); settle()
  src:close()
  csp.run()
  eq(a:count(), 2); eq(b:count(), 1)
end)

test("mult_tap_close_flag", function()
  local src = csp.chan()
  local m = csp.mult(src)
  local closing, open = csp.chan(1), csp.chan(1)
  m:tap(closing); m:tap(open, false)
  src:close()
  csp.run()
  eq(closing:closed(), true); eq(open:closed(), false)
end)

test("mult_closed_tap_is_removed", function()
  local src = csp.chan()
  local m = csp.mult(src)
  local a, b = csp.chan(10), csp.chan(10)
  m:tap(a); m:tap(b)
  b:close()
  src:put(1); src:put(2)
  src:close()
  same(drain(a), {1, 2})
  eq(m.taps[b], nil)
end)

test("pub_routes_values_by_topic", function()
  local src = csp.chan()
  local p = csp.pub(src, function(v) return v.topic end)
  local a, b = csp.chan(10), csp.chan(10)
  p:sub("a", a); csp.sub(p, "b", b)
  csp.onto_chan(src, {{topic = "a", n = 1}, {topic = "b", n = 2}, {topic = "c", n = 3}, {topic = "a", n = 4}})
  local na = {}
  for v in a:iter() do na[#na + 1] = v.n end
  same(na, {1, 4})
  eq(b:take().n, 2); eq(b:take(), nil)
end)

test("pub_unsub_stops_delivery", function()
  local src = csp.chan()
  local p = csp.pub(src, function(v) return v % 2 end)
  local odd = csp.chan(10)
  p:sub(1, odd)
  src:put(1); settle()
  p:unsub(1, odd)
  src:put(3); src:close()
  csp.run()
  eq(odd:count(), 1)
end)

test("pub_unsub_all_removes_topics", function()
  local src = csp.chan()
  local p = csp.pub(src, function(v) return v end)
  local a, b = csp.chan(10), csp.chan(10)
  p:sub(1, a); p:sub(2, b)
  csp.unsub_all(p, 1)
  src:put(1); settle()
  src:put(2); settle()
  p:unsub_all()
  src:put(2); settle()
  src:close()
  csp.run()
  eq(a:count(), 0); eq(b:count(), 1)
end)

test("pub_buffer_fn_lets_topic_run_ahead", function()
  local src = csp.chan()
  local p = csp.pub(src, function() return "t" end, function() return 2 end)
  local stuck = csp.chan()
  p:sub("t", stuck)
  for i = 1, 4 do
    settle()
    eq(src:offer(i), true, "offer " .. i)
  end
  settle()
  eq(src:offer(5), nil, "a full topic buffer stalls the pub")
  eq(stuck:take(), 1)
end)

test("pub_bad_args_raise", function()
  raises("bad argument #1 to 'pub'", csp.pub, 1, function() end)
  raises("bad argument #1 to 'pub'", csp.pub, csp.chan(), 1)
  local p = csp.pub(csp.chan(), function() end)
  raises("bad argument #1 to 'sub'", p.sub, p, nil, csp.chan())
  raises("bad argument #2 to 'sub'", p.sub, p, "t", 3)
end)

test("mix_merges_admixed_inputs", function()
  local out = csp.chan(10)
  local m = csp.mix(out)
  local a, b = csp.chan(), csp.chan()
  m:admix(a); csp.admix(m, b)
  csp.go(function() a:put(1); b:put(2) end)
  settle()
  same(sorted({out:take(), out:take()}), {1, 2})
end)

test("mix_mute_reads_and_drops", function()
  local out = csp.chan(10)
  local m = csp.mix(out)
  local a = csp.chan()
  m:admix(a)
  m:toggle({[a] = {mute = true}})
  eq(a:put(1), true, "a muted input is still read")
  settle()
  eq(out:count(), 0)
end)

test("mix_pause_does_not_read", function()
  local out = csp.chan(10)
  local m = csp.mix(out)
  local a = csp.chan()
  m:admix(a)
  csp.toggle(m, {[a] = {pause = true}})
  settle()
  eq(a:offer(1), nil, "a paused input is not read")
  m:toggle({[a] = {pause = false}})
  settle()
  eq(a:offer(2), true)
  settle()
  eq(out:take(), 2)
end)

test("mix_solo_mutes_others", function()
  local out = csp.chan(10)
  local m = csp.mix(out)
  local a, b = csp.chan(), csp.chan()
  m:admix(a); m:admix(b)
  m:toggle({[a] = {solo = true}})
  settle()
  eq(b:put("b"), true, "others are read (solo mode mute)")
  eq(a:put("a"), true)
  settle()
  eq(out:count(), 1); eq(out:take(), "a")
end)

test("mix_solo_mode_pause_stops_reading_others", function()
  local out = csp.chan(10)
  local m = csp.mix(out)
  local a, b = csp.chan(), csp.chan()
  m:admix(a); m:admix(b)
  csp.solo_mode(m, "pause")
  m:toggle({[a] = {solo = true}})
  settle()
  eq(b:offer(1), nil)
  eq(a:put("a"), true)
  settle()
  eq(out:take(), "a")
end)

test("mix_unmix_removes_input", function()
  local out = csp.chan(10)
  local m = csp.mix(out)
  local a, b = csp.chan(), csp.chan()
  m:admix(a); m:admix(b)
  m:unmix(a)
  settle()
  eq(a:offer(1), nil)
  csp.unmix_all(m)
  settle()
  eq(b:offer(1), nil)
end)

test("mix_closed_input_is_removed_and_out_stays_open", function()
  local out = csp.chan(10)
  local m = csp.mix(out)
  local a = csp.chan()
  m:admix(a)
  settle()
  a:close()
  settle()
  eq(m.cs[a], nil)
  eq(out:closed(), false)
end)

test("mix_bad_args_raise", function()
  local m = csp.mix(csp.chan())
  raises("bad argument #1 to 'solo_mode'", m.solo_mode, m, "loud")
  raises("bad argument #1 to 'toggle'", m.toggle, m, 5)
  raises("unknown attribute", m.toggle, m, {[csp.chan()] = {loud = true}})
  raises("bad argument #1 to 'admix'", m.admix, m, 5)
  raises("bad argument #1 to 'mix'", csp.mix, 5)
end)

-- Taps, subs and mix changes after the source or output closed: a
-- deliberate difference from core.async (which leaves a late tap open for
-- ever and accepts inputs it will never read).

-- A mult of SRC whose process has ended: SRC closed, and a tap with close
-- that the process closed (after marking the mult ended) read to the end.
local function ended_mult(src)
  local m = csp.mult(src)
  local first = m:tap(csp.chan(1))
  src:close()
  eq(first:take(), nil, "the first tap is closed by the mult")
  return m
end

test("mult_tap_with_close_after_the_mult_ended_is_closed_at_once", function()
  local m = ended_mult(csp.chan())
  local late = m:tap(csp.chan(1))
  eq(late:closed(), true); eq(m.taps[late], nil)
end)

test("mult_tap_without_close_after_the_mult_ended_stays_open", function()
  local m = ended_mult(csp.chan())
  local late = m:tap(csp.chan(1), false)
  eq(late:closed(), false); eq(m.taps[late], false)
end)

-- The tap comes after 0..9 scheduler steps following the close: before
-- the mult's process saw it, or after it ended. Closed every time.
test("mult_tap_racing_the_end_of_the_mult_is_always_closed", function()
  local stop = os.clock() + 5
  local n, at_once = 0, 0
  while n < 500 and os.clock() < stop do
    local src, ch = csp.chan(), csp.chan(1)
    local m = csp.mult(src)
    src:close()
    for _ = 1, n % 10 do csp.step() end
    m:tap(ch)
    if ch:closed() then at_once = at_once + 1 end
    eq(ch:take(), nil, "the tap is closed")
    n = n + 1
  end
  assert(n >= 50, "too few iterations")
  assert(at_once > 0 and at_once < n, "both sides of the end were run")
end)

local function ended_pub(src)
  local p = csp.pub(src, function(v) return v end)
  local first = p:sub("t", csp.chan(1))
  src:close()
  eq(first:take(), nil, "the first sub is closed by its topic's mult")
  return p
end

test("pub_sub_with_close_after_the_pub_ended_is_closed_at_once", function()
  local p = ended_pub(csp.chan())
  local old, fresh = p:sub("t", csp.chan(1)), csp.sub(p, "new", csp.chan(1))
  eq(old:closed(), true); eq(fresh:closed(), true)
  eq(p.mults.new, nil, "no topic is made")
end)

test("pub_sub_without_close_after_the_pub_ended_stays_open", function()
  local p = ended_pub(csp.chan())
  local late = p:sub("t", csp.chan(1), false)
  eq(late:closed(), false)
end)

test("pub_sub_racing_the_end_of_the_pub_is_always_closed", function()
  local stop = os.clock() + 5
  local n = 0
  while n < 500 and os.clock() < stop do
    local src = csp.chan()
    local p = csp.pub(src, function(v) return v end)
    p:sub("a", csp.chan(1), false)
    src:close()
    for _ = 1, n % 10 do csp.step() end
    local ch = p:sub(n % 2 == 0 and "a" or "b", csp.chan(1))
    eq(ch:take(), nil, "the sub is closed")
    n = n + 1
  end
  assert(n >= 50, "too few iterations")
end)

test("mix_admix_after_output_closed_returns_false_and_leaves_input_alone", function()
  local out = csp.chan(10)
  local m = csp.mix(out)
  local a = csp.chan(1)
  out:close()
  local ok, msg = m:admix(a)
  eq(ok, false); eq(msg, nil)
  eq(m.done:take(), nil, "the mix's process ended")
  eq(a:put(1), true)
  eq(m.cs[a], nil); eq(a:closed(), false); eq(a:count(), 1)
end)

test("mix_toggle_after_output_closed_returns_false_and_changes_nothing", function()
  local out = csp.chan(10)
  local m = csp.mix(out)
  local a, b = csp.chan(1), csp.chan(1)
  eq(m:admix(a), true)
  out:close()
  local ok, msg = csp.toggle(m, {[a] = {solo = true}, [b] = {}})
  eq(ok, false); eq(msg, nil)
  eq(m.cs[a].solo, nil); eq(m.cs[b], nil)
  eq(a:closed(), false); eq(b:closed(), false)
end)

test("mix_admix_after_the_mix_ended_returns_false", function()
  local out = csp.chan(10)
  local m = csp.mix(out)
  local a, b = csp.chan(1), csp.chan(1)
  m:admix(a)
  eq(a:put(6), true)
  eq(out:take(), 6, "the mix reads a")
  out:close()
  eq(a:put(7), true) -- read, refused by out: the mix ends
  eq(m.done:take(), nil)
  local ok, msg = m:admix(b)
  eq(ok, false); eq(msg, nil)
  eq(b:put(8), true); settle()
  eq(b:count(), 1)
end)

test("mix_change_after_output_closed_ends_the_mix_before_it_reads_again", function()
  local out = csp.chan(10)
  local m = csp.mix(out)
  local a, b = csp.chan(1), csp.chan(1)
  m:admix(a); m:admix(b)
  out:close()
  m:unmix(b)
  eq(m.done:take(), nil)
  eq(a:put(1), true); settle()
  eq(a:count(), 1)
end)

test("pipeline_preserves_order_under_parallelism", function()
  local n = 200
  local src, out = csp.chan(), csp.chan(n)
  local vals = {}
  for i = 1, n do vals[i] = i end
  local x = 7
  csp.pipeline(8, out, xf.map(function(v)
    x = (x * 1103515245 + 12345) % 2147483648
    return v * 2
  end), src)
  csp.onto_chan(src, vals)
  local got = drain(out)
  eq(#got, n)
  for i = 1, n do eq(got[i], 2 * i) end
end)

test("pipeline_async_order_with_random_delays", function()
  local n = 40
  local src, out = csp.chan(), csp.chan(n)
  local vals = {}
  for i = 1, n do vals[i] = i end
  local x = 11
  csp.pipeline_async(6, out, function(v, res)
    x = (x * 1103515245 + 12345) % 2147483648
    local ms = x % 5
    csp.go(function() csp.sleep(ms); res:put(v); res:put(-v); res:close() end)
  end, src)
  csp.onto_chan(src, vals)
  local got = drain(out)
  eq(#got, 2 * n)
  for i = 1, n do eq(got[2 * i - 1], i); eq(got[2 * i], -i) end
end)

test("pipeline_transform_state_fresh_per_item", function()
  local out = csp.chan(20)
  csp.pipeline(2, out, xf.take(1), csp.to_chan({1, 2, 3}))
  same(drain(out), {1, 2, 3})
end)

test("pipeline_exception_handler_replaces_failed_items", function()
  local out = csp.chan(20)
  csp.pipeline(3, out, xf.map(function(v) if v == 2 then error("no two") end return v end),
               csp.to_chan({1, 2, 3}), true, function() return "failed" end)
  same(drain(out), {1, "failed", 3})
end)

test("pipeline_close_false_keeps_output_open", function()
  local out = csp.chan(5)
  local done = csp.pipeline(1, out, xf.map(function(v) return v end), csp.to_chan({1}), false)
  eq(done:take(), nil)
  eq(out:closed(), false); eq(out:take(), 1)
end)

test("pipeline_keeps_draining_input_after_output_closes", function()
  local src, out = csp.chan(), csp.chan()
  csp.pipeline(2, out, xf.map(function(v) return v end), src)
  out:close()
  for i = 1, 10 do eq(src:put(i), true) end
end)

test("pipeline_blocking_behaves_as_pipeline", function()
  local out = csp.chan(10)
  csp.pipeline_blocking(2, out, xf.mapcat(function(v) return {v, v} end), csp.to_chan({1, 2}))
  same(drain(out), {1, 1, 2, 2})
end)

test("pipeline_bad_args_raise", function()
  raises("bad argument #1 to 'pipeline'", csp.pipeline, 0, csp.chan(), xf.map(print), csp.chan())
  raises("bad argument #2 to 'pipeline'", csp.pipeline, 1, 1, xf.map(print), csp.chan())
  raises("bad argument #3 to 'pipeline_async'", csp.pipeline_async, 1, csp.chan(), 3, csp.chan())
  raises("bad argument #4 to 'pipeline_blocking'", csp.pipeline_blocking, 1, csp.chan(), xf.map(print), {})
end)

test("map_applies_f_across_channels", function()
  local out = csp.map(function(a, b) return a + b end, {csp.to_chan({1, 2, 3}), csp.to_chan({10, 20})})
  same(drain(out), {11, 22})
end)

test("map_of_no_channels_closes", function()
  eq(csp.map(function() end, {}):take(), nil)
end)

test("map_bad_args_raise", function()
  raises("bad argument #1 to 'map'", csp.map, 1, {})
  raises("bad argument #2 to 'map'", csp.map, print, {5})
end)

test("take_passes_n_values_then_closes", function()
  local src = csp.to_chan({1, 2, 3, 4})
  same(drain(csp.take(2, src)), {1, 2})
  eq(src:take(), 3)
end)

test("take_closes_early_when_source_closes", function()
  same(drain(csp.take(5, csp.to_chan({1}))), {1})
end)

test("take_bad_args_raise", function()
  raises("bad argument #1 to 'take'", csp.take, -1, csp.chan())
  raises("bad argument #2 to 'take'", csp.take, 1, {})
end)

test("put_async_and_take_async_call_back", function()
  local ch = csp.chan()
  local got, put_ok
  eq(csp.take_async(ch, function(v) got = v end), true)
  eq(csp.put_async(ch, 5, function(ok) put_ok = ok end), true)
  settle()
  eq(got, 5); eq(put_ok, true)
  ch:close()
  csp.put_async(ch, 1, function(ok) put_ok = ok end)
  eq(put_ok, false)
end)

test("put_async_and_take_async_bad_args_raise", function()
  raises("bad argument #3 to 'put_async'", csp.put_async, csp.chan(), 1, 5)
  raises("bad argument #2 to 'take_async'", csp.take_async, csp.chan())
  raises("cannot put nil", csp.put_async, csp.chan(), nil)
  raises("channel expected", csp.take_async, {}, print)
end)

test("take_async_on_closed_gives_nil", function()
  local ch = csp.chan()
  ch:close()
  local called, got = false, "unset"
  csp.take_async(ch, function(v) called = true; got = v end)
  eq(called, true); eq(got, nil)
end)

T.run()
