/* SPDX-License-Identifier: MIT */
/* Losses, each → 1×1: mse of m×n inputs; nll and softmax_ce of (..., K)
 * tensors, means over the leading positions. */
#include "kernels.h"

#include <math.h>

/* nll and softmax_ce take (..., K) tensors of one shape: the classes on
 * the last axis, the mean over the m leading positions, the rows of their
 * matrix views. */
static bp_status class_loss_shape(bp_op_args *a)
{
    char p[BPI_SHAPE_STR], y[BPI_SHAPE_STR];
    bp_shape tmp[2];
    const bp_shape *ps = bpi_in_shape(a, 0, &tmp[0]), *ys = bpi_in_shape(a, 1, &tmp[1]);

    if (!bpi_shapes_equal(ps, ys))
        return bp_op_fail(a, BP_EDIM, "prediction and target differ in shape (%s, %s)",
                          bpi_shape_str(ps, p, sizeof p), bpi_shape_str(ys, y, sizeof y));
    bpi_set_out_shape(a, &(bp_shape){2, {1, 1}});
    return BP_OK;
}

/* NLL floors only what must be: a probability ≤ 0 (one that underflowed)
 * has no log, so the loss reads it as the smallest positive double (744.4
 * per unit of target); the gradient −y/p overflows below about 1e-308, so it
 * reads p as at least 1e-300.  Every positive p, subnormal too, is read as
 * itself in the loss, and a NaN stays NaN. */
#define NLL_LOSS_P_MIN 4.9406564584124654e-324   /* the smallest subnormal */
#define NLL_GRAD_P_MIN 1e-300

static double nll_loss_p(double p)
{
    return p <= 0.0 ? NLL_LOSS_P_MIN : p;
}

static double nll_grad_p(double p)
{
    return p < NLL_GRAD_P_MIN ? NLL_GRAD_P_MIN : p;
}

static bp_status loss_shape(bp_op_args *a)
{
    const bp_matrix *p = a->in[0], *y = a->in[1];

    if (p->rows != y->rows || p->cols != y->cols)
        return bp_op_fail(a, BP_EDIM, "prediction and target differ in shape (%zux%zu, %zux%zu)",
                          p->rows, p->cols, y->rows, y->cols);
    a->out->rows = 1;
    a->out->cols = 1;
    return BP_OK;
}

/* L = (1/N) Σ (p − y)², N = m·n */
static bp_status mse_forward(bp_op_args *a)
{
    const bp_matrix *p = a->in[0], *y = a->in[1];
    const size_t len = p->rows * p->cols;
    double s = 0.0;

    for (size_t k = 0; k < len; k++) {
        double d = p->data[k] - y->data[k];
        s += d * d;
    }
    a->out->data[0] = s / (double)len;
    return BP_OK;
}

/* dp += g·2(p − y)/N;  dy −= g·2(p − y)/N */
static bp_status mse_backward(bp_op_args *a)
{
    const bp_matrix *p = a->in[0], *y = a->in[1];
    const size_t len = p->rows * p->cols;
    const double f = 2.0 * a->dout->data[0] / (double)len;

    for (size_t k = 0; k < len; k++) {
        double d = f * (p->data[k] - y->data[k]);
        if (a->din[0])
            a->din[0]->data[k] += d;
        if (a->din[1])
            a->din[1]->data[k] -= d;
    }
    return BP_OK;
}

const bp_op bpi_op_mse = {
    .name = "mse", .doc = "mean of (pred − target)² over all entries → 1×1", .n_in = 2,
    .shape = loss_shape, .forward = mse_forward, .backward = mse_backward,
    .flags = BP_OP_BWD_NO_OUT,
};

/* L = −(1/m) Σ y ⊙ log p */
static bp_status nll_forward(bp_op_args *a)
{
    const bp_matrix *p = a->in[0], *y = a->in[1];
    double s = 0.0;

    for (size_t k = 0; k < p->rows * p->cols; k++)
        if (y->data[k] != 0.0)
            s += y->data[k] * log(nll_loss_p(p->data[k]));
    a->out->data[0] = -s / (double)p->rows;
    return BP_OK;
}

