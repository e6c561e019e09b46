/* SPDX-License-Identifier: MIT */
/* Each built-in op's forward against hand-computed numbers and its backward
 * against the hand-derived derivative; README's table of the built-in ops
 * against the registry. */
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bp_graph *g;

static void setup(void)
{
    g = bp_graph_new();
}

static void teardown(void)
{
    bp_graph_free(g);
}

static bp_node *param(size_t rows, size_t cols, const double *v)
{
    bp_node *n = bp_param(g, rows, cols, NULL);
    tu_set(n, rows, cols, v);
    return n;
}

/* Forward to out, then backward with seed (out's shape). */
static void run(bp_node *out, const double *seed)
{
    bp_matrix s = tu_view(bp_node_rows(out), bp_node_cols(out), (double *)seed);
    ck_assert_int_eq(bp_forward(g, out), BP_OK);
    ck_assert_int_eq(bp_backward(g, out, &s), BP_OK);
}

START_TEST(matmul_rectangular)
{
    /* A 2×3 · B 3×4, m ≠ k ≠ n */
    const double A[6] = {1.5, -2.0, 0.25, 3.0, 0.5, -1.25};
    const double B[12] = {0.5, 1.0, -1.5, 2.0, 2.5, -0.75, 1.0, 0.0, -3.0, 0.5, 2.25, 1.75};
    const double G[8] = {1.0, -0.5, 0.25, 2.0, -1.5, 0.75, 3.0, -2.0};
    const double C[8] = { /* by hand: row i of A dotted with column j of B */
        1.5 * 0.5 - 2.0 * 2.5 - 0.25 * 3.0, 1.5 * 1.0 + 2.0 * 0.75 + 0.25 * 0.5,
        -1.5 * 1.5 - 2.0 * 1.0 + 0.25 * 2.25, 1.5 * 2.0 + 0.25 * 1.75,
        3.0 * 0.5 + 0.5 * 2.5 + 1.25 * 3.0, 3.0 * 1.0 - 0.5 * 0.75 - 1.25 * 0.5,
        -3.0 * 1.5 + 0.5 * 1.0 - 1.25 * 2.25, 3.0 * 2.0 - 1.25 * 1.75};
    double dA[6] = {0}, dB[12] = {0};
    bp_node *a = param(2, 3, A), *b = param(3, 4, B);
    bp_node *c = bp_matmul(g, a, b);

    ck_assert_uint_eq(bp_node_rows(c), 2);
    ck_assert_uint_eq(bp_node_cols(c), 4);
    run(c, G);
    tu_assert_matrix_near(bp_node_value(c), C, 1e-14);
    /* dA = G·Bᵀ, dB = Aᵀ·G by plain loops */
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 3; k++)
            for (int j = 0; j < 4; j++) {
                dA[i * 3 + k] += G[i * 4 + j] * B[k * 4 + j];
                dB[k * 4 + j] += A[i * 3 + k] * G[i * 4 + j];
            }
    tu_assert_matrix_near(bp_node_grad(a), dA, 1e-14);
    tu_assert_matrix_near(bp_node_grad(b), dB, 1e-14);
}
END_TEST

/* matmul at every shape whose sides are 1, 2 or 5: a product with a side of
 * 1 runs on dgemv or as an outer product instead of dgemm, in each of the
 * transposes backward uses.  c = a'·b' + a·b, where a' = 1·a and b' = 1·b
 * are op nodes: the first product assigns their fresh gradients (beta 0),
 * the second adds into the params' (beta 1).  A first backward with a NaN
 * seed leaves NaN in the fresh buffers, which the next must overwrite
 * unread; two backwards without zero_grad then leave 2·2·G·Bᵀ in a's. */
