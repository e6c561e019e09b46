/* SPDX-License-Identifier: MIT */
/* The checker's reports and diagnosis: scoring each compared derivative,
 * the worst entries, messages, and a one-line reading of a mismatch. */
#include "check.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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

/* The largest tolerance accepted: beyond it a wrong derivative off by a
 * few percent passes. */
#define MAX_TOL 1e-2
/* The step relative to max(1, |x|): above it differences no longer
 * measure a derivative; below it the step is lost to rounding. */
#define MAX_REL_STEP 0.1
#define MIN_REL_STEP 1e-10

bp_status bpi_gc_check_options(const bp_check_options *o, bp_check_report *rep)
{
    const double rel_step = o->step_scale * cbrt(o->eps);
    const char *why = NULL;

    if (!(o->eps > 0.0 && o->eps < 1.0))
        why = "eps must be a number in (0, 1)";
    else if (!(o->step_scale > 0.0) || !isfinite(o->step_scale))
        why = "step_scale must be a finite number > 0";
    else if (!(rel_step >= MIN_REL_STEP && rel_step <= MAX_REL_STEP))
        why = "the step step_scale·cbrt(eps) must be in [1e-10, 0.1]";
    else if (!(o->atol >= 0.0 && o->atol <= MAX_TOL))
        why = "atol must be a number in [0, 0.01]";
    else if (!(o->rtol >= 0.0 && o->rtol <= MAX_TOL))
        why = "rtol must be a number in [0, 0.01]";
    else if (!(o->kink_margin >= 0.0 && o->kink_margin < 1.0))
        why = "kink_margin must be a number in [0, 1)";
    else if (o->jacobian_max == 0 && o->n_probes == 0)
        why = "jacobian_max 0 with n_probes 0 compares nothing";
    if (!why)
        return BP_OK;
    if (!rep)
        return BP_EINVAL;
    rep->result = BP_CHECK_ERROR;
    snprintf(rep->message, sizeof rep->message,
             "invalid options: %s (eps %g, step_scale %g, atol %g, rtol %g, kink_margin %g, "
             "jacobian_max %zu, n_probes %zu)", why, o->eps, o->step_scale, o->atol, o->rtol,
             o->kink_margin, o->jacobian_max, o->n_probes);
    return BP_EINVAL;
}

void bp_check_report_clear(bp_check_report *report)
{
    if (!report)
        return;
    bpi_free(report->cases);
    memset(report, 0, sizeof *report);
}

/* ---- the report ---- */

/* Input p's name in messages: the param's name for graphs, "in<p>" for
 * ops; written into buf (size bytes), which is returned. */
const char *bpi_gc_input_label(const gc_check *c, size_t p, char *buf, size_t size)
{
    if (c->input_names)
        snprintf(buf, size, "%s", c->input_names[p]);
    else
        snprintf(buf, size, "in%zu", p);
    return buf;
}

double bpi_gc_entry_score(const bp_check_entry *e)
{
    if (isnan(e->error) || isnan(e->allowed))
        return INFINITY;
    return e->allowed > 0.0 ? e->error / e->allowed : (e->error > 0.0 ? INFINITY : 0.0);
}

void bpi_gc_raise_result(gc_check *c, bp_check_result r)
{
    if (r > c->cur->result)
        c->cur->result = r;
    if (r > c->rep->result)
        c->rep->result = r;
    if (r != BP_CHECK_PASS && c->first_failed_case == BP_CHECK_NONE)
        c->first_failed_case = c->case_index;
}

void bpi_gc_case_message(gc_check *c, const char *fmt, ...)
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
int bpi_gc_note_entry(gc_check *c, bp_check_entry *e)
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
    bpi_gc_input_label(c, e->input, e->input_name, sizeof e->input_name);

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
        bpi_gc_raise_result(c, BP_CHECK_NONFINITE);
        bpi_gc_case_message(c, "non-finite derivative at %s[%zu,%zu]: analytic %g, numeric %g",
                            e->input_name, e->row, e->col, e->analytic, e->numeric);
        pass = 0;
    } else if (!pass) {
        bpi_gc_raise_result(c, BP_CHECK_MISMATCH);
    }

    /* Insertion into the worst list, largest score first. */
    score = bpi_gc_entry_score(e);
    size_t pos = rep->n_worst;
    while (pos > 0 && bpi_gc_entry_score(&rep->worst[pos - 1]) < score)
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

