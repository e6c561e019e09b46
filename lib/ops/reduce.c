/* SPDX-License-Identifier: MIT */
/* Reductions: rowsum, colsum, sum, mean, rowmax, and along any axis:
 * sum_axis, mean_axis, max_axis. */
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

/* out(o,i) = Σ_k x(o,k,i) */
static void sum_along(const double *x, bpi_axis ax, double *out)
{
    for (size_t o = 0; o < ax.outer; o++) {
        const double *src = x + o * ax.n * ax.inner;
        double *dst = out + o * ax.inner;
        if (ax.inner == 1) {   /* a row: sum in a register */
            double s = 0.0;
            for (size_t k = 0; k < ax.n; k++)
                s += src[k];
            dst[0] = s;
            continue;
        }
        for (size_t i = 0; i < ax.inner; i++)
            dst[i] = 0.0;
        for (size_t k = 0; k < ax.n; k++)
            for (size_t i = 0; i < ax.inner; i++)
                dst[i] += src[k * ax.inner + i];
    }
}

/* dx(o,k,i) += c·g(o,i) */
static void spread_along(bp_matrix *dx, bpi_axis ax, const double *g, double c)
{
    if (dx)
        for (size_t o = 0; o < ax.outer; o++)
            for (size_t k = 0; k < ax.n; k++)
                for (size_t i = 0; i < ax.inner; i++)
                    dx->data[(o * ax.n + k) * ax.inner + i] += c * g[o * ax.inner + i];
}

/* out(o,i) = max_k x(o,k,i), its first arg-max k into iwork (or the first
 * NaN's: the max is then NaN). */
static void max_along(const double *x, bpi_axis ax, double *out, int *argmax)
{
    for (size_t o = 0; o < ax.outer; o++)
        for (size_t i = 0; i < ax.inner; i++) {
            const double *line = x + o * ax.n * ax.inner + i;
            size_t best = bpi_argmax(line, ax.n, ax.inner);
            out[o * ax.inner + i] = line[best * ax.inner];
            argmax[o * ax.inner + i] = (int)best;
        }
}

/* dx(o, argmax(o,i), i) += g(o,i) */
static void max_backward_along(bp_matrix *dx, bpi_axis ax, const double *g, const int *argmax)
{
    if (dx)
        for (size_t o = 0; o < ax.outer; o++)
            for (size_t i = 0; i < ax.inner; i++) {
                size_t k = (size_t)argmax[o * ax.inner + i];
                dx->data[(o * ax.n + k) * ax.inner + i] += g[o * ax.inner + i];
            }
}

/* rowsum, colsum and rowmax are the axis reductions of a matrix with
 * keepdims: rowsum and rowmax along its rows' entries, colsum down its
 * columns. */
static bpi_axis rows_of(const bp_matrix *x)
{
    return (bpi_axis){x->rows, x->cols, 1};
}

static bpi_axis columns_of(const bp_matrix *x)
{
    return (bpi_axis){1, x->rows, x->cols};
}

static bp_status rowsum_forward(bp_op_args *a)
{
    sum_along(a->in[0]->data, rows_of(a->in[0]), a->out->data);
    return BP_OK;
}

static bp_status rowsum_backward(bp_op_args *a)
{
    spread_along(a->din[0], rows_of(a->in[0]), a->dout->data, 1.0);
    return BP_OK;
}

static bp_status colsum_forward(bp_op_args *a)
{
    sum_along(a->in[0]->data, columns_of(a->in[0]), a->out->data);
    return BP_OK;
}

static bp_status colsum_backward(bp_op_args *a)
{
    spread_along(a->din[0], columns_of(a->in[0]), a->dout->data, 1.0);
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
    max_along(a->in[0]->data, rows_of(a->in[0]), a->out->data, a->iwork);
    return BP_OK;
}

static bp_status rowmax_backward(bp_op_args *a)
{
    max_backward_along(a->din[0], rows_of(a->in[0]), a->dout->data, a->iwork);
    return BP_OK;
}

/* sum_axis, mean_axis and max_axis: attr[0] the axis, attr[1] keepdims.
 * In forward and backward the axis is valid: shape() checked it. */
static bpi_axis axis_split(bp_op_args *a)
{
    bpi_axis ax = {0, 0, 0};
    size_t axis;
    (void)bpi_axis_of(a, a->attr[0], &axis, &ax);
    return ax;
}

/* The input's shape, the axis kept as 1 (keepdims) or dropped; a rank-1
 * input reduces to shape (1). */
static bp_status reduce_axis_shape(bp_op_args *a)
{
    bp_shape tmp, out;
    const bp_shape *s = bpi_in_shape(a, 0, &tmp);
    size_t axis;
    bpi_axis ax;
    bp_status st = bpi_axis_of(a, a->attr[0], &axis, &ax);

    if (st != BP_OK)
        return st;
    if (a->attr[1] != 0.0 && a->attr[1] != 1.0)
        return bp_op_fail(a, BP_EINVAL, "keepdims is %g, not 0 or 1", a->attr[1]);
    out = *s;
    if (a->attr[1] == 1.0 || s->rank == 1) {
        out.dim[axis] = 1;
    } else {
        for (size_t d = axis; d + 1 < s->rank; d++)
            out.dim[d] = s->dim[d + 1];
        out.rank--;
    }
    bpi_set_out_shape(a, &out);
    return BP_OK;
}

