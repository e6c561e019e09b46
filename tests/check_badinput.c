/* Bad input, everywhere: every public function of bpgraph.h is tried with
 * NULL pointers, empty and mismatched shapes, nodes of another graph,
 * sizes whose byte count overflows, and non-finite data.  Each must answer
 * with a bp_status and a message (the graph's, or a bp_error's), never a
 * crash.
 *
 * The table `covered` maps every public function to the check that tries
 * it, and is itself the list of tests run; the test header_is_covered reads
 * include/bpgraph.h and fails when a public function has no entry, so a
 * new function cannot go untested silently.  every_status_is_provoked
 * makes each bp_status code happen at least once. */
#include "test_util.h"

#include <float.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ---- helpers ---- */

static bp_graph *new_graph(void)
{
    bp_graph *g = bp_graph_new();
    ck_assert_ptr_nonnull(g);
    return g;
}

/* part is NULL or a substring of msg. */
static int mentions(const char *msg, const char *part)
{
    return part == NULL || strstr(msg, part) != NULL;
}

static const char *show(const char *part)
{
    return part ? part : "";
}

/* The graph's sticky error is `st`, with a message that holds `part` (may
 * be NULL) and is empty exactly when st is BP_OK.  Macros, so that a
 * failure names the line of the call. */
#define expect_graph_error(g, st, part)                                         \
    do {                                                                        \
        const char *m_ = bp_graph_message(g);                                   \
        ck_assert_msg(bp_graph_status(g) == (st), "status %d, want %d (%s)",    \
                      bp_graph_status(g), (st), m_);                            \
        ck_assert_msg((m_[0] == '\0') == ((st) == BP_OK), "message '%s' for status %d", \
                      m_, (st));                                                \
        ck_assert_msg(mentions(m_, (part)), "message '%s' lacks '%s'", m_, show(part)); \
    } while (0)

#define expect_error_struct(e, st, part)                                        \
    do {                                                                        \
        ck_assert_msg((e).status == (st), "status %d, want %d (%s)",            \
                      (e).status, (st), (e).message);                           \
        ck_assert_msg((e).message[0] != '\0', "empty message");                 \
        ck_assert_msg(mentions((e).message, (part)), "message '%s' lacks '%s'", \
                      (e).message, show(part));                                     \
    } while (0)

/* A param filled with non-round values. */
static bp_node *filled_param(bp_graph *g, size_t rows, size_t cols, const char *name)
{
    bp_node *n = bp_param(g, rows, cols, name);
    bp_matrix *v;

    ck_assert_ptr_nonnull(n);
    v = bp_node_value(n);
    for (size_t k = 0; k < rows * cols; k++)
        v->data[k] = 0.3 + 0.17 * (double)k + (k % (cols + 1) == 0 ? 2.385 : 0.0);
    return n;
}

static char tmp_dir[256];

/* A file in a fresh temporary directory holding len bytes of text. */
static const char *temp_file(const char *name, const char *text, size_t len)
{
    static char path[512];
    FILE *f;

    if (!tmp_dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(tmp_dir, sizeof tmp_dir, "%s/bp_badinput.XXXXXX", t && t[0] ? t : "/tmp");
        ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
    }
    snprintf(path, sizeof path, "%s/%s", tmp_dir, name);
    f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
    return path;
}

static void remove_temp(const char *path)
{
    unlink(path);
    rmdir(tmp_dir);
    tmp_dir[0] = '\0';
}

/* An op that declares whatever its test asks for. */
static size_t silly_rows, silly_cols;

static bp_status silly_shape(bp_op_args *a)
{
    a->out->rows = silly_rows;
    a->out->cols = silly_cols;
    return BP_OK;
}

static bp_status silly_run(bp_op_args *a)
{
    (void)a;
    return BP_OK;
}

static const bp_op silly_op = {
    .name = "silly", .doc = "a shape rule that says anything", .n_in = 1,
    .shape = silly_shape, .forward = silly_run, .backward = silly_run,
};

/* ---- the built-in op wrappers ---- */

typedef bp_node *(*unary_fn)(bp_graph *, bp_node *);
typedef bp_node *(*binary_fn)(bp_graph *, bp_node *, bp_node *);
typedef bp_node *(*attr_fn)(bp_graph *, bp_node *, double);
typedef bp_node *(*ternary_fn)(bp_graph *, bp_node *, bp_node *, bp_node *);

enum { SQUARE = 1, LINALG = 2, SHAPED = 4 };

struct wrapper {
    const char *name;       /* the public function */
    const char *op;         /* the op a message must name */
    size_t arity;
    unary_fn f1;
    binary_fn f2;
    attr_fn fa;
    ternary_fn f3;
    unsigned flags;         /* SQUARE: rejects 2x3; SHAPED: binary/ternary
                               that rejects mismatched shapes; LINALG: a NaN
                               input must not pass silently */
};

#define W1(n, fl) {"bp_" #n, #n, 1, bp_##n, NULL, NULL, NULL, fl}
#define W2(n, fl) {"bp_" #n, #n, 2, NULL, bp_##n, NULL, NULL, fl}
#define WA(n) {"bp_" #n, #n, 1, NULL, NULL, bp_##n, NULL, 0}

static const struct wrapper wrappers[] = {
    W2(matmul, SHAPED), W1(transpose, 0), W2(add, SHAPED), W2(sub, SHAPED),
    W2(mul, SHAPED), W2(div, SHAPED), W1(neg, 0), WA(scale), W1(exp, 0),
    W1(log, 0), WA(pow), W1(sqrt, 0), W1(relu, 0), W1(sigmoid, 0), W1(tanh, 0),
    W1(rowsum, 0), W1(colsum, 0), W1(sum, 0), W1(mean, 0), W1(rowmax, 0),
    W1(softmax, 0), W2(mse, SHAPED), W2(nll, SHAPED), W2(softmax_ce, SHAPED),
    W1(detach, 0),
    /* the staged softmax starts with rowmax: its errors name that op */
    {"bp_softmax_staged", "rowmax", 1, bp_softmax_staged, NULL, NULL, NULL, 0},
    {"bp_dense", "dense", 3, NULL, NULL, NULL, bp_dense, SHAPED},
    {"bp_dense_relu", "dense_relu", 3, NULL, NULL, NULL, bp_dense_relu, SHAPED},
    W2(solve, SHAPED | SQUARE | LINALG), W1(inv, SQUARE | LINALG),
    W1(cholesky, SQUARE | LINALG), W1(logdet, SQUARE | LINALG),
    W1(det, SQUARE | LINALG), W2(lstsq, SHAPED | SQUARE | LINALG),
};

static bp_node *call(const struct wrapper *w, bp_graph *g, bp_node *const *in)
{
    switch (w->arity) {
    case 1: return w->f1 ? w->f1(g, in[0]) : w->fa(g, in[0], 2.385);
    case 2: return w->f2(g, in[0], in[1]);
    default: return w->f3(g, in[0], in[1], in[2]);
    }
}

static const struct wrapper *find_wrapper(const char *name)
{
    for (size_t i = 0; i < sizeof wrappers / sizeof wrappers[0]; i++)
        if (strcmp(wrappers[i].name, name) == 0)
            return &wrappers[i];
    ck_abort_msg("no wrapper entry for %s", name);
    return NULL;
}

/* Valid leaves for w: 3x3 everywhere, a 1x3 bias for dense. */
static void make_inputs(const struct wrapper *w, bp_graph *g, bp_node **in)
{
    for (size_t i = 0; i < w->arity; i++)
        in[i] = filled_param(g, w->arity == 3 && i == 2 ? 1 : 3, 3, NULL);
}

static void check_wrapper(const char *name)
{
    const struct wrapper *w = find_wrapper(name);
    bp_graph *g, *other;
    bp_node *in[3], *out;

    /* A NULL graph: NULL, nothing to report to. */
    other = new_graph();
    make_inputs(w, other, in);
    ck_assert_ptr_null(call(w, NULL, in));
    bp_graph_free(other);

    /* Valid inputs work (so the failures below are about the bad input). */
    g = new_graph();
    make_inputs(w, g, in);
    ck_assert_ptr_nonnull(call(w, g, in));
    expect_graph_error(g, BP_OK, NULL);
    bp_graph_free(g);

    for (size_t p = 0; p < w->arity; p++) {
        /* A NULL input at position p. */
        g = new_graph();
        make_inputs(w, g, in);
        in[p] = NULL;
        ck_assert_ptr_null(call(w, g, in));
        expect_graph_error(g, BP_EINVAL, w->op);
        expect_graph_error(g, BP_EINVAL, "NULL");
        /* Sticky: the next constructor returns NULL and keeps the message. */
        ck_assert_ptr_null(bp_param(g, 2, 2, NULL));
        expect_graph_error(g, BP_EINVAL, w->op);
        bp_graph_free(g);

        /* A node of another graph at position p. */
        g = new_graph();
        other = new_graph();
        make_inputs(w, g, in);
        in[p] = filled_param(other, w->arity == 3 && p == 2 ? 1 : 3, 3, NULL);
        ck_assert_ptr_null(call(w, g, in));
        expect_graph_error(g, BP_EINVAL, "another graph");
        expect_graph_error(bp_graph_status(other) == BP_OK ? g : other, BP_EINVAL, w->op);
        ck_assert_int_eq(bp_graph_status(other), BP_OK);
        bp_graph_free(other);
        bp_graph_free(g);
    }

    /* Mismatched shapes: 2x3 where a square matrix is needed, or two
     * operands that do not fit together; the message gives the shapes. */
    if (w->flags & (SQUARE | SHAPED)) {
        g = new_graph();
        if (w->arity == 1) {
            in[0] = filled_param(g, 2, 3, NULL);
        } else {
            in[0] = filled_param(g, 2, 3, NULL);
            in[1] = filled_param(g, 4, 5, NULL);
            if (w->arity == 3)
                in[2] = filled_param(g, 1, 5, NULL);
        }
        ck_assert_ptr_null(call(w, g, in));
        expect_graph_error(g, BP_EDIM, w->op);
        expect_graph_error(g, BP_EDIM, "2x3");
        bp_graph_free(g);
    }

    /* Non-finite data: any status, never a crash; a linear-algebra op
     * never passes a NaN on silently; with anomaly mode on the pass stops
     * with BP_ENUMERIC. */
    for (int anomaly = 0; anomaly < 2; anomaly++) {
        bp_status st;
        g = new_graph();
        make_inputs(w, g, in);
        bp_node_value(in[0])->data[4] = NAN;
        bp_node_value(in[w->arity - 1])->data[0] = INFINITY;
        bp_graph_set_anomaly_mode(g, anomaly);
        out = call(w, g, in);
        ck_assert_ptr_nonnull(out);
        st = bp_forward(g, out);
        if (anomaly) {
            expect_graph_error(g, BP_ENUMERIC, "anomaly");
        } else if (w->flags & LINALG) {
            ck_assert_msg(st == BP_ENUMERIC || st == BP_ESINGULAR, "%s: NaN input gave %d",
                          w->name, st);
            expect_graph_error(g, st, w->op);
        } else if (st == BP_OK && bp_node_requires_grad(out)) {
            bp_node *loss = bp_sum(g, out);
            ck_assert_ptr_nonnull(loss);
            ck_assert_int_eq(bp_forward(g, loss), BP_OK);
            st = bp_backward(g, loss, NULL);
            ck_assert_msg(st == BP_OK || st == BP_ENUMERIC, "%s backward: %d", w->name, st);
        }
        bp_graph_free(g);
    }
}

