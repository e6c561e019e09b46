/* SPDX-License-Identifier: MIT */
/* The lesson's checks on the softmax: the staged graph equals the fused op
 * and the formula; its gradient equals the analytic Jacobian product and,
 * under NLL, p − y. */
#include "test_util.h"

#include <string.h>

#define M 4
#define N 3

/* Row 0 is the lesson's [0 1 2]; rows 2 and 3 would overflow e^x unshifted. */
static const double Z[M * N] = {
    0.0, 1.0, 2.0,
    -0.731, 2.385, 0.402,
    1000.0, -1000.0, 0.0,
    1000.0, 1000.0, 999.0,
};
/* One-hot targets.  Y picks classes whose p is representable, which NLL on
 * a separate softmax needs; Y_FAR picks row 2's underflowed class, which
 * only the fused softmax_ce handles exactly. */
static const double Y[M * N] = {0, 0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 1};
static const double Y_FAR[M * N] = {0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1};
static const double G[M * N] = {0.3, -1.2, 0.5, 2.0, 0.1, -0.7, 1.1, 0.4, -0.9, -0.2, 0.6, 1.3};

static bp_graph *g;
static bp_node *z;

static void setup(void)
{
    g = bp_graph_new();
    z = bp_param(g, M, N, "z");
    tu_set(z, M, N, Z);
}

static void teardown(void)
{
    bp_graph_free(g);
}

/* The softmax by its definition, each row shifted by its max. */
static void reference_softmax(double *s)
{
    for (int i = 0; i < M; i++) {
        double max = Z[i * N], total = 0;
        for (int j = 1; j < N; j++)
            max = fmax(max, Z[i * N + j]);
        for (int j = 0; j < N; j++)
            total += exp(Z[i * N + j] - max);
        for (int j = 0; j < N; j++)
            s[i * N + j] = exp(Z[i * N + j] - max) / total;
    }
}

START_TEST(staged_equals_fused_and_formula)
{
    bp_node *staged = bp_softmax_staged(g, z), *fused = bp_softmax(g, z);
    const double lesson[3] = {0.09003057, 0.24472847, 0.66524096};
    const double row3[3] = {1 / (2 + exp(-1.0)), 1 / (2 + exp(-1.0)), exp(-1.0) / (2 + exp(-1.0))};
    double want[M * N];

    ck_assert_ptr_nonnull(staged);
    ck_assert_str_eq(bp_node_name(staged), "softmax.out");
    ck_assert_int_eq(bp_forward(g, staged), BP_OK);
    ck_assert_int_eq(bp_forward(g, fused), BP_OK);   /* staged value stays */
    reference_softmax(want);
    tu_assert_matrix_near(bp_node_value(staged), want, 1e-15);
    tu_assert_matrix_near(bp_node_value(fused), want, 1e-15);
    for (int j = 0; j < 3; j++) {
        ck_assert_double_eq_tol(bp_node_value(staged)->data[j], lesson[j], 5e-9);
        ck_assert_double_eq_tol(bp_node_value(staged)->data[9 + j], row3[j], 1e-15);
    }
    /* [1000, −1000, 0]: e^−1000 and e^−2000 underflow to 0, no NaN */
    ck_assert_double_eq(bp_node_value(staged)->data[6], 1.0);
    ck_assert_double_eq(bp_node_value(staged)->data[7], 0.0);
    ck_assert_double_eq(bp_node_value(staged)->data[8], 0.0);
}
END_TEST

/* dz = S ⊙ (g − rowsum(g ⊙ S)), by loops here. */
static void analytic_grad(const double *S, double *dz)
{
    for (int i = 0; i < M; i++) {
        double dot = 0;
        for (int j = 0; j < N; j++)
            dot += G[i * N + j] * S[i * N + j];
        for (int j = 0; j < N; j++)
            dz[i * N + j] = S[i * N + j] * (G[i * N + j] - dot);
    }
}

