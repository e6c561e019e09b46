/* SPDX-License-Identifier: MIT */
/* dropout and the graph's training mode and generator: the fraction
 * dropped within a binomial bound, kept entries scaled by 1/(1-p), the
 * backward's mask read off the forward's output, eval mode and p = 0 the
 * identity, seeds, ranks 1 to 4, p refused outside [0, 1), no allocation
 * per step, and the checker holding draws fixed (dropout, a user's random
 * op, whole graphs). */
#include "test_util.h"

/* Inputs are drawn away from 0, so an output of 0 means dropped. */
static void fill_nonzero(double *x, size_t n, uint64_t seed)
{
    bp_rng r = tu_rng(seed);
    for (size_t k = 0; k < n; k++)
        x[k] = (k % 2 ? -1.0 : 1.0) * tu_uniform(&r, 0.5, 2.5);
}

/* Every y[k] is 0 (dropped) or x[k]/(1-p) (kept), to rounding; returns
 * how many were dropped. */
static size_t count_dropped(const double *x, const double *y, size_t n, double p)
{
    size_t dropped = 0;
    for (size_t k = 0; k < n; k++) {
        if (y[k] == 0.0) {
            dropped++;
            continue;
        }
        ck_assert_msg(fabs(y[k] - x[k] / (1.0 - p)) <= 4e-16 * fabs(y[k]),
                      "entry %zu: %.17g is neither 0 nor %.17g / (1 - %g)", k, y[k], x[k], p);
    }
    return dropped;
}

/* y = dropout(w, p) for a param w of shape s filled by fill_nonzero. */
static bp_graph *dropout_of_param(const bp_shape *s, double p, bp_node **w, bp_node **y)
{
    bp_graph *g = bp_graph_new();
    size_t n = 1;

    ck_assert_ptr_nonnull(g);
    *w = bp_param_nd(g, s, "w");
    *y = bp_dropout(g, *w, p);
    ck_assert_ptr_nonnull(*y);
    for (size_t d = 0; d < s->rank; d++)
        n *= s->dim[d];
    fill_nonzero(bp_node_value(*w)->data, n, 11);
    return g;
}

START_TEST(training_drops_a_fraction_p_and_scales_the_rest)
{
    /* 40·50·50 = 100000 entries, p = 0.3: the count dropped is binomial,
     * mean 30000, sd √(n p (1−p)) ≈ 144.9; 5 sd either side. */
    const bp_shape s = {3, {40, 50, 50}};
    const size_t n = 100000;
    const double p = 0.3, mean = n * p, sd = sqrt(n * p * (1.0 - p));
    bp_node *w, *y;
    bp_graph *g = dropout_of_param(&s, p, &w, &y);
    size_t dropped, dropped_first_half = 0;
    const double *x, *v;

    ck_assert_int_eq(bp_graph_training(g), 1);   /* a new graph trains */
    ck_assert_int_eq(bp_forward(g, y), BP_OK);
    x = bp_node_value(w)->data;
    v = bp_node_value(y)->data;
    dropped = count_dropped(x, v, n, p);
    ck_assert_msg(fabs((double)dropped - mean) <= 5.0 * sd, "dropped %zu of %zu, expected %g ± %g",
                  dropped, n, mean, 5.0 * sd);
    /* the drops are spread out: each half holds its share */
    for (size_t k = 0; k < n / 2; k++)
        dropped_first_half += v[k] == 0.0;
    ck_assert_msg(fabs((double)dropped_first_half - mean / 2) <= 5.0 * sd / sqrt(2.0),
                  "first half dropped %zu", dropped_first_half);
    bp_graph_free(g);
}
END_TEST

/* dL/dw for L = Σ seed ⊙ dropout(w): seed ⊙ mask/(1-p), the mask read off
 * the forward's output (0 where it dropped), with in-place mode off and
 * on (w behind scale(1), so dropout may run over its buffers). */
