#!/bin/sh
# SPDX-License-Identifier: MIT
# tools/train on the lesson's weather table (BP_WEATHER_CSV, set by make
# check; the test is skipped, exit 77, when it is absent, as it is from a
# release tarball): the README's run, --log, --dot, --save/--load and the
# colder / same / warmer classes.
set -u

train="${top_builddir:-.}/tools/train"
csv="${BP_WEATHER_CSV:-}"
if [ -z "$csv" ] || [ ! -f "$csv" ]; then
    echo "train_weather.sh: SKIP: weather table not found (BP_WEATHER_CSV='$csv')" >&2
    exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bp_train_weather.XXXXXX") || exit 1
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

# awk evaluates a comparison of numbers; exit 0 when true.
holds() {
    awk "BEGIN { exit !($1) }"
}

# The README's run: in file order, 20 epochs; the network beats "tomorrow =
# today" and is within 5% of least squares (test-split MSE).
weather="--data $csv --target tmax_tomorrow --ordered --epochs 20"
# shellcheck disable=SC2086
json=$("$train" $weather --json --save "$tmp/model.bpp" --log "$tmp/log.csv" \
       --dot "$tmp/net.dot" 2>"$tmp/progress") || fail "weather run exited $?"
echo "weather: $json"
net=$(field "$json" test_mse)
ls=$(field "$json" lstsq_mse)
today=$(field "$json" today_mse)
if [ -z "$net" ] || [ -z "$ls" ] || [ -z "$today" ]; then
    fail "missing metrics in: $json"
else
    holds "$net < $today" || fail "network MSE $net does not beat tomorrow=today $today"
    holds "$net <= 1.05 * $ls" || fail "network MSE $net is not within 5% of least squares $ls"
    holds "$ls < $today" || fail "least squares $ls does not beat tomorrow=today $today"
fi
grep -q '^epoch  20 ' "$tmp/progress" || fail "no progress line for epoch 20 on stderr"
grep -q "note: not numeric, so not inputs: ''" "$tmp/progress" || fail "no note on the date column"
grep -q '3 inputs -> tmax_tomorrow' "$tmp/progress" || fail "inputs are not tmax, tmin, rain"

# --log: a header and one line per epoch
[ "$(head -n 1 "$tmp/log.csv")" = "epoch,train_loss,valid_rmse,seconds" ] || fail "log header"
[ "$(wc -l < "$tmp/log.csv")" -eq 21 ] || fail "log has $(wc -l < "$tmp/log.csv") lines, want 21"
awk -F, 'NR > 1 && ($1 != NR - 1 || $2 <= 0 || $3 <= 0) { bad = 1 } END { exit bad }' "$tmp/log.csv" ||
    fail "log rows malformed"

# --dot: the network's forward graph; --dot-backward its gradients
grep -q '^digraph bpgraph {' "$tmp/net.dot" || fail "dot header"
grep -q 'label="W1\\nparam\\n3x16"' "$tmp/net.dot" || fail "W1 node missing from the DOT file"
# shellcheck disable=SC2086
"$train" $weather --epochs 1 --quiet --dot "$tmp/back.dot" --dot-backward ||
    fail "--dot-backward run"
grep -q 'd(W1) 3x16' "$tmp/back.dot" || fail "d(W1) edge missing from the backward DOT file"

# --load with no training reproduces the saved model's test error exactly
# shellcheck disable=SC2086
json2=$("$train" $weather --json --quiet --load "$tmp/model.bpp" --epochs 0) ||
    fail "--load run exited $?"
[ "$(field "$json2" test_mse)" = "$net" ] ||
    fail "loaded model's test MSE $(field "$json2" test_mse) differs from the saved one's $net"
printf 'BPPARAMS garbage' > "$tmp/bad.bpp"
# shellcheck disable=SC2086
"$train" $weather --load "$tmp/bad.bpp" --epochs 0 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && grep -q "$tmp/bad.bpp" "$tmp/err" || fail "bad --load: exit $rc, $(cat "$tmp/err")"
# shellcheck disable=SC2086
"$train" $weather --hidden 8 --load "$tmp/model.bpp" --epochs 0 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && grep -q "3x16" "$tmp/err" || fail "--load into another shape: exit $rc, $(cat "$tmp/err")"

# colder / same / warmer: the weather wording, and the change's baselines
# shellcheck disable=SC2086
"$train" $weather --classes 3 --patience 0 > "$tmp/out" 2>&1 || fail "--classes 3 exited $?"
grep -q 'accuracy of 3 classes (colder / same / warmer)' "$tmp/out" || fail "--classes 3 wording"
acc=$(sed -n 's/^  network  *//p' "$tmp/out")
maj=$(sed -n 's/^  majority class  *\([0-9.]*\).*/\1/p' "$tmp/out")
grep -q '^  no change ' "$tmp/out" || fail "--classes 3: no 'no change' baseline"
holds "$acc > $maj" || fail "accuracy $acc does not beat the majority class $maj"

[ $failures -eq 0 ] || exit 1
echo "train_weather.sh: all checks passed"
