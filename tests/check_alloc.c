/* SPDX-License-Identifier: MIT */
/* The zero-allocation guarantee: once a graph has run a step at a given
 * batch size, further steps at that size or any smaller one (and back up
 * to a size seen before) make no heap allocation.  Counted through
 * bp_set_alloc_funcs, not timed. */
#include "test_util.h"

#include <string.h>

/* The library's allocations are counted through test_util.h's pair
 * (tu_allocations: calls to malloc; tu_live: blocks not yet freed); none
 * is made to fail. */
static void setup(void)
{
    ck_assert_int_eq(bp_set_alloc_funcs(tu_failing_malloc, tu_counting_free), BP_OK);
    tu_allocations = tu_live = tu_fail_at = 0;
}

static void teardown(void)
{
    ck_assert_int_eq(bp_set_alloc_funcs(NULL, NULL), BP_OK);
}

/* A network under test: inputs x, y bound every step, a loss, params. */
typedef struct net {
    bp_graph *g;
    bp_node *x, *y, *loss;
    bp_node *param[4];
    size_t n_param;
    size_t k, o;          /* columns of x and y */
    double *xs, *ys;      /* max_rows rows of data */
    bp_optimizer *opt;    /* NULL: SGD by hand on value and grad */
} net;

/* One training step on the first rows rows: bind, zero, forward,
 * backward, SGD. */
static void step(net *n, size_t rows)
{
    bp_matrix xm = {rows, n->k, n->xs}, ym = {rows, n->o, n->ys};

    ck_assert_int_eq(bp_node_set_value(n->x, &xm), BP_OK);
    ck_assert_int_eq(bp_node_set_value(n->y, &ym), BP_OK);
    bp_zero_grad(n->g);
    ck_assert_int_eq(bp_forward(n->g, n->loss), BP_OK);
    ck_assert_int_eq(bp_backward(n->g, n->loss, NULL), BP_OK);
    if (n->opt) {
        ck_assert_int_eq(bp_optimizer_step(n->opt), BP_OK);
        ck_assert(isfinite(bp_node_value(n->loss)->data[0]));
        return;
    }
    for (size_t i = 0; i < n->n_param; i++) {
        bp_matrix *v = bp_node_value(n->param[i]);
        const bp_matrix *gr = bp_node_grad(n->param[i]);
        ck_assert_ptr_nonnull(gr);
        for (size_t q = 0; q < v->rows * v->cols; q++)
            v->data[q] -= 0.01 * gr->data[q];
    }
    ck_assert(isfinite(bp_node_value(n->loss)->data[0]));
}

/* Allocations made by count steps on rows rows. */
static size_t allocs_over(net *n, size_t rows, int count)
{
    long before = tu_allocations;
    for (int s = 0; s < count; s++)
        step(n, rows);
    return (size_t)(tu_allocations - before);
}

/* The full batch, a smaller last batch, then the full batch again: after
 * the first full step, none of it may allocate. */
static void check_no_allocs(net *n, size_t full, size_t last)
{
    allocs_over(n, full, 1);
    /* The counter is wired: building and the first step did allocate. */
    ck_assert_int_gt(tu_allocations, 0);
    ck_assert_uint_eq(allocs_over(n, full, 25), 0);
    ck_assert_uint_eq(allocs_over(n, last, 3), 0);
    ck_assert_uint_eq(allocs_over(n, full, 5), 0);
    ck_assert_uint_eq(allocs_over(n, last, 2), 0);
    ck_assert_uint_eq(allocs_over(n, full, 2), 0);
}

static void fill_params(net *n, bp_rng *state)
{
    for (size_t i = 0; i < n->n_param; i++) {
        bp_matrix *v = bp_node_value(n->param[i]);
        tu_fill(v->data, v->rows * v->cols, state, -0.5, 0.5);
    }
}

static void free_net(net *n)
{
    bp_optimizer_free(n->opt);
    bp_graph_free(n->g);
    /* Every block the library allocated has been freed. */
    ck_assert_int_eq(tu_live, 0);
    free(n->xs);
    free(n->ys);
}

/* The lesson's network: relu(x·W1)·W2, MSE, on weather-like rows; with
 * in-place mode off (_i = 0) and on (_i = 1). */
START_TEST(lesson_network)
{
    enum { FULL = 10, LAST = 4 };
    bp_rng state = tu_rng(7);
    net n = {.k = 3, .o = 1, .n_param = 2};

    n.g = bp_graph_new();
    n.x = bp_input(n.g, FULL, 3, "x");
    n.y = bp_input(n.g, FULL, 1, "y");
    n.param[0] = bp_param(n.g, 3, 3, "w1");
    n.param[1] = bp_param(n.g, 3, 1, "w2");
    n.loss = bp_mse(n.g, bp_matmul(n.g, bp_relu(n.g, bp_matmul(n.g, n.x, n.param[0])), n.param[1]), n.y);
    bp_graph_set_inplace(n.g, _i);
    ck_assert_int_eq(bp_graph_status(n.g), BP_OK);
    n.xs = malloc(FULL * 3 * sizeof(double));
    n.ys = malloc(FULL * sizeof(double));
    tu_fill(n.xs, FULL * 3, &state, 0.0, 1.0);
    tu_fill(n.ys, FULL, &state, 0.0, 1.0);
    fill_params(&n, &state);
    check_no_allocs(&n, FULL, LAST);
    free_net(&n);
}
END_TEST

