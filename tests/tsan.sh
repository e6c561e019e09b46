#!/bin/sh
# SPDX-License-Identifier: MIT
# ThreadSanitizer run of tests/check_threads: the library's sources and the
# test compiled with -fsanitize=thread (libbpgraph's; lib/dist/ is
# libbpgraph-mpi, which needs <mpi.h>) (gcc or clang; CC), run with
# CK_FORK=no so the threads run in the sanitized process itself.  Any
# report fails (halt_on_error).  OPENBLAS_NUM_THREADS=1: OpenBLAS's own
# worker threads are not instrumented and are not what is tested; the
# test's threads call BLAS concurrently all the same.
set -eu
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
cc=${CC:-cc}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# shellcheck disable=SC2046
$cc -std=gnu11 -g -O1 -fsanitize=thread -pthread -I"$top_srcdir/include" -I"${top_builddir:-$top_srcdir}/include" \
    -I"$top_srcdir/lib" \
    $(pkg-config --cflags openblas lapacke check) \
    $(ls "$top_srcdir"/lib/*/*.c | grep -v /lib/dist/) "$top_srcdir/tests/check_threads.c" \
    -o "$tmp/check_threads_tsan" \
    $(pkg-config --libs openblas lapacke check) -lm
echo "tsan: running check_threads"
CK_FORK=no OPENBLAS_NUM_THREADS=1 TSAN_OPTIONS="halt_on_error=1 exitcode=66 ${TSAN_OPTIONS:-}" \
    "$tmp/check_threads_tsan" >"$tmp/out" 2>&1 && rc=0 || rc=$?
cat "$tmp/out"
if [ "$rc" -ne 0 ] || grep -q 'WARNING: ThreadSanitizer' "$tmp/out"; then
    echo "tsan: FAIL (exit $rc)"
    exit 1
fi
echo "tsan: no ThreadSanitizer reports"
