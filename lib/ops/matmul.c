/* SPDX-License-Identifier: MIT */
/* Matrix products on CBLAS: matmul (batched over leading dims, which
 * broadcast), transpose (of the last two axes), dense (x·W + b) and
 * dense_relu (relu(x·W + b), fused) over x's leading dims. */
#include "kernels.h"

#include <string.h>

/* An operand as a stack of matrices: rank 1 reads as its matrix view, a
 * 1×n row, as before tensors. */
static bp_shape as_stack(const bp_shape *s)
{
    return s->rank >= 2 ? *s : (bp_shape){2, {1, s->dim[0]}};
}

/* The batch dims of a stack (all but the last two), as a shape. */
static bp_shape batch_dims(const bp_shape *s)
{
    bp_shape b = {s->rank - 2, {0}};

    for (size_t d = 0; d < b.rank; d++)
        b.dim[d] = s->dim[d];
    return b;
}

/* Batch dim d of out (nb of them) as stack s has it: 1 where s has fewer. */
static size_t batch_dim(const bp_shape *s, size_t nb, size_t d)
{
    return d + s->rank - 2 < nb ? 1 : s->dim[d + s->rank - 2 - nb];
}

/* Number of matrices in stack s. */
static size_t batch_count(const bp_shape *s)
{
    size_t count = 1;

    for (size_t d = 0; d + 2 < s->rank; d++)
        count *= s->dim[d];
    return count;
}

/*
 * matmul: A (..., m, k) · B (..., k, n) → (..., m, n), the batch dims
 * broadcast as numpy's do.  When B is one matrix (rank 2, or batch dims
 * all 1), A's batch dims fold into its rows: one dgemm, the 2-D path.
 * Otherwise one dgemm per output matrix, reading the matrices of A and B
 * that broadcasting pairs with it.
 */
static bp_status matmul_shape(bp_op_args *a)
{
    const bp_shape sa = as_stack(a->in_shape[0]), sb = as_stack(a->in_shape[1]);
    const size_t nb = (sa.rank > sb.rank ? sa.rank : sb.rank) - 2;
    const size_t m = sa.dim[sa.rank - 2], k = sa.dim[sa.rank - 1], n = sb.dim[sb.rank - 1];
    bp_shape out = {nb + 2, {0}};
    char s1[BPI_SHAPE_STR], s2[BPI_SHAPE_STR];

    if (k != sb.dim[sb.rank - 2])
        return bp_op_fail(a, BP_EDIM, "inner dimensions differ (%s · %s)",
                          bpi_shape_str(&sa, s1, sizeof s1), bpi_shape_str(&sb, s2, sizeof s2));
    for (size_t d = 0; d < nb; d++) {
        const size_t da = batch_dim(&sa, nb, d), db = batch_dim(&sb, nb, d);

        if (da != db && da != 1 && db != 1) {
            const bp_shape ba = batch_dims(&sa), bb = batch_dims(&sb);

            return bp_op_fail(a, BP_EDIM, "batch dims %s and %s do not broadcast",
                              bpi_shape_str(&ba, s1, sizeof s1), bpi_shape_str(&bb, s2, sizeof s2));
        }
        out.dim[d] = da == 1 ? db : da;
    }
    /* A->rows: the folded path's m */
    if (!bpi_fits_int(a->in[0]->rows) || !bpi_fits_int(k) || !bpi_fits_int(n))
        return bp_op_fail(a, BP_EDIM, "dimensions too large for BLAS (%s · %s)",
                          bpi_shape_str(&sa, s1, sizeof s1), bpi_shape_str(&sb, s2, sizeof s2));
    out.dim[nb] = m;
    out.dim[nb + 1] = n;
    *a->out_shape = out;
    return BP_OK;
}

/* The matrix of stack s that output matrix i (of out's batch dims) reads:
 * a broadcast dim repeats index 0.  *first: i is the first output matrix
 * to read it (its broadcast coordinates are all 0). */
static size_t matrix_of(const bp_shape *s, const bp_shape *out, size_t i, int *first)
{
    const size_t nb = out->rank - 2;
    size_t index = 0, stride = 1;

    *first = 1;
    for (size_t d = nb; d-- > 0;) {
        const size_t c = i % out->dim[d], sd = batch_dim(s, nb, d);

        i /= out->dim[d];
        if (sd == 1)
            *first &= c == 0;
        else
            index += c * stride;
        stride *= sd;
    }
    return index;
}

