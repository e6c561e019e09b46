/* SPDX-License-Identifier: MIT */
/* Small helpers shared by the Check programs. */
#ifndef BP_TEST_UTIL_H
#define BP_TEST_UTIL_H

#include <check.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpgraph.h"

/* A matrix view of a caller's array (not allocated). */
static inline bp_matrix tu_view(size_t rows, size_t cols, double *data)
{
    bp_matrix m = {rows, cols, data};
    return m;
}

/* Sets a leaf's value from an array; fails the test on error. */
static inline void tu_set(bp_node *n, size_t rows, size_t cols, const double *data)
{
    bp_matrix m = {rows, cols, (double *)data};
    ck_assert_int_eq(bp_node_set_value(n, &m), BP_OK);
}

/* A bp_rng seeded with seed: test data comes from the library's one
 * generator, which is tested on its own in check_train. */
static inline bp_rng tu_rng(uint64_t seed)
{
    bp_rng rng;
    bp_rng_seed(&rng, seed);
    return rng;
}

/* A reproducible value in [lo, hi). */
static inline double tu_uniform(bp_rng *rng, double lo, double hi)
{
    return lo + (hi - lo) * bp_rng_uniform(rng);
}

static inline void tu_fill(double *x, size_t n, bp_rng *rng, double lo, double hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = tu_uniform(rng, lo, hi);
}

/* The number of entries of a tensor of shape s. */
static inline size_t tu_shape_size(const bp_shape *s)
{
    size_t n = 1;
    for (size_t i = 0; i < s->rank; i++)
        n *= s->dim[i];
    return n;
}

/* The built-in op called name; fails the test when there is none. */
static inline const bp_op *tu_builtin(const char *name)
{
    for (size_t i = 0; i < bp_builtin_count(); i++)
        if (strcmp(bp_builtin(i)->name, name) == 0)
            return bp_builtin(i);
    ck_abort_msg("no built-in op '%s'", name);
    return NULL;
}

/* Every entry of m within tol of expected (row-major, m's shape). */
#define tu_assert_matrix_near(m, expected, tol)                                \
    do {                                                                       \
        const bp_matrix *m_ = (m);                                             \
        ck_assert_ptr_nonnull(m_);                                             \
        for (size_t k_ = 0; k_ < m_->rows * m_->cols; k_++)                    \
            ck_assert_msg(fabs(m_->data[k_] - (expected)[k_]) <= (tol),        \
                          "entry %zu (row %zu, col %zu): got %.17g, want %.17g", \
                          k_, k_ / m_->cols, k_ % m_->cols, m_->data[k_],      \
                          (double)(expected)[k_]);                             \
    } while (0)

/* Allocation-failure injection, as SQLite tests it: tu_every_alloc_failure
 * runs `run` once to count its allocations, then once per N with the N-th
 * allocation failing; each time `run` must return BP_ENOMEM and every block
 * must be freed.  `run` builds, runs and frees its own graph. */
static long tu_allocations, tu_fail_at, tu_live;
static size_t tu_bytes;   /* bytes asked for by the calls that succeeded */

static inline void *tu_failing_malloc(size_t size)
{
    max_align_t *p;   /* a header that keeps the block aligned */

    if (++tu_allocations == tu_fail_at)
        return NULL;
    p = malloc(size + sizeof *p);
    if (!p)
        return NULL;
    tu_live++;
    tu_bytes += size;
    return p + 1;
}

static inline void tu_counting_free(void *ptr)
{
    if (ptr) {
        tu_live--;
        free((max_align_t *)ptr - 1);
    }
}

static inline void tu_every_alloc_failure(bp_status (*run)(void), long at_least)
{
    long total;

    ck_assert_int_eq(bp_set_alloc_funcs(tu_failing_malloc, tu_counting_free), BP_OK);
    tu_allocations = tu_live = tu_fail_at = 0;
    ck_assert_int_eq(run(), BP_OK);
    total = tu_allocations;
    ck_assert_int_eq(tu_live, 0);
    ck_assert_int_ge(total, at_least);
    for (long n = 1; n <= total; n++) {
        bp_status st;
        tu_allocations = tu_live = 0;
        tu_fail_at = n;
        st = run();
        ck_assert_msg(st == BP_ENOMEM, "allocation %ld of %ld failed, status %d", n, total, st);
        ck_assert_msg(tu_live == 0, "allocation %ld failing leaked %ld blocks", n, tu_live);
    }
    tu_fail_at = 0;
    ck_assert_int_eq(bp_set_alloc_funcs(NULL, NULL), BP_OK);
}

/* Runs a suite in Check's default (fork) mode; returns the exit status. */
/* What automake takes as a skipped test. */
#define TU_EXIT_SKIP 77

/* The lesson's weather table (BP_WEATHER_CSV, set by make check from
 * ./configure --with-weather-csv), or NULL when it is not there, after
 * saying on stderr where it was looked for.  The table is not
 * redistributed (data/README.md): a release tarball's tests run without
 * it and skip what needs it. */
static inline const char *tu_weather_csv(const char *prog)
{
    const char *path = getenv("BP_WEATHER_CSV");
    FILE *f = path && path[0] ? fopen(path, "r") : NULL;

    if (f) {
        fclose(f);
        return path;
    }
    if (path && path[0])
        fprintf(stderr, "%s: SKIP: the weather table is not at '%s'", prog, path);
    else
        fprintf(stderr, "%s: SKIP: no weather table configured (BP_WEATHER_CSV is empty)", prog);
    fprintf(stderr, "; give it with ./configure --with-weather-csv=FILE (data/README.md)\n");
    return NULL;
}

static inline int tu_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    int failed;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
