/* SPDX-License-Identifier: MIT */
/* Linear-algebra ops: solve, inv, cholesky, logdet, det, lstsq.
 *
 * Forward values are compared with computations written here (triple-loop
 * products, Gaussian elimination, a cofactor expansion), gradients with this
 * file's own central differences, and every error path is provoked. */
#include "bpgraph.h"
#include "test_util.h"

#include <check.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Finite-difference tolerance: |a − n| ≤ FD_ATOL + FD_RTOL·max(|a|, |n|).
 * With h = 1e-5·max(1, |x|) the central difference is good to ~1e-9
 * relative here; a wrong formula is off by O(1). */
#define FD_ATOL 1e-6
#define FD_RTOL 1e-5
#define TOL 1e-10   /* forward identities at these sizes */
#define TWO_PI 6.283185307179586

static const size_t sizes[] = {1, 2, 5, 32};
#define N_SIZES (sizeof sizes / sizeof sizes[0])

/* ---- helpers: data ---- */

static bp_rng rng;   /* seeded in main */

static double urand(void)   /* uniform in [-1, 1) */
{
    return tu_uniform(&rng, -1.0, 1.0);
}

static void fill_random(double *a, size_t count)
{
    for (size_t i = 0; i < count; i++)
        a[i] = urand();
}

/* Well-conditioned: entries of spread 1/√n, plus 1.5 on the diagonal, so the
 * eigenvalues lie near 1.5 ± 0.6. */
static void fill_invertible(double *a, size_t n)
{
    for (size_t i = 0; i < n * n; i++)
        a[i] = urand() / sqrt((double)n);
    for (size_t i = 0; i < n; i++)
        a[i * n + i] += 1.5;
}

/* SPD: M·Mᵀ/n + 0.5·I. */
static void fill_spd(double *a, size_t n)
{
    double *m = malloc(n * n * sizeof *m);
    ck_assert_ptr_nonnull(m);
    fill_random(m, n * n);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double s = 0.0;
            for (size_t t = 0; t < n; t++)
                s += m[i * n + t] * m[j * n + t];
            a[i * n + j] = s / (double)n + (i == j ? 0.5 : 0.0);
        }
    free(m);
}

/* c (m×n) = a (m×k) · b (k×n), the plain way. */
static void naive_matmul(const double *a, const double *b, double *c, size_t m, size_t k,
                         size_t n)
{
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double s = 0.0;
            for (size_t t = 0; t < k; t++)
                s += a[i * k + t] * b[t * n + j];
            c[i * n + j] = s;
        }
}

/* det(a) by Gaussian elimination with partial pivoting, on a copy. */
static double naive_det(const double *a, size_t n)
{
    double *u = malloc(n * n * sizeof *u), det = 1.0;
    ck_assert_ptr_nonnull(u);
    memcpy(u, a, n * n * sizeof *u);
    for (size_t c = 0; c < n; c++) {
        size_t p = c;
        for (size_t r = c + 1; r < n; r++)
            if (fabs(u[r * n + c]) > fabs(u[p * n + c]))
                p = r;
        if (p != c) {
            for (size_t j = 0; j < n; j++) {
                double t = u[c * n + j];
                u[c * n + j] = u[p * n + j];
                u[p * n + j] = t;
            }
            det = -det;
        }
        det *= u[c * n + c];
        for (size_t r = c + 1; r < n; r++) {
            double f = u[r * n + c] / u[c * n + c];
            for (size_t j = c; j < n; j++)
                u[r * n + j] -= f * u[c * n + j];
        }
    }
    free(u);
    return det;
}

static bp_matrix *mat(size_t rows, size_t cols, const double *data)
{
    bp_matrix *m = bp_matrix_alloc(rows, cols);
    ck_assert_ptr_nonnull(m);
    if (data)
        memcpy(m->data, data, rows * cols * sizeof(double));
    return m;
}

static bp_node *param_with(bp_graph *g, size_t rows, size_t cols, const double *data)
{
    bp_node *p = bp_param(g, rows, cols, NULL);
    ck_assert_ptr_nonnull(p);
    memcpy(bp_node_value(p)->data, data, rows * cols * sizeof(double));
    return p;
}

/* sum(W ⊙ out) with W random: a plain sum would hide some errors. */
static bp_node *weighted_sum(bp_graph *g, bp_node *out)
{
    size_t r = bp_node_rows(out), c = bp_node_cols(out);
    double *w = malloc(r * c * sizeof *w);
    bp_node *wn, *loss;

    ck_assert_ptr_nonnull(w);
    for (size_t i = 0; i < r * c; i++)
        w[i] = 0.5 + urand();
    wn = bp_constant(g, r, c, w, "W");
    free(w);
    loss = bp_sum(g, bp_mul(g, out, wn));
    ck_assert_ptr_nonnull(loss);
    return loss;
}

static double loss_at(bp_graph *g, bp_node *loss)
{
    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    return bp_node_value(loss)->data[0];
}

/* Checks the gradient of the scalar loss with respect to param p against
 * central differences.  sym: p is symmetric and is moved symmetrically,
 * p(i,j) and p(j,i) together, which changes the loss by
 * (dp(i,j) + dp(j,i))·h — the documented convention; dp must then also be
 * symmetric.  Also checks that backward accumulates into p. */