START_TEST(matmul_vector_sides)
{
    static const size_t side[3] = {1, 2, 5};

    for (int s = 0; s < 27; s++) {
        const size_t m = side[s / 9], k = side[s / 3 % 3], n = side[s % 3];
        bp_rng st = tu_rng(7 + (uint64_t)s);
        double A[25], B[25], G[25], nan_seed[25], C[25] = {0}, dA[25] = {0}, dB[25] = {0};
        bp_graph *h = bp_graph_new();
        bp_node *pa, *pb, *c;
        bp_matrix sg = tu_view(m, n, G), sn = tu_view(m, n, nan_seed);

        ck_assert_ptr_nonnull(h);
        tu_fill(A, m * k, &st, -1.0, 1.0);
        tu_fill(B, k * n, &st, -1.0, 1.0);
        tu_fill(G, m * n, &st, -1.0, 1.0);
        for (size_t q = 0; q < m * n; q++)
            nan_seed[q] = NAN;
        pa = bp_param(h, m, k, "a");
        pb = bp_param(h, k, n, "b");
        tu_set(pa, m, k, A);
        tu_set(pb, k, n, B);
        c = bp_add(h, bp_matmul(h, bp_scale(h, pa, 1.0), bp_scale(h, pb, 1.0)),
                   bp_matmul(h, pa, pb));
        ck_assert_int_eq(bp_forward(h, c), BP_OK);
        ck_assert_int_eq(bp_backward(h, c, &sn), BP_OK);
        bp_zero_grad(h);
        ck_assert_int_eq(bp_backward(h, c, &sg), BP_OK);
        ck_assert_int_eq(bp_backward(h, c, &sg), BP_OK);
        /* C = 2·A·B;  dA = 4·G·Bᵀ;  dB = 4·Aᵀ·G, by plain loops */
        for (size_t i = 0; i < m; i++)
            for (size_t c_ = 0; c_ < k; c_++)
                for (size_t j = 0; j < n; j++) {
                    C[i * n + j] += 2.0 * A[i * k + c_] * B[c_ * n + j];
                    dA[i * k + c_] += 4.0 * G[i * n + j] * B[c_ * n + j];
                    dB[c_ * n + j] += 4.0 * A[i * k + c_] * G[i * n + j];
                }
        tu_assert_matrix_near(bp_node_value(c), C, 1e-13);
        tu_assert_matrix_near(bp_node_grad(pa), dA, 1e-13);
        tu_assert_matrix_near(bp_node_grad(pb), dB, 1e-13);
        bp_graph_free(h);
    }
}
END_TEST

START_TEST(transpose_values_and_gradient)
{
    const double A[6] = {1, 2, 3, 4, 5, 6}, At[6] = {1, 4, 2, 5, 3, 6};
    const double G[6] = {0.5, -1, 2, 0.25, -3, 1.5};   /* 3×2 */
    const double dA[6] = {0.5, 2, -3, -1, 0.25, 1.5};  /* Gᵀ */
    bp_node *a = param(2, 3, A), *t = bp_transpose(g, a);
    ck_assert_uint_eq(bp_node_rows(t), 3);
    ck_assert_uint_eq(bp_node_cols(t), 2);
    run(t, G);
    tu_assert_matrix_near(bp_node_value(t), At, 0.0);
    tu_assert_matrix_near(bp_node_grad(a), dA, 0.0);
}
END_TEST

START_TEST(dense_equals_matmul_plus_bias)
{
    const double X[6] = {0.3, -1.1, 2.0, 0.7, 1.4, -0.6};
    const double W[6] = {0.25, -0.5, 1.5, 0.75, -1.0, 0.125};
    const double b[2] = {0.1, -0.2}, G[4] = {1.0, -2.0, 0.5, 0.25};
    bp_node *x = param(2, 3, X), *w = param(3, 2, W), *bb = param(1, 2, b);
    bp_node *d = bp_dense(g, x, w, bb);
    double out[4], dx[6] = {0}, dw[6] = {0}, db[2] = {0};

    run(d, G);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
            out[i * 2 + j] = b[j];
            for (int k = 0; k < 3; k++) {
                out[i * 2 + j] += X[i * 3 + k] * W[k * 2 + j];
                dx[i * 3 + k] += G[i * 2 + j] * W[k * 2 + j];
                dw[k * 2 + j] += X[i * 3 + k] * G[i * 2 + j];
            }
            db[j] += G[i * 2 + j];
        }
    tu_assert_matrix_near(bp_node_value(d), out, 1e-14);
    tu_assert_matrix_near(bp_node_grad(x), dx, 1e-14);
    tu_assert_matrix_near(bp_node_grad(w), dw, 1e-14);
    tu_assert_matrix_near(bp_node_grad(bb), db, 1e-14);
}
END_TEST

/* dense_relu against plain loops, at shapes that cover its paths: one
 * block, several blocks with a short last one (m > 256), and a wide x
 * (k >= 64) whose forward runs unblocked; in in-place mode its backward
 * works in its own gradient's buffer instead of its scratch.  Its inputs
 * are op nodes (scale by 1, exact), whose gradients start fresh: dW and db
 * are assigned by the first block and added to by the rest, and x, which
 * feeds both dense_relu nodes, has dx assigned by one and added to by the
 * other. */
