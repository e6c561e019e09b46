/* SPDX-License-Identifier: MIT */
/* Optimizers: single steps against values worked out by hand, whole
 * trajectories against PyTorch's (SGD, Adam, AdamW with clipping and a
 * learning-rate schedule), convergence on a small least-squares problem,
 * no allocation per step, errors. */
#include "test_util.h"
#include "fixtures/optim_torch.h"

#include <math.h>

#include <string.h>

/* L = (w − c)² through mse on 1x1 nodes: dL/dw = 2(w − c). */
typedef struct quad {
    bp_graph *g;
    bp_node *w, *loss;
} quad;

static quad quad_new(double w0, double c)
{
    quad q;
    q.g = bp_graph_new();
    q.w = bp_param(q.g, 1, 1, "w");
    q.loss = bp_mse(q.g, q.w, bp_constant(q.g, 1, 1, &c, "c"));
    tu_set(q.w, 1, 1, &w0);
    ck_assert_int_eq(bp_graph_status(q.g), BP_OK);
    return q;
}

static double quad_step(quad *q, bp_optimizer *o)
{
    bp_zero_grad(q->g);
    ck_assert_int_eq(bp_forward(q->g, q->loss), BP_OK);
    ck_assert_int_eq(bp_backward(q->g, q->loss, NULL), BP_OK);
    ck_assert_int_eq(bp_optimizer_step(o), BP_OK);
    return bp_node_value(q->w)->data[0];
}

/* w0 = 1.37, c = 0.42, lr = 0.05, μ = 0.9; v = μv + g, w −= lr·v:
 *   g1 = 1.9,   v1 = 1.9,                 w1 = 1.37  − 0.095  = 1.275
 *   g2 = 1.71,  v2 = 0.9·1.9 + 1.71 = 3.42,  w2 = 1.275 − 0.171  = 1.104
 *   g3 = 1.368, v3 = 0.9·3.42 + 1.368 = 4.446, w3 = 1.104 − 0.2223 = 0.8817 */
START_TEST(sgd_momentum_steps_by_hand)
{
    quad q = quad_new(1.37, 0.42);
    bp_optim_config cfg = bp_optim_defaults(BP_OPTIM_SGD);
    bp_optimizer *o = NULL;

    cfg.lr = 0.05;
    cfg.momentum = 0.9;
    ck_assert_int_eq(bp_optimizer_new(q.g, NULL, 0, &cfg, &o), BP_OK);
    ck_assert_double_eq_tol(quad_step(&q, o), 1.275, 1e-14);
    ck_assert_double_eq_tol(quad_step(&q, o), 1.104, 1e-14);
    ck_assert_double_eq_tol(quad_step(&q, o), 0.8817, 1e-14);
    ck_assert_uint_eq(bp_optimizer_steps(o), 3);
    bp_optimizer_free(o);
    bp_graph_free(q.g);
}
END_TEST

/* Plain SGD (μ = 0): w1 = 1.37 − 0.05·1.9 = 1.275, w2 = 1.275 − 0.05·1.71 = 1.1895. */
START_TEST(sgd_plain_steps_by_hand)
{
    quad q = quad_new(1.37, 0.42);
    bp_optim_config cfg = bp_optim_defaults(BP_OPTIM_SGD);
    bp_optimizer *o = NULL;

    cfg.lr = 0.05;
    ck_assert_int_eq(bp_optimizer_new(q.g, &q.w, 1, &cfg, &o), BP_OK);
    ck_assert_double_eq_tol(quad_step(&q, o), 1.275, 1e-14);
    ck_assert_double_eq_tol(quad_step(&q, o), 1.1895, 1e-14);
    bp_optimizer_free(o);
    bp_graph_free(q.g);
}
END_TEST