/* ---- the other functions, by group ---- */

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

static void check_op_declarations(const char *name)
{
    char msg[8];
    bp_op_args args;
    bp_op op = silly_op;

    (void)name;
    /* bp_op_fail: NULL args or no buffer still return the status. */
    ck_assert_int_eq(bp_op_fail(NULL, BP_EDIM, "%s", "x"), BP_EDIM);
    memset(&args, 0, sizeof args);
    ck_assert_int_eq(bp_op_fail(&args, BP_EINVAL, "%d", 1), BP_EINVAL);
    args.msg = msg;
    args.msg_size = sizeof msg;
    ck_assert_int_eq(bp_op_fail(&args, BP_EDIM, "a long message %s", "truncated"), BP_EDIM);
    ck_assert_str_eq(msg, "a long ");   /* truncated, terminated */

    ck_assert_int_eq(bp_op_validate(NULL), BP_EINVAL);
    ck_assert_int_eq(bp_op_validate(&op), BP_OK);
    op.name = NULL;
    ck_assert_int_eq(bp_op_validate(&op), BP_EINVAL);
    op.name = "";
    ck_assert_int_eq(bp_op_validate(&op), BP_EINVAL);
    op = silly_op;
    op.n_in = 0;
    ck_assert_int_eq(bp_op_validate(&op), BP_EINVAL);
    op.n_in = BP_MAX_INPUTS + 1;
    ck_assert_int_eq(bp_op_validate(&op), BP_EINVAL);
    op = silly_op;
    op.n_attr = BP_MAX_ATTRS + 1;
    ck_assert_int_eq(bp_op_validate(&op), BP_EINVAL);
    op = silly_op;
    op.backward = NULL;
    ck_assert_int_eq(bp_op_validate(&op), BP_EINVAL);
    op.flags = BP_OP_STOP_GRAD;
    ck_assert_int_eq(bp_op_validate(&op), BP_OK);
    op = silly_op;
    op.shape = NULL;
    ck_assert_int_eq(bp_op_validate(&op), BP_EINVAL);
    op = silly_op;
    op.forward = NULL;
    ck_assert_int_eq(bp_op_validate(&op), BP_EINVAL);
    op = silly_op;
    op.n_attr = 1;
    op.n_check_attr = 2;   /* sets promised, none given */
    ck_assert_int_eq(bp_op_validate(&op), BP_EINVAL);
    op = silly_op;
    op.flags = BP_OP_INPLACE;   /* in place needs ASSIGN_FRESH too */
    ck_assert_int_eq(bp_op_validate(&op), BP_EINVAL);
    op.flags = BP_OP_INPLACE | BP_OP_ASSIGN_FRESH;
    ck_assert_int_eq(bp_op_validate(&op), BP_OK);

    ck_assert_uint_gt(bp_builtin_count(), 0);
    for (size_t i = 0; i < bp_builtin_count(); i++)
        ck_assert_int_eq(bp_op_validate(bp_builtin(i)), BP_OK);
    ck_assert_ptr_null(bp_builtin(bp_builtin_count()));
    ck_assert_ptr_null(bp_builtin(SIZE_MAX));
}

static void check_registry(const char *name)
{
    bp_registry *reg = bp_registry_new();
    bp_op bad = silly_op;

    (void)name;
    ck_assert_ptr_nonnull(reg);
    ck_assert_uint_eq(bp_registry_count(reg), bp_builtin_count());
    ck_assert_int_eq(bp_registry_add(NULL, &silly_op), BP_EINVAL);
    ck_assert_int_eq(bp_registry_add(reg, NULL), BP_EINVAL);
    bad.forward = NULL;
    ck_assert_int_eq(bp_registry_add(reg, &bad), BP_EINVAL);
    ck_assert_int_eq(bp_registry_add(reg, &silly_op), BP_OK);
    ck_assert_int_eq(bp_registry_add(reg, &silly_op), BP_EINVAL);   /* name taken */
    bad = *bp_builtin(0);
    ck_assert_int_eq(bp_registry_add(reg, &bad), BP_EINVAL);        /* a built-in's name */
    ck_assert_uint_eq(bp_registry_count(reg), bp_builtin_count() + 1);
    ck_assert_uint_eq(bp_registry_count(NULL), 0);
    ck_assert_ptr_null(bp_registry_get(NULL, 0));
    ck_assert_ptr_null(bp_registry_get(reg, bp_registry_count(reg)));
    ck_assert_ptr_null(bp_registry_get(reg, SIZE_MAX));
    ck_assert_ptr_eq(bp_registry_get(reg, bp_builtin_count()), &silly_op);
    ck_assert_ptr_null(bp_registry_find(NULL, "matmul"));
    ck_assert_ptr_null(bp_registry_find(reg, NULL));
    ck_assert_ptr_null(bp_registry_find(reg, ""));
    ck_assert_ptr_null(bp_registry_find(reg, "no such op"));
    ck_assert_ptr_eq(bp_registry_find(reg, "silly"), &silly_op);
    bp_registry_free(reg);
    bp_registry_free(NULL);
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

static bp_node *constant_leaf(bp_graph *g, size_t rows, size_t cols, const char *name)
{
    static const double data[16] = {2.385};
    return bp_constant(g, rows, cols, data, name);
}

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
    ck_assert_int_eq(bp_gradcheck_graph(g, NULL, &o, &rep), BP_EINVAL);
    bp_check_report_clear(&rep);
    ck_assert_int_eq(bp_gradcheck_graph(g, p, &o, &rep), BP_OK);   /* a param as out */
    bp_check_report_clear(&rep);
    ck_assert_int_eq(bp_gradcheck_graph(g, bp_detach(g, loss), &o, &rep), BP_ESTATE);
    ck_assert_str_ne(rep.message, "");
    bp_check_report_clear(&rep);
    /* out from another graph: the check runs and reports the graph's error */
    bp_gradcheck_graph(g, alien, &o, &rep);
    ck_assert_int_eq(rep.result, BP_CHECK_ERROR);
    ck_assert_ptr_nonnull(strstr(rep.message, "another graph"));
    bp_check_report_clear(&rep);
    /* a graph with a sticky error */
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

/* CSV: missing arguments, a missing file, a directory, a missing column,
 * and malformed contents, each with a message naming the file. */
static void check_csv(const char *name)
{
    static const char good[] = "a,b\n1,2.385\n";
    static const char *const cols[] = {"b", "a"};
    static const char *const nullcol[] = {"a", NULL};
    static const char *const missing[] = {"a", "zz"};
    struct { const char *text; size_t len; } bad[] = {
        {"", 0}, {"a,b\n", 4}, {"a,b\n1\n", 6}, {"a,b\n1,x\n", 8},
        {"a,b\n1,\"2\n", 9}, {"a,b\n1,2\0\n", 9}, {"a,b\n,2\n", 7}, {"a,b\n1,1e999\n", 12},
    };
    bp_matrix *out = (bp_matrix *)&out;   /* must be set to NULL */
    size_t filled = 7;
    bp_error err;
    const char *path;

    (void)name;
    ck_assert_int_eq(bp_csv_read(NULL, cols, 2, &out, &filled, &err), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "NULL");
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(filled, 0);
    ck_assert_int_eq(bp_csv_read("x.csv", NULL, 2, &out, NULL, &err), BP_EINVAL);
    ck_assert_int_eq(bp_csv_read("x.csv", cols, 0, &out, NULL, &err), BP_EINVAL);
    ck_assert_int_eq(bp_csv_read("x.csv", cols, 2, NULL, NULL, &err), BP_EINVAL);
    ck_assert_int_eq(bp_csv_read("x.csv", nullcol, 2, &out, NULL, &err), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "columns[1]");
    ck_assert_int_eq(bp_csv_read(NULL, cols, 2, &out, NULL, NULL), BP_EINVAL);

    ck_assert_int_eq(bp_csv_read("/nonexistent/dir/x.csv", cols, 2, &out, NULL, &err), BP_EIO);
    expect_error_struct(err, BP_EIO, "/nonexistent/dir/x.csv");
    ck_assert_int_eq(bp_csv_read("/", cols, 2, &out, NULL, &err), BP_EIO);
    expect_error_struct(err, BP_EIO, "/");

    path = temp_file("good.csv", good, sizeof good - 1);
    ck_assert_int_eq(bp_csv_read(path, missing, 2, &out, NULL, &err), BP_ENOTFOUND);
    expect_error_struct(err, BP_ENOTFOUND, "'zz'");
    ck_assert_int_eq(bp_csv_read(path, cols, 2, &out, &filled, &err), BP_OK);
    ck_assert_double_eq(out->data[0], 2.385);
    bp_matrix_free(out);
    remove_temp(path);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        path = temp_file("bad.csv", bad[i].text, bad[i].len);
        ck_assert_msg(bp_csv_read(path, cols, 2, &out, &filled, &err) == BP_EPARSE,
                      "case %zu: %s", i, err.message);
        expect_error_struct(err, BP_EPARSE, path);
        ck_assert_ptr_null(out);
        ck_assert_uint_eq(filled, 0);
        remove_temp(path);
    }
}

/* The largest block the library asked for. */
static size_t largest;

static void *largest_malloc(size_t size)
{
    if (size > largest)
        largest = size;
    return malloc(size);
}

/* .npy: missing arguments, a missing file, bad headers, shapes whose byte
 * count overflows, truncated data; saving bad matrices and to nowhere. */