static void check_grad(bp_graph *g, bp_node *loss, bp_node *p, int sym, const char *what)
{
    bp_matrix *x = bp_node_value(p), *ga;
    size_t r = x->rows, c = x->cols;

    bp_zero_grad(g);
    loss_at(g, loss);
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
    ga = bp_matrix_copy(bp_node_grad(p));
    ck_assert_ptr_nonnull(ga);

    /* A second backward adds the same again. */
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
    for (size_t i = 0; i < r * c; i++)
        ck_assert_msg(fabs(bp_node_grad(p)->data[i] - 2.0 * ga->data[i]) <=
                          1e-12 * (1.0 + fabs(ga->data[i])),
                      "%s: backward does not accumulate at %zu", what, i);

    for (size_t i = 0; i < r; i++) {
        for (size_t j = 0; j < (sym ? i + 1 : c); j++) {
            double x0 = x->data[i * c + j];
            double h = (x0 + 1e-5 * fmax(1.0, fabs(x0))) - x0;   /* exact step */
            double fp, fm, num, ana;

            x->data[i * c + j] = x0 + h;
            if (sym)
                x->data[j * c + i] = x0 + h;
            fp = loss_at(g, loss);
            x->data[i * c + j] = x0 - h;
            if (sym)
                x->data[j * c + i] = x0 - h;
            fm = loss_at(g, loss);
            x->data[i * c + j] = x0;
            if (sym)
                x->data[j * c + i] = x0;
            num = (fp - fm) / (2.0 * h);
            ana = ga->data[i * c + j];
            if (sym && i != j) {
                ck_assert_msg(fabs(ga->data[i * c + j] - ga->data[j * c + i]) <=
                                  1e-12 * (1.0 + fabs(ana)),
                              "%s: gradient not symmetric at (%zu,%zu): %.17g vs %.17g",
                              what, i, j, ga->data[i * c + j], ga->data[j * c + i]);
                ana += ga->data[j * c + i];
            }
            ck_assert_msg(fabs(ana - num) <= FD_ATOL + FD_RTOL * fmax(fabs(ana), fabs(num)),
                          "%s (%zux%zu) at (%zu,%zu): analytic %.12g, numeric %.12g",
                          what, r, c, i, j, ana, num);
        }
    }
    bp_matrix_free(ga);
}

static int contains(const char *s, const char *sub)
{
    return strstr(s, sub) != NULL;
}

/* ---- forward values ---- */

START_TEST(test_solve_forward)
{
    /* A hand-picked 3×3 with a zero leading entry (pivoting needed), B 3×2. */
    const double a[9] = {0.0, 2.385, -1.12, 1.73, 0.41, 0.96, -0.58, 1.27, 3.04};
    const double b[6] = {1.31, -0.27, 0.86, 2.45, -1.93, 0.72};
    bp_graph *g = bp_graph_new();
    bp_node *A = bp_constant(g, 3, 3, a, "A"), *B = bp_constant(g, 3, 2, b, "B");
    bp_node *X = bp_solve(g, A, B);
    double ax[6];

    ck_assert_ptr_nonnull(X);
    ck_assert_uint_eq(bp_node_rows(X), 3);
    ck_assert_uint_eq(bp_node_cols(X), 2);
    ck_assert_int_eq(bp_forward(g, X), BP_OK);
    naive_matmul(a, bp_node_value(X)->data, ax, 3, 3, 2);
    for (size_t i = 0; i < 6; i++)
        ck_assert_double_eq_tol(ax[i], b[i], TOL);
    bp_graph_free(g);
}
END_TEST

START_TEST(test_solve_forward_sizes)
{
    size_t n = sizes[_i], k = 3;
    double *a = malloc(n * n * sizeof *a), *b = malloc(n * k * sizeof *b);
    double *ax = malloc(n * k * sizeof *ax);
    bp_graph *g = bp_graph_new();
    bp_node *X;

    fill_invertible(a, n);
    fill_random(b, n * k);
    X = bp_solve(g, bp_constant(g, n, n, a, NULL), bp_constant(g, n, k, b, NULL));
    ck_assert_int_eq(bp_forward(g, X), BP_OK);
    naive_matmul(a, bp_node_value(X)->data, ax, n, n, k);
    for (size_t i = 0; i < n * k; i++)
        ck_assert_double_eq_tol(ax[i], b[i], TOL);
    free(a);
    free(b);
    free(ax);
    bp_graph_free(g);
}
END_TEST

START_TEST(test_inv_forward)
{
    size_t n = sizes[_i];
    double *a = malloc(n * n * sizeof *a), *p = malloc(n * n * sizeof *p);
    bp_graph *g = bp_graph_new();
    bp_node *Y;

    fill_invertible(a, n);
    Y = bp_inv(g, bp_constant(g, n, n, a, NULL));
    ck_assert_int_eq(bp_forward(g, Y), BP_OK);
    /* inv(A)·A ≈ I and A·inv(A) ≈ I */
    naive_matmul(bp_node_value(Y)->data, a, p, n, n, n);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            ck_assert_double_eq_tol(p[i * n + j], i == j ? 1.0 : 0.0, TOL);
    naive_matmul(a, bp_node_value(Y)->data, p, n, n, n);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            ck_assert_double_eq_tol(p[i * n + j], i == j ? 1.0 : 0.0, TOL);
    free(a);
    free(p);
    bp_graph_free(g);
}
END_TEST

START_TEST(test_cholesky_known)
{
    /* [[4.41, 1.26], [1.26, 2.25]] = L·Lᵀ with L = [[2.1, 0], [0.6, √1.89]] */
    const double a[4] = {4.41, 1.26, 1.26, 2.25};
    bp_graph *g = bp_graph_new();
    bp_node *L = bp_cholesky(g, bp_constant(g, 2, 2, a, NULL));
    const double *l;

    ck_assert_int_eq(bp_forward(g, L), BP_OK);
    l = bp_node_value(L)->data;
    ck_assert_double_eq_tol(l[0], 2.1, 1e-14);
    ck_assert_double_eq(l[1], 0.0);   /* upper triangle zeroed */
    ck_assert_double_eq_tol(l[2], 0.6, 1e-14);
    ck_assert_double_eq_tol(l[3], 1.374772708486752, 1e-14);
    bp_graph_free(g);
}
END_TEST

START_TEST(test_cholesky_forward)
{
    size_t n = sizes[_i];
    double *a = malloc(n * n * sizeof *a), *lt = calloc(n * n, sizeof *lt);
    double *p = malloc(n * n * sizeof *p);
    bp_graph *g = bp_graph_new();
    bp_node *L;
    const double *l;

    fill_spd(a, n);
    L = bp_cholesky(g, bp_constant(g, n, n, a, NULL));
    ck_assert_int_eq(bp_forward(g, L), BP_OK);
    l = bp_node_value(L)->data;
    for (size_t i = 0; i < n; i++) {
        ck_assert(l[i * n + i] > 0.0);
        for (size_t j = i + 1; j < n; j++)
            ck_assert_double_eq(l[i * n + j], 0.0);
    }
    /* L·Lᵀ ≈ A */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            lt[j * n + i] = l[i * n + j];
    naive_matmul(l, lt, p, n, n, n);
    for (size_t i = 0; i < n * n; i++)
        ck_assert_double_eq_tol(p[i], a[i], TOL);
    free(a);
    free(lt);
    free(p);
    bp_graph_free(g);
}
END_TEST

