/* SPDX-License-Identifier: MIT */
/* Optimizers: SGD with momentum and Adam.  All state is allocated when the
 * optimizer is made; a step only reads gradients and writes params. */
#include "bp_private.h"

#include <math.h>
#include <string.h>

struct bp_optimizer {
    bp_graph *graph;
    bp_optim_config cfg;
    size_t n;
    bp_node **params;
    double **m;          /* SGD velocity, or Adam first moment */
    double **v;          /* Adam second moment; NULL for SGD */
    size_t t;            /* steps taken */
    double beta1_t;      /* β1^t and β2^t, kept as running products */
    double beta2_t;
};

bp_optim_config bp_optim_defaults(bp_optim_kind kind)
{
    bp_optim_config c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.lr = kind == BP_OPTIM_ADAM ? 1e-3 : 1e-2;
    c.momentum = 0.0;
    c.beta1 = 0.9;
    c.beta2 = 0.999;
    c.eps = 1e-8;
    return c;
}

void bp_optimizer_free(bp_optimizer *opt)
{
    if (!opt)
        return;
    for (size_t i = 0; i < opt->n; i++) {
        if (opt->m)
            bpi_free(opt->m[i]);
        if (opt->v)
            bpi_free(opt->v[i]);
    }
    bpi_free(opt->m);
    bpi_free(opt->v);
    bpi_free(opt->params);
    bpi_free(opt);
}

static int config_ok(const bp_optim_config *c)
{
    if (!(c->lr > 0) || !isfinite(c->lr))
        return 0;
    if (c->kind == BP_OPTIM_SGD)
        return c->momentum >= 0 && c->momentum < 1;
    if (c->kind == BP_OPTIM_ADAM)
        return c->beta1 >= 0 && c->beta1 < 1 && c->beta2 >= 0 && c->beta2 < 1 && c->eps > 0;
    return 0;
}

bp_status bp_optimizer_new(bp_graph *g, bp_node *const *params, size_t n_params,
                           const bp_optim_config *cfg, bp_optimizer **out)
{
    bp_optimizer *o;
    size_t n = 0;
    int need_m;

    if (!g)
        return BP_EINVAL;
    if (!out)
        return bpi_fail(g, BP_EINVAL, "optimizer: out is NULL");
    *out = NULL;
    if (g->status != BP_OK)
        return g->status;
    if (!cfg || !config_ok(cfg))
        return bpi_fail(g, BP_EINVAL, "optimizer: bad configuration (lr > 0; momentum, beta1, beta2 in [0, 1); eps > 0)");
    if (params) {
        for (size_t i = 0; i < n_params; i++)
            if (!params[i] || params[i]->graph != g || params[i]->kind != BPI_PARAM)
                return bpi_fail(g, BP_EINVAL, "optimizer: node %zu ('%s') is not a param of this graph",
                                i, params[i] ? bp_node_name(params[i]) : "NULL");
        n = n_params;
    } else {
        for (size_t i = 0; i < g->n_nodes; i++)
            n += g->nodes[i]->kind == BPI_PARAM;
    }
    if (n == 0)
        return bpi_fail(g, BP_EINVAL, "optimizer: no params to optimize");

    o = bpi_calloc(1, sizeof *o);
    if (!o)
        return bpi_fail(g, BP_ENOMEM, "optimizer: out of memory");
    o->graph = g;
    o->cfg = *cfg;
    o->beta1_t = 1.0;
    o->beta2_t = 1.0;
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
    o->params = bpi_calloc(n, sizeof *o->params);
    o->m = bpi_calloc(n, sizeof *o->m);
    if (cfg->kind == BP_OPTIM_ADAM)
        o->v = bpi_calloc(n, sizeof *o->v);
    if (!o->params || !o->m || (cfg->kind == BP_OPTIM_ADAM && !o->v)) {
        bp_optimizer_free(o);
        return bpi_fail(g, BP_ENOMEM, "optimizer: out of memory");
    }
    o->n = n;
    /* Plain SGD (momentum 0) needs no velocity: p −= lr·g directly, which
     * saves a params-sized buffer and a pass over it every step. */
    need_m = cfg->kind == BP_OPTIM_ADAM || cfg->momentum > 0;
    for (size_t i = 0, k = 0; k < n; i++) {
        bp_node *p = params ? params[i] : g->nodes[i];
        size_t size;
        if (!params && p->kind != BPI_PARAM)
            continue;
        size = p->value.rows * p->value.cols;
        o->params[k] = p;
        if (need_m)
            o->m[k] = bpi_calloc(size, sizeof(double));
        if (o->v)
            o->v[k] = bpi_calloc(size, sizeof(double));
        if ((need_m && !o->m[k]) || (o->v && !o->v[k])) {
            bp_optimizer_free(o);
            return bpi_fail(g, BP_ENOMEM, "optimizer: out of memory for the state of '%s'",
                            bp_node_name(p));
        }
        k++;
    }
    *out = o;
    return BP_OK;
}

bp_status bp_optimizer_step(bp_optimizer *o)
{
    const bp_optim_config *c;
    double bc1, bc2;

    if (!o)
        return BP_EINVAL;
    c = &o->cfg;
    /* Check every gradient first, so a bad one changes nothing. */
    for (size_t i = 0; i < o->n; i++) {
        const bp_matrix *gr = bp_node_grad(o->params[i]);
        if (!gr)
            continue;
        for (size_t k = 0; k < gr->rows * gr->cols; k++)
            if (!isfinite(gr->data[k]))
                return bpi_fail(o->graph, BP_ENUMERIC,
                                "optimizer: gradient of '%s' is not finite at entry %zu",
                                bp_node_name(o->params[i]), k);
    }
    o->t++;
    o->beta1_t *= c->beta1;
    o->beta2_t *= c->beta2;
    bc1 = 1.0 - o->beta1_t;
    bc2 = 1.0 - o->beta2_t;
    for (size_t i = 0; i < o->n; i++) {
        const bp_matrix *gr = bp_node_grad(o->params[i]);
        double *p = o->params[i]->value.data, *m = o->m[i];
        size_t size;
        if (!gr)
            continue;
        size = gr->rows * gr->cols;
        if (c->kind == BP_OPTIM_SGD && !m) {
            for (size_t k = 0; k < size; k++)
                p[k] -= c->lr * gr->data[k];
        } else if (c->kind == BP_OPTIM_SGD) {
            for (size_t k = 0; k < size; k++) {
                m[k] = c->momentum * m[k] + gr->data[k];   /* v = μv + g */
                p[k] -= c->lr * m[k];
            }
        } else {
            double *v = o->v[i];
            for (size_t k = 0; k < size; k++) {
                double gk = gr->data[k];
                m[k] = c->beta1 * m[k] + (1.0 - c->beta1) * gk;
                v[k] = c->beta2 * v[k] + (1.0 - c->beta2) * gk * gk;
                p[k] -= c->lr * (m[k] / bc1) / (sqrt(v[k] / bc2) + c->eps);
            }
        }
    }
    return BP_OK;
}

void bp_optimizer_set_lr(bp_optimizer *opt, double lr)
{
    if (opt && lr > 0 && isfinite(lr))
        opt->cfg.lr = lr;
}

size_t bp_optimizer_steps(const bp_optimizer *opt)
{
    return opt ? opt->t : 0;
}
