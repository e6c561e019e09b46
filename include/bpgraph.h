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

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BP_VERSION_MAJOR 0
#define BP_VERSION_MINOR 1
#define BP_VERSION_PATCH 0

/* ------------------------------------------------------------------------ */
/* Status codes                                                              */
/* ------------------------------------------------------------------------ */

typedef enum bp_status {
    BP_OK = 0,
    BP_ENOMEM,     /* an allocation failed */
    BP_EINVAL,     /* an invalid argument: NULL, a node of another graph, ... */
    BP_EDIM,       /* shapes that do not fit the operation */
    BP_ESTATE,     /* a call out of order: backward before forward, ... */
    BP_ENUMERIC,   /* a NaN or infinity where a finite number is required */
    BP_ESINGULAR,  /* a singular or not positive definite matrix */
    BP_EIO,        /* a file could not be opened, read or written */
    BP_EPARSE,     /* a file's contents are malformed */
    BP_ENOTFOUND,  /* a name (column, op) that does not exist */
    BP_STATUS_COUNT
} bp_status;

/* A short English description of a status code; never NULL (borrowed,
 * static). */
const char *bp_strerror(bp_status status);

/* Where functions outside a graph (file readers, ...) report what went
 * wrong.  Every such function takes a bp_error * that may be NULL. */
typedef struct bp_error {
    bp_status status;
    char message[512];   /* names the file, line and column where relevant */
} bp_error;

/* Memory: every allocation and free the library makes goes through these
 * two functions (malloc and free by default), as with jansson's
 * json_set_alloc_funcs.  Set them once, before creating any bpgraph object,
 * and not while another thread uses the library; NULL for both restores the
 * defaults.  BP_EINVAL when only one is NULL.  Useful to count allocations
 * or to make the N-th fail in a test.  (BLAS and LAPACK allocate on their
 * own and are not covered.) */
typedef void *(*bp_malloc_fn)(size_t size);
typedef void (*bp_free_fn)(void *ptr);
bp_status bp_set_alloc_funcs(bp_malloc_fn malloc_fn, bp_free_fn free_fn);
void bp_get_alloc_funcs(bp_malloc_fn *malloc_fn, bp_free_fn *free_fn);

/* ------------------------------------------------------------------------ */
/* Matrices                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct bp_matrix {
    size_t rows;
    size_t cols;
    double *data;   /* rows * cols doubles, row-major, no padding */
} bp_matrix;

/* A new rows x cols matrix of zeros (new: free with bp_matrix_free).
 * Returns NULL when rows * cols * sizeof(double) overflows or memory runs
 * out.  A 0 x n or n x 0 matrix is valid and has data == NULL. */
bp_matrix *bp_matrix_alloc(size_t rows, size_t cols);

/* A new copy of src (new), or NULL when src is NULL or memory runs out. */
bp_matrix *bp_matrix_copy(const bp_matrix *src);

/* Frees m and its data; NULL is allowed. */
void bp_matrix_free(bp_matrix *m);

/* Element (i, j); no bounds check. */
static inline double bp_matrix_get(const bp_matrix *m, size_t i, size_t j)
{
    return m->data[i * m->cols + j];
}

static inline void bp_matrix_set(bp_matrix *m, size_t i, size_t j, double v)
{
    m->data[i * m->cols + j] = v;
}

/* Largest |a(i,j) - b(i,j)|, or -1 when the shapes differ, either is NULL,
 * or rows * cols * sizeof(double) overflows. */
double bp_matrix_max_abs_diff(const bp_matrix *a, const bp_matrix *b);

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

typedef struct bp_op_args {
    size_t n_in;                        /* number of inputs */
    const bp_matrix *in[BP_MAX_INPUTS]; /* input values; in shape() only
                                           rows and cols are set */
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
} bp_op_args;

/* shape: from in[i]->rows/cols, set out->rows/cols, and n_work/n_iwork if
 *        the op needs scratch.  Return BP_OK, or an error through
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
    BP_DOMAIN_INVERTIBLE  /* a well-conditioned square matrix */
} bp_domain_kind;

/* Kinds of non-differentiable points, so the checker samples away from them. */
#define BP_KINK_AT   1u   /* the op is not differentiable at x == kink */
#define BP_KINK_TIES 2u   /* nor where two entries of one row are equal */

