#!/bin/sh
# SPDX-License-Identifier: MIT
# examples/transformer on tiny settings, on one file of the fortunes
# package (skipped, exit 77, when it is not installed): it trains, scores
# the validation split below the uniform model, saves its parameters and
# reloads them into a fresh graph with the identical validation loss, and
# samples from the prompt; bad arguments and a missing text are refused.
set -u

prog="${top_builddir:-.}/examples/transformer"
text="${BP_FORTUNES:-/usr/share/games/fortunes/fortunes}"
if [ ! -f "$text" ]; then
    echo "transformer.sh: SKIP: text not found ($text; apt-get install fortunes-min)" >&2
    exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bp_transformer.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
failures=0

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# awk evaluates a comparison of numbers; exit 0 when true.
holds() {
    awk "BEGIN { exit !($1) }"
}

tiny="--text $text --steps 60 --batch 8 --context 16 --dim 16 --heads 2 --blocks 2 \
--dropout 0.1 --lr 1e-2 --warmup 10 --eval-every 30 --sample 40 --seed 3"
# shellcheck disable=SC2086
${BP_RUN:-} "$prog" $tiny --save "$tmp/t.params" --log "$tmp/log" --prompt "Love " \
    >"$tmp/out" 2>"$tmp/err" || fail "tiny run exited $? ($(cat "$tmp/err"))"
cat "$tmp/out"

vocab=$(sed -n 's/.*vocabulary \([0-9]*\)$/\1/p' "$tmp/out")
loss=$(sed -n 's/^validation loss per character.*transformer \([0-9.]*\) nats.*/\1/p' "$tmp/out")
uniform=$(sed -n 's/.*uniform \([0-9.]*\) nats.*/\1/p' "$tmp/out")
[ -n "$vocab" ] && [ -n "$loss" ] && [ -n "$uniform" ] || fail "the report lacks a figure"
# log V, worked out here, not read from the program
holds "$uniform > 0 && ($uniform - log($vocab)) ^ 2 < 1e-8" || fail "uniform $uniform is not log $vocab"
holds "$loss < $uniform" || fail "validation loss $loss is not below uniform $uniform"
grep -q 'reloaded into a fresh graph: validation [0-9.]* nats (identical)' "$tmp/out" ||
    fail "the reloaded parameters do not give the identical validation loss"
[ -s "$tmp/t.params" ] || fail "no parameter file"
# the sample: the prompt, then 40 characters (they may hold newlines)
n=$(sed -n '/^sample/,$p' "$tmp/out" | tail -n +2 | tr -d '\n' | wc -c)
sed -n '/^sample/{n;p;}' "$tmp/out" | grep -q '^Love ' || fail "the sample does not start with the prompt"
holds "$n >= 45 - 10" || fail "the sample is $n characters"
[ "$(grep -vc '^#' "$tmp/log")" -eq 2 ] || fail "the log has not 2 rows (steps 30 and 60)"

# the same run twice: the same numbers (seeded)
# shellcheck disable=SC2086
${BP_RUN:-} "$prog" $tiny --save "$tmp/u.params" --prompt "Love " >"$tmp/out2" 2>&1 ||
    fail "second run exited $?"
sed 's/[0-9.]* ms\/step//; s/t\.params/X/; s/u\.params/X/' "$tmp/out" >"$tmp/a"
sed 's/[0-9.]* ms\/step//; s/t\.params/X/; s/u\.params/X/' "$tmp/out2" >"$tmp/b"
cmp -s "$tmp/a" "$tmp/b" || fail "two runs with one seed differ: $(diff "$tmp/a" "$tmp/b")"

# refusals
"$prog" --text "$tmp/none" --steps 1 >"$tmp/o" 2>"$tmp/e" && fail "a missing text was accepted"
grep -q "$tmp/none" "$tmp/e" || fail "the error does not name the missing text: $(cat "$tmp/e")"
"$prog" --steps x >"$tmp/o" 2>"$tmp/e"; [ $? -eq 2 ] || fail "--steps x did not exit 2"
grep -q -- "--steps takes a whole number" "$tmp/e" || fail "--steps x: $(cat "$tmp/e")"
"$prog" --text "$text" --heads 3 --dim 16 --steps 1 >"$tmp/o" 2>"$tmp/e" &&
    fail "16 dims in 3 heads were accepted"
grep -q "not a positive multiple of n_heads 3" "$tmp/e" || fail "--heads 3: $(cat "$tmp/e")"
"$prog" --text "$text" --prompt "é" --steps 1 --save "$tmp/p.params" >"$tmp/o" 2>"$tmp/e" &&
    fail "a prompt outside the vocabulary was accepted"
grep -q "prompt's byte 0xc3 is not in the text's vocabulary" "$tmp/e" || fail "--prompt é: $(cat "$tmp/e")"
[ ! -e "$tmp/p.params" ] || fail "a refused prompt still trained and saved"

[ "$failures" -eq 0 ] || exit 1
echo "transformer.sh: all checks passed"
