/* SPDX-License-Identifier: MIT */
/* Ops along an axis (sum_axis, mean_axis, max_axis, softmax_axis,
 * log_softmax) and the losses over (..., K): values against numpy's
 * (tests/fixtures/reduce_numpy.py) for every axis of rank 1 to 4 inputs,
 * extreme logits against 50-digit decimals, gradients by the checker on
 * rank-3 and rank-4 params, the arg-max's gradient and NaN by hand, and the
 * errors with their messages. */
#include "test_util.h"

#include "fixtures/reduce_numpy.h"

#define assert_message(g, st, part)                                               \
    do {                                                                          \
        ck_assert_int_eq(bp_graph_status(g), (st));                               \
        ck_assert_msg(strstr(bp_graph_message(g), (part)) != NULL,                \
                      "message '%s' lacks '%s'", bp_graph_message(g), (part));    \
    } while (0)

/* The op named op applied to a with axis (and keepdims, for reductions). */
static bp_node *along(bp_graph *g, const char *op, bp_node *a, int axis, int keepdims)
{
    if (!strcmp(op, "sum_axis"))
        return bp_sum_axis(g, a, axis, keepdims);
    if (!strcmp(op, "mean_axis"))
        return bp_mean_axis(g, a, axis, keepdims);
    if (!strcmp(op, "max_axis"))
        return bp_max_axis(g, a, axis, keepdims);
    if (!strcmp(op, "softmax_axis"))
        return bp_softmax_axis(g, a, axis);
    ck_assert_str_eq(op, "log_softmax");
    return bp_log_softmax(g, a, axis);
}

static bp_shape input_shape(const struct np_input *in)
{
    bp_shape s = {in->rank, {0}};
    for (size_t d = 0; d < in->rank; d++)
        s.dim[d] = in->dim[d];
    return s;
}

/* Every case of the fixture: the output's shape and values, to 1e-13
 * relative (the sums are of a few entries of magnitude ≤ 3). */
START_TEST(values_match_numpy)
{
    const size_t n_cases = sizeof np_cases / sizeof np_cases[0];

    ck_assert_uint_eq(n_cases, (1 + 2 + 3 + 4) * 2 * (2 * 3 + 2));
    for (size_t c = 0; c < n_cases; c++) {
        const struct np_case *k = &np_cases[c];
        const struct np_input *in = &np_inputs[k->input];
        bp_shape s = input_shape(in);
        bp_graph *g = bp_graph_new();
        bp_node *x = bp_constant_nd(g, &s, in->x, "x");
        bp_node *y = along(g, k->op, x, k->axis, k->keepdims);
        const bp_shape *ys;
        size_t n;

        ck_assert_ptr_nonnull(y);
        ck_assert_int_eq(bp_forward(g, y), BP_OK);
        ys = bp_node_shape(y);
        ck_assert_msg(ys->rank == k->rank, "%s axis %d keepdims %d of rank %zu: rank %zu, want %zu",
                      k->op, k->axis, k->keepdims, in->rank, ys->rank, k->rank);
        for (size_t d = 0; d < k->rank; d++)
            ck_assert_uint_eq(ys->dim[d], k->dim[d]);
        n = tu_shape_size(ys);
        for (size_t i = 0; i < n; i++) {
            double got = bp_node_value(y)->data[i], want = k->want[i];
            ck_assert_msg(fabs(got - want) <= 1e-13 * fmax(1.0, fabs(want)),
                          "%s axis %d keepdims %d of rank %zu, entry %zu: %.17g, numpy %.17g",
                          k->op, k->axis, k->keepdims, in->rank, i, got, want);
        }
        bp_graph_free(g);
    }
}
END_TEST

/* (1000, 980, 990) along a contiguous axis and along a strided one (the
 * middle axis of 2x3x2, the logits repeated in both columns): finite, and
 * the log softmax to 2 ulps of the decimal values, the tiny −4.54e-05
 * included, which x − (max + log Σ) would miss by 3e-10 relative. */
START_TEST(extreme_logits_stay_accurate)
{
    const double flat[3] = {1000.0, 980.0, 990.0};
    double strided[12];
    bp_graph *g = bp_graph_new();
    bp_node *a, *b, *out[4];

    for (size_t o = 0; o < 2; o++)
        for (size_t k = 0; k < 3; k++)
            for (size_t i = 0; i < 2; i++)
                strided[(o * 3 + k) * 2 + i] = flat[k];
    a = bp_constant_nd(g, &(bp_shape){1, {3}}, flat, "a");
    b = bp_constant_nd(g, &(bp_shape){3, {2, 3, 2}}, strided, "b");
    out[0] = bp_softmax_axis(g, a, 0);
    out[1] = bp_log_softmax(g, a, -1);
    out[2] = bp_softmax_axis(g, b, 1);
    out[3] = bp_log_softmax(g, b, -2);
    for (size_t n = 0; n < 4; n++) {
        const double *want = n % 2 ? np_extreme_log_softmax : np_extreme_softmax;
        const double *v;
        ck_assert_int_eq(bp_forward(g, out[n]), BP_OK);
        v = bp_node_value(out[n])->data;
        for (size_t e = 0; e < (n < 2 ? 3u : 12u); e++) {
            size_t k = n < 2 ? e : (e / 2) % 3;
            ck_assert_msg(fabs(v[e] - want[k]) <= 4.5e-16 * fabs(want[k]),
                          "output %zu entry %zu: %.17g, want %.17g", n, e, v[e], want[k]);
        }
    }
    bp_graph_free(g);
}
END_TEST

