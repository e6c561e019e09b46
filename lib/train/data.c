/* SPDX-License-Identifier: MIT */
/* Training helpers: parameter initialisation, row splits, feature
 * standardisation and minibatches. */
#include "bp_private.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- initialisation ---- */

static bp_status check_param(bp_node *p, const void *rng, const char *fn)
{
    if (!p)
        return BP_EINVAL;
    if (p->kind != BPI_PARAM)
        return bpi_fail(p->graph, BP_EINVAL, "%s: node '%s' is not a param", fn, bp_node_name(p));
    if (!rng)
        return bpi_fail(p->graph, BP_EINVAL, "%s: rng is NULL", fn);
    return BP_OK;
}

bp_status bp_init_uniform(bp_node *param, double lo, double hi, bp_rng *rng)
{
    bp_status st = check_param(param, rng, "init_uniform");
    if (st != BP_OK)
        return st;
    /* hi − lo must be finite too: [−DBL_MAX, DBL_MAX) would fill with
     * infinities and NaN (inf · 0). */
    if (!(lo <= hi) || !isfinite(lo) || !isfinite(hi) || !isfinite(hi - lo))
        return bpi_fail(param->graph, BP_EINVAL, "init_uniform '%s': bad range [%g, %g)",
                        bp_node_name(param), lo, hi);
    for (size_t k = 0; k < param->value.rows * param->value.cols; k++)
        param->value.data[k] = lo + (hi - lo) * bp_rng_uniform(rng);
    return BP_OK;
}

bp_status bp_init_glorot(bp_node *param, bp_rng *rng)
{
    bp_status st = check_param(param, rng, "init_glorot");
    double a;
    if (st != BP_OK)
        return st;
    a = sqrt(6.0 / (double)(param->value.rows + param->value.cols));
    return bp_init_uniform(param, -a, a, rng);
}

bp_status bp_init_he(bp_node *param, bp_rng *rng)
{
    bp_status st = check_param(param, rng, "init_he");
    double sd;
    if (st != BP_OK)
        return st;
    sd = sqrt(2.0 / (double)param->value.rows);
    for (size_t k = 0; k < param->value.rows * param->value.cols; k++)
        param->value.data[k] = sd * bp_rng_normal(rng);
    return BP_OK;
}

/* A matrix argument that is NULL, or claims rows and columns with no data. */
static int bad_matrix(const bp_matrix *m)
{
    return !m || (!m->data && m->rows > 0 && m->cols > 0);
}

/* ---- splits ---- */

bp_status bp_split_rows(size_t n, double valid_frac, double test_frac,
                        int shuffle, uint64_t seed, bp_split *out, bp_error *err)
{
    size_t n_valid, n_test;
    int overflow = 0;

    if (!out)
        return bpi_set_error(err, BP_EINVAL, "split_rows: out is NULL");
    memset(out, 0, sizeof *out);
    if (!(valid_frac >= 0 && valid_frac < 1 && test_frac >= 0 && test_frac < 1 &&
          valid_frac + test_frac < 1))
        return bpi_set_error(err, BP_EINVAL, "split_rows: fractions valid %g and test %g must be in [0, 1) "
                       "and sum to less than 1", valid_frac, test_frac);
    n_valid = (size_t)floor((double)n * valid_frac);
    n_test = (size_t)floor((double)n * test_frac);
    if (n == 0 || n_valid + n_test >= n)
        return bpi_set_error(err, BP_EINVAL, "split_rows: no training rows left of %zu", n);
    out->index = bpi_malloc(bpi_mul_size(n, sizeof(size_t), &overflow));
    if (overflow || !out->index) {
        bpi_free(out->index);
        out->index = NULL;
        return bpi_set_error(err, BP_ENOMEM, "split_rows: out of memory for %zu rows", n);
    }
    for (size_t i = 0; i < n; i++)
        out->index[i] = i;
    if (shuffle) {
        bp_rng rng;
        bp_rng_seed(&rng, seed);
        bp_shuffle(out->index, n, &rng);
    }
    out->n_train = n - n_valid - n_test;
    out->n_valid = n_valid;
    out->n_test = n_test;
    return BP_OK;
}

