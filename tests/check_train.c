/* SPDX-License-Identifier: MIT */
/* Training helpers: generator, initialisation, splits, standardisation,
 * minibatches. */
#include "test_util.h"

#include <string.h>

/* xoshiro256** seeded through splitmix64 with 12345; reference outputs from
 * an independent transcription of the published algorithms (Blackman and
 * Vigna), computed outside the library. */
START_TEST(rng_matches_reference_sequence)
{
    bp_rng r, copy;
    bp_rng_seed(&r, 12345);
    copy = r;
    ck_assert_uint_eq(bp_rng_next(&r), 0xbe6a36374160d49bULL);
    ck_assert_uint_eq(bp_rng_next(&r), 0x214aaa0637a688c6ULL);
    ck_assert_uint_eq(bp_rng_next(&r), 0xf69d16de9954d388ULL);
    /* a copied state replays the sequence */
    ck_assert_uint_eq(bp_rng_next(&copy), 0xbe6a36374160d49bULL);
}
END_TEST

START_TEST(rng_distributions)
{
    enum { N = 200000 };
    bp_rng r;
    double su = 0, sn = 0, sn2 = 0, lo = 1, hi = 0;
    size_t counts[7] = {0};

    bp_rng_seed(&r, 987654321);
    for (int i = 0; i < N; i++) {
        double u = bp_rng_uniform(&r), z = bp_rng_normal(&r);
        lo = u < lo ? u : lo;
        hi = u > hi ? u : hi;
        su += u;
        sn += z;
        sn2 += z * z;
        counts[bp_rng_below(&r, 7)]++;
    }
    ck_assert(lo >= 0.0 && hi < 1.0);
    /* Standard errors: uniform mean 0.29/√N ≈ 6.5e-4, normal mean 2.2e-3,
     * variance 3.2e-3; tolerances are about 5 of them. */
    ck_assert_double_eq_tol(su / N, 0.5, 3.5e-3);
    ck_assert_double_eq_tol(sn / N, 0.0, 1.2e-2);
    ck_assert_double_eq_tol(sn2 / N, 1.0, 1.6e-2);
    for (int k = 0; k < 7; k++)   /* expected N/7 ≈ 28571, sd ≈ 156 */
        ck_assert_msg(counts[k] > 27800 && counts[k] < 29350, "bucket %d: %zu", k, counts[k]);
    ck_assert_uint_eq(bp_rng_below(&r, 0), 0);
    ck_assert_uint_eq(bp_rng_below(&r, 1), 0);
}
END_TEST

static void assert_permutation(const size_t *idx, size_t n)
{
    unsigned char *seen = calloc(n, 1);
    for (size_t i = 0; i < n; i++) {
        ck_assert_uint_lt(idx[i], n);
        ck_assert_msg(!seen[idx[i]], "index %zu twice", idx[i]);
        seen[idx[i]] = 1;
    }
    free(seen);
}

START_TEST(shuffle_is_a_seeded_permutation)
{
    enum { N = 257 };
    size_t a[N], b[N], c[N];
    bp_rng ra, rb, rc;
    size_t moved = 0;

    for (size_t i = 0; i < N; i++)
        a[i] = b[i] = c[i] = i;
    bp_rng_seed(&ra, 3);
    bp_rng_seed(&rb, 3);
    bp_rng_seed(&rc, 4);
    bp_shuffle(a, N, &ra);
    bp_shuffle(b, N, &rb);
    bp_shuffle(c, N, &rc);
    assert_permutation(a, N);
    assert_permutation(c, N);
    ck_assert_mem_eq(a, b, sizeof a);
    ck_assert(memcmp(a, c, sizeof a) != 0);
    for (size_t i = 0; i < N; i++)
        moved += a[i] != i;
    ck_assert_uint_gt(moved, N / 2);
}
END_TEST

