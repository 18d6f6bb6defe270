-- pipeline.lua - the upper-caser -> reverser -> printer pipeline from the
-- core.async chapter of "Clojure for the Brave and True":
--
--   (defn upper-caser [in]
--     (let [out (chan)]
--       (go (while true (>! out (clojure.string/upper-case (<! in)))))
--       out))
--   (defn reverser [in] ... (clojure.string/reverse (<! in)) ...)
--   (defn printer [in] (go (while true (println (<! in)))))
--   (>!! in-chan "redrum")  ; => MURDER
--   (>!! in-chan "repaid")  ; => DIAPER
--
-- then the same with csp.pipeline and a transform, which keeps the order
-- of the inputs however many workers run.
local csp = require("csp")

-- Each stage is a go process between two channels; closing the input
-- closes every stage after it (the original loops forever).
local function stage(f, input)
  local output = csp.chan()
  csp.go(function()
    while true do
      local v = input:take()
      if v == nil then break end
      output:put(f(v))
    end
    output:close()
  end)
  return output
end

local function printer(input)
  return csp.go(function()
    while true do
      local v = input:take()
      if v == nil then break end
      print(v)
    end
  end)
end

local in_chan = csp.chan()
local upper_caser_out = stage(string.upper, in_chan)
local reverser_out = stage(string.reverse, upper_caser_out)
local done = printer(reverser_out)

in_chan:put("redrum")  -- MURDER
in_chan:put("repaid")  -- DIAPER
in_chan:close()
done:take()            -- wait until the printer has printed everything

-- The same with core.async's pipeline: 4 workers, a transform per item,
-- output in input order.
local words = {"redrum", "repaid", "stressed", "drawer", "live"}
local out = csp.chan(#words)
csp.pipeline(4, out, csp.xf.comp(csp.xf.map(string.upper), csp.xf.map(string.reverse)),
             csp.to_chan(words))
local results = {}
for v in out:iter() do results[#results + 1] = v end
print(table.concat(results, " "))
