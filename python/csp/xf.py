"""Transducers with Python callables, as Clojure's: ``csp.xf.map(f)`` etc.

A transducer (an ``Xform``) turns a reducing function into another one. A
reducing function here is an object with two methods:

    step(acc, x)   -> the new acc, or ``Reduced(acc)`` to stop early
    complete(acc)  -> the final acc (flush held state into it first)

A channel with a transform (``csp.chan(n, xform)``) builds a fresh
reducing function per channel, so stateful transducers (take, dedupe,
partition_all, ...) keep their state per channel. Values pass through
``comp(a, b, c)`` as through ``a``, then ``b``, then ``c`` (Clojure's
comp of transducers).

Steps run while the channel's lock is held, on the thread that puts (or
takes, when a take lets a pending put in). They must not use channels;
an exception they raise goes to the channel's ``ex_handler`` (whose
return value, if not None, is added to the channel) as in core.async.
"""

from __future__ import annotations

from typing import Any, Callable, Hashable, Iterable, Protocol

__all__ = [
    "Xform", "Reduced", "reduced", "is_reduced", "unreduced", "ensure_reduced",
    "comp", "map", "filter", "remove", "cat", "mapcat", "keep", "take",
    "take_while", "drop", "drop_while", "partition_all", "partition_by",
    "dedupe", "distinct", "identity", "transduce", "into",
]


class ReducingFn(Protocol):
    def step(self, acc: Any, x: Any) -> Any: ...
    def complete(self, acc: Any) -> Any: ...


