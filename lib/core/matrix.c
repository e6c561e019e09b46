/* SPDX-License-Identifier: MIT */
/* Row-major double matrices. */
#include "bp_private.h"

#include <math.h>
#include <string.h>

bp_matrix *bp_matrix_alloc(size_t rows, size_t cols)
{
    int overflow = 0;
    size_t n = bpi_mul_size(rows, cols, &overflow);
    bp_matrix *m;

    bpi_mul_size(n, sizeof(double), &overflow);
    if (overflow)
        return NULL;
    m = bpi_malloc(sizeof *m);
    if (!m)
        return NULL;
    m->rows = rows;
    m->cols = cols;
    m->data = NULL;
    if (n > 0) {
        m->data = bpi_calloc(n, sizeof(double));
        if (!m->data) {
            bpi_free(m);
            return NULL;
        }
    }
    return m;
}

bp_matrix *bp_matrix_copy(const bp_matrix *src)
{
    bp_matrix *m;

    if (!src)
        return NULL;
    m = bp_matrix_alloc(src->rows, src->cols);
    if (m && m->data)
        memcpy(m->data, src->data, src->rows * src->cols * sizeof(double));
    return m;
}

void bp_matrix_free(bp_matrix *m)
{
    if (m) {
        bpi_free(m->data);
        bpi_free(m);
    }
}

double bp_matrix_max_abs_diff(const bp_matrix *a, const bp_matrix *b)
{
    double worst = 0.0;
    int overflow = 0;

    if (!a || !b || a->rows != b->rows || a->cols != b->cols)
        return -1.0;
    /* No matrix holds more than PTRDIFF_MAX bytes: such a shape is a lie,
     * and rows * cols would wrap. */
    bpi_mul_size(bpi_mul_size(a->rows, a->cols, &overflow), sizeof(double), &overflow);
    if (overflow)
        return -1.0;
    for (size_t i = 0; i < a->rows * a->cols; i++) {
        double d = fabs(a->data[i] - b->data[i]);
        if (d > worst || isnan(d))
            worst = d;
    }
    return worst;
}
