-- hotdog.lua - the hot dog vending machine from the core.async chapter of
-- "Clojure for the Brave and True", as a csp go process.
--
--   (defn hot-dog-machine-v2 [hot-dog-count]
--     (let [in (chan) out (chan)]
--       (go (loop [hc hot-dog-count]
--             (if (> hc 0)
--               (let [input (<! in)]
--                 (if (= 3 input)
--                   (do (>! out "hot dog") (recur (dec hc)))
--                   (do (>! out "wilted lettuce") (recur hc))))
--               (do (close! in) (close! out)))))
--       [in out]))
--
-- Run: lua5.4 examples/lua/hotdog.lua (with LUA_PATH/LUA_CPATH from the
-- build's lua-env.sh).
local csp = require("csp")

local function hot_dog_machine(hot_dogs)
  local input, output = csp.chan(), csp.chan()
  csp.go(function()
    while hot_dogs > 0 do
      local money = input:take()
      if money == 3 then
        output:put("hot dog")
        hot_dogs = hot_dogs - 1
      else
        output:put("wilted lettuce")
      end
    end
    input:close()
    output:close()
  end)
  return input, output
end

local input, output = hot_dog_machine(2)

-- The main program is not a go process: put and take block it, running
-- the machine meanwhile.
for _, money in ipairs({3, "pocket lint", 3}) do
  input:put(money)
  print(("paid %-13s -> %s"):format(tostring(money), output:take()))
end

-- The machine ran out and closed its channels.
print("paid 3             -> " .. tostring(input:put(3)) .. " (the machine is closed)")
print("output             -> " .. tostring(output:take()))

-- A customer who pays, then waits at most MS milliseconds for a snack:
-- alts over the machine's output and a timeout.
local function impatient(machine_in, machine_out, ms)
  return csp.go(function()
    machine_in:put(3)
    local snack, ch = csp.alts({machine_out, csp.timeout(ms)})
    if ch == machine_out then return "got a " .. snack end
    return "gave up after " .. ms .. " ms"
  end)
end

-- A working machine answers at once, far inside the first customer's
-- second, so what is printed does not depend on timing (it did with a
-- 100 ms limit on a loaded machine). A broken machine keeps the money (a
-- buffer of 1) and never answers: the second customer's timeout wins.
local machine_in, machine_out = hot_dog_machine(1)
print("impatient customer -> " .. impatient(machine_in, machine_out, 1000):take())
local broken_in, broken_out = csp.chan(1), csp.chan()
print("impatient customer -> " .. impatient(broken_in, broken_out, 100):take())
