"""Channels, buffers, timeouts and alts: the Pythonic objects over csp.h.

Every operation comes in the three forms of STYLE §4, picked by where it
is called from:

    blocking    ch.put(v), ch.take(), csp.alts(...)    plain threads
    awaitable   ch.aput(v), ch.atake(), csp.aalts(...) go processes and
                                                       asyncio tasks
    never waits ch.offer(v), ch.poll()                 anywhere

An awaitable first issues the go form (pycsp_sput/stake/salts): on the go
scheduler's thread that is the operation of a go process (_sched.py);
anywhere else the glue does nothing and says ELSEWHERE, and the asyncio
form follows (_aio.py), which needs a running event loop.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import sys
from _thread import get_ident
from typing import (TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable, Generic,
                    Iterator, List, Optional, Sequence, Tuple, TypeVar, Union)

from . import _aio, _block, _trio
from . import _lowlevel as ll
from . import _values
from . import xf as _xf
from ._csp import ffi, lib
from ._sched import PARK, SCHED, report
from .errors import from_rc

T = TypeVar("T")

OK, PENDING, ECLOSED, EAGAIN, REDUCED = ll.OK, ll.PENDING, ll.ECLOSED, ll.EAGAIN, ll.REDUCED
ELSEWHERE = ll.ELSEWHERE
PENDING4, EAGAIN4, ELSEWHERE4 = 4 * PENDING, 4 * EAGAIN, 4 * ELSEWHERE
NULL = ffi.NULL
_encode, _decode, _peek, _release = _values.encode, _values.decode, _values.peek, _values.release
_slots = _values._slots
INT_MIN, INT_MAX, W_TRUE = _values.INT_MIN, _values.INT_MAX, _values.W_TRUE
_sput, _stake = lib.pycsp_sput, lib.pycsp_stake

# The go fast path (_glue.c): Chan's base class _GoChan has aput and atake
# in C, which in a go process await a _GoOp (no coroutine, no frame, the
# op issued without leaving C) for channels without a transform (GF_FAST)
# and call _aput_py/_atake_py everywhere else. It needs am_send (Python
# 3.10); CSP_PY_NO_FAST=1 turns it off (the pure Python path, for
# comparison and tests).
GF_FAST, GF_PROMISE, GF_DROPS = 1, 2, 4
FAST = False
if sys.version_info >= (3, 10) and not os.environ.get("CSP_PY_NO_FAST"):
    FAST = lib.pycsp_fast_install() == 0
if FAST:
    from ._sched import _GoChan  # type: ignore[attr-defined]
else:
    class _GoChan:  # type: ignore[no-redef]
        __slots__ = ()

        def _fset(self, addr: int, flags: int) -> None:
            pass


# -- buffers --------------------------------------------------------------------

class Buffer:
    """A buffer specification for csp.chan: its kind and size."""

    __slots__ = ("kind", "n")

    def __init__(self, kind: int, n: int) -> None:
        self.kind = kind
        self.n = n

    def __repr__(self) -> str:
        name = {ll.BUF_FIXED: "buffer", ll.BUF_DROPPING: "dropping",
                ll.BUF_SLIDING: "sliding"}[self.kind]
        return f"csp.{name}({self.n})"


def _size(n: Any, what: str, minimum: int) -> int:
    if type(n) is not int:
        if isinstance(n, int) and not isinstance(n, bool):
            n = int(n)
        else:
            raise TypeError(f"{what} must be an int, not {type(n).__name__}")
    if n < minimum or n > ll.CAP_MAX:
        raise ValueError(f"{what} must be in [{minimum}, {ll.CAP_MAX}], not {n}")
    return n


def buffer(n: int) -> Buffer:
    """A fixed buffer of N values: puts wait when it is full."""
    return Buffer(ll.BUF_FIXED, _size(n, "buffer size", 1))


def dropping(n: int) -> Buffer:
    """A buffer of N values that drops new puts when full (they succeed)."""
    return Buffer(ll.BUF_DROPPING, _size(n, "buffer size", 1))


def sliding(n: int) -> Buffer:
    """A buffer of N values that drops the oldest when full."""
    return Buffer(ll.BUF_SLIDING, _size(n, "buffer size", 1))


# -- transforms -----------------------------------------------------------------

class _XfInst:
    """What a transformed channel's C recipe points at (by its word)."""

    __slots__ = ("rf", "ex_handler", "exc")

    def __init__(self, rf: Any, ex_handler: Optional[Callable[[BaseException], Any]]) -> None:
        self.rf = rf
        self.ex_handler = ex_handler
        self.exc: Optional[BaseException] = None


