/* SPDX-License-Identifier: MIT */
/* Threads: separate graphs are independent.  Several pthreads each train
 * the lesson's 2-layer network (dense, relu, dropout drawing from the
 * graph's own generator, dense, mse) on their own
 * synthetic data with plain SGD through bp_node_value/bp_node_grad, all at
 * once; every thread's losses and final weights must equal, bit for bit,
 * those of the same loop run alone.  The ops come from one registry shared
 * read-only by every thread, filled before they start (set-up time only).
 * tests/tsan.sh runs this program under ThreadSanitizer. */
#include "test_util.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define N_THREADS 4
#define ROWS 16
#define IN 3
#define HIDDEN 8
#define STEPS 60

static bp_registry *registry;

struct run {
    uint64_t seed;
    bp_status status;
    char message[512];
    double losses[STEPS];
    double w1[IN * HIDDEN], b1[HIDDEN], w2[HIDDEN], b2[1];
};

static bp_node *apply2(bp_graph *g, const char *op, bp_node *a, bp_node *b)
{
    bp_node *in[2] = {a, b};
    return bp_apply(g, bp_registry_find(registry, op), 2, in, NULL);
}

static bp_node *apply3(bp_graph *g, const char *op, bp_node *a, bp_node *b, bp_node *c)
{
    bp_node *in[3] = {a, b, c};
    return bp_apply(g, bp_registry_find(registry, op), 3, in, NULL);
}

static void sgd(bp_node *p, double lr)
{
    bp_matrix *v = bp_node_value(p), *d = bp_node_grad(p);
    for (size_t k = 0; k < v->rows * v->cols; k++)
        v->data[k] -= lr * d->data[k];
}

static void copy_out(bp_node *p, double *dst)
{
    const bp_matrix *v = bp_node_value(p);
    memcpy(dst, v->data, v->rows * v->cols * sizeof *dst);
}

/* One training run, all its state its own; the result goes to r. */
static void *train(void *arg)
{
    struct run *r = arg;
    bp_rng state = tu_rng(r->seed);
    double x[ROWS * IN], y[ROWS];
    bp_graph *g = bp_graph_new();
    bp_node *xi, *yi, *w1, *b1, *w2, *b2, *h, *pred, *loss;
    bp_matrix xm = {ROWS, IN, x}, ym = {ROWS, 1, y};

    if (!g) {
        r->status = BP_ENOMEM;
        return NULL;
    }
    /* y = a smooth function of x plus noise, like the weather columns */
    tu_fill(x, ROWS * IN, &state, -1.0, 1.0);
    for (size_t i = 0; i < ROWS; i++)
        y[i] = 0.7 * x[i * IN] - 0.3 * x[i * IN + 1] * x[i * IN + 2] + tu_uniform(&state, -0.05, 0.05);
    xi = bp_input(g, ROWS, IN, "x");
    yi = bp_input(g, ROWS, 1, "y");
    w1 = bp_param(g, IN, HIDDEN, "w1");
    b1 = bp_param(g, 1, HIDDEN, "b1");
    w2 = bp_param(g, HIDDEN, 1, "w2");
    b2 = bp_param(g, 1, 1, "b2");
    h = bp_apply(g, bp_registry_find(registry, "relu"), 1,
                 (bp_node *[]){apply3(g, "dense", xi, w1, b1)}, NULL);
    h = bp_apply(g, bp_registry_find(registry, "dropout"), 1, (bp_node *[]){h},
                 (const double[]){0.2});
    bp_graph_set_seed(g, r->seed);
    pred = apply3(g, "dense", h, w2, b2);
    loss = apply2(g, "mse", pred, yi);
    if ((r->status = bp_graph_status(g)) == BP_OK) {
        tu_fill(bp_node_value(w1)->data, IN * HIDDEN, &state, -0.5, 0.5);
        tu_fill(bp_node_value(w2)->data, HIDDEN, &state, -0.5, 0.5);
        bp_node_set_value(xi, &xm);
        bp_node_set_value(yi, &ym);
    }
    for (int step = 0; step < STEPS && r->status == BP_OK; step++) {
        bp_zero_grad(g);
        if ((r->status = bp_forward(g, loss)) != BP_OK ||
            (r->status = bp_backward(g, loss, NULL)) != BP_OK)
            break;
        r->losses[step] = bp_node_value(loss)->data[0];
        sgd(w1, 0.1);
        sgd(b1, 0.1);
        sgd(w2, 0.1);
        sgd(b2, 0.1);
    }
    if (r->status == BP_OK) {
        copy_out(w1, r->w1);
        copy_out(b1, r->b1);
        copy_out(w2, r->w2);
        copy_out(b2, r->b2);
    }
    snprintf(r->message, sizeof r->message, "%s", bp_graph_message(g));
    bp_graph_free(g);
    return NULL;
}

static void setup(void)
{
    registry = bp_registry_new();
    ck_assert_ptr_nonnull(registry);
}

static void teardown(void)
{
    bp_registry_free(registry);
}

START_TEST(concurrent_training_equals_sequential)
{
    static struct run alone[N_THREADS], together[N_THREADS];
    pthread_t tid[N_THREADS];

    memset(alone, 0, sizeof alone);
    memset(together, 0, sizeof together);
    for (int t = 0; t < N_THREADS; t++) {
        alone[t].seed = together[t].seed = 0x9e3779b97f4a7c15ULL * (uint64_t)(t + 1);
        train(&alone[t]);
        ck_assert_msg(alone[t].status == BP_OK, "alone %d: %s", t, alone[t].message);
        /* it learned something: the test would notice a broken loop */
        ck_assert_double_lt(alone[t].losses[STEPS - 1], 0.5 * alone[t].losses[0]);
    }
    for (int t = 0; t < N_THREADS; t++)
        ck_assert_int_eq(pthread_create(&tid[t], NULL, train, &together[t]), 0);
    for (int t = 0; t < N_THREADS; t++)
        ck_assert_int_eq(pthread_join(tid[t], NULL), 0);
    for (int t = 0; t < N_THREADS; t++) {
        ck_assert_msg(together[t].status == BP_OK, "thread %d: %s", t, together[t].message);
        ck_assert_msg(memcmp(alone[t].losses, together[t].losses, sizeof alone[t].losses) == 0,
                      "thread %d: losses differ from the run alone", t);
        ck_assert_msg(memcmp(alone[t].w1, together[t].w1, sizeof alone[t].w1) == 0 &&
                      memcmp(alone[t].b1, together[t].b1, sizeof alone[t].b1) == 0 &&
                      memcmp(alone[t].w2, together[t].w2, sizeof alone[t].w2) == 0 &&
                      memcmp(alone[t].b2, together[t].b2, sizeof alone[t].b2) == 0,
                      "thread %d: weights differ from the run alone", t);
    }
    /* different seeds, different runs: the comparison above is not trivial */
    ck_assert(memcmp(alone[0].w1, alone[1].w1, sizeof alone[0].w1) != 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("threads");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, concurrent_training_equals_sequential);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
