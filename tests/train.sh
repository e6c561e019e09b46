#!/bin/sh
# SPDX-License-Identifier: MIT
# tools/train on tables it was never tuned on (tests/tables, made by
# make_tables.py with figures computed there by numpy alone; the weather
# table's runs are train_weather.sh's):
#  - classification by --label (2, 4 and 10 classes, integer and text
#    labels, a file sorted by label): the default run's accuracy is close to
#    numpy's multinomial logistic regression, and so is the tool's own
#    logistic-regression baseline, on the same split with --ordered;
#  - regression by --target: the network's MSE is close to least squares'
#    on the same split, whose MSE and rank under --ordered are numpy's;
#  - defaults, notes and errors: numeric inputs chosen, constant columns
#    dropped, rank-deficient least squares, "n/a" ratios, early stopping
#    keeping the best epoch, --predict, the command line.
set -u

train="${top_builddir:-.}/tools/train"
tables="${top_srcdir:-.}/tests/tables"
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

# A figure from expected.txt: table, name, then the n-th value.
expected() {
    awk -v t="$1" -v k="$2" -v n="${3:-1}" '$1 == t && $2 == k { print $(2 + n) }' \
        "$tables/expected.txt"
}

# awk evaluates a comparison of numbers; exit 0 when true.
holds() {
    awk "BEGIN { exit !($1) }"
}

# ---- classification by a label column ----
# The default run (only --data and --label) against numpy's logistic
# regression over 20 random splits: at most max(0.05, 2 sd) below its mean.
for spec in cls2.csv:2 cls10_text.csv:10 cls4_sorted.csv:4; do
    t=${spec%%:*}
    k=${spec##*:}
    json=$("$train" --data "$tables/$t" --label label --json 2>"$tmp/err") ||
        fail "$t: default run exited $?: $(cat "$tmp/err")"
    echo "$t: $json"
    acc=$(field "$json" test_accuracy)
    lr=$(field "$json" logreg_accuracy)
    maj=$(field "$json" majority_accuracy)
    mean=$(expected "$t" shuffled_logreg_acc 1)
    sd=$(expected "$t" shuffled_logreg_acc 2)
    if [ -z "$acc" ] || [ -z "$lr" ] || [ -z "$maj" ] || [ -z "$mean" ]; then
        fail "$t: missing figures"
        continue
    fi
    tol=$(awk "BEGIN { print (2 * $sd > 0.05 ? 2 * $sd : 0.05) }")
    holds "$acc >= $mean - $tol" || fail "$t: accuracy $acc, numpy's logistic regression $mean (sd $sd)"
    holds "$lr >= $mean - $tol" || fail "$t: logistic-regression baseline $lr, numpy's $mean (sd $sd)"
    holds "$acc >= $lr - 0.05" || fail "$t: accuracy $acc below the logistic-regression baseline $lr"
    holds "$acc - $maj > 0.5 * (1 - $maj)" || fail "$t: accuracy $acc hardly beats the majority class $maj"
    [ "$(field "$json" classes)" = "$k" ] || fail "$t: $(field "$json" classes) classes, want $k"
    # stratified: every class has test rows, so every recall is a number
    printf '%s\n' "$json" | grep -q '"recall": \[[^]]*null' && fail "$t: a class has no test row"
    grep -q 'stopped after epoch' "$tmp/err" || fail "$t: no early stop in 200 epochs"
    # the confusion matrix holds every test row; its diagonal gives the
    # accuracy, its rows the recalls and its columns the precisions
    printf '%s\n' "$json" | awk -v acc="$acc" -v n="$(field "$json" test_rows)" '
        function list(name,   s) { s = $0; sub(".*\"" name "\": \\[", "", s); sub("\\].*", "", s); return s }
        { k = split(list("recall"), rec, ", "); split(list("precision"), pre, ", ")
          c = $0; sub(/.*"confusion": \[/, "", c); sub(/\]\].*/, "", c); gsub(/[][]/, "", c)
          split(c, m, ", ")
          for (i = 1; i <= k; i++) for (j = 1; j <= k; j++) {
              v = m[(i - 1) * k + j]; total += v; row[i] += v; col[j] += v; if (i == j) diag[i] = v }
          for (i = 1; i <= k; i++) {
              tr += diag[i]
              if (row[i] && (rec[i] - diag[i] / row[i]) ^ 2 > 1e-24) bad = "recall " i
              if (col[i] && (pre[i] - diag[i] / col[i]) ^ 2 > 1e-24) bad = "precision " i
              if (!col[i] && pre[i] != "null") bad = "precision " i " of a class never predicted" }
          if (total != n) bad = "total " total " of " n
          if ((tr / total - acc) ^ 2 > 1e-24) bad = "accuracy" }
        END { if (bad) { print bad; exit 1 } }' > "$tmp/bad" || fail "$t: confusion matrix: $(cat "$tmp/bad")"
