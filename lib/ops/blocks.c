/* SPDX-License-Identifier: MIT */
/* Network blocks (include/bpgraph/blocks.h): a dense layer, an RNN cell and
 * a GRU cell, each a struct of param nodes made by its _init and a graph
 * built by its _apply from the built-in ops, which own every forward and
 * backward. */
#include "kernels.h"

#include <math.h>
#include <string.h>

/* A param of rows x cols named "<prefix>.<suffix>", every entry uniform in
 * [-bound, bound) from rng, as PyTorch initialises its modules. */
static bp_node *uniform_param(bp_graph *g, size_t rows, size_t cols, const char *prefix,
                              const char *suffix, double bound, bp_rng *rng)
{
    const size_t len = strlen(prefix) + 1 + strlen(suffix) + 1;
    char *name = bpi_malloc(len);
    bp_node *p;

    if (!name) {
        bpi_fail(g, BP_ENOMEM, "%s: out of memory naming its param '%s'", prefix, suffix);
        return NULL;
    }
    snprintf(name, len, "%s.%s", prefix, suffix);
    p = bp_param(g, rows, cols, name);
    bpi_free(name);
    if (p)
        for (size_t k = 0; k < rows * cols; k++)
            p->value.data[k] = bound * (2.0 * bp_rng_uniform(rng) - 1.0);
    return p;
}

/* The checks every _init shares once g and the block are known: rng given,
 * sizes not 0 (out_name says which second size), no error in g yet. */
static bp_status init_args_ok(bp_graph *g, const char *kind, size_t n_in, size_t n_out,
                              const char *out_name, const bp_rng *rng)
{
    if (!rng)
        return bpi_fail(g, BP_EINVAL, "%s_init: no random generator given (NULL)", kind);
    if (n_in == 0 || n_out == 0)
        return bpi_fail(g, BP_EINVAL, "%s_init: %s is 0", kind, n_in == 0 ? "n_in" : out_name);
    return bp_graph_status(g);
}

static bp_status no_block(bp_graph *g, const char *stage)
{
    return g ? bpi_fail(g, BP_EINVAL, "%s: no block given (NULL)", stage) : BP_EINVAL;
}

bp_status bp_dense_layer_init(bp_graph *g, bp_dense_layer *l, size_t n_in, size_t n_out,
                              const char *name, bp_rng *rng)
{
    const char *prefix = name ? name : "dense";
    const double bound = 1.0 / sqrt((double)n_in);
    bp_status st;

    if (!g || !l)
        return no_block(g, "dense_layer_init");
    l->w = l->b = NULL;
    if ((st = init_args_ok(g, "dense_layer", n_in, n_out, "n_out", rng)) != BP_OK)
        return st;
    l->w = uniform_param(g, n_in, n_out, prefix, "w", bound, rng);
    l->b = uniform_param(g, 1, n_out, prefix, "b", bound, rng);
    if (!l->w || !l->b)
        l->w = l->b = NULL;
    return bp_graph_status(g);
}

bp_status bp_rnn_cell_init(bp_graph *g, bp_rnn_cell *c, size_t n_in, size_t n_hidden,
                           const char *name, bp_rng *rng)
{
    const char *prefix = name ? name : "rnn";
    const double bound = 1.0 / sqrt((double)n_hidden);
    bp_status st;

    if (!g || !c)
        return no_block(g, "rnn_cell_init");
    c->w_x = c->w_h = c->b = NULL;
    if ((st = init_args_ok(g, "rnn_cell", n_in, n_hidden, "n_hidden", rng)) != BP_OK)
        return st;
    c->w_x = uniform_param(g, n_in, n_hidden, prefix, "w_x", bound, rng);
    c->w_h = uniform_param(g, n_hidden, n_hidden, prefix, "w_h", bound, rng);
    c->b = uniform_param(g, 1, n_hidden, prefix, "b", bound, rng);
    if (!c->w_x || !c->w_h || !c->b)
        c->w_x = c->w_h = c->b = NULL;
    return bp_graph_status(g);
}

bp_status bp_gru_cell_init(bp_graph *g, bp_gru_cell *c, size_t n_in, size_t n_hidden,
                           const char *name, bp_rng *rng)
{
    const char *prefix = name ? name : "gru";
    const double bound = 1.0 / sqrt((double)n_hidden);
    bp_status st;

    if (!g || !c)
        return no_block(g, "gru_cell_init");
    c->w_x = c->w_h = c->b_x = c->b_h = NULL;
    if ((st = init_args_ok(g, "gru_cell", n_in, n_hidden, "n_hidden", rng)) != BP_OK)
        return st;
    if (n_hidden > SIZE_MAX / 3)
        return bpi_fail(g, BP_ENOMEM, "gru_cell_init: 3 x n_hidden (%zu) overflows", n_hidden);
    c->w_x = uniform_param(g, n_in, 3 * n_hidden, prefix, "w_x", bound, rng);
    c->w_h = uniform_param(g, n_hidden, 3 * n_hidden, prefix, "w_h", bound, rng);
    c->b_x = uniform_param(g, 1, 3 * n_hidden, prefix, "b_x", bound, rng);
    c->b_h = uniform_param(g, 1, 3 * n_hidden, prefix, "b_h", bound, rng);
    if (!c->w_x || !c->w_h || !c->b_x || !c->b_h)
        c->w_x = c->w_h = c->b_x = c->b_h = NULL;
    return bp_graph_status(g);
}

/* The checks every _apply shares once g and the block are known: the
 * block's params made in g (params[0..n)), and x given. */
