/* SPDX-License-Identifier: MIT */
/* Bad input for the gradient checker (check.h). */
#include "check_badinput.h"

#include <stdint.h>
#include <string.h>


static double nan_at_one(double x, void *ctx)
{
    (void)ctx;
    return x > 0.999 && x < 1.001 ? NAN : x * x;
}

static double square(double x, void *ctx)
{
    (void)ctx;
    return x * x;
}

static void check_gradcheck(const char *name)
{
    bp_check_options o = bp_check_options_default();
    bp_check_report rep;
    bp_op bad = silly_op;
    bp_graph *g, *other;
    bp_node *p, *loss, *alien;
    double est = 0;

    (void)name;
    ck_assert_uint_eq(o.seed, 1);
    memset(&rep, 0, sizeof rep);
    bp_check_report_clear(NULL);
    bp_check_report_clear(&rep);

    ck_assert_int_eq(bp_gradcheck_op(bp_builtin(0), NULL, NULL), BP_EINVAL);
    ck_assert_int_eq(bp_gradcheck_op(NULL, NULL, &rep), BP_EINVAL);
    ck_assert_int_eq(rep.result, BP_CHECK_ERROR);
    ck_assert_str_ne(rep.message, "");
    bp_check_report_clear(&rep);
    bad.forward = NULL;
    ck_assert_int_eq(bp_gradcheck_op(&bad, NULL, &rep), BP_EINVAL);
    ck_assert_str_eq(rep.name, "silly");
    bp_check_report_clear(&rep);
    /* Options whose case count overflows size_t. */
    o.max_cases = SIZE_MAX;
    ck_assert_int_eq(bp_gradcheck_op(tu_builtin("scale"), &o, &rep), BP_EINVAL);
    ck_assert_str_ne(rep.message, "");
    bp_check_report_clear(&rep);
    o = bp_check_options_default();

    ck_assert_int_eq(bp_gradcheck_graph(NULL, NULL, NULL, NULL), BP_EINVAL);
    ck_assert_int_eq(bp_gradcheck_graph(NULL, NULL, NULL, &rep), BP_EINVAL);
    ck_assert_str_ne(rep.message, "");
    bp_check_report_clear(&rep);
    g = new_graph();
    other = new_graph();
    p = filled_param(g, 2, 2, "p");
    loss = bp_sum(g, bp_exp(g, p));
    alien = bp_sum(other, filled_param(other, 2, 2, "q"));
    /* The checker inspects a graph and leaves it as found: a failed call
     * is its return value and report's, and the graph keeps no error. */
    ck_assert_int_eq(bp_gradcheck_graph(g, NULL, &o, &rep), BP_EINVAL);
    ck_assert_str_ne(rep.message, "");
    expect_graph_error(g, BP_OK, NULL);
    bp_check_report_clear(&rep);
    ck_assert_int_eq(bp_gradcheck_graph(g, loss, &o, NULL), BP_EINVAL);
    expect_graph_error(g, BP_OK, NULL);
    ck_assert_int_eq(bp_gradcheck_graph(g, p, &o, &rep), BP_OK);   /* a param as out */
    bp_check_report_clear(&rep);
    ck_assert_int_eq(bp_gradcheck_graph(g, bp_detach(g, loss), &o, &rep), BP_ESTATE);
    ck_assert_ptr_nonnull(strstr(rep.message, "depends on no param"));
    expect_graph_error(g, BP_OK, NULL);
    bp_check_report_clear(&rep);
    /* out from another graph: refused, and the graph keeps no error */
    ck_assert_int_eq(bp_gradcheck_graph(g, alien, &o, &rep), BP_EINVAL);
    ck_assert_int_eq(rep.result, BP_CHECK_ERROR);
    ck_assert_ptr_nonnull(strstr(rep.message, "not a node of this graph"));
    ck_assert_int_eq(bp_graph_status(g), BP_OK);
    bp_check_report_clear(&rep);
    /* a graph with a sticky error */
    ck_assert_int_eq(bp_forward(g, alien), BP_EINVAL);
    ck_assert_int_eq(bp_gradcheck_graph(g, loss, &o, &rep), BP_EINVAL);
    ck_assert_ptr_nonnull(strstr(rep.message, "another graph"));
    bp_check_report_clear(&rep);
    bp_graph_free(other);
    bp_graph_free(g);

    ck_assert(isnan(bp_numeric_derivative(NULL, NULL, 1.0, NULL, &est)));
    ck_assert(isnan(est));
    ck_assert(isnan(bp_numeric_derivative(nan_at_one, NULL, 1.0, NULL, &est)));
    ck_assert(isnan(bp_numeric_derivative(nan_at_one, NULL, 1.0, NULL, NULL)));
    ck_assert_double_eq_tol(bp_numeric_derivative(square, NULL, 2.385, &o, NULL), 4.77, 1e-8);
    ck_assert(!isfinite(bp_numeric_derivative(square, NULL, NAN, NULL, NULL)));
    ck_assert(!isfinite(bp_numeric_derivative(square, NULL, INFINITY, NULL, NULL)));
}

/* ---- the table: this area's public functions, and the check that tries each ---- */

static const struct covered covered[] = {
    {"bp_check_options_default", check_gradcheck},
    {"bp_check_report_clear", check_gradcheck},
    {"bp_gradcheck_op", check_gradcheck},
    {"bp_gradcheck_graph", check_gradcheck},
    {"bp_numeric_derivative", check_gradcheck},
};

const struct covered_area badinput_check = {"check", covered, sizeof covered / sizeof covered[0]};