static void check_dense_relu(size_t m, size_t k, size_t n, int inplace)
{
    bp_rng st = tu_rng(m * 1000 + k * 10 + n);
    double *X = malloc(m * k * sizeof *X), *G = malloc(m * n * sizeof *G);
    double *W = malloc(2 * k * n * sizeof *W), b[2][8], *Y = malloc(2 * m * n * sizeof *Y);
    double *dx = calloc(m * k, sizeof *dx), *dW = calloc(2 * k * n, sizeof *dW);
    double db[2][8] = {{0}};
    bp_node *xp, *wp[2], *bp[2], *y[2], *x, *sum;

    ck_assert(n <= 8);
    tu_fill(X, m * k, &st, -1.0, 1.0);
    tu_fill(W, 2 * k * n, &st, -1.0, 1.0);
    tu_fill(G, m * n, &st, -1.0, 1.0);
    tu_fill(b[0], n, &st, -0.3, 0.3);
    tu_fill(b[1], n, &st, -0.3, 0.3);
    /* row 0 of x is zero and b[0][0] is zero: z = 0 exactly, gradient 0 */
    memset(X, 0, k * sizeof *X);
    b[0][0] = 0.0;

    bp_graph_set_inplace(g, inplace);
    xp = param(m, k, X);
    x = bp_scale(g, xp, 1.0);
    for (int l = 0; l < 2; l++) {
        wp[l] = param(k, n, W + l * k * n);
        bp[l] = param(1, n, b[l]);
        y[l] = bp_dense_relu(g, x, bp_scale(g, wp[l], 1.0), bp_scale(g, bp[l], 1.0));
    }
    sum = bp_add(g, y[0], y[1]);
    run(sum, G);

    /* z = x·W + b;  y = max(z, 0);  dz = G ⊙ [z > 0];
     * dx = Σ dz·Wᵀ;  dW = xᵀ·dz;  db = colsum(dz) */
    for (int l = 0; l < 2; l++)
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++) {
                double z = b[l][j], dz;
                for (size_t c = 0; c < k; c++)
                    z += X[i * k + c] * W[l * k * n + c * n + j];
                Y[l * m * n + i * n + j] = z > 0.0 ? z : 0.0;
                dz = z > 0.0 ? G[i * n + j] : 0.0;
                db[l][j] += dz;
                for (size_t c = 0; c < k; c++) {
                    dx[i * k + c] += dz * W[l * k * n + c * n + j];
                    dW[l * k * n + c * n + j] += X[i * k + c] * dz;
                }
            }
    for (int l = 0; l < 2; l++) {
        tu_assert_matrix_near(bp_node_value(y[l]), Y + l * m * n, 1e-13);
        tu_assert_matrix_near(bp_node_grad(wp[l]), dW + l * k * n, 1e-11);
        tu_assert_matrix_near(bp_node_grad(bp[l]), db[l], 1e-11);
    }
    tu_assert_matrix_near(bp_node_grad(xp), dx, 1e-12);
    ck_assert_double_eq(bp_node_value(y[0])->data[0], 0.0);
    free(X), free(G), free(W), free(Y), free(dx), free(dW);
}

START_TEST(dense_relu_blocks)
{
    for (int inplace = 0; inplace < 2; inplace++) {
        check_dense_relu(2, 3, 2, inplace);      /* one small block */
        check_dense_relu(600, 3, 5, inplace);    /* blocks of 256, 256 and 88 rows */
        check_dense_relu(300, 70, 4, inplace);   /* wide x: forward in one product */
        check_dense_relu(300, 3, 1, inplace);    /* one output: dgemv, outer products */
        check_dense_relu(5, 1, 3, inplace);      /* one input column */
    }
}
END_TEST

/* Broadcasting: every pattern of two operands against a 3×4 output, for
 * each binary op, checked against a reference written with modular
 * indexing (a different formulation from the library's strides). */
struct shape { size_t rows, cols; };
static const struct shape patterns[][2] = {
    {{3, 4}, {3, 4}}, {{3, 4}, {1, 4}}, {{3, 4}, {3, 1}}, {{3, 4}, {1, 1}},
    {{1, 4}, {3, 4}}, {{3, 1}, {3, 4}}, {{1, 1}, {3, 4}}, {{1, 4}, {3, 1}},
    {{3, 1}, {1, 4}},
};

