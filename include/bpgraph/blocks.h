/* SPDX-License-Identifier: MIT */
/* bpgraph: Blocks: layers built from ops, each a struct of its param
 * nodes.  Part of <bpgraph.h>; include that. */
#ifndef BPGRAPH_BLOCKS_H
#define BPGRAPH_BLOCKS_H

#include "graph.h"
#include "train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Every block follows one pattern:
 *  - bp_X_init(g, blk, <sizes>, name, rng) creates the block's params in g,
 *    named "<name>.<param>", draws their values from rng and fills *blk;
 *    it returns BP_OK or the error, which is also recorded in g.
 *  - bp_X_apply(g, blk, <inputs>) builds the block's graph from its inputs
 *    out of built-in ops and returns its output node (owned by g), or NULL
 *    with the error in g.  A block may be applied any number of times: its
 *    params are shared. */

/* ------------------------------------------------------------------------ */
/* Attention and the transformer block                                       */
/* ------------------------------------------------------------------------ */

/* Multi-head causal self-attention over x of shape B x T x D:
 *   q = x·W_q + b_q, k = x·W_k + b_k, v = x·W_v + b_v, each split into
 *   H heads of d = D / H (B x H x T x d);
 *   per head, softmax(q·kᵀ / √d) with position t attending to positions
 *   0..t only, times v; the heads joined back (B x T x D), then ·W_o + b_o.
 * W_* are D x D (x·W, as bp_dense: PyTorch's Linear weight transposed),
 * b_* have shape (D).  Init: every weight and bias uniform in ±1/√D, as
 * PyTorch's nn.Linear. */
typedef struct bp_attention {
    bp_node *w_q, *b_q, *w_k, *b_k, *w_v, *b_v, *w_o, *b_o;
    size_t d_model, n_heads;
} bp_attention;

/* Params "<name>.w_q", "<name>.b_q", ... "<name>.b_o".  BP_EINVAL for a
 * NULL g, a, name or rng, or a name longer than 64 bytes; BP_EDIM for a
 * d_model or n_heads of 0 or an n_heads that does not divide d_model;
 * BP_ENOMEM. */
BP_WARN_UNUSED
bp_status bp_attention_init(bp_graph *g, bp_attention *a, size_t d_model, size_t n_heads,
                            const char *name, bp_rng *rng);
/* x: B x T x d_model (B may change between runs, T may not).  BP_EINVAL
 * for a NULL a or x, a block not made by bp_attention_init in g; BP_EDIM
 * naming the shapes for another x. */
bp_node *bp_attention_apply(bp_graph *g, const bp_attention *a, bp_node *x);

#ifdef __cplusplus
}
#endif

#endif /* BPGRAPH_BLOCKS_H */
