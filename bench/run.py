#!/usr/bin/env python3
"""bench/run.py - csp's workloads W1-W8 beside the anchors, side by side.

    python3 bench/run.py --csp BIN [--go BIN] [--fiber BIN] [--clojure]
                         [--python VENV_PYTHON] [--lua LUA_ENV_SH] [--scale S]
                         [--reps R] [--out DIR] [--callgrind]

Runs every system R times (default 5), alternating systems within each
round so that machine noise spreads over all of them, and reports the
median of each figure: a table on the terminal and in DIR/latest.md, the
raw runs in DIR/latest.json, and a log-scale chart DIR/latest.png (Debian
gnuplot, when installed). The lines parsed are shared/bench/SPEC.md's
uniform format ("W1 pingpong: 123.4 ns/round-trip"). With --callgrind it
also counts instructions per operation for W1 and W2 on one worker
(valgrind --tool=callgrind, the difference of two sizes, so start-up
cancels out): a figure a noisy machine cannot move.

Only the Python standard library; no PyPI.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "bench")
LINE = re.compile(r"^(W\w+|P1) [^:]+: ([0-9.]+) ")

ORDER = ["P1", "W1", "W1cb", "W2", "W3", "W4", "W5", "W6", "W6w", "W7", "W8"]
UNITS = {
    "P1": "ns/pair", "W1": "ns/round-trip", "W1cb": "ns/round-trip",
    "W2": "ns/msg", "W3": "ns/msg", "W4": "ns/msg", "W5": "ns/msg",
    "W6": "ns/process", "W6w": "ns/process", "W7": "ns/hop",
    "W8": "ms total",
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(cmd: list[str], env: dict | None = None, timeout: int = 1800) -> str:
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, env=full_env,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        log(f"  timed out: {' '.join(cmd)}")
        return ""
    if p.returncode != 0:
        log(f"  failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-2000:]}")
    return p.stdout


def parse(out: str) -> dict[str, float]:
    figs: dict[str, float] = {}
    for line in out.splitlines():
        m = LINE.match(line.strip())
        if not m:
            continue
        key = m.group(1)
        if key == "W5r":
            continue
        figs[key] = float(m.group(2))
        a = re.search(r" ([0-9.]+) allocs/", line)
        if a:
            figs[key + ".allocs"] = float(a.group(1))
    # Go names W5 "fan-in-select"; same workload.
    return figs


def clojure_cmd(scale: float) -> list[str] | None:
    j = "/usr/share/java"
    jars = ["clojure", "spec.alpha", "core.specs.alpha", "core.async",
            "tools.analyzer.jvm", "tools.analyzer", "tools.reader",
            "core.memoize", "core.cache", "data.priority-map", "asm"]
    paths = [os.path.join(j, x + ".jar") for x in jars]
    if not shutil.which("java") or not all(os.path.exists(p) for p in paths):
        return None
    script = os.path.join(SHARED, "clojure", "bench.clj")
    return ["java", "-cp", ":".join(paths), "clojure.main", script,
            str(scale), "3"]


def systems(args) -> list[tuple[str, list[str], dict]]:
    s = args.scale
    out = [("csp", [args.csp, str(s)], {})]
    if args.go:
        out.append(("go", [args.go, str(s)], {}))
        out.append(("go1", [args.go, str(s)], {"GOMAXPROCS": "1"}))
    if args.fiber:
        out.append(("boost.fiber", [args.fiber, str(s), "--threads", "2"], {}))
    if args.clojure:
        cmd = clojure_cmd(s)
        if cmd:
            out.append(("core.async", cmd, {}))
        else:
            log("# core.async: clojure or core.async jars missing, skipped")
    if args.python:
        py = os.path.join(HERE, "python", "bench.py")
        for name in ("csp-python", "asyncio", "trio"):
            one = {"csp-python": "csp"}.get(name, name)
            out.append((name, [args.python, py, str(s), "--one", one], {}))
    if args.lua:
        env = lua_env(args.lua)
        lua = os.path.join(HERE, "lua", "bench.lua")
        for name, one in (("csp-lua", "csp"), ("lua-coroutine", "coroutine")):
            out.append((name, ["lua5.4", lua, str(s), "--system", one], env))
    return out


def lua_env(path: str) -> dict:
    """LUA_PATH and LUA_CPATH from the build's lua-env.sh."""
    env = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"export (\w+)='(.*)'$", line.strip())
            if m:
                env[m.group(1)] = m.group(2)
    return env


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def callgrind(bin_: str) -> dict[str, float]:
    """Instructions per op for W1, W2 and P1 on one worker."""
    if not shutil.which("valgrind"):
        return {}
    res = {}
    sizes = {"W1": (1e-3, 2e-3), "W2": (1e-4, 2e-4), "P1": (5e-5, 1e-4)}
    base_n = {"W1": 1_000_000, "W2": 10_000_000, "P1": 20_000_000}
    for w, (s1, s2) in sizes.items():
        irs = []
        for s in (s1, s2):
            out = f"/tmp/csp-callgrind.{os.getpid()}.out"
            p = subprocess.run(
                ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                 bin_, str(s), w],
                capture_output=True, text=True, env={**os.environ,
                                                     "CSP_THREADS": "1"})
            m = re.search(r"Collected : (\d+)", p.stderr)
            if os.path.exists(out):
                os.unlink(out)
            if not m:
                break
            irs.append(int(m.group(1)))
        if len(irs) == 2:
            n1, n2 = round(base_n[w] * s1), round(base_n[w] * s2)
            res[w] = (irs[1] - irs[0]) / (n2 - n1)
    return res


