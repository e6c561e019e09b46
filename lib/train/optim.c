/* SPDX-License-Identifier: MIT */
/* Optimizers: SGD with momentum, Adam and AdamW, with a learning-rate
 * schedule and clipping by global norm.  All state is allocated when the
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
    double grad_norm;    /* ‖g‖ at the last step, before clipping */
};

bp_optim_config bp_optim_defaults(bp_optim_kind kind)
{
    bp_optim_config c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.lr = kind == BP_OPTIM_SGD ? 1e-2 : 1e-3;
    c.momentum = 0.0;
    c.beta1 = 0.9;
    c.beta2 = 0.999;
    c.eps = 1e-8;
    c.weight_decay = kind == BP_OPTIM_ADAMW ? 0.01 : 0.0;
    c.decay = BP_LR_CONSTANT;
    return c;
}

double bp_optim_lr(const bp_optim_config *c, size_t t)
{
    double p;
    if (!c || t == 0)
        return 0.0;
    if (t <= c->warmup_steps)
        return c->lr * (double)t / (double)c->warmup_steps;
    if (c->decay == BP_LR_CONSTANT)
        return c->lr;
    if (t >= c->decay_steps)
        return c->min_lr;
    p = (double)(t - c->warmup_steps) / (double)(c->decay_steps - c->warmup_steps);
    if (c->decay == BP_LR_COSINE)
        return c->min_lr + (c->lr - c->min_lr) * 0.5 * (1.0 + cos(3.141592653589793 * p));
    return c->lr - (c->lr - c->min_lr) * p;
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

static int schedule_ok(const bp_optim_config *c)
{
    if (!(c->min_lr >= 0 && c->min_lr <= c->lr) || !(c->clip_norm >= 0) || !isfinite(c->clip_norm))
        return 0;
    if (c->decay == BP_LR_CONSTANT)
        return 1;
    return (c->decay == BP_LR_COSINE || c->decay == BP_LR_LINEAR) &&
           c->decay_steps > c->warmup_steps;
}

static int config_ok(const bp_optim_config *c)
{
    if (!(c->lr > 0) || !isfinite(c->lr) || !schedule_ok(c))
        return 0;
    /* Weight decay is AdamW's alone: refused elsewhere, not ignored. */
    if (c->kind != BP_OPTIM_ADAMW && c->weight_decay != 0)
        return 0;
    if (c->kind == BP_OPTIM_SGD)
        return c->momentum >= 0 && c->momentum < 1;
    if (c->kind == BP_OPTIM_ADAM || c->kind == BP_OPTIM_ADAMW)
        return c->beta1 >= 0 && c->beta1 < 1 && c->beta2 >= 0 && c->beta2 < 1 && c->eps > 0 &&
               c->weight_decay >= 0 && isfinite(c->weight_decay);
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
        return bpi_fail(g, BP_EINVAL, "optimizer: bad configuration (lr > 0; momentum, beta1, beta2 in [0, 1); eps > 0; "
                        "weight_decay >= 0, AdamW only; clip_norm >= 0; min_lr in [0, lr]; "
                        "decay_steps > warmup_steps when decaying)");
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
    if (cfg->kind != BP_OPTIM_SGD)
        o->v = bpi_calloc(n, sizeof *o->v);
    if (!o->params || !o->m || (cfg->kind != BP_OPTIM_SGD && !o->v)) {
        bp_optimizer_free(o);
        return bpi_fail(g, BP_ENOMEM, "optimizer: out of memory");
    }
    o->n = n;
    /* Plain SGD (momentum 0) needs no velocity: p −= lr·g directly, which
     * saves a params-sized buffer and a pass over it every step. */
    need_m = cfg->kind != BP_OPTIM_SGD || cfg->momentum > 0;
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

/* ‖g‖ over every gradient, from the sum of squares; only when that
 * overflows (entries beyond ~1e154) again with each entry scaled by the
 * largest, which cannot. */
static double global_norm(const bp_optimizer *o, double ssq)
{
    double big = 0.0;
    if (isfinite(ssq))
        return sqrt(ssq);
    for (size_t i = 0; i < o->n; i++) {
        const bp_matrix *gr = bp_node_grad(o->params[i]);
        for (size_t k = 0; gr && k < gr->rows * gr->cols; k++)
            big = fmax(big, fabs(gr->data[k]));
    }
    ssq = 0.0;
    for (size_t i = 0; i < o->n; i++) {
        const bp_matrix *gr = bp_node_grad(o->params[i]);
        for (size_t k = 0; gr && k < gr->rows * gr->cols; k++)
            ssq += (gr->data[k] / big) * (gr->data[k] / big);
    }
    return big * sqrt(ssq);
}

bp_status bp_optimizer_step(bp_optimizer *o)
{
    const bp_optim_config *c;
    double bc1, bc2, lr, scale = 1.0, ssq = 0.0;

    if (!o)
        return BP_EINVAL;
    c = &o->cfg;
    /* Check every gradient first, so a bad one changes nothing; the same
     * pass sums the squares for the norm. */
    for (size_t i = 0; i < o->n; i++) {
        const bp_matrix *gr = bp_node_grad(o->params[i]);
        if (!gr)
            continue;
        for (size_t k = 0; k < gr->rows * gr->cols; k++) {
            if (!isfinite(gr->data[k]))
                return bpi_fail(o->graph, BP_ENUMERIC,
                                "optimizer: gradient of '%s' is not finite at entry %zu",
                                bp_node_name(o->params[i]), k);
            ssq += gr->data[k] * gr->data[k];
        }
    }
    o->grad_norm = global_norm(o, ssq);
    /* PyTorch's clip_grad_norm_: the 1e-6 keeps a zero norm finite. */
    if (c->clip_norm > 0)
        scale = fmin(1.0, c->clip_norm / (o->grad_norm + 1e-6));
    o->t++;
    lr = bp_optim_lr(c, o->t);
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
                p[k] -= lr * scale * gr->data[k];
        } else if (c->kind == BP_OPTIM_SGD) {
            for (size_t k = 0; k < size; k++) {
                m[k] = c->momentum * m[k] + scale * gr->data[k];   /* v = μv + g */
                p[k] -= lr * m[k];
            }
        } else {
            double *v = o->v[i];
            /* AdamW's decay is decoupled: p ← p·(1 − lr·λ) before the
             * Adam step, not λp added to the gradient (λ = 0 for Adam). */
            const double keep = 1.0 - lr * c->weight_decay;
            for (size_t k = 0; k < size; k++) {
                double gk = scale * gr->data[k];
                m[k] = c->beta1 * m[k] + (1.0 - c->beta1) * gk;
                v[k] = c->beta2 * v[k] + (1.0 - c->beta2) * gk * gk;
                p[k] = p[k] * keep - lr * (m[k] / bc1) / (sqrt(v[k] / bc2) + c->eps);
            }
        }
    }
    return BP_OK;
}

void bp_optimizer_set_lr(bp_optimizer *opt, double lr)
{
    if (opt && lr > 0 && isfinite(lr) && lr >= opt->cfg.min_lr)
        opt->cfg.lr = lr;
}

size_t bp_optimizer_steps(const bp_optimizer *opt)
{
    return opt ? opt->t : 0;
}

double bp_optimizer_grad_norm(const bp_optimizer *opt)
{
    return opt ? opt->grad_norm : 0.0;
}