/* The checker's finite differences for every op along every axis of a
 * 2x3x4 and a 2x3x2x3 param, with and without keepdims (the output is
 * weighted by the checker's random weights). */
START_TEST(gradients_on_rank_3_and_4)
{
    static const char *const ops[] = {"sum_axis", "mean_axis", "max_axis", "softmax_axis",
                                      "log_softmax"};

    for (size_t r = 2; r < 4; r++) {
        const struct np_input *in = &np_inputs[r];
        bp_shape s = input_shape(in);
        for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++)
            for (int axis = -(int)in->rank; axis < (int)in->rank; axis++)
                for (int keep = 0; keep < 2; keep++) {
                    bp_graph *g = bp_graph_new();
                    bp_node *x = bp_param_nd(g, &s, "x"), *y;
                    bp_check_report rep;

                    memcpy(bp_node_value(x)->data, in->x, tu_shape_size(&s) * sizeof(double));
                    y = along(g, ops[o], x, axis, keep);
                    ck_assert_ptr_nonnull(y);
                    ck_assert_int_eq(bp_gradcheck_graph(g, y, NULL, &rep), BP_OK);
                    ck_assert_msg(rep.result == BP_CHECK_PASS, "%s axis %d keepdims %d rank %zu: %s %s",
                                  ops[o], axis, keep, in->rank, rep.diagnosis, rep.message);
                    ck_assert_uint_eq(rep.n_compared, tu_shape_size(&s));
                    bp_check_report_clear(&rep);
                    bp_graph_free(g);
                }
    }
}
END_TEST

/* max_axis down axis 0 of 3x2x2: ties go to the first (row 0), a NaN
 * makes the max NaN and takes the gradient; by hand. */
START_TEST(max_axis_ties_and_nan)
{
    /* x(k, i, j), k the reduced axis; columns (i, j) = (0,0): a tie of 2.5
     * at k = 0 and 2; (0,1): max 4.25 at k = 1; (1,0): NaN at k = 2;
     * (1,1): −1.5 at k = 0. */
    const double x[12] = {2.5, 1.0, 0.5, -1.5,
                          -3.0, 4.25, 7.0, -2.0,
                          2.5, 0.75, NAN, -1.75};
    const double seed[4] = {1.5, -2.0, 0.25, 3.0};
    const double want_dx[12] = {1.5, 0.0, 0.0, 3.0,
                                0.0, -2.0, 0.0, 0.0,
                                0.0, 0.0, 0.25, 0.0};
    bp_graph *g = bp_graph_new();
    bp_node *p = bp_param_nd(g, &(bp_shape){3, {3, 2, 2}}, "x"), *m;
    bp_matrix sv = tu_view(2, 2, (double *)seed);

    memcpy(bp_node_value(p)->data, x, sizeof x);
    m = bp_max_axis(g, p, 0, 0);
    ck_assert_int_eq(bp_forward(g, m), BP_OK);
    ck_assert_uint_eq(bp_node_shape(m)->rank, 2);
    ck_assert_double_eq(bp_node_value(m)->data[0], 2.5);
    ck_assert_double_eq(bp_node_value(m)->data[1], 4.25);
    ck_assert(isnan(bp_node_value(m)->data[2]));
    ck_assert_double_eq(bp_node_value(m)->data[3], -1.5);
    ck_assert_int_eq(bp_backward(g, m, &sv), BP_OK);
    for (size_t k = 0; k < 12; k++)
        ck_assert_double_eq(bp_node_grad(p)->data[k], want_dx[k]);
    bp_graph_free(g);
}
END_TEST

/* nll and softmax_ce of 2x3x4 tensors are means over the 6 leading
 * positions (numpy's), equal to those of the same data as a 6x4 matrix;
 * their gradients pass the checker. */
