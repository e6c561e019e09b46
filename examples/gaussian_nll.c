/* SPDX-License-Identifier: MIT */
/* A Gaussian negative log-likelihood built from logdet and solve.
 *
 * The k columns of Y (n×k) are modelled as draws from N(mu, Σ) with
 * Σ = M·Mᵀ + 0.5·I, so that Σ is symmetric positive definite for any M:
 *
 *   NLL = ½·k·logdet(Σ) + ½·sum(r ⊙ solve(Σ, r)) + ½·n·k·log 2π,   r = Y − mu
 *
 * The program checks the value against a plain-loop computation, checks the
 * gradients with respect to mu and M against finite differences with the
 * library's checker (bp_gradcheck_graph), then fits mu and M by plain SGD
 * (bp_optimizer_step).  It exits 0 when every check passes, 1 otherwise.
 *
 * Build: make examples/gaussian_nll   (or: cc gaussian_nll.c $(pkg-config --cflags --libs bpgraph) -lm) */
#include "bpgraph.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 3
#define K 8
#define TWO_PI 6.283185307179586

/* README: nll */
static bp_node *gaussian_nll(bp_graph *g, bp_node *Y, bp_node *mu, bp_node *Sigma)
{
    size_t n = bp_node_rows(Y), k = bp_node_cols(Y);
    double c = 0.5 * (double)(n * k) * log(TWO_PI);
    bp_node *r = bp_sub(g, Y, mu);                      /* n×k, mu broadcast */
    bp_node *quad = bp_sum(g, bp_mul(g, r, bp_solve(g, Sigma, r)));
    bp_node *ld = bp_logdet(g, Sigma);

    return bp_add(g, bp_add(g, bp_scale(g, ld, 0.5 * (double)k), bp_scale(g, quad, 0.5)),
                  bp_constant(g, 1, 1, &c, "log 2pi"));
}
/* README: end */

/* The same NLL by plain loops: Σ, its Cholesky factor, forward substitution. */
static double direct_nll(const double *y, const double *mu, const double *m)
{
    double s[N][N], l[N][N] = {{0}}, logdet = 0.0, quad = 0.0;

    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            s[i][j] = i == j ? 0.5 : 0.0;
            for (int t = 0; t < N; t++)
                s[i][j] += m[i * N + t] * m[j * N + t];
        }
    for (int j = 0; j < N; j++) {
        double d = s[j][j];
        for (int t = 0; t < j; t++)
            d -= l[j][t] * l[j][t];
        l[j][j] = sqrt(d);
        for (int i = j + 1; i < N; i++) {
            double v = s[i][j];
            for (int t = 0; t < j; t++)
                v -= l[i][t] * l[j][t];
            l[i][j] = v / l[j][j];
        }
        logdet += 2.0 * log(l[j][j]);
    }
    for (int c = 0; c < K; c++) { /* rᵀΣ⁻¹r = |L⁻¹r|² */
        double z[N];
        for (int i = 0; i < N; i++) {
            z[i] = y[i * K + c] - mu[i];
            for (int t = 0; t < i; t++)
                z[i] -= l[i][t] * z[t];
            z[i] /= l[i][i];
            quad += z[i] * z[i];
        }
    }
    return 0.5 * K * logdet + 0.5 * quad + 0.5 * N * K * log(TWO_PI);
}

static double eval(bp_graph *g, bp_node *nll)
{
    if (bp_forward(g, nll) != BP_OK)
        return NAN;
    return bp_node_value(nll)->data[0];
}

int main(void)
{
    /* Observations of a 3-vector; the true mean is near (1.2, −0.4, 0.7). */
    static const double y[N * K] = {
        1.31, 0.87, 1.56, 1.02, 1.44, 0.93, 1.18, 1.29,
        -0.52, -0.11, -0.68, -0.35, -0.27, -0.61, -0.44, -0.19,
        0.83, 0.41, 1.02, 0.66, 0.95, 0.52, 0.71, 0.78,
    };
    double m0[N * N] = {0.9, 0.0, 0.0, 0.2, 0.8, 0.0, -0.1, 0.3, 0.7};
    double mu0[N] = {0.0, 0.0, 0.0}, half[N * N] = {0.5, 0, 0, 0, 0.5, 0, 0, 0, 0.5};
    bp_graph *g = bp_graph_new();
    bp_node *Y, *mu, *M, *Sigma, *nll;
    bp_matrix *ym = bp_matrix_alloc(N, K);
    bp_check_report report = {0};
    bp_optim_config cfg = bp_optim_defaults(BP_OPTIM_SGD);
    bp_optimizer *opt;
    double value, direct, first, last = 0.0;
    int ok = 1, passed;

    if (!g || !ym) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    Y = bp_input(g, N, K, "Y");
    mu = bp_param(g, N, 1, "mu");
    M = bp_param(g, N, N, "M");
    Sigma = bp_add(g, bp_matmul(g, M, bp_transpose(g, M)), bp_constant(g, N, N, half, "0.5 I"));
    nll = gaussian_nll(g, Y, mu, Sigma);
    if (bp_graph_status(g) != BP_OK) {
        fprintf(stderr, "building the graph: %s\n", bp_graph_message(g));
        return 1;
    }
    memcpy(ym->data, y, sizeof y);
    bp_node_set_value(Y, ym);
    bp_matrix_free(ym);
    memcpy(bp_node_value(M)->data, m0, sizeof m0);
    memcpy(bp_node_value(mu)->data, mu0, sizeof mu0);

    value = eval(g, nll);
    direct = direct_nll(y, mu0, m0);
    ok &= fabs(value - direct) <= 1e-10 * fabs(direct);
    printf("NLL            %.12f  (plain loops: %.12f)  %s\n", value, direct,
           fabs(value - direct) <= 1e-10 * fabs(direct) ? "ok" : "MISMATCH");

    /* dNLL/dmu and dNLL/dM against finite differences, every element */
    passed = bp_gradcheck_graph(g, nll, NULL, &report) == BP_OK &&
             report.result == BP_CHECK_PASS;
    ok &= passed;
    printf("gradients      %zu derivatives vs finite differences, worst relative error %.2e  %s\n",
           report.n_compared, report.max_rel_err, passed ? "ok" : "MISMATCH");
    bp_check_report_clear(&report);

    /* Fit mu and M by gradient descent: the NLL must go down. */
    first = value;
    cfg.lr = 0.02;
    if (bp_optimizer_new(g, NULL, 0, &cfg, &opt) != BP_OK) {
        fprintf(stderr, "optimizer: %s\n", bp_graph_message(g));
        return 1;
    }
    for (int step = 0; step < 200; step++) {
        bp_zero_grad(g);
        if (bp_forward(g, nll) != BP_OK || bp_backward(g, nll, NULL) != BP_OK ||
            bp_optimizer_step(opt) != BP_OK) {
            fprintf(stderr, "step %d: %s\n", step, bp_graph_message(g));
            ok = 0;
            break;
        }
        last = bp_node_value(nll)->data[0];
    }
    bp_optimizer_free(opt);
    ok &= last < first;
    printf("fit            NLL %.6f -> %.6f after 200 steps; mu = (%.3f, %.3f, %.3f)  %s\n",
           first, last, bp_node_value(mu)->data[0], bp_node_value(mu)->data[1],
           bp_node_value(mu)->data[2], last < first ? "ok" : "DID NOT DECREASE");

    bp_graph_free(g);
    printf("%s\n", ok ? "all checks passed" : "CHECKS FAILED");
    return ok ? 0 : 1;
}
