/* SPDX-License-Identifier: MIT */
/* Linear algebra on LAPACKE: solve, inv, cholesky, logdet, det, lstsq.
 *
 * LAPACK is called in column-major layout on buffers the op owns (the node's
 * scratch), never through LAPACKE's row-major path: that path allocates a
 * transposed copy of every argument on each call, and forward must not
 * allocate.  A row-major n×n buffer read column-major is its transpose, so
 * each op either copies its input transposed into scratch, or uses the
 * transposed meaning directly (noted at each call).
 *
 * What forward keeps in scratch for backward:
 *   solve   LU factors of A and the pivots          work = n² + n·k, iwork = n
 *   inv     nothing: backward needs only A⁻¹ = out   work = max(n², 64n)
 *   det     LU factors, pivots and dgetrf's info     work = 2n², iwork = n + 1
 *   cholesky nothing: backward needs only L = out    work = n²
 *   logdet  the Cholesky factor                      work = 2n²
 *   lstsq   the QR factors of A (R is read back)     work = mn + 2mk + nk + lwork, iwork = n
 */
#include "kernels.h"

#include <cblas.h>
#include <float.h>
#include <lapacke.h>
#include <math.h>
#include <string.h>

/* iwork is int *; the pivots LAPACK writes there are lapack_int. */
_Static_assert(sizeof(lapack_int) == sizeof(int), "lapack_int must be int (LP64 LAPACKE)");

/* Workspace for dgetri and dgels, in block sizes: LAPACK's optimal lwork is
 * n·NB with NB from ilaenv (32 or 64 for these routines in reference LAPACK
 * and OpenBLAS); 64 is a safe bound that avoids a workspace query. */
#define LWORK_BLOCK 64

/* ---- helpers ---- */

/* a·b fits a LAPACK int, so that index arithmetic such as lda·n inside a
 * 32-bit-integer LAPACK cannot overflow.  Implies both fit size_t. */
static int fits_int_prod(size_t a, size_t b)
{
    return bpi_fits_int(a) && bpi_fits_int(b) && (b == 0 || a <= (size_t)INT32_MAX / b);
}

static void transpose_square_in_place(double *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            double t = a[i * n + j];
            a[i * n + j] = a[j * n + i];
            a[j * n + i] = t;
        }
}

static int all_finite(const double *x, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (!isfinite(x[i]))
            return 0;
    return 1;
}

static bp_status need_square(bp_op_args *a, const char *what)
{
    const bp_matrix *A = a->in[0];

    if (A->rows != A->cols)
        return bp_op_fail(a, BP_EDIM, "%s must be square, given %zux%zu", what,
                          A->rows, A->cols);
    if (!fits_int_prod(A->rows, A->rows))
        return bp_op_fail(a, BP_EDIM, "%s (%zux%zu) too large for LAPACK's 32-bit integers",
                          what, A->rows, A->cols);
    return BP_OK;
}

/* A negative info is a bad argument: a bug here, not the caller's data. */
static bp_status lapack_bad_arg(bp_op_args *a, const char *routine, lapack_int info)
{
    return bp_op_fail(a, BP_EINVAL, "%s: argument %d had an illegal value (info %d)",
                      routine, (int)-info, (int)info);
}

/* dgesv / dgetrf's info > 0. */
static bp_status lu_singular(bp_op_args *a, const char *routine, lapack_int info)
{
    size_t n = a->in[0]->rows;
    return bp_op_fail(a, BP_ESINGULAR,
                      "%s: U(%d,%d) is exactly zero (info %d), matrix A (%zux%zu) is singular",
                      routine, (int)info, (int)info, (int)info, n, n);
}

/* dpotrf's info > 0. */
static bp_status not_spd(bp_op_args *a, lapack_int info)
{
    size_t n = a->in[0]->rows;
    return bp_op_fail(a, BP_ESINGULAR,
                      "dpotrf: the leading minor of order %d is not positive (info %d), "
                      "matrix A (%zux%zu) is not positive definite",
                      (int)info, (int)info, n, n);
}

/* A finite input can still give Inf/NaN (a pivot of 1e-320); say so rather
 * than pass the matrix on. */
static bp_status not_finite(bp_op_args *a, const char *routine)
{
    return bp_op_fail(a, BP_ENUMERIC,
                      "%s: result is not finite (A numerically singular, or an input not finite)",
                      routine);
}