START_TEST(split_counts_order_and_seed)
{
    bp_split s1, s2, s3;
    bp_error err;

    /* 103 rows: valid floor(15.45) = 15, test floor(20.6) = 20, train 68 */
    ck_assert_int_eq(bp_split_rows(103, 0.15, 0.2, 0, 0, &s1, &err), BP_OK);
    ck_assert_uint_eq(s1.n_train, 68);
    ck_assert_uint_eq(s1.n_valid, 15);
    ck_assert_uint_eq(s1.n_test, 20);
    for (size_t i = 0; i < 103; i++)   /* in order: train first, test last */
        ck_assert_uint_eq(s1.index[i], i);
    bp_split_free(&s1);
    ck_assert_ptr_null(s1.index);

    ck_assert_int_eq(bp_split_rows(103, 0.15, 0.2, 1, 42, &s1, &err), BP_OK);
    ck_assert_int_eq(bp_split_rows(103, 0.15, 0.2, 1, 42, &s2, &err), BP_OK);
    ck_assert_int_eq(bp_split_rows(103, 0.15, 0.2, 1, 43, &s3, &err), BP_OK);
    assert_permutation(s1.index, 103);
    ck_assert_mem_eq(s1.index, s2.index, 103 * sizeof(size_t));
    ck_assert(memcmp(s1.index, s3.index, 103 * sizeof(size_t)) != 0);
    bp_split_free(&s1);
    bp_split_free(&s2);
    bp_split_free(&s3);
}
END_TEST

START_TEST(split_bad_fractions)
{
    bp_split s;
    bp_error err;
    ck_assert_int_eq(bp_split_rows(100, -0.1, 0.2, 0, 0, &s, &err), BP_EINVAL);
    ck_assert_int_eq(err.status, BP_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "fractions"));
    ck_assert_int_eq(bp_split_rows(100, 0.5, 0.5, 0, 0, &s, &err), BP_EINVAL);
    ck_assert_int_eq(bp_split_rows(100, 0.2, 1.0, 0, 0, &s, NULL), BP_EINVAL);
    ck_assert_int_eq(bp_split_rows(0, 0.1, 0.1, 0, 0, &s, &err), BP_EINVAL);
    ck_assert_ptr_null(s.index);
    /* 2 rows, 0.45 + 0.45: floors to 0 + 0, leaving 2 for training */
    ck_assert_int_eq(bp_split_rows(2, 0.45, 0.45, 0, 0, &s, &err), BP_OK);
    ck_assert_uint_eq(s.n_train, 2);
    bp_split_free(&s);
}
END_TEST

/* Rows sorted by class, as in a file sorted by its label: 60 of class 0,
 * 30 of class 1, 10 of class 2, and one row of class 3. */
static void sorted_classes(size_t *classes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        classes[i] = i < 60 ? 0 : i < 90 ? 1 : i < 100 ? 2 : 3;
}

START_TEST(split_stratified_shares_every_class)
{
    enum { N = 101, K = 4 };
    size_t classes[N], per[3][K] = {{0}};
    bp_split s1, s2, s3;
    bp_error err;

    sorted_classes(classes, N);
    /* valid floor(20.2) = 20, test floor(20.2) = 20, as bp_split_rows */
    ck_assert_int_eq(bp_split_stratified(classes, N, K, 0.2, 0.2, 7, &s1, &err), BP_OK);
    ck_assert_uint_eq(s1.n_train, 61);
    ck_assert_uint_eq(s1.n_valid, 20);
    ck_assert_uint_eq(s1.n_test, 20);
    assert_permutation(s1.index, N);
    for (size_t i = 0; i < N; i++) {
        size_t part = i < s1.n_train ? 0 : i < s1.n_train + s1.n_valid ? 1 : 2;
        per[part][classes[s1.index[i]]]++;
    }
    /* Each class's held-out share is 40/97 of the rows after its first
     * (59, 29, 9, 0): 24.3, 12.0, 3.7, 0 held out, half valid, half test,
     * each to within a row either way. */
    ck_assert_uint_ge(per[1][0] + per[2][0], 23);
    ck_assert_uint_le(per[1][0] + per[2][0], 25);
    ck_assert_uint_ge(per[1][1] + per[2][1], 11);
    ck_assert_uint_le(per[1][1] + per[2][1], 13);
    ck_assert_uint_ge(per[1][2] + per[2][2], 3);
    ck_assert_uint_le(per[1][2] + per[2][2], 5);
    for (size_t c = 0; c < 3; c++) {
        ck_assert_msg(per[2][c] >= 1, "class %zu has no test row", c);
        ck_assert_msg(per[1][c] + 1 >= per[2][c] && per[2][c] + 1 >= per[1][c],
                      "class %zu: %zu valid, %zu test", c, per[1][c], per[2][c]);
    }
    ck_assert_uint_eq(per[0][3], 1);   /* the single row trains */
    /* seeded: the same seed repeats, another one differs */
    ck_assert_int_eq(bp_split_stratified(classes, N, K, 0.2, 0.2, 7, &s2, &err), BP_OK);
    ck_assert_int_eq(bp_split_stratified(classes, N, K, 0.2, 0.2, 8, &s3, &err), BP_OK);
    ck_assert_mem_eq(s1.index, s2.index, N * sizeof(size_t));
    ck_assert(memcmp(s1.index, s3.index, N * sizeof(size_t)) != 0);
    bp_split_free(&s1);
    bp_split_free(&s2);
    bp_split_free(&s3);

    /* 3 rows of 3 classes: every row is a class's first, so all train */
    ck_assert_int_eq(bp_split_stratified((const size_t[]){2, 0, 1}, 3, 3, 0.3, 0.3, 1, &s1, &err),
                     BP_OK);
    ck_assert_uint_eq(s1.n_train, 3);
    ck_assert_uint_eq(s1.n_valid + s1.n_test, 0);
    bp_split_free(&s1);

    /* 5 rows of 3 classes, 0.4 + 0.4: 2 valid and 2 test would leave a
     * class without a training row; the 2 rows that can be spared are
     * held out, one valid, one test */
    ck_assert_int_eq(bp_split_stratified((const size_t[]){0, 1, 0, 2, 1}, 5, 3, 0.4, 0.4, 3, &s1, &err),
                     BP_OK);
    ck_assert_uint_eq(s1.n_train, 3);
    ck_assert_uint_eq(s1.n_valid, 1);
    ck_assert_uint_eq(s1.n_test, 1);
    assert_permutation(s1.index, 5);
    bp_split_free(&s1);

    ck_assert_int_eq(bp_split_stratified(classes, N, 3, 0.2, 0.2, 7, &s1, &err), BP_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "row 100 has class 3"));
    ck_assert_ptr_null(s1.index);
    ck_assert_int_eq(bp_split_stratified(classes, N, K, 0.6, 0.4, 7, &s1, &err), BP_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "fractions"));
}
END_TEST

