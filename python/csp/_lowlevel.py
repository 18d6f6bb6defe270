"""One function per C call (STYLE §9): csp.h's functions and the binding's
own glue (_glue.c), with result codes turned into csp.errors exceptions.

Functions that can fail raise ``errors.from_rc(rc)`` for the codes that
are errors to their caller and return the others (CSP_OK, CSP_PENDING,
CSP_EAGAIN, CSP_ECLOSED where they are outcomes, not failures). Values
are words (csp/_values.py). The hottest paths in _chan.py and _sched.py
call ``lib`` directly with the same checks; everything else goes through
here.

Constants are read from the compiled library (``lib.CSP_*``), never
retyped.
"""

from __future__ import annotations

from typing import Any

from . import errors
from ._csp import ffi, lib

# Before the first runtime exists: the glue's fork handlers must run
# before the core's in the child (see _glue.c).
lib.pycsp_atfork_init()

NULL = ffi.NULL

OK = lib.CSP_OK
PENDING = lib.CSP_PENDING
REDUCED = lib.CSP_REDUCED
EINVAL = lib.CSP_EINVAL
ENOMEM = lib.CSP_ENOMEM
ECLOSED = lib.CSP_ECLOSED
EAGAIN = lib.CSP_EAGAIN
ETIMEDOUT = lib.CSP_ETIMEDOUT
ECANCELED = lib.CSP_ECANCELED
EBUSY = lib.CSP_EBUSY
EPERM = lib.CSP_EPERM

BUF_NONE = lib.CSP_BUF_NONE
BUF_FIXED = lib.CSP_BUF_FIXED
BUF_DROPPING = lib.CSP_BUF_DROPPING
BUF_SLIDING = lib.CSP_BUF_SLIDING
BUF_PROMISE = lib.CSP_BUF_PROMISE
CAP_MAX = lib.CSP_CAP_MAX
PENDING_MAX = lib.CSP_PENDING_MAX
ALTS_PRIORITY = lib.CSP_ALTS_PRIORITY
ALTS_DEFAULT = lib.CSP_ALTS_DEFAULT
ALTS_MAX = lib.CSP_ALTS_MAX

# Function pointers handed to C.
# Channels drop through csp_value_drop: byte strings are released at
# once, Python's own words go to its domain (pycsp_drop, which queues them
# for drain_drops), another language's to theirs.
DROP = ffi.addressof(lib, "csp_value_drop")
XF_INIT = ffi.addressof(lib, "pycsp_xf_init")
XF_STEP = ffi.addressof(lib, "pycsp_xf_step")
XF_COMPLETE = ffi.addressof(lib, "pycsp_xf_complete")
XF_FREE = ffi.addressof(lib, "pycsp_xf_free")
EXH = ffi.addressof(lib, "pycsp_exh")


def check(rc: int) -> int:
    """RC if it is not an error, else raise its exception."""
    if rc < 0:
        raise errors.from_rc(rc)
    return rc


# -- library ---------------------------------------------------------------

def version() -> int:
    return lib.csp_version()


def strerror(rc: int) -> str:
    return ffi.string(lib.csp_strerror(rc)).decode()


def errname(rc: int) -> str:
    return ffi.string(lib.csp_errname(rc)).decode()


def rt_default() -> Any:
    # A host embedding Python names its runtime before `import csp`:
    # sys.csp_runtime = <csp_rt address> (docs/embedding.md).
    import sys
    handle = getattr(sys, "csp_runtime", None)
    if handle is not None:
        if not isinstance(handle, int) or isinstance(handle, bool) or handle <= 0:
            raise TypeError("sys.csp_runtime must be a csp_rt address (int)")
        rt = ffi.cast("csp_rt *", handle)
        lib.pycsp_set_rt(rt)
        return rt
    rt = lib.csp_rt_default()
    if rt == NULL:
        raise errors.NoMemoryError("csp: cannot create the default runtime")
    return rt


RT = rt_default()
_rt_used = False


