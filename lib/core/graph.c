/* SPDX-License-Identifier: MIT */
/* The graph: its nodes, leaves, ops applied, values set and read (running
 * is core/run.c). */
#include "bp_private.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

bp_graph *bp_graph_new(void)
{
    bp_graph *g = bpi_calloc(1, sizeof *g);

    if (g) {
        g->shape_epoch = 1;
        g->training = 1;
        bp_rng_seed(&g->rng, 0);
    }
    return g;
}

static void node_free(bp_node *n)
{
    bpi_free(n->value_buf);
    bpi_free(n->grad_buf);
    bpi_free(n->work);
    bpi_free(n->iwork);
    bpi_free(n->name);
    bpi_free(n);
}

void bp_graph_free(bp_graph *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->n_nodes; i++)
        node_free(g->nodes[i]);
    bpi_free(g->nodes);
    bpi_free(g->mark);
    bpi_free(g);
}

size_t bp_graph_size(const bp_graph *g)
{
    return g ? g->n_nodes : 0;
}

bp_node *bp_graph_node(const bp_graph *g, size_t i)
{
    return g && i < g->n_nodes ? g->nodes[i] : NULL;
}

static char *copy_string(const char *s)
{
    size_t len = strlen(s) + 1;
    char *c = bpi_malloc(len);
    if (c)
        memcpy(c, s, len);
    return c;
}

/* Appends a zeroed node; grows the node list and the mark array together so
 * that the passes never allocate. */
static bp_node *add_node(bp_graph *g, enum bpi_node_kind kind, const char *name)
{
    bp_node *n;

    if (g->n_nodes == g->cap_nodes) {
        size_t cap = g->cap_nodes ? 2 * g->cap_nodes : 16;
        /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
        bp_node **nodes = bpi_malloc(cap * sizeof *nodes);
        unsigned char *mark = bpi_malloc(cap);
        if (!nodes || !mark) {
            bpi_free(nodes);
            bpi_free(mark);
            bpi_fail(g, BP_ENOMEM, "graph: out of memory adding node %zu", g->n_nodes);
            return NULL;
        }
        if (g->n_nodes)
            /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
            memcpy(nodes, g->nodes, g->n_nodes * sizeof *nodes);
        bpi_free(g->nodes);
        bpi_free(g->mark);
        g->nodes = nodes;
        g->mark = mark;
        g->cap_nodes = cap;
    }
    n = bpi_calloc(1, sizeof *n);
    if (!n) {
        bpi_fail(g, BP_ENOMEM, "graph: out of memory adding node %zu", g->n_nodes);
        return NULL;
    }
    if (name && name[0]) {
        n->name = copy_string(name);
        if (!n->name) {
            bpi_free(n);
            bpi_fail(g, BP_ENOMEM, "graph: out of memory naming node '%s'", name);
            return NULL;
        }
    }
    n->graph = g;
    n->kind = kind;
    n->id = g->n_nodes;
    g->nodes[g->n_nodes++] = n;
    return n;
}

const char *bpi_kind_name(enum bpi_node_kind kind)
{
    switch (kind) {
    case BPI_INPUT: return "input";
    case BPI_PARAM: return "param";
    case BPI_CONSTANT: return "constant";
    default: return "op";
    }
}

/* A leaf's declared shape: rank 1..BP_MAX_RANK, every dimension ≥ 1, a
 * byte count that fits; BP_EDIM or BP_ENOMEM recorded otherwise. */
static bp_status check_leaf_decl(bp_graph *g, enum bpi_node_kind kind, const bp_shape *shape,
                                 const char *name)
{
    char dims[BPI_SHAPE_STR];
    int overflow = 0;

    name = name ? name : "";
    if (!shape)
        return bpi_fail(g, BP_EDIM, "%s '%s': shape is NULL", bpi_kind_name(kind), name);
    if (shape->rank < 1 || shape->rank > BP_MAX_RANK)
        return bpi_fail(g, BP_EDIM, "%s '%s': rank %zu (a value has rank 1 to %d)",
                        bpi_kind_name(kind), name, shape->rank, BP_MAX_RANK);
    bpi_shape_str(shape, dims, sizeof dims);
    for (size_t i = 0; i < shape->rank; i++)
        if (shape->dim[i] == 0)
            return bpi_fail(g, BP_EDIM, shape->rank == 2 ?
                            "%s '%s': a matrix needs at least one row and one column (%s)" :
                            "%s '%s': every dimension must be at least 1 (%s)",
                            bpi_kind_name(kind), name, dims);
    bpi_shape_size(shape, &overflow);
    if (overflow)
        return bpi_fail(g, BP_ENOMEM, "%s '%s': %s doubles overflow size_t", bpi_kind_name(kind),
                        name, dims);
    return BP_OK;
}

