/* SPDX-License-Identifier: MIT */
/* The fused row softmax, and detach. */
#include "kernels.h"

#include <math.h>
#include <string.h>

static bp_status softmax_forward(bp_op_args *a)
{
    bpi_softmax_rows(a->in[0], a->out->data, NULL, NULL);
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
    .name = "detach", .doc = "the value of a, any rank; no gradient flows through", .n_in = 1,
    .shape = bpi_same_shape, .forward = detach_forward,
    .flags = BP_OP_TENSORS | BP_OP_STOP_GRAD | BP_OP_BWD_NO_OUT,
};

bp_node *bp_detach(bp_graph *g, bp_node *a)
{
    return bpi_apply1(g, &bpi_op_detach, a, NULL);
}
