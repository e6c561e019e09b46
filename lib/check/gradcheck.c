/* SPDX-License-Identifier: MIT */
/* Gradient checking: analytic derivatives (bp_backward) against finite
 * differences, for one op over cases derived from its declaration, or for
 * every param of a graph.  The drivers; check.h lists the parts.  Uses the
 * public graph API, bpi_node_drop_grad to give back a param's absent
 * gradient, and bpi_graph_hold_draws to keep random ops' draws fixed. */
#include "check.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* ---- the checks on one target ---- */

/* The derivative of Σ w ⊙ out by differences on every unit, against the
 * analytic gradient ga; num receives the numeric one (both halves of a
 * symmetric pair hold the pair's value, as does asum). */
static bp_status check_elementwise(gc_check *c, gc_target *t, const double *w,
                                   const double *ga, double *asum, double *num)
{
    for (size_t k = 0; k < t->total; k++) {
        bp_check_entry e;
        size_t k2 = bpi_gc_partner(t, k);
        double d, est;
        bp_status st;

        if (!bpi_gc_unit_start(t, k))
            continue;
        memset(&e, 0, sizeof e);
        st = bpi_gc_stencil(c, t, k, NULL, w, &d, &est, NULL, NULL);
        if (st != BP_OK)
            return st;
        bpi_gc_set_entry_position(t, &e, k);
        e.analytic = ga[k] + (k2 != k ? ga[k2] : 0.0);
        e.numeric = d;
        e.estimate = est;
        bpi_gc_note_entry(c, &e);
        asum[k] = asum[k2] = e.analytic;
        num[k] = num[k2] = d;
    }
    return BP_OK;
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
        if (!bpi_gc_unit_start(t, k))
            continue;
        if ((st = bpi_gc_stencil(c, t, k, NULL, NULL, col, colest, NULL, NULL)) != BP_OK)
            goto done;
        for (size_t o = 0; o < m; o++) {
            jn[o * n + k] = col[o];
            en[o * n + k] = colest[o];
        }
    }
    /* backward needs the forward state at the unperturbed point */
    if ((st = bpi_gc_eval(c, t, NULL)) != BP_OK)
        goto done;
    sm = bpi_gc_out_matrix(t, seed);
    for (size_t o = 0; o < m; o++) {
        seed[o] = 1.0;
        st = bpi_gc_analytic(c, t, &sm, 0);
        seed[o] = 0.0;
        if (st != BP_OK)
            goto done;
        for (size_t k = 0; k < n; k++)
            ja[o * n + k] = t->grad[k];
    }
    for (size_t k = 0; k < n; k++) {
        size_t k2 = bpi_gc_partner(t, k);
        if (!bpi_gc_unit_start(t, k))
            continue;
        for (size_t o = 0; o < m; o++) {
            bp_check_entry e;
            memset(&e, 0, sizeof e);
            bpi_gc_set_entry_position(t, &e, k);
            e.out_row = o / sm.cols;
            e.out_col = o % sm.cols;
            e.analytic = ja[o * n + k] + (k2 != k ? ja[o * n + k2] : 0.0);
            e.numeric = jn[o * n + k];
            e.estimate = en[o * n + k];
            bpi_gc_note_entry(c, &e);
            sa[k] += w[o] * e.analytic;
            sn[k] += w[o] * e.numeric;
        }
        sa[k2] = sa[k];
        sn[k2] = sn[k];
    }
    if (c->cur->result == BP_CHECK_MISMATCH)
        bpi_gc_diagnose(c, t, sa, sn);
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

/* n_probes checks of vᵀJu; a failing probe is re-checked element by
 * element on Σ v ⊙ out to find the entries. */