bp_status bp_split_stratified(const size_t *classes, size_t n, size_t k,
                              double valid_frac, double test_frac, uint64_t seed,
                              bp_split *out, bp_error *err)
{
    size_t *grouped = NULL, *start = NULL, n_held, n_valid, n_test, m, used = 0;
    size_t n_train = 0, n_v = 0, n_t = 0, acc = 0, vacc = 0;
    int overflow = 0;
    bp_status st;

    if (out)
        memset(out, 0, sizeof *out);
    if (!out || !classes || k == 0)
        return bpi_set_error(err, BP_EINVAL, "split_stratified: NULL out or classes, or k 0");
    for (size_t i = 0; i < n; i++)
        if (classes[i] >= k)
            return bpi_set_error(err, BP_EINVAL, "split_stratified: row %zu has class %zu, not below k = %zu",
                                 i, classes[i], k);
    /* the fractions' checks and counts, and a seeded shuffle */
    st = bp_split_rows(n, valid_frac, test_frac, 1, seed, out, err);
    if (st != BP_OK)
        return st;
    grouped = bpi_malloc(bpi_mul_size(n, sizeof *grouped, &overflow));
    start = bpi_malloc(bpi_mul_size(k + 1, sizeof *start, &overflow));
    if (overflow || !grouped || !start) {
        bpi_free(grouped);
        bpi_free(start);
        bp_split_free(out);
        return bpi_set_error(err, BP_ENOMEM, "split_stratified: out of memory for %zu rows", n);
    }
    /* shuffled rows grouped by class, stably: start[c] is where class c begins */
    memset(start, 0, (k + 1) * sizeof *start);
    for (size_t i = 0; i < n; i++)
        start[classes[i] + 1]++;
    for (size_t c = 0; c < k; c++) {
        used += start[c + 1] > 0;
        start[c + 1] += start[c];
    }
    for (size_t i = 0; i < n; i++)
        grouped[start[classes[out->index[i]]]++] = out->index[i];
    /* Every class keeps its first row for training; the held-out rows are
     * spread evenly over the others (so each class gives its share). */
    m = n - used;
    n_valid = out->n_valid;
    n_test = out->n_test;
    n_held = n_valid + n_test;
    if (n_held > m) {
        n_valid = n_held ? n_valid * m / n_held : 0;
        n_test = m - n_valid;
        n_held = m;
    }
    for (size_t i = 0, c = SIZE_MAX; i < n; i++) {
        size_t row = grouped[i];
        int first = classes[row] != c;
        c = classes[row];
        if (!first && (acc += n_held) >= m) {
            acc -= m;
            /* valid or test, in proportion over the held-out rows */
            if ((vacc += n_valid) >= n_held) {
                vacc -= n_held;
                out->index[n - n_held + n_v++] = row;
            } else {
                out->index[n - n_test + n_t++] = row;
            }
        } else {
            out->index[n_train++] = row;
        }
    }
    out->n_train = n_train;
    out->n_valid = n_v;
    out->n_test = n_t;
    bpi_free(grouped);
    bpi_free(start);
    return BP_OK;
}

bp_status bp_one_hot(const size_t *classes, size_t n, size_t k, bp_matrix **out,
                     bp_error *err)
{
    bp_matrix *m;

    if (!out)
        return bpi_set_error(err, BP_EINVAL, "one_hot: out is NULL");
    *out = NULL;
    if (!classes || n == 0 || k == 0)
        return bpi_set_error(err, BP_EINVAL, "one_hot: NULL classes, no rows or k 0");
    for (size_t i = 0; i < n; i++)
        if (classes[i] >= k)
            return bpi_set_error(err, BP_EINVAL, "one_hot: row %zu has class %zu, not below k = %zu",
                                 i, classes[i], k);
    m = bp_matrix_alloc(n, k);
    if (!m)
        return bpi_set_error(err, BP_ENOMEM, "one_hot: out of memory for %zux%zu", n, k);
    for (size_t i = 0; i < n; i++)
        m->data[i * k + classes[i]] = 1.0;
    *out = m;
    return BP_OK;
}

