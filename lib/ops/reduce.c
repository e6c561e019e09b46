/* SPDX-License-Identifier: MIT */
/* Reductions: rowsum, colsum, rowmax (matrices); sum, mean (any rank,
 * over the matrix view, which holds every element). */
#include "kernels.h"

static bp_status rowsum_shape(bp_op_args *a)
{
    a->out->rows = a->in[0]->rows;
    a->out->cols = 1;
    return BP_OK;
}

static bp_status colsum_shape(bp_op_args *a)
{
    a->out->rows = 1;
    a->out->cols = a->in[0]->cols;
    return BP_OK;
}

static bp_status scalar_shape(bp_op_args *a)
{
    a->out->rows = 1;
    a->out->cols = 1;
    return BP_OK;
}

/* out(i) = Σ_j x(i,j) */
static bp_status rowsum_forward(bp_op_args *a)
{
    const bp_matrix *x = a->in[0];

    for (size_t i = 0; i < x->rows; i++) {
        double s = 0.0;
        for (size_t j = 0; j < x->cols; j++)
            s += x->data[i * x->cols + j];
        a->out->data[i] = s;
    }
    return BP_OK;
}

/* dx(i,j) += g(i) */
static bp_status rowsum_backward(bp_op_args *a)
{
    bp_matrix *dx = a->din[0];

    if (dx)
        for (size_t i = 0; i < dx->rows; i++)
            for (size_t j = 0; j < dx->cols; j++)
                dx->data[i * dx->cols + j] += a->dout->data[i];
    return BP_OK;
}

/* out(j) = Σ_i x(i,j) */
static bp_status colsum_forward(bp_op_args *a)
{
    const bp_matrix *x = a->in[0];

    for (size_t j = 0; j < x->cols; j++)
        a->out->data[j] = 0.0;
    for (size_t i = 0; i < x->rows; i++)
        for (size_t j = 0; j < x->cols; j++)
            a->out->data[j] += x->data[i * x->cols + j];
    return BP_OK;
}

/* dx(i,j) += g(j) */
static bp_status colsum_backward(bp_op_args *a)
{
    bp_matrix *dx = a->din[0];

    if (dx)
        for (size_t i = 0; i < dx->rows; i++)
            for (size_t j = 0; j < dx->cols; j++)
                dx->data[i * dx->cols + j] += a->dout->data[j];
    return BP_OK;
}

/* The sum of all entries. */
static double total(const bp_matrix *x)
{
    double s = 0.0;
    for (size_t k = 0; k < x->rows * x->cols; k++)
        s += x->data[k];
    return s;
}

static void add_constant(bp_matrix *dx, double v)
{
    if (dx)
        for (size_t k = 0; k < dx->rows * dx->cols; k++)
            dx->data[k] += v;
}

static bp_status sum_forward(bp_op_args *a)
{
    a->out->data[0] = total(a->in[0]);
    return BP_OK;
}

static bp_status sum_backward(bp_op_args *a)
{
    add_constant(a->din[0], a->dout->data[0]);
    return BP_OK;
}

static bp_status mean_forward(bp_op_args *a)
{
    const bp_matrix *x = a->in[0];
    a->out->data[0] = total(x) / (double)(x->rows * x->cols);
    return BP_OK;
}

static bp_status mean_backward(bp_op_args *a)
{
    const bp_matrix *x = a->in[0];
    add_constant(a->din[0], a->dout->data[0] / (double)(x->rows * x->cols));
    return BP_OK;
}

/* rowmax keeps each row's arg-max in iwork for backward. */
static bp_status rowmax_shape(bp_op_args *a)
{
    if (!bpi_fits_int(a->in[0]->cols))
        return bp_op_fail(a, BP_EDIM, "too many columns (%zu)", a->in[0]->cols);
    a->out->rows = a->in[0]->rows;
    a->out->cols = 1;
    a->n_iwork = a->in[0]->rows;
    return BP_OK;
}

static bp_status rowmax_forward(bp_op_args *a)
{
    const bp_matrix *x = a->in[0];

    for (size_t i = 0; i < x->rows; i++) {
        const double *row = x->data + i * x->cols;
        size_t best = bpi_row_argmax(row, x->cols);
        a->out->data[i] = row[best];
        a->iwork[i] = (int)best;
    }
    return BP_OK;
}

/* dx(i, argmax_i) += g(i) */
static bp_status rowmax_backward(bp_op_args *a)
{
    bp_matrix *dx = a->din[0];

    if (dx)
        for (size_t i = 0; i < dx->rows; i++)
            dx->data[i * dx->cols + (size_t)a->iwork[i]] += a->dout->data[i];
    return BP_OK;
}

const bp_op bpi_op_rowsum = {
    .name = "rowsum", .doc = "m×n → m×1, the sum of each row", .n_in = 1,
    .shape = rowsum_shape, .forward = rowsum_forward, .backward = rowsum_backward,
    .flags = BP_OP_BWD_NO_OUT,
    .linear = 1u,
};

const bp_op bpi_op_colsum = {
    .name = "colsum", .doc = "m×n → 1×n, the sum of each column", .n_in = 1,
    .shape = colsum_shape, .forward = colsum_forward, .backward = colsum_backward,
    .flags = BP_OP_BWD_NO_OUT,
    .linear = 1u,
};

const bp_op bpi_op_sum = {
    .name = "sum", .doc = "any rank → 1×1, the sum of all entries", .n_in = 1,
    .shape = scalar_shape, .forward = sum_forward, .backward = sum_backward,
    .flags = BP_OP_TENSORS | BP_OP_BWD_NO_OUT,
    .linear = 1u,
};

const bp_op bpi_op_mean = {
    .name = "mean", .doc = "any rank → 1×1, the mean of all entries", .n_in = 1,
    .shape = scalar_shape, .forward = mean_forward, .backward = mean_backward,
    .flags = BP_OP_TENSORS | BP_OP_BWD_NO_OUT,
    .linear = 1u,
};

const bp_op bpi_op_rowmax = {
    .name = "rowmax", .doc = "m×n → m×1, the largest entry of each row (NaN when the row has one); gradient to the first arg-max",
    .n_in = 1, .shape = rowmax_shape, .forward = rowmax_forward, .backward = rowmax_backward,
    .flags = BP_OP_BWD_NO_OUT,
    .domain = {{.kind = BP_DOMAIN_REAL, .kinks = BP_KINK_TIES}},
};

bp_node *bp_rowsum(bp_graph *g, bp_node *a)
{
    return bpi_apply1(g, &bpi_op_rowsum, a, NULL);
}

bp_node *bp_colsum(bp_graph *g, bp_node *a)
{
    return bpi_apply1(g, &bpi_op_colsum, a, NULL);
}

bp_node *bp_sum(bp_graph *g, bp_node *a)
{
    return bpi_apply1(g, &bpi_op_sum, a, NULL);
}

bp_node *bp_mean(bp_graph *g, bp_node *a)
{
    return bpi_apply1(g, &bpi_op_mean, a, NULL);
}

bp_node *bp_rowmax(bp_graph *g, bp_node *a)
{
    return bpi_apply1(g, &bpi_op_rowmax, a, NULL);
}
