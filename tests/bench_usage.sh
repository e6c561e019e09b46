#!/bin/sh
# SPDX-License-Identifier: MIT
# tools/bench's command line (without running the benchmark): --help and
# --version to stdout with exit 0; usage errors exit 2 with a GNU-style
# message and "Try 'bench --help'"; a weather table that is named (by
# --data or BP_WEATHER_CSV) but missing is an error, never a silent switch
# to synthetic data; --json numbers round-trip.
b=$(cd "${top_builddir:-.}" && pwd)
bench="$b/tools/bench"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bp_bench.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
unset BP_WEATHER_CSV   # make check sets it; here each call says what it means

# expect STATUS PATTERN (on stdout for 0, stderr otherwise) ARGS...
expect() {
    want=$1 pat=$2; shift 2
    "$bench" "$@" >"$tmp/out" 2>"$tmp/err" ; rc=$?
    [ "$rc" -eq "$want" ] || { echo "bench $*: exit $rc, expected $want" >&2; cat "$tmp/err" >&2; exit 1; }
    where=$tmp/err; [ "$want" -eq 0 ] && where=$tmp/out
    grep -q -e "$pat" "$where" || { echo "bench $*: no '$pat'" >&2; cat "$where" >&2; exit 1; }
    if [ "$want" -eq 2 ] && [ "$try" -eq 1 ] && ! grep -q "^Try 'bench --help' for more information.$" "$tmp/err"; then
        echo "bench $*: no \"Try 'bench --help'\" line" >&2; exit 1
    fi
}
try=1   # usage errors end with "Try ..."; file errors do not

expect 0 "^Usage: bench \[OPTION\]" --help
[ ! -s "$tmp/err" ] || { echo "--help wrote to stderr" >&2; exit 1; }
version=$(sed -n 's/^#define BP_VERSION_STRING "\(.*\)"$/\1/p' "$b/include/bpgraph/version.h")
expect 0 "^bench (bpgraph) $version$" --version

try=0
expect 2 "^bench: cannot read the weather table '/nonexistent/w.csv'" --data /nonexistent/w.csv --quick
expect 2 "^bench: cannot read the weather table '/nonexistent/w.csv'" --quick --data=/nonexistent/w.csv
export BP_WEATHER_CSV=/nonexistent/env.csv
expect 2 "cannot read the weather table '/nonexistent/env.csv'" --quick
unset BP_WEATHER_CSV
[ ! -s "$tmp/out" ] || { echo "bench ran with a missing table" >&2; cat "$tmp/out" >&2; exit 1; }
expect 2 "^bench: cannot write '$tmp/no/such/dir/out.json'" --json "$tmp/no/such/dir/out.json"
try=1
expect 2 "^bench: unrecognized option '--bogus'" --bogus
expect 2 "^bench: option '--data' requires an argument" --data
expect 2 "^bench: unexpected argument 'weather'" weather
expect 2 "not 'nope'" --only nope

# --json: one object of numbers written to round-trip (%.17g: a timing in
# microseconds has about 17 significant digits, where %.6g kept 6); the
# softmax comparison alone takes well under a second.
"$bench" --quick --only softmax --json "$tmp/out.json" >"$tmp/out" 2>&1 ||
    { echo "bench --only softmax --json failed" >&2; cat "$tmp/out" >&2; exit 1; }
awk 'NR == 1 { ok = $0 == "{" ; next }
     /^}$/ { closed = 1; next }
     !/^  "[a-z_0-9]+": (null|-?[0-9][0-9.]*(e[-+][0-9]+)?),?$/ { ok = 0 }
     { v = $2; sub(/,$/, "", v); gsub(/[^0-9]/, "", v); sub(/^0+/, "", v); if (length(v) >= 12) long++ }
     END { exit !(ok && closed && NR == 4 && long >= 1) }' "$tmp/out.json" ||
    { echo "bench --json wrote:" >&2; cat "$tmp/out.json" >&2; exit 1; }

# The RNN step allocates nothing once its graph has run (the bench's
# counting allocator).
"$bench" --quick --only rnn --json "$tmp/rnn.json" >"$tmp/out" 2>&1 ||
    { echo "bench --only rnn failed" >&2; cat "$tmp/out" >&2; exit 1; }
grep -q '^  "rnn_allocs_per_step": 0$' "$tmp/rnn.json" ||
    { echo "bench --only rnn: allocations per step:" >&2; cat "$tmp/rnn.json" >&2; exit 1; }
exit 0