void bp_split_free(bp_split *split)
{
    if (split) {
        bpi_free(split->index);
        memset(split, 0, sizeof *split);
    }
}

bp_status bp_matrix_take_rows(const bp_matrix *src, const size_t *rows,
                              size_t n, bp_matrix **out, bp_error *err)
{
    bp_matrix *m;

    if (!out)
        return bpi_set_error(err, BP_EINVAL, "take_rows: out is NULL");
    *out = NULL;
    if (bad_matrix(src) || (!rows && n > 0))
        return bpi_set_error(err, BP_EINVAL, "take_rows: NULL matrix, data or row list");
    for (size_t i = 0; i < n; i++)
        if (rows[i] >= src->rows)
            return bpi_set_error(err, BP_EINVAL, "take_rows: row %zu is out of range (%zu rows)",
                           rows[i], src->rows);
    m = bp_matrix_alloc(n, src->cols);
    if (!m)
        return bpi_set_error(err, BP_ENOMEM, "take_rows: out of memory for %zux%zu", n, src->cols);
    for (size_t i = 0; i < n; i++)
        memcpy(m->data + i * src->cols, src->data + rows[i] * src->cols,
               src->cols * sizeof(double));
    *out = m;
    return BP_OK;
}

/* ---- standardisation ---- */

struct bp_scaler {
    size_t cols;
    double *mean;
    double *std;
};

bp_status bp_scaler_fit(const bp_matrix *x, const size_t *rows, size_t n_rows,
                        bp_scaler **out, bp_error *err)
{
    bp_scaler *s;
    size_t n;

    if (!out)
        return bpi_set_error(err, BP_EINVAL, "scaler_fit: out is NULL");
    *out = NULL;
    if (bad_matrix(x))
        return bpi_set_error(err, BP_EINVAL, "scaler_fit: matrix or its data is NULL");
    n = rows ? n_rows : x->rows;
    if (n == 0 || x->cols == 0)
        return bpi_set_error(err, BP_EINVAL, "scaler_fit: no rows to fit on");
    for (size_t i = 0; rows && i < n; i++)
        if (rows[i] >= x->rows)
            return bpi_set_error(err, BP_EINVAL, "scaler_fit: row %zu is out of range (%zu rows)",
                           rows[i], x->rows);
    s = bpi_calloc(1, sizeof *s);
    if (!s || !(s->mean = bpi_calloc(x->cols, sizeof(double))) ||
        !(s->std = bpi_calloc(x->cols, sizeof(double)))) {
        bp_scaler_free(s);
        return bpi_set_error(err, BP_ENOMEM, "scaler_fit: out of memory");
    }
    s->cols = x->cols;
    /* Two passes (mean, then squared deviations): stable for large offsets
     * such as temperatures around 60. */
    for (size_t j = 0; j < x->cols; j++) {
        double sum = 0, ss = 0, mean;
        for (size_t i = 0; i < n; i++) {
            double v = x->data[(rows ? rows[i] : i) * x->cols + j];
            if (!isfinite(v)) {
                bp_scaler_free(s);
                return bpi_set_error(err, BP_ENUMERIC, "scaler_fit: non-finite value in row %zu, column %zu",
                               rows ? rows[i] : i, j);
            }
            sum += v;
        }
        mean = sum / (double)n;
        for (size_t i = 0; i < n; i++) {
            double d = x->data[(rows ? rows[i] : i) * x->cols + j] - mean;
            ss += d * d;
        }
        s->mean[j] = mean;
        s->std[j] = ss > 0 ? sqrt(ss / (double)n) : 1.0;
    }
    *out = s;
    return BP_OK;
}

void bp_scaler_free(bp_scaler *s)
{
    if (s) {
        bpi_free(s->mean);
        bpi_free(s->std);
        bpi_free(s);
    }
}

