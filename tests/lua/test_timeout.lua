-- test_timeout.lua - timeout channels and their errors.
local T = require("harness")
local csp = require("csp")
local test, eq, raises = T.test, T.eq, T.raises

test("timeout_closes_no_earlier_than_ms", function()
  local t0 = csp.now()
  local t = csp.timeout(25)
  eq(t:take(), nil)
  local dt = csp.now() - t0
  eq(dt >= 25, true, "closed after " .. dt .. " ms")
  eq(dt < 2000, true, "closed after " .. dt .. " ms")
  eq(t:closed(), true)
end)

test("timeout_zero_closes_at_once", function()
  eq(csp.timeout(0):take(), nil)
end)

test("timeout_fractional_ms_rounds_up", function()
  local t0 = csp.now()
  csp.timeout(1.5):take()
  eq(csp.now() - t0 >= 1.5, true)
end)

test("timeout_close_raises_eperm", function()
  local t = csp.timeout(50)
  raises("EPERM", t.close, t)
end)

test("timeout_put_raises_eperm", function()
  local t = csp.timeout(50)
  raises("EPERM", t.put, t, 1)
  raises("EPERM", t.offer, t, 1)
  eq(csp.stats().pins, 0)
end)

test("timeout_poll_before_expiry_returns_nil", function()
  local r, msg = csp.timeout(1000):poll()
  eq(r, nil); eq(msg, nil)
end)

test("timeout_is_timeout_reports_kind", function()
  eq(csp.timeout(1):is_timeout(), true)
  eq(csp.chan():is_timeout(), false)
end)

test("timeout_bad_ms_raises", function()
  raises("bad argument #1", csp.timeout, "10")
  raises("bad argument #1", csp.timeout, 0 / 0)
  raises("bad argument #1", csp.timeout, 1 / 0)
  raises("bad argument #1", csp.timeout)
end)

test("timeout_many_processes_all_wake_in_order_of_deadline", function()
  local n = 2000
  local out = csp.chan(n)
  local x = 42
  for i = 1, n do
    x = (x * 1103515245 + 12345) % 2147483648
    local ms = 1 + x % 50
    csp.go(function()
      local t0 = csp.now()
      csp.sleep(ms)
      out:put(csp.now() - t0 - ms)
    end)
  end
  local late_max = 0
  for _ = 1, n do
    local late = out:take()
    eq(late >= -0.001, true, "woke early by " .. -late .. " ms")
    if late > late_max then late_max = late end
  end
  eq(late_max < 2000, true)
  eq(csp.stats().timer_ops, 0)
end)

test("timeout_main_alts_with_only_timer_does_not_deadlock", function()
  local v, ch = csp.alts({csp.chan(), csp.timeout(5)})
  eq(v, nil); eq(ch:is_timeout(), true)
end)

T.run()
