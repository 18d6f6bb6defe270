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

core.setup(xf._Reduced, S.errq, ST)

-- A failure the caller caused (or ENOMEM): raise at the caller of the API
-- function that got it (level 3: fail, the API function, its caller).
local function fail(msg, name)
  error(("csp: %s (%s)"):format(tostring(msg), tostring(name)), 3)
end

-- ---------------------------------------------------------------------
-- Local channels: the fast path.
--
-- A channel made by csp.chan (no buffer or a fixed buffer, no transform)
-- or by csp.go (its result channel) starts "local": only Lua code of this
-- state can reach it, so its buffer and its parked ops live here, in Lua,
-- and a put, take, offer, poll or close between go processes never enters
-- C. A parked op is a go coroutine in the channel's queue, pushed on the
-- ready queue with its result when a later op completes it (the C path's
-- results: a take gets the value or nil, a put true or false). The C
-- channel stays empty, open and waiterless meanwhile (a result channel's
-- csp_chan is not even made until C needs it: core.chan_lazy).
--
-- The channel leaves local mode for good ("escapes") before anything else
-- could see it: ch:handle() (C, other states, other threads), alts,
-- put_async/take_async, an op outside a go process that must wait, a close
-- with parked puts, the 1025th parked op on one side (the C path then
-- raises as it always did). Escaping moves the state into C in order
-- (buffered values by offer, then each parked op as a pending C op whose
-- completion resumes the same coroutine, then the close), and every later
-- op takes the C path.
--
-- State: LAZY[ch] = capacity (>= 0) while the channel is empty, open and
-- has nothing parked, -1 once closed that way; the first op that needs
-- more moves it to a record LOCAL[ch] (an array, for speed):
--   [1] capacity  [2] ring buffer head (1..capacity)  [3] values buffered
--   [4] first queued op  [5] last queued op  [6] true: the queue holds puts
--   [7] closed  [8] the ring buffer (a table, made on first use) or false
--   op i of the queue: [2i+7] its coroutine, [2i+8] a put's value.
-- Parked puts imply a full buffer, parked takes an empty one.

local LOCAL = setmetatable({}, {__mode = "k"})
local LAZY = setmetatable({}, {__mode = "k"})
local PENDING_MAX = core.PENDING_MAX
local push, adopt, TOKEN = S.push, S.adopt, S.TOKEN
local co_yield = coroutine.yield
local nparked = 0 -- coroutines parked in local queues (csp.stats())

local function record(ch, n)
  LAZY[ch] = nil
  -- Room for the first parked op: the array part never grows for it.
  local lc = {n, 1, 0, 1, 0, false, false, false, false, false}
  LOCAL[ch] = lc
  return lc
end

-- Move a channel's local state into C (see above). Never raises for a
-- state the fast path kept within the limits.
local function escape(ch, lc)
  LOCAL[ch] = nil
  local n, bh, b = lc[1], lc[2], lc[8]
  for k = 0, lc[3] - 1 do
    local pos = bh + k
    if pos > n then pos = pos - n end
    core_offer(ch, b[pos])
  end
  local wp = lc[6]
  for i = lc[4], lc[5] do
    local co = lc[i + i + 7]
    local id, x
    if wp then id, x = core_put(ch, lc[i + i + 8]) else x, id = core_take(ch) end
    nparked = nparked - 1
    adopt(id, co)
  end
  if lc[7] then core_close(ch) end
end

-- Make CH leave local mode (before C, alts or an async op sees it).
local function to_c(ch)
  local lc = LOCAL[ch]
  if lc then escape(ch, lc) return end
  local n = LAZY[ch]
  if n then
    LAZY[ch] = nil
    if n < 0 then core_close(ch) end
  end
end

-- Pop the first parked op of LC's queue: its coroutine and value.
local function pop(lc)
  local wh = lc[4]
  local k = wh + wh + 7
  local co, v = lc[k], lc[k + 1]
  lc[k], lc[k + 1] = nil, nil
  if wh == lc[5] then lc[4], lc[5] = 1, 0 else lc[4] = wh + 1 end
  nparked = nparked - 1
  return co, v
end

-- A put that does not wait (offer): true, false (closed), nil (would wait).
local function local_offer(lc, v)
  if lc[7] then return false end
  if lc[4] <= lc[5] then
    if lc[6] then return nil end
    push((pop(lc)), v) -- a parked take gets the value
    return true
  end
  local bc, n = lc[3], lc[1]
  if bc >= n then return nil end
  local b = lc[8]
  if not b then b = {}; lc[8] = b end
  local pos = lc[2] + bc
  if pos > n then pos = pos - n end
  b[pos] = v
  lc[3] = bc + 1
  return true
end

