/* SPDX-License-Identifier: MIT */
/* Bad input for the training kit (train.h): the generator, initialisation,
 * splits, the scaler, the batcher and the optimizers. */
#include "check_badinput.h"

#include <float.h>
#include <stdint.h>
#include <string.h>


/* ---- generator, initialisation, splits, scaling, batches ---- */

static void check_rng_and_init(const char *name)
{
    bp_rng rng, copy;
    size_t idx[5] = {0, 1, 2, 3, 4}, seen = 0;
    bp_graph *g = new_graph();
    bp_node *w = filled_param(g, 3, 2, "w");
    bp_node *x = bp_input(g, 2, 3, "x");
    bp_node *y = bp_matmul(g, x, w);
    bp_node *c = constant_leaf(g, 2, 2, "c");
    bp_node *not_params[3] = {x, y, c};
    const double bad_range[][2] = {
        {1, 0}, {NAN, 1}, {0, NAN}, {-INFINITY, 0}, {0, INFINITY}, {-DBL_MAX, DBL_MAX},
    };
    double w0[6];

    (void)name;
    memcpy(w0, bp_node_value(w)->data, sizeof w0);
    /* The generator cannot fail: a NULL rng gives 0, and seeding or
     * shuffling with one does nothing. */
    bp_rng_seed(NULL, 1);
    ck_assert_uint_eq(bp_rng_next(NULL), 0);
    ck_assert_double_eq(bp_rng_uniform(NULL), 0);
    ck_assert_double_eq(bp_rng_normal(NULL), 0);
    ck_assert_uint_eq(bp_rng_below(NULL, 10), 0);
    bp_rng_seed(&rng, 3);
    bp_shuffle(idx, 5, NULL);
    bp_shuffle(NULL, 5, &rng);
    bp_shuffle(idx, 0, &rng);
    bp_shuffle(idx, 1, &rng);
    for (size_t i = 0; i < 5; i++)
        ck_assert_uint_eq(idx[i], i);
    bp_shuffle(idx, 5, &rng);
    for (size_t i = 0; i < 5; i++)
        seen |= (size_t)1 << idx[i];
    ck_assert_uint_eq(seen, 31);   /* still a permutation */

    /* Extreme seeds and bounds: seed 0 must not give xoshiro's all-zero
     * fixed point; n = 0, 1 and SIZE_MAX stay in range. */
    bp_rng_seed(&rng, 0);
    ck_assert((rng.s[0] | rng.s[1] | rng.s[2] | rng.s[3]) != 0);
    copy = rng;
    ck_assert_uint_eq(bp_rng_next(&rng), bp_rng_next(&copy));   /* a copy replays */
    bp_rng_seed(&rng, UINT64_MAX);
    for (int i = 0; i < 1000; i++) {
        double u = bp_rng_uniform(&rng), z = bp_rng_normal(&rng);
        ck_assert(u >= 0 && u < 1);
        ck_assert(isfinite(z));
        ck_assert_uint_lt(bp_rng_below(&rng, SIZE_MAX), SIZE_MAX);
        ck_assert_uint_eq(bp_rng_below(&rng, 1), 0);
        ck_assert_uint_eq(bp_rng_below(&rng, 0), 0);
    }

    /* Initialisation: no param (no graph to report to), no rng, a node
     * that is not a param, a range that is empty, not finite or whose
     * width overflows.  The param is unchanged each time. */
    ck_assert_int_eq(bp_init_uniform(NULL, 0, 1, &rng), BP_EINVAL);
    ck_assert_int_eq(bp_init_glorot(NULL, &rng), BP_EINVAL);
    ck_assert_int_eq(bp_init_he(NULL, &rng), BP_EINVAL);
    for (int k = 0; k < 3; k++) {
        const char *fn = k == 0 ? "init_uniform" : k == 1 ? "init_glorot" : "init_he";
        bp_status st = k == 0 ? bp_init_uniform(w, -1, 1, NULL)
                     : k == 1 ? bp_init_glorot(w, NULL) : bp_init_he(w, NULL);
        ck_assert_int_eq(st, BP_EINVAL);
        expect_graph_error(g, BP_EINVAL, fn);
        expect_graph_error(g, BP_EINVAL, "rng is NULL");
        bp_graph_clear_error(g);
        for (size_t i = 0; i < 3; i++) {
            st = k == 0 ? bp_init_uniform(not_params[i], -1, 1, &rng)
               : k == 1 ? bp_init_glorot(not_params[i], &rng) : bp_init_he(not_params[i], &rng);
            ck_assert_int_eq(st, BP_EINVAL);
            expect_graph_error(g, BP_EINVAL, "is not a param");
            expect_graph_error(g, BP_EINVAL, fn);
            bp_graph_clear_error(g);
        }
        assert_values(w, w0);
    }
    ck_assert_ptr_null(bp_node_value(y));   /* an op node's value was not written */
    for (size_t i = 0; i < sizeof bad_range / sizeof bad_range[0]; i++) {
        ck_assert_int_eq(bp_init_uniform(w, bad_range[i][0], bad_range[i][1], &rng), BP_EINVAL);
        expect_graph_error(g, BP_EINVAL, "bad range");
        expect_graph_error(g, BP_EINVAL, "'w'");
        bp_graph_clear_error(g);
        assert_values(w, w0);
    }
    /* Valid calls give finite values in range. */
    ck_assert_int_eq(bp_init_uniform(w, -DBL_MAX / 2, DBL_MAX / 2, &rng), BP_OK);
    ck_assert_int_eq(bp_init_glorot(w, &rng), BP_OK);
    for (size_t k = 0; k < 6; k++)
        ck_assert(fabs(bp_node_value(w)->data[k]) <= sqrt(6.0 / 5.0));   /* 3x2: fans 3 + 2 */
    ck_assert_int_eq(bp_init_he(w, &rng), BP_OK);
    for (size_t k = 0; k < 6; k++)
        ck_assert(isfinite(bp_node_value(w)->data[k]));
    expect_graph_error(g, BP_OK, NULL);
    bp_graph_free(g);
}

