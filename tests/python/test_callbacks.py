"""put_async and take_async: core.async's put! and take! (callback ops)."""

import asyncio
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import csp
from conftest import Obj, settle, wait_until


def test_put_async_immediate_calls_back_on_caller():
    ch = csp.chan(1)
    got = []
    op = ch.put_async(1, got.append)
    assert got == [True]
    assert op.done and ch.poll() == 1


def test_put_async_immediate_with_on_caller_false_calls_back_later():
    ch = csp.chan(1)
    ev = threading.Event()
    got = []

    def cb(v):
        got.append((v, threading.get_ident()))
        ev.set()

    ch.put_async(1, cb, on_caller=False)
    assert ev.wait(10)
    assert got[0][0] is True and got[0][1] != threading.get_ident()


def test_put_async_waiting_calls_back_once_taken():
    ch = csp.chan()
    ev = threading.Event()
    got = []
    op = ch.put_async("x", lambda v: (got.append(v), ev.set()))
    assert not op.done and got == []
    assert ch.take(timeout=10) == "x"
    assert ev.wait(10) and got == [True]


def test_put_async_without_callback_is_delivered():
    ch = csp.chan()
    ch.put_async(7)
    assert ch.take(timeout=10) == 7


def test_put_async_on_closed_calls_back_false():
    ch = csp.chan()
    ch.close()
    got = []
    ch.put_async(1, got.append)
    assert got == [False]


def test_put_async_pending_then_closed_is_still_delivered():
    ch = csp.chan()
    ev = threading.Event()
    got = []
    ch.put_async(3, lambda v: (got.append(v), ev.set()))
    ch.close()
    assert ch.take(timeout=10) == 3
    assert ev.wait(10) and got == [True]


def test_put_async_none_raises_type_error():
    with pytest.raises(TypeError):
        csp.chan(1).put_async(None)


def test_put_async_bad_callback_raises_type_error():
    with pytest.raises(TypeError):
        csp.chan(1).put_async(1, 5)


def test_take_async_immediate_calls_back_on_caller():
    ch = csp.chan(1)
    ch.put(4)
    got = []
    ch.take_async(got.append)
    assert got == [4]


def test_take_async_waiting_gets_value():
    ch = csp.chan()
    ev = threading.Event()
    got = []
    ch.take_async(lambda v: (got.append(v), ev.set()))
    assert ch.put(9, timeout=10)
    assert ev.wait(10) and got == [9]


def test_take_async_on_close_gets_none():
    ch = csp.chan()
    ev = threading.Event()
    got = []
    ch.take_async(lambda v: (got.append(v), ev.set()))
    ch.close()
    assert ev.wait(10) and got == [None]


def test_take_async_requires_callable():
    with pytest.raises(TypeError):
        csp.chan().take_async(None)


def test_take_async_on_promise_gives_value_to_every_taker():
    p = csp.promise_chan()
    got = []
    ev = threading.Event()
    for _ in range(3):
        p.take_async(lambda v: (got.append(v), len(got) == 3 and ev.set()))
    p.put("v")
    assert ev.wait(10) and got == ["v"] * 3


def test_callback_runs_on_callback_thread_when_issued_from_plain_thread():
    ch = csp.chan()
    ev = threading.Event()
    where = []
    ch.take_async(lambda v: (where.append(threading.current_thread().name), ev.set()))
    ch.put(1)
    assert ev.wait(10) and where == ["csp-go"]


def test_callback_raising_goes_to_exception_handler(caught):
    ch = csp.chan()
    ch.take_async(lambda v: 1 / 0)
    ch.put(1)
    assert caught.event.wait(10)
    assert isinstance(caught[0], ZeroDivisionError)


def test_immediate_callback_raising_goes_to_exception_handler_not_caller(caught):
    ch = csp.chan(1)
    op = ch.put_async(1, lambda ok: 1 / 0)
    assert op.done and ch.poll() == 1
    assert isinstance(caught[0], ZeroDivisionError)


def test_callback_runs_on_the_asyncio_loop_it_was_issued_from():
    async def main():
        ch = csp.chan()
        fut = asyncio.get_running_loop().create_future()
        ch.take_async(lambda v: fut.set_result((v, threading.get_ident())))
        threading.Thread(target=ch.put, args=(5,)).start()
        return await asyncio.wait_for(fut, 10), threading.get_ident()

    (v, ident), loop_ident = asyncio.run(main())
    assert v == 5 and ident == loop_ident


