"""Exceptions: one class per csp error code, named after csp_errname.

Every class derives from CspError and, where one fits, from the builtin
exception Python code already catches (ValueError, MemoryError,
TimeoutError, RuntimeError). ``errname`` is the code's csp_errname
("ECLOSED") and ``code`` its value (read from the library).
"""

from __future__ import annotations


class CspError(Exception):
    """A csp call failed; ``code`` is the CSP_E* value, ``errname`` its name."""

    errname = "UNKNOWN"

    def __init__(self, message: str = "", code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class InvalidArgumentError(CspError, ValueError):
    """EINVAL: a bad argument."""

    errname = "EINVAL"


class NoMemoryError(CspError, MemoryError):
    """ENOMEM: out of memory, threads or file descriptors."""

    errname = "ENOMEM"


class ClosedError(CspError):
    """ECLOSED: the channel is closed."""

    errname = "ECLOSED"


class WouldWaitError(CspError):
    """EAGAIN: the operation would have to wait."""

    errname = "EAGAIN"


class TimedOutError(CspError, TimeoutError):
    """ETIMEDOUT: the deadline passed first (a builtin TimeoutError)."""

    errname = "ETIMEDOUT"


class CanceledError(CspError):
    """ECANCELED: the operation was withdrawn."""

    errname = "ECANCELED"


class BusyError(CspError):
    """EBUSY: too many pending operations (1024 puts or takes per channel)."""

    errname = "EBUSY"


class WrongContextError(CspError, RuntimeError):
    """EPERM: wrong context (e.g. a put on a timeout channel)."""

    errname = "EPERM"


class Cancelled(BaseException):
    """Raised inside a go process at its current or next park when its
    handle's cancel() was called. A BaseException, like asyncio's
    CancelledError and trio's Cancelled: ``except Exception`` does not
    swallow it. The process's pending op was withdrawn first (nothing it
    was putting was delivered); its ``finally`` blocks run; its result
    channel closes with no value."""


BY_ERRNAME: dict[str, type[CspError]] = {
    cls.errname: cls
    for cls in (InvalidArgumentError, NoMemoryError, ClosedError, WouldWaitError,
                TimedOutError, CanceledError, BusyError, WrongContextError)
}


def from_rc(rc: int) -> CspError:
    """The exception for csp result code RC (< 0)."""
    from ._csp import ffi, lib

    name = ffi.string(lib.csp_errname(rc)).decode()
    message = ffi.string(lib.csp_strerror(rc)).decode()
    return BY_ERRNAME.get(name, CspError)(message, rc)


__all__ = ["CspError", *(c.__name__ for c in BY_ERRNAME.values()), "Cancelled",
           "from_rc"]
