"""The link to libcsp: the version check at import and the runtime the
host chooses (docs/embedding.md).

The extension links the shared library libcsp.so.0 (csp/_build.py says
which file); in a process that embeds Python, the host's libcsp is the
one loaded, so Python, C and Lua share one runtime and its channels. A
library of another major version than the header the extension was built
with has another ABI: importing csp then fails with ImportError, before
any call could go wrong.
"""

from __future__ import annotations

import os
from ._csp import ffi, lib


def _check_version(have: int | None = None, built: int | None = None) -> None:
    """ImportError unless library version HAVE (csp_version()) can serve
    an extension built with header version BUILT (CSP_VERSION_NUMBER)."""
    if have is None:
        have = lib.csp_version()
    if built is None:
        built = lib.CSP_VERSION_NUMBER
    if have // 10000 != built // 10000 or have < built:
        raise ImportError(
            f"csp: the loaded libcsp is version {_fmt(have)}, but this "
            f"extension was built with csp.h {_fmt(built)} (the major "
            f"version must match and the library must be at least as "
            f"new); loaded from {libcsp_path() or 'an unknown file'}")


def _fmt(v: int) -> str:
    return f"{v // 10000}.{v // 100 % 100}.{v % 100}"


def libcsp_path() -> str | None:
    """The file of the libcsp.so this process loaded (from
    /proc/self/maps), or None where that cannot be read."""
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split(None, 5)[-1].strip()
                if os.path.basename(path).startswith("libcsp.so"):
                    return path
    except OSError:
        return None
    return None


_check_version()


def use_runtime(handle: int) -> None:
    """Make Python use the csp_rt at address HANDLE (an int from a C host)
    instead of the default runtime. Only before Python made its first
    channel, timeout or loop (RuntimeError after, unless HANDLE is the
    runtime already in use: then nothing changes). Importing csp makes the
    go scheduler's loop, so a host that wants another runtime than the
    default sets ``sys.csp_runtime = HANDLE`` before ``import csp``
    (docs/embedding.md); this call then checks it. The runtime must
    outlive Python's use of it: the host frees it only after the
    interpreter is finalized."""
    from . import _lowlevel as ll

    if not isinstance(handle, int) or isinstance(handle, bool) or handle <= 0:
        raise TypeError("csp.use_runtime: handle must be a csp_rt address (int)")
    rt = ffi.cast("csp_rt *", handle)
    if rt == ll.RT:
        return
    if ll.rt_used():
        raise RuntimeError("csp.use_runtime: Python already uses another "
                           "runtime (call it before the first channel)")
    ll.set_rt(rt)
    lib.pycsp_set_rt(rt)


def runtime_handle() -> int:
    """The address of the csp_rt Python uses, for C (borrowed)."""
    from . import _lowlevel as ll

    return int(ffi.cast("uintptr_t", ll.RT))



_STATS = ("procs_live", "procs_parked", "procs_runnable", "procs_spawned",
          "chans_live", "timers_pending", "ops_pending", "stacks_mapped",
          "stacks_reused", "threads_live", "workers")


def runtime_stats() -> dict[str, int]:
    """The counters of the runtime Python uses (csp_rt_stat, CSP_STAT_*),
    shared with C and Lua when they use the same runtime: ``workers`` is
    the pool every language's C go processes run on."""
    from . import _lowlevel as ll

    return {name: ll.rt_stat(getattr(lib, "CSP_STAT_" + name.upper()))
            for name in _STATS}
