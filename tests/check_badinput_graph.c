/* SPDX-License-Identifier: MIT */
/* Bad input for the graph and its nodes (base.h, matrix.h, graph.h, node.h):
 * status text, the allocator, matrices, the graph object, leaves, bp_apply,
 * node accessors, setting values, running, in-place mode. */
#include "config.h"   /* PACKAGE_VERSION, from AC_INIT */
#include "check_badinput.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>


/* bp_version takes nothing, so there is no bad input to give it: it must
 * name the version configure was given, the same as the headers'. */
static void check_version(const char *name)
{
    char parts[64];
    (void)name;
    ck_assert_ptr_nonnull(bp_version());
    ck_assert_str_eq(bp_version(), PACKAGE_VERSION);
    ck_assert_str_eq(bp_version(), BP_VERSION_STRING);
    snprintf(parts, sizeof parts, "%d.%d.%d", BP_VERSION_MAJOR, BP_VERSION_MINOR,
             BP_VERSION_PATCH);
    ck_assert_str_eq(parts, PACKAGE_VERSION);
}

static void check_status_text(const char *name)
{
    (void)name;
    for (int s = 0; s < BP_STATUS_COUNT; s++) {
        ck_assert_ptr_nonnull(bp_strerror((bp_status)s));
        ck_assert_str_ne(bp_strerror((bp_status)s), "unknown status");
        for (int t = 0; t < s; t++)
            ck_assert_str_ne(bp_strerror((bp_status)s), bp_strerror((bp_status)t));
    }
    ck_assert_str_eq(bp_strerror(BP_STATUS_COUNT), "unknown status");
    ck_assert_str_eq(bp_strerror((bp_status)-1), "unknown status");
    ck_assert_str_eq(bp_strerror((bp_status)1000000), "unknown status");
}

static void check_alloc_funcs(const char *name)
{
    bp_malloc_fn m = NULL;
    bp_free_fn f = NULL;

    (void)name;
    ck_assert_int_eq(bp_set_alloc_funcs(malloc, NULL), BP_EINVAL);
    ck_assert_int_eq(bp_set_alloc_funcs(NULL, free), BP_EINVAL);
    bp_get_alloc_funcs(NULL, NULL);
    bp_get_alloc_funcs(&m, NULL);
    bp_get_alloc_funcs(NULL, &f);
    ck_assert_ptr_eq(m, malloc);
    ck_assert_ptr_eq(f, free);
    ck_assert_int_eq(bp_set_alloc_funcs(NULL, NULL), BP_OK);
}

static void check_matrix(const char *name)
{
    double d[6] = {1.5, 2.385, -3, 4, 5, 6}, e[6] = {1.5, 2.385, -3, 4, 5, 7};
    bp_matrix a = {2, 3, d}, b = {2, 3, e}, t = {3, 2, e};
    bp_matrix huge = {SIZE_MAX / 2, 4, d};
    bp_matrix *m;

    (void)name;
    ck_assert_ptr_null(bp_matrix_alloc(SIZE_MAX, 2));
    ck_assert_ptr_null(bp_matrix_alloc(2, SIZE_MAX));
    ck_assert_ptr_null(bp_matrix_alloc((size_t)1 << 32, (size_t)1 << 32)); /* wraps to 0 */
    ck_assert_ptr_null(bp_matrix_alloc(SIZE_MAX / 16, 2));     /* bytes overflow */
    m = bp_matrix_alloc(0, 5);                                  /* empty is valid */
    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_null(m->data);
    bp_matrix_free(m);
    m = bp_matrix_alloc(7, 0);
    ck_assert_ptr_nonnull(m);
    bp_matrix_free(m);
    bp_matrix_free(NULL);

    ck_assert_ptr_null(bp_matrix_copy(NULL));
    ck_assert_ptr_null(bp_matrix_copy(&huge));
    m = bp_matrix_copy(&a);
    ck_assert_ptr_nonnull(m);
    bp_matrix_set(m, 1, 2, 7);
    ck_assert_double_eq(bp_matrix_get(m, 1, 2), 7);
    ck_assert_double_eq(bp_matrix_get(m, 0, 1), 2.385);
    ck_assert_double_eq(bp_matrix_max_abs_diff(m, &b), 0);
    bp_matrix_free(m);

    ck_assert_double_eq(bp_matrix_max_abs_diff(NULL, &a), -1);
    ck_assert_double_eq(bp_matrix_max_abs_diff(&a, NULL), -1);
    ck_assert_double_eq(bp_matrix_max_abs_diff(&a, &t), -1);
    ck_assert_double_eq(bp_matrix_max_abs_diff(&a, &b), 1);
    ck_assert_double_eq(bp_matrix_max_abs_diff(&huge, &huge), -1);
    e[0] = NAN;
    ck_assert(isnan(bp_matrix_max_abs_diff(&a, &b)));
}

