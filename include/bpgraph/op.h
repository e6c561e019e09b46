/* SPDX-License-Identifier: MIT */
/* bpgraph: Operations: the op declaration and the registry.  Part of <bpgraph.h>; include that. */
#ifndef BPGRAPH_OP_H
#define BPGRAPH_OP_H

#include "matrix.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Operations                                                                */
/* ------------------------------------------------------------------------ */

/*
 * Every operation, built-in or user-made, is one bp_op: a name, its arity,
 * a shape rule, a forward, a backward, and what the gradient checker must
 * know about its inputs.  The graph calls the three functions with a
 * bp_op_args describing one node.
 */

#define BP_MAX_INPUTS 4   /* most inputs an op may take */
#define BP_MAX_ATTRS 4    /* most constant attributes an op may take */

struct bp_rng;   /* the random generator (<bpgraph/train.h>) */

typedef struct bp_op_args {
    size_t n_in;                        /* number of inputs */
    const bp_matrix *in[BP_MAX_INPUTS]; /* input values, as matrix views
                                           (shapes: in_shape); in shape()
                                           only rows and cols are set */
    bp_matrix *out;                     /* output value */
    const double *attr;                 /* the node's constant attributes */

    /* Backward only. */
    const bp_matrix *dout;              /* gradient of the loss w.r.t. out */
    bp_matrix *din[BP_MAX_INPUTS];      /* gradients to ADD into; NULL for an
                                           input that needs no gradient */
    unsigned din_fresh;                 /* bit i: din[i] holds nothing yet and
                                           its contents are undefined; set
                                           only for BP_OP_ASSIGN_FRESH ops */

    /* Scratch kept from forward to backward; sizes set by shape(). */
    double *work;
    size_t n_work;
    int *iwork;
    size_t n_iwork;

    /* Where an op may write an error message (see bp_op_fail). */
    char *msg;
    size_t msg_size;

    /* Nonzero when backward may overwrite dout's entries, as scratch: in
     * in-place mode (bp_graph_set_inplace), where nothing reads an op
     * node's gradient after its backward, for every op not flagged
     * BP_OP_INPLACE (whose dout may be din[0]).  shape() sees the value
     * the next backward will, so an op can leave n_work at 0 when it
     * will work in dout.  (Last, so that ops built against an older
     * header still find the other fields where they were.) */
    int dout_writable;

    /* The tensor shapes of the inputs and the output, whose matrix views
     * in[] and out are.  shape() of a BP_OP_TENSORS op sets *out_shape
     * (then out->rows/cols are derived from it); an op that sets only
     * out->rows/cols gives a matrix. */
    const bp_shape *in_shape[BP_MAX_INPUTS];
    bp_shape *out_shape;

    /* The graph's mode and random numbers (bp_graph_set_training,
     * bp_graph_set_seed).  training: nonzero in training mode, as the
     * graph was at this node's last forward; shape(), forward and the
     * backward after it see the same value, so a backward matches its
     * forward even when the mode changed in between.  rng: only in the
     * forward of a BP_OP_RANDOM op, and there the graph's generator to
     * draw fresh numbers from, or NULL when the op must reuse those it
     * drew at its last forward (kept in its scratch: work or iwork).  The
     * gradient checker holds the draws so while it takes differences.
     * NULL in shape() and backward, and for ops without the flag. */
    int training;
    struct bp_rng *rng;
} bp_op_args;

/* shape: from the inputs' shapes, set the output's — out->rows/cols (a
 *        matrix), or *out_shape for a BP_OP_TENSORS op — and n_work/n_iwork
 *        if the op needs scratch.  Return BP_OK, or an error through
 *        bp_op_fail (e.g. BP_EDIM with the offending shapes).
 * forward: compute out from in.  Must not allocate.
 * backward: ADD the gradient of each input into din[i] when din[i] is not
 *        NULL (beta = 1: an input used twice receives both contributions).
 *        It may read in, out, attr and the scratch left by forward.  An op
 *        flagged BP_OP_ASSIGN_FRESH must instead ASSIGN every element of
 *        din[i] when bit i of din_fresh is set (beta = 0); the graph then
 *        skips zeroing that buffer first, which saves a pass over memory. */
