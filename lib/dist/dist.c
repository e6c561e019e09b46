/* SPDX-License-Identifier: MIT */
/* Data-parallel training over MPI: the context, the agreement on errors,
 * attaching to a graph's params (the start-up check and the broadcast of
 * rank 0's values) and the one allreduce of all gradients per step. */
#include "dist_private.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct bp_dist {
    MPI_Comm comm;
    int rank, size;
    bp_graph *g;            /* attached graph, or NULL */
    bp_node **params;       /* its params, in creation order */
    size_t n_params;
    size_t n_values;        /* their entries, all together */
    double *buf;            /* n_values gradients, then rows, then failures */
    size_t reductions;      /* bp_dist_allreduce_grads calls since attach */
};

/* A failing rank's message as it travels to the others. */
#define FAIL_TEXT 512

bp_status bpd_set_error(bp_error *err, bp_status status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->status = status;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return status;
}

void *bpd_calloc(size_t n, size_t size)
{
    bp_malloc_fn alloc;
    size_t bytes;
    void *p;

    if (size != 0 && n > SIZE_MAX / size)
        return NULL;
    bytes = n * size;
    bp_get_alloc_funcs(&alloc, NULL);
    p = alloc(bytes > 0 ? bytes : 1);
    if (p)
        memset(p, 0, bytes);
    return p;
}

void bpd_free(void *p)
{
    bp_free_fn release;

    bp_get_alloc_funcs(NULL, &release);
    if (p)
        release(p);
}

bp_status bp_dist_new(MPI_Comm comm, bp_dist **out, bp_error *err)
{
    int initialized = 0, finalized = 0;
    bp_dist *d;

    if (!out)
        return bpd_set_error(err, BP_EINVAL, "dist_new: out is NULL");
    *out = NULL;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    if (!initialized || finalized)
        return bpd_set_error(err, BP_EINVAL, "dist_new: MPI is not initialised (call MPI_Init first)");
    if (comm == MPI_COMM_NULL)
        return bpd_set_error(err, BP_EINVAL, "dist_new: comm is MPI_COMM_NULL");
    d = bpd_calloc(1, sizeof *d);
    if (!d)
        return bpd_set_error(err, BP_ENOMEM, "dist_new: out of memory");
    d->comm = comm;
    MPI_Comm_rank(comm, &d->rank);
    MPI_Comm_size(comm, &d->size);
    *out = d;
    return BP_OK;
}

static void detach(bp_dist *d)
{
    bpd_free(d->params);
    bpd_free(d->buf);
    d->params = NULL;
    d->buf = NULL;
    d->g = NULL;
    d->n_params = d->n_values = d->reductions = 0;
}

void bp_dist_free(bp_dist *d)
{
    if (!d)
        return;
    detach(d);
    bpd_free(d);
}

int bp_dist_rank(const bp_dist *d)
{
    return d ? d->rank : -1;
}

int bp_dist_size(const bp_dist *d)
{
    return d ? d->size : 0;
}

/* Every rank knows that rank first failed: it sends its status and
 * message to all, and each returns them as "rank N: message". */
static bp_status report_failure(bp_dist *d, int first, bp_status status, const char *message,
                                bp_error *err)
{
    char text[FAIL_TEXT] = "";
    int code = (int)status;

    if (d->rank == first)
        snprintf(text, sizeof text, "%s", message && *message ? message : bp_strerror(status));
    MPI_Bcast(&code, 1, MPI_INT, first, d->comm);
    MPI_Bcast(text, FAIL_TEXT, MPI_CHAR, first, d->comm);
    text[FAIL_TEXT - 1] = '\0';
    if (code <= BP_OK || code >= BP_STATUS_COUNT)
        code = BP_EINVAL;
    return bpd_set_error(err, (bp_status)code, "rank %d: %s", first, text);
}

/* The lowest failing rank, found by every rank; size when none failed. */
static int first_failing_rank(bp_dist *d, bp_status status)
{
    int mine = status != BP_OK ? d->rank : d->size, first = d->size;

    MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, d->comm);
    return first;
}

bp_status bp_dist_agree(bp_dist *d, bp_status status, const char *message, bp_error *err)
{
    int first;

    if (!d)
        return bpd_set_error(err, BP_EINVAL, "dist_agree: d is NULL");
    first = first_failing_rank(d, status);
    if (first == d->size)
        return BP_OK;
    return report_failure(d, first, status, message, err);
}

/* ---- attaching to a graph ---- */

/* g's params in creation order, and the number of their entries; this
 * rank's failure, if any, in err (the caller agrees on it). */