static bp_status matmul_forward(bp_op_args *a)
{
    const bp_matrix *A = a->in[0], *B = a->in[1];
    const bp_shape sa = as_stack(a->in_shape[0]), sb = as_stack(a->in_shape[1]);
    const size_t m = sa.dim[sa.rank - 2], k = A->cols, n = B->cols;

    if (batch_count(&sb) == 1) { /* C = A·B, A's batch dims folded into rows */
        bpi_gemm(0, 0, (int)A->rows, (int)n, (int)k, 1.0, A->data, (int)k, B->data, (int)n,
                 0.0, a->out->data, (int)n);
        return BP_OK;
    }
    for (size_t i = 0; i < a->out->rows / m; i++) { /* C_i = A_ia·B_ib */
        int first;
        const size_t ia = matrix_of(&sa, a->out_shape, i, &first);
        const size_t ib = matrix_of(&sb, a->out_shape, i, &first);

        bpi_gemm(0, 0, (int)m, (int)n, (int)k, 1.0, A->data + ia * m * k, (int)k,
                 B->data + ib * k * n, (int)n, 0.0, a->out->data + i * m * n, (int)n);
    }
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
    const bp_matrix *A = a->in[0], *B = a->in[1], *G = a->dout;
    const bp_shape sa = as_stack(a->in_shape[0]), sb = as_stack(a->in_shape[1]);
    const size_t m = sa.dim[sa.rank - 2], k = A->cols, n = B->cols;

    if (batch_count(&sb) == 1) {
        matmul_grads(a);
        return BP_OK;
    }
    /* Per output matrix; a matrix broadcast to several sums their
     * gradients: the first assigns when fresh, the others add. */
    for (size_t i = 0; i < G->rows / m; i++) {
        int first_a, first_b;
        const size_t ia = matrix_of(&sa, a->out_shape, i, &first_a);
        const size_t ib = matrix_of(&sb, a->out_shape, i, &first_b);
        const double *Ai = A->data + ia * m * k, *Bi = B->data + ib * k * n;
        const double *Gi = G->data + i * m * n;

        if (a->din[0]) /* dA_ia += G_i·B_ibᵀ  (m×n · n×k) */
            bpi_gemm(0, 1, (int)m, (int)k, (int)n, 1.0, Gi, (int)n, Bi, (int)n,
                     first_a ? beta(a, 0) : 1.0, a->din[0]->data + ia * m * k, (int)k);
        if (a->din[1]) /* dB_ib += A_iaᵀ·G_i  (k×m · m×n) */
            bpi_gemm(1, 0, (int)k, (int)n, (int)m, 1.0, Ai, (int)k, Gi, (int)n,
                     first_b ? beta(a, 1) : 1.0, a->din[1]->data + ib * k * n, (int)n);
    }
    return BP_OK;
}

const bp_op bpi_op_matmul = {
    .name = "matmul",
    .doc = "A·B: (…×m×k)·(…×k×n) → …×m×n, batch dims broadcast; on BLAS (dgemm; dgemv when a side is 1)",
    .n_in = 2,
    .shape = matmul_shape,
    .forward = matmul_forward,
    .backward = matmul_backward,
    .flags = BP_OP_TENSORS | BP_OP_ASSIGN_FRESH | BP_OP_BWD_NO_OUT,
    .linear = 3u,
};

bp_node *bp_matmul(bp_graph *g, bp_node *a, bp_node *b)
{
    return bpi_apply2(g, &bpi_op_matmul, a, b);
}

/* transpose swaps the last two axes: a stack of m×n matrices (rank 1 and
 * 2 read as one matrix, their view) becomes a stack of n×m. */
static bp_status transpose_shape(bp_op_args *a)
{
    const bp_shape *s = a->in_shape[0];
    bp_shape out = s->rank > 2 ? *s : (bp_shape){2, {a->in[0]->rows, a->in[0]->cols}};

    out.dim[out.rank - 2] = a->in[0]->cols;
    out.dim[out.rank - 1] = s->rank > 2 ? s->dim[s->rank - 2] : a->in[0]->rows;
    *a->out_shape = out;
    return BP_OK;
}