/* Copies the Cholesky factor of the row-major SPD n×n matrix A into f and
 * factors it.  f read column-major is Aᵀ = A, and dpotrf 'U' there reads and
 * writes the column-major upper triangle, which is the row-major lower one:
 * afterwards the row-major lower triangle of f holds L with L·Lᵀ = A.  Only
 * A's lower triangle is read. */
static lapack_int cholesky_factor(const bp_matrix *A, double *f)
{
    size_t n = A->rows;
    memcpy(f, A->data, n * n * sizeof(double));
    return LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, 'U', (lapack_int)n, f, (lapack_int)n);
}

/* ---- solve: X = A⁻¹B ---- */

static bp_status solve_shape(bp_op_args *a)
{
    const bp_matrix *A = a->in[0], *B = a->in[1];
    bp_status st = need_square(a, "A");

    if (st != BP_OK)
        return st;
    if (B->rows != A->rows)
        return bp_op_fail(a, BP_EDIM, "B has %zu rows, A is %zux%zu (given %zux%zu, %zux%zu)",
                          B->rows, A->rows, A->cols, A->rows, A->cols, B->rows, B->cols);
    if (!fits_int_prod(B->rows, B->cols))
        return bp_op_fail(a, BP_EDIM, "B (%zux%zu) too large for LAPACK's 32-bit integers",
                          B->rows, B->cols);
    a->out->rows = A->rows;
    a->out->cols = B->cols;
    a->n_work = A->rows * A->rows + B->rows * B->cols;   /* both ≤ INT32_MAX */
    a->n_iwork = A->rows;
    return BP_OK;
}

static bp_status solve_forward(bp_op_args *a)
{
    const bp_matrix *A = a->in[0], *B = a->in[1];
    size_t n = A->rows, k = B->cols;
    double *lu = a->work, *t = a->work + n * n;
    lapack_int info;

    /* Column-major copies of A and B; lu becomes A's LU factors (kept). */
    bpi_transpose_into(A->data, n, n, lu);
    bpi_transpose_into(B->data, n, k, t);
    info = LAPACKE_dgesv_work(LAPACK_COL_MAJOR, (lapack_int)n, (lapack_int)k, lu,
                              (lapack_int)n, a->iwork, t, (lapack_int)n);
    if (info < 0)
        return lapack_bad_arg(a, "dgesv", info);
    if (info > 0)
        return lu_singular(a, "dgesv", info);
    /* t is X column-major, i.e. Xᵀ row-major (k×n). */
    bpi_transpose_into(t, k, n, a->out->data);
    if (!all_finite(a->out->data, n * k))
        return not_finite(a, "dgesv");
    return BP_OK;
}

static bp_status solve_backward(bp_op_args *a)
{
    const bp_matrix *X = a->out, *G = a->dout;
    bp_matrix *dA = a->din[0], *dB = a->din[1];
    size_t n = X->rows, k = X->cols;
    double *lu = a->work, *y = a->work + n * n;
    lapack_int info;

    if (!dA && !dB)
        return BP_OK;
    /* Y = A⁻ᵀG from the kept LU factors of A (column-major). */
    bpi_transpose_into(G->data, n, k, y);
    info = LAPACKE_dgetrs_work(LAPACK_COL_MAJOR, 'T', (lapack_int)n, (lapack_int)k, lu,
                               (lapack_int)n, a->iwork, y, (lapack_int)n);
    if (info < 0)
        return lapack_bad_arg(a, "dgetrs", info);
    /* y holds Y column-major, i.e. Yᵀ row-major (k×n). */
    if (dB) /* dB += Y */
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < k; j++)
                dB->data[i * k + j] += y[j * n + i];
    if (dA) /* dA += −Y·Xᵀ  (n×k · k×n) */
        bpi_gemm(1, 1, (int)n, (int)n, (int)k,
                 -1.0, y, (int)n, X->data, (int)k, 1.0, dA->data, (int)n);
    return BP_OK;
}

const bp_op bpi_op_solve = {
    .name = "solve",
    .doc = "A⁻¹B: (n×n)·(n×k) → n×k, on LAPACK dgesv (LU with partial pivoting)",
    .n_in = 2,
    .shape = solve_shape,
    .forward = solve_forward,
    .backward = solve_backward,
    .domain = {{.kind = BP_DOMAIN_INVERTIBLE}, {.kind = BP_DOMAIN_REAL}},
    .linear = 2u,
};

