/* SPDX-License-Identifier: MIT */
/* The checker's differences and targets: the step and the Richardson
 * stencil, and what is differentiated (a graph's params as one flat vector,
 * one output) with its forward and backward evaluations. */
#include "check.h"

#include <math.h>
#include <string.h>

/* The rounding in a difference quotient is bounded as ROUND_ULPS ulps of
 * each function value: the forward passes are short sums and libm calls. */
#define ROUND_ULPS 16.0

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

    if (!f || bpi_gc_check_options(o, NULL) != BP_OK) {
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

void bpi_gc_target_free(gc_target *t)
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
bp_status bpi_gc_target_init(gc_target *t)
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

bp_status bpi_gc_target_alloc(gc_target *t, size_t n_params)
{
    memset(t, 0, sizeof *t);
    t->n_params = n_params;
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
    t->params = bpi_calloc(n_params ? n_params : 1, sizeof *t->params);
    t->offset = bpi_calloc(n_params ? n_params : 1, sizeof *t->offset);
    t->symmetric = bpi_calloc(n_params ? n_params : 1, sizeof *t->symmetric);
    if (t->params && t->offset && t->symmetric)
        return BP_OK;
    bpi_gc_target_free(t);   /* bp_gradcheck_graph returns at once on failure */
    return BP_ENOMEM;
}

/* Flat index → param number, row, col. */
void bpi_gc_locate(const gc_target *t, size_t k, size_t *p, size_t *row, size_t *col)
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
size_t bpi_gc_partner(const gc_target *t, size_t k)
{
    size_t p, row, col;
    bpi_gc_locate(t, k, &p, &row, &col);
    if (!t->symmetric[p] || row == col)
        return k;
    return t->offset[p] + col * bp_node_cols(t->params[p]) + row;
}

/* Whether flat element k starts a perturbation unit (not the lower half of
 * a symmetric pair). */
int bpi_gc_unit_start(const gc_target *t, size_t k)
{
    size_t p, row, col;
    bpi_gc_locate(t, k, &p, &row, &col);
    return !t->symmetric[p] || row <= col;
}

/* ---- evaluation ---- */

/* Runs forward; BP_ENUMERIC when an output entry is not finite. */
bp_status bpi_gc_eval(gc_check *c, gc_target *t, double *f)
{
    bp_status st = bp_forward(t->g, t->out);
    const bp_matrix *y;

    if (st != BP_OK) {
        bpi_gc_raise_result(c, BP_CHECK_ERROR);
        bpi_gc_case_message(c, "%s", bp_graph_message(t->g));
        return st;
    }
    y = bp_node_value(t->out);
    for (size_t k = 0; k < t->n_out; k++) {
        if (!isfinite(y->data[k])) {
            bpi_gc_raise_result(c, BP_CHECK_NONFINITE);
            bpi_gc_case_message(c, "forward gave a non-finite output (%g at entry %zu)",
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
bp_status bpi_gc_analytic(gc_check *c, gc_target *t, const bp_matrix *seed, int accumulate)
{
    bp_status st;

    if (!accumulate)
        bp_zero_grad(t->g);
    st = bp_backward(t->g, t->out, seed);
    if (st != BP_OK) {
        bpi_gc_raise_result(c, BP_CHECK_ERROR);
        bpi_gc_case_message(c, "%s", bp_graph_message(t->g));
        return st;
    }
    for (size_t p = 0; p < t->n_params; p++) {
        bp_matrix *gm = bp_node_grad(t->params[p]);
        size_t len = bp_node_rows(t->params[p]) * bp_node_cols(t->params[p]);
        for (size_t e = 0; e < len; e++) {
            double v = gm ? gm->data[e] : 0.0;
            t->grad[t->offset[p] + e] = v;
            if (!isfinite(v)) {
                bpi_gc_raise_result(c, BP_CHECK_NONFINITE);
                bpi_gc_case_message(c, "backward gave a non-finite gradient (%g)", v);
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
bp_status bpi_gc_stencil(gc_check *c, gc_target *t, size_t k, const double *dir,
                         const double *weights, double *deriv, double *est,
                         double *eff_d1, double *eff_d2)
{
    const bp_check_options *o = c->o;
    const size_t m = weights ? 1 : t->n_out;
    const int levels = o->richardson ? 2 : 1;
    const size_t k2 = dir ? k : bpi_gc_partner(t, k);
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
            if ((st = bpi_gc_eval(c, t, t->fp)) != BP_OK)
                break;
            for (size_t e = 0; e < t->total; e++) {
                eff[e] = *t->slot[e];
                *t->slot[e] = keep[e] - tt * dir[e];
            }
            if ((st = bpi_gc_eval(c, t, t->fm)) != BP_OK)
                break;
            for (size_t e = 0; e < t->total; e++)
                eff[e] = (eff[e] - *t->slot[e]) / (2.0 * tt);
            span = 2.0 * tt;
        } else {
            double h = base_step(o, x0) * (l + 1);
            double hp = exact_step(x0, h), hm = -exact_step(x0, -h);
            *t->slot[k] = *t->slot[k2] = x0 + hp;
            if ((st = bpi_gc_eval(c, t, t->fp)) != BP_OK)
                break;
            *t->slot[k] = *t->slot[k2] = x0 - hm;
            if ((st = bpi_gc_eval(c, t, t->fm)) != BP_OK)
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

void bpi_gc_set_entry_position(const gc_target *t, bp_check_entry *e, size_t k)
{
    size_t p, row, col;
    bpi_gc_locate(t, k, &p, &row, &col);
    e->input = p;
    e->row = row;
    e->col = col;
    e->x = *t->slot[k];
    e->out_row = e->out_col = BP_CHECK_NONE;
}

bp_matrix bpi_gc_out_matrix(const gc_target *t, double *data)
{
    bp_matrix m;
    m.rows = bp_node_rows(t->out);
    m.cols = bp_node_cols(t->out);
    m.data = data;
    return m;
}
