"""Awaitables under trio and anyio (on both of anyio's backends)."""

import threading

import anyio
import pytest
import trio

import csp
from conftest import Obj, settle


def test_trio_ping_pong_between_tasks():
    async def main():
        a, b = csp.chan(), csp.chan()
        n = 500

        async def echo():
            while (v := await a.atake()) is not None:
                await b.aput(v + 1)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(echo)
            total = 0
            for i in range(n):
                await a.aput(i)
                total += await b.atake()
            a.close()
        return total

    assert trio.run(main) == sum(range(1, 501))


def test_trio_atake_gets_value_from_plain_thread():
    async def main():
        ch = csp.chan()
        threading.Thread(target=ch.put, args=("hi",)).start()
        return await ch.atake()

    assert trio.run(main) == "hi"


def test_trio_exchanges_with_go_process():
    async def main():
        ch = csp.chan()
        res = csp.go(lambda: ch.aput(41))
        v = await ch.atake()
        return v, await res.atake()

    assert trio.run(main) == (41, True)


def test_trio_aalts_takes_ready_channel():
    async def main():
        a, b = csp.chan(), csp.chan(1)
        b.put(2)
        return await csp.aalts([a, b])

    v, ch = trio.run(main)
    assert v == 2


def test_trio_aalts_timeout_wins():
    async def main():
        t = csp.timeout(10)
        v, ch = await csp.aalts([csp.chan(), t])
        return v, ch is t

    assert trio.run(main) == (None, True)


def test_trio_cancel_scope_withdraws_take():
    async def main():
        ch = csp.chan()
        with trio.move_on_after(0.01) as scope:
            await ch.atake()
        return scope.cancelled_caught, ch.offer(1)

    assert trio.run(main) == (True, None)  # no taker left behind


def test_trio_cancel_scope_withdraws_put_and_releases_value():
    import weakref

    async def main():
        ch = csp.chan()
        o = Obj()
        r = weakref.ref(o)
        with trio.move_on_after(0.01):
            await ch.aput(o)
        del o
        return ch.poll(), r

    polled, r = trio.run(main)
    settle()
    assert polled is None and r() is None


def test_trio_cancelled_aalts_withdraws_every_op():
    async def main():
        a, b = csp.chan(), csp.chan()
        with trio.move_on_after(0.01):
            await csp.aalts([a, (b, 1)])
        return a.offer(1), b.poll()

    assert trio.run(main) == (None, None)


def test_trio_cancellation_never_loses_a_value():
    """Takers under short deadlines race a thread's puts: every value put
    is taken exactly once (a take that completed as its deadline hit keeps
    its value)."""
    n = 300

    async def main():
        ch = csp.chan()
        sent = []

        def putter():
            for i in range(n):
                if ch.put(i):
                    sent.append(i)

        th = threading.Thread(target=putter)
        th.start()
        got = []
        while len(got) < n:
            with trio.move_on_after(0.0001):
                v = await ch.atake()
                got.append(v)
            await trio.sleep(0)
        await trio.to_thread.run_sync(th.join)
        return sorted(got), sorted(sent)

    got, sent = trio.run(main)
    assert got == sent == list(range(n))


def test_trio_atake_outside_trio_and_asyncio_raises_runtime_error():
    coro = csp.chan().atake()
    with pytest.raises(RuntimeError):
        coro.send(None)
    coro.close()


def test_trio_callback_of_take_async_runs_on_trio_thread():
    async def main():
        ch = csp.chan()
        ev = trio.Event()
        got = []
        ch.take_async(lambda v: (got.append((v, threading.get_ident())), ev.set()))
        threading.Thread(target=ch.put, args=(3,)).start()
        with trio.fail_after(10):
            await ev.wait()
        return got[0], threading.get_ident()

    (v, ident), trio_ident = trio.run(main)
    assert v == 3 and ident == trio_ident


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_anyio_ping_pong(backend):
    async def main():
        a, b = csp.chan(), csp.chan()

        async def echo():
            while (v := await a.atake()) is not None:
                await b.aput(v * 2)

        async with anyio.create_task_group() as tg:
            tg.start_soon(echo)
            out = []
            for i in range(200):
                await a.aput(i)
                out.append(await b.atake())
            a.close()
        return out

    assert anyio.run(main, backend=backend) == [2 * i for i in range(200)]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_anyio_cancel_scope_withdraws_take(backend):
    async def main():
        ch = csp.chan()
        with anyio.move_on_after(0.01) as scope:
            await ch.atake()
        return scope.cancel_called, ch.offer(1)

    assert anyio.run(main, backend=backend) == (True, None)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_anyio_cancellation_never_loses_a_value(backend):
    n = 200

    async def main():
        ch = csp.chan()
        th = threading.Thread(target=lambda: [ch.put(i) for i in range(n)])
        th.start()
        got = []
        while len(got) < n:
            with anyio.move_on_after(0.0001):
                got.append(await ch.atake())
            await anyio.sleep(0)
        await anyio.to_thread.run_sync(th.join)
        return sorted(got)

    assert anyio.run(main, backend=backend) == list(range(n))
