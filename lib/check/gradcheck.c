/* SPDX-License-Identifier: MIT */
/* Gradient checking: analytic derivatives (bp_backward) against finite
 * differences, for one op over cases derived from its declaration, or for
 * every param of a graph.  Uses the public graph API only. */
#include "bp_private.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The rounding in a difference quotient is bounded as ROUND_ULPS ulps of
 * each function value: the forward passes are short sums and libm calls. */
#define ROUND_ULPS 16.0
/* Backward contract tolerances, normwise relative: the seeds differ only by
 * rounding in the op's own arithmetic, so these sit far below any bug. */
#define LINEAR_RTOL 1e-9
#define ACCUM_RTOL 1e-10
/* An absolute floor for both contracts: where the gradient itself is
 * rounding noise (e.g. lstsq(A, A) = I, whose gradient cancels to ~1e-16),
 * a relative test alone compares noise with noise.  Real violations are of
 * the gradient's own size, far above this. */
#define CONTRACT_ATOL 1e-12
/* Tries before giving up on sampling away from kinks and ties. */
#define MAX_RESAMPLE 1000

bp_check_options bp_check_options_default(void)
{
    bp_check_options o;

    memset(&o, 0, sizeof o);
    o.seed = 1;
    o.eps = DBL_EPSILON;
    o.step_scale = 1.0;
    o.atol = 1e-6;
    o.rtol = 1e-5;
    o.richardson = 1;
    o.contracts = 1;
    o.max_cases = 24;
    o.jacobian_max = 1024;
    o.n_probes = 4;
    o.graph_elementwise_max = 4096;
    o.kink_margin = 1e-2;
    o.only_case = BP_CHECK_ALL;
    return o;
}

void bp_check_report_clear(bp_check_report *report)
{
    if (!report)
        return;
    bpi_free(report->cases);
    memset(report, 0, sizeof *report);
}

/* ---- a small PRNG of our own (splitmix64), so a seed means the same
 *      samples on every platform ---- */

typedef struct gc_rng {
    uint64_t state;
} gc_rng;

static uint64_t rng_next(gc_rng *r)
{
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi). */
static double rng_range(gc_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * ((double)(rng_next(r) >> 11) * 0x1.0p-53);
}

/* Uniform magnitude in [lo, hi) with a random sign. */
static double rng_signed(gc_rng *r, double lo, double hi)
{
    double v = rng_range(r, lo, hi);
    return (rng_next(r) & 1u) ? -v : v;
}

/* Each case gets its own stream, so replaying one case (only_case) draws
 * exactly the samples it drew in the full run. */
static gc_rng rng_for(unsigned long long seed, const char *name, size_t case_index)
{
    uint64_t h = 1469598103934665603ull;   /* FNV-1a of the name */
    gc_rng r;

    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    r.state = (uint64_t)seed ^ h;
    r.state = rng_next(&r) ^ ((uint64_t)case_index * 0xD1B54A32D192ED03ull);
    rng_next(&r);
    return r;
}

/* ---- sampling inputs from their domains ---- */

static int near_kink(const bp_domain *d, double x, double margin)
{
    return (d->kinks & BP_KINK_AT) && fabs(x - d->kink) < margin * fmax(1.0, fabs(d->kink));
}

static double sample_scalar(gc_rng *r, const bp_domain *d, double margin)
{
    for (int tries = 0; tries < MAX_RESAMPLE; tries++) {
        double x;
        switch (d->kind) {
        case BP_DOMAIN_POSITIVE:
            x = rng_range(r, 0.5, 2.5);
            break;
        case BP_DOMAIN_NONZERO:
            x = rng_signed(r, 0.5, 2.0);
            break;
        case BP_DOMAIN_INTERVAL:
            /* Keep clear of the bounds: the stencil steps off x. */
            if (isfinite(d->lo) && isfinite(d->hi))
                x = d->lo + (d->hi - d->lo) * rng_range(r, 0.1, 0.9);
            else if (isfinite(d->lo))
                x = d->lo + rng_range(r, 0.5, 2.5);
            else if (isfinite(d->hi))
                x = d->hi - rng_range(r, 0.5, 2.5);
            else
                x = rng_range(r, -2.0, 2.0);
            break;
        default:
            x = rng_range(r, -2.0, 2.0);
            break;
        }
        if (!near_kink(d, x, margin))
            return x;
    }
    return NAN;
}

static int row_has_tie(const double *row, size_t n, double margin)
{
    for (size_t j = 0; j < n; j++)
        for (size_t k = j + 1; k < n; k++)
            if (fabs(row[j] - row[k]) < margin * fmax(1.0, fmax(fabs(row[j]), fabs(row[k]))))
                return 1;
    return 0;
}

/* Fills m from domain d; BP_EDIM for a non-square SPD/INVERTIBLE input,
 * BP_ENUMERIC when no sample away from the kinks was found. */
static bp_status sample_matrix(gc_rng *r, const bp_domain *d, double margin, bp_matrix *m)
{
    const size_t rows = m->rows, cols = m->cols;

    if (d->kind == BP_DOMAIN_SPD || d->kind == BP_DOMAIN_INVERTIBLE) {
        if (rows != cols)
            return BP_EDIM;
        if (d->kind == BP_DOMAIN_SPD) {
            /* A = MᵀM + n·I: symmetric, eigenvalues ≥ n. */
            double *M = bpi_malloc(rows * cols * sizeof *M);
            if (!M)
                return BP_ENOMEM;
            for (size_t k = 0; k < rows * cols; k++)
                M[k] = rng_range(r, -1.0, 1.0);
            for (size_t i = 0; i < rows; i++)
                for (size_t j = i; j < cols; j++) {
                    double s = i == j ? (double)rows : 0.0;
                    for (size_t k = 0; k < rows; k++)
                        s += M[k * cols + i] * M[k * cols + j];
                    m->data[i * cols + j] = s;
                    m->data[j * cols + i] = s;
                }
            bpi_free(M);
        } else {
            /* Strictly diagonally dominant, so well conditioned. */
            for (size_t i = 0; i < rows; i++) {
                double off = 0.0;
                for (size_t j = 0; j < cols; j++) {
                    if (j == i)
                        continue;
                    m->data[i * cols + j] = rng_range(r, -1.0, 1.0);
                    off += fabs(m->data[i * cols + j]);
                }
                m->data[i * cols + i] = rng_signed(r, off + 0.5, off + 1.5);
            }
        }
        return BP_OK;
    }
    for (size_t i = 0; i < rows; i++) {
        double *row = m->data + i * cols;
        int tries = 0;
        do {
            for (size_t j = 0; j < cols; j++) {
                row[j] = sample_scalar(r, d, margin);
                if (isnan(row[j]))
                    return BP_ENUMERIC;
            }
        } while ((d->kinks & BP_KINK_TIES) && row_has_tie(row, cols, margin) &&
                 ++tries < MAX_RESAMPLE);
        if (tries >= MAX_RESAMPLE)
            return BP_ENUMERIC;
    }
    return BP_OK;
}

/* ---- the stencil ---- */

/* The step for x, made exact: the returned h satisfies x + h == x + h
 * exactly in floating point, so the quotient divides by the true step. */
static double exact_step(double x, double h)
{
    volatile double xp = x + h;   /* volatile: keep the rounding of x + h */
    return xp - x;
}

static double base_step(const bp_check_options *o, double x)
{
    return o->step_scale * cbrt(o->eps) * fmax(1.0, fabs(x));
}

/* Combines the stencil's quotients d1 = D(h), d2 = D(2h) (rounding bounds
 * r1, r2) into the derivative and its error estimate. */
static double combine(const bp_check_options *o, double d1, double r1,
                      double d2, double r2, double *estimate)
{
    if (!o->richardson) {
        *estimate = r1;
        return d1;
    }
    double rich = (4.0 * d1 - d2) / 3.0;
    *estimate = fabs(rich - d1) + (4.0 * r1 + r2) / 3.0;
    return rich;
}

