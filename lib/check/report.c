/* The checker's reports and diagnosis: scoring each compared derivative,
 * the worst entries, messages, and a one-line reading of a mismatch. */
#include "check.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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
    if (rep->result == BP_CHECK_PASS || !rep->cases)   /* no cases: out of memory */
        return;
    if (rep->n_worst > 0 && bpi_gc_entry_score(&rep->worst[0]) > 1.0)
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

void bpi_gc_report_start(bp_check_report *rep, const bp_check_options *o, const char *name)
{
    memset(rep, 0, sizeof *rep);
    rep->options = *o;
    rep->failed_case = BP_CHECK_NONE;
    snprintf(rep->name, sizeof rep->name, "%s", name);
}
