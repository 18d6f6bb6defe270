"""Awaitable operations inside asyncio: one csp_loop per event loop.

Each asyncio event loop that awaits a csp operation gets a Bridge: a
csp_loop (bindings/loop.c) whose descriptor is registered with
loop.add_reader. Operations are issued as _cb ops on the csp_loop's
executor; completions run in Bridge.drain, on the event loop's thread,
and resolve the awaiting future. An operation that completes at once
takes the fast path: no future, no suspension.

Cancellation of the awaiting task withdraws the op (csp_pending_cancel):

  - withdrawn: nothing happened (a put's value is released), and
    CancelledError propagates;
  - too late (the op completed concurrently, or its record is already
    queued): the value is never lost: the await returns the op's result
    normally and the cancellation request is absorbed, as when a task is
    cancelled just after its await finished. asyncio.wait_for and
    asyncio.timeout then return the value instead of timing out.

A Bridge is freed with its event loop (weakref.finalize) when no op is
pending on it; otherwise it is left allocated (a pending op may still
complete onto it).
"""

from __future__ import annotations

import asyncio
import itertools
from asyncio import _get_running_loop
import weakref
from typing import Any, Dict, Iterable, Optional, Tuple

from . import _lowlevel as ll
from . import _trio, _values
from ._csp import ffi, lib

BATCH = 256
Record = Tuple[int, int, int]
_ids = itertools.count(1)


class Bridge:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.cl = ll.loop_new()
        self.ex = ll.loop_executor(self.cl)
        self.fd = ll.loop_fd(self.cl)
        self.futs: Dict[int, asyncio.Future] = {}
        self.orphans: Dict[int, Record] = {}
        self.outstanding = 0  # ops issued here whose record has not come
        self.recs = ffi.new("intptr_t[]", 4 * BATCH)
        self.word = ffi.new("intptr_t *")
        self.idx = ffi.new("size_t *")
        self.pp = ffi.new("csp_pending **")
        loop.add_reader(self.fd, self.drain)
        weakref.finalize(loop, Bridge._close, self)

    @staticmethod
    def _close(self: "Bridge") -> None:
        global _last
        if _last[1] is self:
            _last = _NO_LAST
        if self.outstanding == 0:
            lib.csp_loop_free(self.cl)
            self.cl = ffi.NULL

    def drain(self) -> None:
        n = lib.pycsp_loop_run(self.cl, self.recs, BATCH)
        if n > 0:
            r = ffi.unpack(self.recs, 4 * n)
            futs = self.futs
            for i in range(0, 4 * n, 4):
                op = r[i]
                rec = (r[i + 1], r[i + 2], r[i + 3])
                self.outstanding -= 1
                fut = futs.pop(op, None)
                if fut is not None and not fut.done():
                    fut.set_result(rec)
                else:
                    self.orphans[op] = rec
        if lib.pycsp_drops_pending:
            _values.drain_drops()

    async def wait(self, op: int, p: Any, put_words: Iterable[int] = ()) -> Record:
        """The record of op OP (pending handle P), awaited in the current
        task; see the module doc for cancellation."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self.futs[op] = fut
        self.outstanding += 1
        try:
            try:
                return await fut
            except asyncio.CancelledError:
                if fut.done() and not fut.cancelled():
                    return fut.result()
                if lib.pycsp_cancel(p, self.word) == ll.OK:
                    self.futs.pop(op, None)
                    self.outstanding -= 1
                    for w in put_words:
                        _values.release(w)
                    raise
                return await self._claim(op)
        finally:
            lib.csp_pending_release(p)

    async def _claim(self, op: int) -> Record:
        """The record of an op that can no longer be withdrawn."""
        loop = asyncio.get_running_loop()
        while True:
            rec = self.orphans.pop(op, None)
            if rec is not None:
                return rec
            fut = loop.create_future()
            self.futs[op] = fut
            try:
                return await fut
            except asyncio.CancelledError:
                if fut.done() and not fut.cancelled():
                    return fut.result()
                self.futs.pop(op, None)


_bridges: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Bridge]" = weakref.WeakKeyDictionary()
_NO_LAST: Tuple[Any, Optional[Bridge]] = (lambda: None, None)
_last = _NO_LAST  # the last loop used (weakly) and its Bridge


def bridge() -> Bridge:
    """The current event loop's Bridge, or the current trio run's
    (_trio.TrioBridge, the same interface); RuntimeError outside both."""
    global _last
    loop = _get_running_loop()
    if loop is None:
        tb = _trio.bridge()
        if tb is not None:
            return tb  # type: ignore[return-value]
        raise RuntimeError(
            "csp awaitables need a go process (csp.go), a running asyncio "
            "event loop or a trio run (anyio runs on either); use the "
            "blocking forms (ch.take(), ch.put(v)) on plain threads")
    ref, b = _last
    if ref() is loop:
        return b  # type: ignore[return-value]
    b = _bridges.get(loop)
    if b is None:
        b = _bridges[loop] = Bridge(loop)
    _last = (weakref.ref(loop), b)
    return b


def next_id() -> int:
    return next(_ids)
