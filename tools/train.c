/* SPDX-License-Identifier: MIT */
/*
 * tools/train: trains a dense network on the columns of any CSV table, with
 * the public bpgraph API only, and compares it on the test split with
 * baselines: least squares for a number (--target), the majority class and
 * a logistic regression for a class (--label).
 *
 *   tools/train --data table.csv --label species
 *   tools/train --data table.csv --target price
 *   tools/train --help
 *
 * Regression: x → dense → relu → dense → prediction, MSE on standardised
 * targets.  Classification: the same network gives K logits and
 * softmax_ce.  The stages (load, targets, model, train, evaluate, report)
 * run in turn over one run struct; train_data.c loads, train_eval.c
 * evaluates and reports.  Exit status 0, 1 on a data or file error, 2 on a
 * usage error.
 *
 * Built a second time as tools/train-mpi (train_ranks.h), which runs under
 * mpirun: every rank loads the table and builds the model, each takes its
 * share of every batch, and only rank 0 prints and writes files.
 */
#define _GNU_SOURCE 1   /* getopt_long */
#include "cli.h"
#include "train.h"
#include "train_ranks.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


static void usage(FILE *f)
{
    fprintf(f,
        "usage: %s --data FILE (--target COL | --label COL) [options]\n"
        "Trains a dense network (one relu hidden layer) on the columns of a CSV table and\n"
        "compares it on the test split with baselines: least squares for --target, the\n"
        "majority class and a logistic regression for --label.\n"
        "\n"
        "data\n"
        "  --data FILE        CSV table with a header row (required)\n"
        "  --target COL       predict the number in COL (regression)\n"
        "  --label COL        predict the class in COL, integers or text (classification)\n"
        "                     (with neither, the error lists the table's columns)\n"
        "  --inputs A,B,...   input columns (default: every numeric column but the one\n"
        "                     predicted); an empty name is an error\n"
        "  --input COL        one input column, its name taken whole (it may hold a comma);\n"
        "                     repeat it, or mix it with --inputs, to add columns in order\n"
        "                     Inputs constant on the training split are dropped, with a note.\n"
        "  --valid F --test F fractions for validation and test (default 0.15 each)\n"
        "  --ordered          split in file order (train, then valid, then test), as for a\n"
        "                     time series; by default rows are shuffled (seeded) and, with\n"
        "                     --label, stratified so that every class is in every part\n"
        "model and training\n"
        "  --hidden N         hidden units (default 16)\n"
        "  --epochs N         passes over the training split, at most (default 200)\n"
        "  --patience N       stop after N epochs without a better validation score, and\n"
        "                     keep the best epoch's params (default 10; 0: run every epoch\n"
        "                     and keep the last)\n"
        "  --batch N          minibatch rows (default 64)\n"
        "  --optimizer NAME   adam (default) or sgd\n"
        "  --lr X             learning rate (default 3e-3 for adam, 1e-2 for sgd)\n"
        "  --momentum X       SGD momentum (default 0.9)\n"
        "  --seed N           seed for the split, initialisation and shuffling (default 1)\n"
        "  --classes K        with --target <col>_tomorrow and a column <col>: classify the\n"
        "                     change d = target - <col>; K = 3: colder (d < -band), same,\n"
        "                     warmer (d > band); other K: K equal-count bins of d\n"
        "  --band X           half-width of \"same\" for --classes 3 (default 2)\n"
        "output\n"
        "  --json             print the final metrics as one JSON object on stdout\n"
        "                     (progress lines then go to stderr)\n"
        "  --quiet            print nothing but errors (and the --json object)\n"
        "  --log FILE         per-epoch metrics as CSV\n"
        "  --save FILE        save the trained params (bpgraph params format)\n"
        "  --load FILE        start from saved params (--epochs 0: evaluate only)\n"
        "  --predict FILE     with --load: write the predictions for the rows of FILE (a\n"
        "                     CSV with the input columns) as CSV on stdout, with each\n"
        "                     class's probability when classifying; give the --data and\n"
        "                     split options of the run that saved the params, whose\n"
        "                     training split the standardisation and classes come from\n"
        "  --dot FILE         write the network's graph as Graphviz DOT\n"
        "  --dot-backward     ... the backward graph instead (edges carry gradients)\n"
        "  --help             this text\n"
        "  --version          the version\n"
        "Options take their value as --opt VALUE or --opt=VALUE; -- ends the options.\n"
        "Least squares is LAPACKE_dgelsd with rcond %g (a rank below the column count\n"
        "is reported); ratios whose denominator is ~0 print n/a.  Exit status: 0; 1 for a\n"
        "data or file error; 2 for a usage error.\n",
        cli_name(), LS_RCOND);
}

