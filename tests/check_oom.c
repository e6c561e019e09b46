/* SPDX-License-Identifier: MIT */
/* Allocation-failure injection (tu_every_alloc_failure): for every N that
 * building, running and differentiating a graph reaches, the N-th
 * allocation fails; each time the library must report BP_ENOMEM, leak
 * nothing, and leave the graph safe to free. */
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The lesson's network with biases, staged softmax beside it; returns the
 * first status that is not BP_OK. */
static bp_status build_and_run(void)
{
    const double xv[4 * 3] = {60, 35, 0, 52, 39, 0, 52, 35, 0.12, 53, 36, 0};
    const double yv[4] = {52, 52, 53, 52};
    bp_graph *g = bp_graph_new();
    bp_node *x, *y, *w1, *b1, *w2, *b2, *h, *p, *loss, *sm, *l2;
    bp_matrix xm = tu_view(4, 3, (double *)xv), ym = tu_view(4, 1, (double *)yv);
    bp_status st;

    if (!g)
        return BP_ENOMEM;
    x = bp_input(g, 4, 3, "x");
    y = bp_input(g, 4, 1, "y");
    w1 = bp_param(g, 3, 5, "w1");
    b1 = bp_param(g, 1, 5, "b1");
    w2 = bp_param(g, 5, 1, "w2");
    b2 = bp_param(g, 1, 1, "b2");
    h = bp_relu(g, bp_dense(g, x, w1, b1));
    p = bp_add(g, bp_matmul(g, h, w2), b2);
    loss = bp_mse(g, p, y);
    sm = bp_softmax_staged(g, h);
    l2 = bp_sum(g, bp_mul(g, sm, sm));
    st = bp_graph_status(g);
    if (st == BP_OK) {
        bp_node_set_value(x, &xm);
        bp_node_set_value(y, &ym);
        for (size_t k = 0; k < 15; k++)
            bp_node_value(w1)->data[k] = 0.01 * (double)k - 0.05;
        for (size_t k = 0; k < 5; k++)
            bp_node_value(w2)->data[k] = 0.2 - 0.07 * (double)k;
        if ((st = bp_forward(g, loss)) == BP_OK && (st = bp_backward(g, loss, NULL)) == BP_OK &&
            (st = bp_forward(g, l2)) == BP_OK)
            st = bp_backward(g, l2, NULL);
    }
    if (st != BP_OK)
        ck_assert_int_eq(bp_graph_status(g), st);   /* the graph kept it */
    bp_graph_free(g);
    return st;
}

START_TEST(every_allocation_failure_is_reported_and_leaks_nothing)
{
    tu_every_alloc_failure(build_and_run, 30);
}
END_TEST

/* bp_gradcheck_graph on a small graph.  An allocation failing inside its
 * forward passes is reported in the report (result ERROR, the graph's
 * message) rather than as its return value; both count as BP_ENOMEM. */
static bp_status gradcheck_graph_run(void)
{
    const double xv[3 * 2] = {0.3, -1.2, 2.385, 0.7, -0.4, 1.1};
    bp_graph *g = bp_graph_new();
    bp_node *x, *w, *loss;
    bp_check_report rep;
    bp_status st;

    if (!g)
        return BP_ENOMEM;
    x = bp_constant(g, 3, 2, xv, "x");
    w = bp_param(g, 2, 2, "w");
    loss = bp_sum(g, bp_tanh(g, bp_matmul(g, x, w)));
    st = bp_graph_status(g);
    if (st == BP_OK) {
        memset(&rep, 0, sizeof rep);
        st = bp_gradcheck_graph(g, loss, NULL, &rep);
        if (st == BP_OK && rep.result == BP_CHECK_ERROR && strstr(rep.message, "out of memory"))
            st = BP_ENOMEM;
        else if (st == BP_OK)
            ck_assert_int_eq(rep.result, BP_CHECK_PASS);
        bp_check_report_clear(&rep);
    }
    bp_graph_free(g);
    return st;
}

