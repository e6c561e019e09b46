#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the libFuzzer targets (fuzz_*.c here) with clang against the
# library's sources directly, then runs each for SECONDS (default 60) from
# its committed seed corpus (corpus/<target>/).  Fails on any crash, leak
# or sanitizer report; the reproducer is left in the work directory.
#
#   tests/fuzz/run.sh [seconds] [target...]     e.g. run.sh 30 csv
#
# A new target is a file fuzz_<name>.c and a folder corpus/<name>/ of a few
# hand-made seeds (targets: csv, graph, npy, params).  Needs clang and, on Debian,
# libclang-rt-14-dev; plus libopenblas-dev and liblapacke-dev.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
seconds=${1:-60}
shift || true
work=${BP_FUZZ_WORKDIR:-$top/fuzz-work}
cc=${FUZZ_CC:-clang}

command -v "$cc" >/dev/null || { echo "fuzz: $cc not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }
if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    targets=()
    for f in "$here"/fuzz_*.c; do
        t=${f##*/fuzz_}
        targets+=("${t%.c}")
    done
fi

mkdir -p "$work"
# The library compiled once, instrumented for coverage and the sanitizers.
flags=(-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined
       -fno-sanitize-recover=all -I"$top/include" -I"${top_builddir:-$top}/include" -I"$top/lib"
       $(pkg-config --cflags openblas lapacke))
libs=($(pkg-config --libs openblas lapacke) -lm)
objs=()
for src in "$top"/lib/*/*.c; do
    case $src in */lib/dist/*) continue ;; esac   # libbpgraph-mpi: needs <mpi.h>
    rel=${src#"$top"/lib/}
    obj="$work/lib_${rel//\//_}"; obj="${obj%.c}.o"
    "$cc" "${flags[@]}" -fsanitize=fuzzer-no-link -c "$src" -o "$obj"
    objs+=("$obj")
done

# OpenBLAS's own threads are not the library's and only slow the runs.
export OPENBLAS_NUM_THREADS=1
failed=0
for t in "${targets[@]}"; do
    src="$here/fuzz_$t.c"
    [ -f "$src" ] || { echo "fuzz: no target $t ($src)" >&2; exit 2; }
    "$cc" "${flags[@]}" -fsanitize=fuzzer "$src" "${objs[@]}" "${libs[@]}" -o "$work/fuzz_$t"
    # New inputs go to a scratch corpus so the committed seeds stay small.
    mkdir -p "$work/corpus_$t"
    log="$work/fuzz_$t.log"
    echo "fuzz: $t for ${seconds}s"
    # A fixed seed (BP_FUZZ_SEED, default 1) keeps a CI run repeatable;
    # set another to explore further.
    if (cd "$work" && ./"fuzz_$t" -seed="${BP_FUZZ_SEED:-1}" -max_total_time="$seconds" -max_len=4096 -timeout=10 \
            -rss_limit_mb=2048 -print_final_stats=1 "corpus_$t" "$here/corpus/$t") >"$log" 2>&1; then
        printf 'fuzz: %-6s ok   %s\n' "$t" "$(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$log" | awk '{print $2}') runs, $(grep -o 'cov: [0-9]*' "$log" | tail -1)"
    else
        failed=1
        printf 'fuzz: %-6s FAIL (log: %s)\n' "$t" "$log"
        grep -E -A30 'ERROR|runtime error|==[0-9]+==' "$log" | head -60 || tail -n 40 "$log"
    fi
done
exit "$failed"
