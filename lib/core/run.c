/* SPDX-License-Identifier: MIT */
/* Running a graph: forward, backward; in-place, anomaly and training
 * modes, and the generator random ops draw from. */
#include "bp_private.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void bp_graph_set_anomaly_mode(bp_graph *g, int on)
{
    if (g)
        g->anomaly = on != 0;
}

/* Index of the first NaN or infinity in m, or SIZE_MAX. */
static size_t first_nonfinite(const bp_matrix *m)
{
    for (size_t k = 0; k < m->rows * m->cols; k++)
        if (!isfinite(m->data[k]))
            return k;
    return (size_t)-1;
}

/* In anomaly mode: BP_ENUMERIC naming the node, the pass and the entry. */
static bp_status check_finite(bp_node *n, const bp_matrix *m, const bp_shape *shape,
                              const char *what)
{
    char dims[BPI_SHAPE_STR];
    size_t k = first_nonfinite(m);
    char label[160];

    if (k == (size_t)-1)
        return BP_OK;
    if (n->op)
        bpi_op_label(n, label, sizeof label);
    else
        snprintf(label, sizeof label, "%s '%s'", bpi_kind_name(n->kind), bp_node_name(n));
    if (shape->rank != 2)
        return bpi_fail(n->graph, BP_ENUMERIC, "anomaly: %s (node %zu): %s has %g at element %zu of %s",
                        label, n->id, what, m->data[k], k, bpi_shape_str(shape, dims, sizeof dims));
    return bpi_fail(n->graph, BP_ENUMERIC, "anomaly: %s (node %zu): %s has %g at (%zu, %zu) of %zux%zu",
                    label, n->id, what, m->data[k], k / m->cols, k % m->cols, m->rows, m->cols);
}

/* True when in is exactly one of n's inputs. */
static int used_once(const bp_node *n, const bp_node *in)
{
    size_t uses = 0;
    for (size_t k = 0; k < n->n_in; k++)
        uses += n->in[k] == in;
    return uses == 1;
}

/* In bp_backward: a node of the pass whose gradient is not zeroed yet. */
#define MARK_ZERO 2

void bpi_mark_ancestors(bp_graph *g, const bp_node *out, int grad_only)
{
    memset(g->mark, 0, out->id + 1);
    g->mark[out->id] = 1;
    for (size_t i = out->id + 1; i-- > 0;) {
        const bp_node *n = g->nodes[i];
        if (!g->mark[i] || n->kind != BPI_OP)
            continue;
        if (grad_only && (n->op->flags & BP_OP_STOP_GRAD))
            continue;
        for (size_t k = 0; k < n->n_in; k++)
            if (!grad_only || n->in[k]->requires_grad)
                g->mark[n->in[k]->id] = 1;
    }
}

static bp_status check_node(bp_graph *g, const bp_node *n, const char *fn)
{
    if (!g)
        return BP_EINVAL;
    if (g->status != BP_OK)
        return g->status;
    if (!n)
        return bpi_fail(g, BP_EINVAL, "%s: node is NULL", fn);
    if (n->graph != g)
        return bpi_fail(g, BP_EINVAL, "%s: node '%s' belongs to another graph", fn, bp_node_name(n));
    return BP_OK;
}

/* For the nodes marked for this forward: how many marked nodes consume
 * each, and no buffer sharing yet. */
static void count_uses(bp_graph *g, const bp_node *out)
{
    for (size_t i = 0; i <= out->id; i++) {
        bp_node *n = g->nodes[i];
        if (g->mark[i]) {
            n->uses = 0;
            n->grad_alias = NULL;
        }
    }
    for (size_t i = 0; i <= out->id; i++)
        for (size_t k = 0; g->mark[i] && k < g->nodes[i]->n_in; k++)
            g->nodes[i]->in[k]->uses++;
}

/* In-place mode: n may write its output over its input's value when the
 * input is an op node that nothing else in this pass reads and whose
 * backward does not need its own output, as hand-written code applies relu
 * in place.  n's backward then also turns the input's gradient out of its
 * own, in the same buffer. */
static int can_share(const bp_node *n)
{
    const bp_node *in = n->in[0];

    /* (a view's buffer is its source's, which others may still read) */
    return (n->op->flags & BP_OP_INPLACE) && in->kind == BPI_OP && in->uses == 1 &&
           !(in->op->flags & BP_OP_VIEW) &&
           (in->op->flags & BP_OP_BWD_NO_OUT) && in->value.rows == n->value.rows &&
           in->value.cols == n->value.cols;
}

