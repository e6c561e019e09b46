/*
 * tools/train: trains a dense network on columns of a CSV file, with the
 * public bpgraph API only, and compares it on the test split with least
 * squares (LAPACKE_dgels) and, for a "<col>_tomorrow" target, with
 * "tomorrow = today".
 *
 *   tools/train --data ../shared/data/clean_weather.csv      (the defaults)
 *   tools/train --help
 *
 * Regression: x → dense → relu → dense → prediction, MSE on standardised
 * targets.  --classes K: the same network gives K logits, then the lesson's
 * staged softmax and NLL.  Exit status 0, 1 on a data or file error, 2 on a
 * usage error.
 */
#define _GNU_SOURCE 1   /* getopt_long */
#include "config.h"

#include "bpgraph.h"

#include <errno.h>
#include <getopt.h>
#include <lapacke.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_INPUTS 64

typedef struct options {
    const char *data;
    struct { const char *name; size_t len; } input[MAX_INPUTS];  /* not NUL-ended */
    size_t n_inputs;
    const char *target;
    size_t hidden;
    size_t epochs;
    double lr;
    int lr_given;
    size_t batch;
    uint64_t seed;
    int optimizer;          /* BP_OPTIM_* */
    double momentum;
    size_t classes;         /* 0: regression */
    double band;
    double valid, test;
    int shuffle_split;
    int json;
    int quiet;
    const char *save, *load, *dot, *log;
    int dot_backward;
} options;

static const char *prog = "train";

static void usage(FILE *f)
{
    fprintf(f,
        "usage: %s [options]\n"
        "Trains a dense network (one relu hidden layer) on columns of a CSV file and\n"
        "compares it on the test split with least squares and \"tomorrow = today\".\n"
        "\n"
        "data\n"
        "  --data FILE        CSV with a header row (default ../shared/data/clean_weather.csv)\n"
        "  --inputs A,B,...   input columns (default tmax,tmin,rain); an empty name is an error\n"
        "  --input COL        one input column, its name taken whole (it may hold a comma);\n"
        "                     repeat it, or mix it with --inputs, to add columns in order\n"
        "  --target COL       target column (default tmax_tomorrow)\n"
        "  --valid F --test F fractions for validation and test (default 0.15 each);\n"
        "                     rows are split in file order: train, then valid, then test\n"
        "  --shuffle-split    split shuffled rows instead (seeded)\n"
        "model and training\n"
        "  --hidden N         hidden units (default 16)\n"
        "  --epochs N         passes over the training split (default 20)\n"
        "  --batch N          minibatch rows (default 64)\n"
        "  --optimizer NAME   adam (default) or sgd\n"
        "  --lr X             learning rate (default 3e-3 for adam, 1e-2 for sgd)\n"
        "  --momentum X       SGD momentum (default 0.9)\n"
        "  --seed N           seed for initialisation and shuffling (default 1)\n"
        "  --classes K        classify instead of regress: the change d = target - first\n"
        "                     input; K = 3: colder (d < -band), same, warmer (d > band);\n"
        "                     other K: K equal-count bins of d on the training split\n"
        "  --band X           half-width of \"same\" for --classes 3 (default 2)\n"
        "output\n"
        "  --json             print the final metrics as one JSON object on stdout\n"
        "                     (progress lines then go to stderr)\n"
        "  --quiet            print nothing but errors (and the --json object)\n"
        "  --log FILE         per-epoch metrics as CSV\n"
        "  --save FILE        save the trained params (bpgraph params format)\n"
        "  --load FILE        start from saved params (use --epochs 0 to evaluate only)\n"
        "  --dot FILE         write the network's graph as Graphviz DOT\n"
        "  --dot-backward     ... the backward graph instead (edges carry gradients)\n"
        "  --help             this text\n"
        "  --version          the version\n"
        "Options take their value as --opt VALUE or --opt=VALUE; -- ends the options.\n",
        prog);
}

/* A usage error, GNU style; returns the exit status 2. */
static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry '%s --help' for more information.\n", prog);
    return 2;
}

static int parse_size(const char *s, size_t *out, size_t min)
{
    char *end;
    unsigned long long v;
    if (!s || !*s || *s == '-')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > (unsigned long long)SIZE_MAX)
        return -1;
    *out = (size_t)v;
    return 0;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    if (!s || !*s)
        return -1;
    errno = 0;
    *out = strtod(s, &end);
    return errno || *end || !isfinite(*out) ? -1 : 0;
}