static void check_graph_object(const char *name)
{
    bp_graph *g = new_graph();

    (void)name;
    ck_assert_int_eq(bp_graph_status(NULL), BP_EINVAL);
    ck_assert_ptr_nonnull(bp_graph_message(NULL));
    ck_assert_str_ne(bp_graph_message(NULL), "");
    bp_graph_clear_error(NULL);
    bp_graph_set_anomaly_mode(NULL, 1);
    bp_zero_grad(NULL);
    bp_graph_free(NULL);
    ck_assert_uint_eq(bp_graph_size(NULL), 0);
    ck_assert_ptr_null(bp_graph_node(NULL, 0));
    ck_assert_ptr_null(bp_graph_node(g, 0));
    ck_assert_str_eq(bp_graph_message(g), "");
    bp_zero_grad(g);                            /* no params yet: nothing */
    ck_assert_ptr_nonnull(bp_param(g, 2, 2, "w"));
    ck_assert_ptr_null(bp_graph_node(g, 1));
    ck_assert_ptr_null(bp_graph_node(g, SIZE_MAX));
    bp_zero_grad(g);                            /* a param with no gradient */
    ck_assert_ptr_null(bp_input(g, 0, 2, "x"));
    expect_graph_error(g, BP_EDIM, "0x2");
    bp_graph_clear_error(g);
    expect_graph_error(g, BP_OK, NULL);
    ck_assert_str_eq(bp_graph_message(g), "");
    ck_assert_uint_eq(bp_graph_size(g), 1);     /* the failed leaf is not kept */
    bp_graph_free(g);
}

typedef bp_node *(*leaf_fn)(bp_graph *, size_t, size_t, const char *);

static void check_leaves(const char *name)
{
    leaf_fn fn = strcmp(name, "bp_input") == 0 ? bp_input
               : strcmp(name, "bp_param") == 0 ? bp_param : constant_leaf;
    const size_t bad[][2] = {
        {0, 3}, {3, 0}, {0, 0},
        {SIZE_MAX, 2}, {SIZE_MAX / 8 + 1, 1}, {(size_t)1 << 32, (size_t)1 << 32},
    };
    bp_graph *g;

    ck_assert_ptr_null(fn(NULL, 2, 2, "x"));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        g = new_graph();
        ck_assert_ptr_null(fn(g, bad[i][0], bad[i][1], "leaf"));
        if (bad[i][0] == 0 || bad[i][1] == 0)
            expect_graph_error(g, BP_EDIM, "leaf");
        else
            expect_graph_error(g, BP_ENOMEM, "overflow");
        ck_assert_uint_eq(bp_graph_size(g), 0);
        bp_graph_free(g);
    }
    g = new_graph();
    ck_assert_ptr_nonnull(fn(g, 2, 2, NULL));   /* a NULL name is allowed */
    ck_assert_ptr_nonnull(fn(g, 2, 2, ""));
    if (fn == constant_leaf) {
        ck_assert_ptr_null(bp_constant(g, 2, 2, NULL, "c"));
        expect_graph_error(g, BP_EINVAL, "'c'");
    }
    bp_graph_free(g);
}

