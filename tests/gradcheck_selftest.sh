#!/bin/sh
# SPDX-License-Identifier: MIT
# --self-test: every injected fault caught, the fault-free wrapper passes,
# no false failure over 50 seeds.
gc="${top_builddir:-.}/tools/gradcheck"
out=$(${BP_RUN:-} "$gc" --self-test) ; rc=$?
printf '%s\n' "$out"
[ "$rc" -eq 0 ] || { echo "gradcheck --self-test exited $rc, expected 0" >&2; exit 1; }
printf '%s\n' "$out" | grep -q "MISSED" && { echo "a fault was missed" >&2; exit 1; }
printf '%s\n' "$out" | grep -Eq "caught ([0-9]+)/\1 injected faults.* 0 false failures" ||
    { echo "summary does not say all caught, 0 false failures" >&2; exit 1; }
exit 0
