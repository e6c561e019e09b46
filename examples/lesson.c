/* SPDX-License-Identifier: MIT */
/*
 * The backpropagation lesson, in C with bpgraph.
 *
 *   examples/lesson [path/to/clean_weather.csv]
 *
 * 1. The softmax broken into staged graph ops (subtract the row max, exp,
 *    row sum, pow −1, multiply), compared with the fused op and the formula.
 * 2. Its backward compared with the analytic S ⊙ (g − Σ g ⊙ S), and under
 *    NLL with p − y.
 * 3. The 2-layer network on the first 10 weather rows (tmax, tmin, rain →
 *    tmax_tomorrow), its gradients compared with the hand-derived ones.
 * Each comparison prints its largest difference, as the lesson prints
 * np.allclose(...); the exit status is 0 when all agree.
 */
#include "bpgraph.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int failures;

/* A NaN anywhere makes worst NaN, which is not <= tol. */
static void compare(const char *what, const bp_matrix *got, const double *want, double tol)
{
    const bp_matrix w = {got->rows, got->cols, (double *)want};
    double worst = bp_matrix_max_abs_diff(got, &w);
    printf("  %-52s max |diff| = %.3g  %s\n", what, worst, worst <= tol ? "allclose" : "DIFFERENT");
    failures += !(worst <= tol);
}

static void print_row(const char *label, const double *v, size_t n)
{
    printf("  %-10s [", label);
    for (size_t j = 0; j < n; j++)
        printf("%s%.8f", j ? " " : "", v[j]);
    printf("]\n");
}

static int fail(bp_graph *g)
{
    fprintf(stderr, "lesson: %s\n", bp_graph_message(g));
    bp_graph_free(g);
    return 1;
}

static int softmax_part(void)
{
    /* The lesson's row [0 1 2], a row with no round numbers, and rows that
     * overflow e^x unless the max is subtracted. */
    enum { M = 4, N = 3 };
    const double logits[M * N] = {0, 1, 2, -0.731, 2.385, 0.402,
                                  1000, -1000, 0, 1000, 1000, 999};
    const double target[M * N] = {0, 0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 1};
    const double seed[M * N] = {0.3, -1.2, 0.5, 2.0, 0.1, -0.7, 1.1, 0.4, -0.9, -0.2, 0.6, 1.3};
    double formula[M * N], jvp[M * N], p_minus_y[M * N];
    bp_matrix seed_m = {M, N, (double *)seed};
    bp_graph *g = bp_graph_new();
    bp_node *z = bp_param(g, M, N, "logits");
    bp_node *y = bp_constant(g, M, N, target, "y");
    bp_node *staged = bp_softmax_staged(g, z);
    bp_node *fused = bp_softmax(g, z);
    bp_node *loss = bp_nll(g, staged, y);
    bp_matrix zm = {M, N, (double *)logits};

    if (bp_node_set_value(z, &zm) != BP_OK || bp_graph_status(g) != BP_OK)
        return fail(g);

    printf("1. Softmax as graph ops: shifted = z - max, exp, row sum, pow -1, multiply\n");
    if (bp_forward(g, staged) != BP_OK || bp_forward(g, fused) != BP_OK)
        return fail(g);
    for (int i = 0; i < M; i++) {
        double max = logits[i * N], total = 0;
        for (int j = 1; j < N; j++)
            max = fmax(max, logits[i * N + j]);
        for (int j = 0; j < N; j++)
            total += exp(logits[i * N + j] - max);
        for (int j = 0; j < N; j++)
            formula[i * N + j] = exp(logits[i * N + j] - max) / total;
    }
    print_row("[0 1 2] ->", bp_node_value(staged)->data, N);
    compare("staged softmax vs fused softmax op", bp_node_value(staged), bp_node_value(fused)->data, 1e-15);
    compare("staged softmax vs the formula (rows with +-1000 too)", bp_node_value(staged), formula, 1e-15);

    printf("\n2. Backward through the staged softmax\n");
    if (bp_forward(g, staged) != BP_OK || bp_backward(g, staged, &seed_m) != BP_OK)
        return fail(g);
    for (int i = 0; i < M; i++) {
        double dot = 0;
        for (int j = 0; j < N; j++)
            dot += seed[i * N + j] * formula[i * N + j];
        for (int j = 0; j < N; j++)
            jvp[i * N + j] = formula[i * N + j] * (seed[i * N + j] - dot);
    }
    compare("dz vs analytic S * (g - rowsum(g * S))", bp_node_grad(z), jvp, 1e-14);

    bp_zero_grad(g);
    if (bp_forward(g, loss) != BP_OK || bp_backward(g, loss, NULL) != BP_OK)
        return fail(g);
    for (int k = 0; k < M * N; k++)
        p_minus_y[k] = (formula[k] - target[k]) / M;
    printf("  NLL of the staged softmax = %.6f\n", bp_node_value(loss)->data[0]);
    compare("dz under NLL vs (p - y) / m", bp_node_grad(z), p_minus_y, 1e-14);
    bp_graph_free(g);
    return 0;
}

