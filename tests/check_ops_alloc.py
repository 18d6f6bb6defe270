#!/usr/bin/env python3
"""check_ops_alloc.py - the combinators allocate only through the runtime's
allocator and include only the public header (docs/design.md §2 and §9,
STYLE §1). Fails if a file in core/ops/ calls (or passes as a function)
malloc, calloc, realloc, free, aligned_alloc, strdup or the like
(comments and string literals aside), or includes a project header other than csp.h and ops.h. Prints
the files checked and the ops_* allocation calls found.

    check_ops_alloc.py [REPO_ROOT]
"""
import glob
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..")

LIBC = re.compile(r"(?<![\w.>])(malloc|calloc|realloc|reallocarray|free|"
                  r"aligned_alloc|posix_memalign|memalign|valloc|strdup|"
                  r"strndup|asprintf)\b")
OPS = re.compile(r"\bops_(alloc|zalloc|realloc|realloc_array|free)\s*\(")
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)
ALLOWED = {"csp.h", "ops.h"}


def strip(text):
    """Blank out comments and string and character literals, keeping line
    breaks so that line numbers stay right."""
    def blank(m):
        return re.sub(r"[^\n]", " ", m.group(0))
    return re.sub(r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|'
                  r"'(?:\\.|[^'\\\n])*'", blank, text, flags=re.S)


files = sorted(glob.glob(os.path.join(root, "core/ops/*.[ch]")))
bad, uses = 0, 0
for path in files:
    rel = os.path.relpath(path, root)
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    for name in INCLUDE.findall(text):
        if name not in ALLOWED:
            print("%s: includes \"%s\"; core/ops includes only csp.h and "
                  "ops.h" % (rel, name))
            bad += 1
    code = strip(text)
    for m in LIBC.finditer(code):
        line = code.count("\n", 0, m.start()) + 1
        print("%s:%d: uses %s; allocate through the runtime's allocator "
              "(ops.h)" % (rel, line, m.group(1)))
        bad += 1
    if not rel.endswith("ops.h"):
        uses += len(OPS.findall(code))
print("core/ops: %d files, %d ops_* allocation calls, %d problems"
      % (len(files), uses, bad))
sys.exit(1 if bad or not files or uses == 0 else 0)
