#!/usr/bin/env python3
"""bench/lua/ir.py - instructions per operation of bench.lua's workloads,
csp against the plain-coroutine baseline, under callgrind.

    python3 bench/lua/ir.py [--lua lua5.4] [--env build/lua-env.sh]
                            [--workloads W1,W2,W6] [--small S] [--big B]

For every workload and system it runs `valgrind --tool=callgrind LUA
bench.lua SCALE W --system SYS` at two scales and divides the difference
of the instruction counts by the difference of the iteration counts, so
start-up and module loading cancel out: a per-operation figure that a
loaded machine cannot move. Then it prints one table row per workload
with the ratio csp/coroutine. Only the Python standard library.
"""

import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
N = {"W1": 1000000, "W2": 10000000, "W6": 1000000}
# Default scales: a few thousand operations each.
SMALL = {"W1": 0.002, "W2": 0.0004, "W6": 0.002}


def lua_env(path):
    env = dict(os.environ)
    for line in open(path):
        m = re.match(r"export (\w+)='(.*)'", line.strip())
        if m:
            env[m.group(1)] = m.group(2)
    return env


def ir(lua, env, scale, w, system):
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
           lua, os.path.join(HERE, "bench.lua"), str(scale), w,
           "--system", system]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    m = re.search(r"Collected : (\d+)", p.stderr)
    if p.returncode != 0 or not m:
        sys.exit(f"ir.py: {' '.join(cmd)} failed:\n{p.stderr[-2000:]}")
    return int(m.group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lua", default="lua5.4")
    ap.add_argument("--env", default=os.path.join(ROOT, "build", "lua-env.sh"))
    ap.add_argument("--workloads", default="W1,W2,W6")
    ap.add_argument("--factor", type=float, default=2.0,
                    help="the big scale is the small one times this")
    args = ap.parse_args()
    env = lua_env(args.env)
    print(f"| {args.lua} | csp Ir/op | coroutine Ir/op | csp/coroutine |")
    print("|---|---|---|---|")
    for w in args.workloads.split(","):
        s1 = SMALL[w]
        s2 = s1 * args.factor
        n1, n2 = int(N[w] * s1), int(N[w] * s2)
        per = {}
        for system in ("csp", "coroutine"):
            a = ir(args.lua, env, s1, w, system)
            b = ir(args.lua, env, s2, w, system)
            per[system] = (b - a) / (n2 - n1)
        print(f"| {w} | {per['csp']:.0f} | {per['coroutine']:.0f} | "
              f"{per['csp'] / per['coroutine']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
