/* SPDX-License-Identifier: MIT */
/* Attention blocks, built only from ops (no forward or backward of their
 * own): multi-head causal self-attention and the pre-norm transformer
 * block (include/bpgraph/blocks.h). */
#include "kernels.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* The longest name of a transformer block; its attention's is
 * "<name>.attn", and params add a suffix to either. */
#define NAME_MAX_LEN 64
#define ATTN_NAME_MAX_LEN (NAME_MAX_LEN + 8)

/* The checks every init starts with; BP_OK or the error (recorded in g). */
static bp_status init_args_ok(bp_graph *g, const void *blk, const char *op, size_t d_model,
                              size_t n_heads, const char *name, size_t max_len,
                              const bp_rng *rng)
{
    if (!g)
        return BP_EINVAL;
    if (g->status != BP_OK)
        return g->status;
    if (!blk || !rng)
        return bpi_fail(g, BP_EINVAL, "%s: %s is NULL", op, !blk ? "the block" : "rng");
    if (strlen(name) > max_len)
        return bpi_fail(g, BP_EINVAL, "%s: name '%.20s...' is longer than %zu bytes", op, name,
                        max_len);
    if (d_model == 0 || n_heads == 0 || d_model % n_heads != 0)
        return bpi_fail(g, BP_EINVAL,
                        "%s: d_model %zu is not a positive multiple of n_heads %zu", op, d_model,
                        n_heads);
    return BP_OK;
}

/* A dense layer named "<prefix>.<suffix>", as bp_dense_layer_init draws it. */
static void sub_layer(bp_graph *g, bp_dense_layer *l, size_t n_in, size_t n_out,
                      const char *prefix, const char *suffix, bp_rng *rng)
{
    char name[ATTN_NAME_MAX_LEN + 16];

    snprintf(name, sizeof name, "%s.%s", prefix, suffix);
    (void)bp_dense_layer_init(g, l, n_in, n_out, name, rng);   /* its error stays in g */
}

bp_status bp_attention_init(bp_graph *g, bp_attention *a, size_t d_model, size_t n_heads,
                            const char *name, bp_rng *rng)
{
    const char *prefix = name ? name : "attention";
    bp_status st = init_args_ok(g, a, "attention_init", d_model, n_heads, prefix,
                                ATTN_NAME_MAX_LEN, rng);

    if (st != BP_OK)
        return st;
    memset(a, 0, sizeof *a);
    sub_layer(g, &a->q, d_model, d_model, prefix, "q", rng);
    sub_layer(g, &a->k, d_model, d_model, prefix, "k", rng);
    sub_layer(g, &a->v, d_model, d_model, prefix, "v", rng);
    sub_layer(g, &a->o, d_model, d_model, prefix, "o", rng);
    if (g->status == BP_OK) {
        a->d_model = d_model;
        a->n_heads = n_heads;
    }
    return g->status;
}

/* x is a node of g of shape B x T x d_model: else the error, in g. */
static int input_ok(bp_graph *g, const char *op, const void *blk, const bp_node *x,
                    size_t d_model)
{
    char dims[BPI_SHAPE_STR];

    if (!g || g->status != BP_OK)
        return 0;
    if (!blk || !x || x->graph != g) {
        bpi_fail(g, BP_EINVAL, "%s: %s", op,
                 !blk ? "the block is NULL" : !x ? "x is NULL" : "x belongs to another graph");
        return 0;
    }
    if (d_model == 0) {
        bpi_fail(g, BP_EINVAL, "%s: the block was not initialised", op);
        return 0;
    }
    if (x->shape.rank != 3 || x->shape.dim[2] != d_model) {
        bpi_fail(g, BP_EDIM, "%s: x is %s, expects B x T x %zu", op,
                 bpi_shape_str(&x->shape, dims, sizeof dims), d_model);
        return 0;
    }
    return 1;
}

/* B x T x D projected by l, as B x H x T x d; with key_side, as
 * B x H x d x T, ready to multiply q by. */
static bp_node *heads(bp_graph *g, const bp_dense_layer *l, bp_node *x, size_t t, size_t h,
                      size_t d, int key_side)
{
    bp_node *y = bp_reshape(g, bp_dense_layer_apply(g, l, x), -1, (long)t, (long)h, (long)d);

    return key_side ? bp_permute(g, y, 0, 2, 3, 1) : bp_permute(g, y, 0, 2, 1, 3);
}

