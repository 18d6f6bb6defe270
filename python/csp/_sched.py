"""Go processes, csp.thread's pool, and the exception handler.

Go processes are Python coroutines driven by one scheduler thread (a
daemon thread named "csp-go", started by the first csp.go). It loops:

    run every process that is ready (coro.send / coro.throw);
    run the completions queued on its host executor (_glue.c), waiting
    with the GIL released when nothing is ready;
    resume the processes (or call the callbacks) those completions name.

A process awaits csp operations only (ch.atake(), ch.aput(), csp.aalts,
...). Inside a process such an operation is issued with the scheduler's
host executor and the process's id as the op id: when it completes now,
the await returns without yielding; otherwise the process yields PARK and
is resumed with the completion record (rc, idx, word). Completions come
from any thread (another Python thread's put, the timer thread closing a
timeout channel) but only ever run on the scheduler thread, so no Python
code runs on a csp worker. The main thread and other threads meanwhile
block in C (GIL released), so processes keep running while they wait.

Where the go fast path is installed (Python 3.10+, _glue.c), the loop's
turn after the inbox and the calls (step the ready processes, wait, run
and deliver the completions) is _go_turn, in C, with the same order and
outcomes; a step that ends any other way than parking again goes back
to Python through _step_end.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
import traceback
from _thread import get_ident
from collections import deque
from typing import Any, Callable, Optional, Tuple

from . import _lowlevel as ll
from . import _values, errors
from ._csp import ffi, lib

BATCH = 256  # completion records per host_run call

# -- the exception handler --------------------------------------------------

ExceptionHandler = Callable[[BaseException], Any]
_handler: Optional[ExceptionHandler] = None


def set_exception_handler(fn: Optional[ExceptionHandler]) -> Optional[ExceptionHandler]:
    """Call FN(exc) for each exception that escapes a go process, a
    csp.thread function, a transform without ex_handler, or a combinator's
    user function; None restores the default (print the traceback to
    stderr). Returns the previous handler. FN runs on the thread where the
    exception happened (the go scheduler thread for go processes) and must
    not block."""
    global _handler
    if fn is not None and not callable(fn):
        raise TypeError("the exception handler must be callable or None")
    prev, _handler = _handler, fn
    return prev


def report(exc: BaseException, where: str = "go process") -> None:
    """Hand EXC to the exception handler."""
    h = _handler
    if h is not None:
        try:
            h(exc)
            return
        except BaseException as e2:  # the handler itself failed
            exc = e2
            where = "csp exception handler"
    try:
        print(f"Exception in csp {where}:", file=sys.stderr)
        traceback.print_exception(type(exc), exc, exc.__traceback__)
    except Exception:
        pass


# -- parking ------------------------------------------------------------------

class _Park:
    """What a go process yields to the scheduler: 'resume me later'."""

    __slots__ = ()

    def __await__(self):  # type: ignore[no-untyped-def]
        return (yield self)


PARK = _Park()


def _split(r: int) -> Tuple[int, int, int]:
    """(rc, idx, word) of a take's result (pycsp_take: word or 4 * rc)."""
    if r & 3:
        return ll.OK, 0, r
    return r >> 2, 0, 0


class Throw:
    """Resume a process by raising EXC in it."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class Proc:
    __slots__ = ("coro", "result", "id", "cancel_req", "done")

    def __init__(self, coro: Any, result: Any, pid: int) -> None:
        self.coro = coro
        self.result = result  # the Chan of its return value
        self.id = pid
        self.cancel_req = False  # cancel() asked; not yet thrown in
        self.done = False


class _Cancel:
    """An inbox entry's value: cancel this process (from another thread)."""

    __slots__ = ()


CANCEL = _Cancel()


_FOREIGN = ("go processes can only await csp operations (ch.atake(), "
            "ch.aput(), csp.aalts(), ...); run asyncio code in an asyncio task")