static bp_node *add_leaf(bp_graph *g, enum bpi_node_kind kind, const bp_shape *shape,
                         const char *name)
{
    bp_node *n;
    size_t size;

    if (!g || g->status != BP_OK || check_leaf_decl(g, kind, shape, name) != BP_OK)
        return NULL;
    n = add_node(g, kind, name);
    if (!n)
        return NULL;
    n->shape = *shape;
    bpi_shape_matrix(shape, &n->value.rows, &n->value.cols);
    size = n->value.rows * n->value.cols;
    n->requires_grad = kind == BPI_PARAM;
    if (kind != BPI_INPUT) {
        n->value.data = n->value_buf = bpi_calloc(size, sizeof(double));
        if (!n->value_buf) {
            char dims[BPI_SHAPE_STR];
            bpi_fail(g, BP_ENOMEM, "%s '%s': out of memory for %s", bpi_kind_name(kind),
                     name ? name : "", bpi_shape_str(shape, dims, sizeof dims));
            g->n_nodes--;
            node_free(n);
            return NULL;
        }
        n->value_cap = size;
        n->has_value = 1;
    }
    return n;
}

bp_node *bp_input_nd(bp_graph *g, const bp_shape *shape, const char *name)
{
    return add_leaf(g, BPI_INPUT, shape, name);
}

bp_node *bp_param_nd(bp_graph *g, const bp_shape *shape, const char *name)
{
    return add_leaf(g, BPI_PARAM, shape, name);
}

bp_node *bp_constant_nd(bp_graph *g, const bp_shape *shape, const double *data,
                        const char *name)
{
    bp_node *n;

    if (g && g->status == BP_OK && !data) {
        bpi_fail(g, BP_EINVAL, "constant '%s': data is NULL", name ? name : "");
        return NULL;
    }
    n = add_leaf(g, BPI_CONSTANT, shape, name);
    if (n)
        memcpy(n->value.data, data, n->value.rows * n->value.cols * sizeof(double));
    return n;
}

bp_node *bp_input(bp_graph *g, size_t rows, size_t cols, const char *name)
{
    const bp_shape shape = {2, {rows, cols}};
    return bp_input_nd(g, &shape, name);
}

bp_node *bp_param(bp_graph *g, size_t rows, size_t cols, const char *name)
{
    const bp_shape shape = {2, {rows, cols}};
    return bp_param_nd(g, &shape, name);
}

bp_node *bp_constant(bp_graph *g, size_t rows, size_t cols,
                     const double *data, const char *name)
{
    const bp_shape shape = {2, {rows, cols}};
    return bp_constant_nd(g, &shape, data, name);
}

bp_status bp_op_validate(const bp_op *op)
{
    if (!op || !op->name || !op->name[0] || !op->shape || !op->forward)
        return BP_EINVAL;
    if (op->n_in < 1 || op->n_in > BP_MAX_INPUTS || op->n_attr > BP_MAX_ATTRS)
        return BP_EINVAL;
    if (!op->backward && !(op->flags & BP_OP_STOP_GRAD))
        return BP_EINVAL;
    if (op->n_check_attr > 0 && op->n_attr > 0 && !op->check_attr)
        return BP_EINVAL;
    /* in place, din[0] may be dout's buffer: only an op that assigns a fresh
     * din can run so */
    if ((op->flags & BP_OP_INPLACE) && !(op->flags & BP_OP_ASSIGN_FRESH))
        return BP_EINVAL;
    /* a view has a shape of its own and shares in[0]'s buffer, where it
     * writes nothing (and so has no draws to keep) */
    if ((op->flags & BP_OP_VIEW) &&
        (!(op->flags & BP_OP_TENSORS) || (op->flags & (BP_OP_INPLACE | BP_OP_RANDOM))))
        return BP_EINVAL;
    return BP_OK;
}