class _ChanRf:
    """The innermost reducing function: acc is the csp_emit * of the step;
    step adds a value to the channel's buffer."""

    __slots__ = ()

    def step(self, acc: Any, x: Any) -> Any:
        w = _encode(x)
        rc = lib.pycsp_emit(acc, w)
        if rc == OK:
            return acc
        if rc == REDUCED:
            return _xf.Reduced(acc)
        _release(w)
        raise from_rc(rc)

    def complete(self, acc: Any) -> Any:
        return acc


_CHAN_RF = _ChanRf()


@ffi.def_extern()
def pycsp_py_xf_step(state: int, val: int, out: Any) -> int:
    inst = _peek(state)
    try:
        r = inst.rf.step(out, _decode(val))
    except BaseException as e:
        inst.exc = e
        return ll.EINVAL
    return REDUCED if type(r) is _xf.Reduced else OK


@ffi.def_extern()
def pycsp_py_xf_complete(state: int, out: Any) -> int:
    inst = _peek(state)
    try:
        inst.rf.complete(out)
    except BaseException as e:
        inst.exc = e
        return ll.EINVAL
    return OK


@ffi.def_extern()
def pycsp_py_exh(ud: int, err: int) -> int:
    inst = _peek(ud)
    exc, inst.exc = inst.exc, None
    if exc is None:
        exc = from_rc(err)
    try:
        if inst.ex_handler is None:
            report(exc, "transform")
            return 0
        v = inst.ex_handler(exc)
        return 0 if v is None else _encode(v)
    except BaseException as e:
        report(e, "ex_handler")
        return 0


# -- channels -------------------------------------------------------------------

_TIMEOUT = -1
_KIND_NAMES = {ll.BUF_NONE: "unbuffered", ll.BUF_FIXED: "buffer", ll.BUF_DROPPING: "dropping",
               ll.BUF_SLIDING: "sliding", ll.BUF_PROMISE: "promise", _TIMEOUT: "timeout"}

