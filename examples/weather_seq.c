/* SPDX-License-Identifier: MIT */
/* The course's recurrent lesson on the weather table, shared by
 * examples/rnn and examples/gru (weather_seq.h).
 *
 * Data: tmax, tmin and rain of every day (empty cells forward-filled, as
 * the lesson's ffill), in windows of the last 7 days, each predicting
 * tmax_tomorrow of its last day.  The windows are split in time order: the
 * first 70% train, the next 15% validate (the epoch whose params are kept),
 * the last 15% test.  The features are standardised with the mean and
 * standard deviation of the days the training windows cover, the target
 * with those of the training targets; errors are reported in °F².
 *
 * Networks, trained alike (Adam, shuffled minibatches, the params of the
 * epoch best on validation kept): the sequence network, the window's days
 * fed to one cell in turn and a dense head on the last state; and a dense
 * network as tools/train's default (21 window features -> 16, relu -> 1).
 * Baselines: least squares on the 21 window features and an intercept
 * (bp_lstsq), and tomorrow = today (today's tmax). */
#include "weather_seq.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WS_WIDTH (WS_DAYS * WS_FEATURES)

typedef struct ws_options {
    const char *csv, *log;
    size_t hidden, epochs, batch;
    unsigned long long seed;
    double lr;
} ws_options;

enum { TRAIN, VALID, TEST };

typedef struct ws_data {
    size_t n[3];        /* windows of the train, validation and test splits */
    size_t n_filled;    /* cells forward-filled */
    bp_matrix *x;       /* every window, standardised: W x 21 */
    bp_matrix *y;       /* its target, standardised: W x 1 */
    bp_matrix *today;   /* tmax of the window's last day, °F: W x 1 */
    bp_matrix *target;  /* tmax_tomorrow, °F: W x 1 */
    double y_mean, y_std;
} ws_data;

typedef struct ws_model {
    bp_graph *g;
    bp_node *x, *y, *pred, *loss;
} ws_model;

/* Rows [first window of part, its last] of m, a view. */
static bp_matrix part_view(const bp_matrix *m, const ws_data *d, int part)
{
    size_t first = part == TRAIN ? 0 : part == VALID ? d->n[TRAIN] : d->n[TRAIN] + d->n[VALID];
    bp_matrix v = {d->n[part], m->cols, m->data + first * m->cols};
    return v;
}

static void free_data(ws_data *d)
{
    bp_matrix_free(d->x);
    bp_matrix_free(d->y);
    bp_matrix_free(d->today);
    bp_matrix_free(d->target);
}

