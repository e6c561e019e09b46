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

/* S(i,j) = e^(x(i,j) − max_i) / Σ_k e^(x(i,k) − max_i): shifting by the row
 * max keeps every exponent ≤ 0, so nothing overflows.  The sum is 1 (the
 * arg-max's term) plus the rest, so log Σ = log1p(rest) keeps its relative
 * accuracy when the rest is tiny; a NaN anywhere in a row is that row's max,
 * so the whole row is NaN. */
void bpi_softmax_rows(const bp_matrix *x, double *s, double *max_out, double *logsum)
{
    for (size_t i = 0; i < x->rows; i++) {
        const double *row = x->data + i * x->cols;
        double *srow = s + i * x->cols;
        size_t best = bpi_row_argmax(row, x->cols);
        double max = row[best], rest = 0.0, total;
        for (size_t j = 0; j < x->cols; j++) {
            srow[j] = exp(row[j] - max);
            if (j != best)
                rest += srow[j];
        }
        total = 1.0 + rest;   /* the arg-max's own term is e^0 */
        for (size_t j = 0; j < x->cols; j++)
            srow[j] /= total;
        if (max_out)
            max_out[i] = max;
        if (logsum)
            logsum[i] = log1p(rest);
    }
}

/* The first arg-max of row[0..n-1], n ≥ 1, or the first NaN's index:
 * comparisons with NaN are false, so it is looked for explicitly. */
size_t bpi_row_argmax(const double *row, size_t n)
{
    size_t best = 0;

    for (size_t j = 0; j < n; j++) {
        if (isnan(row[j]))
            return j;
        if (row[j] > row[best])
            best = j;
    }
    return best;
}
