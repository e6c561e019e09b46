/* SPDX-License-Identifier: MIT */
/* Composites: functions that build a piece of graph from other ops, with
 * no forward or backward of their own: the lesson's staged softmax and a
 * staged layer norm; concat and stack of any number of inputs. */
#include "kernels.h"

static bp_node *named(bp_node *n, const char *name)
{
    if (n && bp_node_set_name(n, name) != BP_OK) {
        bpi_fail(n->graph, BP_ENOMEM, "staged: out of memory naming '%s'", name);
        return NULL;
    }
    return n;
}

bp_node *bp_softmax_staged(bp_graph *g, bp_node *a)
{
    /* The lesson's stages; the row max is a constant, so it is detached. */
    bp_node *max = named(bp_detach(g, bp_rowmax(g, a)), "softmax.max");
    bp_node *shifted = named(bp_sub(g, a, max), "softmax.shifted");
    bp_node *raised = named(bp_exp(g, shifted), "softmax.exp");
    bp_node *total = named(bp_rowsum(g, raised), "softmax.rowsum");
    bp_node *inverse = named(bp_pow(g, total, -1.0), "softmax.inverse");
    return named(bp_mul(g, raised, inverse), "softmax.out");
}

/* Whether x, gamma, beta and eps are what bp_layer_norm takes, judged by
 * its own shape rule, so that the staged graph refuses what the fused op
 * does (broadcasting alone would let a gamma of shape (1) through); the
 * error names layer_norm_staged. */
static int layer_norm_inputs_ok(bp_graph *g, bp_node *const *in, double eps)
{
    bp_matrix m[3], out = {0, 0, NULL};
    bp_shape out_shape;
    char msg[256] = "";
    bp_status st;
    bp_op_args a = {.n_in = 3, .out = &out, .attr = &eps, .msg = msg, .msg_size = sizeof msg,
                    .out_shape = &out_shape};

    if (!g || bp_graph_status(g) != BP_OK)
        return 0;
    for (size_t i = 0; i < 3; i++) {
        if (!in[i] || in[i]->graph != g) {
            bpi_fail(g, BP_EINVAL, "layer_norm_staged: input %zu %s", i + 1,
                     in[i] ? "belongs to another graph" : "is NULL");
            return 0;
        }
        m[i] = in[i]->value;
        bpi_shape_matrix(&in[i]->shape, &m[i].rows, &m[i].cols);
        a.in[i] = &m[i];
        a.in_shape[i] = &in[i]->shape;
    }
    st = bpi_op_layer_norm.shape(&a);
    if (st != BP_OK)
        bpi_fail(g, st, "layer_norm_staged: %s", msg);
    return st == BP_OK;
}

bp_node *bp_layer_norm_staged(bp_graph *g, bp_node *x, bp_node *gamma, bp_node *beta, double eps)
{
    bp_node *const in[3] = {x, gamma, beta};
    bp_node *mean, *centred, *var, *eps_node, *rstd, *normed;

    if (!layer_norm_inputs_ok(g, in, eps))
        return NULL;
    /* μ and σ² along the last axis, kept as (..., 1) to broadcast back */
    mean = named(bp_mean_axis(g, x, -1, 1), "layer_norm.mean");
    centred = named(bp_sub(g, x, mean), "layer_norm.centred");
    var = named(bp_mean_axis(g, bp_mul(g, centred, centred), -1, 1), "layer_norm.var");
    eps_node = named(bp_constant_nd(g, &(bp_shape){1, {1}}, &eps, NULL), "layer_norm.eps");
    rstd = named(bp_pow(g, bp_add(g, var, eps_node), -0.5), "layer_norm.rstd");
    normed = named(bp_mul(g, centred, rstd), "layer_norm.normed");
    return named(bp_add(g, bp_mul(g, normed, gamma), beta), "layer_norm.out");
}

/* A balanced tree of two-input concats, depth log2(n), of the nodes or,
 * with leaf_dims, of each reshaped to leaf_dims. */
