/* SPDX-License-Identifier: MIT */
/* Normalization: layer_norm over the last axis, fused (one pass forward,
 * the analytic backward).  bp_layer_norm_staged (composite.c) builds the
 * same from primitive ops. */
#include "kernels.h"

#include <math.h>

/* x (..., D) of rank 1..4, gamma and beta (D); attr[0] eps ≥ 0.  Each
 * row's mean and 1/√(var + eps) are kept in work for backward. */
static bp_status layer_norm_shape(bp_op_args *a)
{
    bp_shape tmp[3];
    const bp_shape *x = bpi_in_shape(a, 0, &tmp[0]);
    const double eps = a->attr[0];
    char xs[BPI_SHAPE_STR], ps[BPI_SHAPE_STR];

    if (!(eps >= 0.0 && isfinite(eps)))
        return bp_op_fail(a, BP_EINVAL, "eps %g is not a finite number ≥ 0", eps);
    for (size_t i = 1; i < 3; i++) {
        const bp_shape *p = bpi_in_shape(a, i, &tmp[i]);
        if (p->rank != 1 || p->dim[0] != x->dim[x->rank - 1])
            return bp_op_fail(a, BP_EDIM, "%s of shape %s does not fit x %s: it must be (%zu), "
                              "x's last axis", i == 1 ? "gamma" : "beta",
                              bpi_shape_str(p, ps, sizeof ps), bpi_shape_str(x, xs, sizeof xs),
                              x->dim[x->rank - 1]);
    }
    bpi_set_out_shape(a, x);
    a->n_work = 2 * a->in[0]->rows;
    return BP_OK;
}

/* Per row: μ = Σx/D, σ² = Σ(x − μ)²/D (two passes, as PyTorch's biased
 * variance), r = 1/√(σ² + eps); y = γ ⊙ (x − μ)·r + β. */
static bp_status layer_norm_forward(bp_op_args *a)
{
    const size_t rows = a->in[0]->rows, d = a->in[0]->cols;
    const double *gamma = a->in[1]->data, *beta = a->in[2]->data;
    double *mean = a->work, *rstd = a->work + rows;

    for (size_t r = 0; r < rows; r++) {
        const double *x = a->in[0]->data + r * d;
        double *y = a->out->data + r * d, mu = 0.0, var = 0.0;
        for (size_t j = 0; j < d; j++)
            mu += x[j];
        mu /= (double)d;
        for (size_t j = 0; j < d; j++)
            var += (x[j] - mu) * (x[j] - mu);
        mean[r] = mu;
        rstd[r] = 1.0 / sqrt(var / (double)d + a->attr[0]);
        for (size_t j = 0; j < d; j++)
            y[j] = gamma[j] * ((x[j] - mu) * rstd[r]) + beta[j];
    }
    return BP_OK;
}

/* With x̂ = (x − μ)·r and ĝ = g ⊙ γ, per row:
 *   dx += r·(ĝ − mean(ĝ) − x̂·mean(ĝ ⊙ x̂));
 *   dγ += g ⊙ x̂;  dβ += g  (summed over the rows). */
static bp_status layer_norm_backward(bp_op_args *a)
{
    const size_t rows = a->in[0]->rows, d = a->in[0]->cols;
    const double *gamma = a->in[1]->data, *mean = a->work, *rstd = a->work + rows;
    double *dgamma = a->din[1] ? a->din[1]->data : NULL;
    double *dbeta = a->din[2] ? a->din[2]->data : NULL;

    for (size_t r = 0; r < rows; r++) {
        const double *x = a->in[0]->data + r * d, *g = a->dout->data + r * d;
        if (a->din[0]) {
            double *dx = a->din[0]->data + r * d, gm = 0.0, gxm = 0.0;
            for (size_t j = 0; j < d; j++) {
                gm += g[j] * gamma[j];
                gxm += g[j] * gamma[j] * (x[j] - mean[r]) * rstd[r];
            }
            gm /= (double)d;
            gxm /= (double)d;
            for (size_t j = 0; j < d; j++)
                dx[j] += rstd[r] * (g[j] * gamma[j] - gm - (x[j] - mean[r]) * rstd[r] * gxm);
        }
        for (size_t j = 0; dgamma && j < d; j++)
            dgamma[j] += g[j] * (x[j] - mean[r]) * rstd[r];
        for (size_t j = 0; dbeta && j < d; j++)
            dbeta[j] += g[j];
    }
    return BP_OK;
}

const bp_op bpi_op_layer_norm = {
    .name = "layer_norm",
    .doc = "γ ⊙ (x − mean)/√(var + eps) + β over the last axis of x (rank 1..4), "
           "γ and β of its length; fused",
    .n_in = 3, .n_attr = 1,
    .shape = layer_norm_shape, .forward = layer_norm_forward, .backward = layer_norm_backward,
    .flags = BP_OP_TENSORS | BP_OP_BWD_NO_OUT,
    .domain = {{.kind = BP_DOMAIN_REAL}, {.kind = BP_DOMAIN_REAL}, {.kind = BP_DOMAIN_REAL}},
    .linear = 6u,   /* affine in γ and in β */
    .check_attr = (const double[]){1e-5}, .n_check_attr = 1,
};

bp_node *bp_layer_norm(bp_graph *g, bp_node *x, bp_node *gamma, bp_node *beta, double eps)
{
    bp_node *in[3] = {x, gamma, beta};
    return bp_apply(g, &bpi_op_layer_norm, 3, in, &eps);
}