static void check_jvp(bp_node *(*build)(bp_graph *, bp_node *))
{
    bp_node *s = build(g, z);
    bp_matrix seed = tu_view(M, N, (double *)G);
    double S[M * N], dz[M * N];

    reference_softmax(S);
    analytic_grad(S, dz);
    ck_assert_int_eq(bp_forward(g, s), BP_OK);
    ck_assert_int_eq(bp_backward(g, s, &seed), BP_OK);
    tu_assert_matrix_near(bp_node_grad(z), dz, 1e-14);
}

START_TEST(staged_gradient_is_the_jacobian_product)
{
    check_jvp(bp_softmax_staged);
}
END_TEST

START_TEST(fused_gradient_is_the_jacobian_product)
{
    check_jvp(bp_softmax);
}
END_TEST

/* Under NLL the softmax's gradient collapses to (p − y)/m. */
static void check_p_minus_y(bp_node *loss, const double *y)
{
    double S[M * N], want[M * N];

    reference_softmax(S);
    for (int k = 0; k < M * N; k++)
        want[k] = (S[k] - y[k]) / M;
    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
    ck_assert(isfinite(bp_node_value(loss)->data[0]));
    tu_assert_matrix_near(bp_node_grad(z), want, 1e-14);
}

START_TEST(staged_softmax_nll_gives_p_minus_y)
{
    bp_node *y = bp_constant(g, M, N, Y, "y");
    check_p_minus_y(bp_nll(g, bp_softmax_staged(g, z), y), Y);
}
END_TEST

START_TEST(fused_softmax_nll_gives_p_minus_y)
{
    bp_node *y = bp_constant(g, M, N, Y, "y");
    check_p_minus_y(bp_nll(g, bp_softmax(g, z), y), Y);
}
END_TEST

START_TEST(softmax_ce_gives_p_minus_y_and_its_loss)
{
    bp_node *y = bp_constant(g, M, N, Y_FAR, "y");
    bp_node *loss = bp_softmax_ce(g, z, y);
    double S[M * N], want = 0;

    check_p_minus_y(loss, Y_FAR);
    reference_softmax(S);
    /* −log p of the true class; row 2's true class has p = e^−2000 = 0 in
     * double, so its log comes from the logits: −(−1000 − 1000) = 2000. */
    want = -log(S[2]) - log(S[3]) + 2000.0 - log(S[11]);
    ck_assert_double_eq_tol(bp_node_value(loss)->data[0], want / M, 1e-12);
}
END_TEST

/* Logits of ±1e4: every softmax, loss and gradient stays finite.  The
 * nll of a probability that underflowed to 0 is read as the smallest
 * positive double 2^−1074: 1074·log 2 per such row. */
START_TEST(extreme_logits_stay_finite)
{
    const double zv[2 * 3] = {1e4, -1e4, 0, -1e4, 2.385, 1e4};
    const double yv[2 * 3] = {0, 1, 0, 0, 1, 0};   /* the underflowed classes */
    bp_node *x = bp_param(g, 2, 3, "x");
    bp_node *y = bp_constant(g, 2, 3, yv, "y");
    bp_node *outs[4];

    outs[0] = bp_sum(g, bp_mul(g, bp_softmax(g, x), y));
    outs[1] = bp_nll(g, bp_softmax_staged(g, x), y);
    outs[2] = bp_nll(g, bp_softmax(g, x), y);
    outs[3] = bp_softmax_ce(g, x, y);
    tu_set(x, 2, 3, zv);
    bp_graph_set_anomaly_mode(g, 1);   /* any NaN or inf fails the pass */
    for (int k = 0; k < 4; k++) {
        ck_assert_ptr_nonnull(outs[k]);
        bp_zero_grad(g);
        ck_assert_msg(bp_forward(g, outs[k]) == BP_OK, "%d: %s", k, bp_graph_message(g));
        ck_assert_msg(bp_backward(g, outs[k], NULL) == BP_OK, "%d: %s", k, bp_graph_message(g));
    }
    /* the classes y picks have probability e^(−2e4) and e^(2.385 − 1e4): 0 in
     * double, so their sum is 0 and nll reads them at the floor */
    ck_assert_double_eq(bp_node_value(outs[0])->data[0], 0.0);
    ck_assert_double_eq_tol(bp_node_value(outs[1])->data[0], 1074 * log(2.0), 1e-9);
    ck_assert_double_eq_tol(bp_node_value(outs[2])->data[0], 1074 * log(2.0), 1e-9);
    ck_assert_double_eq_tol(bp_node_value(outs[3])->data[0], (2e4 + 1e4 - 2.385) / 2, 1e-9);
}
END_TEST