bp_node *bp_solve(bp_graph *g, bp_node *a, bp_node *b)
{
    return bpi_apply2(g, &bpi_op_solve, a, b);
}

/* ---- inv: A⁻¹ ---- */

static bp_status inv_shape(bp_op_args *a)
{
    size_t n = a->in[0]->rows;
    bp_status st = need_square(a, "A");

    if (st != BP_OK)
        return st;
    if (!fits_int_prod(n, LWORK_BLOCK))
        return bp_op_fail(a, BP_EDIM, "A (%zux%zu) too large for dgetri's workspace", n, n);
    a->out->rows = n;
    a->out->cols = n;
    /* forward: dgetri's workspace; backward: an n×n product. */
    a->n_work = n * n > LWORK_BLOCK * n ? n * n : LWORK_BLOCK * n;
    a->n_iwork = n;
    return BP_OK;
}

static bp_status inv_forward(bp_op_args *a)
{
    const bp_matrix *A = a->in[0];
    size_t n = A->rows;
    double *inv = a->out->data;
    lapack_int info;

    /* Factor A itself (not Aᵀ) so info's index is that of A's LU, as in
     * solve and det. */
    bpi_transpose_into(A->data, n, n, inv);
    info = LAPACKE_dgetrf_work(LAPACK_COL_MAJOR, (lapack_int)n, (lapack_int)n, inv,
                               (lapack_int)n, a->iwork);
    if (info < 0)
        return lapack_bad_arg(a, "dgetrf", info);
    if (info > 0)
        return lu_singular(a, "dgetrf", info);
    info = LAPACKE_dgetri_work(LAPACK_COL_MAJOR, (lapack_int)n, inv, (lapack_int)n,
                               a->iwork, a->work, (lapack_int)(LWORK_BLOCK * n));
    if (info < 0)
        return lapack_bad_arg(a, "dgetri", info);
    if (info > 0)
        return lu_singular(a, "dgetri", info);
    transpose_square_in_place(inv, n);   /* column-major A⁻¹ to row-major */
    if (!all_finite(inv, n * n))
        return not_finite(a, "dgetri");
    return BP_OK;
}

static bp_status inv_backward(bp_op_args *a)
{
    const bp_matrix *Y = a->out, *G = a->dout;   /* Y = A⁻¹ */
    bp_matrix *dA = a->din[0];
    int n = (int)Y->rows;
    double *t = a->work;

    if (!dA)
        return BP_OK;
    /* t = Yᵀ·G, then dA += −t·Yᵀ, i.e. dA += −A⁻ᵀ G A⁻ᵀ */
    bpi_gemm(1, 0, n, n, n, 1.0, Y->data, n, G->data, n, 0.0, t, n);
    bpi_gemm(0, 1, n, n, n, -1.0, t, n, Y->data, n, 1.0, dA->data, n);
    return BP_OK;
}

const bp_op bpi_op_inv = {
    .name = "inv",
    .doc = "A⁻¹: n×n → n×n, on LAPACK dgetrf + dgetri",
    .n_in = 1,
    .shape = inv_shape,
    .forward = inv_forward,
    .backward = inv_backward,
    .domain = {{.kind = BP_DOMAIN_INVERTIBLE}},
};

bp_node *bp_inv(bp_graph *g, bp_node *a)
{
    return bpi_apply1(g, &bpi_op_inv, a, NULL);
}

/* ---- det ---- */

static bp_status det_shape(bp_op_args *a)
{
    size_t n = a->in[0]->rows;
    bp_status st = need_square(a, "A");

    if (st != BP_OK)
        return st;
    a->out->rows = 1;
    a->out->cols = 1;
    a->n_work = 2 * n * n;   /* LU factors; A⁻ᵀ in backward.  n² ≤ INT32_MAX */
    a->n_iwork = n + 1;      /* pivots; dgetrf's info */
    return BP_OK;
}

