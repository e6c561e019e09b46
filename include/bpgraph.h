/* SPDX-License-Identifier: MIT */
/*
 * bpgraph — backpropagation over a computational graph of row-major double
 * matrices.
 *
 * A program builds a static graph once (leaves, then ops applied to them),
 * runs it forward to a node, then backward from that node to every
 * parameter, and repeats with new input data.  Buffers are allocated the
 * first time they are needed and reused afterwards.
 *
 * Conventions used throughout this header:
 *  - Matrices are row-major: element (i, j) of m is m->data[i * m->cols + j].
 *    Scalars are 1x1, row vectors 1xn, column vectors nx1.
 *  - Functions that can fail return a bp_status (node constructors: NULL).
 *  - Errors, one rule.  A function that is given a graph, or a node of one,
 *    records its failure in that graph: bp_graph_status() and
 *    bp_graph_message() tell it until bp_graph_clear_error().  Those that
 *    also take a bp_error * (params files, pictures, bp_batcher_new) fill it
 *    too, with the same status and message, so either may be read.  A
 *    function given no graph (files of data, splits, scalers, registries,
 *    op checks) reports through its return value and its bp_error * or
 *    report alone.  With a NULL graph or node there is no graph to record
 *    in: the return value (and err) alone tell.  The one exception is
 *    bp_gradcheck_graph, which inspects a graph and leaves it as it found
 *    it, error state included: its failures are its return value and its
 *    report's message.
 *  - The graph keeps its first error (a "sticky" error, as in cairo):
 *    later failures are not recorded over it; node constructors then
 *    return NULL, and bp_forward, bp_backward and bp_optimizer_new return
 *    that error, without doing anything, so a program may build a whole
 *    graph and check bp_graph_status() once.  The file and picture
 *    functions still work on a graph holding an error (to save or draw
 *    it).
 *  - BP_WARN_UNUSED marks the functions whose bp_status must be checked;
 *    compilers that know the attribute warn when a call ignores it.  The
 *    unmarked ones that can fail, bp_node_set_value, bp_node_bind_value,
 *    bp_node_set_name and bp_init_*, set a graph up for a run: like the
 *    node constructors they may be called in a row and checked once,
 *    since the graph keeps their error and bp_forward returns it.
 *  - Ownership is stated on every function returning a pointer: "new" (the
 *    caller frees it), or "borrowed" (owned by the library; the comment says
 *    how long it stays valid).
 *  - The library never aborts, exits or prints.
 *  - Threads: the library has no global state but the allocator pair of
 *    bp_set_alloc_funcs, which must be set before other threads use the
 *    library.  Separate graphs are independent and may run in separate
 *    threads at once; one graph, with its nodes, is used by one thread at a
 *    time.  A registry is filled at set-up time and read-only afterwards,
 *    when any number of threads may read it at once.
 */
#ifndef BPGRAPH_H
#define BPGRAPH_H

/* The API in sub-headers, one per area, in dependency order; include this
 * header, not them. */
#include "bpgraph/base.h"
#include "bpgraph/matrix.h"
#include "bpgraph/op.h"
#include "bpgraph/graph.h"
#include "bpgraph/ops.h"
#include "bpgraph/node.h"
#include "bpgraph/check.h"
#include "bpgraph/train.h"
#include "bpgraph/blocks.h"
#include "bpgraph/io.h"

#endif /* BPGRAPH_H */
