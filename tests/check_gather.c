/* SPDX-License-Identifier: MIT */
/* gather: values and the scatter-add gradient worked out by hand with
 * repeated ids, tables of rank 1 to 3, every bad id refused before a read,
 * and the gradient checker's integer-id inputs. */
#include "test_util.h"

#include <stdio.h>

#define assert_message(g, st, part)                                               \
    do {                                                                          \
        ck_assert_int_eq(bp_graph_status(g), (st));                               \
        ck_assert_msg(strstr(bp_graph_message(g), (part)) != NULL,                \
                      "message '%s' lacks '%s'", bp_graph_message(g), (part));    \
    } while (0)

static const double table4x3[12] = {
    0.31, -1.27, 2.05,    /* row 0 */
    1.93, 0.44, -0.68,    /* row 1 */
    -2.71, 3.16, 0.57,    /* row 2 */
    0.83, -0.29, 1.41,    /* row 3 */
};

/* ids [[2, 0, 2], [3, 2, 1]]: output (2, 3, 3), row (i, j) = table[ids]. */
START_TEST(values_and_scatter_add_by_hand)
{
    bp_graph *g = bp_graph_new();
    bp_node *t = bp_param(g, 4, 3, "table");
    bp_node *ids = bp_input_nd(g, &(bp_shape){2, {2, 3}}, "ids");
    bp_node *y = bp_gather(g, t, ids);
    const double id[6] = {2, 0, 2, 3, 2, 1};
    double seed[18], want[18], want_grad[12] = {0};
    bp_matrix sm = tu_view(6, 3, seed);
    const bp_shape *s;

    ck_assert_int_eq(bp_graph_status(g), BP_OK);
    s = bp_node_shape(y);
    ck_assert_uint_eq(s->rank, 3);
    ck_assert_uint_eq(s->dim[0], 2);
    ck_assert_uint_eq(s->dim[1], 3);
    ck_assert_uint_eq(s->dim[2], 3);
    tu_set(t, 4, 3, table4x3);
    tu_set(ids, 2, 3, id);
    for (size_t k = 0; k < 6; k++)
        for (size_t j = 0; j < 3; j++) {
            want[k * 3 + j] = table4x3[(size_t)id[k] * 3 + j];
            seed[k * 3 + j] = 0.25 * (double)(k * 3 + j) - 1.5;
        }
    ck_assert_int_eq(bp_forward(g, y), BP_OK);
    tu_assert_matrix_near(bp_node_value(y), want, 0.0);

    /* d table[r] = Σ seed rows whose id is r: row 2 thrice (positions 0,
     * 2 and 4), rows 0, 3, 1 once each (positions 1, 3, 5). */
    for (size_t j = 0; j < 3; j++) {
        want_grad[2 * 3 + j] = seed[0 * 3 + j] + seed[2 * 3 + j] + seed[4 * 3 + j];
        want_grad[0 * 3 + j] = seed[1 * 3 + j];
        want_grad[3 * 3 + j] = seed[3 * 3 + j];
        want_grad[1 * 3 + j] = seed[5 * 3 + j];
    }
    ck_assert_int_eq(bp_backward(g, y, &sm), BP_OK);
    tu_assert_matrix_near(bp_node_grad(t), want_grad, 1e-15);
    bp_graph_free(g);
}
END_TEST

/* A rank-3 table (V, 2, 2) by ids (2, 2) gives rank 4; a rank-1 table
 * gives ids' shape; ranks past 4 are refused with both shapes named. */
