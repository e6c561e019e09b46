/* SPDX-License-Identifier: MIT */
/* The checker's contract checks: what backward must do beyond matching the
 * differences (zero seed gives zero, linear in the seed, accumulates), and
 * what a stop-gradient op must do. */
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Backward contract tolerances, normwise relative: the seeds differ only by
 * rounding in the op's own arithmetic, so these sit far below any bug. */
#define LINEAR_RTOL 1e-9
#define ACCUM_RTOL 1e-10
/* An absolute floor for both contracts: where the gradient itself is
 * rounding noise (e.g. lstsq(A, A) = I, whose gradient cancels to ~1e-16),
 * a relative test alone compares noise with noise.  Real violations are of
 * the gradient's own size, far above this. */
#define CONTRACT_ATOL 1e-12

static double max_abs(const double *x, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs(x[i]));
    return m;
}

void bpi_gc_contract_failed(gc_check *c, const char *diagnosis)
{
    bpi_gc_raise_result(c, BP_CHECK_MISMATCH);
    if (!c->cur->diagnosis[0])
        snprintf(c->cur->diagnosis, sizeof c->cur->diagnosis, "%s", diagnosis);
}

/* The backward contract: zero seed ⇒ exactly zero; linear in the seed;
 * a second backward without bp_zero_grad adds the same again. */
bp_status bpi_gc_check_contracts(gc_check *c, gc_target *t, bp_rng *r, const double *w)
{
    const size_t n = t->total, m = t->n_out;
    const double alpha = 2.385, beta = -0.7125;
    double *s = bpi_malloc(m * sizeof *s), *s2 = bpi_malloc(m * sizeof *s2);
    double *g1 = bpi_malloc(n * sizeof *g1), *g2 = bpi_malloc(n * sizeof *g2);
    double *d = bpi_malloc(n * sizeof *d);
    bp_status st = BP_ENOMEM;
    bp_matrix sm;
    double err, scale;

    if (!s || !s2 || !g1 || !g2 || !d)
        goto done;
    sm = bpi_gc_out_matrix(t, s);
    if ((st = bpi_gc_eval(c, t, NULL)) != BP_OK)
        goto done;

    memset(s, 0, m * sizeof *s);
    if ((st = bpi_gc_analytic(c, t, &sm, 0)) != BP_OK)
        goto done;
    for (size_t k = 0; k < n; k++)
        if (t->grad[k] != 0.0) {
            size_t p, row, col;
            bpi_gc_locate(t, k, &p, &row, &col);
            bpi_gc_case_message(c, "backward of a zero seed is not zero (input %zu [%zu,%zu] = %g)",
                                p, row, col, t->grad[k]);
            bpi_gc_contract_failed(c, "backward of a zero seed is not zero");
            break;
        }

    memcpy(s, w, m * sizeof *s);
    if ((st = bpi_gc_analytic(c, t, &sm, 0)) != BP_OK)
        goto done;
    memcpy(g1, t->grad, n * sizeof *g1);
    bpi_gc_random_weights(r, s2, m);
    memcpy(s, s2, m * sizeof *s);
    if ((st = bpi_gc_analytic(c, t, &sm, 0)) != BP_OK)
        goto done;
    memcpy(g2, t->grad, n * sizeof *g2);
    for (size_t q = 0; q < m; q++)
        s[q] = alpha * w[q] + beta * s2[q];
    if ((st = bpi_gc_analytic(c, t, &sm, 0)) != BP_OK)
        goto done;
    for (size_t k = 0; k < n; k++)
        d[k] = t->grad[k] - (alpha * g1[k] + beta * g2[k]);
    err = max_abs(d, n);
    scale = fabs(alpha) * max_abs(g1, n) + fabs(beta) * max_abs(g2, n);
    if (err > LINEAR_RTOL * scale + CONTRACT_ATOL) {
        bpi_gc_case_message(c, "backward is not linear in the seed: "
                            "|g(αs+βt) − αg(s) − βg(t)| = %.3g against a scale of %.3g",
                            err, scale);
        bpi_gc_contract_failed(c, "backward is not linear in the seed");
    }

    memcpy(s, w, m * sizeof *s);
    if ((st = bpi_gc_analytic(c, t, &sm, 0)) != BP_OK ||
        (st = bpi_gc_analytic(c, t, &sm, 1)) != BP_OK)
        goto done;
    for (size_t k = 0; k < n; k++)
        d[k] = t->grad[k] - 2.0 * g1[k];
    err = max_abs(d, n);
    scale = 2.0 * max_abs(g1, n);
    if (err > ACCUM_RTOL * scale + CONTRACT_ATOL) {
        /* Per input, the least-squares ratio second/first: 1 means the
         * op overwrote that input's gradient. */
        char which[64] = "";
        size_t used = 0;
        for (size_t p = 0; p < t->n_params; p++) {
            size_t len = bp_node_rows(t->params[p]) * bp_node_cols(t->params[p]);
            double num = 0.0, den = 0.0;
            char name[32];
            for (size_t k = t->offset[p]; k < t->offset[p] + len; k++) {
                num += t->grad[k] * g1[k];
                den += g1[k] * g1[k];
            }
            if (den > 0.0 && fabs(num / den - 2.0) > 1e-6 && used < sizeof which)
                used += (size_t)snprintf(which + used, sizeof which - used, "%s%s %.4g×",
                                         used ? ", " : "",
                                         bpi_gc_input_label(c, p, name, sizeof name), num / den);
        }
        bpi_gc_case_message(c, "backward does not accumulate: two calls gave %s one call, not 2×",
                            which);
        bpi_gc_contract_failed(c, strstr(which, " 1×")
                               ? "overwrites its input gradient instead of adding to it"
                               : "backward does not accumulate (two calls ≠ 2 × one call)");
    }
    st = BP_OK;
done:
    bpi_free(s);
    bpi_free(s2);
    bpi_free(g1);
    bpi_free(g2);
    bpi_free(d);
    return st;
}