/* In in-place mode dense_relu's backward works in its own gradient's
 * buffer, so the graph asks for exactly one block of scratch less: over 300
 * rows the blocks are 256 rows, of 16 columns. */
START_TEST(inplace_dense_relu_needs_no_scratch)
{
    enum { M = 300, K = 4, H = 16 };
    size_t bytes[2];
    bp_rng state = tu_rng(5);
    double xs[M * K];

    tu_fill(xs, M * K, &state, -1.0, 1.0);
    for (int inplace = 0; inplace < 2; inplace++) {
        bp_matrix xm = {M, K, xs};
        bp_graph *g;
        bp_node *x, *w, *b, *loss;
        bp_rng rng;

        bp_rng_seed(&rng, 3);
        tu_bytes = 0;
        g = bp_graph_new();
        bp_graph_set_inplace(g, inplace);
        x = bp_input(g, M, K, "x");
        w = bp_param(g, K, H, "w");
        b = bp_param(g, 1, H, "b");
        loss = bp_sum(g, bp_dense_relu(g, x, w, b));
        ck_assert_int_eq(bp_node_set_value(x, &xm), BP_OK);
        ck_assert_int_eq(bp_init_uniform(w, -0.5, 0.5, &rng), BP_OK);
        ck_assert_int_eq(bp_forward(g, loss), BP_OK);
        ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
        bytes[inplace] = tu_bytes;
        bp_graph_free(g);
        ck_assert_int_eq(tu_live, 0);
    }
    ck_assert_uint_eq(bytes[0] - bytes[1], 256 * H * sizeof(double));
}
END_TEST

/* Bound inputs cost no copy: the same step asks for exactly x's and y's
 * bytes less than with bp_node_set_value, and binding allocates nothing. */
START_TEST(bound_inputs_are_not_copied)
{
    enum { M = 50, K = 4, H = 8 };
    size_t bytes[2];
    bp_rng state = tu_rng(9);
    double xs[M * K], ys[M];

    tu_fill(xs, M * K, &state, -1.0, 1.0);
    tu_fill(ys, M, &state, -1.0, 1.0);
    for (int bind = 0; bind < 2; bind++) {
        bp_matrix xm = {M, K, xs}, ym = {M, 1, ys};
        bp_status (*give)(bp_node *, const bp_matrix *) =
            bind ? bp_node_bind_value : bp_node_set_value;
        bp_graph *g;
        bp_node *x, *y, *w, *v, *loss;
        long before;

        tu_bytes = 0;
        g = bp_graph_new();
        x = bp_input(g, M, K, "x");
        y = bp_input(g, M, 1, "y");
        w = bp_param(g, K, H, "w");
        v = bp_param(g, H, 1, "v");
        loss = bp_mse(g, bp_matmul(g, bp_tanh(g, bp_matmul(g, x, w)), v), y);
        ck_assert_int_eq(bp_graph_status(g), BP_OK);
        before = tu_allocations;
        ck_assert_int_eq(give(x, &xm), BP_OK);
        ck_assert_int_eq(give(y, &ym), BP_OK);
        if (bind)
            ck_assert_int_eq(tu_allocations, before);
        ck_assert_int_eq(bp_forward(g, loss), BP_OK);
        ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
        bytes[bind] = tu_bytes;
        bp_graph_free(g);
        ck_assert_int_eq(tu_live, 0);
    }
    ck_assert_uint_eq(bytes[0] - bytes[1], (M * K + M) * sizeof(double));
}
END_TEST

/* The mnist-like network at small size: dense, relu, dense, softmax
 * cross-entropy; the update by hand (_i = 0), then through each optimizer:
 * SGD, SGD with momentum, Adam; last (_i = 4) with the hidden layer as one
 * dense_relu op (as tools/bench builds it), over 300 rows: two blocks. */
