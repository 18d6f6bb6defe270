"""The upper-caser / reverser / printer pipeline from the core.async
walkthrough: three go processes joined by channels.

    python3 examples/python/pipeline.py
"""

import csp


def upper_caser(inp):
    out = csp.chan()

    async def run():
        async for s in inp:
            await out.aput(s.upper())
        out.close()

    csp.go(run)
    return out


def reverser(inp):
    out = csp.chan()

    async def run():
        async for s in inp:
            await out.aput(s[::-1])
        out.close()

    csp.go(run)
    return out


def printer(inp):
    async def run():
        async for s in inp:
            print(s)

    return csp.go(run)  # closes when the printer is done


in_chan = csp.chan()
done = printer(reverser(upper_caser(in_chan)))

for word in ["redrum", "repaid", "stressed", "drawer"]:
    in_chan.put(word)      # => MURDER, DIAPER, DESSERTS, REWARD
in_chan.close()
done.take()                # wait for the printer to finish
