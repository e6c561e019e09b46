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
    const bp_op *scale = bp_builtin(8);
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

static void check_set_value(const char *name)
{
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

    (void)name;
    ck_assert_int_eq(bp_node_set_value(NULL, &good), BP_EINVAL);
    ck_assert_int_eq(bp_node_set_value(w, NULL), BP_EINVAL);
    expect_graph_error(g, BP_EINVAL, "'w'");
    bp_graph_clear_error(g);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        m.rows = bad[i].rows;
        m.cols = bad[i].cols;
        m.data = bad[i].data;
        ck_assert_msg(bp_node_set_value(bad[i].node, &m) == bad[i].st, "case %zu", i);
        expect_graph_error(g, bad[i].st, bad[i].part);
        bp_graph_clear_error(g);
        ck_assert_double_eq(bp_node_value(w)->data[0], w0);   /* unchanged */
        ck_assert_ptr_null(bp_node_value(x));                  /* still unbound */
    }
    ck_assert_int_eq(bp_node_set_value(x, &good), BP_OK);
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
    ck_assert_int_eq(bp_backward(g, h, &nodata), BP_EDIM);
    expect_graph_error(g, BP_EDIM, "seed");
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
    ck_assert_int_eq(bp_gradcheck_op(bp_builtin(8), &o, &rep), BP_EINVAL);
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

/* The public functions are the header's lines that start a declaration
 * (a lower-case type, not a typedef) with bp_<name>( before any other
 * parenthesis. */
START_TEST(header_is_covered)
{
    const char *srcdir = getenv("top_srcdir");
    char path[1024], line[512], missing[2048] = "";
    size_t found = 0, n_missing = 0;
    FILE *f;

    ck_assert_msg(srcdir != NULL, "top_srcdir is not set (run through make check)");
    snprintf(path, sizeof path, "%s/include/bpgraph.h", srcdir);
    f = fopen(path, "r");
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
            n_missing++;
            strncat(missing, " ", sizeof missing - strlen(missing) - 1);
            strncat(missing, start, sizeof missing - strlen(missing) - 1);
        }
    }
    fclose(f);
    ck_assert_msg(n_missing == 0, "public functions with no bad-input check:%s", missing);
    /* Every entry names a function of the header, so the table does not
     * keep a stale name either. */
    ck_assert_msg(found == N_COVERED, "header declares %zu functions, table has %zu",
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