class Reduced:
    """A value wrapped to stop a reduction early (Clojure's ``reduced``)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"Reduced({self.value!r})"


def reduced(x: Any) -> Reduced:
    return Reduced(x)


def is_reduced(x: Any) -> bool:
    return type(x) is Reduced


def unreduced(x: Any) -> Any:
    return x.value if type(x) is Reduced else x


def ensure_reduced(x: Any) -> Reduced:
    return x if type(x) is Reduced else Reduced(x)


class Xform:
    """A transducer: ``xf(rf)`` returns a new reducing function."""

    __slots__ = ("_make", "_name")

    def __init__(self, make: Callable[[ReducingFn], ReducingFn], name: str = "xform") -> None:
        if not callable(make):
            raise TypeError("Xform needs a callable rf -> rf")
        self._make = make
        self._name = name

    def __call__(self, rf: ReducingFn) -> ReducingFn:
        return self._make(rf)

    def __repr__(self) -> str:
        return f"<csp.xf {self._name}>"


def _callable(f: Any, what: str) -> None:
    if not callable(f):
        raise TypeError(f"{what} must be callable, not {type(f).__name__}")


def _count(n: Any, what: str) -> int:
    if type(n) is not int:
        raise TypeError(f"{what} must be an int, not {type(n).__name__}")
    return n


def comp(*xfs: Xform) -> Xform:
    """Compose transducers: values go through xfs[0] first."""
    for x in xfs:
        if not isinstance(x, Xform):
            raise TypeError(f"comp takes csp.xf transducers, not {type(x).__name__}")
    if not xfs:
        return identity()

    def make(rf: ReducingFn) -> ReducingFn:
        for x in reversed(xfs):
            rf = x(rf)
        return rf
    return Xform(make, "comp")


class _Pass:
    __slots__ = ("rf",)

    def __init__(self, rf: ReducingFn) -> None:
        self.rf = rf

    def step(self, acc: Any, x: Any) -> Any:
        return self.rf.step(acc, x)

    def complete(self, acc: Any) -> Any:
        return self.rf.complete(acc)


def identity() -> Xform:
    """The transducer that changes nothing."""
    return Xform(_Pass, "identity")


class _Map(_Pass):
    __slots__ = ("f",)

    def step(self, acc: Any, x: Any) -> Any:
        return self.rf.step(acc, self.f(x))


def map(f: Callable[[Any], Any]) -> Xform:  # noqa: A001 (Clojure's name)
    """Each value becomes f(value)."""
    _callable(f, "map's f")

    def make(rf: ReducingFn) -> ReducingFn:
        r = _Map(rf)
        r.f = f
        return r
    return Xform(make, "map")


class _Filter(_Pass):
    __slots__ = ("pred", "keep_if")

    def step(self, acc: Any, x: Any) -> Any:
        if bool(self.pred(x)) is self.keep_if:
            return self.rf.step(acc, x)
        return acc


def filter(pred: Callable[[Any], Any]) -> Xform:  # noqa: A001
    """Only values for which pred(value) is true."""
    _callable(pred, "filter's pred")

    def make(rf: ReducingFn) -> ReducingFn:
        r = _Filter(rf)
        r.pred, r.keep_if = pred, True
        return r
    return Xform(make, "filter")


def remove(pred: Callable[[Any], Any]) -> Xform:
    """Only values for which pred(value) is false."""
    _callable(pred, "remove's pred")

    def make(rf: ReducingFn) -> ReducingFn:
        r = _Filter(rf)
        r.pred, r.keep_if = pred, False
        return r
    return Xform(make, "remove")


class _Cat(_Pass):
    __slots__ = ()

    def step(self, acc: Any, x: Iterable[Any]) -> Any:
        step = self.rf.step
        for y in x:
            acc = step(acc, y)
            if type(acc) is Reduced:
                return acc
        return acc


def cat() -> Xform:
    """Each value (an iterable) becomes its items."""
    return Xform(_Cat, "cat")


def mapcat(f: Callable[[Any], Iterable[Any]]) -> Xform:
    """Each value becomes the items of f(value)."""
    _callable(f, "mapcat's f")
    return comp(map(f), cat())


class _Keep(_Pass):
    __slots__ = ("f",)

    def step(self, acc: Any, x: Any) -> Any:
        v = self.f(x)
        if v is None:
            return acc
        return self.rf.step(acc, v)


def keep(f: Callable[[Any], Any]) -> Xform:
    """f(value), where that is not None."""
    _callable(f, "keep's f")

    def make(rf: ReducingFn) -> ReducingFn:
        r = _Keep(rf)
        r.f = f
        return r
    return Xform(make, "keep")


class _Take(_Pass):
    __slots__ = ("n",)

    def step(self, acc: Any, x: Any) -> Any:
        n = self.n
        self.n = n - 1
        if n > 0:
            acc = self.rf.step(acc, x)
        if n - 1 <= 0:
            return ensure_reduced(acc)
        return acc


def take(n: int) -> Xform:
    """The first n values, then stop (the channel closes)."""
    _count(n, "take's n")

    def make(rf: ReducingFn) -> ReducingFn:
        r = _Take(rf)
        r.n = n
        return r
    return Xform(make, "take")


class _TakeWhile(_Pass):
    __slots__ = ("pred",)

    def step(self, acc: Any, x: Any) -> Any:
        if self.pred(x):
            return self.rf.step(acc, x)
        return Reduced(acc)


def take_while(pred: Callable[[Any], Any]) -> Xform:
    """Values while pred(value) is true, then stop."""
    _callable(pred, "take_while's pred")

    def make(rf: ReducingFn) -> ReducingFn:
        r = _TakeWhile(rf)
        r.pred = pred
        return r
    return Xform(make, "take_while")


class _Drop(_Pass):
    __slots__ = ("n",)

    def step(self, acc: Any, x: Any) -> Any:
        if self.n > 0:
            self.n -= 1
            return acc
        return self.rf.step(acc, x)


def drop(n: int) -> Xform:
    """All but the first n values."""
    _count(n, "drop's n")

    def make(rf: ReducingFn) -> ReducingFn:
        r = _Drop(rf)
        r.n = n
        return r
    return Xform(make, "drop")


class _DropWhile(_Pass):
    __slots__ = ("pred", "dropping")

    def step(self, acc: Any, x: Any) -> Any:
        if self.dropping and self.pred(x):
            return acc
        self.dropping = False
        return self.rf.step(acc, x)


def drop_while(pred: Callable[[Any], Any]) -> Xform:
    """Values from the first for which pred(value) is false."""
    _callable(pred, "drop_while's pred")

    def make(rf: ReducingFn) -> ReducingFn:
        r = _DropWhile(rf)
        r.pred, r.dropping = pred, True
        return r
    return Xform(make, "drop_while")


class _PartitionAll(_Pass):
    __slots__ = ("n", "buf")

    def step(self, acc: Any, x: Any) -> Any:
        buf = self.buf
        buf.append(x)
        if len(buf) == self.n:
            self.buf = []
            return self.rf.step(acc, buf)
        return acc

    def complete(self, acc: Any) -> Any:
        if self.buf:
            buf, self.buf = self.buf, []
            acc = unreduced(self.rf.step(acc, buf))
        return self.rf.complete(acc)


def partition_all(n: int) -> Xform:
    """Lists of n values (the last may be shorter, flushed at close)."""
    _count(n, "partition_all's n")
    if n < 1:
        raise ValueError("partition_all's n must be at least 1")

    def make(rf: ReducingFn) -> ReducingFn:
        r = _PartitionAll(rf)
        r.n, r.buf = n, []
        return r
    return Xform(make, "partition_all")


_NONE = object()


class _PartitionBy(_Pass):
    __slots__ = ("f", "buf", "prev")

    def step(self, acc: Any, x: Any) -> Any:
        prev, val = self.prev, self.f(x)
        self.prev = val
        if prev is _NONE or val == prev:
            self.buf.append(x)
            return acc
        buf, self.buf = self.buf, []
        ret = self.rf.step(acc, buf)
        if type(ret) is not Reduced:
            self.buf.append(x)
        return ret

    def complete(self, acc: Any) -> Any:
        if self.buf:
            buf, self.buf = self.buf, []
            acc = unreduced(self.rf.step(acc, buf))
        return self.rf.complete(acc)


def partition_by(f: Callable[[Any], Any]) -> Xform:
    """Lists of consecutive values with the same f(value)."""
    _callable(f, "partition_by's f")

    def make(rf: ReducingFn) -> ReducingFn:
        r = _PartitionBy(rf)
        r.f, r.buf, r.prev = f, [], _NONE
        return r
    return Xform(make, "partition_by")


class _Dedupe(_Pass):
    __slots__ = ("prev",)

    def step(self, acc: Any, x: Any) -> Any:
        if self.prev is not _NONE and x == self.prev:
            return acc
        self.prev = x
        return self.rf.step(acc, x)


def dedupe() -> Xform:
    """Drop values equal to the one just before."""
    def make(rf: ReducingFn) -> ReducingFn:
        r = _Dedupe(rf)
        r.prev = _NONE
        return r
    return Xform(make, "dedupe")


class _Distinct(_Pass):
    __slots__ = ("seen",)

    def step(self, acc: Any, x: Hashable) -> Any:
        if x in self.seen:
            return acc
        self.seen.add(x)
        return self.rf.step(acc, x)


def distinct() -> Xform:
    """Drop values seen before (they must be hashable)."""
    def make(rf: ReducingFn) -> ReducingFn:
        r = _Distinct(rf)
        r.seen = set()
        return r
    return Xform(make, "distinct")


# -- using a transducer without a channel -----------------------------------

class _Fn:
    __slots__ = ("f",)

    def __init__(self, f: Callable[[Any, Any], Any]) -> None:
        self.f = f

    def step(self, acc: Any, x: Any) -> Any:
        return self.f(acc, x)

    def complete(self, acc: Any) -> Any:
        return acc


def transduce(xform: Xform, f: Callable[[Any, Any], Any], init: Any,
              items: Iterable[Any]) -> Any:
    """Reduce ITEMS with f(acc, x) through XFORM, starting from INIT."""
    if not isinstance(xform, Xform):
        raise TypeError("transduce needs a csp.xf transducer")
    _callable(f, "transduce's f")
    rf = xform(_Fn(f))
    acc = init
    for x in items:
        acc = rf.step(acc, x)
        if type(acc) is Reduced:
            acc = acc.value
            break
    return rf.complete(acc)


def _append(acc: list, x: Any) -> list:
    acc.append(x)
    return acc


def into(xform: Xform, items: Iterable[Any]) -> list:
    """The list of ITEMS passed through XFORM."""
    return transduce(xform, _append, [], items)


