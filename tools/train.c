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
#define _POSIX_C_SOURCE 200809L
#include "bpgraph.h"

#include <errno.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_INPUTS 64

typedef struct options {
    const char *data;
    const char *inputs;
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
        "  --inputs A,B,...   input columns (default tmax,tmin,rain)\n"
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
        "  --help             this text\n",
        prog);
}

static int usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "%s: %s%s%s\nTry '%s --help'.\n", prog, what, arg ? ": " : "", arg ? arg : "", prog);
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

/* 0, or 2 after printing a usage error. */
static int parse_args(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof *o);
    o->data = "../shared/data/clean_weather.csv";
    o->inputs = "tmax,tmin,rain";
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
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        size_t sz;
#define NEED_VALUE() do { if (!v) return usage_error("option needs a value", a); i++; } while (0)
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(a, "--data")) {
            NEED_VALUE();
            o->data = v;
        } else if (!strcmp(a, "--inputs")) {
            NEED_VALUE();
            o->inputs = v;
        } else if (!strcmp(a, "--target")) {
            NEED_VALUE();
            o->target = v;
        } else if (!strcmp(a, "--hidden")) {
            NEED_VALUE();
            if (parse_size(v, &o->hidden, 1))
                return usage_error("--hidden needs a whole number >= 1", v);
        } else if (!strcmp(a, "--epochs")) {
            NEED_VALUE();
            if (parse_size(v, &o->epochs, 0))
                return usage_error("--epochs needs a whole number >= 0", v);
        } else if (!strcmp(a, "--batch")) {
            NEED_VALUE();
            if (parse_size(v, &o->batch, 1))
                return usage_error("--batch needs a whole number >= 1", v);
        } else if (!strcmp(a, "--seed")) {
            NEED_VALUE();
            if (parse_size(v, &sz, 0))
                return usage_error("--seed needs a whole number >= 0", v);
            o->seed = sz;
        } else if (!strcmp(a, "--classes")) {
            NEED_VALUE();
            if (parse_size(v, &o->classes, 2) || o->classes > 100)
                return usage_error("--classes needs a whole number from 2 to 100", v);
        } else if (!strcmp(a, "--lr")) {
            NEED_VALUE();
            if (parse_double(v, &o->lr) || !(o->lr > 0))
                return usage_error("--lr needs a number > 0", v);
            o->lr_given = 1;
        } else if (!strcmp(a, "--momentum")) {
            NEED_VALUE();
            if (parse_double(v, &o->momentum) || o->momentum < 0 || o->momentum >= 1)
                return usage_error("--momentum needs a number in [0, 1)", v);
        } else if (!strcmp(a, "--band")) {
            NEED_VALUE();
            if (parse_double(v, &o->band) || o->band < 0)
                return usage_error("--band needs a number >= 0", v);
        } else if (!strcmp(a, "--valid") || !strcmp(a, "--test")) {
            double f;
            NEED_VALUE();
            if (parse_double(v, &f) || f < 0 || f >= 1)
                return usage_error("--valid and --test need a fraction in [0, 1)", v);
            *(a[2] == 'v' ? &o->valid : &o->test) = f;
        } else if (!strcmp(a, "--optimizer")) {
            NEED_VALUE();
            if (!strcmp(v, "adam"))
                o->optimizer = BP_OPTIM_ADAM;
            else if (!strcmp(v, "sgd"))
                o->optimizer = BP_OPTIM_SGD;
            else
                return usage_error("--optimizer is adam or sgd", v);
        } else if (!strcmp(a, "--shuffle-split")) {
            o->shuffle_split = 1;
        } else if (!strcmp(a, "--json")) {
            o->json = 1;
        } else if (!strcmp(a, "--quiet")) {
            o->quiet = 1;
        } else if (!strcmp(a, "--save")) {
            NEED_VALUE();
            o->save = v;
        } else if (!strcmp(a, "--load")) {
            NEED_VALUE();
            o->load = v;
        } else if (!strcmp(a, "--dot")) {
            NEED_VALUE();
            o->dot = v;
        } else if (!strcmp(a, "--dot-backward")) {
            o->dot_backward = 1;
        } else if (!strcmp(a, "--log")) {
            NEED_VALUE();
            o->log = v;
        } else {
            return usage_error("unknown option", a);
        }
