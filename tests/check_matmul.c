/* SPDX-License-Identifier: MIT */
/* Products over tensors: batched matmul with broadcast batch dims, dense
 * and dense_relu over leading dims, transpose of the last two axes; values
 * and gradients against numpy (tests/fixtures/matmul_numpy.py), gradients
 * by finite differences, and the shape rules' refusals. */
#include "test_util.h"

#include "fixtures/matmul_numpy.h"

#define TOL 1e-12

#define assert_message(g, st, text)                                               \
    do {                                                                          \
        ck_assert_int_eq(bp_graph_status(g), (st));                               \
        ck_assert_str_eq(bp_graph_message(g), (text));                            \
    } while (0)

static void assert_shape_is(const bp_node *n, const bp_shape *want)
{
    const bp_shape *s = bp_node_shape(n);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(s->rank, want->rank);
    for (size_t d = 0; d < want->rank; d++)
        ck_assert_msg(s->dim[d] == want->dim[d], "dim %zu is %zu, want %zu", d, s->dim[d],
                      want->dim[d]);
}

/* A param of shape s holding data. */
static bp_node *param_with(bp_graph *g, const bp_shape *s, const double *data, const char *name)
{
    bp_node *p = bp_param_nd(g, s, name);
    ck_assert_ptr_nonnull(p);
    memcpy(bp_node_value(p)->data, data, tu_shape_size(s) * sizeof(double));
    return p;
}

/* Forward to out, then backward with seed R (out's matrix view). */
static void run(bp_graph *g, bp_node *out, const double *R)
{
    bp_matrix seed = {bp_node_rows(out), bp_node_cols(out), (double *)R};
    ck_assert_int_eq(bp_forward(g, out), BP_OK);
    ck_assert_int_eq(bp_backward(g, out, &seed), BP_OK);
}

/* Each case twice: with the params as matmul's inputs, and through
 * transpose∘transpose, so that matmul's gradients go to fresh buffers
 * (assigned, not added: a broadcast operand's first batch assigns). */
START_TEST(batched_matmul_matches_numpy)
{
    const struct matmul_case *c = &matmul_cases[_i / 2];
    const int through = _i % 2;
    bp_graph *g = bp_graph_new();
    bp_node *A = param_with(g, &c->a, c->A, "A"), *B = param_with(g, &c->b, c->B, "B");
    bp_node *a = through ? bp_transpose(g, bp_transpose(g, A)) : A;
    bp_node *b = through ? bp_transpose(g, bp_transpose(g, B)) : B;
    bp_node *C = bp_matmul(g, a, b);

    ck_assert_msg(C != NULL, "%s: %s", c->name, bp_graph_message(g));
    assert_shape_is(C, &c->c);
    run(g, C, c->R);
    tu_assert_matrix_near(bp_node_value(C), c->C, TOL);
    tu_assert_matrix_near(bp_node_grad(A), c->dA, TOL);
    tu_assert_matrix_near(bp_node_grad(B), c->dB, TOL);
    bp_graph_free(g);
}
END_TEST

static void dense_case(bp_node *(*layer)(bp_graph *, bp_node *, bp_node *, bp_node *),
                       const double *y, const double *dx, const double *dW, const double *db)
{
    bp_graph *g = bp_graph_new();
    bp_node *x = param_with(g, &(bp_shape){3, {2, 3, 4}}, dense_x, "x");
    bp_node *W = param_with(g, &(bp_shape){2, {4, 5}}, dense_W, "W");
    bp_node *b = param_with(g, &(bp_shape){1, {5}}, dense_b, "b");
    bp_node *out = layer(g, x, W, b);

    ck_assert_msg(out != NULL, "%s", bp_graph_message(g));
    assert_shape_is(out, &(bp_shape){3, {2, 3, 5}});
    run(g, out, dense_R);
    tu_assert_matrix_near(bp_node_value(out), y, TOL);
    tu_assert_matrix_near(bp_node_grad(x), dx, TOL);
    tu_assert_matrix_near(bp_node_grad(W), dW, TOL);
    tu_assert_matrix_near(bp_node_grad(b), db, TOL);
    bp_graph_free(g);
}

START_TEST(dense_over_leading_dims_matches_numpy)
{
    dense_case(bp_dense, dense_y, dense_dx, dense_dW, dense_db);
    dense_case(bp_dense_relu, dense_relu_y, dense_relu_dx, dense_relu_dW, dense_relu_db);
}
END_TEST

START_TEST(transpose_swaps_the_last_two_axes)
{
    bp_graph *g = bp_graph_new();
    bp_node *x = param_with(g, &(bp_shape){3, {2, 3, 4}}, transpose_x, "x");
    bp_node *y = bp_transpose(g, x);

    assert_shape_is(y, &(bp_shape){3, {2, 4, 3}});
    run(g, y, transpose_R);
    tu_assert_matrix_near(bp_node_value(y), transpose_y, 0.0);
    tu_assert_matrix_near(bp_node_grad(x), transpose_dx, 0.0);
    bp_graph_free(g);
}
END_TEST

/* Finite differences through the checker, on rank-3 and rank-4 params. */
static void assert_graph_checks(bp_graph *g, bp_node *out)
{
    bp_check_report rep;

    ck_assert_ptr_nonnull(out);
    ck_assert_int_eq(bp_gradcheck_graph(g, out, NULL, &rep), BP_OK);
    ck_assert_msg(rep.result == BP_CHECK_PASS, "%s %s", rep.diagnosis, rep.message);
    ck_assert_uint_gt(rep.n_compared, 0);
    bp_check_report_clear(&rep);
    bp_graph_free(g);
}