class Chan(_GoChan, Generic[T]):
    """A channel. Create one with csp.chan(), csp.promise_chan() or
    csp.timeout(); ``Chan[int]`` annotates one that carries ints."""

    __slots__ = ("_ch", "_promise", "_drops", "_kind", "_cap", "_xf", "__weakref__")

    def __init__(self, n: Union[None, int, Buffer] = None,
                 xform: Optional[_xf.Xform] = None,
                 ex_handler: Optional[Callable[[BaseException], Any]] = None) -> None:
        self._ch = NULL
        self._xf = xform is not None  # Python may run under its lock
        if n is None:
            kind, n = ll.BUF_NONE, 0
        elif isinstance(n, Buffer):
            kind, n = n.kind, n.n
        else:
            n = _size(n, "channel size", 0)
            kind = ll.BUF_FIXED if n else ll.BUF_NONE
        self._promise = kind == ll.BUF_PROMISE
        self._kind, self._cap = kind, n
        self._drops = kind in (ll.BUF_DROPPING, ll.BUF_SLIDING, ll.BUF_PROMISE)
        if xform is None:
            if ex_handler is not None:
                raise ValueError("ex_handler needs an xform")
            self._ch = ll.chan_new(kind, n)
            self._fset(int(ffi.cast("intptr_t", self._ch)),
                       GF_FAST | (GF_PROMISE if self._promise else 0)
                       | (GF_DROPS if self._drops else 0))
            return
        if not isinstance(xform, _xf.Xform):
            raise TypeError(f"xform must be a csp.xf transducer, not {type(xform).__name__}")
        if ex_handler is not None and not callable(ex_handler):
            raise TypeError("ex_handler must be callable")
        if kind == ll.BUF_NONE:
            raise ValueError("a channel with an xform needs a buffer (n >= 1)")
        self._drops = True
        word = _values.pin(_XfInst(xform(_CHAN_RF), ex_handler))
        try:
            recipe = ll.xform_new(word)
        except BaseException:
            _release(word)
            raise
        try:
            # On failure the recipe's release frees WORD (pycsp_xf_free).
            self._ch = ll.chan_new_xf(kind, n, recipe, word)
        finally:
            ll.xform_release(recipe)
            if lib.pycsp_drops_pending:
                _values.drain_drops()

    @classmethod
    def _wrap(cls, ch: Any, promise: bool = False, kind: int = -1) -> "Chan[Any]":
        self = cls.__new__(cls)
        self._ch = ch
        self._promise = promise
        self._drops = promise
        self._kind = ll.BUF_PROMISE if promise else kind
        self._cap = 0
        self._xf = False
        self._fset(int(ffi.cast("intptr_t", ch)),
                   GF_FAST | (GF_PROMISE | GF_DROPS if promise else 0))
        return self

    @classmethod
    def from_handle(cls, handle: int, promise: bool = False) -> "Chan[Any]":
        """A Chan for the csp_chan at address HANDLE, given by C (an int:
        a C host passes ``(uintptr_t)ch``; ``ch:handle()`` in Lua). Takes
        a reference of its own (csp_chan_retain), released when the Chan
        is collected: the caller keeps and releases its own. PROMISE: the
        channel is a promise channel (takes borrow the value). Values are
        read as csp.h's portable values (docs/embedding.md)."""
        if not isinstance(handle, int) or isinstance(handle, bool) or handle <= 0:
            raise TypeError("Chan.from_handle: handle must be a csp_chan "
                            "address (a positive int)")
        ch = lib.csp_chan_retain(ffi.cast("csp_chan *", handle))
        self = cls._wrap(ch, promise)
        self._drops = True  # its buffer kind is unknown here
        self._xf = True  # nor whether a Python transform runs under its lock
        self._fset(0, 0)
        return self

    def handle(self) -> int:
        """The address of this channel's csp_chan, for C (borrowed: valid
        while this Chan lives; C calls csp_chan_retain to keep it)."""
        return int(ffi.cast("uintptr_t", self._ch))

    def __del__(self) -> None:
        ch = getattr(self, "_ch", NULL)
        if ch != NULL:
            self._ch = NULL
            self._fset(0, 0)
            try:
                lib.csp_chan_release(ch)
                if lib.pycsp_drops_pending:
                    _values.drain_drops()
            except Exception:  # interpreter shutdown
                pass

    def __repr__(self) -> str:
        kind = _KIND_NAMES.get(self._kind, "timeout")
        if self._kind in (ll.BUF_FIXED, ll.BUF_DROPPING, ll.BUF_SLIDING):
            kind = f"{kind}({self._cap})"
        state = " closed" if self.closed else ""
        return f"<csp.{type(self).__name__} #{self.id} {kind} count={self.count()}{state}>"

    def __len__(self) -> int:
        """The number of values buffered now (a snapshot), as count()."""
        return lib.csp_chan_count(self._ch)

    def qsize(self) -> int:
        """count() under asyncio.Queue's name."""
        return lib.csp_chan_count(self._ch)

    def __bool__(self) -> bool:
        # A channel is always true, even an empty one (__len__ is 0).
        return True

    # -- state --

    def close(self) -> None:
        """Close the channel (idempotent). Pending puts are still
        delivered; later puts return False; takes drain, then get None."""
        rc = lib.csp_chan_close(self._ch)
        if rc < 0:
            raise from_rc(rc)
        if lib.pycsp_drops_pending:
            _values.drain_drops()

    @property
    def closed(self) -> bool:
        """True once close() was called."""
        return bool(lib.csp_chan_closed(self._ch))

    @property
    def id(self) -> int:
        """The channel's id, unique in the process (alts lock order)."""
        return lib.csp_chan_id(self._ch)

    def count(self) -> int:
        """The number of values buffered now (a snapshot)."""
        return lib.csp_chan_count(self._ch)

    def __enter__(self) -> "Chan[T]":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    async def __aenter__(self) -> "Chan[T]":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()

    # -- results of ops --

    def _taken(self, r: int) -> Optional[T]:
        """The result of a take that returned R (a word, or 4 * rc)."""
        if r & 3:
            return _peek(r) if self._promise else _decode(r)
        return self._took(r >> 2, 0)

    def _took(self, rc: int, w: int) -> Optional[T]:
        if rc == OK:
            return _peek(w) if self._promise else _decode(w)
        if rc == ECLOSED:
            return None
        raise from_rc(rc)

    def _put_done(self, rc: int, w: int) -> bool:
        if rc == OK:
            if self._drops and lib.pycsp_drops_pending:
                _values.drain_drops()
            return True
        _release(w)
        if rc == ECLOSED:
            return False
        raise from_rc(rc)

    def _finish(self, value: Any) -> None:
        """A go process or thread ended with VALUE (its result channel)."""
        if value is not None:
            w = _encode(value)
            rc = lib.pycsp_offer(self._ch, w)
            if rc != OK:
                _release(w)
        lib.csp_chan_close(self._ch)

    # -- never waits --

    def offer(self, v: T) -> Optional[bool]:
        """Put V if that can happen now: True (done), False (closed), or
        None (it would have to wait; nothing happened)."""
        w = _encode(v)
        rc = lib.pycsp_offer(self._ch, w)
        if rc == EAGAIN:
            _release(w)
            return None
        return self._put_done(rc, w)

    def poll(self) -> Optional[T]:
        """Take a value if one is there now; None otherwise (or closed)."""
        r = lib.pycsp_poll(self._ch)
        if r & 3:
            return _peek(r) if self._promise else _decode(r)
        if r == EAGAIN4:
            return None
        return self._took(r >> 2, 0)

    # -- callbacks (core.async's put! and take!) --

    def put_async(self, value: T, callback: Optional[Callable[[bool], Any]] = None, *,
                  on_caller: bool = True) -> "AsyncOp":
        """Put VALUE without ever blocking or awaiting (core.async's put!).
        CALLBACK (optional) gets True once the put is done, False if the
        channel was closed. A put done now calls it on the caller before
        returning (with ON_CALLER False: later, as for a waiting put); a
        waiting put calls it later, exactly once: on the asyncio loop or
        trio run it was issued from, else on csp's callback thread (the
        go scheduler thread). An exception it raises goes to the exception
        handler (never to the caller). BusyError with 1024 puts already pending (no callback).
        Returns an AsyncOp whose cancel() withdraws a waiting put."""
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable, not {type(callback).__name__}")
        w = _encode(value)
        op = AsyncOp(self, callback, w, True)
        rc = op._issue(lib.pycsp_put, PENDING, self._ch, w)
        if rc == PENDING:
            return op
        if rc == OK:
            if self._drops and lib.pycsp_drops_pending:
                _values.drain_drops()
            op._now(True, on_caller)
            return op
        _release(w)
        if rc == ECLOSED:
            op._now(False, on_caller)
            return op
        raise from_rc(rc)

    def take_async(self, callback: Callable[[Optional[T]], Any], *,
                   on_caller: bool = True) -> "AsyncOp":
        """Take a value without ever blocking or awaiting (core.async's
        take!): CALLBACK gets the value, or None once the channel is
        closed and drained; when and where it runs as for put_async.
        BusyError with 1024 takes already pending. Returns an AsyncOp
        whose cancel() withdraws a waiting take."""
        if not callable(callback):
            raise TypeError(f"callback must be callable, not {type(callback).__name__}")
        op = AsyncOp(self, callback, 0, False)
        r = op._issue(lib.pycsp_take, PENDING4, self._ch)
        if r == PENDING4:
            return op
        op._now(self._taken(r), on_caller)
        return op

    # -- blocking --

    def put(self, v: T, timeout: Optional[float] = None) -> bool:
        """Put V, blocking the thread until it is taken or buffered.
        True when done, False if the channel is closed. TimeoutError after
        TIMEOUT seconds (the put did not happen)."""
        deadline = _block.deadline_of(timeout)
        wt = _block.acquire("put")
        try:
            w = _encode(v)
            rc = lib.pycsp_put(self._ch, w, wt.ex, _block.OP_ID, wt.pp)
            if rc != PENDING:
                return self._put_done(rc, w)
            (rc, _, _), exc = _block.wait(wt, deadline, (w,))
            ok = self._put_done(rc, w)
            if exc is not None:
                raise _block.with_value(exc, ok)
            return ok
        except BaseException as e:
            rec = _block.settle(wt)
            if isinstance(rec, tuple):
                raise _block.with_value(e, self._put_done(rec[0], w))
            if rec is _block.WITHDRAWN:
                _values.release(w)
            raise
        finally:
            _block.release(wt)

    def take(self, timeout: Optional[float] = None) -> Optional[T]:
        """Take a value, blocking the thread until one comes; None once the
        channel is closed and drained. TimeoutError after TIMEOUT seconds
        (nothing was taken)."""
        deadline = _block.deadline_of(timeout)
        wt = _block.acquire("take")
        try:
            r = lib.pycsp_take(self._ch, wt.ex, _block.OP_ID, wt.pp)
            if r != PENDING4:
                return self._taken(r)
            (rc, _, w), exc = _block.wait(wt, deadline)
            v = self._took(rc, w)
            if exc is not None:
                raise _block.with_value(exc, v)
            return v
        except BaseException as e:
            rec = _block.settle(wt)
            if isinstance(rec, tuple):
                raise _block.with_value(e, self._took(rec[0], rec[2]))
            raise
        finally:
            _block.release(wt)

    def __iter__(self) -> Iterator[T]:
        """Blocking takes until the channel is closed and drained."""
        while True:
            v = self.take()
            if v is None:
                return
            yield v

    # -- awaitable --
    #
    # aput and atake are _GoChan's (C, the go fast path), or these two
    # (assigned below the class) where it is not installed; either way
    # they call these everywhere but in a go process. Without the fast
    # path the go-process path is the hot one (benchmarks W1, W2): it
    # inlines the int encoding and decoding of _values and _put_done/_took.

    if TYPE_CHECKING:
        def aput(self, v: T) -> Awaitable[bool]:
            """Put V, waiting in a go process, asyncio or trio task;
            True when done, False if the channel is closed."""

        def atake(self) -> Awaitable[Optional[T]]:
            """Take a value, waiting in a go process, asyncio or trio
            task; None once the channel is closed and drained."""

    async def _aput_py(self, v: T) -> bool:
        """Put V, waiting in a go process or asyncio task; True when done,
        False if the channel is closed. (aput: this or the fast path.)"""
        if type(v) is int and INT_MIN <= v <= INT_MAX:
            w = (v << 2) | 1
        else:
            w = _encode(v)
        rc = _sput(self._ch, w)
        if rc == PENDING:
            s = SCHED
            s.waiting[lib.pycsp_sched_last_id] = s.current
            rc = (await PARK)[0]
        elif rc == ELSEWHERE:
            try:
                b = _aio.bridge()
            except BaseException:
                _release(w)
                raise
            op = _aio.next_id()
            rc = lib.pycsp_put(self._ch, w, b.ex, op, b.pp)
            if rc == PENDING:
                rc = (await b.wait(op, b.pp[0], (w,)))[0]
        if rc == OK:
            if self._drops and lib.pycsp_drops_pending:
                _values.drain_drops()
            return True
        return self._put_done(rc, w)

    async def _atake_py(self) -> Optional[T]:
        """Take a value, waiting in a go process or asyncio task; None once
        the channel is closed and drained. (atake: this or the fast path.)"""
        r = _stake(self._ch)
        t = r & 3
        if t == 0:
            if r == PENDING4:
                s = SCHED
                s.waiting[lib.pycsp_sched_last_id] = s.current
                rc, _, r = await PARK
                if rc != OK:
                    return self._took(rc, r)
                t = r & 3
            elif r == ELSEWHERE4:
                b = _aio.bridge()
                op = _aio.next_id()
                r = lib.pycsp_take(self._ch, b.ex, op, b.pp)
                if r != PENDING4:
                    return self._taken(r)
                rc, _, w = await b.wait(op, b.pp[0])
                return self._took(rc, w)
            else:
                return self._took(r >> 2, 0)
        if self._promise:
            return _peek(r)
        if t == 1:
            return r >> 2
        return _decode(r)

    def __aiter__(self) -> AsyncIterator[T]:
        """``async for v in ch``: takes until closed and drained."""
        return self._aiter()

    async def _aiter(self) -> AsyncIterator[T]:
        while True:
            v = await self.atake()
            if v is None:
                return
            yield v