START_TEST(gradcheck_graph_allocation_failures)
{
    tu_every_alloc_failure(gradcheck_graph_run, 10);
}
END_TEST

/* A short training run: scaler, optimizers (SGD with momentum, Adam), a
 * batcher epoch, params saved and loaded, DOT and a derivative chain
 * written; every status it meets is returned. */
static char train_dir[256];

static bp_status train_run(void)
{
    double xv[6 * 2] = {60, 35, 52, 39, 52, 35, 53, 36, 58, 31, 49, 40};
    double yv[6] = {52, 52, 53, 52, 55, 50};
    bp_matrix xm = tu_view(6, 2, xv), ym = tu_view(6, 1, yv);
    const size_t train_rows[4] = {0, 1, 2, 3};
    bp_graph *g = bp_graph_new();
    bp_node *x, *y, *w, *b, *loss, *dst[2];
    const bp_matrix *src[2];
    bp_matrix *xs = NULL, *tr = NULL;
    bp_scaler *sc = NULL;
    bp_batcher *bt = NULL;
    bp_optimizer *sgd = NULL, *adam = NULL;
    bp_optim_config cfg;
    char path[512], chain[256];
    size_t n = 0;
    bp_status st;

    if (!g)
        return BP_ENOMEM;
    x = bp_input(g, 4, 2, "x");
    y = bp_input(g, 4, 1, "y");
    w = bp_param(g, 2, 1, "w");
    b = bp_param(g, 1, 1, "b");
    loss = bp_mse(g, bp_dense(g, x, w, b), y);
    st = bp_graph_status(g);
    if (st == BP_OK)
        st = bp_scaler_fit(&xm, train_rows, 4, &sc, NULL);
    if (st == BP_OK)
        st = bp_matrix_take_rows(&xm, train_rows, 4, &tr, NULL);
    if (st == BP_OK)
        st = bp_scaler_apply(sc, tr, NULL);
    if (st == BP_OK && (xs = bp_matrix_copy(&xm)) == NULL)
        st = BP_ENOMEM;
    if (st == BP_OK)
        st = bp_scaler_apply(sc, xs, NULL);
    if (st == BP_OK) {
        cfg = bp_optim_defaults(BP_OPTIM_SGD);
        cfg.momentum = 0.9;
        st = bp_optimizer_new(g, NULL, 0, &cfg, &sgd);
    }
    if (st == BP_OK) {
        cfg = bp_optim_defaults(BP_OPTIM_ADAM);
        st = bp_optimizer_new(g, &w, 1, &cfg, &adam);
    }
    if (st == BP_OK) {
        src[0] = xs;
        src[1] = &ym;
        dst[0] = x;
        dst[1] = y;
        st = bp_batcher_new(2, src, dst, NULL, 0, 4, 1, 7, &bt, NULL);
    }
    /* One epoch: a batch of 4, then the remainder of 2. */
    while (st == BP_OK && (st = bp_batcher_next(bt, &n)) == BP_OK && n > 0) {
        if ((st = bp_forward(g, loss)) == BP_OK && (st = bp_backward(g, loss, NULL)) == BP_OK &&
            (st = bp_optimizer_step(sgd)) == BP_OK)
            st = bp_optimizer_step(adam);
        bp_zero_grad(g);
    }
    if (st == BP_OK) {
        ck_assert_uint_eq(bp_optimizer_steps(adam), 2);
        snprintf(path, sizeof path, "%s/params.bin", train_dir);
        st = bp_params_save(g, path, NULL);
    }
    if (st == BP_OK)
        st = bp_params_load(g, path, NULL);
    if (st == BP_OK) {
        snprintf(path, sizeof path, "%s/graph.dot", train_dir);
        st = bp_dot_save(g, loss, 1, path, NULL);
    }
    if (st == BP_OK)
        st = bp_grad_chain(g, loss, w, BP_CHAIN_LATEX, chain, sizeof chain, NULL, NULL);
    if (st == BP_OK)
        st = bp_scaler_invert(sc, xs, NULL);
    bp_batcher_free(bt);
    bp_optimizer_free(adam);
    bp_optimizer_free(sgd);
    bp_scaler_free(sc);
    bp_matrix_free(xs);
    bp_matrix_free(tr);
    bp_graph_free(g);
    return st;
}