size_t bp_scaler_cols(const bp_scaler *s)
{
    return s ? s->cols : 0;
}

const double *bp_scaler_mean(const bp_scaler *s)
{
    return s ? s->mean : NULL;
}

const double *bp_scaler_std(const bp_scaler *s)
{
    return s ? s->std : NULL;
}

static bp_status scaler_check(const bp_scaler *s, const bp_matrix *x, bp_error *err, const char *fn)
{
    if (!s || bad_matrix(x))
        return bpi_set_error(err, BP_EINVAL, "%s: NULL scaler, matrix or data", fn);
    if (x->cols != s->cols)
        return bpi_set_error(err, BP_EDIM, "%s: matrix has %zu columns, scaler %zu", fn, x->cols, s->cols);
    return BP_OK;
}

bp_status bp_scaler_apply(const bp_scaler *s, bp_matrix *x, bp_error *err)
{
    bp_status st = scaler_check(s, x, err, "scaler_apply");
    if (st != BP_OK)
        return st;
    for (size_t i = 0; i < x->rows; i++)
        for (size_t j = 0; j < x->cols; j++)
            x->data[i * x->cols + j] = (x->data[i * x->cols + j] - s->mean[j]) / s->std[j];
    return BP_OK;
}

bp_status bp_scaler_invert(const bp_scaler *s, bp_matrix *x, bp_error *err)
{
    bp_status st = scaler_check(s, x, err, "scaler_invert");
    if (st != BP_OK)
        return st;
    for (size_t i = 0; i < x->rows; i++)
        for (size_t j = 0; j < x->cols; j++)
            x->data[i * x->cols + j] = x->data[i * x->cols + j] * s->std[j] + s->mean[j];
    return BP_OK;
}

/* ---- minibatches ---- */

struct bp_batcher {
    size_t n_src;
    const bp_matrix *src[BP_MAX_INPUTS];
    bp_node *dst[BP_MAX_INPUTS];
    size_t *order;                  /* the rows visited, shuffled per epoch */
    size_t n_rows;
    size_t batch_size;
    size_t pos;                     /* next entry of order */
    size_t cur;                     /* rows in the current batch */
    int in_epoch;
    int shuffle;
    bp_rng rng;
};

void bp_batcher_free(bp_batcher *b)
{
    if (!b)
        return;
    bpi_free(b->order);
    bpi_free(b);
}

static bp_status new_batcher(size_t n_src, const bp_matrix *const *src,
                             bp_node *const *dst, const size_t *rows,
                             size_t n_rows, size_t batch_size, int shuffle,
                             uint64_t seed, bp_batcher **out, bp_error *err)
{
    bp_batcher *b;
    size_t n, total;
    int overflow = 0;

    if (!out)
        return bpi_set_error(err, BP_EINVAL, "batcher: out is NULL");
    *out = NULL;
    if (!src || !dst || n_src == 0 || n_src > BP_MAX_INPUTS || batch_size == 0)
        return bpi_set_error(err, BP_EINVAL, "batcher: needs 1 to %d sources and nodes and a batch size > 0",
                       BP_MAX_INPUTS);
    for (size_t k = 0; k < n_src; k++) {
        if (bad_matrix(src[k]) || !dst[k])
            return bpi_set_error(err, BP_EINVAL, "batcher: source, its data or node %zu is NULL", k);
        if (dst[k]->kind != BPI_INPUT)
            return bpi_set_error(err, BP_EINVAL, "batcher: node '%s' is not an input", bp_node_name(dst[k]));
        if (src[k]->rows != src[0]->rows)
            return bpi_set_error(err, BP_EDIM, "batcher: source %zu has %zu rows, source 0 has %zu",
                           k, src[k]->rows, src[0]->rows);
        if (src[k]->cols != dst[k]->value.cols)
            return bpi_set_error(err, BP_EDIM, "batcher: source %zu has %zu columns, input '%s' takes %zu",
                           k, src[k]->cols, bp_node_name(dst[k]), dst[k]->value.cols);
    }
    total = src[0]->rows;
    n = rows ? n_rows : total;
    if (n == 0)
        return bpi_set_error(err, BP_EINVAL, "batcher: no rows");
    for (size_t i = 0; rows && i < n; i++)
        if (rows[i] >= total)
            return bpi_set_error(err, BP_EINVAL, "batcher: row %zu is out of range (%zu rows)", rows[i], total);

    b = bpi_calloc(1, sizeof *b);
    if (!b)
        return bpi_set_error(err, BP_ENOMEM, "batcher: out of memory");
    b->n_src = n_src;
    b->n_rows = n;
    b->batch_size = batch_size < n ? batch_size : n;
    b->shuffle = shuffle;
    bp_rng_seed(&b->rng, seed);
    b->order = bpi_malloc(bpi_mul_size(n, sizeof(size_t), &overflow));
    if (overflow || !b->order) {
        bp_batcher_free(b);
        return bpi_set_error(err, BP_ENOMEM, "batcher: out of memory for %zu rows", n);
    }
    for (size_t i = 0; i < n; i++)
        b->order[i] = rows ? rows[i] : i;
    for (size_t k = 0; k < n_src; k++) {
        b->src[k] = src[k];
        b->dst[k] = dst[k];
    }
    *out = b;
    return BP_OK;
}

