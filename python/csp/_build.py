"""CFFI builder for csp._csp (out-of-line API mode, CPython limited API).

setup.py names it in cffi_modules; it can also be run by hand:

    python3 python/csp/_build.py      # builds csp/_csp*.so in place

The extension is the binding only: it links the shared library
libcsp.so.0, so that in one process C, Python and Lua use one runtime
(docs/embedding.md). Which libcsp (libcsp_choice(), first that applies):

  1. $CSP_LIBCSP_DIR, or $CSP_BUILD_DIR (a CMake build tree, as `make
     venv` sets it), holding libcsp.so.0: linked with an rpath to it;
  2. the installed one, if pkg-config knows csp with the same major
     version and a minor version at least this package's (CSP_LIBCSP=
     bundle skips this step, CSP_LIBCSP=system makes it required);
  3. else a copy built from the same C sources by setup.py's build_ext
     and shipped beside the extension (csp/libcsp.so.0), found through
     the rpath $ORIGIN: `pip install ./python` works on a machine with
     nothing installed.

At import, csp checks csp_version() against the header the extension was
built with (csp/_link.py). Where the C sources come from (the first that
has core/include/csp.h):

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
import shutil
import subprocess
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


def _version(src: Path) -> tuple[int, int, int]:
    text = (src / "core" / "include" / "csp.h").read_text()
    parts = []
    for part in ("MAJOR", "MINOR", "PATCH"):
        m = re.search(r"^#define CSP_VERSION_%s +(\d+)" % part, text, re.M)
        parts.append(int(m.group(1)))
    return parts[0], parts[1], parts[2]


def _pkg_config(*args: str) -> str | None:
    exe = shutil.which("pkg-config")
    if not exe:
        return None
    try:
        r = subprocess.run([exe, *args], capture_output=True, text=True,
                           check=False)
    except OSError:
        return None
    return r.stdout.strip() if r.returncode == 0 else None


def libcsp_choice(src: Path) -> dict:
    """Which libcsp the extension links: a dict with "mode" ("dir",
    "system" or "bundle") and, for the first two, "libdir" and
    "include_dirs"."""
    want = os.environ.get("CSP_LIBCSP", "")
    if want not in ("", "bundle", "system"):
        raise RuntimeError("csp: CSP_LIBCSP must be bundle or system")
    if not want:
        for var in ("CSP_LIBCSP_DIR", "CSP_BUILD_DIR"):
            d = os.environ.get(var)
            if d and (Path(d) / "libcsp.so.0").exists():
                return {"mode": "dir", "libdir": str(Path(d).resolve()),
                        "include_dirs": [str(src / "core" / "include")]}
    if want != "bundle":
        have = _pkg_config("--modversion", "csp")
        major, minor, _ = _version(src)
        ok = False
        if have:
            try:
                hv = [int(x) for x in have.split(".")[:2]]
                ok = hv[0] == major and hv[1] >= minor
            except ValueError:
                ok = False
        if ok:
            libdir = _pkg_config("--variable=libdir", "csp")
            inc = _pkg_config("--variable=includedir", "csp")
            return {"mode": "system", "libdir": libdir,
                    "include_dirs": [inc] if inc else []}
        if want == "system":
            raise RuntimeError(
                f"csp: CSP_LIBCSP=system but pkg-config has no csp "
                f"{major}.{minor}+ (found: {have or 'none'})")
    return {"mode": "bundle", "libdir": None,
            "include_dirs": [str(src / "core" / "include")]}


SRC = source_dir()
LIBCSP = libcsp_choice(SRC)

# The extension links libcsp.so.0 by file name (-l:libcsp.so.0: there may
# be no libcsp.so development link). For a bundled copy, setup.py builds
# it first into the extension's directory and adds -L there.
_link_args = ["-pthread", "-l:libcsp.so.0"]
if LIBCSP["mode"] == "bundle":
    _link_args.append("-Wl,-rpath,$ORIGIN")
else:
    _link_args = ["-L" + LIBCSP["libdir"],
                  "-Wl,-rpath," + LIBCSP["libdir"]] + _link_args

ffibuilder = FFI()
ffibuilder.cdef(cdef_text())
ffibuilder.set_source(
    "csp._csp",
    '#define CSP_EXPERIMENTAL 1\n#include "csp.h"\n#include "_glue.c"\n',
    sources=[],
    include_dirs=LIBCSP["include_dirs"] + [str(HERE)],
    # Included by the generated C file, which does not change with them:
    # without these a rebuild would keep a stale extension.
    depends=[os.path.relpath(HERE / n) for n in ("_glue.c", "_glue_cdef.h", "_cdef.h")],
    extra_compile_args=["-std=gnu11", "-fvisibility=hidden", "-pthread"],
    extra_link_args=_link_args,
    libraries=["m", "dl"],  # dl: dlsym (the go fast path) before glibc 2.34
    py_limited_api=True,
)

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=str(PKG_ROOT / "build" / "inplace"), verbose=True)
