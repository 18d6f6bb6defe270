"""Shared helpers for the Python tests (tests/python/test_<unit>.py).

ctest runs each test function in its own process (py.<name>); running a
whole file with pytest works too.
"""

import gc
import threading

import pytest

import csp
from csp import _values


def settle():
    """Collect garbage and release what channels dropped."""
    gc.collect()
    _values.drain_drops()


class Obj:
    """A weak-referenceable value."""

    def __init__(self, n=0):
        self.n = n

    def __repr__(self):
        return f"Obj({self.n})"


@pytest.fixture
def caught():
    """Exceptions sent to csp's exception handler during the test."""
    class Caught(list):
        event = threading.Event()

    got = Caught()

    def handler(e):
        got.append(e)
        got.event.set()

    prev = csp.set_exception_handler(handler)
    yield got
    csp.set_exception_handler(prev)


def run_go(coro_fn, *args, timeout=10):
    """Run a go process to completion from the main thread; its result."""
    return csp.go(coro_fn, *args).take(timeout=timeout)


def pending_ops():
    """Callback ops pending in the runtime now (blocking ops are such ops)."""
    from csp import _lowlevel as ll
    return ll.rt_stat(ll.lib.CSP_STAT_OPS_PENDING)


def wait_until(cond, timeout=10.0):
    """Poll COND (a state check, not a timed guess) until true."""
    import time
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("condition not reached in time")
        time.sleep(0.0005)
