-- csp/xf.lua - transducers for channel transforms (csp.xf), and reduced.
--
-- A transducer is function(rf) -> rf, where rf = {step = fn(acc, v) -> acc,
-- complete = fn(acc) -> acc}; a step stops everything by returning
-- csp.reduced(acc). Each channel gets fresh transducer state.

local S = require("csp.sched")

local type, setmetatable, getmetatable = type, setmetatable, getmetatable
local floor = math.floor
local argerror, callable = S.argerror, S.callable

local Reduced = {}
local function reduced(x) return setmetatable({x}, Reduced) end
local function is_reduced(x) return getmetatable(x) == Reduced end
local function unreduced(x) if getmetatable(x) == Reduced then return x[1] end return x end
local function ensure_reduced(x) if getmetatable(x) == Reduced then return x end return reduced(x) end

local xf = {}

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

-- Not transducers: the reduced protocol (csp.reduced, csp.is_reduced) and
-- helpers for csp's other modules (underscored: not API).
xf.reduced, xf.is_reduced = reduced, is_reduced
xf._Reduced, xf._unreduced, xf._ensure_reduced = Reduced, unreduced, ensure_reduced
xf._check_fn, xf._check_count = check_fn, check_count

return xf