typedef bp_node *(*binary_fn)(bp_graph *, bp_node *, bp_node *);

static double ref_value(int op, double x, double y)
{
    switch (op) {
    case 0: return x + y;
    case 1: return x - y;
    case 2: return x * y;
    default: return x / y;
    }
}

/* ∂/∂x and ∂/∂y of each op, by hand */
static void ref_partials(int op, double x, double y, double *px, double *py)
{
    switch (op) {
    case 0: *px = 1; *py = 1; break;
    case 1: *px = 1; *py = -1; break;
    case 2: *px = y; *py = x; break;
    default: *px = 1 / y; *py = -x / (y * y); break;
    }
}

START_TEST(broadcast_patterns)
{
    static const binary_fn fns[4] = {bp_add, bp_sub, bp_mul, bp_div};
    const size_t np = sizeof patterns / sizeof patterns[0];
    bp_rng rng = tu_rng(42);

    for (int op = 0; op < 4; op++)
        for (size_t p = 0; p < np; p++) {
            const struct shape sa = patterns[p][0], sb = patterns[p][1];
            double A[12], B[12], G[12], out[12], dA[12] = {0}, dB[12] = {0};
            bp_node *a, *b, *c;

            tu_fill(A, 12, &rng, 0.5, 2.0);
            tu_fill(B, 12, &rng, 0.5, 2.0);
            tu_fill(G, 12, &rng, -1.0, 1.0);
            a = param(sa.rows, sa.cols, A);
            b = param(sb.rows, sb.cols, B);
            c = fns[op](g, a, b);
            ck_assert_ptr_nonnull(c);
            ck_assert_uint_eq(bp_node_rows(c), 3);
            ck_assert_uint_eq(bp_node_cols(c), 4);
            bp_zero_grad(g);
            run(c, G);
            for (size_t i = 0; i < 3; i++)
                for (size_t j = 0; j < 4; j++) {
                    size_t ia = (i % sa.rows) * sa.cols + j % sa.cols;
                    size_t ib = (i % sb.rows) * sb.cols + j % sb.cols;
                    double px, py;
                    out[i * 4 + j] = ref_value(op, A[ia], B[ib]);
                    ref_partials(op, A[ia], B[ib], &px, &py);
                    dA[ia] += G[i * 4 + j] * px;
                    dB[ib] += G[i * 4 + j] * py;
                }
            tu_assert_matrix_near(bp_node_value(c), out, 1e-14);
            tu_assert_matrix_near(bp_node_grad(a), dA, 1e-13);
            tu_assert_matrix_near(bp_node_grad(b), dB, 1e-13);
        }
}
END_TEST

/* Derivatives by hand. */
static double d_log(double x) { return 1.0 / x; }
static double d_sqrt(double x) { return 1.0 / (2.0 * sqrt(x)); }
static double d_tanh(double x) { return 1.0 / (cosh(x) * cosh(x)); }

START_TEST(unary_values_and_derivatives)
{
    const double X[4] = {0.25, 1.5, 2.385, 0.8};
    const double Xs[4] = {-1.75, 0.0001, 2.385, -0.3};
    const double G[4] = {1.0, -0.5, 2.0, 0.75};
    struct {
        bp_node *(*fn)(bp_graph *, bp_node *);
        const double *x;
        double (*f)(double);
        double (*df)(double);
    } cases[] = {
        {bp_exp, Xs, exp, exp},
        {bp_log, X, log, d_log},
        {bp_sqrt, X, sqrt, d_sqrt},
        {bp_tanh, Xs, tanh, d_tanh},
    };

    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        bp_node *x = param(2, 2, cases[c].x), *y = cases[c].fn(g, x);
        double want[4], dwant[4];
        run(y, G);
        for (int k = 0; k < 4; k++) {
            want[k] = cases[c].f(cases[c].x[k]);
            dwant[k] = G[k] * cases[c].df(cases[c].x[k]);
        }
        tu_assert_matrix_near(bp_node_value(y), want, 1e-15);
        tu_assert_matrix_near(bp_node_grad(x), dwant, 1e-14);
    }
}
END_TEST