START_TEST(mnist_like_network)
{
    enum { K = 20, H = 16, O = 5 };
    const size_t FULL = _i == 4 ? 300 : 32, LAST = 7;
    bp_rng state = tu_rng(11);
    net n = {.k = K, .o = O, .n_param = 4};
    bp_optim_config cfg = bp_optim_defaults(_i == 3 ? BP_OPTIM_ADAM : BP_OPTIM_SGD);
    bp_node *hid;

    n.g = bp_graph_new();
    n.x = bp_input(n.g, FULL, K, "x");
    n.y = bp_input(n.g, FULL, O, "y");
    n.param[0] = bp_param(n.g, K, H, "w1");
    n.param[1] = bp_param(n.g, 1, H, "b1");
    n.param[2] = bp_param(n.g, H, O, "w2");
    n.param[3] = bp_param(n.g, 1, O, "b2");
    hid = _i == 4 ? bp_dense_relu(n.g, n.x, n.param[0], n.param[1])
                  : bp_relu(n.g, bp_dense(n.g, n.x, n.param[0], n.param[1]));
    n.loss = bp_softmax_ce(n.g, bp_dense(n.g, hid, n.param[2], n.param[3]), n.y);
    ck_assert_int_eq(bp_graph_status(n.g), BP_OK);
    n.xs = malloc(FULL * K * sizeof(double));
    n.ys = calloc(FULL * O, sizeof(double));
    tu_fill(n.xs, FULL * K, &state, 0.0, 1.0);
    for (size_t i = 0; i < FULL; i++)
        n.ys[i * O + i % O] = 1.0;
    fill_params(&n, &state);
    if (_i > 0) {
        cfg.momentum = _i == 2 ? 0.9 : 0.0;
        ck_assert_int_eq(bp_optimizer_new(n.g, NULL, 0, &cfg, &n.opt), BP_OK);
    }
    check_no_allocs(&n, FULL, LAST);
    free_net(&n);
}
END_TEST

/* The staged softmax (rowmax, detach, broadcast sub, exp, rowsum, pow,
 * broadcast mul) under NLL, after a dense layer so the batch can shrink. */
START_TEST(staged_softmax)
{
    enum { FULL = 12, LAST = 5, K = 6, O = 4 };
    bp_rng state = tu_rng(13);
    net n = {.k = K, .o = O, .n_param = 2};

    n.g = bp_graph_new();
    n.x = bp_input(n.g, FULL, K, "x");
    n.y = bp_input(n.g, FULL, O, "y");
    n.param[0] = bp_param(n.g, K, O, "w");
    n.param[1] = bp_param(n.g, 1, O, "b");
    n.loss = bp_nll(n.g, bp_softmax_staged(n.g, bp_dense(n.g, n.x, n.param[0], n.param[1])), n.y);
    ck_assert_int_eq(bp_graph_status(n.g), BP_OK);
    n.xs = malloc(FULL * K * sizeof(double));
    n.ys = calloc(FULL * O, sizeof(double));
    tu_fill(n.xs, FULL * K, &state, -1.0, 1.0);
    for (size_t i = 0; i < FULL; i++)
        n.ys[i * O + (i * 3) % O] = 1.0;
    fill_params(&n, &state);
    check_no_allocs(&n, FULL, LAST);
    free_net(&n);
}
END_TEST

/* Growing past every size seen before must allocate (the buffers grow),
 * and then be quiet again: the counter sees the engine's real behaviour. */
START_TEST(growing_allocates_once)
{
    enum { SMALL = 4, BIG = 9 };
    bp_rng state = tu_rng(17);
    net n = {.k = 3, .o = 1, .n_param = 1};

    n.g = bp_graph_new();
    n.x = bp_input(n.g, SMALL, 3, "x");
    n.y = bp_input(n.g, SMALL, 1, "y");
    n.param[0] = bp_param(n.g, 3, 1, "w");
    n.loss = bp_mse(n.g, bp_tanh(n.g, bp_matmul(n.g, n.x, n.param[0])), n.y);
    ck_assert_int_eq(bp_graph_status(n.g), BP_OK);
    n.xs = malloc(BIG * 3 * sizeof(double));
    n.ys = malloc(BIG * sizeof(double));
    tu_fill(n.xs, BIG * 3, &state, -1.0, 1.0);
    tu_fill(n.ys, BIG, &state, -1.0, 1.0);
    fill_params(&n, &state);
    allocs_over(&n, SMALL, 1);
    ck_assert_uint_eq(allocs_over(&n, SMALL, 3), 0);
    ck_assert_uint_gt(allocs_over(&n, BIG, 1), 0);
    ck_assert_uint_eq(allocs_over(&n, BIG, 3), 0);
    ck_assert_uint_eq(allocs_over(&n, SMALL, 3), 0);
    ck_assert_uint_eq(allocs_over(&n, BIG, 3), 0);
    free_net(&n);
}
END_TEST

static Suite *alloc_suite(void)
{
    Suite *s = suite_create("alloc");
    TCase *tc = tcase_create("steps");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, lesson_network, 0, 2);
    tcase_add_loop_test(tc, mnist_like_network, 0, 5);
    tcase_add_test(tc, staged_softmax);
    tcase_add_test(tc, bound_inputs_are_not_copied);
    tcase_add_test(tc, growing_allocates_once);
    tcase_add_test(tc, inplace_dense_relu_needs_no_scratch);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(alloc_suite());
}
