/* SPDX-License-Identifier: MIT */
/* The graph engine: building, running, gradients' lifetime, every error. */
#include "test_util.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static bp_graph *g;

static void setup(void)
{
    g = bp_graph_new();
    ck_assert_ptr_nonnull(g);
}

static void teardown(void)
{
    bp_graph_free(g);
    g = NULL;
}

/* Fan-out: x feeds both exp and the product, as the lesson's Exp feeds Sum
 * and Multiply.  L = sum(e^x ⊙ x) so dL/dx = e^x (1 + x). */
START_TEST(fan_out_accumulates)
{
    const double xv[3] = {0.3, -1.2, 2.385};
    bp_node *x = bp_param(g, 1, 3, "x");
    bp_node *e = bp_exp(g, x);
    bp_node *loss = bp_sum(g, bp_mul(g, e, x));
    double want[3];

    tu_set(x, 1, 3, xv);
    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
    for (int k = 0; k < 3; k++)
        want[k] = exp(xv[k]) * (1.0 + xv[k]);
    tu_assert_matrix_near(bp_node_grad(x), want, 1e-12);
    ck_assert_double_eq_tol(bp_node_value(loss)->data[0],
                            exp(0.3) * 0.3 + exp(-1.2) * -1.2 + exp(2.385) * 2.385, 1e-12);
}
END_TEST

/* mul(x, x) receives both contributions: 2x. */
START_TEST(same_node_twice)
{
    const double xv[2] = {1.75, -0.4};
    const double want[2] = {3.5, -0.8};
    bp_node *x = bp_param(g, 2, 1, "x");
    bp_node *loss = bp_sum(g, bp_mul(g, x, x));

    tu_set(x, 2, 1, xv);
    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
    tu_assert_matrix_near(bp_node_grad(x), want, 1e-15);
}
END_TEST

/* The header's rule: param gradients accumulate until bp_zero_grad; an op
 * node's gradient is that of the latest backward only. */
START_TEST(gradients_accumulate_until_zeroed)
{
    const double xv[2] = {0.5, -2.0};
    bp_node *x = bp_param(g, 1, 2, "x");
    bp_node *y = bp_scale(g, x, 3.0);
    bp_node *loss = bp_sum(g, bp_mul(g, y, y));   /* 9 Σ x², dL/dx = 18x */
    double once[2] = {9.0, -36.0}, twice[2] = {18.0, -72.0};
    double dy[2] = {3.0, -12.0};                   /* dL/dy = 2y */

    tu_set(x, 1, 2, xv);
    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
    tu_assert_matrix_near(bp_node_grad(x), once, 1e-12);
    tu_assert_matrix_near(bp_node_grad(y), dy, 1e-12);
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
    tu_assert_matrix_near(bp_node_grad(x), twice, 1e-12);
    tu_assert_matrix_near(bp_node_grad(y), dy, 1e-12);  /* not doubled */
    bp_zero_grad(g);
    for (int k = 0; k < 2; k++)
        ck_assert_double_eq(bp_node_grad(x)->data[k], 0.0);
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
    tu_assert_matrix_near(bp_node_grad(x), once, 1e-12);
}
END_TEST

/* A seed of the node's shape, like the lesson's apply_bwd(loss_grad). */
START_TEST(backward_from_a_matrix_with_a_seed)
{
    const double xv[4] = {1.0, 2.0, 3.0, 4.0}, seed[4] = {0.5, -1.0, 2.0, 0.25};
    bp_node *x = bp_param(g, 2, 2, "x");
    bp_node *y = bp_tanh(g, x);
    bp_matrix s = tu_view(2, 2, (double *)seed);
    double want[4];

    tu_set(x, 2, 2, xv);
    ck_assert_int_eq(bp_forward(g, y), BP_OK);
    ck_assert_int_eq(bp_backward(g, y, &s), BP_OK);
    for (int k = 0; k < 4; k++)
        want[k] = seed[k] * (1.0 - tanh(xv[k]) * tanh(xv[k]));
    tu_assert_matrix_near(bp_node_grad(x), want, 1e-14);
}
END_TEST

START_TEST(forward_computes_only_what_is_needed)
{
    const double xv[2] = {1.0, 4.0};
    bp_node *x = bp_param(g, 1, 2, "x");
    bp_node *a = bp_sqrt(g, x);
    bp_node *b = bp_exp(g, x);

    tu_set(x, 1, 2, xv);
    ck_assert_int_eq(bp_forward(g, a), BP_OK);
    ck_assert_ptr_nonnull(bp_node_value(a));
    ck_assert_ptr_null(bp_node_value(b));
    ck_assert_double_eq(bp_node_value(a)->data[1], 2.0);
    /* b was not computed by the last forward, so no backward from it */
    ck_assert_int_eq(bp_backward(g, b, NULL), BP_ESTATE);
}
END_TEST

/* Built once, run many times: new data and a smaller last batch reuse the
 * buffers. */
START_TEST(rebind_and_smaller_batch)
{
    double xv[4 * 2], want[4];
    const double wv[2] = {0.75, -1.5};
    bp_node *x = bp_input(g, 4, 2, "x");
    bp_node *w = bp_param(g, 2, 1, "w");
    bp_node *p = bp_matmul(g, x, w);
    bp_node *loss = bp_sum(g, p);
    double *buf;
    bp_rng rng = tu_rng(7);

    tu_set(w, 2, 1, wv);
    for (int run = 0; run < 3; run++) {
        size_t rows = run == 2 ? 3 : 4;
        tu_fill(xv, rows * 2, &rng, -1.0, 1.0);
        tu_set(x, rows, 2, xv);
        ck_assert_int_eq(bp_forward(g, loss), BP_OK);
        if (run == 0)
            buf = bp_node_value(p)->data;
        ck_assert_ptr_eq(bp_node_value(p)->data, buf);     /* no reallocation */
        ck_assert_uint_eq(bp_node_rows(p), rows);
        for (size_t i = 0; i < rows; i++)
            want[i] = xv[2 * i] * wv[0] + xv[2 * i + 1] * wv[1];
        tu_assert_matrix_near(bp_node_value(p), want, 1e-14);
        bp_zero_grad(g);
        ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
        /* dw = xᵀ·1 */
        double dw0 = 0.0, dw1 = 0.0;
        for (size_t i = 0; i < rows; i++) {
            dw0 += xv[2 * i];
            dw1 += xv[2 * i + 1];
        }
        ck_assert_double_eq_tol(bp_node_grad(w)->data[0], dw0, 1e-14);
        ck_assert_double_eq_tol(bp_node_grad(w)->data[1], dw1, 1e-14);
    }
}
END_TEST

