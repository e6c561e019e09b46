#!/bin/sh
# tools/train on the lesson's weather table: with its defaults the network
# beats "tomorrow = today" and is within 5% of least squares (test-split
# MSE); --classes 3 beats the majority class; --save/--load, --log, --dot
# and the exit codes work.  Needs BP_WEATHER_CSV (set by make check).
set -u

train="${top_builddir:-.}/tools/train"
csv="${BP_WEATHER_CSV:-}"
if [ -z "$csv" ] || [ ! -f "$csv" ]; then
    echo "train.sh: weather table not found (BP_WEATHER_CSV='$csv')" >&2
    exit 1
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bp_train.XXXXXX") || exit 1
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

# ---- regression with the defaults ----
json=$("$train" --data "$csv" --json --save "$tmp/model.bpp" --log "$tmp/log.csv" \
       --dot "$tmp/net.dot" 2>"$tmp/progress") || fail "default run exited $?"
echo "defaults: $json"
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

# --log: a header and one line per epoch
[ "$(head -n 1 "$tmp/log.csv")" = "epoch,train_loss,valid_rmse,seconds" ] || fail "log header"
[ "$(wc -l < "$tmp/log.csv")" -eq 21 ] || fail "log has $(wc -l < "$tmp/log.csv") lines, want 21"
awk -F, 'NR > 1 && ($1 != NR - 1 || $2 <= 0 || $3 <= 0) { bad = 1 } END { exit bad }' "$tmp/log.csv" ||
    fail "log rows malformed"

# --dot: the network's forward graph; --dot-backward its gradients
grep -q '^digraph bpgraph {' "$tmp/net.dot" || fail "dot header"
grep -q 'label="W1\\nparam\\n3x16"' "$tmp/net.dot" || fail "W1 node missing from the DOT file"
"$train" --data "$csv" --epochs 1 --quiet --dot "$tmp/back.dot" --dot-backward ||
    fail "--dot-backward run"
grep -q 'd(W1) 3x16' "$tmp/back.dot" || fail "d(W1) edge missing from the backward DOT file"

# --load with no training reproduces the saved model's test error exactly
json2=$("$train" --data "$csv" --json --quiet --load "$tmp/model.bpp" --epochs 0) ||
    fail "--load run exited $?"
[ "$(field "$json2" test_mse)" = "$net" ] ||
    fail "loaded model's test MSE $(field "$json2" test_mse) differs from the saved one's $net"

# ---- classification: colder / same / warmer ----
json=$("$train" --data "$csv" --classes 3 --json --quiet) || fail "--classes 3 exited $?"
echo "classes 3: $json"
acc=$(field "$json" test_accuracy)
maj=$(field "$json" majority_accuracy)
if [ -z "$acc" ] || [ -z "$maj" ]; then
    fail "missing accuracy in: $json"
else
    holds "$acc > $maj" || fail "accuracy $acc does not beat the majority class $maj"
fi

# ---- errors and exit codes ----
"$train" --help > "$tmp/help" || fail "--help exited $?"
grep -q -- '--classes' "$tmp/help" || fail "--help does not list --classes"
"$train" --bogus 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q "unrecognized option '--bogus'" "$tmp/err" &&
    grep -q "^Try 'train --help' for more information.$" "$tmp/err" || fail "--bogus: exit $rc, $(cat "$tmp/err")"
"$train" --version > "$tmp/out"; rc=$?
[ $rc -eq 0 ] && grep -Eq '^bpgraph-train \(bpgraph\) [0-9]+\.[0-9]+\.[0-9]+$' "$tmp/out" ||
    fail "--version: exit $rc, $(cat "$tmp/out")"
"$train" --data "$csv" stray 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q "unexpected argument 'stray'" "$tmp/err" || fail "stray argument: exit $rc, $(cat "$tmp/err")"
"$train" --data "$csv" -- --json 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q "unexpected argument '--json'" "$tmp/err" || fail "after --: exit $rc, $(cat "$tmp/err")"
"$train" --data 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q "option '--data' requires an argument" "$tmp/err" || fail "--data alone: exit $rc, $(cat "$tmp/err")"
"$train" --data "$csv" --inputs tmax,,tmin 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q "empty column name" "$tmp/err" || fail "--inputs tmax,,tmin: exit $rc, $(cat "$tmp/err")"
# --opt=value is --opt value; --input adds one column
a=$("$train" --data="$csv" --epochs=2 --input=tmax --inputs=tmin,rain --json --quiet) || fail "--opt=value run"
b=$("$train" --data "$csv" --epochs 2 --json --quiet) || fail "--opt value run"
[ "${a%%\"seconds*}" = "${b%%\"seconds*}" ] || fail "--opt=value and --opt value differ: $a / $b"
"$train" --epochs ten 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] || fail "--epochs ten: exit $rc"
"$train" --data "$tmp/none.csv" 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && grep -q "$tmp/none.csv" "$tmp/err" || fail "missing data: exit $rc, $(cat "$tmp/err")"
"$train" --data "$csv" --target nosuch 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && grep -q 'nosuch' "$tmp/err" || fail "unknown column: exit $rc, $(cat "$tmp/err")"
printf 'BPPARAMS garbage' > "$tmp/bad.bpp"
"$train" --data "$csv" --load "$tmp/bad.bpp" --epochs 0 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && grep -q "$tmp/bad.bpp" "$tmp/err" || fail "bad --load: exit $rc, $(cat "$tmp/err")"
"$train" --data "$csv" --hidden 8 --load "$tmp/model.bpp" --epochs 0 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && grep -q "3x16" "$tmp/err" || fail "--load into another shape: exit $rc, $(cat "$tmp/err")"

[ $failures -eq 0 ] || exit 1
echo "train.sh: all checks passed"