/* Adam, lr 0.1, β1 0.9, β2 0.999, ε 1e-8, from w0 = 1.37, c = 0.42.
 * Step 1: g = 1.9, m = 0.19, v = 0.001·3.61; m̂ = 1.9, v̂ = 3.61, √v̂ = 1.9:
 *   w1 = 1.37 − 0.1·1.9/(1.9 + 1e-8) = 1.270000000526316.
 * Step 2: g = 2(w1 − 0.42) = 1.700000001052632,
 *   m = 0.171 + 0.1g, v = 0.999·0.00361 + 0.001g², m̂ = m/0.19,
 *   v̂ = v/(1 − 0.999²) = v/0.001999:  w2 = 1.1704431548502214.
 * Step 3 likewise with 1 − 0.9³ = 0.271, 1 − 0.999³ = 0.002997003:
 *   w3 = 1.0717105940583813.  (Worked in double precision outside the
 *   library.) */
START_TEST(adam_steps_by_hand)
{
    quad q = quad_new(1.37, 0.42);
    bp_optim_config cfg = bp_optim_defaults(BP_OPTIM_ADAM);
    bp_optimizer *o = NULL;

    cfg.lr = 0.1;
    ck_assert_int_eq(bp_optimizer_new(q.g, NULL, 0, &cfg, &o), BP_OK);
    ck_assert_double_eq_tol(quad_step(&q, o), 1.270000000526316, 1e-13);
    ck_assert_double_eq_tol(quad_step(&q, o), 1.1704431548502214, 1e-13);
    ck_assert_double_eq_tol(quad_step(&q, o), 1.0717105940583813, 1e-13);
    bp_optimizer_free(o);
    bp_graph_free(q.g);
}
END_TEST

START_TEST(defaults_are_documented_values)
{
    bp_optim_config s = bp_optim_defaults(BP_OPTIM_SGD), a = bp_optim_defaults(BP_OPTIM_ADAM);
    ck_assert_double_eq(s.lr, 0.01);
    ck_assert_double_eq(s.momentum, 0.0);
    ck_assert_double_eq(a.lr, 0.001);
    ck_assert_double_eq(a.beta1, 0.9);
    ck_assert_double_eq(a.beta2, 0.999);
    ck_assert_double_eq(a.eps, 1e-8);
}
END_TEST

/* Only the listed params move. */
START_TEST(only_listed_params_move)
{
    bp_graph *g = bp_graph_new();
    bp_node *a = bp_param(g, 1, 2, "a"), *b = bp_param(g, 1, 2, "b");
    bp_node *loss = bp_sum(g, bp_mul(g, a, b));
    double av[2] = {0.31, -1.7}, bv[2] = {2.2, 0.65};
    bp_optim_config cfg = bp_optim_defaults(BP_OPTIM_SGD);
    bp_optimizer *o = NULL;
    /* dL/da = b: a −= 0.5·b */
    double want[2] = {0.31 - 0.5 * 2.2, -1.7 - 0.5 * 0.65};

    tu_set(a, 1, 2, av);
    tu_set(b, 1, 2, bv);
    cfg.lr = 0.5;
    ck_assert_int_eq(bp_optimizer_new(g, &a, 1, &cfg, &o), BP_OK);
    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
    ck_assert_int_eq(bp_optimizer_step(o), BP_OK);
    tu_assert_matrix_near(bp_node_value(a), want, 1e-15);
    tu_assert_matrix_near(bp_node_value(b), bv, 0);
    bp_optimizer_free(o);
    bp_graph_free(g);
}
END_TEST