/* A bound input is the caller's buffer, not a copy: a refill shows in the
 * next forward, a run of rows of a larger table binds as it is, and
 * bp_node_set_value detaches it again into the node's own copy. */
START_TEST(bind_reads_the_callers_buffer)
{
    double table[6 * 2], want[6];
    const double wv[2] = {0.75, -1.5};
    bp_node *x = bp_input(g, 4, 2, "x");
    bp_node *w = bp_param(g, 2, 1, "w");
    bp_node *p = bp_matmul(g, x, w);
    bp_matrix whole = tu_view(4, 2, table), rows_2_to_4 = tu_view(3, 2, table + 2 * 2);
    bp_rng rng = tu_rng(3);

    tu_set(w, 2, 1, wv);
    tu_fill(table, 12, &rng, -1.0, 1.0);
    ck_assert_int_eq(bp_node_bind_value(x, &whole), BP_OK);
    ck_assert_ptr_eq(bp_node_value(x)->data, table);
    for (int refill = 0; refill < 2; refill++) {
        if (refill)
            tu_fill(table, 12, &rng, -1.0, 1.0);
        ck_assert_int_eq(bp_forward(g, p), BP_OK);
        for (size_t i = 0; i < 4; i++)
            want[i] = table[2 * i] * wv[0] + table[2 * i + 1] * wv[1];
        tu_assert_matrix_near(bp_node_value(p), want, 1e-15);
    }

    ck_assert_int_eq(bp_node_bind_value(x, &rows_2_to_4), BP_OK);
    ck_assert_int_eq(bp_forward(g, p), BP_OK);
    ck_assert_uint_eq(bp_node_rows(p), 3);
    for (size_t i = 0; i < 3; i++)
        want[i] = table[2 * (i + 2)] * wv[0] + table[2 * (i + 2) + 1] * wv[1];
    tu_assert_matrix_near(bp_node_value(p), want, 1e-15);

    /* Setting a node's value from its own bound value copies it out. */
    ck_assert_int_eq(bp_node_set_value(x, bp_node_value(x)), BP_OK);
    ck_assert_ptr_ne(bp_node_value(x)->data, table + 2 * 2);
    tu_fill(table, 12, &rng, -1.0, 1.0);    /* no longer read */
    ck_assert_int_eq(bp_forward(g, p), BP_OK);
    tu_assert_matrix_near(bp_node_value(p), want, 1e-15);
}
END_TEST

/* The library never writes a bound input: inputs in a read-only page, so
 * a write would fault, through forward, backward and the graph checker,
 * in in-place mode, where relu runs in its input's buffer when that input
 * is a computed node used once (here x is used once, by relu).  The results equal those of the same graph given copies. */
START_TEST(bound_input_is_never_written)
{
    enum { M = 6, K = 3, H = 4 };
    long page = sysconf(_SC_PAGESIZE);
    double *ro, loss[2], grad[2][K * H];
    bp_rng rng = tu_rng(11);

    ck_assert_int_ge(page, (long)((M * K + M) * sizeof(double)));
    ro = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(ro, MAP_FAILED);
    tu_fill(ro, M * K + M, &rng, -1.0, 1.0);
    ck_assert_int_eq(mprotect(ro, (size_t)page, PROT_READ), 0);

    for (int bound = 0; bound < 2; bound++) {
        bp_graph *h = bp_graph_new();
        bp_node *x = bp_input(h, M, K, "x"), *y = bp_input(h, M, 1, "y");
        bp_node *w = bp_param(h, K, H, "w"), *b = bp_param(h, 1, H, "b");
        bp_node *v = bp_param(h, H, 1, "v");
        bp_node *hid = bp_dense_relu(h, bp_relu(h, x), w, b);   /* relu: x's one use */
        bp_node *out = bp_mse(h, bp_matmul(h, bp_relu(h, hid), v), y);
        bp_matrix xm = tu_view(M, K, ro), ym = tu_view(M, 1, ro + M * K);
        bp_check_report report;
        bp_rng prng = tu_rng(5);

        ck_assert_int_eq(bp_graph_status(h), BP_OK);
        bp_graph_set_inplace(h, 1);
        for (bp_node **q = (bp_node *[]){w, b, v, NULL}; *q; q++) {
            bp_matrix *pv = bp_node_value(*q);
            tu_fill(pv->data, pv->rows * pv->cols, &prng, -0.8, 0.8);
        }
        if (bound) {
            ck_assert_int_eq(bp_node_bind_value(x, &xm), BP_OK);
            ck_assert_int_eq(bp_node_bind_value(y, &ym), BP_OK);
        } else {
            ck_assert_int_eq(bp_node_set_value(x, &xm), BP_OK);
            ck_assert_int_eq(bp_node_set_value(y, &ym), BP_OK);
        }
        ck_assert_int_eq(bp_forward(h, out), BP_OK);
        ck_assert_int_eq(bp_backward(h, out, NULL), BP_OK);
        loss[bound] = bp_node_value(out)->data[0];
        memcpy(grad[bound], bp_node_grad(w)->data, sizeof grad[bound]);
        ck_assert_int_eq(bp_gradcheck_graph(h, out, NULL, &report), BP_OK);
        ck_assert_uint_eq(report.n_failed, 0);
        bp_check_report_clear(&report);
        bp_graph_free(h);
    }
    ck_assert_double_eq(loss[1], loss[0]);
    for (int k = 0; k < K * H; k++)
        ck_assert_double_eq(grad[1][k], grad[0][k]);
    munmap(ro, (size_t)page);
}
END_TEST

