-- csp.lua - Clojure core.async's channels, alts and go processes for Lua,
-- over the csp C runtime (module csp.core).
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
--   waiting      op id -> coroutine | box (a blocked caller) | function
--   results      coroutine -> its result channel, while it lives
-- Invariant: a coroutine is in exactly one of the ready queue, waiting, or
-- running; ids in waiting are ops pending in C.

local core = require("csp.core")

local csp = {}

local co_create, co_resume, co_yield, co_status =
    coroutine.create, coroutine.resume, coroutine.yield, coroutine.status
local co_close = coroutine.close
local unpack = table.unpack or unpack
local select, type, error, setmetatable, getmetatable, pairs, tostring =
    select, type, error, setmetatable, getmetatable, pairs, tostring
local floor = math.floor

local core_put, core_take, core_alts, core_poll = core.put, core.take, core.alts, core.poll
local core_chan, core_chan_xf, core_timeout = core.chan, core.chan_xf, core.timeout
local core_kick, core_sched, core_strerror, core_emit = core.kick, core.sched, core.strerror, core.emit
local M = core.chan_methods
local core_offer, core_close, core_poll_chan = M.offer, M.close, M.poll
local core_closed = M.closed

local BUF_NONE, BUF_FIXED, BUF_DROPPING, BUF_SLIDING, BUF_PROMISE =
    core.BUF_NONE, core.BUF_FIXED, core.BUF_DROPPING, core.BUF_SLIDING, core.BUF_PROMISE
local ECLOSED, ECANCELED = -3, -6
local POLL_PLAIN, POLL_BLOCK, POLL_HOST = 0, 1, 2 -- core.poll modes

csp.version = core.version()

local function argerror(i, fname, msg)
  error(("bad argument #%d to '%s' (%s)"):format(i, fname, msg), 3)
end

local function callable(f)
  if type(f) == "function" then return true end
  local mt = getmetatable(f)
  return type(mt) == "table" and mt.__call ~= nil
end

-- ---------------------------------------------------------------------
-- Scheduler.

local TOKEN = setmetatable({}, {__tostring = function() return "csp.token" end})
local DONE = {}
local YIELD = -1

local current = nil          -- the go coroutine being resumed, or nil
local waiting = {}
local results = {}
local rq_co, rq_a, rq_b, rq_c = {}, {}, {}, {}
local rq_head, rq_tail = 1, 0
local later = {}             -- coroutines that yielded: next round
local live = 0               -- go processes started, not finished
local in_sched = false
local buf = {}               -- core.poll output
local errq = {}              -- transform errors, filled by C

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

local function push(co, a, b, c)
  local t = rq_tail + 1
  rq_tail = t
  rq_co[t], rq_a[t], rq_b[t], rq_c[t] = co, a, b, c
  if not in_sched then core_kick() end
end

local function finish(co, v)
  live = live - 1
  local res = results[co]
  results[co] = nil
  if res then
    if v ~= nil then core_offer(res, v) end
    core_close(res)
  end
end

local function run_one(co, a, b, c)
  local prev = current
  current = co
  local ok, tag, x = co_resume(co, a, b, c)
  current = prev
  if ok then
    if tag == TOKEN then
      if x == YIELD then later[#later + 1] = co else waiting[x] = co end
    elseif tag == DONE then
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

-- Resume every ready coroutine, including those made ready meanwhile.
local function run_ready()
  local n = 0
  while rq_head <= rq_tail do
    local h = rq_head
    local co, a, b, c = rq_co[h], rq_a[h], rq_b[h], rq_c[h]
    rq_co[h], rq_a[h], rq_b[h], rq_c[h] = nil, nil, nil, nil
    rq_head = h + 1
    run_one(co, a, b, c)
    n = n + 1
  end
  rq_head, rq_tail = 1, 0
  if later[1] then
    local l = later
    later = {}
    for i = 1, #l do push(l[i]) end
  end
  return n
end

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

-- One round: run what is ready, then collect completions, waiting for
-- them when nothing is ready (WAIT_MS). Returns false on deadlock (only in
-- MODE POLL_BLOCK).
local function round(wait_ms, mode)
  run_ready()
  if rq_head <= rq_tail then wait_ms = 0 end
  local n = core_poll(buf, wait_ms, mode)
  if n < 0 then return false end
  if n > 0 then dispatch(n) end
  if errq[1] ~= nil then flush_errq() end
  return true
end

local function sched_enter()
  if in_sched then return false end
  in_sched = true
  core_sched(true)
  return true
end

local function sched_leave(entered)
  if entered then
    in_sched = false
    core_sched(false, rq_head <= rq_tail)
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
            .. "timer can complete", 3)
    end
  end
  sched_leave(entered)
  return box[1], box[2]
