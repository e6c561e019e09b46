/* SPDX-License-Identifier: MIT */
/* The network ops: gelu, layer_norm (fused and staged), causal_softmax and
 * cross_entropy, values and gradients against PyTorch
 * (tests/fixtures/nn_torch.py) and known values; the refusals. */
#include "test_util.h"

#include "fixtures/nn_torch.h"

#define N_OF(a) (sizeof (a) / sizeof (a)[0])
#define TOL 1e-12   /* relative to max(1, |want|) */

static bp_graph *g;

static void setup(void)
{
    g = bp_graph_new();
    ck_assert_ptr_nonnull(g);
}

static void teardown(void)
{
    bp_graph_free(g);
}

/* Every entry of m within tol·max(1, |want|) of want (n entries). */
static void assert_near_tol(const bp_matrix *m, const double *want, size_t n, double tol,
                            const char *what)
{
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(m->rows * m->cols, n);
    for (size_t k = 0; k < n; k++)
        ck_assert_msg(fabs(m->data[k] - want[k]) <= tol * fmax(1.0, fabs(want[k])),
                      "%s entry %zu: got %.17g, want %.17g", what, k, m->data[k], want[k]);
}

/* A leaf of the given shape holding data (its matrix view's entries). */
static bp_node *leaf_with(bp_node *(*make)(bp_graph *, const bp_shape *, const char *),
                          const bp_shape *s, const double *data, const char *name)
{
    bp_node *p = make(g, s, name);
    size_t rows = 1, cols = s->dim[s->rank - 1];

    for (size_t d = 0; d + 1 < s->rank; d++)
        rows *= s->dim[d];
    ck_assert_ptr_nonnull(p);
    tu_set(p, rows, cols, data);
    return p;
}

static bp_node *param_with(const bp_shape *s, const double *data, const char *name)
{
    return leaf_with(bp_param_nd, s, data, name);
}

/* sum(w ⊙ y) for a constant w of y's shape: the gradient reaching y is w. */
static bp_node *weighted(bp_node *y, const double *w)
{
    const bp_shape *s = bp_node_shape(y);
    bp_node *wn;

    ck_assert_ptr_nonnull(s);
    wn = bp_constant_nd(g, s, w, "w");
    return bp_sum(g, bp_mul(g, wn, y));
}

/* ---- gelu ---- */

START_TEST(gelu_matches_torch)
{
    const bp_shape s = {1, {N_OF(gelu_x)}};
    bp_node *x = param_with(&s, gelu_x, "x"), *y = bp_gelu(g, x), *loss = weighted(y, gelu_w);

    ck_assert_ptr_nonnull(loss);
    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    /* absolute 1e-15 at tiny values: PyTorch's 1 + erf loses digits there */
    assert_near_tol(bp_node_value(y), gelu_y, N_OF(gelu_x), 1e-15, "gelu");
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
    assert_near_tol(bp_node_grad(x), gelu_dx, N_OF(gelu_x), 1e-14, "d gelu");
}
END_TEST

/* x·Φ(x) and gelu'(x) = Φ(x) + x·φ(x) at points where Φ and φ are
 * tabulated (30 digits from mpmath's ncdf and npdf): Φ(1) =
 * 0.8413447460685429486, φ(1) = 0.2419707245191433498, ...; gelu'(0) =
 * Φ(0) = 1/2.  Far in the left tail (x = −10, Φ = 7.6e-24) the erfc form
 * keeps the value's digits, which 1 + erf(x/√2) would cancel to 0. */
START_TEST(gelu_known_values)
{
    const double x[5] = {1.0, 2.0, -0.5, 0.0, -10.0};
    const double want[5] = {0.841344746068542948585, 1.95449973610364158560,
                            -0.154268769362993448181, 0.0, -7.61985302416052606597e-23};
    const double dwant[5] = {1.08331547058768629838, 1.08523180107819689670,
                             0.132504875343837157475, 0.5, -7.61840009646481408568e-22};
    bp_node *a = param_with(&(bp_shape){2, {1, 5}}, x, "a"), *y = bp_gelu(g, a);
    bp_node *loss = bp_sum(g, y);

    ck_assert_ptr_nonnull(loss);
    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
    for (int k = 0; k < 5; k++) {
        /* relative; at −10 the erfc's condition number, 2x² = 200, times
         * x/√2's rounding allows some 1e-14 */
        const double rel = k == 4 ? 1e-13 : 1e-15;
        ck_assert_double_eq_tol(bp_node_value(y)->data[k], want[k], rel * fabs(want[k]) + 1e-300);
        ck_assert_double_eq_tol(bp_node_grad(a)->data[k], dwant[k], rel * fabs(dwant[k]) + 1e-300);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("nnops");
    TCase *tc = tcase_create("nnops");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, gelu_matches_torch);
    tcase_add_test(tc, gelu_known_values);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
