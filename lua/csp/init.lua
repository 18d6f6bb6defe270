-- csp - Clojure core.async's channels, alts and go processes for Lua, over
-- the csp C runtime (module csp.core).
--
-- This file: the API table, buffers and channels, put/take/offer/poll and
-- their async forms, alts, go. The scheduler is csp/sched.lua, transducers
-- csp/xf.lua, the combinators csp/ops.lua.
--
-- Result convention (docs/lua.md, "Results"):
--   put, offer, alts puts, put_async callbacks: true, or false if the
--     channel is closed;
--   take, poll: the value, or nil (closed; poll: also nothing ready);
--   offer/poll that would wait: nil, no error;
--   the caller's mistakes (bad arguments, a put on a timeout channel, too
--     many pending ops on one channel) raise at the caller's line.
--
-- require("csp") changes no global.

local core = require("csp.core")
local S = require("csp.sched")
local xf = require("csp.xf")

local csp = {}

local type, error, setmetatable, getmetatable, tostring, select =
    type, error, setmetatable, getmetatable, tostring, select
local floor = math.floor
local argerror, callable = S.argerror, S.callable
local settle, wait, on_complete, defer = S.settle, S.wait, S.on_complete, S.defer
local ST, complete = S.ST, S.complete

local core_put, core_take, core_alts = core.put, core.take, core.alts
local core_chan, core_chan_xf, core_timeout = core.chan, core.chan_xf, core.timeout
local core_strerror, core_emit = core.strerror, core.emit
local M = core.chan_methods
local core_offer, core_close, core_poll_chan, core_closed =
    M.offer, M.close, M.poll, M.closed

local BUF_NONE, BUF_FIXED, BUF_DROPPING, BUF_SLIDING, BUF_PROMISE =
    core.BUF_NONE, core.BUF_FIXED, core.BUF_DROPPING, core.BUF_SLIDING, core.BUF_PROMISE
local ECANCELED = -6

csp.version = core.version()
csp.xf = xf
csp.comp = xf.comp
csp.reduced, csp.is_reduced = xf.reduced, xf.is_reduced
local reduced, is_reduced = xf.reduced, xf.is_reduced

core.setup(xf._Reduced, S.errq)

-- A failure the caller caused (or ENOMEM): raise at the caller of the API
-- function that got it (level 3: fail, the API function, its caller).
local function fail(msg, name)
  error(("csp: %s (%s)"):format(tostring(msg), tostring(name)), 3)
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

-- The reducing function at the bottom of every channel transform: emit
-- into the channel's buffer.
local BOTTOM = {
  step = function(acc, v)
    if core_emit(v) then return reduced(acc) end
    return acc
  end,
  complete = function(acc) return acc end,
}

local function check_rf(rf, fname)
  if type(rf) ~= "table" or not callable(rf.step) then
    error(fname .. ": a transducer must return {step = fn, complete = fn}", 4)
  end
  local step, complete = rf.step, rf.complete or BOTTOM.complete
  if type(step) ~= "function" then local s = step; step = function(a, v) return s(a, v) end end
  if type(complete) ~= "function" then local c = complete; complete = function(a) return c(a) end end
  return step, complete
end

-- Promise channels with a transform, when the C core refuses them
-- (csp_chan_new_xf with CSP_BUF_PROMISE): the transform runs here, in the
-- binding, on every put to the channel from Lua, and its output is
-- offered to a plain promise channel (the first value wins, as in
-- core.async). xpromise: channel -> {step, complete, exh, acc}.
local xpromise = setmetatable({}, {__mode = "k"})
local nxpromise = 0

local function xp_call(x, ch, f, a, v)
  local ok, r = pcall(f, a, v)
  if ok then return r end
  if x.exh then
    local ok2, e = pcall(x.exh, r)
    if ok2 then
      if e ~= nil then core_offer(ch, e) end
    else
      S.report(e, "error in exception handler: " .. tostring(e))
    end
  else
    S.report(r, "error in transform: " .. tostring(r))
  end
  return a
