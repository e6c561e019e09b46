/* SPDX-License-Identifier: MIT */
/* bpgraph: Network blocks: layers built from the built-in ops.  Part of
 * <bpgraph.h>; include that. */
#ifndef BPGRAPH_BLOCKS_H
#define BPGRAPH_BLOCKS_H

#include "ops.h"
#include "train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A block is a struct of its param nodes, made in a graph by its _init
 * function and used by its _apply function, which builds the block's graph
 * from the built-in ops (so bp_gradcheck_graph checks it like any graph,
 * and a block may be applied many times, e.g. once per step of a
 * sequence, sharing its params).
 *
 * bp_X_init(g, blk, <sizes>, name, rng) makes the params in g, named
 * "<name>.<param>" (e.g. "rnn.w_x"; name NULL: the block's kind, "dense",
 * "rnn" or "gru"), and draws them from rng as PyTorch initialises the same
 * module: every entry uniform in ±1/sqrt(n_in) for a dense layer (weight
 * and bias, as torch.nn.Linear), ±1/sqrt(n_hidden) for the cells (as
 * torch.nn.RNNCell and GRUCell), params in the order of the struct, each
 * row-major.  Returns BP_OK, or the error, also recorded in g: BP_EINVAL
 * for a NULL g, blk or rng or a size of 0 (blk's fields are then NULL; a
 * failure after some params were made leaves them in g), BP_ENOMEM.
 *
 * bp_X_apply(g, blk, inputs...) returns the block's output node, or NULL
 * with the error in g: BP_EINVAL for a NULL g or blk, a block whose params
 * are not g's, or a NULL input (with no error yet in g: a NULL from a
 * failed constructor is passed on quietly, as by every op); BP_EDIM for an
 * input whose shape does not fit the block's sizes, with the block's and
 * the input's shapes in the message.
 *
 * Weights are laid out for x·W (n_in x n_out), as bp_dense takes them:
 * PyTorch's weight is their transpose. */

/* y = x·W + b: w is n_in x n_out, b 1 x n_out; x of rank 1 to 4 with last
 * axis n_in (the leading axes are a batch), y the same with n_out. */
typedef struct bp_dense_layer {
    bp_node *w, *b;
} bp_dense_layer;

bp_status bp_dense_layer_init(bp_graph *g, bp_dense_layer *l, size_t n_in, size_t n_out,
                              const char *name, bp_rng *rng);
bp_node *bp_dense_layer_apply(bp_graph *g, const bp_dense_layer *l, bp_node *x);

/* An Elman RNN cell, torch.nn.RNNCell with tanh:
 *   h' = tanh(x·W_x + h·W_h + b)
 * w_x is n_in x n_hidden, w_h n_hidden x n_hidden, b 1 x n_hidden (PyTorch's
 * two biases b_ih + b_hh as one).  x is B x n_in, h is B x n_hidden, or NULL
 * for the zero state (PyTorch's hx = None; only when g holds no error). */
typedef struct bp_rnn_cell {
    bp_node *w_x, *w_h, *b;
} bp_rnn_cell;

bp_status bp_rnn_cell_init(bp_graph *g, bp_rnn_cell *c, size_t n_in, size_t n_hidden,
                           const char *name, bp_rng *rng);
bp_node *bp_rnn_cell_apply(bp_graph *g, const bp_rnn_cell *c, bp_node *x, bp_node *h);

/* A GRU cell, torch.nn.GRUCell: with the gates' columns in the order r, z, n
 * (H = n_hidden columns each),
 *   [a_r a_z a_n] = x·W_x + b_x        [c_r c_z c_n] = h·W_h + b_h
 *   r = σ(a_r + c_r)    z = σ(a_z + c_z)    n = tanh(a_n + r ⊙ c_n)
 *   h' = (1 − z) ⊙ n + z ⊙ h,   computed as n + z ⊙ (h − n).
 * w_x is n_in x 3H, w_h H x 3H, b_x and b_h 1 x 3H (PyTorch's weight_ih,
 * weight_hh transposed, bias_ih, bias_hh).  x is B x n_in, h is B x H, or
 * NULL for the zero state (then c = b_h and h' = n − z ⊙ n). */
