/* SPDX-License-Identifier: MIT */
/* Internals shared by the library's modules; never installed. */
#ifndef BP_PRIVATE_H
#define BP_PRIVATE_H

#include "bpgraph.h"

#include <stdarg.h>

enum bpi_node_kind { BPI_INPUT, BPI_PARAM, BPI_CONSTANT, BPI_OP };

/* Buffers (value, gradient, scratch) are owned growable arrays; cap counts
 * elements, and a buffer only ever grows, so a smaller batch reuses it.
 * value.data and grad.data are views: of the node's own buffer, or in
 * in-place mode of a neighbour's (in[0]'s value; grad_alias's gradient). */
struct bp_node {
    bp_graph *graph;
    size_t id;                      /* index in graph->nodes: topological */
    enum bpi_node_kind kind;
    const bp_op *op;                /* NULL for leaves */
    size_t n_in;
    bp_node *in[BP_MAX_INPUTS];
    double attr[BP_MAX_ATTRS];
    char *name;                     /* NULL when unnamed */
    int requires_grad;
    int has_value;                  /* an input bound, or an op computed */
    int dout_writable;              /* backward may use grad as scratch: set
                                       by its last forward (in-place mode) */

    bp_shape shape;                 /* value's (and grad's) tensor shape */
    bp_matrix value;                /* its matrix view */
    double *value_buf;
    size_t value_cap;
    bp_matrix grad;
    double *grad_buf;
    size_t grad_cap;
    size_t uses;                    /* consumers in the current forward */
    bp_node *grad_alias;            /* in-place: grad is this consumer's */
    double *work;
    size_t work_cap;
    size_t n_work;
    int *iwork;
    size_t iwork_cap;
    size_t n_iwork;

    unsigned long fwd_stamp;        /* graph->fwd_stamp of its last forward */
    unsigned long bwd_stamp;        /* graph->bwd_stamp of its last backward */
    unsigned long shape_epoch;      /* graph->shape_epoch when a forward last
                                       ran its shape rule; 0: never */
    int training;                   /* the graph's mode at its last shape() */
    int drew;                       /* a BP_OP_RANDOM op's scratch holds the
                                       draws of its last forward */
};

struct bp_graph {
    bp_node **nodes;
    size_t n_nodes;
    size_t cap_nodes;
    unsigned char *mark;            /* per-node scratch for the passes */
    unsigned long fwd_stamp;
    unsigned long bwd_stamp;
    unsigned long shape_epoch;      /* bumped when a leaf's shape, the
                                       in-place or the training mode
                                       changes (from 1) */
    unsigned long leaf_writes;      /* bumped when a leaf is given data */
    unsigned long leaf_writes_seen; /* leaf_writes at the last forward */
    int anomaly;                    /* check every result for NaN and inf */
    int inplace;                    /* let BP_OP_INPLACE ops share buffers */
    int training;                   /* bp_graph_set_training */
    int hold_draws;                 /* random ops reuse their last draws */
    bp_rng rng;                     /* what random ops draw from */
    bp_status status;
    char message[512];
};

/* All allocation goes through these, so tests can inject failures. */
void *bpi_malloc(size_t size);
void *bpi_calloc(size_t n, size_t size);
void bpi_free(void *p);

/* n * size, or 0 with *overflow set when it exceeds PTRDIFF_MAX. */
size_t bpi_mul_size(size_t n, size_t size, int *overflow);

/* Grows *buf to hold at least n doubles (contents not kept); BP_ENOMEM. */
bp_status bpi_reserve(double **buf, size_t *cap, size_t n);
bp_status bpi_reserve_int(int **buf, size_t *cap, size_t n);   /* the same for ints */

/* mark[i] = 1 for out and every node it depends on, 0 for the others below
 * out (marks above out->id are left as they are); with grad_only, only
 * through inputs that need a gradient. */
void bpi_mark_ancestors(bp_graph *g, const bp_node *out, int grad_only);

/* Records the graph's first error; returns status.  Later errors are
 * dropped (the sticky error). */
