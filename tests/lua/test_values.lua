-- test_values.lua - Lua values held by C are released: taken, dropped by a
-- buffer, left in a collected channel, handed back by a failed op. No pin
-- leaks, no registry growth, flat memory over 10^5 operations.
local T = require("harness")
local csp = require("csp")
local test, eq = T.test, T.eq

local function pins() return csp.stats().pins end

local function full_gc()
  collectgarbage(); collectgarbage()
  csp.step() -- releases values that collected channels dropped
end

local function registry_size()
  local n = 0
  for _ in pairs(debug.getregistry()) do n = n + 1 end
  return n
end

-- A dropping buffer is always C's (a fixed one stays in Lua while the
-- channel is local: test_local.lua), so these values are pinned.
test("values_released_after_put_and_take", function()
  local ch = csp.chan(csp.dropping(3))
  ch:put({}); ch:put(function() end); ch:put(1.5)
  eq(pins(), 3)
  ch:take(); ch:take(); ch:take()
  eq(pins(), 0)
end)

test("values_strings_travel_as_bytes_not_pinned", function()
  -- csp.h's portable byte strings: any language in the process reads them.
  local ch = csp.chan(2)
  ch:put("s"); ch:put("with\0zero")
  eq(pins(), 0)
  eq(ch:take(), "s")
  eq(ch:take(), "with\0zero")
end)

test("values_integers_and_booleans_are_not_pinned", function()
  local ch = csp.chan(4)
  ch:put(1); ch:put(-7); ch:put(true); ch:put(false)
  eq(pins(), 0)
end)

test("values_memory_flat_over_100k_put_take", function()
  local ch = csp.chan(16)
  local function round(n)
    for i = 1, n do
      ch:put({i}); ch:put("v" .. (i % 100))
      ch:take(); ch:take()
    end
  end
  round(1000)
  full_gc()
  local kb0, reg0 = collectgarbage("count"), registry_size()
  round(100000)
  full_gc()
  local kb1, reg1 = collectgarbage("count"), registry_size()
  eq(pins(), 0)
  eq(reg1, reg0, "registry entries")
  eq(kb1 - kb0 < 64, true, ("memory grew by %.1f KB"):format(kb1 - kb0))
end)

test("values_memory_flat_over_100k_go_ping_pong", function()
  local a, b = csp.chan(), csp.chan()
  local function round(n)
    csp.go(function()
      for _ = 1, n do b:put({a:take()}) end
    end)
    for i = 1, n do a:put("x" .. i); b:take() end
  end
  round(1000)
  full_gc()
  local kb0 = collectgarbage("count")
  round(100000)
  full_gc()
  local kb1 = collectgarbage("count")
  eq(pins(), 0)
  eq(csp.stats().ops, 0)
  eq(kb1 - kb0 < 64, true, ("memory grew by %.1f KB"):format(kb1 - kb0))
end)

test("values_dropping_buffer_releases_dropped", function()
  local ch = csp.chan(csp.dropping(1))
  for i = 1, 10 do ch:put({i}) end
  csp.step()
  eq(pins(), 1)
  eq(ch:take()[1], 1)
  eq(pins(), 0)
end)

test("values_sliding_buffer_releases_evicted", function()
  local ch = csp.chan(csp.sliding(2))
  for i = 1, 10 do ch:put({i}) end
  csp.step()
  eq(pins(), 2)
  eq(ch:take()[1], 9)
end)

test("values_collected_channel_releases_buffered", function()
  local ch = csp.chan(csp.dropping(10))
  for i = 1, 10 do ch:put({i}) end
  eq(pins(), 10)
  ch = nil
  full_gc()
  eq(pins(), 0)
end)

test("values_promise_extra_puts_released", function()
  local p = csp.promise_chan()
  p:put({1}); p:put({2}); p:put({3})
  csp.step()
  eq(pins(), 1, "only the promised value is held")
  eq(p:take()[1], 1)
  eq(pins(), 1, "takers borrow the promised value")
  p = nil
  full_gc()
  eq(pins(), 0)
end)

test("values_failed_put_hands_value_back", function()
  local ch = csp.chan(1)
  ch:put(1)
  ch:offer({})
  ch:close()
  ch:put({})
  eq(pins(), 0)
end)

test("values_losing_alts_put_released_after_timeout", function()
  local v, c = csp.alts({{csp.chan(), {"big"}}, csp.timeout(5)})
  eq(v, nil); eq(c:is_timeout(), true)
  eq(pins(), 0)
end)

test("values_channels_are_freed", function()
  full_gc()
  local c0 = csp.stats().chans
  for _ = 1, 1000 do
    local ch = csp.chan(2)
    ch:put({}); ch:close()
  end
  full_gc()
  eq(csp.stats().chans, c0)
  eq(pins(), 0)
end)

test("values_pending_op_records_are_recycled", function()
  local ch = csp.chan()
  for _ = 1, 1000 do
    csp.go(function() ch:put({}) end)
    ch:take()
  end
  csp.run()
  local s = csp.stats()
  eq(s.ops, 0); eq(s.pins, 0); eq(s.waiting, 0)
end)

T.run()