/* Fills args for node n; value, dout and din as the pass needs them. */
void bpi_make_args(bp_node *n, bp_op_args *a, char *msg, size_t msg_size)
{
    memset(a, 0, sizeof *a);
    a->n_in = n->n_in;
    for (size_t i = 0; i < n->n_in; i++) {
        a->in[i] = &n->in[i]->value;
        a->in_shape[i] = &n->in[i]->shape;
    }
    a->out = &n->value;
    a->out_shape = &n->shape;
    a->attr = n->attr;
    a->dout_writable = n->dout_writable;
    a->training = n->training;
    a->work = n->work;
    a->n_work = n->n_work;
    a->iwork = n->iwork;
    a->n_iwork = n->n_iwork;
    a->msg = msg;
    a->msg_size = msg_size;
    msg[0] = '\0';
}

/* "matmul" or "matmul 'h1'", for messages. */
void bpi_op_label(const bp_node *n, char *buf, size_t size)
{
    if (n->name)
        snprintf(buf, size, "%s '%s'", n->op->name, n->name);
    else
        snprintf(buf, size, "%s", n->op->name);
}

bp_status bpi_op_error(bp_node *n, bp_status st, const char *stage, const char *msg)
{
    char label[160];
    bpi_op_label(n, label, sizeof label);
    /* An op's own bug: a status outside the enum would be meaningless to
     * the caller (and to bp_strerror) as the graph's status. */
    if ((unsigned)st >= BP_STATUS_COUNT)
        return bpi_fail(n->graph, BP_EINVAL, "%s: %sthe op returned %d, which is not a "
                        "bp_status%s%s", label, stage, (int)st, msg[0] ? ": " : "", msg);
    if (msg[0])
        return bpi_fail(n->graph, st, "%s: %s%s", label, stage, msg);
    return bpi_fail(n->graph, st, "%s: %s%s", label, stage, bp_strerror(st));
}

/* An op without BP_OP_TENSORS is given inputs of rank 1 or 2 only. */
static bp_status check_input_ranks(const bp_node *n, char *msg, size_t size)
{
    if (n->op->flags & BP_OP_TENSORS)
        return BP_OK;
    for (size_t i = 0; i < n->n_in; i++) {
        const bp_shape *s = &n->in[i]->shape;
        if (s->rank > 2) {
            char dims[BPI_SHAPE_STR];
            snprintf(msg, size, "input %zu is %s (rank %zu), and this op takes matrices only "
                     "(an op that handles tensors declares BP_OP_TENSORS)",
                     i + 1, bpi_shape_str(s, dims, sizeof dims), s->rank);
            return BP_EDIM;
        }
    }
    return BP_OK;
}

/* The output shape a shape rule gave — a matrix's rows and cols (the
 * shape's rank left 0) or a tensor's shape — made whole: rank 1..4, each
 * dimension ≥ 1, a byte count and scratch that fit. */
static bp_status check_output_shape(bp_node *n, const bp_op_args *a, char *msg, size_t size)
{
    bp_shape *s = &n->shape;
    char dims[BPI_SHAPE_STR];
    int overflow = 0, work_overflow = 0, iwork_overflow = 0;
    size_t count;

    /* Runs at every forward: the shape is formatted only for a message. */
    if (s->rank == 0) {
        s->rank = 2;
        s->dim[0] = n->value.rows;
        s->dim[1] = n->value.cols;
    } else if (s->rank > BP_MAX_RANK) {
        snprintf(msg, size, "shape rule gave rank %zu (at most %d)", s->rank, BP_MAX_RANK);
        return BP_EDIM;
    }
    for (size_t i = 0; i < s->rank; i++)
        if (s->dim[i] == 0) {
            snprintf(msg, size, "shape rule gave an empty output (%s)",
                     bpi_shape_str(s, dims, sizeof dims));
            return BP_EDIM;
        }
    count = bpi_shape_size(s, &overflow);
    if (overflow) {
        snprintf(msg, size, "output %s overflows size_t", bpi_shape_str(s, dims, sizeof dims));
        return BP_ENOMEM;
    }
    if ((n->op->flags & BP_OP_VIEW) && count != n->in[0]->value.rows * n->in[0]->value.cols) {
        char in_dims[BPI_SHAPE_STR];
        snprintf(msg, size, "a view of %s cannot be %s: the element counts differ",
                 bpi_shape_str(&n->in[0]->shape, in_dims, sizeof in_dims),
                 bpi_shape_str(s, dims, sizeof dims));
        return BP_EDIM;
    }
    bpi_mul_size(a->n_work, sizeof(double), &work_overflow);
    bpi_mul_size(a->n_iwork, sizeof(int), &iwork_overflow);
    if (work_overflow || iwork_overflow) {
        snprintf(msg, size, "the shape rule asks for %zu %s of scratch, which overflows size_t "
                 "(output %s)", work_overflow ? a->n_work : a->n_iwork,
                 work_overflow ? "doubles" : "ints", bpi_shape_str(s, dims, sizeof dims));
        return BP_ENOMEM;
    }
    bpi_shape_matrix(s, &n->value.rows, &n->value.cols);
    return BP_OK;
}

