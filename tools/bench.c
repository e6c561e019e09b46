/* SPDX-License-Identifier: MIT */
/*
 * tools/bench — how fast a bpgraph training step is next to the same step
 * written by hand in C + OpenBLAS, timed side by side in one run.
 *
 *   tools/bench [--quick] [--data clean_weather.csv] [--gradcheck PATH]
 *               [--json FILE] [--only seed|weather|weather-two-ops|weather-tuned|mnist|softmax|
 *                              bmm|rnn|transformer]
 *
 * Workloads (one step = forward, loss, backward, SGD update, the update
 * through bp_optimizer_step with plain SGD):
 *   seed     10×3 → 3 → 1, relu, MSE     (first 10 weather rows: overhead)
 *   weather  13509×3 → 64 → 1, relu, MSE (the whole table: memory-bound)
 *   mnist    512×784 → 1024 → 10, relu, softmax cross-entropy (synthetic,
 *            fixed seed: matmul-bound)
 * The hidden layer is relu(x·W + b) as one op (bp_dense_relu), the output
 * layer x·W + b (bp_dense).  The two versions of each workload are timed in
 * alternating blocks, and medians of per-step times are compared.  The
 * hand-written step calls cblas_dgemm for every product, as written for any
 * width.  For context, weather is also timed with the hidden layer as two
 * ops (bp_dense, then bp_relu in place), and against a hand-written step
 * tuned for its one output (dgemv, and dh masked as it is made).
 * Also: staged vs fused softmax, allocations per step (counted through
 * bp_set_alloc_funcs), peak memory (the maximum resident set of a process
 * that runs only one version, and for context the library's heap against
 * the hand-written step's arrays), mnist on 1 vs 2 OpenBLAS threads, and
 * the wall time of tools/gradcheck when it exists.
 *
 * Unlike the other tools, this one talks to OpenBLAS directly (cblas.h,
 * openblas_set_num_threads): the hand-written baseline calls cblas_dgemm,
 * and every figure except the 2-thread one is taken on one thread.
 * Installed as bpgraph-bench, to measure a machine the library is used on.
 */
#include "bpgraph.h"
#include "cli.h"

#include <cblas.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* Counting allocator                                                        */
/* ------------------------------------------------------------------------ */

/* Each block carries its size in front, so free can subtract it.  The
 * header is max_align_t wide to keep the caller's block aligned. */
#define HDR sizeof(max_align_t)

static struct {
    size_t n_alloc;   /* calls to malloc so far */
    size_t live;      /* bytes allocated and not freed */
    size_t peak;      /* largest live since the last reset */
} counts;

static void *count_malloc(size_t size)
{
    unsigned char *p = malloc(size + HDR);
    if (!p)
        return NULL;
    memcpy(p, &size, sizeof size);
    counts.n_alloc++;
    counts.live += size;
    if (counts.live > counts.peak)
        counts.peak = counts.live;
    return p + HDR;
}

static void count_free(void *ptr)
{
    unsigned char *p = (unsigned char *)ptr - HDR;
    size_t size;
    memcpy(&size, p, sizeof size);
    counts.live -= size;
    free(p);
}

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */
/* ------------------------------------------------------------------------ */

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec * 1e-3;
}

static void *xmalloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "%s: out of memory (%zu bytes)\n", cli_name(), bytes);
        exit(1);
    }
    return p;
}

