/* SPDX-License-Identifier: MIT */
/* Where tools/train and tools/train-mpi differ.  Both are built from the
 * same sources; tools/train-mpi with BP_WITH_MPI, which makes these calls
 * those of train_mpi.c (libbpgraph-mpi: each rank takes its share of every
 * batch and the gradients are summed over the ranks), while tools/train
 * gets the one-process versions below and never links MPI.
 *
 * On every rank but rank 0, train-mpi's stdout goes nowhere and its
 * stderr is kept, so that only rank 0 prints: ranks_agree brings a
 * failing rank's message to rank 0, which prints it. */
#ifndef TOOLS_TRAIN_RANKS_H
#define TOOLS_TRAIN_RANKS_H

#include "train.h"

#ifdef BP_WITH_MPI

/* MPI_Init and, on ranks other than 0, the redirections; 0 or 1. */
int ranks_start(int *argc, char ***argv);
/* MPI_Finalize; returns rc. */
int ranks_stop(int rc);
int ranks_rank(void);
int ranks_size(void);
/* Collective: every rank passes its exit code so far (0 to go on; 1, 2,
 * or -1 after --help) and gets the lowest failing rank's, whose message
 * rank 0 prints when that rank is not rank 0 (which has printed its own). */
int ranks_agree(int rc);
/* m's share of each batch of the rows of src (bound to dst): not
 * collective; errors in err. */
bp_status ranks_batcher_new(model *m, const bp_matrix *const src[2], bp_node *const dst[2],
                            size_t batch, uint64_t seed, bp_error *err);
/* Collective: checks that every rank's graph matches rank 0's and starts
 * every rank from rank 0's params. */
bp_status ranks_attach(model *m, bp_error *err);
/* This rank's rows of the next batch (*local) and the whole batch's
 * (*rows, 0 at the end of the epoch). */
bp_status ranks_next(model *m, size_t *local, size_t *rows);
/* Collective, after backward: the gradients of the whole batch on every
 * rank, or the first failing rank's error (the graph's, or another's). */
bp_status ranks_reduce(model *m, size_t local, bp_error *err);
/* Collective: v[0..n) summed over the ranks. */
bp_status ranks_sum(model *m, double *v, size_t n, bp_error *err);
void ranks_model_free(model *m);

#else

static inline int ranks_start(int *argc, char ***argv) { (void)argc; (void)argv; return 0; }
static inline int ranks_stop(int rc) { return rc; }
static inline int ranks_rank(void) { return 0; }
static inline int ranks_size(void) { return 1; }
static inline int ranks_agree(int rc) { return rc; }

static inline bp_status ranks_batcher_new(model *m, const bp_matrix *const src[2],
                                          bp_node *const dst[2], size_t batch, uint64_t seed,
                                          bp_error *err)
{
    return bp_batcher_new(2, src, dst, NULL, 0, batch, 1, seed, &m->batcher, err);
}

static inline bp_status ranks_attach(model *m, bp_error *err) { (void)m; (void)err; return BP_OK; }

static inline bp_status ranks_next(model *m, size_t *local, size_t *rows)
{
    bp_status st = bp_batcher_next(m->batcher, rows);
    *local = *rows;
    return st;
}

/* The graph's error, if any (one process has nothing to sum). */
static inline bp_status ranks_reduce(model *m, size_t local, bp_error *err)
{
    (void)local;
    err->status = bp_graph_status(m->g);
    if (err->status != BP_OK)
        snprintf(err->message, sizeof err->message, "%s", bp_graph_message(m->g));
    return err->status;
}

static inline bp_status ranks_sum(model *m, double *v, size_t n, bp_error *err)
{
    (void)m; (void)v; (void)n; (void)err;
    return BP_OK;
}

static inline void ranks_model_free(model *m) { bp_batcher_free(m->batcher); }

#endif

#endif /* TOOLS_TRAIN_RANKS_H */
