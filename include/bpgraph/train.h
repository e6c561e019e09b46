/* SPDX-License-Identifier: MIT */
/* bpgraph: Training: random numbers, initialisation, splits, batches, scaling, optimizers.  Part of <bpgraph.h>; include that. */
#ifndef BPGRAPH_TRAIN_H
#define BPGRAPH_TRAIN_H

#include "graph.h"

#ifdef __cplusplus
extern "C" {
#endif

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

/* Parameter initialisation, in place.  BP_EINVAL, recorded in param's
 * graph, when param is not a bp_param, rng is NULL, or (uniform) the range
 * is not finite or lo > hi.  For a weight W of shape
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
BP_WARN_UNUSED
bp_status bp_split_rows(size_t n, double valid_frac, double test_frac,
                        int shuffle, uint64_t seed, bp_split *out,
                        bp_error *err);
void bp_split_free(bp_split *split);

/* A split stratified by class, for classification: each class's rows go to
 * train, validation and test in the split's proportions (to within a row),
 * so a file sorted by its label still tests every class.  classes[i] < k
 * is row i's class.  The rows are shuffled with a bp_rng seeded by seed,
 * grouped by class, and every class keeps at least one training row; the
 * held-out rows are spread evenly over the rest, so n_valid and n_test are
 * those of bp_split_rows (fewer only when the classes' first rows leave too
 * few).  Errors as bp_split_rows, and BP_EINVAL for NULL classes, k 0 or a
 * class not below k. */
bp_status bp_split_stratified(const size_t *classes, size_t n, size_t k,
                              double valid_frac, double test_frac,
                              uint64_t seed, bp_split *out, bp_error *err);

/* One-hot encoding: a new n x k matrix (*out, new) whose row i is 1 in
 * column classes[i] and 0 elsewhere, e.g. the target of bp_softmax_ce.
 * BP_EINVAL for a NULL argument, n or k 0, or a class not below k;
 * BP_ENOMEM. */
bp_status bp_one_hot(const size_t *classes, size_t n, size_t k,
                     bp_matrix **out, bp_error *err);

/* A new matrix of the rows rows[0..n) of src, in that order (*out, new).
 * BP_EINVAL for a row out of range or a NULL argument; BP_ENOMEM. */
BP_WARN_UNUSED
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
BP_WARN_UNUSED
bp_status bp_scaler_fit(const bp_matrix *x, const size_t *rows, size_t n_rows,
                        bp_scaler **out, bp_error *err);
void bp_scaler_free(bp_scaler *s);
size_t bp_scaler_cols(const bp_scaler *s);
const double *bp_scaler_mean(const bp_scaler *s);  /* borrowed, cols values */
const double *bp_scaler_std(const bp_scaler *s);   /* borrowed, cols values */
/* x := (x − mean) / std, and its inverse x := x·std + mean, in place, every
 * row.  BP_EDIM when x's columns differ from the scaler's. */
BP_WARN_UNUSED
bp_status bp_scaler_apply(const bp_scaler *s, bp_matrix *x, bp_error *err);
BP_WARN_UNUSED
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
 * differ from its node's; BP_ENOMEM.  Reported through err (may be NULL)
 * and recorded in the graph of dst[0] (of the first node given). */
BP_WARN_UNUSED
bp_status bp_batcher_new(size_t n_src, const bp_matrix *const *src,
                         bp_node *const *dst, const size_t *rows,
                         size_t n_rows, size_t batch_size, int shuffle,
                         uint64_t seed, bp_batcher **out, bp_error *err);
void bp_batcher_free(bp_batcher *b);

/* Binds the next batch; *batch_rows receives its number of rows, or 0 when
 * the epoch is over (the next call then starts a new, reshuffled epoch).
 * Errors are those of bp_node_set_value, recorded in the nodes' graph. */
BP_WARN_UNUSED
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
    BP_OPTIM_ADAM,      /* m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²;
                           p −= lr · (m / (1−β1^t)) / (sqrt(v / (1−β2^t)) + ε) */
    BP_OPTIM_ADAMW      /* Adam with decoupled weight decay λ (Loshchilov and
                           Hutter): p −= lr·λ·p, then Adam's update */
} bp_optim_kind;