static bp_status det_forward(bp_op_args *a)
{
    const bp_matrix *A = a->in[0];
    size_t n = A->rows;
    double *lu = a->work, m = 1.0;
    long e = 0;
    int neg = 0;
    lapack_int info;

    bpi_transpose_into(A->data, n, n, lu);
    info = LAPACKE_dgetrf_work(LAPACK_COL_MAJOR, (lapack_int)n, (lapack_int)n, lu,
                               (lapack_int)n, a->iwork);
    if (info < 0)
        return lapack_bad_arg(a, "dgetrf", info);
    /* info > 0: U(info,info) is exactly zero; the factorisation is complete
     * and det(A) = 0 exactly, a value, not an error.  Backward needs to know. */
    a->iwork[n] = (int)info;
    /* det = ±Π U(i,i), the sign flipping at each row interchange.  The
     * product is kept as mantissa · 2^e so that it overflows only if the
     * determinant itself does. */
    for (size_t i = 0; i < n; i++) {
        int ei;
        m = frexp(m * lu[i * n + i], &ei);
        e += ei;
        if (a->iwork[i] != (int)i + 1)
            neg = !neg;
    }
    if (e > INT32_MAX)
        e = INT32_MAX;
    if (e < -INT32_MAX)
        e = -INT32_MAX;
    a->out->data[0] = ldexp(neg ? -m : m, (int)e);
    if (!isfinite(a->out->data[0]))
        return bp_op_fail(a, BP_ENUMERIC,
                          "dgetrf: det(A) of the %zux%zu matrix A is not finite "
                          "(overflow, or an input not finite); logdet does not overflow",
                          n, n);
    return BP_OK;
}

static bp_status det_backward(bp_op_args *a)
{
    bp_matrix *dA = a->din[0];
    size_t n = a->in[0]->rows;
    double *lu = a->work, *z = a->work + n * n;
    double c = a->dout->data[0] * a->out->data[0];
    lapack_int info;

    if (!dA)
        return BP_OK;
    if (n == 1) { /* d det/dA = 1, even at A = 0 */
        dA->data[0] += a->dout->data[0];
        return BP_OK;
    }
    if (a->iwork[n] > 0)
        return bp_op_fail(a, BP_ESINGULAR,
                          "dgetrf: U(%d,%d) is exactly zero (info %d), so det(A) = 0; its "
                          "gradient (the cofactor matrix) is not computed for a singular A",
                          a->iwork[n], a->iwork[n], a->iwork[n]);
    /* z = A⁻¹ column-major (A·Z = I from the kept LU of A), which read
     * row-major is A⁻ᵀ. */
    memset(z, 0, n * n * sizeof(double));
    for (size_t i = 0; i < n; i++)
        z[i * n + i] = 1.0;
    info = LAPACKE_dgetrs_work(LAPACK_COL_MAJOR, 'N', (lapack_int)n, (lapack_int)n, lu,
                               (lapack_int)n, a->iwork, z, (lapack_int)n);
    if (info < 0)
        return lapack_bad_arg(a, "dgetrs", info);
    /* dA += G·det(A)·A⁻ᵀ */
    for (size_t i = 0; i < n * n; i++)
        dA->data[i] += c * z[i];
    return BP_OK;
}

const bp_op bpi_op_det = {
    .name = "det",
    .doc = "det(A): n×n → 1×1, on LAPACK dgetrf (product of U's diagonal, sign from the pivots)",
    .n_in = 1,
    .shape = det_shape,
    .forward = det_forward,
    .backward = det_backward,
    .domain = {{.kind = BP_DOMAIN_INVERTIBLE}},
};

bp_node *bp_det(bp_graph *g, bp_node *a)
{
    return bpi_apply1(g, &bpi_op_det, a, NULL);
}

/* ---- cholesky: L with L·Lᵀ = A ---- */

static bp_status cholesky_shape(bp_op_args *a)
{
    size_t n = a->in[0]->rows;
    bp_status st = need_square(a, "A");

    if (st != BP_OK)
        return st;
    a->out->rows = n;
    a->out->cols = n;
    a->n_work = n * n;   /* backward's n×n intermediate */
    return BP_OK;
}

static bp_status cholesky_forward(bp_op_args *a)
{
    double *L = a->out->data;
    size_t n = a->in[0]->rows;
    lapack_int info = cholesky_factor(a->in[0], L);

    if (info < 0)
        return lapack_bad_arg(a, "dpotrf", info);
    if (info > 0)
        return not_spd(a, info);
    for (size_t i = 0; i < n; i++)   /* the strict upper triangle still holds A's */
        for (size_t j = i + 1; j < n; j++)
            L[i * n + j] = 0.0;
    if (!all_finite(L, n * n))
        return not_finite(a, "dpotrf");
    return BP_OK;
}