end

-- Outside a go process (and outside the scheduler), put, take and alts
-- first let the go processes that are ready run, as threads would have
-- meanwhile: a script then sees their effects (a channel they closed)
-- before it acts. Bounded, in case processes keep yielding.
local function settle()
  if in_sched then return end
  in_sched = true
  core_sched(true)
  for _ = 1, 100 do
    round(0, POLL_PLAIN)
    if rq_head > rq_tail then break end
  end
  in_sched = false
  core_sched(false, rq_head <= rq_tail)
end

-- Wait for op ID: park the go process, or block a plain caller.
local function wait(id)
  if current ~= nil then return co_yield(TOKEN, id) end
  return block(id)
end

-- Run FN(A, B) when op ID completes (put!/take! callbacks).
local function on_complete(id, fn)
  waiting[id] = fn
end

-- ---------------------------------------------------------------------
-- User coroutines inside go processes: a yield of our TOKEN passes through
-- coroutine.resume and coroutine.wrap up to the scheduler, and the value
-- the scheduler resumes with goes back down.

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

coroutine.resume = resume
coroutine.wrap = wrap
csp.coroutine = {resume = resume, wrap = wrap, raw_resume = co_resume}

-- pcall that lets csp ops inside F park on Lua 5.1 (where yields cannot
-- cross pcall); plain pcall elsewhere.
if _VERSION == "Lua 5.1" and not (jit and jit.version) then
  local function pstep(co, ok, ...)
    if not ok then return false, ... end
    if co_status(co) == "dead" then return true, ... end
    return pstep(co, co_resume(co, co_yield(...)))
  end
  function csp.pcall(f, ...)
    local co = co_create(f)
    return pstep(co, co_resume(co, ...))
  end
else
  csp.pcall = pcall
end

-- ---------------------------------------------------------------------
-- Buffers and channels.

local Buffer = {}
Buffer.__index = Buffer

local function check_size(n, fname)
  if type(n) ~= "number" or n ~= floor(n) or n < 1 or n > core.CAP_MAX then
    argerror(1, fname, "buffer size must be an integer from 1 to "
             .. tostring(core.CAP_MAX))
  end
  return n
end

function csp.buffer(n) return setmetatable({kind = BUF_FIXED, n = check_size(n, "buffer")}, Buffer) end
function csp.dropping(n) return setmetatable({kind = BUF_DROPPING, n = check_size(n, "dropping")}, Buffer) end
function csp.sliding(n) return setmetatable({kind = BUF_SLIDING, n = check_size(n, "sliding")}, Buffer) end

local function parse_buf(b, fname, i)
  if b == nil then return BUF_NONE, 0 end
  if type(b) == "number" then
    if b ~= floor(b) or b < 0 or b > core.CAP_MAX then
      argerror(i, fname, "buffer size must be an integer from 0 to "
               .. tostring(core.CAP_MAX))
    end
    if b == 0 then return BUF_NONE, 0 end
    return BUF_FIXED, b
  end
  if getmetatable(b) == Buffer then return b.kind, b.n end
  argerror(i, fname, "buffer size or csp.buffer/dropping/sliding expected, got " .. type(b))
end

local Reduced = {}
local function reduced(x) return setmetatable({x}, Reduced) end
local function is_reduced(x) return getmetatable(x) == Reduced end
local function unreduced(x) if getmetatable(x) == Reduced then return x[1] end return x end
local function ensure_reduced(x) if getmetatable(x) == Reduced then return x end return reduced(x) end
csp.reduced, csp.is_reduced = reduced, is_reduced

core.setup(Reduced, errq)

-- The reducing function at the bottom of every channel transform: emit
-- into the channel's buffer.
local BOTTOM = {
  step = function(acc, v)
    if core_emit(v) then return reduced(acc) end
    return acc
  end,
  complete = function(acc) return acc end,
}