/* Whether the mismatch of the node fed to in0 and in1 reads as one input's
 * gradient replacing the other's: analytic ≈ numeric / 2 (the two shares
 * equal, as in mul(x, x)), or no other reading fits. */
static int shares_one_input(const double *a, const double *n, size_t len, const char *what)
{
    double an = 0.0, nn = 0.0;

    if (!what)
        return 1;
    for (size_t e = 0; e < len; e++) {
        if (!isfinite(a[e]) || !isfinite(n[e]))
            return 0;
        an += a[e] * n[e];
        nn += n[e] * n[e];
    }
    return nn > 0.0 && fabs(an / nn - 0.5) < 1e-3;
}

/* The case's diagnosis from the flat analytic and numeric gradients of one
 * scalar (units summed over symmetric pairs are stored at the unit start,
 * with the partner copied). */
void bpi_gc_diagnose(gc_check *c, const gc_target *t, const double *a, const double *n)
{
    char *out = c->cur->diagnosis;
    size_t size = sizeof c->cur->diagnosis, used = 0;

    out[0] = '\0';
    for (size_t p = 0; p < t->n_params && used + 1 < size; p++) {
        char buf[96], name[32];
        size_t rows = bp_node_rows(t->params[p]), cols = bp_node_cols(t->params[p]);
        const char *what = pattern(c->o, a + t->offset[p], n + t->offset[p], rows, cols,
                                   t->symmetric[p], buf, sizeof buf);
        if (c->shared && p == 0 && shares_one_input(a, n, rows * cols, what))
            what = "overwrites instead of adding: one node feeds in0 and in1, and its "
                   "gradient is not the sum of both";
        if (!what)
            continue;
        used += (size_t)snprintf(out + used, size - used, "%s%s: %s", used ? "; " : "",
                                 bpi_gc_input_label(c, p, name, sizeof name), what);
    }
}

/* failed_case, diagnosis: from the worst failing entry, else the first
 * failing case. */
void bpi_gc_finish_report(gc_check *c)
{
    bp_check_report *rep = c->rep;

    rep->failed_case = BP_CHECK_NONE;
    if (rep->result == BP_CHECK_PASS && rep->n_compared == 0 && rep->cases) {
        /* e.g. only_case on a large case with n_probes 0 */
        rep->result = BP_CHECK_ERROR;
        snprintf(rep->message, sizeof rep->message,
                 "no derivative was compared (n_probes %zu, jacobian_max %zu)",
                 rep->options.n_probes, rep->options.jacobian_max);
    }
    if (rep->result == BP_CHECK_PASS || !rep->cases)   /* no cases: out of memory */
        return;
    if (rep->n_worst > 0 && bpi_gc_entry_score(&rep->worst[0]) > 1.0)
        rep->failed_case = rep->worst[0].case_index;
    else
        rep->failed_case = c->first_failed_case;
    for (size_t i = 0; i < rep->n_cases; i++)
        if (rep->cases[i].index == rep->failed_case)
            snprintf(rep->diagnosis, sizeof rep->diagnosis, "%s", rep->cases[i].diagnosis);
    /* A case too small to read (one entry per input) borrows the reading
     * of the first failing case that has one. */
    for (size_t i = 0; i < rep->n_cases && !rep->diagnosis[0]; i++)
        if (rep->cases[i].diagnosis[0])
            snprintf(rep->diagnosis, sizeof rep->diagnosis, "%.100s (case %zu)",
                     rep->cases[i].diagnosis, rep->cases[i].index);
    for (size_t i = 0; i < rep->n_cases; i++)
        if (rep->cases[i].result != BP_CHECK_PASS)
            rep->n_failed++;
}

void bpi_gc_report_start(bp_check_report *rep, const bp_check_options *o, const char *name)
{
    memset(rep, 0, sizeof *rep);
    rep->options = *o;
    rep->failed_case = BP_CHECK_NONE;
    snprintf(rep->name, sizeof rep->name, "%s", name);
}