enum {
    OPT_DATA = 256, OPT_INPUTS, OPT_INPUT, OPT_TARGET, OPT_HIDDEN, OPT_EPOCHS, OPT_BATCH,
    OPT_SEED, OPT_CLASSES, OPT_LR, OPT_MOMENTUM, OPT_BAND, OPT_VALID, OPT_TEST, OPT_OPTIMIZER,
    OPT_SHUFFLE_SPLIT, OPT_JSON, OPT_QUIET, OPT_SAVE, OPT_LOAD, OPT_DOT, OPT_DOT_BACKWARD, OPT_LOG,
    OPT_VERSION
};

static const struct option long_options[] = {
    {"data", required_argument, NULL, OPT_DATA},
    {"inputs", required_argument, NULL, OPT_INPUTS},
    {"input", required_argument, NULL, OPT_INPUT},
    {"target", required_argument, NULL, OPT_TARGET},
    {"hidden", required_argument, NULL, OPT_HIDDEN},
    {"epochs", required_argument, NULL, OPT_EPOCHS},
    {"batch", required_argument, NULL, OPT_BATCH},
    {"seed", required_argument, NULL, OPT_SEED},
    {"classes", required_argument, NULL, OPT_CLASSES},
    {"lr", required_argument, NULL, OPT_LR},
    {"momentum", required_argument, NULL, OPT_MOMENTUM},
    {"band", required_argument, NULL, OPT_BAND},
    {"valid", required_argument, NULL, OPT_VALID},
    {"test", required_argument, NULL, OPT_TEST},
    {"optimizer", required_argument, NULL, OPT_OPTIMIZER},
    {"shuffle-split", no_argument, NULL, OPT_SHUFFLE_SPLIT},
    {"json", no_argument, NULL, OPT_JSON},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"save", required_argument, NULL, OPT_SAVE},
    {"load", required_argument, NULL, OPT_LOAD},
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
            return whole ? usage_error("--input needs a column name")
                         : usage_error("--inputs '%s' has an empty column name (use --input NAME "
                                       "for a name that holds a comma)", arg);
        if (o->n_inputs == MAX_INPUTS)
            return usage_error("more than %d input columns", MAX_INPUTS);
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
    o->data = "../shared/data/clean_weather.csv";
    o->target = "tmax_tomorrow";
    o->hidden = 16;
    o->epochs = 20;
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
            printf("bpgraph-train (bpgraph) %s\n", PACKAGE_VERSION);
            return -1;
        case OPT_DATA: o->data = v; break;
        case OPT_INPUTS:
        case OPT_INPUT:
            if (add_inputs(o, v, c == OPT_INPUT))
                return 2;
            break;
        case OPT_TARGET: o->target = v; break;
        case OPT_HIDDEN:
            if (parse_size(v, &o->hidden, 1))
                return usage_error("--hidden needs a whole number >= 1, not '%s'", v);
            break;
        case OPT_EPOCHS:
            if (parse_size(v, &o->epochs, 0))
                return usage_error("--epochs needs a whole number >= 0, not '%s'", v);
            break;
        case OPT_BATCH:
            if (parse_size(v, &o->batch, 1))
                return usage_error("--batch needs a whole number >= 1, not '%s'", v);
            break;
        case OPT_SEED:
            if (parse_size(v, &sz, 0))
                return usage_error("--seed needs a whole number >= 0, not '%s'", v);
            o->seed = sz;
            break;
        case OPT_CLASSES:
            if (parse_size(v, &o->classes, 2) || o->classes > 100)
                return usage_error("--classes needs a whole number from 2 to 100, not '%s'", v);
            break;
        case OPT_LR:
            if (parse_double(v, &o->lr) || !(o->lr > 0))
                return usage_error("--lr needs a number > 0, not '%s'", v);
            o->lr_given = 1;
            break;
        case OPT_MOMENTUM:
            if (parse_double(v, &o->momentum) || o->momentum < 0 || o->momentum >= 1)
                return usage_error("--momentum needs a number in [0, 1), not '%s'", v);
            break;
        case OPT_BAND:
            if (parse_double(v, &o->band) || o->band < 0)
                return usage_error("--band needs a number >= 0, not '%s'", v);
            break;
        case OPT_VALID:
        case OPT_TEST:
            if (parse_double(v, &f) || f < 0 || f >= 1)
                return usage_error("--valid and --test need a fraction in [0, 1), not '%s'", v);
            *(c == OPT_VALID ? &o->valid : &o->test) = f;
            break;
        case OPT_OPTIMIZER:
            if (!strcmp(v, "adam"))
                o->optimizer = BP_OPTIM_ADAM;
            else if (!strcmp(v, "sgd"))
                o->optimizer = BP_OPTIM_SGD;
            else
                return usage_error("--optimizer is adam or sgd, not '%s'", v);
            break;
        case OPT_SHUFFLE_SPLIT: o->shuffle_split = 1; break;
        case OPT_JSON: o->json = 1; break;
        case OPT_QUIET: o->quiet = 1; break;
        case OPT_SAVE: o->save = v; break;
        case OPT_LOAD: o->load = v; break;
        case OPT_DOT: o->dot = v; break;
        case OPT_DOT_BACKWARD: o->dot_backward = 1; break;
        case OPT_LOG: o->log = v; break;
        case ':':
            return usage_error("option '%s' requires an argument", argv[optind - 1]);
        default:
            return usage_error("unrecognized option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s' (%s takes options only)", argv[optind], prog);
    if (o->n_inputs == 0)
        add_inputs(o, "tmax,tmin,rain", 0);
    if (o->valid + o->test >= 1)
        return usage_error("--valid plus --test must be below 1");
    if (o->dot_backward && !o->dot)
        return usage_error("--dot-backward needs --dot FILE");
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