static bp_status forward_node(bp_node *n)
{
    bp_graph *g = n->graph;
    const int random = (n->op->flags & BP_OP_RANDOM) != 0;
    char msg[384];
    bp_op_args a;
    bp_status st;
    int held;

    /* In-place mode: nothing reads n's gradient after n's backward, so
     * that may use it as scratch, unless it is an in-place op, whose dout
     * may be din[0].  Fixed here, so that shape() sizes the work for the
     * backward that follows. */
    n->dout_writable = g->inplace && !(n->op->flags & BP_OP_INPLACE);
    /* The shapes follow from the leaves' and the modes alone: while none
     * changed, the last forward's shape rule still holds, and so do the
     * draws a random op made for that shape, scratch and mode. */
    if (n->shape_epoch != g->shape_epoch) {
        n->drew = 0;
        n->training = g->training;
        st = bpi_run_shape(n, "forward: ");
        if (st != BP_OK)
            return st;
        n->shape_epoch = g->shape_epoch;
    }
    held = random && g->hold_draws && n->drew;
    n->drew = 0;   /* until this forward has run */
    if (n->op->flags & BP_OP_VIEW) {
        n->value.data = n->in[0]->value.data;
    } else if (n->graph->inplace && can_share(n)) {
        n->in[0]->grad_alias = n;
        n->value.data = n->in[0]->value.data;
    } else {
        if (bpi_reserve(&n->value_buf, &n->value_cap, n->value.rows * n->value.cols) != BP_OK)
            return bpi_op_error(n, BP_ENOMEM, "forward: ", "");
        n->value.data = n->value_buf;
    }
    if (bpi_reserve(&n->work, &n->work_cap, n->n_work) != BP_OK)
        return bpi_op_error(n, BP_ENOMEM, "forward: ", "");
    if (bpi_reserve_int(&n->iwork, &n->iwork_cap, n->n_iwork) != BP_OK)
        return bpi_op_error(n, BP_ENOMEM, "forward: ", "");
    bpi_make_args(n, &a, msg, sizeof msg);
    if (random && !held)
        a.rng = &g->rng;
    st = n->op->forward(&a);
    if (st != BP_OK)
        return bpi_op_error(n, st, "forward: ", msg);
    n->has_value = 1;
    n->drew = random;
    return BP_OK;
}

void bp_graph_set_inplace(bp_graph *g, int on)
{
    if (g && g->inplace != (on != 0)) {
        g->inplace = on != 0;
        g->shape_epoch++;   /* the ops' scratch sizes depend on it */
    }
}

void bp_graph_set_training(bp_graph *g, int on)
{
    if (g && g->training != (on != 0)) {
        g->training = on != 0;
        g->shape_epoch++;   /* shape rules read it (dropout's scratch) */
    }
}

int bp_graph_training(const bp_graph *g)
{
    return g ? g->training : 0;
}

void bp_graph_set_seed(bp_graph *g, uint64_t seed)
{
    if (g)
        bp_rng_seed(&g->rng, seed);
}

void bpi_graph_hold_draws(bp_graph *g, int hold)
{
    g->hold_draws = hold != 0;
}

bp_status bp_forward(bp_graph *g, bp_node *out)
{
    bp_status st = check_node(g, out, "forward");

    if (st != BP_OK)
        return st;
    bpi_mark_ancestors(g, out, 0);
    count_uses(g, out);
    g->fwd_stamp++;
    g->leaf_writes_seen = g->leaf_writes;
    for (size_t i = 0; i <= out->id; i++) {
        bp_node *n = g->nodes[i];
        if (!g->mark[i])
            continue;
        if (n->kind == BPI_INPUT && !n->has_value)
            return bpi_fail(g, BP_ESTATE, "forward: input '%s' has no data; bind it with bp_node_set_value",
                            bp_node_name(n));
        if (n->kind == BPI_OP && (st = forward_node(n)) != BP_OK)
            return st;
        if (g->anomaly && (st = check_finite(n, &n->value, &n->shape,
                                             n->op ? "forward output" : "value")) != BP_OK)
            return st;
        n->fwd_stamp = g->fwd_stamp;
    }
    return BP_OK;
}

/* Makes n->grad the shape of n->value.  A newly allocated buffer starts at
 * zero, which a param's accumulating gradient needs; an op node's is
 * zeroed or assigned later by its first writer. */
static bp_status prepare_grad(bp_node *n)
{
    size_t size = n->value.rows * n->value.cols;
    size_t old_cap = n->grad_cap;

    if (bpi_reserve(&n->grad_buf, &n->grad_cap, size) != BP_OK)
        return BP_ENOMEM;
    n->grad.data = n->grad_buf;
    if (n->grad_cap != old_cap)
        memset(n->grad.data, 0, size * sizeof(double));
    n->grad.rows = n->value.rows;
    n->grad.cols = n->value.cols;
    return BP_OK;
}

/* Backward reads the buffers of the last forward: a leaf given data since
 * (set or bind clears its stamp) would mix two batches, or be read with
 * its new row count over the old values.  Every ancestor of out counts, a
 * target without a gradient too (mse's backward reads it). */
static bp_status check_forward_is_current(bp_graph *g, const bp_node *out)
{
    bpi_mark_ancestors(g, out, 0);
    for (size_t i = 0; i < out->id; i++) {
        const bp_node *n = g->nodes[i];
        if (g->mark[i] && n->fwd_stamp != g->fwd_stamp)
            return bpi_fail(g, BP_ESTATE,
                            "backward: %s '%s' was given new data (%zux%zu) after the last "
                            "bp_forward; run bp_forward again before bp_backward",
                            bpi_kind_name(n->kind), bp_node_name(n), n->value.rows, n->value.cols);
    }
    return BP_OK;
}

