#!/bin/sh
# pack.sh [OUT_DIR] - make csp-0.1.0-1.src.rock from this checkout with
# `luarocks pack`. The source is the working tree as `git archive` sees it
# (tracked files, with uncommitted changes: `git stash create`), packed as
# csp-0.1.0.tar.gz next to a copy of the rockspec that points at it, so the
# rock builds anywhere (`luarocks install csp-0.1.0-1.src.rock`). Runs from
# any directory of the checkout; the rock lands in OUT_DIR (default: .).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(git -C "$here" rev-parse --show-toplevel)
out=$(mkdir -p "${1:-.}" && cd "${1:-.}" && pwd)
spec=csp-0.1.0-1.rockspec
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

rev=$(git -C "$top" stash create 2>/dev/null || true)
git -C "$top" archive --format=tar.gz --prefix=csp-0.1.0/ -o "$work/csp-0.1.0.tar.gz" "${rev:-HEAD}"
sed "s|url = \"file://csp-0.1.0.tar.gz\"|url = \"file://$work/csp-0.1.0.tar.gz\"|" \
    "$here/$spec" >"$work/$spec"
grep -q "file://$work/" "$work/$spec" || { echo "pack.sh: no source url to replace in $spec" >&2; exit 1; }
cd "$work"
luarocks pack "$work/$spec" >"$work/pack.log" 2>&1 || { cat "$work/pack.log" >&2; exit 1; }
mv "$work/csp-0.1.0-1.src.rock" "$out/"
echo "$out/csp-0.1.0-1.src.rock"