START_TEST(relu_sigmoid_neg_scale_pow)
{
    const double X[4] = {-1.75, 0.5, 2.385, -0.3}, G[4] = {1.0, -0.5, 2.0, 0.75};
    const double relu[4] = {0, 0.5, 2.385, 0}, drelu[4] = {0, -0.5, 2.0, 0};
    const double neg[4] = {1.75, -0.5, -2.385, 0.3}, dneg[4] = {-1.0, 0.5, -2.0, -0.75};
    const double sc[4] = {-4.375, 1.25, 5.9625, -0.75}, dsc[4] = {2.5, -1.25, 5.0, 1.875};
    const double P[4] = {0.5, 2.0, 4.0, 1.5};
    double sig[4], dsig[4], pw[4], dpw[4];
    bp_node *x = param(2, 2, X), *xp = param(2, 2, P);
    bp_node *r = bp_relu(g, x), *s = bp_sigmoid(g, x), *n = bp_neg(g, x);
    bp_node *k = bp_scale(g, x, 2.5), *p = bp_pow(g, xp, -1.5);

    for (int i = 0; i < 4; i++) {
        sig[i] = 1.0 / (1.0 + exp(-X[i]));
        dsig[i] = G[i] * exp(-X[i]) / ((1 + exp(-X[i])) * (1 + exp(-X[i])));
        pw[i] = 1.0 / (P[i] * sqrt(P[i]));
        dpw[i] = G[i] * -1.5 / (P[i] * P[i] * sqrt(P[i]));
    }
    bp_zero_grad(g); run(r, G);
    tu_assert_matrix_near(bp_node_value(r), relu, 0.0);
    tu_assert_matrix_near(bp_node_grad(x), drelu, 0.0);
    bp_zero_grad(g); run(s, G);
    tu_assert_matrix_near(bp_node_value(s), sig, 1e-15);
    tu_assert_matrix_near(bp_node_grad(x), dsig, 1e-15);
    bp_zero_grad(g); run(n, G);
    tu_assert_matrix_near(bp_node_value(n), neg, 0.0);
    tu_assert_matrix_near(bp_node_grad(x), dneg, 0.0);
    bp_zero_grad(g); run(k, G);
    tu_assert_matrix_near(bp_node_value(k), sc, 1e-15);
    tu_assert_matrix_near(bp_node_grad(x), dsc, 1e-15);
    bp_zero_grad(g); run(p, G);
    tu_assert_matrix_near(bp_node_value(p), pw, 1e-15);
    tu_assert_matrix_near(bp_node_grad(xp), dpw, 1e-14);
}
END_TEST

START_TEST(sigmoid_is_finite_for_extreme_inputs)
{
    const double X[2] = {-800.0, 800.0}, want[2] = {0.0, 1.0};
    bp_node *x = param(1, 2, X), *s = bp_sigmoid(g, x);
    ck_assert_int_eq(bp_forward(g, s), BP_OK);
    tu_assert_matrix_near(bp_node_value(s), want, 0.0);
}
END_TEST

/* Past |a| ≈ 19 (tanh) and a ≈ 37 (sigmoid) the output rounds to ±1, so
 * a slope taken from it as 1 − y² or y (1 − y) is 0, and it has few correct
 * digits well before; the true slopes 1 / cosh² a and 1 / (2 + 2 cosh a) are
 * tiny but nonzero.  Compared relatively, to 1e-13, there and at moderate
 * inputs (0.731, -1.2: output below 0.9 in size). */
START_TEST(sigmoid_tanh_slopes_in_saturation)
{
    const double X[8] = {13.7, -21.3, 38.5, -45.2, 2.385, 340.2, 0.731, -1.2};
    const double G[8] = {1.0, -0.5, 2.0, 0.75, 1.25, 3.0, -1.5, 0.5};
    bp_node *x = param(2, 4, X);
    bp_node *t = bp_tanh(g, x), *s = bp_sigmoid(g, x);

    for (int op = 0; op < 2; op++) {
        const bp_matrix *dx;
        bp_zero_grad(g);
        run(op ? s : t, G);
        dx = bp_node_grad(x);
        for (int k = 0; k < 8; k++) {
            const double c = cosh(X[k]);
            const double want = G[k] / (op ? 2.0 + 2.0 * c : c * c);
            ck_assert_msg(want != 0.0 && fabs(dx->data[k] - want) <= 1e-13 * fabs(want),
                          "%s at %g: got %.17g, want %.17g", op ? "sigmoid" : "tanh", X[k],
                          dx->data[k], want);
        }
    }
}
END_TEST

