-- soak.lua - the Lua soak (`make soak`; not a ctest entry): what
-- tests/soak/soak.c does, through the Lua module.
--
--   lua5.4 tests/soak/soak.lua [--seconds N (3600)] [--values N (2000)]
--
-- Rounds until --seconds pass; each round runs these workloads at once,
-- each with its own values (integers, or tables where noted: those are
-- pinned in the registry while C holds them):
--
--   go        go producers and consumers on a buffer of 16;
--   blocking  the main script puts and then takes with blocking ops
--             (outside any go process: the module runs the scheduler
--             until the op completes) beside go producers and consumers,
--             unbuffered; table values;
--   async     put_async/take_async chains (callback ops completed on the
--             module's loop executor) on a buffer of 4; table values;
--   alts      go agents whose every alts offers a put of the next value on
--             A and B, takes from A and B and a take from a 1..4 ms
--             timeout;
--   pipeline  to_chan -> pipeline with xf.map -> into; marked, in order;
--   mult      onto_chan -> mult -> three taps: a go consumer, a take_async
--             chain, reduce;
--   pubsub    a go producer -> pub by topic (two subscribers on topic 0),
--             topics 1 and 2 merged and reduced, topic 3 read by a go
--             consumer; table values.
--
-- Checks, every round: every value arrives exactly once at every sink
-- meant to get it; the joins are a host loop (csp.step) that fails after
-- 60 s without progress; the blocking ops have no deadline in Lua: a hang
-- there is raised by the module's deadlock detection (caught: the soak
-- fails) once no timer can complete anything. Afterwards, with garbage
-- collected, the runtime's live channels, pending callback ops and timers,
-- the module's pinned values and ops, and its live and waiting go
-- processes return to their baseline; RSS stays within 10% + 8 MiB of its
-- value after the warm-up rounds (see soak.c for why).
--
-- Output as soak.c's: a line every 10 s, then
--   soak: <ops> ops in <secs> s, rounds <n>, rss start <KiB> KiB end <KiB> KiB, chans live end <n>, ops pending end <n>
-- and "soak: PASS" or "soak: FAIL <why>" (exit status 1).

local csp = require("csp")
local xf = csp.xf

local STALL_MS = 60000
local WARMUP_ROUNDS = 3
local REPORT_EVERY_MS = 10000
local RSS_SLACK_PCT, RSS_SLACK_KIB = 10, 8 * 1024
-- A value: bits 0..27 index + 1, 28..35 workload, 36..55 round (mod
-- 2^20); bit 60 is set by the pipeline's transform, above every tag bit.
local IDX_MASK = (1 << 28) - 1
local ROUND_MASK = (1 << 20) - 1
local MARK = 1 << 60

local seconds, values = 3600, 2000
do
  local i = 1
  while i <= #arg do
    if arg[i] == "--seconds" and arg[i + 1] then
      seconds = tonumber(arg[i + 1]); i = i + 2
    elseif arg[i] == "--values" and arg[i + 1] then
      values = math.tointeger(tonumber(arg[i + 1])); i = i + 2
    else
      io.stderr:write("usage: soak.lua [--seconds N] [--values N]\n")
      os.exit(2)
    end
  end
  if not seconds or seconds <= 0 or not values or values < 8 or values >= 1 << 27 then
    io.stderr:write("usage: soak.lua [--seconds N] [--values N]\n")
    os.exit(2)
  end
end

local WORKLOADS = {"go", "blocking", "async", "alts", "pipeline", "mult", "pubsub"}
local WL = {}
for k, name in ipairs(WORKLOADS) do WL[name] = k end

local ops, round, t0 = 0, 0, csp.now()
local rss_base, rss_now = 0, 0

local function rss_kib()
  local f = assert(io.open("/proc/self/status"))
  local kib = f:read("a"):match("VmRSS:%s*(%d+) kB")
  f:close()
  return tonumber(kib)
end