START_TEST(test_cholesky_reads_lower)
{
    /* The documented contract: only the lower triangle is read. */
    const double sym[4] = {4.41, 1.26, 1.26, 2.25};
    const double junk[4] = {4.41, -7.5, 1.26, 2.25};
    bp_graph *g = bp_graph_new();
    bp_node *L1 = bp_cholesky(g, bp_constant(g, 2, 2, sym, NULL));
    bp_node *L2 = bp_cholesky(g, bp_constant(g, 2, 2, junk, NULL));

    ck_assert_int_eq(bp_forward(g, L1), BP_OK);
    ck_assert_int_eq(bp_forward(g, L2), BP_OK);
    ck_assert_double_eq(bp_matrix_max_abs_diff(bp_node_value(L1), bp_node_value(L2)), 0.0);
    bp_graph_free(g);
}
END_TEST

START_TEST(test_logdet_forward)
{
    size_t n = sizes[_i];
    double *a = malloc(n * n * sizeof *a);
    bp_graph *g = bp_graph_new();
    bp_node *ld;

    fill_spd(a, n);
    ld = bp_logdet(g, bp_constant(g, n, n, a, NULL));
    ck_assert_int_eq(bp_forward(g, ld), BP_OK);
    /* logdet equals the log of a determinant by elimination */
    ck_assert_double_eq_tol(bp_node_value(ld)->data[0], log(naive_det(a, n)), 1e-10);
    free(a);
    bp_graph_free(g);
}
END_TEST

START_TEST(test_logdet_matches_det)
{
    const double a[4] = {4.41, 1.26, 1.26, 2.25};   /* det = 9.9225 − 1.5876 = 8.3349 */
    bp_graph *g = bp_graph_new();
    bp_node *A = bp_constant(g, 2, 2, a, NULL);
    bp_node *ld = bp_logdet(g, A), *d = bp_det(g, A);

    ck_assert_int_eq(bp_forward(g, ld), BP_OK);
    ck_assert_int_eq(bp_forward(g, d), BP_OK);
    ck_assert_double_eq_tol(bp_node_value(d)->data[0], 8.3349, 1e-13);
    ck_assert_double_eq_tol(bp_node_value(ld)->data[0], log(8.3349), 1e-13);
    bp_graph_free(g);
}
END_TEST

START_TEST(test_det_known)
{
    /* det by hand (cofactor expansion, exact in decimals): 19.534151 */
    const double a[9] = {2.385, -0.71, 1.2, 0.43, 3.1, -1.75, -0.9, 0.62, 1.87};
    const double s[4] = {0.0, 1.3, 2.7, 0.4};   /* needs a row swap: −3.51 */
    bp_graph *g = bp_graph_new();
    bp_node *d3 = bp_det(g, bp_constant(g, 3, 3, a, NULL));
    bp_node *d2 = bp_det(g, bp_constant(g, 2, 2, s, NULL));
    double cof = a[0] * (a[4] * a[8] - a[5] * a[7]) - a[1] * (a[3] * a[8] - a[5] * a[6]) +
                 a[2] * (a[3] * a[7] - a[4] * a[6]);

    ck_assert_int_eq(bp_forward(g, d3), BP_OK);
    ck_assert_int_eq(bp_forward(g, d2), BP_OK);
    ck_assert_double_eq_tol(bp_node_value(d3)->data[0], 19.534151, 1e-12);
    ck_assert_double_eq_tol(bp_node_value(d3)->data[0], cof, 1e-12);
    ck_assert_double_eq_tol(bp_node_value(d2)->data[0], -3.51, 1e-14);
    bp_graph_free(g);
}
END_TEST

START_TEST(test_det_forward)
{
    size_t n = sizes[_i];
    double *a = malloc(n * n * sizeof *a), want;
    bp_graph *g = bp_graph_new();
    bp_node *d;

    fill_invertible(a, n);
    if (n > 1) { /* swap two rows: the sign must follow */
        for (size_t j = 0; j < n; j++) {
            double t = a[j];
            a[j] = a[n + j];
            a[n + j] = t;
        }
    }
    want = naive_det(a, n);
    d = bp_det(g, bp_constant(g, n, n, a, NULL));
    ck_assert_int_eq(bp_forward(g, d), BP_OK);
    ck_assert_double_eq_tol(bp_node_value(d)->data[0], want, 1e-11 * fabs(want));
    free(a);
    bp_graph_free(g);
}
END_TEST

START_TEST(test_det_singular)
{
    /* Row 2 = 2·row 1 exactly: det is 0, a value, not an error; the
     * gradient is refused for n > 1, and is G for n = 1. */
    const double a[9] = {1.5, 2.25, 0.5, 3.0, 4.5, 1.0, 0.75, -1.25, 2.0};
    const double zero = 0.0;
    bp_graph *g = bp_graph_new();
    bp_node *A = param_with(g, 3, 3, a), *d = bp_det(g, A);
    bp_node *z = param_with(g, 1, 1, &zero), *dz = bp_det(g, z);

    ck_assert_int_eq(bp_forward(g, d), BP_OK);
    ck_assert_double_eq(bp_node_value(d)->data[0], 0.0);
    ck_assert_int_eq(bp_backward(g, d, NULL), BP_ESINGULAR);
    ck_assert(contains(bp_graph_message(g), "det"));
    ck_assert(contains(bp_graph_message(g), "dgetrf"));
    ck_assert(contains(bp_graph_message(g), "info 3"));
    bp_graph_clear_error(g);

    ck_assert_int_eq(bp_forward(g, dz), BP_OK);
    ck_assert_double_eq(bp_node_value(dz)->data[0], 0.0);
    ck_assert_int_eq(bp_backward(g, dz, NULL), BP_OK);
    ck_assert_double_eq(bp_node_grad(z)->data[0], 1.0);
    bp_graph_free(g);
}
END_TEST