static bp_status check_probes(gc_check *c, gc_target *t, bp_rng *r)
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
        bp_matrix sm = bpi_gc_out_matrix(t, v);
        double num, est, a1 = 0.0, a2 = 0.0;

        bpi_gc_random_weights(r, v, m);
        for (size_t k = 0; k < n; k++)
            dir[k] = bpi_gc_unit_start(t, k)
                     ? bpi_gc_rng_signed(r, 0.25, 1.0) * fmax(1.0, fabs(*t->slot[k])) : 0.0;
        for (size_t k = 0; k < n; k++)   /* a symmetric input moves symmetrically */
            if (!bpi_gc_unit_start(t, k))
                dir[k] = dir[bpi_gc_partner(t, k)];
        if ((st = bpi_gc_eval(c, t, NULL)) != BP_OK ||
            (st = bpi_gc_analytic(c, t, &sm, 0)) != BP_OK)
            goto done;
        memcpy(g, t->grad, n * sizeof *g);
        if ((st = bpi_gc_stencil(c, t, 0, dir, v, &num, &est, eff1, eff2)) != BP_OK)
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
        if (!bpi_gc_note_entry(c, &e)) {
            if ((st = check_elementwise(c, t, v, g, sa, sn)) != BP_OK)
                goto done;
            if (c->cur->result == BP_CHECK_MISMATCH)
                bpi_gc_diagnose(c, t, sa, sn);
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

/* Whether case i runs in in-place mode: every other case, so that an op's
 * paths for it (dout_writable, BP_OP_INPLACE) are checked too. */
static int inplace_case(size_t i)
{
    return i % 2 == 1;
}

/* Which inputs case i of op feeds through an op node (bit j: input j), so
 * that the op sees fresh gradients (din_fresh) for them and, being an
 * in-place case, may share that node's buffers; the others are params,
 * which it must add to.  The in-place cases cycle through every nonempty
 * pattern, all inputs first, so an op that reads one input's fresh bit for
 * another's meets a case where the two differ. */
static unsigned fresh_inputs(const bp_op *op, const gc_case *k, size_t i)
{
    const unsigned all = (1u << op->n_in) - 1;
    unsigned fresh;

    if (!(op->flags & BP_OP_ASSIGN_FRESH) || !inplace_case(i))
        return 0;
    fresh = all - (unsigned)((i / 2) % all);
    if (k->shared && (fresh & 2u))   /* in1 is in0's node */
        fresh = (fresh & ~2u) | 1u;
    return fresh;
}

/* " [fresh gradients]", or which inputs have them when not all do. */
static void fresh_label(const bp_op *op, unsigned fresh, char *buf, size_t size)
{
    size_t used = strlen(buf);

    if (!fresh)
        return;
    used += (size_t)snprintf(buf + used, size - used, " [fresh gradients");
    for (size_t j = 0; j < op->n_in && used < size && fresh != (1u << op->n_in) - 1; j++)
        if (fresh & (1u << j))
            used += (size_t)snprintf(buf + used, size - used, "%sin%zu",
                                     fresh & ((1u << j) - 1) ? ", " : ": ", j);
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

/* The inputs of op that hold integer ids (BP_DOMAIN_INDEX). */
static size_t n_id_inputs(const bp_op *op)
{
    size_t n = 0;
    for (size_t i = 0; i < op->n_in; i++)
        n += op->domain[i].kind == BP_DOMAIN_INDEX;
    return n;
}

/* The ids of domain d are below this: the size of axis index_axis
 * (negative from the end) of input index_of in case k; 0 when there is no
 * such axis. */
static size_t id_bound(const bp_op *op, const gc_case *k, const bp_domain *d)
{
    const bp_shape *s;
    long axis = d->index_axis;

    if (d->index_of >= op->n_in)
        return 0;
    s = &k->in[d->index_of];
    if (axis < 0)
        axis += (long)s->rank;
    return axis >= 0 && axis < (long)s->rank ? s->dim[axis] : 0;
}

static bp_status run_case(gc_check *c, const bp_op *op, const gc_case *k, const double *attr)
{
    const bp_check_options *o = c->o;
    bp_rng r = bpi_gc_rng_for(o->seed, op->name, c->case_index);
    const size_t n_params = (k->shared ? op->n_in - 1 : op->n_in) - n_id_inputs(op);
    const char *names_shared[BP_MAX_INPUTS] = {"in0=in1", "in2", "in3", ""};
    bp_graph *g = bp_graph_new();
    bp_node *in[BP_MAX_INPUTS];
    gc_target t;
    double *w = NULL;
    bp_status st = bpi_gc_target_alloc(&t, n_params);

    c->input_names = k->shared ? names_shared : NULL;
    c->shared = k->shared;
    if (!g || st != BP_OK) {
        st = BP_ENOMEM;
        goto done;
    }
    t.g = g;
    bp_graph_set_inplace(g, inplace_case(c->case_index));
    /* A random op is checked in training mode (a new graph's), as the
     * function of the draws of its first forward, which every later
     * forward of the case reuses: differences need a fixed function. */
    bpi_graph_hold_draws(g, 1);
    for (size_t i = 0, p = 0; i < op->n_in; i++) {
        if (k->shared && i == 1) {
            in[1] = in[0];
            continue;
        }
        if (op->domain[i].kind == BP_DOMAIN_INDEX) {
            /* ids: data of the case, not a variable of the check */
            in[i] = bp_input_nd(g, &k->in[i], NULL);
            continue;
        }
        in[i] = bp_param_nd(g, &k->in[i], NULL);
        t.params[p++] = in[i];
        /* Through scale(1) the op writes gradients of op nodes, which it
         * may assign rather than add (BP_OP_ASSIGN_FRESH); params it must
         * add to.  Cases mix both paths (fresh_inputs). */
        if (fresh_inputs(op, k, c->case_index) & (1u << i))
            in[i] = bp_scale(g, in[i], 1.0);
    }
    t.out = bp_apply(g, op, op->n_in, in, attr);
    if (!t.out) {
        st = bp_graph_status(g);
        bpi_gc_raise_result(c, BP_CHECK_ERROR);
        bpi_gc_case_message(c, "%s", bp_graph_message(g));
        st = st == BP_ENOMEM ? st : BP_OK;
        goto done;
    }
    for (size_t i = 0, p = 0; i < op->n_in; i++) {
        bp_domain d = op->domain[i];
        if (k->shared && i == 1)
            continue;
        if (k->shared && i == 0)
            bpi_gc_shared_domain(op, &d);
        if (d.kind == BP_DOMAIN_INDEX) {
            size_t rows, cols;
            double *ids;
            bpi_shape_matrix(&k->in[i], &rows, &cols);
            if ((st = bpi_node_prepare_value(in[i], rows, cols, &ids)) != BP_OK)
                goto done;
            bp_matrix m = {rows, cols, ids};
            st = bpi_gc_sample_ids(&r, id_bound(op, k, &d),
                                   d.ignore_attr > 0 && d.ignore_attr <= op->n_attr
                                       ? &attr[d.ignore_attr - 1] : NULL, &m);
            if (st != BP_OK) {
                bpi_gc_raise_result(c, BP_CHECK_ERROR);
                bpi_gc_case_message(c, "input %zu: ids index axis %d of input %zu, which it "
                                    "does not have", i, d.index_axis, d.index_of);
                st = BP_OK;
                goto done;
            }
            continue;
        }
        t.symmetric[p] = d.kind == BP_DOMAIN_SPD;
        st = bpi_gc_sample_matrix(&r, &d, o, bp_node_value(t.params[p]));
        if (st == BP_ENOMEM)
            goto done;
        if (st != BP_OK) {
            bpi_gc_raise_result(c, BP_CHECK_ERROR);
            bpi_gc_case_message(c, "could not sample input %zu from its domain away from its kinks",
                                i);
            st = BP_OK;
            goto done;
        }
        p++;
    }
    if ((st = bpi_gc_target_init(&t)) != BP_OK)
        goto done;
    if (op->flags & BP_OP_STOP_GRAD) {
        st = bpi_gc_check_stop_grad(c, &t, t.params[0]);
        goto done;
    }
    w = bpi_malloc(t.n_out * sizeof *w);
    if (!w) {
        st = BP_ENOMEM;
        goto done;
    }
    bpi_gc_random_weights(&r, w, t.n_out);
    if (bpi_gc_eval(c, &t, NULL) != BP_OK)
        goto done;
    if (!k->large && t.total * t.n_out <= o->jacobian_max)
        st = check_jacobian(c, &t, w);
    else
        st = check_probes(c, &t, &r);
    if (st == BP_OK && o->contracts && c->cur->result <= BP_CHECK_MISMATCH)
        st = bpi_gc_check_contracts(c, &t, &r, w);
    if (st != BP_ENOMEM)
        st = BP_OK;   /* an op's error is the case's result, recorded by eval/analytic */
done:
    c->input_names = NULL;   /* names_shared is this frame's */
    c->shared = 0;
    bpi_free(w);
    bpi_gc_target_free(&t);
    bp_graph_free(g);
    return st;
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
        bpi_gc_report_start(report, &o, op && op->name ? op->name : "");
        report->result = BP_CHECK_ERROR;
        snprintf(report->message, sizeof report->message,
                 "op declaration is incomplete (see bp_op_validate)");
        return BP_EINVAL;
    }
    bpi_gc_report_start(report, &o, op->name);
    if ((st = bpi_gc_check_options(&o, report)) != BP_OK)
        return st;
    for (size_t i = 0; i < op->n_in; i++)
        if (!(op->domain[i].max_abs >= 0.0) || !isfinite(op->domain[i].max_abs)) {
            report->result = BP_CHECK_ERROR;
            snprintf(report->message, sizeof report->message,
                     "input %zu's domain has max_abs %g; it must be finite and >= 0", i,
                     op->domain[i].max_abs);
            return BP_EINVAL;
        }
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
         * adds at most max_cases + BPI_GC_MAX_PATTERNS + 2 cases). */
        int overflow = o.max_cases > SIZE_MAX - 3 - BPI_GC_MAX_PATTERNS;
        cap = bpi_mul_size(n_sets, o.max_cases + 3 + BPI_GC_MAX_PATTERNS, &overflow);
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
        bpi_gc_enumerate_cases(op, &o, s, op->n_attr ? op->check_attr + s * op->n_attr : NULL,
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
        bpi_gc_case_label(op, &cases[i], attr, c.cur->label, sizeof c.cur->label);
        fresh_label(op, fresh_inputs(op, &cases[i], i), c.cur->label, sizeof c.cur->label);
        st = run_case(&c, op, &cases[i], attr);
    }
    bpi_free(cases);
    bpi_gc_finish_report(&c);
    return st;
}

