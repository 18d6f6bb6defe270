"""core.async's combinators, as Python go processes.

They follow clojure.core.async (names, defaults, and what happens on
close), written over the awaitable operations, so user functions (topic
functions, predicates, pipeline transforms) run on the go scheduler
thread, never on a csp worker. An exception raised by a user function
goes to the exception handler (csp.set_exception_handler) and ends that
combinator's process, closing the channels it feeds.

Where core.async issues several puts or takes at once with callbacks
(mult's fan-out, map's gather) the process issues them with the
scheduler's put_cb/take_cb and parks on a countdown.
"""

from __future__ import annotations

import threading
from typing import (Any, Callable, Dict, Hashable, Iterable, List, Optional,
                    Sequence, Tuple, TypeVar, Union)

from . import _lowlevel as ll
from . import _values
from . import xf as _xf
from ._chan import Buffer, Chan, aalts, chan, sliding
from ._sched import PARK, POOL, SCHED, report

T = TypeVar("T")
BufArg = Union[None, int, Buffer]

__all__ = ["go", "Process", "transduce", "thread", "pipe", "onto_chan", "to_chan", "into", "reduce",
           "merge", "split", "mult", "Mult", "pub", "Pub", "mix", "Mix",
           "pipeline", "pipeline_async", "pipeline_blocking", "map", "take"]


# -- go and thread --------------------------------------------------------------

_CO_COROUTINE = 0x80


def _is_coro(x: Any) -> bool:
    return hasattr(x, "send") and hasattr(x, "throw") and hasattr(x, "__await__")


async def _call(fn: Callable[..., Any], args: tuple) -> Any:
    r = fn(*args)
    if _is_coro(r):
        r = await r
    return r


def go(f: Any, *args: Any) -> Chan[Any]:
    """Run a go process: F is a coroutine (``go(worker(1))``) or a function
    called with ARGS on the scheduler thread (``go(worker, 1)``; an async
    function's coroutine is then run). Returns a channel that gets the
    process's return value (unless None) and then closes."""
    if _is_coro(f):
        if args:
            raise TypeError("go(coroutine) takes no arguments")
        coro = f
    elif callable(f):
        code = getattr(f, "__code__", None)
        if code is not None and code.co_flags & _CO_COROUTINE:
            coro = f(*args)
        else:
            coro = _call(f, args)
    else:
        raise TypeError(f"go takes a coroutine or a callable, not {type(f).__name__}")
    result = Process(1)
    SCHED.spawn(coro, result)
    return result


class Process(Chan[Any]):
    """What csp.go returns: the process's result channel (take, alts and
    iteration work on it as before) that can also cancel the process."""

    __slots__ = ("_proc",)

    def cancel(self) -> bool:
        """Cancel the process (from any thread): it gets csp.Cancelled at
        its current park (its pending op withdrawn: a value it was putting
        is not delivered) or, if it is running or its op has already
        completed, at its next one; its finally blocks run and this
        channel closes with no value. False if the process had already
        ended (nothing happens), else True. An op that completes before
        the cancel reaches it keeps its result: the process sees it, and
        Cancelled at its next park."""
        proc = self._proc
        if proc is None or proc.done:
            return False
        SCHED.cancel(proc)
        return True

    def _finish(self, value: Any) -> None:
        self._proc = None
        Chan._finish(self, value)


def thread(fn: Callable[..., Any], *args: Any) -> Chan[Any]:
    """Run FN(*ARGS) on a thread of a cached pool (it may block). Returns a
    channel that gets its return value (unless None) and then closes."""
    if not callable(fn):
        raise TypeError(f"thread takes a callable, not {type(fn).__name__}")
    result: Chan[Any] = Chan(1)
    POOL.submit(fn, args, result)
    return result


# -- helpers ----------------------------------------------------------------------

def _chan_arg(c: Any, what: str) -> Chan[Any]:
    if not isinstance(c, Chan):
        raise TypeError(f"{what} must be a csp.Chan, not {type(c).__name__}")
    return c