static int apply_args_ok(bp_graph *g, const char *kind, bp_node *const *params, size_t n,
                         const bp_node *x)
{
    for (size_t i = 0; i < n; i++)
        if (!params[i] || params[i]->graph != g) {
            bpi_fail(g, BP_EINVAL, "%s: the block's params %s", kind,
                     params[i] ? "belong to another graph" : "were not made (init failed?)");
            return 0;
        }
    if (!x || x->graph != g) {
        bpi_fail(g, BP_EINVAL, "%s: input x %s", kind, x ? "belongs to another graph" : "is NULL");
        return 0;
    }
    return 1;
}

/* g usable (a graph holding an error passes it on quietly, as the ops do)
 * and a block given. */
static int graph_and_block_ok(bp_graph *g, const void *blk, const char *kind)
{
    if (!g || bp_graph_status(g) != BP_OK)
        return 0;
    if (!blk) {
        no_block(g, kind);
        return 0;
    }
    return 1;
}

/* x is rank 2 with cols columns, and h (when given) is g's, x's rows x
 * n_hidden: what a cell takes. */
static int cell_inputs_ok(bp_graph *g, const char *kind, const bp_node *x, const bp_node *h,
                          size_t n_in, size_t n_hidden)
{
    char xs[BPI_SHAPE_STR], hs[BPI_SHAPE_STR];

    bpi_shape_str(&x->shape, xs, sizeof xs);
    if (x->shape.rank != 2 || x->shape.dim[1] != n_in) {
        bpi_fail(g, BP_EDIM, "%s: x is %s, want B x %zu (n_in)", kind, xs, n_in);
        return 0;
    }
    if (!h)
        return 1;
    if (h->graph != g) {
        bpi_fail(g, BP_EINVAL, "%s: input h belongs to another graph", kind);
        return 0;
    }
    if (h->shape.rank != 2 || h->shape.dim[0] != x->shape.dim[0] || h->shape.dim[1] != n_hidden) {
        bpi_fail(g, BP_EDIM, "%s: h is %s, want %zux%zu (x is %s, n_hidden %zu)", kind,
                 bpi_shape_str(&h->shape, hs, sizeof hs), x->shape.dim[0], n_hidden, xs,
                 n_hidden);
        return 0;
    }
    return 1;
}

bp_node *bp_dense_layer_apply(bp_graph *g, const bp_dense_layer *l, bp_node *x)
{
    size_t n_in;
    char xs[BPI_SHAPE_STR];

    if (!graph_and_block_ok(g, l, "dense_layer") ||
        !apply_args_ok(g, "dense_layer", (bp_node *const[2]){l->w, l->b}, 2, x))
        return NULL;
    n_in = l->w->shape.dim[0];
    if (x->shape.dim[x->shape.rank - 1] != n_in) {
        bpi_fail(g, BP_EDIM, "dense_layer: x is %s, want a last axis of %zu (n_in)",
                 bpi_shape_str(&x->shape, xs, sizeof xs), n_in);
        return NULL;
    }
    return bp_dense(g, x, l->w, l->b);   /* x·W + b */
}

bp_node *bp_rnn_cell_apply(bp_graph *g, const bp_rnn_cell *c, bp_node *x, bp_node *h)
{
    bp_node *pre;

    if (!graph_and_block_ok(g, c, "rnn_cell") ||
        !apply_args_ok(g, "rnn_cell", (bp_node *const[3]){c->w_x, c->w_h, c->b}, 3, x) ||
        !cell_inputs_ok(g, "rnn_cell", x, h, c->w_x->shape.dim[0], c->w_h->shape.dim[0]))
        return NULL;
    pre = bp_dense(g, x, c->w_x, c->b);   /* x·W_x + b */
    if (h)
        pre = bp_add(g, pre, bp_matmul(g, h, c->w_h));   /* + h·W_h */
    return bp_tanh(g, pre);
}

bp_node *bp_gru_cell_apply(bp_graph *g, const bp_gru_cell *c, bp_node *x, bp_node *h)
{
    bp_node *a, *hw, *rz, *r, *z, *n;
    size_t nh;

    if (!graph_and_block_ok(g, c, "gru_cell") ||
        !apply_args_ok(g, "gru_cell", (bp_node *const[4]){c->w_x, c->w_h, c->b_x, c->b_h}, 4, x) ||
        !cell_inputs_ok(g, "gru_cell", x, h, c->w_x->shape.dim[0], c->w_h->shape.dim[0]))
        return NULL;
    nh = c->w_h->shape.dim[0];
    a = bp_dense(g, x, c->w_x, c->b_x);                 /* [a_r a_z a_n], B x 3H */
    hw = h ? bp_dense(g, h, c->w_h, c->b_h) : c->b_h;   /* [c_r c_z c_n], B x 3H or 1 x 3H */
    /* r and z from the first 2H columns at once: σ(a + c) */
    rz = bp_sigmoid(g, bp_add(g, bp_slice(g, a, 1, 0, 2 * nh), bp_slice(g, hw, 1, 0, 2 * nh)));
    r = bp_slice(g, rz, 1, 0, nh);
    z = bp_slice(g, rz, 1, nh, nh);
    /* n = tanh(a_n + r ⊙ c_n) */
    n = bp_tanh(g, bp_add(g, bp_slice(g, a, 1, 2 * nh, nh),
                          bp_mul(g, r, bp_slice(g, hw, 1, 2 * nh, nh))));
    /* h' = (1 − z) ⊙ n + z ⊙ h = n + z ⊙ (h − n); with h = 0, n − z ⊙ n */
    return h ? bp_add(g, n, bp_mul(g, z, bp_sub(g, h, n))) : bp_sub(g, n, bp_mul(g, z, n));
}
