/* SPDX-License-Identifier: MIT */
/* Matrix products on CBLAS: matmul, transpose, dense (x·W + b) and
 * dense_relu (relu(x·W + b), fused); and the transpose the linear-algebra
 * ops use to hand row-major data to LAPACK. */
#include "kernels.h"

#include <string.h>

static bp_status matmul_shape(bp_op_args *a)
{
    const bp_matrix *A = a->in[0], *B = a->in[1];

    if (A->cols != B->rows)
        return bp_op_fail(a, BP_EDIM, "inner dimensions differ (%zux%zu · %zux%zu)",
                          A->rows, A->cols, B->rows, B->cols);
    if (!bpi_fits_int(A->rows) || !bpi_fits_int(A->cols) || !bpi_fits_int(B->cols))
        return bp_op_fail(a, BP_EDIM, "dimensions too large for BLAS (%zux%zu · %zux%zu)",
                          A->rows, A->cols, B->rows, B->cols);
    a->out->rows = A->rows;
    a->out->cols = B->cols;
    return BP_OK;
}

static bp_status matmul_forward(bp_op_args *a)
{
    const bp_matrix *A = a->in[0], *B = a->in[1];
    int m = (int)A->rows, k = (int)A->cols, n = (int)B->cols;

    /* C = A·B */
    bpi_gemm(0, 0, m, n, k, 1.0, A->data, k, B->data, n, 0.0, a->out->data, n);
    return BP_OK;
}

/* beta for a product into din[i]: 0 assigns a fresh buffer, 1 adds. */
static double beta(const bp_op_args *a, unsigned i)
{
    return (a->din_fresh >> i) & 1u ? 0.0 : 1.0;
}

/* The gradients of C = A·B, shared with dense. */
static void matmul_grads(const bp_op_args *a)
{
    const bp_matrix *A = a->in[0], *B = a->in[1], *G = a->dout;
    int m = (int)A->rows, k = (int)A->cols, n = (int)B->cols;

    if (a->din[0]) /* dA += G·Bᵀ  (m×n · n×k) */
        bpi_gemm(0, 1, m, k, n, 1.0, G->data, n, B->data, n, beta(a, 0), a->din[0]->data, k);
    if (a->din[1]) /* dB += Aᵀ·G  (k×m · m×n) */
        bpi_gemm(1, 0, k, n, m, 1.0, A->data, k, G->data, n, beta(a, 1), a->din[1]->data, n);
}

static bp_status matmul_backward(bp_op_args *a)
{
    matmul_grads(a);
    return BP_OK;
}

const bp_op bpi_op_matmul = {
    .name = "matmul",
    .doc = "A·B: (m×k)·(k×n) → m×n, on BLAS (dgemm; dgemv when a side is 1)",
    .n_in = 2,
    .shape = matmul_shape,
    .forward = matmul_forward,
    .backward = matmul_backward,
    .flags = BP_OP_ASSIGN_FRESH | BP_OP_BWD_NO_OUT,
    .linear = 3u,
};

bp_node *bp_matmul(bp_graph *g, bp_node *a, bp_node *b)
{
    return bpi_apply2(g, &bpi_op_matmul, a, b);
}

static bp_status transpose_shape(bp_op_args *a)
{
    a->out->rows = a->in[0]->cols;
    a->out->cols = a->in[0]->rows;
    return BP_OK;
}

static bp_status transpose_forward(bp_op_args *a)
{
    const bp_matrix *A = a->in[0];
    double *out = a->out->data;

    bpi_transpose_into(A->data, A->rows, A->cols, out);
    return BP_OK;
}

static bp_status transpose_backward(bp_op_args *a)
{
    const bp_matrix *G = a->dout;   /* n×m */
    bp_matrix *dA = a->din[0];      /* m×n */

    /* dA += Gᵀ */
    if (dA)
        for (size_t i = 0; i < dA->rows; i++)
            for (size_t j = 0; j < dA->cols; j++)
                dA->data[i * dA->cols + j] += G->data[j * G->cols + i];
    return BP_OK;
}

