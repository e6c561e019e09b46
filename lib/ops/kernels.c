/* SPDX-License-Identifier: MIT */
/* Helpers shared by several op families; op files use these, never each
 * other. */
#include "bp_private.h"
#include "kernels.h"

#include <math.h>

bp_status bpi_same_shape(bp_op_args *a)
{
    *a->out_shape = *a->in_shape[0];
    return BP_OK;
}

/* Dimension k of s right-aligned to rank BP_MAX_RANK: 1 where s has none. */
static size_t aligned_dim(const bp_shape *s, size_t k)
{
    const size_t missing = BP_MAX_RANK - s->rank;
    return k < missing ? 1 : s->dim[k - missing];
}

int bpi_broadcast_shape(const bp_shape *x, const bp_shape *y, bp_shape *out)
{
    const size_t rank = x->rank > y->rank ? x->rank : y->rank;
    bp_shape s = {rank, {0}};

    for (size_t k = BP_MAX_RANK - rank; k < BP_MAX_RANK; k++) {
        const size_t dx = aligned_dim(x, k), dy = aligned_dim(y, k);
        if (dx != dy && dx != 1 && dy != 1)
            return 0;
        s.dim[k - (BP_MAX_RANK - rank)] = dx == 1 ? dy : dx;
    }
    *out = s;
    return 1;
}

/* s's row-major strides right-aligned to out's rank BP_MAX_RANK, 0 along
 * each dimension s broadcasts (has 1 where out has more). */
static void broadcast_strides(const bp_shape *s, size_t stride[BP_MAX_RANK])
{
    size_t step = 1;
    for (size_t k = BP_MAX_RANK; k-- > 0;) {
        const size_t d = aligned_dim(s, k);
        stride[k] = d == 1 ? 0 : step;
        step *= d;
    }
}

void bpi_broadcast_rows(const bp_shape *x, const bp_shape *y, const bp_shape *out,
                        bpi_broadcast_row_fn row, void *ctx)
{
    size_t sx[BP_MAX_RANK], sy[BP_MAX_RANK], d[BP_MAX_RANK], iz = 0;

    broadcast_strides(x, sx);
    broadcast_strides(y, sy);
    for (size_t k = 0; k < BP_MAX_RANK; k++)
        d[k] = aligned_dim(out, k);
    for (size_t i = 0; i < d[0]; i++)
        for (size_t j = 0; j < d[1]; j++)
            for (size_t l = 0; l < d[2]; l++, iz += d[3])
                row(ctx, i * sx[0] + j * sx[1] + l * sx[2], i * sy[0] + j * sy[1] + l * sy[2],
                    iz, sx[3], sy[3], d[3]);
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