/* How the learning rate changes with the step (see bp_optim_lr). */
typedef enum bp_lr_decay {
    BP_LR_CONSTANT = 0, /* lr after the warm-up */
    BP_LR_COSINE,       /* from lr down to min_lr along half a cosine */
    BP_LR_LINEAR        /* from lr down to min_lr along a line */
} bp_lr_decay;

typedef struct bp_optim_config {
    bp_optim_kind kind;
    double lr;         /* learning rate, > 0: the peak of the schedule */
    double momentum;   /* SGD: μ in [0, 1) */
    double beta1;      /* Adam, AdamW: in [0, 1) */
    double beta2;      /* Adam, AdamW: in [0, 1) */
    double eps;        /* Adam, AdamW: > 0 */
    double weight_decay; /* AdamW: λ ≥ 0 (0 for the other kinds) */
    double clip_norm;  /* > 0: gradients scaled by min(1, clip_norm /
                          (‖g‖ + 1e-6)), ‖g‖ their global L2 norm over all
                          the optimizer's params, as PyTorch's
                          clip_grad_norm_; 0: no clipping */
    bp_lr_decay decay; /* the schedule (bp_optim_lr) */
    size_t warmup_steps; /* lr rises linearly over these first steps */
    size_t decay_steps;  /* the step at which the decay reaches min_lr
                          (counted from the first step, warm-up included;
                          > warmup_steps unless decay is BP_LR_CONSTANT) */
    double min_lr;     /* in [0, lr]: the rate at and after decay_steps */
} bp_optim_config;

/* Defaults: SGD lr 0.01, momentum 0; Adam and AdamW lr 0.001, β1 0.9,
 * β2 0.999, ε 1e-8; AdamW λ 0.01 (PyTorch's); no clipping, no warm-up,
 * constant rate. */
bp_optim_config bp_optim_defaults(bp_optim_kind kind);

/* The learning rate of step t (t = 1 for the first step) under cfg's
 * schedule, W = warmup_steps, D = decay_steps, p = (t − W) / (D − W):
 *   t ≤ W:      lr · t / W
 *   W < t < D:  cosine: min_lr + (lr − min_lr) · (1 + cos πp) / 2
 *               linear: lr − (lr − min_lr) · p
 *   t ≥ D:      min_lr (constant decay: lr for every t > W).
 * 0 when cfg is NULL or t is 0.  The optimizer's step t uses this rate. */
double bp_optim_lr(const bp_optim_config *cfg, size_t t);

typedef struct bp_optimizer bp_optimizer;

/* An optimizer over params[0..n_params) of g, or over every param of g (in
 * creation order) when params is NULL (*out, new: free with
 * bp_optimizer_free; it must not outlive g).  Its state (velocities,
 * moments) is allocated here, once.  Errors, recorded in g: BP_EINVAL for
 * a bad config, a node that is not a param of g, or no params; BP_ENOMEM. */
BP_WARN_UNUSED
bp_status bp_optimizer_new(bp_graph *g, bp_node *const *params, size_t n_params,
                           const bp_optim_config *cfg, bp_optimizer **out);
void bp_optimizer_free(bp_optimizer *opt);

/* One update of every param from its accumulated gradient (bp_node_grad),
 * at the schedule's rate (bp_optim_lr) and clipped as configured; a param
 * that no backward has reached yet is skipped.  It neither clears nor
 * scales the gradients: call bp_zero_grad before the next backward.  Makes no
 * allocation.  BP_ENUMERIC (recorded in the graph) when a gradient is not
 * finite; no param is changed then. */
BP_WARN_UNUSED
bp_status bp_optimizer_step(bp_optimizer *opt);

/* Sets the schedule's peak rate cfg.lr (ignored unless lr > 0 and finite,
 * or lr < the configured min_lr). */
void bp_optimizer_set_lr(bp_optimizer *opt, double lr);
size_t bp_optimizer_steps(const bp_optimizer *opt);  /* steps taken */

/* The global L2 norm of the gradients the last step read, before any
 * clipping (0 before the first step or for NULL): to log, or to see how
 * often clip_norm bites. */
double bp_optimizer_grad_norm(const bp_optimizer *opt);

#ifdef __cplusplus
}
#endif

#endif /* BPGRAPH_TRAIN_H */
