/* Softmax, fused and staged as in the lesson, and detach. */
#include "bp_private.h"

#include <math.h>
#include <string.h>

/* S(i,j) = e^(x(i,j) − max_i) / Σ_k e^(x(i,k) − max_i): shifting by the row
 * max keeps every exponent ≤ 0, so nothing overflows. */
void bpi_softmax_rows(const bp_matrix *x, double *s, double *lse)
{
    for (size_t i = 0; i < x->rows; i++) {
        const double *row = x->data + i * x->cols;
        double *srow = s + i * x->cols;
        double max = row[0], total = 0.0;
        for (size_t j = 1; j < x->cols; j++)
            if (row[j] > max)
                max = row[j];
        for (size_t j = 0; j < x->cols; j++)
            total += srow[j] = exp(row[j] - max);
        for (size_t j = 0; j < x->cols; j++)
            srow[j] /= total;
        if (lse)
            lse[i] = max + log(total);
    }
}

static bp_status softmax_forward(bp_op_args *a)
{
    bpi_softmax_rows(a->in[0], a->out->data, NULL);
    return BP_OK;
}

/* dx += S ⊙ (g − rowsum(g ⊙ S)) */
static bp_status softmax_backward(bp_op_args *a)
{
    const bp_matrix *S = a->out, *G = a->dout;
    bp_matrix *dx = a->din[0];

    if (!dx)
        return BP_OK;
    for (size_t i = 0; i < S->rows; i++) {
        const double *s = S->data + i * S->cols, *g = G->data + i * S->cols;
        double dot = 0.0;
        for (size_t j = 0; j < S->cols; j++)
            dot += g[j] * s[j];
        if (a->din_fresh & 1u)
            for (size_t j = 0; j < S->cols; j++)
                dx->data[i * S->cols + j] = s[j] * (g[j] - dot);
        else
            for (size_t j = 0; j < S->cols; j++)
                dx->data[i * S->cols + j] += s[j] * (g[j] - dot);
    }
    return BP_OK;
}

const bp_op bpi_op_softmax = {
    .name = "softmax", .doc = "row-wise softmax, fused (max-shifted)", .n_in = 1,
    .shape = bpi_same_shape, .forward = softmax_forward, .backward = softmax_backward,
    .flags = BP_OP_ASSIGN_FRESH | BP_OP_INPLACE,
};

bp_node *bp_softmax(bp_graph *g, bp_node *a)
{
    return bpi_apply1(g, &bpi_op_softmax, a, NULL);
}

static bp_status detach_forward(bp_op_args *a)
{
    memcpy(a->out->data, a->in[0]->data, a->out->rows * a->out->cols * sizeof(double));
    return BP_OK;
}

const bp_op bpi_op_detach = {
    .name = "detach", .doc = "the value of a; no gradient flows through", .n_in = 1,
    .shape = bpi_same_shape, .forward = detach_forward,
    .flags = BP_OP_STOP_GRAD | BP_OP_BWD_NO_OUT,
};

bp_node *bp_detach(bp_graph *g, bp_node *a)
{
    return bpi_apply1(g, &bpi_op_detach, a, NULL);
}

static bp_node *named(bp_node *n, const char *name)
{
    if (n && bp_node_set_name(n, name) != BP_OK) {
        bpi_fail(n->graph, BP_ENOMEM, "softmax_staged: out of memory naming '%s'", name);
        return NULL;
    }
    return n;
}

bp_node *bp_softmax_staged(bp_graph *g, bp_node *a)
{
    /* The lesson's stages; the row max is a constant, so it is detached. */
    bp_node *max = named(bp_detach(g, bp_rowmax(g, a)), "softmax.max");
    bp_node *shifted = named(bp_sub(g, a, max), "softmax.shifted");
    bp_node *raised = named(bp_exp(g, shifted), "softmax.exp");
    bp_node *total = named(bp_rowsum(g, raised), "softmax.rowsum");
    bp_node *inverse = named(bp_pow(g, total, -1.0), "softmax.inverse");
    return named(bp_mul(g, raised, inverse), "softmax.out");
}