START_TEST(backward_applies_the_forward_mask)
{
    const bp_shape s = {3, {3, 4, 5}};
    const size_t n = 60;
    const double p = 0.45;
    double x[60], seed[60], first_out[60];

    fill_nonzero(x, n, 5);
    fill_nonzero(seed, n, 6);
    for (int inplace = 0; inplace < 2; inplace++) {
        bp_graph *g = bp_graph_new();
        bp_node *w = bp_param_nd(g, &s, "w");
        bp_node *y = bp_dropout(g, bp_scale(g, w, 1.0), p);
        bp_matrix sm = tu_view(12, 5, seed);
        const double *out;
        const bp_matrix *dw;
        size_t dropped;

        ck_assert_ptr_nonnull(y);
        memcpy(bp_node_value(w)->data, x, sizeof x);
        bp_graph_set_inplace(g, inplace);
        bp_graph_set_seed(g, 2024);
        ck_assert_int_eq(bp_forward(g, y), BP_OK);
        out = bp_node_value(y)->data;
        dropped = count_dropped(x, out, n, p);
        ck_assert_uint_gt(dropped, 0);
        ck_assert_uint_lt(dropped, n);
        if (!inplace)
            memcpy(first_out, out, sizeof first_out);
        else   /* the same seed, the same mask, in place or not */
            ck_assert_mem_eq(out, first_out, sizeof first_out);
        for (int pass = 1; pass <= 2; pass++) {   /* a param's gradient accumulates */
            ck_assert_int_eq(bp_backward(g, y, &sm), BP_OK);
            dw = bp_node_grad(w);
            for (size_t k = 0; k < n; k++) {
                double want = first_out[k] == 0.0 ? 0.0 : pass * seed[k] / (1.0 - p);
                ck_assert_msg(fabs(dw->data[k] - want) <= 1e-15 * fabs(want),
                              "in place %d, pass %d, entry %zu: %.17g, want %.17g", inplace,
                              pass, k, dw->data[k], want);
            }
        }
        bp_graph_free(g);
    }
}
END_TEST

/* Eval mode: the identity, value and gradient, bit for bit; the mode of
 * a node's forward holds for its backward even when it changes between. */
START_TEST(eval_mode_is_the_identity)
{
    const bp_shape s = {2, {6, 7}};
    const size_t n = 42;
    double seed[42];
    bp_matrix sm = tu_view(6, 7, seed);
    bp_node *w, *y;
    bp_graph *g = dropout_of_param(&s, 0.5, &w, &y);
    const double *x = bp_node_value(w)->data;
    size_t zeros = 0;

    fill_nonzero(seed, n, 8);
    bp_graph_set_training(g, 0);
    ck_assert_int_eq(bp_graph_training(g), 0);
    ck_assert_int_eq(bp_forward(g, y), BP_OK);
    ck_assert_mem_eq(bp_node_value(y)->data, x, n * sizeof *x);
    bp_graph_set_training(g, 1);   /* after the forward: no effect on its backward */
    ck_assert_int_eq(bp_backward(g, y, &sm), BP_OK);
    ck_assert_mem_eq(bp_node_grad(w)->data, seed, sizeof seed);

    /* forward in training mode, eval set before the backward: the mask */
    bp_zero_grad(g);
    ck_assert_int_eq(bp_forward(g, y), BP_OK);
    bp_graph_set_training(g, 0);
    ck_assert_int_eq(bp_backward(g, y, &sm), BP_OK);
    for (size_t k = 0; k < n; k++) {
        const double out = bp_node_value(y)->data[k];
        zeros += out == 0.0;
        ck_assert_double_eq_tol(bp_node_grad(w)->data[k], out == 0.0 ? 0.0 : 2.0 * seed[k],
                                1e-15);
    }
    ck_assert_uint_gt(zeros, 0);
    bp_graph_free(g);
}
END_TEST

START_TEST(p_zero_is_the_identity)
{
    const bp_shape s = {4, {2, 3, 2, 5}};
    double seed[60];
    bp_matrix sm = tu_view(12, 5, seed);
    bp_node *w, *y;
    bp_graph *g = dropout_of_param(&s, 0.0, &w, &y);

    fill_nonzero(seed, 60, 9);
    ck_assert_int_eq(bp_graph_training(g), 1);
    ck_assert_int_eq(bp_forward(g, y), BP_OK);
    ck_assert_mem_eq(bp_node_value(y)->data, bp_node_value(w)->data, 60 * sizeof(double));
    ck_assert_int_eq(bp_backward(g, y, &sm), BP_OK);
    ck_assert_mem_eq(bp_node_grad(w)->data, seed, sizeof seed);
    bp_graph_free(g);
}
END_TEST

/* The output of n forwards of dropout(w, 0.5), 1000 entries each, from a
 * graph seeded with seed (or left at its default when seed is -1). */
static void forwards(long long seed, size_t n, double *out)
{
    const bp_shape s = {1, {1000}};
    bp_node *w, *y;
    bp_graph *g = dropout_of_param(&s, 0.5, &w, &y);

    if (seed >= 0)
        bp_graph_set_seed(g, (uint64_t)seed);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(bp_forward(g, y), BP_OK);
        memcpy(out + i * 1000, bp_node_value(y)->data, 1000 * sizeof *out);
    }
    bp_graph_free(g);
}