typedef bp_status (*bp_shape_fn)(bp_op_args *args);
typedef bp_status (*bp_forward_fn)(bp_op_args *args);
typedef bp_status (*bp_backward_fn)(bp_op_args *args);

/* Where an input of an op may be sampled by the gradient checker. */
typedef enum bp_domain_kind {
    BP_DOMAIN_REAL = 0,   /* any real number */
    BP_DOMAIN_POSITIVE,   /* x > 0 */
    BP_DOMAIN_NONZERO,    /* x != 0 */
    BP_DOMAIN_INTERVAL,   /* lo < x < hi */
    BP_DOMAIN_SPD,        /* a symmetric positive definite square matrix */
    BP_DOMAIN_INVERTIBLE, /* a well-conditioned square matrix */
    BP_DOMAIN_INDEX       /* integer ids 0 ≤ id < n, n the size of axis
                             index_axis (0 by default) of input index_of
                             (e.g. rows of a table, or classes on the
                             logits' last axis), or the ignore value
                             (ignore_attr): never perturbed, no gradient
                             checked */
} bp_domain_kind;

/* Kinds of non-differentiable points, so the checker samples away from them. */
#define BP_KINK_AT   1u   /* the op is not differentiable at x == kink */
#define BP_KINK_TIES 2u   /* nor where two entries of one row are equal */

/* The checker samples REAL, POSITIVE and NONZERO inputs (and the open
 * side of a half-bounded INTERVAL) across magnitudes: half near 1, a
 * quarter log-uniform in magnitude from 1e-2 up to max_abs, a quarter in
 * max_abs's top decade, so that a derivative wrong only for large or small
 * inputs is found.  Declare max_abs where
 * larger inputs are meaningless (exp overflows past 709). */
#define BP_DOMAIN_MAX_ABS_DEFAULT 1e3

typedef struct bp_domain {
    bp_domain_kind kind;
    double lo, hi;        /* BP_DOMAIN_INTERVAL bounds */
    unsigned kinks;       /* BP_KINK_* flags */
    double kink;          /* the point for BP_KINK_AT */
    double max_abs;       /* largest |x| worth sampling (an INTERVAL's
                             distance from its finite bound); 0: the
                             default, BP_DOMAIN_MAX_ABS_DEFAULT */
    size_t index_of;      /* BP_DOMAIN_INDEX: the input the ids index */
    /* Added after index_of, so that declarations written before keep
     * their meaning with these at 0. */
    int index_axis;       /* BP_DOMAIN_INDEX: the axis of input index_of
                             whose size bounds the ids, negative from the
                             end (−1: the last); 0, the default: axis 0 */
    size_t ignore_attr;   /* BP_DOMAIN_INDEX: 0, or k when attribute k − 1
                             holds an id that means "ignore this entry"
                             (an ignore_index), which the checker then
                             samples too, about one id in four */
} bp_domain;

/* bp_op.flags */
#define BP_OP_STOP_GRAD 1u     /* output carries no gradient (detach) */
#define BP_OP_ASSIGN_FRESH 2u  /* backward honours bp_op_args.din_fresh */
#define BP_OP_INPLACE 4u       /* may run in place (bp_graph_set_inplace):
                                  forward with out == in[0], each element
                                  read before it is written; backward reads
                                  out and dout but never in[0], and with
                                  din_fresh bit 0 may find din[0] == dout.
                                  Needs BP_OP_ASSIGN_FRESH as well. */
#define BP_OP_BWD_NO_OUT 8u    /* backward never reads out, so a consumer
                                  may overwrite this op's value in place */
#define BP_OP_TENSORS 16u      /* takes inputs of any rank 1..BP_MAX_RANK
                                  (read in_shape) and may give its output a
                                  rank and shape (out_shape).  Without it an
                                  op is given inputs of rank 1 or 2 only,
                                  and its output is the rows x cols matrix
                                  its shape() sets, as before tensors. */