/* The graph of the first destination node given, where a failure is
 * recorded; NULL when there is none. */
static bp_graph *dst_graph(size_t n_src, bp_node *const *dst)
{
    for (size_t k = 0; dst && k < n_src && k < BP_MAX_INPUTS; k++)
        if (dst[k])
            return dst[k]->graph;
    return NULL;
}

bp_status bp_batcher_new(size_t n_src, const bp_matrix *const *src,
                         bp_node *const *dst, const size_t *rows,
                         size_t n_rows, size_t batch_size, int shuffle,
                         uint64_t seed, bp_batcher **out, bp_error *err)
{
    bp_error found = {BP_OK, ""};
    bp_status st = new_batcher(n_src, src, dst, rows, n_rows, batch_size, shuffle, seed, out,
                               &found);

    return bpi_report(dst_graph(n_src, dst), st, &found, err);
}

bp_status bp_batcher_next(bp_batcher *b, size_t *batch_rows)
{
    size_t m;

    if (batch_rows)
        *batch_rows = 0;
    if (!b)
        return BP_EINVAL;
    if (!b->in_epoch) {
        if (b->shuffle)
            bp_shuffle(b->order, b->n_rows, &b->rng);
        b->pos = 0;
        b->in_epoch = 1;
    }
    if (b->pos >= b->n_rows) {
        b->in_epoch = 0;
        b->cur = 0;
        return BP_OK;
    }
    m = b->n_rows - b->pos < b->batch_size ? b->n_rows - b->pos : b->batch_size;
    for (size_t k = 0; k < b->n_src; k++) {
        const bp_matrix *s = b->src[k];
        double *d;
        /* the rows go straight into the node's buffer */
        bp_status st = bpi_node_prepare_value(b->dst[k], m, s->cols, &d);
        if (st != BP_OK)
            return st;
        for (size_t i = 0; i < m; i++)
            memcpy(d + i * s->cols, s->data + b->order[b->pos + i] * s->cols,
                   s->cols * sizeof(double));
    }
    b->cur = m;
    b->pos += m;
    if (batch_rows)
        *batch_rows = m;
    return BP_OK;
}

void bp_batcher_reset(bp_batcher *b)
{
    if (b) {
        b->in_epoch = 0;
        b->cur = 0;
    }
}

size_t bp_batcher_batches(const bp_batcher *b)
{
    return b ? (b->n_rows + b->batch_size - 1) / b->batch_size : 0;
}

const size_t *bp_batcher_rows(const bp_batcher *b, size_t *n)
{
    if (n)
        *n = b ? b->cur : 0;
    if (!b || b->cur == 0)
        return NULL;
    return b->order + b->pos - b->cur;
}