bp_status bpi_fail(bp_graph *g, bp_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Fills err (which may be NULL) with status and a printf-style message;
 * returns status.  For the functions outside a graph (file readers, ...). */
bp_status bpi_set_error(bp_error *err, bp_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* While hold is set, an op flagged BP_OP_RANDOM reuses the draws of its
 * last forward (bp_op_args.rng NULL) instead of drawing afresh, where it
 * has drawn at its present shape, scratch and mode: the gradient checker
 * differentiates a function of fixed draws so. */
void bpi_graph_hold_draws(bp_graph *g, int hold);

/* Returns param n to having no gradient (bp_node_grad NULL), as before
 * its first backward; the gradient checker restores what it found so. */
void bpi_node_drop_grad(bp_node *n);

/* For a function that takes a graph and a bp_error (files, pictures, the
 * batcher): status is its result and found the message it wrote.  A
 * failure is recorded in g (which keeps an earlier first error), and err
 * (may be NULL) receives the same status and message, so both channels
 * agree; BP_OK clears err.  Returns status. */
bp_status bpi_report(bp_graph *g, bp_status status, bp_error *found, bp_error *err);

/* bp_node_set_value without the copy: checks that leaf n takes a rows×cols
 * value, makes room for it and points *data at the node's buffer, for the
 * caller to fill.  Errors as bp_node_set_value's, recorded in the graph. */
bp_status bpi_node_prepare_value(bp_node *n, size_t rows, size_t cols, double **data);

/* Replaces path with the n_parts buffers: written to a temporary file
 * beside it (.NAME.tmp-PID-XXXXXX; temporaries of earlier killed saves of
 * path are removed first), fsynced and renamed over path, so a failure
 * never damages an existing file (the temporary is removed).  An existing file's permission bits are
 * kept; a new file gets 0666 less the umask.  BP_EIO or BP_ENOMEM through
 * err (may be NULL), naming path; BP_OK clears err. */
bp_status bpi_write_file_atomic(const char *path, const void *const *parts,
                                const size_t *sizes, size_t n_parts, bp_error *err);

/* C (m×n) = alpha·op(A)·op(B) + beta·C, row-major, with cblas_dgemm's
 * meaning (op(X) = Xᵀ when trans_x is set; beta = 0 never reads C), but a
 * product with a side of 1 runs on dgemv or as an outer product. */
void bpi_gemm(int trans_a, int trans_b, int m, int n, int k, double alpha, const double *A,
              int lda, const double *B, int ldb, double beta, double *C, int ldc);

/* The checked conversion of a matrix dimension to a BLAS/LAPACK int. */
int bpi_fits_int(size_t n);

/* The graph core's own (core/graph.c, shared with core/run.c). */
const char *bpi_kind_name(enum bpi_node_kind kind);    /* "input", "param", ... */
void bpi_op_label(const bp_node *n, char *buf, size_t size);   /* "matmul 'h1'" */
/* Fills args for node n; value, dout and din as the pass needs them. */
void bpi_make_args(bp_node *n, bp_op_args *a, char *msg, size_t msg_size);
/* Records "label: stage msg" (or the status's text) in n's graph. */
bp_status bpi_op_error(bp_node *n, bp_status st, const char *stage, const char *msg);
/* Runs n's shape rule; on failure the old shape stays and the error is
 * recorded. */
bp_status bpi_run_shape(bp_node *n, const char *stage);

/* Shapes (core/shape.c). */
/* The matrix view of s: rows = dim[0]·...·dim[rank−2], cols = dim[rank−1]. */
void bpi_shape_matrix(const bp_shape *s, size_t *rows, size_t *cols);
/* The element count; *overflow set when its byte count overflows. */
size_t bpi_shape_size(const bp_shape *s, int *overflow);
int bpi_shapes_equal(const bp_shape *a, const bp_shape *b);
/* "32x7x64" into buf (size bytes); returns buf. */
const char *bpi_shape_str(const bp_shape *s, char *buf, size_t size);
#define BPI_SHAPE_STR 96   /* room for any shape's string */

/* Convenience for the built-in ops' wrappers. */
bp_node *bpi_apply1(bp_graph *g, const bp_op *op, bp_node *a, const double *attr);
bp_node *bpi_apply2(bp_graph *g, const bp_op *op, bp_node *a, bp_node *b);

#endif