local function stats()
  collectgarbage("collect")
  collectgarbage("collect")
  csp.step(0)
  local s = csp.stats()
  return {chans = s.chans, csp_ops = s.csp_ops, timers = s.timers, pins = s.pins,
          ops = s.ops, live = s.live, waiting = s.waiting}
end

local function fmt_stats(s)
  return ("chans %d ops pending %d timers %d pins %d lua ops %d procs %d waiting %d"):format(
    s.chans, s.csp_ops, s.timers, s.pins, s.ops, s.live, s.waiting)
end

local function same(a, b)
  for k, v in pairs(a) do if b[k] ~= v then return false end end
  return true
end

local function summary()
  local s = stats()
  print(("soak: %d ops in %.0f s, rounds %d, rss start %d KiB end %d KiB, chans live end %d, ops pending end %d")
        :format(ops, (csp.now() - t0) / 1000, round, rss_base, rss_now, s.chans, s.csp_ops))
end

local function fail(why)
  rss_now = rss_kib()
  summary()
  print(("soak: FAIL round %d: %s"):format(round, why))
  io.stdout:flush()
  os.exit(1)
end

-- ---------------------------------------------------------------------
-- The checker: arrivals per (sink, index) of one workload in one round.

local Check = {}
Check.__index = Check

local function check(wl, sinks, wants)
  return setmetatable({wl = wl, n = values, sinks = sinks or 1, wants = wants,
                       tag = ((round & ROUND_MASK) << 36) | (WL[wl] << 28), seen = {}, errors = {}}, Check)
end

function Check:val(i) return self.tag | (i + 1) end