/* The rows of each matrix transpose swaps: the last dim but one. */
static size_t transpose_rows(const bp_op_args *a)
{
    const bp_shape *s = a->in_shape[0];

    return s->rank > 2 ? s->dim[s->rank - 2] : a->in[0]->rows;
}

static bp_status transpose_forward(bp_op_args *a)
{
    const bp_matrix *A = a->in[0];
    const size_t m = transpose_rows(a), n = A->cols;

    for (size_t i = 0; i < A->rows / m; i++)
        bpi_transpose_into(A->data + i * m * n, m, n, a->out->data + i * m * n);
    return BP_OK;
}

static bp_status transpose_backward(bp_op_args *a)
{
    const size_t m = transpose_rows(a), n = a->in[0]->cols;
    const double *G = a->dout->data;   /* matrices of n×m */
    bp_matrix *dA = a->din[0];         /* matrices of m×n */

    /* dA_b += G_bᵀ */
    if (dA)
        for (size_t b = 0; b < dA->rows / m; b++)
            for (size_t i = 0; i < m; i++)
                for (size_t j = 0; j < n; j++)
                    dA->data[(b * m + i) * n + j] += G[(b * n + j) * m + i];
    return BP_OK;
}

const bp_op bpi_op_transpose = {
    .name = "transpose",
    .doc = "Aᵀ: m×n → n×m; of rank 3 or 4, swaps the last two axes",
    .n_in = 1,
    .shape = transpose_shape,
    .forward = transpose_forward,
    .backward = transpose_backward,
    .flags = BP_OP_TENSORS | BP_OP_BWD_NO_OUT,
    .linear = 1u,
};

bp_node *bp_transpose(bp_graph *g, bp_node *a)
{
    return bpi_apply1(g, &bpi_op_transpose, a, NULL);
}

/* dense: x (..., k) · W (k×n) + b (n or 1×n) → (..., n), x's leading dims
 * folded into rows; x of rank 1 or 2 gives a matrix, as before tensors. */
static bp_status dense_shape(bp_op_args *a)
{
    const bp_matrix *x = a->in[0], *W = a->in[1], *b = a->in[2];
    const bp_shape *xs = a->in_shape[0], *ws = a->in_shape[1], *bs = a->in_shape[2];
    bp_shape out = xs->rank > 2 ? *xs : (bp_shape){2, {x->rows, x->cols}};
    char s1[BPI_SHAPE_STR], s2[BPI_SHAPE_STR], s3[BPI_SHAPE_STR];

    if (ws->rank > 2 || bs->rank > 2 || x->cols != W->rows || b->rows != 1 || b->cols != W->cols)
        return bp_op_fail(a, BP_EDIM, "expects x (…×k), W (k×n), b (n or 1×n); given %s, %s, %s",
                          bpi_shape_str(xs, s1, sizeof s1), bpi_shape_str(ws, s2, sizeof s2),
                          bpi_shape_str(bs, s3, sizeof s3));
    if (!bpi_fits_int(x->rows) || !bpi_fits_int(x->cols) || !bpi_fits_int(W->cols))
        return bp_op_fail(a, BP_EDIM, "dimensions too large for BLAS (%s · %s)",
                          bpi_shape_str(xs, s1, sizeof s1), bpi_shape_str(ws, s2, sizeof s2));
    out.dim[out.rank - 1] = W->cols;
    *a->out_shape = out;
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
    .doc = "x·W + b: (…×k)·(k×n) + (1×n) → …×n, fused",
    .n_in = 3,
    .shape = dense_shape,
    .forward = dense_forward,
    .backward = dense_backward,
    .flags = BP_OP_TENSORS | BP_OP_ASSIGN_FRESH | BP_OP_BWD_NO_OUT,
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
    a->n_work = a->dout_writable ? 0 : block_rows(a->in[0]->rows) * a->in[1]->cols;
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
    .flags = BP_OP_TENSORS | BP_OP_ASSIGN_FRESH,
};

bp_node *bp_dense_relu(bp_graph *g, bp_node *x, bp_node *w, bp_node *b)
{
    bp_node *in[3] = {x, w, b};
    return bp_apply(g, &bpi_op_dense_relu, 3, in, NULL);
}