/* A whole number >= min into *out; 0 when s is not one. */
static int parse_count(const char *s, size_t *out, size_t min)
{
    uint64_t v;
    if (!cli_parse_uint(s, SIZE_MAX, &v) || v < min)
        return 0;
    *out = (size_t)v;
    return 1;
}

enum {
    OPT_DATA = 256, OPT_INPUTS, OPT_INPUT, OPT_TARGET, OPT_LABEL, OPT_HIDDEN, OPT_EPOCHS,
    OPT_PATIENCE, OPT_BATCH, OPT_SEED, OPT_CLASSES, OPT_LR, OPT_MOMENTUM, OPT_BAND, OPT_VALID,
    OPT_TEST, OPT_OPTIMIZER, OPT_ORDERED, OPT_JSON, OPT_QUIET, OPT_SAVE, OPT_LOAD, OPT_PREDICT,
    OPT_DOT, OPT_DOT_BACKWARD, OPT_LOG, OPT_VERSION
};

static const struct option long_options[] = {
    {"data", required_argument, NULL, OPT_DATA},
    {"inputs", required_argument, NULL, OPT_INPUTS},
    {"input", required_argument, NULL, OPT_INPUT},
    {"target", required_argument, NULL, OPT_TARGET},
    {"label", required_argument, NULL, OPT_LABEL},
    {"hidden", required_argument, NULL, OPT_HIDDEN},
    {"epochs", required_argument, NULL, OPT_EPOCHS},
    {"patience", required_argument, NULL, OPT_PATIENCE},
    {"batch", required_argument, NULL, OPT_BATCH},
    {"seed", required_argument, NULL, OPT_SEED},
    {"classes", required_argument, NULL, OPT_CLASSES},
    {"lr", required_argument, NULL, OPT_LR},
    {"momentum", required_argument, NULL, OPT_MOMENTUM},
    {"band", required_argument, NULL, OPT_BAND},
    {"valid", required_argument, NULL, OPT_VALID},
    {"test", required_argument, NULL, OPT_TEST},
    {"optimizer", required_argument, NULL, OPT_OPTIMIZER},
    {"ordered", no_argument, NULL, OPT_ORDERED},
    {"json", no_argument, NULL, OPT_JSON},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"save", required_argument, NULL, OPT_SAVE},
    {"load", required_argument, NULL, OPT_LOAD},
    {"predict", required_argument, NULL, OPT_PREDICT},
    {"dot", required_argument, NULL, OPT_DOT},
    {"dot-backward", no_argument, NULL, OPT_DOT_BACKWARD},
    {"log", required_argument, NULL, OPT_LOG},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0}
};

/* Appends the column names of an --inputs list (split at commas; an empty
 * name is an error) or of one --input (taken whole, so it may hold a
 * comma).  0, or 2 after a usage error. */
static int add_inputs(options *o, const char *arg, int whole)
{
    const char *p = arg;

    for (;;) {
        size_t len = whole ? strlen(p) : strcspn(p, ",");
        if (len == 0)
            return whole ? cli_usage_error("--input needs a column name")
                         : cli_usage_error("--inputs '%s' has an empty column name (use --input NAME "
                                       "for a name that holds a comma)", arg);
        if (o->n_inputs == MAX_INPUTS)
            return cli_usage_error("more than %d input columns", MAX_INPUTS);
        o->input[o->n_inputs].name = p;
        o->input[o->n_inputs++].len = len;
        if (p[len] != ',')
            return 0;
        p += len + 1;
    }
}

/* 0, or 2 after printing a usage error; -1 after --help or --version
 * (exit 0). */
