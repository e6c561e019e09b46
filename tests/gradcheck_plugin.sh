#!/bin/sh
# SPDX-License-Identifier: MIT
# The example plugin passes; its deliberately wrong build fails with exit 1,
# a factor-2 diagnosis and a replay line that reproduces the failure.
b="${top_builddir:-.}"
gc="$b/tools/gradcheck"
good="$b/examples/plugin/.libs/libmyops.so"
bad="$b/examples/plugin/.libs/libmyops_wrong.so"

out=$(${BP_RUN:-} "$gc" --plugin "$good" softplus) ; rc=$?
printf '%s\n' "$out"
[ "$rc" -eq 0 ] || { echo "good plugin: exit $rc, expected 0" >&2; exit 1; }
printf '%s\n' "$out" | grep -q "^softplus .*PASS$" || { echo "softplus not checked" >&2; exit 1; }
list=$(${BP_RUN:-} "$gc" --plugin "$good" --list) || { echo "--list with the plugin exited $?" >&2; exit 1; }
printf '%s\n' "$list" | grep -qx softplus || { echo "--list misses softplus" >&2; exit 1; }

out=$(${BP_RUN:-} "$gc" --plugin "$bad" --no-graph) ; rc=$?
printf '%s\n' "$out"
[ "$rc" -eq 1 ] || { echo "wrong plugin: exit $rc, expected 1" >&2; exit 1; }
printf '%s\n' "$out" | grep -q "^softplus .*FAIL$" || { echo "softplus not FAIL" >&2; exit 1; }
printf '%s\n' "$out" | grep -q "constant factor (analytic ≈ 2 × numeric)" ||
    { echo "no factor-2 diagnosis" >&2; exit 1; }
replay=$(printf '%s\n' "$out" | sed -n 's/^ *replay: //p' | head -n 1)
[ -n "$replay" ] || { echo "no replay line" >&2; exit 1; }
echo "replaying: $replay"
$replay ; rc=$?
[ "$rc" -eq 1 ] || { echo "replay: exit $rc, expected 1" >&2; exit 1; }
exit 0
