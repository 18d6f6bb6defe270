"""Awaitable operations inside trio (and anyio's trio backend).

The trio counterpart of _aio.Bridge: one csp_loop per trio run (kept in a
trio RunVar), whose descriptor a trio system task waits on
(trio.lowlevel.wait_readable). Operations are issued as _cb ops on the
csp_loop's executor; completions run in TrioBridge.drain, on the trio
thread, and reschedule the waiting task (trio.lowlevel.reschedule). An
operation that completes at once takes the fast path: no suspension.

Cancellation (a cancel scope, a deadline) reaches the waiting task through
the abort function of trio.lowlevel.wait_task_rescheduled, which withdraws
the op (csp_pending_cancel):

  - withdrawn: nothing happened (a put's value is released), and trio
    raises Cancelled;
  - too late (the op completed concurrently, or its record is queued):
    the abort fails, the task stays parked until the record arrives and
    the await returns the op's result; trio delivers the cancellation at
    the task's next checkpoint. The value is never lost.

Nothing here imports trio: it is only used when a trio run is current,
which means trio is already imported (sys.modules).
"""

from __future__ import annotations

import sys
from typing import Any, Dict, Iterable, Optional, Tuple

from . import _lowlevel as ll
from . import _values
from ._csp import ffi, lib

BATCH = 256
Record = Tuple[int, int, int]
_runvar: Any = None


class TrioBridge:
    def __init__(self, trio: Any) -> None:
        import outcome
        self.trio = trio
        self.value = outcome.Value
        self.cl = ll.loop_new()
        self.ex = ll.loop_executor(self.cl)
        self.fd = ll.loop_fd(self.cl)
        self.waiters: Dict[int, Any] = {}
        self.orphans: Dict[int, Record] = {}
        self.outstanding = 0  # ops issued here whose record has not come
        self.recs = ffi.new("intptr_t[]", 4 * BATCH)
        self.word = ffi.new("intptr_t *")
        self.idx = ffi.new("size_t *")
        self.pp = ffi.new("csp_pending **")
        trio.lowlevel.spawn_system_task(self._pump, name="csp-trio-bridge")

    async def _pump(self) -> None:
        wait_readable = self.trio.lowlevel.wait_readable
        try:
            while True:
                await wait_readable(self.fd)
                self.drain()
        finally:
            # The run is ending (system tasks are cancelled last). With an
            # op still pending the loop is left allocated: that op may
            # still complete onto it (as _aio does).
            if self.outstanding == 0:
                lib.csp_loop_free(self.cl)
                self.cl = ffi.NULL

    def drain(self) -> None:
        n = lib.pycsp_loop_run(self.cl, self.recs, BATCH)
        if n > 0:
            r = ffi.unpack(self.recs, 4 * n)
            waiters, reschedule, value = self.waiters, self.trio.lowlevel.reschedule, self.value
            for i in range(0, 4 * n, 4):
                op = r[i]
                rec = (r[i + 1], r[i + 2], r[i + 3])
                self.outstanding -= 1
                task = waiters.pop(op, None)
                if task is not None:
                    reschedule(task, value(rec))
                else:
                    self.orphans[op] = rec
        if lib.pycsp_drops_pending:
            _values.drain_drops()

    async def wait(self, op: int, p: Any, put_words: Iterable[int] = ()) -> Record:
        """The record of op OP (pending handle P), awaited in the current
        trio task; see the module doc for cancellation."""
        lowlevel = self.trio.lowlevel
        self.outstanding += 1
        try:
            rec = self.orphans.pop(op, None)
            if rec is not None:
                return rec
            self.waiters[op] = lowlevel.current_task()

            def abort(_raise_cancel: Any) -> Any:
                if lib.pycsp_cancel(p, self.word) == ll.OK:
                    self.waiters.pop(op, None)
                    self.outstanding -= 1
                    for w in put_words:
                        _values.release(w)
                    return lowlevel.Abort.SUCCEEDED
                return lowlevel.Abort.FAILED

            return await lowlevel.wait_task_rescheduled(abort)
        finally:
            lib.csp_pending_release(p)


def current_trio() -> Any:
    """The trio module if a trio run is current on this thread, else None."""
    trio = sys.modules.get("trio")
    if trio is None:
        return None
    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        return None
    return trio


def bridge() -> Optional[TrioBridge]:
    """The current trio run's bridge, or None outside trio."""
    global _runvar
    trio = current_trio()
    if trio is None:
        return None
    if _runvar is None:
        _runvar = trio.lowlevel.RunVar("csp_bridge")
    b = _runvar.get(None)
    if b is None:
        b = TrioBridge(trio)
        _runvar.set(b)
    return b