double bp_numeric_derivative(double (*f)(double x, void *ctx), void *ctx,
                             double x, const bp_check_options *opt,
                             double *estimate)
{
    bp_check_options def = bp_check_options_default();
    const bp_check_options *o = opt ? opt : &def;
    double d[2] = {0.0, 0.0}, r[2] = {0.0, 0.0}, est, value;
    int levels = o->richardson ? 2 : 1;

    if (!f) {
        if (estimate)
            *estimate = NAN;
        return NAN;
    }
    for (int l = 0; l < levels; l++) {
        double h = base_step(o, x) * (l + 1);
        double hp = exact_step(x, h), hm = -exact_step(x, -h);
        double fp = f(x + hp, ctx), fm = f(x - hm, ctx);
        if (!isfinite(fp) || !isfinite(fm)) {
            if (estimate)
                *estimate = NAN;
            return NAN;
        }
        d[l] = (fp - fm) / (hp + hm);
        r[l] = ROUND_ULPS * o->eps * (fabs(fp) + fabs(fm)) / (hp + hm);
    }
    value = combine(o, d[0], r[0], d[1], r[1], &est);
    if (estimate)
        *estimate = est;
    return value;
}

/* ---- what is being differentiated: a graph, its params, one output ---- */

typedef struct gc_target {
    bp_graph *g;
    bp_node *out;
    size_t n_params;
    bp_node **params;     /* borrowed nodes */
    size_t *offset;       /* each param's first element in the flat vector */
    int *symmetric;       /* perturb (i,j) and (j,i) together (SPD input) */
    size_t total;         /* flat vector length */
    double **slot;        /* flat index → the param's value element */
    size_t n_out;
    /* scratch */
    double *fp, *fm;      /* outputs at x ± h */
    double *grad;         /* flat analytic gradient */
} gc_target;

static void target_free(gc_target *t)
{
    bpi_free(t->params);
    bpi_free(t->offset);
    bpi_free(t->symmetric);
    bpi_free(t->slot);
    bpi_free(t->fp);
    bpi_free(t->fm);
    bpi_free(t->grad);
    memset(t, 0, sizeof *t);
}

/* Sets up slots and scratch once params, out and shapes are known. */
static bp_status target_init(gc_target *t)
{
    size_t k = 0;

    t->total = 0;
    for (size_t p = 0; p < t->n_params; p++) {
        t->offset[p] = t->total;
        t->total += bp_node_rows(t->params[p]) * bp_node_cols(t->params[p]);
    }
    t->n_out = bp_node_rows(t->out) * bp_node_cols(t->out);
    t->slot = bpi_malloc((t->total ? t->total : 1) * sizeof *t->slot);
    t->fp = bpi_malloc(t->n_out * sizeof *t->fp);
    t->fm = bpi_malloc(t->n_out * sizeof *t->fm);
    t->grad = bpi_malloc((t->total ? t->total : 1) * sizeof *t->grad);
    if (!t->slot || !t->fp || !t->fm || !t->grad)
        return BP_ENOMEM;
    for (size_t p = 0; p < t->n_params; p++) {
        bp_matrix *v = bp_node_value(t->params[p]);
        for (size_t e = 0; e < v->rows * v->cols; e++)
            t->slot[k++] = v->data + e;
    }
    return BP_OK;
}

static bp_status target_alloc(gc_target *t, size_t n_params)
{
    memset(t, 0, sizeof *t);
    t->n_params = n_params;
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
    t->params = bpi_calloc(n_params ? n_params : 1, sizeof *t->params);
    t->offset = bpi_calloc(n_params ? n_params : 1, sizeof *t->offset);
    t->symmetric = bpi_calloc(n_params ? n_params : 1, sizeof *t->symmetric);
    if (t->params && t->offset && t->symmetric)
        return BP_OK;
    target_free(t);   /* bp_gradcheck_graph returns at once on failure */
    return BP_ENOMEM;
}

/* Flat index → param number, row, col. */
static void locate(const gc_target *t, size_t k, size_t *p, size_t *row, size_t *col)
{
    size_t q = t->n_params - 1;
    while (q > 0 && t->offset[q] > k)
        q--;
    *p = q;
    *row = (k - t->offset[q]) / bp_node_cols(t->params[q]);
    *col = (k - t->offset[q]) % bp_node_cols(t->params[q]);
}

/* The partner element perturbed with k (its transpose in a symmetric
 * input), or k itself. */
static size_t partner(const gc_target *t, size_t k)
{
    size_t p, row, col;
    locate(t, k, &p, &row, &col);
    if (!t->symmetric[p] || row == col)
        return k;
    return t->offset[p] + col * bp_node_cols(t->params[p]) + row;
}

/* Whether flat element k starts a perturbation unit (not the lower half of
 * a symmetric pair). */
static int unit_start(const gc_target *t, size_t k)
{
    size_t p, row, col;
    locate(t, k, &p, &row, &col);
    return !t->symmetric[p] || row <= col;
}

/* ---- the report ---- */

typedef struct gc_check {
    const bp_check_options *o;
    bp_check_report *rep;
    size_t case_index;
    bp_check_case *cur;
    const char *const *input_names;  /* for graphs; NULL: "in0", ... */
    size_t first_failed_case;
} gc_check;

/* Input p's name in messages: the param's name for graphs, "in<p>" for
 * ops; written into buf (size bytes), which is returned. */
static const char *input_label(const gc_check *c, size_t p, char *buf, size_t size)
{
    if (c->input_names)
        snprintf(buf, size, "%s", c->input_names[p]);
    else
        snprintf(buf, size, "in%zu", p);
    return buf;
}

static double entry_score(const bp_check_entry *e)
{
    if (isnan(e->error) || isnan(e->allowed))
        return INFINITY;
    return e->allowed > 0.0 ? e->error / e->allowed : (e->error > 0.0 ? INFINITY : 0.0);
}

static void raise_result(gc_check *c, bp_check_result r)
{
    if (r > c->cur->result)
        c->cur->result = r;
    if (r > c->rep->result)
        c->rep->result = r;
    if (r != BP_CHECK_PASS && c->first_failed_case == BP_CHECK_NONE)
        c->first_failed_case = c->case_index;
}