/* n values in [lo, hi) from a fixed-seed generator. */
static void uniform(double *v, size_t n, bp_rng *rng, double lo, double hi)
{
    for (size_t k = 0; k < n; k++)
        v[k] = lo + (hi - lo) * bp_rng_uniform(rng);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The q-quantile of v (sorted in place). */
static double quantile(double *v, size_t n, double q)
{
    double pos;
    size_t lo;
    qsort(v, n, sizeof *v, cmp_double);
    pos = q * (double)(n - 1);
    lo = (size_t)pos;
    if (lo + 1 >= n)
        return v[n - 1];
    return v[lo] + (pos - (double)lo) * (v[lo + 1] - v[lo]);
}

/* ------------------------------------------------------------------------ */
/* Timing side by side                                                       */
/* ------------------------------------------------------------------------ */

typedef int (*step_fn)(void *ctx);

typedef struct timed {
    const char *label;
    step_fn step;
    void *ctx;
    void (*before)(void *ctx);   /* run before each of its blocks; may be NULL */
    double *samples;             /* µs per step, one per sample */
    size_t n;
    double median, q1, q3;
} timed;

typedef struct plan {
    size_t blocks;       /* blocks of each version, alternating */
    size_t per_block;    /* samples in a block */
    size_t reps;         /* steps in a sample */
} plan;

static void run_block(timed *t, const plan *p)
{
    if (t->before)
        t->before(t->ctx);
    for (size_t s = 0; s < p->per_block; s++) {
        double t0 = now_us();
        for (size_t r = 0; r < p->reps; r++)
            if (t->step(t->ctx) != 0) {
                fprintf(stderr, "%s: step '%s' failed\n", cli_name(), t->label);
                exit(1);
            }
        t->samples[t->n++] = (now_us() - t0) / (double)p->reps;
    }
}

static void summarise(timed *t)
{
    double *copy = xmalloc(t->n * sizeof *copy);
    memcpy(copy, t->samples, t->n * sizeof *copy);
    t->median = quantile(copy, t->n, 0.5);
    t->q1 = quantile(copy, t->n, 0.25);
    t->q3 = quantile(copy, t->n, 0.75);
    free(copy);
}

/* Times the n versions in v in rotating blocks (for two: a b, b a, a b,
 * ...) so that drift in the machine's load falls on all alike. */
static void time_blocks(timed *const *v, size_t n, const plan *p)
{
    for (size_t k = 0; k < n; k++) {
        v[k]->samples = xmalloc(p->blocks * p->per_block * sizeof(double));
        v[k]->n = 0;
    }
    for (size_t blk = 0; blk < p->blocks; blk++)
        for (size_t k = 0; k < n; k++)
            run_block(v[(blk + k) % n], p);
    for (size_t k = 0; k < n; k++)
        summarise(v[k]);
}

static void time_pair(timed *a, timed *b, const plan *p)
{
    timed *v[2] = {a, b};
    time_blocks(v, 2, p);
}

/* Steps in one sample so that a sample lasts about target_us; *ran is how
 * many steps it took to find out. */
static size_t calibrate(step_fn step, void *ctx, double target_us, size_t *ran)
{
    double t0 = now_us(), per;
    size_t n = 0;
    do {
        step(ctx);
        n++;
    } while (now_us() - t0 < 2e4 && n < 1000);
    per = (now_us() - t0) / (double)n;
    *ran = n;
    return per >= target_us ? 1 : (size_t)(target_us / per);
}

/* ------------------------------------------------------------------------ */
/* The workloads                                                             */
/* ------------------------------------------------------------------------ */

typedef struct workload {
    const char *name;
    size_t m, k, h, o;    /* x is m×k, hidden h, output o */
    int softmax;          /* softmax cross-entropy, else MSE */
    double lr;
    const double *x, *y;  /* m×k and m×o, owned by main */
    const double *init;   /* w1, b1, w2, b2 packed: the same start for both */
    double target;        /* ratio bpgraph / hand-written to stay under;
                             0: no target, timed for context */
    int unfused;          /* hidden layer as bp_dense then bp_relu */
    int hand_gemv;        /* with o = 1, the hand-written step tuned for it:
                             dgemv for the output layer and dh masked as
                             it is made (what bpgraph's products do) */
} workload;

static size_t n_w1(const workload *w) { return w->k * w->h; }
static size_t n_w2(const workload *w) { return w->h * w->o; }
static size_t n_init(const workload *w) { return n_w1(w) + w->h + n_w2(w) + w->o; }

/* Weights in ±1/√fan-in, biases 0. */
static double *make_init(const workload *w, unsigned long long seed)
{
    double *p = xmalloc(n_init(w) * sizeof *p);
    bp_rng state;
    double s1 = 1.0 / sqrt((double)w->k), s2 = 1.0 / sqrt((double)w->h);
    bp_rng_seed(&state, seed);
    uniform(p, n_w1(w), &state, -s1, s1);
    memset(p + n_w1(w), 0, w->h * sizeof *p);
    uniform(p + n_w1(w) + w->h, n_w2(w), &state, -s2, s2);
    memset(p + n_w1(w) + w->h + n_w2(w), 0, w->o * sizeof *p);
    return p;
}

/* ---- bpgraph ---- */

typedef struct graph_net {
    const workload *w;
    bp_graph *g;
    bp_node *x, *y, *loss;
    bp_node *param[4];    /* w1, b1, w2, b2 */
    bp_optimizer *opt;    /* plain SGD (momentum 0) */
    size_t bytes;         /* peak bytes the library allocated for it */
} graph_net;

static void die_graph(bp_graph *g, const char *what)
{
    fprintf(stderr, "%s: %s: %s\n", cli_name(), what, g ? bp_graph_message(g) : "out of memory");
    exit(1);
}

static void graph_build(graph_net *n, const workload *w)
{
    bp_graph *g;
    bp_node *hid;
    bp_matrix xm = {w->m, w->k, (double *)w->x}, ym = {w->m, w->o, (double *)w->y};
    const double *src = w->init;
    size_t sizes[4][2] = {{w->k, w->h}, {1, w->h}, {w->h, w->o}, {1, w->o}};

    memset(n, 0, sizeof *n);
    n->w = w;
    n->g = g = bp_graph_new();
    if (!g)
        die_graph(NULL, "graph");
    /* relu over its dense layer's buffers (the unfused variant), as the
     * hand-written step does */
    bp_graph_set_inplace(g, 1);
    n->x = bp_input(g, w->m, w->k, "x");
    n->y = bp_input(g, w->m, w->o, "y");
    n->param[0] = bp_param(g, w->k, w->h, "w1");
    n->param[1] = bp_param(g, 1, w->h, "b1");
    n->param[2] = bp_param(g, w->h, w->o, "w2");
    n->param[3] = bp_param(g, 1, w->o, "b2");
    hid = w->unfused ? bp_relu(g, bp_dense(g, n->x, n->param[0], n->param[1]))
                     : bp_dense_relu(g, n->x, n->param[0], n->param[1]);
    n->loss = w->softmax
        ? bp_softmax_ce(g, bp_dense(g, hid, n->param[2], n->param[3]), n->y)
        : bp_mse(g, bp_dense(g, hid, n->param[2], n->param[3]), n->y);
    if (bp_graph_status(g) != BP_OK)
        die_graph(g, w->name);
    for (int i = 0; i < 4; i++) {
        bp_matrix pm = {sizes[i][0], sizes[i][1], (double *)src};
        if (bp_node_set_value(n->param[i], &pm) != BP_OK)
            die_graph(g, w->name);
        src += sizes[i][0] * sizes[i][1];
    }
    /* The data is bound once, without a copy: every step trains on the same
     * full batch, read from the arrays the hand-written step reads. */
    if (bp_node_bind_value(n->x, &xm) != BP_OK || bp_node_bind_value(n->y, &ym) != BP_OK)
        die_graph(g, w->name);
    {
        bp_optim_config cfg = bp_optim_defaults(BP_OPTIM_SGD);
        cfg.lr = w->lr;
        if (bp_optimizer_new(g, n->param, 4, &cfg, &n->opt) != BP_OK)
            die_graph(g, w->name);
    }
}

static void graph_free(graph_net *n)
{
    bp_optimizer_free(n->opt);
    bp_graph_free(n->g);
}

static int graph_step(void *ctx)
{
    graph_net *n = ctx;

    bp_zero_grad(n->g);
    if (bp_forward(n->g, n->loss) != BP_OK || bp_backward(n->g, n->loss, NULL) != BP_OK ||
        bp_optimizer_step(n->opt) != BP_OK)
        return -1;
    return 0;
}

static double graph_loss(graph_net *n)
{
    return bp_node_value(n->loss)->data[0];
}

/* ---- hand-written C + OpenBLAS ---- */

typedef struct hand_net {
    const workload *w;
    double *w1, *b1, *w2, *b2;        /* parameters */
    double *dw1, *db1, *dw2, *db2;    /* their gradients */
    double *hid, *p, *dp, *dh;        /* activations and their gradients */
    double loss;
    size_t bytes;                     /* all of the above */
} hand_net;

static void hand_build(hand_net *n, const workload *w)
{
    const size_t m = w->m, h = w->h, o = w->o;
    size_t total = n_init(w);
    double *block;

    memset(n, 0, sizeof *n);
    n->w = w;
    total += n_init(w) + m * h * 2 + m * o * 2;
    block = xmalloc(total * sizeof *block);
    n->w1 = block;
    n->b1 = n->w1 + n_w1(w);
    n->w2 = n->b1 + h;
    n->b2 = n->w2 + n_w2(w);
    n->dw1 = n->b2 + o;
    n->db1 = n->dw1 + n_w1(w);
    n->dw2 = n->db1 + h;
    n->db2 = n->dw2 + n_w2(w);
    n->hid = n->db2 + o;
    n->dh = n->hid + m * h;
    n->p = n->dh + m * h;
    n->dp = n->p + m * o;
    memcpy(n->w1, w->init, n_init(w) * sizeof(double));
    /* x and y are the workload's, read in place by both versions */
    n->bytes = total * sizeof(double);
}

static void hand_free(hand_net *n)
{
    free(n->w1);
}

/* out(j) = Σ_i a(i, j) over an m×n matrix */
static void colsum(const double *a, size_t m, size_t n, double *out)
{
    memset(out, 0, n * sizeof *out);
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++)
            out[j] += a[i * n + j];
}

static int hand_step(void *ctx)
{
    hand_net *n = ctx;
    const workload *w = n->w;
    const int m = (int)w->m, k = (int)w->k, h = (int)w->h, o = (int)w->o;
    const size_t mh = w->m * w->h, mo = w->m * w->o;
    const double *x = w->x, *y = w->y;
    const int tuned = w->hand_gemv && o == 1;
    double loss = 0.0;

    /* hid = relu(x·W1 + b1) */
    for (int i = 0; i < m; i++)
        memcpy(n->hid + (size_t)i * h, n->b1, (size_t)h * sizeof(double));
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, h, k,
                1.0, x, k, n->w1, h, 1.0, n->hid, h);
    for (size_t q = 0; q < mh; q++)
        n->hid[q] = n->hid[q] > 0.0 ? n->hid[q] : 0.0;
    /* p = hid·W2 + b2 */
    for (int i = 0; i < m; i++)
        memcpy(n->p + (size_t)i * o, n->b2, (size_t)o * sizeof(double));
    if (tuned) /* one output: a matrix-vector product */
        cblas_dgemv(CblasRowMajor, CblasNoTrans, m, h, 1.0, n->hid, h, n->w2, 1, 1.0, n->p, 1);
    else
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, o, h,
                    1.0, n->hid, h, n->w2, o, 1.0, n->p, o);
    if (w->softmax) {
        /* loss = −(1/m) Σ y log softmax(p);  dp = (softmax(p) − y)/m */
        for (int i = 0; i < m; i++) {
            const double *z = n->p + (size_t)i * o, *yr = y + (size_t)i * o;
            double *d = n->dp + (size_t)i * o, max = z[0], total = 0.0, lse;
            for (int j = 1; j < o; j++)
                max = z[j] > max ? z[j] : max;
            for (int j = 0; j < o; j++)
                total += d[j] = exp(z[j] - max);
            lse = log(total);
            for (int j = 0; j < o; j++) {
                loss -= yr[j] * (z[j] - max - lse);
                d[j] = (d[j] / total - yr[j]) / m;
            }
        }
        loss /= m;
    } else {
        /* loss = mean (p − y)²;  dp = 2(p − y)/N */
        const double f = 2.0 / (double)mo;
        for (size_t q = 0; q < mo; q++) {
            double d = n->p[q] - y[q];
            loss += d * d;
            n->dp[q] = f * d;
        }
        loss /= (double)mo;
    }
    n->loss = loss;
    /* dW2 = hidᵀ·dp;  db2 = colsum(dp);  dh = (dp·W2ᵀ) ⊙ [hid > 0] */
    if (tuned) {
        /* one output: dW2 by dgemv (beta 0 stores, as BLAS specifies), and
         * dh an outer product, masked in the same pass */
        cblas_dgemv(CblasRowMajor, CblasTrans, m, h, 1.0, n->hid, h, n->dp, 1, 0.0, n->dw2, 1);
        for (size_t i = 0; i < w->m; i++)
            for (size_t j = 0; j < w->h; j++)
                n->dh[i * w->h + j] = n->hid[i * w->h + j] > 0.0 ? n->dp[i] * n->w2[j] : 0.0;
    } else {
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, h, o, m,
                    1.0, n->hid, h, n->dp, o, 0.0, n->dw2, o);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, h, o,
                    1.0, n->dp, o, n->w2, o, 0.0, n->dh, h);
        for (size_t q = 0; q < mh; q++)
            if (n->hid[q] <= 0.0)
                n->dh[q] = 0.0;
    }
    colsum(n->dp, w->m, w->o, n->db2);
    /* dW1 = xᵀ·dh;  db1 = colsum(dh) */
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, h, m,
                1.0, x, k, n->dh, h, 0.0, n->dw1, h);
    colsum(n->dh, w->m, w->h, n->db1);
    /* SGD: the four parameters are contiguous, and so are their gradients */
    for (size_t q = 0; q < n_init(w); q++)
        n->w1[q] -= w->lr * n->dw1[q];
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Results                                                                   */
/* ------------------------------------------------------------------------ */

