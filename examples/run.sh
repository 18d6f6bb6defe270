#!/usr/bin/env bash
# examples/run.sh - run every example (examples/c, python, lua, embed, tcl,
# perl), each REPEAT times in a row and each run under `timeout`, stopping
# at the first run that fails or times out with the example's name and the
# run's
# number. `make demo` runs each once with its output shown; `make
# demo-repeat` runs each DEMO_REPEAT times, showing a failing run's output
# only, so that a race in an example fails CI instead of a reader's demo.
#
#   examples/run.sh [-n REPEAT] [-t SECONDS] [-q] BUILD_DIR PYTHON
#
#   -n REPEAT   runs of each example (1)
#   -t SECONDS  limit per run (60); a run over it is killed and fails
#   -q          quiet: one line per example instead of its output
#
# Tcl examples need BUILD_DIR/swig/cspswig.so, Perl ones
# BUILD_DIR/swig/perl/cspswig.pm (the SWIG modules); each is skipped
# without it, saying so. The last line starts with "demo:" or
# "demo-repeat:" (with -q) and says what passed or what failed.
set -uo pipefail

repeat=1 limit=60 quiet=0
while getopts "n:t:q" opt; do
    case $opt in
    n) repeat=$OPTARG ;;
    t) limit=$OPTARG ;;
    q) quiet=1 ;;
    *) exit 2 ;;
    esac
done
shift $((OPTIND - 1))
if [ $# -ne 2 ]; then
    echo "usage: $0 [-n REPEAT] [-t SECONDS] [-q] BUILD_DIR PYTHON" >&2
    exit 2
fi
cd "$(dirname "$0")/.." || exit 2
build=$(cd "$1" && pwd) || exit 2
py=$2
tag=demo
[ "$quiet" = 1 ] && tag=demo-repeat

export CSP_BUILD_DIR="$build"
# shellcheck source=/dev/null
. "$build/lua-env.sh" || exit 2

out=$(mktemp)
trap 'rm -f "$out"' EXIT
start=$SECONDS
count=0

# run LABEL SRC CMD...: run CMD REPEAT times; exit at the first failure.
run() {
    local label=$1 src=$2 t0=$SECONDS i rc
    shift 2
    [ "$quiet" = 1 ] || printf '\n=== %s: %s\n' "$label" "$src"
    for ((i = 1; i <= repeat; i++)); do
        if [ "$quiet" = 1 ]; then
            timeout -k 5 "$limit" "$@" >"$out" 2>&1
        else
            timeout -k 5 "$limit" "$@"
        fi
        rc=$?
        if [ "$rc" != 0 ]; then
            if [ "$quiet" = 1 ]; then
                echo "--- output of the failing run of $src:"
                cat "$out"
                echo "---"
            fi
            if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
                rc="$rc: killed after $limit s"
            fi
            echo "$tag: FAILED $src on run $i of $repeat (exit $rc)"
            exit 1
        fi
    done
    count=$((count + 1))
    if [ "$quiet" = 1 ]; then
        printf '  %-32s %d runs, %d s\n' "$src" "$repeat" $((SECONDS - t0))
    fi
}

for src in examples/c/*.c; do
    [ -e "$src" ] || continue
    run C "$src" "$build/examples/c/$(basename "$src" .c)"
done
for src in examples/python/*.py; do
    [ -e "$src" ] || continue
    run Python "$src" "$py" "$src"
done
for src in examples/lua/*.lua; do
    [ -e "$src" ] || continue
    run Lua "$src" lua5.4 "$src"
done
# examples/embed: a C host embedding Lua 5.4 and CPython on one libcsp;
# Python finds the venv's csp on PYTHONPATH, Lua csp on LUA_PATH/CPATH.
for src in examples/embed/*.c; do
    [ -e "$src" ] || continue
    if [ ! -x "$build/examples/embed/embed" ]; then
        echo "  $src skipped: not built (needs libpython3-dev, liblua5.4-dev)"
        continue
    fi
    site=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    run "Embed (C + Lua + Python)" "$src" \
        env PYTHONPATH="$site" "$build/examples/embed/embed"
done
for src in examples/tcl/*.tcl; do
    [ -e "$src" ] || continue
    if [ ! -e "$build/swig/cspswig.so" ]; then
        echo "  $src skipped: no $build/swig/cspswig.so"
        continue
    fi
    run "Tcl (SWIG)" "$src" tclsh "$src" "$build/swig/cspswig.so"
done
for src in examples/perl/*.pl; do
    [ -e "$src" ] || continue
    if [ ! -e "$build/swig/perl/cspswig.pm" ]; then
        echo "  $src skipped: no $build/swig/perl/cspswig.pm"
        continue
    fi
    run "Perl (SWIG)" "$src" perl -I "$build/swig/perl" "$src"
done
[ "$quiet" = 1 ] || echo
echo "$tag: $count examples passed, $repeat run(s) each, in $((SECONDS - start)) s"