START_TEST(test_lstsq_forward)
{
    /* Tall A: the normal equations Aᵀ(A·X − B) = 0 hold at the solution. */
    size_t n = sizes[_i], m = n + 3, k = 2;
    double *a = malloc(m * n * sizeof *a), *b = malloc(m * k * sizeof *b);
    double *r = malloc(m * k * sizeof *r);
    bp_graph *g = bp_graph_new();
    bp_node *X;
    const double *x;

    fill_invertible(a, n);
    fill_random(a + n * n, (m - n) * n);
    fill_random(b, m * k);
    X = bp_lstsq(g, bp_constant(g, m, n, a, NULL), bp_constant(g, m, k, b, NULL));
    ck_assert_ptr_nonnull(X);
    ck_assert_uint_eq(bp_node_rows(X), n);
    ck_assert_uint_eq(bp_node_cols(X), k);
    ck_assert_int_eq(bp_forward(g, X), BP_OK);
    x = bp_node_value(X)->data;
    naive_matmul(a, x, r, m, n, k);
    for (size_t i = 0; i < m * k; i++)
        r[i] -= b[i];
    for (size_t j = 0; j < n; j++)
        for (size_t c = 0; c < k; c++) {
            double s = 0.0;
            for (size_t i = 0; i < m; i++)
                s += a[i * n + j] * r[i * k + c];
            ck_assert_double_eq_tol(s, 0.0, TOL);
        }
    /* and the residual is not zero: the system really is overdetermined */
    {
        double rr = 0.0;
        for (size_t i = 0; i < m * k; i++)
            rr += r[i] * r[i];
        ck_assert(rr > 1e-3);
    }
    free(a);
    free(b);
    free(r);
    bp_graph_free(g);
}
END_TEST

START_TEST(test_lstsq_square_is_solve)
{
    const double a[9] = {2.385, -0.71, 1.2, 0.43, 3.1, -1.75, -0.9, 0.62, 1.87};
    const double b[3] = {0.37, -1.42, 2.06};
    bp_graph *g = bp_graph_new();
    bp_node *A = bp_constant(g, 3, 3, a, NULL), *B = bp_constant(g, 3, 1, b, NULL);
    bp_node *X1 = bp_lstsq(g, A, B), *X2 = bp_solve(g, A, B);
    double ax[3];

    ck_assert_int_eq(bp_forward(g, X1), BP_OK);
    ck_assert_int_eq(bp_forward(g, X2), BP_OK);
    naive_matmul(a, bp_node_value(X1)->data, ax, 3, 3, 1);
    for (size_t i = 0; i < 3; i++)
        ck_assert_double_eq_tol(ax[i], b[i], TOL);
    ck_assert(bp_matrix_max_abs_diff(bp_node_value(X1), bp_node_value(X2)) < TOL);
    bp_graph_free(g);
}
END_TEST

START_TEST(test_registry_has_ops)
{
    static const char *const names[] = {"solve", "inv", "cholesky", "logdet", "det", "lstsq"};
    bp_registry *reg = bp_registry_new();

    ck_assert_ptr_nonnull(reg);
    for (size_t i = 0; i < 6; i++) {
        const bp_op *op = bp_registry_find(reg, names[i]);
        ck_assert_msg(op != NULL, "%s not registered", names[i]);
        ck_assert_int_eq(bp_op_validate(op), BP_OK);
    }
    ck_assert_int_eq(bp_registry_find(reg, "solve")->domain[0].kind, BP_DOMAIN_INVERTIBLE);
    ck_assert_int_eq(bp_registry_find(reg, "inv")->domain[0].kind, BP_DOMAIN_INVERTIBLE);
    ck_assert_int_eq(bp_registry_find(reg, "det")->domain[0].kind, BP_DOMAIN_INVERTIBLE);
    ck_assert_int_eq(bp_registry_find(reg, "cholesky")->domain[0].kind, BP_DOMAIN_SPD);
    ck_assert_int_eq(bp_registry_find(reg, "logdet")->domain[0].kind, BP_DOMAIN_SPD);
    bp_registry_free(reg);
}
END_TEST

/* ---- errors ---- */

/* Row 2 = 2·row 1 exactly: with partial pivoting U(3,3) is exactly zero. */
static const double singular3[9] = {1.5, 2.25, 0.5, 3.0, 4.5, 1.0, 0.75, -1.25, 2.0};
/* Symmetric, indefinite: the leading minor of order 2 is negative. */
static const double indefinite2[4] = {1.2, 2.5, 2.5, 1.7};

START_TEST(test_solve_singular)
{
    const double b[3] = {1.1, 2.2, 3.3};
    bp_graph *g = bp_graph_new();
    bp_node *X = bp_solve(g, bp_constant(g, 3, 3, singular3, NULL), bp_constant(g, 3, 1, b, NULL));
    const char *msg;

    ck_assert_ptr_nonnull(X);
    ck_assert_int_eq(bp_forward(g, X), BP_ESINGULAR);
    ck_assert_int_eq(bp_graph_status(g), BP_ESINGULAR);
    msg = bp_graph_message(g);
    ck_assert_msg(contains(msg, "solve") && contains(msg, "dgesv") && contains(msg, "info 3") &&
                      contains(msg, "U(3,3)") && contains(msg, "singular"),
                  "message: %s", msg);
    bp_graph_free(g);
}
END_TEST

START_TEST(test_inv_singular)
{
    bp_graph *g = bp_graph_new();
    bp_node *Y = bp_inv(g, bp_constant(g, 3, 3, singular3, NULL));
    const char *msg;

    ck_assert_int_eq(bp_forward(g, Y), BP_ESINGULAR);
    msg = bp_graph_message(g);
    ck_assert_msg(contains(msg, "inv") && contains(msg, "dgetrf") && contains(msg, "info 3"),
                  "message: %s", msg);
    bp_graph_free(g);
}
END_TEST

