/* SPDX-License-Identifier: MIT */
/* Bad input for ops (op.h, ops.h): op declarations, the registry, and every
 * built-in op's wrapper. */
#include "check_badinput.h"

#include <stdint.h>
#include <string.h>

/* ---- the built-in op wrappers ---- */

typedef bp_node *(*unary_fn)(bp_graph *, bp_node *);
typedef bp_node *(*binary_fn)(bp_graph *, bp_node *, bp_node *);
typedef bp_node *(*attr_fn)(bp_graph *, bp_node *, double);
typedef bp_node *(*ternary_fn)(bp_graph *, bp_node *, bp_node *, bp_node *);
typedef bp_node *(*axis_fn)(bp_graph *, bp_node *, int);
typedef bp_node *(*axis_keep_fn)(bp_graph *, bp_node *, int, int);
typedef bp_node *(*reshape_fn)(bp_graph *, bp_node *, long, long, long, long);
typedef bp_node *(*axes_fn)(bp_graph *, bp_node *, size_t, size_t, size_t, size_t);
typedef bp_node *(*slice_fn)(bp_graph *, bp_node *, size_t, size_t, size_t);
typedef bp_node *(*list_fn)(bp_graph *, size_t, bp_node *const *, size_t);
typedef bp_node *(*norm_fn)(bp_graph *, bp_node *, bp_node *, bp_node *, double);
typedef bp_node *(*ids_fn)(bp_graph *, bp_node *, bp_node *, double);

enum { SQUARE = 1, LINALG = 2, SHAPED = 4 };

struct wrapper {
    const char *name;       /* the public function */
    const char *op;         /* the op a message must name */
    size_t arity;
    unary_fn f1;
    binary_fn f2;
    attr_fn fa;
    ternary_fn f3;
    axis_fn fx;
    axis_keep_fn fxk;
    reshape_fn fr;
    axes_fn fp;
    slice_fn fs;
    list_fn fl;   /* bp_concat: n nodes */
    norm_fn fn;   /* layer norms: x, gamma (D), beta (D), eps */
    ids_fn fi;    /* cross_entropy: logits, ids of a class each, ignore_index */
};

/* The wrapper's type says how to call it: f as the pointer type `type`, or
 * NULL when f has another type; a type not listed does not compile. */
#define AS(type, f) _Generic(&(f), type: &(f), default: NULL)
#define ARITY(f) _Generic(&(f), unary_fn: 1, attr_fn: 1, axis_fn: 1, axis_keep_fn: 1, \
                         binary_fn: 2, ternary_fn: 3, reshape_fn: 1, axes_fn: 1, \
                         slice_fn: 1, list_fn: 2, norm_fn: 3, ids_fn: 2)

/* One entry per line of ops.def, so an op added there is tried here, and
 * an op whose wrapper ops.h does not declare fails to compile. */