START_TEST(same_seed_same_masks_other_seeds_differ)
{
    static double a[3000], b[3000];

    forwards(42, 3, a);
    forwards(42, 3, b);
    ck_assert_mem_eq(a, b, sizeof a);   /* the same sequence of masks */
    /* each forward draws a new mask */
    ck_assert_int_ne(memcmp(a, a + 1000, 1000 * sizeof *a), 0);
    ck_assert_int_ne(memcmp(a + 1000, a + 2000, 1000 * sizeof *a), 0);
    forwards(43, 1, b);
    ck_assert_int_ne(memcmp(a, b, 1000 * sizeof *a), 0);
    /* a new graph's generator is seeded with 0 */
    forwards(-1, 2, a);
    forwards(0, 2, b);
    ck_assert_mem_eq(a, b, 2000 * sizeof *a);
}
END_TEST

START_TEST(ranks_one_to_four)
{
    const bp_shape shapes[] = {{1, {9}}, {2, {3, 5}}, {3, {2, 3, 4}}, {4, {2, 2, 3, 5}}};
    const double p = 0.4;

    for (size_t i = 0; i < 4; i++) {
        const bp_shape *s = &shapes[i];
        bp_node *w, *y;
        bp_graph *g = dropout_of_param(s, p, &w, &y);
        const bp_matrix *v;
        double seed[60];
        bp_matrix sm;

        ck_assert_uint_eq(bp_node_shape(y)->rank, s->rank);
        ck_assert_mem_eq(bp_node_shape(y)->dim, s->dim, s->rank * sizeof(size_t));
        ck_assert_int_eq(bp_forward(g, y), BP_OK);
        v = bp_node_value(y);
        count_dropped(bp_node_value(w)->data, v->data, v->rows * v->cols, p);
        for (size_t k = 0; k < v->rows * v->cols; k++)
            seed[k] = 1.0 + 0.25 * (double)k;
        sm = tu_view(v->rows, v->cols, seed);
        ck_assert_int_eq(bp_backward(g, y, &sm), BP_OK);
        for (size_t k = 0; k < v->rows * v->cols; k++)
            ck_assert_double_eq_tol(bp_node_grad(w)->data[k],
                                    v->data[k] == 0.0 ? 0.0 : seed[k] / (1.0 - p), 1e-14);
        bp_graph_free(g);
    }
}
END_TEST

START_TEST(p_outside_zero_one_is_refused)
{
    const double bad[] = {1.0, 1.5, -0.1, -0.0 - 1e-300, NAN, INFINITY, -INFINITY};

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bp_graph *g = bp_graph_new();
        bp_node *x = bp_param(g, 2, 3, "x");
        ck_assert_ptr_null(bp_dropout(g, x, bad[i]));
        ck_assert_int_eq(bp_graph_status(g), BP_EINVAL);
        ck_assert_msg(strstr(bp_graph_message(g), "dropout") &&
                      strstr(bp_graph_message(g), "must be in [0, 1)"),
                      "p = %g: '%s'", bad[i], bp_graph_message(g));
        ck_assert_uint_eq(bp_graph_size(g), 1);   /* nothing added */
        bp_graph_free(g);
    }
}
END_TEST

/* After the first step, steps allocate nothing: the mask lives in the
 * node's scratch, sized once. */
START_TEST(no_allocation_per_step)
{
    const bp_shape s = {3, {4, 8, 16}};
    bp_node *w, *y, *loss;
    bp_graph *g;
    long after_first = 0;

    ck_assert_int_eq(bp_set_alloc_funcs(tu_failing_malloc, tu_counting_free), BP_OK);
    tu_allocations = tu_live = tu_fail_at = 0;
    g = dropout_of_param(&s, 0.25, &w, &y);
    loss = bp_sum(g, bp_tanh(g, y));
    for (int step = 0; step < 4; step++) {
        ck_assert_int_eq(bp_forward(g, loss), BP_OK);
        ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
        if (step == 0)
            after_first = tu_allocations;
    }
    ck_assert_int_eq(tu_allocations, after_first);
    bp_graph_free(g);
    ck_assert_int_eq(tu_live, 0);
    ck_assert_int_eq(bp_set_alloc_funcs(NULL, NULL), BP_OK);
}
END_TEST

/* ---- the checker ---- */