START_TEST(detach_stops_the_gradient)
{
    const double xv[2] = {0.5, 1.5};
    bp_node *x = bp_param(g, 1, 2, "x");
    bp_node *d = bp_detach(g, bp_scale(g, x, 4.0));
    bp_node *loss = bp_sum(g, bp_mul(g, x, d));   /* L = x·(4x held constant) */
    const double want[2] = {2.0, 6.0};

    ck_assert(!bp_node_requires_grad(d));
    tu_set(x, 1, 2, xv);
    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    tu_assert_matrix_near(bp_node_value(d), want, 0.0);
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
    tu_assert_matrix_near(bp_node_grad(x), want, 1e-15);
    ck_assert_ptr_null(bp_node_grad(d));
}
END_TEST

START_TEST(node_accessors)
{
    bp_node *x = bp_input(g, 2, 3, "x");
    bp_node *w = bp_param(g, 3, 1, "w");
    bp_node *y = bp_matmul(g, x, w);

    ck_assert_str_eq(bp_node_name(x), "x");
    ck_assert_str_eq(bp_node_name(y), "");
    ck_assert_int_eq(bp_node_set_name(y, "y"), BP_OK);
    ck_assert_str_eq(bp_node_name(y), "y");
    ck_assert_ptr_null(bp_node_op(x));
    ck_assert_str_eq(bp_node_op(y)->name, "matmul");
    ck_assert_uint_eq(bp_node_n_inputs(y), 2);
    ck_assert_ptr_eq(bp_node_input(y, 1), w);
    ck_assert_ptr_null(bp_node_input(y, 2));
    ck_assert_uint_eq(bp_node_rows(y), 2);
    ck_assert_uint_eq(bp_node_cols(y), 1);
    ck_assert(bp_node_is_param(w) && !bp_node_is_param(x));
    ck_assert(bp_node_requires_grad(y) && !bp_node_requires_grad(x));
    ck_assert_uint_eq(bp_graph_size(g), 3);
    ck_assert_ptr_eq(bp_graph_node(g, 2), y);
    ck_assert_ptr_null(bp_graph_node(g, 3));
    ck_assert_ptr_null(bp_node_value(x));   /* nothing bound yet */
    ck_assert_ptr_nonnull(bp_node_value(w));
}
END_TEST

/* ---- errors ---- */

static void assert_error(bp_status want, const char *fragment)
{
    ck_assert_int_eq(bp_graph_status(g), want);
    ck_assert_msg(strstr(bp_graph_message(g), fragment) != NULL,
                  "message '%s' lacks '%s'", bp_graph_message(g), fragment);
    bp_graph_clear_error(g);
    ck_assert_int_eq(bp_graph_status(g), BP_OK);
    ck_assert_str_eq(bp_graph_message(g), "");
}

START_TEST(matmul_shape_error_names_op_and_shapes)
{
    bp_node *x = bp_input(g, 10, 3, "x");
    bp_node *w = bp_param(g, 4, 1, "w");
    ck_assert_ptr_null(bp_matmul(g, x, w));
    assert_error(BP_EDIM, "matmul: inner dimensions differ (10x3 · 4x1)");
    ck_assert_uint_eq(bp_graph_size(g), 2);   /* the failed node is not kept */
}
END_TEST

START_TEST(broadcast_error)
{
    bp_node *a = bp_input(g, 2, 3, "a");
    bp_node *b = bp_input(g, 3, 1, "b");
    ck_assert_ptr_null(bp_add(g, a, b));
    assert_error(BP_EDIM, "add: shapes 2x3 and 3x1 do not broadcast");
}
END_TEST

START_TEST(error_is_sticky_and_chains)
{
    bp_node *x = bp_input(g, 2, 3, "x");
    bp_node *w = bp_param(g, 2, 2, "w");
    bp_node *h = bp_matmul(g, x, w);          /* fails */
    bp_node *r = bp_relu(g, h);                /* NULL in: no second error */
    bp_node *other = bp_param(g, 1, 1, "ok");  /* refused while in error */

    ck_assert_ptr_null(h);
    ck_assert_ptr_null(r);
    ck_assert_ptr_null(other);
    ck_assert_int_eq(bp_forward(g, x), BP_EDIM);
    assert_error(BP_EDIM, "matmul: inner dimensions differ (2x3 · 2x2)");
}
END_TEST

START_TEST(null_and_foreign_inputs)
{
    bp_graph *g2 = bp_graph_new();
    bp_node *x = bp_param(g, 1, 1, "x");
    bp_node *y = bp_param(g2, 1, 1, "y");
    bp_node *in[2] = {x, x};

    ck_assert_ptr_null(bp_exp(g, NULL));
    assert_error(BP_EINVAL, "exp: input 1 is NULL");
    ck_assert_ptr_null(bp_add(g, x, y));
    assert_error(BP_EINVAL, "add: input 2 belongs to another graph");
    ck_assert_ptr_null(bp_apply(g, bp_builtin(0), 1, in, NULL));
    assert_error(BP_EINVAL, "matmul: takes 2 inputs, given 1");
    ck_assert_ptr_null(bp_apply(g, NULL, 1, in, NULL));
    assert_error(BP_EINVAL, "op declaration is incomplete");
    ck_assert_ptr_null(bp_apply(g, bp_node_op(bp_scale(g, x, 2.0)), 1, in, NULL));
    assert_error(BP_EINVAL, "scale: takes 1 attribute, given none");
    ck_assert_int_eq(bp_forward(g, NULL), BP_EINVAL);
    assert_error(BP_EINVAL, "forward: node is NULL");
    ck_assert_int_eq(bp_forward(g, y), BP_EINVAL);
    assert_error(BP_EINVAL, "belongs to another graph");
    ck_assert_int_eq(bp_forward(NULL, x), BP_EINVAL);
    ck_assert_ptr_null(bp_param(NULL, 1, 1, "z"));
    ck_assert_int_eq(bp_graph_status(NULL), BP_EINVAL);
    bp_graph_free(g2);
}
END_TEST