done

# the same split for both (--ordered on the shuffled files): the tool's
# logistic regression within 0.035 of numpy's (early stopping vs L2 1e-4)
for t in cls2.csv cls10_text.csv; do
    json=$("$train" --data "$tables/$t" --label label --ordered --json --quiet) ||
        fail "$t --ordered exited $?"
    lr=$(field "$json" logreg_accuracy)
    want=$(expected "$t" ordered_logreg_acc)
    holds "$lr >= $want - 0.035 && $lr <= $want + 0.035" ||
        fail "$t --ordered: logistic regression $lr, numpy's $want"
done

# text labels, one with a comma; a text column left out of the inputs
"$train" --data "$tables/cls10_text.csv" --label label --epochs 3 > "$tmp/out" 2>"$tmp/err" ||
    fail "cls10_text: exit $?"
grep -q "note: not numeric, so not inputs: 'id'" "$tmp/err" || fail "cls10_text: no note on 'id'"
grep -q '8 inputs -> label (10 classes)' "$tmp/out" || fail "cls10_text: not 8 inputs: $(head -1 "$tmp/out")"
grep -q '^  juliett, the last  ' "$tmp/out" || fail "cls10_text: no per-class line for 'juliett, the last'"
grep -q '^confusion matrix' "$tmp/out" || fail "cls10_text: no confusion matrix"
grep -q '^  10 juliett, the last ' "$tmp/out" || fail "cls10_text: no confusion row 10"
grep -q -e tomorrow -e colder "$tmp/out" && fail "cls10_text: weather wording"

# a file sorted by label, with a constant column
"$train" --data "$tables/cls4_sorted.csv" --label label --epochs 3 --json 2>"$tmp/err" > "$tmp/out" ||
    fail "cls4_sorted: exit $?"
grep -q "note: column 'const' is constant on the training split (3.25): dropped" "$tmp/err" ||
    fail "cls4_sorted: no note on the constant column"
[ "$(field "$(cat "$tmp/out")" inputs)" = 5 ] || fail "cls4_sorted: inputs $(cat "$tmp/out")"
"$train" --data "$tables/cls4_sorted.csv" --label label --ordered --epochs 3 2>"$tmp/err" >/dev/null ||
    fail "cls4_sorted --ordered: exit $?"
grep -q "note: the test split has no row of class '1' (is the file sorted?" "$tmp/err" ||
    fail "cls4_sorted --ordered: no note on the missing classes: $(cat "$tmp/err")"

# ---- regression on a numeric target ----
json=$("$train" --data "$tables/reg.csv" --target price --json --quiet) || fail "reg: exit $?"
echo "reg.csv: $json"
net=$(field "$json" test_mse)
ls=$(field "$json" lstsq_mse)
# The network pays for its 113 params against least squares' 6 on a linear
# table of 560 training rows: 1.06-1.34 times its MSE over seeds 1-3.
holds "$net <= 1.5 * $ls" || fail "reg: network MSE $net, least squares $ls"
printf '%s\n' "$json" | grep -q -e today -e tomorrow && fail "reg: weather figures in $json"
for t in reg.csv:price reg_dependent.csv:y; do
    f=${t%%:*}
    json=$("$train" --data "$tables/$f" --target "${t##*:}" --ordered --json 2>"$tmp/err") ||
        fail "$f --ordered: exit $?"
    ls=$(field "$json" lstsq_mse)
    want=$(expected "$f" ordered_lstsq_mse 1)
    holds "$ls >= $want * (1 - 1e-6) && $ls <= $want * (1 + 1e-6)" ||
        fail "$f --ordered: least squares MSE $ls, numpy's $want"
    [ "$(field "$json" lstsq_rank)" = "$(expected "$f" ordered_lstsq_mse 2)" ] &&
        [ "$(field "$json" lstsq_cols)" = "$(expected "$f" ordered_lstsq_mse 3)" ] ||
        fail "$f: rank $(field "$json" lstsq_rank) of $(field "$json" lstsq_cols)"
done
# dependent columns: least squares reports its rank and does not abort
"$train" --data "$tables/reg_dependent.csv" --target y --epochs 2 > "$tmp/out" 2>"$tmp/err" ||
    fail "reg_dependent: exit $?"
