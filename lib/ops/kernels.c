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
 * max keeps every exponent ≤ 0, so nothing overflows. */
void bpi_softmax_rows(const bp_matrix *x, double *s, double *lse)
{
    for (size_t i = 0; i < x->rows; i++) {
        const double *row = x->data + i * x->cols;
        double *srow = s + i * x->cols;
        double max = row[0], total = 0.0;
        for (size_t j = 1; j < x->cols; j++)
            if (row[j] > max)
                max = row[j];
        for (size_t j = 0; j < x->cols; j++)
            total += srow[j] = exp(row[j] - max);
        for (size_t j = 0; j < x->cols; j++)
            srow[j] /= total;
        if (lse)
            lse[i] = max + log(total);
    }
}