/* Reads the table and makes the windows; err names the problem. */
static bp_status load(const char *csv, ws_data *d, bp_error *err)
{
    static const char *const cols[WS_FEATURES + 1] = {"tmax", "tmin", "rain", "tmax_tomorrow"};
    bp_matrix *raw = NULL, *days = NULL;
    bp_scaler *xs = NULL, *ys = NULL;
    bp_split split = {0};
    bp_status st;
    size_t w;

    memset(d, 0, sizeof *d);
    if ((st = bp_csv_read(csv, cols, WS_FEATURES + 1, &raw, &d->n_filled, err)) != BP_OK)
        return st;
    /* every split needs a window: 15% of the windows at least one */
    if (raw->rows < WS_DAYS + 6) {
        snprintf(err->message, sizeof err->message,
                 "%s: %zu rows, too few for 7 windows of %d days (one to validate, one to test)",
                 csv, raw->rows, WS_DAYS);
        bp_matrix_free(raw);
        return err->status = BP_EINVAL;
    }
    w = raw->rows - (WS_DAYS - 1);
    d->x = bp_matrix_alloc(w, WS_WIDTH);
    d->y = bp_matrix_alloc(w, 1);
    d->today = bp_matrix_alloc(w, 1);
    d->target = bp_matrix_alloc(w, 1);
    days = bp_matrix_alloc(raw->rows, WS_FEATURES);
    if (!d->x || !d->y || !d->today || !d->target || !days) {
        st = err->status = BP_ENOMEM;
        snprintf(err->message, sizeof err->message, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < raw->rows; i++)
        memcpy(days->data + i * WS_FEATURES, raw->data + i * (WS_FEATURES + 1),
               WS_FEATURES * sizeof(double));
    for (size_t k = 0; k < w; k++) {
        const double *last = raw->data + (k + WS_DAYS - 1) * (WS_FEATURES + 1);
        d->today->data[k] = last[0];
        d->target->data[k] = d->y->data[k] = last[WS_FEATURES];
    }
    if ((st = bp_split_rows(w, 0.15, 0.15, 0, 0, &split, err)) != BP_OK)
        goto out;
    d->n[TRAIN] = split.n_train;
    d->n[VALID] = split.n_valid;
    d->n[TEST] = split.n_test;
    {
        /* the days the training windows cover, and their targets */
        bp_matrix train_days = {d->n[TRAIN] + WS_DAYS - 1, WS_FEATURES, days->data};
        bp_matrix train_y = part_view(d->y, d, TRAIN);
        if ((st = bp_scaler_fit(&train_days, NULL, 0, &xs, err)) != BP_OK ||
            (st = bp_scaler_fit(&train_y, NULL, 0, &ys, err)) != BP_OK ||
            (st = bp_scaler_apply(xs, days, err)) != BP_OK ||
            (st = bp_scaler_apply(ys, d->y, err)) != BP_OK)
            goto out;
    }
    d->y_mean = bp_scaler_mean(ys)[0];
    d->y_std = bp_scaler_std(ys)[0];
    /* window k: days k .. k+6, oldest first, 3 features each */
    for (size_t k = 0; k < w; k++)
        memcpy(d->x->data + k * WS_WIDTH, days->data + k * WS_FEATURES, WS_WIDTH * sizeof(double));
out:
    bp_split_free(&split);
    bp_scaler_free(xs);
    bp_scaler_free(ys);
    bp_matrix_free(days);
    bp_matrix_free(raw);
    if (st != BP_OK)
        free_data(d);
    return st;
}

/* Mean squared error in °F² of predictions p (standardised, one per window
 * of part). */
static double mse_of(const double *p, const ws_data *d, int part)
{
    const bp_matrix t = part_view(d->target, d, part);
    double sum = 0.0;

    for (size_t k = 0; k < t.rows; k++) {
        double e = p[k] * d->y_std + d->y_mean - t.data[k];
        sum += e * e;
    }
    return sum / (double)t.rows;
}

/* The model's MSE (°F²) on a split, its windows read in place; -1 on error. */
static double evaluate(ws_model *m, const ws_data *d, int part)
{
    bp_matrix x = part_view(d->x, d, part);

    if (bp_node_bind_value(m->x, &x) != BP_OK || bp_forward(m->g, m->pred) != BP_OK)
        return -1.0;
    return mse_of(bp_node_value(m->pred)->data, d, part);
}

/* The model's graph: x (B x 21) -> body -> a dense head to one value; MSE
 * against y.  body NULL: the dense network. */
static int build(ws_model *m, ws_sequence_fn sequence, const ws_options *o, bp_rng *rng)
{
    bp_dense_layer hidden, head;
    bp_node *features;

    m->g = bp_graph_new();
    if (!m->g)
        return 0;
    m->x = bp_input(m->g, o->batch, WS_WIDTH, "x");
    m->y = bp_input(m->g, o->batch, 1, "y");
    if (sequence) {
        features = sequence(m->g, m->x, o->hidden, rng);
        (void)bp_dense_layer_init(m->g, &head, o->hidden, 1, "head", rng);
    } else {
        (void)bp_dense_layer_init(m->g, &hidden, WS_WIDTH, 16, "dense1", rng);
        features = bp_relu(m->g, bp_dense_layer_apply(m->g, &hidden, m->x));
        (void)bp_dense_layer_init(m->g, &head, 16, 1, "dense2", rng);
    }
    m->pred = bp_dense_layer_apply(m->g, &head, features);
    m->loss = bp_mse(m->g, m->pred, m->y);
    return bp_graph_status(m->g) == BP_OK;
}

/* Copies every param's value to or from buf (sized by the first call with
 * buf NULL, which returns the count). */
static size_t params_copy(bp_graph *g, double *buf, int restore)
{
    size_t n = 0;

    for (size_t i = 0; i < bp_graph_size(g); i++) {
        bp_node *p = bp_graph_node(g, i);
        bp_matrix *v = bp_node_value(p);
        size_t len;
        if (!bp_node_is_param(p))
            continue;
        len = v->rows * v->cols;
        if (buf && restore)
            memcpy(v->data, buf + n, len * sizeof(double));
        else if (buf)
            memcpy(buf + n, v->data, len * sizeof(double));
        n += len;
    }
    return n;
}

/* Trains m on the training windows for o->epochs epochs and keeps the
 * params of the epoch best on validation; with log, writes per epoch
 * "epoch,train_loss,valid_mse" there, and with verbose, a line to stdout.
 * Returns the test MSE (°F²), or -1 after printing the error. */
static double fit(ws_model *m, const ws_data *d, const ws_options *o, int verbose, FILE *log,
                  size_t *best_epoch)
{
    bp_matrix xtrain = part_view(d->x, d, TRAIN), ytrain = part_view(d->y, d, TRAIN);
    const bp_matrix *src[2] = {&xtrain, &ytrain};
    bp_node *dst[2] = {m->x, m->y};
    bp_optim_config cfg = bp_optim_defaults(BP_OPTIM_ADAM);
    bp_optimizer *opt = NULL;
    bp_batcher *batches = NULL;
    bp_error err = {0};
    double *best = NULL, best_mse = INFINITY, result = -1.0;

    cfg.lr = o->lr;
    best = malloc(params_copy(m->g, NULL, 0) * sizeof *best);
    if (!best || bp_batcher_new(2, src, dst, NULL, 0, o->batch, 1, o->seed, &batches, &err) != BP_OK ||
        bp_optimizer_new(m->g, NULL, 0, &cfg, &opt) != BP_OK) {
        fprintf(stderr, "%s\n", !best ? "out of memory" : bp_graph_message(m->g));
        goto out;
    }
    for (size_t epoch = 1; epoch <= o->epochs; epoch++) {
        size_t rows;
        double sum = 0.0, valid;

        while (bp_batcher_next(batches, &rows) == BP_OK && rows > 0) {
            bp_zero_grad(m->g);
            if (bp_forward(m->g, m->loss) != BP_OK || bp_backward(m->g, m->loss, NULL) != BP_OK ||
                bp_optimizer_step(opt) != BP_OK)
                break;
            sum += bp_node_value(m->loss)->data[0] * (double)rows;
        }
        if (bp_graph_status(m->g) != BP_OK || (valid = evaluate(m, d, VALID)) < 0.0) {
            fprintf(stderr, "%s\n", bp_graph_message(m->g));
            goto out;
        }
        if (valid < best_mse) {
            best_mse = valid;
            *best_epoch = epoch;
            params_copy(m->g, best, 0);
        }
        if (verbose)
            printf("epoch %3zu  train loss %.5f  valid MSE %.4f\n", epoch,
                   sum / (double)xtrain.rows, valid);
        if (log)
            fprintf(log, "%zu,%.17g,%.17g\n", epoch, sum / (double)xtrain.rows, valid);
    }
    params_copy(m->g, best, 1);
    if ((result = evaluate(m, d, TEST)) < 0.0)
        fprintf(stderr, "%s\n", bp_graph_message(m->g));
out:
    bp_optimizer_free(opt);
    bp_batcher_free(batches);
    free(best);
    return result;
}

/* Least squares on the training windows' 21 features and an intercept,
 * fitted to the target in °F by bp_lstsq (QR); its test MSE, or -1. */
static double least_squares(const ws_data *d)
{
    const bp_matrix tr = part_view(d->x, d, TRAIN), te = part_view(d->x, d, TEST);
    const bp_matrix ttr = part_view(d->target, d, TRAIN);
    bp_matrix *a = bp_matrix_alloc(tr.rows, WS_WIDTH + 1);
    bp_graph *g = bp_graph_new();
    double result = -1.0, *pred = malloc(te.rows * sizeof *pred);
    bp_node *coef;

    if (!a || !g || !pred) {
        fprintf(stderr, "out of memory\n");
        goto out;
    }
    for (size_t i = 0; i < tr.rows; i++) {
        memcpy(a->data + i * (WS_WIDTH + 1), tr.data + i * WS_WIDTH, WS_WIDTH * sizeof(double));
        a->data[i * (WS_WIDTH + 1) + WS_WIDTH] = 1.0;
    }
    coef = bp_lstsq(g, bp_constant(g, a->rows, a->cols, a->data, "A"),
                    bp_constant(g, ttr.rows, 1, ttr.data, "b"));
    if (bp_forward(g, coef) != BP_OK) {
        fprintf(stderr, "%s\n", bp_graph_message(g));
        goto out;
    }
    for (size_t k = 0; k < te.rows; k++) {
        const double *c = bp_node_value(coef)->data;
        double s = c[WS_WIDTH];
        for (size_t j = 0; j < WS_WIDTH; j++)
            s += c[j] * te.data[k * WS_WIDTH + j];
        /* mse_of reads standardised predictions */
        pred[k] = (s - d->y_mean) / d->y_std;
    }
    result = mse_of(pred, d, TEST);
out:
    free(pred);
    bp_graph_free(g);
    bp_matrix_free(a);
    return result;
}

static double persistence(const ws_data *d)
{
    const bp_matrix today = part_view(d->today, d, TEST), t = part_view(d->target, d, TEST);
    double sum = 0.0;

    for (size_t k = 0; k < t.rows; k++)
        sum += (today.data[k] - t.data[k]) * (today.data[k] - t.data[k]);
    return sum / (double)t.rows;
}

static int usage(const char *kind, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* The problem, then the usage line; returns 2, the usage error's status. */
static int usage(const char *kind, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", kind);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fprintf(stderr,
            "usage: %s [--data FILE] [--hidden N] [--epochs N] [--seed N] [--lr X] [--batch N] "
            "[--log FILE]\n",
            kind);
    return 2;
}

/* A whole number in [1, 1e9]; 0 when s is not one. */
static size_t count_of(const char *s)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    return s[0] >= '0' && s[0] <= '9' && *end == '\0' && errno == 0 && v <= 1000000000ULL
               ? (size_t)v
               : 0;
}

