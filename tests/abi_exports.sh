#!/bin/sh
# abi_exports.sh LIB - fail unless every symbol LIB exports is public API:
# csp_ followed by a letter or digit. Internal csp__ names, helpers and
# symbols pulled in from static dependencies must stay hidden
# (-fvisibility=hidden; see docs/abi.md).
set -eu
lib=$1
syms=$(nm -D --defined-only "$lib" | awk 'NF >= 3 { print $3 }' | sort -u)
count=$(printf '%s\n' "$syms" | grep -c '^csp_[a-z0-9]' || true)
bad=$(printf '%s\n' "$syms" | grep -v '^csp_[a-z0-9]' | grep -v '^$' || true)
if [ -n "$bad" ]; then
    echo "$lib exports symbols outside the csp_ API:"
    printf '  %s\n' $bad
    exit 1
fi
if ! printf '%s\n' "$syms" | grep -qx csp_version; then
    echo "$lib does not export csp_version: is it the csp library?"
    exit 1
fi
echo "$lib: $count exported symbols, all csp_*"