static void check_apply(const char *name)
{
    const double attr[1] = {2.385};
    const bp_op *scale = tu_builtin("scale");
    bp_graph *g, *other;
    bp_node *x, *in[2];
    bp_op bad = silly_op;

    (void)name;
    ck_assert_str_eq(scale->name, "scale");
    other = new_graph();
    x = filled_param(other, 2, 2, "x");
    ck_assert_ptr_null(bp_apply(NULL, scale, 1, &x, attr));
    bp_graph_free(other);

    g = new_graph();
    x = filled_param(g, 2, 2, "x");
    ck_assert_ptr_null(bp_apply(g, NULL, 1, &x, attr));
    expect_graph_error(g, BP_EINVAL, "apply");
    bp_graph_free(g);

    g = new_graph();
    x = filled_param(g, 2, 2, "x");
    bad.backward = NULL;
    ck_assert_ptr_null(bp_apply(g, &bad, 1, &x, NULL));
    expect_graph_error(g, BP_EINVAL, "silly");
    bp_graph_free(g);

    g = new_graph();
    x = filled_param(g, 2, 2, "x");
    in[0] = in[1] = x;
    ck_assert_ptr_null(bp_apply(g, scale, 2, in, attr));
    expect_graph_error(g, BP_EINVAL, "scale: takes 1 input, given 2");
    bp_graph_free(g);

    g = new_graph();
    ck_assert_ptr_nonnull(filled_param(g, 2, 2, "x"));
    ck_assert_ptr_null(bp_apply(g, scale, 1, NULL, attr));
    expect_graph_error(g, BP_EINVAL, "scale");
    bp_graph_free(g);

    g = new_graph();
    x = filled_param(g, 2, 2, "x");
    ck_assert_ptr_null(bp_apply(g, scale, 1, &x, NULL));
    expect_graph_error(g, BP_EINVAL, "attribute");
    bp_graph_free(g);

    /* Shape rules that give an empty or an overflowing output. */
    {
        const size_t shapes[][2] = {{0, 4}, {4, 0}, {SIZE_MAX, 2}, {(size_t)1 << 62, 1}};
        const bp_status want[] = {BP_EDIM, BP_EDIM, BP_ENOMEM, BP_ENOMEM};
        for (size_t i = 0; i < 4; i++) {
            g = new_graph();
            x = filled_param(g, 2, 2, "x");
            silly_rows = shapes[i][0];
            silly_cols = shapes[i][1];
            ck_assert_ptr_null(bp_apply(g, &silly_op, 1, &x, NULL));
            expect_graph_error(g, want[i], "silly");
            ck_assert_uint_eq(bp_graph_size(g), 1);
            bp_graph_free(g);
        }
    }
}

/* An allocator whose every allocation fails. */
static void *refusing_malloc(size_t size)
{
    (void)size;
    return NULL;
}

/* The tensor leaves: every bad shape refused with nothing added, a sticky
 * error kept; the shape accessor on NULL.  (tests/check_tensor.c checks
 * the messages.) */
static void check_tensor_leaves(const char *name)
{
    bp_graph *g = new_graph();
    const double d[4] = {1, 2, 3, 4};
    const bp_shape bad[] = {{0, {1}}, {5, {1, 1, 1, 1}}, {3, {2, 0, 2}}, {1, {SIZE_MAX / 4}}};

    (void)name;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_ptr_null(bp_input_nd(g, &bad[i], "x"));
        ck_assert_int_ne(bp_graph_status(g), BP_OK);
        bp_graph_clear_error(g);
        ck_assert_ptr_null(bp_param_nd(g, &bad[i], "x"));
        bp_graph_clear_error(g);
        ck_assert_ptr_null(bp_constant_nd(g, &bad[i], d, "x"));
        bp_graph_clear_error(g);
    }
    ck_assert_ptr_null(bp_param_nd(g, NULL, "x"));
    expect_graph_error(g, BP_EDIM, "shape is NULL");
    ck_assert_ptr_null(bp_constant_nd(g, &(bp_shape){2, {2, 2}}, d, "y"));   /* sticky */
    expect_graph_error(g, BP_EDIM, "shape is NULL");
    bp_graph_clear_error(g);
    ck_assert_ptr_null(bp_constant_nd(g, &(bp_shape){2, {2, 2}}, NULL, "y"));
    expect_graph_error(g, BP_EINVAL, "data is NULL");
    ck_assert_uint_eq(bp_graph_size(g), 0);
    ck_assert_ptr_null(bp_input_nd(NULL, &(bp_shape){1, {2}}, "x"));
    ck_assert_ptr_null(bp_node_shape(NULL));
    bp_graph_free(g);
}

