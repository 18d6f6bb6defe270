"""Blocking operations on plain threads: they wait in C with the GIL
released, keep FIFO order, time out, and refuse to run inside a go
process or an asyncio loop."""

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import csp
from conftest import pending_ops, wait_until


def test_blocking_take_gets_value_put_by_other_thread():
    ch = csp.chan()
    t = threading.Thread(target=ch.put, args=("x",))
    t.start()
    assert ch.take() == "x"
    t.join()


def test_blocking_put_returns_true_when_taken():
    ch = csp.chan()
    res = []
    t = threading.Thread(target=lambda: res.append(ch.put(1)))
    t.start()
    assert ch.take() == 1
    t.join()
    assert res == [True]


def test_blocking_put_waits_for_room():
    ch = csp.chan(1)
    ch.put(1)
    done = threading.Event()

    def putter():
        ch.put(2)
        done.set()

    t = threading.Thread(target=putter)
    t.start()
    waited = not done.wait(0.05)
    assert ch.take() == 1 and ch.take() == 2
    t.join()
    assert waited


def test_blocking_take_on_closing_channel_returns_none():
    ch = csp.chan()
    t = threading.Thread(target=ch.close)
    t.start()
    assert ch.take() is None
    t.join()


def test_blocking_put_pending_at_close_is_delivered():
    ch = csp.chan()
    res = []
    base = pending_ops()
    t = threading.Thread(target=lambda: res.append(ch.put("late")))
    t.start()
    wait_until(lambda: pending_ops() > base)
    ch.close()
    v = ch.take()
    t.join()
    assert (v, res, ch.take()) == ("late", [True], None)


def test_blocking_take_timeout_raises_timeout_error():
    with pytest.raises(TimeoutError):
        csp.chan().take(timeout=0.02)


def test_blocking_take_timeout_waits_at_least_timeout():
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        csp.chan().take(timeout=0.05)
    assert time.monotonic() - t0 >= 0.05


def test_blocking_take_zero_timeout_returns_buffered_value():
    ch = csp.chan(1)
    ch.put(3)
    assert ch.take(timeout=0) == 3


def test_blocking_put_timeout_raises_timeout_error():
    with pytest.raises(TimeoutError):
        csp.chan().put(1, timeout=0.02)


def test_blocking_timed_out_put_did_not_happen():
    ch = csp.chan()
    with pytest.raises(TimeoutError):
        ch.put("gone", timeout=0.01)
    assert csp.alts([ch], default="nothing") == ("nothing", "default")


def test_blocking_negative_timeout_raises_value_error():
    with pytest.raises(ValueError):
        csp.chan().take(timeout=-1)


def test_blocking_string_timeout_raises_type_error():
    with pytest.raises(TypeError):
        csp.chan().take(timeout="1")


def test_blocking_takers_served_in_fifo_order():
    ch = csp.chan()
    out = []
    threads = []
    base = pending_ops()
    for i in range(5):
        t = threading.Thread(target=lambda i=i: out.append((i, ch.take())))
        t.start()
        wait_until(lambda: pending_ops() == base + i + 1)  # taker i is queued
        threads.append(t)
    for v in range(5):
        ch.put(v)
    for t in threads:
        t.join()
    assert sorted(out) == [(i, i) for i in range(5)]