/* Murray (2016), "Differentiation of the Cholesky decomposition", as in
 * PyTorch's cholesky_backward:
 *   dA = sym(L⁻ᵀ Φ(Lᵀ·tril(G)) L⁻¹),  Φ = lower triangle, diagonal halved.
 * The result is symmetric: the gradient with respect to a symmetric A, whose
 * symmetric perturbation E changes the output by ⟨dA, E⟩. */
static bp_status cholesky_backward(bp_op_args *a)
{
    const bp_matrix *L = a->out, *G = a->dout;
    bp_matrix *dA = a->din[0];
    size_t n = L->rows;
    int ni = (int)n;
    double *t = a->work;

    if (!dA)
        return BP_OK;
    /* t = tril(G): L's upper triangle is structurally zero */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            t[i * n + j] = j <= i ? G->data[i * n + j] : 0.0;
    /* t = Lᵀ·t */
    cblas_dtrmm(CblasRowMajor, CblasLeft, CblasLower, CblasTrans, CblasNonUnit, ni, ni,
                1.0, L->data, ni, t, ni);
    /* t = sym(Φ(t)) = ½(tril(t) + tril(t,−1)ᵀ) */
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < i; j++)
            t[j * n + i] = t[i * n + j] = 0.5 * t[i * n + j];
        t[i * n + i] *= 0.5;
    }
    /* t = L⁻ᵀ·t, then t = t·L⁻¹ */
    cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasTrans, CblasNonUnit, ni, ni,
                1.0, L->data, ni, t, ni);
    cblas_dtrsm(CblasRowMajor, CblasRight, CblasLower, CblasNoTrans, CblasNonUnit, ni, ni,
                1.0, L->data, ni, t, ni);
    /* dA += ½(t + tᵀ): t is symmetric up to rounding; make it exactly so */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            dA->data[i * n + j] += 0.5 * (t[i * n + j] + t[j * n + i]);
    return BP_OK;
}

const bp_op bpi_op_cholesky = {
    .name = "cholesky",
    .doc = "L, lower triangular with L·Lᵀ = A, for SPD A: n×n → n×n, on LAPACK dpotrf "
           "(reads A's lower triangle; dA symmetric)",
    .n_in = 1,
    .shape = cholesky_shape,
    .forward = cholesky_forward,
    .backward = cholesky_backward,
    .domain = {{.kind = BP_DOMAIN_SPD}},
};

bp_node *bp_cholesky(bp_graph *g, bp_node *a)
{
    return bpi_apply1(g, &bpi_op_cholesky, a, NULL);
}

/* ---- logdet: log det A for SPD A ---- */

static bp_status logdet_shape(bp_op_args *a)
{
    size_t n = a->in[0]->rows;
    bp_status st = need_square(a, "A");

    if (st != BP_OK)
        return st;
    a->out->rows = 1;
    a->out->cols = 1;
    a->n_work = 2 * n * n;   /* the Cholesky factor (kept); A⁻¹ in backward */
    return BP_OK;
}

static bp_status logdet_forward(bp_op_args *a)
{
    size_t n = a->in[0]->rows;
    double *f = a->work, s = 0.0;
    lapack_int info = cholesky_factor(a->in[0], f);

    if (info < 0)
        return lapack_bad_arg(a, "dpotrf", info);
    if (info > 0)
        return not_spd(a, info);
    /* log det A = log det(L)² = 2 Σ log L(i,i) */
    for (size_t i = 0; i < n; i++)
        s += log(f[i * n + i]);
    a->out->data[0] = 2.0 * s;
    if (!isfinite(a->out->data[0]))
        return not_finite(a, "dpotrf");
    return BP_OK;
}

static bp_status logdet_backward(bp_op_args *a)
{
    bp_matrix *dA = a->din[0];
    size_t n = a->in[0]->rows;
    double *f = a->work, *z = a->work + n * n, g = a->dout->data[0];
    lapack_int info;

    if (!dA)
        return BP_OK;
    /* z = A⁻¹ from the kept factor, on a copy so that a second backward
     * still finds it; dpotri fills the row-major lower triangle. */
    memcpy(z, f, n * n * sizeof(double));
    info = LAPACKE_dpotri_work(LAPACK_COL_MAJOR, 'U', (lapack_int)n, z, (lapack_int)n);
    if (info < 0)
        return lapack_bad_arg(a, "dpotri", info);
    if (info > 0)
        return bp_op_fail(a, BP_ESINGULAR, "dpotri: L(%d,%d) is exactly zero (info %d)",
                          (int)info, (int)info, (int)info);
    /* dA += G·A⁻¹ (symmetric) */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            dA->data[i * n + j] += g * (j <= i ? z[i * n + j] : z[j * n + i]);
    return BP_OK;
}

