-- bench.lua - W1, W2 and W6 of bench/anchors/SPEC.md for the Lua binding,
-- each beside a plain-coroutine baseline in the same run.
--
--   lua5.4 bench/lua/bench.lua [scale] [W1|W2|W6 ...] [--system csp|coroutine]
--
-- (LUA_PATH/LUA_CPATH from the build's lua-env.sh.) Every (workload,
-- system) pair runs in a child process of the same interpreter,
-- alternating systems, so GC state and peak RSS are the pair's own. Each
-- prints the uniform line of SPEC.md under a "# system:" line:
--
--   # system: csp (Lua 5.4)
--   W1 pingpong: 2345.6 ns/round-trip
--   # system: coroutine (Lua 5.4)
--   W1 pingpong: 345.6 ns/round-trip
--
-- "csp" is require("csp"): go processes, csp channels. "coroutine" is the
-- same workload on a minimal pure-Lua scheduler with pure-Lua channels
-- (below): what a Lua program would do without csp. Every workload checks
-- its result and exits non-zero if it is wrong.

local unpack = table.unpack or unpack

local function now_ms()
  local ok, csp = pcall(require, "csp")
  if ok then return csp.now() end
  return os.clock() * 1000
end

local function vm_kb(field)
  local f = io.open("/proc/self/status")
  if not f then return 0 end
  local s = f:read("*a")
  f:close()
  return tonumber(s:match(field .. ":%s*(%d+)")) or 0
end

-- ---------------------------------------------------------------------
-- The baseline: coroutines, a FIFO ready queue, channels with a buffer
-- and queues of parked putters and takers.

local function baseline()
  local ready, head, tail = {}, 1, 0
  local function push(co, v)
    tail = tail + 1
    ready[tail] = co
    ready[-tail] = v
  end
  local Chan = {}
  Chan.__index = Chan
  local function chan(cap)
    return setmetatable({cap = cap or 0, buf = {}, bh = 1, bt = 0,
                         puts = {}, ph = 1, pt = 0, takes = {}, th = 1, tt = 0}, Chan)
  end
  function Chan:put(v)
    if self.th <= self.tt then -- a parked taker: hand over
      local co = self.takes[self.th]
      self.takes[self.th] = nil
      self.th = self.th + 1
      push(co, v)
      return true
    end
    if self.bt - self.bh + 1 < self.cap then
      self.bt = self.bt + 1
      self.buf[self.bt] = v
      return true
    end
    self.pt = self.pt + 1
    self.puts[self.pt] = {coroutine.running(), v}
    return coroutine.yield()
  end
  function Chan:take()
    if self.bh <= self.bt then
      local v = self.buf[self.bh]
      self.buf[self.bh] = nil
      self.bh = self.bh + 1
      if self.ph <= self.pt then -- room now: move a parked put in
        local p = self.puts[self.ph]
        self.puts[self.ph] = nil
        self.ph = self.ph + 1
        self.bt = self.bt + 1
        self.buf[self.bt] = p[2]
        push(p[1], true)
      end
      return v
    end
    if self.ph <= self.pt then
      local p = self.puts[self.ph]
      self.puts[self.ph] = nil
      self.ph = self.ph + 1
      push(p[1], true)
      return p[2]
    end
    self.tt = self.tt + 1
    self.takes[self.tt] = coroutine.running()
    return coroutine.yield()
  end
  local function go(f) push(coroutine.create(f)) end
  local function run()
    while head <= tail do
      local co, v = ready[head], ready[-head]
      ready[head], ready[-head] = nil, nil
      head = head + 1
      assert(coroutine.resume(co, v))
    end
    head, tail = 1, 0
  end
  -- Main is a process too: run it as one and drive until it finishes.
  local function main(f)
    local result
    go(function() result = f() end)
    run()
    return result
  end
  return {chan = chan, go = go, main = main}
end

-- The csp side, with the same shape.
local function cspsys()
  local csp = require("csp")
  return {chan = csp.chan, go = csp.go,
          main = function(f) return csp.go(f):take() end}
end

