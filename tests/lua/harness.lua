-- harness.lua - the Lua test harness.
--
--   local T = require("harness")
--   local test = T.test
--   test("chan_take_on_closed_returns_nil", function() ... end)
--   T.run()
--
-- `lua test_x.lua NAME` runs test NAME in this process; with no NAME every
-- test of the file runs, each in its own process (as ctest runs them), so
-- go processes a test leaves parked cannot affect the next. The last line
-- is "N passed, N failed"; the exit status is non-zero on any failure.
-- tests/CMakeLists.txt registers each `^test("name"` line as lua.<name>.

local T = {}
local tests, order = {}, {}

function T.test(name, fn)
  assert(type(name) == "string" and name:match("^[a-z0-9_]+$"), "bad test name")
  assert(not tests[name], "duplicate test " .. name)
  tests[name] = fn
  order[#order + 1] = name
end

-- Assertions with messages that show both sides.
function T.eq(got, want, what)
  if got ~= want then
    error(("%s: expected %s, got %s"):format(what or "value", tostring(want), tostring(got)), 2)
  end
end

function T.raises(pattern, fn, ...)
  local ok, err = pcall(fn, ...)
  if ok then error("expected an error matching '" .. pattern .. "'", 2) end
  if not tostring(err):find(pattern) then
    error(("error '%s' does not match '%s'"):format(tostring(err), pattern), 2)
  end
  return err
end

-- Deep equality for arrays of plain values.
function T.same(got, want, what)
  local function ser(t)
    if type(t) ~= "table" then return tostring(t) end
    local parts = {}
    for i = 1, #t do parts[i] = ser(t[i]) end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  if ser(got) ~= ser(want) then
    error(("%s: expected %s, got %s"):format(what or "value", ser(want), ser(got)), 2)
  end
end

T.lua54 = _VERSION == "Lua 5.4"
T.luajit = type(jit) == "table"
T.lua51 = _VERSION == "Lua 5.1" and not T.luajit

local function run_one(name)
  local ok, err = xpcall(tests[name], debug.traceback)
  if ok then
    print("ok " .. name)
  else
    print("FAIL " .. name .. ": " .. tostring(err))
  end
  return ok
end

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

function T.run()
  local want = arg and arg[1]
  local passed, failed = 0, 0
  if want then
    if not tests[want] then
      print("no test named " .. want)
      print("0 passed, 1 failed")
      os.exit(1)
    end
    if run_one(want) then passed = 1 else failed = 1 end
  else
    local i = -1
    while arg[i - 1] do i = i - 1 end
    local argv = {}
    for k = i, -1 do argv[#argv + 1] = shell_quote(arg[k]) end
    local cmd0 = table.concat(argv, " ") .. " " .. shell_quote(arg[0]) .. " "
    for _, name in ipairs(order) do
      local p = io.popen(cmd0 .. name .. " 2>&1")
      local out = p:read("*a")
      p:close()
      local last = out:match("(%d+ passed, %d+ failed)%s*$")
      if last == "1 passed, 0 failed" then
        passed = passed + 1
        print("ok " .. name)
      else
        failed = failed + 1
        io.write("FAIL " .. name .. "\n" .. out)
      end
    end
  end
  print(("%d passed, %d failed"):format(passed, failed))
  io.stdout:flush()
  os.exit(failed == 0 and 0 or 1, true) -- true: close the state (runs csp's __gc)
end

return T