/* A table read as text and turned into classes: header, a label column,
 * a stratified split and one-hot rows. */
static char table_path[512];

static bp_status table_run(void)
{
    char **names = NULL, **labels = NULL;
    size_t n_names = 0, n = 0, classes[200];
    bp_split sp = {0};
    bp_matrix *y = NULL;
    bp_status st = bp_csv_header(table_path, &names, &n_names, NULL);

    if (st == BP_OK)
        st = bp_csv_read_text(table_path, "kind, quoted", &labels, &n, NULL);
    if (st == BP_OK) {
        ck_assert_uint_eq(n, 200);
        for (size_t i = 0; i < n; i++)
            classes[i] = (size_t)(labels[i][0] - 'a');
        st = bp_split_stratified(classes, n, 3, 0.2, 0.2, 5, &sp, NULL);
    }
    if (st == BP_OK)
        st = bp_one_hot(classes, n, 3, &y, NULL);
    bp_matrix_free(y);
    bp_split_free(&sp);
    bp_csv_strings_free(labels);
    bp_csv_strings_free(names);
    return st;
}

START_TEST(table_allocation_failures)
{
    const char *t = getenv("TMPDIR");
    FILE *f;

    snprintf(table_path, sizeof table_path, "%s/bp_oom_table.XXXXXX", t && t[0] ? t : "/tmp");
    ck_assert_int_ne(mkstemp(table_path), -1);
    f = fopen(table_path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "x,\"kind, quoted\"\n");
    for (int i = 0; i < 200; i++)   /* enough rows for the text to grow */
        fprintf(f, "%d.5,%s\n", i, i % 3 == 0 ? "alpha" : i % 3 == 1 ? "beta" : "\"c, d\"");
    ck_assert_int_eq(fclose(f), 0);
    tu_every_alloc_failure(table_run, 10);
    ck_assert_int_eq(unlink(table_path), 0);
}
END_TEST

START_TEST(training_allocation_failures)
{
    char path[512];
    const char *t = getenv("TMPDIR");

    snprintf(train_dir, sizeof train_dir, "%s/bp_oom.XXXXXX", t && t[0] ? t : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(train_dir));
    tu_every_alloc_failure(train_run, 40);
    snprintf(path, sizeof path, "%s/params.bin", train_dir);
    ck_assert_int_eq(unlink(path), 0);
    snprintf(path, sizeof path, "%s/graph.dot", train_dir);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(rmdir(train_dir), 0);   /* no temporary file left behind */
}
END_TEST

START_TEST(alloc_funcs_are_both_or_neither)
{
    bp_malloc_fn m;
    bp_free_fn f;

    ck_assert_int_eq(bp_set_alloc_funcs(tu_failing_malloc, NULL), BP_EINVAL);
    ck_assert_int_eq(bp_set_alloc_funcs(NULL, tu_counting_free), BP_EINVAL);
    bp_get_alloc_funcs(&m, &f);
    ck_assert_ptr_eq(m, malloc);
    ck_assert_ptr_eq(f, free);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("oom");
    TCase *tc = tcase_create("oom");

    tcase_add_test(tc, every_allocation_failure_is_reported_and_leaks_nothing);
    tcase_add_test(tc, alloc_funcs_are_both_or_neither);
    tcase_add_test(tc, gradcheck_graph_allocation_failures);
    tcase_add_test(tc, training_allocation_failures);
    tcase_add_test(tc, table_allocation_failures);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