/* Records the first message of the check ("case N (label): ..."). */
static void case_message(gc_check *c, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void case_message(gc_check *c, const char *fmt, ...)
{
    char buf[384];
    va_list ap;

    if (c->rep->message[0])
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    snprintf(c->rep->message, sizeof c->rep->message, "case %zu (%.127s): %.300s",
             c->case_index, c->cur->label, buf);
}

/* Scores one comparison, keeps the statistics and the worst entries;
 * returns 1 when it passes. */
static int note_entry(gc_check *c, bp_check_entry *e)
{
    const bp_check_options *o = c->o;
    bp_check_report *rep = c->rep;
    double big = fmax(fabs(e->analytic), fabs(e->numeric));
    double rel, score;
    int pass;

    e->case_index = c->case_index;
    e->error = fabs(e->analytic - e->numeric);
    e->allowed = o->atol + o->rtol * big + e->estimate;
    rel = e->error / fmax(big, o->rtol > 0.0 ? o->atol / o->rtol : 1.0);
    pass = e->error <= e->allowed;
    input_label(c, e->input, e->input_name, sizeof e->input_name);

    c->cur->n_compared++;
    rep->n_compared++;
    if (!(e->error <= c->cur->max_abs_err))
        c->cur->max_abs_err = e->error;
    if (!(rel <= c->cur->max_rel_err))
        c->cur->max_rel_err = rel;
    if (!(e->error <= rep->max_abs_err))
        rep->max_abs_err = e->error;
    if (!(rel <= rep->max_rel_err))
        rep->max_rel_err = rel;
    if (!isfinite(e->analytic) || !isfinite(e->numeric)) {
        raise_result(c, BP_CHECK_NONFINITE);
        case_message(c, "non-finite derivative at %s[%zu,%zu]: analytic %g, numeric %g",
                     e->input_name, e->row, e->col, e->analytic, e->numeric);
        pass = 0;
    } else if (!pass) {
        raise_result(c, BP_CHECK_MISMATCH);
    }

    /* Insertion into the worst list, largest score first. */
    score = entry_score(e);
    size_t pos = rep->n_worst;
    while (pos > 0 && entry_score(&rep->worst[pos - 1]) < score)
        pos--;
    if (pos < BP_CHECK_MAX_WORST) {
        size_t last = rep->n_worst < BP_CHECK_MAX_WORST ? rep->n_worst : BP_CHECK_MAX_WORST - 1;
        memmove(&rep->worst[pos + 1], &rep->worst[pos], (last - pos) * sizeof *e);
        rep->worst[pos] = *e;
        if (rep->n_worst < BP_CHECK_MAX_WORST)
            rep->n_worst++;
    }
    return pass;
}

/* ---- evaluation ---- */

/* Runs forward; BP_ENUMERIC when an output entry is not finite. */
static bp_status eval(gc_check *c, gc_target *t, double *f)
{
    bp_status st = bp_forward(t->g, t->out);
    const bp_matrix *y;

    if (st != BP_OK) {
        raise_result(c, BP_CHECK_ERROR);
        case_message(c, "%s", bp_graph_message(t->g));
        return st;
    }
    y = bp_node_value(t->out);
    for (size_t k = 0; k < t->n_out; k++) {
        if (!isfinite(y->data[k])) {
            raise_result(c, BP_CHECK_NONFINITE);
            case_message(c, "forward gave a non-finite output (%g at entry %zu)",
                         y->data[k], k);
            return BP_ENUMERIC;
        }
        if (f)
            f[k] = y->data[k];
    }
    return BP_OK;
}

/* Backward with seed (NULL: 1 for a 1x1 output) into t->grad, after
 * zeroing the params' gradients unless accumulate is set. */
static bp_status analytic(gc_check *c, gc_target *t, const bp_matrix *seed, int accumulate)
{
    bp_status st;

    if (!accumulate)
        bp_zero_grad(t->g);
    st = bp_backward(t->g, t->out, seed);
    if (st != BP_OK) {
        raise_result(c, BP_CHECK_ERROR);
        case_message(c, "%s", bp_graph_message(t->g));
        return st;
    }
    for (size_t p = 0; p < t->n_params; p++) {
        bp_matrix *gm = bp_node_grad(t->params[p]);
        size_t len = bp_node_rows(t->params[p]) * bp_node_cols(t->params[p]);
        for (size_t e = 0; e < len; e++) {
            double v = gm ? gm->data[e] : 0.0;
            t->grad[t->offset[p] + e] = v;
            if (!isfinite(v)) {
                raise_result(c, BP_CHECK_NONFINITE);
                case_message(c, "backward gave a non-finite gradient (%g)", v);
                return BP_ENUMERIC;
            }
        }
    }
    return BP_OK;
}

/*
 * The derivative of the outputs (weights NULL: every output, m = n_out
 * values) or of Σ weights ⊙ outputs (m = 1) along a direction.
 * dir NULL: perturb flat element k (and its symmetric partner) by its own
 * exact step.  dir non-NULL: move every element by t·dir[e], t =
 * step_scale·cbrt(eps); *eff receives the effective direction actually
 * taken (the exact (x ± t·d) differences), for the analytic side.
 */
static bp_status stencil(gc_check *c, gc_target *t, size_t k, const double *dir,
                         const double *weights, double *deriv, double *est,
                         double *eff_d1, double *eff_d2)
{
    const bp_check_options *o = c->o;
    const size_t m = weights ? 1 : t->n_out;
    const int levels = o->richardson ? 2 : 1;
    const size_t k2 = dir ? k : partner(t, k);
    double *keep = NULL;
    double x0 = 0.0;
    bp_status st = BP_OK;

    if (dir) {
        keep = bpi_malloc(t->total * sizeof *keep);
        if (!keep)
            return BP_ENOMEM;
        for (size_t e = 0; e < t->total; e++)
            keep[e] = *t->slot[e];
    } else {
        x0 = *t->slot[k];
    }
    for (int l = 0; l < levels && st == BP_OK; l++) {
        double *eff = l == 0 ? eff_d1 : eff_d2;
        double span;   /* the total step between the two evaluations */

        if (dir) {
            double tt = o->step_scale * cbrt(o->eps) * (l + 1);
            for (size_t e = 0; e < t->total; e++)
                *t->slot[e] = keep[e] + tt * dir[e];
            if ((st = eval(c, t, t->fp)) != BP_OK)
                break;
            for (size_t e = 0; e < t->total; e++) {
                eff[e] = *t->slot[e];
                *t->slot[e] = keep[e] - tt * dir[e];
            }
            if ((st = eval(c, t, t->fm)) != BP_OK)
                break;
            for (size_t e = 0; e < t->total; e++)
                eff[e] = (eff[e] - *t->slot[e]) / (2.0 * tt);
            span = 2.0 * tt;
        } else {
            double h = base_step(o, x0) * (l + 1);
            double hp = exact_step(x0, h), hm = -exact_step(x0, -h);
            *t->slot[k] = *t->slot[k2] = x0 + hp;
            if ((st = eval(c, t, t->fp)) != BP_OK)
                break;
            *t->slot[k] = *t->slot[k2] = x0 - hm;
            if ((st = eval(c, t, t->fm)) != BP_OK)
                break;
            span = hp + hm;
        }
        for (size_t i = 0; i < m; i++) {
            double diff, mag;
            if (weights) {
                diff = 0.0;
                mag = 0.0;
                for (size_t q = 0; q < t->n_out; q++) {
                    diff += weights[q] * (t->fp[q] - t->fm[q]);
                    mag += fabs(weights[q]) * (fabs(t->fp[q]) + fabs(t->fm[q]));
                }
            } else {
                diff = t->fp[i] - t->fm[i];
                mag = fabs(t->fp[i]) + fabs(t->fm[i]);
            }
            /* level 0 parks D(h) in deriv and its rounding in est;
             * level 1 combines. */
            if (l == 0) {
                deriv[i] = diff / span;
                est[i] = ROUND_ULPS * o->eps * mag / span;
            } else {
                deriv[i] = combine(o, deriv[i], est[i], diff / span,
                                   ROUND_ULPS * o->eps * mag / span, &est[i]);
            }
        }
    }
    if (dir) {
        for (size_t e = 0; e < t->total; e++)
            *t->slot[e] = keep[e];
        bpi_free(keep);
    } else {
        *t->slot[k] = *t->slot[k2] = x0;
    }
    return st;
}

/* ---- diagnosis ---- */

/* One line for the pattern of a[] against n[] over one input's elements
 * (rows × cols, row-major), or NULL when none fits. */
static const char *pattern(const bp_check_options *o, const double *a, const double *n,
                           size_t rows, size_t cols, int symmetric, char *buf, size_t size)
{
    const size_t len = rows * cols;
    double an = 0.0, nn = 0.0, amax = 0.0, nmax = 0.0, resid = 0.0, k;
    size_t significant = 0;
    int all_ok = 1;

    for (size_t e = 0; e < len; e++) {
        if (!isfinite(a[e]))
            return "NaN or infinity in the analytic gradient";
        if (!isfinite(n[e]))
            return "NaN or infinity in the numeric gradient";
        if (fabs(a[e] - n[e]) > o->atol + o->rtol * fmax(fabs(a[e]), fabs(n[e])))
            all_ok = 0;
        an += a[e] * n[e];
        nn += n[e] * n[e];
        amax = fmax(amax, fabs(a[e]));
        nmax = fmax(nmax, fabs(n[e]));
        if (fabs(n[e]) > 10.0 * o->atol)
            significant++;
    }
    if (all_ok)
        return NULL;
    if (amax <= o->atol && nmax > 10.0 * o->atol)
        return "zero gradient (analytic is 0, numeric is not)";
    if (nn > 0.0) {
        k = an / nn;
        for (size_t e = 0; e < len; e++)
            resid = fmax(resid, fabs(a[e] - k * n[e]));
        if (resid <= 1e-3 * amax + o->atol) {
            if (fabs(k + 1.0) < 1e-3)
                return "sign flipped (analytic ≈ −numeric)";
            if (significant >= 2 && fabs(k - 1.0) > 1e-3) {
                snprintf(buf, size, "off by a constant factor (analytic ≈ %.4g × numeric)", k);
                return buf;
            }
        }
    }
    if (!symmetric && len > 1) {
        /* Transposed: a's buffer holds nᵀ (cols×rows) row-major, as a
         * wrong CblasTrans flag writes it. */
        double worst = 0.0;
        for (size_t e = 0; e < len; e++) {
            double av = a[e], nv = n[(e % rows) * cols + e / rows];
            worst = fmax(worst, fabs(av - nv) - o->rtol * fmax(fabs(av), fabs(nv)));
        }
        if (worst <= o->atol)
            return "transposed (analytic matches numericᵀ)";
    }
    return NULL;
}

/* The case's diagnosis from the flat analytic and numeric gradients of one
 * scalar (units summed over symmetric pairs are stored at the unit start,
 * with the partner copied). */
static void diagnose(gc_check *c, const gc_target *t, const double *a, const double *n)
{
    char *out = c->cur->diagnosis;
    size_t size = sizeof c->cur->diagnosis, used = 0;

    out[0] = '\0';
    for (size_t p = 0; p < t->n_params && used + 1 < size; p++) {
        char buf[96], name[32];
        size_t rows = bp_node_rows(t->params[p]), cols = bp_node_cols(t->params[p]);
        const char *what = pattern(c->o, a + t->offset[p], n + t->offset[p], rows, cols,
                                   t->symmetric[p], buf, sizeof buf);
        if (!what)
            continue;
        used += (size_t)snprintf(out + used, size - used, "%s%s: %s", used ? "; " : "",
                                 input_label(c, p, name, sizeof name), what);
    }
}

/* ---- the checks on one target ---- */

static void set_entry_position(const gc_target *t, bp_check_entry *e, size_t k)
{
    size_t p, row, col;
    locate(t, k, &p, &row, &col);
    e->input = p;
    e->row = row;
    e->col = col;
    e->x = *t->slot[k];
    e->out_row = e->out_col = BP_CHECK_NONE;
}

/* The derivative of Σ w ⊙ out by differences on every unit, against the
 * analytic gradient ga; num receives the numeric one (both halves of a
 * symmetric pair hold the pair's value, as does asum). */
static bp_status check_elementwise(gc_check *c, gc_target *t, const double *w,
                                   const double *ga, double *asum, double *num)
{
    for (size_t k = 0; k < t->total; k++) {
        bp_check_entry e;
        size_t k2 = partner(t, k);
        double d, est;
        bp_status st;

        if (!unit_start(t, k))
            continue;
        memset(&e, 0, sizeof e);
        st = stencil(c, t, k, NULL, w, &d, &est, NULL, NULL);
        if (st != BP_OK)
            return st;
        set_entry_position(t, &e, k);
        e.analytic = ga[k] + (k2 != k ? ga[k2] : 0.0);
        e.numeric = d;
        e.estimate = est;
        note_entry(c, &e);
        asum[k] = asum[k2] = e.analytic;
        num[k] = num[k2] = d;
    }
    return BP_OK;
}

static bp_matrix out_matrix(const gc_target *t, double *data)
{
    bp_matrix m;
    m.rows = bp_node_rows(t->out);
    m.cols = bp_node_cols(t->out);
    m.data = data;
    return m;
}

/* Every output entry against every input unit: numeric columns from
 * perturbing one unit, analytic rows from one-hot seeds. */
static bp_status check_jacobian(gc_check *c, gc_target *t, const double *w)
{
    const size_t n = t->total, m = t->n_out;
    double *jn = bpi_malloc(m * n * sizeof *jn);
    double *en = bpi_malloc(m * n * sizeof *en);
    double *ja = bpi_malloc(m * n * sizeof *ja);
    double *col = bpi_malloc(m * sizeof *col), *colest = bpi_malloc(m * sizeof *colest);
    double *seed = bpi_calloc(m, sizeof *seed);
    double *sa = bpi_calloc(n, sizeof *sa), *sn = bpi_calloc(n, sizeof *sn);
    bp_status st = BP_ENOMEM;
    bp_matrix sm;

    if (!jn || !en || !ja || !col || !colest || !seed || !sa || !sn)
        goto done;
    for (size_t k = 0; k < n; k++) {
        if (!unit_start(t, k))
            continue;
        if ((st = stencil(c, t, k, NULL, NULL, col, colest, NULL, NULL)) != BP_OK)
            goto done;
        for (size_t o = 0; o < m; o++) {
            jn[o * n + k] = col[o];
            en[o * n + k] = colest[o];
        }
    }
    /* backward needs the forward state at the unperturbed point */
    if ((st = eval(c, t, NULL)) != BP_OK)
        goto done;
    sm = out_matrix(t, seed);
    for (size_t o = 0; o < m; o++) {
        seed[o] = 1.0;
        st = analytic(c, t, &sm, 0);
        seed[o] = 0.0;
        if (st != BP_OK)
            goto done;
        for (size_t k = 0; k < n; k++)
            ja[o * n + k] = t->grad[k];
    }
    for (size_t k = 0; k < n; k++) {
        size_t k2 = partner(t, k);
        if (!unit_start(t, k))
            continue;
        for (size_t o = 0; o < m; o++) {
            bp_check_entry e;
            memset(&e, 0, sizeof e);
            set_entry_position(t, &e, k);
            e.out_row = o / sm.cols;
            e.out_col = o % sm.cols;
            e.analytic = ja[o * n + k] + (k2 != k ? ja[o * n + k2] : 0.0);
            e.numeric = jn[o * n + k];
            e.estimate = en[o * n + k];
            note_entry(c, &e);
            sa[k] += w[o] * e.analytic;
            sn[k] += w[o] * e.numeric;
        }
        sa[k2] = sa[k];
        sn[k2] = sn[k];
    }
    if (c->cur->result == BP_CHECK_MISMATCH)
        diagnose(c, t, sa, sn);
    st = BP_OK;
done:
    bpi_free(jn);
    bpi_free(en);
    bpi_free(ja);
    bpi_free(col);
    bpi_free(colest);
    bpi_free(seed);
    bpi_free(sa);
    bpi_free(sn);
    return st;
}

/* Random signed weights of magnitude in [0.25, 1): no entry is ignored. */
static void random_weights(gc_rng *r, double *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        w[i] = rng_signed(r, 0.25, 1.0);
}

/* n_probes checks of vᵀJu; a failing probe is re-checked element by
 * element on Σ v ⊙ out to find the entries. */
static bp_status check_probes(gc_check *c, gc_target *t, gc_rng *r)
{
    const size_t n = t->total, m = t->n_out;
    double *v = bpi_malloc(m * sizeof *v), *dir = bpi_malloc(n * sizeof *dir);
    double *eff1 = bpi_calloc(n, sizeof *eff1), *eff2 = bpi_calloc(n, sizeof *eff2);
    double *g = bpi_malloc(n * sizeof *g);
    double *sa = bpi_calloc(n, sizeof *sa), *sn = bpi_calloc(n, sizeof *sn);
    bp_status st = BP_ENOMEM;

    if (!v || !dir || !eff1 || !eff2 || !g || !sa || !sn)
        goto done;
    for (size_t p = 0; p < c->o->n_probes; p++) {
        bp_check_entry e;
        bp_matrix sm = out_matrix(t, v);
        double num, est, a1 = 0.0, a2 = 0.0;

        random_weights(r, v, m);
        for (size_t k = 0; k < n; k++)
            dir[k] = unit_start(t, k) ? rng_signed(r, 0.25, 1.0) * fmax(1.0, fabs(*t->slot[k])) : 0.0;
        for (size_t k = 0; k < n; k++)   /* a symmetric input moves symmetrically */
            if (!unit_start(t, k))
                dir[k] = dir[partner(t, k)];
        if ((st = eval(c, t, NULL)) != BP_OK || (st = analytic(c, t, &sm, 0)) != BP_OK)
            goto done;
        memcpy(g, t->grad, n * sizeof *g);
        if ((st = stencil(c, t, 0, dir, v, &num, &est, eff1, eff2)) != BP_OK)
            goto done;
        for (size_t k = 0; k < n; k++) {
            a1 += g[k] * eff1[k];
            a2 += g[k] * eff2[k];
        }
        memset(&e, 0, sizeof e);
        e.row = e.col = e.out_row = e.out_col = BP_CHECK_NONE;
        e.x = NAN;
        /* the analytic side follows the same stencil along the effective
         * directions, so both sides see the same steps */
        e.analytic = c->o->richardson ? (4.0 * a1 - a2) / 3.0 : a1;
        e.numeric = num;
        e.estimate = est;
        if (!note_entry(c, &e)) {
            if ((st = check_elementwise(c, t, v, g, sa, sn)) != BP_OK)
                goto done;
            if (c->cur->result == BP_CHECK_MISMATCH)
                diagnose(c, t, sa, sn);
            break;
        }
    }
    st = BP_OK;
done:
    bpi_free(v);
    bpi_free(dir);
    bpi_free(eff1);
    bpi_free(eff2);
    bpi_free(g);
    bpi_free(sa);
    bpi_free(sn);
    return st;
}

static double max_abs(const double *x, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs(x[i]));
    return m;
}