/* y = X·w + b with known w, b: both optimizers find them. */
static void converge(bp_optim_kind kind, double lr, double momentum, int steps)
{
    enum { M = 40 };
    double X[M * 3], Y[M], wt[3] = {1.35, -0.72, 2.05}, bt = 0.41, zero[3] = {0};
    bp_rng rng = tu_rng(77);
    bp_graph *g = bp_graph_new();
    bp_node *x = bp_input(g, M, 3, "x"), *y = bp_input(g, M, 1, "y");
    bp_node *w = bp_param(g, 3, 1, "w"), *b = bp_param(g, 1, 1, "b");
    bp_node *loss = bp_mse(g, bp_dense(g, x, w, b), y);
    bp_optim_config cfg = bp_optim_defaults(kind);
    bp_optimizer *o = NULL;

    tu_fill(X, M * 3, &rng, -1.0, 1.0);
    for (int i = 0; i < M; i++)
        Y[i] = X[i * 3] * wt[0] + X[i * 3 + 1] * wt[1] + X[i * 3 + 2] * wt[2] + bt;
    tu_set(x, M, 3, X);
    tu_set(y, M, 1, Y);
    tu_set(w, 3, 1, zero);
    cfg.lr = lr;
    cfg.momentum = momentum;
    ck_assert_int_eq(bp_optimizer_new(g, NULL, 0, &cfg, &o), BP_OK);
    for (int s = 0; s < steps; s++) {
        bp_zero_grad(g);
        ck_assert_int_eq(bp_forward(g, loss), BP_OK);
        ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
        ck_assert_int_eq(bp_optimizer_step(o), BP_OK);
    }
    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    ck_assert_msg(bp_node_value(loss)->data[0] < 1e-8, "loss %g", bp_node_value(loss)->data[0]);
    tu_assert_matrix_near(bp_node_value(w), wt, 1e-4);
    ck_assert_double_eq_tol(bp_node_value(b)->data[0], bt, 1e-4);
    bp_optimizer_free(o);
    bp_graph_free(g);
}

START_TEST(sgd_momentum_converges)
{
    converge(BP_OPTIM_SGD, 0.05, 0.9, 600);
}
END_TEST

START_TEST(adam_converges)
{
    converge(BP_OPTIM_ADAM, 0.05, 0, 1500);
}
END_TEST

static size_t n_allocs;
static void *counting_malloc(size_t n)
{
    n_allocs++;
    return malloc(n);
}

START_TEST(step_makes_no_allocation)
{
    bp_optim_kind kinds[3] = {BP_OPTIM_SGD, BP_OPTIM_ADAM, BP_OPTIM_ADAMW};
    for (int k = 0; k < 3; k++) {
        quad q = quad_new(2.6, -0.3);
        bp_optim_config cfg = bp_optim_defaults(kinds[k]);
        cfg.clip_norm = 0.5;   /* clipping and the schedule allocate nothing either */
        cfg.warmup_steps = 3;
        cfg.decay = BP_LR_COSINE;
        cfg.decay_steps = 8;
        bp_optimizer *o = NULL;
        size_t before;

        ck_assert_int_eq(bp_optimizer_new(q.g, NULL, 0, &cfg, &o), BP_OK);
        quad_step(&q, o); /* the first backward allocates the gradient */
        ck_assert_int_eq(bp_set_alloc_funcs(counting_malloc, free), BP_OK);
        n_allocs = 0;
        ck_assert_int_eq(bp_forward(q.g, q.loss), BP_OK);
        ck_assert_int_eq(bp_backward(q.g, q.loss, NULL), BP_OK);
        before = n_allocs;
        for (int s = 0; s < 10; s++)
            ck_assert_int_eq(bp_optimizer_step(o), BP_OK);
        ck_assert_uint_eq(n_allocs, before);
        ck_assert_int_eq(bp_set_alloc_funcs(NULL, NULL), BP_OK);
        bp_optimizer_free(o);
        bp_graph_free(q.g);
    }
}
END_TEST