bp_status bp_backward(bp_graph *g, bp_node *out, const bp_matrix *seed)
{
    bp_status st = check_node(g, out, "backward");
    const char *name;

    if (st != BP_OK)
        return st;
    name = bp_node_name(out);
    if (out->fwd_stamp != g->fwd_stamp || g->fwd_stamp == 0)
        return bpi_fail(g, BP_ESTATE, "backward: node '%s' was not computed by the last bp_forward",
                        name);
    if (!out->requires_grad)
        return bpi_fail(g, BP_ESTATE, "backward: node '%s' depends on no param; "
                        "did you create the weights with bp_input instead of bp_param?", name);
    if (!seed && (out->value.rows != 1 || out->value.cols != 1))
        return bpi_fail(g, BP_EDIM, "backward: node '%s' is %zux%zu, not 1x1; pass a seed gradient of that shape",
                        name, out->value.rows, out->value.cols);
    if (seed && !seed->data)
        return bpi_fail(g, BP_EINVAL, "backward: seed's data is NULL (seed %zux%zu, node '%s')",
                        seed->rows, seed->cols, name);
    if (seed && (seed->rows != out->value.rows || seed->cols != out->value.cols))
        return bpi_fail(g, BP_EDIM, "backward: seed is %zux%zu, node '%s' is %zux%zu",
                        seed->rows, seed->cols, name, out->value.rows, out->value.cols);
    if (g->leaf_writes != g->leaf_writes_seen && (st = check_forward_is_current(g, out)) != BP_OK)
        return st;

    bpi_mark_ancestors(g, out, 1);
    for (size_t i = 0; i <= out->id; i++) {
        bp_node *n = g->nodes[i];
        if (g->mark[i] && n->grad_alias && g->mark[n->grad_alias->id]) {
            /* shares its in-place consumer's buffer, set when it runs */
            n->grad.rows = n->value.rows;
            n->grad.cols = n->value.cols;
        } else if (g->mark[i] && prepare_grad(n) != BP_OK) {
            return bpi_fail(g, BP_ENOMEM, "backward: out of memory for the gradient of node %zu", i);
        }
        /* An op node's gradient is zeroed just before the first backward
         * that adds into it (see below), while it is about to be touched
         * anyway, not in one sweep over every buffer up front; out's is
         * set from the seed. */
        if (g->mark[i] && n->kind == BPI_OP && n != out)
            g->mark[i] = MARK_ZERO;
    }
    g->bwd_stamp++;
    if (out->kind == BPI_OP) {
        /* An op node's gradient is this pass's alone: set it to the seed. */
        if (seed)
            memmove(out->grad.data, seed->data, seed->rows * seed->cols * sizeof(double));
        else
            out->grad.data[0] = 1.0;
    } else if (seed) {
        for (size_t k = 0; k < seed->rows * seed->cols; k++)
            out->grad.data[k] += seed->data[k];
    } else {
        out->grad.data[0] += 1.0;
    }
    for (size_t i = out->id + 1; i-- > 0;) {
        bp_node *n = g->nodes[i];
        char msg[384];
        bp_op_args a;

        if (!g->mark[i] || n->kind != BPI_OP)
            continue;
        n->bwd_stamp = g->bwd_stamp;
        if (n->op->flags & BP_OP_STOP_GRAD)
            continue;
        bpi_make_args(n, &a, msg, sizeof msg);
        a.dout = &n->grad;
        for (size_t k = 0; k < n->n_in; k++) {
            bp_node *in = n->in[k];
            a.din[k] = in->requires_grad ? &in->grad : NULL;
            if (a.din[k] && g->mark[in->id] == MARK_ZERO) {
                /* The first writer may assign rather than add, unless it
                 * writes this buffer twice (mul(x, x)). */
                if (in->grad_alias == n)
                    in->grad.data = n->grad.data;
                if ((n->op->flags & BP_OP_ASSIGN_FRESH) && used_once(n, in))
                    a.din_fresh |= 1u << k;
                else
                    memset(in->grad.data, 0, in->grad.rows * in->grad.cols * sizeof(double));
                g->mark[in->id] = 1;
            }
        }
        st = n->op->backward(&a);
        if (st != BP_OK)
            return bpi_op_error(n, st, "backward: ", msg);
        for (size_t k = 0; g->anomaly && k < n->n_in; k++) {
            char what[64];
            snprintf(what, sizeof what, "backward: gradient of input %zu", k + 1);
            if (a.din[k] && (st = check_finite(n, a.din[k], &n->in[k]->shape, what)) != BP_OK)
                return st;
        }
    }
    return BP_OK;
}

void bp_zero_grad(bp_graph *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->n_nodes; i++) {
        bp_node *n = g->nodes[i];
        if (n->kind == BPI_PARAM && n->grad.data)
            memset(n->grad.data, 0, n->grad.rows * n->grad.cols * sizeof(double));
    }
}

void bpi_node_drop_grad(bp_node *n)
{
    bpi_free(n->grad_buf);
    n->grad_buf = NULL;
    n->grad_cap = 0;
    memset(&n->grad, 0, sizeof n->grad);
}
