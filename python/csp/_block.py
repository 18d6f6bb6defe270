"""Blocking operations for plain threads: wait in C with the GIL released.

A blocking put/take/alts is issued as a callback op whose completion goes
to a host executor owned by the calling thread (_glue.c). The thread then
waits in pycsp_host_run with the GIL released, which returns when the
completion task is queued; the task runs right there and writes the
record. Because the op stays queued on its channel the whole time, the
thread keeps its place in the channel's FIFO.

The main thread waits in slices of SLICE_MS: between slices Python runs
its signal handlers, so Ctrl-C interrupts a blocked take within about
SLICE_MS. Any exception raised there (KeyboardInterrupt, a timeout)
withdraws the op with csp_pending_cancel, atomically:

  - withdrawn (CSP_OK): nothing happened, a put's value comes back, the
    exception propagates (a deadline becomes TimeoutError);
  - too late (CSP_EAGAIN): the op completed at the same moment. Its
    record is collected, so the value is never lost or delivered twice:
    for a deadline the result is simply returned; any other exception is
    raised with the op's result attached as ``exc.csp_value`` (the taken
    value, or True for a completed put).

Calling a blocking operation from the go scheduler thread or from a
thread running an asyncio loop raises RuntimeError: it would freeze every
process of that loop.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from _thread import get_ident
from typing import Any, Iterable, Optional, Tuple

from . import _lowlevel as ll
from . import _values, errors
from ._csp import ffi, lib
from ._sched import SCHED

SLICE_MS = 20
MAIN_IDENT = threading.main_thread().ident
_tls = threading.local()


class Waiter:
    """A thread's host executor and out-parameters for one blocking op.

    recs[0] is the arrived record's op id: blocking ops use id 1 (OP_ID),
    and acquire() clears it, so a record is seen even if an exception
    struck right after pycsp_host_run returned it. A waiter left with an
    op it could not settle (an exception during cleanup) is "busy": it is
    never reused, and never freed (a pending op may still complete onto
    its executor)."""

    __slots__ = ("host", "ex", "word", "idx", "pp", "recs", "busy")

    def __init__(self) -> None:
        self.host = ll.host_new()
        self.ex = ll.host_exec(self.host)
        self.word = ffi.new("intptr_t *")
        self.idx = ffi.new("size_t *")
        self.pp = ffi.new("csp_pending **")
        self.recs = ffi.new("intptr_t[]", 4)
        self.busy = False

    def __del__(self) -> None:
        if self.busy:
            return
        try:
            lib.pycsp_host_free(self.host)
        except Exception:
            pass


OP_ID = 1


def check_context(what: str) -> None:
    """RuntimeError if blocking here would freeze a scheduler."""
    if get_ident() == SCHED.ident:
        raise RuntimeError(
            f"{what} blocks: not allowed inside a go process; use the "
            "awaitable form (await ch.atake(), await ch.aput(v), await csp.aalts(...))")
    aio = sys.modules.get("asyncio")
    if aio is not None and aio._get_running_loop() is not None:
        raise RuntimeError(
            f"{what} blocks: not allowed inside a running asyncio event loop; "
            "use the awaitable form (await ch.atake(), ...)")


def acquire(what: str) -> Waiter:
    check_context(what)
    free = getattr(_tls, "free", None)
    w = free.pop() if free else Waiter()
    w.recs[0] = 0
    w.pp[0] = ffi.NULL  # set by the C call only when the op is pending
    return w


def release(w: Waiter) -> None:
    if w.busy:
        return
    free = getattr(_tls, "free", None)
    if free is None:
        free = _tls.free = []
    free.append(w)


def deadline_of(timeout: Optional[float]) -> Optional[float]:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds or None, not {type(timeout).__name__}")
    if not timeout >= 0:
        raise ValueError("timeout must be >= 0")
    return time.monotonic() + timeout


class _Expired(Exception):
    pass


Record = Tuple[int, int, int]


def wait(w: Waiter, deadline: Optional[float],
         put_words: Iterable[int] = ()) -> Tuple[Record, Optional[BaseException]]:
    """Wait for the record of the op pending on W (its handle in w.pp[0]).

    Returns (record, None) when it completes, or (record, exc) when EXC
    was raised while it completed concurrently (the caller attaches the
    result and raises EXC). Raises after withdrawing the op (releasing
    PUT_WORDS, whose values came back): TimedOutError at DEADLINE, or
    whatever a signal handler raised.

    Signal handlers run only where the interpreter checks for them (after
    a call, at a loop's backward jump): every such point is inside the
    try below, and what must happen exactly once is flagged first."""
    p = w.pp[0]
    main = get_ident() == MAIN_IDENT
    host, recs = w.host, w.recs
    released = False
    try:
        while True:
            if recs[0]:
                rec = (recs[1], recs[2], recs[3])
                released = True
                w.pp[0] = ffi.NULL
                lib.csp_pending_release(p)
                return rec, None
            if deadline is None:
                ms = SLICE_MS if main else -1
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise _Expired
                ms = max(1, math.ceil(left * 1000))
                if main and ms > SLICE_MS:
                    ms = SLICE_MS
            lib.pycsp_host_run(host, recs, 1, ms)
    except BaseException as e:
        late = None if type(e) is _Expired else e
        if released:
            return rec, late
        w.busy = True  # until the op is settled below
        w.pp[0] = ffi.NULL
        if not recs[0]:
            if lib.pycsp_cancel(p, w.word) == ll.OK:
                lib.csp_pending_release(p)
                w.busy = False
                for pw in put_words:
                    _values.release(pw)
                if late is None:
                    raise errors.TimedOutError("timed out", lib.CSP_ETIMEDOUT) from None
                raise
            # Too late to withdraw: the record is on its way. Collect it
            # with one wait in C, in this frame: a call to a Python helper
            # would open a new frame, and a signal handler raising at its
            # entry would lose the value.
            try:
                while not recs[0]:
                    lib.pycsp_host_run(host, recs, 1, -1)
            except BaseException as e2:  # a second signal: deliver it later
                if isinstance(e2, KeyboardInterrupt):
                    import _thread
                    _thread.interrupt_main()
                while not recs[0]:
                    lib.pycsp_host_run(host, recs, 1, -1)
        lib.csp_pending_release(p)
        w.busy = False
        return (recs[1], recs[2], recs[3]), late


WITHDRAWN = "withdrawn"


def settle(w: Waiter) -> Any:
    """Settle the op a caller left pending on W when an exception struck
    before wait() took charge of it (between the C call and wait's try,
    for instance at wait's own entry). Returns None when no op was
    pending, WITHDRAWN when it was withdrawn, else its record."""
    p = w.pp[0]
    if p == ffi.NULL:
        return None
    w.pp[0] = ffi.NULL
    w.busy = True
    if not w.recs[0] and lib.pycsp_cancel(p, w.word) == ll.OK:
        lib.csp_pending_release(p)
        w.busy = False
        return WITHDRAWN
    while not w.recs[0]:
        lib.pycsp_host_run(w.host, w.recs, 1, -1)
    lib.csp_pending_release(p)
    w.busy = False
    return (w.recs[1], w.recs[2], w.recs[3])


def with_value(exc: BaseException, value: Any) -> BaseException:
    exc.csp_value = value  # type: ignore[attr-defined]
    return exc