START_TEST(reductions)
{
    const double X[6] = {1.5, -2.0, 4.25, 0.5, 3.0, 3.0};  /* 2×3; tie in row 2 */
    const double rows[2] = {3.75, 6.5}, cols[3] = {2.0, 1.0, 7.25};
    const double maxes[2] = {4.25, 3.0};
    const double Gr[2] = {2.0, -1.0}, Gc[3] = {0.5, -1.5, 3.0}, G1[1] = {-2.0};
    const double drow[6] = {2, 2, 2, -1, -1, -1}, dcol[6] = {0.5, -1.5, 3, 0.5, -1.5, 3};
    const double dsum[6] = {-2, -2, -2, -2, -2, -2};
    const double dmean[6] = {-1.0 / 3, -1.0 / 3, -1.0 / 3, -1.0 / 3, -1.0 / 3, -1.0 / 3};
    const double dmax[6] = {0, 0, 2, 0, -1, 0};  /* first arg-max of the tie */
    bp_node *x = param(2, 3, X);
    bp_node *rs = bp_rowsum(g, x), *cs = bp_colsum(g, x), *s = bp_sum(g, x);
    bp_node *m = bp_mean(g, x), *mx = bp_rowmax(g, x);
    const double sum_v = 10.25, mean_v = 10.25 / 6;
    const struct { bp_node *n; size_t rows, cols; } shapes[] = {
        {rs, 2, 1}, {cs, 1, 3}, {s, 1, 1}, {m, 1, 1}, {mx, 2, 1}};

    /* the values below are compared entry by entry: the shapes first */
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        ck_assert_uint_eq(bp_node_rows(shapes[i].n), shapes[i].rows);
        ck_assert_uint_eq(bp_node_cols(shapes[i].n), shapes[i].cols);
    }
    bp_zero_grad(g); run(rs, Gr);
    tu_assert_matrix_near(bp_node_value(rs), rows, 0.0);
    tu_assert_matrix_near(bp_node_grad(x), drow, 0.0);
    bp_zero_grad(g); run(cs, Gc);
    tu_assert_matrix_near(bp_node_value(cs), cols, 0.0);
    tu_assert_matrix_near(bp_node_grad(x), dcol, 0.0);
    bp_zero_grad(g); run(s, G1);
    tu_assert_matrix_near(bp_node_value(s), &sum_v, 0.0);
    tu_assert_matrix_near(bp_node_grad(x), dsum, 0.0);
    bp_zero_grad(g); run(m, G1);
    tu_assert_matrix_near(bp_node_value(m), &mean_v, 1e-15);
    tu_assert_matrix_near(bp_node_grad(x), dmean, 1e-15);
    bp_zero_grad(g); run(mx, Gr);
    tu_assert_matrix_near(bp_node_value(mx), maxes, 0.0);
    tu_assert_matrix_near(bp_node_grad(x), dmax, 0.0);
}
END_TEST

START_TEST(mse_value_and_gradient)
{
    const double P[3] = {1.0, 2.0, 3.0}, Y[3] = {1.5, 1.0, 3.5};
    const double dP[3] = {-1.0 / 3, 2.0 / 3, -1.0 / 3}, dY[3] = {1.0 / 3, -2.0 / 3, 1.0 / 3};
    const double want = 0.5;   /* (0.25 + 1 + 0.25) / 3 */
    bp_node *p = param(3, 1, P), *y = param(3, 1, Y), *l = bp_mse(g, p, y);

    ck_assert_int_eq(bp_forward(g, l), BP_OK);
    ck_assert_int_eq(bp_backward(g, l, NULL), BP_OK);
    tu_assert_matrix_near(bp_node_value(l), &want, 1e-15);
    tu_assert_matrix_near(bp_node_grad(p), dP, 1e-15);
    tu_assert_matrix_near(bp_node_grad(y), dY, 1e-15);
}
END_TEST