START_TEST(test_not_spd)
{
    bp_graph *g = bp_graph_new();
    bp_node *A = bp_constant(g, 2, 2, indefinite2, NULL);
    bp_node *L = bp_cholesky(g, A), *ld = bp_logdet(g, A);
    const char *msg;

    ck_assert_int_eq(bp_forward(g, L), BP_ESINGULAR);
    msg = bp_graph_message(g);
    ck_assert_msg(contains(msg, "cholesky") && contains(msg, "dpotrf") && contains(msg, "info 2") &&
                      contains(msg, "not positive definite"),
                  "message: %s", msg);
    bp_graph_clear_error(g);
    ck_assert_int_eq(bp_forward(g, ld), BP_ESINGULAR);
    msg = bp_graph_message(g);
    ck_assert_msg(contains(msg, "logdet") && contains(msg, "dpotrf") && contains(msg, "info 2"),
                  "message: %s", msg);
    bp_graph_free(g);
}
END_TEST

START_TEST(test_not_spd_first_pivot)
{
    /* A negative diagonal fails at order 1. */
    const double a[4] = {-0.35, 0.1, 0.1, 2.0};
    bp_graph *g = bp_graph_new();
    bp_node *L = bp_cholesky(g, bp_constant(g, 2, 2, a, NULL));

    ck_assert_int_eq(bp_forward(g, L), BP_ESINGULAR);
    ck_assert_msg(contains(bp_graph_message(g), "info 1"), "message: %s", bp_graph_message(g));
    bp_graph_free(g);
}
END_TEST

START_TEST(test_non_square)
{
    /* Every square-only op refuses a 2×3 A when the node is built. */
    bp_node *(*const unary[])(bp_graph *, bp_node *) = {bp_inv, bp_cholesky, bp_logdet, bp_det};
    const char *const names[] = {"inv", "cholesky", "logdet", "det"};

    for (size_t i = 0; i < 4; i++) {
        bp_graph *g = bp_graph_new();
        bp_node *A = bp_input(g, 2, 3, "A");
        ck_assert_ptr_null(unary[i](g, A));
        ck_assert_int_eq(bp_graph_status(g), BP_EDIM);
        ck_assert_msg(contains(bp_graph_message(g), names[i]) &&
                          contains(bp_graph_message(g), "square") &&
                          contains(bp_graph_message(g), "2x3"),
                      "message: %s", bp_graph_message(g));
        bp_graph_free(g);
    }
    {
        bp_graph *g = bp_graph_new();
        ck_assert_ptr_null(bp_solve(g, bp_input(g, 2, 3, "A"), bp_input(g, 2, 1, "B")));
        ck_assert_int_eq(bp_graph_status(g), BP_EDIM);
        ck_assert(contains(bp_graph_message(g), "solve"));
        ck_assert(contains(bp_graph_message(g), "square"));
        bp_graph_free(g);
    }
}
END_TEST

START_TEST(test_mismatched_b)
{
    bp_graph *g = bp_graph_new();

    ck_assert_ptr_null(bp_solve(g, bp_input(g, 3, 3, "A"), bp_input(g, 4, 2, "B")));
    ck_assert_int_eq(bp_graph_status(g), BP_EDIM);
    ck_assert_msg(contains(bp_graph_message(g), "solve") && contains(bp_graph_message(g), "4x2"),
                  "message: %s", bp_graph_message(g));
    bp_graph_clear_error(g);
    ck_assert_ptr_null(bp_lstsq(g, bp_input(g, 5, 3, "A"), bp_input(g, 4, 2, "B")));
    ck_assert_int_eq(bp_graph_status(g), BP_EDIM);
    ck_assert_msg(contains(bp_graph_message(g), "lstsq"), "message: %s", bp_graph_message(g));
    bp_graph_free(g);
}
END_TEST

START_TEST(test_mismatched_at_forward)
{
    /* An input whose rows change between runs: the shape rule rejects it
     * at forward, and the graph reports it. */
    const double a[4] = {1.3, 0.2, -0.4, 2.1};
    const double b3[3] = {0.5, 0.6, 0.7};
    bp_graph *g = bp_graph_new();
    bp_node *B = bp_input(g, 2, 1, "B");
    bp_node *X = bp_solve(g, bp_constant(g, 2, 2, a, NULL), B);
    bp_matrix *m = mat(3, 1, b3);

    ck_assert_ptr_nonnull(X);
    ck_assert_int_eq(bp_node_set_value(B, m), BP_OK);
    ck_assert_int_eq(bp_forward(g, X), BP_EDIM);
    ck_assert(contains(bp_graph_message(g), "solve"));
    bp_matrix_free(m);
    bp_graph_free(g);
}
END_TEST

START_TEST(test_lstsq_errors)
{
    /* Underdetermined: refused when built.  Rank deficient (a zero column):
     * dgels reports it at forward. */
    const double a[6] = {1.1, 0.0, 2.3, 0.0, -0.7, 0.0};
    const double b[3] = {0.2, 0.4, 0.9};
    bp_graph *g = bp_graph_new();
    bp_node *X;

    ck_assert_ptr_null(bp_lstsq(g, bp_input(g, 2, 3, "A"), bp_input(g, 2, 1, "B")));
    ck_assert_int_eq(bp_graph_status(g), BP_EDIM);
    ck_assert(contains(bp_graph_message(g), "lstsq"));
    bp_graph_clear_error(g);

    X = bp_lstsq(g, bp_constant(g, 3, 2, a, NULL), bp_constant(g, 3, 1, b, NULL));
    ck_assert_ptr_nonnull(X);
    ck_assert_int_eq(bp_forward(g, X), BP_ESINGULAR);
    ck_assert_msg(contains(bp_graph_message(g), "lstsq") && contains(bp_graph_message(g), "dgels") &&
                      contains(bp_graph_message(g), "info 2"),
                  "message: %s", bp_graph_message(g));
    bp_graph_free(g);
}
END_TEST

/* Two equal columns: QR leaves R(2,2) at rounding level rather than 0, and
 * dgels alone answers ±1e14.  lstsq refuses it, naming the estimate. */
