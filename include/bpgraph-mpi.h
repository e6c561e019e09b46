/* SPDX-License-Identifier: MIT */
/* bpgraph-mpi: data-parallel training of a bpgraph graph over MPI.
 *
 * Every rank holds the whole graph; each takes its share of every batch,
 * and after each backward the gradients of all ranks are summed in one
 * allreduce, so that every rank takes the same optimizer step as one
 * process would on the whole batch.  Link with -lbpgraph-mpi
 * (pkg-config bpgraph-mpi); libbpgraph itself does not use MPI.
 *
 * The program owns MPI: it calls MPI_Init before bp_dist_new and
 * MPI_Finalize after bp_dist_free.  Calls marked "collective" must be made
 * by every rank of the communicator, in the same order.  They never hang
 * on an error of one rank: each reports, on every rank, the status and
 * message of the lowest-numbered rank that failed, prefixed with
 * "rank N: ", so that every rank can stop.  (A NULL context or buffer is
 * refused on the rank that passed it, before any MPI call: a mistake in
 * the program, which the other ranks cannot learn of.)  Like libbpgraph,
 * this library never aborts, exits or prints; a failure of MPI itself is
 * handled by the communicator's error handler (by default MPI aborts the
 * job).
 * Errors reach the caller through err (may be NULL) and the return value,
 * the same on every rank; unlike libbpgraph's functions, bp_dist_attach
 * does not record its own failures in the graph (this library is built on
 * the public API).  BP_WARN_UNUSED marks the calls whose status must be
 * checked; bp_dist_batcher_next is left unmarked, as its errors wait in
 * the graph for the next bp_dist_allreduce_grads.
 * docs/distributed.md shows a whole training loop. */
#ifndef BPGRAPH_MPI_H
#define BPGRAPH_MPI_H

#include <mpi.h>
#include <bpgraph.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bp_dist bp_dist;

/* A data-parallel context over comm (borrowed: it must outlive the
 * context), *out new: free with bp_dist_free.  Not collective: it only
 * asks MPI whether it is initialised, and comm's rank and size.
 * BP_EINVAL when out is NULL, comm is MPI_COMM_NULL or MPI is not
 * initialised (or already finalised); BP_ENOMEM. */
BP_WARN_UNUSED
bp_status bp_dist_new(MPI_Comm comm, bp_dist **out, bp_error *err);
void bp_dist_free(bp_dist *d);

/* This rank's number in 0..size-1 and the number of ranks; -1 and 0 for a
 * NULL d.  Only rank 0 should print or write files. */
int bp_dist_rank(const bp_dist *d);
int bp_dist_size(const bp_dist *d);

/* Agreement, collective: every rank passes its own status (and, when it
 * is not BP_OK, a message; NULL allowed).  Returns BP_OK on every rank
 * when all passed BP_OK; otherwise, on every rank, the status of the
 * lowest-numbered failing rank, with "rank N: message" in err.  Call it
 * where one rank may fail alone (reading a file, building a graph) before
 * the next collective call. */
BP_WARN_UNUSED
bp_status bp_dist_agree(bp_dist *d, bp_status status, const char *message,
                        bp_error *err);

/* Attaches d to every param of g (in creation order, as bp_optimizer_new
 * with params NULL), collective: checks that every rank's graph has the
 * same params (number, shapes and names) as rank 0's, then copies rank 0's
 * param values to every rank, so that training starts from one model.
 * The buffer for the gradients is allocated here, once.  Errors, on every
 * rank: BP_EINVAL for a NULL g or a graph with no params; a graph already
 * in error gives its own status and message; BP_EDIM for a graph that differs from rank 0's,
 * naming the first param that differs, e.g. "rank 1: graph differs from
 * rank 0's: param 1 'w1' is 3x8 here, 3x16 on rank 0"; BP_ENOMEM.  A second
 * call attaches d to g afresh. */
BP_WARN_UNUSED
bp_status bp_dist_attach(bp_dist *d, bp_graph *g, bp_error *err);