/* The model and its data. */
typedef struct model {
    bp_graph *g;
    bp_node *x, *y, *W1, *b1, *W2, *b2, *Z1, *A1, *out, *prob, *loss;
} model;

static int graph_error(const model *m)
{
    fprintf(stderr, "%s: %s\n", prog, bp_graph_message(m->g));
    return 1;
}

/* Z1 = x·W1 + b1 (n×h), A1 = relu(Z1), Z2 = A1·W2 + b2 (n×k);
 * regression: L = mse(Z2, y); classification: L = nll(softmax(Z2), y). */
static int build(model *m, size_t n_in, size_t hidden, size_t k, int classify, uint64_t seed)
{
    bp_rng rng;

    m->g = bp_graph_new();
    if (!m->g) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return 1;
    }
    /* The trainer never looks at Z1 itself: let relu work over its buffers. */
    bp_graph_set_inplace(m->g, 1);
    m->x = bp_input(m->g, 1, n_in, "x");
    m->y = bp_input(m->g, 1, k, "y");
    m->W1 = bp_param(m->g, n_in, hidden, "W1");
    m->b1 = bp_param(m->g, 1, hidden, "b1");
    m->W2 = bp_param(m->g, hidden, k, "W2");
    m->b2 = bp_param(m->g, 1, k, "b2");
    m->Z1 = bp_dense(m->g, m->x, m->W1, m->b1);
    m->A1 = bp_relu(m->g, m->Z1);
    m->out = bp_dense(m->g, m->A1, m->W2, m->b2);
    if (classify) {
        m->prob = bp_softmax_staged(m->g, m->out);
        m->loss = bp_nll(m->g, m->prob, m->y);
    } else {
        m->loss = bp_mse(m->g, m->out, m->y);
    }
    if (bp_graph_status(m->g) != BP_OK)
        return graph_error(m);
    bp_node_set_name(m->Z1, "Z1");
    bp_node_set_name(m->A1, "A1");
    bp_node_set_name(m->out, "Z2");
    if (m->prob)
        bp_node_set_name(m->prob, "P");
    bp_node_set_name(m->loss, "L");
    /* He for the relu layer, Glorot for the output; biases start at 0. */
    bp_rng_seed(&rng, seed);
    if (bp_init_he(m->W1, &rng) != BP_OK || bp_init_glorot(m->W2, &rng) != BP_OK)
        return graph_error(m);
    return 0;
}

/* Network output for every row of xs into a new matrix (*out): Z2 for
 * regression, probabilities for classification. */
static int predict(model *m, const bp_matrix *xs, bp_matrix **out)
{
    bp_node *node = m->prob ? m->prob : m->out;
    /* bound, not copied: xs may be the whole split */
    if (bp_node_bind_value(m->x, xs) != BP_OK || bp_forward(m->g, node) != BP_OK)
        return graph_error(m);
    *out = bp_matrix_copy(bp_node_value(node));
    if (!*out) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return 1;
    }
    return 0;
}

static double mse_of(const double *pred, const double *truth, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (pred[i] - truth[i]) * (pred[i] - truth[i]);
    return n ? s / (double)n : NAN;
}

static size_t argmax_row(const double *p, size_t k)
{
    size_t best = 0;
    for (size_t j = 1; j < k; j++)
        if (p[j] > p[best])
            best = j;
    return best;
}