START_TEST(test_lstsq_rank_deficient)
{
    const double a[6] = {1.1, 1.1, 2.3, 2.3, -0.7, -0.7};
    const double b[3] = {0.2, 0.4, 0.9};
    bp_graph *g = bp_graph_new();
    bp_node *X = bp_lstsq(g, bp_constant(g, 3, 2, a, NULL), bp_constant(g, 3, 1, b, NULL));

    ck_assert_ptr_nonnull(X);
    ck_assert_int_eq(bp_forward(g, X), BP_ESINGULAR);
    ck_assert_msg(contains(bp_graph_message(g), "lstsq") && contains(bp_graph_message(g), "3x2") &&
                      contains(bp_graph_message(g), "rank deficient") &&
                      contains(bp_graph_message(g), "condition"),
                  "message: %s", bp_graph_message(g));
    bp_graph_free(g);
}
END_TEST

START_TEST(test_too_large_for_lapack)
{
    /* 50000² > INT32_MAX: refused by the shape rule, nothing allocated (an
     * input has no data until bound). */
    bp_graph *g = bp_graph_new();
    bp_node *A = bp_input(g, 50000, 50000, "A");

    ck_assert_ptr_nonnull(A);
    ck_assert_ptr_null(bp_inv(g, A));
    ck_assert_int_eq(bp_graph_status(g), BP_EDIM);
    ck_assert_msg(contains(bp_graph_message(g), "LAPACK"), "message: %s", bp_graph_message(g));
    bp_graph_clear_error(g);
    ck_assert_ptr_null(bp_solve(g, bp_input(g, 2, 2, "A2"), bp_input(g, 2, 1500000000, "B")));
    ck_assert_int_eq(bp_graph_status(g), BP_EDIM);
    bp_graph_clear_error(g);
    ck_assert_ptr_null(bp_lstsq(g, bp_input(g, 100000, 30000, "A3"), bp_input(g, 100000, 1, "B3")));
    ck_assert_int_eq(bp_graph_status(g), BP_EDIM);
    bp_graph_free(g);
}
END_TEST

START_TEST(test_not_finite)
{
    /* A NaN in B is not passed on as a matrix of NaN. */
    const double a[4] = {1.3, 0.2, -0.4, 2.1};
    const double b[2] = {0.5, NAN};
    const double big[4] = {1e200, 0.0, 0.0, 1e200};
    bp_graph *g = bp_graph_new();
    bp_node *X = bp_solve(g, bp_constant(g, 2, 2, a, NULL), bp_constant(g, 2, 1, b, NULL));
    bp_node *d = bp_det(g, bp_constant(g, 2, 2, big, NULL));
    bp_node *ld = bp_logdet(g, bp_constant(g, 2, 2, big, NULL));

    ck_assert_int_eq(bp_forward(g, X), BP_ENUMERIC);
    ck_assert(contains(bp_graph_message(g), "solve"));
    bp_graph_clear_error(g);
    /* det overflows; logdet of the same matrix does not */
    ck_assert_int_eq(bp_forward(g, d), BP_ENUMERIC);
    ck_assert_msg(strncmp(bp_graph_message(g), "det: ", 5) == 0 &&
                      contains(bp_graph_message(g), "logdet does not overflow"),
                  "message: %s", bp_graph_message(g));
    bp_graph_clear_error(g);
    ck_assert_int_eq(bp_forward(g, ld), BP_OK);
    ck_assert_double_eq_tol(bp_node_value(ld)->data[0], 2.0 * log(1e200), 1e-10);
    bp_graph_free(g);
}
END_TEST

/* ---- gradients ---- */

START_TEST(test_solve_grad)
{
    size_t n = sizes[_i], k = n == 1 ? 1 : 3;
    double *a = malloc(n * n * sizeof *a), *b = malloc(n * k * sizeof *b);
    bp_graph *g = bp_graph_new();
    bp_node *A, *B, *loss;

    fill_invertible(a, n);
    fill_random(b, n * k);
    A = param_with(g, n, n, a);
    B = param_with(g, n, k, b);
    loss = weighted_sum(g, bp_solve(g, A, B));
    check_grad(g, loss, A, 0, "solve dA");
    check_grad(g, loss, B, 0, "solve dB");
    free(a);
    free(b);
    bp_graph_free(g);
}
END_TEST

/* The one-input ops: dA by central differences on A, perturbed
 * symmetrically for the SPD ones. */
static const struct {
    const char *what;
    bp_node *(*op)(bp_graph *, bp_node *);
    void (*fill)(double *, size_t);
    int symmetric;
} unary_ops[] = {
    {"inv dA", bp_inv, fill_invertible, 0},
    {"det dA", bp_det, fill_invertible, 0},
    {"cholesky dA", bp_cholesky, fill_spd, 1},
    {"logdet dA", bp_logdet, fill_spd, 1},
};
#define N_UNARY (sizeof unary_ops / sizeof unary_ops[0])

START_TEST(test_unary_grad)
{
    size_t n = sizes[(size_t)_i % N_SIZES], op = (size_t)_i / N_SIZES;
    double *a = malloc(n * n * sizeof *a);
    bp_graph *g = bp_graph_new();
    bp_node *A, *loss;

    unary_ops[op].fill(a, n);
    A = param_with(g, n, n, a);
    loss = weighted_sum(g, unary_ops[op].op(g, A));
    check_grad(g, loss, A, unary_ops[op].symmetric, unary_ops[op].what);
    free(a);
    bp_graph_free(g);
}
END_TEST

START_TEST(test_cholesky_grad_through_product)
{
    /* A = M·Mᵀ + 0.5·I built in the graph: M is moved one entry at a time,
     * and the symmetric dA must carry the exact gradient to M. */
    size_t n = sizes[_i];
    double *m = malloc(n * n * sizeof *m), *half = calloc(n * n, sizeof *half);
    bp_graph *g = bp_graph_new();
    bp_node *M, *A, *loss;

    fill_random(m, n * n);
    for (size_t i = 0; i < n; i++)
        half[i * n + i] = 0.5;
    M = param_with(g, n, n, m);
    A = bp_add(g, bp_matmul(g, M, bp_transpose(g, M)), bp_constant(g, n, n, half, NULL));
    loss = bp_add(g, weighted_sum(g, bp_cholesky(g, A)), weighted_sum(g, bp_logdet(g, A)));
    check_grad(g, loss, M, 0, "cholesky+logdet dM");
    free(m);
    free(half);
    bp_graph_free(g);
}
END_TEST

