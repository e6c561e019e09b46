/* SPDX-License-Identifier: MIT */
/* bpgraph: Matrices.  Part of <bpgraph.h>; include that. */
#ifndef BPGRAPH_MATRIX_H
#define BPGRAPH_MATRIX_H

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Matrices                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct bp_matrix {
    size_t rows;
    size_t cols;
    double *data;   /* rows * cols doubles, row-major, no padding */
} bp_matrix;

/* A new rows x cols matrix of zeros (new: free with bp_matrix_free).
 * Returns NULL when rows * cols * sizeof(double) overflows or memory runs
 * out.  A 0 x n or n x 0 matrix is valid and has data == NULL. */
bp_matrix *bp_matrix_alloc(size_t rows, size_t cols);

/* A new copy of src (new), or NULL when src is NULL or memory runs out. */
bp_matrix *bp_matrix_copy(const bp_matrix *src);

/* Frees m and its data; NULL is allowed. */
void bp_matrix_free(bp_matrix *m);

/* Element (i, j); no bounds check. */
static inline double bp_matrix_get(const bp_matrix *m, size_t i, size_t j)
{
    return m->data[i * m->cols + j];
}

static inline void bp_matrix_set(bp_matrix *m, size_t i, size_t j, double v)
{
    m->data[i * m->cols + j] = v;
}

/* Largest |a(i,j) - b(i,j)|, or -1 when the shapes differ, either is NULL,
 * or rows * cols * sizeof(double) overflows. */
double bp_matrix_max_abs_diff(const bp_matrix *a, const bp_matrix *b);

#ifdef __cplusplus
}
#endif

#endif /* BPGRAPH_MATRIX_H */
