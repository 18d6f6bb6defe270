#!/bin/sh
# binding_exports.sh MODULE... - fail unless each binding module exports
# its entry points only (PyInit_*, luaopen_*, a SWIG *_Init): the core is
# in libcsp.so.0, which every binding links, so no module may carry or
# export a csp_* symbol of its own (issue 14: one runtime per process).
set -eu
status=0
for mod in "$@"; do
    syms=$(nm -D --defined-only "$mod" | awk 'NF >= 3 { print $3 }' | sort -u)
    bad=$(printf '%s\n' "$syms" |
        grep -Ev '^(PyInit_[A-Za-z0-9_]+|luaopen_[A-Za-z0-9_]+|[A-Z][a-z]+_Init|[A-Z][a-z]+_SafeInit)$' |
        grep -v '^$' || true)
    if [ -n "$bad" ]; then
        echo "$mod exports more than its entry points:"
        printf '  %s\n' $bad
        status=1
        continue
    fi
    if ! nm -D --undefined-only "$mod" | grep -q ' csp_version$'; then
        echo "$mod does not call into libcsp (csp_version): is the core compiled in?"
        status=1
        continue
    fi
    echo "$mod: exports $(printf '%s\n' "$syms" | tr '\n' ' ')"
done
exit $status