START_TEST(test_lstsq_grad)
{
    size_t n = sizes[_i], m = n + 3, k = 2;
    double *a = malloc(m * n * sizeof *a), *b = malloc(m * k * sizeof *b);
    bp_graph *g = bp_graph_new();
    bp_node *A, *B, *loss;

    fill_invertible(a, n);
    fill_random(a + n * n, (m - n) * n);
    fill_random(b, m * k);
    A = param_with(g, m, n, a);
    B = param_with(g, m, k, b);
    loss = weighted_sum(g, bp_lstsq(g, A, B));
    check_grad(g, loss, A, 0, "lstsq dA");
    check_grad(g, loss, B, 0, "lstsq dB");
    free(a);
    free(b);
    bp_graph_free(g);
}
END_TEST

START_TEST(test_lstsq_grad_square)
{
    size_t n = sizes[_i];
    double *a = malloc(n * n * sizeof *a), *b = malloc(n * sizeof *b);
    bp_graph *g = bp_graph_new();
    bp_node *A, *B, *loss;

    fill_invertible(a, n);
    fill_random(b, n);
    A = param_with(g, n, n, a);
    B = param_with(g, n, 1, b);
    loss = weighted_sum(g, bp_lstsq(g, A, B));
    check_grad(g, loss, A, 0, "lstsq (square) dA");
    check_grad(g, loss, B, 0, "lstsq (square) dB");
    free(a);
    free(b);
    bp_graph_free(g);
}
END_TEST

/* ---- the Gaussian negative log-likelihood (examples/gaussian_nll.c) ---- */

/* NLL of the k columns of Y (n×k) under N(mu, Σ), Σ = M·Mᵀ + 0.5·I:
 *   ½·k·logdet(Σ) + ½·sum(r ⊙ solve(Σ, r)) + ½·n·k·log 2π,  r = Y − mu. */
static bp_node *gaussian_nll(bp_graph *g, bp_node *Y, bp_node *mu, bp_node *Sigma)
{
    size_t n = bp_node_rows(Y), k = bp_node_cols(Y);
    double c = 0.5 * (double)(n * k) * log(TWO_PI);
    bp_node *r = bp_sub(g, Y, mu);
    bp_node *quad = bp_sum(g, bp_mul(g, r, bp_solve(g, Sigma, r)));
    bp_node *ld = bp_logdet(g, Sigma);

    return bp_add(g, bp_add(g, bp_scale(g, ld, 0.5 * (double)k), bp_scale(g, quad, 0.5)),
                  bp_constant(g, 1, 1, &c, "log 2pi"));
}

/* The same NLL computed here: Σ⁻¹r by elimination (naive_det's), det by
 * naive_det. */
static double naive_nll(const double *y, const double *mu, const double *sigma, size_t n,
                        size_t k)
{
    double *aug = malloc(n * (n + 1) * sizeof *aug), s = 0.0;
    ck_assert_ptr_nonnull(aug);
    for (size_t c = 0; c < k; c++) {
        /* solve Σ·q = r by Gauss–Jordan on [Σ | r] (SPD: no pivoting needed) */
        for (size_t i = 0; i < n; i++) {
            for (size_t j = 0; j < n; j++)
                aug[i * (n + 1) + j] = sigma[i * n + j];
            aug[i * (n + 1) + n] = y[i * k + c] - mu[i];
        }
        for (size_t p = 0; p < n; p++)
            for (size_t i = 0; i < n; i++) {
                double f;
                if (i == p)
                    continue;
                f = aug[i * (n + 1) + p] / aug[p * (n + 1) + p];
                for (size_t j = p; j <= n; j++)
                    aug[i * (n + 1) + j] -= f * aug[p * (n + 1) + j];
            }
        for (size_t i = 0; i < n; i++)
            s += (y[i * k + c] - mu[i]) * aug[i * (n + 1) + n] / aug[i * (n + 1) + i];
    }
    free(aug);
    return 0.5 * (double)k * log(naive_det(sigma, n)) + 0.5 * s +
           0.5 * (double)(n * k) * log(TWO_PI);
}

START_TEST(test_gaussian_nll)
{
    size_t n = sizes[_i], k = 4;
    double *y = malloc(n * k * sizeof *y), *mu = malloc(n * sizeof *mu);
    double *m = malloc(n * n * sizeof *m), *half = calloc(n * n, sizeof *half);
    double *sigma = malloc(n * n * sizeof *sigma);
    bp_graph *g = bp_graph_new();
    bp_node *Y, *MU, *M, *Sigma, *nll;
    bp_matrix *ym;
    double want;

    fill_random(y, n * k);
    fill_random(mu, n);
    fill_random(m, n * n);
    for (size_t i = 0; i < n; i++)
        half[i * n + i] = 0.5;
    Y = bp_input(g, n, k, "Y");
    MU = param_with(g, n, 1, mu);
    M = param_with(g, n, n, m);
    Sigma = bp_add(g, bp_matmul(g, M, bp_transpose(g, M)), bp_constant(g, n, n, half, NULL));
    nll = gaussian_nll(g, Y, MU, Sigma);
    ck_assert_ptr_nonnull(nll);
    ym = mat(n, k, y);
    ck_assert_int_eq(bp_node_set_value(Y, ym), BP_OK);
    bp_matrix_free(ym);

    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double s = 0.0;
            for (size_t t = 0; t < n; t++)
                s += m[i * n + t] * m[j * n + t];
            sigma[i * n + j] = s + half[i * n + j];
        }
    want = naive_nll(y, mu, sigma, n, k);
    ck_assert_double_eq_tol(loss_at(g, nll), want, 1e-9 * (1.0 + fabs(want)));
    check_grad(g, nll, MU, 0, "gaussian nll dmu");
    check_grad(g, nll, M, 0, "gaussian nll dM");
    free(y);
    free(mu);
    free(m);
    free(half);
    free(sigma);
    bp_graph_free(g);
}
END_TEST

