/* SPDX-License-Identifier: MIT */
/* Tensors in the graph core: leaves of rank 1 to 4, their matrix views,
 * batch dimensions that change between runs, shapes through an op that
 * declares BP_OP_TENSORS, and the refusals, each with its message. */
#include "test_util.h"

#define assert_message(g, st, part)                                               \
    do {                                                                          \
        ck_assert_int_eq(bp_graph_status(g), (st));                               \
        ck_assert_msg(strstr(bp_graph_message(g), (part)) != NULL,                \
                      "message '%s' lacks '%s'", bp_graph_message(g), (part));    \
    } while (0)

static void assert_shape(const bp_node *n, size_t rank, size_t d0, size_t d1, size_t d2,
                         size_t d3)
{
    const size_t want[BP_MAX_RANK] = {d0, d1, d2, d3};
    const bp_shape *s = bp_node_shape(n);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(s->rank, rank);
    for (size_t i = 0; i < rank; i++)
        ck_assert_msg(s->dim[i] == want[i], "dim %zu is %zu, want %zu", i, s->dim[i], want[i]);
}

/* y = 2.5·x on any shape: the output keeps the input's shape.  Declared as
 * a user would declare a tensor op. */
static bp_status twice_shape(bp_op_args *a)
{
    *a->out_shape = *a->in_shape[0];
    return BP_OK;
}

static bp_status twice_forward(bp_op_args *a)
{
    for (size_t k = 0; k < a->out->rows * a->out->cols; k++)
        a->out->data[k] = 2.5 * a->in[0]->data[k];
    return BP_OK;
}

static bp_status twice_backward(bp_op_args *a)
{
    /* dx += 2.5·dy */
    if (a->din[0])
        for (size_t k = 0; k < a->dout->rows * a->dout->cols; k++)
            a->din[0]->data[k] += 2.5 * a->dout->data[k];
    return BP_OK;
}

static const bp_op twice_op = {
    .name = "twice", .doc = "2.5·a, any shape", .n_in = 1,
    .shape = twice_shape, .forward = twice_forward, .backward = twice_backward,
    .flags = BP_OP_TENSORS, .domain = {{.kind = BP_DOMAIN_REAL}},
};

/* The same op without the flag: given matrices only. */
static const bp_op twice_matrix_op = {
    .name = "twice_matrix", .doc = "2.5·a", .n_in = 1,
    .shape = twice_shape, .forward = twice_forward, .backward = twice_backward,
    .domain = {{.kind = BP_DOMAIN_REAL}},
};

/* A tensor op whose shape rule is wrong in one of two ways (attr 0: rank
 * 5; attr 1: a zero dimension). */
static bp_status bad_rank_shape(bp_op_args *a)
{
    *a->out_shape = *a->in_shape[0];
    if (a->attr[0] == 0.0)
        a->out_shape->rank = 5;
    else
        a->out_shape->dim[1] = 0;
    return BP_OK;
}

static const bp_op bad_shape_op = {
    .name = "bad_shape", .doc = "a wrong shape rule", .n_in = 1, .n_attr = 1,
    .shape = bad_rank_shape, .forward = twice_forward, .backward = twice_backward,
    .flags = BP_OP_TENSORS, .domain = {{.kind = BP_DOMAIN_REAL}},
};

/* flatten: a x b x c → (a·b) x c as a view of its input's buffer. */
static bp_status flatten_shape(bp_op_args *a)
{
    const bp_shape *s = a->in_shape[0];
    if (s->rank != 3)
        return bp_op_fail(a, BP_EDIM, "needs rank 3");
    *a->out_shape = (bp_shape){2, {s->dim[0] * s->dim[1], s->dim[2]}};
    return BP_OK;
}

static bp_status flatten_forward(bp_op_args *a)
{
    (void)a;   /* a view: the value is the input's */
    return BP_OK;
}

static bp_status flatten_backward(bp_op_args *a)
{
    /* dx += dy, element for element */
    if (a->din[0])
        for (size_t k = 0; k < a->dout->rows * a->dout->cols; k++)
            a->din[0]->data[k] += a->dout->data[k];
    return BP_OK;
}

