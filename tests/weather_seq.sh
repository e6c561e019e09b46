#!/bin/sh
# SPDX-License-Identifier: MIT
# examples/rnn and examples/gru on the lesson's weather table (BP_WEATHER_CSV,
# set by make check; skipped, exit 77, when it is absent, as from a release
# tarball), on small settings (8 hidden, 2 epochs): each runs, its split is
# the table's windows in time order, "tomorrow = today" is what awk computes
# from the table itself, least squares what numpy computes (when a python3
# with numpy is found), and the network beats tomorrow = today (it does at
# these settings: 22.5-22.9 against 24.79 over seeds 1-3).  Usage errors
# exit 2.
set -u

csv="${BP_WEATHER_CSV:-}"
if [ -z "$csv" ] || [ ! -f "$csv" ]; then
    echo "weather_seq.sh: SKIP: weather table not found (BP_WEATHER_CSV='$csv')" >&2
    exit 77
fi
b="${top_builddir:-.}/examples"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bp_weather_seq.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
failures=0

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

holds() {
    awk "BEGIN { exit !($1) }"
}

# The first number of the report line whose first word is $2.
mse() {
    awk -v k="$2" '/^test split/ { t = 1 }
        t && $1 == k { for (i = 2; i <= NF; i++) if ($i ~ /^[0-9.]+$/) { print $i; exit } }' "$1"
}

# tomorrow = today on the last 15% of the windows, from the table: windows
# end on rows 7..N (7 days each), the test windows are the last
# floor(0.15 * (N - 6)) of them, so the last that many rows; empty cells
# forward-filled.
want_today=$(awk -F, 'NR > 1 {
        if ($2 != "") t = $2; if ($5 != "") y = $5; n++; tmax[n] = t; next_t[n] = y }
    END { w = n - 6; k = int(0.15 * w); s = 0
          for (i = n - k + 1; i <= n; i++) s += (tmax[i] - next_t[i]) ^ 2
          printf "%.4f %d\n", s / k, k }' "$csv")
want_mse=${want_today% *}
want_test=${want_today#* }

# Least squares on the same windows (the 7 days' 3 values, oldest first,
# and an intercept; the first 70% of the windows) by numpy, when a python3
# with it is there (as tests/diffgraph.sh looks for one).
want_ls=
for p in ${PYTHON:-} python3 /usr/bin/python3; do
    if "$p" -c 'import numpy' 2>/dev/null; then
        want_ls=$("$p" - "$csv" <<'PY'
import csv, sys
import numpy as np
rows, last = [], None
with open(sys.argv[1], newline="") as f:
    for r in csv.DictReader(f):
        v = [r[c] for c in ("tmax", "tmin", "rain", "tmax_tomorrow")]
        last = [float(x) if x != "" else last[i] for i, x in enumerate(v)]
        rows.append(last)
a = np.array(rows)
w = len(a) - 6
x = np.hstack([a[k:k + w, :3] for k in range(7)] + [np.ones((w, 1))])
y = a[6:, 3]
n_test, n_valid = int(0.15 * w), int(0.15 * w)
n_train = w - n_test - n_valid
coef = np.linalg.lstsq(x[:n_train], y[:n_train], rcond=None)[0]
print("%.4f" % np.mean((x[-n_test:] @ coef - y[-n_test:]) ** 2))
PY
)
        break
    fi
done

for net in rnn gru; do
    out="$tmp/$net.out"
    if ! "$b/$net" --data "$csv" --hidden 8 --epochs 2 --log "$tmp/$net.csv" >"$out" 2>"$tmp/$net.err"; then
        fail "$net exited with an error:"; cat "$tmp/$net.err" >&2
        continue
    fi
    cat "$out"
    grep -q "split in time order: .* $want_test test windows" "$out" || fail "$net: not $want_test test windows"
    today=$(mse "$out" tomorrow)
    [ "$today" = "$want_mse" ] || fail "$net: tomorrow = today $today, awk computes $want_mse"
    m=$(mse "$out" "$net")
    if [ -n "$want_ls" ]; then
        [ "$(mse "$out" least)" = "$want_ls" ] || fail "$net: least squares $(mse "$out" least), numpy's $want_ls"
    fi
    for other in dense least; do
        v=$(mse "$out" "$other")
        holds "$v > 0 && $v < $today" || fail "$net: $other $v does not beat tomorrow = today $today"
    done
    holds "$m > 0 && $m < $today" || fail "$net: test MSE $m does not beat tomorrow = today $today"
    [ "$(wc -l <"$tmp/$net.csv")" -eq 3 ] || fail "$net: --log has not a header and 2 epochs"
    # usage errors: exit 2 with a message
    "$b/$net" --hidden 0 >/dev/null 2>"$tmp/err"; st=$?
    [ $st -eq 2 ] && grep -q "not a count" "$tmp/err" || fail "$net --hidden 0: exit $st"
    "$b/$net" --epochs >/dev/null 2>"$tmp/err"; st=$?
    [ $st -eq 2 ] && grep -q "needs a value" "$tmp/err" || fail "$net --epochs: exit $st"
    "$b/$net" --data "$tmp/none.csv" >/dev/null 2>"$tmp/err"; st=$?
    [ $st -eq 1 ] && grep -q "none.csv" "$tmp/err" || fail "$net on a missing file: exit $st"
done
[ "$failures" -eq 0 ] || exit 1
echo "weather_seq: rnn and gru beat tomorrow = today ($want_mse)"