static bp_status collect_params(bp_dist *d, bp_graph *g, bp_error *err)
{
    size_t n = 0, k = 0, values = 0;

    if (!g)
        return bpd_set_error(err, BP_EINVAL, "dist_attach: graph is NULL");
    if (bp_graph_status(g) != BP_OK)
        return bpd_set_error(err, bp_graph_status(g), "dist_attach: graph is in error: %s",
                             bp_graph_message(g));
    for (size_t i = 0; i < bp_graph_size(g); i++)
        n += bp_node_is_param(bp_graph_node(g, i)) != 0;
    if (n == 0)
        return bpd_set_error(err, BP_EINVAL, "dist_attach: graph has no params");
    d->params = bpd_calloc(n, sizeof(bp_node *));
    if (!d->params)
        return bpd_set_error(err, BP_ENOMEM, "dist_attach: out of memory for %zu params", n);
    for (size_t i = 0; i < bp_graph_size(g); i++) {
        bp_node *p = bp_graph_node(g, i);
        if (bp_node_is_param(p)) {
            d->params[k++] = p;
            values += bp_node_rows(p) * bp_node_cols(p);
        }
    }
    d->n_params = n;
    /* one MPI call moves all values, the rows and the failure count */
    if (values > (size_t)INT_MAX - 2)
        return bpd_set_error(err, BP_EINVAL, "dist_attach: %zu param values exceed one MPI message",
                             values);
    d->buf = bpd_calloc(values + 2, sizeof *d->buf);
    if (!d->buf)
        return bpd_set_error(err, BP_ENOMEM, "dist_attach: out of memory for %zu gradients", values);
    d->n_values = values;
    d->g = g;
    return BP_OK;
}

/* A graph's params as rank 0 sends them: per param rows, cols and the
 * length of its name, then the names one after the other, each with its
 * terminating NUL. */
typedef struct layout {
    unsigned long long n;        /* params */
    unsigned long long *shape;   /* 3 per param */
    unsigned long long n_chars;  /* of names, the NULs included */
    char *names;
} layout;

static void layout_free(layout *l)
{
    bpd_free(l->shape);
    bpd_free(l->names);
}

static bp_status layout_alloc(layout *l)
{
    l->shape = bpd_calloc(3 * l->n, sizeof *l->shape);
    l->names = bpd_calloc(l->n_chars + 1, 1);   /* + 1: a NUL even when empty */
    return l->shape && l->names ? BP_OK : BP_ENOMEM;
}

/* Compares this rank's params with rank 0's layout; the first difference
 * in err. */
static bp_status compare_layout(const bp_dist *d, const layout *l0, bp_error *err)
{
    const char *name0 = l0->names;
    size_t common = d->n_params < l0->n ? d->n_params : (size_t)l0->n;

    for (size_t i = 0; i < common; i++) {
        const bp_node *p = d->params[i];
        const char *name = bp_node_name(p);
        size_t rows0 = (size_t)l0->shape[3 * i], cols0 = (size_t)l0->shape[3 * i + 1];
        size_t len0 = (size_t)l0->shape[3 * i + 2];

        if (bp_node_rows(p) != rows0 || bp_node_cols(p) != cols0)
            return bpd_set_error(err, BP_EDIM,
                                 "graph differs from rank 0's: param %zu '%s' is %zux%zu here, "
                                 "%zux%zu on rank 0", i, name, bp_node_rows(p), bp_node_cols(p),
                                 rows0, cols0);
        if (strlen(name) != len0 || strcmp(name, name0) != 0)
            return bpd_set_error(err, BP_EDIM,
                                 "graph differs from rank 0's: param %zu is named '%s' here, "
                                 "'%.*s' on rank 0", i, name, (int)(len0 < 200 ? len0 : 200), name0);
        name0 += len0 + 1;
    }
    if (d->n_params != l0->n)
        return bpd_set_error(err, BP_EDIM, "graph differs from rank 0's: %zu params here, %llu on rank 0",
                             d->n_params, l0->n);
    return BP_OK;
}

/* The start-up check: every rank compares its params with rank 0's. */
static bp_status check_same_graph(bp_dist *d, bp_error *err)
{
    layout l = {0, NULL, 0, NULL};
    unsigned long long sizes[2] = {0, 0};
    bp_status st;

    if (d->rank == 0) {
        sizes[0] = d->n_params;
        for (size_t i = 0; i < d->n_params; i++)
            sizes[1] += strlen(bp_node_name(d->params[i])) + 1;
    }
    MPI_Bcast(sizes, 2, MPI_UNSIGNED_LONG_LONG, 0, d->comm);
    l.n = sizes[0];
    l.n_chars = sizes[1];
    st = layout_alloc(&l);
    if (st == BP_OK && (3 * l.n > INT_MAX || l.n_chars > INT_MAX))
        st = BP_EINVAL;
    st = bp_dist_agree(d, st, "dist_attach: cannot hold rank 0's list of params", err);
    if (st != BP_OK) {
        layout_free(&l);
        return st;
    }
    if (d->rank == 0) {
        char *at = l.names;
        for (size_t i = 0; i < d->n_params; i++) {
            const char *name = bp_node_name(d->params[i]);
            size_t len = strlen(name);
            l.shape[3 * i] = bp_node_rows(d->params[i]);
            l.shape[3 * i + 1] = bp_node_cols(d->params[i]);
            l.shape[3 * i + 2] = len;
            memcpy(at, name, len + 1);
            at += len + 1;
        }
    }
    MPI_Bcast(l.shape, (int)(3 * l.n), MPI_UNSIGNED_LONG_LONG, 0, d->comm);
    MPI_Bcast(l.names, (int)l.n_chars, MPI_CHAR, 0, d->comm);
    {
        bp_error mine = {BP_OK, ""};
        st = compare_layout(d, &l, &mine);
        st = bp_dist_agree(d, st, mine.message, err);
    }
    layout_free(&l);
    return st;
}