/* Runs the shape rule; on success the node's shape, its value's matrix
 * view and the scratch sizes are the new ones; on failure the old ones
 * stay. */
bp_status bpi_run_shape(bp_node *n, const char *stage)
{
    char msg[384];
    bp_op_args a;
    bp_status st;
    const bp_shape old = n->shape;
    const size_t rows = n->value.rows, cols = n->value.cols;

    bpi_make_args(n, &a, msg, sizeof msg);
    st = check_input_ranks(n, msg, sizeof msg);
    if (st == BP_OK) {
        /* rank 0: a rule that sets only rows and cols gives a matrix */
        memset(&n->shape, 0, sizeof n->shape);
        st = n->op->shape(&a);
    }
    if (st == BP_OK)
        st = check_output_shape(n, &a, msg, sizeof msg);
    if (st != BP_OK) {
        n->shape = old;
        n->value.rows = rows;
        n->value.cols = cols;
        return bpi_op_error(n, st, stage, msg);
    }
    n->n_work = a.n_work;
    n->n_iwork = a.n_iwork;
    return BP_OK;
}

bp_node *bp_apply(bp_graph *g, const bp_op *op, size_t n_in,
                  bp_node *const *in, const double *attr)
{
    const char *name = op && op->name ? op->name : "apply";
    bp_node *n;

    if (!g || g->status != BP_OK)
        return NULL;
    if (bp_op_validate(op) != BP_OK) {
        bpi_fail(g, BP_EINVAL, "%s: op declaration is incomplete (see bp_op_validate)", name);
        return NULL;
    }
    if (n_in != op->n_in || (n_in > 0 && !in)) {
        bpi_fail(g, BP_EINVAL, "%s: takes %zu input%s, given %zu", name, op->n_in,
                 op->n_in == 1 ? "" : "s", in ? n_in : 0);
        return NULL;
    }
    if (op->n_attr > 0 && !attr) {
        bpi_fail(g, BP_EINVAL, "%s: takes %zu attribute%s, given none", name,
                 op->n_attr, op->n_attr == 1 ? "" : "s");
        return NULL;
    }
    for (size_t i = 0; i < n_in; i++) {
        if (!in[i]) {
            bpi_fail(g, BP_EINVAL, "%s: input %zu is NULL", name, i + 1);
            return NULL;
        }
        if (in[i]->graph != g) {
            bpi_fail(g, BP_EINVAL, "%s: input %zu belongs to another graph", name, i + 1);
            return NULL;
        }
    }
    n = add_node(g, BPI_OP, NULL);
    if (!n)
        return NULL;
    n->op = op;
    n->n_in = n_in;
    for (size_t i = 0; i < n_in; i++) {
        n->in[i] = in[i];
        if (in[i]->requires_grad && !(op->flags & BP_OP_STOP_GRAD))
            n->requires_grad = 1;
    }
    for (size_t i = 0; i < op->n_attr; i++)
        n->attr[i] = attr[i];
    n->training = g->training;
    if (bpi_run_shape(n, "") != BP_OK) {
        /* Leave the node out of the graph: it was never handed out. */
        g->n_nodes--;
        node_free(n);
        return NULL;
    }
    return n;
}