static int failures;
static FILE *json;
static int json_first = 1;

/* PASS or FAIL; the summary's calls (count = 1) tally the misses. */
static const char *judge(int ok, int count)
{
    if (!ok && count)
        failures++;
    return ok ? "PASS" : "FAIL";
}
#define verdict(ok) judge((ok), 0)
#define tally(ok) judge((ok), 1)

static double threads_1, threads_2, gradcheck_s = -1.0;
static int threads_ok;
static int gradcheck_ok;

/* Ends the JSON object and closes the file, if there is one. */
static void json_close(void)
{
    if (json) {
        fprintf(json, "%s\n}\n", json_first ? "{" : "");
        fclose(json);
        json = NULL;
    }
}

static void json_num(const char *key, double v)
{
    if (!json)
        return;
    /* JSON has no infinity (a failed memory probe's ratio): null */
    if (isfinite(v))
        fprintf(json, "%s\n  \"%s\": %.17g", json_first ? "{" : ",", key, v);
    else
        fprintf(json, "%s\n  \"%s\": null", json_first ? "{" : ",", key);
    json_first = 0;
}

static void print_timed(const timed *t)
{
    printf("  %-26s median %11.2f us/step   (IQR %.2f-%.2f, %zu samples)\n",
           t->label, t->median, t->q1, t->q3, t->n);
}

typedef struct options {
    int quick;
    const char *data;
    const char *gradcheck;
    const char *json;
    const char *only;     /* one workload by name, e.g. for a profiler */
} options;

/* ------------------------------------------------------------------------ */
/* Weather data                                                              */
/* ------------------------------------------------------------------------ */

static int load_weather(const char *path, bp_matrix **xs, bp_matrix **ys)
{
    static const char *const features[] = {"tmax", "tmin", "rain"};
    static const char *const target[] = {"tmax_tomorrow"};
    bp_error err;

    if (!path) {
        printf("  (no weather table: synthetic weather-like data, 13509 rows)\n");
        return -1;
    }
    if (bp_csv_read(path, features, 3, xs, NULL, &err) != BP_OK ||
        bp_csv_read(path, target, 1, ys, NULL, &err) != BP_OK) {
        fprintf(stderr, "%s: %s\n", cli_name(), err.message);
        bp_matrix_free(*xs);
        *xs = NULL;
        exit(1);
    }
    return 0;
}

/* 13509 rows of plausible temperatures (°F) and rain (inches). */
static void synthetic_weather(double *x, double *y, size_t m)
{
    bp_rng state;

    bp_rng_seed(&state, 7);
    for (size_t i = 0; i < m; i++) {
        double r[3];
        uniform(r, 3, &state, 0.0, 1.0);
        x[i * 3] = 40.0 + 50.0 * r[0];
        x[i * 3 + 1] = x[i * 3] - 5.0 - 15.0 * r[1];
        x[i * 3 + 2] = r[2] < 0.7 ? 0.0 : 2.0 * (r[2] - 0.7);
        y[i] = x[i * 3] + 6.0 * (r[1] - 0.5);
    }
}

/* ------------------------------------------------------------------------ */
/* The workloads' data                                                       */
/* ------------------------------------------------------------------------ */

enum { SEED, WEATHER, MNIST, N_WORK };
static const char *const workload_names[N_WORK] = {"seed", "weather", "mnist"};

typedef struct bench_data {
    bp_matrix *wx, *wy;             /* the weather table, when readable */
    double *synth_x, *synth_y;      /* else weather-like data */
    size_t wrows;
    double *mx, *my;                /* mnist-like */
} bench_data;

/* Loads the weather table (or makes weather-like data) when weather is set,
 * and mnist-like data when mnist is. */
static void load_data(bench_data *d, const options *opt, int weather, int mnist)
{
    bp_rng state;

    bp_rng_seed(&state, 2024);
    memset(d, 0, sizeof *d);
    d->wrows = 13509;
    if (weather) {
        if (load_weather(opt->data, &d->wx, &d->wy) != 0) {
            d->synth_x = xmalloc(d->wrows * 3 * sizeof *d->synth_x);
            d->synth_y = xmalloc(d->wrows * sizeof *d->synth_y);
            synthetic_weather(d->synth_x, d->synth_y, d->wrows);
        } else {
            d->wrows = d->wx->rows;
        }
    }
    if (mnist) {
        /* pixel intensities in [0, 1), random one-hot labels */
        d->mx = xmalloc(512 * 784 * sizeof *d->mx);
        d->my = xmalloc(512 * 10 * sizeof *d->my);
        memset(d->my, 0, 512 * 10 * sizeof *d->my);
        uniform(d->mx, 512 * 784, &state, 0.0, 1.0);
        for (size_t i = 0; i < 512; i++)
            d->my[i * 10 + bp_rng_below(&state, 10)] = 1.0;
    }
}

static void free_data(bench_data *d)
{
    free(d->mx);
    free(d->my);
    free(d->synth_x);
    free(d->synth_y);
    bp_matrix_free(d->wx);
    bp_matrix_free(d->wy);
}

/* The three workloads over d's data; starting parameters for workload
 * only, or for all three when only is N_WORK (the rest get none). */
static void define_workloads(workload w[N_WORK], const bench_data *d, int only)
{
    const double *sx = d->synth_x ? d->synth_x : d->wx ? d->wx->data : NULL;
    const double *sy = d->synth_y ? d->synth_y : d->wy ? d->wy->data : NULL;

    w[SEED] = (workload){"seed", 10, 3, 3, 1, 0, 1e-5, sx, sy, NULL, 4.0, 0, 0};
    w[WEATHER] = (workload){"weather", d->wrows, 3, 64, 1, 0, 1e-5, sx, sy, NULL, 1.0, 0, 0};
    w[MNIST] = (workload){"mnist", 512, 784, 1024, 10, 1, 1e-2, d->mx, d->my, NULL, 1.05, 0, 0};
    for (int i = 0; i < N_WORK; i++)
        if (only == N_WORK || only == i)
            w[i].init = make_init(&w[i], 42 + (unsigned long long)i);
}

/* ------------------------------------------------------------------------ */
/* Peak memory: each version alone in a process of its own                   */
/* ------------------------------------------------------------------------ */

enum probe_version { PROBE_DATA_ONLY, PROBE_BPGRAPH, PROBE_HAND, N_PROBE };

typedef struct peak_mem {
    long kib[N_PROBE];      /* max resident set of each child; -1: failed */
} peak_mem;

/* The maximum resident set (KiB) of a child process that loads workload
 * which's data and then builds and runs version for a few steps, nothing
 * else: the program's peak memory, as the OS counts it.  The children are
 * forked before the parent has loaded anything, so each starts from the
 * same small process.  -1 when the child fails. */