START_TEST(one_hot_rows)
{
    const size_t classes[4] = {2, 0, 1, 2};
    const double want[12] = {0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1};
    bp_matrix *m = NULL;
    bp_error err;

    ck_assert_int_eq(bp_one_hot(classes, 4, 3, &m, &err), BP_OK);
    ck_assert_uint_eq(m->rows, 4);
    ck_assert_uint_eq(m->cols, 3);
    tu_assert_matrix_near(m, want, 0.0);
    bp_matrix_free(m);
    ck_assert_int_eq(bp_one_hot(classes, 4, 2, &m, &err), BP_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "row 0 has class 2"));
    ck_assert_ptr_null(m);
}
END_TEST

START_TEST(take_rows_copies_in_order)
{
    double d[4 * 2] = {1.5, -2.25, 3.75, 4.125, -5.5, 6.0625, 7.875, -8.5};
    bp_matrix src = tu_view(4, 2, d), *out = NULL;
    size_t rows[3] = {3, 0, 3}, bad[1] = {4};
    double want[6] = {7.875, -8.5, 1.5, -2.25, 7.875, -8.5};
    bp_error err;

    ck_assert_int_eq(bp_matrix_take_rows(&src, rows, 3, &out, &err), BP_OK);
    ck_assert_uint_eq(out->rows, 3);
    tu_assert_matrix_near(out, want, 0);
    bp_matrix_free(out);
    ck_assert_int_eq(bp_matrix_take_rows(&src, bad, 1, &out, &err), BP_EINVAL);
    ck_assert_ptr_null(out);
    ck_assert_ptr_nonnull(strstr(err.message, "row 4"));
}
END_TEST

/* Mean and std come from the training rows only: the other rows hold
 * wild values that would change both if they were used. */