/* Dropout whose backward ignores the mask: dX += dY. */
static bp_status unmasked_backward(bp_op_args *a)
{
    if (a->din[0])
        for (size_t k = 0; k < a->dout->rows * a->dout->cols; k++)
            a->din[0]->data[k] += a->dout->data[k];
    return BP_OK;
}

/* Multiplicative noise, y = x ⊙ z with each z standard normal, drawn at
 * each forward and kept in the scratch: a random op as a user's plugin
 * declares it, through the general mechanism (args->rng). */
static bp_status noise_shape(bp_op_args *a)
{
    *a->out_shape = *a->in_shape[0];
    a->n_work = a->in[0]->rows * a->in[0]->cols;
    return BP_OK;
}

static void noise_apply(bp_op_args *a, bp_rng *rng)
{
    for (size_t k = 0; k < a->n_work; k++) {
        if (rng)
            a->work[k] = bp_rng_normal(rng);
        a->out->data[k] = a->in[0]->data[k] * a->work[k];
    }
}

static bp_status noise_forward(bp_op_args *a)
{
    noise_apply(a, a->rng);   /* NULL: reuse the last draws */
    return BP_OK;
}

/* The same op breaking the contract: it draws anew at every forward from
 * a generator of its own, even when told to reuse its draws, so no two
 * forwards compute the same function. */
static bp_rng own_rng;

static bp_status redrawing_forward(bp_op_args *a)
{
    noise_apply(a, &own_rng);
    return BP_OK;
}

static bp_status noise_backward(bp_op_args *a)
{
    if (a->din[0])   /* dX += dY ⊙ z */
        for (size_t k = 0; k < a->n_work; k++)
            a->din[0]->data[k] += a->dout->data[k] * a->work[k];
    return BP_OK;
}

static const bp_op noise_op = {
    .name = "noise", .n_in = 1, .shape = noise_shape, .forward = noise_forward,
    .backward = noise_backward, .flags = BP_OP_TENSORS | BP_OP_RANDOM, .linear = 1u,
};

static const bp_op redrawing_op = {
    .name = "redrawing", .n_in = 1, .shape = noise_shape, .forward = redrawing_forward,
    .backward = noise_backward, .flags = BP_OP_TENSORS | BP_OP_RANDOM, .linear = 1u,
};

START_TEST(checker_passes_dropout_and_catches_faults)
{
    bp_check_report rep;
    bp_op wrong = *tu_builtin("dropout");

    ck_assert_int_eq(bp_gradcheck_op(tu_builtin("dropout"), NULL, &rep), BP_OK);
    ck_assert_msg(rep.result == BP_CHECK_PASS, "%s %s", rep.diagnosis, rep.message);
    ck_assert_uint_gt(rep.n_compared, 0);
    bp_check_report_clear(&rep);

    /* the checker runs in training mode, so an unmasked backward shows */
    wrong.backward = unmasked_backward;
    wrong.flags &= ~(BP_OP_ASSIGN_FRESH | BP_OP_INPLACE);
    ck_assert_int_eq(bp_gradcheck_op(&wrong, NULL, &rep), BP_OK);
    ck_assert_int_eq(rep.result, BP_CHECK_MISMATCH);
    bp_check_report_clear(&rep);

    /* a user's random op: passes when it reuses its draws as told, fails
     * when it draws anew at every forward */
    ck_assert_int_eq(bp_gradcheck_op(&noise_op, NULL, &rep), BP_OK);
    ck_assert_msg(rep.result == BP_CHECK_PASS, "%s %s", rep.diagnosis, rep.message);
    ck_assert_uint_gt(rep.n_compared, 0);
    bp_check_report_clear(&rep);
    bp_rng_seed(&own_rng, 1);
    ck_assert_int_eq(bp_gradcheck_op(&redrawing_op, NULL, &rep), BP_OK);
    ck_assert_int_eq(rep.result, BP_CHECK_MISMATCH);
    bp_check_report_clear(&rep);
}
END_TEST

/* loss = mse(dropout(tanh(x·W1 + b1), 0.4)·W2 + b2, t), x 5x3, hidden 6. */
struct net {
    bp_graph *g;
    bp_node *drop, *loss;
};

static struct net make_net(void)
{
    struct net net;
    bp_graph *g = bp_graph_new();
    bp_node *x = bp_input(g, 5, 3, "x"), *t = bp_input(g, 5, 2, "t");
    bp_node *w1 = bp_param(g, 3, 6, "w1"), *b1 = bp_param(g, 1, 6, "b1");
    bp_node *w2 = bp_param(g, 6, 2, "w2"), *b2 = bp_param(g, 1, 2, "b2");
    double xd[15], td[10];
    bp_rng r = tu_rng(77);