START_TEST(bad_configs_and_nodes_are_refused)
{
    quad q = quad_new(1.0, 0.5);
    bp_optim_config cfg = bp_optim_defaults(BP_OPTIM_SGD);
    bp_optimizer *o = (bp_optimizer *)&cfg; /* must be reset to NULL */
    bp_node *notparam = bp_input(q.g, 1, 1, "x");

    cfg.lr = 0;
    ck_assert_int_eq(bp_optimizer_new(q.g, NULL, 0, &cfg, &o), BP_EINVAL);
    ck_assert_ptr_null(o);
    ck_assert_ptr_nonnull(strstr(bp_graph_message(q.g), "lr"));
    bp_graph_clear_error(q.g);
    cfg = bp_optim_defaults(BP_OPTIM_SGD);
    cfg.momentum = 1.0;
    ck_assert_int_eq(bp_optimizer_new(q.g, NULL, 0, &cfg, &o), BP_EINVAL);
    bp_graph_clear_error(q.g);
    cfg = bp_optim_defaults(BP_OPTIM_ADAM);
    cfg.eps = 0;
    ck_assert_int_eq(bp_optimizer_new(q.g, NULL, 0, &cfg, &o), BP_EINVAL);
    bp_graph_clear_error(q.g);
    cfg = bp_optim_defaults(BP_OPTIM_ADAM);
    ck_assert_int_eq(bp_optimizer_new(q.g, &notparam, 1, &cfg, &o), BP_EINVAL);
    ck_assert_ptr_nonnull(strstr(bp_graph_message(q.g), "'x'"));
    bp_graph_clear_error(q.g);
    ck_assert_int_eq(bp_optimizer_new(NULL, NULL, 0, &cfg, &o), BP_EINVAL);
    bp_graph_free(q.g);

    /* A graph without params. */
    {
        bp_graph *g = bp_graph_new();
        bp_input(g, 1, 1, "x");
        ck_assert_int_eq(bp_optimizer_new(g, NULL, 0, &cfg, &o), BP_EINVAL);
        bp_graph_free(g);
    }
}
END_TEST

/* A non-finite gradient changes no param, even those before it. */
START_TEST(nonfinite_gradient_changes_nothing)
{
    bp_graph *g = bp_graph_new();
    bp_node *a = bp_param(g, 1, 1, "a"), *b = bp_param(g, 1, 1, "b");
    bp_node *loss = bp_add(g, bp_scale(g, a, 3.5), bp_log(g, b));
    double av = 0.83, bv = 0.0;   /* d log(b)/db = 1/b = inf */
    bp_optim_config cfg = bp_optim_defaults(BP_OPTIM_ADAM);
    bp_optimizer *o = NULL;

    tu_set(a, 1, 1, &av);
    tu_set(b, 1, 1, &bv);
    ck_assert_int_eq(bp_optimizer_new(g, NULL, 0, &cfg, &o), BP_OK);
    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
    ck_assert_int_eq(bp_optimizer_step(o), BP_ENUMERIC);
    ck_assert_ptr_nonnull(strstr(bp_graph_message(g), "'b'"));
    ck_assert_double_eq(bp_node_value(a)->data[0], 0.83);
    ck_assert_double_eq(bp_node_value(b)->data[0], 0.0);
    ck_assert_uint_eq(bp_optimizer_steps(o), 0);
    bp_optimizer_free(o);
    bp_graph_free(g);
}
END_TEST

/* Loss Σ w ⊙ Cw + Σ b ⊙ Cb: the gradients are the constants Cw and Cb, so
 * each step is fed exactly the fixture's gradient.  After every step the
 * params and the pre-clipping norm must match PyTorch's float64 run
 * (tests/fixtures/optim_torch.py) to rounding: the updates are computed in
 * a different order (Adam's sqrt(v / bc2) against sqrt(v) / sqrt(bc2)), so
 * not bit for bit. */