/* dp += −g·y/(m·p);  dy += −g·log(p)/m (p read as above) */
static bp_status nll_backward(bp_op_args *a)
{
    const bp_matrix *p = a->in[0], *y = a->in[1];
    const double f = a->dout->data[0] / (double)p->rows;

    for (size_t k = 0; k < p->rows * p->cols; k++) {
        if (a->din[0])
            a->din[0]->data[k] -= f * y->data[k] / nll_grad_p(p->data[k]);
        if (a->din[1])
            a->din[1]->data[k] -= f * log(nll_loss_p(p->data[k]));
    }
    return BP_OK;
}

const bp_op bpi_op_nll = {
    .name = "nll",
    .doc = "−(1/m) Σ target ⊙ log(prob) → 1×1; prob ≤ 0 read as the least positive double, "
           "and as at least 1e-300 in the gradient",
    .n_in = 2, .shape = class_loss_shape, .forward = nll_forward, .backward = nll_backward,
    .flags = BP_OP_TENSORS | BP_OP_BWD_NO_OUT,
    .domain = {{.kind = BP_DOMAIN_INTERVAL, .lo = 0.0, .hi = 1.0}, {.kind = BP_DOMAIN_REAL}},
    .linear = 2u,
};

/* The softmax, then each row's max and log Σ e^(z − max), are kept in work
 * for backward. */
static bp_status softmax_ce_shape(bp_op_args *a)
{
    bp_status st = class_loss_shape(a);
    a->n_work = a->in[0]->rows * a->in[0]->cols + 2 * a->in[0]->rows;
    return st;
}

/* log softmax(z)(i,j) = (z(i,j) − max_i) − logsum_i: subtracting the rounded
 * log-sum-exp max_i + logsum_i from z instead would cancel away a small
 * loss's digits when the logits are large. */
static double log_softmax_at(const bp_matrix *z, const double *max, const double *logsum,
                             size_t i, size_t j)
{
    return (z->data[i * z->cols + j] - max[i]) - logsum[i];
}

/* L = −(1/m) Σ y ⊙ log softmax(z) */
static bp_status softmax_ce_forward(bp_op_args *a)
{
    const bp_matrix *z = a->in[0], *y = a->in[1];
    double *max = a->work + z->rows * z->cols, *logsum = max + z->rows, s = 0.0;

    bpi_softmax_along(z->data, (bpi_axis){z->rows, z->cols, 1}, a->work, max, logsum);
    for (size_t i = 0; i < z->rows; i++)
        for (size_t j = 0; j < z->cols; j++)
            s += y->data[i * z->cols + j] * log_softmax_at(z, max, logsum, i, j);
    a->out->data[0] = -s / (double)z->rows;
    return BP_OK;
}

/* dz += g·(p·rowsum(y) − y)/m, which is g·(p − y)/m for one-hot rows;
 * dy += −g·log softmax(z)/m */
static bp_status softmax_ce_backward(bp_op_args *a)
{
    const bp_matrix *z = a->in[0], *y = a->in[1];
    const double f = a->dout->data[0] / (double)z->rows;
    const double *p = a->work, *max = a->work + z->rows * z->cols, *logsum = max + z->rows;

    for (size_t i = 0; i < z->rows; i++) {
        const size_t row = i * z->cols;
        double ysum = 0.0;
        for (size_t j = 0; j < z->cols; j++)
            ysum += y->data[row + j];
        if (a->din[0])
            for (size_t j = 0; j < z->cols; j++)
                a->din[0]->data[row + j] += f * (p[row + j] * ysum - y->data[row + j]);
        if (a->din[1])
            for (size_t j = 0; j < z->cols; j++)
                a->din[1]->data[row + j] -= f * log_softmax_at(z, max, logsum, i, j);
    }
    return BP_OK;
}

const bp_op bpi_op_softmax_ce = {
    .name = "softmax_ce",
    .doc = "nll(softmax(logits), target) → 1×1, fused: gradient (p − target)/m",
    .n_in = 2, .shape = softmax_ce_shape, .forward = softmax_ce_forward,
    .backward = softmax_ce_backward, .linear = 2u,
    .flags = BP_OP_TENSORS | BP_OP_BWD_NO_OUT,
};

bp_node *bp_mse(bp_graph *g, bp_node *pred, bp_node *target)
{
    return bpi_apply2(g, &bpi_op_mse, pred, target);
}

bp_node *bp_nll(bp_graph *g, bp_node *prob, bp_node *target)
{
    return bpi_apply2(g, &bpi_op_nll, prob, target);
}

bp_node *bp_softmax_ce(bp_graph *g, bp_node *logits, bp_node *target)
{
    return bpi_apply2(g, &bpi_op_softmax_ce, logits, target);
}