static void contract_failed(gc_check *c, const char *diagnosis)
{
    raise_result(c, BP_CHECK_MISMATCH);
    if (!c->cur->diagnosis[0])
        snprintf(c->cur->diagnosis, sizeof c->cur->diagnosis, "%s", diagnosis);
}

/* The backward contract: zero seed ⇒ exactly zero; linear in the seed;
 * a second backward without bp_zero_grad adds the same again. */
static bp_status check_contracts(gc_check *c, gc_target *t, gc_rng *r, const double *w)
{
    const size_t n = t->total, m = t->n_out;
    const double alpha = 2.385, beta = -0.7125;
    double *s = bpi_malloc(m * sizeof *s), *s2 = bpi_malloc(m * sizeof *s2);
    double *g1 = bpi_malloc(n * sizeof *g1), *g2 = bpi_malloc(n * sizeof *g2);
    double *d = bpi_malloc(n * sizeof *d);
    bp_status st = BP_ENOMEM;
    bp_matrix sm;
    double err, scale;

    if (!s || !s2 || !g1 || !g2 || !d)
        goto done;
    sm = out_matrix(t, s);
    if ((st = eval(c, t, NULL)) != BP_OK)
        goto done;

    memset(s, 0, m * sizeof *s);
    if ((st = analytic(c, t, &sm, 0)) != BP_OK)
        goto done;
    for (size_t k = 0; k < n; k++)
        if (t->grad[k] != 0.0) {
            size_t p, row, col;
            locate(t, k, &p, &row, &col);
            case_message(c, "backward of a zero seed is not zero (input %zu [%zu,%zu] = %g)",
                         p, row, col, t->grad[k]);
            contract_failed(c, "backward of a zero seed is not zero");
            break;
        }

    memcpy(s, w, m * sizeof *s);
    if ((st = analytic(c, t, &sm, 0)) != BP_OK)
        goto done;
    memcpy(g1, t->grad, n * sizeof *g1);
    random_weights(r, s2, m);
    memcpy(s, s2, m * sizeof *s);
    if ((st = analytic(c, t, &sm, 0)) != BP_OK)
        goto done;
    memcpy(g2, t->grad, n * sizeof *g2);
    for (size_t q = 0; q < m; q++)
        s[q] = alpha * w[q] + beta * s2[q];
    if ((st = analytic(c, t, &sm, 0)) != BP_OK)
        goto done;
    for (size_t k = 0; k < n; k++)
        d[k] = t->grad[k] - (alpha * g1[k] + beta * g2[k]);
    err = max_abs(d, n);
    scale = fabs(alpha) * max_abs(g1, n) + fabs(beta) * max_abs(g2, n);
    if (err > LINEAR_RTOL * scale + CONTRACT_ATOL) {
        case_message(c, "backward is not linear in the seed: |g(αs+βt) − αg(s) − βg(t)| = %.3g "
                     "against a scale of %.3g", err, scale);
        contract_failed(c, "backward is not linear in the seed");
    }

    memcpy(s, w, m * sizeof *s);
    if ((st = analytic(c, t, &sm, 0)) != BP_OK || (st = analytic(c, t, &sm, 1)) != BP_OK)
        goto done;
    for (size_t k = 0; k < n; k++)
        d[k] = t->grad[k] - 2.0 * g1[k];
    err = max_abs(d, n);
    scale = 2.0 * max_abs(g1, n);
    if (err > ACCUM_RTOL * scale + CONTRACT_ATOL) {
        /* Per input, the least-squares ratio second/first: 1 means the
         * op overwrote that input's gradient. */
        char which[64] = "";
        size_t used = 0;
        for (size_t p = 0; p < t->n_params; p++) {
            size_t len = bp_node_rows(t->params[p]) * bp_node_cols(t->params[p]);
            double num = 0.0, den = 0.0;
            char name[32];
            for (size_t k = t->offset[p]; k < t->offset[p] + len; k++) {
                num += t->grad[k] * g1[k];
                den += g1[k] * g1[k];
            }
            if (den > 0.0 && fabs(num / den - 2.0) > 1e-6 && used < sizeof which)
                used += (size_t)snprintf(which + used, sizeof which - used, "%s%s %.4g×",
                                         used ? ", " : "", input_label(c, p, name, sizeof name),
                                         num / den);
        }
        case_message(c, "backward does not accumulate: two calls gave %s one call, not 2×", which);
        contract_failed(c, strstr(which, " 1×")
                        ? "overwrites its input gradient instead of adding to it"
                        : "backward does not accumulate (two calls ≠ 2 × one call)");
    }
    st = BP_OK;
done:
    bpi_free(s);
    bpi_free(s2);
    bpi_free(g1);
    bpi_free(g2);
    bpi_free(d);
    return st;
}