START_TEST(scaler_uses_training_rows_only)
{
    double d[5 * 2] = {
        2.5, 7.0,      /* train */
        1000.0, -1e6,  /* not train */
        4.1, 7.0,      /* train */
        7.3, 7.0,      /* train */
        -333.0, 55.0,  /* not train */
    };
    size_t train[3] = {0, 2, 3};
    bp_matrix x = tu_view(5, 2, d), *copy;
    bp_scaler *s = NULL;
    bp_error err;
    /* column 0 over {2.5, 4.1, 7.3}: mean 13.9/3, population variance
     * (2.5² + 4.1² + 7.3² − 13.9²/3)/3 */
    double mean0 = 13.9 / 3.0;
    double var0 = (2.5 * 2.5 + 4.1 * 4.1 + 7.3 * 7.3 - 13.9 * 13.9 / 3.0) / 3.0;

    ck_assert_int_eq(bp_scaler_fit(&x, train, 3, &s, &err), BP_OK);
    ck_assert_uint_eq(bp_scaler_cols(s), 2);
    ck_assert_double_eq_tol(bp_scaler_mean(s)[0], mean0, 1e-14);
    ck_assert_double_eq_tol(bp_scaler_std(s)[0], sqrt(var0), 1e-14);
    /* column 1 is constant on the training rows: std 1, not 0 */
    ck_assert_double_eq(bp_scaler_mean(s)[1], 7.0);
    ck_assert_double_eq(bp_scaler_std(s)[1], 1.0);

    copy = bp_matrix_copy(&x);
    ck_assert_int_eq(bp_scaler_apply(s, copy, &err), BP_OK);
    ck_assert_double_eq_tol(copy->data[0], (2.5 - mean0) / sqrt(var0), 1e-14);
    ck_assert_double_eq_tol(copy->data[2], (1000.0 - mean0) / sqrt(var0), 1e-12);
    ck_assert_double_eq(copy->data[9], 48.0);
    ck_assert_int_eq(bp_scaler_invert(s, copy, &err), BP_OK);
    tu_assert_matrix_near(copy, d, 1e-9);
    bp_matrix_free(copy);

    {
        double w[3] = {1, 2, 3};
        bp_matrix wrong = tu_view(1, 3, w);
        ck_assert_int_eq(bp_scaler_apply(s, &wrong, &err), BP_EDIM);
        ck_assert_ptr_nonnull(strstr(err.message, "3 columns"));
    }
    bp_scaler_free(s);
}
END_TEST

START_TEST(scaler_errors)
{
    double d[2] = {1.25, NAN};
    size_t bad[1] = {5};
    bp_matrix x = tu_view(2, 1, d);
    bp_scaler *s = NULL;
    bp_error err;

    ck_assert_int_eq(bp_scaler_fit(&x, bad, 1, &s, &err), BP_EINVAL);
    ck_assert_int_eq(bp_scaler_fit(&x, bad, 0, &s, &err), BP_EINVAL);
    ck_assert_int_eq(bp_scaler_fit(&x, NULL, 0, &s, &err), BP_ENUMERIC);
    ck_assert_ptr_nonnull(strstr(err.message, "row 1"));
    ck_assert_ptr_null(s);
    ck_assert_int_eq(bp_scaler_fit(NULL, NULL, 0, &s, &err), BP_EINVAL);
}
END_TEST

/* 10 rows in batches of 4: 4, 4, 2, then the end of the epoch; every row
 * once per epoch, the nodes hold the rows the batcher reports. */
START_TEST(batcher_epochs)
{
    enum { N = 10 };
    double xd[N * 2], yd[N];
    bp_matrix xs = tu_view(N, 2, xd), ys = tu_view(N, 1, yd);
    const bp_matrix *src[2] = {&xs, &ys};
    bp_graph *g = bp_graph_new();
    bp_node *dst[2] = {bp_input(g, 4, 2, "x"), bp_input(g, 4, 1, "y")};
    bp_batcher *b = NULL, *b2 = NULL;
    size_t first[N], second[N];
    bp_error err;

    for (int i = 0; i < N; i++) {
        xd[2 * i] = i + 0.25;
        xd[2 * i + 1] = -i - 0.5;
        yd[i] = 3.0 * i + 0.125;
    }
    ck_assert_int_eq(bp_batcher_new(2, src, dst, NULL, 0, 4, 1, 9, &b, &err), BP_OK);
    ck_assert_uint_eq(bp_batcher_batches(b), 3);
    for (int epoch = 0; epoch < 2; epoch++) {
        size_t sizes[3] = {4, 4, 2}, got = 0, m;
        size_t *order = epoch ? second : first;
        for (int k = 0; k < 3; k++) {
            const size_t *rows;
            size_t n;
            ck_assert_int_eq(bp_batcher_next(b, &m), BP_OK);
            ck_assert_uint_eq(m, sizes[k]);
            ck_assert_uint_eq(bp_node_rows(dst[0]), m);
            rows = bp_batcher_rows(b, &n);
            ck_assert_uint_eq(n, m);
            for (size_t i = 0; i < m; i++) {
                ck_assert_double_eq(bp_node_value(dst[0])->data[2 * i], rows[i] + 0.25);
                ck_assert_double_eq(bp_node_value(dst[0])->data[2 * i + 1], -(double)rows[i] - 0.5);
                ck_assert_double_eq(bp_node_value(dst[1])->data[i], 3.0 * rows[i] + 0.125);
                order[got++] = rows[i];
            }
        }
        ck_assert_int_eq(bp_batcher_next(b, &m), BP_OK);
        ck_assert_uint_eq(m, 0);
        assert_permutation(order, N);
    }
    /* reshuffled between epochs */
    ck_assert(memcmp(first, second, sizeof first) != 0);

    /* same seed, same order */
    ck_assert_int_eq(bp_batcher_new(2, src, dst, NULL, 0, 4, 1, 9, &b2, &err), BP_OK);
    for (int k = 0, got = 0; k < 3; k++) {
        size_t m, n;
        const size_t *rows;
        ck_assert_int_eq(bp_batcher_next(b2, &m), BP_OK);
        rows = bp_batcher_rows(b2, &n);
        for (size_t i = 0; i < n; i++)
            ck_assert_uint_eq(rows[i], first[got++]);
    }
    bp_batcher_free(b);
    bp_batcher_free(b2);
    bp_graph_free(g);
}
END_TEST