local function make_chan(kind, n, xf, exh, fname)
  if xf == nil then
    if exh ~= nil then argerror(3, fname, "exception handler without a transform") end
    return core_chan(kind, n)
  end
  if not callable(xf) then argerror(2, fname, "transducer (function) expected") end
  if kind == BUF_NONE then argerror(1, fname, "a transform needs a buffer") end
  if kind == BUF_PROMISE then
    -- csp_chan_new_xf refuses CSP_BUF_PROMISE (core.async allows it).
    argerror(1, fname, "a promise channel cannot have a transform")
  end
  if exh ~= nil and not callable(exh) then argerror(3, fname, "function expected") end
  local rf = xf(BOTTOM)
  if type(rf) ~= "table" or not callable(rf.step) then
    error(fname .. ": a transducer must return {step = fn, complete = fn}", 3)
  end
  local complete = rf.complete or BOTTOM.complete
  local step = rf.step
  if type(step) ~= "function" then local s = step; step = function(a, v) return s(a, v) end end
  if type(complete) ~= "function" then local c = complete; complete = function(a) return c(a) end end
  local wrapped_exh = exh
  if exh ~= nil and type(exh) ~= "function" then wrapped_exh = function(e) return exh(e) end end
  return core_chan_xf(kind, n, step, complete, wrapped_exh)
end

-- csp.chan([n | buffer [, xform [, ex_handler]]])
function csp.chan(b, xf, exh)
  local kind, n = parse_buf(b, "chan", 1)
  return make_chan(kind, n, xf, exh, "chan")
end

-- csp.promise_chan([xform [, ex_handler]])
function csp.promise_chan(xf, exh)
  return make_chan(BUF_PROMISE, 0, xf, exh, "promise_chan")
end

csp.timeout = core_timeout
csp.is_chan = core.is_chan
-- Crossing to C (docs/embedding.md): csp.wrap(lightuserdata [, promise])
-- makes a channel of a csp_chan * a C host gave (taking a reference of
-- its own); ch:handle() gives C this channel's csp_chan * (borrowed);
-- csp.runtime() the csp_rt * this state uses.
csp.wrap = core.wrap
csp.runtime = core.runtime

-- ---------------------------------------------------------------------
-- Channel operations (methods of every channel).

local function put(ch, v)
  if current == nil then settle() end
  local r, x, name = core_put(ch, v)
  if r == false then
    local a, rc = wait(x)
    if a then return true end
    return nil, core_strerror(rc or ECANCELED)
  end
  return r, x, name
end

local function take(ch)
  if current == nil then settle() end
  local v, x, name = core_take(ch)
  if x == nil then return v end
  if name == nil then return (wait(x)) end
  return v, x, name
end

M.put = put
M.take = take
function M.iter(ch) return take, ch end

-- put!/take!: never wait; FN (optional) gets the result, at once if the op
-- completes now, otherwise from the scheduler. Callbacks must not block.
function csp.put_async(ch, v, fn)
  if fn ~= nil and not callable(fn) then argerror(3, "put_async", "function expected") end
  local r, x, name = core_put(ch, v)
  if r == false then
    on_complete(x, function(a) if fn then fn(a and true or false) end end)
    return true
  end
  if fn then fn(r and true or false) end
  return r, x, name
end

function csp.take_async(ch, fn)
  if not callable(fn) then argerror(2, "take_async", "function expected") end
  local v, x, name = core_take(ch)
  if x == nil then fn(v) return true end
  if name == nil then on_complete(x, fn) return true end
  return nil, x, name
end

-- csp.alts(ops, {priority = bool, default = value}) -> value, chan
-- A put that committed gives true (false if its channel was closed); a
-- take gives the value (nil if closed). With a default and nothing ready:
-- default, "default".
function csp.alts(ops, opts)
  local flags, dflt = 0, nil
  if type(ops) ~= "table" then argerror(1, "alts", "table of operations expected") end
  if opts ~= nil then
    if type(opts) ~= "table" then argerror(2, "alts", "options table expected") end
    if opts.priority then flags = flags + core.ALTS_PRIORITY end
    dflt = opts.default
    if dflt ~= nil then flags = flags + core.ALTS_DEFAULT end
  end
  if current == nil then settle() end
  local i, a, name = core_alts(ops, flags)
  if i == false then
    a, i = wait(a)
    if i == 0 then return nil, core_strerror(ECANCELED) end
  elseif i == 0 then
    return dflt, "default"
  elseif i == nil then
    return nil, a, name
  end
  local e = ops[i]
  if type(e) == "table" then e = e[1] end
  return a, e
end

-- ---------------------------------------------------------------------
-- Go processes.