const bp_op bpi_op_transpose = {
    .name = "transpose",
    .doc = "Aᵀ: m×n → n×m",
    .n_in = 1,
    .shape = transpose_shape,
    .forward = transpose_forward,
    .backward = transpose_backward,
    .flags = BP_OP_BWD_NO_OUT,
    .linear = 1u,
};

bp_node *bp_transpose(bp_graph *g, bp_node *a)
{
    return bpi_apply1(g, &bpi_op_transpose, a, NULL);
}

static bp_status dense_shape(bp_op_args *a)
{
    const bp_matrix *x = a->in[0], *W = a->in[1], *b = a->in[2];

    if (x->cols != W->rows || b->rows != 1 || b->cols != W->cols)
        return bp_op_fail(a, BP_EDIM, "expects x (m×k), W (k×n), b (1×n); given %zux%zu, %zux%zu, %zux%zu",
                          x->rows, x->cols, W->rows, W->cols, b->rows, b->cols);
    if (!bpi_fits_int(x->rows) || !bpi_fits_int(x->cols) || !bpi_fits_int(W->cols))
        return bp_op_fail(a, BP_EDIM, "dimensions too large for BLAS (%zux%zu · %zux%zu)",
                          x->rows, x->cols, W->rows, W->cols);
    a->out->rows = x->rows;
    a->out->cols = W->cols;
    return BP_OK;
}

/* Rows [r0, r0 + rows) of out = x·W + b: b broadcast down the rows, then
 * out += x·W. */
static void dense_rows(const bp_op_args *a, size_t r0, size_t rows)
{
    const bp_matrix *x = a->in[0], *W = a->in[1], *b = a->in[2];
    const size_t k = x->cols, n = W->cols;
    double *out = a->out->data + r0 * n;

    for (size_t i = 0; i < rows; i++)
        memcpy(out + i * n, b->data, n * sizeof(double));
    bpi_gemm(0, 0, (int)rows, (int)n, (int)k,
             1.0, x->data + r0 * k, (int)k, W->data, (int)n, 1.0, out, (int)n);
}

/* sum += colsum(g) over a rows×n block */
static void add_colsum(const double *restrict g, size_t rows, size_t n, double *restrict sum)
{
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < n; j++)
            sum[j] += g[i * n + j];
}

static bp_status dense_forward(bp_op_args *a)
{
    dense_rows(a, 0, a->out->rows);
    return BP_OK;
}

static bp_status dense_backward(bp_op_args *a)
{
    const bp_matrix *G = a->dout;
    bp_matrix *db = a->din[2];

    matmul_grads(a);
    if (db) { /* db += colsum(G) */
        if (a->din_fresh & 4u)
            memset(db->data, 0, G->cols * sizeof(double));
        add_colsum(G->data, G->rows, G->cols, db->data);
    }
    return BP_OK;
}

const bp_op bpi_op_dense = {
    .name = "dense",
    .doc = "x·W + b: (m×k)·(k×n) + (1×n) → m×n, fused",
    .n_in = 3,
    .shape = dense_shape,
    .forward = dense_forward,
    .backward = dense_backward,
    .flags = BP_OP_ASSIGN_FRESH | BP_OP_BWD_NO_OUT,
    .linear = 7u,
};

bp_node *bp_dense(bp_graph *g, bp_node *x, bp_node *w, bp_node *b)
{
    bp_node *in[3] = {x, w, b};
    return bp_apply(g, &bpi_op_dense, 3, in, NULL);
}

/*
 * dense_relu: y = relu(x·W + b) in one op, worked through in blocks of
 * DENSE_RELU_ROWS rows.  A block of a narrow layer stays in cache between
 * the product and the relu, and in backward between the mask, the bias sum
 * and the two products, so each big matrix crosses memory once per pass
 * instead of once per elementwise step.  Blocks of 256 rows are deep
 * enough that dW += xᵀ·dZ in pieces costs what one call does (measured on
 * mnist's 784×1024 dW: 24.3 ms in two pieces, 24.6 ms in one; 128-row
 * pieces cost 7% more).  Forward blocks only when x is
 * narrow (k < 64): for a wide x the product dominates, and one dgemm packs
 * W once instead of once per block.
 */
#define DENSE_RELU_ROWS 256
#define DENSE_RELU_NARROW 64