-- ---------------------------------------------------------------------
-- Workloads. Each returns the figure(s) to print.

local W = {}

-- W1: a value goes A -> B and back, N round trips; timed after spawning.
function W.W1(sys, n)
  local ab, ba = sys.chan(), sys.chan()
  local t0
  local r = sys.main(function()
    sys.go(function()
      for _ = 1, n do ba:put(ab:take() + 1) end
    end)
    t0 = now_ms()
    local v = 0
    for _ = 1, n do
      ab:put(v)
      v = ba:take()
    end
    return v
  end)
  local dt = now_ms() - t0
  assert(r == n, "W1: wrong result")
  return ("W1 pingpong: %.1f ns/round-trip"):format(dt * 1e6 / n)
end

-- W2: one producer puts N integers into a channel of capacity 1024, one
-- consumer takes them all.
function W.W2(sys, n)
  local t0 = now_ms()
  local sum = sys.main(function()
    local ch = sys.chan(1024)
    sys.go(function() for i = 1, n do ch:put(i) end end)
    local s = 0
    for _ = 1, n do s = s + ch:take() end
    return s
  end)
  local dt = now_ms() - t0
  assert(sum == n * (n + 1) / 2, "W2: wrong sum")
  return ("W2 spsc-buffered: %.1f ns/msg"):format(dt * 1e6 / n)
end

-- W6: N+1 unbuffered channels and N processes, process i takes v from
-- c[i] and puts v+1 on c[i+1]; main puts 0 on c[0] and takes from c[N].
function W.W6(sys, n)
  collectgarbage()
  local rss0 = vm_kb("VmRSS")
  local t0 = now_ms()
  local r = sys.main(function()
    local first = sys.chan()
    local left = first
    for _ = 1, n do
      local right = sys.chan()
      local l, rr = left, right
      sys.go(function() rr:put(l:take() + 1) end)
      left = right
    end
    first:put(0)
    return left:take()
  end)
  local dt = now_ms() - t0
  assert(r == n, "W6: wrong result")
  local hwm = vm_kb("VmHWM")
  return ("W6 spawn: %.1f ns/process %d B/process (peak RSS delta)"):format(
    dt * 1e6 / n, math.floor((hwm - rss0) * 1024 / n))
end

local N = {W1 = 1000000, W2 = 10000000, W6 = 1000000}

-- ---------------------------------------------------------------------
-- Command line.

local scale, names, system = 1.0, {}, nil
local i = 1
while arg[i] do
  local a = arg[i]
  if a == "--system" then
    system = arg[i + 1]
    i = i + 1
  elseif W[a] then
    names[#names + 1] = a
  elseif tonumber(a) then
    scale = tonumber(a)
  else
    io.stderr:write("usage: bench.lua [scale] [W1|W2|W6 ...] [--system csp|coroutine]\n")
    os.exit(2)
  end
  i = i + 1
end
if #names == 0 then names = {"W1", "W2", "W6"} end

local version = type(jit) == "table" and jit.version or _VERSION

if system then
  -- Child: one system, the named workloads.
  local sys = system == "csp" and cspsys() or baseline()
  for _, name in ipairs(names) do
    print(W[name](sys, math.max(1, math.floor(N[name] * scale))))
    io.stdout:flush()
  end
  os.exit(0)
end

-- Parent: every workload on both systems, alternating, one child each.
local k = -1
while arg[k - 1] do k = k - 1 end
local argv = {}
for j = k, 0 do argv[#argv + 1] = "'" .. arg[j]:gsub("'", "'\\''") .. "'" end
local cmd0 = table.concat(argv, " ")
print(("# bench/lua: %s, scale %g"):format(version, scale))
local failed = false
for _, name in ipairs(names) do
  for _, s in ipairs({"csp", "coroutine"}) do
    local p = io.popen(("%s %g %s --system %s"):format(cmd0, scale, name, s))
    local out = p:read("*a")
    local ok = p:close()
    print(("# system: %s (%s)"):format(s, version))
    io.write(out)
    if ok == false or not out:match("^W%d") then failed = true end
  end
end
os.exit(failed and 1 or 0)
