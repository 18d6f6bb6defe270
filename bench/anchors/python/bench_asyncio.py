"""CSP performance anchors on asyncio (asyncio.Queue), Debian python3 (+ python3-uvloop).

Usage: /usr/bin/python3 bench_asyncio.py [scale] [--uvloop] [W1 W2 ...]
asyncio.Queue has no rendezvous: "unbuffered" is Queue(maxsize=1), a one-slot buffer,
so W1/W3/W7 let the sender run one step ahead of the receiver.
No select over queues exists, so W5 is not run (asyncio.wait over 100 get-tasks would
measure task churn, not a channel select).
"""
import asyncio
import sys
import time


def n_of(base):
    return max(1, int(base * SCALE + 0.5))


def rss_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def check(ok, what):
    if not ok:
        sys.exit("check failed: " + what)


def durations(n):
    x, out, mask = 42, [], (1 << 64) - 1
    for _ in range(n):
        x = (x * 6364136223846793005 + 1442695040888963407) & mask
        out.append(1 + (x >> 33) % 100)
    return out


async def w1():
    n = n_of(1_000_000)
    a, b = asyncio.Queue(1), asyncio.Queue(1)

    async def echo():
        while True:
            v = await a.get()
            if v is None:
                return
            await b.put(v + 1)

    t = asyncio.create_task(echo())
    t0 = time.perf_counter_ns()
    s = 0
    for i in range(n):
        await a.put(i)
        s += await b.get()
    el = time.perf_counter_ns() - t0
    await a.put(None)
    await t
    check(s == n * (n - 1) // 2 + n, "w1")
    print(f"W1 pingpong: {el / n:.1f} ns/round-trip")


async def spsc(name, n, cap):
    q = asyncio.Queue(cap)

    async def prod():
        for i in range(n):
            await q.put(i)

    async def cons():
        s = 0
        for _ in range(n):
            s += await q.get()
        return s

    t0 = time.perf_counter_ns()
    c = asyncio.create_task(cons())
    p = asyncio.create_task(prod())
    s = await c
    await p
    el = time.perf_counter_ns() - t0
    check(s == n * (n - 1) // 2, name)
    print(f"{name}: {el / n:.1f} ns/msg")


async def w2():
    await spsc("W2 spsc-buffered", n_of(10_000_000), 1024)


async def w3():
    await spsc("W3 spsc-unbuffered(maxsize=1)", n_of(1_000_000), 1)


async def w4():
    per = n_of(2_500_000)
    q = asyncio.Queue(1024)

    async def prod():
        for i in range(per):
            await q.put(i)

    async def cons():
        s = 0
        for _ in range(per):
            s += await q.get()
        return s

    t0 = time.perf_counter_ns()
    cs = [asyncio.create_task(cons()) for _ in range(4)]
    ps = [asyncio.create_task(prod()) for _ in range(4)]
    s = sum(await asyncio.gather(*cs))
    await asyncio.gather(*ps)
    el = time.perf_counter_ns() - t0
    check(s == 4 * (per * (per - 1) // 2), "w4")
    print(f"W4 mpmc: {el / (4 * per):.1f} ns/msg")


async def w6():
    """Daisy chain (bench/anchors/SPEC.md): n+1 queues, n tasks; task i takes v from q[i]
    and puts v+1 on q[i+1]. Queue(1) stands in for an unbuffered channel."""
    n = n_of(1_000_000)
    base = rss_kb("VmRSS")
    t0 = time.perf_counter_ns()
    qs = [asyncio.Queue(1) for _ in range(n + 1)]

    async def link(qin, qout):
        await qout.put(await qin.get() + 1)

    tasks = [asyncio.create_task(link(qs[i], qs[i + 1])) for i in range(n)]
    await qs[0].put(0)
    v = await qs[n].get()
    el = time.perf_counter_ns() - t0
    peak = rss_kb("VmHWM")
    del tasks
    check(v == n, "w6")
    print(f"W6 spawn: {el / n:.1f} ns/process {(peak - base) * 1024 / n:.0f} B/process (peak RSS delta)")


async def w6s():
    """The first form of W6 (n tasks put on one queue, main takes all); not expressible
    in core.async or csp (1024 pending puts per channel at most)."""
    n = n_of(1_000_000)
    q = asyncio.Queue(1024)

    async def put_id(i):
        await q.put(i)

    base = rss_kb("VmRSS")
    t0 = time.perf_counter_ns()
    tasks = [asyncio.create_task(put_id(i)) for i in range(n)]
    s = 0
    for _ in range(n):
        s += await q.get()
    el = time.perf_counter_ns() - t0
    peak = rss_kb("VmHWM")
    del tasks
    check(s == n * (n - 1) // 2, "w6s")
    print(f"W6s spawn-shared: {el / n:.1f} ns/process {(peak - base) * 1024 / n:.0f} B/process (peak RSS delta)")


async def w6w():
    n = n_of(1_000_000)
    q = asyncio.Queue(1024)

    async def put_id(i):
        await q.put(i)

    t0 = time.perf_counter_ns()
    s = done = 0
    while done < n:
        k = min(1024, n - done)
        for j in range(k):
            asyncio.create_task(put_id(done + j))
        for _ in range(k):
            s += await q.get()
        done += k
    el = time.perf_counter_ns() - t0
    check(s == n * (n - 1) // 2, "w6w")
    print(f"W6w spawn-waves: {el / n:.1f} ns/process")


async def w7():
    p, n = 503, n_of(10_000_000)
    qs = [asyncio.Queue(1) for _ in range(p)]
    done = asyncio.Queue(1)

    async def ringer(inq, outq):
        while True:
            v = await inq.get()
            if v is None:
                return
            if v == 0:
                await done.put(0)
                return
            await outq.put(v - 1)

    ts = [asyncio.create_task(ringer(qs[i], qs[(i + 1) % p])) for i in range(p)]
    t0 = time.perf_counter_ns()
    await qs[0].put(n)
    await done.get()
    el = time.perf_counter_ns() - t0
    for t in ts:
        t.cancel()
    print(f"W7 ring(maxsize=1): {el / n:.1f} ns/hop")


async def w8():
    n = n_of(100_000)
    late = asyncio.Queue(n)

    async def sleeper(ms):
        s = time.perf_counter_ns()
        await asyncio.sleep(ms / 1000)
        await late.put((time.perf_counter_ns() - s) / 1e6 - ms)

    t0 = time.perf_counter_ns()
    for ms in durations(n):
        asyncio.create_task(sleeper(ms))
    ls = sorted([await late.get() for _ in range(n)])
    el = time.perf_counter_ns() - t0
    print(f"W8 timers: {el / 1e6:.1f} ms total, lateness p50 {ls[n // 2]:.3f} ms, p99 {ls[n * 99 // 100]:.3f} ms, max {ls[-1]:.3f} ms")


async def main(want):
    for name, fn in [("W1", w1), ("W2", w2), ("W3", w3), ("W4", w4), ("W7", w7), ("W8", w8),
                     ("W6W", w6w), ("W6S", w6s), ("W6", w6)]:
        if not want or name in want:
            await fn()
            sys.stdout.flush()


if __name__ == "__main__":
    args = sys.argv[1:]
    SCALE = 1.0
    if args and args[0].replace(".", "", 1).isdigit():
        SCALE = float(args.pop(0))
    use_uvloop = "--uvloop" in args
    want = {a.upper() for a in args if not a.startswith("--")}
    if use_uvloop:
        import uvloop
        uvloop.install()
    print(f"# asyncio python {sys.version.split()[0]} uvloop={use_uvloop} scale={SCALE}", file=sys.stderr)
    asyncio.run(main(want))