if not FAST:
    Chan.aput = Chan._aput_py  # type: ignore[method-assign]
    Chan.atake = Chan._atake_py  # type: ignore[method-assign]


def chan(n: Union[None, int, Buffer] = None, xform: Optional[_xf.Xform] = None,
         ex_handler: Optional[Callable[[BaseException], Any]] = None) -> Chan[Any]:
    """A channel: unbuffered (N None or 0), with a fixed buffer of N values,
    or with the buffer csp.buffer/dropping/sliding(k) describes. XFORM (a
    csp.xf transducer; needs a buffer) transforms what is put; EX_HANDLER
    gets exceptions raised in it and may return a value to add."""
    return Chan(n, xform, ex_handler)


def promise_chan(xform: Optional[_xf.Xform] = None,
                 ex_handler: Optional[Callable[[BaseException], Any]] = None) -> Chan[Any]:
    """A channel whose first value goes to every taker, forever; later puts
    succeed and are dropped. With XFORM (a csp.xf transducer) the first
    value it emits becomes the promise; EX_HANDLER as for csp.chan."""
    if xform is None and ex_handler is None:
        return Chan._wrap(ll.chan_new(ll.BUF_PROMISE, 0), promise=True)
    return Chan(Buffer(ll.BUF_PROMISE, 0), xform, ex_handler)