START_TEST(trajectories_match_pytorch)
{
    for (size_t c = 0; c < sizeof optim_torch_cases / sizeof *optim_torch_cases; c++) {
        const optim_torch_case *tc = &optim_torch_cases[c];
        bp_graph *g = bp_graph_new();
        bp_node *w = bp_param(g, 2, 3, "w"), *b = bp_param(g, 1, 3, "b");
        bp_node *cw = bp_constant(g, 2, 3, optim_torch_grads[0], "cw");
        bp_node *cb = bp_constant(g, 1, 3, optim_torch_grads[0] + 6, "cb");
        bp_node *loss = bp_add(g, bp_sum(g, bp_mul(g, w, cw)), bp_sum(g, bp_mul(g, b, cb)));
        bp_optim_config cfg = bp_optim_defaults(tc->kind);
        bp_optimizer *o = NULL;

        tu_set(w, 2, 3, optim_torch_w0);
        tu_set(b, 1, 3, optim_torch_b0);
        cfg.lr = tc->lr;
        cfg.beta1 = tc->beta1;
        cfg.beta2 = tc->beta2;
        cfg.eps = tc->eps;
        cfg.weight_decay = tc->weight_decay;
        cfg.momentum = tc->momentum;
        cfg.clip_norm = tc->clip_norm;
        cfg.warmup_steps = tc->warmup_steps;
        cfg.decay = tc->decay;
        cfg.decay_steps = tc->decay_steps;
        cfg.min_lr = tc->min_lr;
        ck_assert_int_eq(bp_optimizer_new(g, NULL, 0, &cfg, &o), BP_OK);
        for (size_t t = 0; t < OPTIM_TORCH_STEPS; t++) {
            tu_set(cw, 2, 3, optim_torch_grads[t]);
            tu_set(cb, 1, 3, optim_torch_grads[t] + 6);
            bp_zero_grad(g);
            ck_assert_int_eq(bp_forward(g, loss), BP_OK);
            ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
            ck_assert_int_eq(bp_optimizer_step(o), BP_OK);
            ck_assert_double_eq_tol(bp_optimizer_grad_norm(o), tc->norm[t], 1e-14 * tc->norm[t]);
            for (size_t k = 0; k < 9; k++) {
                double got = k < 6 ? bp_node_value(w)->data[k] : bp_node_value(b)->data[k - 6];
                double want = tc->params[t][k];
                ck_assert_msg(fabs(got - want) <= 1e-13 * fmax(1.0, fabs(want)),
                              "%s step %zu entry %zu: %.17g, PyTorch %.17g", tc->name, t + 1,
                              k, got, want);
            }
        }
        bp_optimizer_free(o);
        bp_graph_free(g);
    }
}
END_TEST

/* lr 0.1, warm-up 4, decay to 0.01 at step 10 (p = (t − 4) / 6):
 *   t = 2: 0.1·2/4 = 0.05;  t = 4: 0.1;
 *   t = 6 (p = 1/3): cosine 0.01 + 0.09·(1 + cos π/3)/2 = 0.0775,
 *                    linear 0.1 − 0.09/3 = 0.07;
 *   t ≥ 10: 0.01;  constant: 0.1 after the warm-up. */
START_TEST(schedule_by_hand)
{
    bp_optim_config c = bp_optim_defaults(BP_OPTIM_ADAMW);
    c.lr = 0.1;
    c.warmup_steps = 4;
    c.decay_steps = 10;
    c.min_lr = 0.01;
    c.decay = BP_LR_COSINE;
    ck_assert_double_eq(bp_optim_lr(&c, 0), 0.0);
    ck_assert_double_eq_tol(bp_optim_lr(&c, 2), 0.05, 1e-17);
    ck_assert_double_eq_tol(bp_optim_lr(&c, 4), 0.1, 1e-17);
    ck_assert_double_eq_tol(bp_optim_lr(&c, 6), 0.0775, 1e-16);
    ck_assert_double_eq(bp_optim_lr(&c, 10), 0.01);
    ck_assert_double_eq(bp_optim_lr(&c, 1000), 0.01);
    c.decay = BP_LR_LINEAR;
    ck_assert_double_eq_tol(bp_optim_lr(&c, 6), 0.07, 1e-16);
    ck_assert_double_eq(bp_optim_lr(&c, 11), 0.01);
    c.decay = BP_LR_CONSTANT;
    ck_assert_double_eq(bp_optim_lr(&c, 6), 0.1);
    ck_assert_double_eq(bp_optim_lr(&c, 1000), 0.1);
    c.warmup_steps = 0;
    ck_assert_double_eq(bp_optim_lr(&c, 1), 0.1);
    ck_assert_double_eq(bp_optim_lr(NULL, 3), 0.0);
}
END_TEST