def _fn_arg(f: Any, what: str) -> None:
    if not callable(f):
        raise TypeError(f"{what} must be callable, not {type(f).__name__}")


def _n_arg(n: Any, what: str) -> int:
    if type(n) is not int:
        raise TypeError(f"{what} must be an int, not {type(n).__name__}")
    if n < 1:
        raise ValueError(f"{what} must be at least 1")
    return n


class _Countdown:
    """Parks one go process until dec() has been called N times."""

    __slots__ = ("n", "proc")

    def __init__(self, n: int) -> None:
        self.n = n
        self.proc: Any = None

    def dec(self) -> None:
        self.n -= 1
        if self.n == 0 and self.proc is not None:
            p, self.proc = self.proc, None
            SCHED.resume(p, None)

    async def wait(self) -> None:
        if self.n > 0:
            self.proc = SCHED.current
            await PARK


# -- pipe, onto_chan, to_chan, into, reduce -------------------------------------

def pipe(src: Chan[T], dst: Chan[T], close: bool = True) -> Chan[T]:
    """Move values from SRC to DST; when SRC closes, close DST (if CLOSE).
    Stops when DST is closed. Returns DST."""
    _chan_arg(src, "src")
    _chan_arg(dst, "dst")

    async def run() -> None:
        while True:
            v = await src.atake()
            if v is None:
                if close:
                    dst.close()
                return
            if not await dst.aput(v):
                return
    go(run())
    return dst


def onto_chan(ch: Chan[T], items: Iterable[T], close: bool = True) -> Chan[Any]:
    """Put the items of ITEMS on CH (iterated in a go process), then close
    it if CLOSE. Returns a channel that closes when done."""
    _chan_arg(ch, "ch")
    it = iter(items)

    async def run() -> None:
        for v in it:
            if not await ch.aput(v):
                break
        if close:
            ch.close()
    return go(run())


def to_chan(items: Iterable[T]) -> Chan[T]:
    """A channel holding the items of ITEMS, closed after the last."""
    try:
        n = min(len(items), 100)  # type: ignore[arg-type]
    except TypeError:
        n = 100
    ch: Chan[T] = Chan(n if n > 0 else None)
    if n == 0 and hasattr(items, "__len__"):
        ch.close()
        return ch
    onto_chan(ch, items)
    return ch


def reduce(f: Callable[[Any, T], Any], init: Any, ch: Chan[T]) -> Chan[Any]:
    """A channel that gets f(...f(f(init, v1), v2)..., vn) once CH closes
    (stops early on csp.xf.reduced)."""
    _fn_arg(f, "reduce's f")
    _chan_arg(ch, "ch")

    async def run() -> Any:
        acc = init
        while True:
            v = await ch.atake()
            if v is None:
                return acc
            acc = f(acc, v)
            if type(acc) is _xf.Reduced:
                return acc.value
    return go(run())


def transduce(xform: _xf.Xform, f: Callable[[Any, T], Any], init: Any,
              ch: Chan[T]) -> Chan[Any]:
    """core.async's transduce: a channel that gets the reduction of CH's
    values through XFORM with f(acc, x) from INIT (then XFORM's
    completion) once CH closes, or once the reduction is reduced."""
    if not isinstance(xform, _xf.Xform):
        raise TypeError(f"xform must be a csp.xf transducer, not {type(xform).__name__}")
    _fn_arg(f, "transduce's f")
    _chan_arg(ch, "ch")
    rf = xform(_xf._Fn(f))

    async def run() -> Any:
        acc = init
        while True:
            v = await ch.atake()
            if v is None:
                break
            acc = rf.step(acc, v)
            if type(acc) is _xf.Reduced:
                acc = acc.value
                break
        return rf.complete(acc)
    return go(run())


def into(ch: Chan[T]) -> Chan[List[T]]:
    """A channel that gets the list of CH's values once it closes."""
    def conj(acc: List[T], x: T) -> List[T]:
        acc.append(x)
        return acc
    _chan_arg(ch, "ch")
    return reduce(conj, [], ch)


