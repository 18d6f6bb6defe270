"""csp: Clojure core.async for Python, over the csp C runtime.

    import csp

    ch = csp.chan()                        # unbuffered
    csp.go(lambda: ch.aput("hello"))       # a go process (runs a coroutine)
    print(ch.take())                       # a blocking take: "hello"

Channels (csp.chan, promise_chan, timeout; buffers csp.buffer, dropping,
sliding) carry any object but None. Each operation has a blocking form
for plain threads (put, take, alts), an awaitable form for go processes,
asyncio tasks and trio/anyio tasks (aput, atake, aalts), a callback form
(put_async, take_async: core.async's put! and take!) and a form that
never waits (offer, poll). csp.go returns a Process: its result channel,
with cancel(). Transducers are in csp.xf; core.async's combinators (pipe,
merge, split, mult, pub, mix, pipeline, ...) are here too. See
docs/python.md.
"""

from __future__ import annotations

from . import _link  # first: refuses a libcsp of another major version
from . import errors, xf
from ._chan import (DEFAULT, AsyncOp, Buffer, Chan, aalts, alts, buffer, chan,
                    dropping, promise_chan, sliding, timeout)
from ._csp import lib as _lib
from ._link import libcsp_path, runtime_handle, runtime_stats, use_runtime
from ._sched import set_exception_handler
from ._values import Foreign
from .errors import Cancelled, CspError
from .ops import (Mix, Mult, Process, Pub, go, into, map, merge, mix, mult,
                  onto_chan, pipe, pipeline, pipeline_async, pipeline_blocking,
                  pub, reduce, split, take, thread, to_chan, transduce)
from .xf import reduced


def _version() -> str:
    v = _lib.csp_version()
    return f"{v // 10000}.{v // 100 % 100}.{v % 100}"


__version__ = _version()

# Without builtins' names: `from csp import *` must not shadow map (use
# csp.map).
__all__ = [
    "Chan", "Buffer", "AsyncOp", "chan", "buffer", "dropping", "sliding",
    "promise_chan", "timeout", "alts", "aalts", "DEFAULT", "go", "Process",
    "thread", "set_exception_handler", "pipe", "onto_chan", "to_chan", "into",
    "reduce", "transduce", "reduced", "merge", "split", "mult", "Mult", "pub",
    "Pub", "mix", "Mix", "pipeline", "pipeline_async", "pipeline_blocking",
    "take", "xf", "errors", "CspError", "Cancelled", "Foreign", "use_runtime",
    "runtime_handle", "libcsp_path", "runtime_stats",
]