/* ---- the cases of one op ---- */

typedef struct gc_case {
    size_t rows[BP_MAX_INPUTS], cols[BP_MAX_INPUTS];
    size_t out_rows, out_cols;
    size_t attr_set;
    int shared;   /* inputs 0 and 1 are one node */
    int large;    /* probes rather than the full Jacobian */
} gc_case;

static int needs_square(const bp_domain *d)
{
    return d->kind == BP_DOMAIN_SPD || d->kind == BP_DOMAIN_INVERTIBLE;
}

/* Whether op's shape rule accepts these input shapes. */
static int shape_accepts(const bp_op *op, const double *attr, gc_case *k)
{
    bp_matrix in[BP_MAX_INPUTS], out;
    char msg[256];
    bp_op_args a;

    memset(&a, 0, sizeof a);
    memset(in, 0, sizeof in);
    memset(&out, 0, sizeof out);
    a.n_in = op->n_in;
    for (size_t i = 0; i < op->n_in; i++) {
        if (needs_square(&op->domain[i]) && k->rows[i] != k->cols[i])
            return 0;
        in[i].rows = k->rows[i];
        in[i].cols = k->cols[i];
        a.in[i] = &in[i];
    }
    a.out = &out;
    a.attr = attr;
    a.msg = msg;
    a.msg_size = sizeof msg;
    if (op->shape(&a) != BP_OK || out.rows == 0 || out.cols == 0)
        return 0;
    k->out_rows = out.rows;
    k->out_cols = out.cols;
    return 1;
}

/* How each dimension of each input relates to the output's: 0 output is
 * 1, 1 equal and > 1, 2 broadcast (input 1, output > 1), 3 other. */
static uint64_t broadcast_signature(const bp_op *op, const gc_case *k)
{
    uint64_t sig = 0;
    for (size_t i = 0; i < op->n_in; i++) {
        size_t dims[2][2] = {{k->rows[i], k->out_rows}, {k->cols[i], k->out_cols}};
        for (int d = 0; d < 2; d++) {
            size_t in = dims[d][0], out = dims[d][1];
            unsigned code = out == 1 ? 0u : in == out ? 1u : in == 1 ? 2u : 3u;
            sig = sig * 4 + code;
        }
    }
    return sig;
}

