#!/usr/bin/env python3
"""check_docs.py - every recipe of docs/swig.md runs as written.

    check_docs.py SOURCE_DIR BUILD_DIR

Each fenced block (```tcl, ```perl, ```sh) runs in a scratch directory
that looks like the top of the source tree after `make` (core/, bindings/,
examples/ linked from SOURCE_DIR, build/ to BUILD_DIR): tcl blocks with
tclsh, perl blocks with `perl -I build/swig/perl -` (the script on
standard input), sh blocks with `sh -eu`. A block must exit with status 0
and, if an ```output block follows it, print exactly that.
"""
import os
import re
import subprocess
import sys
import tempfile

src, build = (os.path.abspath(a) for a in sys.argv[1:3])
with open(os.path.join(src, "docs", "swig.md"), encoding="utf-8") as f:
    text = f.read()

blocks = re.findall(r"^```(\w+)\n(.*?)^```$", text, re.M | re.S)
runnable = {"tcl", "perl", "sh"}
failed = 0
ran = 0
with tempfile.TemporaryDirectory() as tmp:
    for d in ("core", "bindings", "examples"):
        os.symlink(os.path.join(src, d), os.path.join(tmp, d))
    os.symlink(build, os.path.join(tmp, "build"))
    for i, (lang, body) in enumerate(blocks):
        if lang not in runnable:
            continue
        want = blocks[i + 1][1] if (i + 1 < len(blocks) and
                                    blocks[i + 1][0] == "output") else None
        if lang == "tcl":
            path = os.path.join(tmp, "block.tcl")
            with open(path, "w", encoding="utf-8") as f:
                f.write(body)
            cmd, stdin = ["tclsh", path], None
        elif lang == "perl":
            cmd, stdin = ["perl", "-I", "build/swig/perl", "-"], body
        else:
            cmd, stdin = ["sh", "-eu", "-c", body], None
        ran += 1
        first = body.splitlines()[0] if body else ""
        try:
            r = subprocess.run(cmd, cwd=tmp, input=stdin, text=True,
                               capture_output=True, timeout=120)
        except subprocess.TimeoutExpired:
            print(f"FAIL {lang} block {i} ({first}): timed out")
            failed += 1
            continue
        if r.returncode != 0:
            print(f"FAIL {lang} block {i} ({first}): exit {r.returncode}\n"
                  f"{r.stdout}{r.stderr}")
            failed += 1
        elif want is not None and r.stdout != want:
            print(f"FAIL {lang} block {i} ({first}): printed\n{r.stdout}"
                  f"instead of\n{want}")
            failed += 1
        else:
            print(f"ok {lang} block {i} ({first})")
print(f"{ran} blocks ran, {failed} failed")
sys.exit(1 if failed or not ran else 0)