static void check_npy(const char *name)
{
    static const char *const headers[] = {
        "{'descr': '<f8', 'fortran_order': False, 'shape': (18446744073709551615, 2), }",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (1152921504606846976, 1), }",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999999, 1), }",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }",   /* no data */
        "{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1, 1), }",
        "{'descr': '<f8', 'fortran_order': maybe, 'shape': (1,), }",
        "{'descr': '<f8', 'shape': (1,), }",
        "not a dict",
    };
    double d[4] = {1, 2.385, NAN, INFINITY};
    bp_matrix m = {2, 2, d}, nodata = {2, 2, NULL}, huge = {SIZE_MAX / 2, 4, d};
    bp_matrix *out = (bp_matrix *)&out;
    bp_error err;
    char file[256];
    const char *path;

    (void)name;
    ck_assert_int_eq(bp_npy_load(NULL, &out, &err), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, NULL);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(bp_npy_load("x.npy", NULL, &err), BP_EINVAL);
    ck_assert_int_eq(bp_npy_load("x.npy", NULL, NULL), BP_EINVAL);
    ck_assert_int_eq(bp_npy_load("/nonexistent/x.npy", &out, &err), BP_EIO);
    expect_error_struct(err, BP_EIO, "/nonexistent/x.npy");
    ck_assert_int_eq(bp_npy_load("/", &out, &err), BP_EIO);
    path = temp_file("short.npy", "\x93NUMPY", 6);
    ck_assert_int_eq(bp_npy_load(path, &out, &err), BP_EPARSE);
    expect_error_struct(err, BP_EPARSE, path);
    remove_temp(path);
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        size_t len = strlen(headers[i]), total = 10 + len + 1;
        bp_status st;
        memcpy(file, "\x93NUMPY\x01\x00", 8);
        file[8] = (char)((len + 1) & 0xff);
        file[9] = (char)((len + 1) >> 8);
        memcpy(file + 10, headers[i], len);
        file[10 + len] = '\n';
        path = temp_file("h.npy", file, total);
        st = bp_npy_load(path, &out, &err);
        ck_assert_msg(st == BP_EPARSE || st == BP_ENOMEM, "header %zu: %d %s", i, st, err.message);
        expect_error_struct(err, st, path);
        ck_assert_ptr_null(out);
        remove_temp(path);
    }

    /* A header claiming 8 TB over no data: an error before any allocation
     * of that size. */
    {
        const char *hdr = "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000, 1000), }";
        size_t len = strlen(hdr);
        memcpy(file, "\x93NUMPY\x01\x00", 8);
        file[8] = (char)((len + 1) & 0xff);
        file[9] = (char)((len + 1) >> 8);
        memcpy(file + 10, hdr, len);
        file[10 + len] = '\n';
        memcpy(file + 11 + len, "12345678", 8);
        path = temp_file("claims.npy", file, 11 + len + 8);
        ck_assert_int_eq(bp_set_alloc_funcs(largest_malloc, free), BP_OK);
        largest = 0;
        ck_assert_int_eq(bp_npy_load(path, &out, &err), BP_EPARSE);
        ck_assert_int_eq(bp_set_alloc_funcs(NULL, NULL), BP_OK);
        expect_error_struct(err, BP_EPARSE, "truncated data: 8 of 8000000000000 bytes");
        ck_assert_uint_lt(largest, 1 << 20);
        ck_assert_ptr_null(out);
        remove_temp(path);
    }

    ck_assert_int_eq(bp_npy_save(NULL, &m, &err), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, NULL);
    ck_assert_int_eq(bp_npy_save("x.npy", NULL, &err), BP_EINVAL);
    ck_assert_int_eq(bp_npy_save("x.npy", &nodata, &err), BP_EINVAL);
    ck_assert_int_eq(bp_npy_save("x.npy", &huge, &err), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "overflow");
    ck_assert_int_eq(bp_npy_save("/nonexistent/dir/x.npy", &m, &err), BP_EIO);
    expect_error_struct(err, BP_EIO, "/nonexistent/dir/x.npy");
    /* Non-finite data round-trips: NaN and inf are values, not errors. */
    path = temp_file("nan.npy", "", 0);
    ck_assert_int_eq(bp_npy_save(path, &m, &err), BP_OK);
    ck_assert_int_eq(bp_npy_load(path, &out, &err), BP_OK);
    ck_assert(isnan(out->data[2]) && isinf(out->data[3]));
    bp_matrix_free(out);
    remove_temp(path);
}

/* ---- training: generator, initialisation, splits, scaling, batches ---- */

/* err zeroed, so a message seen afterwards is the call's own. */
static bp_error *fresh(bp_error *err)
{
    memset(err, 0, sizeof *err);
    return err;
}

static void assert_values(bp_node *n, const double *want)
{
    const bp_matrix *v = bp_node_value(n);
    for (size_t k = 0; k < v->rows * v->cols; k++)
        ck_assert_msg(memcmp(&v->data[k], &want[k], sizeof(double)) == 0,
                      "'%s' entry %zu changed: %g, was %g", bp_node_name(n), k, v->data[k], want[k]);
}

static void check_rng_and_init(const char *name)
{
    bp_rng rng, copy;
    size_t idx[5] = {0, 1, 2, 3, 4}, seen = 0;
    bp_graph *g = new_graph();
    bp_node *w = filled_param(g, 3, 2, "w");
    bp_node *x = bp_input(g, 2, 3, "x");
    bp_node *y = bp_matmul(g, x, w);
    bp_node *c = constant_leaf(g, 2, 2, "c");
    bp_node *not_params[3] = {x, y, c};
    const double bad_range[][2] = {
        {1, 0}, {NAN, 1}, {0, NAN}, {-INFINITY, 0}, {0, INFINITY}, {-DBL_MAX, DBL_MAX},
    };
    double w0[6];

    (void)name;
    memcpy(w0, bp_node_value(w)->data, sizeof w0);
    /* The generator cannot fail: a NULL rng gives 0, and seeding or
     * shuffling with one does nothing. */
    bp_rng_seed(NULL, 1);
    ck_assert_uint_eq(bp_rng_next(NULL), 0);
    ck_assert_double_eq(bp_rng_uniform(NULL), 0);
    ck_assert_double_eq(bp_rng_normal(NULL), 0);
    ck_assert_uint_eq(bp_rng_below(NULL, 10), 0);
    bp_rng_seed(&rng, 3);
    bp_shuffle(idx, 5, NULL);
    bp_shuffle(NULL, 5, &rng);
    bp_shuffle(idx, 0, &rng);
    bp_shuffle(idx, 1, &rng);
    for (size_t i = 0; i < 5; i++)
        ck_assert_uint_eq(idx[i], i);
    bp_shuffle(idx, 5, &rng);
    for (size_t i = 0; i < 5; i++)
        seen |= (size_t)1 << idx[i];
    ck_assert_uint_eq(seen, 31);   /* still a permutation */

    /* Extreme seeds and bounds: seed 0 must not give xoshiro's all-zero
     * fixed point; n = 0, 1 and SIZE_MAX stay in range. */
    bp_rng_seed(&rng, 0);
    ck_assert((rng.s[0] | rng.s[1] | rng.s[2] | rng.s[3]) != 0);
    copy = rng;
    ck_assert_uint_eq(bp_rng_next(&rng), bp_rng_next(&copy));   /* a copy replays */
    bp_rng_seed(&rng, UINT64_MAX);
    for (int i = 0; i < 1000; i++) {
        double u = bp_rng_uniform(&rng), z = bp_rng_normal(&rng);
        ck_assert(u >= 0 && u < 1);
        ck_assert(isfinite(z));
        ck_assert_uint_lt(bp_rng_below(&rng, SIZE_MAX), SIZE_MAX);
        ck_assert_uint_eq(bp_rng_below(&rng, 1), 0);
        ck_assert_uint_eq(bp_rng_below(&rng, 0), 0);
    }

    /* Initialisation: no param (no graph to report to), no rng, a node
     * that is not a param, a range that is empty, not finite or whose
     * width overflows.  The param is unchanged each time. */
    ck_assert_int_eq(bp_init_uniform(NULL, 0, 1, &rng), BP_EINVAL);
    ck_assert_int_eq(bp_init_glorot(NULL, &rng), BP_EINVAL);
    ck_assert_int_eq(bp_init_he(NULL, &rng), BP_EINVAL);
    for (int k = 0; k < 3; k++) {
        const char *fn = k == 0 ? "init_uniform" : k == 1 ? "init_glorot" : "init_he";
        bp_status st = k == 0 ? bp_init_uniform(w, -1, 1, NULL)
                     : k == 1 ? bp_init_glorot(w, NULL) : bp_init_he(w, NULL);
        ck_assert_int_eq(st, BP_EINVAL);
        expect_graph_error(g, BP_EINVAL, fn);
        expect_graph_error(g, BP_EINVAL, "rng is NULL");
        bp_graph_clear_error(g);
        for (size_t i = 0; i < 3; i++) {
            st = k == 0 ? bp_init_uniform(not_params[i], -1, 1, &rng)
               : k == 1 ? bp_init_glorot(not_params[i], &rng) : bp_init_he(not_params[i], &rng);
            ck_assert_int_eq(st, BP_EINVAL);
            expect_graph_error(g, BP_EINVAL, "is not a param");
            expect_graph_error(g, BP_EINVAL, fn);
            bp_graph_clear_error(g);
        }
        assert_values(w, w0);
    }
    ck_assert_ptr_null(bp_node_value(y));   /* an op node's value was not written */
    for (size_t i = 0; i < sizeof bad_range / sizeof bad_range[0]; i++) {
        ck_assert_int_eq(bp_init_uniform(w, bad_range[i][0], bad_range[i][1], &rng), BP_EINVAL);
        expect_graph_error(g, BP_EINVAL, "bad range");
        expect_graph_error(g, BP_EINVAL, "'w'");
        bp_graph_clear_error(g);
        assert_values(w, w0);
    }
    /* Valid calls give finite values in range. */
    ck_assert_int_eq(bp_init_uniform(w, -DBL_MAX / 2, DBL_MAX / 2, &rng), BP_OK);
    ck_assert_int_eq(bp_init_glorot(w, &rng), BP_OK);
    for (size_t k = 0; k < 6; k++)
        ck_assert(fabs(bp_node_value(w)->data[k]) <= sqrt(6.0 / 5.0));   /* 3x2: fans 3 + 2 */
    ck_assert_int_eq(bp_init_he(w, &rng), BP_OK);
    for (size_t k = 0; k < 6; k++)
        ck_assert(isfinite(bp_node_value(w)->data[k]));
    expect_graph_error(g, BP_OK, NULL);
    bp_graph_free(g);
}