/* ---- whole graphs ---- */

static int in_graph(const bp_graph *g, const bp_node *n)
{
    for (size_t i = 0; i < bp_graph_size(g); i++)
        if (bp_graph_node(g, i) == n)
            return 1;
    return 0;
}

bp_status bp_gradcheck_graph(bp_graph *g, bp_node *out, const bp_check_options *opt,
                             bp_check_report *report)
{
    bp_check_options o = opt ? *opt : bp_check_options_default();
    bp_rng r = bpi_gc_rng_for(o.seed, "graph", 0);
    bp_rng graph_rng;
    int held_draws;
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
    bpi_gc_report_start(report, &o, "graph");
    if ((st = bpi_gc_check_options(&o, report)) != BP_OK)
        return st;
    if (!g || !out || bp_graph_status(g) != BP_OK) {
        report->result = BP_CHECK_ERROR;
        snprintf(report->message, sizeof report->message, "%s",
                 g && bp_graph_status(g) != BP_OK ? bp_graph_message(g) : "graph or node is NULL");
        return g && out ? bp_graph_status(g) : BP_EINVAL;
    }
    if (!in_graph(g, out)) {
        report->result = BP_CHECK_ERROR;
        snprintf(report->message, sizeof report->message,
                 "node '%s' is not a node of this graph", bp_node_name(out));
        return BP_EINVAL;
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
    if ((st = bpi_gc_target_alloc(&t, n_params)) != BP_OK)
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
    /* Random ops keep the draws of their last forward (or make them once)
     * for the whole check, which takes nothing from the graph's generator:
     * both are given back as found. */
    held_draws = g->hold_draws;
    graph_rng = g->rng;
    bpi_graph_hold_draws(g, 1);

    if ((st = bp_forward(g, out)) != BP_OK) {
        /* an invalid call (an input with no data): the caller's error,
         * returned, and the graph's error state left as it was found */
        bpi_gc_raise_result(&c, BP_CHECK_ERROR);
        bpi_gc_case_message(&c, "%s", bp_graph_message(g));
        bp_graph_clear_error(g);
        goto release;
    }
    if ((st = bpi_gc_target_init(&t)) != BP_OK)
        goto release;
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
        goto release;
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
        bpi_gc_random_weights(&r, w, t.n_out);
    sm = bpi_gc_out_matrix(&t, w);
    if (elementwise) {
        if (bpi_gc_eval(&c, &t, NULL) != BP_OK || bpi_gc_analytic(&c, &t, &sm, 0) != BP_OK)
            goto restore;
        memcpy(ga, t.grad, t.total * sizeof *ga);
        st = check_elementwise(&c, &t, w, ga, sa, sn);
        if (st == BP_OK && c.cur->result == BP_CHECK_MISMATCH)
            bpi_gc_diagnose(&c, &t, sa, sn);
    } else {
        st = check_probes(&c, &t, &r);
    }
    if (st == BP_OK && o.contracts && c.cur->result <= BP_CHECK_MISMATCH)
        st = bpi_gc_check_contracts(&c, &t, &r, w);
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
        else if (gm)
            bpi_node_drop_grad(t.params[p]);   /* it had none */
    }
    if (bp_graph_status(g) != BP_OK)
        bp_graph_clear_error(g);
    /* Leave g forwarded to out; where that fails (it ran before, so only
     * for memory), the report says so and g is left as found. */
    if (bp_forward(g, out) != BP_OK) {
        bpi_gc_raise_result(&c, BP_CHECK_ERROR);
        bpi_gc_case_message(&c, "%s", bp_graph_message(g));
        bp_graph_clear_error(g);
    }
release:
    bpi_graph_hold_draws(g, held_draws);
    g->rng = graph_rng;
done:
    bpi_gc_finish_report(&c);
    bpi_free(names);
    bpi_free(saved);
    bpi_free(saved_grad);
    bpi_free(had_grad);
    bpi_free(w);
    bpi_free(ga);
    bpi_free(sa);
    bpi_free(sn);
    bpi_gc_target_free(&t);
    return st;
}