START_TEST(nll_value_gradient_and_floor)
{
    const double P[6] = {0.2, 0.5, 0.3, 0.1, 0.1, 0.8}, Y[6] = {0, 1, 0, 0, 0, 1};
    const double dP[6] = {0, -1.0 / (2 * 0.5), 0, 0, 0, -1.0 / (2 * 0.8)};
    const double want = -(log(0.5) + log(0.8)) / 2;
    const double P0[2] = {0.0, 1.0}, Y0[2] = {1.0, 0.0};
    bp_node *p = param(2, 3, P), *y = param(2, 3, Y), *l = bp_nll(g, p, y);
    bp_node *p0 = param(1, 2, P0), *y0 = param(1, 2, Y0), *l0 = bp_nll(g, p0, y0);

    ck_assert_int_eq(bp_forward(g, l), BP_OK);
    ck_assert_int_eq(bp_backward(g, l, NULL), BP_OK);
    tu_assert_matrix_near(bp_node_value(l), &want, 1e-15);
    tu_assert_matrix_near(bp_node_grad(p), dP, 1e-15);
    /* a probability that underflowed to 0: finite, read as the smallest
     * positive double 2^−1074, so −log of it is 1074·log 2 */
    ck_assert_int_eq(bp_forward(g, l0), BP_OK);
    ck_assert_double_eq_tol(bp_node_value(l0)->data[0], 1074 * log(2.0), 1e-9);
    ck_assert_int_eq(bp_backward(g, l0, NULL), BP_OK);
    /* the gradient −y/p reads p as at least 1e-300, to stay finite */
    ck_assert_double_eq_tol(bp_node_grad(p0)->data[0] / -1e300, 1.0, 1e-12);
    ck_assert_double_eq(bp_node_grad(p0)->data[1], 0.0);
}
END_TEST

/* README's "Built-in ops" table against the registry: a row for every
 * built-in op and for nothing else, each naming the op, its wrapper with one
 * argument after g per input and attribute, and the op's doc. */
static const bp_op *builtin_named(const char *name, size_t len, size_t *index)
{
    for (size_t i = 0; i < bp_builtin_count(); i++)
        if (strlen(bp_builtin(i)->name) == len && strncmp(bp_builtin(i)->name, name, len) == 0) {
            *index = i;
            return bp_builtin(i);
        }
    return NULL;
}

static void check_readme_row(const char *line, unsigned char *seen)
{
    const char *name = line + 3, *end = strchr(name, '`'), *args, *doc;
    char want[256];
    size_t i = 0, commas = 0;
    const bp_op *op;

    ck_assert_msg(end != NULL, "README row without a closing `: %s", line);
    op = builtin_named(name, (size_t)(end - name), &i);
    ck_assert_msg(op != NULL, "README lists an op the registry does not have: %s", line);
    ck_assert_msg(!seen[i], "README lists %s twice", op->name);
    seen[i] = 1;
    snprintf(want, sizeof want, "| `%s` | `bp_%s(g", op->name, op->name);
    ck_assert_msg(strncmp(line, want, strlen(want)) == 0, "README row of %s: want '%s...', got %s",
                  op->name, want, line);
    args = line + strlen(want);
    for (; *args && *args != ')'; args++)
        commas += *args == ',';
    ck_assert_msg(commas == op->n_in + op->n_attr, "README's wrapper of %s takes %zu arguments after g, "
                  "the op %zu inputs and %zu attributes", op->name, commas, op->n_in, op->n_attr);
    ck_assert_msg(strncmp(args, ")` | ", 5) == 0, "README row of %s: %s", op->name, line);
    doc = args + 5;
    ck_assert_msg(strlen(doc) == strlen(op->doc) + 3 && strncmp(doc, op->doc, strlen(op->doc)) == 0 &&
                      strcmp(doc + strlen(op->doc), " |\n") == 0,
                  "README's doc of %s differs from the op's: want '%s', got %s", op->name, op->doc, doc);
}

START_TEST(readme_lists_every_builtin)
{
    const char *srcdir = getenv("top_srcdir");
    char path[1024], *line = NULL;
    size_t size = 0;
    unsigned char *seen = calloc(bp_builtin_count(), 1);
    int in_table = 0;
    FILE *f;

    ck_assert_ptr_nonnull(seen);
    ck_assert_msg(srcdir != NULL, "top_srcdir is not set (run through make check)");
    snprintf(path, sizeof path, "%s/README.md", srcdir);
    f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    while (getline(&line, &size, f) != -1) {
        if (strncmp(line, "## ", 3) == 0)
            in_table = strcmp(line, "## Built-in ops\n") == 0;
        else if (in_table && strncmp(line, "| `", 3) == 0)
            check_readme_row(line, seen);
    }
    free(line);
    fclose(f);
    for (size_t i = 0; i < bp_builtin_count(); i++)
        ck_assert_msg(seen[i], "README's Built-in ops table has no row for %s", bp_builtin(i)->name);
    free(seen);
}
END_TEST

