"""csp.go's Process: the result channel, and cancel()."""

import threading
import weakref

import pytest

import csp
from conftest import Obj, pending_ops, settle, wait_until


def _started():
    """A channel a process puts on once it runs, and a wait for it."""
    ready = csp.chan(1)
    return ready, lambda: ready.take(timeout=10)


def test_go_returns_process_that_is_its_result_channel():
    p = csp.go(lambda: 5)
    assert isinstance(p, csp.Process) and isinstance(p, csp.Chan)
    assert p.take(timeout=10) == 5


def test_process_result_works_in_alts_and_iteration():
    p = csp.go(lambda: 1)
    v, ch = csp.alts([p])
    assert (v, ch) == (1, p)
    assert list(csp.go(lambda: 2)) == [2]


def test_cancel_while_parked_in_take():
    ch = csp.chan()
    log = []
    before = pending_ops()

    async def proc():
        try:
            await ch.atake()
            log.append("took")
        finally:
            log.append("finally")

    p = csp.go(proc)
    wait_until(lambda: pending_ops() > before)  # parked in the take
    assert p.cancel()
    assert p.take(timeout=10) is None and p.closed
    assert log == ["finally"]
    assert ch.offer(1) is None  # the take was withdrawn


def test_cancel_while_parked_in_put_delivers_nothing():
    ch = csp.chan()
    ready, wait = _started()
    o = Obj()
    r = weakref.ref(o)

    async def proc(v):
        await ready.aput(True)
        await ch.aput(v)

    p = csp.go(proc, o)
    del o
    wait()
    assert p.cancel()
    assert p.take(timeout=10) is None
    assert ch.poll() is None  # the value was not delivered
    # and it was released (once the scheduler thread let go of the frame)
    wait_until(lambda: settle() or r() is None)


def test_cancel_while_parked_in_alts():
    a, b = csp.chan(), csp.chan()
    ready, wait = _started()

    async def proc():
        await ready.aput(True)
        return await csp.aalts([a, (b, Obj())])

    p = csp.go(proc)
    wait()
    assert p.cancel()
    assert p.take(timeout=10) is None
    assert a.offer(1) is None and b.poll() is None


def test_cancel_while_parked_in_timeout():
    ready, wait = _started()

    async def proc():
        await ready.aput(True)
        await csp.timeout(60_000).atake()
        return "slept"

    p = csp.go(proc)
    wait()
    assert p.cancel()
    assert p.take(timeout=10) is None


def test_cancelled_is_a_base_exception():
    assert issubclass(csp.Cancelled, BaseException)
    assert not issubclass(csp.Cancelled, Exception)


def test_cancelled_process_can_catch_and_return():
    ch = csp.chan()
    ready, wait = _started()

    async def proc():
        await ready.aput(True)
        try:
            await ch.atake()
        except csp.Cancelled:
            return "cleaned up"

    p = csp.go(proc)
    wait()
    p.cancel()
    assert p.take(timeout=10) == "cleaned up"


def test_cancel_is_not_reported_to_exception_handler(caught):
    ready, wait = _started()

    async def proc():
        await ready.aput(True)
        await csp.chan().atake()

    p = csp.go(proc)
    wait()
    p.cancel()
    p.take(timeout=10)
    assert caught == []


def test_cancel_after_end_returns_false():
    p = csp.go(lambda: 1)
    assert p.take(timeout=10) == 1
    wait_until(lambda: p.closed)
    assert p.cancel() is False


def test_cancel_of_running_process_lands_at_its_next_park():
    log = []
    gate = threading.Event()

    async def proc():
        gate.wait(10)  # running (blocking the scheduler, on purpose, briefly)
        log.append("ran on")
        await csp.chan().atake()
        log.append("never")

    p = csp.go(proc)
    p.cancel()
    gate.set()
    assert p.take(timeout=10) is None
    assert log == ["ran on"]


def test_cancel_from_inside_the_process_lands_at_its_next_park():
    async def proc():
        me = await box.atake()
        me.cancel()
        await csp.chan().atake()
        return "never"

    box = csp.chan(1)
    p = csp.go(proc)
    box.put(p)
    assert p.take(timeout=10) is None


def test_cancel_racing_take_completion_never_loses_or_duplicates_values():
    """Parked takers are cancelled while a thread offers values: every
    value an offer handed over is returned by exactly one process (a take
    that completed before the cancel keeps its value)."""
    for _ in range(200):
        ch = csp.chan()

        async def taker():
            return await ch.atake()

        procs = [csp.go(taker) for _ in range(4)]
        sent = []

        def offerer():
            for i in range(4):
                if ch.offer(i):
                    sent.append(i)

        t = threading.Thread(target=offerer)
        t.start()
        for p in procs[::2]:
            p.cancel()
        t.join()
        ch.close()
        results = [p.take(timeout=10) for p in procs]
        assert sorted(r for r in results if r is not None) == sorted(sent)


def test_cancel_racing_put_completion_delivers_at_most_once():
    """A parked putter is cancelled while a thread polls: the value is
    either delivered (and the process saw its put succeed) or withdrawn
    (and never delivered later)."""
    for _ in range(300):
        ch = csp.chan()
        done = csp.chan(1)

        async def putter():
            await done.aput(await ch.aput("v"))

        p = csp.go(putter)
        got = []
        poller = threading.Thread(target=lambda: got.extend(ch.poll() for _ in range(50)))
        poller.start()
        p.cancel()
        poller.join()
        assert p.take(timeout=10) is None
        ch.close()
        got.append(ch.poll())
        delivered = [v for v in got if v is not None]
        assert len(delivered) <= 1
        assert done.poll() == (True if delivered else None)


def test_cancel_while_other_threads_issue_callback_ops():
    """Cancels search the scheduler's table of waiting ops while another
    thread adds and withdraws put_async ops in it."""
    ch = csp.chan()
    before = pending_ops()
    procs = [csp.go(csp.chan().atake) for _ in range(200)]
    wait_until(lambda: pending_ops() >= before + 200)
    stop = threading.Event()

    def churn():
        while not stop.is_set():
            ops = [ch.put_async(i) for i in range(50)]
            for op in ops:
                op.cancel()

    t = threading.Thread(target=churn)
    t.start()
    try:
        for p in procs:
            assert p.cancel()
        assert all(p.take(timeout=10) is None for p in procs)
    finally:
        stop.set()
        t.join()
