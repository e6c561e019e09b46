#!/bin/sh
# SPDX-License-Identifier: MIT
# README's C snippets are code that make builds, so they cannot drift: each
# ```c block follows a line <!-- example: FILE#PART --> and equals the lines
# of FILE between /* README: PART */ and /* README: end */ (dedented).  A
# block after <!-- output: PROGRAM --> equals what that program prints.
# examples/train_lesson, the training snippet, runs when the weather table
# is there (it needs no more than a second).
src=${top_srcdir:-.}
b=${top_builddir:-.}
readme="$src/README.md"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bp_readme.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
failures=0

# The annotated blocks, to $tmp/block.N, listed as "N kind target".
awk -v dir="$tmp" '
    /^<!-- (example|output): [^ ]+ -->$/ { kind = $2; sub(/:$/, "", kind); target = $3; pending = NR; next }
    /^```/ {
        if (fence) { fence = 0; if (f) close(f); f = ""; next }
        fence = 1
        if (pending == NR - 1) {
            n++; f = dir "/block." n; printf "" > f
            print n, kind, target > (dir "/list")
        } else if ($0 == "```c") {
            print "README.md:" NR ": a C block with no <!-- example: FILE#PART --> before it" > "/dev/stderr"
            bad = 1
        }
        next
    }
    fence && f { print > f }
    END { exit bad }' "$readme" || failures=$((failures + 1))
[ -s "$tmp/list" ] || { echo "no annotated blocks in README.md" >&2; exit 1; }

# The lines of $1 between /* README: $2 */ and /* README: end */, dedented.
part() {
    awk -v start="/* README: $2 */" '
        { line = $0; sub(/^[ \t]+/, "", line) }
        line == start { on = 1; found = 1; next }
        on && line == "/* README: end */" { on = 0; next }
        on { lines[++n] = $0
             if ($0 ~ /[^ ]/) { match($0, /^ */); if (min == "" || RLENGTH < min) min = RLENGTH } }
        END { if (!found) { print "no part " start > "/dev/stderr"; exit 1 }
              for (i = 1; i <= n; i++) print substr(lines[i], min + 1) }' "$1"
}

while read -r n kind target; do
    case $kind in
    example)
        file=${target%%#*} name=${target#*#}
        if ! part "$src/$file" "$name" >"$tmp/want.$n" ||
           ! diff -u "$tmp/want.$n" "$tmp/block.$n" >"$tmp/diff.$n"; then
            echo "README.md's block for $target differs from the file (- file, + README):" >&2
            cat "$tmp/diff.$n" >&2
            failures=$((failures + 1))
        fi ;;
    output)
        if ! "$b/$target" >"$tmp/out.$n" 2>&1 || ! diff -u "$tmp/block.$n" "$tmp/out.$n" >"$tmp/diff.$n"; then
            echo "$target does not print what README.md shows (- README, + program):" >&2
            cat "$tmp/diff.$n" >&2
            failures=$((failures + 1))
        fi ;;
    esac
done <"$tmp/list"
echo "readme: $(wc -l <"$tmp/list") annotated blocks checked"

csv=${BP_WEATHER_CSV:-}
if [ -n "$csv" ] && [ -f "$csv" ]; then
    if ! "$b/examples/train_lesson" "$csv" "$tmp/model.bpp" >"$tmp/train.out" 2>&1 ||
       ! grep -q '^gradients: ok' "$tmp/train.out" || [ ! -s "$tmp/model.bpp" ]; then
        echo "examples/train_lesson failed:" >&2; cat "$tmp/train.out" >&2
        failures=$((failures + 1))
    fi
else
    echo "readme: examples/train_lesson built, not run (no weather table at '$csv')"
fi
[ "$failures" -eq 0 ]
