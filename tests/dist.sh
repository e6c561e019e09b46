#!/bin/sh
# SPDX-License-Identifier: MIT
# libbpgraph-mpi under mpirun -np 2 (--oversubscribe, so it runs on one
# core too): tests/check_dist, on 2 ranks and on 3 (the ranks train the
# same model as one process, errors reach every rank, start-up mismatch,
# bad input), then
# examples/mpi_train end to end: 1 and 2 ranks give the same model, a rank
# that cannot read its file stops both ranks within seconds with its
# message and a non-zero exit, and graphs that differ are reported.
# Every mpirun is bounded by timeout, so a hang fails instead of waiting.
# Skipped (77) without mpirun; without the weather table (BP_WEATHER_CSV,
# set by make check) only check_dist runs, then 77.
set -u

top="${top_builddir:-.}"
mpirun="${MPIRUN:-mpirun}"
csv="${BP_WEATHER_CSV:-}"
if ! command -v "$mpirun" >/dev/null 2>&1; then
    echo "dist.sh: $mpirun not found: skipped" >&2
    exit 77
fi
run="$mpirun --oversubscribe"
[ "$(id -u)" -eq 0 ] && run="$run --allow-run-as-root"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bp_dist.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
failures=0

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# The value of a numeric field in a one-line JSON object.
field() {
    printf '%s\n' "$1" | sed -n "s/.*\"$2\": \\([-0-9.eE+]*\\).*/\\1/p"
}

# ---- the Check program: on 2 ranks, and on 3 (shares of 6 + 7 + 7 rows,
# two ranks empty in a batch of one row) ----
for np in 2 3; do
    timeout 120 $run -np $np "$top/tests/check_dist" || fail "check_dist on $np ranks exited $?"
done

# The example reads the weather table, which is not redistributed: without
# it, the checks above still count, and a pass is a skip.
if [ -z "$csv" ] || [ ! -f "$csv" ]; then
    echo "dist.sh: SKIP: the weather table is not at '$csv'; give it with ./configure --with-weather-csv=FILE (data/README.md)" >&2
    [ "$failures" -eq 0 ] || exit 1
    exit 77
fi

# ---- the example, 1 rank and 2: the same model ----
train="$top/examples/mpi_train"
one=$(timeout 120 $run -np 1 "$train" --data "$csv" --epochs 2 --json) || fail "1 rank exited $?"
two=$(timeout 120 $run -np 2 "$train" --data "$csv" --epochs 2 --json) || fail "2 ranks exited $?"
echo "1 rank:  $one"
echo "2 ranks: $two"
[ "$(field "$two" ranks)" = 2 ] || fail "--json does not report 2 ranks"
[ -n "$(field "$two" seconds_per_epoch)" ] || fail "--json has no seconds_per_epoch"
# printed to 6 decimals: equal to summation-order rounding
for f in train_mse test_mse; do
    a=$(field "$one" $f)
    b=$(field "$two" $f)
    [ -n "$a" ] && [ "$a" = "$b" ] || fail "$f: 1 rank '$a', 2 ranks '$b'"
done

# ---- rank 1 cannot read its file: both ranks stop, with its message ----
start=$(date +%s)
timeout 30 $run -np 1 "$train" --data "$csv" : -np 1 "$train" --data "$tmp/missing.csv" \
    >"$tmp/out" 2>"$tmp/err"
rc=$?
took=$(( $(date +%s) - start ))
echo "a rank without its file: exit $rc after ${took}s"
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "a failing rank: exit $rc (124: timed out)"
[ "$took" -le 10 ] || fail "a failing rank took ${took}s to stop the run"
grep -q "^mpi_train: rank 1: .*missing.csv" "$tmp/err" || { fail "no message from rank 1"; cat "$tmp/err"; }
[ ! -s "$tmp/out" ] || fail "output despite the error: $(cat "$tmp/out")"

# ---- graphs that differ ----
timeout 30 $run -np 1 "$train" --data "$csv" --hidden 8 : -np 1 "$train" --data "$csv" --hidden 16 \
    >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "mismatched graphs: exit $rc"
grep -q "^mpi_train: rank 1: graph differs from rank 0's: param 0 'W1' is 3x16 here, 3x8 on rank 0" \
    "$tmp/err" || { fail "mismatch not reported"; cat "$tmp/err"; }

[ "$failures" -eq 0 ] || exit 1
echo "dist.sh: all passed"