START_TEST(leaf_errors)
{
    bp_node *x = bp_input(g, 2, 3, "x");
    bp_node *w = bp_param(g, 3, 1, "w");
    bp_node *y = bp_matmul(g, x, w);
    double d[6] = {0};
    bp_matrix wrong = tu_view(2, 2, d), right = tu_view(1, 3, d);

    ck_assert_ptr_null(bp_param(g, 0, 3, "empty"));
    assert_error(BP_EDIM, "param 'empty': a matrix needs at least one row and one column (0x3)");
    ck_assert_ptr_null(bp_input(g, SIZE_MAX / 4, 4, "huge"));
    assert_error(BP_ENOMEM, "overflow");
    ck_assert_ptr_null(bp_constant(g, 2, 2, NULL, "c"));
    assert_error(BP_EINVAL, "constant 'c': data is NULL");

    ck_assert_int_eq(bp_node_set_value(x, &wrong), BP_EDIM);
    assert_error(BP_EDIM, "set_value input 'x': expects Nx3, given 2x2");
    ck_assert_int_eq(bp_node_set_value(w, &right), BP_EDIM);
    assert_error(BP_EDIM, "set_value param 'w': expects 3x1, given 1x3");
    ck_assert_int_eq(bp_node_set_value(y, &right), BP_EINVAL);
    assert_error(BP_EINVAL, "not a leaf");
    ck_assert_int_eq(bp_node_set_value(x, NULL), BP_EINVAL);
    assert_error(BP_EINVAL, "source matrix is NULL");
    ck_assert_int_eq(bp_node_set_value(NULL, &right), BP_EINVAL);

    /* Binding names its own call; its other errors are check_badinput's.
     * A failed bind leaves the value as it was (here: none, see below). */
    ck_assert_int_eq(bp_node_bind_value(x, &wrong), BP_EDIM);
    assert_error(BP_EDIM, "bind_value input 'x': expects Nx3, given 2x2");
    ck_assert_int_eq(bp_node_bind_value(w, &right), BP_EINVAL);
    assert_error(BP_EINVAL, "bind_value param 'w': only an input can be bound");

    ck_assert_int_eq(bp_forward(g, y), BP_ESTATE);
    assert_error(BP_ESTATE, "input 'x' has no data");
}
END_TEST

START_TEST(backward_errors)
{
    const double v[3] = {1.0, 2.0, 3.0};
    bp_node *x = bp_input(g, 1, 3, "x");
    bp_node *c = bp_constant(g, 1, 3, v, "c");
    bp_node *w = bp_param(g, 1, 3, "w");
    bp_node *no_params = bp_sum(g, bp_mul(g, x, c));
    bp_node *y = bp_mul(g, x, w);
    bp_node *loss = bp_sum(g, y);
    double sd[4] = {0};
    bp_matrix seed = tu_view(2, 2, sd);

    tu_set(x, 1, 3, v);
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_ESTATE);
    assert_error(BP_ESTATE, "was not computed by the last bp_forward");
    ck_assert_int_eq(bp_forward(g, no_params), BP_OK);
    ck_assert_int_eq(bp_backward(g, no_params, NULL), BP_ESTATE);
    assert_error(BP_ESTATE, "depends on no param");
    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    ck_assert_int_eq(bp_forward(g, y), BP_OK);
    ck_assert_int_eq(bp_backward(g, y, NULL), BP_EDIM);
    assert_error(BP_EDIM, "is 1x3, not 1x1");
    ck_assert_int_eq(bp_backward(g, y, &seed), BP_EDIM);
    assert_error(BP_EDIM, "seed is 2x2, node '' is 1x3");
}
END_TEST

/* New data for a leaf between forward and backward (bound, set, a param
 * set, a target without a gradient) makes backward refuse to mix the two:
 * before, it read the old forward's buffers with the new row count. */
START_TEST(backward_after_new_data_needs_forward)
{
    double xa[3 * 2] = {0.5, -1.25, 2.385, 0.75, -0.3, 1.1}, ya[3] = {0.2, -0.4, 0.9};
    double xb[5 * 2] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, yb[5] = {1, 2, 3, 4, 5};
    const double wv[2] = {0.3, -0.7};
    bp_matrix xma = tu_view(3, 2, xa), xmb = tu_view(5, 2, xb);
    bp_matrix yma = tu_view(3, 1, ya), ymb = tu_view(5, 1, yb);
    bp_node *x = bp_input(g, 3, 2, "x"), *y = bp_input(g, 3, 1, "y");
    bp_node *other = bp_input(g, 1, 1, "other");
    bp_node *w = bp_param(g, 2, 1, "w");
    bp_node *loss = bp_mse(g, bp_matmul(g, x, w), y);
    const double one = 1.0;

    tu_set(w, 2, 1, wv);
    tu_set(other, 1, 1, &one);
    ck_assert_int_eq(bp_node_bind_value(x, &xma), BP_OK);
    ck_assert_int_eq(bp_node_bind_value(y, &yma), BP_OK);
    /* bind x, 5 rows */
    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    ck_assert_int_eq(bp_node_bind_value(x, &xmb), BP_OK);
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_ESTATE);
    assert_error(BP_ESTATE, "input 'x' was given new data (5x2) after the last bp_forward; "
                            "run bp_forward again");
    /* set y (no gradient, read by mse's backward) */
    ck_assert_int_eq(bp_node_bind_value(y, &ymb), BP_OK);
    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    ck_assert_int_eq(bp_node_set_value(y, &ymb), BP_OK);
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_ESTATE);
    assert_error(BP_ESTATE, "input 'y'");
    /* set the param */
    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    tu_set(w, 2, 1, wv);
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_ESTATE);
    assert_error(BP_ESTATE, "param 'w'");
    /* a leaf that loss does not read may change; forward again is fine */
    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    tu_set(other, 1, 1, &one);
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
}
END_TEST

