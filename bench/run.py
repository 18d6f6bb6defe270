#!/usr/bin/env python3
"""bench/run.py - csp's workloads W1-W8 beside the anchors, side by side.

    python3 bench/run.py --csp BIN [--go BIN] [--fiber BIN] [--clojure]
                         [--asyncio PYTHON] [--python VENV_PYTHON]
                         [--lua LUA_ENV_SH] [--scale S] [--reps R]
                         [--out DIR] [--callgrind]

Runs every system R times (default 5; 3 at scale 0.5 and above),
alternating systems within each round so that machine noise spreads over
all of them, and reports the median of each figure: a table on the
terminal and in DIR/latest.md, the raw runs in DIR/latest.json, and a
log-scale chart DIR/latest.png (Debian gnuplot, when installed). csp runs
twice per round, with CSP_THREADS=1 and with the default worker count
(one per CPU), beside Go with GOMAXPROCS=1 and GOMAXPROCS=<CPUs>. The
anchor programs are the project's own, in bench/anchors/ (SPEC.md there
defines the workloads and the uniform line format, "W1 pingpong: 123.4
ns/round-trip"). At scale 0.5 and above the daisy chain (W6, 10^6 parked
processes at full scale, a minute or more per run) runs in the first
round only, so that `make bench SCALE=1` stays within 15 minutes; the
Python anchors and bindings run at a scale of at most 0.05 (--py-scale).
With --callgrind it also counts instructions per operation for W1, W2,
W4, W7 and P1 on one worker (valgrind --tool=callgrind, the difference of
two sizes, so start-up cancels out): a figure a noisy machine cannot move.

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
ANCHORS = os.path.join(HERE, "anchors")
LINE = re.compile(r"^(W\w+|P1) [^:]+: ([0-9.]+) ")

# Rows of the table: a figure key (workload, or workload.field) each.
ORDER = ["P1", "W1", "W1cb", "W2", "W3", "W4", "W5", "W6", "W6.B",
         "W6.rss", "W6.pte", "W6warm", "W6warm.B", "W6w", "W7", "W8",
         "W8.p50", "W8.p99", "W8.max"]
UNITS = {
    "P1": "ns/pair", "W1": "ns/round-trip", "W1cb": "ns/round-trip",
    "W2": "ns/msg", "W3": "ns/msg", "W4": "ns/msg", "W5": "ns/msg",
    "W6": "ns/process", "W6.B": "B/process (RSS + page tables)",
    "W6.rss": "B/process RSS", "W6.pte": "B/process page tables",
    "W6warm": "ns/process, rerun", "W6warm.B": "B/process, rerun",
    "W6w": "ns/process", "W7": "ns/hop", "W8": "ms total",
    "W8.p50": "ms lateness p50", "W8.p99": "ms lateness p99",
    "W8.max": "ms lateness max",
}
# The issue #13 targets for instructions per op (callgrind, one worker).
IR_TARGET = {"W1": 700, "W7": 350, "W4": 250}
# Anchors that take minutes a round at a large scale (JVM start-up and
# core.async's compilation, Boost.Fiber's spinning thieves): one round.
ONCE_BIG = {"boost.fiber", "core.async"}
# Systems that run in the first round only, at any scale.
ONCE = {"csp-small"}
# The workloads each system runs in every round; the daisy chain (W6,
# W6warm, Go's W6s) only in the first when the scale is large.
QUICK_LIST = {
    "csp": ["W1", "W2", "W3", "W4", "W5", "W7", "W8", "W6w", "W1cb", "P1"],
    "go": ["W1", "W2", "W3", "W4", "W5", "W7", "W8", "W6W"],
    "boost.fiber": ["W1", "W2", "W3", "W4", "W7", "W8", "W6W"],
    "core.async": ["W1", "W2", "W3", "W4", "W5", "W7", "W8", "W6W"],
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
        if key == "W6W":
            key = "W6w"
        figs[key] = float(m.group(2))
        a = re.search(r" ([0-9.]+) allocs/", line)
        if a:
            figs[key + ".allocs"] = float(a.group(1))
        b = re.search(r" ([0-9.]+) B/process", line)
        if b:
            figs[key + ".B"] = float(b.group(1))
        b = re.search(r"RSS ([0-9.]+) \+ page tables ([0-9.]+)", line)
        if b:
            figs[key + ".rss"] = float(b.group(1))
            figs[key + ".pte"] = float(b.group(2))
        for q in ("p50", "p99", "max"):
            b = re.search(q + r" ([0-9.]+) ms", line)
            if b:
                figs[key + "." + q] = float(b.group(1))
    # Go names W5 "fan-in-select"; same workload.
    return figs


def clojure_cmd(scale: float, reps: int) -> list[str] | None:
    j = "/usr/share/java"
    jars = ["clojure", "spec.alpha", "core.specs.alpha", "core.async",
            "tools.analyzer.jvm", "tools.analyzer", "tools.reader",
            "core.memoize", "core.cache", "data.priority-map", "asm"]
    paths = [os.path.join(j, x + ".jar") for x in jars]
    if not shutil.which("java") or not all(os.path.exists(p) for p in paths):
        return None
    script = os.path.join(ANCHORS, "clojure", "bench.clj")
    return ["java", "-cp", ":".join(paths), "clojure.main", script,
            str(scale), str(reps)]


def systems(args) -> list[tuple[str, list[str], dict, list[str] | None]]:
    """(name, command, environment, the quick workload list or None)."""
    s = args.scale
    ps = min(s, args.py_scale)
    ncpu = os.cpu_count() or 1
    out = [("csp1", [args.csp, str(s)], {"CSP_THREADS": "1"},
            QUICK_LIST["csp"]),
           ("csp", [args.csp, str(s)], {"CSP_THREADS": str(ncpu)},
            QUICK_LIST["csp"]),
           # W6 and W8 with the small-stack class (where csp has one),
           # once.
           ("csp-small", [args.csp, str(s), "W6", "W8"],
            {"CSP_THREADS": str(ncpu), "CSP_BENCH_SMALL": "1"}, None)]
    if args.go:
        out.append(("go1", [args.go, str(s)], {"GOMAXPROCS": "1"},
                    QUICK_LIST["go"]))
        out.append(("go", [args.go, str(s)], {"GOMAXPROCS": str(ncpu)},
                    QUICK_LIST["go"]))
    if args.fiber:
        out.append(("boost.fiber", [args.fiber, str(s), "--threads",
                                    str(ncpu)], {}, QUICK_LIST["boost.fiber"]))
    if args.clojure:
        # Each workload runs REPS times in one JVM; the warm median is
        # printed. At a large scale: one cold run and one warm.
        cmd = clojure_cmd(s, 2 if s >= 0.5 else 3)
        if cmd:
            out.append(("core.async", cmd, {}, QUICK_LIST["core.async"]))
        else:
            log("# core.async: clojure or core.async jars missing, skipped")
    if args.asyncio:
        for name in ("asyncio", "trio"):
            prog = os.path.join(ANCHORS, "python", f"bench_{name}.py")
            out.append((name, [args.asyncio, prog, str(ps)], {}, None))
    if args.python:
        py = os.path.join(HERE, "python", "bench.py")
        for name in ("csp-python", "py-asyncio", "py-trio"):
            one = {"csp-python": "csp"}.get(name, name[3:])
            out.append((name, [args.python, py, str(ps), "--one", one], {},
                        None))
    if args.lua:
        env = lua_env(args.lua)
        lua = os.path.join(HERE, "lua", "bench.lua")
        for name, one in (("csp-lua", "csp"), ("lua-coroutine", "coroutine")):
            out.append((name, ["lua5.4", lua, str(ps), "--system", one], env,
                        None))
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
    """Instructions per op for W1, W2, W4, W7 and P1 on one worker."""
    if not shutil.which("valgrind"):
        return {}
    res = {}
    sizes = {"W1": (2e-3, 4e-3), "W2": (1e-3, 2e-3), "W4": (1e-3, 2e-3),
             "W7": (1e-3, 2e-3), "P1": (5e-5, 1e-4)}
    base_n = {"W1": 1_000_000, "W2": 10_000_000, "W4": 10_000_000,
              "W7": 10_000_000, "P1": 20_000_000}
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
    rows = [w for w in ORDER if w != "W8" and "." not in w
            and any(w in table.get(n, {}) for n in names)]
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


LABEL = {"csp1": "csp T=1", "csp": "csp T={n}",
         "csp-small": "csp T={n} small stacks", "go1": "go P=1",
         "go": "go P={n}"}


def label(name: str) -> str:
    return LABEL.get(name, name).format(n=os.cpu_count() or 1)


def fmt(v, key: str = "") -> str:
    if v is None:
        return "-"
    if key.endswith((".B", ".rss", ".pte")):
        return f"{v:.0f}"
    return f"{v:.3f}" if v < 10 else f"{v:.1f}" if v < 10000 else f"{v:.0f}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--csp", required=True)
    ap.add_argument("--go")
    ap.add_argument("--fiber")
    ap.add_argument("--clojure", action="store_true")
    ap.add_argument("--asyncio", help="a python3 with trio: runs the "
                    "asyncio and trio anchors")
    ap.add_argument("--python")
    ap.add_argument("--lua")
    ap.add_argument("--scale", type=float, default=0.2)
    ap.add_argument("--py-scale", type=float, default=0.05,
                    help="the largest scale for the Python and Lua runs")
    ap.add_argument("--reps", type=int, default=0,
                    help="rounds (default: 5, or 3 at scale >= 0.5)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--callgrind", action="store_true")
    ap.add_argument("--skip", default="",
                    help="comma-separated systems not to run (QUICK=1 "
                         "skips the slow anchors)")
    ap.add_argument("--note", default="",
                    help="a line to print under the table's title")
    args = ap.parse_args()
    big = args.scale >= 0.5
    if args.reps <= 0:
        args.reps = 3 if big else 5

    skip = {x for x in args.skip.split(",") if x}
    syss = [x for x in systems(args) if x[0] not in skip]
    if skip:
        log(f"# skipped: {', '.join(sorted(skip))}")
    raw: dict[str, list[dict[str, float]]] = {n: [] for n, _, _, _ in syss}
    t0 = time.time()
    tried: set[str] = set()
    for r in range(args.reps):
        for name, cmd, env, quick in syss:
            if r > 0 and (name in ONCE or (big and name in ONCE_BIG)):
                continue
            if r > 0 and big and quick:
                cmd = cmd + quick
            log(f"# round {r + 1}/{args.reps}: {name} "
                f"({time.time() - t0:.0f} s elapsed)")
            figs = parse(run(cmd, env))
            tried.add(name)
            if figs:
                raw[name].append(figs)
            # A report after every run: a stopped run keeps one.
            report(args, raw, skip, {}, r + 1, t0, big, tried)
    ir = callgrind(args.csp) if args.callgrind else {}
    report(args, raw, skip, ir, args.reps, t0, big, tried)
    return 0


def report(args, raw, skip, ir, rounds, t0, big, tried) -> None:
    """Write the table of the runs so far (ROUNDS rounds) to args.out."""
    table = {n: {} for n in raw}
    for n, runs in raw.items():
        keys = {k for run_ in runs for k in run_}
        for k in keys:
            table[n][k] = median([run_[k] for run_ in runs if k in run_])

    names = [n for n in raw if raw[n]]
    csps = [n for n in ("csp1", "csp", "csp-small") if n in names]
    anchors = [n for n in ("go1", "go", "boost.fiber", "core.async",
                           "asyncio", "trio") if n in names]
    cols = csps + anchors
    pairs = [(c, g) for c, g in (("csp1", "go1"), ("csp", "go"),
                                 ("csp-small", "go"))
             if c in names and g in names]
    ncpu = os.cpu_count() or 1
    lines = []
    lines.append(f"# csp benchmarks: {time.strftime('%Y-%m-%d %H:%M')}")
    lines.append("")
    if args.note:
        lines.append(args.note)
        lines.append("")
    lines.append(f"Machine: {platform.machine()}, {ncpu} CPUs, "
                 f"Linux {platform.release()}; scale {args.scale}, "
                 f"median of {rounds} alternating rounds"
                 + (" (W6 and W6warm: one round; boost.fiber and "
                    "core.async: one round)" if big else "") + ".")
    lines.append(f"Compiler: {subprocess.run(['cc', '--version'], capture_output=True, text=True).stdout.splitlines()[0]}")
    lines.append(f"csp T=N: CSP_THREADS=N (csp T={ncpu} is the default, one "
                 "worker per CPU); every process asks for a 16 KiB stack, "
                 "or (small stacks: W6 and W8 only, one round) the small-stack "
                 "class, CSP_GO_SMALL_STACK.")
    if "go" in names or "go1" in names:
        gv = subprocess.run(["go", "version"], capture_output=True,
                            text=True).stdout.strip()
        lines.append(f"Go: {gv}; go P=N: GOMAXPROCS=N.")
    if "boost.fiber" in names:
        lines.append(f"Boost.Fiber: work stealing over {ncpu} threads.")
    if "asyncio" in names or "trio" in names:
        lines.append(f"asyncio and trio run at scale "
                     f"{min(args.scale, args.py_scale)} (one thread).")
    failed = [label(n) for n in raw if not raw[n] and n in tried]
    pending = [label(n) for n in raw if n not in tried]
    if failed:
        lines.append("Failed (see the run's log): " + ", ".join(failed)
                     + ".")
    if skip:
        lines.append("Skipped: " + ", ".join(sorted(skip)) + ".")
    if pending:
        lines.append("Not run yet (a partial report): "
                     + ", ".join(pending) + ".")
    lines.append("")
    hdr = ("| workload | unit | " + " | ".join(label(c) for c in cols)
           + "".join(f" | {label(c)} / {label(g)}" for c, g in pairs) + " |")
    lines.append(hdr)
    lines.append("|" + "---|" * (2 + len(cols) + len(pairs)))
    for w in ORDER:
        if not any(w in table.get(c, {}) for c in cols):
            continue
        cells = [fmt(table[c].get(w), w) for c in cols]
        ratios = []
        for c, g in pairs:
            a, b = table[c].get(w), table[g].get(w)
            ratios.append(f"{a / b:.2f}" if a and b else "-")
        lines.append(f"| {w} | {UNITS.get(w, '')} | " + " | ".join(cells)
                     + "".join(f" | {r}" for r in ratios) + " |")
    lines.append("")
    lines.append("W6: the daisy chain of SPEC.md (all processes parked at "
                 "once); B/process is the growth of peak RSS (VmHWM) plus "
                 "page tables (VmPTE) over the run; W6warm is the same chain "
                 "again in the same process. W8: lateness of each timer "
                 "past its deadline.")
    if "csp-python" in names:
        lines.append("")
        lines.append("Python (the csp package against asyncio.Queue and trio "
                     "memory channels, bench/python/bench.py, scale "
                     f"{min(args.scale, args.py_scale)}):")
        lines.append("")
        lines.append("| workload | csp-python | asyncio | trio | "
                     "csp/asyncio | csp/trio |")
        lines.append("|---|---|---|---|---|---|")
        for w in ("W1", "W2", "W6"):
            c = table["csp-python"].get(w)
            a = table.get("py-asyncio", {}).get(w)
            t = table.get("py-trio", {}).get(w)
            if not c:
                continue
            rr = lambda v: f"{c / v:.2f}" if v else "-"
            lines.append(f"| {w} | {fmt(c)} | {fmt(a)} | {fmt(t)} | "
                         f"{rr(a)} | {rr(t)} |")
    if "csp-lua" in names:
        lines.append("")
        lines.append("Lua 5.4 (the csp module against plain coroutines with "
                     "pure-Lua channels, scale "
                     f"{min(args.scale, args.py_scale)}):")
        lines.append("")
        lines.append("| workload | csp-lua | lua-coroutine | csp/coroutine |")
        lines.append("|---|---|---|---|")
        for w in ("W1", "W2", "W6"):
            c = table["csp-lua"].get(w)
            b = table.get("lua-coroutine", {}).get(w)
            if c:
                lines.append(f"| {w} | {fmt(c)} | {fmt(b)} | "
                             f"{f'{c / b:.2f}' if b else '-'} |")
    for c in csps:
        al = {w: table[c][w + ".allocs"] for w in ORDER
              if w + ".allocs" in table.get(c, {})}
        if al:
            lines.append("")
            lines.append(f"{label(c)}: allocations per op while timed (a "
                         "counting allocator; W2/W3 include their two "
                         "spawns): "
                         + ", ".join(f"{k} {v:.4f}" for k, v in al.items()))
    if ir:
        lines.append("")
        lines.append("Instructions per operation (callgrind, one worker; "
                     "issue #13 targets in brackets): "
                     + ", ".join(f"{k} {v:.0f}"
                                 + (f" (<= {IR_TARGET[k]})"
                                    if k in IR_TARGET else "")
                                 for k, v in sorted(ir.items())))
    md = "\n".join(lines) + "\n"
    print(md)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "latest.md"), "w") as f:
        f.write(md)
    with open(os.path.join(args.out, "latest.json"), "w") as f:
        json.dump({"scale": args.scale, "reps": rounds,
                   "py_scale": min(args.scale, args.py_scale),
                   "cpus": ncpu, "runs": raw, "median": table,
                   "callgrind_ir_per_op": ir,
                   "callgrind_target": IR_TARGET}, f, indent=1)
    png = os.path.join(args.out, "latest.png")
    if chart(table, cols, png):
        log(f"# chart: {png}")
    log(f"# report after {rounds} round(s), {time.time() - t0:.0f} s: "
        f"{args.out}/latest.md")


if __name__ == "__main__":
    sys.exit(main())