bp_node *bp_attention_apply(bp_graph *g, const bp_attention *a, bp_node *x)
{
    size_t t, h, d;
    bp_node *q, *kt, *v, *scores, *weights, *mixed;

    if (!input_ok(g, "attention", a, x, a ? a->d_model : 0))
        return NULL;
    t = x->shape.dim[1];
    h = a->n_heads;
    d = a->d_model / h;
    q = heads(g, &a->q, x, t, h, d, 0);
    kt = heads(g, &a->k, x, t, h, d, 1);
    v = heads(g, &a->v, x, t, h, d, 0);
    /* (B x H x T x d)·(B x H x d x T) → B x H x T x T, scaled by 1/√d */
    scores = bp_scale(g, bp_matmul(g, q, kt), 1.0 / sqrt((double)d));
    weights = bp_causal_softmax(g, scores);   /* query i sees keys 0..i */
    /* (B x H x T x T)·(B x H x T x d) → B x H x T x d → B x T x H x d → B x T x D */
    mixed = bp_reshape(g, bp_permute(g, bp_matmul(g, weights, v), 0, 2, 1, 3), -1, (long)t,
                       (long)a->d_model, 0);
    return bp_dense_layer_apply(g, &a->o, mixed);
}

/* A layer norm's scale (ones) and shift (zeros), "<prefix>.gamma" and
 * "<prefix>.beta", of shape (d). */
static void layer_norm_params(bp_graph *g, size_t d, const char *prefix, const char *suffix,
                              bp_node **gamma, bp_node **beta)
{
    char name[NAME_MAX_LEN + 32];

    snprintf(name, sizeof name, "%s.%s.gamma", prefix, suffix);
    *gamma = bp_param_nd(g, &(bp_shape){1, {d}}, name);
    snprintf(name, sizeof name, "%s.%s.beta", prefix, suffix);
    *beta = bp_param_nd(g, &(bp_shape){1, {d}}, name);
    for (size_t k = 0; *gamma && k < d; k++)
        (*gamma)->value.data[k] = 1.0;
}

bp_status bp_transformer_block_init(bp_graph *g, bp_transformer_block *blk, size_t d_model,
                                    size_t n_heads, size_t d_ff, double dropout,
                                    const char *name, bp_rng *rng)
{
    const char *prefix = name ? name : "block";
    bp_status st = init_args_ok(g, blk, "transformer_block_init", d_model, n_heads,
                                prefix, NAME_MAX_LEN, rng);
    char attn_name[ATTN_NAME_MAX_LEN + 1];

    if (st != BP_OK)
        return st;
    if (d_ff == 0)
        return bpi_fail(g, BP_EINVAL, "transformer_block_init: d_ff is 0");
    if (!(dropout >= 0.0 && dropout < 1.0))
        return bpi_fail(g, BP_EINVAL, "transformer_block_init: dropout %g is outside [0, 1)",
                        dropout);
    memset(blk, 0, sizeof *blk);
    layer_norm_params(g, d_model, prefix, "ln1", &blk->ln1_gamma, &blk->ln1_beta);
    snprintf(attn_name, sizeof attn_name, "%s.attn", prefix);
    (void)bp_attention_init(g, &blk->attn, d_model, n_heads, attn_name, rng);
    layer_norm_params(g, d_model, prefix, "ln2", &blk->ln2_gamma, &blk->ln2_beta);
    sub_layer(g, &blk->fc1, d_model, d_ff, prefix, "fc1", rng);
    sub_layer(g, &blk->fc2, d_ff, d_model, prefix, "fc2", rng);
    blk->dropout = dropout;
    return g->status;
}

/* dropout(a, p), or a itself when p is 0 */
static bp_node *maybe_dropout(bp_graph *g, bp_node *a, double p)
{
    return p > 0.0 ? bp_dropout(g, a, p) : a;
}

bp_node *bp_transformer_block_apply(bp_graph *g, const bp_transformer_block *blk, bp_node *x)
{
    bp_node *h, *mlp;

    if (!input_ok(g, "transformer_block", blk, x, blk ? blk->attn.d_model : 0))
        return NULL;
    /* h = x + dropout(attention(ln1(x))) */
    h = bp_add(g, x, maybe_dropout(g, bp_attention_apply(g, &blk->attn,
                                                         bp_layer_norm(g, x, blk->ln1_gamma,
                                                                       blk->ln1_beta, 1e-5)),
                                   blk->dropout));
    /* y = h + dropout(fc2(gelu(fc1(ln2(h))))) */
    mlp = bp_dense_layer_apply(
        g, &blk->fc2,
        bp_gelu(g, bp_dense_layer_apply(
                       g, &blk->fc1, bp_layer_norm(g, h, blk->ln2_gamma, blk->ln2_beta, 1e-5))));
    return bp_add(g, h, maybe_dropout(g, mlp, blk->dropout));
}
