/* SPDX-License-Identifier: MIT */
/* Minibatches shared between ranks: every rank walks the same global
 * batches, in the order bp_batcher would (the same seeded shuffle of the
 * same rows, so no rank has to send it), and binds its own contiguous share
 * of each to the graph's inputs. */
#include "dist_private.h"

#include <string.h>

struct bp_dist_batcher {
    size_t n_src;
    const bp_matrix *src[BP_MAX_INPUTS];
    bp_node *dst[BP_MAX_INPUTS];
    double *share[BP_MAX_INPUTS];   /* this rank's rows of a batch, bound to dst */
    size_t *order;                  /* the rows visited, shuffled per epoch */
    size_t n_rows;
    size_t batch_size;
    size_t pos;                     /* next entry of order */
    int in_epoch;
    int shuffle;
    bp_rng rng;
    size_t rank, size;
};

/* Where rank r's share of a batch of m rows starts: floor(m·r / N),
 * computed without forming m·r. */
static size_t share_start(size_t m, size_t r, size_t n_ranks)
{
    return m / n_ranks * r + m % n_ranks * r / n_ranks;
}

void bp_dist_batcher_free(bp_dist_batcher *b)
{
    if (!b)
        return;
    for (size_t k = 0; k < b->n_src; k++)
        bpd_free(b->share[k]);
    bpd_free(b->order);
    bpd_free(b);
}

static bp_status check_sources(size_t n_src, const bp_matrix *const *src, bp_node *const *dst,
                               const size_t *rows, size_t n_rows, bp_error *err)
{
    size_t total;

    for (size_t k = 0; k < n_src; k++) {
        if (!src[k] || !src[k]->data || !dst[k])
            return bpd_set_error(err, BP_EINVAL, "dist_batcher: source, its data or node %zu is NULL", k);
        if (src[k]->rows != src[0]->rows)
            return bpd_set_error(err, BP_EDIM, "dist_batcher: source %zu has %zu rows, source 0 has %zu",
                                 k, src[k]->rows, src[0]->rows);
        if (src[k]->cols != bp_node_cols(dst[k]))
            return bpd_set_error(err, BP_EDIM, "dist_batcher: source %zu has %zu columns, node '%s' takes %zu",
                                 k, src[k]->cols, bp_node_name(dst[k]), bp_node_cols(dst[k]));
    }
    total = src[0]->rows;
    if ((rows ? n_rows : total) == 0)
        return bpd_set_error(err, BP_EINVAL, "dist_batcher: no rows");
    for (size_t i = 0; rows && i < n_rows; i++)
        if (rows[i] >= total)
            return bpd_set_error(err, BP_EINVAL, "dist_batcher: row %zu is out of range (%zu rows)",
                                 rows[i], total);
    return BP_OK;
}

bp_status bp_dist_batcher_new(const bp_dist *d, size_t n_src, const bp_matrix *const *src,
                              bp_node *const *dst, const size_t *rows, size_t n_rows,
                              size_t batch_size, int shuffle, uint64_t seed,
                              bp_dist_batcher **out, bp_error *err)
{
    bp_dist_batcher *b;
    size_t n, most;
    bp_status st;

    if (!out)
        return bpd_set_error(err, BP_EINVAL, "dist_batcher: out is NULL");
    *out = NULL;
    if (!d || !src || !dst || n_src == 0 || n_src > BP_MAX_INPUTS || batch_size == 0)
        return bpd_set_error(err, BP_EINVAL,
                             "dist_batcher: needs a context, 1 to %d sources and nodes and a batch size > 0",
                             BP_MAX_INPUTS);
    st = check_sources(n_src, src, dst, rows, n_rows, err);
    if (st != BP_OK)
        return st;
    n = rows ? n_rows : src[0]->rows;
    if (batch_size > n)
        batch_size = n;
    if (batch_size < (size_t)bp_dist_size(d))
        return bpd_set_error(err, BP_EINVAL,
                             "dist_batcher: a batch of %zu rows leaves some of the %d ranks without rows",
                             batch_size, bp_dist_size(d));
    b = bpd_calloc(1, sizeof *b);
    if (!b)
        return bpd_set_error(err, BP_ENOMEM, "dist_batcher: out of memory");
    b->n_src = n_src;
    b->n_rows = n;
    b->batch_size = batch_size;
    b->shuffle = shuffle;
    b->rank = (size_t)bp_dist_rank(d);
    b->size = (size_t)bp_dist_size(d);
    bp_rng_seed(&b->rng, seed);
    b->order = bpd_calloc(n, sizeof *b->order);
    most = (batch_size + b->size - 1) / b->size;   /* no share is larger */
    for (size_t k = 0; k < n_src && b->order; k++) {
        b->src[k] = src[k];
        b->dst[k] = dst[k];
        b->share[k] = bpd_calloc(most, src[k]->cols * sizeof(double));
        if (!b->share[k]) {
            bp_dist_batcher_free(b);
            return bpd_set_error(err, BP_ENOMEM, "dist_batcher: out of memory for %zu rows", most);
        }
    }
    if (!b->order) {
        bp_dist_batcher_free(b);
        return bpd_set_error(err, BP_ENOMEM, "dist_batcher: out of memory for %zu rows", n);
    }
    for (size_t i = 0; i < n; i++)
        b->order[i] = rows ? rows[i] : i;
    *out = b;
    return BP_OK;
}

bp_status bp_dist_batcher_next(bp_dist_batcher *b, size_t *local_rows, size_t *batch_rows)
{
    size_t m, lo, hi;

    if (local_rows)
        *local_rows = 0;
    if (batch_rows)
        *batch_rows = 0;
    if (!b)
        return BP_EINVAL;
    if (!b->in_epoch) {
        /* as bp_batcher: one generator, each epoch shuffles the last order */
        if (b->shuffle)
            bp_shuffle(b->order, b->n_rows, &b->rng);
        b->pos = 0;
        b->in_epoch = 1;
    }
    if (b->pos >= b->n_rows) {
        b->in_epoch = 0;
        return BP_OK;
    }
    m = b->n_rows - b->pos < b->batch_size ? b->n_rows - b->pos : b->batch_size;
    lo = share_start(m, b->rank, b->size);
    hi = share_start(m, b->rank + 1, b->size);
    for (size_t k = 0; k < b->n_src && hi > lo; k++) {
        const bp_matrix *s = b->src[k];
        bp_matrix share = {hi - lo, s->cols, b->share[k]};
        bp_status st;
        for (size_t i = lo; i < hi; i++)
            memcpy(b->share[k] + (i - lo) * s->cols, s->data + b->order[b->pos + i] * s->cols,
                   s->cols * sizeof(double));
        st = bp_node_bind_value(b->dst[k], &share);
        if (st != BP_OK)
            return st;
    }
    b->pos += m;
    if (local_rows)
        *local_rows = hi - lo;
    if (batch_rows)
        *batch_rows = m;
    return BP_OK;
}