/* Only p ≤ 0 is floored in the loss: a subnormal p is read as itself.
 * −log(1e-310) = 713.8013788281541620455773509521529 (Python decimal, 40
 * digits).  A NaN probability gives a NaN loss, not the floor's. */
START_TEST(nll_reads_subnormal_probabilities_exactly)
{
    const double P[2] = {1e-310, 1.0}, Y[2] = {1.0, 0.0};
    const double P_NAN[2] = {NAN, 0.5}, Y_NAN[2] = {1.0, 0.0};
    bp_node *p = param(1, 2, P), *y = param(1, 2, Y), *l = bp_nll(g, p, y);
    bp_node *pn = param(1, 2, P_NAN), *yn = param(1, 2, Y_NAN), *ln = bp_nll(g, pn, yn);

    ck_assert_int_eq(bp_forward(g, l), BP_OK);
    ck_assert_double_eq_tol(bp_node_value(l)->data[0], 713.80137882815416, 1e-12);
    ck_assert_int_eq(bp_backward(g, l, NULL), BP_OK);
    ck_assert(isfinite(bp_node_grad(p)->data[0]) && bp_node_grad(p)->data[0] < -0.99e300);
    ck_assert_int_eq(bp_forward(g, ln), BP_OK);
    ck_assert(isnan(bp_node_value(ln)->data[0]));
}
END_TEST

/* d/dx x^c = c·x^(c−1); at x = 0: 0 for c = 0 (not 0·∞ = NaN), 1 for
 * c = 1, 0 for c = 2 and 3.7, +∞ for c = 0.5 (the tangent is vertical). */
START_TEST(pow_gradient_at_zero)
{
    const double c[5] = {0.0, 1.0, 2.0, 3.7, 0.5};
    const double want_y[5] = {1.0, 0.0, 0.0, 0.0, 0.0};
    const double want_dx[5] = {0.0, 2.385, 0.0, 0.0, INFINITY};
    const double zero = 0.0, seed = 2.385;

    for (int i = 0; i < 5; i++) {
        bp_node *x = param(1, 1, &zero), *y = bp_pow(g, x, c[i]);
        run(y, &seed);
        ck_assert_double_eq(bp_node_value(y)->data[0], want_y[i]);
        ck_assert_msg(bp_node_grad(x)->data[0] == want_dx[i], "c = %g: dx = %g, want %g",
                      c[i], bp_node_grad(x)->data[0], want_dx[i]);
    }
}
END_TEST

/* A NaN anywhere in a row makes that row's max NaN, not only in front. */
START_TEST(rowmax_propagates_nan)
{
    const double X[9] = {1.5, NAN, 2.385, NAN, 3.0, -1.0, 0.25, 4.5, -2.0};
    bp_node *x = param(3, 3, X), *m = bp_rowmax(g, x);

    ck_assert_int_eq(bp_forward(g, m), BP_OK);
    ck_assert(isnan(bp_node_value(m)->data[0]));
    ck_assert(isnan(bp_node_value(m)->data[1]));
    ck_assert_double_eq(bp_node_value(m)->data[2], 4.5);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ops");
    TCase *tc = tcase_create("ops");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, matmul_rectangular);
    tcase_add_test(tc, matmul_vector_sides);
    tcase_add_test(tc, transpose_values_and_gradient);
    tcase_add_test(tc, dense_equals_matmul_plus_bias);
    tcase_add_test(tc, dense_relu_blocks);
    tcase_add_test(tc, broadcast_patterns);
    tcase_add_test(tc, unary_values_and_derivatives);
    tcase_add_test(tc, relu_sigmoid_neg_scale_pow);
    tcase_add_test(tc, sigmoid_is_finite_for_extreme_inputs);
    tcase_add_test(tc, sigmoid_tanh_slopes_in_saturation);
    tcase_add_test(tc, reductions);
    tcase_add_test(tc, mse_value_and_gradient);
    tcase_add_test(tc, nll_value_gradient_and_floor);
    tcase_add_test(tc, readme_lists_every_builtin);
    tcase_add_test(tc, nll_reads_subnormal_probabilities_exactly);
    tcase_add_test(tc, pow_gradient_at_zero);
    tcase_add_test(tc, rowmax_propagates_nan);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
