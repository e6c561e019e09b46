/* SPDX-License-Identifier: MIT */
/* The library's one matrix product: cblas_dgemm, except where a side is 1.
 *
 * dgemm packs both operands into cache-sized panels before multiplying.
 * For a product with a vector side (a layer with one output, its gradient)
 * the packing copies the whole big matrix to use each element once, and
 * costs more than the product: on 13509×64 · 64×1 and its transpose,
 * dgemm took 2.5–3.3 times as long as dgemv (OpenBLAS 0.3.21, one thread).
 * So a vector side goes to dgemv, one pass over the matrix, and an outer
 * product (k = 1) to a loop that writes C once. */
#include "bp_private.h"

#include <cblas.h>

/* y (len entries, stride incy) = alpha·op(M)·x + beta·y, M rows×cols with
 * leading dimension ldm.  beta = 0 never reads y, as dgemm never reads C:
 * y may be a fresh buffer holding anything. */
static void gemv(int trans, int rows, int cols, double alpha, const double *M, int ldm,
                 const double *x, int incx, double beta, double *y, int incy)
{
    if (beta == 0.0) {
        const int len = trans ? cols : rows;

        for (int i = 0; i < len; i++)
            y[(size_t)i * (size_t)incy] = 0.0;
        beta = 1.0;
    }
    cblas_dgemv(CblasRowMajor, trans ? CblasTrans : CblasNoTrans, rows, cols, alpha, M, ldm,
                x, incx, beta, y, incy);
}

/* C (m×n) = alpha·a·bᵀ + beta·C: a has m entries (stride inca), b has n
 * (stride incb). */
static void outer(int m, int n, double alpha, const double *a, int inca, const double *b,
                  int incb, double beta, double *C, int ldc)
{
    for (int i = 0; i < m; i++) {
        const double ai = alpha * a[(size_t)i * (size_t)inca];
        double *restrict c = C + (size_t)i * (size_t)ldc;

        if (beta == 0.0)
            for (int j = 0; j < n; j++)
                c[j] = ai * b[(size_t)j * (size_t)incb];
        else
            for (int j = 0; j < n; j++)
                c[j] = beta * c[j] + ai * b[(size_t)j * (size_t)incb];
    }
}

void bpi_gemm(int trans_a, int trans_b, int m, int n, int k, double alpha, const double *A,
              int lda, const double *B, int ldb, double beta, double *C, int ldc)
{
    if (m > 0 && n > 0 && k > 0) {
        if (k == 1) { /* op(A) is a column of m, op(B) a row of n */
            outer(m, n, alpha, A, trans_a ? 1 : lda, B, trans_b ? ldb : 1, beta, C, ldc);
            return;
        }
        if (n == 1) { /* C's column = op(A)·(op(B)'s column of k) */
            gemv(trans_a, trans_a ? k : m, trans_a ? m : k, alpha, A, lda, B, trans_b ? 1 : ldb,
                 beta, C, ldc);
            return;
        }
        if (m == 1) { /* C's row = op(B)ᵀ·(op(A)'s row of k) */
            gemv(!trans_b, trans_b ? n : k, trans_b ? k : n, alpha, B, ldb, A, trans_a ? lda : 1,
                 beta, C, 1);
            return;
        }
    }
    cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
