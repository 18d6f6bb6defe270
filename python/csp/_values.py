"""Python objects as csp values (words).

A csp value is a non-NULL ``void *``; the binding passes it as an integer
word (``intptr_t``). Its low two bits say what it is, as csp.h's portable
values (docs/embedding.md), which every language in the process reads:

    ...01   an int in [-2**61, 2**61): the int itself, shifted left by 2
    ...10   a byte string (csp_bytes, tagged): Python bytes
    ...11   False (3), True (7), or a domain value: a Python object pinned
            under key K, (K << SHIFT) | (DOMAIN << 2) | 3, where DOMAIN is
            Python's (csp_value_domain_new at import); another domain's
            word (a Lua value) arrives as a ``Foreign``
    ...00   a C host's own pointer: never given to Python (docs)

Anything but None can be sent; ``bytes`` travels as a csp_bytes copy, so
Lua reads it as a string. A pinned object stays referenced from
``_slots`` while C holds its word, so it cannot be freed under C; it is
unpinned exactly once: by the taker (``decode``), by whoever gets a put
back (``release``: closed channel, cancelled op, alts put that did not
commit), or by ``drain_drops`` after the domain's drop function queued it
(a channel discarding it calls csp_value_drop, which hands Python's words
to pycsp_drop; that runs on any thread and only queues, see _glue.c).
Promise channels lend the same word to every taker: ``peek`` reads it
without unpinning; the channel drops it when freed.

Keys come from ``itertools.count`` and dict operations are atomic under
the GIL, so every thread may pin and unpin without a lock.
"""

from __future__ import annotations

import itertools
from typing import Any

from . import _lowlevel as ll
from ._csp import ffi, lib

INT_MIN = -(1 << 61)
INT_MAX = (1 << 61) - 1
W_FALSE = 3
W_TRUE = 7

SHIFT = lib.CSP_VAL_DOMAIN_MAX.bit_length() + 2
DMASK = (lib.CSP_VAL_DOMAIN_MAX << 2) | 3


def _domain() -> int:
    out = ffi.new("int *")
    ll.check(lib.csp_value_domain_new(out, ffi.addressof(lib, "pycsp_drop"),
                                      ffi.NULL))
    return out[0]


DOMAIN = _domain()
TAG = (DOMAIN << 2) | 3   # the low SHIFT bits of every pinned word

_slots: dict[int, Any] = {}
_keys = itertools.count(1)


class Foreign:
    """A value Python cannot read: a value of another language (a Lua
    table, a Lua state's value) that reached Python on a shared channel.
    It can be put back on a channel (once: the value moves with it) or
    dropped, which hands it back to its owner (csp_value_drop)."""

    __slots__ = ("_w", "_owned")

    def __init__(self, w: int, owned: bool = True) -> None:
        self._w = w
        self._owned = owned

    @property
    def domain(self) -> int:
        """The csp value domain of the language that owns the value."""
        return (self._w >> 2) & lib.CSP_VAL_DOMAIN_MAX

    def _give(self) -> int:
        w = self._w
        if not w:
            raise ValueError("csp.Foreign: this value was already passed on")
        if not self._owned:
            raise ValueError("csp.Foreign: a value borrowed from a promise "
                             "channel cannot be passed on")
        self._w = 0
        return w

    def __repr__(self) -> str:
        gone = " (passed on)" if not self._w else ""
        return f"<csp.Foreign value of domain {self.domain}{gone}>"

    def __del__(self) -> None:
        w, self._w = self._w, 0
        if w and self._owned:
            try:
                lib.csp_value_drop(ffi.NULL, ffi.cast("void *", w))
            except Exception:  # interpreter shutdown
                pass


def pin(obj: Any) -> int:
    """Pin OBJ and return its word."""
    k = next(_keys)
    _slots[k] = obj
    return (k << SHIFT) | TAG


def _bytes_word(v: bytes) -> int:
    out = ffi.new("csp_bytes **")
    ll.check(lib.csp_bytes_new(out, ll.RT, ffi.from_buffer(v), len(v)))
    return int(ffi.cast("intptr_t", out[0])) | 2


def _read_bytes(w: int) -> bytes:
    b = ffi.cast("csp_bytes *", w & ~3)
    return ffi.buffer(b.data, b.len)[:]


def encode(v: Any) -> int:
    """The word for V (pinning it if needed); TypeError for None."""
    if type(v) is int and INT_MIN <= v <= INT_MAX:
        return (v << 2) | 1
    if v is None:
        raise TypeError("None cannot be put on a channel (it means closed)")
    if v is True:
        return W_TRUE
    if v is False:
        return W_FALSE
    if type(v) is bytes:
        return _bytes_word(v)
    if type(v) is Foreign:
        return v._give()
    k = next(_keys)
    _slots[k] = v
    return (k << SHIFT) | TAG


def decode(w: int) -> Any:
    """The object of word W, which now belongs to the caller (unpinned)."""
    t = w & 3
    if t == 1:
        return w >> 2
    if t == 3:
        if w & DMASK == TAG:
            return _slots.pop(w >> SHIFT)
        if w == W_TRUE:
            return True
        if w == W_FALSE:
            return False
        return Foreign(w)
    if t == 2:
        v = _read_bytes(w)
        lib.csp_bytes_release(ffi.cast("csp_bytes *", w & ~3))
        return v
    return Foreign(w, False)


def peek(w: int) -> Any:
    """The object of word W, which stays pinned (promise channels)."""
    t = w & 3
    if t == 1:
        return w >> 2
    if t == 3:
        if w & DMASK == TAG:
            return _slots[w >> SHIFT]
        if w == W_TRUE:
            return True
        if w == W_FALSE:
            return False
    elif t == 2:
        return _read_bytes(w)
    return Foreign(w, False)


def release(w: int) -> None:
    """Unpin word W (a value C handed back or discarded)."""
    t = w & 3
    if t == 3:
        if w & DMASK == TAG:
            _slots.pop(w >> SHIFT, None)
        elif w != W_TRUE and w != W_FALSE:
            lib.csp_value_drop(ffi.NULL, ffi.cast("void *", w))
    elif t == 2:
        lib.csp_bytes_release(ffi.cast("csp_bytes *", w & ~3))


def pinned_count() -> int:
    """How many objects are pinned now (for tests and leak checks)."""
    return len(_slots)


def drain_drops() -> int:
    """Release every word the drop hook queued; return how many."""
    buf = ffi.new("intptr_t[]", 256)
    total = 0
    while True:
        n = lib.pycsp_drops_take(buf, 256)
        if n <= 0:
            return total
        for w in ffi.unpack(buf, n):
            if w & DMASK == TAG:
                _slots.pop(w >> SHIFT, None)
        total += n