static size_t block_rows(size_t m)
{
    return m < DENSE_RELU_ROWS ? m : DENSE_RELU_ROWS;
}

static bp_status dense_relu_shape(bp_op_args *a)
{
    bp_status st = dense_shape(a);

    if (st != BP_OK)
        return st;
    /* dZ for one block: the gradient before the relu.  In in-place mode it
     * goes over the block's dY instead, which nothing reads afterwards. */
    a->n_work = a->dout_writable ? 0 : block_rows(a->out->rows) * a->out->cols;
    return BP_OK;
}

/* Rows [r0, r0 + rows) of y = relu(x·W + b). */
static void dense_relu_rows(const bp_op_args *a, size_t r0, size_t rows)
{
    const size_t n = a->out->cols;
    double *y = a->out->data + r0 * n;

    dense_rows(a, r0, rows);
    for (size_t q = 0; q < rows * n; q++) {
        const double v = y[q];
        y[q] = v > 0.0 ? v : 0.0;
    }
}

static bp_status dense_relu_forward(bp_op_args *a)
{
    const size_t m = a->out->rows;
    const size_t step = a->in[0]->cols < DENSE_RELU_NARROW ? block_rows(m) : m;

    for (size_t r0 = 0; r0 < m; r0 += step)
        dense_relu_rows(a, r0, m - r0 < step ? m - r0 : step);
    return BP_OK;
}

/* dz = g ⊙ [y > 0] over len entries; dz may be g itself. */
static void relu_mask(const double *restrict y, const double *g, double *dz, size_t len)
{
    if (dz == g) {
        for (size_t q = 0; q < len; q++)
            dz[q] = y[q] > 0.0 ? dz[q] : 0.0;
    } else {
        const double *restrict gr = g;
        double *restrict out = dz;

        for (size_t q = 0; q < len; q++)
            out[q] = y[q] > 0.0 ? gr[q] : 0.0;
    }
}

static bp_status dense_relu_backward(bp_op_args *a)
{
    const bp_matrix *x = a->in[0], *W = a->in[1], *Y = a->out, *G = a->dout;
    bp_matrix *dx = a->din[0], *dW = a->din[1], *db = a->din[2];
    const size_t m = Y->rows, k = x->cols, n = Y->cols, step = block_rows(m);

    if (db && (a->din_fresh & 4u))
        memset(db->data, 0, n * sizeof(double));
    for (size_t r0 = 0; r0 < m; r0 += step) {
        const size_t rows = m - r0 < step ? m - r0 : step;
        double *dz = a->dout_writable ? G->data + r0 * n : a->work;

        /* dZ = G ⊙ [y > 0];  db += colsum(dZ) */
        relu_mask(Y->data + r0 * n, G->data + r0 * n, dz, rows * n);
        if (db)
            add_colsum(dz, rows, n, db->data);
        if (dx) /* dx += dZ·Wᵀ  (rows×n · n×k) */
            bpi_gemm(0, 1, (int)rows, (int)k, (int)n,
                     1.0, dz, (int)n, W->data, (int)n, beta(a, 0), dx->data + r0 * k, (int)k);
        if (dW) /* dW += xᵀ·dZ  (k×rows · rows×n); the first block assigns when fresh */
            bpi_gemm(1, 0, (int)k, (int)n, (int)rows,
                     1.0, x->data + r0 * k, (int)k, dz, (int)n,
                     r0 == 0 ? beta(a, 1) : 1.0, dW->data, (int)n);
    }
    return BP_OK;
}

const bp_op bpi_op_dense_relu = {
    .name = "dense_relu",
    .doc = "relu(x·W + b): dense and relu fused, blocked for cache; gradient 0 where x·W + b = 0",
    .n_in = 3,
    .shape = dense_relu_shape,
    .forward = dense_relu_forward,
    .backward = dense_relu_backward,
    .flags = BP_OP_ASSIGN_FRESH,
};

bp_node *bp_dense_relu(bp_graph *g, bp_node *x, bp_node *w, bp_node *b)
{
    bp_node *in[3] = {x, w, b};
    return bp_apply(g, &bpi_op_dense_relu, 3, in, NULL);
}