static long probe_peak_kib(int which, enum probe_version version, const options *opt)
{
    struct rusage ru;
    int status;
    pid_t pid;

    fflush(stdout);
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        bench_data d;
        workload w[N_WORK];

        if (!freopen("/dev/null", "w", stdout))
            _exit(1);
        /* this workload's data and starting parameters, nothing more */
        load_data(&d, opt, which != MNIST, which == MNIST);
        define_workloads(w, &d, which);
        if (version == PROBE_BPGRAPH) {
            graph_net gn;
            graph_build(&gn, &w[which]);
            for (int s = 0; s < 3; s++)
                if (graph_step(&gn) != 0)
                    _exit(1);
        } else if (version == PROBE_HAND) {
            hand_net hn;
            hand_build(&hn, &w[which]);
            for (int s = 0; s < 3; s++)
                hand_step(&hn);
        }
        _exit(0);
    }
    if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return -1;
    return ru.ru_maxrss;   /* KiB on Linux */
}

/* The median of three probes of each version, taken in turn: the same
 * program's resident set moves by up to ~100 KiB from run to run. */
static peak_mem probe_workload(int which, const options *opt)
{
    double runs[N_PROBE][3];
    peak_mem m;

    for (int r = 0; r < 3; r++)
        for (int v = 0; v < N_PROBE; v++)
            runs[v][r] = (double)probe_peak_kib(which, (enum probe_version)v, opt);
    for (int v = 0; v < N_PROBE; v++) {
        int failed = runs[v][0] < 0 || runs[v][1] < 0 || runs[v][2] < 0;
        m.kib[v] = failed ? -1 : (long)quantile(runs[v], 3, 0.5);
    }
    return m;
}

/* bpgraph's peak over the hand-written one's; a failed probe is infinite. */
static double peak_ratio(const peak_mem *m)
{
    if (m->kib[PROBE_BPGRAPH] < 0 || m->kib[PROBE_HAND] <= 0)
        return HUGE_VAL;
    return (double)m->kib[PROBE_BPGRAPH] / (double)m->kib[PROBE_HAND];
}

static void print_peak(const peak_mem *m)
{
    printf("  peak memory (max resident set of a process running only that version):\n"
           "    bpgraph %ld KiB, hand-written %ld KiB (%+ld KiB); ratio %.3f  "
           "(the data alone: %ld KiB)\n",
           m->kib[PROBE_BPGRAPH], m->kib[PROBE_HAND], m->kib[PROBE_BPGRAPH] - m->kib[PROBE_HAND],
           peak_ratio(m), m->kib[PROBE_DATA_ONLY]);
}

/* ------------------------------------------------------------------------ */
/* The parts of the run                                                      */
/* ------------------------------------------------------------------------ */

typedef struct result {
    double graph_us, hand_us, ratio;
    double allocs_per_step;
    size_t graph_bytes, hand_bytes;
} result;

static result bench_workload(workload *w, const options *opt)
{
    graph_net gn;
    hand_net hn;
    timed a = {.label = "bpgraph", .step = graph_step, .ctx = &gn};
    timed b = {.label = "hand-written C + OpenBLAS", .step = hand_step, .ctx = &hn};
    plan p;
    result r;
    size_t allocs_before, steps;
    double diff = 0.0;

    printf("\n== %s: %zux%zu -> %zu -> %zu, relu, %s; SGD lr %g ==\n", w->name, w->m, w->k,
           w->h, w->o, w->softmax ? "softmax cross-entropy" : "MSE", w->lr);

    counts.peak = counts.live;
    {
        size_t base = counts.live;
        graph_build(&gn, w);
        hand_build(&hn, w);
        /* One step each from the same start: the same loss, or the
         * comparison is not of the same step. */
        if (graph_step(&gn) != 0)
            die_graph(gn.g, w->name);
        hand_step(&hn);
        gn.bytes = counts.peak - base;
    }
    for (int i = 0; i < 4; i++) {
        const bp_matrix *v = bp_node_value(gn.param[i]);
        const double *hv = i == 0 ? hn.w1 : i == 1 ? hn.b1 : i == 2 ? hn.w2 : hn.b2;
        for (size_t q = 0; q < v->rows * v->cols; q++)
            diff = fmax(diff, fabs(v->data[q] - hv[q]));
    }
    printf("  first step: loss %.10g (bpgraph) vs %.10g (by hand); params after it differ by %.3g\n",
           graph_loss(&gn), hn.loss, diff);

    {
        /* The hand-written net takes as many steps: the same warm-up, and
         * the last losses below are after the same number of steps. */
        size_t ran;
        p.reps = calibrate(graph_step, &gn, 2000.0, &ran);
        while (ran-- > 0)
            hand_step(&hn);
    }
    p.per_block = opt->quick ? 3 : 5;
    p.blocks = opt->quick ? 6 : 20;
    if (p.reps == 1 && w->m * w->k * w->h > 100000000u) {   /* mnist: ~tens of ms a step */
        p.per_block = opt->quick ? 2 : 3;
        p.blocks = opt->quick ? 4 : 14;
    }
    allocs_before = counts.n_alloc;
    time_pair(&a, &b, &p);
    steps = p.blocks * p.per_block * p.reps;
    r.allocs_per_step = (double)(counts.n_alloc - allocs_before) / (double)steps;
    print_timed(&a);
    print_timed(&b);
    r.graph_us = a.median;
    r.hand_us = b.median;
    r.ratio = a.median / b.median;
    r.graph_bytes = gn.bytes;
    r.hand_bytes = hn.bytes;
    printf("  ratio bpgraph / hand-written: %.3f   (%zu steps each, %zu per sample)\n",
           r.ratio, steps, p.reps);
    printf("  last loss: %.6g (bpgraph), %.6g (by hand)\n", graph_loss(&gn), hn.loss);
    printf("  heap allocations per step (bpgraph, counted): %.3g over %zu steps\n",
           r.allocs_per_step, steps);
    printf("  heap: bpgraph %.1f KiB (the library's peak, counted), "
           "hand-written %.1f KiB (its arrays); ratio %.2f\n",
           (double)r.graph_bytes / 1024.0, (double)r.hand_bytes / 1024.0,
           (double)r.graph_bytes / (double)r.hand_bytes);
    if (w->target > 0.0)
        printf("  target %-8s <= %.2fx hand-written: %s\n", w->name, w->target,
               verdict(r.ratio <= w->target));
    else
        printf("  (for context: no target)\n");
    graph_free(&gn);
    hand_free(&hn);
    free(a.samples);
    free(b.samples);
    return r;
}

/* A variant of workload w timed for context, with no target; its ratio,
 * also written to the JSON as key. */
static double bench_variant(const workload *w, const char *title, int unfused, int hand_gemv,
                            const char *key, const options *opt)
{
    workload v = *w;
    double ratio;

    v.name = title;
    v.target = 0.0;
    v.unfused = unfused;
    v.hand_gemv = hand_gemv;
    ratio = bench_workload(&v, opt).ratio;
    json_num(key, ratio);
    return ratio;
}

/* ---- staged vs fused softmax, forward + backward on 512×1000 ---- */

typedef struct softmax_ctx {
    bp_graph *g;
    bp_node *z, *out;
    bp_matrix seed;
} softmax_ctx;

static int softmax_step(void *ctx)
{
    softmax_ctx *c = ctx;
    bp_zero_grad(c->g);
    return bp_forward(c->g, c->out) != BP_OK || bp_backward(c->g, c->out, &c->seed) != BP_OK;
}

static void softmax_build(softmax_ctx *c, int staged, const double *z, double *seed)
{
    bp_matrix zm = {512, 1000, (double *)z};
    c->g = bp_graph_new();
    c->z = bp_param(c->g, 512, 1000, "z");
    c->out = staged ? bp_softmax_staged(c->g, c->z) : bp_softmax(c->g, c->z);
    c->seed.rows = 512;
    c->seed.cols = 1000;
    c->seed.data = seed;
    if (bp_graph_status(c->g) != BP_OK || bp_node_set_value(c->z, &zm) != BP_OK)
        die_graph(c->g, "softmax");
}