typedef struct bp_gru_cell {
    bp_node *w_x, *w_h, *b_x, *b_h;
} bp_gru_cell;

bp_status bp_gru_cell_init(bp_graph *g, bp_gru_cell *c, size_t n_in, size_t n_hidden,
                           const char *name, bp_rng *rng);
bp_node *bp_gru_cell_apply(bp_graph *g, const bp_gru_cell *c, bp_node *x, bp_node *h);

/* ---- attention and the transformer block follow here ---- */

/* Multi-head causal self-attention over x of shape B x T x D:
 *   q = x·W_q + b_q, k = x·W_k + b_k, v = x·W_v + b_v (dense layers q, k
 *   and v), each split into H heads of d = D / H (B x H x T x d);
 *   per head, softmax(q·kᵀ / √d) with position t attending to positions
 *   0..t only, times v; the heads joined back (B x T x D), then ·W_o + b_o (layer o).
 * W_* are D x D, b_* 1 x D.  Init: each of the four layers as
 * bp_dense_layer_init (nn.Linear's), in the order q, k, v, o. */
typedef struct bp_attention {
    bp_dense_layer q, k, v, o;
    size_t d_model, n_heads;
} bp_attention;

/* Params "<name>.q.w", "<name>.q.b", ... "<name>.o.b" (name NULL:
 * "attention").  BP_EINVAL for a NULL g, a or rng, a name longer than 72
 * bytes, a d_model or n_heads of 0 or an n_heads that does not divide
 * d_model; BP_ENOMEM. */
bp_status bp_attention_init(bp_graph *g, bp_attention *a, size_t d_model, size_t n_heads,
                            const char *name, bp_rng *rng);
/* x: B x T x d_model (B may change between runs, T may not).  BP_EINVAL
 * for a NULL a or x, a block not made by bp_attention_init in g; BP_EDIM
 * naming the shapes for another x (a graph holding an error: NULL, quietly). */
bp_node *bp_attention_apply(bp_graph *g, const bp_attention *a, bp_node *x);

/* A pre-norm transformer block (GPT-2's):
 *   h = x + dropout(attention(ln1(x)))
 *   y = h + dropout(fc2(gelu(fc1(ln2(h)))))
 * with fc1 a dense layer D → d_ff, fc2 d_ff → D, ln1 and ln2 layer norms
 * (bp_layer_norm, eps 1e-5, scale and shift of shape (D)) and dropout of
 * probability p (bp_dropout, the identity in eval mode; none when p is 0).
 * Init: the attention's and the dense layers' as nn.Linear's, in the order
 * of the struct; the layer norms' scale 1 and shift 0. */
typedef struct bp_transformer_block {
    bp_node *ln1_gamma, *ln1_beta;
    bp_attention attn;
    bp_node *ln2_gamma, *ln2_beta;
    bp_dense_layer fc1, fc2;
    double dropout;
} bp_transformer_block;

/* Params "<name>.ln1.gamma", "<name>.ln1.beta", "<name>.attn.q.w", ...,
 * "<name>.ln2.gamma", "<name>.ln2.beta", "<name>.fc1.w", "<name>.fc1.b",
 * "<name>.fc2.w", "<name>.fc2.b" (name NULL: "block").  Errors as
 * bp_attention_init's, but a name may have 64 bytes at most, and BP_EINVAL
 * for a d_ff of 0 or a dropout outside [0, 1). */
bp_status bp_transformer_block_init(bp_graph *g, bp_transformer_block *blk, size_t d_model,
                                    size_t n_heads, size_t d_ff, double dropout,
                                    const char *name, bp_rng *rng);
/* x: B x T x d_model; the output has x's shape.  Errors as
 * bp_attention_apply. */
bp_node *bp_transformer_block_apply(bp_graph *g, const bp_transformer_block *blk, bp_node *x);

#ifdef __cplusplus
}
#endif

#endif /* BPGRAPH_BLOCKS_H */