static void check_node_accessors(const char *name)
{
    bp_graph *g = new_graph();
    bp_node *x = filled_param(g, 2, 3, "x");
    bp_node *y = bp_exp(g, x);

    (void)name;
    ck_assert_str_eq(bp_node_name(NULL), "");
    ck_assert_str_eq(bp_node_name(y), "");
    ck_assert_int_eq(bp_node_set_name(NULL, "n"), BP_EINVAL);
    ck_assert_int_eq(bp_node_set_name(y, "e"), BP_OK);
    ck_assert_str_eq(bp_node_name(y), "e");
    ck_assert_int_eq(bp_node_set_name(y, NULL), BP_OK);
    ck_assert_str_eq(bp_node_name(y), "");
    /* Out of memory for the copy: recorded in the graph, the name kept. */
    ck_assert_int_eq(bp_node_set_name(y, "kept"), BP_OK);
    ck_assert_int_eq(bp_set_alloc_funcs(refusing_malloc, free), BP_OK);
    ck_assert_int_eq(bp_node_set_name(y, "lost"), BP_ENOMEM);
    ck_assert_int_eq(bp_set_alloc_funcs(NULL, NULL), BP_OK);
    ck_assert_str_eq(bp_node_name(y), "kept");
    expect_graph_only(g, BP_ENOMEM, "set_name 'kept': out of memory");
    ck_assert_ptr_null(bp_node_op(NULL));
    ck_assert_ptr_null(bp_node_op(x));
    ck_assert_str_eq(bp_node_op(y)->name, "exp");
    ck_assert_uint_eq(bp_node_n_inputs(NULL), 0);
    ck_assert_uint_eq(bp_node_n_inputs(x), 0);
    ck_assert_ptr_null(bp_node_input(NULL, 0));
    ck_assert_ptr_null(bp_node_input(x, 0));
    ck_assert_ptr_eq(bp_node_input(y, 0), x);
    ck_assert_ptr_null(bp_node_input(y, 1));
    ck_assert_ptr_null(bp_node_input(y, SIZE_MAX));
    ck_assert_uint_eq(bp_node_rows(NULL), 0);
    ck_assert_uint_eq(bp_node_cols(NULL), 0);
    ck_assert_uint_eq(bp_node_rows(y), 2);
    ck_assert_uint_eq(bp_node_cols(y), 3);
    ck_assert_int_eq(bp_node_is_param(NULL), 0);
    ck_assert_int_eq(bp_node_is_param(y), 0);
    ck_assert_int_eq(bp_node_requires_grad(NULL), 0);
    ck_assert_int_eq(bp_node_requires_grad(y), 1);
    ck_assert_ptr_null(bp_node_value(NULL));
    ck_assert_ptr_null(bp_node_value(y));      /* not computed yet */
    ck_assert_ptr_null(bp_node_grad(NULL));
    ck_assert_ptr_null(bp_node_grad(x));       /* no backward yet */
    bp_graph_free(g);
}

/* bp_node_set_value and bp_node_bind_value: the same shape rules, but only
 * an input can be bound. */