#undef NEED_VALUE
    }
    if (o->valid + o->test >= 1)
        return usage_error("--valid plus --test must be below 1", NULL);
    if (o->dot_backward && !o->dot)
        return usage_error("--dot-backward needs --dot FILE", NULL);
    if (!o->lr_given)
        o->lr = o->optimizer == BP_OPTIM_ADAM ? 3e-3 : 1e-2;
    return 0;
}

/* Splits "a,b,c" into names (pointers into buf); the count, or 0. */
static size_t split_names(char *buf, const char **names, size_t max)
{
    size_t n = 0;
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (n == max || !*tok)
            return 0;
        names[n++] = tok;
    }
    return n;
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

int main(int argc, char **argv)
{
    options o;
    const char *names[MAX_INPUTS + 1], *base_name = NULL;
    char *inputs_buf = NULL, base_buf[256];
    size_t n_in, n, k, epochs_run;
    bp_matrix *table = NULL, *xs = NULL, *base = NULL;
    bp_matrix *xtrain = NULL, *ytrain = NULL, *xvalid = NULL, *xtest = NULL, *pred = NULL;
    double *target = NULL, *change = NULL, *edges = NULL, *coef = NULL;
    bp_split split = {0};
    bp_scaler *xscale = NULL, *yscale = NULL;
    bp_batcher *batcher = NULL;
    bp_optimizer *opt = NULL;
    bp_optim_config cfg;
    bp_error err;
    model m = {0};
    FILE *logf = NULL, *info;
    int rc = 1, classify;
    double t0 = now(), train_seconds;
    const size_t *train_rows, *valid_rows, *test_rows;
    /* final metrics */
    double net_metric = NAN, ls_metric = NAN, today_metric = NAN, majority = NAN;
    double last_train_loss = NAN, last_valid = NAN;

    if (argc > 0 && argv[0]) {
        const char *slash = strrchr(argv[0], '/');
        prog = slash ? slash + 1 : argv[0];
    }
    if ((rc = parse_args(argc, argv, &o)) != 0)
        return rc;
    rc = 1;
    classify = o.classes > 0;
    info = o.json ? stderr : stdout;

    /* ---- data: inputs then target in one table ---- */
    inputs_buf = malloc(strlen(o.inputs) + 1);
    if (!inputs_buf)
        goto oom;
    strcpy(inputs_buf, o.inputs);
    n_in = split_names(inputs_buf, names, MAX_INPUTS);
    if (n_in == 0) {
        free(inputs_buf);
        return usage_error("--inputs needs 1 to 64 comma-separated column names", o.inputs);
    }
    names[n_in] = o.target;
    if (bp_csv_read(o.data, names, n_in + 1, &table, NULL, &err) != BP_OK) {
        fprintf(stderr, "%s: %s\n", prog, err.message);
        goto done;
    }
    n = table->rows;
    if (bp_split_rows(n, o.valid, o.test, o.shuffle_split, o.seed, &split, &err) != BP_OK) {
        fprintf(stderr, "%s: %s: %s\n", prog, o.data, err.message);
        goto done;
    }
    if (split.n_test == 0 || (o.epochs > 0 && split.n_valid == 0)) {
        fprintf(stderr, "%s: %s: %zu rows leave no %s rows\n", prog, o.data, n,
                split.n_test == 0 ? "test" : "validation");
        goto done;
    }
    train_rows = split.index;
    valid_rows = train_rows + split.n_train;
    test_rows = valid_rows + split.n_valid;

    /* x: the input columns, standardised on the training split */
    xs = bp_matrix_alloc(n, n_in);
    target = malloc(n * sizeof *target);
    if (!xs || !target)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        memcpy(xs->data + i * n_in, table->data + i * (n_in + 1), n_in * sizeof(double));
        target[i] = table->data[i * (n_in + 1) + n_in];
    }
    if (bp_scaler_fit(xs, train_rows, split.n_train, &xscale, &err) != BP_OK ||
        bp_scaler_apply(xscale, xs, &err) != BP_OK) {
        fprintf(stderr, "%s: %s: %s\n", prog, o.data, err.message);
        goto done;
    }

    /* "tomorrow = today": a target named <col>_tomorrow with <col> in the file */
    {
        size_t len = strlen(o.target), suffix = strlen("_tomorrow");
        if (len > suffix && len - suffix < sizeof base_buf &&
            !strcmp(o.target + len - suffix, "_tomorrow")) {
            const char *cols[1] = {base_buf};
            memcpy(base_buf, o.target, len - suffix);
            base_buf[len - suffix] = '\0';
            if (bp_csv_read(o.data, cols, 1, &base, NULL, &err) == BP_OK)
                base_name = base_buf;
            else if (err.status != BP_ENOTFOUND) {
                fprintf(stderr, "%s: %s\n", prog, err.message);
                goto done;
            }
        }
    }

    /* classification: the change against the first input column */
    k = 1;
    if (classify) {
        k = o.classes;
        change = malloc(n * sizeof *change);
        if (!change)
            goto oom;
        for (size_t i = 0; i < n; i++)
            change[i] = target[i] - table->data[i * (n_in + 1)];
        if (k != 3) {
            double *sorted = malloc(split.n_train * sizeof *sorted);
            edges = malloc((k - 1) * sizeof *edges);
            if (!sorted || !edges) {
                free(sorted);
                goto oom;
            }
            for (size_t i = 0; i < split.n_train; i++)
                sorted[i] = change[train_rows[i]];
            qsort(sorted, split.n_train, sizeof *sorted, cmp_double);
            for (size_t c = 1; c < k; c++)
                edges[c - 1] = sorted[c * split.n_train / k];
            free(sorted);
        }
    }

    /* training targets: standardised values, or one-hot classes */
    xtrain = NULL;
    if (bp_matrix_take_rows(xs, train_rows, split.n_train, &xtrain, &err) != BP_OK ||
        bp_matrix_take_rows(xs, valid_rows, split.n_valid, &xvalid, &err) != BP_OK ||
        bp_matrix_take_rows(xs, test_rows, split.n_test, &xtest, &err) != BP_OK) {
        fprintf(stderr, "%s: %s\n", prog, err.message);
        goto done;
    }
    ytrain = bp_matrix_alloc(split.n_train, k);
    if (!ytrain)
        goto oom;
    for (size_t i = 0; i < split.n_train; i++) {
        size_t r = train_rows[i];
        if (classify)
            ytrain->data[i * k + class_of(change[r], k, o.band, edges)] = 1.0;
        else
            ytrain->data[i] = target[r];
    }
    if (!classify) {
        if (bp_scaler_fit(ytrain, NULL, 0, &yscale, &err) != BP_OK ||
            bp_scaler_apply(yscale, ytrain, &err) != BP_OK) {
            fprintf(stderr, "%s: %s: %s\n", prog, o.data, err.message);
            goto done;
        }
    }

    /* ---- the network ---- */
    if (build(&m, n_in, o.hidden, k, classify, o.seed) != 0)
        goto done;
    if (o.load && bp_params_load(m.g, o.load, &err) != BP_OK) {
        fprintf(stderr, "%s: %s\n", prog, err.message);
        goto done;
    }
    cfg = bp_optim_defaults((bp_optim_kind)o.optimizer);
    cfg.lr = o.lr;
    if (o.optimizer == BP_OPTIM_SGD)
        cfg.momentum = o.momentum;
    {
        const bp_matrix *src[2] = {xtrain, ytrain};
        bp_node *dst[2] = {m.x, m.y};
        if (bp_batcher_new(2, src, dst, NULL, 0, o.batch, 1, o.seed + 1, &batcher, &err) != BP_OK) {
            fprintf(stderr, "%s: %s\n", prog, err.message);
            goto done;
        }
    }
    if (bp_optimizer_new(m.g, NULL, 0, &cfg, &opt) != BP_OK) {
        graph_error(&m);
        goto done;
    }
    if (o.log) {
        logf = fopen(o.log, "w");
        if (!logf) {
            fprintf(stderr, "%s: %s: cannot open for writing: %s\n", prog, o.log, strerror(errno));
            goto done;
        }
        fprintf(logf, "epoch,train_loss,%s,seconds\n", classify ? "valid_accuracy" : "valid_rmse");
    }
    if (!o.quiet)
        fprintf(info, "%s: %zu rows (%zu train, %zu valid, %zu test), %zu inputs -> %s%s, "
                "hidden %zu, %s lr %g, batch %zu, %zu epochs\n",
                o.data, n, split.n_train, split.n_valid, split.n_test, n_in, o.target,
                classify ? " (classes)" : "", o.hidden,
                o.optimizer == BP_OPTIM_ADAM ? "adam" : "sgd", o.lr, o.batch, o.epochs);

    /* ---- training ---- */
    epochs_run = 0;
    for (size_t epoch = 1; epoch <= o.epochs; epoch++) {
        double sum = 0, t = now();
        size_t rows, seen = 0;
        for (;;) {
            if (bp_batcher_next(batcher, &rows) != BP_OK) {
                graph_error(&m);
                goto done;
            }
            if (rows == 0)
                break;
            bp_zero_grad(m.g);
            if (bp_forward(m.g, m.loss) != BP_OK || bp_backward(m.g, m.loss, NULL) != BP_OK ||
                bp_optimizer_step(opt) != BP_OK) {
                graph_error(&m);
                goto done;
            }
            sum += bp_node_value(m.loss)->data[0] * (double)rows;
            seen += rows;
        }
        last_train_loss = sum / (double)seen;
        /* validation in original units: RMSE in the target's unit, or accuracy */
        if (predict(&m, xvalid, &pred) != 0)
            goto done;
        if (classify) {
            size_t hits = 0;
            for (size_t i = 0; i < split.n_valid; i++)
                hits += argmax_row(pred->data + i * k, k) ==
                        class_of(change[valid_rows[i]], k, o.band, edges);
            last_valid = (double)hits / (double)split.n_valid;
        } else {
            double s = 0;
            if (bp_scaler_invert(yscale, pred, &err) != BP_OK) {
                fprintf(stderr, "%s: %s\n", prog, err.message);
                goto done;
            }
            for (size_t i = 0; i < split.n_valid; i++)
                s += (pred->data[i] - target[valid_rows[i]]) * (pred->data[i] - target[valid_rows[i]]);
            last_valid = sqrt(s / (double)split.n_valid);
        }
        bp_matrix_free(pred);
        pred = NULL;
        t = now() - t;
        if (!o.quiet)
            fprintf(info, "epoch %3zu  train loss %.5f  valid %s %.4f  %.3fs\n", epoch,
                    last_train_loss, classify ? "accuracy" : "rmse", last_valid, t);
        if (logf)
            fprintf(logf, "%zu,%.9g,%.9g,%.4f\n", epoch, last_train_loss, last_valid, t);
        epochs_run++;
    }
    train_seconds = now() - t0;
    if (logf) {
        if (fclose(logf) != 0) {
            logf = NULL;
            fprintf(stderr, "%s: %s: write failed\n", prog, o.log);
            goto done;
        }
        logf = NULL;
    }

    /* ---- test split: network and baselines ---- */
    coef = malloc((n_in + 1) * sizeof *coef);
    if (!coef)
        goto oom;
    {
        double *ytr = malloc(split.n_train * sizeof *ytr);
        if (!ytr)
            goto oom;
        for (size_t i = 0; i < split.n_train; i++)
            ytr[i] = classify ? change[train_rows[i]] : target[train_rows[i]];
        if (lstsq(xtrain, ytr, split.n_train, coef) != 0) {
            free(ytr);
            goto done;
        }
        free(ytr);
    }
    if (predict(&m, xtest, &pred) != 0)
        goto done;
    if (classify) {
        size_t hits = 0, ls_hits = 0, today_hits = 0, major_hits = 0, best = 0;
        size_t *count = calloc(k, sizeof *count);
        if (!count)
            goto oom;
        for (size_t i = 0; i < split.n_train; i++)
            count[class_of(change[train_rows[i]], k, o.band, edges)]++;
        for (size_t c = 1; c < k; c++)
            if (count[c] > count[best])
                best = c;
        for (size_t i = 0; i < split.n_test; i++) {
            size_t r = test_rows[i], truth = class_of(change[r], k, o.band, edges);
            hits += argmax_row(pred->data + i * k, k) == truth;
            ls_hits += class_of(lstsq_predict(coef, xtest->data + i * n_in, n_in), k, o.band, edges) == truth;
            today_hits += class_of(0.0, k, o.band, edges) == truth;
            major_hits += truth == best;
        }
        net_metric = (double)hits / (double)split.n_test;
        ls_metric = (double)ls_hits / (double)split.n_test;
        today_metric = (double)today_hits / (double)split.n_test;
        majority = (double)major_hits / (double)split.n_test;
        free(count);
    } else {
        double *p_ls = malloc(split.n_test * sizeof *p_ls), *truth = malloc(split.n_test * sizeof *truth);
        if (!p_ls || !truth) {
            free(p_ls);
            free(truth);
            goto oom;
        }
        if (bp_scaler_invert(yscale, pred, &err) != BP_OK) {
            free(p_ls);
            free(truth);
            fprintf(stderr, "%s: %s\n", prog, err.message);
            goto done;
        }
        for (size_t i = 0; i < split.n_test; i++) {
            truth[i] = target[test_rows[i]];
            p_ls[i] = lstsq_predict(coef, xtest->data + i * n_in, n_in);
        }
        net_metric = mse_of(pred->data, truth, split.n_test);
        ls_metric = mse_of(p_ls, truth, split.n_test);
        if (base) {
            for (size_t i = 0; i < split.n_test; i++)
                p_ls[i] = base->data[test_rows[i]];
            today_metric = mse_of(p_ls, truth, split.n_test);
        }
        free(p_ls);
        free(truth);
    }

    if (o.save && bp_params_save(m.g, o.save, &err) != BP_OK) {
        fprintf(stderr, "%s: %s\n", prog, err.message);
        goto done;
    }
    if (o.dot) {
        /* Picture the graph as it trains: shapes of one full training batch
         * (the last forward was on the test split). */
        size_t rows;
        bp_batcher_reset(batcher);
        if (bp_batcher_next(batcher, &rows) != BP_OK || bp_forward(m.g, m.loss) != BP_OK) {
            graph_error(&m);
            goto done;
        }
    }
    if (o.dot && bp_dot_save(m.g, m.loss, o.dot_backward, o.dot, &err) != BP_OK) {
        fprintf(stderr, "%s: %s\n", prog, err.message);
        goto done;
    }

    if (!o.quiet) {
        fprintf(info, "\ntest split (%zu rows)", split.n_test);
        if (classify) {
            fprintf(info, ", accuracy of %zu classes%s:\n", k,
                    edges ? " (equal-count bins of the change)" : " (colder / same / warmer)");
            fprintf(info, "  network             %.4f\n", net_metric);
            fprintf(info, "  least squares       %.4f   (class of the fitted change)\n", ls_metric);
            fprintf(info, "  no change           %.4f   (always \"same\")\n", today_metric);
            fprintf(info, "  majority class      %.4f\n", majority);
        } else {
            fprintf(info, ", mean squared error (RMSE) in the target's units:\n");
            fprintf(info, "  network             %9.4f (%.4f)\n", net_metric, sqrt(net_metric));
            fprintf(info, "  least squares       %9.4f (%.4f)   network/least squares = %.4f\n",
                    ls_metric, sqrt(ls_metric), net_metric / ls_metric);
            if (base_name)
                fprintf(info, "  tomorrow = today    %9.4f (%.4f)   (%s as the prediction)\n",
                        today_metric, sqrt(today_metric), base_name);
        }
        fprintf(info, "time %.2fs\n", train_seconds);
    }
    if (o.json) {
        printf("{\"task\": \"%s\", \"rows\": %zu, \"train_rows\": %zu, \"valid_rows\": %zu, "
               "\"test_rows\": %zu, \"epochs\": %zu, ",
               classify ? "classification" : "regression", n, split.n_train, split.n_valid,
               split.n_test, epochs_run);
        json_num("train_loss", last_train_loss);
        if (classify) {
            printf("\"classes\": %zu, ", k);
            json_num("test_accuracy", net_metric);
            json_num("lstsq_accuracy", ls_metric);
            json_num("today_accuracy", today_metric);
            json_num("majority_accuracy", majority);
        } else {
            json_num("test_mse", net_metric);
            json_num("test_rmse", sqrt(net_metric));
            json_num("lstsq_mse", ls_metric);
            json_num("lstsq_rmse", sqrt(ls_metric));
            if (base_name) {
                json_num("today_mse", today_metric);
                json_num("today_rmse", sqrt(today_metric));
            }
        }
        printf("\"seconds\": %.3f}\n", train_seconds);
    }
    rc = 0;
    goto done;

oom:
    fprintf(stderr, "%s: out of memory\n", prog);
    rc = 1;
done:
    if (logf)
        fclose(logf);
    bp_optimizer_free(opt);
    bp_batcher_free(batcher);
    bp_graph_free(m.g);
    bp_scaler_free(xscale);
    bp_scaler_free(yscale);
    bp_split_free(&split);
    bp_matrix_free(table);
    bp_matrix_free(xs);
    bp_matrix_free(base);
    bp_matrix_free(xtrain);
    bp_matrix_free(ytrain);
    bp_matrix_free(xvalid);
    bp_matrix_free(xtest);
    bp_matrix_free(pred);
    free(target);
    free(change);
    free(edges);
    free(coef);
    free(inputs_buf);
    return rc;
}
