#!/bin/sh
# SPDX-License-Identifier: MIT
# tools/gradcheck's command line: usage errors exit 2 with a GNU-style
# message and "Try '... --help'"; --help and --version print to stdout and
# exit 0; '--opt value', '--opt=value' and '--' work; out-of-range and
# malformed numbers are errors; a plugin named without a slash is found in
# the current directory; JSON numbers are written to round-trip.
b=$(cd "${top_builddir:-.}" && pwd)
gc="$b/tools/gradcheck"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bp_usage.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

# A usage error ends with the "Try" line (not one loading a plugin).
try=1
# expect STATUS [stdout-pattern|-] [stderr-pattern|-] -- ARGS...
expect() {
    want=$1 out_pat=$2 err_pat=$3; shift 4
    ${BP_RUN:-} "$gc" "$@" >"$tmp/out" 2>"$tmp/err" ; rc=$?
    [ "$rc" -eq "$want" ] || { echo "gradcheck $*: exit $rc, expected $want" >&2; cat "$tmp/err" >&2; exit 1; }
    if [ "$out_pat" != - ] && ! grep -q -e "$out_pat" "$tmp/out"; then
        echo "gradcheck $*: stdout lacks '$out_pat'" >&2; cat "$tmp/out" >&2; exit 1
    fi
    if [ "$err_pat" != - ] && ! grep -q -e "$err_pat" "$tmp/err"; then
        echo "gradcheck $*: stderr lacks '$err_pat'" >&2; cat "$tmp/err" >&2; exit 1
    fi
    if [ "$want" -eq 2 ] && [ "$try" -eq 1 ] && ! grep -q "^Try 'gradcheck --help' for more information.$" "$tmp/err"; then
        echo "gradcheck $*: no \"Try 'gradcheck --help'\" line" >&2; cat "$tmp/err" >&2; exit 1
    fi
}

expect 2 - "^gradcheck: unrecognized option '--bogus'$" -- --bogus
expect 2 - "^gradcheck: invalid option -- 'x'$" -- -x
expect 2 - "option '--seed' requires an argument" -- --seed
expect 2 - "^gradcheck: --seed needs an integer" -- --seed -3
expect 2 - "not ' 3'" -- --seed " 3" add
expect 2 - "not '+3'" -- --seed=+3 add
expect 2 - "not '18446744073709551616'" -- --seed 18446744073709551616 add
expect 2 - "not 'abc'" -- --atol abc
expect 2 - "not 'xml'" -- --format xml
expect 2 - "no op or graph case named 'no_such_op'" -- no_such_op
expect 2 - "name exactly one" -- --case 1
# (size_t)-1 means "every case" inside the checker: as a case number it is
# out of range, as is anything larger, a sign or a fraction
expect 2 - "not '18446744073709551615'" -- --case 18446744073709551615 add
expect 2 - "not '99999999999999999999'" -- --case 99999999999999999999 add
expect 2 - "not '-1'" -- --case=-1 add
expect 2 - "not '1.5'" -- --case 1.5 add
try=0
expect 2 - "cannot load plugin './no-such-plugin.so'" -- --plugin ./no-such-plugin.so
expect 2 - "looked up in this directory, then in the library path" -- --plugin no-such-plugin.so
try=1
# after '--' everything is a name, even what looks like an option
expect 2 - "no op or graph case named '--list'" -- -- --list

expect 0 "^Usage: gradcheck \[OPTION\]" - -- --help
[ ! -s "$tmp/err" ] || { echo "--help wrote to stderr" >&2; exit 1; }
expect 0 "^Usage: gradcheck" - -- -h
version=$(sed -n 's/^#define BP_VERSION_STRING "\(.*\)"$/\1/p' "$b/include/bpgraph/version.h")
expect 0 "^gradcheck (bpgraph) $version$" - -- --version
grep -q "License MIT" "$tmp/out" || { echo "--version names no licence" >&2; exit 1; }

expect 0 "^add .*PASS$" - -- --seed=5 add
expect 0 "^add .*PASS$" - -- --seed 5 add
expect 0 "^add .*PASS$" - -- add --seed 5
expect 0 "^add .*PASS$" - -- --seed 5 -- add
expect 0 "^add .*PASS$" - -- --case=3 --seed=2 add

# JSON numbers round-trip: 1e-6 and DBL_EPSILON with 17 significant digits
expect 0 '"atol": 9.9999999999999995e-07' - -- --format json add
grep -q '"eps": 2.2204460492503131e-16' "$tmp/out" || { echo "eps not %.17g" >&2; cat "$tmp/out" >&2; exit 1; }

# a plugin named without a slash, from the directory that holds it
plugin_dir="$b/examples/plugin/.libs"
if [ -f "$plugin_dir/libmyops.so" ]; then
    (cd "$plugin_dir" && ${BP_RUN:-} "$gc" --plugin libmyops.so softplus) >"$tmp/out" 2>&1 ||
        { echo "--plugin libmyops.so (no ./) from its directory failed" >&2; cat "$tmp/out" >&2; exit 1; }
    grep -q "^softplus .*PASS$" "$tmp/out" || { echo "softplus not checked" >&2; exit 1; }
fi
exit 0