bp_node *bpi_apply1(bp_graph *g, const bp_op *op, bp_node *a, const double *attr)
{
    return bp_apply(g, op, 1, &a, attr);
}

bp_node *bpi_apply2(bp_graph *g, const bp_op *op, bp_node *a, bp_node *b)
{
    bp_node *in[2] = {a, b};
    return bp_apply(g, op, 2, in, NULL);
}

/* ---- accessors ---- */

const char *bp_node_name(const bp_node *n)
{
    return n && n->name ? n->name : "";
}

bp_status bp_node_set_name(bp_node *n, const char *name)
{
    char *c = NULL;

    if (!n)
        return BP_EINVAL;
    if (name && name[0]) {
        c = copy_string(name);
        if (!c)
            return bpi_fail(n->graph, BP_ENOMEM, "set_name '%s': out of memory", bp_node_name(n));
    }
    bpi_free(n->name);
    n->name = c;
    return BP_OK;
}

const bp_op *bp_node_op(const bp_node *n)
{
    return n ? n->op : NULL;
}

size_t bp_node_n_inputs(const bp_node *n)
{
    return n ? n->n_in : 0;
}

bp_node *bp_node_input(const bp_node *n, size_t i)
{
    return n && i < n->n_in ? n->in[i] : NULL;
}

size_t bp_node_rows(const bp_node *n)
{
    return n ? n->value.rows : 0;
}

size_t bp_node_cols(const bp_node *n)
{
    return n ? n->value.cols : 0;
}

const bp_shape *bp_node_shape(const bp_node *n)
{
    return n ? &n->shape : NULL;
}

int bp_node_is_param(const bp_node *n)
{
    return n && n->kind == BPI_PARAM;
}

int bp_node_requires_grad(const bp_node *n)
{
    return n && n->requires_grad;
}

bp_matrix *bp_node_value(bp_node *n)
{
    return n && n->has_value ? &n->value : NULL;
}

bp_matrix *bp_node_grad(bp_node *n)
{
    if (!n || !n->requires_grad || !n->grad.data)
        return NULL;
    if (n->kind == BPI_OP && n->bwd_stamp != n->graph->bwd_stamp)
        return NULL;
    return &n->grad;
}

/* Checks that leaf n, in the call fn ("set_value", "bind_value"), may take
 * a rows×cols value: its shape's matrix view, but for an input's first
 * dimension, which may change (then *shape is the new shape).  BP_EINVAL
 * for an op node, BP_EDIM for a wrong shape or one whose byte count
 * overflows (recorded in the graph). */
static bp_status check_leaf_shape(bp_node *n, size_t rows, size_t cols, const char *fn,
                                  bp_shape *shape)
{
    bp_graph *g = n->graph;
    const char *name = bp_node_name(n);
    size_t inner = 1, want_rows, want_cols;
    int overflow = 0, ok;

    if (n->kind == BPI_OP)
        return bpi_fail(g, BP_EINVAL, "%s '%s': node is computed by %s, not a leaf", fn, name,
                        n->op->name);
    /* Every dimension but the first and last is fixed: rows counts them. */
    for (size_t i = 1; i + 1 < n->shape.rank; i++)
        inner *= n->shape.dim[i];
    *shape = n->shape;
    bpi_shape_matrix(&n->shape, &want_rows, &want_cols);
    if (n->kind != BPI_INPUT)
        ok = rows == want_rows && cols == want_cols;
    else if (n->shape.rank == 1)
        ok = rows == 1 && cols > 0;
    else
        ok = rows > 0 && rows % inner == 0 && cols == want_cols;
    if (!ok) {
        char want[BPI_SHAPE_STR + 64] = "", dims[BPI_SHAPE_STR];
        bpi_shape_str(&n->shape, dims, sizeof dims);
        if (n->kind != BPI_INPUT)
            snprintf(want, sizeof want, "%zux%zu", want_rows, want_cols);
        else if (n->shape.rank == 1)
            snprintf(want, sizeof want, "1xN (shape N)");
        else if (n->shape.rank == 2)
            snprintf(want, sizeof want, "Nx%zu", want_cols);
        else
            snprintf(want, sizeof want, "(N·%zu)x%zu (shape Nx%s)", inner, want_cols,
                     strchr(dims, 'x') + 1);
        if (n->kind != BPI_INPUT && n->shape.rank != 2)
            snprintf(want + strlen(want), sizeof want - strlen(want), " (shape %s)", dims);
        return bpi_fail(g, BP_EDIM, "%s %s '%s': expects %s, given %zux%zu", fn,
                        bpi_kind_name(n->kind), name, want, rows, cols);
    }
    if (n->kind == BPI_INPUT)
        shape->dim[0] = n->shape.rank == 1 ? cols : rows / inner;
    /* A shape whose byte count overflows cannot be a real matrix, and its
     * wrapped element count would bind a buffer smaller than its rows say. */
    bpi_mul_size(bpi_mul_size(rows, cols, &overflow), sizeof(double), &overflow);
    if (overflow)
        return bpi_fail(g, BP_EDIM, "%s %s '%s': %zux%zu doubles overflow size_t", fn,
                        bpi_kind_name(n->kind), name, rows, cols);
    return BP_OK;
}