def timeout(ms: float) -> Chan[Any]:
    """A channel that closes after MS milliseconds (never earlier); a
    negative MS closes it at once, as 0 (core.async, Go's time.After,
    asyncio.sleep). Puts on it raise WrongContextError. ValueError for NaN
    and infinities, TypeError for non-numbers."""
    if isinstance(ms, bool) or not isinstance(ms, (int, float)):
        raise TypeError(f"timeout takes milliseconds as a number, not {type(ms).__name__}")
    if not ms < 2**63 or ms != ms or ms == -math.inf:
        raise ValueError(f"timeout must be finite, not {ms}")
    return Chan._wrap(ll.timeout(max(0, int(math.ceil(ms)))), kind=_TIMEOUT)


# -- alts -----------------------------------------------------------------------

_NO_DEFAULT: Any = object()
DEFAULT = "default"

AltsOp = Union[Chan[Any], Tuple[Chan[Any], Any]]


class _Alts:
    """One alts call: the parsed ops and their C arrays."""

    __slots__ = ("chans", "puts", "words", "chs", "vals", "flags")

    def __init__(self, ops: Sequence[AltsOp], priority: bool, has_default: bool) -> None:
        if isinstance(ops, (str, bytes)) or not hasattr(ops, "__iter__"):
            raise TypeError("alts takes a list of channels and (channel, value) pairs")
        chans: List[Chan[Any]] = []
        puts: List[bool] = []
        items = list(ops)
        if not items:
            raise ValueError("alts needs at least one op")
        if len(items) > ll.ALTS_MAX:
            raise ValueError(f"alts takes at most {ll.ALTS_MAX} ops")
        for op in items:
            if isinstance(op, Chan):
                chans.append(op)
                puts.append(False)
            elif (isinstance(op, tuple) and len(op) == 2 and isinstance(op[0], Chan)):
                if op[1] is None:
                    raise TypeError("None cannot be put on a channel (it means closed)")
                chans.append(op[0])
                puts.append(True)
            else:
                raise TypeError("an alts op is a channel (take) or a (channel, value) pair (put), "
                                f"not {op!r}")
        words = [0] * len(items)
        try:
            for i, op in enumerate(items):
                if puts[i]:
                    words[i] = _encode(op[1])  # type: ignore[index]
        except BaseException:
            for w in words:
                _release(w)
            raise
        if len(chans) > 1:
            for c in chans:
                if c._xf:
                    # Pass 1 of this alts may run C's Python transform
                    # step with every channel here locked: none of them
                    # may be locked by a go op holding the GIL any more
                    # (_glue.c, the go fast path).
                    for d in chans:
                        d._fset(0, 0)
                    break
        self.chans, self.puts, self.words = chans, puts, words
        self.chs = ffi.new("csp_chan *[]", [c._ch for c in chans])
        self.vals = ffi.new("intptr_t[]", words)
        self.flags = (ll.ALTS_PRIORITY if priority else 0) | (ll.ALTS_DEFAULT if has_default else 0)

    def release_all(self) -> None:
        for w in self.words:
            _release(w)

    def result(self, rc: int, idx: int, w: int, default: Any) -> Tuple[Any, Any]:
        """(value, chan) for record (rc, idx, w); puts that did not commit
        give their values back."""
        if rc == EAGAIN:
            self.release_all()
            return default, DEFAULT
        if rc != OK and rc != ECLOSED:
            self.release_all()
            raise from_rc(rc)
        words = self.words
        for i, pw in enumerate(words):
            if pw and not (i == idx and rc == OK):
                _release(pw)
        ch = self.chans[idx]
        if self.puts[idx]:
            if rc == OK and ch._drops and lib.pycsp_drops_pending:
                _values.drain_drops()
            return rc == OK, ch
        return ch._took(rc, w), ch