# -- merge, split ---------------------------------------------------------------

def merge(chans: Sequence[Chan[T]], n: BufArg = None) -> Chan[T]:
    """A channel with the values of every channel in CHANS; it closes when
    they all have."""
    cs = [_chan_arg(c, "merge's channels") for c in chans]
    out: Chan[T] = chan(n)

    async def run() -> None:
        try:
            while cs:
                v, c = await aalts(cs)
                if v is None:
                    cs.remove(c)
                else:
                    await out.aput(v)
        finally:
            out.close()
    go(run())
    return out


def split(pred: Callable[[T], Any], ch: Chan[T], t_buf: BufArg = None,
          f_buf: BufArg = None) -> Tuple[Chan[T], Chan[T]]:
    """Two channels: values for which PRED is true, and the others. Both
    close when CH does."""
    _fn_arg(pred, "split's pred")
    _chan_arg(ch, "ch")
    tc: Chan[T] = chan(t_buf)
    fc: Chan[T] = chan(f_buf)

    async def run() -> None:
        try:
            while True:
                v = await ch.atake()
                if v is None:
                    return
                if not await (tc if pred(v) else fc).aput(v):
                    return
        finally:
            tc.close()
            fc.close()
    go(run())
    return tc, fc


# -- mult, pub ------------------------------------------------------------------

class Mult:
    """Copies each value of a source channel to every tap (csp.mult).
    A value taken while there are no taps is dropped; a tap found closed is
    untapped. The next value is taken only once every tap accepted this
    one.

    Unlike core.async, a tap with close added after the source closed and
    the process ended is closed at once. The process marks the mult ended
    and takes its close-taps under _lock, and tap() links a channel or sees
    the mark under _lock (tap may run on any thread), so a tap racing the
    end is closed by exactly one of them."""

    def __init__(self, ch: Chan[Any]) -> None:
        self._src = _chan_arg(ch, "mult's channel")
        self._taps: Dict[Chan[Any], bool] = {}
        self._lock = threading.Lock()
        self._ended = False  # _lock; the process has ended
        go(self._run())

    def tap(self, ch: Chan[T], close: bool = True) -> Chan[T]:
        """Copy values to CH; close it when the source closes (if CLOSE).
        If the source has closed and the mult has ended, CH is closed now
        (if CLOSE) and is not a tap."""
        _chan_arg(ch, "tap")
        close = bool(close)
        with self._lock:
            late = self._ended and close
            if late:
                self._taps.pop(ch, None)
            else:
                self._taps[ch] = close
        if late:
            ch.close()
        return ch

    def untap(self, ch: Chan[Any]) -> None:
        with self._lock:
            self._taps.pop(ch, None)

    def untap_all(self) -> None:
        with self._lock:
            self._taps.clear()

    async def _run(self) -> None:
        while True:
            v = await self._src.atake()
            if v is None:
                with self._lock:
                    self._ended = True
                    closing = [c for c, close in self._taps.items() if close]
                    for c in closing:
                        del self._taps[c]
                for c in closing:
                    c.close()
                return
            taps = list(self._taps)
            if not taps:
                continue
            cd = _Countdown(len(taps))
            for c in taps:
                w = _values.encode(v)
                SCHED.put_cb(c._ch, w, self._done(c, w, cd))
            await cd.wait()

    def _done(self, c: Chan[Any], w: int, cd: _Countdown) -> Callable[[int, int, int], None]:
        def done(rc: int, idx: int, word: int) -> None:
            if rc != ll.OK:
                _values.release(w)
                if rc == ll.ECLOSED:
                    self.untap(c)
                else:
                    report(ll.errors.from_rc(rc), "mult")
            cd.dec()
        return done


def mult(ch: Chan[Any]) -> Mult:
    """A mult of CH: tap channels to receive a copy of each value."""
    return Mult(ch)