START_TEST(test_gaussian_nll_sigma_param)
{
    /* Σ itself a param, moved symmetrically: Σ feeds logdet and solve, so
     * its gradient is the sum of both (fan-out). */
    size_t n = sizes[_i], k = 3;
    double *y = malloc(n * k * sizeof *y), *mu = malloc(n * sizeof *mu);
    double *sigma = malloc(n * n * sizeof *sigma);
    bp_graph *g = bp_graph_new();
    bp_node *Sigma, *nll;
    double want;

    fill_random(y, n * k);
    fill_random(mu, n);
    fill_spd(sigma, n);
    Sigma = param_with(g, n, n, sigma);
    nll = gaussian_nll(g, bp_constant(g, n, k, y, "Y"), bp_constant(g, n, 1, mu, "mu"), Sigma);
    want = naive_nll(y, mu, sigma, n, k);
    ck_assert_double_eq_tol(loss_at(g, nll), want, 1e-9 * (1.0 + fabs(want)));
    check_grad(g, nll, Sigma, 1, "gaussian nll dSigma");
    free(y);
    free(mu);
    free(sigma);
    bp_graph_free(g);
}
END_TEST

/* ---- allocation failures ---- */

/* All six ops in one graph, forward and backward; the first status that is
 * not BP_OK. */
static bp_status linalg_graph_run(void)
{
    const double spd[9] = {2.1, 0.3, -0.2, 0.3, 1.7, 0.4, -0.2, 0.4, 1.9};
    const double tall[12] = {1.3, 0.2, -0.4, 0.9, 1.1, 0.3, 0.5, -0.6, 1.4, 0.2, 0.7, -0.3};
    const double b[4] = {0.31, -0.52, 0.77, 0.18};
    bp_graph *g = bp_graph_new();
    bp_node *A, *T, *B, *loss;
    bp_status st;

    if (!g)
        return BP_ENOMEM;
    A = bp_param(g, 3, 3, "A");
    T = bp_param(g, 4, 3, "T");
    B = bp_constant(g, 4, 1, b, "B");
    loss = bp_add(g, bp_add(g, bp_logdet(g, A), bp_det(g, A)),
                  bp_add(g, bp_add(g, bp_sum(g, bp_cholesky(g, A)), bp_sum(g, bp_inv(g, A))),
                         bp_add(g, bp_sum(g, bp_solve(g, A, bp_lstsq(g, T, B))),
                                bp_sum(g, bp_lstsq(g, T, B)))));
    st = bp_graph_status(g);
    if (st == BP_OK) {
        memcpy(bp_node_value(A)->data, spd, sizeof spd);
        memcpy(bp_node_value(T)->data, tall, sizeof tall);
        if ((st = bp_forward(g, loss)) == BP_OK)
            st = bp_backward(g, loss, NULL);
    }
    if (st != BP_OK)
        ck_assert_int_eq(bp_graph_status(g), st);
    bp_graph_free(g);
    return st;
}

START_TEST(test_allocation_failures)
{
    tu_every_alloc_failure(linalg_graph_run, 20);
}
END_TEST

static Suite *linalg_suite(void)
{
    Suite *s = suite_create("linalg");
    TCase *fwd = tcase_create("forward"), *err = tcase_create("errors");
    TCase *grad = tcase_create("gradients");

    tcase_add_test(fwd, test_solve_forward);
    tcase_add_loop_test(fwd, test_solve_forward_sizes, 0, N_SIZES);
    tcase_add_loop_test(fwd, test_inv_forward, 0, N_SIZES);
    tcase_add_test(fwd, test_cholesky_known);
    tcase_add_loop_test(fwd, test_cholesky_forward, 0, N_SIZES);
    tcase_add_test(fwd, test_cholesky_reads_lower);
    tcase_add_loop_test(fwd, test_logdet_forward, 0, N_SIZES);
    tcase_add_test(fwd, test_logdet_matches_det);
    tcase_add_test(fwd, test_det_known);
    tcase_add_loop_test(fwd, test_det_forward, 0, N_SIZES);
    tcase_add_test(fwd, test_det_singular);
    tcase_add_loop_test(fwd, test_lstsq_forward, 0, N_SIZES);
    tcase_add_test(fwd, test_lstsq_square_is_solve);
    tcase_add_test(fwd, test_registry_has_ops);
    suite_add_tcase(s, fwd);

    tcase_add_test(err, test_solve_singular);
    tcase_add_test(err, test_inv_singular);
    tcase_add_test(err, test_not_spd);
    tcase_add_test(err, test_not_spd_first_pivot);
    tcase_add_test(err, test_non_square);
    tcase_add_test(err, test_mismatched_b);
    tcase_add_test(err, test_mismatched_at_forward);
    tcase_add_test(err, test_lstsq_errors);
    tcase_add_test(err, test_lstsq_rank_deficient);
    tcase_add_test(err, test_too_large_for_lapack);
    tcase_add_test(err, test_not_finite);
    tcase_add_test(err, test_allocation_failures);
    suite_add_tcase(s, err);

    tcase_set_timeout(grad, 60);
    tcase_add_loop_test(grad, test_solve_grad, 0, N_SIZES);
    tcase_add_loop_test(grad, test_unary_grad, 0, (int)(N_UNARY * N_SIZES));
    tcase_add_loop_test(grad, test_cholesky_grad_through_product, 0, N_SIZES);
    tcase_add_loop_test(grad, test_lstsq_grad, 0, N_SIZES);
    tcase_add_loop_test(grad, test_lstsq_grad_square, 0, N_SIZES);
    tcase_add_loop_test(grad, test_gaussian_nll, 0, N_SIZES);
    tcase_add_loop_test(grad, test_gaussian_nll_sigma_param, 0, N_SIZES);
    suite_add_tcase(s, grad);
    return s;
}

int main(void)
{
    rng = tu_rng(88172645463325252ull);
    return tu_run(linalg_suite());
}
