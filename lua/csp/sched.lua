-- csp/sched.lua - the Lua scheduler of go processes (internal to csp).
--
-- Go processes are Lua coroutines scheduled here. A channel op first tries
-- to finish at once in C; if it must wait, C queues a callback op and
-- returns its id. Inside a go process the op yields (TOKEN, id) to the
-- scheduler; outside one it runs the scheduler until the op completes, so a
-- plain script can drive go processes. Completions reach this Lua state
-- only through core.poll, on this thread (DESIGN §8: the loop executor).
--
-- Scheduler state (all on the Lua thread):
--   ready queue  coroutines to resume, with their resume values
--   defer queue  callbacks to run (put_async/take_async, on_caller=false)
--   waiting      op id -> coroutine | box (a blocked caller) | function
--   results      coroutine -> its result channel, while it lives
-- Invariant: a coroutine is in exactly one of the ready queue, waiting,
-- a local channel's queue (csp/init.lua), or running; ids in waiting are
-- ops pending in C.
--
-- Nothing here touches a global: user coroutines that run csp ops inside a
-- go process go through S.resume / S.wrap (csp.coroutine.*), and
-- S.patch_coroutine installs them as coroutine.resume/wrap on request.

local core = require("csp.core")

local S = {}

local co_create, co_resume, co_yield, co_status =
    coroutine.create, coroutine.resume, coroutine.yield, coroutine.status
local co_close = coroutine.close
local unpack = table.unpack or unpack
local select, type, error, getmetatable, pairs, tostring, pcall =
    select, type, error, getmetatable, pairs, tostring, pcall
local floor = math.floor

local core_poll, core_kick, core_sched, core_offer, core_close, core_chan =
    core.poll, core.kick, core.sched, core.chan_methods.offer, core.chan_methods.close, core.chan
local BUF_FIXED = core.BUF_FIXED
local POLL_PLAIN, POLL_BLOCK, POLL_HOST = 0, 1, 2 -- core.poll modes

-- Raise "bad argument" at the caller of the public function that called
-- argerror (level 3: argerror, the API function, its caller).
function S.argerror(i, fname, msg)
  error(("bad argument #%d to '%s' (%s)"):format(i, fname, msg), 3)
end

function S.callable(f)
  if type(f) == "function" then return true end
  local mt = getmetatable(f)
  return type(mt) == "table" and mt.__call ~= nil
end

local TOKEN = setmetatable({}, {__tostring = function() return "csp.token" end})
local DONE = {}
local YIELD = -1

local current = nil          -- the go coroutine being resumed, or nil
local waiting = {}
local results = {}
local rq_co, rq_a, rq_b, rq_c = {}, {}, {}, {}
local rq_head, rq_tail = 1, 0
local dq_f, dq_a = {}, {}    -- deferred callbacks
local dq_head, dq_tail = 1, 0
local later = {}             -- coroutines that yielded: next round
local live = 0               -- go processes started, not finished
local in_sched = false
local woke = false           -- S.complete finished a blocked caller's op
-- ST.busy mirrors in_sched, for csp/init.lua's hot paths: while the
-- scheduler runs (always the case inside a go process) settle() has
-- nothing to do, and put/take skip the call.
-- ST.cur mirrors current (the go coroutine being resumed) for the local
-- channel path of csp/init.lua, which parks it in a channel's own queue.
local ST = {busy = false, step = false, cur = nil}
S.ST = ST
local buf = {}               -- core.poll output
local errq = {}              -- transform errors, filled by C
S.errq = errq

local function default_on_error(err, trace)
  io.stderr:write("csp: ", trace or tostring(err), "\n")
end
local on_error_fn = default_on_error

local function report(err, trace)
  local ok, e = pcall(on_error_fn, err, trace)
  if not ok then
    io.stderr:write("csp: error in the on_error handler: ", tostring(e), "\n")
  end
end
S.report = report

local function push(co, a, b, c)
  local t = rq_tail + 1
  rq_tail = t
  rq_co[t], rq_a[t], rq_b[t], rq_c[t] = co, a, b, c
  if not in_sched then core_kick() end