static double bench_softmax(const options *opt, double *allocs)
{
    const size_t n = 512 * 1000;
    double *z = xmalloc(n * sizeof *z), *seed = xmalloc(n * sizeof *seed), diff = 0.0;
    bp_rng state;
    softmax_ctx staged, fused;
    timed a = {.label = "staged (6 graph ops)", .step = softmax_step, .ctx = &staged};
    timed b = {.label = "fused bp_softmax", .step = softmax_step, .ctx = &fused};
    plan p = {.blocks = opt->quick ? 6 : 20, .per_block = opt->quick ? 3 : 5, .reps = 1};
    size_t before;

    printf("\n== softmax 512x1000, forward + backward (seeded): staged vs fused ==\n");
    bp_rng_seed(&state, 11);
    uniform(z, n, &state, -4.0, 4.0);
    uniform(seed, n, &state, -1.0, 1.0);
    softmax_build(&staged, 1, z, seed);
    softmax_build(&fused, 0, z, seed);
    softmax_step(&staged);
    softmax_step(&fused);
    {
        const bp_matrix *gs = bp_node_grad(staged.z), *gf = bp_node_grad(fused.z);
        for (size_t k = 0; k < n; k++)
            diff = fmax(diff, fabs(gs->data[k] - gf->data[k]));
    }
    printf("  dz staged vs fused: max |diff| %.3g\n", diff);
    before = counts.n_alloc;
    time_pair(&a, &b, &p);
    *allocs = (double)(counts.n_alloc - before) / (double)(a.n + b.n);
    print_timed(&a);
    print_timed(&b);
    printf("  ratio staged / fused: %.3f\n", a.median / b.median);
    printf("  target softmax staged <= 2x fused: %s\n", verdict(a.median / b.median <= 2.0));
    json_num("softmax_staged_us", a.median);
    json_num("softmax_fused_us", b.median);
    bp_graph_free(staged.g);
    bp_graph_free(fused.g);
    free(a.samples);
    free(b.samples);
    free(z);
    free(seed);
    return a.median / b.median;
}

/* ---- batched matmul, 32 of 64×64 · 64×64, against a dgemm loop ---- */

#define BMM_BATCH 32
#define BMM_N 64
#define BMM_SIZE ((size_t)BMM_BATCH * BMM_N * BMM_N)

typedef struct bmm_graph {
    bp_graph *g;
    bp_node *a, *b, *c;
    bp_matrix seed;
} bmm_graph;

static int bmm_graph_step(void *ctx)
{
    bmm_graph *c = ctx;
    bp_zero_grad(c->g);
    return bp_forward(c->g, c->c) != BP_OK || bp_backward(c->g, c->c, &c->seed) != BP_OK;
}

/* The same work by hand: C_i = A_i·B_i, then dA_i += G_i·B_iᵀ and
 * dB_i += A_iᵀ·G_i into zeroed gradients, one cblas_dgemm each. */
typedef struct bmm_hand {
    const double *a, *b, *g;
    double *c, *da, *db;
} bmm_hand;

static int bmm_hand_step(void *ctx)
{
    bmm_hand *h = ctx;
    const int n = BMM_N;
    const size_t mat = (size_t)BMM_N * BMM_N;

    memset(h->da, 0, BMM_SIZE * sizeof *h->da);
    memset(h->db, 0, BMM_SIZE * sizeof *h->db);
    for (size_t i = 0; i < BMM_BATCH; i++)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, h->a + i * mat, n,
                    h->b + i * mat, n, 0.0, h->c + i * mat, n);
    for (size_t i = 0; i < BMM_BATCH; i++) {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0, h->g + i * mat, n,
                    h->b + i * mat, n, 1.0, h->da + i * mat, n);
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, n, n, 1.0, h->a + i * mat, n,
                    h->g + i * mat, n, 1.0, h->db + i * mat, n);
    }
    return 0;
}

static double max_diff(const double *x, const double *y, size_t n)
{
    double d = 0.0;
    for (size_t k = 0; k < n; k++)
        d = fmax(d, fabs(x[k] - y[k]));
    return d;
}

static double bench_bmm(const options *opt)
{
    const bp_shape shape = {3, {BMM_BATCH, BMM_N, BMM_N}};
    double *in = xmalloc(3 * BMM_SIZE * sizeof *in), *out = xmalloc(3 * BMM_SIZE * sizeof *out);
    bp_rng state;
    bmm_graph gr;
    bmm_hand hand = {in, in + BMM_SIZE, in + 2 * BMM_SIZE, out, out + BMM_SIZE, out + 2 * BMM_SIZE};
    bp_matrix am = {BMM_BATCH * BMM_N, BMM_N, in}, bm = {BMM_BATCH * BMM_N, BMM_N, in + BMM_SIZE};
    timed a = {.label = "bp_matmul on 32x64x64 params", .step = bmm_graph_step, .ctx = &gr};
    timed b = {.label = "hand-written cblas_dgemm loop", .step = bmm_hand_step, .ctx = &hand};
    plan p = {.blocks = opt->quick ? 6 : 20, .per_block = opt->quick ? 3 : 5, .reps = 1};
    double diff, ratio;

    printf("\n== batched matmul 32 x (64x64 . 64x64), forward + backward (seeded) ==\n");
    bp_rng_seed(&state, 13);
    uniform(in, 3 * BMM_SIZE, &state, -1.0, 1.0);
    gr.g = bp_graph_new();
    gr.a = bp_param_nd(gr.g, &shape, "a");
    gr.b = bp_param_nd(gr.g, &shape, "b");
    gr.c = bp_matmul(gr.g, gr.a, gr.b);
    gr.seed = (bp_matrix){BMM_BATCH * BMM_N, BMM_N, in + 2 * BMM_SIZE};
    if (bp_graph_status(gr.g) != BP_OK || bp_node_set_value(gr.a, &am) != BP_OK ||
        bp_node_set_value(gr.b, &bm) != BP_OK || bmm_graph_step(&gr))
        die_graph(gr.g, "batched matmul");
    bmm_hand_step(&hand);
    diff = fmax(max_diff(bp_node_value(gr.c)->data, hand.c, BMM_SIZE),
                fmax(max_diff(bp_node_grad(gr.a)->data, hand.da, BMM_SIZE),
                     max_diff(bp_node_grad(gr.b)->data, hand.db, BMM_SIZE)));
    printf("  C, dA, dB bpgraph vs hand-written: max |diff| %.3g\n", diff);
    time_pair(&a, &b, &p);
    print_timed(&a);
    print_timed(&b);
    ratio = a.median / b.median;
    printf("  ratio bpgraph / hand-written: %.3f\n", ratio);
    printf("  target bmm      <= 1.10x hand-written: %s\n", verdict(ratio <= 1.10));
    json_num("bmm_bpgraph_us", a.median);
    json_num("bmm_hand_us", b.median);
    bp_graph_free(gr.g);
    free(a.samples);
    free(b.samples);
    free(in);
    free(out);
    return ratio;
}

/* ---- an RNN training step: B=64, T=7 inputs of 3 -> 32 hidden, tanh ---- */

#define RNN_B 64
#define RNN_T 7
#define RNN_IN 3
#define RNN_H 32

typedef struct rnn_net {
    bp_graph *g;
    bp_node *loss;
    bp_optimizer *opt;    /* plain SGD (momentum 0), as the other workloads */
} rnn_net;

static int rnn_step(void *ctx)
{
    rnn_net *n = ctx;
    bp_zero_grad(n->g);
    return bp_forward(n->g, n->loss) != BP_OK || bp_backward(n->g, n->loss, NULL) != BP_OK ||
           bp_optimizer_step(n->opt) != BP_OK;
}

/* A tanh RNN cell unrolled over T per-step inputs (each B x 3, bound to its
 * slice of xs) from the zero state, a linear head on the last state, MSE
 * against y; the same as tools/bench-peers' PyTorch step.  Returns the
 * median µs per step; *allocs the heap allocations per step. */