class Pub:
    """Routes each value of a source channel to the subscribers of its
    topic, topic_fn(value) (csp.pub). Values of a topic nobody subscribes
    to are dropped.

    Once the process has ended (the source closed, or topic_fn raised),
    sub() subscribes nothing and closes CH at once (if close): _ended is
    set under _lock where the process takes the topics to close, and sub()
    taps or sees it under _lock."""

    def __init__(self, ch: Chan[Any], topic_fn: Callable[[Any], Hashable],
                 buf_fn: Optional[Callable[[Hashable], BufArg]] = None) -> None:
        self._src = _chan_arg(ch, "pub's channel")
        _fn_arg(topic_fn, "topic_fn")
        if buf_fn is not None:
            _fn_arg(buf_fn, "buf_fn")
        self._topic_fn = topic_fn
        self._buf_fn = buf_fn
        self._mults: Dict[Hashable, Mult] = {}
        self._lock = threading.Lock()
        self._ended = False  # _lock; the process has ended
        go(self._run())

    def _mult(self, topic: Hashable) -> Mult:
        m = self._mults.get(topic)
        if m is None:
            buf = self._buf_fn(topic) if self._buf_fn is not None else None
            m = self._mults.setdefault(topic, Mult(chan(buf)))
        return m

    def sub(self, topic: Hashable, ch: Chan[T], close: bool = True) -> Chan[T]:
        """Send the values of TOPIC to CH; close it when the source closes
        (if CLOSE). After the pub ended, CH is closed now (if CLOSE) and
        nothing is subscribed."""
        _chan_arg(ch, "sub")
        with self._lock:
            if not self._ended:
                return self._mult(topic).tap(ch, close)
        if close:
            ch.close()
        return ch

    def unsub(self, topic: Hashable, ch: Chan[Any]) -> None:
        m = self._mults.get(topic)
        if m is not None:
            m.untap(ch)

    def unsub_all(self, topic: Any = None) -> None:
        """Remove every subscription, or those of TOPIC."""
        if topic is None:
            self._mults.clear()
        else:
            self._mults.pop(topic, None)

    async def _run(self) -> None:
        try:
            while True:
                v = await self._src.atake()
                if v is None:
                    return
                topic = self._topic_fn(v)
                m = self._mults.get(topic)
                if m is not None and not await m._src.aput(v):
                    self._mults.pop(topic, None)
        finally:
            with self._lock:
                self._ended = True
                mults = list(self._mults.values())
            for m in mults:
                m._src.close()


def pub(ch: Chan[Any], topic_fn: Callable[[Any], Hashable],
        buf_fn: Optional[Callable[[Hashable], BufArg]] = None) -> Pub:
    """A pub of CH by TOPIC_FN; BUF_FN(topic) gives each topic's buffer."""
    return Pub(ch, topic_fn, buf_fn)


# -- mix ----------------------------------------------------------------------------

_ATTRS = ("mute", "pause", "solo")