static void check_set_value(const char *name)
{
    const int bind = strcmp(name, "bp_node_bind_value") == 0;
    bp_status (*give)(bp_node *, const bp_matrix *) = bind ? bp_node_bind_value : bp_node_set_value;
    double d[6] = {1.5, 2.385, -3, 4, 5, 6};
    bp_graph *g = new_graph();
    bp_node *x = bp_input(g, 2, 3, "x");
    bp_node *w = filled_param(g, 2, 3, "w");
    bp_node *y = bp_add(g, x, w);
    bp_matrix good = {2, 3, d}, m;
    const double w0 = bp_node_value(w)->data[0];
    struct { size_t rows, cols; double *data; bp_node *node; bp_status st; const char *part; } bad[] = {
        {2, 3, NULL, w, BP_EINVAL, "NULL"},               /* data NULL, not empty */
        {0, 3, d, w, BP_EDIM, "0x3"},
        {2, 0, d, w, BP_EDIM, "2x0"},
        {3, 2, d, w, BP_EDIM, "expects 2x3"},
        {1, 3, d, w, BP_EDIM, "expects 2x3"},             /* a param's rows are fixed */
        {2, 2, d, x, BP_EDIM, "expects Nx3"},
        {0, 3, d, x, BP_EDIM, "0x3"},
        {SIZE_MAX / 2, 3, d, x, BP_EDIM, "overflow"},     /* count overflows */
        {(size_t)1 << 62, 3, d, x, BP_EDIM, "overflow"},  /* bytes overflow */
        {2, 3, d, y, BP_EINVAL, "not a leaf"},
    };

    ck_assert_int_eq(give(NULL, &good), BP_EINVAL);
    ck_assert_int_eq(give(w, NULL), BP_EINVAL);
    expect_graph_error(g, BP_EINVAL, "'w'");
    bp_graph_clear_error(g);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        m.rows = bad[i].rows;
        m.cols = bad[i].cols;
        m.data = bad[i].data;
        if (bind && bad[i].node == w && bad[i].data) {   /* a param, whatever its shape */
            bad[i].st = BP_EINVAL;
            bad[i].part = "only an input can be bound";
        }
        ck_assert_msg(give(bad[i].node, &m) == bad[i].st, "case %zu", i);
        expect_graph_error(g, bad[i].st, bad[i].part);
        bp_graph_clear_error(g);
        ck_assert_double_eq(bp_node_value(w)->data[0], w0);   /* unchanged */
        ck_assert_ptr_null(bp_node_value(x));                  /* still unbound */
    }
    ck_assert_int_eq(give(x, &good), BP_OK);
    ck_assert(bind == (bp_node_value(x)->data == d));    /* a view, or a copy */
    bp_graph_free(g);
}

static void check_running(const char *name)
{
    double seed_data[6] = {1, 2, 3, 4, 5, 6};
    bp_graph *g = new_graph(), *other = new_graph();
    bp_node *x = bp_input(g, 2, 3, "x");
    bp_node *c = bp_constant(g, 1, 1, seed_data, "c");
    bp_node *w = filled_param(g, 3, 2, "w");
    bp_node *h = bp_matmul(g, x, w);
    bp_node *loss = bp_sum(g, h);
    bp_node *alien = filled_param(other, 1, 1, "alien");
    bp_matrix seed = {2, 2, seed_data}, wrong = {2, 3, seed_data}, nodata = {2, 2, NULL};

    (void)name;
    ck_assert_int_eq(bp_forward(NULL, loss), BP_EINVAL);
    ck_assert_int_eq(bp_backward(NULL, loss, NULL), BP_EINVAL);
    ck_assert_int_eq(bp_forward(g, NULL), BP_EINVAL);
    expect_graph_error(g, BP_EINVAL, "forward: node is NULL");
    /* A sticky error stops every pass with that error. */
    ck_assert_int_eq(bp_forward(g, loss), BP_EINVAL);
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_EINVAL);
    bp_graph_clear_error(g);
    ck_assert_int_eq(bp_backward(g, NULL, NULL), BP_EINVAL);
    expect_graph_error(g, BP_EINVAL, "backward: node is NULL");
    bp_graph_clear_error(g);
    ck_assert_int_eq(bp_forward(g, alien), BP_EINVAL);
    expect_graph_error(g, BP_EINVAL, "another graph");
    bp_graph_clear_error(g);
    ck_assert_int_eq(bp_backward(g, alien, NULL), BP_EINVAL);
    expect_graph_error(g, BP_EINVAL, "another graph");
    bp_graph_clear_error(g);
    ck_assert_int_eq(bp_forward(g, loss), BP_ESTATE);
    expect_graph_error(g, BP_ESTATE, "input 'x' has no data");
    bp_graph_clear_error(g);
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_ESTATE);
    expect_graph_error(g, BP_ESTATE, "not computed");
    bp_graph_clear_error(g);

    tu_set(x, 2, 3, seed_data);
    ck_assert_int_eq(bp_forward(g, h), BP_OK);
    ck_assert_int_eq(bp_backward(g, h, NULL), BP_EDIM);
    expect_graph_error(g, BP_EDIM, "2x2, not 1x1");
    bp_graph_clear_error(g);
    ck_assert_int_eq(bp_backward(g, h, &wrong), BP_EDIM);
    expect_graph_error(g, BP_EDIM, "seed is 2x3");
    bp_graph_clear_error(g);
    ck_assert_int_eq(bp_backward(g, h, &nodata), BP_EINVAL);
    expect_graph_error(g, BP_EINVAL, "seed's data is NULL");
    bp_graph_clear_error(g);
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_ESTATE);   /* forwarded h, not loss */
    bp_graph_clear_error(g);
    ck_assert_int_eq(bp_forward(g, c), BP_OK);
    ck_assert_int_eq(bp_backward(g, c, NULL), BP_ESTATE);
    expect_graph_error(g, BP_ESTATE, "depends on no param");
    bp_graph_clear_error(g);
    ck_assert_int_eq(bp_forward(g, h), BP_OK);
    ck_assert_int_eq(bp_backward(g, h, &seed), BP_OK);
    bp_zero_grad(g);
    ck_assert_double_eq(bp_node_grad(w)->data[0], 0);

    /* Non-finite data with anomaly mode: the leaf is named. */
    seed_data[3] = NAN;
    tu_set(x, 2, 3, seed_data);
    bp_graph_set_anomaly_mode(g, 1);
    ck_assert_int_eq(bp_forward(g, loss), BP_ENUMERIC);
    expect_graph_error(g, BP_ENUMERIC, "input 'x'");
    bp_graph_free(other);
    bp_graph_free(g);
}