def rt_used() -> bool:
    """True once Python made an object on RT (csp.use_runtime is too late)."""
    return _rt_used


def set_rt(rt: Any) -> None:
    global RT
    RT = rt


def _use_rt() -> Any:
    global _rt_used
    _rt_used = True
    return RT


def rt_stat(key: int) -> int:
    out = ffi.new("int64_t *")
    check(lib.csp_rt_stat(RT, key, out))
    return out[0]


def now_ns() -> int:
    return lib.csp_now_ns()


# -- channels --------------------------------------------------------------

def chan_new(buf: int, cap: int) -> Any:
    """A new channel (one reference) whose drop hook queues for Python."""
    out = ffi.new("csp_chan **")
    check(lib.csp_chan_new(out, RT if _rt_used else _use_rt(), buf, cap, DROP, NULL))
    return out[0]


def xform_new(word: int) -> Any:
    """A recipe whose data is WORD (an xf instance record), one reference.
    Its last release queues WORD for release (pycsp_xf_free)."""
    out = ffi.new("csp_xform **")
    check(lib.csp_xform_new(out, RT if _rt_used else _use_rt(), XF_INIT, XF_STEP, XF_COMPLETE, NULL,
                            ffi.cast("void *", word), XF_FREE))
    return out[0]


def xform_release(xf: Any) -> None:
    lib.csp_xform_release(xf)


def chan_new_xf(buf: int, cap: int, xf: Any, word: int) -> Any:
    """A channel whose puts go through recipe XF, exception handler data WORD."""
    out = ffi.new("csp_chan **")
    check(lib.csp_chan_new_xf(out, RT if _rt_used else _use_rt(), buf, cap, DROP, NULL, xf, EXH,
                              ffi.cast("void *", word)))
    return out[0]


def chan_release(ch: Any) -> None:
    lib.csp_chan_release(ch)


def chan_close(ch: Any) -> None:
    check(lib.csp_chan_close(ch))


def chan_closed(ch: Any) -> bool:
    return bool(lib.csp_chan_closed(ch))


def chan_id(ch: Any) -> int:
    return lib.csp_chan_id(ch)


def chan_count(ch: Any) -> int:
    return lib.csp_chan_count(ch)


def timeout(ms: int) -> Any:
    out = ffi.new("csp_chan **")
    check(lib.csp_timeout(out, RT if _rt_used else _use_rt(), ms))
    return out[0]


def offer(ch: Any, word: int) -> int:
    """CSP_OK, CSP_EAGAIN or CSP_ECLOSED; raises on errors."""
    rc = lib.pycsp_offer(ch, word)
    if rc < 0 and rc != EAGAIN and rc != ECLOSED:
        raise errors.from_rc(rc)
    return rc


def taken(r: int) -> "tuple[int, int]":
    """(rc, word) of a take's result R: the word (never a multiple of 4)
    with CSP_OK, or 4 * rc with no word."""
    if r & 3:
        return OK, r
    return r >> 2, 0


def poll(ch: Any) -> int:
    """The word taken, or 4 * CSP_EAGAIN / CSP_ECLOSED; raises on errors."""
    r = lib.pycsp_poll(ch)
    if not r & 3 and r != EAGAIN * 4 and r != ECLOSED * 4:
        raise errors.from_rc(r >> 2)
    return r


def put(ch: Any, word: int, ex: Any, op_id: int, pending: Any) -> int:
    """CSP_OK, CSP_ECLOSED or CSP_PENDING; raises on errors."""
    rc = lib.pycsp_put(ch, word, ex, op_id, pending)
    if rc < 0 and rc != ECLOSED:
        raise errors.from_rc(rc)
    return rc


def take(ch: Any, ex: Any, op_id: int, pending: Any) -> int:
    """The word taken, or 4 * CSP_ECLOSED / CSP_PENDING; raises on errors."""
    r = lib.pycsp_take(ch, ex, op_id, pending)
    if not r & 3 and r != ECLOSED * 4 and r != PENDING * 4:
        raise errors.from_rc(r >> 2)
    return r