def test_blocking_many_threads_exchange_every_value():
    ch = csp.chan(4)
    n, k = 2000, 4
    sums = []

    def producer(base):
        for i in range(n):
            ch.put(base + i)

    def consumer():
        s = 0
        for _ in range(n):
            s += ch.take()
        sums.append(s)

    ts = [threading.Thread(target=producer, args=(j * n,)) for j in range(k)]
    ts += [threading.Thread(target=consumer) for _ in range(k)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    assert sum(sums) == sum(range(n * k))


def test_blocking_threads_release_gil_while_waiting():
    a, b = csp.chan(), csp.chan()
    got = []
    base = pending_ops()
    ts = [threading.Thread(target=lambda c=c: got.append(c.take())) for c in (a, b)]
    for t in ts:
        t.start()
    wait_until(lambda: pending_ops() >= base + 2)
    # Both threads are blocked in C; this thread still runs Python freely.
    t0 = time.monotonic()
    x = 0
    for i in range(2_000_000):
        x += i
    busy = time.monotonic() - t0
    alive = [t.is_alive() for t in ts]
    a.put(1)
    b.put(2)
    for t in ts:
        t.join()
    assert alive == [True, True] and sorted(got) == [1, 2] and busy < 5


def test_blocking_take_inside_go_raises_runtime_error():
    async def main():
        try:
            csp.chan(1).take()
        except RuntimeError as e:
            return str(e)

    assert "go process" in csp.go(main).take(timeout=10)


def test_blocking_put_inside_go_raises_runtime_error():
    async def main():
        try:
            csp.chan(1).put(1)
        except RuntimeError:
            return "refused"

    assert csp.go(main).take(timeout=10) == "refused"


def test_blocking_alts_inside_go_raises_runtime_error():
    async def main():
        try:
            csp.alts([csp.chan(1)])
        except RuntimeError:
            return "refused"

    assert csp.go(main).take(timeout=10) == "refused"


def test_blocking_take_inside_asyncio_raises_runtime_error():
    async def main():
        csp.chan(1).take()

    with pytest.raises(RuntimeError, match="asyncio"):
        asyncio.run(main())


def test_blocking_take_in_thread_beside_asyncio_loop_allowed():
    ch = csp.chan()

    async def main():
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(None, ch.take)
        await ch.aput("from loop")
        return await fut

    assert asyncio.run(main()) == "from loop"


def test_blocking_take_waits_while_go_processes_run():
    ch = csp.chan()

    async def worker():
        total = 0
        for i in range(1000):
            await csp.chan(1).aput(i)
            total += i
        await ch.aput(total)

    csp.go(worker)
    assert ch.take(timeout=10) == sum(range(1000))


CTRL_C_CHILD = textwrap.dedent("""
    import sys, time, csp
    ch = csp.chan()
    try:
        print("ready", flush=True)
        ch.take()
    except KeyboardInterrupt:
        print("interrupted", time.monotonic(), flush=True)
        # the take was withdrawn: a later put has no taker
        print("offer", ch.offer(1), flush=True)
""")


def _ctrl_c(child_src):
    p = subprocess.Popen([sys.executable, "-c", child_src], stdout=subprocess.PIPE,
                         text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        assert p.stdout.readline().strip() == "ready"
        wait_until(lambda: _sleeping(p.pid))  # the child waits in C now
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        line = p.stdout.readline().split()
        t1 = time.monotonic()
        rest = p.stdout.read()
        p.wait(10)
        return line, t1 - t0, rest, p.returncode
    finally:
        p.kill()


def _sleeping(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "S"


def test_blocking_ctrl_c_interrupts_take_within_100ms():
    line, dt, rest, rc = _ctrl_c(CTRL_C_CHILD)
    assert line[0] == "interrupted" and dt < 0.1 and rc == 0


def test_blocking_ctrl_c_withdraws_take():
    line, dt, rest, rc = _ctrl_c(CTRL_C_CHILD)
    assert rest.split() == ["offer", "None"]


CTRL_C_PUT_CHILD = textwrap.dedent("""
    import sys, csp
    ch = csp.chan()
    try:
        print("ready", flush=True)
        ch.put("v")
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        print("poll", ch.poll(), flush=True)
""")


def test_blocking_ctrl_c_withdraws_put():
    line, dt, rest, rc = _ctrl_c(CTRL_C_PUT_CHILD)
    assert line == ["interrupted"] and rest.split() == ["poll", "None"]


CTRL_C_RACE_CHILD = textwrap.dedent("""
    import signal, sys, threading, csp
    from csp import _block

    # Interrupt only inside the blocking wait (the code under test), and at
    # most once per wait: a KeyboardInterrupt at an arbitrary bytecode can
    # lose any Python value, ours or not.
    WAITS = {_block.wait.__code__}
    state = {"frame": None, "raised": 0}

    def on_sigint(signum, frame):
        if frame is not None and frame.f_code in WAITS and frame is not state["frame"]:
            state["frame"] = frame
            state["raised"] += 1
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)
    N = int(sys.argv[1])
    ch = csp.chan()

    def producer():
        for i in range(N):
            ch.put(i)
        ch.close()

    threading.Thread(target=producer, daemon=True).start()
    got, attached = [], 0
    print("ready", flush=True)
    while True:
        try:
            v = ch.take()
        except KeyboardInterrupt as e:
            v = getattr(e, "csp_value", None)
            if v is None:
                continue
            attached += 1
        if v is None:
            break
        got.append(v)
    print(len(got), sorted(got) == list(range(N)), state["raised"], attached, flush=True)
""")


def test_blocking_ctrl_c_racing_handoffs_never_lose_values():
    n = 3000
    p = subprocess.Popen([sys.executable, "-c", CTRL_C_RACE_CHILD, str(n)],
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        t_end = time.monotonic() + 30
        while p.poll() is None and time.monotonic() < t_end:
            p.send_signal(signal.SIGINT)
            time.sleep(0.0003)  # pacing of the signals, not synchronisation
        out = p.stdout.read().split()
        p.wait(10)
    finally:
        p.kill()
    count, ordered, raised = int(out[0]), out[1], int(out[2])
    assert (count, ordered) == (n, "True") and raised > 0
