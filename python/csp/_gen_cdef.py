"""Generate _cdef.h (the CFFI declarations) from core/include/csp.h.

    python3 python/csp/_gen_cdef.py [path/to/csp.h] [-o path/to/_cdef.h]

csp.h is the only authority on the C API (STYLE §9), so the binding never
retypes it: this script turns the header into something CFFI's parser
accepts, and tests/python/test_cdef.py checks that the committed _cdef.h
is what it produces today.

What it does, in order:
  - drops comments and joins continued lines;
  - drops the `#ifdef __cplusplus` blocks (extern "C" { ... });
  - drops every other preprocessor line (#include, #if/#ifdef/#elif/#else/
    #endif, the include guard) but keeps what is between them, so the
    CSP_EXPERIMENTAL part is declared too (the extension compiles csp.h
    with CSP_EXPERIMENTAL defined);
  - keeps `#define CSP_NAME <integer constant expression>` as
    `#define CSP_NAME ...`, so CFFI reads each value from the compiled
    header instead of copying it; drops every other macro (CSP_API,
    CSP_DEPRECATED(msg), the include guard);
  - removes the CSP_API and CSP_DEPRECATED("...") attributes from
    declarations.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

BANNER = (
    "/* _cdef.h - generated from core/include/csp.h by csp/_gen_cdef.py.\n"
    " * Do not edit: rerun `python3 python/csp/_gen_cdef.py`. */\n"
)

_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_LINE_COMMENT = re.compile(r"//[^\n]*")
_DEFINE = re.compile(r"#\s*define\s+([A-Za-z_][A-Za-z0-9_]*)(\([^)]*\))?\s*(.*)$")
# An integer constant expression: numbers, CSP_ names, parentheses,
# arithmetic and shifts, and casts to the integer types csp.h uses.
_INT_EXPR = re.compile(
    r"^(?:\s|\d+[uUlL]*|0[xX][0-9a-fA-F]+[uUlL]*|CSP_[A-Z0-9_]+|[-+*/%()<>~|&^]"
    r"|size_t|int64_t|uint64_t|int|unsigned)+$"
)
_ATTR = re.compile(r"\bCSP_DEPRECATED\s*\((?:[^()]|\"[^\"]*\")*\)\s*|\bCSP_API\s+")


def _strip_comments(text: str) -> str:
    return _LINE_COMMENT.sub("", _COMMENT.sub(" ", text))


def generate(header: str) -> str:
    """Return the _cdef.h text for the contents of csp.h."""
    text = _strip_comments(header).replace("\\\n", " ")
    out: list[str] = []
    depth_cplusplus = 0  # nesting depth inside an #ifdef __cplusplus block
    depth = 0
    cpp_start = 0
    depth_struct = 0  # inside braces: members are indented
    for raw in text.split("\n"):
        line = raw.strip()
        if line.startswith("#"):
            directive = line[1:].strip()
            if directive.startswith(("if", "ifdef", "ifndef")):
                depth += 1
                if depth_cplusplus == 0 and "__cplusplus" in directive:
                    depth_cplusplus = 1
                    cpp_start = depth
                continue
            if directive.startswith("endif"):
                if depth_cplusplus and depth == cpp_start:
                    depth_cplusplus = 0
                depth -= 1
                continue
            if depth_cplusplus:
                continue
            m = _DEFINE.match(line)
            if m and m.group(2) is None:
                name, value = m.group(1), m.group(3).strip()
                if name.startswith("CSP_") and value and _INT_EXPR.match(value):
                    out.append(f"#define {name} ...")
            continue
        if depth_cplusplus:
            continue
        line = " ".join(_ATTR.sub("", raw).split())
        if not line:
            if out and out[-1] != "" and not depth_struct:
                out.append("")
            continue
        # A declaration continued from the line before joins it.
        if out and out[-1] and not out[-1].startswith("#") and not out[-1].endswith((";", "{", "}")):
            out[-1] += " " + line
        else:
            inner = depth_struct and not line.startswith("}")
            out.append(("    " + line) if inner else line)
        depth_struct += line.count("{") - line.count("}")
    while out and out[-1] == "":
        out.pop()
    return BANNER + "\n".join(out) + "\n"


def default_header() -> Path:
    """csp.h next to this package in the source tree (python/../core)."""
    return HERE.parent.parent / "core" / "include" / "csp.h"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("header", nargs="?", type=Path, default=default_header())
    ap.add_argument("-o", "--output", type=Path, default=HERE / "_cdef.h")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 if OUTPUT differs from what would be generated")
    args = ap.parse_args(argv)
    text = generate(args.header.read_text())
    if args.check:
        same = args.output.exists() and args.output.read_text() == text
        if not same:
            print(f"{args.output} is out of date; rerun {Path(__file__).name}",
                  file=sys.stderr)
        return 0 if same else 1
    args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