/* A subset of rows, no shuffle: in the order given. */
START_TEST(batcher_subset_in_order)
{
    double xd[6] = {0.5, 1.5, 2.5, 3.5, 4.5, 5.5};
    bp_matrix xs = tu_view(6, 1, xd);
    const bp_matrix *src[1] = {&xs};
    bp_graph *g = bp_graph_new();
    bp_node *dst[1] = {bp_input(g, 1, 1, "x")};
    size_t rows[3] = {4, 1, 5}, m;
    bp_batcher *b = NULL;
    double want1[2] = {4.5, 1.5}, want2[1] = {5.5};

    ck_assert_int_eq(bp_batcher_new(1, src, dst, rows, 3, 2, 0, 0, &b, NULL), BP_OK);
    ck_assert_int_eq(bp_batcher_next(b, &m), BP_OK);
    ck_assert_uint_eq(m, 2);
    tu_assert_matrix_near(bp_node_value(dst[0]), want1, 0);
    ck_assert_int_eq(bp_batcher_next(b, &m), BP_OK);
    ck_assert_uint_eq(m, 1);
    tu_assert_matrix_near(bp_node_value(dst[0]), want2, 0);
    bp_batcher_reset(b);
    ck_assert_int_eq(bp_batcher_next(b, &m), BP_OK);
    ck_assert_uint_eq(m, 2);
    tu_assert_matrix_near(bp_node_value(dst[0]), want1, 0);
    bp_batcher_free(b);
    bp_graph_free(g);
}
END_TEST

START_TEST(batcher_errors)
{
    double xd[6] = {0};
    bp_matrix xs = tu_view(3, 2, xd), ys = tu_view(2, 1, xd);
    const bp_matrix *src[2] = {&xs, &ys};
    bp_graph *g = bp_graph_new();
    bp_node *p = bp_param(g, 1, 2, "w");
    bp_node *dst[2] = {bp_input(g, 1, 2, "x"), bp_input(g, 1, 1, "y")};
    bp_node *wrong[1] = {bp_input(g, 1, 3, "z")};
    size_t bad[1] = {3};
    bp_batcher *b = NULL;
    bp_error err;

    ck_assert_int_eq(bp_batcher_new(2, src, dst, NULL, 0, 2, 1, 0, &b, &err), BP_EDIM);
    ck_assert_ptr_nonnull(strstr(err.message, "rows"));
    ck_assert_int_eq(bp_batcher_new(1, src, wrong, NULL, 0, 2, 1, 0, &b, &err), BP_EDIM);
    ck_assert_ptr_nonnull(strstr(err.message, "'z'"));
    ck_assert_int_eq(bp_batcher_new(1, src, &p, NULL, 0, 2, 1, 0, &b, &err), BP_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "not an input"));
    ck_assert_int_eq(bp_batcher_new(1, src, dst, NULL, 0, 0, 1, 0, &b, &err), BP_EINVAL);
    ck_assert_int_eq(bp_batcher_new(1, src, dst, bad, 1, 2, 1, 0, &b, &err), BP_EINVAL);
    ck_assert_ptr_null(b);
    bp_graph_free(g);
}
END_TEST

static size_t n_allocs;
static void *counting_malloc(size_t n)
{
    n_allocs++;
    return malloc(n);
}