static const bp_op flatten_op = {
    .name = "flatten", .doc = "a x b x c → (a·b) x c, no copy", .n_in = 1,
    .shape = flatten_shape, .forward = flatten_forward, .backward = flatten_backward,
    /* its backward reads no output: only the view rule keeps relu off */
    .flags = BP_OP_TENSORS | BP_OP_VIEW | BP_OP_BWD_NO_OUT, .domain = {{.kind = BP_DOMAIN_REAL}},
};

/* A view whose shape rule changes the element count. */
static bp_status grow_shape(bp_op_args *a)
{
    *a->out_shape = *a->in_shape[0];
    a->out_shape->dim[0]++;
    return BP_OK;
}

static const bp_op grow_op = {
    .name = "grow", .doc = "a wrong view", .n_in = 1,
    .shape = grow_shape, .forward = flatten_forward, .backward = flatten_backward,
    .flags = BP_OP_TENSORS | BP_OP_VIEW, .domain = {{.kind = BP_DOMAIN_REAL}},
};

START_TEST(leaves_of_every_rank)
{
    bp_graph *g = bp_graph_new();
    const double c[6] = {0.5, -1.25, 2.0, 3.5, -0.75, 1.5};
    bp_node *v = bp_input_nd(g, &(bp_shape){1, {5}}, "v");
    bp_node *m = bp_param_nd(g, &(bp_shape){2, {3, 4}}, "m");
    bp_node *t = bp_param_nd(g, &(bp_shape){3, {2, 7, 3}}, "t");
    bp_node *q = bp_input_nd(g, &(bp_shape){4, {2, 4, 5, 8}}, "q");
    bp_node *k = bp_constant_nd(g, &(bp_shape){3, {1, 2, 3}}, c, "k");
    bp_node *old = bp_input(g, 6, 2, "old");

    ck_assert_int_eq(bp_graph_status(g), BP_OK);
    assert_shape(v, 1, 5, 0, 0, 0);
    assert_shape(m, 2, 3, 4, 0, 0);
    assert_shape(t, 3, 2, 7, 3, 0);
    assert_shape(q, 4, 2, 4, 5, 8);
    assert_shape(k, 3, 1, 2, 3, 0);
    assert_shape(old, 2, 6, 2, 0, 0);
    /* The matrix view: every dimension but the last, by the last. */
    ck_assert_uint_eq(bp_node_rows(v), 1);
    ck_assert_uint_eq(bp_node_cols(v), 5);
    ck_assert_uint_eq(bp_node_rows(t), 14);
    ck_assert_uint_eq(bp_node_cols(t), 3);
    ck_assert_uint_eq(bp_node_rows(q), 40);
    ck_assert_uint_eq(bp_node_cols(q), 8);
    ck_assert_uint_eq(bp_node_value(t)->rows, 14);
    for (size_t i = 0; i < 42; i++)
        ck_assert_double_eq(bp_node_value(t)->data[i], 0.0);
    tu_assert_matrix_near(bp_node_value(k), c, 0.0);
    ck_assert_ptr_null(bp_node_shape(NULL));
    bp_graph_free(g);
}
END_TEST