-- A take that does not wait (poll): the value, or nil.
local function local_poll(lc)
  local bc = lc[3]
  if bc > 0 then
    local b, bh = lc[8], lc[2]
    local v = b[bh]
    b[bh] = nil
    lc[2] = bh < lc[1] and bh + 1 or 1
    if lc[4] <= lc[5] then
      -- The buffer was full: the first parked put moves into the room
      -- (the new tail is the old head).
      local co, pv = pop(lc)
      b[bh] = pv
      push(co, true)
    else
      lc[3] = bc - 1
    end
    return v
  end
  if lc[4] <= lc[5] and lc[6] then
    local co, v = pop(lc)
    push(co, true)
    return v
  end
  return nil
end

local function local_close(ch, lc)
  if lc[7] then return end
  if lc[4] <= lc[5] then
    if lc[6] then
      -- Parked puts: C decides what a close does to them.
      escape(ch, lc)
      core_close(ch)
      return
    end
    while lc[4] <= lc[5] do push((pop(lc)), nil) end
  end
  lc[7] = true
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
    if kind == BUF_NONE or kind == BUF_FIXED then
      local ch = core_chan(kind, n)
      LAZY[ch] = n
      return ch
    end
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
  if b == nil and xform == nil and exh == nil then -- the common case, short
    local ch = core_chan(BUF_NONE, 0)
    LAZY[ch] = 0
    return ch
  end
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

-- Inside a Lua transform step (C sets ST.step, and clears ST.busy so that
-- put and take come here) channel operations are refused, as in C.
local function check_step()
  if ST.step then
    error("csp: channel operations are not allowed inside a transform step", 0)
  end
end

-- put, take outside the scheduler: refuse inside a step, then let ready
-- processes run (S.settle).
local function prelude()
  if ST.step then check_step() end
  settle()
end

-- ch:put(v) -> true, or false if the channel is closed. Parks inside a go
-- process, blocks (running the scheduler) outside one. The local path is
-- written out in full: it is the hot path of every Lua program.
local function put(ch, v)
  if v == nil then error("bad argument #1 to 'put' (cannot put nil on a channel)", 2) end
  if not ST.busy then prelude() end
  local lc = LOCAL[ch]
  if lc == nil then
    local n = LAZY[ch]
    if n ~= nil then
      if n < 0 then return false end
      lc = record(ch, n)
    end
  end
  if lc then
    if lc[7] then return false end
    local wh, wt = lc[4], lc[5]
    if wh <= wt then
      if not lc[6] then -- a parked take: hand the value over
        local k = wh + wh + 7
        local co = lc[k]
        lc[k] = nil
        if wh == wt then lc[4], lc[5] = 1, 0 else lc[4] = wh + 1 end
        nparked = nparked - 1
        push(co, v)
        return true
      end
    else
      local bc, n = lc[3], lc[1]
      if bc < n then
        local b = lc[8]
        if not b then b = {}; lc[8] = b end
        local pos = lc[2] + bc
        if pos > n then pos = pos - n end
        b[pos] = v
        lc[3] = bc + 1
        return true
      end
    end
    local co = ST.cur
    if co ~= nil and wt - wh + 1 < PENDING_MAX then -- park
      wt = wt + 1
      lc[5], lc[6] = wt, true
      lc[wt + wt + 7], lc[wt + wt + 8] = co, v
      nparked = nparked + 1
      local a, rc = co_yield(TOKEN, false)
      if a then return true end
      if rc == nil or rc == -3 then return false end
      return false, core_strerror(rc)
    end
    escape(ch, lc)
  end
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
  if not ST.busy then prelude() end
  local lc = LOCAL[ch]
  if lc == nil then
    local n = LAZY[ch]
    if n ~= nil then
      if n < 0 then return nil end
      lc = record(ch, n)
    end
  end
  if lc then
    local bc, wh, wt = lc[3], lc[4], lc[5]
    if bc > 0 then
      local b, bh = lc[8], lc[2]
      local v = b[bh]
      if bh < lc[1] then lc[2] = bh + 1 else lc[2] = 1 end
      if wh <= wt then
        -- The buffer was full: the first parked put moves into the room
        -- (the new tail is the old head).
        local k = wh + wh + 7
        local co = lc[k]
        b[bh] = lc[k + 1]
        lc[k], lc[k + 1] = nil, nil
        if wh == wt then lc[4], lc[5] = 1, 0 else lc[4] = wh + 1 end
        nparked = nparked - 1
        push(co, true)
      else
        b[bh] = nil
        lc[3] = bc - 1
      end
      return v
    end
    if wh <= wt and lc[6] then -- a parked put (no buffer): take its value
      local k = wh + wh + 7
      local co, v = lc[k], lc[k + 1]
      lc[k], lc[k + 1] = nil, nil
      if wh == wt then lc[4], lc[5] = 1, 0 else lc[4] = wh + 1 end
      nparked = nparked - 1
      push(co, true)
      return v
    end
    if lc[7] then return nil end
    local co = ST.cur
    if co ~= nil and wt - wh + 1 < PENDING_MAX then -- park
      wt = wt + 1
      lc[5], lc[6] = wt, false
      lc[wt + wt + 7] = co
      nparked = nparked + 1
      return (co_yield(TOKEN, false))
    end
    escape(ch, lc)
  end
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
  local lc = LOCAL[ch]
  if lc == nil then
    local n = LAZY[ch]
    if n ~= nil then
      if ST.step then check_step() end
      if n < 0 then return false elseif n == 0 then return nil end
      lc = record(ch, n)
    end
  end
  if lc then
    if ST.step then check_step() end
    return local_offer(lc, v)
  end
  if nxpromise > 0 and xpromise[ch] then return xp_put(xpromise[ch], ch, v) end
  local r, msg, name = core_offer(ch, v)
  if msg ~= nil then fail(msg, name) end
  return r