START_TEST(ranks)
{
    bp_graph *g = bp_graph_new();
    bp_node *t3 = bp_param_nd(g, &(bp_shape){3, {3, 2, 2}}, "t3");
    bp_node *t1 = bp_param_nd(g, &(bp_shape){1, {5}}, "t1");
    bp_node *ids = bp_input_nd(g, &(bp_shape){2, {2, 2}}, "ids");
    bp_node *ids3 = bp_input_nd(g, &(bp_shape){3, {2, 2, 2}}, "ids3");
    bp_node *y4 = bp_gather(g, t3, ids), *y1 = bp_gather(g, t1, ids);
    double t3d[12], t1d[5] = {0.5, -1.5, 2.5, -3.5, 4.5};
    const double id[4] = {1, 1, 0, 2};

    ck_assert_int_eq(bp_graph_status(g), BP_OK);
    ck_assert_uint_eq(bp_node_shape(y4)->rank, 4);
    ck_assert_uint_eq(bp_node_shape(y1)->rank, 2);
    for (size_t i = 0; i < 12; i++)
        t3d[i] = 0.1 * (double)i + 0.05;
    tu_set(t3, 6, 2, t3d);
    tu_set(t1, 1, 5, t1d);
    tu_set(ids, 2, 2, id);
    ck_assert_int_eq(bp_forward(g, y4), BP_OK);
    for (size_t k = 0; k < 4; k++)
        for (size_t j = 0; j < 4; j++)
            ck_assert_double_eq(bp_node_value(y4)->data[k * 4 + j], t3d[(size_t)id[k] * 4 + j]);
    ck_assert_int_eq(bp_forward(g, y1), BP_OK);
    for (size_t k = 0; k < 4; k++)
        ck_assert_double_eq(bp_node_value(y1)->data[k], t1d[(size_t)id[k]]);

    ck_assert_ptr_null(bp_gather(g, t3, ids3));
    assert_message(g, BP_EDIM, "gather: ids 2x2x2 into table 3x2x2 make rank 5 (at most 4)");
    bp_graph_free(g);
}
END_TEST

/* Out of range, negative, fractional, NaN: BP_EINVAL naming the id, at
 * forward, before anything is read or written. */
START_TEST(bad_ids_are_refused)
{
    const double bad[][3] = {{0, 4, 1}, {-1, 0, 0}, {1, 2, 1.5}, {0, NAN, 0}, {0, 0, INFINITY}};
    const char *part[] = {"id 4 at position 1 is not an integer in [0, 4)",
                          "id -1 at position 0", "id 1.5 at position 2", "id nan at position 1",
                          "id inf at position 2"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        bp_graph *g = bp_graph_new();
        bp_node *t = bp_param(g, 4, 3, "table");
        bp_node *ids = bp_input_nd(g, &(bp_shape){1, {3}}, "ids");
        bp_node *y = bp_gather(g, t, ids);
        tu_set(t, 4, 3, table4x3);
        tu_set(ids, 1, 3, bad[i]);
        ck_assert_int_eq(bp_forward(g, y), BP_EINVAL);
        assert_message(g, BP_EINVAL, part[i]);
        bp_graph_free(g);
    }
}
END_TEST

/* The gather op of the registry passes the checker, whose id inputs are
 * sampled as integers (with repeats) and never perturbed; a copy whose
 * backward writes instead of adding fails on a repeated id. */
static bp_status overwriting_backward(bp_op_args *a)
{
    const size_t v = a->in_shape[0]->dim[0];
    const size_t width = a->in[0]->rows * a->in[0]->cols / v;
    if (a->din[0])
        for (size_t k = 0; k < a->in[1]->rows * a->in[1]->cols; k++)
            memcpy(a->din[0]->data + (size_t)a->in[1]->data[k] * width,
                   a->dout->data + k * width, width * sizeof(double));
    return BP_OK;
}

START_TEST(checker_passes_gather_and_catches_an_overwrite)
{
    bp_check_report rep;
    bp_op wrong = *tu_builtin("gather");

    ck_assert_int_eq(bp_gradcheck_op(tu_builtin("gather"), NULL, &rep), BP_OK);
    ck_assert_msg(rep.result == BP_CHECK_PASS, "%s", rep.message);
    ck_assert_uint_gt(rep.n_compared, 0);
    bp_check_report_clear(&rep);

    wrong.backward = overwriting_backward;
    ck_assert_int_eq(bp_gradcheck_op(&wrong, NULL, &rep), BP_OK);
    ck_assert_int_eq(rep.result, BP_CHECK_MISMATCH);
    bp_check_report_clear(&rep);
}
END_TEST

static Suite *gather_suite(void)
{
    Suite *s = suite_create("gather");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, values_and_scatter_add_by_hand);
    tcase_add_test(tc, ranks);
    tcase_add_test(tc, bad_ids_are_refused);
    tcase_add_test(tc, checker_passes_gather_and_catches_an_overwrite);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(gather_suite());
}