function Check:error(msg) self.errors[#self.errors + 1] = msg end

function Check:record(sink, v)
  local x = type(v) == "table" and v[1] or v
  if math.type(x) ~= "integer" then return self:error("not a soak value: " .. tostring(v)) end
  x = x & ~MARK
  local i = (x & IDX_MASK) - 1
  if x >> 28 ~= self.tag >> 28 or i < 0 or i >= self.n then
    return self:error(("stray value %#x at sink %d"):format(x, sink))
  end
  if self.wants and not self.wants(sink, i) then
    return self:error(("value %d misrouted to sink %d"):format(i, sink))
  end
  local k = sink * self.n + i
  if self.seen[k] then
    return self:error(("value %d delivered twice to sink %d"):format(i, sink))
  end
  self.seen[k] = true
end

function Check:judge()
  local lost, first = 0, nil
  for s = 0, self.sinks - 1 do
    for i = 0, self.n - 1 do
      if (not self.wants or self.wants(s, i)) and not self.seen[s * self.n + i] then
        lost = lost + 1
        first = first or ("%d at sink %d"):format(i, s)
      end
    end
  end
  if lost > 0 or #self.errors > 0 then
    fail(("workload %s: %d values lost (first: %s), %d errors (first: %s)"):format(
      self.wl, lost, first or "-", #self.errors, self.errors[1] or "none"))
  end
end

local function range(n, k, j) return n * j // k, n * (j + 1) // k - 1 end

-- ---------------------------------------------------------------------
-- Parties (go processes).

local function go_producer(ck, ch, lo, hi, left, boxed)
  return csp.go(function()
    local n = 0
    for i = lo, hi do
      local v = ck:val(i)
      if not ch:put(boxed and {v} or v) then
        ck:error(("go put of %d found the channel closed"):format(i))
        break
      end
      n = n + 1
    end
    left[1] = left[1] - 1
    if left[1] == 0 then ch:close() end
    ops = ops + n
  end)
end

local function go_consumer(ck, ch, sink)
  return csp.go(function()
    local n = 0
    while true do
      local v = ch:take()
      if v == nil then break end
      ck:record(sink or 0, v)
      n = n + 1
    end
    ops = ops + n + 1
  end)
end

-- A chain of callback ops that trampolines: a callback that runs at once
-- (the op completed now) returns to the loop instead of recursing.
local function take_chain(ck, ch, sink, on_end)
  local function step()
    while true do
      local sync, got, val = true, false, nil
      csp.take_async(ch, function(v)
        got, val = true, v
        if not sync then
          if v == nil then on_end() return end
          ck:record(sink, v); ops = ops + 1
          step()
        end
      end)
      sync = false
      if not got then return end
      if val == nil then on_end() return end
      ck:record(sink, val); ops = ops + 1
    end
  end
  step()
end

local function put_chain(ck, ch, lo, hi, left, boxed)
  local i = lo
  local function finished()
    left[1] = left[1] - 1
    if left[1] == 0 then ch:close() end
  end
  local function step()
    while i <= hi do
      local sync, done = true, false
      csp.put_async(ch, boxed and {ck:val(i)} or ck:val(i), function(ok)
        done = true
        if not ok then ck:error(("put_async of %d found the channel closed"):format(i)) end
        if not sync then
          i = i + 1; ops = ops + 1
          step()
        end
      end)
      sync = false
      if not done then return end
      i = i + 1; ops = ops + 1
    end
    finished()
  end
  step()
end

-- ---------------------------------------------------------------------
-- Workloads: each returns its checker, the result channels to join (with
-- what they are) and a finish function run after the joins.

local starts = {}

starts[#starts + 1] = function()
  local ck, ch, left, joins = check("go"), csp.chan(16), {3}, {}
  for j = 0, 2 do
    local lo, hi = range(ck.n, 3, j)
    joins[#joins + 1] = {"go producer", go_producer(ck, ch, lo, hi, left)}
  end
  for _ = 1, 3 do joins[#joins + 1] = {"go consumer", go_consumer(ck, ch)} end
  return ck, joins
end

-- The blocking workload's main-script part runs after every workload has
-- started (the scheduler runs them all while the main script blocks).
local blocking_main
starts[#starts + 1] = function()
  local ck, ch, left, joins = check("blocking"), csp.chan(), {3}, {}
  for j = 0, 1 do
    local lo, hi = range(ck.n, 3, j)
    joins[#joins + 1] = {"go producer", go_producer(ck, ch, lo, hi, left, true)}
  end
  for _ = 1, 2 do joins[#joins + 1] = {"go consumer", go_consumer(ck, ch)} end
  blocking_main = function()
    local lo, hi = range(ck.n, 3, 2)
    local ok, err = pcall(function()
      for i = lo, hi do
        if not ch:put({ck:val(i)}) then
          ck:error(("blocking put of %d found the channel closed"):format(i))
          break
        end
        ops = ops + 1
      end
      left[1] = left[1] - 1
      if left[1] == 0 then ch:close() end
      while true do
        local v = ch:take()
        if v == nil then break end
        ck:record(0, v); ops = ops + 1
      end
    end)
    if not ok then fail("workload blocking: " .. tostring(err)) end
  end
  return ck, joins
end

starts[#starts + 1] = function()
  local ck, ch, left = check("async"), csp.chan(4), {2}
  local ended = csp.chan(2)
  for j = 0, 1 do
    local lo, hi = range(ck.n, 2, j)
    put_chain(ck, ch, lo, hi, left, true)
  end
  for _ = 1, 2 do take_chain(ck, ch, 0, function() ended:offer(true) end) end
  -- The chains' end, as a go process the join can wait for.
  local joins = {{"async chains", csp.go(function() ended:take(); ended:take() end)}}
  return ck, joins
end

starts[#starts + 1] = function()
  local ck = check("alts")
  local a, b, taken, joins = csp.chan(), csp.chan(2), 0, {}
  for k = 0, 3 do
    local lo, hi = range(ck.n, 4, k)
    joins[#joins + 1] = {"go alts agent", csp.go(function()
      local i, n, rnd = lo, 0, round * 31 + k
      while #ck.errors == 0 and (i <= hi or taken < ck.n) do
        rnd = (rnd * 1103515245 + 12345) & 0x7fffffff
        local tmo = csp.timeout(1 + rnd % 4)
        local alts
        if i <= hi then
          local v = ck:val(i)
          alts = {{a, v}, {b, v}, a, b, tmo}
        else
          alts = {a, b, tmo}
        end
        local v, c = csp.alts(alts)
        n = n + 1
        if c ~= tmo then
          if v == true then
            i = i + 1
          elseif v == nil or v == false then
            ck:error("alts found a channel closed: " .. tostring(c))
          else
            ck:record(0, v)
            taken = taken + 1
          end
        end
      end
      ops = ops + n
    end)}
  end
  return ck, joins, function()
    if b:count() ~= 0 then ck:error(("%d values left in B"):format(b:count())) end
  end
end

starts[#starts + 1] = function()
  local ck, t = check("pipeline"), {}
  for i = 0, ck.n - 1 do t[#t + 1] = ck:val(i) end
  local to = csp.chan(8)
  csp.pipeline(4, to, xf.map(function(v) return v | MARK end), csp.to_chan(t))
  local res = csp.into({}, to)
  return ck, {{"into", res, function(got)
    for k, v in ipairs(got) do
      if v & MARK == 0 then ck:error(("value at %d bypassed the transform"):format(k)) end
      if v & IDX_MASK ~= k then ck:error(("value at %d out of order"):format(k)) end
      ck:record(0, v)
    end
    ops = ops + #got
  end}}
end

local function counter(ck, sink)
  return function(acc, v) ck:record(sink, v); return acc + 1 end
end

starts[#starts + 1] = function()
  local ck, t = check("mult", 3), {}
  local src = csp.chan(8)
  local m = csp.mult(src)
  local taps = {m:tap(csp.chan(4)), m:tap(csp.chan()), m:tap(csp.chan(1))}
  local ended = csp.chan(1)
  local joins = {{"go tap consumer", go_consumer(ck, taps[1], 0)}}
  take_chain(ck, taps[2], 1, function() ended:offer(true) end)
  joins[#joins + 1] = {"take_async tap chain", csp.go(function() ended:take() end)}
  joins[#joins + 1] = {"reduce", csp.reduce(counter(ck, 2), 0, taps[3]), function(n)
    if n ~= ck.n then ck:error(("reduce counted %s values"):format(tostring(n))) end
  end}
  for i = 0, ck.n - 1 do t[#t + 1] = ck:val(i) end
  joins[#joins + 1] = {"onto_chan", csp.onto_chan(src, t)}
  return ck, joins
end

local function pub_wants(sink, i)
  if sink == 2 then return i % 4 == 1 or i % 4 == 2 end
  return i % 4 == ({[0] = 0, 0, -1, 3})[sink]
end

starts[#starts + 1] = function()
  local ck = check("pubsub", 4, pub_wants)
  local src = csp.chan(16)
  local p = csp.pub(src, function(v) return ((v[1] & IDX_MASK) - 1) % 4 end,
                    function(topic) if topic % 2 == 0 then return 8 end return nil end)
  local subs = {}
  for k, topic in ipairs({0, 0, 1, 2, 3}) do
    subs[k] = p:sub(topic, k % 2 == 1 and csp.chan(4) or csp.chan())
  end
  local want = 0
  for i = 0, ck.n - 1 do if pub_wants(2, i) then want = want + 1 end end
  local joins = {
    {"subscriber", go_consumer(ck, subs[1], 0)},
    {"subscriber", go_consumer(ck, subs[2], 1)},
    {"subscriber", go_consumer(ck, subs[5], 3)},
    {"reduce", csp.reduce(counter(ck, 2), 0, csp.merge({subs[3], subs[4]})), function(n)
      if n ~= want then ck:error(("reduce counted %s values, want %d"):format(tostring(n), want)) end
      ops = ops + want
    end},
    {"go producer", go_producer(ck, src, 0, ck.n - 1, {1}, true)},
  }
  return ck, joins
end

-- ---------------------------------------------------------------------
-- Rounds.

-- Wait for every join's result channel (its value, if it has a FINISH, or
-- its close) in a host loop that fails after STALL_MS without progress.
local function join_all(started)
  local left = 0
  for _, s in ipairs(started) do
    for _, j in ipairs(s.joins) do
      left = left + 1
      j.state = "waiting"
      csp.take_async(j[2], function(v)
        left = left - 1
        j.state = "done"
        if j[3] then
          if v == nil then s.ck:error(j[1] .. " gave no result") else j[3](v) end
        elseif v ~= nil then
          s.ck:error(j[1] .. " returned " .. tostring(v))
        end
      end)
    end
  end
  local last = csp.now()
  while left > 0 do
    if csp.step(100) > 0 then
      last = csp.now()
    elseif csp.now() - last > STALL_MS then
      for _, s in ipairs(started) do
        for _, j in ipairs(s.joins) do
          if j.state ~= "done" then
            fail(("workload %s: %s made no progress for %d s"):format(s.ck.wl, j[1], STALL_MS // 1000))
          end
        end
      end
    end
  end
end

local function run_round()
  local started = {}
  for _, start in ipairs(starts) do
    local ck, joins, finish = start()
    started[#started + 1] = {ck = ck, joins = joins, finish = finish}
  end
  blocking_main()
  blocking_main = nil -- it holds the workload's channel
  join_all(started)
  for _, s in ipairs(started) do
    if s.finish then s.finish() end
    s.ck:judge()
  end
end

-- Wait until the counters are back at BASE: combinators' processes end
-- after the values they moved arrived, a timeout an agent stopped waiting
-- for still fires, and channels are freed by the garbage collector. Polls
-- a state with a deadline; csp.step(1) waits on the loop descriptor.
local function settle(base)
  local start = csp.now()
  while true do
    local s = stats()
    if same(base, s) then return csp.now() - start end
    if csp.now() - start > STALL_MS then
      fail(("after the round: %s (baseline %s) for %d s"):format(fmt_stats(s), fmt_stats(base), STALL_MS // 1000))
    end
    csp.step(1)
  end
end

local handler_errors = {}
csp.on_error(function(err) handler_errors[#handler_errors + 1] = tostring(err) end)
local base = stats()
rss_now = rss_kib()
print(("soak: %s, csp %s, %d values per workload per round, %d workloads, %.0f s; baseline %s, rss %d KiB")
      :format(_VERSION, tostring(csp.version), values, #starts, seconds, fmt_stats(base), rss_now))
io.stdout:flush()
local end_ms = t0 + seconds * 1000
local next_report = t0 + REPORT_EVERY_MS
local settle_max = 0
repeat
  round = round + 1
  run_round()
  if #handler_errors > 0 then fail("error in a go process or callback: " .. handler_errors[1]) end
  settle_max = math.max(settle_max, settle(base))
  rss_now = rss_kib()
  if round == WARMUP_ROUNDS then rss_base = rss_now end
  local now = csp.now()
  if now >= next_report or round == WARMUP_ROUNDS then
    print(("soak: %4.0f s round %d ops %d rss %d KiB %s settle max %.0f ms")
          :format((now - t0) / 1000, round, ops, rss_now, fmt_stats(stats()), settle_max))
    io.stdout:flush()
    while next_report <= now do next_report = next_report + REPORT_EVERY_MS end
  end
until now >= end_ms and round >= WARMUP_ROUNDS
rss_now = rss_kib()
summary()
if rss_now > rss_base + rss_base * RSS_SLACK_PCT // 100 + RSS_SLACK_KIB then
  print(("soak: FAIL rss grew from %d KiB to %d KiB (bound: %d%% + %d KiB)")
        :format(rss_base, rss_now, RSS_SLACK_PCT, RSS_SLACK_KIB))
  os.exit(1)
end
print("soak: PASS")
os.exit(0)