/* Shapes are re-derived at forward: rebinding two inputs to different
 * batch sizes is caught there, with the op named. */
START_TEST(forward_shape_error)
{
    double d[6] = {0};
    bp_node *a = bp_input(g, 2, 3, "a");
    bp_node *b = bp_input(g, 2, 3, "b");
    bp_node *s = bp_mse(g, a, b);

    tu_set(a, 2, 3, d);
    tu_set(b, 1, 3, d);
    ck_assert_int_eq(bp_forward(g, s), BP_EDIM);
    assert_error(BP_EDIM, "mse: forward: prediction and target differ in shape (2x3, 1x3)");
}
END_TEST

/* Outputs too large for BLAS or for size_t are refused when built. */
START_TEST(output_size_overflow)
{
    bp_node *col = bp_input(g, (size_t)1 << 40, 1, "col");
    bp_node *row = bp_input(g, 1, (size_t)1 << 40, "row");

    ck_assert_ptr_nonnull(col);
    ck_assert_ptr_nonnull(row);
    ck_assert_ptr_null(bp_matmul(g, col, row));
    assert_error(BP_EDIM, "matmul: dimensions too large for BLAS");
    ck_assert_ptr_null(bp_add(g, col, row));
    assert_error(BP_ENOMEM, "add: output 1099511627776x1099511627776 overflows size_t");
}
END_TEST

/* A shape rule asking for SIZE_MAX doubles of scratch is named as such,
 * not as an overflowing 1x1 output. */
static bp_status huge_work_shape(bp_op_args *a)
{
    a->out->rows = a->out->cols = 1;
    a->n_work = SIZE_MAX;
    return BP_OK;
}

/* An op whose forward returns a value outside bp_status. */
static bp_status bogus_status_forward(bp_op_args *a)
{
    (void)a;
    return (bp_status)77;
}

static bp_status ok_forward(bp_op_args *a)
{
    a->out->data[0] = 0.0;
    return BP_OK;
}

static bp_status one_by_one(bp_op_args *a)
{
    a->out->rows = a->out->cols = 1;
    return BP_OK;
}

START_TEST(op_bugs_are_named)
{
    static const bp_op huge_work = {.name = "huge_work", .n_in = 1, .shape = huge_work_shape,
                                    .forward = ok_forward, .flags = BP_OP_STOP_GRAD};
    static const bp_op bogus = {.name = "bogus", .n_in = 1, .shape = one_by_one,
                                .forward = bogus_status_forward, .flags = BP_OP_STOP_GRAD};
    const double v = 2.385;
    bp_node *x = bp_constant(g, 1, 1, &v, "x"), *b;

    ck_assert_ptr_null(bp_apply(g, &huge_work, 1, &x, NULL));
    assert_error(BP_ENOMEM, "huge_work: the shape rule asks for 18446744073709551615 doubles "
                            "of scratch, which overflows size_t (output 1x1)");
    b = bp_apply(g, &bogus, 1, &x, NULL);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(bp_forward(g, b), BP_EINVAL);
    assert_error(BP_EINVAL, "bogus: forward: the op returned 77, which is not a bp_status");
}
END_TEST

START_TEST(anomaly_mode_names_the_first_bad_op)
{
    const double xv[3] = {0.5, 0.0, 2.0};
    bp_node *x = bp_param(g, 1, 3, "x");
    bp_node *lx = bp_log(g, x);
    bp_node *loss = bp_sum(g, lx);

    ck_assert_int_eq(bp_node_set_name(lx, "lx"), BP_OK);
    tu_set(x, 1, 3, xv);
    /* off: the -inf flows through silently */
    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    ck_assert(isinf(bp_node_value(loss)->data[0]));
    bp_graph_set_anomaly_mode(g, 1);
    ck_assert_int_eq(bp_forward(g, loss), BP_ENUMERIC);
    assert_error(BP_ENUMERIC, "anomaly: log 'lx' (node 1): forward output has -inf at (0, 1) of 1x3");
}
END_TEST

START_TEST(anomaly_mode_in_backward_and_leaves)
{
    const double xv[2] = {0.0, 4.0}, bad[2] = {1.0, NAN};
    bp_node *x = bp_param(g, 1, 2, "x");
    bp_node *loss = bp_sum(g, bp_sqrt(g, x));   /* d/dx √x = inf at 0 */

    bp_graph_set_anomaly_mode(g, 1);
    tu_set(x, 1, 2, xv);
    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_ENUMERIC);
    assert_error(BP_ENUMERIC, "anomaly: sqrt (node 1): backward: gradient of input 1 has inf at (0, 0)");
    tu_set(x, 1, 2, bad);
    ck_assert_int_eq(bp_forward(g, loss), BP_ENUMERIC);
    assert_error(BP_ENUMERIC, "anomaly: param 'x' (node 0): value has nan at (0, 1)");
}
END_TEST

/* An identity op (one or two inputs, summed) that records the din_fresh
 * bits the graph passes it, under the id in its attribute. */
static unsigned seen_fresh[8];

static bp_status probe_shape(bp_op_args *a)
{
    a->out->rows = a->in[0]->rows;
    a->out->cols = a->in[0]->cols;
    return BP_OK;
}