class Scheduler:
    def __init__(self) -> None:
        self.ident = -1          # the scheduler thread's ident, once started
        self.host = ll.host_new()
        self.ex = ll.host_exec(self.host)
        self.ready: deque = deque()   # (proc, value to send), scheduler only
        self.inbox: deque = deque()   # (proc, None) from other threads
        self.waiting: dict = {}       # go op id -> Proc or callback(rc, idx, w)
        self.current: Optional[Proc] = None
        self.ids = itertools.count(1)
        self.word = ffi.new("intptr_t *")
        self.idx = ffi.new("size_t *")
        self.recs = ffi.new("intptr_t[]", 4 * BATCH)
        self.thread: Optional[threading.Thread] = None
        self.lock = threading.Lock()
        self.calls: deque = deque()   # (fn, args) to run on this thread

    def start(self) -> None:
        """Start the scheduler thread if it is not running."""
        if self.thread is None:
            self._start()

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run FN(*ARGS) on the scheduler thread soon (from any thread);
        an exception goes to the exception handler."""
        self.calls.append((fn, args))
        if get_ident() != self.ident:
            self.start()
            lib.pycsp_host_wake(self.host)

    def cancel(self, proc: Proc) -> None:
        """Cancel PROC (from any thread): see _cancel."""
        if get_ident() == self.ident:
            self._cancel(proc)
            return
        self.inbox.append((proc, CANCEL))
        lib.pycsp_host_wake(self.host)

    def _cancel(self, proc: Proc) -> None:
        """Throw errors.Cancelled into PROC at its current park (withdrawing
        its pending go op) or, if it has none that can be withdrawn now
        (it is running, ready to run with a completed op's result, or
        parked elsewhere), at its next park."""
        if proc.done:
            return
        proc.cancel_req = True
        if self.current is proc:
            return  # _step looks again once it parks
        waiting = self.waiting
        # A copy: other threads' put_async/take_async add entries.
        for op, h in list(waiting.items()):
            if h is proc:
                break
        else:
            return
        if lib.pycsp_sched_cancel(op, self.word) != ll.OK:
            return  # completed: its record comes; the next park it is
        del waiting[op]
        w = self.word[0]
        if w:
            _values.release(w)  # the value a put was putting
        proc.cancel_req = False
        self.ready.append((proc, Throw(errors.Cancelled())))

    # -- from any thread --

    def spawn(self, coro: Any, result: Any) -> None:
        proc = Proc(coro, result, next(self.ids))
        result._proc = proc  # csp.go's Process: its cancel() needs it
        if get_ident() == self.ident:
            self.ready.append((proc, None))
            return
        self.inbox.append((proc, None))
        if self.thread is None:
            self._start()
        lib.pycsp_host_wake(self.host)

    def _start(self) -> None:
        with self.lock:
            if self.thread is not None:
                return
            started = threading.Event()
            t = threading.Thread(target=self._run, args=(started,),
                                 name="csp-go", daemon=True)
            t.start()
            started.wait()
            self.thread = t

    # -- on the scheduler thread --

    def resume(self, proc: Proc, value: Any) -> None:
        self.ready.append((proc, value))

    def put_cb(self, ch: Any, word: int, cb: Callable[[int, int, int], None]) -> None:
        """Put WORD on CH (a csp_chan *); CB(rc, idx, word) runs on this
        thread when the put completes (now, if it can)."""
        rc = lib.pycsp_sput(ch, word)
        if rc == ll.PENDING:
            self.waiting[lib.pycsp_sched_last_id] = cb
            return
        cb(rc, 0, 0)

    def take_cb(self, ch: Any, cb: Callable[[int, int, int], None]) -> None:
        """Take from CH; CB(rc, idx, word) runs on this thread when done."""
        r = lib.pycsp_stake(ch)
        if r == 4 * ll.PENDING:
            self.waiting[lib.pycsp_sched_last_id] = cb
            return
        cb(*_split(r))

    def _run(self, started: threading.Event) -> None:
        self.ident = get_ident()
        ll.sched_enter(self.ex)
        started.set()
        ready, inbox, waiting = self.ready, self.inbox, self.waiting
        calls = self.calls
        host, recs = self.host, self.recs
        host_run, unpack = lib.pycsp_host_run, ffi.unpack
        step = self._step
        turn = globals().get("_go_turn")  # the C turn (_glue.c), if installed
        haddr = int(ffi.cast("intptr_t", host))
        while True:
            try:
                while inbox:
                    item = inbox.popleft()
                    if item[1] is CANCEL:
                        self._cancel(item[0])
                    else:
                        ready.append(item)
                while calls:
                    fn, args = calls.popleft()
                    try:
                        fn(*args)
                    except BaseException as e:
                        report(e, "callback")
                    fn = args = None
                if turn is not None:
                    item = None  # hold nothing while waiting (see below)
                    turn(haddr)  # the rest of this loop, in C
                    continue
                for _ in range(len(ready)):
                    proc, val = ready.popleft()
                    step(proc, val)
                # Hold nothing while waiting: a finished process (and its
                # result channel) or a callback must not outlive its turn.
                proc = val = h = item = None
                k = host_run(host, recs, BATCH,
                             0 if ready or inbox or calls else -1)
                if k > 0:
                    r = unpack(recs, 4 * k)
                    for i in range(0, 4 * k, 4):
                        h = waiting.pop(r[i], None)
                        if h is None:  # a parent's op cancelled by fork()
                            continue
                        if type(h) is Proc:
                            ready.append((h, (r[i + 1], r[i + 2], r[i + 3])))
                        else:
                            try:
                                h(r[i + 1], r[i + 2], r[i + 3])
                            except BaseException as e:
                                report(e, "callback")
                if lib.pycsp_drops_pending:
                    _values.drain_drops()
            except BaseException as e:  # a bug here must not stop every process
                report(e, "scheduler")

    def after_fork_in_child(self) -> None:
        """In a child made by fork(): the scheduler thread was the
        parent's, so its go processes end here, as the core's do (their
        result channels close with no value); the next csp.go starts a new
        thread. The core cancelled their pending ops: the records of those
        arrive for ids no longer waited on and are ignored."""
        procs = [p for p, _ in self.ready] + [p for p, _ in self.inbox]
        procs += [h for h in self.waiting.values() if type(h) is Proc]
        if self.current is not None:
            procs.append(self.current)
        self.ready.clear()
        self.inbox.clear()
        self.waiting.clear()
        self.calls.clear()
        self.current = None
        self.thread = None
        self.ident = -1
        self.lock = threading.Lock()
        for proc in procs:
            try:
                proc.coro.close()
            except BaseException:
                pass
            proc.result._finish(None)

    def _step_end(self, proc: Proc, kind: int, y: Any) -> None:
        """The end of a step the C turn (_glue.c go_step) took but does not
        finish itself: PROC's coroutine returned Y (KIND 0), raised Y (-1),
        or yielded Y (1) where Y is not PARK or a cancel was asked. As the
        end of _step."""
        self.current = None
        if kind == 0:
            proc.done = True
            proc.result._finish(y)
        elif kind < 0:
            proc.done = True
            if not isinstance(y, errors.Cancelled):
                report(y)
            proc.result._finish(None)
        elif y is not PARK:
            self.ready.append((proc, Throw(RuntimeError(_FOREIGN))))
        elif proc.cancel_req:
            self._cancel(proc)

    def _step(self, proc: Proc, val: Any) -> None:
        self.current = proc
        try:
            if type(val) is Throw:
                y = proc.coro.throw(val.exc)
            else:
                y = proc.coro.send(val)
        except StopIteration as e:
            self.current = None
            proc.done = True
            proc.result._finish(e.value)
            return
        except errors.Cancelled:
            self.current = None
            proc.done = True
            proc.result._finish(None)
            return
        except BaseException as e:
            self.current = None
            proc.done = True
            report(e)
            proc.result._finish(None)
            return
        self.current = None
        if y is not PARK:
            self.ready.append((proc, Throw(RuntimeError(_FOREIGN))))
        elif proc.cancel_req:
            self._cancel(proc)


SCHED = Scheduler()


# -- csp.thread -----------------------------------------------------------------

class ThreadPool:
    """A cached, growing pool of daemon threads (core.async's thread pool):
    a job goes to an idle thread or a new one; a thread idle for IDLE_S
    seconds exits."""

    IDLE_S = 60.0

    def __init__(self) -> None:
        import queue
        self.jobs: Any = queue.SimpleQueue()
        self.empty = queue.Empty
        self.idle = 0
        self.lock = threading.Lock()
        self.running: set = set()  # result channels of running jobs

    def after_fork_in_child(self) -> None:
        """In a child made by fork(): the pool's threads were the
        parent's. Jobs they ran or had queued do not run here; their
        result channels close with no value."""
        import queue
        results = list(self.running)
        while True:
            try:
                results.append(self.jobs.get_nowait()[2])
            except self.empty:
                break
        self.jobs = queue.SimpleQueue()
        self.idle = 0
        self.lock = threading.Lock()
        self.running = set()
        for result in results:
            result._finish(None)

    def submit(self, fn: Callable[..., Any], args: tuple, result: Any) -> None:
        with self.lock:
            spawn = self.idle == 0
            if not spawn:
                self.idle -= 1
        self.jobs.put((fn, args, result))
        if spawn:
            threading.Thread(target=self._work, name="csp-thread",
                             daemon=True).start()

    def _work(self) -> None:
        while True:
            try:
                fn, args, result = self.jobs.get(timeout=self.IDLE_S)
            except self.empty:
                with self.lock:
                    # Exit only if no submitter counted on this thread.
                    if self.idle > 0 and self.jobs.empty():
                        self.idle -= 1
                        return
                continue
            self.running.add(result)
            try:
                v = fn(*args)
            except BaseException as e:
                report(e, "thread")
                self.running.discard(result)
                result._finish(None)
            else:
                self.running.discard(result)
                result._finish(v)
            del fn, args, result
            with self.lock:
                self.idle += 1


POOL = ThreadPool()


def _after_fork_in_child() -> None:
    # Forked from the scheduler thread itself (os.fork in a go process):
    # that thread goes on in the child; use exec or the spawn start
    # method there (docs/python.md, "fork").
    if get_ident() == SCHED.ident:
        return
    SCHED.after_fork_in_child()
    POOL.after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
