/* SPDX-License-Identifier: MIT */
/* bpgraph: Node accessors, values and running.  Part of <bpgraph.h>; include that. */
#ifndef BPGRAPH_NODE_H
#define BPGRAPH_NODE_H

#include "graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Node accessors.  A node pointer is borrowed from its graph. */
const char *bp_node_name(const bp_node *n);      /* "" when unnamed */
/* Names n with a copy of name (NULL or "": unnamed).  BP_EINVAL for a NULL
 * n; BP_ENOMEM, with the old name kept. */
bp_status bp_node_set_name(bp_node *n, const char *name);
const bp_op *bp_node_op(const bp_node *n);       /* NULL for a leaf */
size_t bp_node_n_inputs(const bp_node *n);
bp_node *bp_node_input(const bp_node *n, size_t i);
size_t bp_node_rows(const bp_node *n);           /* current shape */
size_t bp_node_cols(const bp_node *n);           /* (the matrix view) */
/* The node's current tensor shape (borrowed, valid until the graph is
 * freed; it changes when an input's batch dimension does), or NULL. */
const bp_shape *bp_node_shape(const bp_node *n);
int bp_node_is_param(const bp_node *n);
int bp_node_requires_grad(const bp_node *n);     /* a param, or an op node
                                                    that depends on one */

/* Copies src into a leaf's value.  An input takes any number of rows with
 * its declared columns; a param or constant takes exactly its shape.  A
 * tensor leaf takes its matrix view: an input of shape N x d1 x ... x dk
 * takes a (N·d1·...·d{k−1}) x dk matrix for any N ≥ 1 (a rank-1 input of
 * length N, a 1 x N matrix), which sets N.
 * BP_EDIM on a shape mismatch (or a shape whose byte count overflows),
 * BP_EINVAL for an op node; the node's value is unchanged on error. */
bp_status bp_node_set_value(bp_node *n, const bp_matrix *src);

/* Binds an input to src's buffer without copying it: the input's value is
 * src->data itself until the next bp_node_bind_value or bp_node_set_value
 * on it, so a large batch, or a run of rows of a larger row-major table,
 * costs no copy.  The library only reads the buffer, afresh at each
 * forward: the caller may refill it between runs, and keeps it valid for
 * every run until the input is given other data.  Shapes as
 * bp_node_set_value; BP_EINVAL for a param or constant (they keep their
 * own copy, which optimizers write) or an op node; nothing changes on
 * error. */
bp_status bp_node_bind_value(bp_node *n, const bp_matrix *src);

/* The node's value (borrowed; valid until the graph is freed or the node's
 * shape changes).  A param's value may be written in place, e.g. by an
 * optimizer.  An op node's value is that of the last forward that computed
 * it; NULL before that. */
bp_matrix *bp_node_value(bp_node *n);

/* The node's gradient (borrowed, same validity), or NULL when the node does
 * not require a gradient or no backward has reached it yet.
 *  - A param's gradient ACCUMULATES over bp_backward calls until
 *    bp_zero_grad clears it.
 *  - An op node's gradient is that of the most recent bp_backward only. */
bp_matrix *bp_node_grad(bp_node *n);

/* ------------------------------------------------------------------------ */
/* Running                                                                   */
/* ------------------------------------------------------------------------ */

/* Computes out and the nodes it depends on (and no others).  Shapes are
 * re-derived from the inputs' current shapes, so a smaller last batch
 * works; buffers are reallocated only when a node grows.  Errors, recorded
 * in g with the op and shapes named: the error g already holds; BP_EINVAL
 * for a NULL or foreign out; BP_ESTATE for an input given no data; an
 * op's own (BP_EDIM from its shape rule, BP_ESINGULAR, BP_ENUMERIC, ...);
 * BP_ENOMEM. */
BP_WARN_UNUSED
bp_status bp_forward(bp_graph *g, bp_node *out);

/* Backpropagates from out, which the last bp_forward must have computed.
 * seed is dL/d(out): it may be NULL only when out is 1x1 (seed 1);
 * otherwise it must have out's shape.  Gradients are ADDED into every param
 * that out depends on.  Errors, recorded in g: the error g already holds;
 * BP_EINVAL for a NULL or foreign out; BP_ESTATE when out was not computed
 * by the last forward, when a leaf out depends on was given new data (set
 * or bound) since that forward (run bp_forward again), or when out depends
 * on no param; BP_EDIM for a seed of the wrong shape; an op's own (e.g.
 * bp_det's BP_ESINGULAR); BP_ENOMEM. */
BP_WARN_UNUSED
bp_status bp_backward(bp_graph *g, bp_node *out, const bp_matrix *seed);

/* Sets every param's gradient to zero. */
void bp_zero_grad(bp_graph *g);

/* In-place mode, off by default.  When on, an op flagged BP_OP_INPLACE
 * (relu, tanh, exp, scale, softmax, ...) whose input is an
 * op node flagged BP_OP_BWD_NO_OUT (matmul, dense, add, ...) and read by
 * nothing else in the pass writes its output over that input's value, and
 * in backward turns its own gradient into the input's in the same buffer,
 * as hand-written code applies relu in place: such a pair needs half the
 * memory and traffic.  An op's backward may also use its own gradient as
 * scratch (bp_op_args.dout_writable; bp_dense_relu keeps its pre-relu
 * gradient there).  Gradients of params are the same either way.  The
 * price: after bp_forward the input node's value shows the op's output,
 * and after bp_backward an op node's gradient may show its input's or
 * the op's scratch. */
void bp_graph_set_inplace(bp_graph *g, int on);

/* Anomaly mode (like PyTorch's detect_anomaly), off by default.  When on,
 * bp_forward checks every leaf value and op output it computes, and
 * bp_backward every input gradient an op has added to, for NaN and
 * infinity; the first found stops the pass with BP_ENUMERIC and a message
 * naming the op, the node's name and index, the pass and the (row, col),
 * e.g. "anomaly: log 'lp' (node 4): forward output has -inf at (2, 0) of
 * 5x3".  It costs one pass over each result. */
void bp_graph_set_anomaly_mode(bp_graph *g, int on);

#ifdef __cplusplus
}
#endif

#endif /* BPGRAPH_NODE_H */
