-- test_host.lua - driving csp from a host loop: csp.step, csp.pollfd,
-- and closing the Lua state with work still pending.
local T = require("harness")
local csp = require("csp")
local test, eq, raises = T.test, T.eq, T.raises

-- Linux eventfd: "eventfd-count" in fdinfo is non-zero while readable.
local function fd_readable(fd)
  local f = io.open("/proc/self/fdinfo/" .. fd)
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  local n = s:match("eventfd%-count:%s*(%x+)")
  return n and tonumber(n, 16) > 0
end

test("host_pollfd_is_a_descriptor", function()
  local fd = csp.pollfd()
  eq(type(fd), "number")
  eq(fd >= 0, true)
end)

test("host_pollfd_readable_when_process_spawned", function()
  csp.step()
  eq(fd_readable(csp.pollfd()), false)
  csp.go(function() end)
  eq(fd_readable(csp.pollfd()), true)
  csp.step()
  eq(fd_readable(csp.pollfd()), false)
end)

test("host_pollfd_readable_when_timer_fires", function()
  local done = false
  csp.go(function() csp.sleep(5); done = true end)
  csp.step()
  eq(done, false)
  local t0 = csp.now()
  while not fd_readable(csp.pollfd()) do
    assert(csp.now() - t0 < 5000, "the descriptor never became readable")
  end
  csp.step()
  eq(done, true)
end)

test("host_pollfd_readable_after_top_level_completion", function()
  local ch = csp.chan()
  local got
  csp.go(function() got = ch:take() end)
  csp.step()
  eq(ch:offer(1), true) -- completes the parked take outside the scheduler
  eq(fd_readable(csp.pollfd()), true)
  csp.step()
  eq(got, 1)
end)

test("host_step_runs_ready_processes_and_counts_them", function()
  local n = 0
  for _ = 1, 3 do csp.go(function() n = n + 1 end) end
  eq(csp.step(), 3)
  eq(n, 3)
  eq(csp.step(), 0)
end)

test("host_step_waits_up_to_timeout", function()
  local t0 = csp.now()
  eq(csp.step(30), 0)
  local dt = csp.now() - t0
  eq(dt >= 29, true, "waited " .. dt .. " ms")
end)

test("host_step_returns_early_when_timer_fires", function()
  local done = false
  csp.go(function() csp.sleep(10); done = true end)
  csp.step()
  local t0 = csp.now()
  while not done do
    csp.step(1000)
    assert(csp.now() - t0 < 900, "step waited the full timeout")
  end
end)

test("host_step_bad_arg_raises", function()
  raises("bad argument #1 to 'step'", csp.step, "x")
end)

test("host_step_drives_processes_like_a_game_loop", function()
  local ch = csp.chan()
  local got = {}
  csp.go(function() for i = 1, 5 do ch:put(i) end ch:close() end)
  csp.go(function()
    while true do
      local v = ch:take()
      if v == nil then return end
      got[#got + 1] = v
    end
  end)
  local frames = 0
  while csp.stats().live > 0 do
    csp.step(0)
    frames = frames + 1
    assert(frames < 1000)
  end
  eq(#got, 5)
end)

test("host_version_is_the_c_library_version", function()
  eq(csp.version, "0.2.0")
end)

test("host_stats_reports_counters", function()
  local s = csp.stats()
  for _, k in ipairs({"pins", "ops", "timer_ops", "drops_queued", "chans", "live", "ready", "waiting"}) do
    eq(type(s[k]), "number", k)
  end
  local ch = csp.chan()
  csp.go(function() ch:take() end)
  csp.step()
  s = csp.stats()
  eq(s.live, 1); eq(s.ops, 1); eq(s.waiting, 1); eq(s.ready, 0)
  ch:close()
  csp.run()
end)

-- A child interpreter exits with processes parked on puts of pinned
-- values, a pending timer and buffered values: closing the state must
-- withdraw and release everything without crashing.
test("host_state_close_with_pending_work_is_clean", function()
  local i = -1
  while arg[i - 1] do i = i - 1 end
  local interp = {}
  for k = i, -1 do interp[#interp + 1] = "'" .. arg[k] .. "'" end
  local script = [[
    local csp = require("csp")
    local ch = csp.chan()
    for k = 1, 100 do csp.go(function() ch:put({k}) end) end
    csp.go(function() csp.sleep(10000) end)
    csp.go(function() csp.alts({{csp.chan(), "x" .. 1}, csp.chan()}) end)
    local b = csp.chan(5); b:put({}); b:put("s")
    csp.step()
    io.write("parked ", csp.stats().ops, "\n")
    os.exit(0, true)
  ]]
  local f = io.popen(table.concat(interp, " ") .. " -e '" .. script:gsub("'", "'\\''") .. "' 2>&1")
  local out = f:read("*a")
  local ok, how, code = f:close()
  eq(out:match("parked (%d+)"), "102", out)
  if type(ok) == "boolean" or how then eq(code == nil or code == 0, true, out) end
end)

T.run()
