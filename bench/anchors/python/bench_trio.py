"""CSP performance anchors on trio memory channels (Debian python3-trio).

Usage: /usr/bin/python3 bench_trio.py [scale] [W1 W2 ...]
trio.open_memory_channel(0) is a true rendezvous (unbuffered) channel.
Trio has no select over channels, so W5 is not run.
"""
import sys
import time

import trio


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
    a_s, a_r = trio.open_memory_channel(0)
    b_s, b_r = trio.open_memory_channel(0)

    async def echo():
        async for v in a_r:
            await b_s.send(v + 1)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(echo)
        t0 = time.perf_counter_ns()
        s = 0
        for i in range(n):
            await a_s.send(i)
            s += await b_r.receive()
        el = time.perf_counter_ns() - t0
        await a_s.aclose()
    check(s == n * (n - 1) // 2 + n, "w1")
    print(f"W1 pingpong: {el / n:.1f} ns/round-trip")


async def spsc(name, n, cap):
    snd, rcv = trio.open_memory_channel(cap)
    res = []

    async def prod():
        for i in range(n):
            await snd.send(i)

    async def cons():
        s = 0
        for _ in range(n):
            s += await rcv.receive()
        res.append(s)

    t0 = time.perf_counter_ns()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(cons)
        nursery.start_soon(prod)
    el = time.perf_counter_ns() - t0
    check(res[0] == n * (n - 1) // 2, name)
    print(f"{name}: {el / n:.1f} ns/msg")


async def w2():
    await spsc("W2 spsc-buffered", n_of(10_000_000), 1024)


async def w3():
    await spsc("W3 spsc-unbuffered", n_of(1_000_000), 0)


async def w4():
    per = n_of(2_500_000)
    snd, rcv = trio.open_memory_channel(1024)
    res = []

    async def prod():
        for i in range(per):
            await snd.send(i)

    async def cons():
        s = 0
        for _ in range(per):
            s += await rcv.receive()
        res.append(s)

    t0 = time.perf_counter_ns()
    async with trio.open_nursery() as nursery:
        for _ in range(4):
            nursery.start_soon(cons)
        for _ in range(4):
            nursery.start_soon(prod)
    el = time.perf_counter_ns() - t0
    check(sum(res) == 4 * (per * (per - 1) // 2), "w4")
    print(f"W4 mpmc: {el / (4 * per):.1f} ns/msg")


async def w6():
    """Daisy chain (bench/anchors/SPEC.md): n+1 rendezvous channels, n tasks; task i
    receives v from c[i] and sends v+1 on c[i+1]."""
    n = n_of(1_000_000)
    base = rss_kb("VmRSS")
    t0 = time.perf_counter_ns()
    chans = [trio.open_memory_channel(0) for _ in range(n + 1)]

    async def link(rcv, snd):
        await snd.send(await rcv.receive() + 1)

    async with trio.open_nursery() as nursery:
        for i in range(n):
            nursery.start_soon(link, chans[i][1], chans[i + 1][0])
        await chans[0][0].send(0)
        v = await chans[n][1].receive()
    el = time.perf_counter_ns() - t0
    peak = rss_kb("VmHWM")
    check(v == n, "w6")
    print(f"W6 spawn: {el / n:.1f} ns/process {(peak - base) * 1024 / n:.0f} B/process (peak RSS delta)")


async def w6s():
    """The first form of W6 (n tasks send on one channel, main receives all); not
    expressible in core.async or csp (1024 pending puts per channel at most)."""
    n = n_of(1_000_000)
    snd, rcv = trio.open_memory_channel(1024)

    async def put_id(i):
        await snd.send(i)

    base = rss_kb("VmRSS")
    t0 = time.perf_counter_ns()
    s = 0
    async with trio.open_nursery() as nursery:
        for i in range(n):
            nursery.start_soon(put_id, i)
        for _ in range(n):
            s += await rcv.receive()
    el = time.perf_counter_ns() - t0
    peak = rss_kb("VmHWM")
    check(s == n * (n - 1) // 2, "w6s")
    print(f"W6s spawn-shared: {el / n:.1f} ns/process {(peak - base) * 1024 / n:.0f} B/process (peak RSS delta)")


async def w6w():
    n = n_of(1_000_000)
    snd, rcv = trio.open_memory_channel(1024)

    async def put_id(i):
        await snd.send(i)

    t0 = time.perf_counter_ns()
    s = done = 0
    async with trio.open_nursery() as nursery:
        while done < n:
            k = min(1024, n - done)
            for j in range(k):
                nursery.start_soon(put_id, done + j)
            for _ in range(k):
                s += await rcv.receive()
            done += k
    el = time.perf_counter_ns() - t0
    check(s == n * (n - 1) // 2, "w6w")
    print(f"W6w spawn-waves: {el / n:.1f} ns/process")


async def w7():
    p, n = 503, n_of(10_000_000)
    chans = [trio.open_memory_channel(0) for _ in range(p)]
    done_s, done_r = trio.open_memory_channel(0)

    async def ringer(rcv, snd):
        async for v in rcv:
            if v == 0:
                await done_s.send(0)
                return
            await snd.send(v - 1)

    async with trio.open_nursery() as nursery:
        for i in range(p):
            nursery.start_soon(ringer, chans[i][1], chans[(i + 1) % p][0])
        t0 = time.perf_counter_ns()
        await chans[0][0].send(n)
        await done_r.receive()
        el = time.perf_counter_ns() - t0
        nursery.cancel_scope.cancel()
    print(f"W7 ring: {el / n:.1f} ns/hop")


async def w8():
    n = n_of(100_000)
    snd, rcv = trio.open_memory_channel(n)

    async def sleeper(ms):
        s = time.perf_counter_ns()
        await trio.sleep(ms / 1000)
        await snd.send((time.perf_counter_ns() - s) / 1e6 - ms)

    t0 = time.perf_counter_ns()
    async with trio.open_nursery() as nursery:
        for ms in durations(n):
            nursery.start_soon(sleeper, ms)
        ls = sorted([await rcv.receive() for _ in range(n)])
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
    want = {a.upper() for a in args}
    print(f"# trio {trio.__version__} python {sys.version.split()[0]} scale={SCALE}", file=sys.stderr)
    trio.run(main, want)
