/* SPDX-License-Identifier: MIT */
/* tools/train's own header: the options, the model and the run that its
 * files (train.c: options and stages; train_data.c: columns, labels and
 * the split; train_eval.c: baselines, metrics and output) share. */
#ifndef TOOLS_TRAIN_H
#define TOOLS_TRAIN_H

#include "bpgraph.h"

#include <stdio.h>

#define MAX_INPUTS 64

/* Singular values below LS_RCOND times the largest count as zero: the
 * numerical rank of the least-squares baseline. */
#define LS_RCOND 1e-10

typedef struct options {
    const char *data;
    struct { const char *name; size_t len; } input[MAX_INPUTS];  /* not NUL-ended */
    size_t n_inputs;
    const char *target;     /* regression (or --classes) target, or NULL */
    const char *label;      /* classification label, or NULL */
    size_t classes;         /* --classes K: classes of the change; 0: none */
    double band;
    size_t hidden;
    size_t epochs;          /* at most */
    size_t patience;        /* 0: no early stopping */
    size_t batch;
    uint64_t seed;
    int optimizer;          /* BP_OPTIM_* */
    double lr;
    int lr_given;
    double momentum;
    double valid, test;
    int ordered;
    int json, quiet;
    const char *save, *load, *predict, *dot, *log;
    int dot_backward;
} options;

typedef enum task {
    TASK_REGRESS,           /* --target COL */
    TASK_LABEL,             /* --label COL */
    TASK_CHANGE             /* --target <col>_tomorrow --classes K */
} task;

/* A network x → dense → relu → dense (hidden > 0), or x → dense (a linear
 * model), with its loss, training state and the best epoch's params. */
typedef struct model {
    bp_graph *g;
    bp_node *x, *y, *out, *prob, *loss;     /* prob: classification only */
    bp_node *params[4];
    size_t n_params;
    double *best;           /* the params at the best validation epoch */
    bp_batcher *batcher;
    struct bp_dist *dist;                   /* tools/train-mpi: the ranks */
    struct bp_dist_batcher *dist_batcher;   /* ... and this rank's shares */
    bp_optimizer *opt;
    size_t epochs_run, best_epoch;
    double epoch_seconds;                   /* of all the epochs run */
    double train_loss, valid_metric;        /* of the last epoch run */
} model;

/* Test-split figures; NAN where there is none. */
typedef struct scores {
    double net, ls, today, majority, logreg;
    size_t majority_class;
    size_t ls_rank, ls_cols;
    size_t *confusion;      /* k x k: row the true class, column the predicted */
    double target_var;      /* of the training split's target: the scale of "~0" */
} scores;

typedef struct run {
    const options *o;
    FILE *info;             /* progress and summary: stdout, or stderr */
    task task;
    int classify;
    char **header;          /* the file's column names */
    size_t n_header;
    const char *column;     /* the target or label column */
    char *in_names[MAX_INPUTS];
    size_t n_in, n, k;      /* inputs, rows, outputs (classes or 1) */
    bp_matrix *xs;          /* n x n_in, standardised on the training split */
    double *target;         /* regression and change: the target column */
    double *base;           /* <col> of a <col>_tomorrow target, or NULL */
    const char *base_name;
    char **labels;          /* --label: the column as text */
    const char **class_names;
    size_t *cls;            /* classification: each row's class */
    double *edges;          /* --classes K != 3: K − 1 bin edges */
    bp_split split;
    const size_t *train_rows, *valid_rows, *test_rows;
    bp_scaler *xscale, *yscale;
    bp_matrix *xtrain, *ytrain, *xvalid, *xtest;
    model net, linear;      /* linear: the logistic-regression baseline */
    double train_seconds;
    scores s;
} run;

/* train.c */
int out_of_memory(void);
int lib_error(const bp_error *err);

/* train_data.c: the load stage and its parts */
int load(run *r);
size_t change_class(const run *r, double d);
void load_free(run *r);

/* train_eval.c */
int model_predict(model *m, const bp_matrix *xs, bp_matrix **out);
int evaluate(run *r);
void report(const run *r);
int write_predictions(run *r);
void scores_free(scores *s);
size_t argmax_row(const double *p, size_t k);

#endif /* TOOLS_TRAIN_H */
