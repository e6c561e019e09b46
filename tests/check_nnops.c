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

static void assert_near(const bp_matrix *m, const double *want, size_t n, const char *what)
{
    assert_near_tol(m, want, n, TOL, what);
}

/* The graph's error is status, with exactly the message msg; cleared. */
static void expect_error(bp_status status, const char *msg)
{
    ck_assert_int_eq(bp_graph_status(g), status);
    ck_assert_str_eq(bp_graph_message(g), msg);
    bp_graph_clear_error(g);
}

/* The ranks of input 0 over the cases tools/gradcheck runs on op, all of
 * which must pass: bit r set for rank r (read from the case labels). */
static unsigned gradchecked_ranks(const char *name)
{
    bp_check_report rep;
    unsigned ranks = 0;

    ck_assert_int_eq(bp_gradcheck_op(tu_builtin(name), NULL, &rep), BP_OK);
    ck_assert_msg(rep.result == BP_CHECK_PASS, "%s: %s %s", name, rep.diagnosis, rep.message);
    for (size_t i = 0; i < rep.n_cases; i++) {
        unsigned rank = 1;
        for (const char *c = rep.cases[i].label; *c && *c != ',' && *c != ' '; c++)
            rank += *c == 'x';
        ranks |= 1u << rank;
    }
    bp_check_report_clear(&rep);
    return ranks;
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

/* ---- layer_norm ---- */

/* The fused op and the staged graph against F.layer_norm on ranks 1 to 4:
 * values and the gradients of x, gamma and beta, and each other to 1e-12. */
START_TEST(layer_norm_fused_and_staged_match_torch)
{
    const ln_case *c = &ln_cases[_i];
    const size_t n = tu_shape_size(&c->x_shape), d = c->x_shape.dim[c->x_shape.rank - 1];
    const bp_shape ds = {1, {d}};
    bp_node *x = param_with(&c->x_shape, c->x, "x");
    bp_node *gamma = param_with(&ds, c->gamma, "gamma"), *beta = param_with(&ds, c->beta, "beta");
    bp_node *y[2], *loss[2];
    double grads[2][3][128];
    bp_node *const leaves[3] = {x, gamma, beta};

    ck_assert_uint_le(n, 128);
    y[0] = bp_layer_norm(g, x, gamma, beta, c->eps);
    y[1] = bp_layer_norm_staged(g, x, gamma, beta, c->eps);
    ck_assert_str_eq(bp_node_name(y[1]), "layer_norm.out");
    for (int k = 0; k < 2; k++) {
        const char *what = k ? "staged" : "fused";
        const double *want[3] = {c->dx, c->dgamma, c->dbeta};
        loss[k] = weighted(y[k], c->w);
        ck_assert_ptr_nonnull(loss[k]);
        ck_assert_int_eq(bp_forward(g, loss[k]), BP_OK);
        assert_near(bp_node_value(y[k]), c->y, n, what);
        bp_zero_grad(g);
        ck_assert_int_eq(bp_backward(g, loss[k], NULL), BP_OK);
        for (int i = 0; i < 3; i++) {
            const bp_matrix *gr = bp_node_grad(leaves[i]);
            assert_near(gr, want[i], i ? d : n, what);
            memcpy(grads[k][i], gr->data, (i ? d : n) * sizeof(double));
        }
    }
    for (int i = 0; i < 3; i++)
        for (size_t e = 0; e < (i ? d : n); e++)
            ck_assert_double_eq_tol(grads[0][i][e], grads[1][i][e], 1e-12);
    for (size_t e = 0; e < n; e++)
        ck_assert_double_eq_tol(bp_node_value(y[0])->data[e], bp_node_value(y[1])->data[e], 1e-12);
}
END_TEST

/* A constant row (2.5, exact in binary, so μ = 2.5 and σ² = 0 exactly):
 * y = β, dγ = 0, and dx = (ĝ − mean(ĝ))/√eps with ĝ = g ⊙ γ, by hand. */
START_TEST(layer_norm_constant_row)
{
    const double xv[4] = {2.5, 2.5, 2.5, 2.5}, gv[4] = {0.7, -1.3, 0.2, 2.1};
    const double bv[4] = {0.11, -0.42, 0.93, 0.05};
    const double mean_g2 = (0.49 + 1.69 + 0.04 + 4.41) / 4;   /* ĝ = gv ⊙ gv */
    const bp_shape ds = {1, {4}};
    bp_node *x = param_with(&(bp_shape){2, {1, 4}}, xv, "x");
    bp_node *gamma = param_with(&ds, gv, "gamma"), *beta = param_with(&ds, bv, "beta");
    bp_node *y = bp_layer_norm(g, x, gamma, beta, 1e-5), *loss = weighted(y, gv);

    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
    for (int j = 0; j < 4; j++) {
        const double dx = (gv[j] * gv[j] - mean_g2) / sqrt(1e-5);
        ck_assert_double_eq(bp_node_value(y)->data[j], bv[j]);
        ck_assert_double_eq_tol(bp_node_grad(x)->data[j], dx, 1e-12 * fabs(dx));
        ck_assert_double_eq(bp_node_grad(gamma)->data[j], 0.0);
        ck_assert_double_eq(bp_node_grad(beta)->data[j], gv[j]);
    }
}
END_TEST

/* gamma or beta not (D), or a bad eps: refused by both forms, naming the
 * op and both shapes; nothing is added to the graph. */
START_TEST(layer_norm_refuses_bad_shapes)
{
    bp_node *x = bp_input_nd(g, &(bp_shape){3, {2, 3, 4}}, "x");
    bp_node *g5 = bp_param_nd(g, &(bp_shape){1, {5}}, "g5");
    bp_node *g4 = bp_param_nd(g, &(bp_shape){1, {4}}, "g4");
    bp_node *row4 = bp_param_nd(g, &(bp_shape){2, {1, 4}}, "row4");
    bp_node *one = bp_param_nd(g, &(bp_shape){1, {1}}, "one");
    const size_t size = bp_graph_size(g);

    ck_assert_ptr_null(bp_layer_norm(g, x, g5, g4, 1e-5));
    expect_error(BP_EDIM, "layer_norm: gamma of shape 5 does not fit x 2x3x4: it must be (4), "
                          "x's last axis");
    ck_assert_ptr_null(bp_layer_norm(g, x, g4, row4, 1e-5));
    expect_error(BP_EDIM, "layer_norm: beta of shape 1x4 does not fit x 2x3x4: it must be (4), "
                          "x's last axis");
    /* (1) would broadcast in the staged graph's mul: refused there too */
    ck_assert_ptr_null(bp_layer_norm_staged(g, x, one, g4, 1e-5));
    expect_error(BP_EDIM, "layer_norm_staged: gamma of shape 1 does not fit x 2x3x4: it must be "
                          "(4), x's last axis");
    ck_assert_ptr_null(bp_layer_norm(g, x, g4, g4, -1e-5));
    expect_error(BP_EINVAL, "layer_norm: eps -1e-05 is not a finite number ≥ 0");
    ck_assert_ptr_null(bp_layer_norm_staged(g, x, g4, g4, NAN));
    expect_error(BP_EINVAL, "layer_norm_staged: eps nan is not a finite number ≥ 0");
    ck_assert_uint_eq(bp_graph_size(g), size);
}
END_TEST

/* ---- causal_softmax ---- */

/* Against a softmax of scores filled with −inf above the shifted diagonal
 * (torch), for Tq = Tk, Tq < Tk, Tq > Tk (rows with no key: 0, gradient 0),
 * ranks 2 to 4, and logits of magnitude up to 2e3; also in place. */
START_TEST(causal_softmax_matches_masked_torch)
{
    const cs_case *c = &cs_cases[_i / 2];
    const size_t n = tu_shape_size(&c->shape), tk = c->shape.dim[c->shape.rank - 1];
    const size_t tq = c->shape.dim[c->shape.rank - 2];
    bp_node *s, *y, *loss;

    bp_graph_set_inplace(g, _i % 2);
    s = param_with(&c->shape, c->s, "s");
    /* through scale(1), so that in place mode has an op node to overwrite */
    y = bp_causal_softmax(g, bp_scale(g, s, 1.0));
    loss = weighted(y, c->w);
    ck_assert_ptr_nonnull(loss);
    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    assert_near_tol(bp_node_value(y), c->y, n, 1e-14, "causal_softmax");
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
    assert_near_tol(bp_node_grad(s), c->ds, n, 1e-14, "d causal_softmax");
    /* a masked score: exactly 0, and no gradient */
    for (size_t k = 0; k < n; k++) {
        const size_t i = (k / tk) % tq, j = k % tk;
        if (j + tq > i + tk) {
            ck_assert_double_eq(bp_node_value(y)->data[k], 0.0);
            ck_assert_double_eq(bp_node_grad(s)->data[k], 0.0);
        }
    }
}
END_TEST

/* Query i of Tq = Tk = 3 sees keys 0..i: row 0 is (1, 0, 0); row 1 the
 * softmax of its first two scores, by hand; scores ±1e4 stay finite. */
START_TEST(causal_softmax_known_values_and_extremes)
{
    const double sv[9] = {-0.731, 2.385, 0.402, 1.25, -0.5, 7.0, 1e4, -1e4, 1e4};
    const double e = exp(-1.75);   /* row 1: e^(−0.5 − 1.25) */
    bp_node *s = param_with(&(bp_shape){2, {3, 3}}, sv, "s"), *y = bp_causal_softmax(g, s);
    bp_node *loss = bp_sum(g, bp_mul(g, y, y));
    const bp_matrix *v, *d;

    bp_graph_set_anomaly_mode(g, 1);
    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
    v = bp_node_value(y);
    d = bp_node_grad(s);
    ck_assert_double_eq(v->data[0], 1.0);
    ck_assert_double_eq(v->data[1], 0.0);
    ck_assert_double_eq(v->data[2], 0.0);
    ck_assert_double_eq_tol(v->data[3], 1 / (1 + e), 1e-16);
    ck_assert_double_eq_tol(v->data[4], e / (1 + e), 1e-16);
    ck_assert_double_eq(v->data[5], 0.0);
    /* (1e4, −1e4, 1e4): half and half, e^−2e4 = 0 */
    ck_assert_double_eq(v->data[6], 0.5);
    ck_assert_double_eq(v->data[7], 0.0);
    ck_assert_double_eq(v->data[8], 0.5);
    /* d Σ y² / ds = y ⊙ (2y − Σ 2y²) over the keys seen: row 0's is 0 */
    ck_assert_double_eq(d->data[0], 0.0);
    ck_assert_double_eq_tol(d->data[3], 2 * v->data[3] * (v->data[3] - (v->data[3] * v->data[3] + v->data[4] * v->data[4])), 1e-15);
    ck_assert_double_eq(d->data[5], 0.0);
}
END_TEST

START_TEST(causal_softmax_refuses_rank_1)
{
    bp_node *v = bp_input_nd(g, &(bp_shape){1, {5}}, "v");

    ck_assert_ptr_null(bp_causal_softmax(g, v));
    expect_error(BP_EDIM, "causal_softmax: scores of shape 5 have rank 1; they need rank 2 to 4 "
                          "(..., Tq, Tk)");
}
END_TEST

/* ---- cross_entropy ---- */

/* Against F.cross_entropy(z.reshape(-1, C), ids, ignore_index=...) for
 * logits of rank 2, 3 and 4 with some ids ignored (one case's ignore_index
 * is also a class): the loss and dL/dz for L = w·loss. */
START_TEST(cross_entropy_matches_torch)
{
    const ce_case *c = &ce_cases[_i];
    const size_t n = tu_shape_size(&c->z_shape);
    bp_node *z = param_with(&c->z_shape, c->z, "z");
    bp_node *ids = bp_constant_nd(g, &c->ids_shape, c->ids, "ids");
    bp_node *loss = bp_cross_entropy(g, z, ids, c->ignore_index);
    bp_node *l = bp_scale(g, loss, c->w);

    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(bp_forward(g, l), BP_OK);
    ck_assert_double_eq_tol(bp_node_value(loss)->data[0], c->loss, 1e-14);
    ck_assert_int_eq(bp_backward(g, l, NULL), BP_OK);
    assert_near_tol(bp_node_grad(z), c->dz, n, 1e-15, "d cross_entropy");
}
END_TEST

/* Every id ignored: 0 and a 0 gradient, no NaN (PyTorch's mean is 0/0). */
START_TEST(cross_entropy_all_ignored)
{
    const double zv[6] = {0.3, -2.385, 1.1, 7.5, -0.2, 0.9}, iv[2] = {-1.0, -1.0};
    bp_node *z = param_with(&(bp_shape){2, {2, 3}}, zv, "z");
    bp_node *ids = bp_constant_nd(g, &(bp_shape){1, {2}}, iv, "ids");
    bp_node *loss = bp_cross_entropy(g, z, ids, -1.0);

    bp_graph_set_anomaly_mode(g, 1);
    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    ck_assert_double_eq(bp_node_value(loss)->data[0], 0.0);
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
    for (int k = 0; k < 6; k++)
        ck_assert_double_eq(bp_node_grad(z)->data[k], 0.0);
}
END_TEST

/* By hand: logits (1000, 980, 990) for class 1: −log softmax = 20 +
 * log(1 + e^−20 + e^−10), no overflow; the other row ignored. */
START_TEST(cross_entropy_extreme_logits)
{
    const double zv[6] = {1000.0, 980.0, 990.0, -1e4, 1e4, 0.0}, iv[2] = {1.0, 2.0};
    bp_node *z = param_with(&(bp_shape){2, {2, 3}}, zv, "z");
    bp_node *ids = bp_constant_nd(g, &(bp_shape){1, {2}}, iv, "ids");
    bp_node *loss = bp_cross_entropy(g, z, ids, 2.0);

    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    ck_assert_double_eq_tol(bp_node_value(loss)->data[0], 20.0 + log1p(exp(-20.0) + exp(-10.0)),
                            1e-13);
}
END_TEST

/* An id that is neither a class nor the ignore_index: BP_EINVAL at
 * forward naming the op, the id and its position. */
START_TEST(cross_entropy_refuses_bad_ids)
{
    const double zv[6] = {0.3, -2.385, 1.1, 7.5, -0.2, 0.9};
    const double bad[3][2] = {{0.0, 3.0}, {1.5, 0.0}, {-1.0, 2.0}};
    const char *msg[3] = {
        "cross_entropy: forward: id 3 at position 1 is neither a class in [0, 3) nor the "
        "ignore_index -100",
        "cross_entropy: forward: id 1.5 at position 0 is neither a class in [0, 3) nor the "
        "ignore_index -100",
        "cross_entropy: forward: id -1 at position 0 is neither a class in [0, 3) nor the "
        "ignore_index -100",
    };

    for (int k = 0; k < 3; k++) {
        bp_node *z = param_with(&(bp_shape){2, {2, 3}}, zv, "z");
        bp_node *ids = bp_constant_nd(g, &(bp_shape){1, {2}}, bad[k], "ids");
        bp_node *loss = bp_cross_entropy(g, z, ids, -100.0);
        ck_assert_ptr_nonnull(loss);
        ck_assert_int_eq(bp_forward(g, loss), BP_EINVAL);
        expect_error(BP_EINVAL, msg[k]);
    }
}
END_TEST

START_TEST(cross_entropy_refuses_bad_shapes)
{
    bp_node *z3 = bp_input_nd(g, &(bp_shape){3, {2, 4, 3}}, "z3");
    bp_node *z1 = bp_input_nd(g, &(bp_shape){1, {5}}, "z1");
    bp_node *i4 = bp_input_nd(g, &(bp_shape){1, {4}}, "i4");
    bp_node *i24 = bp_input_nd(g, &(bp_shape){2, {2, 4}}, "i24");
    const size_t size = bp_graph_size(g);

    ck_assert_ptr_null(bp_cross_entropy(g, z3, i4, -100.0));
    expect_error(BP_EDIM, "cross_entropy: ids of shape 4 do not fit logits 2x4x3: they must be "
                          "2x4, the logits' shape without its last axis");
    ck_assert_ptr_null(bp_cross_entropy(g, z1, i4, -100.0));
    expect_error(BP_EDIM, "cross_entropy: logits of shape 5 have rank 1; they need rank 2 to 4 "
                          "(..., C)");
    ck_assert_ptr_null(bp_cross_entropy(g, z3, i24, NAN));
    expect_error(BP_EINVAL, "cross_entropy: ignore_index nan is not a finite number");
    ck_assert_ptr_nonnull(bp_cross_entropy(g, z3, i24, -100.0));
    ck_assert_uint_eq(bp_graph_size(g), size + 1);
}
END_TEST

/* What the checker feeds cross_entropy's ids, seen through a copy of the
 * op whose forward records them: classes below C, the size of the logits'
 * last axis (not of axis 0), up to C − 1, and some equal to ignore_index,
 * whichever attribute set says it. */
static int spy_bad, spy_top, spy_ignored;

static bp_status spy_forward(bp_op_args *a)
{
    const size_t c = a->in[0]->cols, n = a->in[0]->rows;

    for (size_t k = 0; k < n; k++) {
        const double id = a->in[1]->data[k];
        if (id == a->attr[0])
            spy_ignored++;
        else if (id < 0 || id >= (double)c || id != floor(id))
            spy_bad++;
        else if (id == (double)(c - 1) && c > 1)
            spy_top++;
    }
    return tu_builtin("cross_entropy")->forward(a);
}

START_TEST(checker_samples_classes_and_ignored_ids)
{
    bp_op spy = *tu_builtin("cross_entropy");
    bp_check_report rep;

    spy.name = "cross_entropy_spy";
    spy.forward = spy_forward;
    ck_assert_int_eq(bp_gradcheck_op(&spy, NULL, &rep), BP_OK);
    ck_assert_msg(rep.result == BP_CHECK_PASS, "%s %s", rep.diagnosis, rep.message);
    bp_check_report_clear(&rep);
    ck_assert_int_eq(spy_bad, 0);
    ck_assert_int_gt(spy_top, 0);
    ck_assert_int_gt(spy_ignored, 0);
}
END_TEST

/* tools/gradcheck's cases of each new op pass and cover every rank it takes. */
START_TEST(gradcheck_covers_every_rank)
{
    ck_assert_uint_eq(gradchecked_ranks("gelu"), 0x1eu);
    ck_assert_uint_eq(gradchecked_ranks("layer_norm"), 0x1eu);
    ck_assert_uint_eq(gradchecked_ranks("causal_softmax"), 0x1cu);
    ck_assert_uint_eq(gradchecked_ranks("cross_entropy"), 0x1cu);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("nnops");
    TCase *tc = tcase_create("nnops");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, gelu_matches_torch);
    tcase_add_test(tc, gelu_known_values);
    tcase_add_loop_test(tc, layer_norm_fused_and_staged_match_torch, 0, (int)N_OF(ln_cases));
    tcase_add_test(tc, layer_norm_constant_row);
    tcase_add_test(tc, layer_norm_refuses_bad_shapes);
    tcase_add_loop_test(tc, causal_softmax_matches_masked_torch, 0, 2 * (int)N_OF(cs_cases));
    tcase_add_test(tc, causal_softmax_known_values_and_extremes);
    tcase_add_test(tc, causal_softmax_refuses_rank_1);
    tcase_add_loop_test(tc, cross_entropy_matches_torch, 0, (int)N_OF(ce_cases));
    tcase_add_test(tc, cross_entropy_all_ignored);
    tcase_add_test(tc, cross_entropy_extreme_logits);
    tcase_add_test(tc, cross_entropy_refuses_bad_ids);
    tcase_add_test(tc, cross_entropy_refuses_bad_shapes);
    tcase_add_test(tc, checker_samples_classes_and_ignored_ids);
    tcase_add_test(tc, gradcheck_covers_every_rank);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
