"""Awaitables inside plain asyncio: one csp_loop per event loop, fast path
without futures, cancellation that never loses or duplicates a value."""

import asyncio
import sys
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import csp
from csp import _aio
from conftest import Obj, settle


def run(coro):
    return asyncio.run(coro)


def test_aio_atake_gets_value_from_task():
    async def main():
        ch = csp.chan()
        asyncio.create_task(ch.aput("v"))
        return await ch.atake()

    assert run(main()) == "v"


def test_aio_aput_returns_true_when_taken():
    async def main():
        ch = csp.chan()
        t = asyncio.create_task(ch.atake())
        ok = await ch.aput(1)
        return ok, await t

    assert run(main()) == (True, 1)


def test_aio_aput_on_closed_returns_false():
    async def main():
        ch = csp.chan()
        ch.close()
        return await ch.aput(1)

    assert run(main()) is False


def test_aio_atake_on_closed_returns_none():
    async def main():
        ch = csp.chan()
        ch.close()
        return await ch.atake()

    assert run(main()) is None


def test_aio_immediate_take_creates_no_future():
    async def main():
        ch = csp.chan(1)
        ch.offer(5)
        b = _aio.bridge()
        v = await ch.atake()
        return v, len(b.futs), b.outstanding

    assert run(main()) == (5, 0, 0)


def test_aio_async_for_over_channel():
    async def main():
        ch = csp.chan()

        async def prod():
            for i in range(5):
                await ch.aput(i)
            ch.close()

        t = asyncio.create_task(prod())
        got = [v async for v in ch]
        await t
        return got

    assert run(main()) == [0, 1, 2, 3, 4]


def test_aio_async_with_closes():
    async def main():
        async with csp.chan() as ch:
            pass
        return ch.closed

    assert run(main()) is True


def test_aio_aalts_takes_ready_channel():
    async def main():
        a, b = csp.chan(), csp.chan(1)
        b.offer("b")
        return await csp.aalts([a, b])

    v, c = run(main())
    assert v == "b"


def test_aio_aalts_timeout_wins():
    async def main():
        t = csp.timeout(10)
        v, c = await csp.aalts([csp.chan(), t])
        return v, c is t

    assert run(main()) == (None, True)


def test_aio_aalts_default_when_nothing_ready():
    async def main():
        return await csp.aalts([csp.chan()], default=0)

    assert run(main()) == (0, "default")


def test_aio_value_from_go_process():
    async def main():
        return await csp.go(lambda: 7).atake()

    assert run(main()) == 7


def test_aio_task_and_go_process_exchange():
    async def main():
        req, rep = csp.chan(), csp.chan()

        async def server():
            while (v := await req.atake()) is not None:
                await rep.aput(v * v)

        csp.go(server)
        out = []
        for i in range(50):
            await req.aput(i)
            out.append(await rep.atake())
        req.close()
        return out

    assert run(main()) == [i * i for i in range(50)]


def test_aio_thread_puts_wake_loop():
    async def main():
        ch = csp.chan()
        threading.Thread(target=lambda: [ch.put(i) for i in range(100)]).start()
        return [await ch.atake() for _ in range(100)]

    assert run(main()) == list(range(100))


def test_aio_timeout_channel_wakes_loop():
    async def main():
        return await csp.timeout(5).atake()

    assert run(main()) is None


def test_aio_each_loop_gets_its_own_bridge():
    async def get():
        return _aio.bridge()

    b1 = run(get())
    b2 = run(get())
    assert b1 is not b2


def test_aio_loops_in_two_threads():
    ch = csp.chan()
    res = []

    def consumer():
        async def main():
            return [await ch.atake() for _ in range(100)]
        res.append(asyncio.run(main()))

    t = threading.Thread(target=consumer)
    t.start()

    async def producer():
        for i in range(100):
            await ch.aput(i)

    run(producer())
    t.join(10)
    assert res == [list(range(100))]


def test_aio_atake_outside_loop_raises_runtime_error():
    coro = csp.chan().atake()
    with pytest.raises(RuntimeError):
        coro.send(None)


def test_aio_cancelled_take_is_withdrawn():
    async def main():
        ch = csp.chan()
        t = asyncio.create_task(ch.atake())
        await asyncio.sleep(0)
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t
        return ch.offer(1)  # no taker left

    assert run(main()) is None


def test_aio_cancelled_put_is_withdrawn():
    async def main():
        ch = csp.chan()
        t = asyncio.create_task(ch.aput("v"))
        await asyncio.sleep(0)
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t
        return ch.poll()

    assert run(main()) is None


def test_aio_cancelled_put_releases_value():
    o = Obj()
    base = sys.getrefcount(o)

    async def main():
        ch = csp.chan()
        t = asyncio.create_task(ch.aput(o))
        await asyncio.sleep(0)
        t.cancel()
        await asyncio.gather(t, return_exceptions=True)

    run(main())
    settle()
    assert sys.getrefcount(o) == base


def test_aio_cancel_after_completion_delivers_value():
    async def main():
        ch = csp.chan()
        t = asyncio.create_task(ch.atake())
        await asyncio.sleep(0)           # t waits on ch
        assert ch.offer("won") is True   # completes t's take now...
        t.cancel()                       # ...so this cancel comes too late
        return await t

    assert run(main()) == "won"


def test_aio_cancel_after_put_completion_returns_true():
    async def main():
        ch = csp.chan()
        t = asyncio.create_task(ch.aput("v"))
        await asyncio.sleep(0)
        assert ch.poll() == "v"
        t.cancel()
        return await t

    assert run(main()) is True


def test_aio_wait_for_timeout_withdraws_take():
    async def main():
        ch = csp.chan()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(ch.atake(), 0.01)
        return ch.offer(1)

    assert run(main()) is None


def test_aio_cancelled_aalts_withdraws_every_op():
    async def main():
        a, b = csp.chan(), csp.chan()
        t = asyncio.create_task(csp.aalts([a, (b, "x")]))
        await asyncio.sleep(0)
        t.cancel()
        await asyncio.gather(t, return_exceptions=True)
        return a.offer(1), b.poll()

    assert run(main()) == (None, None)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.booleans()), min_size=1, max_size=40))
def test_aio_cancellation_never_loses_or_duplicates(plan):
    """Takers are cancelled at random points while a thread and a task put
    values; every value put is taken exactly once (or is still queued)."""
    async def main():
        ch = csp.chan()
        n = len(plan)
        sent = []

        def thread_putter():
            for i in range(n):
                if ch.put(i):
                    sent.append(i)

        th = threading.Thread(target=thread_putter)
        th.start()
        got = []
        for delay, cancel in plan:
            t = asyncio.create_task(ch.atake())
            for _ in range(delay):
                await asyncio.sleep(0)
            if cancel:
                t.cancel()
            try:
                v = await t
                if v is not None:
                    got.append(v)
            except asyncio.CancelledError:
                pass
        # drain the rest
        while len(got) < n:
            v = await ch.atake()
            got.append(v)
        await asyncio.get_running_loop().run_in_executor(None, th.join)
        return sorted(got), sorted(sent)

    got, sent = asyncio.run(main())
    assert got == sent == list(range(len(plan)))


def test_aio_bridge_freed_with_its_loop():
    import gc
    import weakref

    async def main():
        return weakref.ref(_aio.bridge())

    r = run(main())
    gc.collect()
    assert r() is None
