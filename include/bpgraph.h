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
 *  - Functions that can fail return a bp_status.  Node constructors return
 *    NULL on failure and record the error in the graph.  A graph keeps its
 *    first error (a "sticky" error, as in cairo): later constructors return
 *    NULL without overwriting it, so a program may build a whole graph and
 *    check bp_graph_status() once.
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
#include "bpgraph/io.h"

#endif /* BPGRAPH_H */
