/* SPDX-License-Identifier: MIT */
/* Ops that draw random numbers (BP_OP_RANDOM): dropout. */
#include "kernels.h"

#include <string.h>

/* Dropout draws only where it drops something: in training mode, p > 0. */
static int dropout_draws(const bp_op_args *a)
{
    return a->training && a->attr[0] > 0.0;
}

/* Any shape, kept; p in [0, 1).  The scratch holds the mask drawn by the
 * last forward, already scaled: 0 for a dropped entry, 1/(1−p) for a kept
 * one. */
static bp_status dropout_shape(bp_op_args *a)
{
    const double p = a->attr[0];
    bp_shape tmp;
    size_t rows, cols;

    /* written so that a NaN fails too */
    if (!(p >= 0.0 && p < 1.0))
        return bp_op_fail(a, BP_EINVAL, "p is %g; it must be in [0, 1)", p);
    bpi_set_out_shape(a, bpi_in_shape(a, 0, &tmp));
    bpi_shape_matrix(bpi_in_shape(a, 0, &tmp), &rows, &cols);
    a->n_work = dropout_draws(a) ? rows * cols : 0;
    return BP_OK;
}

static bp_status dropout_forward(bp_op_args *a)
{
    const size_t n = a->out->rows * a->out->cols;
    const double *x = a->in[0]->data;
    double *y = a->out->data, *mask = a->work;

    if (!dropout_draws(a)) {
        if (y != x)
            memcpy(y, x, n * sizeof *y);
        return BP_OK;
    }
    if (a->rng) {   /* fresh draws; else those of the last forward */
        const double p = a->attr[0], keep = 1.0 / (1.0 - p);
        for (size_t k = 0; k < n; k++)
            mask[k] = bp_rng_uniform(a->rng) < p ? 0.0 : keep;
    }
    for (size_t k = 0; k < n; k++)
        y[k] = x[k] * mask[k];
    return BP_OK;
}

/* dX += dY ⊙ mask; the identity where nothing was drawn.  A fresh dX is
 * assigned, and in place may be dY itself (each entry read, then
 * written). */
static bp_status dropout_backward(bp_op_args *a)
{
    const size_t n = a->dout->rows * a->dout->cols;
    const double *dy = a->dout->data, *mask = a->work;
    const int drop = dropout_draws(a), fresh = (a->din_fresh & 1u) != 0;
    double *dx;

    if (!a->din[0])
        return BP_OK;
    dx = a->din[0]->data;
    for (size_t k = 0; k < n; k++) {
        const double g = drop ? dy[k] * mask[k] : dy[k];
        dx[k] = fresh ? g : dx[k] + g;
    }
    return BP_OK;
}

const bp_op bpi_op_dropout = {
    .name = "dropout",
    .doc = "in training mode, a with each entry zeroed with probability p and the rest "
           "scaled by 1/(1-p); in eval mode, a; any rank",
    .n_in = 1, .n_attr = 1,
    .shape = dropout_shape, .forward = dropout_forward, .backward = dropout_backward,
    .flags = BP_OP_TENSORS | BP_OP_RANDOM | BP_OP_ASSIGN_FRESH | BP_OP_INPLACE |
             BP_OP_BWD_NO_OUT,
    .linear = 1u,
    .domain = {{.kind = BP_DOMAIN_REAL}},
    .check_attr = (const double[]){0.35, 0.7, 0.0}, .n_check_attr = 3,
};

bp_node *bp_dropout(bp_graph *g, bp_node *a, double p)
{
    return bpi_apply1(g, &bpi_op_dropout, a, &p);
}