static int parse(int argc, char **argv, const char *kind, ws_options *o)
{
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        size_t *count = strcmp(opt, "--hidden") == 0   ? &o->hidden
                        : strcmp(opt, "--epochs") == 0 ? &o->epochs
                        : strcmp(opt, "--batch") == 0  ? &o->batch
                                                       : NULL;
        if (!val || strncmp(opt, "--", 2) != 0)
            return usage(kind, val ? "not an option: '%s'" : "'%s' needs a value (or is unknown)",
                         opt);
        i++;
        if (count) {
            if ((*count = count_of(val)) == 0)
                return usage(kind, "not a count from 1 to 1e9: '%s'", val);
        } else if (strcmp(opt, "--seed") == 0) {
            size_t s = count_of(val);
            if (s == 0 && strcmp(val, "0") != 0)
                return usage(kind, "not a seed: '%s'", val);
            o->seed = s;
        } else if (strcmp(opt, "--lr") == 0) {
            char *end;
            o->lr = strtod(val, &end);
            if (*end != '\0' || !(o->lr > 0.0 && o->lr < 1.0))
                return usage(kind, "not a learning rate in (0, 1): '%s'", val);
        } else if (strcmp(opt, "--data") == 0) {
            o->csv = val;
        } else if (strcmp(opt, "--log") == 0) {
            o->log = val;
        } else {
            return usage(kind, "unknown option '%s'", opt);
        }
    }
    return 0;
}

