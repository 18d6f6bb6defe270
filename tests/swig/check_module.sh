#!/bin/sh
# check_module.sh MODULE INIT... - a SWIG module links the shared libcsp.so.0
# and libffi (ldd) instead of carrying a copy of the core, and exports its
# init entry points INIT and nothing else: no csp_* symbol (nm -D), so
# that every binding in a process shares one csp.
set -eu
mod=$1
shift
deps=$(ldd "$mod")
for lib in libcsp.so.0 libffi.so; do
    if ! printf '%s\n' "$deps" | grep -q "$lib.* => /"; then
        echo "$mod does not link $lib:"
        printf '%s\n' "$deps"
        exit 1
    fi
done
syms=$(nm -D --defined-only "$mod" | awk 'NF >= 3 { print $3 }' | sort -u)
want=$(printf '%s\n' "$@" | sort -u)
if [ "$syms" != "$want" ]; then
    echo "$mod exports:"
    printf '  %s\n' $syms
    echo "expected only:"
    printf '  %s\n' $want
    exit 1
fi
core=$(nm --defined-only "$mod" | awk 'NF >= 3 { print $3 }' |
    grep '^csp_' | grep -v -E '^csp_(swig|ffi)_' || true)
if [ -n "$core" ]; then
    echo "$mod defines core csp_* functions (a copy of the library):"
    printf '  %s\n' $core | head
    exit 1
fi
libs=$(printf '%s\n' "$deps" | grep -o 'lib\(csp\|ffi\)[^ ]*' | sort -u)
echo "$mod: links" $libs "and exports" $syms