def test_1025th_pending_put_async_raises_busy_and_never_calls_back():
    ch = csp.chan()
    calls = []
    ops = [ch.put_async(i, calls.append) for i in range(1024)]
    with pytest.raises(csp.errors.BusyError):
        ch.put_async(1024, calls.append)
    for op in ops:
        assert op.cancel()
    assert calls == []


def test_1025th_pending_take_async_raises_busy():
    ch = csp.chan()
    ops = [ch.take_async(lambda v: None) for _ in range(1024)]
    with pytest.raises(csp.errors.BusyError):
        ch.take_async(lambda v: None)
    assert all(op.cancel() for op in ops)


def test_cancel_withdraws_waiting_put():
    ch = csp.chan()
    calls = []
    op = ch.put_async(1, calls.append)
    assert op.cancel() and op.cancelled
    assert ch.offer(2) is None  # no taker, and the put is gone
    assert ch.poll() is None and calls == []


def test_cancel_releases_withdrawn_put_value():
    import weakref
    ch = csp.chan()
    o = Obj()
    r = weakref.ref(o)
    op = ch.put_async(o)
    del o
    assert op.cancel()
    settle()
    assert r() is None


def test_cancel_after_completion_returns_false():
    ch = csp.chan(1)
    op = ch.put_async(1)
    assert not op.cancel()
    ev = threading.Event()
    op2 = ch.take_async(lambda v: ev.set())
    assert not op2.cancel()


def test_cancel_twice_returns_false_the_second_time():
    ch = csp.chan()
    op = ch.take_async(lambda v: None)
    assert op.cancel()
    assert not op.cancel()


def test_put_take_async_exactly_once_under_racing_close():
    """A waiting put_async and a waiting take_async race a close on another
    thread against a poll and an offer: each is called back exactly once,
    and the offered value is taken or refused, never both."""
    for _ in range(300):
        a, b = csp.chan(), csp.chan()
        lock = threading.Lock()
        calls = {"put": [], "take": []}

        def note(key):
            def cb(v):
                with lock:
                    calls[key].append(v)
            return cb

        a.put_async(1, note("put"))
        b.take_async(note("take"))
        closer = threading.Thread(target=lambda: (a.close(), b.close()))
        closer.start()
        polled = a.poll()
        offered = b.offer(2)
        closer.join()
        if polled is None:
            polled = a.poll()  # a closed channel still gives pending puts
        wait_until(lambda: calls["put"] and calls["take"])
        assert polled == 1 and calls["put"] == [True]
        assert calls["take"] == ([2] if offered else [None])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["put", "take", "cancel_put", "cancel_take", "close"]),
                min_size=1, max_size=12))
def test_callbacks_exactly_once_under_racing_cancel_and_close(plan):
    """Puts and takes with callbacks race cancels and a close from another
    thread: each op is called back exactly once unless its cancel() said
    True, and every value put is taken or withdrawn, never both."""
    ch = csp.chan()
    lock = threading.Lock()
    calls = {}
    puts, takes = [], []

    def note(key):
        def cb(v):
            with lock:
                calls.setdefault(key, []).append(v)
        return cb

    for i, step in enumerate(plan):
        if step == "put":
            puts.append((i, ch.put_async(i, note(("p", i)))))
        elif step == "take":
            takes.append((i, ch.take_async(note(("t", i)))))
    withdrawn = set()

    def racer():
        for step in plan:
            if step == "cancel_put" and puts:
                i, op = puts[len(withdrawn) % len(puts)]
                if op.cancel():
                    withdrawn.add(("p", i))
            elif step == "cancel_take" and takes:
                i, op = takes[0]
                if op.cancel():
                    withdrawn.add(("t", i))
            elif step == "close":
                ch.close()

    t = threading.Thread(target=racer)
    t.start()
    t.join()
    ch.close()
    drained = []
    while True:  # puts still pending after the close go to takers
        v = ch.poll()
        if v is None:
            break
        drained.append(v)
    keys = [("p", i) for i, _ in puts] + [("t", i) for i, _ in takes]
    expected = [k for k in keys if k not in withdrawn]
    wait_until(lambda: all(k in calls for k in expected))
    assert all(len(calls[k]) == 1 for k in expected)
    assert not any(k in calls for k in withdrawn)
    delivered = [v for k, vs in calls.items() if k[0] == "t" for v in vs if v is not None]
    delivered += drained
    put_ok = [k[1] for k, vs in calls.items() if k[0] == "p" and vs == [True]]
    assert sorted(delivered) == sorted(put_ok)