static double bench_rnn(const options *opt, double *allocs)
{
    double *xs = xmalloc((size_t)RNN_T * RNN_B * RNN_IN * sizeof *xs);
    double y[RNN_B];
    bp_rng state;
    rnn_net n;
    bp_rnn_cell cell;
    bp_dense_layer head;
    bp_node *h = NULL, *yn;
    bp_optim_config cfg = bp_optim_defaults(BP_OPTIM_SGD);
    timed a = {.label = "bpgraph rnn step", .step = rnn_step, .ctx = &n};
    plan p = {.blocks = opt->quick ? 6 : 20, .per_block = opt->quick ? 3 : 5};
    size_t ran, before;

    printf("\n== rnn: B=%d, T=%d inputs of %d -> %d hidden, tanh, linear head, MSE, "
           "SGD step ==\n", RNN_B, RNN_T, RNN_IN, RNN_H);
    bp_rng_seed(&state, 17);
    uniform(xs, (size_t)RNN_T * RNN_B * RNN_IN, &state, -1.0, 1.0);
    uniform(y, RNN_B, &state, -1.0, 1.0);
    n.g = bp_graph_new();
    if (!n.g)
        die_graph(NULL, "rnn");
    (void)bp_rnn_cell_init(n.g, &cell, RNN_IN, RNN_H, "rnn", &state);
    (void)bp_dense_layer_init(n.g, &head, RNN_H, 1, "head", &state);
    for (size_t t = 0; t < RNN_T; t++) {
        bp_node *x = bp_input(n.g, RNN_B, RNN_IN, "x_t");
        bp_matrix xm = {RNN_B, RNN_IN, xs + t * RNN_B * RNN_IN};
        (void)bp_node_bind_value(x, &xm);
        h = bp_rnn_cell_apply(n.g, &cell, x, h);
    }
    yn = bp_input(n.g, RNN_B, 1, "y");
    (void)bp_node_bind_value(yn, &(bp_matrix){RNN_B, 1, y});
    n.loss = bp_mse(n.g, bp_dense_layer_apply(n.g, &head, h), yn);
    cfg.lr = 1e-3;
    if (bp_graph_status(n.g) != BP_OK || bp_optimizer_new(n.g, NULL, 0, &cfg, &n.opt) != BP_OK ||
        rnn_step(&n))
        die_graph(n.g, "rnn");
    printf("  loss after the first step: %.6f (%zu graph nodes)\n", bp_node_value(n.loss)->data[0],
           bp_graph_size(n.g));
    p.reps = calibrate(rnn_step, &n, 2e3, &ran);
    before = counts.n_alloc;
    time_blocks((timed *[1]){&a}, 1, &p);
    *allocs = (double)(counts.n_alloc - before) / (double)(a.n * p.reps);
    print_timed(&a);
    printf("  heap allocations per step: %.3g\n", *allocs);
    printf("  (PyTorch's time for the same step: tools/bench-peers)\n");
    json_num("rnn_bpgraph_us", a.median);
    json_num("rnn_allocs_per_step", *allocs);
    bp_optimizer_free(n.opt);
    bp_graph_free(n.g);
    free(a.samples);
    free(xs);
    return a.median;
}

/* ---- a transformer training step, against PyTorch (tools/bench-peers) ---- */

/* A character-level decoder-only transformer as examples/transformer
 * builds it: token and position embeddings, 2 pre-norm blocks of 4-head
 * causal attention and a 4·D gelu MLP, a final layer norm, a linear head,
 * cross-entropy; no dropout.  B=16 windows of T=64 ids from a vocabulary
 * of 96.  tools/bench-peers builds the same model in PyTorch. */
#define TF_B 16
#define TF_T 64
#define TF_D 128
#define TF_H 4
#define TF_BLOCKS 2
#define TF_V 96

typedef struct tf_net {
    bp_graph *g;
    bp_node *loss;
    bp_optimizer *opt;
} tf_net;

/* zero_grad, forward, backward, AdamW */
static int tf_step(void *ctx)
{
    tf_net *n = ctx;
    bp_zero_grad(n->g);
    return bp_forward(n->g, n->loss) != BP_OK || bp_backward(n->g, n->loss, NULL) != BP_OK ||
           bp_optimizer_step(n->opt) != BP_OK;
}

static void tf_build(tf_net *n, double *ids, double *targets)
{
    bp_graph *g = bp_graph_new();
    bp_transformer_block blk[TF_BLOCKS];
    bp_dense_layer head;
    bp_node *x, *tok, *pos, *gamma, *beta, *in, *tg;
    bp_optim_config cfg = bp_optim_defaults(BP_OPTIM_ADAMW);
    double positions[TF_T];
    bp_matrix mi = {TF_B, TF_T, ids}, mt = {TF_B, TF_T, targets};
    bp_rng rng;

    bp_rng_seed(&rng, 15);
    for (size_t k = 0; k < TF_B * TF_T; k++) {
        ids[k] = (double)bp_rng_below(&rng, TF_V);
        targets[k] = (double)bp_rng_below(&rng, TF_V);
    }
    for (size_t k = 0; k < TF_T; k++)
        positions[k] = (double)k;
    in = bp_input_nd(g, &(bp_shape){2, {TF_B, TF_T}}, "ids");
    tg = bp_input_nd(g, &(bp_shape){2, {TF_B, TF_T}}, "targets");
    tok = bp_param(g, TF_V, TF_D, "tok_emb");
    pos = bp_param(g, TF_T, TF_D, "pos_emb");
    bp_init_uniform(tok, -0.05, 0.05, &rng);
    bp_init_uniform(pos, -0.05, 0.05, &rng);
    x = bp_add(g, bp_gather(g, tok, in),
               bp_gather(g, pos, bp_constant_nd(g, &(bp_shape){1, {TF_T}}, positions, "positions")));
    for (size_t l = 0; l < TF_BLOCKS; l++) {
        (void)bp_transformer_block_init(g, &blk[l], TF_D, TF_H, 4 * TF_D, 0.0, NULL, &rng);
        x = bp_transformer_block_apply(g, &blk[l], x);
    }
    gamma = bp_param_nd(g, &(bp_shape){1, {TF_D}}, "ln_f.gamma");
    beta = bp_param_nd(g, &(bp_shape){1, {TF_D}}, "ln_f.beta");
    bp_init_uniform(gamma, 1.0, 1.0, &rng);
    (void)bp_dense_layer_init(g, &head, TF_D, TF_V, "head", &rng);
    x = bp_layer_norm(g, x, gamma, beta, 1e-5);
    n->loss = bp_cross_entropy(g, bp_dense_layer_apply(g, &head, x), tg, -1.0);
    cfg.lr = 1e-4;
    if (bp_node_bind_value(in, &mi) != BP_OK || bp_node_bind_value(tg, &mt) != BP_OK ||
        bp_optimizer_new(g, NULL, 0, &cfg, &n->opt) != BP_OK)
        die_graph(g, "transformer");
    n->g = g;
}

static double bench_transformer(const options *opt)
{
    double *ids = xmalloc(2 * TF_B * TF_T * sizeof *ids);
    tf_net n;
    timed a = {.label = "bpgraph", .step = tf_step, .ctx = &n};
    plan p = {.blocks = opt->quick ? 3 : 10, .per_block = opt->quick ? 2 : 3, .reps = 1};
    size_t allocs_before;
    double allocs, first;

    printf("\n== transformer: B=%d, T=%d, D=%d, %d heads, %d blocks, vocabulary %d; "
           "forward + backward + AdamW ==\n", TF_B, TF_T, TF_D, TF_H, TF_BLOCKS, TF_V);
    tf_build(&n, ids, ids + TF_B * TF_T);
    if (tf_step(&n))
        die_graph(n.g, "transformer");
    first = bp_node_value(n.loss)->data[0];
    allocs_before = counts.n_alloc;
    time_blocks((timed *[1]){&a}, 1, &p);
    allocs = (double)(counts.n_alloc - allocs_before) / (double)a.n;
    printf("  first step's loss %.6f (log %d = %.6f)\n", first, TF_V, log((double)TF_V));
    print_timed(&a);
    printf("  allocations per step: %.2f\n", allocs);
    printf("  (PyTorch's time for the same step: tools/bench-peers)\n");
    json_num("transformer_bpgraph_us", a.median);
    json_num("transformer_allocs_per_step", allocs);
    bp_optimizer_free(n.opt);
    bp_graph_free(n.g);
    free(a.samples);
    free(ids);
    return allocs;
}

/* ---- mnist with 1 vs 2 OpenBLAS threads ---- */

static void one_thread(void *ctx)
{
    (void)ctx;
    openblas_set_num_threads(1);
}