const bp_op bpi_op_logdet = {
    .name = "logdet",
    .doc = "log det A for SPD A: n×n → 1×1, 2·Σ log L(i,i) on LAPACK dpotrf "
           "(reads A's lower triangle; dA = A⁻¹, symmetric)",
    .n_in = 1,
    .shape = logdet_shape,
    .forward = logdet_forward,
    .backward = logdet_backward,
    .domain = {{.kind = BP_DOMAIN_SPD}},
};

bp_node *bp_logdet(bp_graph *g, bp_node *a)
{
    return bpi_apply1(g, &bpi_op_logdet, a, NULL);
}

/* ---- lstsq: X = argmin ‖A·X − B‖, A m×n of full column rank, m ≥ n ---- */

/* The smallest reciprocal condition number (1-norm) of R that lstsq
 * accepts: below m·eps, the rounding of A alone can change X's digits
 * entirely. */
#define LSTSQ_RCOND_MIN(m) ((double)(m) * DBL_EPSILON)

/* Scratch layout: qr (m·n) | bc (m·k) | y (n·k) | ay (m·k) | dgels' work. */
static size_t lstsq_lwork(size_t n, size_t k)
{
    return n + (n > k ? n : k) * LWORK_BLOCK;
}

static bp_status lstsq_shape(bp_op_args *a)
{
    const bp_matrix *A = a->in[0], *B = a->in[1];
    size_t m = A->rows, n = A->cols, k = B->cols;

    if (m < n)
        return bp_op_fail(a, BP_EDIM, "A is %zux%zu; needs at least as many rows as columns "
                          "(an overdetermined or square system of full column rank)", m, n);
    if (B->rows != m)
        return bp_op_fail(a, BP_EDIM, "B has %zu rows, A has %zu (given %zux%zu, %zux%zu)",
                          B->rows, m, m, n, B->rows, k);
    if (!fits_int_prod(m, n) || !fits_int_prod(m, k) ||
        !fits_int_prod(n > k ? n : k, LWORK_BLOCK + 1))
        return bp_op_fail(a, BP_EDIM, "A (%zux%zu) or B (%zux%zu) too large for LAPACK's "
                          "32-bit integers", m, n, B->rows, k);
    a->out->rows = n;
    a->out->cols = k;
    a->n_iwork = n;   /* dtrcon's */
    {
        /* Each term ≤ INT32_MAX; their sum fits a 64-bit size_t, and on a
         * 32-bit one the check below catches the wrap. */
        size_t parts[5] = {m * n, m * k, n * k, m * k, lstsq_lwork(n, k)}, total = 0;
        for (size_t i = 0; i < 5; i++) {
            if (total + parts[i] < total)
                return bp_op_fail(a, BP_EDIM, "scratch for A (%zux%zu), B (%zux%zu) overflows",
                                  m, n, m, k);
            total += parts[i];
        }
        a->n_work = total;
    }
    return BP_OK;
}