    tu_fill(xd, 15, &r, -1.5, 1.5);
    tu_fill(td, 10, &r, -1.0, 1.0);
    tu_set(x, 5, 3, xd);
    tu_set(t, 5, 2, td);
    ck_assert_int_eq(bp_init_glorot(w1, &r), BP_OK);
    ck_assert_int_eq(bp_init_glorot(w2, &r), BP_OK);
    tu_fill(bp_node_value(b1)->data, 6, &r, -0.3, 0.3);
    tu_fill(bp_node_value(b2)->data, 2, &r, -0.3, 0.3);
    net.g = g;
    net.drop = bp_dropout(g, bp_tanh(g, bp_dense(g, x, w1, b1)), 0.4);
    net.loss = bp_mse(g, bp_dense(g, net.drop, w2, b2), t);
    ck_assert_ptr_nonnull(net.loss);
    bp_graph_set_seed(g, 9);
    return net;
}

START_TEST(gradcheck_graph_holds_masks_and_leaves_the_generator)
{
    struct net a = make_net(), twin = make_net();
    bp_check_report rep;
    double before[30], loss;
    size_t zeros = 0;

    ck_assert_int_eq(bp_forward(a.g, a.loss), BP_OK);
    ck_assert_int_eq(bp_forward(twin.g, twin.loss), BP_OK);
    memcpy(before, bp_node_value(a.drop)->data, sizeof before);
    loss = bp_node_value(a.loss)->data[0];
    for (size_t k = 0; k < 30; k++)
        zeros += before[k] == 0.0;
    ck_assert_uint_gt(zeros, 0);   /* the check meets a real mask */

    ck_assert_int_eq(bp_gradcheck_graph(a.g, a.loss, NULL, &rep), BP_OK);
    ck_assert_msg(rep.result == BP_CHECK_PASS, "%s %s", rep.diagnosis, rep.message);
    ck_assert_uint_gt(rep.n_compared, 0);
    bp_check_report_clear(&rep);
    /* checked with the mask of the last forward, and left with it */
    ck_assert_mem_eq(bp_node_value(a.drop)->data, before, sizeof before);
    ck_assert_double_eq(bp_node_value(a.loss)->data[0], loss);
    /* the generator as found: the next forward draws what the twin's does */
    ck_assert_int_eq(bp_forward(a.g, a.loss), BP_OK);
    ck_assert_int_eq(bp_forward(twin.g, twin.loss), BP_OK);
    ck_assert_mem_eq(bp_node_value(a.drop)->data, bp_node_value(twin.drop)->data, sizeof before);
    ck_assert_int_ne(memcmp(bp_node_value(a.drop)->data, before, sizeof before), 0);
    bp_graph_free(a.g);
    bp_graph_free(twin.g);

    /* a graph not yet run: the check draws its masks once, and gives the
     * generator back, so the next forward draws the twin's first mask */
    a = make_net();
    twin = make_net();
    ck_assert_int_eq(bp_gradcheck_graph(a.g, a.loss, NULL, &rep), BP_OK);
    ck_assert_msg(rep.result == BP_CHECK_PASS, "%s %s", rep.diagnosis, rep.message);
    bp_check_report_clear(&rep);
    ck_assert_int_eq(bp_forward(a.g, a.loss), BP_OK);
    ck_assert_int_eq(bp_forward(twin.g, twin.loss), BP_OK);
    ck_assert_mem_eq(bp_node_value(a.drop)->data, bp_node_value(twin.drop)->data, sizeof before);
    bp_graph_free(a.g);
    bp_graph_free(twin.g);
}
END_TEST

static Suite *dropout_suite(void)
{
    Suite *s = suite_create("dropout");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, training_drops_a_fraction_p_and_scales_the_rest);
    tcase_add_test(tc, backward_applies_the_forward_mask);
    tcase_add_test(tc, eval_mode_is_the_identity);
    tcase_add_test(tc, p_zero_is_the_identity);
    tcase_add_test(tc, same_seed_same_masks_other_seeds_differ);
    tcase_add_test(tc, ranks_one_to_four);
    tcase_add_test(tc, p_outside_zero_one_is_refused);
    tcase_add_test(tc, no_allocation_per_step);
    tcase_add_test(tc, checker_passes_dropout_and_catches_faults);
    tcase_add_test(tc, gradcheck_graph_holds_masks_and_leaves_the_generator);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(dropout_suite());
}