static bp_node *concat_tree(bp_graph *g, size_t n, bp_node *const *nodes, size_t axis,
                            const long *leaf_dims)
{
    const double attr = (double)axis;
    bp_node *in[2];

    if (n == 1)
        return leaf_dims ? bp_reshape(g, nodes[0], leaf_dims[0], leaf_dims[1], leaf_dims[2],
                                      leaf_dims[3])
                         : nodes[0];
    in[0] = concat_tree(g, n / 2, nodes, axis, leaf_dims);
    in[1] = concat_tree(g, n - n / 2, nodes + n / 2, axis, leaf_dims);
    if (!in[0] || !in[1])
        return NULL;
    return bp_apply(g, &bpi_op_concat, 2, in, &attr);
}

/* Checks a list of inputs before any node is made, so that bad input
 * leaves the graph as it was: each node given and g's, and each shape
 * that of nodes[0] (for a concat, outside axis, one of its axes). */
static int list_ok(bp_graph *g, const char *name, size_t n, bp_node *const *nodes, size_t axis)
{
    const int stack = name[0] == 's';

    if (!g || bp_graph_status(g) != BP_OK)
        return 0;
    if (n == 0 || !nodes) {
        bpi_fail(g, BP_EINVAL, "%s: no inputs (n = %zu, nodes %s)", name, n,
                 nodes ? "given" : "NULL");
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        const bp_shape *s, *s0;
        char dims[BPI_SHAPE_STR];
        int same;

        if (!nodes[i] || nodes[i]->graph != g) {
            bpi_fail(g, BP_EINVAL, "%s: input %zu %s", name, i + 1,
                     nodes[i] ? "belongs to another graph" : "is NULL");
            return 0;
        }
        s = &nodes[i]->shape;
        s0 = &nodes[0]->shape;
        if (!stack && axis >= s0->rank) {
            bpi_fail(g, BP_EDIM, "concat: axis %zu is not one of %s's", axis,
                     bpi_shape_str(s0, dims, sizeof dims));
            return 0;
        }
        same = s->rank == s0->rank;
        for (size_t k = 0; same && k < s->rank; k++)
            same = s->dim[k] == s0->dim[k] || (!stack && k == axis);
        if (!same) {
            char a[BPI_SHAPE_STR], b[BPI_SHAPE_STR];
            bpi_shape_str(s0, a, sizeof a);
            bpi_shape_str(s, b, sizeof b);
            if (stack)
                bpi_fail(g, BP_EDIM, "stack: shapes %s and %s differ (inputs 1 and %zu)", a, b,
                         i + 1);
            else
                bpi_fail(g, BP_EDIM, "concat: shapes %s and %s differ outside axis %zu "
                         "(inputs 1 and %zu)", a, b, axis, i + 1);
            return 0;
        }
    }
    return 1;
}

bp_node *bp_concat(bp_graph *g, size_t n, bp_node *const *nodes, size_t axis)
{
    return list_ok(g, "concat", n, nodes, axis) ? concat_tree(g, n, nodes, axis, NULL) : NULL;
}

bp_node *bp_stack(bp_graph *g, size_t n, bp_node *const *nodes, size_t axis)
{
    const bp_shape *s;
    char dims[BPI_SHAPE_STR];
    long d[BP_MAX_RANK] = {0, 0, 0, 0};

    if (!list_ok(g, "stack", n, nodes, 0))
        return NULL;
    s = &nodes[0]->shape;
    if (s->rank == BP_MAX_RANK || axis > s->rank) {
        bpi_fail(g, BP_EDIM, "stack: cannot add axis %zu to %s (at most rank %d)", axis,
                 bpi_shape_str(s, dims, sizeof dims), BP_MAX_RANK);
        return NULL;
    }
    /* each input reshaped to have a unit axis at axis; −1 in dim 0's place
     * lets a batch through */
    for (size_t k = 0, j = 0; k <= s->rank; k++)
        d[k] = k == axis ? 1 : j == 0 ? (j++, -1) : (long)s->dim[j++];
    return concat_tree(g, n, nodes, axis, d);
}