/* The broadcast signature plus each matrix's orientation (wide, tall,
 * square, 1x1). */
static uint64_t full_signature(const bp_op *op, const gc_case *k)
{
    uint64_t sig = broadcast_signature(op, k);
    for (size_t i = 0; i <= op->n_in; i++) {
        size_t r = i < op->n_in ? k->rows[i] : k->out_rows;
        size_t c = i < op->n_in ? k->cols[i] : k->out_cols;
        sig = sig * 4 + (r == 1 && c == 1 ? 0u : r < c ? 1u : r > c ? 2u : 3u);
    }
    return sig;
}

static const size_t small_dims[] = {1, 2, 3};
#define N_SMALL_DIMS (sizeof small_dims / sizeof small_dims[0])

/* Every shape combination from small_dims, numbered 0 .. 9^n_in − 1. */
static void decode_combo(const bp_op *op, size_t idx, gc_case *k)
{
    memset(k, 0, sizeof *k);
    for (size_t i = 0; i < op->n_in; i++) {
        k->rows[i] = small_dims[idx % N_SMALL_DIMS];
        idx /= N_SMALL_DIMS;
        k->cols[i] = small_dims[idx % N_SMALL_DIMS];
        idx /= N_SMALL_DIMS;
    }
}

static int seen(const uint64_t *sigs, size_t n, uint64_t sig)
{
    for (size_t i = 0; i < n; i++)
        if (sigs[i] == sig)
            return 1;
    return 0;
}

/* The domain of one node fed to inputs 0 and 1, or 0 when theirs
 * conflict. */
static int shared_domain(const bp_op *op, bp_domain *d)
{
    const bp_domain *a = &op->domain[0], *b = &op->domain[1];

    if (a->kind == b->kind) {
        *d = *a;
        if (a->kind == BP_DOMAIN_INTERVAL) {
            d->lo = fmax(a->lo, b->lo);
            d->hi = fmin(a->hi, b->hi);
            if (!(d->lo < d->hi))
                return 0;
        }
    } else if (a->kind == BP_DOMAIN_REAL) {
        *d = *b;
    } else if (b->kind == BP_DOMAIN_REAL) {
        *d = *a;
    } else {
        return 0;
    }
    d->kinks = a->kinks | b->kinks;
    d->kink = (a->kinks & BP_KINK_AT) ? a->kink : b->kink;
    return 1;
}

/* Appends the cases of one attribute set to cases[*n]; returns how many
 * were added (at most o->max_cases + 2). */
static size_t enumerate_cases(const bp_op *op, const bp_check_options *o, size_t attr_set,
                              const double *attr, gc_case *cases, size_t *n)
{
    const size_t start = *n;
    const size_t limit = o->max_cases > 1 ? o->max_cases - 1 : 1;   /* one kept for large */
    size_t combos = 1, chosen = 0;
    uint64_t sigs[256];
    size_t n_sigs = 0;
    bp_domain dummy;

    for (size_t i = 0; i < op->n_in; i++)
        combos *= N_SMALL_DIMS * N_SMALL_DIMS;
    /* pass 0: each broadcast pattern once; 1: each orientation; 2: fill */
    for (int pass = 0; pass < 3 && chosen < limit; pass++) {
        if (pass < 2)
            n_sigs = 0;
        for (size_t j = start; pass < 2 && j < start + chosen; j++)
            if (n_sigs < 256)
                sigs[n_sigs++] = pass == 0 ? broadcast_signature(op, &cases[j])
                                           : full_signature(op, &cases[j]);
        for (size_t idx = 0; idx < combos && chosen < limit; idx++) {
            gc_case k;
            int dup = 0;
            decode_combo(op, idx, &k);
            if (!shape_accepts(op, attr, &k))
                continue;
            for (size_t j = start; j < start + chosen && !dup; j++)
                dup = memcmp(k.rows, cases[j].rows, sizeof k.rows) == 0 &&
                      memcmp(k.cols, cases[j].cols, sizeof k.cols) == 0;
            if (dup)
                continue;
            if (pass < 2) {
                uint64_t sig = pass == 0 ? broadcast_signature(op, &k) : full_signature(op, &k);
                if (seen(sigs, n_sigs, sig) || n_sigs >= 256)
                    continue;
                sigs[n_sigs++] = sig;
            }
            k.attr_set = attr_set;
            cases[start + chosen++] = k;
        }
    }
    if (chosen == 0)
        return 0;

    /* One large case: the biggest small case with its dimensions scaled,
     * equal dimensions staying equal so the shape rule still accepts. */
    if (o->max_cases > 1) {
        size_t best = start, best_size = 0;
        for (size_t j = start; j < start + chosen; j++) {
            size_t size = 0;
            for (size_t i = 0; i < op->n_in; i++)
                size += cases[j].rows[i] * cases[j].cols[i];
            if (size > best_size) {
                best_size = size;
                best = j;
            }
        }
        gc_case k = cases[best];
        for (size_t i = 0; i < op->n_in; i++) {
            k.rows[i] = k.rows[i] == 1 ? 1 : k.rows[i] == 2 ? 5 : 7;
            k.cols[i] = k.cols[i] == 1 ? 1 : k.cols[i] == 2 ? 5 : 7;
        }
        if (shape_accepts(op, attr, &k)) {
            k.large = 1;
            cases[start + chosen++] = k;
        }
    }

    /* The same node as inputs 0 and 1: mul(x, x) must get 2x. */
    if (op->n_in >= 2 && shared_domain(op, &dummy)) {
        size_t added = 0;
        n_sigs = 0;
        for (size_t idx = 0; idx < combos && added < 2; idx++) {
            gc_case k;
            uint64_t sig;
            decode_combo(op, idx, &k);
            if (k.rows[0] != k.rows[1] || k.cols[0] != k.cols[1] || !shape_accepts(op, attr, &k))
                continue;
            sig = full_signature(op, &k);
            if (seen(sigs, n_sigs, sig))
                continue;
            sigs[n_sigs++] = sig;
            k.attr_set = attr_set;
            k.shared = 1;
            cases[start + chosen++] = k;
            added++;
        }
    }
    *n = start + chosen;
    return chosen;
}

static void case_label(const bp_op *op, const gc_case *k, const double *attr, char *buf, size_t size)
{
    size_t used = 0;
    for (size_t i = 0; i < op->n_in && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%zux%zu", i ? ", " : "",
                                 k->rows[i], k->cols[i]);
    if (used < size)
        used += (size_t)snprintf(buf + used, size - used, " -> %zux%zu", k->out_rows, k->out_cols);
    for (size_t a = 0; a < op->n_attr && used < size; a++)
        used += (size_t)snprintf(buf + used, size - used, "%s%.6g%s", a ? ", " : " attr (",
                                 attr[a], a + 1 == op->n_attr ? ")" : "");
    if (used < size)
        snprintf(buf + used, size - used, "%s", k->shared ? " same node as in0 and in1"
                 : op->flags & BP_OP_STOP_GRAD ? " [no gradient]"
                 : k->large ? " [probes]" : " [jacobian]");
}

/* A BP_OP_STOP_GRAD op: its node needs no gradient, backward from it is
 * refused, and a param reaching the loss through it and directly gets
 * only the direct gradient. */