static bp_status probe_forward(bp_op_args *a)
{
    for (size_t k = 0; k < a->out->rows * a->out->cols; k++)
        a->out->data[k] = a->in[0]->data[k] + (a->n_in > 1 ? a->in[1]->data[k] : 0.0);
    return BP_OK;
}

static bp_status probe_backward(bp_op_args *a)
{
    seen_fresh[(int)a->attr[0]] = a->din_fresh;
    for (size_t i = 0; i < a->n_in; i++)
        for (size_t k = 0; a->din[i] && k < a->out->rows * a->out->cols; k++) {
            if ((a->din_fresh >> i) & 1u)
                a->din[i]->data[k] = a->dout->data[k];
            else
                a->din[i]->data[k] += a->dout->data[k];
        }
    return BP_OK;
}

static const double probe_attr[1] = {0.0};
static const bp_op probe1 = {.name = "probe1", .n_in = 1, .n_attr = 1, .shape = probe_shape,
                             .forward = probe_forward, .backward = probe_backward,
                             .flags = BP_OP_ASSIGN_FRESH, .check_attr = probe_attr,
                             .n_check_attr = 1};
static const bp_op probe2 = {.name = "probe2", .n_in = 2, .n_attr = 1, .shape = probe_shape,
                             .forward = probe_forward, .backward = probe_backward,
                             .flags = BP_OP_ASSIGN_FRESH, .check_attr = probe_attr,
                             .n_check_attr = 1};
static const bp_op probe_plain = {.name = "probe_plain", .n_in = 1, .n_attr = 1,
                                  .shape = probe_shape, .forward = probe_forward,
                                  .backward = probe_backward, .check_attr = probe_attr,
                                  .n_check_attr = 1};

static bp_node *probe(const bp_op *op, bp_node *a, bp_node *b, double id)
{
    bp_node *in[2] = {a, b};
    return bp_apply(g, op, op->n_in, in, &id);
}

/* din_fresh is set exactly for the first writer of an op node's gradient
 * that uses it once; params always accumulate.  And the gradient stays
 * right: h = b + f = e + 2e, plus the last probe's e, so L = Σ 4·e^p. */
START_TEST(fresh_gradients_only_for_first_writers)
{
    const double pv[2] = {0.3, -1.1};
    bp_node *p = bp_param(g, 1, 2, "p");
    bp_node *e = bp_exp(g, p);
    bp_node *a = probe(&probe1, p, NULL, 0);       /* param input: never fresh */
    bp_node *b = probe(&probe1, e, NULL, 1);       /* e's second writer: adds */
    bp_node *c = probe(&probe2, e, e, 2);          /* e twice: not fresh */
    bp_node *d = probe(&probe_plain, c, NULL, 3);  /* no flag: engine zeroes */
    bp_node *f = probe(&probe1, d, NULL, 4);       /* d's only writer: fresh */
    bp_node *h = probe(&probe2, b, f, 5);          /* b and f: both fresh */
    bp_node *loss = bp_sum(g, bp_add(g, h, probe(&probe1, e, NULL, 6)));  /* e's first writer */
    double want[2];

    (void)a;
    tu_set(p, 1, 2, pv);
    memset(seen_fresh, 0xff, sizeof seen_fresh);
    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
    ck_assert_uint_eq(seen_fresh[0], 0xffffffffu);   /* a is not on the loss's path */
    ck_assert_uint_eq(seen_fresh[6], 1u);
    ck_assert_uint_eq(seen_fresh[5], 3u);
    ck_assert_uint_eq(seen_fresh[4], 1u);
    ck_assert_uint_eq(seen_fresh[3], 0u);
    ck_assert_uint_eq(seen_fresh[2], 0u);
    ck_assert_uint_eq(seen_fresh[1], 0u);
    for (int k = 0; k < 2; k++)
        want[k] = 4.0 * exp(pv[k]);
    tu_assert_matrix_near(bp_node_grad(p), want, 1e-14);
    /* a graph built on the param directly: the param is never fresh */
    ck_assert_int_eq(bp_forward(g, a), BP_OK);
    ck_assert_int_eq(bp_backward(g, a, &(bp_matrix){1, 2, (double *)pv}), BP_OK);
    ck_assert_uint_eq(seen_fresh[0], 0u);
}
END_TEST

/* x → dense → relu → dense → mse, run with in-place mode off then on. */
static void run_mlp(int inplace, double *loss, double *grads, int *shared, int *shared_grad)
{
    double xv[6 * 3], yv[6], w1[3 * 4], b1[4], w2[4], b2[1] = {0.3};
    bp_rng rng = tu_rng(99);
    bp_graph *h = bp_graph_new();
    bp_node *x = bp_input(h, 6, 3, "x"), *y = bp_input(h, 6, 1, "y");
    bp_node *W1 = bp_param(h, 3, 4, "W1"), *B1 = bp_param(h, 1, 4, "b1");
    bp_node *W2 = bp_param(h, 4, 1, "W2"), *B2 = bp_param(h, 1, 1, "b2");
    bp_node *z1 = bp_dense(h, x, W1, B1), *a1 = bp_relu(h, z1);
    bp_node *l = bp_mse(h, bp_dense(h, a1, W2, B2), y);
    bp_node *params[4] = {W1, B1, W2, B2};

    tu_fill(xv, 18, &rng, -1.0, 1.0);
    tu_fill(yv, 6, &rng, -1.0, 1.0);
    tu_fill(w1, 12, &rng, -1.0, 1.0);
    tu_fill(b1, 4, &rng, -0.5, 0.5);
    tu_fill(w2, 4, &rng, -1.0, 1.0);
    tu_set(x, 6, 3, xv);
    tu_set(y, 6, 1, yv);
    tu_set(W1, 3, 4, w1);
    tu_set(B1, 1, 4, b1);
    tu_set(W2, 4, 1, w2);
    tu_set(B2, 1, 1, b2);
    bp_graph_set_inplace(h, inplace);
    ck_assert_int_eq(bp_forward(h, l), BP_OK);
    *shared = bp_node_value(z1)->data == bp_node_value(a1)->data;
    ck_assert_int_eq(bp_backward(h, l, NULL), BP_OK);
    *shared_grad = bp_node_grad(z1)->data == bp_node_grad(a1)->data;
    *loss = bp_node_value(l)->data[0];
    for (size_t p = 0, k = 0; p < 4; p++)
        for (size_t q = 0; q < bp_node_rows(params[p]) * bp_node_cols(params[p]); q++)
            grads[k++] = bp_node_grad(params[p])->data[q];
    bp_graph_free(h);
}