def alts(ops: Sequence[AltsOp], priority: bool = False, default: Any = _NO_DEFAULT) -> Tuple[Any, Any]:
    """Block until exactly one op completes; returns (value, chan). An op
    is a channel (take: value is what was taken, None if closed) or a
    (channel, value) pair (put: value is True, or False if closed). Ops
    are tried in random order, or in list order with PRIORITY. With
    DEFAULT and nothing ready now, returns (default, "default")."""
    has_default = default is not _NO_DEFAULT
    a = _Alts(ops, priority, has_default)
    try:
        wt = _block.acquire("alts")
    except BaseException:
        a.release_all()
        raise
    try:
        rc = lib.pycsp_alts(a.chs, a.vals, len(a.chans), a.flags, wt.idx, wt.word,
                            wt.ex, _block.OP_ID, wt.pp)
        if rc != PENDING:
            return a.result(rc, wt.idx[0], wt.word[0], default)
        (rc, idx, w), exc = _block.wait(wt, None, [x for x in a.words if x])
        res = a.result(rc, idx, w, default)
        if exc is not None:
            raise _block.with_value(exc, res)
        return res
    except BaseException as e:
        rec = _block.settle(wt)
        if isinstance(rec, tuple):
            raise _block.with_value(e, a.result(rec[0], rec[1], rec[2], default))
        if rec is _block.WITHDRAWN:
            a.release_all()
        raise
    finally:
        _block.release(wt)


