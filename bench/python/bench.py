"""W1, W2 and W6 of bench/anchors/SPEC.md with csp, beside asyncio.Queue (on
asyncio's own event loop and on uvloop's) and trio memory channels, in one
run.

    .venv/bin/python bench/python/bench.py [scale] [--reps R] [--systems csp,asyncio,uvloop,trio] [W1 W2 W6]
    .venv/bin/python bench/python/bench.py [scale] --one csp [W1 W2 W6]

Each run happens in a fresh process (so W6's peak RSS is its own) and
prints one line in the uniform format of bench/anchors/SPEC.md, followed by the
system in brackets:

    W1 pingpong: 3500.0 ns/round-trip  [csp]

Runs alternate between systems; after R runs (default 5) of a workload
comes a summary line with the medians and the ratios of csp to asyncio
and trio. ``--one SYSTEM`` runs each workload once in this process and
prints only the uniform lines (for a <system>.<run>.txt file). N is
multiplied by SCALE (default 0.1: Python at full size takes minutes, and
per-unit figures barely depend on N).

What runs, per system:
  W1 pingpong      two processes, two unbuffered channels (asyncio has no
                   rendezvous: Queue(maxsize=1)); a value goes A->B and back
  W2 spsc-buffered one producer puts N ints into a channel of capacity 1024,
                   one consumer takes them all
  W6 spawn         N+1 unbuffered channels, N processes; process i takes v
                   from c[i] and puts v+1 on c[i+1]; main puts 0 on c[0] and
                   takes N from c[N]; also the peak RSS growth per process
csp processes are csp.go processes (coroutines on the go scheduler thread);
asyncio and trio processes are tasks. Every workload checks its sum.
System "csp-py" is csp with CSP_PY_NO_FAST=1: the same workloads on the
pure Python path (no C awaitable, the scheduler loop in Python), for a
before/after in the same run (--systems csp,csp-py,asyncio,uvloop,trio).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import csp

try:
    import trio
except ImportError:  # pragma: no cover
    trio = None

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None


def n_of(base: int, scale: float) -> int:
    return max(1, int(base * scale + 0.5))


def rss_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def check(ok: bool, what: str) -> None:
    if not ok:
        sys.exit("check failed: " + what)


# -- csp ------------------------------------------------------------------------

def csp_w1(n: int) -> float:
    a, b = csp.chan(), csp.chan()

    async def echo() -> None:
        while True:
            v = await a.atake()
            if v is None:
                return
            await b.aput(v + 1)

    async def main() -> tuple:
        s = 0
        t0 = time.perf_counter_ns()
        for i in range(n):
            await a.aput(i)
            s += await b.atake()
        el = time.perf_counter_ns() - t0
        a.close()
        return s, el

    csp.go(echo)
    s, el = csp.go(main).take()
    check(s == n * (n - 1) // 2 + n, "csp w1")
    return el / n


def csp_w2(n: int) -> float:
    c = csp.chan(1024)

    async def prod() -> None:
        for i in range(n):
            await c.aput(i)

    async def cons() -> int:
        s = 0
        for _ in range(n):
            s += await c.atake()
        return s

    async def main() -> tuple:
        t0 = time.perf_counter_ns()
        r = csp.go(cons)
        csp.go(prod)
        s = await r.atake()
        return s, time.perf_counter_ns() - t0

    s, el = csp.go(main).take()
    check(s == n * (n - 1) // 2, "csp w2")
    return el / n


def csp_w6(n: int) -> tuple:
    async def link(cin: csp.Chan, cout: csp.Chan) -> None:
        await cout.aput(await cin.atake() + 1)

    async def main() -> tuple:
        rss0 = rss_kb("VmRSS")
        t0 = time.perf_counter_ns()
        cs = [csp.chan() for _ in range(n + 1)]
        for i in range(n):
            csp.go(link(cs[i], cs[i + 1]))
        await cs[0].aput(0)
        v = await cs[n].atake()
        el = time.perf_counter_ns() - t0
        return v, el, rss_kb("VmHWM") - rss0

    v, el, kb = csp.go(main).take()
    check(v == n, "csp w6")
    return el / n, kb * 1024 / n


# -- asyncio ----------------------------------------------------------------------

def aio_w1(n: int) -> float:
    async def run() -> float:
        a, b = asyncio.Queue(1), asyncio.Queue(1)

        async def echo() -> None:
            while True:
                v = await a.get()
                if v is None:
                    return
                await b.put(v + 1)

        t = asyncio.create_task(echo())
        await asyncio.sleep(0)
        s = 0
        t0 = time.perf_counter_ns()
        for i in range(n):
            await a.put(i)
            s += await b.get()
        el = time.perf_counter_ns() - t0
        await a.put(None)
        await t
        check(s == n * (n - 1) // 2 + n, "asyncio w1")
        return el / n
    return asyncio.run(run())


def aio_w2(n: int) -> float:
    async def run() -> float:
        q: asyncio.Queue = asyncio.Queue(1024)

        async def prod() -> None:
            for i in range(n):
                await q.put(i)

        async def cons() -> int:
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
        check(s == n * (n - 1) // 2, "asyncio w2")
        return el / n
    return asyncio.run(run())


def aio_w6(n: int) -> tuple:
    async def run() -> tuple:
        async def link(qin: asyncio.Queue, qout: asyncio.Queue) -> None:
            await qout.put(await qin.get() + 1)

        rss0 = rss_kb("VmRSS")
        t0 = time.perf_counter_ns()
        qs = [asyncio.Queue(1) for _ in range(n + 1)]
        tasks = [asyncio.create_task(link(qs[i], qs[i + 1])) for i in range(n)]
        await qs[0].put(0)
        v = await qs[n].get()
        el = time.perf_counter_ns() - t0
        kb = rss_kb("VmHWM") - rss0
        await asyncio.gather(*tasks)
        check(v == n, "asyncio w6")
        return el / n, kb * 1024 / n
    return asyncio.run(run())


# -- trio ---------------------------------------------------------------------------

def trio_w1(n: int) -> float:
    async def run() -> float:
        a_s, a_r = trio.open_memory_channel(0)
        b_s, b_r = trio.open_memory_channel(0)
        out = []

        async def echo() -> None:
            async for v in a_r:
                await b_s.send(v + 1)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(echo)
            await trio.sleep(0)
            s = 0
            t0 = time.perf_counter_ns()
            for i in range(n):
                await a_s.send(i)
                s += await b_r.receive()
            out.append(time.perf_counter_ns() - t0)
            await a_s.aclose()
        check(s == n * (n - 1) // 2 + n, "trio w1")
        return out[0] / n
    return trio.run(run)


def trio_w2(n: int) -> float:
    async def run() -> float:
        snd, rcv = trio.open_memory_channel(1024)
        res = []

        async def prod() -> None:
            for i in range(n):
                await snd.send(i)

        async def cons() -> None:
            s = 0
            for _ in range(n):
                s += await rcv.receive()
            res.append(s)

        t0 = time.perf_counter_ns()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(cons)
            nursery.start_soon(prod)
        el = time.perf_counter_ns() - t0
        check(res[0] == n * (n - 1) // 2, "trio w2")
        return el / n
    return trio.run(run)


def trio_w6(n: int) -> tuple:
    async def run() -> tuple:
        async def link(rin, sout) -> None:
            await sout.send(await rin.receive() + 1)

        rss0 = rss_kb("VmRSS")
        t0 = time.perf_counter_ns()
        async with trio.open_nursery() as nursery:
            chans = [trio.open_memory_channel(0) for _ in range(n + 1)]
            for i in range(n):
                nursery.start_soon(link, chans[i][1], chans[i + 1][0])
            await chans[0][0].send(0)
            v = await chans[n][1].receive()
            el = time.perf_counter_ns() - t0
            kb = rss_kb("VmHWM") - rss0
        check(v == n, "trio w6")
        return el / n, kb * 1024 / n
    return trio.run(run)


WORKLOADS = {
    "W1": ("pingpong", "ns/round-trip", 1_000_000, {"csp": csp_w1, "asyncio": aio_w1, "trio": trio_w1}),
    "W2": ("spsc-buffered", "ns/msg", 10_000_000, {"csp": csp_w2, "asyncio": aio_w2, "trio": trio_w2}),
    "W6": ("spawn", "ns/process", 1_000_000, {"csp": csp_w6, "asyncio": aio_w6, "trio": trio_w6}),
}


def run_one(system: str, wl: str, n: int) -> Any:
    """Run workload WL of SYSTEM once, here; its result (and print it).
    System "uvloop" is asyncio's workloads on uvloop's event loop."""
    name, unit, base, fns = WORKLOADS[wl]
    if system == "uvloop":
        uvloop.install()
        r = fns["asyncio"](n)
    elif system == "csp-py":
        r = fns["csp"](n)  # this process was started with CSP_PY_NO_FAST=1
    else:
        r = fns[system](n)
    if isinstance(r, tuple):
        print(f"{wl} {name}: {r[0]:.1f} {unit} {r[1]:.0f} B/process (peak RSS delta)")
    else:
        print(f"{wl} {name}: {r:.1f} {unit}")
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description="csp vs asyncio vs trio: W1, W2, W6")
    ap.add_argument("scale", nargs="?", type=float, default=0.1)
    ap.add_argument("workloads", nargs="*", default=["W1", "W2", "W6"])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--systems", default="csp,asyncio,uvloop,trio")
    ap.add_argument("--one", metavar="SYSTEM",
                    help="run each workload once with SYSTEM in this process "
                         "(plain uniform lines, no summary)")
    args = ap.parse_intermixed_args()
    for wl in args.workloads:
        if wl not in WORKLOADS:
            sys.exit(f"unknown workload {wl}; choose from {', '.join(WORKLOADS)}")
    if args.one:
        for wl in args.workloads:
            run_one(args.one, wl, n_of(WORKLOADS[wl][2], args.scale))
        return
    systems = [s for s in args.systems.split(",")
               if (s != "trio" or trio is not None) and (s != "uvloop" or uvloop is not None)]
    print(f"# python {sys.version.split()[0]} csp {csp.__version__} scale={args.scale} "
          f"reps={args.reps} systems={','.join(systems)}; each run in a fresh process")
    for wl in args.workloads:
        name, unit, base, fns = WORKLOADS[wl]
        runs: dict = {s: [] for s in systems}
        for _ in range(args.reps):
            for s in systems:  # alternate the systems
                env = dict(os.environ)
                if s == "csp-py":
                    env["CSP_PY_NO_FAST"] = "1"
                out = subprocess.run(
                    [sys.executable, __file__, str(args.scale), wl, "--one", s],
                    check=True, capture_output=True, text=True,
                    env=env).stdout.strip()
                print(f"{out}  [{s}]")
                sys.stdout.flush()
                runs[s].append(float(out.split(": ", 1)[1].split()[0]))
        med = {s: statistics.median(runs[s]) for s in systems}
        line = ", ".join(f"{s} {med[s]:.1f}" for s in systems)
        ratios = ""
        if "asyncio" in med and "csp" in med:
            ratios = f"; csp/asyncio = {med['csp'] / med['asyncio']:.2f}"
            if "uvloop" in med:
                ratios += f", csp/uvloop = {med['csp'] / med['uvloop']:.2f}"
            if "trio" in med:
                ratios += f", csp/trio = {med['csp'] / med['trio']:.2f}"
            if "csp-py" in med:
                ratios += (f"; csp-py/asyncio = {med['csp-py'] / med['asyncio']:.2f}"
                           + (f", csp-py/uvloop = {med['csp-py'] / med['uvloop']:.2f}"
                              if "uvloop" in med else ""))
        print(f"# {wl} {name} median {unit}: {line}{ratios}")


if __name__ == "__main__":
    main()
