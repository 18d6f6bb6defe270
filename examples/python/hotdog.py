"""The hot dog vending machine from the core.async walkthrough (Clojure for
the Brave and True, ch. 11): a go process sells up to N hot dogs, one per
payment of 3; anything else buys wilted lettuce. When the hot dogs are
gone, the machine closes its channels: a later payment is refused
(put returns False) and taking from it gives None.

    python3 examples/python/hotdog.py
"""

import csp


def hot_dog_machine(hot_dog_count):
    """A machine as a pair of channels: put money in, take food out."""
    inp, out = csp.chan(), csp.chan()

    async def machine():
        hc = hot_dog_count
        while hc > 0:
            money = await inp.atake()
            if money == 3:
                hc -= 1
                if hc == 0:
                    inp.close()  # sold out: take no more money
                await out.aput("hot dog")
            else:
                await out.aput("wilted lettuce")
        out.close()

    csp.go(machine)
    return inp, out


inp, out = hot_dog_machine(2)

inp.put("pocket lint")
print("paid pocket lint ->", out.take())
inp.put(3)
print("paid 3           ->", out.take())
inp.put(3)
print("paid 3           ->", out.take())
print("paid 3 again     -> put accepted:", inp.put(3), "/ out:", out.take())