/* ---- in-place mode ---- */

/* relu(x·W) summed, with in-place mode `on` during forward and `on_bwd`
 * during backward; W's gradient into grad. */
static void inplace_run(int on, int on_bwd, double *grad)
{
    const double xd[6] = {1, -2, 0.5, -1, 2.385, 3};
    bp_graph *g = new_graph();
    bp_node *x = bp_constant(g, 2, 3, xd, "x"), *w = filled_param(g, 3, 2, "w");
    bp_node *h = bp_matmul(g, x, w), *r = bp_relu(g, h), *loss = bp_sum(g, r);

    bp_node_value(w)->data[0] = -5;   /* some entries negative: relu cuts */
    bp_graph_set_inplace(g, on);
    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    bp_graph_set_inplace(g, on_bwd);   /* toggled between the passes */
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
    memcpy(grad, bp_node_grad(w)->data, 6 * sizeof(double));
    expect_graph_error(g, BP_OK, NULL);
    bp_graph_free(g);
}

static void check_inplace(const char *name)
{
    const int values[] = {0, 1, -1, INT_MIN, INT_MAX};
    double ref[6], got[6];

    (void)name;
    /* It cannot fail: a NULL graph does nothing. */
    bp_graph_set_inplace(NULL, 1);
    bp_graph_set_inplace(NULL, 0);
    /* Any int is on or off, and toggling it between forward and backward
     * gives the same gradients as never turning it on. */
    inplace_run(0, 0, ref);
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
        for (size_t j = 0; j < sizeof values / sizeof values[0]; j++) {
            inplace_run(values[i], values[j], got);
            ck_assert_mem_eq(got, ref, sizeof ref);
        }
    /* A graph with a sticky error: nothing changes. */
    {
        bp_graph *g = new_graph();
        ck_assert_ptr_null(bp_input(g, 0, 1, "x"));
        bp_graph_set_inplace(g, 1);
        expect_graph_error(g, BP_EDIM, "'x'");
        bp_graph_free(g);
    }
}

/* ---- training mode and the seed ---- */

/* sum(dropout(w, 0.5)) of a 4x4 w, forwarded; the graph is returned. */
static bp_graph *dropout_graph(bp_node **w, bp_node **loss)
{
    bp_graph *g = new_graph();
    *w = filled_param(g, 4, 4, "w");
    *loss = bp_sum(g, bp_dropout(g, *w, 0.5));
    ck_assert_ptr_nonnull(*loss);
    return g;
}