static void two_threads(void *ctx)
{
    (void)ctx;
    openblas_set_num_threads(2);
}

static void bench_threads(workload *w, const options *opt)
{
    graph_net gn1, gn2;
    hand_net hn1, hn2;
    timed a = {.label = "bpgraph, 1 thread", .step = graph_step, .ctx = &gn1, .before = one_thread};
    timed b = {.label = "bpgraph, 2 threads", .step = graph_step, .ctx = &gn2, .before = two_threads};
    timed c = {.label = "hand-written, 1 thread", .step = hand_step, .ctx = &hn1, .before = one_thread};
    timed d = {.label = "hand-written, 2 threads", .step = hand_step, .ctx = &hn2, .before = two_threads};
    plan p = {.blocks = opt->quick ? 4 : 10, .per_block = opt->quick ? 2 : 3, .reps = 1};

    printf("\n== mnist, OpenBLAS threads: 1 vs 2 ==\n");
    graph_build(&gn1, w);
    graph_build(&gn2, w);
    hand_build(&hn1, w);
    hand_build(&hn2, w);
    graph_step(&gn1);
    graph_step(&gn2);
    hand_step(&hn1);
    hand_step(&hn2);
    {
        /* The hand-written step alongside, in the same rotation: whether
         * the machine gives a second thread anything to gain at that
         * moment, whatever the library does. */
        timed *v[4] = {&a, &b, &c, &d};
        time_blocks(v, 4, &p);
    }
    openblas_set_num_threads(1);
    print_timed(&a);
    print_timed(&b);
    printf("  bpgraph speed-up with 2 threads: %.2fx\n", a.median / b.median);
    print_timed(&c);
    print_timed(&d);
    printf("  hand-written speed-up with 2 threads (control): %.2fx\n", c.median / d.median);
    /* Faster means clearly: the 2-thread median below the 1-thread lower
     * quartile, not a difference inside the noise. */
    threads_ok = b.median < a.q1;
    printf("  target mnist faster on 2 threads than 1: %s\n", verdict(threads_ok));
    threads_1 = a.median;
    threads_2 = b.median;
    json_num("mnist_1thread_us", a.median);
    json_num("mnist_2threads_us", b.median);
    json_num("mnist_hand_1thread_us", c.median);
    json_num("mnist_hand_2threads_us", d.median);
    graph_free(&gn1);
    graph_free(&gn2);
    hand_free(&hn1);
    hand_free(&hn2);
    free(a.samples);
    free(b.samples);
    free(c.samples);
    free(d.samples);
}

/* ---- tools/gradcheck over every built-in op ---- */

/* Wall time of one command; its exit status in *status. */
static double run_timed(const char *cmd, int *status)
{
    double t0 = now_us();
    int st = system(cmd);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return (now_us() - t0) * 1e-6;
}

static void bench_gradcheck(const options *opt)
{
    int status, all_status;
    double all_s;
    char cmd[1200];

    printf("\n== tools/gradcheck over every built-in op ==\n");
    if (access(opt->gradcheck, X_OK) != 0) {
        printf("  skipped: %s not found\n", opt->gradcheck);
        return;
    }
    /* --no-graph: the ops alone, which is what the target is about; the
     * default run (ops and graph cases) is timed too, for context. */
    snprintf(cmd, sizeof cmd, "'%s' --no-graph > /dev/null", opt->gradcheck);
    gradcheck_s = run_timed(cmd, &status);
    gradcheck_ok = status == 0;
    snprintf(cmd, sizeof cmd, "'%s' > /dev/null", opt->gradcheck);
    all_s = run_timed(cmd, &all_status);
    printf("  %s --no-graph (every registered op): %.3f s wall, exit status %d\n",
           opt->gradcheck, gradcheck_s, status);
    printf("  %s (ops and graph cases):            %.3f s wall, exit status %d\n",
           opt->gradcheck, all_s, all_status);
    printf("  target gradcheck < 2 s: %s\n", verdict(gradcheck_ok && gradcheck_s < 2.0));
    json_num("gradcheck_s", gradcheck_s);
    json_num("gradcheck_all_s", all_s);
}

static void usage(void)
{
    printf("Usage: %s [OPTION]...\n"
           "Times a bpgraph training step against the same step written by hand in\n"
           "C + OpenBLAS (and more: see its manual page).\n"
           "\n"
           "  --quick          fewer samples: a shorter run, for a smoke test\n"
           "  --data FILE      the weather table (default $BP_WEATHER_CSV, else\n"
           "                   ../shared/data/clean_weather.csv when it exists, else\n"
           "                   synthetic weather-like data); a FILE named here\n"
           "                   must be readable\n"
           "  --gradcheck PATH the checker to time (default tools/gradcheck)\n"
           "  --json FILE      also write the medians and ratios to FILE\n"
           "  --only NAME      run one workload and stop (for a profiler): seed,\n"
           "                   weather, weather-two-ops, weather-tuned, mnist, softmax,\n"
           "                   bmm, rnn, transformer\n"
           "  -h, --help       this text\n"
           "  --version        the version and licence\n"
           "Options take their value as '--data FILE' or '--data=FILE'.\n"
           "\n"
           "Exit status: 0 the run finished (missed targets are reported, not\n"
           "failed), 1 an error in the run, 2 a usage error or an unreadable file.\n",
           cli_name());
}

/* Returns -1 when parsing succeeded, else an exit code. */
static int parse_args(int argc, char **argv, options *opt)
{
    enum { OPT_QUICK = 256, OPT_DATA, OPT_GRADCHECK, OPT_JSON, OPT_ONLY, OPT_VERSION };
    static const struct option longopts[] = {
        {"quick", no_argument, NULL, OPT_QUICK},
        {"data", required_argument, NULL, OPT_DATA},
        {"gradcheck", required_argument, NULL, OPT_GRADCHECK},
        {"json", required_argument, NULL, OPT_JSON},
        {"only", required_argument, NULL, OPT_ONLY},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    static const char *const only_names[] = {"seed", "weather", "weather-two-ops",
                                             "weather-tuned", "mnist", "softmax", "bmm", "rnn",
                                             "transformer"};
    const char *env = getenv("BP_WEATHER_CSV");
    int c;

    cli_init(argv);
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': usage(); return 0;
        case OPT_VERSION: cli_version(); return 0;
        case OPT_QUICK: opt->quick = 1; break;
        case OPT_DATA: opt->data = optarg; break;
        case OPT_GRADCHECK: opt->gradcheck = optarg; break;
        case OPT_JSON: opt->json = optarg; break;
        case OPT_ONLY: opt->only = optarg; break;
        default: return cli_try_help();
        }
    }
    if (optind < argc)
        return cli_usage_error("unexpected argument '%s' (it takes options only)", argv[optind]);
    if (opt->only) {
        size_t i = 0;
        while (i < sizeof only_names / sizeof only_names[0] && strcmp(opt->only, only_names[i]) != 0)
            i++;
        if (i == sizeof only_names / sizeof only_names[0])
            return cli_usage_error("--only takes seed, weather, weather-two-ops, weather-tuned, "
                                   "mnist, softmax, bmm, rnn or transformer, not '%s'",
                                   opt->only);
    }
    /* A table that was named must be there; only the default may be
     * absent, and then the data is synthetic (and says so). */
    if (!opt->data && env && env[0])
        opt->data = env;
    if (opt->data && access(opt->data, R_OK) != 0) {
        fprintf(stderr, "%s: cannot read the weather table '%s': %s\n", cli_name(), opt->data,
                strerror(errno));
        return CLI_EXIT_USAGE;
    }
    if (!opt->data && access("../shared/data/clean_weather.csv", R_OK) == 0)
        opt->data = "../shared/data/clean_weather.csv";
    return -1;
}

