/* SPDX-License-Identifier: MIT */
/* The lesson's 2-layer network on the first weather rows: the graph's
 * gradients equal the hand-derived ones. */
#include "test_util.h"

#include <stdlib.h>

#define ROWS 10

static const char *const features[3] = {"tmax", "tmin", "rain"};
static const char *const target[1] = {"tmax_tomorrow"};

static bp_matrix *load(const char *const *cols, size_t n)
{
    const char *path = getenv("BP_WEATHER_CSV");
    bp_matrix *m = NULL;
    bp_error err;

    ck_assert_msg(path && path[0], "BP_WEATHER_CSV is not set");
    ck_assert_msg(bp_csv_read(path, cols, n, &m, NULL, &err) == BP_OK, "%s", err.message);
    return m;
}

/* The first ROWS rows of m as a view. */
static bp_matrix head(const bp_matrix *m)
{
    return tu_view(ROWS, m->cols, m->data);
}

START_TEST(first_rows_are_the_lessons)
{
    bp_matrix *x = load(features, 3), *y = load(target, 1);

    ck_assert_uint_eq(x->rows, 13509);
    ck_assert_uint_eq(x->cols, 3);
    /* 1970-01-01,60.0,35.0,0.0,52.0 */
    ck_assert_double_eq(x->data[0], 60.0);
    ck_assert_double_eq(x->data[1], 35.0);
    ck_assert_double_eq(x->data[2], 0.0);
    ck_assert_double_eq(y->data[0], 52.0);
    bp_matrix_free(x);
    bp_matrix_free(y);
}
END_TEST

/* h = x·W1 + b1, a = relu(h), p = a·W2 + b2, L = (1/m) Σ (p − y)², and by
 * hand:
 *   dL/dp = 2(p − y)/m;   dW2 = aᵀ·dp;   db2 = Σ_i dp;   da = dp·W2ᵀ;
 *   dh = da ⊙ [h > 0];    dW1 = xᵀ·dh;   db1 = colsum(dh). */
START_TEST(two_layer_gradients_match_hand_derivation)
{
    bp_matrix *xa = load(features, 3), *ya = load(target, 1);
    bp_matrix xm = head(xa), ym = head(ya);
    const double *X = xm.data, *Y = ym.data;
    double W1[9], W2[3], b1[3], b2[1], h[ROWS * 3], a[ROWS * 3], p[ROWS], dp[ROWS];
    double dh[ROWS * 3], dW1[9] = {0}, dW2[3] = {0}, db1[3] = {0}, db2[1] = {0}, loss = 0;
    int negatives = 0;
    bp_rng rng = tu_rng(2024);
    bp_graph *g = bp_graph_new();
    bp_node *x = bp_input(g, ROWS, 3, "x"), *y = bp_input(g, ROWS, 1, "y");
    bp_node *w1 = bp_param(g, 3, 3, "w1"), *w2 = bp_param(g, 3, 1, "w2");
    bp_node *bias1 = bp_param(g, 1, 3, "b1"), *bias2 = bp_param(g, 1, 1, "b2");
    bp_node *hidden = bp_relu(g, bp_add(g, bp_matmul(g, x, w1), bias1));
    bp_node *pred = bp_add(g, bp_matmul(g, hidden, w2), bias2);
    bp_node *l = bp_mse(g, pred, y);

    /* Signed weights, so that the relu cuts some units off. */
    tu_fill(W1, 9, &rng, -0.5, 0.5);
    tu_fill(W2, 3, &rng, -0.5, 0.5);
    tu_fill(b1, 3, &rng, -2.0, 2.0);
    tu_fill(b2, 1, &rng, -2.0, 2.0);
    tu_set(bias1, 1, 3, b1);
    tu_set(bias2, 1, 1, b2);
    ck_assert_int_eq(bp_node_set_value(x, &xm), BP_OK);
    ck_assert_int_eq(bp_node_set_value(y, &ym), BP_OK);
    tu_set(w1, 3, 3, W1);
    tu_set(w2, 3, 1, W2);
    ck_assert_int_eq(bp_forward(g, l), BP_OK);
    ck_assert_int_eq(bp_backward(g, l, NULL), BP_OK);

    for (int i = 0; i < ROWS; i++) {
        p[i] = b2[0];
        for (int j = 0; j < 3; j++) {
            h[i * 3 + j] = b1[j];
            for (int k = 0; k < 3; k++)
                h[i * 3 + j] += X[i * 3 + k] * W1[k * 3 + j];
            a[i * 3 + j] = h[i * 3 + j] > 0 ? h[i * 3 + j] : 0;
            negatives += h[i * 3 + j] < 0;
            p[i] += a[i * 3 + j] * W2[j];
        }
        loss += (p[i] - Y[i]) * (p[i] - Y[i]) / ROWS;
        dp[i] = 2 * (p[i] - Y[i]) / ROWS;
    }
    for (int i = 0; i < ROWS; i++) {
        db2[0] += dp[i];
        for (int j = 0; j < 3; j++) {
            dW2[j] += a[i * 3 + j] * dp[i];
            dh[i * 3 + j] = dp[i] * W2[j] * (h[i * 3 + j] > 0);
            db1[j] += dh[i * 3 + j];
        }
    }
    for (int k = 0; k < 3; k++)
        for (int j = 0; j < 3; j++)
            for (int i = 0; i < ROWS; i++)
                dW1[k * 3 + j] += X[i * 3 + k] * dh[i * 3 + j];

    ck_assert_int_gt(negatives, 0);
    ck_assert_double_eq_tol(bp_node_value(l)->data[0], loss, 1e-9 * loss);
    tu_assert_matrix_near(bp_node_value(pred), p, 1e-11);
    tu_assert_matrix_near(bp_node_grad(w2), dW2, 1e-9);
    tu_assert_matrix_near(bp_node_grad(w1), dW1, 1e-9);
    tu_assert_matrix_near(bp_node_grad(bias2), db2, 1e-11);
    tu_assert_matrix_near(bp_node_grad(bias1), db1, 1e-11);
    bp_graph_free(g);
    bp_matrix_free(xa);
    bp_matrix_free(ya);
}
END_TEST

int main(void)
{
    Suite *s;
    TCase *tc;

    if (!tu_weather_csv("check_lesson"))
        return TU_EXIT_SKIP;
    s = suite_create("lesson");
    tc = tcase_create("weather");
    tcase_add_test(tc, first_rows_are_the_lessons);
    tcase_add_test(tc, two_layer_gradients_match_hand_derivation);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
