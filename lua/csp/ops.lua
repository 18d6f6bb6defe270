-- csp/ops.lua - core.async's combinators over channels and go processes:
-- pipe, onto_chan/to_chan, reduce/transduce/into, merge, split, mult,
-- pub/sub, mix, pipeline, map, take. Semantics as core.async's (see
-- docs/lua.md). Loaded by csp/init.lua, which passes the API table and its
-- internal channel operations (I); installs the combinators into csp.

local S = require("csp.sched")
local xf = require("csp.xf")

local type, pairs, select, setmetatable, error =
    type, pairs, select, setmetatable, error
local unpack = table.unpack or unpack
local argerror, callable = S.argerror, S.callable
local check_fn, check_count, is_reduced = xf._check_fn, xf._check_count, xf.is_reduced

return function(csp, I)
local core = I.core
local put, take = I.put, I.take
local core_close, core_offer, core_chan = I.core_close, I.core_offer, I.core_chan
local BUF_NONE, BUF_FIXED, BUF_SLIDING = core.BUF_NONE, core.BUF_FIXED, core.BUF_SLIDING
local core_closed = I.core_closed

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

-- The source of onto_chan/to_chan as a generic-for triple: an array table
-- (its values in order), a generator function (called until it returns
-- nil), or an iterator triple f, s, var (the first value of each step, as
-- `for v in f, s, var`).
local function source(fname, i, src, s, var, triple)
  if type(src) == "table" and not callable(src) then
    return "array", src
  end
  if not callable(src) then
    argerror(i, fname, "table, iterator function or generic-for triple expected, got "
             .. type(src))
  end
  if triple then return "triple", src, s, var end
  return "gen", src
end

-- Feed the source into CH from a go process: one value at a time, each
-- put parking until the channel takes it (back-pressure), so an infinite
-- generator is fine. Stops when the source ends or CH closes; then closes
-- CH if CLOSE. An error in the iterator closes CH (if CLOSE) and goes to
-- csp.on_error like any go process's.
local function feed(ch, close, kind, f, s, var)
  return go(function()
    local ok, err = S.pcall(function()
      if kind == "array" then
        local t = f
        for i = 1, #t do
          if not put(ch, t[i]) then return end
        end
      elseif kind == "gen" then
        while true do
          local v = f()
          if v == nil or not put(ch, v) then return end
        end
      else
        while true do
          var = f(s, var)
          if var == nil or not put(ch, var) then return end
        end
      end
    end)
    if close then core_close(ch) end
    if not ok then error(err, 0) end
  end)
end

-- csp.onto_chan(ch, src [, close]) or csp.onto_chan(ch, f, s, var [, close])
-- -> channel that closes when done. SRC: an array table or a generator
-- function; four or more arguments: an iterator triple (close must then
-- be a boolean, anything else, such as io.lines' fourth result, counts as
-- the default true).
function csp.onto_chan(ch, src, ...)
  check_chan(ch, 1, "onto_chan")
  local n = select("#", ...)
  if n >= 2 then
    local s, var, close = ...
    local kind, f = source("onto_chan", 2, src, s, var, true)
    if type(close) ~= "boolean" then close = true end
    return feed(ch, close, kind, f, s, var)
  end
  local kind, f = source("onto_chan", 2, src)
  return feed(ch, opt_true((...)), kind, f)
end

-- csp.to_chan(src) or csp.to_chan(f, s, var) -> a channel with the values
-- of SRC, closed after the last.
function csp.to_chan(src, ...)
  local triple = select("#", ...) > 0
  local kind, f, s, var = source("to_chan", 1, src, select(1, ...), select(2, ...), triple)
  local ch
  if kind == "array" then
    local n = #src
    ch = core_chan(n == 0 and BUF_NONE or BUF_FIXED, n > 100 and 100 or n)
  else
    ch = core_chan(BUF_NONE, 0)
  end
  feed(ch, true, kind, f, s, var)
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
-- the mix is over: admix and toggle return false (a closed output, as a
-- put on a closed channel) and change
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
  if mix_over(self) then return false end
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
  if mix_over(self) then return false end
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

end