grep -q 'numerical rank 4 of 6 columns' "$tmp/out" || fail "reg_dependent: no rank line"
grep -q "column 'k0' is constant" "$tmp/err" || fail "reg_dependent: no note on k0"
# 7 rows and a constant target: no meaningless ratio
json=$("$train" --data "$tables/tiny.csv" --target flat --json 2>/dev/null) || fail "tiny: exit $?"
printf '%s\n' "$json" | grep -q '"mse_ratio": null' || fail "tiny: ratio in $json"
"$train" --data "$tables/tiny.csv" --target flat 2>/dev/null | grep -q 'least squares = n/a' ||
    fail "tiny: the ratio is not n/a"

# ---- early stopping keeps the best epoch ----
json=$("$train" --data "$tables/reg.csv" --target price --patience 3 --log "$tmp/log.csv" --json \
       --quiet) || fail "--patience 3: exit $?"
epochs=$(field "$json" epochs)
best=$(field "$json" best_epoch)
holds "$epochs == $best + 3 && $epochs < 200" || fail "--patience 3: $epochs epochs, best $best"
# the kept params' validation RMSE is the best epoch's, not the last's
[ "$(awk -F, -v e="$best" '$1 == e { print $3 }' "$tmp/log.csv")" = "$(field "$json" valid_rmse)" ] ||
    fail "--patience 3: valid rmse $(field "$json" valid_rmse) is not epoch $best's"
json=$("$train" --data "$tables/reg.csv" --target price --patience 0 --epochs 7 --json --quiet)
[ "$(field "$json" epochs)" = 7 ] || fail "--patience 0 --epochs 7 ran $(field "$json" epochs) epochs"

# ---- --predict with --load ----
"$train" --data "$tables/cls10_text.csv" --label label --save "$tmp/cls.bpp" --quiet || fail "save: exit $?"
head -n 101 "$tables/cls10_text.csv" > "$tmp/new.csv"
"$train" --data "$tables/cls10_text.csv" --label label --load "$tmp/cls.bpp" --predict "$tmp/new.csv" \
    > "$tmp/pred.csv" 2>/dev/null || fail "--predict: exit $?"
[ "$(head -n 1 "$tmp/pred.csv")" = 'label,p(alpha),p(bravo),p(charlie),p(delta),p(echo),p(foxtrot),p(golf),p(hotel),p(india),"p(juliett, the last)"' ] ||
    fail "--predict header: $(head -n 1 "$tmp/pred.csv")"
[ "$(wc -l < "$tmp/pred.csv")" -eq 101 ] || fail "--predict: $(wc -l < "$tmp/pred.csv") lines, want 101"
# probabilities sum to 1 (rows naming the class with a comma are quoted:
# their fields are counted from the end)
awk -F, 'NR > 1 { s = 0; for (i = NF - 9; i <= NF; i++) s += $i
                  if (s < 0.999999 || s > 1.000001) bad = 1 } END { exit bad }' "$tmp/pred.csv" ||
    fail "--predict: probabilities do not sum to 1"
# most predictions are the file's labels (these are training rows, mostly)
tail -n +2 "$tmp/new.csv" | sed 's/.*,//; s/"//g' > "$tmp/truth"
tail -n +2 "$tmp/pred.csv" |
    awk '{ if (substr($0, 1, 1) == "\"") { sub(/^"/, ""); sub(/".*/, "") } else sub(/,.*/, ""); print }' \
    > "$tmp/guess"
hits=$(paste -d'|' "$tmp/truth" "$tmp/guess" |
       awk -F'|' '$1 == $2 || ($1 == " the last" && $2 == "juliett, the last") { n++ } END { print n + 0 }')
holds "$hits >= 90" || fail "--predict: $hits of 100 predictions match the labels"
"$train" --data "$tables/reg.csv" --target price --save "$tmp/reg.bpp" --quiet || fail "save reg: exit $?"
"$train" --data "$tables/reg.csv" --target price --load "$tmp/reg.bpp" --predict "$tables/reg.csv" \
    > "$tmp/pred.csv" 2>/dev/null || fail "--predict reg: exit $?"
# the predictions' MSE over the whole table is near the noise's variance, 1
tail -n +2 "$tables/reg.csv" | awk -F, '{ print $NF }' > "$tmp/truth"
tail -n +2 "$tmp/pred.csv" > "$tmp/guess"
mse=$(paste -d, "$tmp/truth" "$tmp/guess" | awk -F, '{ s += ($1 - $2) ^ 2 } END { print s / NR }')
holds "$mse < 1.5" || fail "--predict reg: MSE $mse over the table"
"$train" --data "$tables/reg.csv" --target price --predict "$tables/reg.csv" 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q -- '--predict needs --load' "$tmp/err" || fail "--predict alone: exit $rc"