#define BP_OP_VIEW 32u         /* the output is in[0]'s value read in
                                  another shape with the same number of
                                  elements (a reshape): the graph points
                                  out->data at in[0]'s data, so forward
                                  copies nothing and must write nothing;
                                  backward adds dout into din[0] as usual.
                                  Needs BP_OP_TENSORS. */
#define BP_OP_RANDOM 64u       /* forward draws random numbers (dropout):
                                  from bp_op_args.rng when it is not NULL,
                                  keeping what it drew in its scratch for
                                  backward; with rng NULL it reuses those
                                  draws, which the graph guarantees are
                                  there (drawn at the node's present shape,
                                  scratch sizes and mode).  Not with
                                  BP_OP_VIEW, which writes nothing. */

typedef struct bp_op {
    const char *name;         /* unique, e.g. "matmul" */
    const char *doc;          /* one line: what it computes */
    size_t n_in;              /* number of inputs, 1..BP_MAX_INPUTS */
    size_t n_attr;            /* number of double attributes, 0..BP_MAX_ATTRS */
    bp_shape_fn shape;
    bp_forward_fn forward;
    bp_backward_fn backward;  /* may be NULL only with BP_OP_STOP_GRAD */
    unsigned flags;           /* BP_OP_* */

    /* For the gradient checker. */
    bp_domain domain[BP_MAX_INPUTS]; /* where each input may be sampled */
    unsigned linear;          /* bit i set: affine in input i when the others
                                 are fixed (its derivative does not depend
                                 on it), so differences in it are exact */
    const double *check_attr; /* n_check_attr sets of n_attr values to try */
    size_t n_check_attr;
} bp_op;

/* Writes a printf-style message into args->msg and returns status; for use
 * in an op's shape, forward and backward.  The graph prefixes the op name. */
BP_WARN_UNUSED
bp_status bp_op_fail(bp_op_args *args, bp_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Checks an op declaration for completeness (name, arity, functions, flags:
 * BP_OP_INPLACE without BP_OP_ASSIGN_FRESH, BP_OP_VIEW without
 * BP_OP_TENSORS or with BP_OP_INPLACE or BP_OP_RANDOM, are refused); BP_OK
 * or BP_EINVAL. */
BP_WARN_UNUSED
bp_status bp_op_validate(const bp_op *op);

/* The built-in ops, in a fixed order (borrowed, static). */
size_t bp_builtin_count(void);
const bp_op *bp_builtin(size_t i);   /* NULL when i >= bp_builtin_count() */

/* A registry: a list of ops by name, holding the built-ins and any that a
 * program or plugin adds.  Registries are independent objects.  Fill one at
 * set-up time, before other threads see it; afterwards it is read-only, and
 * any number of threads may call bp_registry_count/get/find on it and apply
 * its ops at once.  Adding while another thread reads it is a data race. */
typedef struct bp_registry bp_registry;

/* A new registry holding every built-in op (new), or NULL when memory runs
 * out. */
bp_registry *bp_registry_new(void);
void bp_registry_free(bp_registry *reg);

/* Adds op (borrowed: it must outlive the registry).  BP_EINVAL when the op
 * fails bp_op_validate or its name is taken; BP_ENOMEM. */
BP_WARN_UNUSED
bp_status bp_registry_add(bp_registry *reg, const bp_op *op);

size_t bp_registry_count(const bp_registry *reg);
const bp_op *bp_registry_get(const bp_registry *reg, size_t i); /* borrowed */
const bp_op *bp_registry_find(const bp_registry *reg, const char *name);

/* The entry point a gradcheck plugin (a shared object) exports: it adds its
 * ops with bp_registry_add and returns 0, or nonzero on failure. */
typedef int (*bp_plugin_init_fn)(bp_registry *reg);
#define BP_PLUGIN_INIT_SYMBOL "bpgraph_plugin_init"

#ifdef __cplusplus
}
#endif

#endif /* BPGRAPH_OP_H */