bp_status bp_dist_attach(bp_dist *d, bp_graph *g, bp_error *err)
{
    bp_error mine = {BP_OK, ""};
    bp_status st;
    size_t k = 0;

    if (!d)
        return bpd_set_error(err, BP_EINVAL, "dist_attach: d is NULL");
    detach(d);
    st = collect_params(d, g, &mine);
    st = bp_dist_agree(d, st, mine.message, err);
    if (st == BP_OK)
        st = check_same_graph(d, err);
    if (st != BP_OK) {
        detach(d);
        return st;
    }
    /* every rank starts from rank 0's values, sent in one message */
    for (size_t i = 0; i < d->n_params && d->rank == 0; i++) {
        const bp_matrix *v = bp_node_value(d->params[i]);
        memcpy(d->buf + k, v->data, v->rows * v->cols * sizeof(double));
        k += v->rows * v->cols;
    }
    MPI_Bcast(d->buf, (int)d->n_values, MPI_DOUBLE, 0, d->comm);
    k = 0;
    for (size_t i = 0; i < d->n_params; i++) {
        bp_matrix *v = bp_node_value(d->params[i]);
        memcpy(v->data, d->buf + k, v->rows * v->cols * sizeof(double));
        k += v->rows * v->cols;
    }
    return BP_OK;
}

/* ---- one step's gradients ---- */

bp_status bp_dist_allreduce_grads(bp_dist *d, size_t local_rows, bp_error *err)
{
    const char *message = "";
    bp_status status;
    double *buf, rows;
    size_t k = 0;

    if (!d)
        return bpd_set_error(err, BP_EINVAL, "dist_allreduce_grads: d is NULL");
    if (!d->g)
        return bpd_set_error(err, BP_EINVAL, "dist_allreduce_grads: no graph attached (bp_dist_attach)");
    status = bp_graph_status(d->g);
    message = bp_graph_message(d->g);
    if (status == BP_OK && local_rows == 0 && d->reductions == 0) {
        status = BP_ESTATE;
        message = "dist_allreduce_grads: no rows in the first batch, so no gradients to hold the sum";
    }
    /* buf = [rows_r · grad_r of every param, rows_r, failed_r], summed */
    buf = d->buf;
    rows = status == BP_OK ? (double)local_rows : 0.0;
    for (size_t i = 0; i < d->n_params; i++) {
        const bp_matrix *gr = bp_node_grad(d->params[i]);
        size_t n = bp_node_rows(d->params[i]) * bp_node_cols(d->params[i]);
        for (size_t j = 0; j < n; j++)
            buf[k + j] = gr && rows > 0 ? rows * gr->data[j] : 0.0;
        k += n;
    }
    buf[k] = rows;
    buf[k + 1] = status != BP_OK;
    MPI_Allreduce(MPI_IN_PLACE, buf, (int)(d->n_values + 2), MPI_DOUBLE, MPI_SUM, d->comm);
    if (buf[k + 1] > 0)
        return report_failure(d, first_failing_rank(d, status), status, message, err);
    if (buf[k] <= 0)
        return bpd_set_error(err, BP_EINVAL, "dist_allreduce_grads: no rank has rows in this batch");
    rows = buf[k];
    k = 0;
    for (size_t i = 0; i < d->n_params; i++) {
        bp_matrix *gr = bp_node_grad(d->params[i]);
        size_t n = bp_node_rows(d->params[i]) * bp_node_cols(d->params[i]);
        /* grad = Σ_r rows_r · grad_r / Σ_r rows_r */
        for (size_t j = 0; gr && j < n; j++)
            gr->data[j] = buf[k + j] / rows;
        k += n;
    }
    d->reductions++;
    return BP_OK;
}

bp_status bp_dist_sum(bp_dist *d, double *values, size_t n, bp_error *err)
{
    if (!d || !values || n > INT_MAX)
        return bpd_set_error(err, BP_EINVAL, "dist_sum: needs d, values and n <= INT_MAX");
    MPI_Allreduce(MPI_IN_PLACE, values, (int)n, MPI_DOUBLE, MPI_SUM, d->comm);
    return BP_OK;
}