/* A small loss from large logits keeps its relative accuracy: the loss is
 * log(1 + Σ_{j≠max} e^(z_j − max)), and subtracting a rounded log-sum-exp
 * (≈ 1000) from z would leave only its last bits.  Values from Python's
 * decimal module at 40 digits:
 *   (1 + Decimal(-20).exp() + Decimal(-10).exp()).ln()
 *     = 4.540096027691297981604023557436915736e-5
 *   (1 + Decimal('-33.5').exp()).ln() = 2.825757287115607217750752156518e-15 */
START_TEST(softmax_ce_small_loss_of_large_logits)
{
    const double zv[2 * 3] = {1000.0, 980.0, 990.0, 1000.0, 966.5, -1e4};
    const double y0[2 * 3] = {1, 0, 0, 0, 0, 0}, y1[2 * 3] = {0, 0, 0, 1, 0, 0};
    const double want[2] = {4.540096027691297981604023557436915736e-5,
                            2.825757287115607217750752156518e-15};
    const double *ys[2] = {y0, y1};
    bp_node *x = bp_param(g, 2, 3, "x");

    tu_set(x, 2, 3, zv);
    for (int k = 0; k < 2; k++) {
        /* two rows, one of them with a zero target: the mean is loss/2 */
        bp_node *y = bp_constant(g, 2, 3, ys[k], "y");
        bp_node *l = bp_softmax_ce(g, x, y);
        double got;
        ck_assert_int_eq(bp_forward(g, l), BP_OK);
        got = 2.0 * bp_node_value(l)->data[0];
        ck_assert_msg(fabs(got - want[k]) <= 2e-16 * want[k],
                      "case %d: loss %.17g, want %.17g (relative error %.3g)", k, got, want[k],
                      fabs(got - want[k]) / want[k]);
    }
}
END_TEST

/* A NaN logit anywhere in a row makes that row's softmax NaN, not only
 * when it comes first, and the other rows are unharmed: a guard on the
 * row max that the softmax shares with rowmax. */
START_TEST(softmax_nan_logit_anywhere_gives_nan_row)
{
    const double zv[2 * 3] = {0.5, 2.385, NAN, -0.7, 0.1, 0.3};
    bp_node *x = bp_param(g, 2, 3, "x"), *s = bp_softmax(g, x);

    tu_set(x, 2, 3, zv);
    ck_assert_int_eq(bp_forward(g, s), BP_OK);
    for (int j = 0; j < 3; j++) {
        ck_assert(isnan(bp_node_value(s)->data[j]));
        ck_assert(isfinite(bp_node_value(s)->data[3 + j]));
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("softmax");
    TCase *tc = tcase_create("softmax");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, staged_equals_fused_and_formula);
    tcase_add_test(tc, staged_gradient_is_the_jacobian_product);
    tcase_add_test(tc, fused_gradient_is_the_jacobian_product);
    tcase_add_test(tc, staged_softmax_nll_gives_p_minus_y);
    tcase_add_test(tc, fused_softmax_nll_gives_p_minus_y);
    tcase_add_test(tc, softmax_ce_gives_p_minus_y_and_its_loss);
    tcase_add_test(tc, extreme_logits_stay_finite);
    tcase_add_test(tc, softmax_ce_small_loss_of_large_logits);
    tcase_add_test(tc, softmax_nan_logit_anywhere_gives_nan_row);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