START_TEST(inplace_mode_changes_memory_not_gradients)
{
    double loss_off, loss_on, g_off[21], g_on[21];
    int shared, shared_grad;

    run_mlp(0, &loss_off, g_off, &shared, &shared_grad);
    ck_assert(!shared && !shared_grad);
    run_mlp(1, &loss_on, g_on, &shared, &shared_grad);
    ck_assert(shared && shared_grad);
    ck_assert_double_eq(loss_on, loss_off);
    for (int k = 0; k < 21; k++)
        ck_assert_double_eq(g_on[k], g_off[k]);
}
END_TEST

/* No sharing where the input's value is still needed: read by a second
 * op, or by its own backward (exp), or a leaf. */
START_TEST(inplace_mode_shares_only_when_safe)
{
    const double xv[3] = {0.5, -1.25, 2.0};
    bp_node *x = bp_param(g, 1, 3, "x");
    bp_node *s1 = bp_scale(g, x, 2.0), *r1 = bp_relu(g, s1);   /* shares */
    bp_node *s2 = bp_scale(g, x, 3.0), *r2 = bp_relu(g, s2);   /* s2 read twice */
    bp_node *e = bp_exp(g, x), *r3 = bp_relu(g, e);            /* exp needs its value */
    bp_node *r4 = bp_relu(g, x);                               /* a leaf */
    bp_node *loss = bp_sum(g, bp_add(g, bp_add(g, r1, bp_mul(g, r2, s2)), bp_add(g, r3, r4)));
    double want[3];

    bp_graph_set_inplace(g, 1);
    tu_set(x, 1, 3, xv);
    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    ck_assert_ptr_eq(bp_node_value(r1)->data, bp_node_value(s1)->data);
    ck_assert_ptr_ne(bp_node_value(r2)->data, bp_node_value(s2)->data);
    ck_assert_ptr_ne(bp_node_value(r3)->data, bp_node_value(e)->data);
    ck_assert_ptr_ne(bp_node_value(r4)->data, bp_node_value(x)->data);
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
    /* L = Σ relu(2x) + relu(3x)·3x + e^x + relu(x), by hand */
    for (int k = 0; k < 3; k++)
        want[k] = (xv[k] > 0 ? 2.0 + 18.0 * xv[k] + 1.0 : 0.0) + exp(xv[k]);
    tu_assert_matrix_near(bp_node_grad(x), want, 1e-13);
}
END_TEST

/* In in-place mode dense_relu works in its own gradient's buffer
 * (dout_writable).  That happens only after every consumer has added into
 * it (y feeds a mul twice and a sum), the flag is the one its forward saw
 * (in-place mode switched between forward and backward changes nothing),
 * and a caller's seed is never written.  Every mode gives the gradients of
 * mode off/off, bit for bit. */
static void run_dense_relu(int fwd_inplace, int bwd_inplace, double *grads)
{
    enum { M = 300, K = 3, H = 5 };
    double xv[M * K], wv[K * H], bv[H], seed[M * H], seed_copy[M * H];
    bp_rng rng = tu_rng(17);
    bp_graph *h = bp_graph_new();
    bp_node *x = bp_input(h, M, K, "x"), *W = bp_param(h, K, H, "W"), *b = bp_param(h, 1, H, "b");
    bp_node *y = bp_dense_relu(h, x, W, b);
    bp_node *loss = bp_add(h, bp_sum(h, bp_mul(h, y, y)), bp_sum(h, y));
    bp_matrix sm = {M, H, seed};

    tu_fill(xv, M * K, &rng, -1.0, 1.0);
    tu_fill(wv, K * H, &rng, -1.0, 1.0);
    tu_fill(bv, H, &rng, -0.3, 0.3);
    tu_fill(seed, M * H, &rng, -1.0, 1.0);
    memcpy(seed_copy, seed, sizeof seed);
    tu_set(x, M, K, xv);
    tu_set(W, K, H, wv);
    tu_set(b, 1, H, bv);
    bp_graph_set_inplace(h, fwd_inplace);
    ck_assert_int_eq(bp_forward(h, loss), BP_OK);
    bp_graph_set_inplace(h, bwd_inplace);
    ck_assert_int_eq(bp_backward(h, loss, NULL), BP_OK);
    /* then from y itself, with a seed of the caller's */
    ck_assert_int_eq(bp_backward(h, y, &sm), BP_OK);
    ck_assert_int_eq(memcmp(seed, seed_copy, sizeof seed), 0);
    memcpy(grads, bp_node_grad(W)->data, K * H * sizeof *grads);
    memcpy(grads + K * H, bp_node_grad(b)->data, H * sizeof *grads);
    bp_graph_free(h);
}

START_TEST(gradient_as_scratch_only_when_safe)
{
    double want[20], got[20];

    run_dense_relu(0, 0, want);
    for (int mode = 1; mode < 4; mode++) {
        run_dense_relu(mode & 1, mode >> 1, got);
        for (int k = 0; k < 20; k++)
            ck_assert_msg(got[k] == want[k], "mode %d, entry %d: %.17g, want %.17g", mode, k,
                          got[k], want[k]);
    }
}
END_TEST