START_TEST(bad_leaf_shapes)
{
    struct {
        bp_shape shape;
        const char *part;
    } bad[] = {
        {{0, {3}}, "'x': rank 0 (a value has rank 1 to 4)"},
        {{5, {1, 2, 3, 4}}, "'x': rank 5"},
        {{3, {2, 0, 3}}, "'x': every dimension must be at least 1 (2x0x3)"},
        {{2, {0, 3}}, "'x': a matrix needs at least one row and one column (0x3)"},
        {{4, {SIZE_MAX / 2, 2, 2, 2}}, "doubles overflow size_t"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        bp_graph *g = bp_graph_new();
        ck_assert_ptr_null(bp_param_nd(g, &bad[i].shape, "x"));
        ck_assert_int_ne(bp_graph_status(g), BP_OK);
        ck_assert_msg(strstr(bp_graph_message(g), bad[i].part) != NULL, "case %zu: '%s'", i,
                      bp_graph_message(g));
        ck_assert_uint_eq(bp_graph_size(g), 0);
        bp_graph_free(g);
    }
    {
        bp_graph *g = bp_graph_new();
        ck_assert_ptr_null(bp_input_nd(g, NULL, "x"));
        assert_message(g, BP_EDIM, "input 'x': shape is NULL");
        bp_graph_clear_error(g);
        ck_assert_ptr_null(bp_constant_nd(g, &(bp_shape){1, {3}}, NULL, "k"));
        assert_message(g, BP_EINVAL, "constant 'k': data is NULL");
        bp_graph_free(g);
    }
    ck_assert_ptr_null(bp_input_nd(NULL, &(bp_shape){1, {3}}, "x"));
}
END_TEST

/* An input of shape N x 7 x 3 takes a (N·7) x 3 matrix, which sets N; a
 * rank-1 input of length N takes 1 x N. */
START_TEST(input_batch_dimension_follows_the_data)
{
    bp_graph *g = bp_graph_new();
    bp_node *x = bp_input_nd(g, &(bp_shape){3, {4, 7, 3}}, "x");
    bp_node *v = bp_input_nd(g, &(bp_shape){1, {6}}, "v");
    bp_node *p = bp_param_nd(g, &(bp_shape){3, {2, 7, 3}}, "p");
    double d[63];
    bp_matrix m;

    for (size_t i = 0; i < 63; i++)
        d[i] = 0.125 * (double)i - 3.0;
    m = tu_view(21, 3, d);
    ck_assert_int_eq(bp_node_set_value(x, &m), BP_OK);
    assert_shape(x, 3, 3, 7, 3, 0);
    m = tu_view(14, 3, d);
    ck_assert_int_eq(bp_node_bind_value(x, &m), BP_OK);
    assert_shape(x, 3, 2, 7, 3, 0);
    ck_assert_ptr_eq(bp_node_value(x)->data, d);

    m = tu_view(10, 3, d);   /* 10 rows is no whole number of 7-row items */
    ck_assert_int_eq(bp_node_set_value(x, &m), BP_EDIM);
    assert_message(g, BP_EDIM, "set_value input 'x': expects (N·7)x3 (shape Nx7x3), given 10x3");
    bp_graph_clear_error(g);
    assert_shape(x, 3, 2, 7, 3, 0);   /* unchanged */
    m = tu_view(14, 4, d);
    ck_assert_int_eq(bp_node_bind_value(x, &m), BP_EDIM);
    assert_message(g, BP_EDIM, "bind_value input 'x': expects (N·7)x3");
    bp_graph_clear_error(g);

    m = tu_view(1, 9, d);
    ck_assert_int_eq(bp_node_set_value(v, &m), BP_OK);
    assert_shape(v, 1, 9, 0, 0, 0);
    m = tu_view(3, 3, d);
    ck_assert_int_eq(bp_node_set_value(v, &m), BP_EDIM);
    assert_message(g, BP_EDIM, "expects 1xN (shape N), given 3x3");
    bp_graph_clear_error(g);

    /* A param takes exactly its shape's view. */
    m = tu_view(14, 3, d);
    ck_assert_int_eq(bp_node_set_value(p, &m), BP_OK);
    ck_assert_double_eq(bp_node_value(p)->data[13], d[13]);
    m = tu_view(21, 3, d);
    ck_assert_int_eq(bp_node_set_value(p, &m), BP_EDIM);
    assert_message(g, BP_EDIM, "set_value param 'p': expects 14x3 (shape 2x7x3), given 21x3");
    bp_graph_free(g);
}
END_TEST

/* A rank-1 input's matrix view follows the length it is given, longer or
 * shorter, in its cols: ops read exactly the values given. */
START_TEST(rank1_input_length_follows_the_data)
{
    bp_graph *g = bp_graph_new();
    bp_node *v = bp_input_nd(g, &(bp_shape){1, {3}}, "v");
    bp_node *s = bp_sum(g, v);
    const double d[5] = {2.385, -1.25, 0.5, 4.125, -0.75};
    const struct {
        size_t len;
        int bind;
        double sum;
    } cases[] = {
        {3, 0, 2.385 - 1.25 + 0.5},
        {5, 0, 2.385 - 1.25 + 0.5 + 4.125 - 0.75},
        {2, 1, 2.385 - 1.25},
        {4, 0, 2.385 - 1.25 + 0.5 + 4.125},
        {1, 0, 2.385},
    };

    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        bp_matrix m = tu_view(1, cases[c].len, (double *)d);
        ck_assert_int_eq((cases[c].bind ? bp_node_bind_value : bp_node_set_value)(v, &m), BP_OK);
        assert_shape(v, 1, cases[c].len, 0, 0, 0);
        ck_assert_uint_eq(bp_node_value(v)->rows, 1);
        ck_assert_uint_eq(bp_node_value(v)->cols, cases[c].len);
        ck_assert_uint_eq(bp_node_cols(v), cases[c].len);
        ck_assert_int_eq(bp_forward(g, s), BP_OK);
        ck_assert_double_eq_tol(bp_node_value(s)->data[0], cases[c].sum, 1e-15);
    }
    bp_graph_free(g);
}
END_TEST