/* Least squares on [x, 1]: coef (cols + 1 values, intercept last) from the
 * training rows with LAPACKE_dgels.  0, or 1 with a message. */
static int lstsq(const bp_matrix *xs, const double *y, size_t n, double *coef)
{
    size_t p = xs->cols + 1;
    double *a = malloc(n * p * sizeof *a), *b = malloc(n * sizeof *b);
    lapack_int info;

    if (!a || !b) {
        free(a);
        free(b);
        fprintf(stderr, "%s: out of memory\n", prog);
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        memcpy(a + i * p, xs->data + i * xs->cols, xs->cols * sizeof(double));
        a[i * p + xs->cols] = 1.0;
        b[i] = y[i];
    }
    /* min ||A·c − b||, A n×p row-major; the solution overwrites b[0..p) */
    info = LAPACKE_dgels(LAPACK_ROW_MAJOR, 'N', (lapack_int)n, (lapack_int)p, 1, a,
                         (lapack_int)p, b, 1);
    if (info != 0) {
        fprintf(stderr, "%s: least squares failed (LAPACKE_dgels info %d): %s\n", prog, (int)info,
                info > 0 ? "the inputs are linearly dependent" : "bad argument");
        free(a);
        free(b);
        return 1;
    }
    memcpy(coef, b, p * sizeof(double));
    free(a);
    free(b);
    return 0;
}

static double lstsq_predict(const double *coef, const double *x, size_t p)
{
    double s = coef[p];
    for (size_t j = 0; j < p; j++)
        s += coef[j] * x[j];
    return s;
}

/* "name": value, ; JSON has no NaN or infinity: null then (e.g. no epoch
 * run, or a diverged net). */