static bp_status max_axis_shape(bp_op_args *a)
{
    bp_status st = reduce_axis_shape(a);
    bpi_axis ax;

    if (st != BP_OK)
        return st;
    ax = axis_split(a);
    if (!bpi_fits_int(ax.n))
        return bp_op_fail(a, BP_EDIM, "too many entries along the axis (%zu)", ax.n);
    a->n_iwork = ax.outer * ax.inner;
    return BP_OK;
}

static bp_status sum_axis_forward(bp_op_args *a)
{
    sum_along(a->in[0]->data, axis_split(a), a->out->data);
    return BP_OK;
}

static bp_status sum_axis_backward(bp_op_args *a)
{
    spread_along(a->din[0], axis_split(a), a->dout->data, 1.0);
    return BP_OK;
}

static bp_status mean_axis_forward(bp_op_args *a)
{
    const bpi_axis ax = axis_split(a);

    sum_along(a->in[0]->data, ax, a->out->data);
    for (size_t k = 0; k < ax.outer * ax.inner; k++)
        a->out->data[k] /= (double)ax.n;
    return BP_OK;
}

static bp_status mean_axis_backward(bp_op_args *a)
{
    const bpi_axis ax = axis_split(a);

    spread_along(a->din[0], ax, a->dout->data, 1.0 / (double)ax.n);
    return BP_OK;
}

static bp_status max_axis_forward(bp_op_args *a)
{
    max_along(a->in[0]->data, axis_split(a), a->out->data, a->iwork);
    return BP_OK;
}

static bp_status max_axis_backward(bp_op_args *a)
{
    max_backward_along(a->din[0], axis_split(a), a->dout->data, a->iwork);
    return BP_OK;
}

/* (axis, keepdims) pairs for the checker, valid for matrices. */
static const double axis_keepdims_cases[] = {-1.0, 1.0, 0.0, 0.0, 1.0, 0.0, -2.0, 1.0};

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
    .name = "sum", .doc = "m×n → 1×1, the sum of all entries", .n_in = 1,
    .shape = scalar_shape, .forward = sum_forward, .backward = sum_backward,
    .flags = BP_OP_BWD_NO_OUT,
    .linear = 1u,
};

const bp_op bpi_op_mean = {
    .name = "mean", .doc = "m×n → 1×1, the mean of all entries", .n_in = 1,
    .shape = scalar_shape, .forward = mean_forward, .backward = mean_backward,
    .flags = BP_OP_BWD_NO_OUT,
    .linear = 1u,
};

const bp_op bpi_op_rowmax = {
    .name = "rowmax", .doc = "m×n → m×1, the largest entry of each row (NaN when the row has one); gradient to the first arg-max",
    .n_in = 1, .shape = rowmax_shape, .forward = rowmax_forward, .backward = rowmax_backward,
    .flags = BP_OP_BWD_NO_OUT,
    .domain = {{.kind = BP_DOMAIN_REAL, .kinks = BP_KINK_TIES}},
};

const bp_op bpi_op_sum_axis = {
    .name = "sum_axis", .doc = "the sum along an axis (negative from the end), kept as 1 or dropped",
    .n_in = 1, .n_attr = 2,
    .shape = reduce_axis_shape, .forward = sum_axis_forward, .backward = sum_axis_backward,
    .flags = BP_OP_TENSORS | BP_OP_BWD_NO_OUT,
    .linear = 1u,
    .check_attr = axis_keepdims_cases, .n_check_attr = 4,
};

const bp_op bpi_op_mean_axis = {
    .name = "mean_axis", .doc = "the mean along an axis (negative from the end), kept as 1 or dropped",
    .n_in = 1, .n_attr = 2,
    .shape = reduce_axis_shape, .forward = mean_axis_forward, .backward = mean_axis_backward,
    .flags = BP_OP_TENSORS | BP_OP_BWD_NO_OUT,
    .linear = 1u,
    .check_attr = axis_keepdims_cases, .n_check_attr = 4,
};

const bp_op bpi_op_max_axis = {
    .name = "max_axis",
    .doc = "the largest entry along an axis (NaN when the line has one), kept as 1 or dropped; "
           "gradient to the first arg-max",
    .n_in = 1, .n_attr = 2,
    .shape = max_axis_shape, .forward = max_axis_forward, .backward = max_axis_backward,
    .flags = BP_OP_TENSORS | BP_OP_BWD_NO_OUT,
    .domain = {{.kind = BP_DOMAIN_REAL, .kinks = BP_KINK_TIES}},
    .check_attr = axis_keepdims_cases, .n_check_attr = 4,
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

/* The axis and keepdims as the op's attributes. */
static bp_node *apply_axis(bp_graph *g, const bp_op *op, bp_node *a, int axis, int keepdims)
{
    const double attr[2] = {(double)axis, (double)keepdims};
    return bpi_apply1(g, op, a, attr);
}

bp_node *bp_sum_axis(bp_graph *g, bp_node *a, int axis, int keepdims)
{
    return apply_axis(g, &bpi_op_sum_axis, a, axis, keepdims);
}

bp_node *bp_mean_axis(bp_graph *g, bp_node *a, int axis, int keepdims)
{
    return apply_axis(g, &bpi_op_mean_axis, a, axis, keepdims);
}

bp_node *bp_max_axis(bp_graph *g, bp_node *a, int axis, int keepdims)
{
    return apply_axis(g, &bpi_op_max_axis, a, axis, keepdims);
}