end

local function xp_close(x, ch)
  if x.done then return end
  x.done = true
  xp_call(x, ch, x.complete, x.acc)
  core_close(ch)
end

-- A put on a transformed promise channel from Lua: never waits.
local function xp_put(x, ch, v)
  if x.done or core_closed(ch) then return false end
  local acc = xp_call(x, ch, x.step, x.acc, v)
  if is_reduced(acc) then
    x.acc = acc[1]
    xp_close(x, ch)
  else
    x.acc = acc
  end
  return true
end

local function make_xpromise(xform, exh)
  local ch = core_chan(BUF_PROMISE, 0)
  local x = {exh = exh}
  local rf = xform({
    step = function(acc, v) core_offer(ch, v) return acc end,
    complete = function(acc) return acc end,
  })
  x.step, x.complete = check_rf(rf, "promise_chan")
  xpromise[ch] = x
  nxpromise = nxpromise + 1
  return ch
end

local function make_chan(kind, n, xform, exh, fname)
  if xform == nil then
    if exh ~= nil then argerror(3, fname, "exception handler without a transform") end
    return core_chan(kind, n)
  end
  local xi = kind == BUF_PROMISE and 1 or 2
  if not callable(xform) then argerror(xi, fname, "transducer (function) expected") end
  if kind == BUF_NONE then argerror(1, fname, "a transform needs a buffer") end
  if exh ~= nil and not callable(exh) then argerror(xi + 1, fname, "function expected") end
  local step, complete = check_rf(xform(BOTTOM), fname)
  local wrapped_exh = exh
  if exh ~= nil and type(exh) ~= "function" then wrapped_exh = function(e) return exh(e) end end
  local ch, msg, name = core_chan_xf(kind, n, step, complete, wrapped_exh)
  if ch == nil and kind == BUF_PROMISE and name == "EINVAL" then
    -- This core has no transformed promise channels: run it here.
    return make_xpromise(xform, wrapped_exh)
  end
  if ch == nil then fail(msg, name) end
  return ch
end

-- csp.chan([n | buffer [, xform [, ex_handler]]])
function csp.chan(b, xform, exh)
  local kind, n = parse_buf(b, "chan", 1)
  return make_chan(kind, n, xform, exh, "chan")
end

-- csp.promise_chan([xform [, ex_handler]])
function csp.promise_chan(xform, exh)
  return make_chan(BUF_PROMISE, 0, xform, exh, "promise_chan")
end

-- csp.timeout(ms): a channel that closes after MS milliseconds; a
-- negative delay counts as zero (as in core.async).
function csp.timeout(ms)
  if type(ms) ~= "number" or ms ~= ms then argerror(1, "timeout", "milliseconds expected") end
  if ms < 0 then ms = 0 end
  return core_timeout(ms)
end

csp.is_chan = core.is_chan
-- Crossing to C (docs/embedding.md): csp.wrap(lightuserdata [, promise])
-- makes a channel of a csp_chan * a C host gave (taking a reference of
-- its own); ch:handle() gives C this channel's csp_chan * (borrowed);
-- csp.runtime() the csp_rt * this state uses.
csp.wrap = core.wrap
csp.runtime = core.runtime


-- ---------------------------------------------------------------------
-- Channel operations (methods of every channel).

-- ch:put(v) -> true, or false if the channel is closed. Parks inside a go
-- process, blocks (running the scheduler) outside one.
local function put(ch, v)
  if v == nil then error("bad argument #1 to 'put' (cannot put nil on a channel)", 2) end
  if not ST.busy then settle() end
  if nxpromise > 0 and xpromise[ch] then return xp_put(xpromise[ch], ch, v) end
  local r, id, a, b = core_put(ch, v)
  if r == true then
    if id then complete(id, a, b) end
    return true
  end
  if r == false then return false end
  if r == nil then fail(id, a) end
  local rc
  a, rc = wait(r)
  if a then return true end
  if rc == nil or rc == -3 then return false end
  return false, core_strerror(rc)