/* n values in [0, 1) from a fixed-seed generator. */
static void uniform(double *v, int n, bp_rng *rng)
{
    for (int k = 0; k < n; k++)
        v[k] = bp_rng_uniform(rng);
}

static int network_part(const char *csv)
{
    enum { ROWS = 10 };
    static const char *const features[] = {"tmax", "tmin", "rain"};
    static const char *const target[] = {"tmax_tomorrow"};
    double w1[9], w2[3], h[ROWS * 3], dp[ROWS], dh[ROWS * 3], dw1[9] = {0}, dw2[3] = {0};
    bp_matrix *xs = NULL, *ys = NULL;
    size_t filled = 0;
    bp_error err;
    bp_graph *g;
    bp_node *x, *y, *W1, *W2, *hidden, *pred, *loss;
    bp_rng state;

    printf("\n3. The 2-layer network on the first %d weather rows (%s)\n", ROWS, csv);
    if (bp_csv_read(csv, features, 3, &xs, &filled, &err) != BP_OK ||
        bp_csv_read(csv, target, 1, &ys, NULL, &err) != BP_OK) {
        fprintf(stderr, "lesson: %s\n", err.message);
        bp_matrix_free(xs);
        return 1;
    }
    printf("  read %zu rows; %zu missing cells forward-filled\n", xs->rows, filled);

    /* Weights in [0, 1), like the lesson's np.random.rand; no bias. */
    bp_rng_seed(&state, 42);
    uniform(w1, 9, &state);
    uniform(w2, 3, &state);
    g = bp_graph_new();
    x = bp_input(g, ROWS, 3, "x");
    y = bp_input(g, ROWS, 1, "y");
    W1 = bp_param(g, 3, 3, "w1");
    W2 = bp_param(g, 3, 1, "w2");
    hidden = bp_relu(g, bp_matmul(g, x, W1));
    pred = bp_matmul(g, hidden, W2);
    loss = bp_mse(g, pred, y);
    {
        bp_matrix xm = {ROWS, 3, xs->data}, ym = {ROWS, 1, ys->data};
        bp_matrix w1m = {3, 3, w1}, w2m = {3, 1, w2};
        bp_node_set_value(x, &xm);
        bp_node_set_value(y, &ym);
        bp_node_set_value(W1, &w1m);
        bp_node_set_value(W2, &w2m);
    }
    if (bp_forward(g, loss) != BP_OK || bp_backward(g, loss, NULL) != BP_OK) {
        bp_matrix_free(xs);
        bp_matrix_free(ys);
        return fail(g);
    }
    printf("  loss = mse(relu(x w1) w2, y) = %.4f\n", bp_node_value(loss)->data[0]);

    /* By hand: dp = 2(p - y)/m, dw2 = a^T dp, dh = (dp w2^T) * [h > 0], dw1 = x^T dh */
    for (int i = 0; i < ROWS; i++) {
        double p = 0;
        for (int j = 0; j < 3; j++) {
            h[i * 3 + j] = 0;
            for (int k = 0; k < 3; k++)
                h[i * 3 + j] += xs->data[i * 3 + k] * w1[k * 3 + j];
            p += fmax(h[i * 3 + j], 0) * w2[j];
        }
        dp[i] = 2 * (p - ys->data[i]) / ROWS;
    }
    for (int i = 0; i < ROWS; i++)
        for (int j = 0; j < 3; j++) {
            dw2[j] += fmax(h[i * 3 + j], 0) * dp[i];
            dh[i * 3 + j] = h[i * 3 + j] > 0 ? dp[i] * w2[j] : 0;
            for (int k = 0; k < 3; k++)
                dw1[k * 3 + j] += xs->data[i * 3 + k] * dh[i * 3 + j];
        }
    compare("dL/dw2 through the graph vs by hand", bp_node_grad(W2), dw2, 1e-9 * fabs(dw2[0]) + 1e-12);
    compare("dL/dw1 through the graph vs by hand", bp_node_grad(W1), dw1, 1e-9 * fabs(dw1[0]) + 1e-12);

    bp_graph_free(g);
    bp_matrix_free(xs);
    bp_matrix_free(ys);
    return 0;
}

int main(int argc, char **argv)
{
    const char *csv = argc > 1 ? argv[1] : "../shared/data/clean_weather.csv";

    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        fprintf(stderr, "usage: %s [clean_weather.csv]\n", argv[0]);
        return 2;
    }
    if (softmax_part() || network_part(csv))
        return 1;
    printf("\n%s\n", failures ? "SOME COMPARISONS DIFFER" : "All comparisons agree.");
    return failures ? 1 : 0;
}