class Mix:
    """Merges admixed channels into OUT (csp.mix). Per channel: mute (take,
    discard), pause (do not take), solo (only solo channels are heard;
    the others are muted or paused according to solo_mode).

    Once OUT is closed the mix is over (unlike core.async, which accepts
    inputs it will never read): admix and toggle return False and change
    nothing, and the process ends at the next change instead of reading a
    value only to drop it. Inputs are never closed by the mix."""

    def __init__(self, out: Chan[Any]) -> None:
        self._out = _chan_arg(out, "mix's out")
        self._cs: Dict[Chan[Any], Dict[str, bool]] = {}
        self._mode = "mute"
        self._change: Chan[Any] = chan(sliding(1))
        self._ended = False  # goes False -> True once, on any thread
        self._done = go(self._run())  # closes when the process ends

    def _changed(self) -> None:
        self._change.offer(True)

    def _over(self) -> bool:
        """Whether OUT is closed or the mix ended (then make sure it
        ends)."""
        if self._ended or self._out.closed:
            self._ended = True
            self._changed()
            return True
        return False

    def admix(self, ch: Chan[Any]) -> bool:
        """Add CH as an input. True, or False (nothing added) once the
        mix's output is closed."""
        _chan_arg(ch, "admix")
        if self._over():
            return False
        self._cs[ch] = {}
        self._changed()
        return True

    def unmix(self, ch: Chan[Any]) -> None:
        self._cs.pop(ch, None)
        self._changed()

    def unmix_all(self) -> None:
        self._cs.clear()
        self._changed()

    def toggle(self, state: Dict[Chan[Any], Dict[str, bool]]) -> bool:
        """Merge STATE ({chan: {"mute": bool, "pause": bool, "solo": bool}})
        into the channels' attributes (admixing channels not yet in).
        True, or False (nothing changed) once the mix's output is
        closed."""
        if not isinstance(state, dict):
            raise TypeError("toggle takes a dict {chan: {attr: bool}}")
        for ch, attrs in state.items():
            _chan_arg(ch, "toggle's key")
            if not isinstance(attrs, dict):
                raise TypeError("toggle's values are dicts {attr: bool}")
            for k, v in attrs.items():
                if k not in _ATTRS:
                    raise ValueError(f"mix attributes are {_ATTRS}, not {k!r}")
                if not isinstance(v, bool):
                    raise TypeError(f"mix attribute {k!r} must be a bool")
        if self._over():
            return False
        for ch, attrs in state.items():
            self._cs[ch] = {**self._cs.get(ch, {}), **attrs}
        self._changed()
        return True

    def solo_mode(self, mode: str) -> None:
        """What happens to non-solo channels while some are solo: "mute"
        (the default) or "pause"."""
        if mode not in ("mute", "pause"):
            raise ValueError(f'solo_mode is "mute" or "pause", not {mode!r}')
        self._mode = mode
        self._changed()

    def _state(self) -> Tuple[set, set, List[Chan[Any]]]:
        chs = dict(self._cs)
        solos = {c for c, a in chs.items() if a.get("solo")}
        mutes = {c for c, a in chs.items() if a.get("mute")}
        if self._mode == "pause" and solos:
            reads = list(solos)
        else:
            reads = [c for c, a in chs.items() if not a.get("pause")]
        reads.append(self._change)
        return solos, mutes, reads

    async def _run(self) -> None:
        solos, mutes, reads = self._state()
        while True:
            v, c = await aalts(reads)
            if v is None or c is self._change:
                if v is None:
                    self._cs.pop(c, None)
                if self._ended or self._out.closed:
                    self._ended = True
                    return
                solos, mutes, reads = self._state()
                continue
            if c in solos or (not solos and c not in mutes):
                if not await self._out.aput(v):
                    self._ended = True
                    return


def mix(out: Chan[Any]) -> Mix:
    """A mix feeding OUT."""
    return Mix(out)


# -- pipelines ------------------------------------------------------------------

def _pipeline(n: int, to: Chan[Any], work: Callable[..., Any], frm: Chan[Any],
              close: bool, kind: str, ex_handler: Any = None) -> None:
    _n_arg(n, "pipeline's n")
    _chan_arg(to, "to")
    _chan_arg(frm, "from")
    jobs: Chan[Any] = chan(n)
    results: Chan[Any] = chan(n)

    async def compute() -> None:
        while True:
            job = await jobs.atake()
            if job is None:
                results.close()
                return
            v, p = job
            res = chan(1, work, ex_handler)
            await res.aput(v)
            res.close()
            await p.aput(res)

    def blocking() -> None:
        while True:
            job = jobs.take()
            if job is None:
                results.close()
                return
            v, p = job
            res = chan(1, work, ex_handler)
            res.put(v)
            res.close()
            p.put(res)

    async def async_() -> None:
        while True:
            job = await jobs.atake()
            if job is None:
                results.close()
                return
            v, p = job
            res: Chan[Any] = chan(1)
            work(v, res)
            await p.aput(res)

    for _ in range(n):
        if kind == "blocking":
            thread(blocking)
        else:
            go(compute() if kind == "compute" else async_())

    async def feed() -> None:
        while True:
            v = await frm.atake()
            if v is None:
                jobs.close()
                return
            p: Chan[Any] = chan(1)
            await jobs.aput((v, p))
            await results.aput(p)

    async def collect() -> None:
        while True:
            p = await results.atake()
            if p is None:
                if close:
                    to.close()
                return
            res = await p.atake()
            while True:
                v = await res.atake()
                if v is None or not await to.aput(v):
                    break

    go(feed())
    go(collect())


