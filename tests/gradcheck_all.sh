#!/bin/sh
# SPDX-License-Identifier: MIT
# tools/gradcheck with no arguments: every registered op and the graph
# cases must pass (exit 0), and --list must name every op it checks.
gc="${top_builddir:-.}/tools/gradcheck"
out=$(${BP_RUN:-} "$gc") ; rc=$?
printf '%s\n' "$out"
[ "$rc" -eq 0 ] || { echo "gradcheck exited $rc, expected 0" >&2; exit 1; }
list=$(${BP_RUN:-} "$gc" --list) || { echo "--list exited $?" >&2; exit 1; }
[ -n "$list" ] || { echo "--list printed nothing" >&2; exit 1; }
for name in $list; do
    printf '%s\n' "$out" | grep -q "^$name .*PASS$" || { echo "no PASS row for $name" >&2; exit 1; }
done
json=$(${BP_RUN:-} "$gc" --format json) || { echo "--format json exited $?" >&2; exit 1; }
printf '%s\n' "$json" | grep -q '"result": "PASS"}}' || { echo "json summary not PASS" >&2; exit 1; }
exit 0
