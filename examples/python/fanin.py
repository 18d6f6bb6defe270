"""Fan-in with alts: 1000 go processes, each with its own unbuffered
channel, send their messages; one go process gathers them all with
csp.aalts, dropping each channel as it closes.

    python3 examples/python/fanin.py [producers] [messages_each]
"""

import sys
import time

import csp

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
K = int(sys.argv[2]) if len(sys.argv) > 2 else 5


async def producer(i, ch):
    for k in range(K):
        await ch.aput((i, k))
    ch.close()


async def consumer(chans):
    open_chans = list(chans)
    per_producer = [0] * N
    count = 0
    first_done = None
    while open_chans:
        v, ch = await csp.aalts(open_chans)
        if v is None:              # a producer finished: stop listening to it
            open_chans.remove(ch)
            continue
        i, k = v
        assert k == per_producer[i], "messages of one producer arrive in order"
        per_producer[i] += 1
        count += 1
        if per_producer[i] == K and first_done is None:
            first_done = i
    return count, first_done, all(c == K for c in per_producer)


t0 = time.perf_counter()
chans = [csp.chan() for _ in range(N)]
for i, ch in enumerate(chans):
    csp.go(producer, i, ch)
count, first_done, complete = csp.go(consumer, chans).take()
dt = time.perf_counter() - t0
print(f"{N} go processes sent {count} messages through alts over up to {N} channels")
print(f"every producer delivered all {K} in order: {complete}; "
      f"first to finish: producer #{first_done}")
print(f"{dt:.2f} s, {dt / count * 1e6:.0f} us per message")