# ---- the command line ----
"$train" --data "$tables/reg.csv" 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q "name the column to predict" "$tmp/err" &&
    grep -q "'a', 'b', 'c', 'd,e', 'f', 'price'" "$tmp/err" || fail "no target: exit $rc, $(cat "$tmp/err")"
"$train" --data "$tables/reg.csv" --target price --label a 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] || fail "--target with --label: exit $rc"
"$train" --data "$tables/reg.csv" --target nosuch 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && grep -q "no column named 'nosuch'" "$tmp/err" || fail "unknown column: exit $rc, $(cat "$tmp/err")"
"$train" --data "$tables/reg.csv" --target price --classes 3 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q -- '--label COL' "$tmp/err" || fail "--classes without _tomorrow: exit $rc, $(cat "$tmp/err")"
"$train" --data "$tables/tiny.csv" --label flat 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && grep -q "one value only" "$tmp/err" || fail "one class: exit $rc, $(cat "$tmp/err")"
"$train" --data "$tables/cls10_text.csv" --label label --inputs f0,id 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && grep -q "column 'id': not a number" "$tmp/err" || fail "text input: exit $rc, $(cat "$tmp/err")"
# --input takes a name with a comma; --inputs splits it, and refuses an empty one
json=$("$train" --data="$tables/reg.csv" --target=price --input 'd,e' --input=a --epochs 2 --json --quiet) ||
    fail "--input 'd,e': exit $?"
[ "$(field "$json" inputs)" = 2 ] || fail "--input 'd,e': $json"
"$train" --data "$tables/reg.csv" --target price --inputs 'd,e' 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && grep -q "no column named 'd'" "$tmp/err" || fail "--inputs 'd,e': exit $rc, $(cat "$tmp/err")"
"$train" --data "$tables/reg.csv" --target price --inputs a,,b 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q "empty column name" "$tmp/err" || fail "--inputs a,,b: exit $rc, $(cat "$tmp/err")"
# --opt=value is --opt value
a=$("$train" --data="$tables/reg.csv" --target=price --epochs=2 --seed=4 --json --quiet) || fail "--opt=value"
b=$("$train" --data "$tables/reg.csv" --target price --epochs 2 --seed 4 --json --quiet) || fail "--opt value"
[ "${a%%\"seconds*}" = "${b%%\"seconds*}" ] || fail "--opt=value and --opt value differ: $a / $b"
"$train" --help > "$tmp/help" || fail "--help exited $?"
for opt in --data --target --label --inputs --input --ordered --patience --epochs --predict --classes --version; do
    grep -q -- "$opt " "$tmp/help" || fail "--help does not list $opt"
done
# --version: the name typed (train here, bpgraph-train installed), the
# library's version, the licence
"$train" --version > "$tmp/out"; rc=$?
version=$(sed -n 's/^#define BP_VERSION_STRING "\(.*\)"$/\1/p' "${top_builddir:-.}/include/bpgraph/version.h")
[ $rc -eq 0 ] && [ -n "$version" ] && [ "$(head -n 1 "$tmp/out")" = "train (bpgraph) $version" ] &&
    grep -q "License MIT" "$tmp/out" || fail "--version: exit $rc, $(cat "$tmp/out")"
"$train" --bogus 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q "unrecognized option '--bogus'" "$tmp/err" &&
    grep -q "^Try 'train --help' for more information.$" "$tmp/err" || fail "--bogus: exit $rc, $(cat "$tmp/err")"
"$train" --data "$tables/reg.csv" --target price stray 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q "unexpected argument 'stray'" "$tmp/err" || fail "stray argument: exit $rc"
"$train" --data "$tables/reg.csv" -- --json 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q "unexpected argument '--json'" "$tmp/err" || fail "after --: exit $rc"
"$train" --data 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q "option '--data' requires an argument" "$tmp/err" || fail "--data alone: exit $rc"
"$train" --target price 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q -- "give --data FILE" "$tmp/err" || fail "no --data: exit $rc, $(cat "$tmp/err")"
"$train" --epochs ten 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] || fail "--epochs ten: exit $rc"
"$train" --data "$tmp/none.csv" --target y 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && grep -q "$tmp/none.csv" "$tmp/err" || fail "missing data: exit $rc, $(cat "$tmp/err")"

[ $failures -eq 0 ] || exit 1
echo "train.sh: all checks passed"