local function go_body(fn, res, args)
  if args then return DONE, (fn(unpack(args, 1, args.n))) end
  return DONE, (fn())
end

-- csp.go(fn, ...) -> result channel: gets fn's first result (if not nil),
-- then closes; closes without a value if fn fails.
function csp.go(fn, ...)
  if not callable(fn) then argerror(1, "go", "function expected") end
  local res = core_chan(BUF_FIXED, 1)
  local co = co_create(go_body)
  results[co] = res
  live = live + 1
  local n = select("#", ...)
  if n == 0 then push(co, fn, res) else push(co, fn, res, {n = n, ...}) end
  return res
end

function csp.sleep(ms)
  if type(ms) ~= "number" or not (ms >= 0) then argerror(1, "sleep", "milliseconds expected") end
  take(core_timeout(ms))
end

-- Let the other ready go processes run (inside a go process); outside
-- one, run one scheduler round without waiting.
function csp.yield()
  if current ~= nil then
    co_yield(TOKEN, YIELD)
    return
  end
  local entered = sched_enter()
  round(0, POLL_PLAIN)
  sched_leave(entered)
end

function csp.in_go() return current ~= nil end

function csp.on_error(fn)
  if fn ~= nil and not callable(fn) then argerror(1, "on_error", "function expected") end
  local prev = on_error_fn
  on_error_fn = fn or default_on_error
  return prev
end

-- Host loop integration: run what is ready and deliver completions,
-- waiting up to TIMEOUT_MS (default 0) when nothing is ready. Returns how
-- much happened: go process resumptions plus completions delivered (0:
-- nothing to do). The pollfd descriptor is readable whenever there is
-- work for step.
function csp.step(timeout_ms)
  if timeout_ms == nil then timeout_ms = 0 end
  if type(timeout_ms) ~= "number" then argerror(1, "step", "milliseconds expected") end
  local entered = sched_enter()
  local n = run_ready()
  local c = core_poll(buf, (n == 0 and rq_head > rq_tail) and timeout_ms or 0, POLL_HOST)
  if c > 0 then dispatch(c) end
  if errq[1] ~= nil then flush_errq() end
  n = n + floor(c / 3) + run_ready()
  sched_leave(entered)
  return n
end

-- Run until every go process has finished. Returns true, or nil, message,
-- "DEADLOCK" when the remaining ones wait on what nothing can complete.
function csp.run()
  local entered = sched_enter()
  while true do
    run_ready()
    if live == 0 and rq_head > rq_tail then break end
    local n = core_poll(buf, rq_head <= rq_tail and 0 or -1, POLL_BLOCK)
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

csp.pollfd = core.pollfd
csp.now = core.now

function csp.stats()
  local s = core.stats()
  local nw = 0
  for _ in pairs(waiting) do nw = nw + 1 end
  s.live, s.ready, s.waiting = live, rq_tail - rq_head + 1, nw
  return s
end

-- ---------------------------------------------------------------------
-- Transducers: function(rf) -> rf, where rf = {step = fn(acc, v) -> acc,
-- complete = fn(acc) -> acc}; a step stops everything by returning
-- csp.reduced(acc). Fresh state per channel.

local xf = {}
csp.xf = xf

local function check_fn(f, fname)
  if not callable(f) then argerror(1, fname, "function expected") end
end

local function check_count(n, fname, min)
  if type(n) ~= "number" or n ~= floor(n) or n < min then
    argerror(1, fname, "integer >= " .. min .. " expected")
  end
end

function xf.map(f)
  check_fn(f, "map")
  return function(rf)
    local step = rf.step
    return {step = function(acc, v) return step(acc, f(v)) end, complete = rf.complete}
  end
end

function xf.filter(pred)
  check_fn(pred, "filter")
  return function(rf)
    local step = rf.step
    return {step = function(acc, v) if pred(v) then return step(acc, v) end return acc end,
            complete = rf.complete}
  end
end

function xf.remove(pred)
  check_fn(pred, "remove")
  return function(rf)
    local step = rf.step
    return {step = function(acc, v) if pred(v) then return acc end return step(acc, v) end,
            complete = rf.complete}
  end
end

function xf.keep(f)
  check_fn(f, "keep")
  return function(rf)
    local step = rf.step
    return {step = function(acc, v)
              local r = f(v)
              if r == nil then return acc end
              return step(acc, r)
            end, complete = rf.complete}
  end
end

