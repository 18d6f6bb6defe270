"""CFFI builder for csp._csp (out-of-line API mode, CPython limited API).

setup.py names it in cffi_modules; it can also be run by hand:

    python3 python/csp/_build.py      # builds csp/_csp*.so in place

The extension contains the whole C core, so no libcsp is needed at run
time. Where the C sources come from (the first that has
core/include/csp.h):

  1. $CSP_SOURCE_DIR, if set;
  2. the repository this package sits in (python/..), which is where
     `pip install ./python` builds it: pip >= 21.3 builds a local
     directory in place;
  3. python/_csp_src/, the copy that setup.py's sdist command vendors
     into a source distribution.

The list of core sources is read from the root CMakeLists.txt (the
CSP_SOURCES and CSP_OPS_SOURCES lists, as CMake builds them) when it is
there, else from _csp_src/SOURCES written by sdist. Every context switch
backend is compiled: each compiles to nothing unless it is this machine's
(core/coro/coro_arch.h).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent          # python/csp
PKG_ROOT = HERE.parent                           # python

SWITCH_SOURCES = [
    "core/coro/switch_x86_64.S",
    "core/coro/switch_aarch64.S",
    "core/coro/switch_ucontext.c",
]


def source_dir() -> Path:
    """The directory holding core/, bindings/ and (usually) CMakeLists.txt."""
    candidates = []
    env = os.environ.get("CSP_SOURCE_DIR")
    if env:
        candidates.append(Path(env))
    candidates += [PKG_ROOT.parent, PKG_ROOT / "_csp_src"]
    for c in candidates:
        if (c / "core" / "include" / "csp.h").is_file():
            return c.resolve()
    raise RuntimeError(
        "csp: cannot find the C sources (core/include/csp.h). Build from the "
        "repository (pip install ./python), or set CSP_SOURCE_DIR to it."
    )


def _cmake_list(text: str, name: str) -> list[str]:
    m = re.search(r"set\(\s*%s\b(.*?)\)" % re.escape(name), text, re.S)
    if not m:
        return []
    body = re.sub(r"#[^\n]*", "", m.group(1))
    return [tok for tok in body.split() if tok and not tok.startswith("$")]


def core_sources(src: Path) -> list[str]:
    """Relative paths of the C sources to compile (those that exist)."""
    cmake = src / "CMakeLists.txt"
    listed = src / "SOURCES"
    if cmake.is_file():
        text = cmake.read_text()
        names = _cmake_list(text, "CSP_SOURCES") + _cmake_list(text, "CSP_OPS_SOURCES")
    elif listed.is_file():
        names = listed.read_text().split()
    else:
        raise RuntimeError(f"csp: no CMakeLists.txt or SOURCES in {src}")
    names = [n for n in names if n.endswith((".c", ".S"))]
    for s in SWITCH_SOURCES:
        if s not in names:
            names.append(s)
    return [n for n in names if (src / n).is_file()]


def cdef_text() -> str:
    return (HERE / "_cdef.h").read_text() + "\n" + (HERE / "_glue_cdef.h").read_text()


SRC = source_dir()

ffibuilder = FFI()
ffibuilder.cdef(cdef_text())
ffibuilder.set_source(
    "csp._csp",
    '#define CSP_EXPERIMENTAL 1\n#include "csp.h"\n#include "_glue.c"\n',
    # Relative to the working directory (setup.py's): setuptools refuses
    # absolute paths here; setup.py's build_ext makes them absolute again so
    # that objects land under build/ (see BuildExt there).
    sources=[os.path.relpath(SRC / n) for n in core_sources(SRC)],
    include_dirs=[str(SRC / "core" / "include"), str(SRC / "core"), str(HERE)],
    # Included by the generated C file, which does not change with them:
    # without these a rebuild would keep a stale extension.
    depends=[os.path.relpath(HERE / n) for n in ("_glue.c", "_glue_cdef.h", "_cdef.h")],
    define_macros=[("CSP_STATIC", "1"), ("CSP_BUILDING", "1")],
    extra_compile_args=["-std=gnu11", "-fvisibility=hidden", "-pthread"],
    extra_link_args=["-pthread"],
    libraries=["m"],
    py_limited_api=True,
)

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=str(PKG_ROOT / "build" / "inplace"), verbose=True)