/* A leaf's new shape; when it differs, the shape rules of the ops run
 * again at the next forward (they are skipped while nothing changed). */
static void leaf_set_shape(bp_node *n, const bp_shape *shape)
{
    if (!bpi_shapes_equal(&n->shape, shape))
        n->graph->shape_epoch++;
    n->shape = *shape;
}

bp_status bpi_node_prepare_value(bp_node *n, size_t rows, size_t cols, double **data)
{
    bp_shape shape;
    bp_status st = check_leaf_shape(n, rows, cols, "set_value", &shape);

    if (st != BP_OK)
        return st;
    st = bpi_reserve(&n->value_buf, &n->value_cap, rows * cols);
    if (st != BP_OK)   /* the value is unchanged: a bound view stays bound */
        return bpi_fail(n->graph, st, "set_value %s '%s': out of memory for %zux%zu",
                        bpi_kind_name(n->kind), bp_node_name(n), rows, cols);
    n->value.data = n->value_buf;
    n->value.rows = rows;
    n->value.cols = cols;   /* a rank-1 input's length is its cols */
    leaf_set_shape(n, &shape);
    n->has_value = 1;
    n->fwd_stamp = 0;   /* the last forward did not see this value */
    n->graph->leaf_writes++;
    *data = n->value.data;
    return BP_OK;
}

bp_status bp_node_set_value(bp_node *n, const bp_matrix *src)
{
    bp_matrix from;
    double *data = NULL;
    bp_status st;

    if (!n)
        return BP_EINVAL;
    if (!src || (!src->data && src->rows > 0 && src->cols > 0))
        return bpi_fail(n->graph, BP_EINVAL, "set_value '%s': source matrix is NULL",
                        bp_node_name(n));
    /* src may be this node's own value (then preparing it repoints src),
     * or a view of a buffer it owns: copy the header, memmove the data. */
    from = *src;
    st = bpi_node_prepare_value(n, from.rows, from.cols, &data);
    if (st == BP_OK && data)
        memmove(data, from.data, from.rows * from.cols * sizeof(double));
    return st;
}

bp_status bp_node_bind_value(bp_node *n, const bp_matrix *src)
{
    bp_shape shape;
    bp_status st;

    if (!n)
        return BP_EINVAL;
    if (!src || !src->data)
        return bpi_fail(n->graph, BP_EINVAL, "bind_value '%s': source matrix is NULL",
                        bp_node_name(n));
    /* A param is written by optimizers and loaders, so it keeps a copy. */
    if (n->kind == BPI_PARAM || n->kind == BPI_CONSTANT)
        return bpi_fail(n->graph, BP_EINVAL,
                        "bind_value %s '%s': only an input can be bound; a %s keeps its "
                        "own copy (bp_node_set_value)",
                        bpi_kind_name(n->kind), bp_node_name(n), bpi_kind_name(n->kind));
    st = check_leaf_shape(n, src->rows, src->cols, "bind_value", &shape);
    if (st != BP_OK)
        return st;
    n->value.data = src->data;
    n->value.rows = src->rows;
    n->value.cols = src->cols;
    leaf_set_shape(n, &shape);
    n->has_value = 1;
    n->fwd_stamp = 0;   /* the last forward did not see this value */
    n->graph->leaf_writes++;
    return BP_OK;
}
