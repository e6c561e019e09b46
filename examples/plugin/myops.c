/* SPDX-License-Identifier: MIT */
/*
 * A user-defined op, declared with the public bp_op struct exactly as the
 * built-ins are, and a gradcheck plugin that registers it.
 *
 *   softplus(x) = log(1 + e^x), elementwise;  d/dx = sigmoid(x)
 *
 * Build it as a shared object and check it (README, "A plugin"):
 *   cc -shared -fPIC -o libmyops.so myops.c $(pkg-config --cflags bpgraph) -lm
 *   bpgraph-gradcheck --plugin ./libmyops.so softplus
 *
 * In a program, use it like a built-in: bp_apply(g, &myops_softplus, 1, &x, NULL),
 * or through the wrapper my_softplus() below.
 *
 * Compiled with -DMYOPS_WRONG the derivative is off by a factor of 2, and
 * gradcheck must exit 1 on it (the test suite builds both).
 */
#include "bpgraph.h"

#include <math.h>

/* README: op */
/* Same shape as the input. */
static bp_status softplus_shape(bp_op_args *a)
{
    a->out->rows = a->in[0]->rows;
    a->out->cols = a->in[0]->cols;
    return BP_OK;
}

/* y = log(1 + e^x), written as max(x, 0) + log1p(e^−|x|) so e^x never
 * overflows. */
static bp_status softplus_forward(bp_op_args *a)
{
    const double *x = a->in[0]->data;
    double *y = a->out->data;
    const size_t n = a->out->rows * a->out->cols;

    for (size_t k = 0; k < n; k++)
        y[k] = fmax(x[k], 0.0) + log1p(exp(-fabs(x[k])));
    return BP_OK;
}

/* dx += g · sigmoid(x).  ADD, never assign: an input used twice must get
 * both contributions. */
static bp_status softplus_backward(bp_op_args *a)
{
    const double *x = a->in[0]->data, *g = a->dout->data;
    const size_t n = a->out->rows * a->out->cols;
    double *dx = a->din[0] ? a->din[0]->data : NULL;

    if (!dx)
        return BP_OK;   /* the input needs no gradient */
    for (size_t k = 0; k < n; k++) {
        double s = x[k] >= 0.0 ? 1.0 / (1.0 + exp(-x[k])) : exp(x[k]) / (1.0 + exp(x[k]));
#ifdef MYOPS_WRONG
        s *= 2.0;   /* the deliberate mistake gradcheck must catch */
#endif
        dx[k] += g[k] * s;
    }
    return BP_OK;
}

const bp_op myops_softplus = {
    .name = "softplus",
    .doc = "log(1 + e^a), elementwise",
    .n_in = 1,
    .shape = softplus_shape,
    .forward = softplus_forward,
    .backward = softplus_backward,
    /* any real input, smooth everywhere, not linear */
    .domain = {{.kind = BP_DOMAIN_REAL}},
};
/* README: end */

bp_node *my_softplus(bp_graph *g, bp_node *x);
bp_node *my_softplus(bp_graph *g, bp_node *x)
{
    return bp_apply(g, &myops_softplus, 1, &x, NULL);
}

/* The plugin entry point gradcheck looks up (BP_PLUGIN_INIT_SYMBOL). */
int bpgraph_plugin_init(bp_registry *reg);
/* README: plugin */
int bpgraph_plugin_init(bp_registry *reg)
{
    return bp_registry_add(reg, &myops_softplus) == BP_OK ? 0 : 1;
}
/* README: end */
