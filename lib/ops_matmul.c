/* Matrix products on CBLAS: matmul, transpose, dense (x·W + b). */
#include "bp_private.h"

#include <cblas.h>
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
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k,
                1.0, A->data, k, B->data, n, 0.0, a->out->data, n);
    return BP_OK;
}

/* beta for dgemm into din[i]: 0 assigns a fresh buffer, 1 adds. */
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
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, k, n,
                    1.0, G->data, n, B->data, n, beta(a, 0), a->din[0]->data, k);
    if (a->din[1]) /* dB += Aᵀ·G  (k×m · m×n) */
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, n, m,
                    1.0, A->data, k, G->data, n, beta(a, 1), a->din[1]->data, n);
}

static bp_status matmul_backward(bp_op_args *a)
{
    matmul_grads(a);
    return BP_OK;
}

const bp_op bpi_op_matmul = {
    .name = "matmul",
    .doc = "A·B: (m×k)·(k×n) → m×n, on cblas_dgemm",
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

    for (size_t i = 0; i < A->rows; i++)
        for (size_t j = 0; j < A->cols; j++)
            out[j * A->rows + i] = A->data[i * A->cols + j];
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

static bp_status dense_forward(bp_op_args *a)
{
    const bp_matrix *x = a->in[0], *W = a->in[1], *b = a->in[2];
    int m = (int)x->rows, k = (int)x->cols, n = (int)W->cols;

    /* out = b broadcast down the rows, then out += x·W */
    for (int i = 0; i < m; i++)
        memcpy(a->out->data + (size_t)i * n, b->data, (size_t)n * sizeof(double));
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k,
                1.0, x->data, k, W->data, n, 1.0, a->out->data, n);
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
        for (size_t i = 0; i < G->rows; i++)
            for (size_t j = 0; j < G->cols; j++)
                db->data[j] += G->data[i * G->cols + j];
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