static bp_status check_stop_grad(gc_check *c, gc_target *t, bp_node *param0)
{
    bp_graph *g = t->g;
    bp_node *loss, *direct;
    bp_matrix *grad;
    bp_check_entry e;
    size_t len = bp_node_rows(param0) * bp_node_cols(param0);

    if (bp_node_requires_grad(t->out)) {
        case_message(c, "the output of a stop-gradient op requires a gradient");
        contract_failed(c, "gradient flows through a stop-gradient op");
    }
    if (eval(c, t, NULL) != BP_OK)
        return BP_OK;
    if (bp_backward(g, t->out, NULL) == BP_OK || bp_node_grad(param0) != NULL) {
        case_message(c, "backward from a stop-gradient output was accepted");
        contract_failed(c, "gradient flows through a stop-gradient op");
    }
    bp_graph_clear_error(g);
    direct = bp_sum(g, param0);
    loss = bp_add(g, bp_sum(g, t->out), direct);
    if (!loss || bp_forward(g, loss) != BP_OK || bp_backward(g, loss, NULL) != BP_OK) {
        raise_result(c, BP_CHECK_ERROR);
        case_message(c, "%s", bp_graph_message(g));
        return BP_OK;
    }
    grad = bp_node_grad(param0);
    for (size_t k = 0; k < len; k++) {
        memset(&e, 0, sizeof e);
        set_entry_position(t, &e, k);
        /* d(sum(stop(x)) + sum(x))/dx = 1: the direct path only */
        e.analytic = grad ? grad->data[k] : 0.0;
        e.numeric = 1.0;
        if (!note_entry(c, &e))
            contract_failed(c, "gradient flows through a stop-gradient op");
    }
    return BP_OK;
}

/* Whether case i runs in in-place mode: every other case, so that an op's
 * paths for it (dout_writable, BP_OP_INPLACE) are checked too. */
static int inplace_case(size_t i)
{
    return i % 2 == 1;
}

/* Whether case i of op feeds its inputs through an op node, so that the
 * op sees fresh input gradients (din_fresh) and, being an in-place case,
 * may share that node's buffers. */
static int fresh_path(const bp_op *op, size_t i)
{
    return (op->flags & BP_OP_ASSIGN_FRESH) && inplace_case(i);
}

static bp_status run_case(gc_check *c, const bp_op *op, const gc_case *k, const double *attr)
{
    const bp_check_options *o = c->o;
    gc_rng r = rng_for(o->seed, op->name, c->case_index);
    const size_t n_params = k->shared ? op->n_in - 1 : op->n_in;
    const char *names_shared[BP_MAX_INPUTS] = {"in0=in1", "in2", "in3", ""};
    bp_graph *g = bp_graph_new();
    bp_node *in[BP_MAX_INPUTS];
    gc_target t;
    double *w = NULL;
    bp_status st = target_alloc(&t, n_params);

    c->input_names = k->shared ? names_shared : NULL;
    if (!g || st != BP_OK) {
        st = BP_ENOMEM;
        goto done;
    }
    t.g = g;
    bp_graph_set_inplace(g, inplace_case(c->case_index));
    for (size_t i = 0, p = 0; i < op->n_in; i++) {
        if (k->shared && i == 1) {
            in[1] = in[0];
            continue;
        }
        in[i] = bp_param(g, k->rows[i], k->cols[i], NULL);
        t.params[p++] = in[i];
        /* Through scale(1) the op writes gradients of op nodes, which it
         * may assign rather than add (BP_OP_ASSIGN_FRESH); params it must
         * add to.  Alternate cases check both paths. */
        if (fresh_path(op, c->case_index))
            in[i] = bp_scale(g, in[i], 1.0);
    }
    t.out = bp_apply(g, op, op->n_in, in, attr);
    if (!t.out) {
        st = bp_graph_status(g);
        raise_result(c, BP_CHECK_ERROR);
        case_message(c, "%s", bp_graph_message(g));
        st = st == BP_ENOMEM ? st : BP_OK;
        goto done;
    }
    for (size_t i = 0, p = 0; i < op->n_in; i++) {
        bp_domain d = op->domain[i];
        if (k->shared && i == 1)
            continue;
        if (k->shared && i == 0)
            shared_domain(op, &d);
        t.symmetric[p] = d.kind == BP_DOMAIN_SPD;
        st = sample_matrix(&r, &d, o->kink_margin, bp_node_value(t.params[p]));
        if (st == BP_ENOMEM)
            goto done;
        if (st != BP_OK) {
            raise_result(c, BP_CHECK_ERROR);
            case_message(c, "could not sample input %zu from its domain away from its kinks", i);
            st = BP_OK;
            goto done;
        }
        p++;
    }
    if ((st = target_init(&t)) != BP_OK)
        goto done;
    if (op->flags & BP_OP_STOP_GRAD) {
        st = check_stop_grad(c, &t, t.params[0]);
        goto done;
    }
    w = bpi_malloc(t.n_out * sizeof *w);
    if (!w) {
        st = BP_ENOMEM;
        goto done;
    }
    random_weights(&r, w, t.n_out);
    if (eval(c, &t, NULL) != BP_OK)
        goto done;
    if (!k->large && t.total * t.n_out <= o->jacobian_max)
        st = check_jacobian(c, &t, w);
    else
        st = check_probes(c, &t, &r);
    if (st == BP_OK && o->contracts && c->cur->result <= BP_CHECK_MISMATCH)
        st = check_contracts(c, &t, &r, w);
    if (st != BP_ENOMEM)
        st = BP_OK;   /* an op's error is the case's result, recorded by eval/analytic */
done:
    c->input_names = NULL;   /* names_shared is this frame's */
    bpi_free(w);
    target_free(&t);
    bp_graph_free(g);
    return st;
}

/* failed_case, diagnosis: from the worst failing entry, else the first
 * failing case. */
static void finish_report(gc_check *c)
{
    bp_check_report *rep = c->rep;

    rep->failed_case = BP_CHECK_NONE;
    if (rep->result == BP_CHECK_PASS || !rep->cases)   /* no cases: out of memory */
        return;
    if (rep->n_worst > 0 && entry_score(&rep->worst[0]) > 1.0)
        rep->failed_case = rep->worst[0].case_index;
    else
        rep->failed_case = c->first_failed_case;
    for (size_t i = 0; i < rep->n_cases; i++)
        if (rep->cases[i].index == rep->failed_case)
            snprintf(rep->diagnosis, sizeof rep->diagnosis, "%s", rep->cases[i].diagnosis);
    for (size_t i = 0; i < rep->n_cases; i++)
        if (rep->cases[i].result != BP_CHECK_PASS)
            rep->n_failed++;
}

static void report_start(bp_check_report *rep, const bp_check_options *o, const char *name)
{
    memset(rep, 0, sizeof *rep);
    rep->options = *o;
    rep->failed_case = BP_CHECK_NONE;
    snprintf(rep->name, sizeof rep->name, "%s", name);
}