/* Sums the gradients of the attached graph's params over the ranks,
 * collective; call it after each backward (and before the optimizer step)
 * on every rank, with this rank's number of rows in the batch.  The
 * gradients of all params go in one buffer and one MPI_Allreduce, each
 * rank's weighted by its rows, and every rank receives
 *     grad = Σ_r rows_r · grad_r / Σ_r rows_r,
 * the gradient of a loss that is a mean over rows (mse, nll, softmax_ce)
 * over the whole batch: with equal shares, the mean of the ranks'
 * gradients.  A rank with 0 rows (the last batch of an epoch may have fewer
 * rows than there are ranks) skips forward and backward but still calls
 * this; its gradients do not count.  Every rank must have run a backward
 * before its first call.  The graph's sticky error, if any, is this rank's
 * status: when any rank's graph is in error, every rank returns the first
 * such rank's status and message and no gradient changes.  Also
 * BP_EINVAL when no graph is attached, BP_ESTATE for a rank with no rows
 * at its first call.  Makes no allocation. */
BP_WARN_UNUSED
bp_status bp_dist_allreduce_grads(bp_dist *d, size_t local_rows, bp_error *err);

/* Sums values[0..n) over the ranks in place, collective: every rank gets
 * the totals (e.g. a loss times the rows of each rank, and the rows).
 * BP_EINVAL for a NULL d or values, or n above INT_MAX. */
BP_WARN_UNUSED
bp_status bp_dist_sum(bp_dist *d, double *values, size_t n, bp_error *err);

/* Minibatches shared between ranks.  Every rank visits the same global
 * batches as bp_batcher_new would make from the same rows, batch_size,
 * shuffle and seed (the same seeded shuffle on every rank, so the ranks
 * need not talk to agree on it), and takes its own contiguous share of
 * each batch: rank r of N gets the batch's rows [m·r/N, m·(r+1)/N) for a
 * batch of m rows.  Each share is gathered into a buffer of the batcher's,
 * allocated here once, and bound to the input nodes with
 * bp_node_bind_value: keep the batcher alive while the graph runs on it.
 * Not collective (no MPI call), so follow it with bp_dist_agree.  *out new:
 * free with bp_dist_batcher_free; src and dst are borrowed and must outlive
 * it.  Errors: BP_EINVAL for a NULL argument, n_src outside
 * 1..BP_MAX_INPUTS, batch_size 0, no rows, a row out of range, or a first
 * batch that would leave a rank with no rows (batch_size or the number of
 * rows below the number of ranks); BP_EDIM when sources disagree in rows
 * or a source's columns differ from its node's; BP_ENOMEM.  A node that is
 * not an input is reported by the first bp_dist_batcher_next. */
typedef struct bp_dist_batcher bp_dist_batcher;
BP_WARN_UNUSED
bp_status bp_dist_batcher_new(const bp_dist *d, size_t n_src,
                              const bp_matrix *const *src,
                              bp_node *const *dst, const size_t *rows,
                              size_t n_rows, size_t batch_size, int shuffle,
                              uint64_t seed, bp_dist_batcher **out,
                              bp_error *err);
void bp_dist_batcher_free(bp_dist_batcher *b);

/* Binds this rank's share of the next batch: *local_rows receives its rows
 * (0 when the batch has fewer rows than there are ranks: skip forward and
 * backward then) and *batch_rows the whole batch's, 0 when the epoch is
 * over (the next call starts a new, reshuffled one).  Errors are those of
 * bp_node_bind_value, recorded in the nodes' graph (so that
 * bp_dist_allreduce_grads reports them on every rank); BP_EINVAL for a
 * NULL b.  Makes no allocation. */
bp_status bp_dist_batcher_next(bp_dist_batcher *b, size_t *local_rows,
                               size_t *batch_rows);

#ifdef __cplusplus
}
#endif

#endif /* BPGRAPH_MPI_H */