def pipeline(n: int, to: Chan[Any], xf: _xf.Xform, frm: Chan[Any],
             close: bool = True, ex_handler: Optional[Callable[[BaseException], Any]] = None) -> None:
    """Take from FRM, transform each value with XF (N at a time, in go
    processes), put the results on TO in order; close TO when FRM closes
    (if CLOSE). EX_HANDLER handles exceptions in XF as for csp.chan."""
    if not isinstance(xf, _xf.Xform):
        raise TypeError("pipeline's xf must be a csp.xf transducer")
    _pipeline(n, to, xf, frm, close, "compute", ex_handler)


def pipeline_blocking(n: int, to: Chan[Any], xf: _xf.Xform, frm: Chan[Any],
                      close: bool = True,
                      ex_handler: Optional[Callable[[BaseException], Any]] = None) -> None:
    """As pipeline, with XF run on N threads (for blocking work)."""
    if not isinstance(xf, _xf.Xform):
        raise TypeError("pipeline_blocking's xf must be a csp.xf transducer")
    _pipeline(n, to, xf, frm, close, "blocking", ex_handler)


def pipeline_async(n: int, to: Chan[Any], af: Callable[[Any, Chan[Any]], Any],
                   frm: Chan[Any], close: bool = True) -> None:
    """As pipeline, where AF(value, result_chan) starts asynchronous work
    that puts the results on result_chan and then closes it."""
    _fn_arg(af, "pipeline_async's af")
    _pipeline(n, to, af, frm, close, "async")


# -- map, take --------------------------------------------------------------------

def map(f: Callable[..., T], chans: Sequence[Chan[Any]], buf: BufArg = None) -> Chan[T]:  # noqa: A001
    """A channel of f(v1, v2, ...) with one value taken from each of CHANS
    (all at once); it closes when any of them closes."""
    _fn_arg(f, "map's f")
    chs = [_chan_arg(c, "map's channels") for c in chans]
    out: Chan[T] = chan(buf)
    cnt = len(chs)
    if cnt == 0:
        out.close()
        return out

    async def run() -> None:
        try:
            while True:
                rets: List[Any] = [None] * cnt
                cd = _Countdown(cnt)
                for i, c in enumerate(chs):
                    SCHED.take_cb(c._ch, _gather(rets, i, c, cd))
                await cd.wait()
                if any(r is None for r in rets):
                    return
                await out.aput(f(*rets))
        finally:
            out.close()
    go(run())
    return out


def _gather(rets: List[Any], i: int, c: Chan[Any], cd: _Countdown) -> Callable[[int, int, int], None]:
    def done(rc: int, idx: int, w: int) -> None:
        try:
            rets[i] = c._took(rc, w)
        except Exception as e:
            report(e, "map")
        cd.dec()
    return done


def take(n: int, ch: Chan[T], buf: BufArg = None) -> Chan[T]:
    """A channel with at most the first N values of CH, closed after them
    (or when CH closes)."""
    if type(n) is not int:
        raise TypeError(f"take's n must be an int, not {type(n).__name__}")
    if n < 0:
        raise ValueError("take's n must be >= 0")
    _chan_arg(ch, "ch")
    out: Chan[T] = chan(buf)

    async def run() -> None:
        try:
            for _ in range(n):
                v = await ch.atake()
                if v is None:
                    return
                await out.aput(v)
        finally:
            out.close()
    go(run())
    return out