/* Shapes flow through a BP_OP_TENSORS op, follow a new batch size, and the
 * gradient reaches a rank-3 param with the param's shape. */
START_TEST(tensor_op_forward_and_backward)
{
    bp_graph *g = bp_graph_new();
    bp_node *x = bp_input_nd(g, &(bp_shape){3, {1, 2, 3}}, "x");
    bp_node *w = bp_param_nd(g, &(bp_shape){3, {1, 2, 3}}, "w");
    bp_node *y = bp_apply(g, &twice_op, 1, &x, NULL);
    bp_node *yw = bp_apply(g, &twice_op, 1, &w, NULL);
    const double wd[6] = {0.3, -1.1, 2.4, 0.9, -0.6, 1.7};
    double cd[6] = {1.5, -2.0, 0.25, 3.0, -0.5, 4.0};
    bp_matrix seed = tu_view(2, 3, cd);
    double xd[12], want[12];

    ck_assert_int_eq(bp_graph_status(g), BP_OK);
    assert_shape(y, 3, 1, 2, 3, 0);
    for (size_t i = 0; i < 12; i++) {
        xd[i] = 0.7 * (double)i - 2.1;
        want[i] = 2.5 * xd[i];
    }
    tu_set(x, 4, 3, xd);   /* N = 2 */
    ck_assert_int_eq(bp_forward(g, y), BP_OK);
    assert_shape(y, 3, 2, 2, 3, 0);
    ck_assert_uint_eq(bp_node_value(y)->rows, 4);
    tu_assert_matrix_near(bp_node_value(y), want, 0.0);

    /* seeded with c (yw's 2x3 view): dL/dw = 2.5·c */
    tu_set(w, 2, 3, wd);
    ck_assert_int_eq(bp_forward(g, yw), BP_OK);
    ck_assert_int_eq(bp_backward(g, yw, &seed), BP_OK);
    ck_assert_uint_eq(bp_node_grad(w)->rows, 2);
    ck_assert_uint_eq(bp_node_grad(w)->cols, 3);
    for (size_t i = 0; i < 6; i++)
        ck_assert_double_eq_tol(bp_node_grad(w)->data[i], 2.5 * cd[i], 1e-15);
    bp_graph_free(g);
}
END_TEST

START_TEST(matrix_ops_refuse_tensors)
{
    bp_graph *g = bp_graph_new();
    bp_node *x = bp_input_nd(g, &(bp_shape){3, {4, 7, 3}}, "x");
    bp_node *w = bp_param(g, 3, 5, "w");
    bp_node *v = bp_input_nd(g, &(bp_shape){1, {3}}, "v");

    ck_assert_ptr_null(bp_apply(g, &twice_matrix_op, 1, &x, NULL));
    assert_message(g, BP_EDIM, "twice_matrix: input 1 is 4x7x3 (rank 3), and this op takes "
                               "matrices only (an op that handles tensors declares BP_OP_TENSORS)");
    bp_graph_clear_error(g);
    ck_assert_ptr_null(bp_solve(g, x, w));
    assert_message(g, BP_EDIM, "solve: input 1 is 4x7x3 (rank 3)");
    bp_graph_clear_error(g);
    /* Rank 1 reaches a matrix op as its 1 x n view; the output is a
     * matrix. */
    assert_shape(bp_matmul(g, v, w), 2, 1, 5, 0, 0);
    ck_assert_int_eq(bp_graph_status(g), BP_OK);
    bp_graph_free(g);
}
END_TEST

