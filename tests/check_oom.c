/* Allocation-failure injection (tu_every_alloc_failure): for every N that
 * building, running and differentiating a graph reaches, the N-th
 * allocation fails; each time the library must report BP_ENOMEM, leak
 * nothing, and leave the graph safe to free. */
#include "test_util.h"

#include <string.h>

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
    suite_add_tcase(s, tc);
    return tu_run(s);
}
