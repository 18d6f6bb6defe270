-- test_coroutine.lua - user coroutines and generators inside go processes:
-- csp yields only its own token, which passes through csp.coroutine.resume
-- and csp.coroutine.wrap up to the scheduler. require("csp") leaves the
-- global coroutine table alone; csp.coroutine.patch() is the opt-in.
local T = require("harness")
local csp = require("csp")
local test, eq, raises, same = T.test, T.eq, T.raises, T.same
local coroutine = {wrap = csp.coroutine.wrap, resume = csp.coroutine.resume,
                   yield = coroutine.yield, create = coroutine.create,
                   status = coroutine.status}

test("co_generator_inside_go_works", function()
  local r = csp.go(function()
    local gen = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i) end end)
    return gen() + gen() + gen()
  end)
  eq(r:take(), 6)
end)

test("co_take_inside_wrapped_coroutine_parks", function()
  local ch = csp.chan()
  local r = csp.go(function()
    local gen = coroutine.wrap(function()
      coroutine.yield(ch:take())
      coroutine.yield(ch:take())
    end)
    return gen() .. gen()
  end)
  csp.go(function() ch:put("a"); ch:put("b") end)
  eq(r:take(), "ab")
end)

test("co_take_inside_resumed_coroutine_parks", function()
  local ch = csp.chan()
  local r = csp.go(function()
    local co = coroutine.create(function(x)
      local v = ch:take()
      local y = coroutine.yield(x + v)
      return y * 2
    end)
    local ok1, a = coroutine.resume(co, 1)
    local ok2, b = coroutine.resume(co, 10)
    return tostring(ok1) .. a .. tostring(ok2) .. b .. coroutine.status(co)
  end)
  csp.go(function() ch:put(5) end)
  eq(r:take(), "true6true20dead")
end)

test("co_nested_coroutines_pass_tokens_through", function()
  local ch = csp.chan()
  local r = csp.go(function()
    local outer = coroutine.wrap(function()
      local inner = coroutine.wrap(function() coroutine.yield(ch:take() + 1) end)
      coroutine.yield(inner() * 10)
    end)
    return outer()
  end)
  csp.go(function() ch:put(1) end)
  eq(r:take(), 20)
end)

test("co_user_yields_still_reach_resumer", function()
  local ch = csp.chan(5)
  local r = csp.go(function()
    local got = {}
    local gen = coroutine.wrap(function()
      for i = 1, 3 do
        coroutine.yield("u" .. i)
        coroutine.yield(ch:take())
      end
    end)
    for _ = 1, 6 do got[#got + 1] = gen() end
    return table.concat(got, ",")
  end)
  csp.go(function() for i = 1, 3 do ch:put("c" .. i) end end)
  eq(r:take(), "u1,c1,u2,c2,u3,c3")
end)

test("co_wrap_propagates_errors", function()
  local r = csp.go(function()
    local gen = coroutine.wrap(function() error("inner", 0) end)
    local ok, err = pcall(gen)
    return tostring(ok) .. ":" .. err
  end)
  eq(r:take(), "false:inner")
end)

test("co_resume_reports_errors", function()
  local r = csp.go(function()
    local co = coroutine.create(function() error({1}) end)
    local ok, e = coroutine.resume(co)
    return tostring(ok) .. type(e)
  end)
  eq(r:take(), "falsetable")
end)

test("co_resume_outside_go_is_unchanged", function()
  local co = coroutine.create(function(a) local b = coroutine.yield(a + 1); return b * 2 end)
  local r1 = {coroutine.resume(co, 1)}
  local r2 = {coroutine.resume(co, 5)}
  same(r1, {true, 2}); same(r2, {true, 10})
  local ok, err = coroutine.resume(co)
  eq(ok, false); eq(err, "cannot resume dead coroutine")
end)

test("co_blocking_take_inside_plain_coroutine_outside_go", function()
  local ch = csp.chan()
  csp.go(function() ch:put(3) end)
  local co = coroutine.wrap(function() return ch:take() end)
  eq(co(), 3)
end)

test("co_pcall_around_take_inside_go", function()
  local ch = csp.chan()
  local r = csp.go(function()
    local ok, v = csp.pcall(function() return ch:take() end)
    local ok2, e = csp.pcall(function() ch:take(); error("after", 0) end)
    return tostring(ok) .. v .. tostring(ok2) .. e
  end)
  csp.go(function() ch:put("x"); ch:put("y") end)
  eq(r:take(), "truexfalseafter")
end)

test("co_raw_resume_is_exported", function()
  eq(type(csp.coroutine.raw_resume), "function")
end)

test("co_require_leaves_the_coroutine_global_alone", function()
  eq(_G.coroutine.resume ~= csp.coroutine.resume, true)
  eq(_G.coroutine.wrap ~= csp.coroutine.wrap, true)
end)

test("co_patch_installs_and_undo_restores", function()
  local r0, w0 = _G.coroutine.resume, _G.coroutine.wrap
  local undo = csp.coroutine.patch()
  eq(_G.coroutine.resume, csp.coroutine.resume)
  eq(_G.coroutine.wrap, csp.coroutine.wrap)
  local ch = csp.chan()
  local r = csp.go(function()
    local gen = _G.coroutine.wrap(function() _G.coroutine.yield(ch:take()) end)
    return gen()
  end)
  csp.go(function() ch:put("p") end)
  eq(r:take(), "p", "a patched global wrap passes csp's yields through")
  undo()
  eq(_G.coroutine.resume, r0); eq(_G.coroutine.wrap, w0)
end)

T.run()