end

-- ch:take() -> value, or nil once the channel is closed and drained.
local function take(ch)
  if not ST.busy then settle() end
  local v, x, id, a, b = core_take(ch)
  if x == nil then return v end
  if x == false then
    if id then complete(id, a, b) end
    return v
  end
  if id == nil then return (wait(x)) end
  fail(x, id)
end

-- ch:offer(v) -> true (done), false (closed), nil (would wait).
local function offer(ch, v)
  if v == nil then error("bad argument #1 to 'offer' (cannot put nil on a channel)", 2) end
  if nxpromise > 0 and xpromise[ch] then return xp_put(xpromise[ch], ch, v) end
  local r, msg, name = core_offer(ch, v)
  if msg ~= nil then fail(msg, name) end
  return r
end

-- ch:poll() -> value, or nil (nothing ready, or closed and drained).
local function poll(ch)
  local v, msg, name = core_poll_chan(ch)
  if msg ~= nil then fail(msg, name) end
  return v
end

-- ch:close() -> true. Closing a timeout channel raises.
local function close(ch)
  if nxpromise > 0 and xpromise[ch] then xp_close(xpromise[ch], ch) return true end
  local r, msg, name = core_close(ch)
  if r == nil then fail(msg, name) end
  return r
end

local function check_opts(opts, i, fname)
  if opts == nil then return true end
  if type(opts) ~= "table" then argerror(i, fname, "options table expected") end
  return opts.on_caller ~= false
end

-- ch:put_async(v [, fn [, opts]]) -> true, or false if closed: never
-- waits. FN(ok) gets true, or false if the channel was (or got) closed.
-- It runs at once when the put completes at once, unless opts.on_caller
-- is false; otherwise from the scheduler (errors: csp.on_error).
local function put_async(ch, v, fn, opts)
  if v == nil then error("bad argument #1 to 'put_async' (cannot put nil on a channel)", 2) end
  if fn ~= nil and not callable(fn) then argerror(3, "put_async", "function expected") end
  local on_caller = check_opts(opts, 4, "put_async")
  local r
  local x = nxpromise > 0 and xpromise[ch]
  local id, a, b
  if x then r = xp_put(x, ch, v) else r, id, a, b = core_put(ch, v) end
  if r == nil then fail(id, a) end
  if r == true and id then complete(id, a, b) end
  if r ~= true and r ~= false then
    if fn then on_complete(r, function(a) fn(a and true or false) end)
    else on_complete(r, false) end
    return true
  end
  if fn then
    if on_caller then fn(r) else defer(fn, r) end
  end
  return r
end

-- ch:take_async(fn [, opts]) -> true: never waits. FN(v) gets the value,
-- or nil if the channel is closed; at once or deferred as put_async.
local function take_async(ch, fn, opts)
  if not callable(fn) then argerror(2, "take_async", "function expected") end
  local on_caller = check_opts(opts, 3, "take_async")
  local v, x, id, a, b = core_take(ch)
  if x == nil or x == false then
    if id then complete(id, a, b) end
    if on_caller then fn(v) else defer(fn, v) end
    return true
  end
  if id == nil then on_complete(x, fn) return true end
  fail(x, id)
end

M.put, M.take, M.offer, M.poll, M.close = put, take, offer, poll, close
M.put_async, M.take_async = put_async, take_async
function M.iter(ch) return take, ch end

-- Module-function aliases: csp.put_async(ch, v, fn, opts) and
-- csp.take_async(ch, fn, opts). (csp.take(n, ch) is the combinator.)
csp.put_async, csp.take_async = put_async, take_async
csp.put, csp.offer, csp.poll, csp.close = put, offer, poll, close