end

-- ch:poll() -> value, or nil (nothing ready, or closed and drained).
local function poll(ch)
  local lc = LOCAL[ch]
  if lc or LAZY[ch] then
    if ST.step then check_step() end
    return lc and local_poll(lc) or nil
  end
  local v, msg, name = core_poll_chan(ch)
  if msg ~= nil then fail(msg, name) end
  return v
end

-- ch:close() -> true. Closing a timeout channel raises.
local function close(ch)
  local lc = LOCAL[ch]
  if lc then
    if ST.step then check_step() end
    local_close(ch, lc)
    return true
  end
  if LAZY[ch] then
    if ST.step then check_step() end
    LAZY[ch] = -1
    return true
  end
  if nxpromise > 0 and xpromise[ch] then xp_close(xpromise[ch], ch) return true end
  local r, msg, name = core_close(ch)
  if r == nil then fail(msg, name) end
  return r
end

local core_handle, core_count = M.handle, M.count
function M.handle(ch)
  to_c(ch)
  return core_handle(ch)
end
function M.closed(ch)
  local lc = LOCAL[ch]
  if lc then return lc[7] end
  local n = LAZY[ch]
  if n then return n < 0 end
  return core_closed(ch)
end
function M.count(ch)
  local lc = LOCAL[ch]
  if lc then return lc[3] end
  if LAZY[ch] then return 0 end
  return core_count(ch)
end
for _, mt in ipairs({getmetatable(core_chan(BUF_NONE, 0)),
                     getmetatable(core.chan_lazy(BUF_NONE, 0))}) do
  local core_close_mm = mt.__close
  if core_close_mm then
    mt.__close = function(ch, e)
      if LOCAL[ch] or LAZY[ch] then close(ch) return end
      return core_close_mm(ch, e)
    end
  end
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
  to_c(ch)
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
  to_c(ch)
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
  for k = 1, #ops do
    local e = ops[k]
    if type(e) == "table" then e = e[1] end
    if LOCAL[e] or LAZY[e] then to_c(e) end
  end
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
local spawn, spawn0 = S.spawn, S.spawn0
function csp.go(fn, ...)
  if type(fn) ~= "function" and not callable(fn) then argerror(1, "go", "function expected") end
  if ... == nil and select("#", ...) == 0 then return spawn0(fn) end
  return spawn(fn, ...)
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
  local s = S.stats(core.stats())
  s.waiting = s.waiting + nparked
  s.ops = s.ops + nparked
  return s
end

-- ---------------------------------------------------------------------
-- Combinators (csp/ops.lua).

-- offer and close for the combinators and result channels: the C
-- functions' results (never raising), local channels included.
local function any_offer(ch, v)
  local lc = LOCAL[ch]
  if lc == nil then
    local n = LAZY[ch]
    if n ~= nil then
      if n < 0 then return false elseif n == 0 then return nil end
      lc = record(ch, n)
    end
  end
  if lc then return local_offer(lc, v) end
  return core_offer(ch, v)
end
local function any_close(ch)
  local lc = LOCAL[ch]
  if lc then local_close(ch, lc) return true end
  if LAZY[ch] then LAZY[ch] = -1 return true end
  return core_close(ch)
end

-- Result channels of go processes are local channels too, and their
-- csp_chan is made only if C ever needs it.
local core_chan_lazy = core.chan_lazy
S.chan_ops(function()
  local ch = core_chan_lazy(BUF_FIXED, 1)
  LAZY[ch] = 1
  return ch
end, any_offer, any_close)

require("csp.ops")(csp, {
  core = core, put = put, take = take,
  core_close = any_close, core_offer = any_offer, core_chan = core_chan,
  core_closed = M.closed,
})

return csp