static bp_status lstsq_forward(bp_op_args *a)
{
    const bp_matrix *A = a->in[0], *B = a->in[1];
    size_t m = A->rows, n = A->cols, k = B->cols;
    double *qr = a->work, *bc = qr + m * n, *lw = bc + 2 * m * k + n * k, rcond = 0.0;
    lapack_int info;

    /* Column-major copies, ld m; qr becomes A's QR factors (kept). */
    bpi_transpose_into(A->data, m, n, qr);
    bpi_transpose_into(B->data, m, k, bc);
    info = LAPACKE_dgels_work(LAPACK_COL_MAJOR, 'N', (lapack_int)m, (lapack_int)n,
                              (lapack_int)k, qr, (lapack_int)m, bc, (lapack_int)m, lw,
                              (lapack_int)lstsq_lwork(n, k));
    if (info < 0)
        return lapack_bad_arg(a, "dgels", info);
    if (info > 0)
        return bp_op_fail(a, BP_ESINGULAR,
                          "dgels: R(%d,%d) is exactly zero (info %d), matrix A (%zux%zu) "
                          "does not have full column rank", (int)info, (int)info, (int)info,
                          m, n);
    /* A numerically rank-deficient A leaves a tiny R(i,i) rather than an
     * exact 0, and X then grows like 1/R(i,i) (two equal columns give
     * ±1e14): refuse it by R's condition number (dtrcon reuses dgels' work,
     * which holds at least 3n). */
    info = LAPACKE_dtrcon_work(LAPACK_COL_MAJOR, '1', 'U', 'N', (lapack_int)n, qr,
                               (lapack_int)m, &rcond, lw, a->iwork);
    if (info < 0)
        return lapack_bad_arg(a, "dtrcon", info);
    if (!(rcond >= LSTSQ_RCOND_MIN(m)))
        return bp_op_fail(a, BP_ESINGULAR,
                          "dtrcon: R's reciprocal condition number %.3g is below %.3g "
                          "(m·eps), matrix A (%zux%zu) is numerically rank deficient",
                          rcond, LSTSQ_RCOND_MIN(m), m, n);
    /* X is the first n rows of bc (column-major, ld m). */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < k; j++)
            a->out->data[i * k + j] = bc[j * m + i];
    if (!all_finite(a->out->data, n * k))
        return not_finite(a, "dgels");
    return BP_OK;
}

/* X = (AᵀA)⁻¹AᵀB with residual r = B − A·X.  With Y = (AᵀA)⁻¹G:
 *   dB = A·Y,   dA = r·Yᵀ − A·Y·Xᵀ.
 * (For square A, r = 0 and A·Y = A⁻ᵀG: solve's gradients.)  AᵀA = RᵀR from
 * the kept QR factors, so Y costs two triangular solves. */
static bp_status lstsq_backward(bp_op_args *a)
{
    const bp_matrix *A = a->in[0], *B = a->in[1], *X = a->out, *G = a->dout;
    bp_matrix *dA = a->din[0], *dB = a->din[1];
    int m = (int)A->rows, n = (int)A->cols, k = (int)B->cols;
    double *qr = a->work, *r = qr + (size_t)m * n, *y = r + (size_t)m * k;
    double *ay = y + (size_t)n * k;

    if (!dA && !dB)
        return BP_OK;
    /* qr read row-major (n×m, ld m) has Rᵀ as its leading lower triangle. */
    memcpy(y, G->data, (size_t)n * k * sizeof(double));
    /* y = R⁻ᵀ·G, then y = R⁻¹·y */
    cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, n, k,
                1.0, qr, m, y, k);
    cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasTrans, CblasNonUnit, n, k,
                1.0, qr, m, y, k);
    /* ay = A·Y  (m×n · n×k) */
    bpi_gemm(0, 0, m, k, n, 1.0, A->data, n, y, k, 0.0, ay, k);
    if (dB) /* dB += A·Y */
        for (size_t i = 0; i < (size_t)m * k; i++)
            dB->data[i] += ay[i];
    if (dA) {
        /* r = B − A·X */
        memcpy(r, B->data, (size_t)m * k * sizeof(double));
        bpi_gemm(0, 0, m, k, n, -1.0, A->data, n, X->data, k, 1.0, r, k);
        /* dA += r·Yᵀ  (m×k · k×n) */
        bpi_gemm(0, 1, m, n, k, 1.0, r, k, y, k, 1.0, dA->data, n);
        /* dA += −(A·Y)·Xᵀ  (m×k · k×n) */
        bpi_gemm(0, 1, m, n, k, -1.0, ay, k, X->data, k, 1.0, dA->data, n);
    }
    return BP_OK;
}

const bp_op bpi_op_lstsq = {
    .name = "lstsq",
    .doc = "argmin ‖A·X − B‖₂ for A of full column rank: (m×n, m ≥ n)·(m×k) → n×k, "
           "on LAPACK dgels (QR)",
    .n_in = 2,
    .shape = lstsq_shape,
    .forward = lstsq_forward,
    .backward = lstsq_backward,
    /* well-conditioned: a random square A is too often nearly singular for
     * finite differences to be meaningful */
    .domain = {{.kind = BP_DOMAIN_INVERTIBLE}, {.kind = BP_DOMAIN_REAL}},
    .linear = 2u,
};

bp_node *bp_lstsq(bp_graph *g, bp_node *a, bp_node *b)
{
    return bpi_apply2(g, &bpi_op_lstsq, a, b);
}