-- csp.alts(ops, {priority = bool, default = value}) -> value, chan
-- A put that committed gives true (false if its channel was closed); a
-- take gives the value (nil if closed). With a default and nothing ready:
-- default, "default".
local function alts_xpromise(ops, flags, dflt)
  -- A put on a transformed promise channel (run in Lua) is always ready:
  -- it is chosen when no other op is ready at once.
  local others, xput = {}, nil
  for k = 1, #ops do
    local e = ops[k]
    if type(e) == "table" and xpromise[e[1]] and not xput then
      xput = k
    else
      others[#others + 1] = e
    end
  end
  if not xput then return nil end
  if #others > 0 then
    local i, a = core_alts(others, flags + core.ALTS_DEFAULT)
    if i ~= 0 and i ~= nil and i ~= false then
      local e = others[i]
      if type(e) == "table" then e = e[1] end
      return true, a, e
    end
  end
  local e = ops[xput]
  return true, xp_put(xpromise[e[1]], e[1], e[2]), e[1]
end

function csp.alts(ops, opts)
  local flags, dflt = 0, nil
  if type(ops) ~= "table" then argerror(1, "alts", "table of operations expected") end
  if opts ~= nil then
    if type(opts) ~= "table" then argerror(2, "alts", "options table expected") end
    if opts.priority then flags = flags + core.ALTS_PRIORITY end
    dflt = opts.default
    if dflt ~= nil then flags = flags + core.ALTS_DEFAULT end
  end
  if not ST.busy then settle() end
  if nxpromise > 0 then
    local done, a, e = alts_xpromise(ops, flags, dflt)
    if done then return a, e end
  end
  local i, a, name = core_alts(ops, flags)
  if i == false then
    a, i = wait(a)
    if i == 0 then return nil, core_strerror(ECANCELED) end
  elseif i == 0 then
    return dflt, "default"
  elseif i == nil then
    fail(a, name)
  end
  local e = ops[i]
  if type(e) == "table" then e = e[1] end
  return a, e
end

-- ---------------------------------------------------------------------
-- Go processes and the scheduler (csp/sched.lua).

-- csp.go(fn, ...) -> result channel: gets fn's first result (if not nil),
-- then closes; closes without a value if fn fails.
function csp.go(fn, ...)
  if not callable(fn) then argerror(1, "go", "function expected") end
  return S.spawn(fn, ...)
end

-- csp.sleep(ms): park (or block) for MS milliseconds; negative is zero.
function csp.sleep(ms)
  if type(ms) ~= "number" or ms ~= ms then argerror(1, "sleep", "milliseconds expected") end
  if ms < 0 then ms = 0 end
  take(core_timeout(ms))
end

csp.yield = S.yield
csp.in_go = S.in_go
csp.pcall = S.pcall

-- User coroutines that run csp ops inside go processes: csp.coroutine.wrap
-- and csp.coroutine.resume (drop-in for coroutine.wrap / resume). The
-- globals stay untouched unless csp.coroutine.patch() is called; it
-- returns a function that undoes the patch.
csp.coroutine = {resume = S.resume, wrap = S.wrap, raw_resume = S.raw_resume,
                 patch = S.patch_coroutine}

function csp.on_error(fn)
  if fn ~= nil and not callable(fn) then argerror(1, "on_error", "function expected") end
  return S.on_error(fn)
end

-- Host loop integration: run what is ready and deliver completions,
-- waiting up to TIMEOUT_MS (default 0) when nothing is ready. Returns how
-- much happened (0: nothing to do). pollfd is readable whenever there is
-- work for step.
function csp.step(timeout_ms)
  if timeout_ms == nil then timeout_ms = 0 end
  if type(timeout_ms) ~= "number" then argerror(1, "step", "milliseconds expected") end
  return S.step(timeout_ms)
end

-- Run until every go process has finished. Returns true, or nil, message,
-- "DEADLOCK" when the remaining ones wait on what nothing can complete.
csp.run = S.run

csp.pollfd = core.pollfd
csp.now = core.now

function csp.stats()
  return S.stats(core.stats())
end

-- ---------------------------------------------------------------------
-- Combinators (csp/ops.lua).

require("csp.ops")(csp, {
  core = core, put = put, take = take,
  core_close = core_close, core_offer = core_offer, core_chan = core_chan,
})

return csp
