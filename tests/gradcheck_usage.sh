#!/bin/sh
# SPDX-License-Identifier: MIT
# Usage errors exit 2; --help exits 0.
gc="${top_builddir:-.}/tools/gradcheck"
expect() {
    want=$1; shift
    ${BP_RUN:-} "$gc" "$@" >/dev/null 2>&1 ; rc=$?
    [ "$rc" -eq "$want" ] || { echo "gradcheck $*: exit $rc, expected $want" >&2; exit 1; }
}
expect 2 --bogus
expect 2 --seed
expect 2 --seed -3
expect 2 --atol abc
expect 2 --format xml
expect 2 no_such_op
expect 2 --case 1
expect 2 --plugin ./no-such-plugin.so
expect 0 --help
expect 0 --seed=5 add
exit 0
