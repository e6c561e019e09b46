/* SPDX-License-Identifier: MIT */
/* Helpers shared by several op families; op files use these, never each
 * other. */
#include "bp_private.h"
#include "kernels.h"

#include <math.h>

/* The shape rule of ops whose output has their first input's shape. */
bp_status bpi_same_shape(bp_op_args *a)
{
    a->out->rows = a->in[0]->rows;
    a->out->cols = a->in[0]->cols;
    return BP_OK;
}

void bpi_transpose_into(const double *src, size_t rows, size_t cols, double *dst)
{
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++)
            dst[j * rows + i] = src[i * cols + j];
}

const bp_shape *bpi_in_shape(const bp_op_args *a, size_t i, bp_shape *tmp)
{
    if (a->in_shape[i])
        return a->in_shape[i];
    *tmp = (bp_shape){2, {a->in[i]->rows, a->in[i]->cols}};
    return tmp;
}

void bpi_set_out_shape(bp_op_args *a, const bp_shape *s)
{
    if (a->out_shape)
        *a->out_shape = *s;
    else
        bpi_shape_matrix(s, &a->out->rows, &a->out->cols);
}

bp_status bpi_axis_of(bp_op_args *a, double v, size_t *axis, bpi_axis *split)
{
    bp_shape tmp;
    const bp_shape *s = bpi_in_shape(a, 0, &tmp);
    const double rank = (double)s->rank;
    char buf[BPI_SHAPE_STR];

    /* written so that a NaN fails too */
    if (!(v == floor(v) && v >= -rank && v < rank))
        return bp_op_fail(a, BP_EDIM, "axis %g is outside %s", v,
                          bpi_shape_str(s, buf, sizeof buf));
    *axis = (size_t)(v < 0 ? v + rank : v);
    split->outer = 1;
    split->n = s->dim[*axis];
    split->inner = 1;
    for (size_t d = 0; d < s->rank; d++) {
        if (d < *axis)
            split->outer *= s->dim[d];
        else if (d > *axis)
            split->inner *= s->dim[d];
    }
    return BP_OK;
}

/* Comparisons with NaN are false, so a NaN is looked for explicitly. */
static inline size_t argmax_line(const double *x, size_t n, size_t st)
{
    size_t best = 0;

    for (size_t k = 0; k < n; k++) {
        if (isnan(x[k * st]))
            return k;
        if (x[k * st] > x[best * st])
            best = k;
    }
    return best;
}

/* A line's entries are st apart; the callers below pass a literal 1 for a
 * contiguous line, so that the compiler makes that case as fast as a loop
 * over a row. */
size_t bpi_argmax(const double *x, size_t n, size_t stride)
{
    return stride == 1 ? argmax_line(x, n, 1) : argmax_line(x, n, stride);
}

/* S(k) = e^(x(k) − max) / Σ_j e^(x(j) − max) along one line: shifting by
 * the line's max keeps every exponent ≤ 0, so nothing overflows.  The sum
 * is 1 (the arg-max's term) plus the rest, so log Σ = log1p(rest) keeps its
 * relative accuracy when the rest is tiny; a NaN anywhere in a line is that
 * line's max, so the whole line is NaN. */
static inline void softmax_line(const double *x, size_t n, size_t st, double *s,
                                double *max_out, double *logsum)
{
    size_t best = argmax_line(x, n, st);
    double max = x[best * st], rest = 0.0, total;

    for (size_t k = 0; k < n; k++) {
        s[k * st] = exp(x[k * st] - max);
        if (k != best)
            rest += s[k * st];
    }
    total = 1.0 + rest;   /* the arg-max's own term is e^0 */
    for (size_t k = 0; k < n; k++)
        s[k * st] /= total;
    *max_out = max;
    *logsum = log1p(rest);
}

void bpi_softmax_along(const double *x, bpi_axis ax, double *s, double *max, double *logsum)
{
    for (size_t o = 0; o < ax.outer; o++)
        for (size_t i = 0; i < ax.inner; i++) {
            const size_t line = o * ax.inner + i, base = o * ax.n * ax.inner + i;
            double m, l;
            if (ax.inner == 1)
                softmax_line(x + base, ax.n, 1, s + base, &m, &l);
            else
                softmax_line(x + base, ax.n, ax.inner, s + base, &m, &l);
            if (max)
                max[line] = m;
            if (logsum)
                logsum[line] = l;
        }
}