def chart(table: dict, names: list[str], path: str) -> bool:
    if not shutil.which("gnuplot"):
        return False
    rows = [w for w in ORDER if w != "W8" and any(w in table.get(n, {})
                                                     for n in names)]
    dat = path + ".dat"
    with open(dat, "w") as f:
        f.write("workload " + " ".join(n.replace(" ", "_") for n in names)
                + "\n")
        for w in rows:
            vals = []
            for n in names:
                v = table.get(n, {}).get(w)
                vals.append(f"{v:.3f}" if v else "NaN")
            f.write(w + " " + " ".join(vals) + "\n")
    plot = [
        "set terminal pngcairo size 1100,560 noenhanced",
        f"set output '{path}'",
        "set title 'csp beside the anchors: ns per operation (median, log scale, lower is better)'",
        "set style data histograms",
        "set style histogram clustered gap 1",
        "set style fill solid 0.85 border -1",
        "set logscale y",
        "set ylabel 'ns per op'",
        "set key outside right top",
        "set grid ytics",
        "set xtics nomirror",
        f"plot for [i=2:{len(names) + 1}] '{dat}' using i:xtic(1) title columnheader(i)",
    ]
    p = subprocess.run(["gnuplot"], input="\n".join(plot), text=True,
                       capture_output=True)
    os.unlink(dat)
    if p.returncode != 0:
        log(p.stderr)
        return False
    return True


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--csp", required=True)
    ap.add_argument("--go")
    ap.add_argument("--fiber")
    ap.add_argument("--clojure", action="store_true")
    ap.add_argument("--python")
    ap.add_argument("--lua")
    ap.add_argument("--scale", type=float, default=0.2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--callgrind", action="store_true")
    ap.add_argument("--skip", default="",
                    help="comma-separated systems not to run (QUICK=1 "
                         "skips the slow anchors)")
    args = ap.parse_args()

    skip = {x for x in args.skip.split(",") if x}
    syss = [x for x in systems(args) if x[0] not in skip]
    if skip:
        log(f"# skipped: {', '.join(sorted(skip))}")
    raw: dict[str, list[dict[str, float]]] = {n: [] for n, _, _ in syss}
    t0 = time.time()
    for r in range(args.reps):
        for name, cmd, env in syss:
            log(f"# round {r + 1}/{args.reps}: {name} "
                f"({time.time() - t0:.0f} s elapsed)")
            figs = parse(run(cmd, env))
            if figs:
                raw[name].append(figs)
    table = {n: {} for n in raw}
    for n, runs in raw.items():
        keys = {k for run_ in runs for k in run_}
        for k in keys:
            table[n][k] = median([run_[k] for run_ in runs if k in run_])

    ir = callgrind(args.csp) if args.callgrind else {}

    names = [n for n in raw if raw[n]]
    c_anchors = [n for n in ("go", "go1", "boost.fiber", "core.async")
                 if n in names]
    lines = []
    lines.append(f"# csp benchmarks: {time.strftime('%Y-%m-%d %H:%M')}")
    lines.append("")
    lines.append(f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, "
                 f"Linux {platform.release()}; scale {args.scale}, "
                 f"median of {args.reps} alternating runs.")
    lines.append(f"Compiler: {subprocess.run(['cc', '--version'], capture_output=True, text=True).stdout.splitlines()[0]}")
    if args.go:
        gv = subprocess.run(["go", "version"], capture_output=True,
                            text=True).stdout.strip()
        lines.append(f"Go: {gv} (go: GOMAXPROCS=2, go1: GOMAXPROCS=1).")
    lines.append("csp runs with the default worker count (one per CPU).")
    lines.append("")
    hdr = "| workload | unit | csp | " + " | ".join(c_anchors) + " | " + \
        " | ".join(f"csp/{a}" for a in c_anchors) + " |"
    lines.append(hdr)
    lines.append("|" + "---|" * (3 + 2 * len(c_anchors)))
    for w in ORDER:
        if w not in table.get("csp", {}):
            continue
        c = table["csp"][w]
        vals = [table[a].get(w) for a in c_anchors]
        cells = [f"{v:.1f}" if v else "-" for v in vals]
        ratios = [f"{c / v:.2f}" if v else "-" for v in vals]
        lines.append(f"| {w} | {UNITS.get(w, '')} | {c:.1f} | "
                     + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    if "csp-python" in names:
        lines.append("")
        lines.append("Python (the csp package against asyncio.Queue and trio "
                     "memory channels, same scale):")
        lines.append("")
        lines.append("| workload | csp-python | asyncio | trio | "
                     "csp/asyncio | csp/trio |")
        lines.append("|---|---|---|---|---|---|")
        for w in ("W1", "W2", "W6"):
            c = table["csp-python"].get(w)
            a = table.get("asyncio", {}).get(w)
            t = table.get("trio", {}).get(w)
            if not c:
                continue
            f = lambda v: f"{v:.1f}" if v else "-"
            rr = lambda v: f"{c / v:.2f}" if v else "-"
            lines.append(f"| {w} | {f(c)} | {f(a)} | {f(t)} | {rr(a)} | "
                         f"{rr(t)} |")
    if "csp-lua" in names:
        lines.append("")
        lines.append("Lua 5.4 (the csp module against plain coroutines with "
                     "pure-Lua channels, same scale):")
        lines.append("")
        lines.append("| workload | csp-lua | lua-coroutine | csp/coroutine |")
        lines.append("|---|---|---|---|")
        for w in ("W1", "W2", "W6"):
            c = table["csp-lua"].get(w)
            b = table.get("lua-coroutine", {}).get(w)
            if c:
                lines.append(f"| {w} | {c:.1f} | "
                             f"{f'{b:.1f}' if b else '-'} | "
                             f"{f'{c / b:.2f}' if b else '-'} |")
    al = {w: table["csp"][w + ".allocs"] for w in ORDER
          if w + ".allocs" in table.get("csp", {})}
    if al:
        lines.append("")
        lines.append("csp allocations per op while timed (a counting "
                     "allocator; W2/W3 include their two spawns): "
                     + ", ".join(f"{k} {v:.4f}" for k, v in al.items()))
    if ir:
        lines.append("")
        lines.append("Instructions per operation (callgrind, one worker): "
                     + ", ".join(f"{k} {v:.0f}" for k, v in sorted(ir.items())))
    md = "\n".join(lines) + "\n"
    print(md)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "latest.md"), "w") as f:
        f.write(md)
    with open(os.path.join(args.out, "latest.json"), "w") as f:
        json.dump({"scale": args.scale, "reps": args.reps, "runs": raw,
                   "median": table, "callgrind_ir_per_op": ir}, f, indent=1)
    png = os.path.join(args.out, "latest.png")
    chart_names = ["csp"] + c_anchors
    if chart(table, chart_names, png):
        log(f"# chart: {png}")
    log(f"# done in {time.time() - t0:.0f} s: {args.out}/latest.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