function xf.mapcat(f)
  check_fn(f, "mapcat")
  return function(rf)
    local step = rf.step
    return {step = function(acc, v)
              local t = f(v)
              for i = 1, #t do
                acc = step(acc, t[i])
                if is_reduced(acc) then return acc end
              end
              return acc
            end, complete = rf.complete}
  end
end

function xf.take(n)
  check_count(n, "take", 0)
  return function(rf)
    local step, left = rf.step, n
    return {step = function(acc, v)
              local cur = left
              left = cur - 1
              if cur > 0 then acc = step(acc, v) end
              if left <= 0 then return ensure_reduced(acc) end
              return acc
            end, complete = rf.complete}
  end
end

function xf.take_while(pred)
  check_fn(pred, "take_while")
  return function(rf)
    local step = rf.step
    return {step = function(acc, v)
              if pred(v) then return step(acc, v) end
              return reduced(acc)
            end, complete = rf.complete}
  end
end

function xf.drop(n)
  check_count(n, "drop", 0)
  return function(rf)
    local step, left = rf.step, n
    return {step = function(acc, v)
              local cur = left
              left = cur - 1
              if cur > 0 then return acc end
              return step(acc, v)
            end, complete = rf.complete}
  end
end

function xf.drop_while(pred)
  check_fn(pred, "drop_while")
  return function(rf)
    local step, dropping = rf.step, true
    return {step = function(acc, v)
              if dropping and pred(v) then return acc end
              dropping = false
              return step(acc, v)
            end, complete = rf.complete}
  end
end