/* A BP_OP_STOP_GRAD op: its node needs no gradient, backward from it is
 * refused, and a param reaching the loss through it and directly gets
 * only the direct gradient. */
bp_status bpi_gc_check_stop_grad(gc_check *c, gc_target *t, bp_node *param0)
{
    bp_graph *g = t->g;
    bp_node *loss, *direct;
    bp_matrix *grad;
    bp_check_entry e;
    size_t len = bp_node_rows(param0) * bp_node_cols(param0);

    if (bp_node_requires_grad(t->out)) {
        bpi_gc_case_message(c, "the output of a stop-gradient op requires a gradient");
        bpi_gc_contract_failed(c, "gradient flows through a stop-gradient op");
    }
    if (bpi_gc_eval(c, t, NULL) != BP_OK)
        return BP_OK;
    if (bp_backward(g, t->out, NULL) == BP_OK || bp_node_grad(param0) != NULL) {
        bpi_gc_case_message(c, "backward from a stop-gradient output was accepted");
        bpi_gc_contract_failed(c, "gradient flows through a stop-gradient op");
    }
    bp_graph_clear_error(g);
    direct = bp_sum(g, param0);
    loss = bp_add(g, bp_sum(g, t->out), direct);
    if (!loss || bp_forward(g, loss) != BP_OK || bp_backward(g, loss, NULL) != BP_OK) {
        bpi_gc_raise_result(c, BP_CHECK_ERROR);
        bpi_gc_case_message(c, "%s", bp_graph_message(g));
        return BP_OK;
    }
    grad = bp_node_grad(param0);
    for (size_t k = 0; k < len; k++) {
        memset(&e, 0, sizeof e);
        bpi_gc_set_entry_position(t, &e, k);
        /* d(sum(stop(x)) + sum(x))/dx = 1: the direct path only */
        e.analytic = grad ? grad->data[k] : 0.0;
        e.numeric = 1.0;
        if (!bpi_gc_note_entry(c, &e))
            bpi_gc_contract_failed(c, "gradient flows through a stop-gradient op");
    }
    return BP_OK;
}