START_TEST(losses_over_leading_dims)
{
    const bp_shape s = {3, {2, 3, 4}};
    bp_graph *g = bp_graph_new();
    bp_node *z = bp_param_nd(g, &s, "z"), *p = bp_param_nd(g, &s, "p");
    bp_node *y = bp_constant_nd(g, &s, np_loss_target, "y");
    bp_node *ce, *nll, *ce2, *nll2, *zm, *pm, *ym;
    bp_check_report rep;

    memcpy(bp_node_value(z)->data, np_inputs[2].x, 24 * sizeof(double));
    memcpy(bp_node_value(p)->data, np_loss_prob, 24 * sizeof(double));
    ce = bp_softmax_ce(g, z, y);
    nll = bp_nll(g, p, y);
    zm = bp_constant(g, 6, 4, np_inputs[2].x, "zm");
    pm = bp_constant(g, 6, 4, np_loss_prob, "pm");
    ym = bp_constant(g, 6, 4, np_loss_target, "ym");
    ce2 = bp_softmax_ce(g, zm, ym);
    nll2 = bp_nll(g, pm, ym);
    ck_assert_ptr_nonnull(nll2);
    ck_assert_int_eq(bp_forward(g, ce), BP_OK);
    ck_assert_int_eq(bp_forward(g, nll), BP_OK);
    ck_assert_int_eq(bp_forward(g, ce2), BP_OK);
    ck_assert_int_eq(bp_forward(g, nll2), BP_OK);
    ck_assert_double_eq_tol(bp_node_value(ce)->data[0], np_softmax_ce, 1e-14);
    ck_assert_double_eq_tol(bp_node_value(nll)->data[0], np_nll, 1e-14);
    ck_assert_double_eq(bp_node_value(ce)->data[0], bp_node_value(ce2)->data[0]);
    ck_assert_double_eq(bp_node_value(nll)->data[0], bp_node_value(nll2)->data[0]);
    ck_assert_int_eq(bp_gradcheck_graph(g, ce, NULL, &rep), BP_OK);
    ck_assert_msg(rep.result == BP_CHECK_PASS, "softmax_ce: %s %s", rep.diagnosis, rep.message);
    bp_check_report_clear(&rep);
    ck_assert_int_eq(bp_gradcheck_graph(g, nll, NULL, &rep), BP_OK);
    ck_assert_msg(rep.result == BP_CHECK_PASS, "nll: %s %s", rep.diagnosis, rep.message);
    bp_check_report_clear(&rep);
    bp_graph_free(g);
}
END_TEST

/* Each refusal with its status and message; a graph's error is sticky. */
START_TEST(bad_axes_are_refused)
{
    const bp_shape s = {3, {2, 3, 4}};
    static const struct {
        const char *op;
        int axis, keepdims;
        bp_status st;
        const char *msg;
    } bad[] = {
        {"sum_axis", 3, 1, BP_EDIM, "sum_axis: axis 3 is outside 2x3x4"},
        {"mean_axis", -4, 0, BP_EDIM, "mean_axis: axis -4 is outside 2x3x4"},
        {"max_axis", 7, 0, BP_EDIM, "max_axis: axis 7 is outside 2x3x4"},
        {"softmax_axis", 3, 0, BP_EDIM, "softmax_axis: axis 3 is outside 2x3x4"},
        {"log_softmax", -5, 0, BP_EDIM, "log_softmax: axis -5 is outside 2x3x4"},
        {"sum_axis", 0, 2, BP_EINVAL, "sum_axis: keepdims is 2, not 0 or 1"},
        {"max_axis", 1, -1, BP_EINVAL, "max_axis: keepdims is -1, not 0 or 1"},
    };

    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        bp_graph *g = bp_graph_new();
        bp_node *x = bp_param_nd(g, &s, "x");
        ck_assert_ptr_null(along(g, bad[b].op, x, bad[b].axis, bad[b].keepdims));
        assert_message(g, bad[b].st, bad[b].msg);
        bp_graph_free(g);
    }
    {
        /* losses: shapes that differ, named in full */
        bp_graph *g = bp_graph_new();
        bp_node *z = bp_param_nd(g, &s, "z");
        bp_node *y = bp_param_nd(g, &(bp_shape){3, {3, 2, 4}}, "y");
        ck_assert_ptr_null(bp_softmax_ce(g, z, y));
        assert_message(g, BP_EDIM, "softmax_ce: prediction and target differ in shape (2x3x4, 3x2x4)");
        bp_graph_free(g);
    }
}
END_TEST

static Suite *reduce_axis_suite(void)
{
    Suite *s = suite_create("reduce_axis");
    TCase *tc = tcase_create("axis");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, values_match_numpy);
    tcase_add_test(tc, extreme_logits_stay_accurate);
    tcase_add_test(tc, gradients_on_rank_3_and_4);
    tcase_add_test(tc, max_axis_ties_and_nan);
    tcase_add_test(tc, losses_over_leading_dims);
    tcase_add_test(tc, bad_axes_are_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(reduce_axis_suite());
}