function xf.partition_all(n)
  check_count(n, "partition_all", 1)
  return function(rf)
    local step, complete, part = rf.step, rf.complete, {}
    return {step = function(acc, v)
              part[#part + 1] = v
              if #part == n then
                local p = part
                part = {}
                return step(acc, p)
              end
              return acc
            end,
            complete = function(acc)
              if #part > 0 then
                local p = part
                part = {}
                acc = unreduced(step(acc, p))
              end
              return complete(acc)
            end}
  end
end

local NONE = {}

function xf.partition_by(f)
  check_fn(f, "partition_by")
  return function(rf)
    local step, complete, part, pk = rf.step, rf.complete, {}, NONE
    return {step = function(acc, v)
              local k = f(v)
              local prev = pk
              pk = k
              if prev == NONE or k == prev then
                part[#part + 1] = v
                return acc
              end
              local p = part
              part = {}
              local r = step(acc, p)
              if not is_reduced(r) then part[1] = v end
              return r
            end,
            complete = function(acc)
              if #part > 0 then
                local p = part
                part = {}
                acc = unreduced(step(acc, p))
              end
              return complete(acc)
            end}
  end
end

function xf.dedupe()
  return function(rf)
    local step, prior = rf.step, NONE
    return {step = function(acc, v)
              if v == prior then return acc end
              prior = v
              return step(acc, v)
            end, complete = rf.complete}
  end
end

function xf.distinct()
  return function(rf)
    local step, seen = rf.step, {}
    return {step = function(acc, v)
              if v ~= v then return step(acc, v) end -- NaN: never equal
              if seen[v] then return acc end
              seen[v] = true
              return step(acc, v)
            end, complete = rf.complete}
  end
end

function xf.comp(...)
  local fs, n = {...}, select("#", ...)
  for i = 1, n do
    if not callable(fs[i]) then argerror(i, "comp", "transducer expected") end
  end
  return function(rf)
    for i = n, 1, -1 do rf = fs[i](rf) end
    return rf
  end
end
csp.comp = xf.comp

-- ---------------------------------------------------------------------
-- Combinators, with core.async's semantics (see docs/lua.md).

local go = csp.go

local function check_chan(ch, i, fname)
  if not core.is_chan(ch) then argerror(i, fname, "channel expected") end
end

local function opt_true(x) if x == nil then return true end return x and true or false end

function csp.pipe(from, to, close)
  check_chan(from, 1, "pipe"); check_chan(to, 2, "pipe")
  close = opt_true(close)
  go(function()
    while true do
      local v = take(from)
      if v == nil then
        if close then core_close(to) end
        return
      end
      if not put(to, v) then return end
    end
  end)
  return to
end

function csp.onto_chan(ch, t, close)
  check_chan(ch, 1, "onto_chan")
  if type(t) ~= "table" then argerror(2, "onto_chan", "table expected") end
  close = opt_true(close)
  return go(function()
    for i = 1, #t do
      if not put(ch, t[i]) then break end
    end
    if close then core_close(ch) end
  end)
end

function csp.to_chan(t)
  if type(t) ~= "table" then argerror(1, "to_chan", "table expected") end
  local n = #t
  local ch = core_chan(n == 0 and BUF_NONE or BUF_FIXED, n > 100 and 100 or n)
  csp.onto_chan(ch, t)
  return ch
end

function csp.reduce(f, init, ch)
  check_fn(f, "reduce"); check_chan(ch, 3, "reduce")
  return go(function()
    local ret = init
    while true do
      local v = take(ch)
      if v == nil then return ret end
      ret = f(ret, v)
      if is_reduced(ret) then return ret[1] end
    end
  end)
end

function csp.transduce(xform, f, init, ch)
  check_fn(xform, "transduce"); check_chan(ch, 4, "transduce")
  if not callable(f) then argerror(2, "transduce", "function expected") end
  local rf = xform({step = f, complete = function(acc) return acc end})
  return go(function()
    local ret = init
    while true do
      local v = take(ch)
      if v == nil then break end
      ret = rf.step(ret, v)
      if is_reduced(ret) then ret = ret[1]; break end
    end
    return rf.complete(ret)
  end)
end

function csp.into(t, ch)
  if type(t) ~= "table" then argerror(1, "into", "table expected") end
  check_chan(ch, 2, "into")
  return csp.reduce(function(acc, v) acc[#acc + 1] = v; return acc end, t, ch)
end

function csp.merge(chs, b)
  if type(chs) ~= "table" then argerror(1, "merge", "table of channels expected") end
  for i = 1, #chs do check_chan(chs[i], 1, "merge") end
  local out = csp.chan(b)
  go(function()
    local cs = {unpack(chs)}
    while #cs > 0 do
      local v, c = csp.alts(cs)
      if v == nil then
        for i = #cs, 1, -1 do if cs[i] == c then table.remove(cs, i) end end
      else
        put(out, v)
      end
    end
    core_close(out)
  end)
  return out
end

function csp.split(pred, ch, tb, fb)
  check_fn(pred, "split"); check_chan(ch, 2, "split")
  local tc, fc = csp.chan(tb), csp.chan(fb)
  go(function()
    while true do
      local v = take(ch)
      if v == nil then
        core_close(tc); core_close(fc)
        return
      end
      if not put(pred(v) and tc or fc, v) then return end
    end
  end)
  return tc, fc
end

-- mult: every value goes to every tap; waits for all taps to accept before
-- the next; with no taps a value is dropped. When the source closes the
-- process closes (and untaps) the close-taps and marks the mult ended;
-- from then on tap closes a close-tap itself (core.async leaves it open
-- for ever). One Lua thread runs both, so nothing can come in between.
local Mult = {}
Mult.__index = Mult

function csp.mult(ch)
  check_chan(ch, 1, "mult")
  local m = setmetatable({ch = ch, taps = {}, ended = false}, Mult)
  local dchan = core_chan(BUF_FIXED, 1)
  go(function()
    while true do
      local v = take(ch)
      if v == nil then
        m.ended = true
        local closing = {}
        for c, close in pairs(m.taps) do if close then closing[#closing + 1] = c end end
        for i = 1, #closing do
          m.taps[closing[i]] = nil
          core_close(closing[i])
        end
        return
      end
      local chs = {}
      for c in pairs(m.taps) do chs[#chs + 1] = c end
      local left = #chs
      for i = 1, #chs do
        local c = chs[i]
        csp.put_async(c, v, function(ok)
          if not ok then m.taps[c] = nil end
          left = left - 1
          if left == 0 then core_offer(dchan, true) end
        end)
      end
      if #chs > 0 then take(dchan) end
    end
  end)
  return m
end

function Mult:tap(ch, close)
  check_chan(ch, 1, "tap")
  close = opt_true(close)
  if self.ended and close then
    self.taps[ch] = nil
    core_close(ch)
  else
    self.taps[ch] = close
  end
  return ch
end
function Mult:untap(ch) self.taps[ch] = nil end
function Mult:untap_all() self.taps = {} end
function csp.tap(m, ch, close) return m:tap(ch, close) end
function csp.untap(m, ch) return m:untap(ch) end
function csp.untap_all(m) return m:untap_all() end

-- pub/sub: values are routed by topic_fn(v) to a mult per topic, whose
-- channel's buffer comes from buf_fn(topic) (default: unbuffered). After
-- the source closed, sub subscribes nothing and closes a close-sub.
local Pub = {}
Pub.__index = Pub

function csp.pub(ch, topic_fn, buf_fn)
  check_chan(ch, 1, "pub"); check_fn(topic_fn, "pub")
  if buf_fn ~= nil and not callable(buf_fn) then argerror(3, "pub", "function expected") end
  local p = setmetatable({ch = ch, mults = {}, ended = false,
                          buf_fn = buf_fn or function() return nil end}, Pub)
  go(function()
    while true do
      local v = take(ch)
      if v == nil then
        p.ended = true
        for _, m in pairs(p.mults) do core_close(m.ch) end
        return
      end
      local topic = topic_fn(v)
      local m = topic ~= nil and p.mults[topic] or nil
      if m and not put(m.ch, v) then p.mults[topic] = nil end
    end
  end)
  return p
end

local function ensure_mult(p, topic)
  local m = p.mults[topic]
  if not m then
    m = csp.mult(csp.chan(p.buf_fn(topic)))
    p.mults[topic] = m
  end
  return m
end

function Pub:sub(topic, ch, close)
  if topic == nil then argerror(1, "sub", "topic expected") end
  check_chan(ch, 2, "sub")
  if self.ended then
    if opt_true(close) then core_close(ch) end
    return ch
  end
  return ensure_mult(self, topic):tap(ch, close)
end
function Pub:unsub(topic, ch)
  local m = self.mults[topic]
  if m then m:untap(ch) end
end
function Pub:unsub_all(topic)
  if topic == nil then self.mults = {} else self.mults[topic] = nil end
end
function csp.sub(p, topic, ch, close) return p:sub(topic, ch, close) end
function csp.unsub(p, topic, ch) return p:unsub(topic, ch) end
function csp.unsub_all(p, topic) return p:unsub_all(topic) end

-- mix: inputs merged into OUT, each input muted (read, dropped), paused
-- (not read) or soloed; OUT is never closed by the mix. Once OUT is closed
-- the mix is over: admix and toggle return nil, msg, "ECLOSED" and change
-- nothing, and the process ends at the next change without reading again.
local Mix = {}
Mix.__index = Mix

function csp.mix(out)
  check_chan(out, 1, "mix")
  local change = core_chan(BUF_SLIDING, 1)
  local m = setmetatable({out = out, cs = {}, mode = "mute", change = change,
                          ended = false}, Mix)
  local function calc()
    local solos, mutes, reads, any_solo = {}, {}, {}, false
    for c, a in pairs(m.cs) do
      if a.solo then solos[c] = true; any_solo = true end
      if a.mute then mutes[c] = true end
    end
    for c, a in pairs(m.cs) do
      if m.mode == "pause" and any_solo then
        if a.solo then reads[#reads + 1] = c end
      elseif not a.pause then
        reads[#reads + 1] = c
      end
    end
    reads[#reads + 1] = change
    return solos, mutes, reads, any_solo
  end
  m.done = go(function() -- closes when the process ends
    local solos, mutes, reads, any_solo = calc()
    while true do
      local v, c = csp.alts(reads)
      if v == nil or c == change then
        if v == nil then m.cs[c] = nil end
        if m.ended or core_closed(out) then m.ended = true; return end
        solos, mutes, reads, any_solo = calc()
      elseif solos[c] or (not any_solo and not mutes[c]) then
        if not put(out, v) then m.ended = true; return end
      end
    end
  end)
  return m
end

function Mix:changed() core_offer(self.change, true) end
-- Whether OUT is closed or the mix ended; if so, make sure it ends.
local function mix_over(m)
  if m.ended or core_closed(m.out) then
    m.ended = true
    m:changed()
    return true
  end
  return false
end
function Mix:admix(ch)
  check_chan(ch, 1, "admix")
  if mix_over(self) then return nil, core_strerror(ECLOSED) end
  self.cs[ch] = {}
  self:changed()
  return true
end
function Mix:unmix(ch) self.cs[ch] = nil; self:changed() end
function Mix:unmix_all() self.cs = {}; self:changed() end
function Mix:toggle(state)
  if type(state) ~= "table" then argerror(1, "toggle", "table {[ch] = {mute=, pause=, solo=}} expected") end
  for c, a in pairs(state) do
    check_chan(c, 1, "toggle")
    if type(a) ~= "table" then argerror(1, "toggle", "attribute table expected") end
    for k in pairs(a) do
      if k ~= "mute" and k ~= "pause" and k ~= "solo" then
        argerror(1, "toggle", "unknown attribute " .. tostring(k))
      end
    end
  end
  if mix_over(self) then return nil, core_strerror(ECLOSED) end
  for c, a in pairs(state) do
    local cur = self.cs[c] or {}
    for k, v in pairs(a) do cur[k] = v and true or false end
    self.cs[c] = cur
  end
  self:changed()
  return true
end
function Mix:solo_mode(mode)
  if mode ~= "mute" and mode ~= "pause" then argerror(1, "solo_mode", "\"mute\" or \"pause\" expected") end
  self.mode = mode
  self:changed()
end
function csp.admix(m, ch) return m:admix(ch) end
function csp.unmix(m, ch) return m:unmix(ch) end
function csp.unmix_all(m) return m:unmix_all() end
function csp.toggle(m, state) return m:toggle(state) end
function csp.solo_mode(m, mode) return m:solo_mode(mode) end

-- pipeline: N workers apply XF to each value from FROM, output order =
-- input order; fresh transform state per item. Returns a channel that
-- closes when the pipeline is done.
local function pipeline_star(fname, n, to, f, from, close, exh, async)
  check_count(n, fname, 1)
  check_chan(to, 2, fname); check_chan(from, 4, fname)
  if not callable(f) then argerror(3, fname, "function expected") end
  if exh ~= nil and not callable(exh) then argerror(6, fname, "function expected") end
  close = opt_true(close)
  local jobs, res_q = core_chan(BUF_FIXED, n), core_chan(BUF_FIXED, n)
  for _ = 1, n do
    go(function()
      while true do
        local job = take(jobs)
        if job == nil then
          core_close(res_q)
          return
        end
        local res
        if async then
          res = core_chan(BUF_FIXED, 1)
          f(job[1], res)
        else
          res = csp.chan(1, f, exh)
          put(res, job[1])
          core_close(res)
        end
        csp.put_async(job[2], res)
      end
    end)
  end
  go(function()
    while true do
      local v = take(from)
      if v == nil then
        core_close(jobs)
        return
      end
      local p = core_chan(BUF_FIXED, 1)
      put(jobs, {v, p})
      put(res_q, p)
    end
  end)
  return go(function()
    while true do
      local p = take(res_q)
      if p == nil then
        if close then core_close(to) end
        return
      end
      local res = take(p)
      while true do
        local v = take(res)
        if v == nil or not put(to, v) then break end
      end
    end
  end)
end

function csp.pipeline(n, to, xform, from, close, exh)
  return pipeline_star("pipeline", n, to, xform, from, close, exh, false)
end
-- Lua has no threads to block: pipeline_blocking is pipeline.
function csp.pipeline_blocking(n, to, xform, from, close, exh)
  return pipeline_star("pipeline_blocking", n, to, xform, from, close, exh, false)
end
function csp.pipeline_async(n, to, af, from, close)
  return pipeline_star("pipeline_async", n, to, af, from, close, nil, true)
end

-- Channel-level map: applies F to one value from each of CHS; closes when
-- any input closes.
function csp.map(f, chs, b)
  check_fn(f, "map")
  if type(chs) ~= "table" then argerror(2, "map", "table of channels expected") end
  for i = 1, #chs do check_chan(chs[i], 2, "map") end
  local out = csp.chan(b)
  local cnt = #chs
  if cnt == 0 then core_close(out) return out end
  local dchan = core_chan(BUF_FIXED, 1)
  go(function()
    while true do
      local rets, left = {}, cnt
      for i = 1, cnt do
        csp.take_async(chs[i], function(v)
          rets[i] = v
          left = left - 1
          if left == 0 then core_offer(dchan, rets) end
        end)
      end
      local r = take(dchan)
      for i = 1, cnt do
        if r[i] == nil then core_close(out) return end
      end
      put(out, f(unpack(r, 1, cnt)))
    end
  end)
  return out
end

-- Channel-level take: at most N values from CH, then close.
function csp.take(n, ch, b)
  check_count(n, "take", 0); check_chan(ch, 2, "take")
  local out = csp.chan(b)
  go(function()
    for _ = 1, n do
      local v = take(ch)
      if v == nil then break end
      put(out, v)
    end
    core_close(out)
  end)
  return out
end

return csp