#define BP_OP(n) {"bp_" #n, #n, ARITY(bp_##n), AS(unary_fn, bp_##n), AS(binary_fn, bp_##n), \
                  AS(attr_fn, bp_##n), AS(ternary_fn, bp_##n), AS(axis_fn, bp_##n), \
                  AS(axis_keep_fn, bp_##n), AS(reshape_fn, bp_##n), AS(axes_fn, bp_##n), \
                  AS(slice_fn, bp_##n), AS(list_fn, bp_##n), AS(norm_fn, bp_##n), \
                  AS(ids_fn, bp_##n)},
static const struct wrapper wrappers[] = {
#include "../lib/ops/ops.def"
    /* the staged softmax starts with rowmax: its errors name that op; the
     * staged layer norm checks its inputs as layer_norm_staged */
    {"bp_softmax_staged", "rowmax", 1, bp_softmax_staged, NULL, NULL, NULL, NULL, NULL, NULL,
     NULL, NULL, NULL, NULL, NULL},
    {"bp_layer_norm_staged", "layer_norm", 3, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
     NULL, NULL, NULL, bp_layer_norm_staged, NULL},
};
#undef BP_OP

/* What w must reject, from its op's declaration.  SQUARE: rejects 2x3;
 * SHAPED: binary/ternary that rejects mismatched shapes; LINALG: a NaN
 * input must not pass silently.  An op whose first input is sampled as a
 * square matrix (SPD or invertible) is a linear-algebra op on LAPACK; one
 * with an input of ids (BP_DOMAIN_INDEX) takes ids of any shape, so it
 * has no mismatched shapes to reject. */
static unsigned flags_of(const struct wrapper *w)
{
    const bp_op *op = tu_builtin(w->op);
    unsigned flags = w->arity >= 2 ? SHAPED : 0;

    for (size_t i = 0; i < op->n_in; i++)
        if (op->domain[i].kind == BP_DOMAIN_INDEX)
            flags &= ~(unsigned)SHAPED;

    if (op->domain[0].kind == BP_DOMAIN_SPD || op->domain[0].kind == BP_DOMAIN_INVERTIBLE)
        flags |= SQUARE | LINALG;
    return flags;
}

static bp_node *call(const struct wrapper *w, bp_graph *g, bp_node *const *in)
{
    switch (w->arity) {
    case 1:
        if (w->f1)
            return w->f1(g, in[0]);
        if (w->fx)
            return w->fx(g, in[0], -1);
        if (w->fxk)
            return w->fxk(g, in[0], 0, 1);
        if (w->fr)
            return w->fr(g, in[0], 1, -1, 0, 0);
        if (w->fp)
            return w->fp(g, in[0], 1, 0, 2, 3);
        if (w->fs)
            return w->fs(g, in[0], 1, 1, 2);
        /* an attribute the op accepts: dropout's is a probability */
        return w->fa(g, in[0], strcmp(w->op, "dropout") == 0 ? 0.385 : 2.385);
    case 2:
        if (w->fi)
            return w->fi(g, in[0], in[1], -1.0);
        return w->f2 ? w->f2(g, in[0], in[1]) : w->fl(g, 2, in, 1);
    default: return w->fn ? w->fn(g, in[0], in[1], in[2], 1e-5) : w->f3(g, in[0], in[1], in[2]);
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

/* A rank-1 leaf of 3 entries: a layer norm's gamma or beta, filled as
 * filled_param fills, or cross_entropy's ids, classes 2, 0, 1 of 3. */
static bp_node *vector3(bp_graph *g, int ids)
{
    static const double classes[3] = {2.0, 0.0, 1.0};
    bp_node *n = bp_param_nd(g, &(bp_shape){1, {3}}, NULL);

    ck_assert_ptr_nonnull(n);
    for (size_t k = 0; k < 3; k++)
        bp_node_value(n)->data[k] = ids ? classes[k] : 0.3 + 0.17 * (double)k;
    return n;
}

/* Valid leaves for w: 3x3 everywhere, a 1x3 bias for dense; a layer norm's
 * gamma and beta, and cross_entropy's ids, of shape (3). */
static void make_inputs(const struct wrapper *w, bp_graph *g, bp_node **in)
{
    for (size_t i = 0; i < w->arity; i++)
        in[i] = i > 0 && (w->fn || w->fi) ? vector3(g, w->fi != NULL)
                                          : filled_param(g, w->arity == 3 && i == 2 ? 1 : 3, 3, NULL);
}

static void check_wrapper(const char *name)
{
    const struct wrapper *w = find_wrapper(name);
    const unsigned flags = flags_of(w);
    bp_graph *g, *other;
    bp_node *in[3] = {NULL, NULL, NULL}, *out;

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
    if (flags & (SQUARE | SHAPED)) {
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
        } else if (flags & LINALG) {
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
    op.flags = BP_OP_TENSORS | BP_OP_RANDOM;
    ck_assert_int_eq(bp_op_validate(&op), BP_OK);
    op.flags = BP_OP_TENSORS | BP_OP_VIEW | BP_OP_RANDOM;   /* a view draws nothing */
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

/* The shape ops' own bad input: attributes out of range, lists of nodes
 * (bp_concat's and bp_stack's), and bp_transpose_axes's axes. */
static void check_shape_ops(const char *name)
{
    bp_graph *g = new_graph();
    bp_node *a = filled_param(g, 3, 4, NULL), *b = filled_param(g, 3, 2, NULL);
    bp_node *pair[2] = {a, b}, *holes[3] = {a, NULL, b}, *r4;
    bp_graph *other = new_graph();
    bp_node *foreign[2] = {a, filled_param(other, 3, 2, NULL)};
    const int stack = strcmp(name, "bp_stack") == 0;
    bp_node *(*list)(bp_graph *, size_t, bp_node *const *, size_t) = stack ? bp_stack : bp_concat;
    const char *op = stack ? "stack" : "concat";

    ck_assert_ptr_null(list(NULL, 2, pair, 0));
    ck_assert_ptr_null(list(g, 0, pair, 0));
    expect_graph_only(g, BP_EINVAL, op);
    ck_assert_ptr_null(list(g, 2, NULL, 0));
    expect_graph_only(g, BP_EINVAL, "no inputs");
    ck_assert_ptr_null(list(g, 3, holes, 0));
    expect_graph_only(g, BP_EINVAL, "input 2 is NULL");
    ck_assert_ptr_null(list(g, 2, foreign, 0));
    expect_graph_only(g, BP_EINVAL, "input 2 belongs to another graph");
    ck_assert_ptr_null(list(g, 2, pair, 0));   /* 3x4 and 3x2 */
    expect_graph_only(g, BP_EDIM, stack ? "stack: shapes 3x4 and 3x2 differ" : "concat: shapes 3x4 and 3x2 differ outside axis 0");
    ck_assert_ptr_null(list(g, 1, pair, 3));
    expect_graph_only(g, BP_EDIM, stack ? "stack: cannot add axis 3 to 3x4" : "axis 3 is not one of 3x4's");
    r4 = bp_param_nd(g, &(bp_shape){4, {2, 1, 2, 3}}, "r4");
    ck_assert_ptr_null(bp_stack(g, 1, &r4, 0));
    expect_graph_only(g, BP_EDIM, "stack: cannot add axis 0 to 2x1x2x3");
    ck_assert_int_eq(bp_graph_size(other), 1);
    bp_graph_free(other);

    /* bp_transpose_axes, and the attributes of the one-input shape ops */
    ck_assert_ptr_null(bp_transpose_axes(NULL, a, 0, 1));
    ck_assert_ptr_null(bp_transpose_axes(g, NULL, 0, 1));
    expect_graph_only(g, BP_EINVAL, "permute: input 1 is NULL");
    ck_assert_ptr_null(bp_transpose_axes(g, a, 0, 2));
    expect_graph_only(g, BP_EDIM, "permute: cannot swap axes 0 and 2 of 3x4");
    ck_assert_ptr_null(bp_transpose_axes(g, a, 7, 0));
    expect_graph_only(g, BP_EDIM, "permute: cannot swap axes 7 and 0 of 3x4");
    ck_assert_ptr_null(bp_permute(g, a, 1, 1, 2, 3));
    expect_graph_only(g, BP_EDIM, "permute: 1, 1, 2, 3 is not a permutation of the axes of 3x4");
    ck_assert_ptr_null(bp_permute(g, a, 1, 0, 3, 2));
    expect_graph_only(g, BP_EDIM, "(axes from 2 on stay in place)");
    ck_assert_ptr_null(bp_reshape(g, a, 5, -1, 0, 0));
    expect_graph_only(g, BP_EDIM, "reshape: 3x4 (12 elements) cannot be 5x-1");
    ck_assert_ptr_null(bp_reshape(g, a, 2, 2, 2, 0));
    expect_graph_only(g, BP_EDIM, "reshape: 3x4 (12 elements) cannot be 2x2x2");
    ck_assert_ptr_null(bp_reshape(g, a, -1, -1, 0, 0));
    expect_graph_only(g, BP_EDIM, "reshape: 3x4 cannot take dims -1, -1, 0, 0");
    ck_assert_ptr_null(bp_reshape(g, a, 0, 12, 0, 0));
    expect_graph_only(g, BP_EDIM, "cannot take dims 0, 12");
    ck_assert_ptr_null(bp_reshape(g, a, 12, 0, 1, 0));
    expect_graph_only(g, BP_EDIM, "cannot take dims 12, 0, 1, 0");
    ck_assert_ptr_null(bp_reshape(g, a, -3, -4, 0, 0));
    expect_graph_only(g, BP_EDIM, "reshape");
    ck_assert_ptr_null(bp_slice(g, a, 1, 3, 4));
    expect_graph_only(g, BP_EDIM, "slice: 3..7 is outside axis 1 of 3x4");
    ck_assert_ptr_null(bp_slice(g, a, 0, 1, 0));
    expect_graph_only(g, BP_EDIM, "slice: 1..1 is outside axis 0 of 3x4");
    ck_assert_ptr_null(bp_slice(g, a, 2, 0, 1));
    expect_graph_only(g, BP_EDIM, "slice: axis 2 is not one of 3x4's");
    ck_assert_ptr_null(bp_slice(g, a, 0, SIZE_MAX, 2));
    expect_graph_only(g, BP_EDIM, "slice");
    {
        /* attributes that are no integers, through bp_apply */
        const double half[4] = {0.5, 0.0, 1.0, 0.0};
        ck_assert_ptr_null(bp_apply(g, tu_builtin("slice"), 1, &a, half));
        expect_graph_only(g, BP_EDIM, "slice: axis 0.5");
        ck_assert_ptr_null(bp_apply(g, tu_builtin("reshape"), 1, &a, (double[4]){12.5, 0, 0, 0}));
        expect_graph_only(g, BP_EDIM, "reshape: 3x4 cannot take dims 12.5");
        ck_assert_ptr_null(bp_apply(g, tu_builtin("permute"), 1, &a, (double[4]){0.5, 1, 2, 3}));
        expect_graph_only(g, BP_EDIM, "permute: 0.5, 1, 2, 3");
        ck_assert_ptr_null(bp_apply(g, tu_builtin("concat"), 2, pair, (double[1]){NAN}));
        expect_graph_only(g, BP_EDIM, "concat: axis nan");
    }
    /* nothing was added by the failures: a, b and r4 */
    ck_assert_uint_eq(bp_graph_size(g), 3);
    bp_graph_free(g);
}

/* The blocks (bpgraph/blocks.h): every argument of _init and _apply bad in
 * turn, for the kind of block name names. */
static void check_block(const char *name)
{
    const char *kind = strstr(name, "dense") ? "dense_layer" : strstr(name, "rnn") ? "rnn_cell" : "gru_cell";
    char init_name[32], msg[96];
    bp_graph *g = new_graph(), *other = new_graph();
    bp_rng rng = tu_rng(3);
    bp_dense_layer l;
    bp_rnn_cell rc;
    bp_gru_cell gc;
    bp_node *x = filled_param(g, 4, 3, "x"), *h = filled_param(g, 4, 5, "h");
    bp_node *x_wide = filled_param(g, 4, 2, "x2"), *h_short = filled_param(g, 3, 5, "h3");
    bp_node *x3 = bp_param_nd(g, &(bp_shape){3, {2, 2, 3}}, "x3");
    bp_node *x_other = filled_param(other, 4, 3, "xo");
    size_t size;

    snprintf(init_name, sizeof init_name, "%s_init", kind);
#define INIT(gr, blk, a, b, r) \
    (kind[0] == 'd' ? bp_dense_layer_init(gr, blk ? &l : NULL, a, b, "blk", r) \
     : kind[0] == 'r' ? bp_rnn_cell_init(gr, blk ? &rc : NULL, a, b, "blk", r) \
                      : bp_gru_cell_init(gr, blk ? &gc : NULL, a, b, "blk", r))
#define APPLY(gr, blk, xx, hh) \
    (kind[0] == 'd' ? bp_dense_layer_apply(gr, blk ? &l : NULL, xx) \
     : kind[0] == 'r' ? bp_rnn_cell_apply(gr, blk ? &rc : NULL, xx, hh) \
                      : bp_gru_cell_apply(gr, blk ? &gc : NULL, xx, hh))
    size = bp_graph_size(g);
    ck_assert_int_eq(INIT(NULL, 1, 3, 5, &rng), BP_EINVAL);
    ck_assert_int_eq(INIT(g, 0, 3, 5, &rng), BP_EINVAL);
    expect_graph_only(g, BP_EINVAL, "no block given");
    ck_assert_int_eq(INIT(g, 1, 3, 5, NULL), BP_EINVAL);
    expect_graph_only(g, BP_EINVAL, "no random generator");
    ck_assert_int_eq(INIT(g, 1, 0, 5, &rng), BP_EINVAL);
    expect_graph_only(g, BP_EINVAL, "n_in is 0");
    ck_assert_int_eq(INIT(g, 1, 3, 0, &rng), BP_EINVAL);
    snprintf(msg, sizeof msg, "%s: n_%s is 0", init_name, kind[0] == 'd' ? "out" : "hidden");
    expect_graph_only(g, BP_EINVAL, msg);
    ck_assert_int_eq(INIT(g, 1, SIZE_MAX / 2, 5, &rng), BP_ENOMEM);
    expect_graph_only(g, BP_ENOMEM, NULL);
    ck_assert_uint_eq(bp_graph_size(g), size);   /* nothing made */
    /* a failed init leaves the block empty: apply refuses it */
    ck_assert_ptr_null(APPLY(g, 1, x, h));
    expect_graph_only(g, BP_EINVAL, "were not made");

    ck_assert_int_eq(INIT(g, 1, 3, 5, &rng), BP_OK);
    ck_assert_ptr_null(APPLY(NULL, 1, x, h));
    ck_assert_ptr_null(APPLY(g, 0, x, h));
    expect_graph_only(g, BP_EINVAL, "no block given");
    ck_assert_ptr_null(APPLY(g, 1, NULL, h));
    expect_graph_only(g, BP_EINVAL, "input x is NULL");
    ck_assert_ptr_null(APPLY(g, 1, x_other, h));
    expect_graph_only(g, BP_EINVAL, "input x belongs to another graph");
    ck_assert_ptr_null(APPLY(other, 1, x_other, NULL));
    expect_graph_only(other, BP_EINVAL, "the block's params belong to another graph");
    ck_assert_ptr_null(APPLY(g, 1, x_wide, h));
    expect_graph_only(g, BP_EDIM, kind[0] == 'd' ? "dense_layer: x is 4x2, want a last axis of 3 (n_in)"
                                                 : "x is 4x2, want B x 3 (n_in)");
    if (kind[0] == 'd') {
        ck_assert_ptr_nonnull(APPLY(g, 1, x3, NULL));   /* any rank */
    } else {
        ck_assert_ptr_null(APPLY(g, 1, x3, h));
        expect_graph_only(g, BP_EDIM, "x is 2x2x3, want B x 3");
        ck_assert_ptr_null(APPLY(g, 1, x, h_short));
        snprintf(msg, sizeof msg, "%s: h is 3x5, want 4x5 (x is 4x3, n_hidden 5)", kind);
        expect_graph_only(g, BP_EDIM, msg);
        ck_assert_ptr_null(APPLY(g, 1, x, x));
        expect_graph_only(g, BP_EDIM, "h is 4x3, want 4x5");
        ck_assert_ptr_null(APPLY(g, 1, x, x_other));
        expect_graph_only(g, BP_EINVAL, "input h belongs to another graph");
        ck_assert_ptr_nonnull(APPLY(g, 1, x, h));
    }
    /* a graph holding an error: NULL, and that error kept */
    ck_assert_ptr_null(bp_matmul(g, x, x));
    size = bp_graph_size(g);
    ck_assert_ptr_null(APPLY(g, 1, x, NULL));
    ck_assert_int_eq(INIT(g, 1, 3, 5, &rng), BP_EDIM);
    expect_graph_only(g, BP_EDIM, "matmul");
    ck_assert_uint_eq(bp_graph_size(g), size);
#undef INIT
#undef APPLY
    bp_graph_free(other);
    bp_graph_free(g);
}

/* The attention blocks (<bpgraph/blocks.h>): each init refuses what it
 * cannot build before making a param, each apply its inputs' shapes. */
static void check_attention_blocks(const char *name)
{
    bp_graph *g = new_graph(), *other = new_graph();
    bp_rng rng = tu_rng(1);
    bp_attention a, blank;
    bp_node *x = bp_input_nd(g, &(bp_shape){3, {2, 5, 8}}, "x");
    bp_node *flat = bp_input(g, 10, 8, "flat"), *wide = bp_input_nd(g, &(bp_shape){3, {2, 5, 6}}, NULL);
    bp_node *alien = bp_input_nd(other, &(bp_shape){3, {2, 5, 8}}, NULL);
    char long_name[80];

    (void)name;
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    memset(&blank, 0, sizeof blank);
    ck_assert_int_eq(bp_attention_init(NULL, &a, 8, 2, "a", &rng), BP_EINVAL);
    ck_assert_int_eq(bp_attention_init(g, NULL, 8, 2, "a", &rng), BP_EINVAL);
    expect_graph_only(g, BP_EINVAL, "attention_init: the block is NULL");
    ck_assert_int_eq(bp_attention_init(g, &a, 8, 2, "a", NULL), BP_EINVAL);
    expect_graph_only(g, BP_EINVAL, "attention_init: rng is NULL");
    ck_assert_int_eq(bp_attention_init(g, &a, 8, 2, long_name, &rng), BP_EINVAL);
    expect_graph_only(g, BP_EINVAL, "longer than 72 bytes");
    ck_assert_int_eq(bp_attention_init(g, &a, 8, 3, "a", &rng), BP_EINVAL);
    expect_graph_only(g, BP_EINVAL, "d_model 8 is not a positive multiple of n_heads 3");
    ck_assert_int_eq(bp_attention_init(g, &a, 0, 2, "a", &rng), BP_EINVAL);
    expect_graph_only(g, BP_EINVAL, "d_model 0");
    ck_assert_int_eq(bp_attention_init(g, &a, 8, 0, "a", &rng), BP_EINVAL);
    expect_graph_only(g, BP_EINVAL, "n_heads 0");
    ck_assert_uint_eq(bp_graph_size(g), 3);   /* no param made */

    ck_assert_int_eq(bp_attention_init(g, &a, 8, 2, NULL, &rng), BP_OK);
    ck_assert_str_eq(bp_node_name(a.q.w), "attention.q.w");
    ck_assert_ptr_null(bp_attention_apply(NULL, &a, x));
    ck_assert_ptr_null(bp_attention_apply(g, NULL, x));
    expect_graph_only(g, BP_EINVAL, "attention: the block is NULL");
    ck_assert_ptr_null(bp_attention_apply(g, &a, NULL));
    expect_graph_only(g, BP_EINVAL, "attention: x is NULL");
    ck_assert_ptr_null(bp_attention_apply(g, &a, alien));
    expect_graph_only(g, BP_EINVAL, "attention: x belongs to another graph");
    ck_assert_ptr_null(bp_attention_apply(g, &blank, x));
    expect_graph_only(g, BP_EINVAL, "attention: the block was not initialised");
    ck_assert_ptr_null(bp_attention_apply(g, &a, flat));
    expect_graph_only(g, BP_EDIM, "attention: x is 10x8, expects B x T x 8");
    ck_assert_ptr_null(bp_attention_apply(g, &a, wide));
    expect_graph_only(g, BP_EDIM, "attention: x is 2x5x6, expects B x T x 8");
    ck_assert_uint_eq(bp_graph_size(g), 3 + 8);   /* the inputs and a's params */

    /* the transformer block: its own sizes, then the attention's checks */
    {
        bp_transformer_block blk, none;
        const size_t size = bp_graph_size(g);

        memset(&none, 0, sizeof none);
        ck_assert_int_eq(bp_transformer_block_init(NULL, &blk, 8, 2, 16, 0.1, "t", &rng), BP_EINVAL);
        ck_assert_int_eq(bp_transformer_block_init(g, NULL, 8, 2, 16, 0.1, "t", &rng), BP_EINVAL);
        expect_graph_only(g, BP_EINVAL, "transformer_block_init: the block is NULL");
        ck_assert_int_eq(bp_transformer_block_init(g, &blk, 8, 2, 0, 0.1, "t", &rng), BP_EINVAL);
        expect_graph_only(g, BP_EINVAL, "transformer_block_init: d_ff is 0");
        ck_assert_int_eq(bp_transformer_block_init(g, &blk, 8, 2, 16, 1.0, "t", &rng), BP_EINVAL);
        expect_graph_only(g, BP_EINVAL, "dropout 1 is outside [0, 1)");
        ck_assert_int_eq(bp_transformer_block_init(g, &blk, 8, 2, 16, NAN, "t", &rng), BP_EINVAL);
        expect_graph_only(g, BP_EINVAL, "dropout nan is outside [0, 1)");
        ck_assert_int_eq(bp_transformer_block_init(g, &blk, 8, 3, 16, 0.1, "t", &rng), BP_EINVAL);
        expect_graph_only(g, BP_EINVAL, "transformer_block_init: d_model 8 is not a positive multiple of n_heads 3");
        ck_assert_int_eq(bp_transformer_block_init(g, &blk, 8, 2, 16, 0.1, "t", NULL), BP_EINVAL);
        expect_graph_only(g, BP_EINVAL, "rng is NULL");
        long_name[65] = '\0';   /* 65 bytes: its attention's name would be 70 */
        ck_assert_int_eq(bp_transformer_block_init(g, &blk, 8, 2, 16, 0.1, long_name, &rng),
                         BP_EINVAL);
        expect_graph_only(g, BP_EINVAL, "transformer_block_init: name 'nnnnnnnnnnnnnnnnnnnn...' is longer than 64 bytes");
        ck_assert_uint_eq(bp_graph_size(g), size);   /* no param made */
        long_name[64] = '\0';
        ck_assert_int_eq(bp_transformer_block_init(g, &blk, 8, 2, 16, 0.1, long_name, &rng),
                         BP_OK);   /* 64 bytes: its params' names fit */
        ck_assert_str_eq(bp_node_name(blk.fc2.b) + 64, ".fc2.b");
        ck_assert_str_eq(bp_node_name(blk.attn.q.w) + 64, ".attn.q.w");
        ck_assert_int_eq(bp_transformer_block_init(g, &blk, 8, 2, 16, 0.1, "t", &rng), BP_OK);
        ck_assert_ptr_null(bp_transformer_block_apply(NULL, &blk, x));
        ck_assert_ptr_null(bp_transformer_block_apply(g, NULL, x));
        expect_graph_only(g, BP_EINVAL, "transformer_block: the block is NULL");
        ck_assert_ptr_null(bp_transformer_block_apply(g, &blk, NULL));
        expect_graph_only(g, BP_EINVAL, "transformer_block: x is NULL");
        ck_assert_ptr_null(bp_transformer_block_apply(g, &blk, alien));
        expect_graph_only(g, BP_EINVAL, "x belongs to another graph");
        ck_assert_ptr_null(bp_transformer_block_apply(g, &none, x));
        expect_graph_only(g, BP_EINVAL, "transformer_block: the block was not initialised");
        ck_assert_ptr_null(bp_transformer_block_apply(g, &blk, wide));
        expect_graph_only(g, BP_EDIM, "transformer_block: x is 2x5x6, expects B x T x 8");
        ck_assert_uint_eq(bp_graph_size(g), size + 32);   /* two blocks' params alone */
        ck_assert_ptr_nonnull(bp_transformer_block_apply(g, &blk, x));
    }
    /* a graph holding an error: init returns it, apply NULL */
    ck_assert_ptr_null(bp_attention_apply(g, &a, flat));
    ck_assert_int_eq(bp_attention_init(g, &a, 8, 2, "b", &rng), BP_EDIM);   /* g's */
    ck_assert_ptr_null(bp_attention_apply(g, &a, x));
    expect_graph_only(g, BP_EDIM, "attention: x is 10x8");
    bp_graph_free(other);
    bp_graph_free(g);
}

/* ---- the table: this area's public functions, and the check that tries each ---- */

static const struct covered covered[] = {
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
    /* every built-in op's wrapper, from ops.def, and the staged softmax */
#define BP_OP(n) {"bp_" #n, check_wrapper},
#include "../lib/ops/ops.def"
#undef BP_OP
    {"bp_softmax_staged", check_wrapper},
    {"bp_layer_norm_staged", check_wrapper},
    {"bp_stack", check_shape_ops},
    {"bp_transpose_axes", check_shape_ops},
    {"bp_dense_layer_init", check_block},
    {"bp_dense_layer_apply", check_block},
    {"bp_rnn_cell_init", check_block},
    {"bp_rnn_cell_apply", check_block},
    {"bp_gru_cell_init", check_block},
    {"bp_gru_cell_apply", check_block},
    {"bp_attention_init", check_attention_blocks},
    {"bp_attention_apply", check_attention_blocks},
    {"bp_transformer_block_init", check_attention_blocks},
    {"bp_transformer_block_apply", check_attention_blocks},
};

const struct covered_area badinput_ops = {"ops", covered, sizeof covered / sizeof covered[0]};