/* Gradients of 1e200: their squares overflow, the norm must not.
 * ‖g‖ = 1e200·√(3² + 4²) = 5e200; clipped to 1, SGD with lr 0.5 moves
 * w by 0.5·(3, 4)/5 = (0.3, 0.4). */
START_TEST(clip_norm_survives_huge_gradients)
{
    bp_graph *g = bp_graph_new();
    bp_node *w = bp_param(g, 1, 2, "w");
    double c[2] = {3e200, 4e200}, w0[2] = {1.25, -0.75};
    bp_node *loss = bp_sum(g, bp_mul(g, w, bp_constant(g, 1, 2, c, "c")));
    bp_optim_config cfg = bp_optim_defaults(BP_OPTIM_SGD);
    bp_optimizer *o = NULL;

    tu_set(w, 1, 2, w0);
    cfg.lr = 0.5;
    cfg.clip_norm = 1.0;
    ck_assert_int_eq(bp_optimizer_new(g, NULL, 0, &cfg, &o), BP_OK);
    ck_assert_double_eq(bp_optimizer_grad_norm(o), 0.0);
    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
    ck_assert_int_eq(bp_optimizer_step(o), BP_OK);
    ck_assert_double_eq_tol(bp_optimizer_grad_norm(o), 5e200, 1e186);
    ck_assert_double_eq_tol(bp_node_value(w)->data[0], 1.25 - 0.3, 1e-15);
    ck_assert_double_eq_tol(bp_node_value(w)->data[1], -0.75 - 0.4, 1e-15);
    bp_optimizer_free(o);
    bp_graph_free(g);
}
END_TEST

/* Settings that would be silently ignored or make no schedule. */
START_TEST(bad_schedules_are_refused)
{
    quad q = quad_new(1.0, 0.5);
    bp_optimizer *o = NULL;
    bp_optim_config cfg[6];
    for (int i = 0; i < 6; i++)
        cfg[i] = bp_optim_defaults(BP_OPTIM_ADAMW);
    cfg[0] = bp_optim_defaults(BP_OPTIM_ADAM);
    cfg[0].weight_decay = 0.01;          /* decay is AdamW's */
    cfg[1].weight_decay = -0.1;
    cfg[2].clip_norm = NAN;
    cfg[3].decay = BP_LR_COSINE;         /* decay_steps 0 ≤ warmup 0 */
    cfg[4].min_lr = 1.0;                 /* above lr */
    cfg[5].decay = (bp_lr_decay)9;
    cfg[5].decay_steps = 5;
    for (int i = 0; i < 6; i++) {
        ck_assert_msg(bp_optimizer_new(q.g, NULL, 0, &cfg[i], &o) == BP_EINVAL, "config %d", i);
        ck_assert_ptr_null(o);
        ck_assert_ptr_nonnull(strstr(bp_graph_message(q.g), "bad configuration"));
        bp_graph_clear_error(q.g);
    }
    bp_graph_free(q.g);
}
END_TEST

static Suite *optim_suite(void)
{
    Suite *s = suite_create("optim");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, sgd_momentum_steps_by_hand);
    tcase_add_test(tc, sgd_plain_steps_by_hand);
    tcase_add_test(tc, adam_steps_by_hand);
    tcase_add_test(tc, defaults_are_documented_values);
    tcase_add_test(tc, only_listed_params_move);
    tcase_add_test(tc, sgd_momentum_converges);
    tcase_add_test(tc, adam_converges);
    tcase_add_test(tc, step_makes_no_allocation);
    tcase_add_test(tc, bad_configs_and_nodes_are_refused);
    tcase_add_test(tc, nonfinite_gradient_changes_nothing);
    tcase_add_test(tc, trajectories_match_pytorch);
    tcase_add_test(tc, schedule_by_hand);
    tcase_add_test(tc, clip_norm_survives_huge_gradients);
    tcase_add_test(tc, bad_schedules_are_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(optim_suite());
}