async def aalts(ops: Sequence[AltsOp], priority: bool = False, default: Any = _NO_DEFAULT) -> Tuple[Any, Any]:
    """alts, awaited in a go process or an asyncio task."""
    has_default = default is not _NO_DEFAULT
    a = _Alts(ops, priority, has_default)
    n = len(a.chans)
    s = SCHED
    rc = lib.pycsp_salts(a.chs, a.vals, n, a.flags, s.idx, s.word)
    if rc == PENDING:
        s.waiting[lib.pycsp_sched_last_id] = s.current
        try:
            rc, idx, w = await PARK
        except BaseException:  # Cancelled: the alts was withdrawn
            a.release_all()
            raise
    elif rc == ELSEWHERE:
        try:
            b = _aio.bridge()
        except BaseException:
            a.release_all()
            raise
        op = _aio.next_id()
        rc = lib.pycsp_alts(a.chs, a.vals, n, a.flags, b.idx, b.word, b.ex, op, b.pp)
        if rc == PENDING:
            rc, idx, w = await b.wait(op, b.pp[0], [x for x in a.words if x])
        else:
            idx, w = b.idx[0], b.word[0]
    else:
        idx, w = s.idx[0], s.word[0]
    return a.result(rc, idx, w, default)


# -- callback ops -----------------------------------------------------------------

