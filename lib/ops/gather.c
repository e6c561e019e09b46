/* SPDX-License-Identifier: MIT */
/* gather: rows of a table picked by integer ids (an embedding lookup). */
#include "kernels.h"

#include <math.h>
#include <string.h>

/* table (V, d1..) and ids of any shape → ids' shape followed by d1..:
 * each id picks one of the table's V slices of D = d1·... elements. */
static bp_status gather_shape(bp_op_args *a)
{
    const bp_shape *t = a->in_shape[0], *ids = a->in_shape[1];
    char ts[BPI_SHAPE_STR], is[BPI_SHAPE_STR];
    size_t rank = ids->rank + t->rank - 1;

    if (rank > BP_MAX_RANK || rank < 1)
        return bp_op_fail(a, BP_EDIM, "ids %s into table %s make rank %zu (at most %d)",
                          bpi_shape_str(ids, is, sizeof is), bpi_shape_str(t, ts, sizeof ts),
                          rank, BP_MAX_RANK);
    a->out_shape->rank = rank;
    for (size_t d = 0; d < ids->rank; d++)
        a->out_shape->dim[d] = ids->dim[d];
    for (size_t d = 1; d < t->rank; d++)
        a->out_shape->dim[ids->rank + d - 1] = t->dim[d];
    return BP_OK;
}

/* Every id an integer in [0, V), checked before anything is written. */
static bp_status check_ids(bp_op_args *a, size_t v, size_t n)
{
    const double *ids = a->in[1]->data;
    for (size_t k = 0; k < n; k++)
        if (!(ids[k] >= 0.0 && ids[k] < (double)v && ids[k] == floor(ids[k])))
            return bp_op_fail(a, BP_EINVAL, "id %g at position %zu is not an integer in [0, %zu)",
                              ids[k], k, v);
    return BP_OK;
}

static bp_status gather_forward(bp_op_args *a)
{
    const size_t v = a->in_shape[0]->dim[0];
    const size_t width = a->in[0]->rows * a->in[0]->cols / v;
    const size_t n = a->in[1]->rows * a->in[1]->cols;
    bp_status st = check_ids(a, v, n);

    if (st != BP_OK)
        return st;
    for (size_t k = 0; k < n; k++)
        memcpy(a->out->data + k * width, a->in[0]->data + (size_t)a->in[1]->data[k] * width,
               width * sizeof(double));
    return BP_OK;
}

/* dtable[id_k] += dout[k] for every k: a repeated id adds once per use.
 * The ids get no gradient (they are not differentiable). */
static bp_status gather_backward(bp_op_args *a)
{
    const size_t v = a->in_shape[0]->dim[0];
    const size_t width = a->in[0]->rows * a->in[0]->cols / v;
    const size_t n = a->in[1]->rows * a->in[1]->cols;

    if (!a->din[0])
        return BP_OK;
    for (size_t k = 0; k < n; k++) {
        double *dst = a->din[0]->data + (size_t)a->in[1]->data[k] * width;
        const double *g = a->dout->data + k * width;
        for (size_t j = 0; j < width; j++)
            dst[j] += g[j];
    }
    return BP_OK;
}

const bp_op bpi_op_gather = {
    .name = "gather",
    .doc = "rows of a table by integer ids: (V×d…)[ids] → ids' shape × d…; backward scatter-adds",
    .n_in = 2,
    .shape = gather_shape, .forward = gather_forward, .backward = gather_backward,
    .flags = BP_OP_TENSORS,
    .domain = {{.kind = BP_DOMAIN_REAL}, {.kind = BP_DOMAIN_INDEX, .index_of = 0}},
};

bp_node *bp_gather(bp_graph *g, bp_node *table, bp_node *ids)
{
    return bpi_apply2(g, &bpi_op_gather, table, ids);
}