static void check_split_and_scaler(const char *name)
{
    const double fracs[][2] = {
        {-0.1, 0}, {0, -0.1}, {1, 0}, {0, 1}, {0.5, 0.5}, {0.7, 0.6}, {NAN, 0}, {0, NAN},
        {INFINITY, 0}, {0, -INFINITY},
    };
    double d[8] = {1, 10, 2, 20, 3, 30, 4, 40}, before[8];
    double cst[6] = {5, 1, 5, 2, 5, 3};
    bp_matrix x = {4, 2, d}, nodata = {4, 2, NULL}, huge = {1, SIZE_MAX / 4, d};
    bp_matrix three = {2, 3, d}, none = {0, 2, NULL}, c = {3, 2, cst}, empty3 = {0, 3, NULL};
    const size_t rows[3] = {0, 2, 3}, far[2] = {0, 4}, zeros[2] = {0, 0};
    bp_split sp;
    bp_matrix *m = (bp_matrix *)&m;
    bp_scaler *s = (bp_scaler *)&s, *s3;
    bp_error err;

    (void)name;
    /* Splits: no out, fractions outside [0, 1) or summing to 1 or more,
     * no rows, and row counts whose index array overflows size_t. */
    ck_assert_int_eq(bp_split_rows(10, 0.2, 0.1, 1, 1, NULL, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "out is NULL");
    ck_assert_int_eq(bp_split_rows(10, 0.2, 0.1, 1, 1, NULL, NULL), BP_EINVAL);
    for (size_t i = 0; i < sizeof fracs / sizeof fracs[0]; i++) {
        sp.index = (size_t *)&sp;
        ck_assert_int_eq(bp_split_rows(10, fracs[i][0], fracs[i][1], 1, 1, &sp, fresh(&err)), BP_EINVAL);
        expect_error_struct(err, BP_EINVAL, "fractions");
        ck_assert_ptr_null(sp.index);
    }
    ck_assert_int_eq(bp_split_rows(0, 0, 0, 0, 1, &sp, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "no training rows");
    ck_assert_int_eq(bp_split_rows(SIZE_MAX, 0, 0, 1, 1, &sp, fresh(&err)), BP_ENOMEM);
    expect_error_struct(err, BP_ENOMEM, "out of memory");
    ck_assert_ptr_null(sp.index);
    ck_assert_int_eq(bp_split_rows(SIZE_MAX / 8 + 1, 0.1, 0.1, 0, 1, &sp, fresh(&err)), BP_ENOMEM);
    expect_error_struct(err, BP_ENOMEM, "out of memory");
    bp_split_free(&sp);            /* a failed split is empty: freeing it is safe */
    bp_split_free(NULL);
    ck_assert_int_eq(bp_split_rows(1, 0.5, 0.4, 1, UINT64_MAX, &sp, NULL), BP_OK);
    ck_assert_uint_eq(sp.n_train, 1);
    bp_split_free(&sp);
    bp_split_free(&sp);            /* twice: it zeroed the split */
    ck_assert_ptr_null(sp.index);

    /* Taking rows: no out, no matrix, data or row list, a row out of
     * range, and a result whose size overflows. */
    ck_assert_int_eq(bp_matrix_take_rows(&x, rows, 3, NULL, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "out is NULL");
    ck_assert_int_eq(bp_matrix_take_rows(NULL, rows, 3, &m, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "NULL");
    ck_assert_ptr_null(m);
    ck_assert_int_eq(bp_matrix_take_rows(&nodata, rows, 3, &m, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "NULL");
    ck_assert_int_eq(bp_matrix_take_rows(&x, NULL, 2, &m, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "row list");
    ck_assert_int_eq(bp_matrix_take_rows(&x, far, 2, &m, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "row 4 is out of range (4 rows)");
    ck_assert_int_eq(bp_matrix_take_rows(&huge, zeros, 2, &m, fresh(&err)), BP_ENOMEM);
    expect_error_struct(err, BP_ENOMEM, "out of memory");
    ck_assert_ptr_null(m);
    ck_assert_int_eq(bp_matrix_take_rows(&x, NULL, 0, &m, NULL), BP_OK);   /* 0 rows is valid */
    ck_assert_uint_eq(m->rows, 0);
    bp_matrix_free(m);
    ck_assert_int_eq(bp_matrix_take_rows(&x, rows, 3, &m, NULL), BP_OK);
    ck_assert_double_eq(m->data[5], 40);
    bp_matrix_free(m);

    /* Scaler fit: no out or matrix, no rows, a row out of range,
     * non-finite data, columns whose statistics overflow size_t. */
    ck_assert_int_eq(bp_scaler_fit(&x, NULL, 0, NULL, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "out is NULL");
    ck_assert_int_eq(bp_scaler_fit(NULL, NULL, 0, &s, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "NULL");
    ck_assert_ptr_null(s);
    ck_assert_int_eq(bp_scaler_fit(&nodata, NULL, 0, &s, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "NULL");
    ck_assert_int_eq(bp_scaler_fit(&x, rows, 0, &s, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "no rows");
    ck_assert_int_eq(bp_scaler_fit(&none, NULL, 0, &s, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "no rows");
    ck_assert_int_eq(bp_scaler_fit(&x, far, 2, &s, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "row 4 is out of range");
    ck_assert_int_eq(bp_scaler_fit(&huge, NULL, 0, &s, fresh(&err)), BP_ENOMEM);
    expect_error_struct(err, BP_ENOMEM, "out of memory");
    ck_assert_ptr_null(s);
    d[2] = NAN;
    ck_assert_int_eq(bp_scaler_fit(&x, NULL, 0, &s, fresh(&err)), BP_ENUMERIC);
    expect_error_struct(err, BP_ENUMERIC, "row 1, column 0");
    ck_assert_ptr_null(s);
    ck_assert_int_eq(bp_scaler_fit(&x, rows, 3, &s, NULL), BP_OK);   /* row 1 is not used */
    bp_scaler_free(s);
    d[2] = 2;
    d[7] = -INFINITY;
    ck_assert_int_eq(bp_scaler_fit(&x, rows, 3, &s, fresh(&err)), BP_ENUMERIC);
    expect_error_struct(err, BP_ENUMERIC, "row 3, column 1");
    d[7] = 40;

    /* Applying a scaler fitted on 3 columns to 2: BP_EDIM, x unchanged. */
    ck_assert_int_eq(bp_scaler_fit(&three, NULL, 0, &s3, NULL), BP_OK);
    ck_assert_uint_eq(bp_scaler_cols(s3), 3);
    memcpy(before, d, sizeof d);
    ck_assert_int_eq(bp_scaler_apply(s3, &x, fresh(&err)), BP_EDIM);
    expect_error_struct(err, BP_EDIM, "matrix has 2 columns, scaler 3");
    ck_assert_int_eq(bp_scaler_invert(s3, &x, fresh(&err)), BP_EDIM);
    expect_error_struct(err, BP_EDIM, "scaler_invert");
    ck_assert_int_eq(bp_scaler_apply(s3, &x, NULL), BP_EDIM);
    ck_assert_mem_eq(before, d, sizeof d);
    ck_assert_int_eq(bp_scaler_apply(NULL, &x, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "scaler_apply");
    ck_assert_int_eq(bp_scaler_invert(s3, NULL, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "scaler_invert");
    ck_assert_int_eq(bp_scaler_apply(s3, &nodata, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "NULL");
    ck_assert_int_eq(bp_scaler_apply(s3, &empty3, NULL), BP_OK);   /* no rows: nothing to do */
    bp_scaler_free(s3);

    /* The accessors and free cannot fail: NULL gives 0 / NULL / nothing. */
    ck_assert_uint_eq(bp_scaler_cols(NULL), 0);
    ck_assert_ptr_null(bp_scaler_mean(NULL));
    ck_assert_ptr_null(bp_scaler_std(NULL));
    bp_scaler_free(NULL);

    /* A constant column gets std 1 and maps to 0, not to NaN; apply and
     * invert round-trip. */
    ck_assert_int_eq(bp_scaler_fit(&c, NULL, 0, &s, NULL), BP_OK);
    ck_assert_double_eq(bp_scaler_std(s)[0], 1);
    ck_assert_double_eq(bp_scaler_mean(s)[0], 5);
    ck_assert_int_eq(bp_scaler_apply(s, &c, NULL), BP_OK);
    ck_assert_double_eq(cst[0], 0);
    ck_assert_int_eq(bp_scaler_invert(s, &c, NULL), BP_OK);
    ck_assert_double_eq_tol(cst[5], 3, 1e-12);
    bp_scaler_free(s);
}

static void check_batcher(const char *name)
{
    double xd[8] = {1, 2, 3, 4, 5, 6, 7, 8}, yd[4] = {1, 2, 3, 4};
    bp_matrix xm = {4, 2, xd}, ym = {4, 1, yd}, y3 = {3, 1, yd}, nodata = {4, 1, NULL};
    bp_graph *g = new_graph();
    bp_node *x = bp_input(g, 2, 2, "x"), *y = bp_input(g, 2, 1, "y");
    bp_node *w = filled_param(g, 2, 1, "w");
    bp_node *p = bp_matmul(g, x, w);
    const bp_matrix *src[2] = {&xm, &ym}, *src_bad[2];
    bp_node *dst[2] = {x, y}, *dst_bad[2];
    const size_t rows[2] = {3, 1}, far[2] = {1, 4};
    bp_batcher *b = (bp_batcher *)&b;
    bp_error err;
    size_t n = 7;

    (void)name;
    ck_assert_int_eq(bp_batcher_new(2, src, dst, NULL, 0, 2, 0, 1, NULL, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "out is NULL");
    ck_assert_int_eq(bp_batcher_new(2, NULL, dst, NULL, 0, 2, 0, 1, &b, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "batcher");
    ck_assert_ptr_null(b);
    ck_assert_int_eq(bp_batcher_new(2, src, NULL, NULL, 0, 2, 0, 1, &b, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "batcher");
    ck_assert_int_eq(bp_batcher_new(0, src, dst, NULL, 0, 2, 0, 1, &b, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "sources");
    ck_assert_int_eq(bp_batcher_new(BP_MAX_INPUTS + 1, src, dst, NULL, 0, 2, 0, 1, &b, fresh(&err)),
                     BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "sources");
    ck_assert_int_eq(bp_batcher_new(SIZE_MAX, src, dst, NULL, 0, 2, 0, 1, &b, fresh(&err)), BP_EINVAL);
    ck_assert_int_eq(bp_batcher_new(2, src, dst, NULL, 0, 0, 0, 1, &b, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "batch size");
    ck_assert_int_eq(bp_batcher_new(2, src, dst, NULL, 0, 0, 0, 1, &b, NULL), BP_EINVAL);

    /* One bad source or node among good ones. */
    src_bad[0] = &xm;
    dst_bad[0] = x;
    dst_bad[1] = y;
    src_bad[1] = NULL;
    ck_assert_int_eq(bp_batcher_new(2, src_bad, dst, NULL, 0, 2, 0, 1, &b, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "node 1 is NULL");
    src_bad[1] = &nodata;
    ck_assert_int_eq(bp_batcher_new(2, src_bad, dst, NULL, 0, 2, 0, 1, &b, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "node 1 is NULL");
    src_bad[1] = &y3;   /* sources of different row counts */
    ck_assert_int_eq(bp_batcher_new(2, src_bad, dst, NULL, 0, 2, 0, 1, &b, fresh(&err)), BP_EDIM);
    expect_error_struct(err, BP_EDIM, "source 1 has 3 rows, source 0 has 4");
    src_bad[1] = &xm;   /* a destination of the wrong column count */
    ck_assert_int_eq(bp_batcher_new(2, src_bad, dst, NULL, 0, 2, 0, 1, &b, fresh(&err)), BP_EDIM);
    expect_error_struct(err, BP_EDIM, "source 1 has 2 columns, input 'y' takes 1");
    dst_bad[1] = NULL;
    ck_assert_int_eq(bp_batcher_new(2, src, dst_bad, NULL, 0, 2, 0, 1, &b, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "node 1 is NULL");
    dst_bad[1] = w;     /* a param, not an input */
    ck_assert_int_eq(bp_batcher_new(2, src, dst_bad, NULL, 0, 2, 0, 1, &b, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "'w' is not an input");
    dst_bad[1] = p;     /* an op node */
    ck_assert_int_eq(bp_batcher_new(2, src, dst_bad, NULL, 0, 2, 0, 1, &b, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "is not an input");
    ck_assert_int_eq(bp_batcher_new(2, src, dst, rows, 0, 2, 0, 1, &b, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "no rows");
    ck_assert_int_eq(bp_batcher_new(2, src, dst, far, 2, 2, 0, 1, &b, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "row 4 is out of range (4 rows)");
    ck_assert_ptr_null(b);
    ck_assert_ptr_null(bp_node_value(x));   /* nothing was bound */

    /* The rest cannot fail, or only with BP_EINVAL for NULL: NULL gives
     * 0 / NULL / nothing. */
    bp_batcher_free(NULL);
    ck_assert_int_eq(bp_batcher_next(NULL, &n), BP_EINVAL);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(bp_batcher_next(NULL, NULL), BP_EINVAL);
    bp_batcher_reset(NULL);
    ck_assert_uint_eq(bp_batcher_batches(NULL), 0);
    n = 7;
    ck_assert_ptr_null(bp_batcher_rows(NULL, &n));
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(bp_batcher_rows(NULL, NULL));

    /* A batch size far beyond the rows (its staging size would overflow)
     * is one batch of every row. */
    ck_assert_int_eq(bp_batcher_new(2, src, dst, rows, 2, SIZE_MAX, 1, UINT64_MAX, &b, fresh(&err)),
                     BP_OK);
    ck_assert_uint_eq(bp_batcher_batches(b), 1);
    ck_assert_ptr_null(bp_batcher_rows(b, &n));   /* no batch yet */
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(bp_batcher_next(b, &n), BP_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_ptr_nonnull(bp_batcher_rows(b, NULL));
    ck_assert_uint_eq(bp_node_rows(x), 2);
    ck_assert_int_eq(bp_batcher_next(b, &n), BP_OK);
    ck_assert_uint_eq(n, 0);                       /* the epoch is over */
    ck_assert_ptr_null(bp_batcher_rows(b, &n));
    ck_assert_int_eq(bp_batcher_next(b, NULL), BP_OK);
    bp_batcher_reset(b);
    bp_batcher_reset(b);
    ck_assert_int_eq(bp_batcher_next(b, &n), BP_OK);
    ck_assert_uint_eq(n, 2);
    bp_batcher_free(b);

    /* A remainder batch of one row. */
    ck_assert_int_eq(bp_batcher_new(2, src, dst, NULL, 0, 3, 0, 1, &b, NULL), BP_OK);
    ck_assert_uint_eq(bp_batcher_batches(b), 2);
    ck_assert_int_eq(bp_batcher_next(b, &n), BP_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(bp_batcher_next(b, &n), BP_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_double_eq(bp_node_value(y)->data[0], 4);
    bp_batcher_free(b);
    expect_graph_error(g, BP_OK, NULL);
    bp_graph_free(g);
}

/* ---- optimizers ---- */

static void check_optimizer(const char *name)
{
    double xd[4] = {1, 2, 3, 4};
    bp_graph *g = new_graph(), *other = new_graph(), *bare = new_graph();
    bp_node *x = bp_input(g, 2, 2, "x");
    bp_node *w = filled_param(g, 2, 1, "w"), *b = filled_param(g, 1, 1, "b");
    bp_node *loss = bp_sum(g, bp_add(g, bp_matmul(g, x, w), b));
    bp_node *alien = filled_param(other, 2, 1, "alien");
    bp_optim_config cfg, bad;
    bp_optimizer *opt = (bp_optimizer *)&opt;
    bp_node *list[2];
    double w0[2], b0[1];
    struct { bp_optim_kind kind; int field; double v; } bad_cfg[] = {
        {BP_OPTIM_SGD, 0, 0}, {BP_OPTIM_SGD, 0, -1}, {BP_OPTIM_SGD, 0, NAN},
        {BP_OPTIM_SGD, 0, INFINITY}, {BP_OPTIM_SGD, 1, -0.1}, {BP_OPTIM_SGD, 1, 1},
        {BP_OPTIM_SGD, 1, NAN}, {BP_OPTIM_ADAM, 2, 1}, {BP_OPTIM_ADAM, 2, NAN},
        {BP_OPTIM_ADAM, 3, 1}, {BP_OPTIM_ADAM, 3, -0.1}, {BP_OPTIM_ADAM, 4, 0},
        {BP_OPTIM_ADAM, 4, -1}, {BP_OPTIM_ADAM, 4, NAN}, {(bp_optim_kind)7, 0, 0.1},
        {(bp_optim_kind)-1, 0, 0.1},
    };

    (void)name;
    memcpy(w0, bp_node_value(w)->data, sizeof w0);
    memcpy(b0, bp_node_value(b)->data, sizeof b0);
    cfg = bp_optim_defaults(BP_OPTIM_SGD);
    ck_assert_double_eq(cfg.lr, 0.01);
    ck_assert_double_eq(bp_optim_defaults(BP_OPTIM_ADAM).eps, 1e-8);
    /* An unknown kind gets defaults too, and is refused when used. */
    bad = bp_optim_defaults((bp_optim_kind)7);
    ck_assert_int_eq(bp_optimizer_new(g, NULL, 0, &bad, &opt), BP_EINVAL);
    expect_graph_error(g, BP_EINVAL, "bad configuration");
    ck_assert_ptr_null(opt);
    bp_graph_clear_error(g);

    ck_assert_int_eq(bp_optimizer_new(NULL, NULL, 0, &cfg, &opt), BP_EINVAL);   /* no graph */
    ck_assert_int_eq(bp_optimizer_new(g, NULL, 0, &cfg, NULL), BP_EINVAL);
    expect_graph_error(g, BP_EINVAL, "out is NULL");
    bp_graph_clear_error(g);
    ck_assert_int_eq(bp_optimizer_new(g, NULL, 0, NULL, &opt), BP_EINVAL);
    expect_graph_error(g, BP_EINVAL, "bad configuration");
    bp_graph_clear_error(g);
    for (size_t i = 0; i < sizeof bad_cfg / sizeof bad_cfg[0]; i++) {
        bad = bp_optim_defaults(bad_cfg[i].kind);
        switch (bad_cfg[i].field) {
        case 0: bad.lr = bad_cfg[i].v; break;
        case 1: bad.momentum = bad_cfg[i].v; break;
        case 2: bad.beta1 = bad_cfg[i].v; break;
        case 3: bad.beta2 = bad_cfg[i].v; break;
        default: bad.eps = bad_cfg[i].v; break;
        }
        opt = (bp_optimizer *)&opt;
        ck_assert_msg(bp_optimizer_new(g, NULL, 0, &bad, &opt) == BP_EINVAL, "config %zu", i);
        expect_graph_error(g, BP_EINVAL, "bad configuration");
        ck_assert_ptr_null(opt);
        bp_graph_clear_error(g);
    }

    /* Nodes that are not params of g: another graph's, an input, an op
     * node, NULL; an empty list; a graph with no params. */
    list[0] = w;
    list[1] = alien;
    ck_assert_int_eq(bp_optimizer_new(g, list, 2, &cfg, &opt), BP_EINVAL);
    expect_graph_error(g, BP_EINVAL, "node 1 ('alien') is not a param of this graph");
    ck_assert_int_eq(bp_graph_status(other), BP_OK);
    bp_graph_clear_error(g);
    list[1] = x;
    ck_assert_int_eq(bp_optimizer_new(g, list, 2, &cfg, &opt), BP_EINVAL);
    expect_graph_error(g, BP_EINVAL, "('x') is not a param");
    bp_graph_clear_error(g);
    list[1] = loss;
    ck_assert_int_eq(bp_optimizer_new(g, list, 2, &cfg, &opt), BP_EINVAL);
    expect_graph_error(g, BP_EINVAL, "is not a param");
    bp_graph_clear_error(g);
    list[1] = NULL;
    ck_assert_int_eq(bp_optimizer_new(g, list, 2, &cfg, &opt), BP_EINVAL);
    expect_graph_error(g, BP_EINVAL, "NULL");
    bp_graph_clear_error(g);
    ck_assert_int_eq(bp_optimizer_new(g, list, 0, &cfg, &opt), BP_EINVAL);
    expect_graph_error(g, BP_EINVAL, "no params");
    bp_graph_clear_error(g);
    ck_assert_ptr_nonnull(bp_input(bare, 2, 2, "only an input"));
    ck_assert_int_eq(bp_optimizer_new(bare, NULL, 0, &cfg, &opt), BP_EINVAL);
    expect_graph_error(bare, BP_EINVAL, "no params");
    ck_assert_ptr_null(opt);
    /* A graph with a sticky error keeps it. */
    ck_assert_int_eq(bp_optimizer_new(bare, NULL, 0, &cfg, &opt), BP_EINVAL);
    expect_graph_error(bare, BP_EINVAL, "no params");

    /* The rest cannot fail but for BP_EINVAL on NULL; a bad learning rate
     * is ignored. */
    bp_optimizer_free(NULL);
    ck_assert_int_eq(bp_optimizer_step(NULL), BP_EINVAL);
    bp_optimizer_set_lr(NULL, 0.1);
    ck_assert_uint_eq(bp_optimizer_steps(NULL), 0);
    ck_assert_double_eq(bp_optimizer_grad_norm(NULL), 0.0);
    ck_assert_double_eq(bp_optim_lr(NULL, 1), 0.0);

    /* A NaN or infinite gradient: BP_ENUMERIC naming the param, and no
     * param changes (nor the step count), for SGD, SGD with momentum and
     * Adam; then finite gradients step normally. */
    for (int k = 0; k < 3; k++) {
        for (int inf = 0; inf < 2; inf++) {
            double nx[4] = {1, 2, 3, 4};
            cfg = bp_optim_defaults(k == 2 ? BP_OPTIM_ADAM : BP_OPTIM_SGD);
            cfg.momentum = k == 1 ? 0.9 : 0.0;
            ck_assert_int_eq(bp_optimizer_new(g, NULL, 0, &cfg, &opt), BP_OK);
            ck_assert_int_eq(bp_optimizer_step(opt), BP_OK);   /* no gradient yet: skipped */
            ck_assert_uint_eq(bp_optimizer_steps(opt), 1);
            assert_values(w, w0);
            nx[2] = inf ? INFINITY : NAN;
            tu_set(x, 2, 2, nx);
            ck_assert_int_eq(bp_forward(g, loss), BP_OK);
            ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
            ck_assert_int_eq(bp_optimizer_step(opt), BP_ENUMERIC);
            expect_graph_error(g, BP_ENUMERIC, "gradient of 'w' is not finite");
            ck_assert_uint_eq(bp_optimizer_steps(opt), 1);
            assert_values(w, w0);
            assert_values(b, b0);
            bp_graph_clear_error(g);
            bp_zero_grad(g);

            tu_set(x, 2, 2, xd);
            ck_assert_int_eq(bp_forward(g, loss), BP_OK);
            ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
            bp_optimizer_set_lr(opt, NAN);
            bp_optimizer_set_lr(opt, -1);
            bp_optimizer_set_lr(opt, 0);
            bp_optimizer_set_lr(opt, INFINITY);
            ck_assert_int_eq(bp_optimizer_step(opt), BP_OK);
            ck_assert_uint_eq(bp_optimizer_steps(opt), 2);
            if (k == 0)   /* plain SGD with the lr it was given: b −= 0.01 · 2 */
                ck_assert_double_eq_tol(bp_node_value(b)->data[0], b0[0] - 0.02, 1e-15);
            else          /* Adam's first step moves by about lr */
                ck_assert(bp_node_value(b)->data[0] < b0[0]);
            bp_optimizer_free(opt);
            bp_zero_grad(g);
            tu_set(w, 2, 1, w0);
            tu_set(b, 1, 1, b0);
        }
    }
    expect_graph_error(g, BP_OK, NULL);
    bp_graph_free(bare);
    bp_graph_free(other);
    bp_graph_free(g);
}

/* ---- parameter files ---- */

static uint64_t fnv1a64(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static void put_le(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* The file's bytes with the checksum recomputed, so the reader gets past it. */
static void fix_sum(unsigned char *buf, size_t len)
{
    put_le(buf + len - 8, fnv1a64(buf, len - 8), 8);
}

static bp_graph *params_graph(const char *w_name, size_t w_rows, size_t w_cols, int with_b)
{
    bp_graph *g = new_graph();
    ck_assert_ptr_nonnull(bp_input(g, 2, w_rows, "x"));
    filled_param(g, w_rows, w_cols, w_name);
    if (with_b)
        filled_param(g, 1, w_cols, "b");
    return g;
}

static void check_params_files(const char *name)
{
    bp_graph *g = params_graph("w", 2, 3, 1), *other;
    bp_node *w = bp_graph_node(g, 1), *b = bp_graph_node(g, 2);
    unsigned char good[256], buf[300];
    char path[512], dir[300];
    double w0[6], b0[3];
    size_t len;
    bp_error err;
    FILE *f;
    struct { const char *what; size_t len; bp_status st; const char *part; } cases[] = {
        {"empty", 0, BP_EPARSE, "truncated at offset 0"},
        {"short", 10, BP_EPARSE, "truncated"},
        {"magic", 0, BP_EPARSE, "bad magic at offset 0"},
        {"garbage", 0, BP_EPARSE, "bad magic"},
        {"version", 0, BP_EPARSE, "version 2 at offset 8"},
        {"cut", 0, BP_EPARSE, "offset"},
        {"flipped", 0, BP_EPARSE, "checksum mismatch"},
        {"trailing", 0, BP_EPARSE, "unexpected bytes"},
        {"count", 0, BP_EPARSE, "truncated"},
        {"name length", 0, BP_EPARSE, "truncated"},
        {"rows", 0, BP_EPARSE, "truncated"},
        {"zero rows", 0, BP_EPARSE, "is 0x3"},
        {"renamed", 0, BP_ENOTFOUND, "named 'v', the graph's is 'w'"},
        {"reshaped", 0, BP_EDIM, "param 'w' at offset 16 is 3x2, the graph's is 2x3"},
        {"recounted", 0, BP_EDIM, "holds 1 params at offset 12, the graph has 2"},
    };

    (void)name;
    memcpy(w0, bp_node_value(w)->data, sizeof w0);
    memcpy(b0, bp_node_value(b)->data, sizeof b0);
    snprintf(path, sizeof path, "%s", temp_file("p.bin", "", 0));
    snprintf(dir, sizeof dir, "%s", tmp_dir);

    /* Missing arguments. */
    ck_assert_int_eq(bp_params_save(NULL, path, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "params_save");
    ck_assert_int_eq(bp_params_save(g, NULL, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "path");
    ck_assert_int_eq(bp_params_save(g, "", fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "path");
    ck_assert_int_eq(bp_params_save(g, NULL, NULL), BP_EINVAL);
    ck_assert_int_eq(bp_params_load(NULL, path, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "params_load");
    ck_assert_int_eq(bp_params_load(g, NULL, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "path");
    ck_assert_int_eq(bp_params_load(g, "", NULL), BP_EINVAL);

    /* Nowhere to write or read: a missing directory, a directory. */
    ck_assert_int_eq(bp_params_save(g, "/nonexistent/dir/p.bin", fresh(&err)), BP_EIO);
    expect_error_struct(err, BP_EIO, "/nonexistent/dir/p.bin");
    ck_assert_int_eq(bp_params_save(g, dir, fresh(&err)), BP_EIO);   /* rename over a directory */
    expect_error_struct(err, BP_EIO, dir);
    ck_assert_int_eq(bp_params_load(g, "/nonexistent/dir/p.bin", fresh(&err)), BP_EIO);
    expect_error_struct(err, BP_EIO, "/nonexistent/dir/p.bin");
    ck_assert_int_eq(bp_params_load(g, dir, fresh(&err)), BP_EIO);
    expect_error_struct(err, BP_EIO, dir);

    /* A good file, then damaged copies of it and files of other graphs;
     * each is refused with the file named and g unchanged. */
    ck_assert_int_eq(bp_params_save(g, path, fresh(&err)), BP_OK);
    f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    len = fread(good, 1, sizeof good, f);
    fclose(f);
    ck_assert_uint_eq(len, 16 + (4 + 1 + 16 + 48) + (4 + 1 + 16 + 24) + 8);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *what = cases[i].what;
        size_t n = len;
        memcpy(buf, good, len);
        if (strcmp(what, "empty") == 0 || strcmp(what, "short") == 0) {
            n = cases[i].len;
        } else if (strcmp(what, "magic") == 0) {
            buf[0] = 'X';
        } else if (strcmp(what, "garbage") == 0) {
            for (size_t k = 0; k < n; k++)
                buf[k] = (unsigned char)(k * 131 + 7);
        } else if (strcmp(what, "version") == 0) {
            put_le(buf + 8, 2, 4);
        } else if (strcmp(what, "cut") == 0) {
            n = len - 9;
        } else if (strcmp(what, "flipped") == 0) {
            buf[40] ^= 1;
        } else if (strcmp(what, "trailing") == 0) {
            memset(buf + len, 0, 8);
            n = len + 8;
            fix_sum(buf, n);
        } else if (strcmp(what, "count") == 0) {
            put_le(buf + 12, UINT32_MAX, 4);
            fix_sum(buf, n);
        } else if (strcmp(what, "name length") == 0) {
            put_le(buf + 16, UINT32_MAX, 4);
            fix_sum(buf, n);
        } else if (strcmp(what, "rows") == 0) {
            put_le(buf + 21, (uint64_t)1 << 62, 8);   /* bytes overflow size_t */
            fix_sum(buf, n);
        } else if (strcmp(what, "zero rows") == 0) {
            put_le(buf + 21, 0, 8);
            fix_sum(buf, n);
        } else if (strcmp(what, "renamed") == 0) {
            buf[20] = 'v';
            fix_sum(buf, n);
        }
        if (strcmp(what, "reshaped") == 0 || strcmp(what, "recounted") == 0) {
            other = strcmp(what, "reshaped") == 0 ? params_graph("w", 3, 2, 1)
                                                   : params_graph("w", 2, 3, 0);
            /* values unlike g's, so a partial load would show */
            bp_node_value(bp_graph_node(other, 1))->data[0] = -7.0;
            ck_assert_int_eq(bp_params_save(other, path, NULL), BP_OK);
            bp_graph_free(other);
        } else {
            f = fopen(path, "wb");
            ck_assert_ptr_nonnull(f);
            ck_assert_uint_eq(fwrite(buf, 1, n, f), n);
            ck_assert_int_eq(fclose(f), 0);
        }
        ck_assert_msg(bp_params_load(g, path, fresh(&err)) == cases[i].st, "%s: %d %s", what,
                      err.status, err.message);
        expect_error_struct(err, cases[i].st, cases[i].part);
        expect_error_struct(err, cases[i].st, path);
        ck_assert_int_eq(bp_params_load(g, path, NULL), cases[i].st);
        assert_values(w, w0);
        assert_values(b, b0);
    }
    /* A graph with no params against a file with two. */
    ck_assert_int_eq(bp_params_save(g, path, NULL), BP_OK);
    other = new_graph();
    ck_assert_int_eq(bp_params_load(other, path, fresh(&err)), BP_EDIM);
    expect_error_struct(err, BP_EDIM, "the graph has 0");
    bp_graph_free(other);

    /* Non-finite values are values: they round-trip. */
    bp_node_value(w)->data[1] = NAN;
    bp_node_value(b)->data[2] = -INFINITY;
    ck_assert_int_eq(bp_params_save(g, path, NULL), BP_OK);
    bp_node_value(w)->data[1] = 0;
    bp_node_value(b)->data[2] = 0;
    ck_assert_int_eq(bp_params_load(g, path, fresh(&err)), BP_OK);
    ck_assert(isnan(bp_node_value(w)->data[1]));
    ck_assert(isinf(bp_node_value(b)->data[2]));
    expect_graph_error(g, BP_OK, NULL);
    bp_graph_free(g);
    remove_temp(path);
}

/* ---- pictures ---- */

/* A stream that refuses writes: a file opened for reading. */
static FILE *read_only_stream(char *path, size_t size)
{
    FILE *f;
    snprintf(path, size, "%s", temp_file("ro.txt", "x", 1));
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    return f;
}

static void check_pictures(const char *name)
{
    bp_graph *g = new_graph(), *other = new_graph();
    bp_node *x = bp_input(g, 2, 3, "x"), *w = filled_param(g, 3, 1, "w1");
    bp_node *loss = bp_sum(g, bp_matmul(g, x, w));
    bp_node *alien = filled_param(other, 1, 1, "alien");
    char path[512], buf[16];
    size_t needed = 0;
    bp_error err;
    FILE *f = tmpfile(), *ro;

    (void)name;
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(loss);
    /* DOT to a FILE: no graph, a node of another graph, no FILE, a FILE
     * that refuses writes. */
    ck_assert_int_eq(bp_dot_write(NULL, NULL, 0, f, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "graph is NULL");
    ck_assert_int_eq(bp_dot_write(g, alien, 1, f, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "another graph");
    ck_assert_int_eq(bp_dot_write(g, loss, 0, NULL, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "FILE is NULL");
    ck_assert_int_eq(bp_dot_write(g, loss, 0, NULL, NULL), BP_EINVAL);
    ro = read_only_stream(path, sizeof path);
    ck_assert_int_eq(bp_dot_write(g, loss, 1, ro, fresh(&err)), BP_EIO);
    expect_error_struct(err, BP_EIO, "write failed");
    fclose(ro);
    remove_temp(path);
    /* Whole graph, any backward value, before any forward: fine. */
    ck_assert_int_eq(bp_dot_write(g, NULL, 0, f, NULL), BP_OK);
    ck_assert_int_eq(bp_dot_write(g, loss, -7, f, NULL), BP_OK);

    /* DOT to a path: no path, no graph, a foreign node, a missing
     * directory, a full device. */
    ck_assert_int_eq(bp_dot_save(g, loss, 0, NULL, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "path is NULL");
    ck_assert_int_eq(bp_dot_save(NULL, NULL, 0, "x.dot", fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "graph is NULL");
    ck_assert_int_eq(bp_dot_save(g, alien, 0, "x.dot", fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "another graph");
    ck_assert_int_eq(bp_dot_save(g, loss, 0, "/nonexistent/dir/g.dot", fresh(&err)), BP_EIO);
    expect_error_struct(err, BP_EIO, "/nonexistent/dir/g.dot");
    if (access("/dev/full", W_OK) == 0) {
        ck_assert_int_eq(bp_dot_save(g, loss, 1, "/dev/full", fresh(&err)), BP_EIO);
        expect_error_struct(err, BP_EIO, "/dev/full");
    }
    snprintf(path, sizeof path, "%s", temp_file("g.dot", "", 0));
    ck_assert_int_eq(bp_dot_save(g, loss, 1, path, fresh(&err)), BP_OK);
    remove_temp(path);

    /* Chains: NULL graph or nodes, a foreign node, an unknown format. */
    ck_assert_int_eq(bp_grad_chain(NULL, loss, w, BP_CHAIN_TEXT, buf, sizeof buf, &needed,
                                   fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "NULL");
    ck_assert_int_eq(bp_grad_chain(g, NULL, w, BP_CHAIN_TEXT, buf, sizeof buf, NULL, fresh(&err)),
                     BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "NULL");
    ck_assert_int_eq(bp_grad_chain(g, loss, NULL, BP_CHAIN_TEXT, buf, sizeof buf, NULL, NULL),
                     BP_EINVAL);
    ck_assert_int_eq(bp_grad_chain(g, loss, alien, BP_CHAIN_LATEX, buf, sizeof buf, NULL,
                                   fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "another graph");
    ck_assert_int_eq(bp_grad_chain(g, loss, w, (bp_chain_format)7, buf, sizeof buf, NULL,
                                   fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "unknown format 7");
    ck_assert_int_eq(bp_grad_chain(g, loss, w, (bp_chain_format)-1, buf, sizeof buf, NULL,
                                   fresh(&err)), BP_EINVAL);
    /* Buffers: none, one byte, too short: BP_OK, terminated, full length
     * in needed. */
    ck_assert_int_eq(bp_grad_chain(g, loss, w, BP_CHAIN_TEXT, NULL, 0, &needed, NULL), BP_OK);
    ck_assert_uint_gt(needed, sizeof buf);
    ck_assert_int_eq(bp_grad_chain(g, loss, w, BP_CHAIN_TEXT, NULL, 100, NULL, NULL), BP_OK);
    buf[0] = 'z';
    ck_assert_int_eq(bp_grad_chain(g, loss, w, BP_CHAIN_TEXT, buf, 1, NULL, NULL), BP_OK);
    ck_assert_str_eq(buf, "");
    ck_assert_int_eq(bp_grad_chain(g, loss, w, BP_CHAIN_LATEX, buf, sizeof buf, &needed, NULL),
                     BP_OK);
    ck_assert_uint_eq(strlen(buf), sizeof buf - 1);
    ck_assert_uint_gt(needed, sizeof buf);
    /* No gradient path (an input; loss below wrt): "= 0". */
    ck_assert_int_eq(bp_grad_chain(g, loss, x, BP_CHAIN_TEXT, NULL, 0, &needed, NULL), BP_OK);
    ck_assert_int_eq(bp_grad_chain(g, w, loss, BP_CHAIN_TEXT, NULL, 0, &needed, NULL), BP_OK);

    ck_assert_int_eq(bp_grad_chain_write(g, loss, w, BP_CHAIN_TEXT, NULL, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "FILE is NULL");
    ck_assert_int_eq(bp_grad_chain_write(NULL, loss, w, BP_CHAIN_TEXT, f, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "NULL");
    ck_assert_int_eq(bp_grad_chain_write(g, alien, w, BP_CHAIN_TEXT, f, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "another graph");
    ck_assert_int_eq(bp_grad_chain_write(g, loss, w, (bp_chain_format)2, f, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "unknown format");
    ro = read_only_stream(path, sizeof path);
    ck_assert_int_eq(bp_grad_chain_write(g, loss, w, BP_CHAIN_TEXT, ro, fresh(&err)), BP_EIO);
    expect_error_struct(err, BP_EIO, "write failed");
    fclose(ro);
    remove_temp(path);
    ck_assert_int_eq(bp_grad_chain_write(g, loss, w, BP_CHAIN_LATEX, f, NULL), BP_OK);
    fclose(f);
    /* None of this touched the graphs. */
    expect_graph_error(g, BP_OK, NULL);
    expect_graph_error(other, BP_OK, NULL);
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

/* ---- the table: every public function, and the check that tries it ---- */

struct covered {
    const char *name;
    void (*check)(const char *name);
};

static const struct covered covered[] = {
    {"bp_strerror", check_status_text},
    {"bp_set_alloc_funcs", check_alloc_funcs},
    {"bp_get_alloc_funcs", check_alloc_funcs},
    {"bp_matrix_alloc", check_matrix},
    {"bp_matrix_copy", check_matrix},
    {"bp_matrix_free", check_matrix},
    {"bp_matrix_get", check_matrix},
    {"bp_matrix_set", check_matrix},
    {"bp_matrix_max_abs_diff", check_matrix},
    {"bp_op_fail", check_op_declarations},
    {"bp_op_validate", check_op_declarations},
    {"bp_builtin_count", check_op_declarations},
    {"bp_builtin", check_op_declarations},
    {"bp_registry_new", check_registry},
    {"bp_registry_free", check_registry},
    {"bp_registry_add", check_registry},
    {"bp_registry_count", check_registry},
    {"bp_registry_get", check_registry},
    {"bp_registry_find", check_registry},
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
    {"bp_matmul", check_wrapper},
    {"bp_transpose", check_wrapper},
    {"bp_add", check_wrapper},
    {"bp_sub", check_wrapper},
    {"bp_mul", check_wrapper},
    {"bp_div", check_wrapper},
    {"bp_neg", check_wrapper},
    {"bp_scale", check_wrapper},
    {"bp_exp", check_wrapper},
    {"bp_log", check_wrapper},
    {"bp_pow", check_wrapper},
    {"bp_sqrt", check_wrapper},
    {"bp_relu", check_wrapper},
    {"bp_sigmoid", check_wrapper},
    {"bp_tanh", check_wrapper},
    {"bp_rowsum", check_wrapper},
    {"bp_colsum", check_wrapper},
    {"bp_sum", check_wrapper},
    {"bp_mean", check_wrapper},
    {"bp_rowmax", check_wrapper},
    {"bp_softmax", check_wrapper},
    {"bp_dense", check_wrapper},
    {"bp_dense_relu", check_wrapper},
    {"bp_mse", check_wrapper},
    {"bp_nll", check_wrapper},
    {"bp_softmax_ce", check_wrapper},
    {"bp_detach", check_wrapper},
    {"bp_softmax_staged", check_wrapper},
    {"bp_solve", check_wrapper},
    {"bp_inv", check_wrapper},
    {"bp_cholesky", check_wrapper},
    {"bp_logdet", check_wrapper},
    {"bp_det", check_wrapper},
    {"bp_lstsq", check_wrapper},
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
    {"bp_check_options_default", check_gradcheck},
    {"bp_check_report_clear", check_gradcheck},
    {"bp_gradcheck_op", check_gradcheck},
    {"bp_gradcheck_graph", check_gradcheck},
    {"bp_numeric_derivative", check_gradcheck},
    {"bp_csv_read", check_csv},
    {"bp_npy_load", check_npy},
    {"bp_npy_save", check_npy},
    {"bp_graph_set_inplace", check_inplace},
    {"bp_rng_seed", check_rng_and_init},
    {"bp_rng_next", check_rng_and_init},
    {"bp_rng_uniform", check_rng_and_init},
    {"bp_rng_normal", check_rng_and_init},
    {"bp_rng_below", check_rng_and_init},
    {"bp_shuffle", check_rng_and_init},
    {"bp_init_uniform", check_rng_and_init},
    {"bp_init_glorot", check_rng_and_init},
    {"bp_init_he", check_rng_and_init},
    {"bp_split_rows", check_split_and_scaler},
    {"bp_split_free", check_split_and_scaler},
    {"bp_matrix_take_rows", check_split_and_scaler},
    {"bp_scaler_fit", check_split_and_scaler},
    {"bp_scaler_free", check_split_and_scaler},
    {"bp_scaler_cols", check_split_and_scaler},
    {"bp_scaler_mean", check_split_and_scaler},
    {"bp_scaler_std", check_split_and_scaler},
    {"bp_scaler_apply", check_split_and_scaler},
    {"bp_scaler_invert", check_split_and_scaler},
    {"bp_batcher_new", check_batcher},
    {"bp_batcher_free", check_batcher},
    {"bp_batcher_next", check_batcher},
    {"bp_batcher_reset", check_batcher},
    {"bp_batcher_batches", check_batcher},
    {"bp_batcher_rows", check_batcher},
    {"bp_optim_defaults", check_optimizer},
    {"bp_optimizer_new", check_optimizer},
    {"bp_optimizer_free", check_optimizer},
    {"bp_optimizer_step", check_optimizer},
    {"bp_optimizer_set_lr", check_optimizer},
    {"bp_optimizer_steps", check_optimizer},
    {"bp_optimizer_grad_norm", check_optimizer},
    {"bp_optim_lr", check_optimizer},
    {"bp_params_save", check_params_files},
    {"bp_params_load", check_params_files},
    {"bp_dot_write", check_pictures},
    {"bp_dot_save", check_pictures},
    {"bp_grad_chain", check_pictures},
    {"bp_grad_chain_write", check_pictures},
};

#define N_COVERED (sizeof covered / sizeof covered[0])

START_TEST(bad_input)
{
    /* Names the function in the log, should it crash. */
    printf("bad input: %s\n", covered[_i].name);
    fflush(stdout);
    covered[_i].check(covered[_i].name);
}
END_TEST

static int is_covered(const char *name)
{
    for (size_t i = 0; i < N_COVERED; i++)
        if (strcmp(covered[i].name, name) == 0)
            return 1;
    return 0;
}

/* The public headers: the umbrella and the sub-headers it includes. */
static const char *const public_headers[] = {
    "bpgraph.h", "bpgraph/base.h", "bpgraph/matrix.h", "bpgraph/op.h", "bpgraph/graph.h",
    "bpgraph/ops.h", "bpgraph/node.h", "bpgraph/check.h", "bpgraph/train.h", "bpgraph/io.h",
};

/* The public functions are the headers' lines that start a declaration
 * (a lower-case type, not a typedef) with bp_<name>( before any other
 * parenthesis.  Returns how many it found; appends the uncovered ones to
 * missing. */
static size_t scan_header(const char *path, char *missing, size_t missing_size, size_t *n_missing)
{
    char line[512];
    size_t found = 0;
    FILE *f = fopen(path, "r");

    ck_assert_msg(f != NULL, "cannot open %s", path);
    while (fgets(line, sizeof line, f)) {
        char *paren = strchr(line, '('), *start;
        if (line[0] < 'a' || line[0] > 'z' || strncmp(line, "typedef", 7) == 0 || !paren)
            continue;
        start = paren;
        while (start > line && (start[-1] == '_' || (start[-1] >= 'a' && start[-1] <= 'z') ||
                                (start[-1] >= '0' && start[-1] <= '9')))
            start--;
        if (strncmp(start, "bp_", 3) != 0)
            continue;
        *paren = '\0';
        found++;
        if (!is_covered(start)) {
            (*n_missing)++;
            strncat(missing, " ", missing_size - strlen(missing) - 1);
            strncat(missing, start, missing_size - strlen(missing) - 1);
        }
    }
    fclose(f);
    return found;
}

START_TEST(header_is_covered)
{
    const char *srcdir = getenv("top_srcdir");
    char path[1024], missing[2048] = "";
    size_t found = 0, n_missing = 0;

    ck_assert_msg(srcdir != NULL, "top_srcdir is not set (run through make check)");
    for (size_t i = 0; i < sizeof public_headers / sizeof *public_headers; i++) {
        snprintf(path, sizeof path, "%s/include/%s", srcdir, public_headers[i]);
        found += scan_header(path, missing, sizeof missing, &n_missing);
    }
    ck_assert_msg(n_missing == 0, "public functions with no bad-input check:%s", missing);
    /* Every entry names a function of the headers, so the table does not
     * keep a stale name either. */
    ck_assert_msg(found == N_COVERED, "headers declare %zu functions, table has %zu",
                  found, N_COVERED);
}
END_TEST

/* ---- every status code, provoked on purpose ---- */

static bp_status provoke_enomem(char *msg, size_t size)
{
    bp_graph *g = new_graph();
    bp_node *x = bp_input(g, SIZE_MAX / 4, 4, "x");
    bp_status st = bp_graph_status(g);
    ck_assert_ptr_null(x);
    snprintf(msg, size, "%s", bp_graph_message(g));
    bp_graph_free(g);
    return st;
}

static bp_status provoke_einval(char *msg, size_t size)
{
    bp_graph *g = new_graph();
    bp_node *x = filled_param(g, 2, 2, "x");
    bp_status st;
    ck_assert_ptr_null(bp_matmul(g, NULL, x));
    st = bp_graph_status(g);
    snprintf(msg, size, "%s", bp_graph_message(g));
    bp_graph_free(g);
    return st;
}

static bp_status provoke_edim(char *msg, size_t size)
{
    bp_graph *g = new_graph();
    bp_node *a = filled_param(g, 10, 3, "a"), *b = filled_param(g, 4, 1, "b");
    bp_status st;
    ck_assert_ptr_null(bp_matmul(g, a, b));
    st = bp_graph_status(g);
    snprintf(msg, size, "%s", bp_graph_message(g));
    bp_graph_free(g);
    return st;
}

static bp_status provoke_estate(char *msg, size_t size)
{
    bp_graph *g = new_graph();
    bp_node *loss = bp_sum(g, filled_param(g, 2, 2, "w"));
    bp_status st = bp_backward(g, loss, NULL);
    snprintf(msg, size, "%s", bp_graph_message(g));
    bp_graph_free(g);
    return st;
}

static bp_status provoke_enumeric(char *msg, size_t size)
{
    bp_graph *g = new_graph();
    bp_node *w = filled_param(g, 2, 2, "w");
    bp_node *l = bp_log(g, bp_sub(g, w, w));   /* log 0 = -inf */
    bp_status st;
    bp_graph_set_anomaly_mode(g, 1);
    st = bp_forward(g, l);
    snprintf(msg, size, "%s", bp_graph_message(g));
    bp_graph_free(g);
    return st;
}

static bp_status provoke_esingular(char *msg, size_t size)
{
    const double a[4] = {1, 2, 2, 4}, b[2] = {2.385, 1};
    bp_graph *g = new_graph();
    bp_node *x = bp_solve(g, bp_constant(g, 2, 2, a, "A"), bp_constant(g, 2, 1, b, "B"));
    bp_status st = bp_forward(g, x);
    snprintf(msg, size, "%s", bp_graph_message(g));
    bp_graph_free(g);
    return st;
}

static bp_status provoke_eio(char *msg, size_t size)
{
    bp_matrix *m;
    bp_error err;
    bp_status st = bp_npy_load("/nonexistent/params.npy", &m, &err);
    snprintf(msg, size, "%s", err.message);
    return st;
}

static bp_status provoke_eparse(char *msg, size_t size)
{
    static const char *const cols[] = {"a"};
    const char *path = temp_file("parse.csv", "a\nabc\n", 6);
    bp_matrix *m;
    bp_error err;
    bp_status st = bp_csv_read(path, cols, 1, &m, NULL, &err);
    snprintf(msg, size, "%s", err.message);
    remove_temp(path);
    return st;
}

static bp_status provoke_enotfound(char *msg, size_t size)
{
    static const char *const cols[] = {"rain"};
    const char *path = temp_file("nf.csv", "a\n1\n", 4);
    bp_matrix *m;
    bp_error err;
    bp_status st = bp_csv_read(path, cols, 1, &m, NULL, &err);
    snprintf(msg, size, "%s", err.message);
    remove_temp(path);
    return st;
}

static bp_status (*const provoke[BP_STATUS_COUNT])(char *, size_t) = {
    [BP_ENOMEM] = provoke_enomem,
    [BP_EINVAL] = provoke_einval,
    [BP_EDIM] = provoke_edim,
    [BP_ESTATE] = provoke_estate,
    [BP_ENUMERIC] = provoke_enumeric,
    [BP_ESINGULAR] = provoke_esingular,
    [BP_EIO] = provoke_eio,
    [BP_EPARSE] = provoke_eparse,
    [BP_ENOTFOUND] = provoke_enotfound,
};

/* A status added to the enum without a way to provoke it fails here. */
START_TEST(every_status_is_provoked)
{
    for (int s = 1; s < BP_STATUS_COUNT; s++) {
        char msg[512] = "";
        ck_assert_msg(provoke[s] != NULL, "no call provokes status %d (%s)", s,
                      bp_strerror((bp_status)s));
        ck_assert_msg(provoke[s](msg, sizeof msg) == (bp_status)s, "status %d (%s): got another: %s",
                      s, bp_strerror((bp_status)s), msg);
        ck_assert_msg(msg[0] != '\0', "status %d came with no message", s);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("badinput");
    TCase *tc = tcase_create("badinput");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, header_is_covered);
    tcase_add_test(tc, every_status_is_provoked);
    tcase_add_loop_test(tc, bad_input, 0, (int)N_COVERED);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