START_TEST(bad_shape_rules_are_caught)
{
    bp_graph *g = bp_graph_new();
    bp_node *x = bp_input_nd(g, &(bp_shape){3, {2, 2, 3}}, "x");
    const double zero = 0.0, one = 1.0;

    ck_assert_ptr_null(bp_apply(g, &bad_shape_op, 1, &x, &zero));
    assert_message(g, BP_EDIM, "bad_shape: shape rule gave rank 5 (at most 4)");
    bp_graph_clear_error(g);
    ck_assert_ptr_null(bp_apply(g, &bad_shape_op, 1, &x, &one));
    assert_message(g, BP_EDIM, "bad_shape: shape rule gave an empty output (2x0x3)");
    ck_assert_uint_eq(bp_graph_size(g), 1);
    bp_graph_free(g);
}
END_TEST

START_TEST(anomaly_names_the_element_and_shape)
{
    bp_graph *g = bp_graph_new();
    bp_node *x = bp_input_nd(g, &(bp_shape){3, {1, 2, 2}}, "x");
    bp_node *y = bp_apply(g, &twice_op, 1, &x, NULL);
    const double xd[4] = {1.0, 2.0, 1e308, 3.0};

    bp_graph_set_anomaly_mode(g, 1);
    tu_set(x, 2, 2, xd);
    ck_assert_int_eq(bp_forward(g, y), BP_ENUMERIC);
    assert_message(g, BP_ENUMERIC, "forward output has inf at element 2 of 1x2x2");
    bp_graph_free(g);
}
END_TEST

/* A view reads its source's buffer, passes the gradient back, and is never
 * overwritten by an in-place consumer (that would change its source). */
START_TEST(views_share_the_buffer)
{
    bp_graph *g = bp_graph_new();
    bp_node *w = bp_param_nd(g, &(bp_shape){3, {2, 2, 3}}, "w");
    bp_node *t = bp_apply(g, &twice_op, 1, &w, NULL);
    bp_node *f = bp_apply(g, &flatten_op, 1, &t, NULL);
    bp_node *r = bp_relu(g, f);
    bp_node *loss = bp_sum(g, r);   /* f's one consumer is relu */
    double wd[12], t_before[12];
    bp_op bad = flatten_op;

    ck_assert_int_eq(bp_graph_status(g), BP_OK);
    assert_shape(f, 2, 4, 3, 0, 0);
    for (size_t i = 0; i < 12; i++)
        wd[i] = (i % 3 == 0 ? -1.0 : 1.0) * (0.4 + 0.1 * (double)i);
    tu_set(w, 4, 3, wd);
    bp_graph_set_inplace(g, 1);
    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    ck_assert_ptr_eq(bp_node_value(f)->data, bp_node_value(t)->data);
    for (size_t i = 0; i < 12; i++) {
        t_before[i] = 2.5 * wd[i];
        ck_assert_double_eq(bp_node_value(r)->data[i], fmax(t_before[i], 0.0));
    }
    tu_assert_matrix_near(bp_node_value(t), t_before, 0.0);   /* relu did not write it */
    /* L = Σ relu(2.5w): dL/dw = 2.5·1[w > 0] */
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
    for (size_t i = 0; i < 12; i++)
        ck_assert_double_eq_tol(bp_node_grad(w)->data[i], 2.5 * (wd[i] > 0), 1e-15);

    ck_assert_ptr_null(bp_apply(g, &grow_op, 1, &t, NULL));
    assert_message(g, BP_EDIM, "grow: a view of 2x2x3 cannot be 3x2x3: the element counts differ");
    bad.flags = BP_OP_VIEW;   /* a view must declare its shape */
    ck_assert_int_eq(bp_op_validate(&bad), BP_EINVAL);
    bp_graph_free(g);
}
END_TEST

static Suite *tensor_suite(void)
{
    Suite *s = suite_create("tensor");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, leaves_of_every_rank);
    tcase_add_test(tc, bad_leaf_shapes);
    tcase_add_test(tc, input_batch_dimension_follows_the_data);
    tcase_add_test(tc, rank1_input_length_follows_the_data);
    tcase_add_test(tc, tensor_op_forward_and_backward);
    tcase_add_test(tc, matrix_ops_refuse_tensors);
    tcase_add_test(tc, bad_shape_rules_are_caught);
    tcase_add_test(tc, anomaly_names_the_element_and_shape);
    tcase_add_test(tc, views_share_the_buffer);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(tensor_suite());
}