end
S.push = push

-- Run FN(A) from the scheduler, soon (a deferred callback). Errors go to
-- on_error.
local function defer(fn, a)
  local t = dq_tail + 1
  dq_tail = t
  dq_f[t], dq_a[t] = fn, a
  if not in_sched then core_kick() end
end
S.defer = defer

-- The result channel's offer and close: csp/init.lua's, which know its
-- local channels (S.chan_ops).
local res_offer, res_close, res_chan = core_offer, core_close, nil

local function finish(co, v)
  live = live - 1
  local res = results[co]
  results[co] = nil
  if res then
    if v ~= nil then res_offer(res, v) end
    res_close(res)
  end
end

-- A go process yields (TOKEN, id) to wait for op id in C, (TOKEN, YIELD)
-- to let others run, or (TOKEN, false) when it parked itself in a local
-- channel's queue (csp/init.lua), which pushes it when the op completes
-- (run_ready handles those inline).
-- What follows a resume of CO that did not end in a yield of TOKEN.
local function after(co, ok, tag, x)
  if ok then
    if tag == DONE then
      finish(co, x)
    else
      -- A plain coroutine.yield in a go process: let others run first.
      later[#later + 1] = co
    end
  else
    finish(co, nil)
    report(tag, debug.traceback(co, "error in go process: " .. tostring(tag)))
  end
end

local function run_deferred()
  local n = 0
  while dq_head <= dq_tail do
    local h = dq_head
    local f, a = dq_f[h], dq_a[h]
    dq_f[h], dq_a[h] = nil, nil
    dq_head = h + 1
    local ok, e = pcall(f, a)
    if not ok then report(e, "error in callback: " .. tostring(e)) end
    n = n + 1
  end
  dq_head, dq_tail = 1, 0
  return n
end

-- Resume every ready coroutine, including those made ready meanwhile.
local function run_ready()
  local n = 0
  while true do
    while rq_head <= rq_tail do
      local h = rq_head
      local co, a, b, c = rq_co[h], rq_a[h], rq_b[h], rq_c[h]
      rq_co[h], rq_a[h], rq_b[h], rq_c[h] = nil, nil, nil, nil
      rq_head = h + 1
      -- run_one(co, a, b, c), written out: this is the hot loop.
      local prev = current
      current = co
      ST.cur = co
      local ok, tag, x = co_resume(co, a, b, c)
      current = prev
      ST.cur = prev
      if ok and tag == TOKEN then
        if x then
          if x == YIELD then later[#later + 1] = co else waiting[x] = co end
        end
      else
        after(co, ok, tag, x)
      end
      n = n + 1
    end
    rq_head, rq_tail = 1, 0
    if dq_head > dq_tail then break end
    n = n + run_deferred()
  end
  if later[1] then
    local l = later
    later = {}
    for i = 1, #l do push(l[i]) end
  end
  return n
end

local function ready() return rq_head <= rq_tail or dq_head <= dq_tail end

local function flush_errq()
  local i = 1
  while errq[i] ~= nil do
    local e = errq[i]
    errq[i] = nil
    report(e, "error in transform: " .. tostring(e))
    i = i + 1
  end
  errq[0] = false
end

-- Deliver N/3 completions from buf. Their ids were recycled when C
-- delivered them, and a callback run here may issue an op that reuses one,
-- so every waiter of the batch is looked up before any runs.
local function dispatch(n)
  local ws = n > 3 and {} or nil
  if ws then
    for i = 1, n, 3 do
      local op = buf[i]
      ws[i] = waiting[op]
      waiting[op] = nil
    end
  end
  for i = 1, n, 3 do
    local op, a, b = buf[i], buf[i + 1], buf[i + 2]
    buf[i + 1], buf[i + 2] = nil, nil
    local w
    if ws then
      w = ws[i]
    else
      w = waiting[op]
      waiting[op] = nil
    end
    if w ~= nil then
      local t = type(w)
      if t == "thread" then
        push(w, a, b)
      elseif t == "table" then
        w[1], w[2], w.done = a, b, true
      else
        local ok, e = pcall(w, a, b)
        if not ok then report(e, "error in callback: " .. tostring(e)) end
      end
    end
  end
end

-- Deliver one completion that a put or take handed back at once (the fast
-- path of lcsp_push_local_done): as dispatch, except that a callback is
-- deferred, so it runs from the scheduler as it would have.
function S.complete(id, a, b)
  local w = waiting[id]
  if w == nil then return end
  waiting[id] = nil
  local t = type(w)
  if t == "thread" then
    push(w, a, b)
  elseif t == "table" then
    w[1], w[2], w.done = a, b, true
    woke = true
  elseif w then
    defer(w, a)
  end
end

-- One round: run what is ready, then collect completions, waiting for
-- them when nothing is ready (WAIT_MS). Returns false on deadlock (only in
-- MODE POLL_BLOCK).
local function round(wait_ms, mode)
  run_ready()
  -- A blocked caller completed by the fast path (S.complete) must not
  -- wait: nothing else may ever come.
  if woke or ready() then wait_ms = 0 end
  woke = false
  local n = core_poll(buf, wait_ms, mode)
  if n < 0 then return false end
  if n > 0 then dispatch(n) end
  if errq[1] ~= nil then flush_errq() end
  return true
end

local function sched_enter()
  if in_sched then return false end
  in_sched = true
  ST.busy = true
  core_sched(true)
  return true
end

local function sched_leave(entered)
  if entered then
    in_sched = false
    ST.busy = false
    core_sched(false, ready())
  end
end

-- Outside a go process: run the scheduler until op ID completes.
local function block(id)
  local box = {}
  waiting[id] = box
  local entered = sched_enter()
  while not box.done do
    if not round(-1, POLL_BLOCK) then
      waiting[id] = nil
      core.cancel(id)
      sched_leave(entered)
      error("csp: deadlock: waiting on a channel that no go process or "
            .. "timer can complete", 4)
    end
  end
  sched_leave(entered)
  return box[1], box[2]
end

-- Outside a go process (and outside the scheduler), put, take and alts
-- first let the go processes that are ready run, as threads would have
-- meanwhile: a script then sees their effects (a channel they closed)
-- before it acts. Bounded, in case processes keep yielding. Inside a go
-- process (or the scheduler) it does nothing.
function S.settle()
  if current ~= nil or in_sched then return end
  in_sched = true
  ST.busy = true
  core_sched(true)
  for _ = 1, 100 do
    round(0, POLL_PLAIN)
    if not ready() then break end
  end
  in_sched = false
  ST.busy = false
  core_sched(false, ready())
end

-- Wait for op ID: park the go process, or block a plain caller.
function S.wait(id)
  if current ~= nil then return co_yield(TOKEN, id) end
  local a, b = block(id) -- not a tail call: block's error level counts it
  return a, b
end

-- Coroutine CO (parked on a local channel that moved into C) now waits
-- for op ID in C.
function S.adopt(id, co)
  waiting[id] = co
end

-- Run FN(A, B) when op ID completes (put!/take! callbacks).
function S.on_complete(id, fn)
  waiting[id] = fn
end

function S.in_go() return current ~= nil end

-- ---------------------------------------------------------------------
-- User coroutines inside go processes: a yield of our TOKEN passes through
-- S.resume and S.wrap up to the scheduler, and the value the scheduler
-- resumes with goes back down.

local function pass(co, ok, ...)
  if ok and current ~= nil and (...) == TOKEN and co_status(co) == "suspended" then
    return pass(co, co_resume(co, co_yield(...)))
  end
  return ok, ...
end

local function resume(co, ...)
  return pass(co, co_resume(co, ...))
end

local function wrap_result(co, ok, ...)
  if ok then return ... end
  if co_close then co_close(co) end
  error((...), 0)
end

local function wrap(f)
  local co = co_create(f)
  return function(...)
    return wrap_result(co, pass(co, co_resume(co, ...)))
  end
end

S.resume, S.wrap, S.raw_resume = resume, wrap, co_resume

-- Opt-in: make the global coroutine.resume / coroutine.wrap csp-aware, for
-- code that cannot be changed to call csp.coroutine.*. Returns a function
-- that puts the originals back (only if they are still ours).
local saved
function S.patch_coroutine(co_table)
  co_table = co_table or coroutine
  if co_table.resume == resume then return saved end
  local r0, w0 = co_table.resume, co_table.wrap
  co_table.resume, co_table.wrap = resume, wrap
  saved = function()
    if co_table.resume == resume then co_table.resume = r0 end
    if co_table.wrap == wrap then co_table.wrap = w0 end
  end
  return saved
end

-- pcall that lets csp ops inside F park on Lua 5.1 (where yields cannot
-- cross pcall); plain pcall elsewhere.
if _VERSION == "Lua 5.1" and not (jit and jit.version) then
  local function pstep(co, ok, ...)
    if not ok then return false, ... end
    if co_status(co) == "dead" then return true, ... end
    return pstep(co, co_resume(co, co_yield(...)))
  end
  function S.pcall(f, ...)
    local co = co_create(f)
    return pstep(co, co_resume(co, ...))
  end
else
  S.pcall = pcall
end

-- ---------------------------------------------------------------------
-- Go processes.

local function go_body(fn, res, args)
  if args then return DONE, (fn(unpack(args, 1, args.n))) end
  return DONE, (fn())
end

-- Start FN(...) as a go process; returns its result channel.
function S.spawn(fn, ...)
  local res = res_chan and res_chan() or core_chan(BUF_FIXED, 1)
  local co = co_create(go_body)
  results[co] = res
  live = live + 1
  local n = select("#", ...)
  if n == 0 then push(co, fn, res) else push(co, fn, res, {n = n, ...}) end
  return res
end

-- S.spawn(fn) with no arguments (csp.go's common case, without varargs).
function S.spawn0(fn)
  local res = res_chan and res_chan() or core_chan(BUF_FIXED, 1)
  local co = co_create(go_body)
  results[co] = res
  live = live + 1
  push(co, fn, res)
  return res
end

-- csp/init.lua's channel maker (for result channels) and offer and close.
function S.chan_ops(mk, offer, close)
  res_chan, res_offer, res_close = mk, offer, close
end
S.TOKEN = TOKEN

function S.yield()
  if current ~= nil then
    co_yield(TOKEN, YIELD)
    return
  end
  local entered = sched_enter()
  round(0, POLL_PLAIN)
  sched_leave(entered)
end

function S.on_error(fn)
  local prev = on_error_fn
  on_error_fn = fn or default_on_error
  return prev
end

-- Host loop integration: run what is ready and deliver completions,
-- waiting up to TIMEOUT_MS when nothing is ready.
function S.step(timeout_ms)
  local entered = sched_enter()
  local n = run_ready()
  local c = core_poll(buf, (n == 0 and not ready()) and timeout_ms or 0, POLL_HOST)
  if c > 0 then dispatch(c) end
  if errq[1] ~= nil then flush_errq() end
  n = n + floor(c / 3) + run_ready()
  sched_leave(entered)
  return n
end

function S.run()
  local entered = sched_enter()
  while true do
    run_ready()
    local n
    if live == 0 and not ready() then
      -- No process left: deliver what completed meanwhile (callbacks of
      -- async ops), then stop.
      n = core_poll(buf, 0, POLL_PLAIN)
      if n == 0 and errq[1] == nil then break end
    else
      n = core_poll(buf, ready() and 0 or -1, POLL_BLOCK)
    end
    if n < 0 then
      sched_leave(entered)
      return nil, ("deadlock: %d go process(es) wait forever"):format(live), "DEADLOCK"
    end
    if n > 0 then dispatch(n) end
    if errq[1] ~= nil then flush_errq() end
  end
  sched_leave(entered)
  return true
end

function S.stats(s)
  local nw = 0
  for _ in pairs(waiting) do nw = nw + 1 end
  s.live, s.ready, s.waiting = live, rq_tail - rq_head + 1, nw
  s.deferred = dq_tail - dq_head + 1
  return s
end

return S