static void json_num(const char *name, double v)
{
    if (isfinite(v))
        printf("\"%s\": %.9g, ", name, v);
    else
        printf("\"%s\": null, ", name);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Class of a change d: K = 3 with a band, or K equal-count bins whose
 * K − 1 edges were taken from the training split. */
static size_t class_of(double d, size_t k, double band, const double *edges)
{
    size_t c = 0;
    if (!edges)
        return d < -band ? 0 : d > band ? 2 : 1;
    while (c + 1 < k && d > edges[c])
        c++;
    return c;
}

/* Everything one run holds, filled stage by stage and freed by run_free. */
typedef struct run {
    const options *o;
    FILE *info;             /* progress and summary: stdout, or stderr with --json */
    int classify;
    size_t n_in, n, k;      /* input columns, rows, outputs (classes or 1) */
    /* load */
    char *input_names[MAX_INPUTS];
    const char *names[MAX_INPUTS + 1];
    bp_matrix *table;       /* inputs then target, as read */
    bp_matrix *xs;          /* inputs, standardised on the training split */
    double *target;
    bp_matrix *base;        /* <col> of a <col>_tomorrow target, or NULL */
    const char *base_name;
    char base_buf[256];
    bp_split split;
    const size_t *train_rows, *valid_rows, *test_rows;
    bp_scaler *xscale, *yscale;
    /* targets */
    double *change, *edges;  /* classification: target − first input; bin edges */
    bp_matrix *xtrain, *ytrain, *xvalid, *xtest;
    /* model and training */
    model m;
    bp_batcher *batcher;
    bp_optimizer *opt;
    size_t epochs_run;
    double last_train_loss, last_valid, train_seconds;
    /* test split */
    double net_metric, ls_metric, today_metric, majority;
} run;

static int out_of_memory(void)
{
    fprintf(stderr, "%s: out of memory\n", prog);
    return 1;
}

static int data_error(const run *r, const bp_error *err)
{
    fprintf(stderr, "%s: %s: %s\n", prog, r->o->data, err->message);
    return 1;
}

static int lib_error(const bp_error *err)
{
    fprintf(stderr, "%s: %s\n", prog, err->message);
    return 1;
}

/* "tomorrow = today": a target named <col>_tomorrow with <col> in the file. */
static int load_today(run *r)
{
    const char *t = r->o->target;
    size_t len = strlen(t), suffix = strlen("_tomorrow");
    const char *cols[1] = {r->base_buf};
    bp_error err;

    if (len <= suffix || len - suffix >= sizeof r->base_buf || strcmp(t + len - suffix, "_tomorrow"))
        return 0;
    memcpy(r->base_buf, t, len - suffix);
    r->base_buf[len - suffix] = '\0';
    if (bp_csv_read(r->o->data, cols, 1, &r->base, NULL, &err) == BP_OK)
        r->base_name = r->base_buf;
    else if (err.status != BP_ENOTFOUND)
        return lib_error(&err);
    return 0;
}

/* Stage 1: reads the input and target columns, splits the rows and
 * standardises the inputs on the training split.  0, or 1 (or 2 for a
 * usage error) after a message. */
static int load(run *r)
{
    const options *o = r->o;
    size_t n_in;
    bp_error err;

    r->n_in = n_in = o->n_inputs;
    for (size_t j = 0; j < n_in; j++) {
        r->names[j] = r->input_names[j] = strndup(o->input[j].name, o->input[j].len);
        if (!r->input_names[j])
            return out_of_memory();
    }
    r->names[n_in] = o->target;
    if (bp_csv_read(o->data, r->names, n_in + 1, &r->table, NULL, &err) != BP_OK)
        return lib_error(&err);
    r->n = r->table->rows;
    if (bp_split_rows(r->n, o->valid, o->test, o->shuffle_split, o->seed, &r->split, &err) != BP_OK)
        return data_error(r, &err);
    if (r->split.n_test == 0 || (o->epochs > 0 && r->split.n_valid == 0)) {
        fprintf(stderr, "%s: %s: %zu rows leave no %s rows\n", prog, o->data, r->n,
                r->split.n_test == 0 ? "test" : "validation");
        return 1;
    }
    r->train_rows = r->split.index;
    r->valid_rows = r->train_rows + r->split.n_train;
    r->test_rows = r->valid_rows + r->split.n_valid;

    r->xs = bp_matrix_alloc(r->n, n_in);
    r->target = malloc(r->n * sizeof *r->target);
    if (!r->xs || !r->target)
        return out_of_memory();
    for (size_t i = 0; i < r->n; i++) {
        memcpy(r->xs->data + i * n_in, r->table->data + i * (n_in + 1), n_in * sizeof(double));
        r->target[i] = r->table->data[i * (n_in + 1) + n_in];
    }
    if (bp_scaler_fit(r->xs, r->train_rows, r->split.n_train, &r->xscale, &err) != BP_OK ||
        bp_scaler_apply(r->xscale, r->xs, &err) != BP_OK)
        return data_error(r, &err);
    return load_today(r);
}

/* The class of row i's target (classification only). */
static size_t class_of_row(const run *r, size_t i)
{
    return class_of(r->change[i], r->k, r->o->band, r->edges);
}

/* Stage 2: the training targets (standardised values, or one-hot classes
 * of the change against the first input) and the rows of each split. */
static int targets(run *r)
{
    const options *o = r->o;
    const bp_split *s = &r->split;
    bp_error err;

    r->k = 1;
    if (r->classify) {
        r->k = o->classes;
        r->change = malloc(r->n * sizeof *r->change);
        if (!r->change)
            return out_of_memory();
        for (size_t i = 0; i < r->n; i++)
            r->change[i] = r->target[i] - r->table->data[i * (r->n_in + 1)];
        if (r->k != 3) {
            double *sorted = malloc(s->n_train * sizeof *sorted);
            r->edges = malloc((r->k - 1) * sizeof *r->edges);
            if (!sorted || !r->edges) {
                free(sorted);
                return out_of_memory();
            }
            for (size_t i = 0; i < s->n_train; i++)
                sorted[i] = r->change[r->train_rows[i]];
            qsort(sorted, s->n_train, sizeof *sorted, cmp_double);
            for (size_t c = 1; c < r->k; c++)
                r->edges[c - 1] = sorted[c * s->n_train / r->k];
            free(sorted);
        }
    }
    if (bp_matrix_take_rows(r->xs, r->train_rows, s->n_train, &r->xtrain, &err) != BP_OK ||
        bp_matrix_take_rows(r->xs, r->valid_rows, s->n_valid, &r->xvalid, &err) != BP_OK ||
        bp_matrix_take_rows(r->xs, r->test_rows, s->n_test, &r->xtest, &err) != BP_OK)
        return lib_error(&err);
    r->ytrain = bp_matrix_alloc(s->n_train, r->k);
    if (!r->ytrain)
        return out_of_memory();
    for (size_t i = 0; i < s->n_train; i++) {
        size_t row = r->train_rows[i];
        if (r->classify)
            r->ytrain->data[i * r->k + class_of_row(r, row)] = 1.0;
        else
            r->ytrain->data[i] = r->target[row];
    }
    if (!r->classify && (bp_scaler_fit(r->ytrain, NULL, 0, &r->yscale, &err) != BP_OK ||
                         bp_scaler_apply(r->yscale, r->ytrain, &err) != BP_OK))
        return data_error(r, &err);
    return 0;
}

/* Stage 3: the network, its starting (or loaded) params, the batcher and
 * the optimizer. */
static int make_model(run *r)
{
    const options *o = r->o;
    bp_optim_config cfg;
    bp_error err;
    const bp_matrix *src[2] = {r->xtrain, r->ytrain};
    bp_node *dst[2];

    if (build(&r->m, r->n_in, o->hidden, r->k, r->classify, o->seed) != 0)
        return 1;
    if (o->load && bp_params_load(r->m.g, o->load, &err) != BP_OK)
        return lib_error(&err);
    dst[0] = r->m.x;
    dst[1] = r->m.y;
    if (bp_batcher_new(2, src, dst, NULL, 0, o->batch, 1, o->seed + 1, &r->batcher, &err) != BP_OK)
        return lib_error(&err);
    cfg = bp_optim_defaults((bp_optim_kind)o->optimizer);
    cfg.lr = o->lr;
    if (o->optimizer == BP_OPTIM_SGD)
        cfg.momentum = o->momentum;
    if (bp_optimizer_new(r->m.g, NULL, 0, &cfg, &r->opt) != BP_OK)
        return graph_error(&r->m);
    return 0;
}

/* The validation metric in original units: RMSE in the target's unit, or
 * accuracy. */
static int validate(run *r)
{
    bp_matrix *pred;
    size_t nv = r->split.n_valid;

    if (predict(&r->m, r->xvalid, &pred) != 0)
        return 1;
    if (r->classify) {
        size_t hits = 0;
        for (size_t i = 0; i < nv; i++)
            hits += argmax_row(pred->data + i * r->k, r->k) == class_of_row(r, r->valid_rows[i]);
        r->last_valid = (double)hits / (double)nv;
    } else {
        double s = 0;
        bp_scaler_invert(r->yscale, pred, NULL);
        for (size_t i = 0; i < nv; i++) {
            double d = pred->data[i] - r->target[r->valid_rows[i]];
            s += d * d;
        }
        r->last_valid = sqrt(s / (double)nv);
    }
    bp_matrix_free(pred);
    return 0;
}

/* One pass over the training split; its mean loss in r->last_train_loss. */
static int train_epoch(run *r)
{
    double sum = 0;
    size_t rows, seen = 0;

    for (;;) {
        if (bp_batcher_next(r->batcher, &rows) != BP_OK)
            return graph_error(&r->m);
        if (rows == 0)
            break;
        bp_zero_grad(r->m.g);
        if (bp_forward(r->m.g, r->m.loss) != BP_OK || bp_backward(r->m.g, r->m.loss, NULL) != BP_OK ||
            bp_optimizer_step(r->opt) != BP_OK)
            return graph_error(&r->m);
        sum += bp_node_value(r->m.loss)->data[0] * (double)rows;
        seen += rows;
    }
    r->last_train_loss = sum / (double)seen;
    return 0;
}

/* Stage 4: --epochs passes, one progress line (and --log row) each. */
static int train(run *r, double t0)
{
    const options *o = r->o;
    FILE *logf = NULL;

    if (o->log) {
        logf = fopen(o->log, "w");
        if (!logf) {
            fprintf(stderr, "%s: %s: cannot open for writing: %s\n", prog, o->log, strerror(errno));
            return 1;
        }
        fprintf(logf, "epoch,train_loss,%s,seconds\n", r->classify ? "valid_accuracy" : "valid_rmse");
    }
    if (!o->quiet)
        fprintf(r->info, "%s: %zu rows (%zu train, %zu valid, %zu test), %zu inputs -> %s%s, "
                "hidden %zu, %s lr %g, batch %zu, %zu epochs\n",
                o->data, r->n, r->split.n_train, r->split.n_valid, r->split.n_test, r->n_in,
                o->target, r->classify ? " (classes)" : "", o->hidden,
                o->optimizer == BP_OPTIM_ADAM ? "adam" : "sgd", o->lr, o->batch, o->epochs);
    for (size_t epoch = 1; epoch <= o->epochs; epoch++) {
        double t = now();
        if (train_epoch(r) != 0 || validate(r) != 0) {
            if (logf)
                fclose(logf);
            return 1;
        }
        t = now() - t;
        if (!o->quiet)
            fprintf(r->info, "epoch %3zu  train loss %.5f  valid %s %.4f  %.3fs\n", epoch,
                    r->last_train_loss, r->classify ? "accuracy" : "rmse", r->last_valid, t);
        if (logf)
            fprintf(logf, "%zu,%.9g,%.9g,%.4f\n", epoch, r->last_train_loss, r->last_valid, t);
        r->epochs_run++;
    }
    r->train_seconds = now() - t0;
    if (logf && fclose(logf) != 0) {
        fprintf(stderr, "%s: %s: write failed\n", prog, o->log);
        return 1;
    }
    return 0;
}

/* Test-split accuracies: network, class of the least-squares change, "no
 * change" and the training split's majority class. */
static int evaluate_classes(run *r, const bp_matrix *pred, const double *coef)
{
    size_t hits = 0, ls_hits = 0, today_hits = 0, major_hits = 0, best = 0, nt = r->split.n_test;
    size_t *count = calloc(r->k, sizeof *count);

    if (!count)
        return out_of_memory();
    for (size_t i = 0; i < r->split.n_train; i++)
        count[class_of_row(r, r->train_rows[i])]++;
    for (size_t c = 1; c < r->k; c++)
        if (count[c] > count[best])
            best = c;
    for (size_t i = 0; i < nt; i++) {
        size_t truth = class_of_row(r, r->test_rows[i]);
        double ls = lstsq_predict(coef, r->xtest->data + i * r->n_in, r->n_in);
        hits += argmax_row(pred->data + i * r->k, r->k) == truth;
        ls_hits += class_of(ls, r->k, r->o->band, r->edges) == truth;
        today_hits += class_of(0.0, r->k, r->o->band, r->edges) == truth;
        major_hits += truth == best;
    }
    r->net_metric = (double)hits / (double)nt;
    r->ls_metric = (double)ls_hits / (double)nt;
    r->today_metric = (double)today_hits / (double)nt;
    r->majority = (double)major_hits / (double)nt;
    free(count);
    return 0;
}

/* Test-split mean squared errors: network, least squares and, with a
 * <col>_tomorrow target, "tomorrow = today". */
static int evaluate_regression(run *r, bp_matrix *pred, const double *coef)
{
    size_t nt = r->split.n_test;
    double *p_ls = malloc(nt * sizeof *p_ls), *truth = malloc(nt * sizeof *truth);

    if (!p_ls || !truth) {
        free(p_ls);
        free(truth);
        return out_of_memory();
    }
    bp_scaler_invert(r->yscale, pred, NULL);
    for (size_t i = 0; i < nt; i++) {
        truth[i] = r->target[r->test_rows[i]];
        p_ls[i] = lstsq_predict(coef, r->xtest->data + i * r->n_in, r->n_in);
    }
    r->net_metric = mse_of(pred->data, truth, nt);
    r->ls_metric = mse_of(p_ls, truth, nt);
    if (r->base) {
        for (size_t i = 0; i < nt; i++)
            p_ls[i] = r->base->data[r->test_rows[i]];
        r->today_metric = mse_of(p_ls, truth, nt);
    }
    free(p_ls);
    free(truth);
    return 0;
}

/* Stage 5: the network and the baselines on the test split; least squares
 * fits the target (or, classifying, the change) on the training split. */
static int evaluate(run *r)
{
    size_t ntr = r->split.n_train;
    double *coef = malloc((r->n_in + 1) * sizeof *coef), *ytr = malloc(ntr * sizeof *ytr);
    bp_matrix *pred = NULL;
    int rc;

    if (!coef || !ytr) {
        free(coef);
        free(ytr);
        return out_of_memory();
    }
    for (size_t i = 0; i < ntr; i++)
        ytr[i] = r->classify ? r->change[r->train_rows[i]] : r->target[r->train_rows[i]];
    rc = lstsq(r->xtrain, ytr, ntr, coef);
    free(ytr);
    if (rc == 0)
        rc = predict(&r->m, r->xtest, &pred);
    if (rc == 0)
        rc = r->classify ? evaluate_classes(r, pred, coef) : evaluate_regression(r, pred, coef);
    bp_matrix_free(pred);
    free(coef);
    return rc;
}

/* Stage 6a: --save and --dot. */
static int write_files(run *r)
{
    const options *o = r->o;
    bp_error err;

    if (o->save && bp_params_save(r->m.g, o->save, &err) != BP_OK)
        return lib_error(&err);
    if (o->dot) {
        /* Picture the graph as it trains: shapes of one full training batch
         * (the last forward was on the test split). */
        size_t rows;
        bp_batcher_reset(r->batcher);
        if (bp_batcher_next(r->batcher, &rows) != BP_OK || bp_forward(r->m.g, r->m.loss) != BP_OK)
            return graph_error(&r->m);
        if (bp_dot_save(r->m.g, r->m.loss, o->dot_backward, o->dot, &err) != BP_OK)
            return lib_error(&err);
    }
    return 0;
}

/* Stage 6b: the summary for people, and the --json object. */
static void report(const run *r)
{
    FILE *f = r->info;

    if (!r->o->quiet) {
        fprintf(f, "\ntest split (%zu rows)", r->split.n_test);
        if (r->classify) {
            fprintf(f, ", accuracy of %zu classes%s:\n", r->k,
                    r->edges ? " (equal-count bins of the change)" : " (colder / same / warmer)");
            fprintf(f, "  network             %.4f\n", r->net_metric);
            fprintf(f, "  least squares       %.4f   (class of the fitted change)\n", r->ls_metric);
            fprintf(f, "  no change           %.4f   (always \"same\")\n", r->today_metric);
            fprintf(f, "  majority class      %.4f\n", r->majority);
        } else {
            fprintf(f, ", mean squared error (RMSE) in the target's units:\n");
            fprintf(f, "  network             %9.4f (%.4f)\n", r->net_metric, sqrt(r->net_metric));
            fprintf(f, "  least squares       %9.4f (%.4f)   network/least squares = %.4f\n",
                    r->ls_metric, sqrt(r->ls_metric), r->net_metric / r->ls_metric);
            if (r->base_name)
                fprintf(f, "  tomorrow = today    %9.4f (%.4f)   (%s as the prediction)\n",
                        r->today_metric, sqrt(r->today_metric), r->base_name);
        }
        fprintf(f, "time %.2fs\n", r->train_seconds);
    }
    if (r->o->json) {
        printf("{\"task\": \"%s\", \"rows\": %zu, \"train_rows\": %zu, \"valid_rows\": %zu, "
               "\"test_rows\": %zu, \"epochs\": %zu, ",
               r->classify ? "classification" : "regression", r->n, r->split.n_train,
               r->split.n_valid, r->split.n_test, r->epochs_run);
        json_num("train_loss", r->last_train_loss);
        if (r->classify) {
            printf("\"classes\": %zu, ", r->k);
            json_num("test_accuracy", r->net_metric);
            json_num("lstsq_accuracy", r->ls_metric);
            json_num("today_accuracy", r->today_metric);
            json_num("majority_accuracy", r->majority);
        } else {
            json_num("test_mse", r->net_metric);
            json_num("test_rmse", sqrt(r->net_metric));
            json_num("lstsq_mse", r->ls_metric);
            json_num("lstsq_rmse", sqrt(r->ls_metric));
            if (r->base_name) {
                json_num("today_mse", r->today_metric);
                json_num("today_rmse", sqrt(r->today_metric));
            }
        }
        printf("\"seconds\": %.3f}\n", r->train_seconds);
    }
}

static void run_free(run *r)
{
    bp_optimizer_free(r->opt);
    bp_batcher_free(r->batcher);
    bp_graph_free(r->m.g);
    bp_scaler_free(r->xscale);
    bp_scaler_free(r->yscale);
    bp_split_free(&r->split);
    bp_matrix_free(r->table);
    bp_matrix_free(r->xs);
    bp_matrix_free(r->base);
    bp_matrix_free(r->xtrain);
    bp_matrix_free(r->ytrain);
    bp_matrix_free(r->xvalid);
    bp_matrix_free(r->xtest);
    free(r->target);
    free(r->change);
    free(r->edges);
    for (size_t j = 0; j < MAX_INPUTS; j++)
        free(r->input_names[j]);
}

int main(int argc, char **argv)
{
    options o;
    run r = {0};
    double t0 = now();
    int rc;

    if (argc > 0 && argv[0]) {
        const char *slash = strrchr(argv[0], '/');
        prog = slash ? slash + 1 : argv[0];
    }
    if ((rc = parse_args(argc, argv, &o)) != 0)
        return rc < 0 ? 0 : rc;
    r.o = &o;
    r.classify = o.classes > 0;
    r.info = o.json ? stderr : stdout;
    r.net_metric = r.ls_metric = r.today_metric = r.majority = NAN;
    r.last_train_loss = r.last_valid = NAN;
    rc = load(&r);
    if (rc == 0)
        rc = targets(&r);
    if (rc == 0)
        rc = make_model(&r);
    if (rc == 0)
        rc = train(&r, t0);
    if (rc == 0)
        rc = evaluate(&r);
    if (rc == 0)
        rc = write_files(&r);
    if (rc == 0)
        report(&r);
    run_free(&r);
    return rc;
}