/* After the first epoch has sized the nodes, batches allocate nothing. */
START_TEST(batcher_next_does_not_allocate)
{
    double xd[50];
    bp_matrix xs = tu_view(50, 1, xd);
    const bp_matrix *src[1] = {&xs};
    bp_graph *g = bp_graph_new();
    bp_node *dst[1] = {bp_input(g, 1, 1, "x")};
    bp_batcher *b = NULL;
    size_t m;

    for (int i = 0; i < 50; i++)
        xd[i] = i * 0.7;
    ck_assert_int_eq(bp_batcher_new(1, src, dst, NULL, 0, 16, 1, 5, &b, NULL), BP_OK);
    do
        ck_assert_int_eq(bp_batcher_next(b, &m), BP_OK);
    while (m);
    ck_assert_int_eq(bp_set_alloc_funcs(counting_malloc, free), BP_OK);
    n_allocs = 0;
    for (int e = 0; e < 3; e++)
        do
            ck_assert_int_eq(bp_batcher_next(b, &m), BP_OK);
        while (m);
    ck_assert_int_eq(bp_set_alloc_funcs(NULL, NULL), BP_OK);
    ck_assert_uint_eq(n_allocs, 0);
    bp_batcher_free(b);
    bp_graph_free(g);
}
END_TEST

START_TEST(init_ranges_and_seed)
{
    bp_graph *g = bp_graph_new();
    bp_node *w = bp_param(g, 40, 60, "w"), *h = bp_param(g, 200, 50, "h");
    bp_node *x = bp_input(g, 2, 2, "x");
    bp_rng r, r2;
    double bound = sqrt(6.0 / 100.0), lo = 0, hi = 0, s2 = 0;
    bp_matrix *first;

    bp_rng_seed(&r, 11);
    ck_assert_int_eq(bp_init_glorot(w, &r), BP_OK);
    for (size_t k = 0; k < 2400; k++) {
        double v = bp_node_value(w)->data[k];
        ck_assert(v >= -bound && v < bound);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    /* the range is used, not just a corner of it */
    ck_assert(lo < -0.9 * bound && hi > 0.9 * bound);
    first = bp_matrix_copy(bp_node_value(w));
    bp_rng_seed(&r2, 11);
    ck_assert_int_eq(bp_init_glorot(w, &r2), BP_OK);
    tu_assert_matrix_near(bp_node_value(w), first->data, 0);
    bp_matrix_free(first);

    /* He: sd √(2/200) = 0.1 over 10000 entries (standard error of the
     * variance ≈ 1.4e-4 around 0.01) */
    ck_assert_int_eq(bp_init_he(h, &r), BP_OK);
    for (size_t k = 0; k < 10000; k++)
        s2 += bp_node_value(h)->data[k] * bp_node_value(h)->data[k];
    ck_assert_double_eq_tol(s2 / 10000, 0.01, 7e-4);

    ck_assert_int_eq(bp_init_uniform(w, 2.5, 3.25, &r), BP_OK);
    for (size_t k = 0; k < 2400; k++)
        ck_assert(bp_node_value(w)->data[k] >= 2.5 && bp_node_value(w)->data[k] < 3.25);

    ck_assert_int_eq(bp_init_glorot(x, &r), BP_EINVAL);
    ck_assert_ptr_nonnull(strstr(bp_graph_message(g), "'x' is not a param"));
    bp_graph_clear_error(g);
    ck_assert_int_eq(bp_init_uniform(w, 1.0, 0.5, &r), BP_EINVAL);
    bp_graph_free(g);
}
END_TEST

static Suite *train_suite(void)
{
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, rng_matches_reference_sequence);
    tcase_add_test(tc, rng_distributions);
    tcase_add_test(tc, shuffle_is_a_seeded_permutation);
    tcase_add_test(tc, split_counts_order_and_seed);
    tcase_add_test(tc, split_bad_fractions);
    tcase_add_test(tc, split_stratified_shares_every_class);
    tcase_add_test(tc, one_hot_rows);
    tcase_add_test(tc, take_rows_copies_in_order);
    tcase_add_test(tc, scaler_uses_training_rows_only);
    tcase_add_test(tc, scaler_errors);
    tcase_add_test(tc, batcher_epochs);
    tcase_add_test(tc, batcher_subset_in_order);
    tcase_add_test(tc, batcher_errors);
    tcase_add_test(tc, batcher_next_does_not_allocate);
    tcase_add_test(tc, init_ranges_and_seed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(train_suite());
}
