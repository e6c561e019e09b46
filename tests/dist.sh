#!/bin/sh
# SPDX-License-Identifier: MIT
# libbpgraph-mpi under mpirun -np 2 (--oversubscribe, so it runs on one
# core too): tests/check_dist, on 2 ranks and on 3 (the ranks train the
# same model as one process, errors reach every rank, start-up mismatch,
# bad input), then
# examples/mpi_train end to end: 1 and 2 ranks give the same model, a rank
# that cannot read its file stops both ranks within seconds with its
# message and a non-zero exit, and graphs that differ are reported; then
# tools/train-mpi against tools/train, on tests/tables and on the weather
# table: the same model (params within 1e-10 of one process's, by
# params_diff.py), one copy of the output and only rank 0's files, and
# a rank with a bad file or column stops the run with its message.
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

# ---- tools/train-mpi against tools/train ----
train1="$top/tools/train"
trainn="$top/tools/train-mpi"
tables="${top_srcdir:-.}/tests/tables"
python="${PYTHON:-python3}"

# Trains with the arguments on one process and on 2 ranks, each saving its
# params and printing --json; the params must agree within 1e-10 (the
# params are of order 1; measured: at most 3.3e-15 after 200 epochs).
same_model() {
    name=$1
    shift
    "$train1" "$@" --save "$tmp/one.bpp" --json --quiet >"$tmp/one.json" 2>/dev/null ||
        { fail "$name: tools/train exited $?"; return; }
    timeout 120 $run -np 2 "$trainn" "$@" --save "$tmp/two.bpp" --json --quiet >"$tmp/two.json" ||
        { fail "$name: 2 ranks exited $?"; return; }
    diff=$("$python" "${top_srcdir:-.}/tests/params_diff.py" "$tmp/one.bpp" "$tmp/two.bpp" 1e-10)
    rc=$?
    echo "$name: $diff"
    [ "$rc" -eq 0 ] || fail "$name: 2 ranks' params differ from one process's"
    [ "$(wc -l <"$tmp/two.json")" -eq 1 ] || fail "$name: 2 ranks printed $(wc -l <"$tmp/two.json") lines"
    [ "$(field "$(cat "$tmp/one.json")" ranks)" = 1 ] || fail "$name: one process's --json: ranks is not 1"
    [ "$(field "$(cat "$tmp/two.json")" ranks)" = 2 ] || fail "$name: --json does not report 2 ranks"
    [ -n "$(field "$(cat "$tmp/two.json")" seconds_per_epoch)" ] || fail "$name: no seconds_per_epoch"
}

# regression; batches of 50 leave 10 rows at the end of each epoch
same_model "reg.csv" --data "$tables/reg.csv" --target price --epochs 30 --batch 50
# --predict with those params: one copy of tools/train's predictions
"$train1" --data "$tables/reg.csv" --target price --load "$tmp/one.bpp" --predict "$tables/reg.csv" \
    >"$tmp/one.csv" 2>/dev/null || fail "tools/train --predict exited $?"
timeout 60 $run -np 2 "$trainn" --data "$tables/reg.csv" --target price --load "$tmp/one.bpp" \
    --predict "$tables/reg.csv" >"$tmp/two.csv" 2>/dev/null || fail "2 ranks --predict exited $?"
[ "$(wc -l <"$tmp/one.csv")" -eq 801 ] && cmp -s "$tmp/one.csv" "$tmp/two.csv" ||
    fail "--predict on 2 ranks differs from tools/train's"
# classification, and its logistic regression baseline (a second model)
same_model "cls10_text.csv" --data "$tables/cls10_text.csv" --label label --epochs 30 --patience 0
for f in test_accuracy logreg_accuracy; do
    a=$(field "$(cat "$tmp/one.json")" $f)
    b=$(field "$(cat "$tmp/two.json")" $f)
    [ -n "$a" ] && [ "$a" = "$b" ] || fail "cls10_text.csv: $f: one process '$a', 2 ranks '$b'"
done

# Only rank 0 writes files: each rank is given paths of its own.
reg="--data $tables/reg.csv --target price --epochs 2"
timeout 60 $run -np 1 "$trainn" $reg --save "$tmp/r0.bpp" --log "$tmp/r0.csv" --dot "$tmp/r0.dot" : \
    -np 1 "$trainn" $reg --save "$tmp/r1.bpp" --log "$tmp/r1.csv" --dot "$tmp/r1.dot" \
    >/dev/null 2>&1 || fail "files of their own: exit $?"
for f in r0.bpp r0.csv r0.dot; do
    [ -s "$tmp/$f" ] || fail "rank 0 did not write $f"
done
for f in r1.bpp r1.csv r1.dot; do
    [ ! -e "$tmp/$f" ] || fail "rank 1 wrote $f"
done

# Errors: rank 1 cannot read its file; then a column no rank has.  Every
# rank stops within seconds, rank 0 prints the message once, exit 1.
stops() {
    name=$1 pattern=$2
    shift 2
    start=$(date +%s)
    timeout 30 $run "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    took=$(( $(date +%s) - start ))
    echo "$name: exit $rc after ${took}s"
    [ "$rc" -eq 1 ] || fail "$name: exit $rc (124: timed out)"
    [ "$took" -le 10 ] || fail "$name: took ${took}s to stop the run"
    [ "$(grep -c "$pattern" "$tmp/err")" -eq 1 ] || { fail "$name: not one '$pattern'"; cat "$tmp/err"; }
    [ ! -s "$tmp/out" ] || fail "$name: output despite the error: $(cat "$tmp/out")"
}
stops "train-mpi, rank 1 without its file" "^train-mpi: rank 1: $tmp/missing.csv: cannot open" \
    -np 1 "$trainn" $reg : -np 1 "$trainn" --data "$tmp/missing.csv" --target price --epochs 2
stops "train-mpi, a column no rank has" "^train-mpi: $tables/reg.csv: no column named 'nope'" \
    -np 2 "$trainn" --data "$tables/reg.csv" --target nope

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

# ---- tools/train-mpi on the weather table ----
same_model "weather, regression" --data "$csv" --target tmax_tomorrow --epochs 20 --patience 0
same_model "weather, --classes 3" --data "$csv" --target tmax_tomorrow --classes 3 --epochs 20 --patience 0

[ "$failures" -eq 0 ] || exit 1
echo "dist.sh: all passed"