/* Classes: NULL arguments, k 0, a class not below k, bad fractions and
 * sizes whose arrays overflow. */
static void check_classes(const char *name)
{
    const size_t classes[4] = {1, 0, 1, 2};
    bp_split sp;
    bp_matrix *m = (bp_matrix *)&m;
    bp_error err;

    (void)name;
    ck_assert_int_eq(bp_split_stratified(classes, 4, 3, 0.2, 0.2, 1, NULL, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "NULL");
    sp.index = (size_t *)&sp;
    ck_assert_int_eq(bp_split_stratified(NULL, 4, 3, 0.2, 0.2, 1, &sp, fresh(&err)), BP_EINVAL);
    ck_assert_ptr_null(sp.index);
    ck_assert_int_eq(bp_split_stratified(classes, 4, 0, 0.2, 0.2, 1, &sp, NULL), BP_EINVAL);
    ck_assert_int_eq(bp_split_stratified(classes, 4, 2, 0.2, 0.2, 1, &sp, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "row 3 has class 2");
    ck_assert_int_eq(bp_split_stratified(classes, 4, 3, 0.5, 0.5, 1, &sp, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "fractions");
    ck_assert_int_eq(bp_split_stratified(classes, 0, 3, 0.1, 0.1, 1, &sp, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "no training rows");
    ck_assert_ptr_null(sp.index);
    bp_split_free(&sp);

    ck_assert_int_eq(bp_one_hot(classes, 4, 3, NULL, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "out is NULL");
    ck_assert_int_eq(bp_one_hot(NULL, 4, 3, &m, fresh(&err)), BP_EINVAL);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(bp_one_hot(classes, 0, 3, &m, NULL), BP_EINVAL);
    ck_assert_int_eq(bp_one_hot(classes, 4, 0, &m, NULL), BP_EINVAL);
    ck_assert_int_eq(bp_one_hot(classes, 4, 2, &m, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "row 3 has class 2");
    ck_assert_int_eq(bp_one_hot(classes, 4, SIZE_MAX / 4, &m, fresh(&err)), BP_ENOMEM);
    expect_error_struct(err, BP_ENOMEM, "out of memory");
    ck_assert_ptr_null(m);
}

static void check_split_and_scaler(const char *name)
{
    const double fracs[][2] = {
        {-0.1, 0}, {0, -0.1}, {1, 0}, {0, 1}, {0.5, 0.5}, {0.7, 0.6}, {NAN, 0}, {0, NAN},
        {INFINITY, 0}, {0, -INFINITY},
    };
    double d[8] = {1, 10, 2, 20, 3, 30, 4, 40}, before[8];
    double cst[6] = {5, 1, 5, 2, 5, 3};
    bp_matrix x = {4, 2, d}, nodata = {4, 2, NULL}, huge = {1, SIZE_MAX / 4, d};
    bp_matrix three = {2, 3, d}, none = {0, 2, NULL}, c = {3, 2, cst}, empty3 = {0, 3, NULL};
    const size_t rows[3] = {0, 2, 3}, far[2] = {0, 4}, zeros[2] = {0, 0};
    bp_split sp;
    bp_matrix *m = (bp_matrix *)&m;
    bp_scaler *s = (bp_scaler *)&s, *s3;
    bp_error err;

    (void)name;
    /* Splits: no out, fractions outside [0, 1) or summing to 1 or more,
     * no rows, and row counts whose index array overflows size_t. */
    ck_assert_int_eq(bp_split_rows(10, 0.2, 0.1, 1, 1, NULL, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "out is NULL");
    ck_assert_int_eq(bp_split_rows(10, 0.2, 0.1, 1, 1, NULL, NULL), BP_EINVAL);
    for (size_t i = 0; i < sizeof fracs / sizeof fracs[0]; i++) {
        sp.index = (size_t *)&sp;
        ck_assert_int_eq(bp_split_rows(10, fracs[i][0], fracs[i][1], 1, 1, &sp, fresh(&err)), BP_EINVAL);
        expect_error_struct(err, BP_EINVAL, "fractions");
        ck_assert_ptr_null(sp.index);
    }
    ck_assert_int_eq(bp_split_rows(0, 0, 0, 0, 1, &sp, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "no training rows");
    ck_assert_int_eq(bp_split_rows(SIZE_MAX, 0, 0, 1, 1, &sp, fresh(&err)), BP_ENOMEM);
    expect_error_struct(err, BP_ENOMEM, "out of memory");
    ck_assert_ptr_null(sp.index);
    ck_assert_int_eq(bp_split_rows(SIZE_MAX / 8 + 1, 0.1, 0.1, 0, 1, &sp, fresh(&err)), BP_ENOMEM);
    expect_error_struct(err, BP_ENOMEM, "out of memory");
    bp_split_free(&sp);            /* a failed split is empty: freeing it is safe */
    bp_split_free(NULL);
    ck_assert_int_eq(bp_split_rows(1, 0.5, 0.4, 1, UINT64_MAX, &sp, NULL), BP_OK);
    ck_assert_uint_eq(sp.n_train, 1);
    bp_split_free(&sp);
    bp_split_free(&sp);            /* twice: it zeroed the split */
    ck_assert_ptr_null(sp.index);

    /* Taking rows: no out, no matrix, data or row list, a row out of
     * range, and a result whose size overflows. */
    ck_assert_int_eq(bp_matrix_take_rows(&x, rows, 3, NULL, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "out is NULL");
    ck_assert_int_eq(bp_matrix_take_rows(NULL, rows, 3, &m, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "NULL");
    ck_assert_ptr_null(m);
    ck_assert_int_eq(bp_matrix_take_rows(&nodata, rows, 3, &m, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "NULL");
    ck_assert_int_eq(bp_matrix_take_rows(&x, NULL, 2, &m, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "row list");
    ck_assert_int_eq(bp_matrix_take_rows(&x, far, 2, &m, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "row 4 is out of range (4 rows)");
    ck_assert_int_eq(bp_matrix_take_rows(&huge, zeros, 2, &m, fresh(&err)), BP_ENOMEM);
    expect_error_struct(err, BP_ENOMEM, "out of memory");
    ck_assert_ptr_null(m);
    ck_assert_int_eq(bp_matrix_take_rows(&x, NULL, 0, &m, NULL), BP_OK);   /* 0 rows is valid */
    ck_assert_uint_eq(m->rows, 0);
    bp_matrix_free(m);
    ck_assert_int_eq(bp_matrix_take_rows(&x, rows, 3, &m, NULL), BP_OK);
    ck_assert_double_eq(m->data[5], 40);
    bp_matrix_free(m);

    /* Scaler fit: no out or matrix, no rows, a row out of range,
     * non-finite data, columns whose statistics overflow size_t. */
    ck_assert_int_eq(bp_scaler_fit(&x, NULL, 0, NULL, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "out is NULL");
    ck_assert_int_eq(bp_scaler_fit(NULL, NULL, 0, &s, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "NULL");
    ck_assert_ptr_null(s);
    ck_assert_int_eq(bp_scaler_fit(&nodata, NULL, 0, &s, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "NULL");
    ck_assert_int_eq(bp_scaler_fit(&x, rows, 0, &s, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "no rows");
    ck_assert_int_eq(bp_scaler_fit(&none, NULL, 0, &s, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "no rows");
    ck_assert_int_eq(bp_scaler_fit(&x, far, 2, &s, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "row 4 is out of range");
    ck_assert_int_eq(bp_scaler_fit(&huge, NULL, 0, &s, fresh(&err)), BP_ENOMEM);
    expect_error_struct(err, BP_ENOMEM, "out of memory");
    ck_assert_ptr_null(s);
    d[2] = NAN;
    ck_assert_int_eq(bp_scaler_fit(&x, NULL, 0, &s, fresh(&err)), BP_ENUMERIC);
    expect_error_struct(err, BP_ENUMERIC, "row 1, column 0");
    ck_assert_ptr_null(s);
    ck_assert_int_eq(bp_scaler_fit(&x, rows, 3, &s, NULL), BP_OK);   /* row 1 is not used */
    bp_scaler_free(s);
    d[2] = 2;
    d[7] = -INFINITY;
    ck_assert_int_eq(bp_scaler_fit(&x, rows, 3, &s, fresh(&err)), BP_ENUMERIC);
    expect_error_struct(err, BP_ENUMERIC, "row 3, column 1");
    d[7] = 40;

    /* Applying a scaler fitted on 3 columns to 2: BP_EDIM, x unchanged. */
    ck_assert_int_eq(bp_scaler_fit(&three, NULL, 0, &s3, NULL), BP_OK);
    ck_assert_uint_eq(bp_scaler_cols(s3), 3);
    memcpy(before, d, sizeof d);
    ck_assert_int_eq(bp_scaler_apply(s3, &x, fresh(&err)), BP_EDIM);
    expect_error_struct(err, BP_EDIM, "matrix has 2 columns, scaler 3");
    ck_assert_int_eq(bp_scaler_invert(s3, &x, fresh(&err)), BP_EDIM);
    expect_error_struct(err, BP_EDIM, "scaler_invert");
    ck_assert_int_eq(bp_scaler_apply(s3, &x, NULL), BP_EDIM);
    ck_assert_mem_eq(before, d, sizeof d);
    ck_assert_int_eq(bp_scaler_apply(NULL, &x, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "scaler_apply");
    ck_assert_int_eq(bp_scaler_invert(s3, NULL, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "scaler_invert");
    ck_assert_int_eq(bp_scaler_apply(s3, &nodata, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "NULL");
    ck_assert_int_eq(bp_scaler_apply(s3, &empty3, NULL), BP_OK);   /* no rows: nothing to do */
    bp_scaler_free(s3);

    /* The accessors and free cannot fail: NULL gives 0 / NULL / nothing. */
    ck_assert_uint_eq(bp_scaler_cols(NULL), 0);
    ck_assert_ptr_null(bp_scaler_mean(NULL));
    ck_assert_ptr_null(bp_scaler_std(NULL));
    bp_scaler_free(NULL);

    /* A constant column gets std 1 and maps to 0, not to NaN; apply and
     * invert round-trip. */
    ck_assert_int_eq(bp_scaler_fit(&c, NULL, 0, &s, NULL), BP_OK);
    ck_assert_double_eq(bp_scaler_std(s)[0], 1);
    ck_assert_double_eq(bp_scaler_mean(s)[0], 5);
    ck_assert_int_eq(bp_scaler_apply(s, &c, NULL), BP_OK);
    ck_assert_double_eq(cst[0], 0);
    ck_assert_int_eq(bp_scaler_invert(s, &c, NULL), BP_OK);
    ck_assert_double_eq_tol(cst[5], 3, 1e-12);
    bp_scaler_free(s);
}

static void check_batcher(const char *name)
{
    double xd[8] = {1, 2, 3, 4, 5, 6, 7, 8}, yd[4] = {1, 2, 3, 4};
    bp_matrix xm = {4, 2, xd}, ym = {4, 1, yd}, y3 = {3, 1, yd}, nodata = {4, 1, NULL};
    bp_graph *g = new_graph();
    bp_node *x = bp_input(g, 2, 2, "x"), *y = bp_input(g, 2, 1, "y");
    bp_node *w = filled_param(g, 2, 1, "w");
    bp_node *p = bp_matmul(g, x, w);
    const bp_matrix *src[2] = {&xm, &ym}, *src_bad[2];
    bp_node *dst[2] = {x, y}, *dst_bad[2];
    const size_t rows[2] = {3, 1}, far[2] = {1, 4};
    bp_batcher *b = (bp_batcher *)&b;
    bp_error err;
    size_t n = 7;

    (void)name;
    ck_assert_int_eq(bp_batcher_new(2, src, dst, NULL, 0, 2, 0, 1, NULL, fresh(&err)), BP_EINVAL);
    expect_both(g, err, BP_EINVAL, "out is NULL");
    ck_assert_int_eq(bp_batcher_new(2, NULL, dst, NULL, 0, 2, 0, 1, &b, fresh(&err)), BP_EINVAL);
    expect_both(g, err, BP_EINVAL, "batcher");
    ck_assert_ptr_null(b);
    /* No node given (none, or a count of 0): no graph to record in. */
    ck_assert_int_eq(bp_batcher_new(2, src, NULL, NULL, 0, 2, 0, 1, &b, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "batcher");
    ck_assert_int_eq(bp_batcher_new(0, src, dst, NULL, 0, 2, 0, 1, &b, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "sources");
    expect_graph_error(g, BP_OK, NULL);
    ck_assert_int_eq(bp_batcher_new(BP_MAX_INPUTS + 1, src, dst, NULL, 0, 2, 0, 1, &b, fresh(&err)),
                     BP_EINVAL);
    expect_both(g, err, BP_EINVAL, "sources");
    ck_assert_int_eq(bp_batcher_new(SIZE_MAX, src, dst, NULL, 0, 2, 0, 1, &b, fresh(&err)), BP_EINVAL);
    expect_both(g, err, BP_EINVAL, "sources");
    ck_assert_int_eq(bp_batcher_new(2, src, dst, NULL, 0, 0, 0, 1, &b, fresh(&err)), BP_EINVAL);
    expect_both(g, err, BP_EINVAL, "batch size");
    ck_assert_int_eq(bp_batcher_new(2, src, dst, NULL, 0, 0, 0, 1, &b, NULL), BP_EINVAL);
    expect_graph_only(g, BP_EINVAL, "batch size");

    /* One bad source or node among good ones. */
    src_bad[0] = &xm;
    dst_bad[0] = x;
    dst_bad[1] = y;
    src_bad[1] = NULL;
    ck_assert_int_eq(bp_batcher_new(2, src_bad, dst, NULL, 0, 2, 0, 1, &b, fresh(&err)), BP_EINVAL);
    expect_both(g, err, BP_EINVAL, "node 1 is NULL");
    src_bad[1] = &nodata;
    ck_assert_int_eq(bp_batcher_new(2, src_bad, dst, NULL, 0, 2, 0, 1, &b, fresh(&err)), BP_EINVAL);
    expect_both(g, err, BP_EINVAL, "node 1 is NULL");
    src_bad[1] = &y3;   /* sources of different row counts */
    ck_assert_int_eq(bp_batcher_new(2, src_bad, dst, NULL, 0, 2, 0, 1, &b, fresh(&err)), BP_EDIM);
    expect_both(g, err, BP_EDIM, "source 1 has 3 rows, source 0 has 4");
    src_bad[1] = &xm;   /* a destination of the wrong column count */
    ck_assert_int_eq(bp_batcher_new(2, src_bad, dst, NULL, 0, 2, 0, 1, &b, fresh(&err)), BP_EDIM);
    expect_both(g, err, BP_EDIM, "source 1 has 2 columns, input 'y' takes 1");
    dst_bad[1] = NULL;
    ck_assert_int_eq(bp_batcher_new(2, src, dst_bad, NULL, 0, 2, 0, 1, &b, fresh(&err)), BP_EINVAL);
    expect_both(g, err, BP_EINVAL, "node 1 is NULL");
    dst_bad[1] = w;     /* a param, not an input */
    ck_assert_int_eq(bp_batcher_new(2, src, dst_bad, NULL, 0, 2, 0, 1, &b, fresh(&err)), BP_EINVAL);
    expect_both(g, err, BP_EINVAL, "'w' is not an input");
    dst_bad[1] = p;     /* an op node */
    ck_assert_int_eq(bp_batcher_new(2, src, dst_bad, NULL, 0, 2, 0, 1, &b, fresh(&err)), BP_EINVAL);
    expect_both(g, err, BP_EINVAL, "is not an input");
    ck_assert_int_eq(bp_batcher_new(2, src, dst, rows, 0, 2, 0, 1, &b, fresh(&err)), BP_EINVAL);
    expect_both(g, err, BP_EINVAL, "no rows");
    ck_assert_int_eq(bp_batcher_new(2, src, dst, far, 2, 2, 0, 1, &b, fresh(&err)), BP_EINVAL);
    expect_both(g, err, BP_EINVAL, "row 4 is out of range (4 rows)");
    ck_assert_ptr_null(b);
    ck_assert_ptr_null(bp_node_value(x));   /* nothing was bound */

    /* The rest cannot fail, or only with BP_EINVAL for NULL: NULL gives
     * 0 / NULL / nothing. */
    bp_batcher_free(NULL);
    ck_assert_int_eq(bp_batcher_next(NULL, &n), BP_EINVAL);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(bp_batcher_next(NULL, NULL), BP_EINVAL);
    bp_batcher_reset(NULL);
    ck_assert_uint_eq(bp_batcher_batches(NULL), 0);
    n = 7;
    ck_assert_ptr_null(bp_batcher_rows(NULL, &n));
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(bp_batcher_rows(NULL, NULL));

    /* A batch size far beyond the rows (its staging size would overflow)
     * is one batch of every row. */
    ck_assert_int_eq(bp_batcher_new(2, src, dst, rows, 2, SIZE_MAX, 1, UINT64_MAX, &b, fresh(&err)),
                     BP_OK);
    ck_assert_uint_eq(bp_batcher_batches(b), 1);
    ck_assert_ptr_null(bp_batcher_rows(b, &n));   /* no batch yet */
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(bp_batcher_next(b, &n), BP_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_ptr_nonnull(bp_batcher_rows(b, NULL));
    ck_assert_uint_eq(bp_node_rows(x), 2);
    ck_assert_int_eq(bp_batcher_next(b, &n), BP_OK);
    ck_assert_uint_eq(n, 0);                       /* the epoch is over */
    ck_assert_ptr_null(bp_batcher_rows(b, &n));
    ck_assert_int_eq(bp_batcher_next(b, NULL), BP_OK);
    bp_batcher_reset(b);
    bp_batcher_reset(b);
    ck_assert_int_eq(bp_batcher_next(b, &n), BP_OK);
    ck_assert_uint_eq(n, 2);
    bp_batcher_free(b);

    /* A remainder batch of one row. */
    ck_assert_int_eq(bp_batcher_new(2, src, dst, NULL, 0, 3, 0, 1, &b, NULL), BP_OK);
    ck_assert_uint_eq(bp_batcher_batches(b), 2);
    ck_assert_int_eq(bp_batcher_next(b, &n), BP_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(bp_batcher_next(b, &n), BP_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_double_eq(bp_node_value(y)->data[0], 4);
    bp_batcher_free(b);
    expect_graph_error(g, BP_OK, NULL);
    bp_graph_free(g);
}

/* ---- optimizers ---- */

static void check_optimizer(const char *name)
{
    double xd[4] = {1, 2, 3, 4};
    bp_graph *g = new_graph(), *other = new_graph(), *bare = new_graph();
    bp_node *x = bp_input(g, 2, 2, "x");
    bp_node *w = filled_param(g, 2, 1, "w"), *b = filled_param(g, 1, 1, "b");
    bp_node *loss = bp_sum(g, bp_add(g, bp_matmul(g, x, w), b));
    bp_node *alien = filled_param(other, 2, 1, "alien");
    bp_optim_config cfg, bad;
    bp_optimizer *opt = (bp_optimizer *)&opt;
    bp_node *list[2];
    double w0[2], b0[1];
    struct { bp_optim_kind kind; int field; double v; } bad_cfg[] = {
        {BP_OPTIM_SGD, 0, 0}, {BP_OPTIM_SGD, 0, -1}, {BP_OPTIM_SGD, 0, NAN},
        {BP_OPTIM_SGD, 0, INFINITY}, {BP_OPTIM_SGD, 1, -0.1}, {BP_OPTIM_SGD, 1, 1},
        {BP_OPTIM_SGD, 1, NAN}, {BP_OPTIM_ADAM, 2, 1}, {BP_OPTIM_ADAM, 2, NAN},
        {BP_OPTIM_ADAM, 3, 1}, {BP_OPTIM_ADAM, 3, -0.1}, {BP_OPTIM_ADAM, 4, 0},
        {BP_OPTIM_ADAM, 4, -1}, {BP_OPTIM_ADAM, 4, NAN}, {(bp_optim_kind)7, 0, 0.1},
        {(bp_optim_kind)-1, 0, 0.1},
    };

    (void)name;
    memcpy(w0, bp_node_value(w)->data, sizeof w0);
    memcpy(b0, bp_node_value(b)->data, sizeof b0);
    cfg = bp_optim_defaults(BP_OPTIM_SGD);
    ck_assert_double_eq(cfg.lr, 0.01);
    ck_assert_double_eq(bp_optim_defaults(BP_OPTIM_ADAM).eps, 1e-8);
    /* An unknown kind gets defaults too, and is refused when used. */
    bad = bp_optim_defaults((bp_optim_kind)7);
    ck_assert_int_eq(bp_optimizer_new(g, NULL, 0, &bad, &opt), BP_EINVAL);
    expect_graph_error(g, BP_EINVAL, "bad configuration");
    ck_assert_ptr_null(opt);
    bp_graph_clear_error(g);

    ck_assert_int_eq(bp_optimizer_new(NULL, NULL, 0, &cfg, &opt), BP_EINVAL);   /* no graph */
    ck_assert_int_eq(bp_optimizer_new(g, NULL, 0, &cfg, NULL), BP_EINVAL);
    expect_graph_error(g, BP_EINVAL, "out is NULL");
    bp_graph_clear_error(g);
    ck_assert_int_eq(bp_optimizer_new(g, NULL, 0, NULL, &opt), BP_EINVAL);
    expect_graph_error(g, BP_EINVAL, "bad configuration");
    bp_graph_clear_error(g);
    for (size_t i = 0; i < sizeof bad_cfg / sizeof bad_cfg[0]; i++) {
        bad = bp_optim_defaults(bad_cfg[i].kind);
        switch (bad_cfg[i].field) {
        case 0: bad.lr = bad_cfg[i].v; break;
        case 1: bad.momentum = bad_cfg[i].v; break;
        case 2: bad.beta1 = bad_cfg[i].v; break;
        case 3: bad.beta2 = bad_cfg[i].v; break;
        default: bad.eps = bad_cfg[i].v; break;
        }
        opt = (bp_optimizer *)&opt;
        ck_assert_msg(bp_optimizer_new(g, NULL, 0, &bad, &opt) == BP_EINVAL, "config %zu", i);
        expect_graph_error(g, BP_EINVAL, "bad configuration");
        ck_assert_ptr_null(opt);
        bp_graph_clear_error(g);
    }

    /* Nodes that are not params of g: another graph's, an input, an op
     * node, NULL; an empty list; a graph with no params. */
    list[0] = w;
    list[1] = alien;
    ck_assert_int_eq(bp_optimizer_new(g, list, 2, &cfg, &opt), BP_EINVAL);
    expect_graph_error(g, BP_EINVAL, "node 1 ('alien') is not a param of this graph");
    ck_assert_int_eq(bp_graph_status(other), BP_OK);
    bp_graph_clear_error(g);
    list[1] = x;
    ck_assert_int_eq(bp_optimizer_new(g, list, 2, &cfg, &opt), BP_EINVAL);
    expect_graph_error(g, BP_EINVAL, "('x') is not a param");
    bp_graph_clear_error(g);
    list[1] = loss;
    ck_assert_int_eq(bp_optimizer_new(g, list, 2, &cfg, &opt), BP_EINVAL);
    expect_graph_error(g, BP_EINVAL, "is not a param");
    bp_graph_clear_error(g);
    list[1] = NULL;
    ck_assert_int_eq(bp_optimizer_new(g, list, 2, &cfg, &opt), BP_EINVAL);
    expect_graph_error(g, BP_EINVAL, "NULL");
    bp_graph_clear_error(g);
    ck_assert_int_eq(bp_optimizer_new(g, list, 0, &cfg, &opt), BP_EINVAL);
    expect_graph_error(g, BP_EINVAL, "no params");
    bp_graph_clear_error(g);
    ck_assert_ptr_nonnull(bp_input(bare, 2, 2, "only an input"));
    ck_assert_int_eq(bp_optimizer_new(bare, NULL, 0, &cfg, &opt), BP_EINVAL);
    expect_graph_error(bare, BP_EINVAL, "no params");
    ck_assert_ptr_null(opt);
    /* A graph with a sticky error keeps it. */
    ck_assert_int_eq(bp_optimizer_new(bare, NULL, 0, &cfg, &opt), BP_EINVAL);
    expect_graph_error(bare, BP_EINVAL, "no params");

    /* The rest cannot fail but for BP_EINVAL on NULL; a bad learning rate
     * is ignored. */
    bp_optimizer_free(NULL);
    ck_assert_int_eq(bp_optimizer_step(NULL), BP_EINVAL);
    bp_optimizer_set_lr(NULL, 0.1);
    ck_assert_uint_eq(bp_optimizer_steps(NULL), 0);
    ck_assert_double_eq(bp_optimizer_grad_norm(NULL), 0.0);
    ck_assert_double_eq(bp_optim_lr(NULL, 1), 0.0);

    /* A NaN or infinite gradient: BP_ENUMERIC naming the param, and no
     * param changes (nor the step count), for SGD, SGD with momentum and
     * Adam; then finite gradients step normally. */
    for (int k = 0; k < 3; k++) {
        for (int inf = 0; inf < 2; inf++) {
            double nx[4] = {1, 2, 3, 4};
            cfg = bp_optim_defaults(k == 2 ? BP_OPTIM_ADAM : BP_OPTIM_SGD);
            cfg.momentum = k == 1 ? 0.9 : 0.0;
            ck_assert_int_eq(bp_optimizer_new(g, NULL, 0, &cfg, &opt), BP_OK);
            ck_assert_int_eq(bp_optimizer_step(opt), BP_OK);   /* no gradient yet: skipped */
            ck_assert_uint_eq(bp_optimizer_steps(opt), 1);
            assert_values(w, w0);
            nx[2] = inf ? INFINITY : NAN;
            tu_set(x, 2, 2, nx);
            ck_assert_int_eq(bp_forward(g, loss), BP_OK);
            ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
            ck_assert_int_eq(bp_optimizer_step(opt), BP_ENUMERIC);
            expect_graph_error(g, BP_ENUMERIC, "gradient of 'w' is not finite");
            ck_assert_uint_eq(bp_optimizer_steps(opt), 1);
            assert_values(w, w0);
            assert_values(b, b0);
            bp_graph_clear_error(g);
            bp_zero_grad(g);

            tu_set(x, 2, 2, xd);
            ck_assert_int_eq(bp_forward(g, loss), BP_OK);
            ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
            bp_optimizer_set_lr(opt, NAN);
            bp_optimizer_set_lr(opt, -1);
            bp_optimizer_set_lr(opt, 0);
            bp_optimizer_set_lr(opt, INFINITY);
            ck_assert_int_eq(bp_optimizer_step(opt), BP_OK);
            ck_assert_uint_eq(bp_optimizer_steps(opt), 2);
            if (k == 0)   /* plain SGD with the lr it was given: b −= 0.01 · 2 */
                ck_assert_double_eq_tol(bp_node_value(b)->data[0], b0[0] - 0.02, 1e-15);
            else          /* Adam's first step moves by about lr */
                ck_assert(bp_node_value(b)->data[0] < b0[0]);
            bp_optimizer_free(opt);
            bp_zero_grad(g);
            tu_set(w, 2, 1, w0);
            tu_set(b, 1, 1, b0);
        }
    }
    expect_graph_error(g, BP_OK, NULL);
    bp_graph_free(bare);
    bp_graph_free(other);
    bp_graph_free(g);
}

/* ---- the table: this area's public functions, and the check that tries each ---- */

static const struct covered covered[] = {
    {"bp_rng_seed", check_rng_and_init},
    {"bp_rng_next", check_rng_and_init},
    {"bp_rng_uniform", check_rng_and_init},
    {"bp_rng_normal", check_rng_and_init},
    {"bp_rng_below", check_rng_and_init},
    {"bp_shuffle", check_rng_and_init},
    {"bp_init_uniform", check_rng_and_init},
    {"bp_init_glorot", check_rng_and_init},
    {"bp_init_he", check_rng_and_init},
    {"bp_split_rows", check_split_and_scaler},
    {"bp_split_free", check_split_and_scaler},
    {"bp_split_stratified", check_classes},
    {"bp_one_hot", check_classes},
    {"bp_matrix_take_rows", check_split_and_scaler},
    {"bp_scaler_fit", check_split_and_scaler},
    {"bp_scaler_free", check_split_and_scaler},
    {"bp_scaler_cols", check_split_and_scaler},
    {"bp_scaler_mean", check_split_and_scaler},
    {"bp_scaler_std", check_split_and_scaler},
    {"bp_scaler_apply", check_split_and_scaler},
    {"bp_scaler_invert", check_split_and_scaler},
    {"bp_batcher_new", check_batcher},
    {"bp_batcher_free", check_batcher},
    {"bp_batcher_next", check_batcher},
    {"bp_batcher_reset", check_batcher},
    {"bp_batcher_batches", check_batcher},
    {"bp_batcher_rows", check_batcher},
    {"bp_optim_defaults", check_optimizer},
    {"bp_optimizer_new", check_optimizer},
    {"bp_optimizer_free", check_optimizer},
    {"bp_optimizer_step", check_optimizer},
    {"bp_optimizer_set_lr", check_optimizer},
    {"bp_optimizer_steps", check_optimizer},
    {"bp_optimizer_grad_norm", check_optimizer},
    {"bp_optim_lr", check_optimizer},
};

const struct covered_area badinput_train = {"train", covered, sizeof covered / sizeof covered[0]};