def alts(chs: Any, vals: Any, n: int, flags: int, idx_out: Any,
         word_out: Any, ex: Any, op_id: int, pending: Any) -> int:
    """alts over CHS (VALS[i]: the word to put, 0 to take): CSP_OK,
    CSP_ECLOSED, CSP_EAGAIN or CSP_PENDING; raises on errors."""
    rc = lib.pycsp_alts(chs, vals, n, flags, idx_out, word_out, ex, op_id,
                        pending)
    if rc < 0 and rc != ECLOSED and rc != EAGAIN:
        raise errors.from_rc(rc)
    return rc


ELSEWHERE = lib.PYCSP_ELSEWHERE


def sched_enter(ex: Any) -> None:
    """Make the calling thread the go scheduler's, with executor EX."""
    lib.pycsp_sched_enter(ex)


def sched_last_id() -> int:
    """The op id of the last go op that returned CSP_PENDING."""
    return lib.pycsp_sched_last_id


def sput(ch: Any, word: int) -> int:
    """A go put: CSP_OK, CSP_ECLOSED, CSP_PENDING or ELSEWHERE (not on the
    scheduler thread: nothing done); raises on errors."""
    rc = lib.pycsp_sput(ch, word)
    if rc < 0 and rc != ECLOSED:
        raise errors.from_rc(rc)
    return rc


def stake(ch: Any) -> int:
    """A go take: the word, or 4 * (CSP_ECLOSED, CSP_PENDING or ELSEWHERE)."""
    r = lib.pycsp_stake(ch)
    if not r & 3 and r < 0 and r != ECLOSED * 4:
        raise errors.from_rc(r >> 2)
    return r


def salts(chs: Any, vals: Any, n: int, flags: int, idx_out: Any, word_out: Any) -> int:
    """A go alts: as alts(), or ELSEWHERE."""
    rc = lib.pycsp_salts(chs, vals, n, flags, idx_out, word_out)
    if rc < 0 and rc != ECLOSED and rc != EAGAIN:
        raise errors.from_rc(rc)
    return rc


def cancel(pending: Any, word_out: Any) -> int:
    """CSP_OK (withdrawn; *WORD_OUT is a put's word) or CSP_EAGAIN."""
    rc = lib.pycsp_cancel(pending, word_out)
    if rc != OK and rc != EAGAIN:
        raise errors.from_rc(rc)
    return rc


def pending_release(pending: Any) -> None:
    lib.csp_pending_release(pending)


def emit(out: Any, word: int) -> int:
    """CSP_OK or CSP_REDUCED; raises on errors."""
    rc = lib.pycsp_emit(out, word)
    if rc < 0:
        raise errors.from_rc(rc)
    return rc


# -- executors -------------------------------------------------------------

def host_new() -> Any:
    _use_rt()
    h = lib.pycsp_host_new()
    if h == NULL:
        raise errors.NoMemoryError("csp: cannot create a host executor")
    return h


def host_free(h: Any) -> None:
    lib.pycsp_host_free(h)


def host_exec(h: Any) -> Any:
    return lib.pycsp_host_exec(h)


def host_wake(h: Any) -> None:
    lib.pycsp_host_wake(h)


def host_run(h: Any, out: Any, max_records: int, timeout_ms: int) -> int:
    return lib.pycsp_host_run(h, out, max_records, timeout_ms)


def loop_new() -> Any:
    out = ffi.new("csp_loop **")
    check(lib.csp_loop_new(out, RT if _rt_used else _use_rt()))
    return out[0]


def loop_free(loop: Any) -> None:
    lib.csp_loop_free(loop)


def loop_fd(loop: Any) -> int:
    return lib.csp_loop_fd(loop)


def loop_executor(loop: Any) -> Any:
    return lib.csp_loop_executor(loop)


def loop_run(loop: Any, out: Any, max_records: int) -> int:
    return check(lib.pycsp_loop_run(loop, out, max_records))


def drops_take(out: Any, max_words: int) -> int:
    return lib.pycsp_drops_take(out, max_words)