static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int ws_main(int argc, char **argv, const char *kind, const char *cell_doc, ws_sequence_fn sequence)
{
    ws_options o = {"../shared/data/clean_weather.csv", NULL, 32, 30, 64, 1, 3e-3};
    ws_data d;
    ws_model net = {0}, dense = {0};
    bp_error err = {0};
    bp_rng rng, dense_rng;
    FILE *log = NULL;
    double t0, net_mse, dense_mse, ls_mse, today_mse;
    size_t net_epoch = 0, dense_epoch = 0;
    int rc;

    if ((rc = parse(argc, argv, kind, &o)) != 0)
        return rc;
    if (load(o.csv, &d, &err) != BP_OK) {
        fprintf(stderr, "%s: %s\n", kind, err.message);
        return 1;
    }
    rc = 1;
    printf("%s: %zu windows of %d days (tmax, tmin, rain) -> tmax_tomorrow, %zu cells forward-filled\n",
           o.csv, d.x->rows, WS_DAYS, d.n_filled);
    printf("split in time order: %zu train, %zu validation, %zu test windows\n", d.n[TRAIN],
           d.n[VALID], d.n[TEST]);
    printf("%s: %s, %d steps of 3 -> %zu hidden, dense head; adam lr %g, batch %zu, %zu epochs, seed %llu\n",
           kind, cell_doc, WS_DAYS, o.hidden, o.lr, o.batch, o.epochs, o.seed);
    if (o.log && !(log = fopen(o.log, "w"))) {
        fprintf(stderr, "%s: cannot write %s: %s\n", kind, o.log, strerror(errno));
        goto out;
    }
    if (log)
        fprintf(log, "epoch,train_loss,valid_mse\n");
    /* a generator each, so that rnn and gru share the dense baseline */
    bp_rng_seed(&rng, o.seed);
    bp_rng_seed(&dense_rng, o.seed);
    t0 = seconds();
    if (!build(&net, sequence, &o, &rng) || !build(&dense, NULL, &o, &dense_rng)) {
        fprintf(stderr, "%s: %s\n", kind, net.g ? bp_graph_message(net.g) : "out of memory");
        goto out;
    }
    if ((net_mse = fit(&net, &d, &o, 1, log, &net_epoch)) < 0.0)
        goto out;
    printf("%s trained in %.1f s; the params of epoch %zu, the best on validation, are kept\n",
           kind, seconds() - t0, net_epoch);
    if ((dense_mse = fit(&dense, &d, &o, 0, NULL, &dense_epoch)) < 0.0 ||
        (ls_mse = least_squares(&d)) < 0.0)
        goto out;
    today_mse = persistence(&d);
    printf("\ntest split (%zu windows), mean squared error in degrees F squared (RMSE):\n",
           d.n[TEST]);
    printf("  %-18s %8.4f (%.4f)\n", kind, net_mse, sqrt(net_mse));
    printf("  %-18s %8.4f (%.4f)   21 window features -> 16, relu -> 1, trained alike (epoch %zu kept)\n",
           "dense network", dense_mse, sqrt(dense_mse), dense_epoch);
    printf("  %-18s %8.4f (%.4f)   21 window features and an intercept\n", "least squares", ls_mse,
           sqrt(ls_mse));
    printf("  %-18s %8.4f (%.4f)   today's tmax\n", "tomorrow = today", today_mse,
           sqrt(today_mse));
    rc = 0;
out:
    if (log && fclose(log) != 0 && rc == 0) {
        fprintf(stderr, "%s: cannot write %s\n", kind, o.log);
        rc = 1;
    }
    bp_graph_free(net.g);
    bp_graph_free(dense.g);
    free_data(&d);
    return rc;
}