bp_status bp_gradcheck_op(const bp_op *op, const bp_check_options *opt,
                          bp_check_report *report)
{
    bp_check_options o = opt ? *opt : bp_check_options_default();
    size_t n_sets, n_cases = 0, cap;
    gc_case *cases;
    gc_check c;
    bp_status st = BP_OK;

    if (!report)
        return BP_EINVAL;
    if (bp_op_validate(op) != BP_OK) {
        report_start(report, &o, op && op->name ? op->name : "");
        report->result = BP_CHECK_ERROR;
        snprintf(report->message, sizeof report->message,
                 "op declaration is incomplete (see bp_op_validate)");
        return BP_EINVAL;
    }
    report_start(report, &o, op->name);
    if (op->n_attr > 0 && op->n_check_attr == 0) {
        report->result = BP_CHECK_ERROR;
        snprintf(report->message, sizeof report->message,
                 "the op takes %zu attribute%s but declares no check_attr sets to try",
                 op->n_attr, op->n_attr == 1 ? "" : "s");
        return BP_OK;
    }
    n_sets = op->n_attr > 0 ? op->n_check_attr : 1;
    {
        /* A huge max_cases must not wrap the case array's size (each set
         * adds at most max_cases + 2 cases). */
        int overflow = o.max_cases > SIZE_MAX - 3;
        cap = bpi_mul_size(n_sets, o.max_cases + 3, &overflow);
        bpi_mul_size(cap, sizeof *cases, &overflow);
        if (overflow) {
            report->result = BP_CHECK_ERROR;
            snprintf(report->message, sizeof report->message,
                     "max_cases %zu is too large", o.max_cases);
            return BP_EINVAL;
        }
    }
    cases = bpi_malloc(cap * sizeof *cases);
    if (!cases)
        return BP_ENOMEM;
    for (size_t s = 0; s < n_sets; s++)
        enumerate_cases(op, &o, s, op->n_attr ? op->check_attr + s * op->n_attr : NULL,
                        cases, &n_cases);
    if (n_cases == 0) {
        report->result = BP_CHECK_ERROR;
        snprintf(report->message, sizeof report->message,
                 "the shape rule accepts none of the candidate shapes (dimensions 1, 2, 3)");
        bpi_free(cases);
        return BP_OK;
    }
    if (o.only_case != BP_CHECK_ALL && o.only_case >= n_cases) {
        report->result = BP_CHECK_ERROR;
        snprintf(report->message, sizeof report->message,
                 "no case %zu: the op has %zu cases", o.only_case, n_cases);
        bpi_free(cases);
        return BP_OK;
    }
    report->cases = bpi_calloc(n_cases, sizeof *report->cases);
    if (!report->cases) {
        bpi_free(cases);
        return BP_ENOMEM;
    }
    memset(&c, 0, sizeof c);
    c.o = &o;
    c.rep = report;
    c.first_failed_case = BP_CHECK_NONE;
    for (size_t i = 0; i < n_cases && st == BP_OK; i++) {
        const double *attr = op->n_attr ? op->check_attr + cases[i].attr_set * op->n_attr : NULL;
        if (o.only_case != BP_CHECK_ALL && i != o.only_case)
            continue;
        c.case_index = i;
        c.cur = &report->cases[report->n_cases++];
        c.cur->index = i;
        c.cur->attr_set = cases[i].attr_set;
        case_label(op, &cases[i], attr, c.cur->label, sizeof c.cur->label);
        if (fresh_path(op, i)) {
            size_t len = strlen(c.cur->label);
            snprintf(c.cur->label + len, sizeof c.cur->label - len, " [fresh gradients]");
        }
        st = run_case(&c, op, &cases[i], attr);
    }
    bpi_free(cases);
    finish_report(&c);
    return st;
}

/* ---- whole graphs ---- */

bp_status bp_gradcheck_graph(bp_graph *g, bp_node *out, const bp_check_options *opt,
                             bp_check_report *report)
{
    bp_check_options o = opt ? *opt : bp_check_options_default();
    gc_rng r = rng_for(o.seed, "graph", 0);
    size_t n_params = 0;
    const char **names = NULL;
    double *saved = NULL, *saved_grad = NULL, *w = NULL, *ga = NULL, *sa = NULL, *sn = NULL;
    int elementwise;   /* compare every entry, else random directions */
    int *had_grad = NULL;
    gc_target t;
    gc_check c;
    bp_status st;
    bp_matrix sm;

    if (!report)
        return BP_EINVAL;
    report_start(report, &o, "graph");
    if (!g || !out || bp_graph_status(g) != BP_OK) {
        report->result = BP_CHECK_ERROR;
        snprintf(report->message, sizeof report->message, "%s",
                 g && bp_graph_status(g) != BP_OK ? bp_graph_message(g) : "graph or node is NULL");
        return g && out ? bp_graph_status(g) : BP_EINVAL;
    }
    if (!bp_node_requires_grad(out)) {
        report->result = BP_CHECK_ERROR;
        snprintf(report->message, sizeof report->message,
                 "node '%s' depends on no param", bp_node_name(out));
        return BP_ESTATE;
    }
    /* The report's bookkeeping first: the failures below jump to done,
     * which finishes the report through c. */
    memset(&c, 0, sizeof c);
    c.o = &o;
    c.rep = report;
    c.first_failed_case = BP_CHECK_NONE;
    for (size_t i = 0; i < bp_graph_size(g); i++)
        n_params += bp_node_is_param(bp_graph_node(g, i)) ? 1 : 0;
    if ((st = target_alloc(&t, n_params)) != BP_OK)
        return st;
    names = bpi_calloc(n_params, sizeof *names);
    report->cases = bpi_calloc(1, sizeof *report->cases);
    if (!names || !report->cases) {
        st = BP_ENOMEM;
        goto done;
    }
    for (size_t i = 0, p = 0; i < bp_graph_size(g); i++) {
        bp_node *n = bp_graph_node(g, i);
        if (bp_node_is_param(n)) {
            t.params[p] = n;
            names[p++] = bp_node_name(n)[0] ? bp_node_name(n) : "param";
        }
    }
    t.g = g;
    t.out = out;
    c.cur = &report->cases[0];
    c.input_names = names;
    report->n_cases = 1;

    if (bp_forward(g, out) != BP_OK) {
        raise_result(&c, BP_CHECK_ERROR);
        case_message(&c, "%s", bp_graph_message(g));
        st = BP_OK;
        goto done;
    }
    if ((st = target_init(&t)) != BP_OK)
        goto done;
    elementwise = t.total <= o.graph_elementwise_max;
    snprintf(c.cur->label, sizeof c.cur->label, "%zu params, %zu entries -> %zux%zu%s",
             n_params, t.total, bp_node_rows(out), bp_node_cols(out),
             elementwise ? " [elementwise]" : " [probes]");

    /* Save values and gradients: the check must leave the graph as found. */
    saved = bpi_malloc(t.total * sizeof *saved);
    saved_grad = bpi_calloc(t.total, sizeof *saved_grad);
    had_grad = bpi_calloc(n_params, sizeof *had_grad);
    w = bpi_malloc(t.n_out * sizeof *w);
    if (elementwise) {   /* the probes need none of these */
        ga = bpi_malloc(t.total * sizeof *ga);
        sa = bpi_calloc(t.total, sizeof *sa);
        sn = bpi_calloc(t.total, sizeof *sn);
    }
    if (!saved || !saved_grad || !had_grad || !w || (elementwise && (!ga || !sa || !sn))) {
        st = BP_ENOMEM;
        goto done;
    }
    for (size_t k = 0; k < t.total; k++)
        saved[k] = *t.slot[k];
    for (size_t p = 0; p < n_params; p++) {
        bp_matrix *gm = bp_node_grad(t.params[p]);
        if (gm) {
            had_grad[p] = 1;
            memcpy(saved_grad + t.offset[p], gm->data, gm->rows * gm->cols * sizeof(double));
        }
    }

    /* The scalar: out itself when 1x1, else a random weighted sum. */
    if (t.n_out == 1)
        w[0] = 1.0;
    else
        random_weights(&r, w, t.n_out);
    sm = out_matrix(&t, w);
    if (elementwise) {
        if (eval(&c, &t, NULL) != BP_OK || analytic(&c, &t, &sm, 0) != BP_OK)
            goto restore;
        memcpy(ga, t.grad, t.total * sizeof *ga);
        st = check_elementwise(&c, &t, w, ga, sa, sn);
        if (st == BP_OK && c.cur->result == BP_CHECK_MISMATCH)
            diagnose(&c, &t, sa, sn);
    } else {
        st = check_probes(&c, &t, &r);
    }
    if (st == BP_OK && o.contracts && c.cur->result <= BP_CHECK_MISMATCH)
        st = check_contracts(&c, &t, &r, w);
    if (st != BP_ENOMEM)
        st = BP_OK;   /* recorded in the report, as for an op's case */

restore:
    for (size_t k = 0; k < t.total; k++)
        *t.slot[k] = saved[k];
    bp_zero_grad(g);
    for (size_t p = 0; p < n_params; p++) {
        bp_matrix *gm = bp_node_grad(t.params[p]);
        if (gm && had_grad[p])
            memcpy(gm->data, saved_grad + t.offset[p], gm->rows * gm->cols * sizeof(double));
    }
    if (bp_graph_status(g) != BP_OK)
        bp_graph_clear_error(g);
    bp_forward(g, out);
done:
    finish_report(&c);
    bpi_free(names);
    bpi_free(saved);
    bpi_free(saved_grad);
    bpi_free(had_grad);
    bpi_free(w);
    bpi_free(ga);
    bpi_free(sa);
    bpi_free(sn);
    target_free(&t);
    return st;
}
