"""Python objects as csp values (words).

A csp value is a non-NULL ``void *``; the binding passes it as an integer
word (``intptr_t``) tagged in its low two bits:

    ...01   an int in [-2**61, 2**61): the int itself, shifted left by 2
    ...10   a pinned object: its key in ``_slots``, shifted left by 2
    ...11   False (3) or True (7)

Anything but None can be sent. A pinned object stays referenced from
``_slots`` while C holds its word, so it cannot be freed under C; it is
unpinned exactly once: by the taker (``decode``), by whoever gets a put
back (``release``: closed channel, cancelled op, alts put that did not
commit), or by ``drain_drops`` after the channel's drop hook queued it
(sliding/dropping evictions, promise extras, values left when a channel
is freed; the hook runs on any thread and only queues, see _glue.c).
Promise channels lend the same word to every taker: ``peek`` reads it
without unpinning; the channel drops it when freed.

Keys come from ``itertools.count`` and dict operations are atomic under
the GIL, so every thread may pin and unpin without a lock.
"""

from __future__ import annotations

import itertools
from typing import Any

from ._csp import ffi, lib

INT_MIN = -(1 << 61)
INT_MAX = (1 << 61) - 1
W_FALSE = 3
W_TRUE = 7

_slots: dict[int, Any] = {}
_keys = itertools.count(1)


def pin(obj: Any) -> int:
    """Pin OBJ and return its word."""
    k = next(_keys)
    _slots[k] = obj
    return (k << 2) | 2


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
    k = next(_keys)
    _slots[k] = v
    return (k << 2) | 2


def decode(w: int) -> Any:
    """The object of word W, which now belongs to the caller (unpinned)."""
    t = w & 3
    if t == 1:
        return w >> 2
    if t == 2:
        return _slots.pop(w >> 2)
    return w == W_TRUE


def peek(w: int) -> Any:
    """The object of word W, which stays pinned (promise channels)."""
    t = w & 3
    if t == 1:
        return w >> 2
    if t == 2:
        return _slots[w >> 2]
    return w == W_TRUE


def release(w: int) -> None:
    """Unpin word W (a value C handed back or discarded)."""
    if w & 3 == 2:
        _slots.pop(w >> 2, None)


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
            if w & 3 == 2:
                _slots.pop(w >> 2, None)
        total += n
