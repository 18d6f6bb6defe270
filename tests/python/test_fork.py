"""csp in child processes: multiprocessing with each start method, and
what a fork()ed child keeps of the parent's csp state (docs/python.md,
"fork")."""

import multiprocessing
import os
import time

import csp
from conftest import pending_ops, wait_until

WAIT_S = 30  # a hung child is a failure, not a stuck run


def workload():
    """Go processes, a blocking take, a timeout and csp.thread: the value
    proves each part ran."""
    ch = csp.chan(4)

    async def produce():
        for i in range(1, 101):
            await ch.aput(i)
        ch.close()

    csp.go(produce)
    total = 0
    while (v := ch.take(timeout=10)) is not None:
        total += v
    assert csp.timeout(5).take(timeout=10) is None
    return total + csp.thread(lambda: 1000).take(timeout=10)


def _child(conn):
    try:
        conn.send(("ok", workload()))
    except BaseException as e:  # reported to the parent, which fails
        conn.send(("error", repr(e)))
    conn.close()


def run_in(method):
    # The parent has used csp first: its scheduler thread, workers and
    # timer are running when the child is made.
    assert workload() == 6050
    ctx = multiprocessing.get_context(method)
    parent, child = ctx.Pipe()
    p = ctx.Process(target=_child, args=(child,))
    p.start()
    try:
        assert parent.poll(WAIT_S), f"{method} child gave no answer"
        return parent.recv()
    finally:
        p.join(WAIT_S)
        if p.is_alive():
            p.kill()
            p.join()


def test_fork_multiprocessing_child_runs_csp():
    assert run_in("fork") == ("ok", 6050)


def test_forkserver_multiprocessing_child_runs_csp():
    assert run_in("forkserver") == ("ok", 6050)


def test_spawn_multiprocessing_child_runs_csp():
    assert run_in("spawn") == ("ok", 6050)


def _wait_child(pid):
    for _ in range(WAIT_S * 100):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)  # polling for a child's exit, not a sync
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return "hung"


def _in_fork(fn):
    pid = os.fork()
    if pid == 0:
        try:
            code = 0 if fn() else 1
        except BaseException:
            code = 2
        os._exit(code)
    return _wait_child(pid)


def test_fork_child_closes_parent_go_process_results():
    ch = csp.chan()

    async def waits():
        return await ch.atake()

    before = pending_ops()
    r = csp.go(waits)
    # Once the parent's process is parked on CH, in the child it is gone
    # and its result channel closes with no value.
    wait_until(lambda: pending_ops() > before)
    assert _in_fork(lambda: r.take(timeout=10) is None and r.closed) == 0
    ch.put("x")
    assert r.take(timeout=10) == "x"


def test_fork_child_keeps_buffered_values():
    ch = csp.chan(3)
    for v in ("a", "b"):
        ch.put(v)
    assert _in_fork(lambda: (ch.poll(), ch.poll()) == ("a", "b")) == 0
    assert (ch.poll(), ch.poll()) == ("a", "b")


def test_fork_child_closes_running_thread_results():
    gate = csp.chan()
    r = csp.thread(lambda: gate.take(timeout=20))
    assert _in_fork(lambda: r.take(timeout=10) is None) == 0
    gate.put(1)
    assert r.take(timeout=10) == 1


def test_fork_child_go_processes_start_a_new_scheduler():
    assert csp.go(lambda: 1).take(timeout=10) == 1
    assert _in_fork(lambda: csp.go(lambda: 2).take(timeout=10) == 2) == 0