int main(int argc, char **argv)
{
    options opt = {0, NULL, "tools/gradcheck", NULL, NULL};
    workload w[N_WORK];
    result r[N_WORK];
    peak_mem mem[N_WORK];
    bench_data data;
    double softmax_ratio, softmax_allocs, unfused_ratio = 0.0, tuned_ratio = 0.0, bmm_ratio;
    double rnn_allocs = 0.0, transformer_allocs = 0.0;
    struct rusage ru;
    int rc = parse_args(argc, argv, &opt);

    if (rc >= 0)
        return rc;
    if (opt.json && !(json = fopen(opt.json, "w"))) {
        fprintf(stderr, "%s: cannot write '%s': %s\n", cli_name(), opt.json, strerror(errno));
        return CLI_EXIT_USAGE;
    }
    openblas_set_num_threads(1);

    printf("bpgraph bench%s: medians of per-step times, bpgraph and hand-written\n"
           "timed in alternating blocks in this one run; %s; 1 thread\n",
           opt.quick ? " (--quick)" : "", openblas_get_config());
    printf("OPENBLAS_CORETYPE=%s\n", getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "(unset)");
    {
        /* Other work on the machine shows up as spread: say how busy it was. */
        FILE *f = fopen("/proc/loadavg", "r");
        char load[64] = "";
        if (f && fgets(load, sizeof load, f))
            printf("load average at start: %s", load);
        if (f)
            fclose(f);
    }

    printf("weather data: %s\n", opt.data ? opt.data : "(none: synthetic)");
    for (int i = 0; i < N_WORK; i++)
        if (!opt.only || strcmp(opt.only, workload_names[i]) == 0)
            mem[i] = probe_workload(i, &opt);
    /* Only now the counting allocator: the probes' children run with the
     * library's default one, as a program would. */
    if (bp_set_alloc_funcs(count_malloc, count_free) != BP_OK)
        return 1;

    load_data(&data, &opt, 1, 1);
    define_workloads(w, &data, N_WORK);
    for (int i = 0; i < N_WORK; i++) {
        if (!opt.only || strcmp(opt.only, w[i].name) == 0) {
            r[i] = bench_workload(&w[i], &opt);
            print_peak(&mem[i]);
        }
    }
    /* For context: the hidden layer as bp_dense then bp_relu (what the
     * fused op is worth), and a hand-written step that routes the
     * one-output layer to dgemv as bpgraph does (how much of the lead that
     * is). */
    if (!opt.only || strcmp(opt.only, "weather-two-ops") == 0)
        unfused_ratio = bench_variant(&w[WEATHER], "weather, hidden layer as bp_dense + bp_relu",
                                      1, 0, "weather_unfused_ratio", &opt);
    if (!opt.only || strcmp(opt.only, "weather-tuned") == 0)
        tuned_ratio = bench_variant(&w[WEATHER], "weather, hand-written step tuned for one output",
                                    0, 1, "weather_tuned_ratio", &opt);
    if (opt.only && strcmp(opt.only, "softmax") == 0)
        bench_softmax(&opt, &softmax_allocs);
    if (opt.only && strcmp(opt.only, "bmm") == 0)
        bench_bmm(&opt);
    if (opt.only && strcmp(opt.only, "rnn") == 0)
        bench_rnn(&opt, &rnn_allocs);
    if (opt.only && strcmp(opt.only, "transformer") == 0)
        bench_transformer(&opt);
    if (opt.only) {
        json_close();
        for (int i = 0; i < N_WORK; i++)
            free((double *)w[i].init);
        free_data(&data);
        return 0;
    }
    softmax_ratio = bench_softmax(&opt, &softmax_allocs);
    bmm_ratio = bench_bmm(&opt);
    bench_rnn(&opt, &rnn_allocs);
    transformer_allocs = bench_transformer(&opt);
    bench_threads(&w[MNIST], &opt);
    bench_gradcheck(&opt);

    printf("\n== summary (medians, 1 thread, this run) ==\n");
    printf("  %-9s %12s %12s %7s %6s  %9s %9s %6s  %10s %10s %6s\n", "workload", "bpgraph us",
           "by hand us", "ratio", "target", "peak KiB", "by hand", "ratio", "heap KiB",
           "by hand", "ratio");
    for (int i = 0; i < N_WORK; i++) {
        char key[64];
        printf("  %-9s %12.2f %12.2f %7.3f %6.2f  %9ld %9ld %6.3f  %10.1f %10.1f %6.2f\n",
               w[i].name, r[i].graph_us, r[i].hand_us, r[i].ratio, w[i].target,
               mem[i].kib[PROBE_BPGRAPH], mem[i].kib[PROBE_HAND],
               peak_ratio(&mem[i]), (double)r[i].graph_bytes / 1024.0,
               (double)r[i].hand_bytes / 1024.0,
               (double)r[i].graph_bytes / (double)r[i].hand_bytes);
        snprintf(key, sizeof key, "%s_bpgraph_us", w[i].name);
        json_num(key, r[i].graph_us);
        snprintf(key, sizeof key, "%s_hand_us", w[i].name);
        json_num(key, r[i].hand_us);
        snprintf(key, sizeof key, "%s_allocs_per_step", w[i].name);
        json_num(key, r[i].allocs_per_step);
        snprintf(key, sizeof key, "%s_peak_mem_ratio", w[i].name);
        json_num(key, peak_ratio(&mem[i]));
        snprintf(key, sizeof key, "%s_heap_ratio", w[i].name);
        json_num(key, (double)r[i].graph_bytes / (double)r[i].hand_bytes);
    }
    printf("\n== targets ==\n");
    for (int i = 0; i < N_WORK; i++) {
        char what[64];
        snprintf(what, sizeof what, "%s <= %.2fx hand-written", w[i].name, w[i].target);
        printf("  %-44s %s (%.3fx)\n", what, tally(r[i].ratio <= w[i].target), r[i].ratio);
    }
    printf("  %-44s %s (%.3fx)\n", "softmax staged <= 2x fused", tally(softmax_ratio <= 2.0),
           softmax_ratio);
    printf("  %-44s %s (%.3fx)\n", "batched matmul <= 1.10x dgemm loop", tally(bmm_ratio <= 1.10),
           bmm_ratio);
    {
        int zero = softmax_allocs == 0.0 && rnn_allocs == 0.0 && transformer_allocs == 0.0;
        for (int i = 0; i < N_WORK; i++)
            zero = zero && r[i].allocs_per_step == 0.0;
        printf("  %-44s %s\n", "zero heap allocations per step (counted)", tally(zero));
    }
    for (int i = 0; i < N_WORK; i++) {
        char what[64];
        snprintf(what, sizeof what, "peak memory %s <= 1.5x hand-written", w[i].name);
        printf("  %-44s %s (%.3fx)\n", what, tally(peak_ratio(&mem[i]) <= 1.5),
               peak_ratio(&mem[i]));
    }
    printf("  %-44s %s (%.2fx speed-up)\n", "mnist faster on 2 OpenBLAS threads than 1",
           tally(threads_ok), threads_1 / threads_2);
    if (gradcheck_s >= 0.0)
        printf("  %-44s %s (%.3f s)\n", "tools/gradcheck over every built-in op < 2 s",
               tally(gradcheck_ok && gradcheck_s < 2.0), gradcheck_s);
    else
        printf("  %-44s skipped (no %s)\n", "tools/gradcheck < 2 s", opt.gradcheck);
    printf("  %-44s see tools/bench-peers\n", "seed >= 10x faster than numpy");
    printf("  %-44s see tools/bench-peers\n", "rnn faster than PyTorch");
    printf("  %-44s see tools/bench-peers --transformer\n", "transformer faster than PyTorch");
    printf("  (context: weather with dense + relu as two ops: %.3fx hand-written)\n",
           unfused_ratio);
    printf("  (context: weather against a hand-written step tuned for one output: %.3fx)\n",
           tuned_ratio);
    printf("  (context: the library's heap against the hand-written step's arrays: "
           "seed %.2fx, weather %.2fx, mnist %.2fx)\n",
           (double)r[SEED].graph_bytes / (double)r[SEED].hand_bytes,
           (double)r[WEATHER].graph_bytes / (double)r[WEATHER].hand_bytes,
           (double)r[MNIST].graph_bytes / (double)r[MNIST].hand_bytes);
    getrusage(RUSAGE_SELF, &ru);
    printf("\nmax resident set size of this process (all workloads, for context): %.1f MiB\n",
           (double)ru.ru_maxrss / 1024.0);
    json_close();
    for (int i = 0; i < N_WORK; i++)
        free((double *)w[i].init);
    free_data(&data);
    printf("%d target(s) missed in this run\n", failures);
    return 0;
}
