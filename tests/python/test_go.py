"""Go processes (coroutines on the scheduler thread) and csp.thread."""

import threading

import pytest

import csp
from conftest import run_go


def test_go_coroutine_result_on_channel():
    async def f():
        return 42

    assert csp.go(f()).take() == 42


def test_go_function_with_args_result_on_channel():
    async def add(a, b):
        return a + b

    assert csp.go(add, 2, 3).take() == 5


def test_go_plain_function_runs_on_scheduler_thread():
    main = threading.get_ident()
    assert csp.go(threading.get_ident).take() != main


def test_go_lambda_returning_coroutine_is_awaited():
    ch = csp.chan(1)
    csp.go(lambda: ch.aput("x")).take()
    assert ch.poll() == "x"


def test_go_result_channel_closes_after_value():
    r = csp.go(lambda: 1)
    assert (r.take(), r.take()) == (1, None)


def test_go_none_result_just_closes():
    async def f():
        return None

    r = csp.go(f)
    assert r.take() is None and r.closed


def test_go_coroutine_with_args_raises_type_error():
    async def f():
        pass

    c = f()
    with pytest.raises(TypeError):
        csp.go(c, 1)
    c.close()


def test_go_non_callable_raises_type_error():
    with pytest.raises(TypeError):
        csp.go(42)


def test_go_exception_closes_result_channel(caught):
    async def f():
        raise ValueError("boom")

    assert csp.go(f).take(timeout=10) is None


def test_go_exception_goes_to_handler(caught):
    async def f():
        raise ValueError("boom")

    csp.go(f).take(timeout=10)
    assert caught.event.wait(10) and isinstance(caught[0], ValueError)


def test_go_default_handler_prints_traceback(capfd):
    async def f():
        raise ValueError("printed boom")

    csp.go(f).take(timeout=10)
    err = capfd.readouterr().err
    assert "Exception in csp go process" in err and "printed boom" in err


def test_go_set_exception_handler_returns_previous():
    def h(e):
        pass

    prev = csp.set_exception_handler(h)
    try:
        assert csp.set_exception_handler(prev) is h
    finally:
        csp.set_exception_handler(prev)


def test_go_set_exception_handler_rejects_non_callable():
    with pytest.raises(TypeError):
        csp.set_exception_handler(3)


def test_go_awaiting_foreign_awaitable_raises_runtime_error():
    class Foreign:
        def __await__(self):
            yield "not csp"

    async def f():
        try:
            await Foreign()
        except RuntimeError as e:
            return str(e)

    assert "csp operations" in run_go(f)


def test_go_processes_ping_pong():
    ping, pong = csp.chan(), csp.chan()

    async def echo():
        while (v := await ping.atake()) is not None:
            await pong.aput(v + 1)

    async def main():
        s = 0
        for i in range(1000):
            await ping.aput(i)
            s += await pong.atake()
        ping.close()
        return s

    csp.go(echo)
    assert run_go(main) == sum(range(1, 1001))


def test_go_spawned_inside_go_runs():
    async def child(x):
        return x * 2

    async def parent():
        return await csp.go(child, 21).atake()

    assert run_go(parent) == 42


def test_go_progresses_while_main_thread_blocks():
    done = csp.chan()

    async def worker():
        t = 0
        for i in range(100):
            c = csp.chan()
            csp.go(c.aput(i))
            t += await c.atake()
        await done.aput(t)

    csp.go(worker)
    assert done.take(timeout=10) == sum(range(100))


def test_go_thousand_processes_complete():
    out = csp.chan(1000)

    async def w(i):
        await out.aput(i)

    for i in range(1000):
        csp.go(w, i)
    assert sorted(out.take(timeout=10) for _ in range(1000)) == list(range(1000))


def test_go_main_thread_feeds_go_process():
    ch = csp.chan()

    async def consumer():
        return [await ch.atake() for _ in range(100)]

    r = csp.go(consumer)
    for i in range(100):
        ch.put(i)
    assert r.take(timeout=10) == list(range(100))


def test_go_async_for_over_channel():
    ch = csp.to_chan(range(5))

    async def f():
        return [v async for v in ch]

    assert run_go(f) == [0, 1, 2, 3, 4]


def test_go_async_with_closes_channel():
    async def f():
        async with csp.chan() as c:
            pass
        return c.closed

    assert run_go(f) is True


def test_go_timeout_parks_process():
    async def f():
        return await csp.timeout(10).atake()

    assert run_go(f) is None


def test_go_aput_on_closed_returns_false():
    ch = csp.chan()
    ch.close()
    assert csp.go(lambda: ch.aput(1)).take() is False


def test_go_aput_none_raises_type_error():
    async def f():
        try:
            await csp.chan(1).aput(None)
        except TypeError:
            return "refused"

    assert run_go(f) == "refused"



def test_go_idle_scheduler_holds_no_finished_process():
    # The scheduler thread kept the last process it ran in loop locals
    # while it waited for work, so that process's result channel stayed
    # live until the next go activity (found by tests/soak/soak.py).
    import gc
    import weakref
    from conftest import wait_until

    ch = csp.chan()

    async def g():
        return await ch.atake()

    res = csp.go(g)
    ch.put(2)
    assert res.take(timeout=10) == 2
    ref = weakref.ref(res)
    del res

    def freed():
        gc.collect()
        return ref() is None
    wait_until(freed, timeout=5)