static void check_training(const char *name)
{
    const int values[] = {0, 1, -1, INT_MIN, INT_MAX};
    const uint64_t seeds[] = {0, 1, UINT64_MAX};
    bp_graph *g;
    bp_node *w, *loss;

    (void)name;
    /* They cannot fail: a NULL graph does nothing and is not training. */
    bp_graph_set_training(NULL, 1);
    bp_graph_set_seed(NULL, 7);
    ck_assert_int_eq(bp_graph_training(NULL), 0);
    /* A new graph trains; any int is on or off. */
    g = new_graph();
    ck_assert_int_eq(bp_graph_training(g), 1);
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        bp_graph_set_training(g, values[i]);
        ck_assert_int_eq(bp_graph_training(g), values[i] != 0);
    }
    bp_graph_free(g);
    /* Any seed works, extremes too; the same one twice, the same value. */
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        double first;
        g = dropout_graph(&w, &loss);
        bp_graph_set_seed(g, seeds[i]);
        ck_assert_int_eq(bp_forward(g, loss), BP_OK);
        first = bp_node_value(loss)->data[0];
        bp_graph_set_seed(g, seeds[i]);
        ck_assert_int_eq(bp_forward(g, loss), BP_OK);
        ck_assert_double_eq(bp_node_value(loss)->data[0], first);
        expect_graph_error(g, BP_OK, NULL);
        bp_graph_free(g);
    }
    /* A graph with a sticky error keeps it; the mode and seed still set. */
    g = new_graph();
    ck_assert_ptr_null(bp_input(g, 0, 1, "x"));
    bp_graph_set_training(g, 0);
    bp_graph_set_seed(g, 3);
    ck_assert_int_eq(bp_graph_training(g), 0);
    expect_graph_error(g, BP_EDIM, "'x'");
    bp_graph_free(g);
}

/* ---- the table: this area's public functions, and the check that tries each ---- */

static const struct covered covered[] = {
    {"bp_version", check_version},
    {"bp_strerror", check_status_text},
    {"bp_set_alloc_funcs", check_alloc_funcs},
    {"bp_get_alloc_funcs", check_alloc_funcs},
    {"bp_matrix_alloc", check_matrix},
    {"bp_matrix_copy", check_matrix},
    {"bp_matrix_free", check_matrix},
    {"bp_matrix_get", check_matrix},
    {"bp_matrix_set", check_matrix},
    {"bp_matrix_max_abs_diff", check_matrix},
    {"bp_graph_new", check_graph_object},
    {"bp_graph_free", check_graph_object},
    {"bp_graph_status", check_graph_object},
    {"bp_graph_message", check_graph_object},
    {"bp_graph_clear_error", check_graph_object},
    {"bp_graph_size", check_graph_object},
    {"bp_graph_node", check_graph_object},
    {"bp_input", check_leaves},
    {"bp_param", check_leaves},
    {"bp_constant", check_leaves},
    {"bp_input_nd", check_tensor_leaves},
    {"bp_param_nd", check_tensor_leaves},
    {"bp_constant_nd", check_tensor_leaves},
    {"bp_node_shape", check_tensor_leaves},
    {"bp_apply", check_apply},
    {"bp_node_name", check_node_accessors},
    {"bp_node_set_name", check_node_accessors},
    {"bp_node_op", check_node_accessors},
    {"bp_node_n_inputs", check_node_accessors},
    {"bp_node_input", check_node_accessors},
    {"bp_node_rows", check_node_accessors},
    {"bp_node_cols", check_node_accessors},
    {"bp_node_is_param", check_node_accessors},
    {"bp_node_requires_grad", check_node_accessors},
    {"bp_node_value", check_node_accessors},
    {"bp_node_grad", check_node_accessors},
    {"bp_node_set_value", check_set_value},
    {"bp_node_bind_value", check_set_value},
    {"bp_forward", check_running},
    {"bp_backward", check_running},
    {"bp_zero_grad", check_running},
    {"bp_graph_set_anomaly_mode", check_running},
    {"bp_graph_set_inplace", check_inplace},
    {"bp_graph_set_training", check_training},
    {"bp_graph_training", check_training},
    {"bp_graph_set_seed", check_training},
};

const struct covered_area badinput_graph = {"graph", covered, sizeof covered / sizeof covered[0]};