_cb_ids = itertools.count(1, 2)  # odd: go ops' ids are even (_glue.c)


def _invoke(cb: Callable[[Any], Any], v: Any) -> None:
    try:
        cb(v)
    except BaseException as e:
        report(e, "callback")


class AsyncOp:
    """A put_async or take_async. ``cancel()`` withdraws it while it waits:
    True if withdrawn (the callback never runs; a put's value is not
    delivered), False if it already completed or was cancelled (its
    callback runs or ran exactly once). ``done`` is True once it completed."""

    __slots__ = ("_chan", "_cb", "_word", "_put", "_id", "_p", "_target", "_state",
                 "__weakref__")

    def __init__(self, chan: Chan[Any], cb: Optional[Callable[[Any], Any]], word: int,
                 put: bool) -> None:
        self._chan = chan
        self._cb = cb
        self._word = word
        self._put = put
        self._p = NULL
        self._state = 0  # 0 waiting, 1 completed, 2 withdrawn
        self._target = _target()

    def _issue(self, fn: Any, pending: int, *args: Any) -> int:
        """Issue the op on the scheduler's executor, registered first (its
        completion may come before FN returns)."""
        s = SCHED
        s.start()
        self._id = op = next(_cb_ids)
        s.waiting[op] = self
        pp = ffi.new("csp_pending **")
        r = fn(*args, s.ex, op, pp)
        if r == pending:
            self._p = pp[0]
        else:
            s.waiting.pop(op, None)
        return r

    def _now(self, v: Any, on_caller: bool) -> None:
        self._state = 1
        cb = self._cb
        if cb is None:
            return
        if on_caller:
            _invoke(cb, v)
        else:
            self._dispatch(cb, v)

    def _dispatch(self, cb: Callable[[Any], Any], v: Any) -> None:
        t = self._target
        if t is None:
            SCHED.call_soon(_invoke, cb, v)
        elif isinstance(t, asyncio.AbstractEventLoop):
            try:
                t.call_soon_threadsafe(_invoke, cb, v)
            except RuntimeError:  # the loop was closed: csp's thread then
                SCHED.call_soon(_invoke, cb, v)
        else:
            try:
                t.run_sync_soon(_invoke, cb, v)
            except Exception:  # the trio run ended
                SCHED.call_soon(_invoke, cb, v)

    def __call__(self, rc: int, idx: int, w: int) -> None:
        """The completion record, on the scheduler thread."""
        self._state = 1
        ch = self._chan
        if self._put:
            v: Any = ch._put_done(rc, self._word)
        else:
            v = ch._took(rc, w)
        cb = self._cb
        if cb is None:
            return
        if self._target is None:
            _invoke(cb, v)
        else:
            self._dispatch(cb, v)

    def cancel(self) -> bool:
        if self._state != 0 or self._p == NULL:
            return False
        wp = ffi.new("intptr_t *")
        if lib.pycsp_cancel(self._p, wp) != OK:
            return False
        self._state = 2
        SCHED.waiting.pop(self._id, None)
        if self._put:
            _release(self._word)
        return True

    @property
    def done(self) -> bool:
        return self._state == 1

    @property
    def cancelled(self) -> bool:
        return self._state == 2

    def __del__(self) -> None:
        p = getattr(self, "_p", NULL)
        if p != NULL:
            self._p = NULL
            try:
                lib.csp_pending_release(p)
            except Exception:  # interpreter shutdown
                pass

    def __repr__(self) -> str:
        state = ("waiting", "done", "cancelled")[self._state]
        return f"<csp.AsyncOp {'put' if self._put else 'take'} {state}>"


def _target() -> Any:
    """Where a later callback runs: None (csp's callback thread, also
    when issued there), the running asyncio loop, or the trio run's token."""
    if get_ident() == SCHED.ident:
        return None
    loop = asyncio._get_running_loop()
    if loop is not None:
        return loop
    trio = _trio.current_trio()
    if trio is not None:
        return trio.lowlevel.current_trio_token()
    return None