static int parse_args(int argc, char **argv, options *o)
{
    int c;

    memset(o, 0, sizeof *o);
    o->hidden = 16;
    o->epochs = 200;
    o->patience = 10;
    o->batch = 64;
    o->seed = 1;
    o->optimizer = BP_OPTIM_ADAM;
    o->momentum = 0.9;
    o->band = 2.0;
    o->valid = 0.15;
    o->test = 0.15;
    opterr = 0;   /* its messages are ours, with "Try ... --help" */
    while ((c = getopt_long(argc, argv, ":h", long_options, NULL)) != -1) {
        const char *v = optarg;
        size_t sz;
        double f;
        switch (c) {
        case 'h':
            usage(stdout);
            return -1;
        case OPT_VERSION:
            cli_version();
            return -1;
        case OPT_DATA: o->data = v; break;
        case OPT_INPUTS:
        case OPT_INPUT:
            if (add_inputs(o, v, c == OPT_INPUT))
                return 2;
            break;
        case OPT_TARGET: o->target = v; break;
        case OPT_LABEL: o->label = v; break;
        case OPT_HIDDEN:
            if (!parse_count(v, &o->hidden, 1))
                return cli_usage_error("--hidden needs a whole number >= 1, not '%s'", v);
            break;
        case OPT_EPOCHS:
            if (!parse_count(v, &o->epochs, 0))
                return cli_usage_error("--epochs needs a whole number >= 0, not '%s'", v);
            break;
        case OPT_PATIENCE:
            if (!parse_count(v, &o->patience, 0))
                return cli_usage_error("--patience needs a whole number >= 0, not '%s'", v);
            break;
        case OPT_BATCH:
            if (!parse_count(v, &o->batch, 1))
                return cli_usage_error("--batch needs a whole number >= 1, not '%s'", v);
            break;
        case OPT_SEED:
            if (!parse_count(v, &sz, 0))
                return cli_usage_error("--seed needs a whole number >= 0, not '%s'", v);
            o->seed = sz;
            break;
        case OPT_CLASSES:
            if (!parse_count(v, &o->classes, 2) || o->classes > 100)
                return cli_usage_error("--classes needs a whole number from 2 to 100, not '%s'", v);
            break;
        case OPT_LR:
            if (!cli_parse_nonneg(v, &o->lr) || !(o->lr > 0))
                return cli_usage_error("--lr needs a number > 0, not '%s'", v);
            o->lr_given = 1;
            break;
        case OPT_MOMENTUM:
            if (!cli_parse_nonneg(v, &o->momentum) || o->momentum >= 1)
                return cli_usage_error("--momentum needs a number in [0, 1), not '%s'", v);
            break;
        case OPT_BAND:
            if (!cli_parse_nonneg(v, &o->band))
                return cli_usage_error("--band needs a number >= 0, not '%s'", v);
            break;
        case OPT_VALID:
        case OPT_TEST:
            if (!cli_parse_nonneg(v, &f) || f >= 1)
                return cli_usage_error("--valid and --test need a fraction in [0, 1), not '%s'", v);
            *(c == OPT_VALID ? &o->valid : &o->test) = f;
            break;
        case OPT_OPTIMIZER:
            if (!strcmp(v, "adam"))
                o->optimizer = BP_OPTIM_ADAM;
            else if (!strcmp(v, "sgd"))
                o->optimizer = BP_OPTIM_SGD;
            else
                return cli_usage_error("--optimizer is adam or sgd, not '%s'", v);
            break;
        case OPT_ORDERED: o->ordered = 1; break;
        case OPT_JSON: o->json = 1; break;
        case OPT_QUIET: o->quiet = 1; break;
        case OPT_SAVE: o->save = v; break;
        case OPT_LOAD: o->load = v; break;
        case OPT_PREDICT: o->predict = v; break;
        case OPT_DOT: o->dot = v; break;
        case OPT_DOT_BACKWARD: o->dot_backward = 1; break;
        case OPT_LOG: o->log = v; break;
        case ':':
            return cli_usage_error("option '%s' requires an argument", argv[optind - 1]);
        default:
            return cli_usage_error("unrecognized option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("unexpected argument '%s' (%s takes options only)", argv[optind], cli_name());
    if (!o->data)
        return cli_usage_error("no table: give --data FILE");
    if (o->target && o->label)
        return cli_usage_error("--target and --label exclude each other: one column is predicted");
    if (o->classes && !o->target)
        return cli_usage_error("--classes needs --target <col>_tomorrow (to classify by a column, "
                           "use --label COL)");
    if (o->predict && !o->load)
        return cli_usage_error("--predict needs --load FILE: the params to predict with");
    if (o->predict && o->json)
        return cli_usage_error("--predict writes CSV on stdout: not with --json");
    if (o->valid + o->test >= 1)
        return cli_usage_error("--valid plus --test must be below 1");
    if (o->dot_backward && !o->dot)
        return cli_usage_error("--dot-backward needs --dot FILE");
    if (!o->lr_given)
        o->lr = o->optimizer == BP_OPTIM_ADAM ? 3e-3 : 1e-2;
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int out_of_memory(void)
{
    fprintf(stderr, "%s: out of memory\n", cli_name());
    return 1;
}

int lib_error(const bp_error *err)
{
    fprintf(stderr, "%s: %s\n", cli_name(), err->message);
    return 1;
}

static int graph_error(const model *m)
{
    fprintf(stderr, "%s: %s\n", cli_name(), bp_graph_message(m->g));
    return 1;
}

/* hidden > 0: Z1 = x·W1 + b1 (n×h), A1 = relu(Z1), Z2 = A1·W2 + b2 (n×k);
 * hidden 0: Z = x·W + b (n×k), a linear model.  Regression: L = mse(Z, y);
 * classification: L = softmax_ce(Z, y), P = softmax(Z). */
static int build(model *m, size_t n_in, size_t hidden, size_t k, int classify, uint64_t seed)
{
    bp_rng rng;
    bp_node *h;
    size_t total = 0;

    m->g = bp_graph_new();
    if (!m->g)
        return out_of_memory();
    /* The trainer never looks at Z1 itself: let relu work over its buffers. */
    bp_graph_set_inplace(m->g, 1);
    m->x = bp_input(m->g, 1, n_in, "x");
    m->y = bp_input(m->g, 1, k, "y");
    if (hidden > 0) {
        m->params[0] = bp_param(m->g, n_in, hidden, "W1");
        m->params[1] = bp_param(m->g, 1, hidden, "b1");
        m->params[2] = bp_param(m->g, hidden, k, "W2");
        m->params[3] = bp_param(m->g, 1, k, "b2");
        m->n_params = 4;
        h = bp_dense(m->g, m->x, m->params[0], m->params[1]);
        bp_node_set_name(h, "Z1");
        h = bp_relu(m->g, h);
        bp_node_set_name(h, "A1");
        m->out = bp_dense(m->g, h, m->params[2], m->params[3]);
        bp_node_set_name(m->out, "Z2");
    } else {
        m->params[0] = bp_param(m->g, n_in, k, "W");
        m->params[1] = bp_param(m->g, 1, k, "b");
        m->n_params = 2;
        m->out = bp_dense(m->g, m->x, m->params[0], m->params[1]);
        bp_node_set_name(m->out, "Z");
    }
    if (classify) {
        m->loss = bp_softmax_ce(m->g, m->out, m->y);
        m->prob = bp_softmax(m->g, m->out);
        bp_node_set_name(m->prob, "P");
    } else {
        m->loss = bp_mse(m->g, m->out, m->y);
    }
    bp_node_set_name(m->loss, "L");
    if (bp_graph_status(m->g) != BP_OK)
        return graph_error(m);
    /* He for the relu layer, Glorot for the output; biases start at 0. */
    bp_rng_seed(&rng, seed);
    if ((hidden > 0 && bp_init_he(m->params[0], &rng) != BP_OK) ||
        bp_init_glorot(m->params[hidden > 0 ? 2 : 0], &rng) != BP_OK)
        return graph_error(m);
    for (size_t p = 0; p < m->n_params; p++)
        total += bp_node_rows(m->params[p]) * bp_node_cols(m->params[p]);
    m->best = malloc(total * sizeof *m->best);
    return m->best ? 0 : out_of_memory();
}

/* Copies the params into m->best (save) or back (restore). */
static void snapshot(model *m, int save)
{
    double *at = m->best;
    for (size_t p = 0; p < m->n_params; p++) {
        bp_matrix *v = bp_node_value(m->params[p]);
        size_t len = v->rows * v->cols;
        memcpy(save ? at : v->data, save ? v->data : at, len * sizeof(double));
        at += len;
    }
}

static void model_free(model *m)
{
    bp_optimizer_free(m->opt);
    ranks_model_free(m);
    bp_graph_free(m->g);
    free(m->best);
}

/* Stage 2: the training targets: standardised values, or one-hot classes. */
static int targets(run *r)
{
    const bp_split *s = &r->split;
    bp_error err;

    if (bp_matrix_take_rows(r->xs, r->train_rows, s->n_train, &r->xtrain, &err) != BP_OK ||
        bp_matrix_take_rows(r->xs, r->valid_rows, s->n_valid, &r->xvalid, &err) != BP_OK ||
        bp_matrix_take_rows(r->xs, r->test_rows, s->n_test, &r->xtest, &err) != BP_OK)
        return lib_error(&err);
    if (r->classify) {
        size_t *c = malloc(s->n_train * sizeof *c);
        bp_status st;
        if (!c)
            return out_of_memory();
        for (size_t i = 0; i < s->n_train; i++)
            c[i] = r->cls[r->train_rows[i]];
        st = bp_one_hot(c, s->n_train, r->k, &r->ytrain, &err);
        free(c);
        return st == BP_OK ? 0 : lib_error(&err);
    }
    r->k = 1;
    r->ytrain = bp_matrix_alloc(s->n_train, 1);
    if (!r->ytrain)
        return out_of_memory();
    for (size_t i = 0; i < s->n_train; i++)
        r->ytrain->data[i] = r->target[r->train_rows[i]];
    if (bp_scaler_fit(r->ytrain, NULL, 0, &r->yscale, &err) != BP_OK ||
        bp_scaler_apply(r->yscale, r->ytrain, &err) != BP_OK)
        return lib_error(&err);
    return 0;
}

/* A model over the training split with its batcher and optimizer. */
static int make_model(run *r, model *m, size_t hidden, double lr)
{
    const options *o = r->o;
    const bp_matrix *src[2] = {r->xtrain, r->ytrain};
    bp_node *dst[2];
    bp_optim_config cfg;
    bp_error err;

    if (build(m, r->n_in, hidden, r->k, r->classify, o->seed) != 0)
        return 1;
    dst[0] = m->x;
    dst[1] = m->y;
    if (ranks_batcher_new(m, src, dst, o->batch, o->seed + 1, &err) != BP_OK)
        return lib_error(&err);
    cfg = bp_optim_defaults((bp_optim_kind)o->optimizer);
    cfg.lr = lr;
    if (o->optimizer == BP_OPTIM_SGD)
        cfg.momentum = o->momentum;
    if (bp_optimizer_new(m->g, NULL, 0, &cfg, &m->opt) != BP_OK)
        return graph_error(m);
    return 0;
}

/* Stage 3: the network, from its starting or loaded params. */
static int model_stage(run *r)
{
    bp_error err;

    if (make_model(r, &r->net, r->o->hidden, r->o->lr) != 0)
        return 1;
    if (r->o->load && bp_params_load(r->net.g, r->o->load, &err) != BP_OK)
        return lib_error(&err);
    return 0;
}

/* Validation: the metric shown (RMSE in the target's unit, or accuracy)
 * and the score early stopping minimises (the RMSE, or the mean cross-
 * entropy). */
static int validate(run *r, model *m, double *metric, double *score)
{
    bp_matrix *pred;
    size_t nv = r->split.n_valid;
    double s = 0;
    size_t hits = 0;

    if (model_predict(m, r->xvalid, &pred) != 0)
        return 1;
    if (r->classify) {
        for (size_t i = 0; i < nv; i++) {
            const double *p = pred->data + i * r->k;
            size_t truth = r->cls[r->valid_rows[i]];
            hits += argmax_row(p, r->k) == truth;
            s -= log(p[truth] > 1e-300 ? p[truth] : 1e-300);
        }
        *metric = (double)hits / (double)nv;
        *score = s / (double)nv;
    } else {
        bp_error err;
        if (bp_scaler_invert(r->yscale, pred, &err) != BP_OK) {
            fprintf(stderr, "%s: %s\n", cli_name(), err.message);
            bp_matrix_free(pred);
            return 1;
        }
        for (size_t i = 0; i < nv; i++) {
            double d = pred->data[i] - r->target[r->valid_rows[i]];
            s += d * d;
        }
        *metric = *score = sqrt(s / (double)nv);
    }
    bp_matrix_free(pred);
    return 0;
}

/* One pass over the training split; its mean loss in m->train_loss.
 * Under MPI this rank runs its share of each batch (none, when the batch
 * has fewer rows than there are ranks) and the gradients are summed
 * over the ranks, which is also where an error on any rank stops all. */
static int train_epoch(model *m)
{
    double sums[2] = {0, 0};    /* Σ loss·rows, Σ rows */
    bp_error err;

    for (;;) {
        size_t local = 0, rows = 0;
        bp_zero_grad(m->g);
        if (ranks_next(m, &local, &rows) == BP_OK && rows == 0)
            break;
        if (local > 0 && bp_forward(m->g, m->loss) == BP_OK &&
            bp_backward(m->g, m->loss, NULL) == BP_OK) {
            sums[0] += bp_node_value(m->loss)->data[0] * (double)local;
            sums[1] += (double)local;
        }
        if (ranks_reduce(m, local, &err) != BP_OK)
            return lib_error(&err);
        if (bp_optimizer_step(m->opt) != BP_OK)
            return graph_error(m);
    }
    if (ranks_sum(m, sums, 2, &err) != BP_OK)
        return lib_error(&err);
    m->train_loss = sums[0] / sums[1];
    return 0;
}

/* Up to --epochs passes with early stopping on the validation score; the
 * best epoch's params are kept.  A line per epoch on info (and logf) when
 * given. */
static int fit(run *r, model *m, FILE *info, FILE *logf)
{
    const options *o = r->o;
    double best = INFINITY;
    bp_error err;

    if (o->epochs > 0 && ranks_attach(m, &err) != BP_OK)
        return lib_error(&err);
    for (size_t epoch = 1; epoch <= o->epochs; epoch++) {
        double t = now(), score;
        if (train_epoch(m) != 0 || ranks_agree(validate(r, m, &m->valid_metric, &score)) != 0)
            return 1;
        /* MPI does not promise every rank the same bits from a sum:
         * rank 0's score decides for all, so that they stop together. */
        if (ranks_rank() != 0)
            score = 0;
        if (ranks_sum(m, &score, 1, &err) != BP_OK)
            return lib_error(&err);
        t = now() - t;
        m->epoch_seconds += t;
        m->epochs_run = epoch;
        if (score < best) {
            best = score;
            m->best_epoch = epoch;
            snapshot(m, 1);
        }
        if (info)
            fprintf(info, "epoch %3zu  train loss %.5f  valid %s %.4f  %.3fs\n", epoch,
                    m->train_loss, r->classify ? "accuracy" : "rmse", m->valid_metric, t);
        if (logf)
            fprintf(logf, "%zu,%.17g,%.17g,%.4f\n", epoch, m->train_loss, m->valid_metric, t);
        if (o->patience && epoch - m->best_epoch >= o->patience)
            break;
    }
    if (o->patience && m->best_epoch && m->best_epoch != m->epochs_run) {
        double score;
        snapshot(m, 0);
        if (info)
            fprintf(info, "stopped after epoch %zu; the params of epoch %zu, the best on "
                    "validation, are kept\n", m->epochs_run, m->best_epoch);
        return validate(r, m, &m->valid_metric, &score);   /* the kept params' */
    }
    return 0;
}

/* Stage 4: the network (with progress lines and --log), then the logistic
 * regression baseline when classifying. */
static int train(run *r, double t0)
{
    const options *o = r->o;
    FILE *logf = NULL, *info = o->quiet ? NULL : r->info;
    int rc = 0;

    if (o->log && ranks_rank() == 0) {
        logf = fopen(o->log, "w");
        if (!logf) {
            fprintf(stderr, "%s: %s: cannot open for writing: %s\n", cli_name(), o->log, strerror(errno));
            rc = 1;
        } else {
            fprintf(logf, "epoch,train_loss,%s,seconds\n", r->classify ? "valid_accuracy" : "valid_rmse");
        }
    }
    if (ranks_agree(rc) != 0)
        return 1;
    if (info) {
        if (ranks_size() > 1)
            fprintf(info, "%d ranks, each with its share of every batch\n", ranks_size());
        fprintf(info, "%s: %zu rows (%zu train, %zu valid, %zu test), %zu inputs -> %s",
                o->data, r->n, r->split.n_train, r->split.n_valid, r->split.n_test, r->n_in,
                r->column);
        if (r->classify)
            fprintf(info, " (%zu classes)", r->k);
        fprintf(info, ", hidden %zu, %s lr %g, batch %zu, %zu epochs", o->hidden,
                o->optimizer == BP_OPTIM_ADAM ? "adam" : "sgd", o->lr, o->batch, o->epochs);
        if (o->patience)
            fprintf(info, " at most (patience %zu)", o->patience);
        fputc('\n', info);
    }
    rc = fit(r, &r->net, info, logf);
    r->train_seconds = now() - t0;
    if (logf && fclose(logf) != 0 && rc == 0) {
        fprintf(stderr, "%s: %s: write failed\n", cli_name(), o->log);
        return 1;
    }
    if (rc == 0 && r->classify && o->epochs > 0) {
        /* x → dense → softmax: multinomial logistic regression, fitted as the
         * network is, at a larger step (it is convex, and smaller) */
        rc = ranks_agree(make_model(r, &r->linear, 0, 10 * o->lr));
        if (rc == 0)
            rc = fit(r, &r->linear, NULL, NULL);
    }
    return rc;
}

/* --save and --dot. */
static int write_files(run *r)
{
    const options *o = r->o;
    bp_error err;

    if (o->save && bp_params_save(r->net.g, o->save, &err) != BP_OK)
        return lib_error(&err);
    if (o->dot) {
        /* Picture the graph as it trains: shapes of one full training batch
         * (the last forward was on the test split). */
        size_t rows = o->batch < r->split.n_train ? o->batch : r->split.n_train;
        bp_matrix x = {rows, r->xtrain->cols, r->xtrain->data};
        bp_matrix y = {rows, r->ytrain->cols, r->ytrain->data};
        if (bp_node_bind_value(r->net.x, &x) != BP_OK || bp_node_bind_value(r->net.y, &y) != BP_OK ||
            bp_forward(r->net.g, r->net.loss) != BP_OK)
            return graph_error(&r->net);
        if (bp_dot_save(r->net.g, r->net.loss, o->dot_backward, o->dot, &err) != BP_OK)
            return lib_error(&err);
    }
    return 0;
}

static void run_free(run *r)
{
    model_free(&r->net);
    model_free(&r->linear);
    load_free(r);
    bp_matrix_free(r->xtrain);
    bp_matrix_free(r->ytrain);
    bp_matrix_free(r->xvalid);
    bp_matrix_free(r->xtest);
    scores_free(&r->s);
}

int main(int argc, char **argv)
{
    options o;
    run r = {0};
    double t0 = now();
    int rc;

    if (ranks_start(&argc, &argv) != 0)
        return 1;
    cli_init(argv);
    if ((rc = ranks_agree(parse_args(argc, argv, &o))) != 0)
        return ranks_stop(rc < 0 ? 0 : rc);
    if (ranks_rank() != 0)
        o.quiet = 1;    /* rank 0 speaks for all */
    r.o = &o;
    r.info = o.json || o.predict ? stderr : stdout;
    /* every rank loads the table and builds the model: a rank that fails
     * stops all */
    rc = ranks_agree(load(&r));
    if (rc == 0)
        rc = ranks_agree(targets(&r));
    if (rc == 0)
        rc = ranks_agree(model_stage(&r));
    if (rc == 0 && o.predict)
        rc = ranks_rank() == 0 ? write_predictions(&r) : 0;
    else if (rc == 0) {
        rc = train(&r, t0);
        /* the ranks hold the same model: rank 0 evaluates it */
        if (rc == 0 && ranks_rank() == 0)
            rc = evaluate(&r);
        if (rc == 0 && ranks_rank() == 0)
            rc = write_files(&r);
        if (rc == 0 && ranks_rank() == 0)
            report(&r);
    }
    run_free(&r);
    return ranks_stop(rc);
}