typedef struct bp_domain {
    bp_domain_kind kind;
    double lo, hi;        /* BP_DOMAIN_INTERVAL bounds */
    unsigned kinks;       /* BP_KINK_* flags */
    double kink;          /* the point for BP_KINK_AT */
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
bp_status bp_op_fail(bp_op_args *args, bp_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Checks an op declaration for completeness (name, arity, functions, flags:
 * BP_OP_INPLACE without BP_OP_ASSIGN_FRESH is refused); BP_OK or
 * BP_EINVAL. */
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
bp_status bp_registry_add(bp_registry *reg, const bp_op *op);

size_t bp_registry_count(const bp_registry *reg);
const bp_op *bp_registry_get(const bp_registry *reg, size_t i); /* borrowed */
const bp_op *bp_registry_find(const bp_registry *reg, const char *name);

/* The entry point a gradcheck plugin (a shared object) exports: it adds its
 * ops with bp_registry_add and returns 0, or nonzero on failure. */
typedef int (*bp_plugin_init_fn)(bp_registry *reg);
#define BP_PLUGIN_INIT_SYMBOL "bpgraph_plugin_init"

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
 * or NULL on error.  name may be NULL; it is copied.
 *  - input: data given before a forward with bp_node_set_value (a copy)
 *    or bp_node_bind_value (no copy); never receives a gradient.  Its
 *    number of rows may change between runs.
 *  - param: a trainable matrix, initialised to zeros; receives gradients.
 *  - constant: fixed data, copied from data (rows * cols doubles). */
bp_node *bp_input(bp_graph *g, size_t rows, size_t cols, const char *name);
bp_node *bp_param(bp_graph *g, size_t rows, size_t cols, const char *name);
bp_node *bp_constant(bp_graph *g, size_t rows, size_t cols,
                     const double *data, const char *name);

/* Applies op to n_in nodes with attributes attr (op->n_attr values; may be
 * NULL when n_attr is 0).  Returns the new node, or NULL with the error in
 * the graph: BP_EINVAL for a NULL or foreign input or a wrong count,
 * BP_EDIM when the op's shape rule rejects the input shapes. */
bp_node *bp_apply(bp_graph *g, const bp_op *op, size_t n_in,
                  bp_node *const *in, const double *attr);

/* Built-in ops.  Each is bp_apply with the built-in op of that name.
 * Elementwise binary ops broadcast in two dimensions: each dimension of the
 * two operands is equal, or 1 in one of them. */
bp_node *bp_matmul(bp_graph *g, bp_node *a, bp_node *b);      /* A·B */
bp_node *bp_transpose(bp_graph *g, bp_node *a);               /* Aᵀ */
bp_node *bp_add(bp_graph *g, bp_node *a, bp_node *b);         /* a + b */
bp_node *bp_sub(bp_graph *g, bp_node *a, bp_node *b);         /* a − b */
bp_node *bp_mul(bp_graph *g, bp_node *a, bp_node *b);         /* a ⊙ b */
bp_node *bp_div(bp_graph *g, bp_node *a, bp_node *b);         /* a ⊘ b */
bp_node *bp_neg(bp_graph *g, bp_node *a);                     /* −a */
bp_node *bp_scale(bp_graph *g, bp_node *a, double c);         /* c·a */
bp_node *bp_exp(bp_graph *g, bp_node *a);
bp_node *bp_log(bp_graph *g, bp_node *a);
bp_node *bp_pow(bp_graph *g, bp_node *a, double p);           /* a^p */
bp_node *bp_sqrt(bp_graph *g, bp_node *a);
bp_node *bp_relu(bp_graph *g, bp_node *a);
bp_node *bp_sigmoid(bp_graph *g, bp_node *a);
bp_node *bp_tanh(bp_graph *g, bp_node *a);
bp_node *bp_rowsum(bp_graph *g, bp_node *a);   /* m×n → m×1, sum of each row */
bp_node *bp_colsum(bp_graph *g, bp_node *a);   /* m×n → 1×n, sum of each column */
bp_node *bp_sum(bp_graph *g, bp_node *a);      /* m×n → 1×1 */
bp_node *bp_mean(bp_graph *g, bp_node *a);     /* m×n → 1×1 */
bp_node *bp_rowmax(bp_graph *g, bp_node *a);   /* m×n → m×1; the gradient goes
                                                  to the first arg-max */
bp_node *bp_softmax(bp_graph *g, bp_node *a);  /* fused, row-wise */
bp_node *bp_dense(bp_graph *g, bp_node *x, bp_node *w, bp_node *b); /* x·W + b */
/* relu(x·W + b) as one op: the same result as bp_relu(g, bp_dense(...))
 * (gradient 0 where x·W + b = 0, as bp_relu's), in one node, and faster on
 * narrow layers: it works through the rows in cache-sized blocks. */
bp_node *bp_dense_relu(bp_graph *g, bp_node *x, bp_node *w, bp_node *b);
bp_node *bp_mse(bp_graph *g, bp_node *pred, bp_node *target);
    /* mean over all entries of (pred − target)² → 1×1 */
bp_node *bp_nll(bp_graph *g, bp_node *prob, bp_node *target);
    /* −(1/m) Σ target ⊙ log(prob) over an m-row batch → 1×1 */
bp_node *bp_softmax_ce(bp_graph *g, bp_node *logits, bp_node *target);
    /* nll(softmax(logits), target), fused: gradient (p − target)/m */
bp_node *bp_detach(bp_graph *g, bp_node *a);   /* value of a, no gradient */

/* The lesson's staged softmax, built from graph nodes:
 *   shifted = a − detach(rowmax(a)); e = exp(shifted);
 *   s = rowsum(e); r = pow(s, −1); out = e ⊙ r.
 * Returns the output node (the intermediate nodes are named "softmax.*"). */
bp_node *bp_softmax_staged(bp_graph *g, bp_node *a);

/* Linear algebra (LAPACKE).  Each is bp_apply with the built-in op of that
 * name and returns a new node owned by g, or NULL with the error in g.
 *  - Building: BP_EDIM when A is not square (lstsq: has fewer rows than
 *    columns), B's rows differ from A's, or a size (including n·n) does not
 *    fit LAPACK's 32-bit integers.
 *  - bp_forward: BP_ESINGULAR for a singular or not positive definite
 *    matrix, with a message naming the op, the LAPACK routine and its info
 *    value, e.g. "solve: forward: dgesv: U(3,3) is exactly zero (info 3),
 *    matrix A (3x3) is singular"; BP_ENUMERIC when the result is not finite
 *    (a numerically singular A, or a non-finite input).  No op passes a
 *    matrix of NaN on silently.
 *  - Factorisations made in forward are kept for backward. */

/* X = A⁻¹B: (n×n)·(n×k) → n×k, by LU with partial pivoting (dgesv).
 * Gradients dB = A⁻ᵀG, dA = −dB·Xᵀ. */
bp_node *bp_solve(bp_graph *g, bp_node *a, bp_node *b);

/* A⁻¹: n×n → n×n (dgetrf, dgetri).  Gradient dA = −A⁻ᵀ G A⁻ᵀ. */
bp_node *bp_inv(bp_graph *g, bp_node *a);

/* The lower triangular L with L·Lᵀ = A, for symmetric positive definite A:
 * n×n → n×n (dpotrf).  L's upper triangle is zero.  Only A's lower triangle
 * is read: A is taken to be symmetric.  The gradient dA is symmetric — the
 * gradient with respect to a symmetric matrix, so that a symmetric change E
 * of A changes the loss by Σ dA(i,j)·E(i,j); moving A(i,j) and A(j,i)
 * together by h changes it by (dA(i,j) + dA(j,i))·h.  Keep A symmetric
 * (e.g. M·Mᵀ + c·I, or a param updated only by symmetric gradients).
 * BP_ESINGULAR when A is not positive definite. */
bp_node *bp_cholesky(bp_graph *g, bp_node *a);

/* log det A for symmetric positive definite A: n×n → 1×1, as 2·Σ log L(i,i)
 * of its Cholesky factor, so it does not overflow where det would.  Reads
 * A's lower triangle; the gradient dA = G·A⁻¹ is symmetric, with the same
 * convention as bp_cholesky.  BP_ESINGULAR when A is not positive
 * definite. */
bp_node *bp_logdet(bp_graph *g, bp_node *a);

/* det A: n×n → 1×1, the product of U's diagonal from dgetrf, its sign from
 * the row interchanges.  Gradient dA = G·det(A)·A⁻ᵀ.  A singular A is not
 * an error in forward: det is then exactly 0.  Its backward fails with
 * BP_ESINGULAR for n > 1 (the gradient there, the cofactor matrix, is not
 * computed); for n = 1 it is G.  BP_ENUMERIC when det overflows a double
 * (use bp_logdet). */
bp_node *bp_det(bp_graph *g, bp_node *a);

/* X = argmin ‖A·X − B‖₂, column by column: (m×n)·(m×k) → n×k, for A with
 * m ≥ n and full column rank (dgels, by QR).  Gradients, with residual
 * r = B − A·X and Y = (AᵀA)⁻¹G: dB = A·Y, dA = r·Yᵀ − A·Y·Xᵀ.
 * BP_ESINGULAR when R has an exactly zero diagonal entry (A rank
 * deficient); a nearly rank deficient A is not detected. */
bp_node *bp_lstsq(bp_graph *g, bp_node *a, bp_node *b);

/* Node accessors.  A node pointer is borrowed from its graph. */
const char *bp_node_name(const bp_node *n);      /* "" when unnamed */
bp_status bp_node_set_name(bp_node *n, const char *name);
const bp_op *bp_node_op(const bp_node *n);       /* NULL for a leaf */
size_t bp_node_n_inputs(const bp_node *n);
bp_node *bp_node_input(const bp_node *n, size_t i);
size_t bp_node_rows(const bp_node *n);           /* current shape */
size_t bp_node_cols(const bp_node *n);
int bp_node_is_param(const bp_node *n);
int bp_node_requires_grad(const bp_node *n);     /* a param, or an op node
                                                    that depends on one */

/* Copies src into a leaf's value.  An input takes any number of rows with
 * its declared columns; a param or constant takes exactly its shape.
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
 * works; buffers are reallocated only when a node grows. */
bp_status bp_forward(bp_graph *g, bp_node *out);

/* Backpropagates from out, which the last bp_forward must have computed.
 * seed is dL/d(out): it may be NULL only when out is 1x1 (seed 1);
 * otherwise it must have out's shape.  Gradients are ADDED into every param
 * that out depends on.  BP_ESTATE when out was not computed by the last
 * forward or depends on no param; BP_EDIM for a seed of the wrong shape. */
bp_status bp_backward(bp_graph *g, bp_node *out, const bp_matrix *seed);

/* Sets every param's gradient to zero. */
void bp_zero_grad(bp_graph *g);

/* In-place mode, off by default.  When on, an op flagged BP_OP_INPLACE
 * (relu, sigmoid, tanh, exp, sqrt, neg, scale, softmax) whose input is an
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

/* ------------------------------------------------------------------------ */
/* Gradient checking                                                         */
/* ------------------------------------------------------------------------ */

/*
 * The checker compares analytic derivatives (from bp_backward) with finite
 * differences.  Each derivative is taken by central differences with a
 * per-element step h = step_scale · cbrt(eps) · max(1, |x|), made exact
 * as (x + h) − x; with richardson set, a 4-point stencil
 * (4·D(h) − D(2h)) / 3 is used and |it − D(h)| is the entry's error
 * estimate.  An entry passes when
 *     |a − n| ≤ atol + rtol · max(|a|, |n|) + estimate
 * where the estimate also holds a bound on the rounding in the difference
 * quotient.  Reported relative errors are |a − n| / max(|a|, |n|, atol/rtol),
 * so entries at the atol level do not show as large relative errors.
 *
 * bp_gradcheck_op derives an op's cases from the op itself: input shapes
 * (1×1, 1×n, n×1, m×n in both orientations, every broadcast pattern) that
 * its shape rule accepts, each attribute set of check_attr, inputs sampled
 * from each input's bp_domain away from its kinks, and a fixed seed.  Small
 * cases compare the full Jacobian; larger ones vᵀJu probes with random
 * signed u and v, re-checked element by element when a probe fails.  It
 * also checks the backward contract: a zero seed gives exactly zero, the
 * gradient is linear in the seed, a second backward accumulates, and an op
 * given one node as both its first inputs matches the differences of
 * f(x, x).  A BP_OP_STOP_GRAD op is checked to pass no gradient.  Every
 * other case runs in in-place mode (bp_graph_set_inplace), and for a
 * BP_OP_ASSIGN_FRESH op with its inputs behind op nodes, so that the paths
 * for dout_writable, din_fresh and BP_OP_INPLACE are checked too.
 */

/* Outcome of a check, ordered by severity. */
typedef enum bp_check_result {
    BP_CHECK_PASS = 0,
    BP_CHECK_MISMATCH,    /* an analytic derivative or contract is wrong */
    BP_CHECK_NONFINITE,   /* a NaN or infinity in a value or gradient */
    BP_CHECK_ERROR        /* an op or the graph returned an error, or no
                             case could be built (see message) */
} bp_check_result;

#define BP_CHECK_ALL ((size_t)-1)   /* bp_check_options.only_case: every case */
#define BP_CHECK_NONE ((size_t)-1)  /* bp_check_entry.out_row/out_col: the
                                       entry is of a weighted sum or probe */

typedef struct bp_check_options {
    unsigned long long seed;  /* sampling seed; same seed, same cases */
    double eps;               /* rounding unit used to choose the step */
    double step_scale;        /* c in h = c · cbrt(eps) · max(1, |x|) */
    double atol;              /* absolute tolerance */
    double rtol;              /* relative tolerance */
    int richardson;           /* nonzero: 4-point stencil + error estimate */
    int contracts;            /* nonzero: also check the backward contract */
    size_t max_cases;         /* shape cases per attribute set (op checks) */
    size_t jacobian_max;      /* full Jacobian when input elements × output
                                 elements ≤ this; probes above */
    size_t n_probes;          /* vᵀJu probes per larger case */
    size_t graph_elementwise_max; /* bp_gradcheck_graph differentiates every
                                 param element when there are at most this
                                 many; probes above */
    double kink_margin;       /* keep samples this far (× max(1, |kink|))
                                 from a kink or a tie */
    size_t only_case;         /* BP_CHECK_ALL, or the one case to run (its
                                 number in a report, for replaying it) */
} bp_check_options;

/* The defaults: seed 1, eps DBL_EPSILON, step_scale 1, atol 1e-6,
 * rtol 1e-5, richardson on, contracts on, max_cases 24, jacobian_max 1024,
 * n_probes 4, graph_elementwise_max 4096, kink_margin 1e-2, only_case
 * BP_CHECK_ALL. */
bp_check_options bp_check_options_default(void);

/* One compared derivative. */
typedef struct bp_check_entry {
    size_t case_index;     /* the case it belongs to */
    size_t input;          /* op input, or param number in graph order */
    char input_name[32];   /* "in0".. for ops, the param's name for graphs */
    size_t row, col;       /* the element of that input (for a probe whose
                              re-check found nothing: BP_CHECK_NONE) */
    size_t out_row, out_col; /* the output element of a Jacobian entry, or
                              BP_CHECK_NONE */
    double x;              /* the input element's value */
    double analytic;
    double numeric;
    double error;          /* |analytic − numeric| */
    double estimate;       /* error estimate of numeric (Richardson + rounding) */
    double allowed;        /* atol + rtol · max(|a|, |n|) + estimate */
} bp_check_entry;

/* One case of a check: a set of input shapes, an attribute set, a sample. */
typedef struct bp_check_case {
    size_t index;          /* the case number (for only_case) */
    char label[128];       /* e.g. "2x3, 1x3 -> 2x3 attr 2.385 [jacobian]" */
    size_t attr_set;       /* index into check_attr (0 without attributes) */
    size_t n_compared;     /* derivatives compared */
    double max_abs_err;
    double max_rel_err;
    bp_check_result result;
    char diagnosis[128];   /* "" or a one-line reading of a mismatch */
} bp_check_case;

#define BP_CHECK_MAX_WORST 8

typedef struct bp_check_report {
    bp_check_result result;  /* the most severe over all cases */
    char name[64];           /* the op's name, or "graph" */
    bp_check_options options;  /* the options used */
    size_t n_cases;
    bp_check_case *cases;    /* n_cases entries, owned by the report */
    size_t n_failed;         /* cases that did not pass */
    size_t failed_case;      /* the case of worst[0] when not passing (to
                                replay with only_case), else BP_CHECK_NONE */
    size_t n_compared;
    double max_abs_err;
    double max_rel_err;
    size_t n_worst;
    bp_check_entry worst[BP_CHECK_MAX_WORST]; /* largest error / allowed
                                first; failing entries when there are any */
    char diagnosis[128];     /* failed_case's diagnosis, e.g. "sign flipped
                                (analytic ≈ −numeric)"; "" when none fits */
    char message[512];       /* the first contract failure or error, or "" */
} bp_check_report;

/* Releases what a report owns and zeroes it; NULL is allowed.  The check
 * functions overwrite *report without releasing it first, so call this
 * between checks that reuse one report. */
void bp_check_report_clear(bp_check_report *report);

/* Checks every case of op (see above).  opt may be NULL for the defaults.
 * Returns BP_OK when the check ran, whatever its result (read
 * report->result); BP_EINVAL for a NULL op or report, an op that fails
 * bp_op_validate, or a max_cases so large that the case count overflows;
 * BP_ENOMEM.  Never prints. */
bp_status bp_gradcheck_op(const bp_op *op, const bp_check_options *opt,
                          bp_check_report *report);

/* Checks the gradient of out with respect to every param of g by finite
 * differences on the params' values: out itself when it is 1x1, else a
 * random weighted sum of its entries.  With contracts on it also checks
 * that a zero seed gives zero and that a second backward accumulates.
 * Every param's value is restored exactly and its gradient restored to
 * what it was; the graph is left forwarded to out.  Returns as
 * bp_gradcheck_op; BP_ESTATE when out depends on no param. */
bp_status bp_gradcheck_graph(bp_graph *g, bp_node *out,
                             const bp_check_options *opt,
                             bp_check_report *report);

/* The checker's finite difference for one scalar function: f'(x) with the
 * step and stencil of opt (NULL: defaults).  *estimate (may be NULL)
 * receives the error estimate (Richardson + rounding); NaN when f
 * returns a non-finite value. */
double bp_numeric_derivative(double (*f)(double x, void *ctx), void *ctx,
                             double x, const bp_check_options *opt,
                             double *estimate);

/* ------------------------------------------------------------------------ */
/* Training: random numbers, initialisation, splits, batches, scaling        */
/* ------------------------------------------------------------------------ */

/* A small seeded generator (xoshiro256**, its state expanded from the seed
 * by splitmix64), so that runs repeat exactly on every platform; the
 * library never uses rand().  A bp_rng is a plain value: copy it to replay
 * a sequence. */
typedef struct bp_rng {
    uint64_t s[4];
} bp_rng;

void bp_rng_seed(bp_rng *rng, uint64_t seed);
uint64_t bp_rng_next(bp_rng *rng);          /* 64 random bits */
double bp_rng_uniform(bp_rng *rng);         /* in [0, 1), 53 bits */
double bp_rng_normal(bp_rng *rng);          /* standard normal (Box–Muller) */
size_t bp_rng_below(bp_rng *rng, size_t n); /* uniform in [0, n); 0 when n is 0 */
/* (These cannot fail: with a NULL rng they return 0, and seeding or
 * shuffling with one does nothing.) */

/* Shuffles idx[0..n) in place (Fisher–Yates); nothing when idx is NULL. */
void bp_shuffle(size_t *idx, size_t n, bp_rng *rng);

/* Parameter initialisation, in place.  param must be a bp_param; BP_EINVAL
 * otherwise (recorded in its graph).  For a weight W of shape
 * fan_in x fan_out (as used in x·W):
 *  - uniform: every entry uniform in [lo, hi);
 *  - glorot:  uniform in ±sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio);
 *  - he:      normal with standard deviation sqrt(2 / fan_in), for relu
 *             layers (He et al.). */
bp_status bp_init_uniform(bp_node *param, double lo, double hi, bp_rng *rng);
bp_status bp_init_glorot(bp_node *param, bp_rng *rng);
bp_status bp_init_he(bp_node *param, bp_rng *rng);

/* A train / validation / test split of rows 0..n-1: one permutation in
 * index (n_train + n_valid + n_test = n entries), the training rows first,
 * then the validation rows, then the test rows. */
typedef struct bp_split {
    size_t *index;          /* new: free with bp_split_free */
    size_t n_train, n_valid, n_test;
} bp_split;

/* Splits n rows: n_valid = floor(n * valid_frac), n_test =
 * floor(n * test_frac), the rest for training.  With shuffle 0 the split is
 * in order (the first rows train, the last test, as the lesson splits its
 * time series); otherwise rows are shuffled with a bp_rng seeded by seed.
 * BP_EINVAL when a fraction is outside [0, 1), they sum to 1 or more, or
 * the training part would be empty; BP_ENOMEM.  Pointers into index:
 * train = index, valid = index + n_train, test = valid + n_valid. */
bp_status bp_split_rows(size_t n, double valid_frac, double test_frac,
                        int shuffle, uint64_t seed, bp_split *out,
                        bp_error *err);
void bp_split_free(bp_split *split);

/* A new matrix of the rows rows[0..n) of src, in that order (*out, new).
 * BP_EINVAL for a row out of range or a NULL argument; BP_ENOMEM. */
bp_status bp_matrix_take_rows(const bp_matrix *src, const size_t *rows,
                              size_t n, bp_matrix **out, bp_error *err);

/* Feature standardisation: per column, (x − mean) / std, where mean and
 * std (population, divided by n) come from the rows given to
 * bp_scaler_fit only — the training split — and are then applied to any
 * matrix with the same columns.  A constant column gets std 1, so it maps
 * to 0 rather than dividing by zero. */
typedef struct bp_scaler bp_scaler;

/* Fits a scaler on rows[0..n_rows) of x (rows NULL: all rows) (*out, new:
 * free with bp_scaler_free).  BP_EINVAL for no rows, a row out of range or
 * a NULL argument; BP_ENUMERIC for a non-finite value; BP_ENOMEM. */
bp_status bp_scaler_fit(const bp_matrix *x, const size_t *rows, size_t n_rows,
                        bp_scaler **out, bp_error *err);
void bp_scaler_free(bp_scaler *s);
size_t bp_scaler_cols(const bp_scaler *s);
const double *bp_scaler_mean(const bp_scaler *s);  /* borrowed, cols values */
const double *bp_scaler_std(const bp_scaler *s);   /* borrowed, cols values */
/* x := (x − mean) / std, and its inverse x := x·std + mean, in place, every
 * row.  BP_EDIM when x's columns differ from the scaler's. */
bp_status bp_scaler_apply(const bp_scaler *s, bp_matrix *x, bp_error *err);
bp_status bp_scaler_invert(const bp_scaler *s, bp_matrix *x, bp_error *err);

/* Minibatches: copies batch after batch of rows from n_src source matrices
 * (all with the same number of rows, e.g. features and targets) into the
 * matching input nodes with bp_node_set_value.  The rows visited are
 * rows[0..n_rows) (NULL: all), reshuffled at the start of every epoch when
 * shuffle is nonzero (with a bp_rng seeded by seed, so epochs repeat), and
 * cut into batches of batch_size rows; the last batch of an epoch holds the
 * remainder (the graph accepts a changed row count).  bp_batcher_next
 * gathers a batch's rows straight into the nodes' own buffers, which grow
 * only on the first batch; after that it does not allocate. */
typedef struct bp_batcher bp_batcher;

/* *out is new (free with bp_batcher_free); src and dst are borrowed and must
 * outlive it; n_src is 1..BP_MAX_INPUTS.  BP_EINVAL for a NULL argument,
 * batch_size 0, no rows, a row out of range, or a destination that is not
 * an input; BP_EDIM when sources disagree in rows or a source's columns
 * differ from its node's; BP_ENOMEM. */
bp_status bp_batcher_new(size_t n_src, const bp_matrix *const *src,
                         bp_node *const *dst, const size_t *rows,
                         size_t n_rows, size_t batch_size, int shuffle,
                         uint64_t seed, bp_batcher **out, bp_error *err);
void bp_batcher_free(bp_batcher *b);

/* Binds the next batch; *batch_rows receives its number of rows, or 0 when
 * the epoch is over (the next call then starts a new, reshuffled epoch).
 * Errors are those of bp_node_set_value, recorded in the nodes' graph. */
bp_status bp_batcher_next(bp_batcher *b, size_t *batch_rows);
/* Abandons the current epoch: the next call starts a new one. */
void bp_batcher_reset(bp_batcher *b);
size_t bp_batcher_batches(const bp_batcher *b);  /* batches per epoch */
/* The source rows of the current batch (borrowed, *n entries; valid until
 * the next call), e.g. to look up original values. */
const size_t *bp_batcher_rows(const bp_batcher *b, size_t *n);

/* ------------------------------------------------------------------------ */
/* Optimizers                                                                */
/* ------------------------------------------------------------------------ */

typedef enum bp_optim_kind {
    BP_OPTIM_SGD = 0,   /* v = μ·v + g;  p −= lr·v   (μ = 0: plain SGD) */
    BP_OPTIM_ADAM       /* m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²;
                           p −= lr · (m / (1−β1^t)) / (sqrt(v / (1−β2^t)) + ε) */
} bp_optim_kind;

typedef struct bp_optim_config {
    bp_optim_kind kind;
    double lr;         /* learning rate, > 0 */
    double momentum;   /* SGD: μ in [0, 1) */
    double beta1;      /* Adam: in [0, 1) */
    double beta2;      /* Adam: in [0, 1) */
    double eps;        /* Adam: > 0 */
} bp_optim_config;

/* Defaults: SGD lr 0.01, momentum 0; Adam lr 0.001, β1 0.9, β2 0.999,
 * ε 1e-8. */
bp_optim_config bp_optim_defaults(bp_optim_kind kind);

typedef struct bp_optimizer bp_optimizer;

/* An optimizer over params[0..n_params) of g, or over every param of g (in
 * creation order) when params is NULL (*out, new: free with
 * bp_optimizer_free; it must not outlive g).  Its state (velocities,
 * moments) is allocated here, once.  Errors, recorded in g: BP_EINVAL for
 * a bad config, a node that is not a param of g, or no params; BP_ENOMEM. */
bp_status bp_optimizer_new(bp_graph *g, bp_node *const *params, size_t n_params,
                           const bp_optim_config *cfg, bp_optimizer **out);
void bp_optimizer_free(bp_optimizer *opt);

/* One update of every param from its accumulated gradient (bp_node_grad);
 * a param that no backward has reached yet is skipped.  It does not clear
 * the gradients: call bp_zero_grad before the next backward.  Makes no
 * allocation.  BP_ENUMERIC (recorded in the graph) when a gradient is not
 * finite; no param is changed then. */
bp_status bp_optimizer_step(bp_optimizer *opt);
void bp_optimizer_set_lr(bp_optimizer *opt, double lr);
size_t bp_optimizer_steps(const bp_optimizer *opt);  /* steps taken */

/* ------------------------------------------------------------------------ */
/* Saving and loading parameters                                             */
/* ------------------------------------------------------------------------ */

/*
 * A params file holds every bp_param of a graph, in creation order.  All
 * integers and doubles are little-endian:
 *
 *   offset  size  field
 *   0       8     magic "BPPARAMS"
 *   8       4     u32 format version, 1
 *   12      4     u32 count: number of params
 *   16      ...   count records, each:
 *                   u32 name length L (bytes, no terminator; 0: unnamed)
 *                   L   name bytes
 *                   u64 rows, u64 cols
 *                   rows*cols IEEE-754 binary64, row-major
 *   end-8   8     u64 FNV-1a/64 of every byte before it (header and records)
 *
 * bp_params_save writes a temporary file in the same directory, fsyncs it
 * and renames it over path, so a crash or error never leaves a partial file
 * at path nor destroys the previous one; an existing file's permission bits
 * are kept, a new file gets 0666 less the umask (as bp_npy_save).  Errors:
 * BP_EIO naming the file; BP_ENOMEM.
 *
 * bp_params_load reads and checks the whole file — magic, version,
 * truncation, checksum, then that the count, every name and every shape
 * match the graph's params — BEFORE changing any param, so on error the
 * graph is unchanged.  Errors name the file and byte offset: BP_EIO (cannot
 * open or read), BP_EPARSE (bad magic, version, truncation, trailing bytes,
 * checksum), BP_EDIM (a shape or count differs from the graph's),
 * BP_ENOTFOUND (a name differs), BP_ENOMEM.
 */
bp_status bp_params_save(bp_graph *g, const char *path, bp_error *err);
bp_status bp_params_load(bp_graph *g, const char *path, bp_error *err);

/* ------------------------------------------------------------------------ */
/* Pictures: Graphviz DOT and derivative chains                              */
/* ------------------------------------------------------------------------ */

/* Writes the graph as Graphviz DOT to f: every node that out depends on
 * (out NULL: the whole graph), labelled with its name, its op (or input,
 * param, constant) and its current shape.
 *  - forward (backward 0): edges input → op, labelled with the shape of
 *    the value that flows along them;
 *  - backward (backward 1): only the edges a gradient flows through,
 *    reversed (op → input), labelled d(input) and its shape, as the
 *    lesson's generate_graph(backward=True); nodes without a gradient are
 *    grey.
 * Render with: dot -Tpng graph.dot -o graph.png.  BP_EINVAL for a NULL or
 * foreign node; BP_EIO when writing fails. */
bp_status bp_dot_write(bp_graph *g, bp_node *out, int backward, FILE *f,
                       bp_error *err);
/* The same into a new file at path (overwritten). */
bp_status bp_dot_save(bp_graph *g, bp_node *out, int backward,
                      const char *path, bp_error *err);

typedef enum bp_chain_format {
    BP_CHAIN_TEXT = 0,  /* dL/dW1 = dL/dZ2 * dZ2/dA1 * dA1/dZ1 * dZ1/dW1 */
    BP_CHAIN_LATEX      /* \frac{\partial L}{\partial W_{1}} = ... \cdot ... */
} bp_chain_format;

/* The chain rule written out for node wrt (usually a param): the sum over
 * every path from loss down to wrt, through edges that carry a gradient, of
 * the product of the partial derivatives along it, e.g. for the lesson's
 * network  dL/dW1 = dL/dZ2 * dZ2/dA1 * dA1/dZ1 * dZ1/dW1.  Nodes are
 * written by name, or "n<index>" when unnamed (name them with
 * bp_node_set_name for a readable chain); LaTeX turns trailing digits into
 * subscripts.  No path gives "dL/dW = 0".  One line, no newline.
 *
 * bp_grad_chain writes into buf like snprintf: at most size bytes with a
 * terminating NUL, and *needed (may be NULL) receives the full length
 * without the NUL; BP_OK even when truncated.  bp_grad_chain_write writes
 * to f.  BP_EINVAL for NULL or foreign nodes or an unknown format;
 * BP_ENOMEM; BP_EIO. */
bp_status bp_grad_chain(bp_graph *g, bp_node *loss, bp_node *wrt,
                        bp_chain_format format, char *buf, size_t size,
                        size_t *needed, bp_error *err);
bp_status bp_grad_chain_write(bp_graph *g, bp_node *loss, bp_node *wrt,
                              bp_chain_format format, FILE *f, bp_error *err);

/* ------------------------------------------------------------------------ */
/* Data files                                                                */
/* ------------------------------------------------------------------------ */

/* Reads the named columns of a CSV file into a new matrix (*out, new: free
 * with bp_matrix_free) of one row per data row and n_columns columns, in
 * the order of columns.
 *  - The first line is a header; columns are picked by exact name (the
 *    first header field of that name).  A name may be requested twice.
 *    Other columns, such as a leading date index with an empty name, are
 *    skipped and their contents are not parsed.
 *  - Every row must have as many fields as the header.  A picked cell is a
 *    number as strtod reads it (in the C locale), with optional spaces
 *    around it.  An empty cell (only spaces, or "") is forward-filled from
 *    the row above, as pandas' ffill does; *n_filled (may be NULL) receives
 *    how many cells were filled, counting a column requested twice twice.
 *  - LF and CRLF line ends, a UTF-8 byte order mark, double-quoted fields
 *    (with "" for a quote, and line ends inside quotes), lines of any
 *    length, a missing final line end and trailing blank lines are
 *    accepted.
 * err (may be NULL) receives the status and a message naming the file,
 * line and column, e.g. "data.csv:17: column 'rain': not a number: "abc"".
 * Errors: BP_EINVAL (path, columns, a columns[i] or out NULL, or n_columns
 * 0); BP_EIO (the file cannot be opened or read); BP_EPARSE (an empty
 * file, a header with no data rows, a row with the wrong number of fields,
 * a non-numeric or out-of-range cell, an empty cell in the first data row,
 * a blank line between rows, a NUL byte, an unterminated quote or text
 * after a closing quote); BP_ENOTFOUND (a column not in the header);
 * BP_ENOMEM.  On error *out is NULL and *n_filled is 0. */
bp_status bp_csv_read(const char *path, const char *const *columns,
                      size_t n_columns, bp_matrix **out, size_t *n_filled,
                      bp_error *err);

/* Loads a numpy .npy file (format 1.0, 2.0 or 3.0) into a new matrix (*out,
 * new: free with bp_matrix_free).
 *  - Shapes: () loads as 1x1, a 1-D array (n,) as a 1 x n ROW vector,
 *    (m, n) as m x n.  More dimensions are refused.
 *  - dtypes: f8 is read directly; f4, i1, i2, i4, i8, u1, u2, u4, u8 and b1
 *    are converted to double (64-bit integers beyond 2^53 are rounded).
 *    Little-endian ('<', '|', '=') and big-endian ('>') data are read.
 *  - fortran_order True is converted to row-major.
 *  - The file must end where the data ends.
 * err (may be NULL) receives the status and a message naming the file and
 * the byte offset of the problem.  Errors: BP_EINVAL (path or out NULL, or a
 * big-endian host); BP_EIO (cannot open or read); BP_EPARSE (bad magic, an
 * unknown version, a truncated header or data, a header that is not a dict
 * with exactly descr, fortran_order and shape, another dtype such as complex,
 * object or structured, more than 2 dimensions, bytes after the data);
 * BP_ENOMEM.  On error *out is NULL. */
bp_status bp_npy_load(const char *path, bp_matrix **out, bp_error *err);

/* Saves m as a .npy 1.0 file: dtype '<f8', fortran_order False, shape
 * (rows, cols) (always 2-D, so a 1 x n matrix loads back as 1 x n), the
 * header padded with spaces and ended by '\n' so the data starts at a
 * multiple of 64 bytes.  It writes path.tmp.XXXXXX in the same directory,
 * flushes and fsyncs it, then renames it over path, so a failure never
 * damages an existing file; an existing file's permission bits are kept,
 * a new file gets 0666 less the umask.  m is borrowed.  Errors, with err
 * (may be NULL) naming the file: BP_EINVAL (path or m NULL, m->data NULL
 * with m not empty, rows * cols * 8 overflowing size_t, or a big-endian
 * host); BP_EIO (the temporary file
 * cannot be created, written, synced or renamed: it is removed); BP_ENOMEM. */
bp_status bp_npy_save(const char *path, const bp_matrix *m, bp_error *err);

#ifdef __cplusplus
}
#endif

#endif /* BPGRAPH_H */