START_TEST(batched_gradients_pass_the_checker)
{
    const struct matmul_case *c = &matmul_cases[_i];
    bp_graph *g = bp_graph_new();
    bp_node *A = param_with(g, &c->a, c->A, "A"), *B = param_with(g, &c->b, c->B, "B");

    assert_graph_checks(g, bp_matmul(g, A, B));
}
END_TEST

START_TEST(dense_and_transpose_pass_the_checker)
{
    bp_graph *g = bp_graph_new();
    bp_node *x = param_with(g, &(bp_shape){3, {2, 3, 4}}, dense_x, "x");
    bp_node *W = param_with(g, &(bp_shape){2, {4, 5}}, dense_W, "W");
    bp_node *b = param_with(g, &(bp_shape){1, {5}}, dense_b, "b");
    bp_node *h = bp_dense_relu(g, x, W, b), *z = bp_dense(g, x, W, b);

    /* h, z: 2x3x5; hᵀ·z: (2x5x3)·(2x3x5) → 2x5x5 */
    assert_graph_checks(g, bp_matmul(g, bp_transpose(g, h), z));
}
END_TEST

START_TEST(shapes_that_do_not_fit_are_refused)
{
    bp_graph *g = bp_graph_new();
    bp_node *a = bp_input_nd(g, &(bp_shape){4, {4, 3, 2, 5}}, "a");
    bp_node *b = bp_input_nd(g, &(bp_shape){4, {5, 3, 5, 2}}, "b");
    bp_node *t = bp_input_nd(g, &(bp_shape){3, {2, 7, 3}}, "t");
    bp_node *m = bp_input_nd(g, &(bp_shape){2, {4, 5}}, "m");
    bp_node *W3 = bp_param_nd(g, &(bp_shape){3, {1, 3, 5}}, "W3");
    bp_node *W = bp_param_nd(g, &(bp_shape){2, {3, 5}}, "W");
    bp_node *b4 = bp_param_nd(g, &(bp_shape){1, {4}}, "b4");

    ck_assert_ptr_null(bp_matmul(g, a, b));
    assert_message(g, BP_EDIM, "matmul: batch dims 4x3 and 5x3 do not broadcast");
    bp_graph_clear_error(g);
    ck_assert_ptr_null(bp_matmul(g, t, m));
    assert_message(g, BP_EDIM, "matmul: inner dimensions differ (2x7x3 · 4x5)");
    bp_graph_clear_error(g);
    ck_assert_ptr_null(bp_dense(g, t, W3, b4));
    assert_message(g, BP_EDIM,
                   "dense: expects x (…×k), W (k×n), b (n or 1×n); given 2x7x3, 1x3x5, 4");
    bp_graph_clear_error(g);
    ck_assert_ptr_null(bp_dense_relu(g, t, W, b4));
    assert_message(g, BP_EDIM,
                   "dense_relu: expects x (…×k), W (k×n), b (n or 1×n); given 2x7x3, 3x5, 4");
    bp_graph_clear_error(g);
    /* What does fit: the batch dims broadcast, a rank-2 B folds. */
    assert_shape_is(bp_matmul(g, t, W), &(bp_shape){3, {2, 7, 5}});
    assert_shape_is(bp_matmul(g, bp_transpose(g, t), t), &(bp_shape){3, {2, 3, 3}});
    ck_assert_int_eq(bp_graph_status(g), BP_OK);
    bp_graph_free(g);
}
END_TEST

/* An input's leading dim follows its data: the batched product re-derives
 * its shape and walks the new number of batches. */
START_TEST(batch_size_follows_the_input)
{
    const struct matmul_case *c = &matmul_cases[2]; /* 2x2x3x4 · 2x2x4x3 */
    bp_graph *g = bp_graph_new();
    bp_node *A = bp_input_nd(g, &(bp_shape){4, {1, 2, 3, 4}}, "A");
    bp_node *B = param_with(g, &(bp_shape){4, {1, 2, 4, 3}}, c->B, "B");
    bp_node *C = bp_matmul(g, A, B);
    bp_matrix one = {6, 4, (double *)c->A};

    /* A batch of 1 against B's first: numpy's first 2x3x3 block. */
    ck_assert_int_eq(bp_node_set_value(A, &one), BP_OK);
    ck_assert_int_eq(bp_forward(g, C), BP_OK);
    assert_shape_is(C, &(bp_shape){4, {1, 2, 3, 3}});
    tu_assert_matrix_near(bp_node_value(C), c->C, TOL);
    bp_graph_free(g);
}
END_TEST

static Suite *matmul_suite(void)
{
    Suite *s = suite_create("matmul");
    TCase *tc = tcase_create("core");
    const int n_cases = (int)(sizeof matmul_cases / sizeof *matmul_cases);

    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, batched_matmul_matches_numpy, 0, 2 * n_cases);
    tcase_add_test(tc, dense_over_leading_dims_matches_numpy);
    tcase_add_test(tc, transpose_swaps_the_last_two_axes);
    tcase_add_loop_test(tc, batched_gradients_pass_the_checker, 0, n_cases);
    tcase_add_test(tc, dense_and_transpose_pass_the_checker);
    tcase_add_test(tc, shapes_that_do_not_fit_are_refused);
    tcase_add_test(tc, batch_size_follows_the_input);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(matmul_suite());
}
