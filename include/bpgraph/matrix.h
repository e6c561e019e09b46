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

/* ------------------------------------------------------------------------ */
/* Tensor shapes                                                             */
/* ------------------------------------------------------------------------ */

#define BP_MAX_RANK 4   /* the highest rank a value may have */

/* A value's shape: a tensor of rank 1 to BP_MAX_RANK, dim[0..rank).  Every
 * value is row-major and contiguous — element (i0, ..., i{r−1}) is at
 * ((i0·dim[1] + i1)·dim[2] + ...)·dim[r−1] + i{r−1} — and is handed out as
 * its matrix view: rows = dim[0]·...·dim[r−2] (1 for rank 1), cols =
 * dim[r−1].  A matrix is the rank-2 case, where the view is the value. */
typedef struct bp_shape {
    size_t rank;
    size_t dim[BP_MAX_RANK];
} bp_shape;

/* Largest |a(i,j) - b(i,j)|, or -1 when the shapes differ, either is NULL,
 * or rows * cols * sizeof(double) overflows. */
double bp_matrix_max_abs_diff(const bp_matrix *a, const bp_matrix *b);

#ifdef __cplusplus
}
#endif

#endif /* BPGRAPH_MATRIX_H */
