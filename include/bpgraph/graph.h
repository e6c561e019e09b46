/* SPDX-License-Identifier: MIT */
/* bpgraph: Graphs, nodes, running.  Part of <bpgraph.h>; include that. */
#ifndef BPGRAPH_GRAPH_H
#define BPGRAPH_GRAPH_H

#include "op.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Graphs and nodes                                                          */
/* ------------------------------------------------------------------------ */

typedef struct bp_graph bp_graph;
typedef struct bp_node bp_node;

/* A new empty graph (new: free with bp_graph_free), or NULL when memory runs
 * out.  A graph and all its nodes may be used by one thread at a time;
 * separate graphs are independent. */
bp_graph *bp_graph_new(void);

/* Frees the graph, its nodes and all their buffers; NULL is allowed. */
void bp_graph_free(bp_graph *g);

/* The graph's first error, or BP_OK. */
bp_status bp_graph_status(const bp_graph *g);

/* A message naming the op and shapes of the first error, e.g.
 * "matmul: inner dimensions differ (10x3 · 4x1)"; "" when there is none
 * (borrowed: valid until the next call on g). */
const char *bp_graph_message(const bp_graph *g);

/* Forgets the sticky error so the graph can be used again, e.g. after
 * binding input of a wrong shape.  The nodes built so far stay valid. */
void bp_graph_clear_error(bp_graph *g);

/* Number of nodes in the graph. */
size_t bp_graph_size(const bp_graph *g);

/* The i-th node in creation order, which is a topological order
 * (borrowed, valid until bp_graph_free); NULL when out of range. */
bp_node *bp_graph_node(const bp_graph *g, size_t i);

/* Leaves.  Each returns a new node owned by g (valid until bp_graph_free),
 * or NULL with the error in g: BP_EDIM for 0 rows or columns, BP_ENOMEM
 * (also for a size whose byte count overflows), BP_EINVAL for a constant's
 * NULL data.  name may be NULL; it is copied.
 *  - input: data given before a forward with bp_node_set_value (a copy)
 *    or bp_node_bind_value (no copy); never receives a gradient.  Its
 *    number of rows may change between runs.
 *  - param: a trainable matrix, initialised to zeros; receives gradients.
 *  - constant: fixed data, copied from data (rows * cols doubles). */
bp_node *bp_input(bp_graph *g, size_t rows, size_t cols, const char *name);
bp_node *bp_param(bp_graph *g, size_t rows, size_t cols, const char *name);
bp_node *bp_constant(bp_graph *g, size_t rows, size_t cols,
                     const double *data, const char *name);

/* The same leaves as tensors of any shape (copied), e.g.
 *   bp_input_nd(g, &(bp_shape){3, {32, 7, 64}}, "x")
 * An input's first dimension may change between runs (a batch; for rank
 * 1, its one dimension), the others are fixed; bp_input(g, r, c, name) is
 * bp_input_nd with {2, {r, c}}.  A constant copies the product of the
 * dimensions doubles from data.  BP_EDIM for a NULL shape, a rank out of
 * 1..BP_MAX_RANK or a zero dimension. */
bp_node *bp_input_nd(bp_graph *g, const bp_shape *shape, const char *name);
bp_node *bp_param_nd(bp_graph *g, const bp_shape *shape, const char *name);
bp_node *bp_constant_nd(bp_graph *g, const bp_shape *shape, const double *data,
                        const char *name);

/* Applies op to n_in nodes with attributes attr (op->n_attr values; may be
 * NULL when n_attr is 0).  Returns the new node, or NULL with the error in
 * the graph: BP_EINVAL for a NULL or foreign input or a wrong count,
 * BP_EDIM when the op's shape rule rejects the input shapes. */
bp_node *bp_apply(bp_graph *g, const bp_op *op, size_t n_in,
                  bp_node *const *in, const double *attr);

/* Training mode and the random generator, as a PyTorch module's train()
 * and eval() and torch.manual_seed, but per graph.  A new graph is in
 * training mode, and its generator is seeded with 0.  Ops read the mode
 * (bp_dropout drops only in training mode; in eval mode it is the
 * identity); ops flagged BP_OP_RANDOM draw from the graph's generator at
 * each forward, and keep their draws for the backward after it.  The same
 * seed gives the same draws for the same sequence of forwards.  Each graph
 * has its own generator, so graphs run by different threads draw
 * independently.  A NULL g is ignored (bp_graph_training gives 0). */
void bp_graph_set_training(bp_graph *g, int on);
int bp_graph_training(const bp_graph *g);
void bp_graph_set_seed(bp_graph *g, uint64_t seed);

#ifdef __cplusplus
}
#endif

#endif /* BPGRAPH_GRAPH_H */