/* A forward runs an op's shape rule only when something it depends on
 * changed since the last one: a leaf's shape (a new batch size) or the
 * in-place mode (which sizes the scratch); new data of the same shape
 * does not.  The results never depend on the skip. */
static int shape_calls;

static bp_status counted_shape(bp_op_args *a)
{
    shape_calls++;
    a->out->rows = a->in[0]->rows;
    a->out->cols = a->in[0]->cols;
    a->n_work = a->dout_writable ? 0 : a->in[0]->rows * a->in[0]->cols;
    return BP_OK;
}

static bp_status counted_forward(bp_op_args *a)
{
    for (size_t k = 0; k < a->in[0]->rows * a->in[0]->cols; k++)
        a->out->data[k] = 3.0 * a->in[0]->data[k];
    return BP_OK;
}

static bp_status counted_backward(bp_op_args *a)
{
    /* dx += 3 dy, through the scratch when the rule asked for one */
    double *t = a->n_work ? a->work : a->dout->data;
    ck_assert_uint_eq(a->n_work ? a->n_work : 0, a->dout_writable ? 0 : a->dout->rows * a->dout->cols);
    for (size_t k = 0; k < a->dout->rows * a->dout->cols; k++)
        t[k] = 3.0 * a->dout->data[k];
    for (size_t k = 0; k < a->dout->rows * a->dout->cols; k++)
        a->din[0]->data[k] += t[k];
    return BP_OK;
}

START_TEST(shape_rules_rerun_only_on_change)
{
    static const bp_op counted = {.name = "counted", .n_in = 1, .shape = counted_shape,
                                  .forward = counted_forward, .backward = counted_backward};
    const double xv[6] = {1, 2, 3, 4, 5, 6};
    bp_node *x = bp_input(g, 3, 2, "x"), *w = bp_param(g, 1, 2, "w");
    bp_node *y = bp_apply(g, &counted, 1, (bp_node *[]){bp_mul(g, x, w)}, NULL);
    bp_node *loss = bp_sum(g, y);
    const double wv[2] = {0.5, -2.0};
    int calls;

    ck_assert_ptr_nonnull(y);
    tu_set(w, 1, 2, wv);
    tu_set(x, 3, 2, xv);
    calls = shape_calls;
    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    ck_assert_int_eq(shape_calls, calls + 1);     /* the first forward runs it */
    for (int run = 0; run < 3; run++) {
        tu_set(x, 3, 2, xv);                       /* same shape, new data */
        ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    }
    ck_assert_int_eq(shape_calls, calls + 1);
    tu_set(x, 2, 2, xv);                           /* a smaller batch */
    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    ck_assert_int_eq(shape_calls, calls + 2);
    ck_assert_uint_eq(bp_node_rows(y), 2);
    /* 3·(x ⊙ w) summed over the 2 rows */
    ck_assert_double_eq_tol(bp_node_value(loss)->data[0], 3 * (0.5 * 1 - 2 * 2 + 0.5 * 3 - 2 * 4), 1e-14);
    for (int inplace = 1; inplace >= 0; inplace--) {
        bp_graph_set_inplace(g, inplace);          /* the scratch size changes */
        ck_assert_int_eq(bp_forward(g, loss), BP_OK);
        ck_assert_int_eq(shape_calls, calls + 4 - inplace);
        bp_zero_grad(g);
        ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
        /* dw = 3·Σ_rows x */
        ck_assert_double_eq_tol(bp_node_grad(w)->data[0], 3.0 * (1 + 3), 1e-14);
        ck_assert_double_eq_tol(bp_node_grad(w)->data[1], 3.0 * (2 + 4), 1e-14);
    }
    bp_graph_set_inplace(g, 0);                    /* no change: no rerun */
    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    ck_assert_int_eq(shape_calls, calls + 4);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("graph");
    TCase *run = tcase_create("run"), *err = tcase_create("errors");

    tcase_add_checked_fixture(run, setup, teardown);
    tcase_add_checked_fixture(err, setup, teardown);
    tcase_add_test(run, fan_out_accumulates);
    tcase_add_test(run, same_node_twice);
    tcase_add_test(run, gradients_accumulate_until_zeroed);
    tcase_add_test(run, backward_from_a_matrix_with_a_seed);
    tcase_add_test(run, forward_computes_only_what_is_needed);
    tcase_add_test(run, rebind_and_smaller_batch);
    tcase_add_test(run, bind_reads_the_callers_buffer);
    tcase_add_test(run, bound_input_is_never_written);
    tcase_add_test(run, detach_stops_the_gradient);
    tcase_add_test(run, node_accessors);
    tcase_add_test(run, fresh_gradients_only_for_first_writers);
    tcase_add_test(run, inplace_mode_changes_memory_not_gradients);
    tcase_add_test(run, inplace_mode_shares_only_when_safe);
    tcase_add_test(run, gradient_as_scratch_only_when_safe);
    tcase_add_test(run, shape_rules_rerun_only_on_change);
    tcase_add_test(err, matmul_shape_error_names_op_and_shapes);
    tcase_add_test(err, broadcast_error);
    tcase_add_test(err, error_is_sticky_and_chains);
    tcase_add_test(err, null_and_foreign_inputs);
    tcase_add_test(err, leaf_errors);
    tcase_add_test(err, backward_after_new_data_needs_forward);
    tcase_add_test(err, op_bugs_are_named);
    tcase_add_test(err, backward_errors);
    tcase_add_test(err, forward_shape_error);
    tcase_add_test(err, output_size_overflow);
    tcase_add_test(err, anomaly_mode_names_the_first_bad_op);
    tcase_add_test(err, anomaly_mode_in_backward_and_leaves);
    suite_add_tcase(s, run);
    suite_add_tcase(s, err);
    return tu_run(s);
}
