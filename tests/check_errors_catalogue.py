#!/usr/bin/env python3
"""check_errors_catalogue.py - every row of docs/errors.md's bad-input
catalogue names at least one test, and every test it names exists in that
language's suite (C tests/c, Python tests/python, Lua tests/lua, Tcl
and Perl tests/swig). Prints the number of rows per language.

    check_errors_catalogue.py [REPO_ROOT]
"""
import glob
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..")


def names(pattern, files, strip=""):
    found = set()
    for f in glob.glob(os.path.join(root, files)):
        with open(f, encoding="utf-8") as fh:
            for n in re.findall(pattern, fh.read(), re.M):
                found.add(n[len(strip):] if strip and n.startswith(strip)
                          else n)
    return found


suites = {
    "C": names(r"^TEST\(([a-z0-9_]+)\)", "tests/c/*.c"),
    "Python": names(r"^def (test_[a-z0-9_]+)", "tests/python/*.py", "test_"),
    "Lua": names(r'^test\("([a-z0-9_]+)"', "tests/lua/*.lua"),
    "Tcl (SWIG)": names(r"^test ([a-z0-9_]+) \{", "tests/swig/*.tcl"),
    "Perl (SWIG)": names(r"^test ([a-z0-9_]+) => sub", "tests/swig/*.pl"),
}

with open(os.path.join(root, "docs/errors.md"), encoding="utf-8") as fh:
    doc = fh.read()
section, rows, bad = None, {}, 0
for line in doc.splitlines():
    m = re.match(r"^### (.*)", line)
    if m:
        section = m.group(1).strip()
        continue
    if line.startswith("## "):
        section = None
    if section not in suites or not line.startswith("|"):
        continue
    if line.startswith("|---") or line.startswith("| bad input"):
        continue
    rows[section] = rows.get(section, 0) + 1
    tests = re.findall(r"`([a-z0-9_]+)`", line.rstrip().rstrip("|")
                       .rsplit("|", 1)[-1])
    if not tests:
        print("row names no test: " + line[:100])
        bad += 1
    for t in tests:
        if t not in suites[section]:
            print("%s test not found: %s" % (section, t))
            bad += 1
print("errors.md catalogue: " + ", ".join(
    "%s %d rows" % (k, v) for k, v in rows.items()) +
    ", %d in all; %d problems" % (sum(rows.values()), bad))
sys.exit(1 if bad or not rows else 0)
