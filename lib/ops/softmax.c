/* SPDX-License-Identifier: MIT */
/* The fused softmax (row-wise, and along any axis), log_softmax, the
 * causal softmax of attention, and detach. */
#include "kernels.h"

#include <math.h>
#include <string.h>

/* softmax_axis and log_softmax: attr[0] the axis.  In forward and backward
 * the axis is valid: shape() checked it. */
static bpi_axis axis_split(bp_op_args *a)
{
    bpi_axis ax = {0, 0, 0};
    size_t axis;
    (void)bpi_axis_of(a, a->attr[0], &axis, &ax);
    return ax;
}

static bpi_axis rows_of(const bp_matrix *x)
{
    return (bpi_axis){x->rows, x->cols, 1};
}

/* d += s ⊙ (g − Σ g ⊙ s) along one line whose entries are st apart;
 * assigned instead when fresh.  d may be g (in place): the line's g is all
 * read before d is written. */
static inline void softmax_vjp_line(const double *s, const double *g, double *d, size_t n,
                                    size_t st, int fresh)
{
    double dot = 0.0;

    for (size_t k = 0; k < n; k++)
        dot += g[k * st] * s[k * st];
    if (fresh)
        for (size_t k = 0; k < n; k++)
            d[k * st] = s[k * st] * (g[k * st] - dot);
    else
        for (size_t k = 0; k < n; k++)
            d[k * st] += s[k * st] * (g[k * st] - dot);
}

/* dx += S ⊙ (g − Σ_axis g ⊙ S) along each line of ax; a literal stride 1
 * for rows, so that the compiler makes that case a plain loop. */
static void softmax_vjp(const double *S, const double *G, double *dx, bpi_axis ax, int fresh)
{
    for (size_t o = 0; o < ax.outer; o++)
        for (size_t i = 0; i < ax.inner; i++) {
            const size_t base = o * ax.n * ax.inner + i;
            if (ax.inner == 1)
                softmax_vjp_line(S + base, G + base, dx + base, ax.n, 1, fresh);
            else
                softmax_vjp_line(S + base, G + base, dx + base, ax.n, ax.inner, fresh);
        }
}

static bp_status softmax_forward(bp_op_args *a)
{
    bpi_softmax_along(a->in[0]->data, rows_of(a->in[0]), a->out->data, NULL, NULL);
    return BP_OK;
}

static bp_status softmax_backward(bp_op_args *a)
{
    if (a->din[0])
        softmax_vjp(a->out->data, a->dout->data, a->din[0]->data, rows_of(a->out),
                    a->din_fresh & 1u);
    return BP_OK;
}

const bp_op bpi_op_softmax = {
    .name = "softmax", .doc = "row-wise softmax, fused (max-shifted)", .n_in = 1,
    .shape = bpi_same_shape, .forward = softmax_forward, .backward = softmax_backward,
    .flags = BP_OP_ASSIGN_FRESH | BP_OP_INPLACE,
};

/* The input's shape, along a valid axis. */
static bp_status softmax_axis_shape(bp_op_args *a)
{
    size_t axis;
    bpi_axis ax;
    bp_status st = bpi_axis_of(a, a->attr[0], &axis, &ax);

    if (st == BP_OK) {
        bp_shape tmp;
        bpi_set_out_shape(a, bpi_in_shape(a, 0, &tmp));
    }
    return st;
}

static bp_status softmax_axis_forward(bp_op_args *a)
{
    bpi_softmax_along(a->in[0]->data, axis_split(a), a->out->data, NULL, NULL);
    return BP_OK;
}

static bp_status softmax_axis_backward(bp_op_args *a)
{
    if (a->din[0])
        softmax_vjp(a->out->data, a->dout->data, a->din[0]->data, axis_split(a), 0);
    return BP_OK;
}

/* The softmax of the axis {-1, 0} cases on a matrix: along rows, columns. */
static const double axis_cases[] = {-1.0, 0.0};

const bp_op bpi_op_softmax_axis = {
    .name = "softmax_axis", .doc = "softmax along an axis (negative from the end), fused (max-shifted)",
    .n_in = 1, .n_attr = 1,
    .shape = softmax_axis_shape, .forward = softmax_axis_forward,
    .backward = softmax_axis_backward,
    .flags = BP_OP_TENSORS,
    .check_attr = axis_cases, .n_check_attr = 2,
};

/* Each line's max and log Σ e^(x − max) are kept in work. */
static bp_status log_softmax_shape(bp_op_args *a)
{
    bp_status st = softmax_axis_shape(a);

    if (st == BP_OK) {
        const bpi_axis ax = axis_split(a);
        a->n_work = 2 * ax.outer * ax.inner;
    }
    return st;
}

/* out = (x − max) − log Σ e^(x − max) along each line: never x minus a
 * rounded log-sum-exp, which would cancel a small result's digits.  The
 * softmax itself is written into out first, then replaced. */
static bp_status log_softmax_forward(bp_op_args *a)
{
    const bpi_axis ax = axis_split(a);
    const double *x = a->in[0]->data;
    double *out = a->out->data, *max = a->work, *logsum = a->work + ax.outer * ax.inner;

    bpi_softmax_along(x, ax, out, max, logsum);
    for (size_t o = 0; o < ax.outer; o++)
        for (size_t k = 0; k < ax.n; k++)
            for (size_t i = 0; i < ax.inner; i++) {
                const size_t at = (o * ax.n + k) * ax.inner + i, line = o * ax.inner + i;
                out[at] = (x[at] - max[line]) - logsum[line];
            }
    return BP_OK;
}

/* dx += g − e^out ⊙ Σ_axis g, e^out being the softmax */
static bp_status log_softmax_backward(bp_op_args *a)
{
    const bpi_axis ax = axis_split(a);
    const size_t st = ax.inner;

    if (!a->din[0])
        return BP_OK;
    for (size_t o = 0; o < ax.outer; o++)
        for (size_t i = 0; i < ax.inner; i++) {
            const size_t base = o * ax.n * st + i;
            const double *y = a->out->data + base, *g = a->dout->data + base;
            double *d = a->din[0]->data + base, total = 0.0;
            for (size_t k = 0; k < ax.n; k++)
                total += g[k * st];
            for (size_t k = 0; k < ax.n; k++)
                d[k * st] += g[k * st] - exp(y[k * st]) * total;
        }
    return BP_OK;
}

const bp_op bpi_op_log_softmax = {
    .name = "log_softmax",
    .doc = "log of the softmax along an axis (negative from the end), as (a − max) − log Σ e^(a − max)",
    .n_in = 1, .n_attr = 1,
    .shape = log_softmax_shape, .forward = log_softmax_forward,
    .backward = log_softmax_backward,
    .flags = BP_OP_TENSORS,
    .check_attr = axis_cases, .n_check_attr = 2,
};

/* Scores (..., Tq, Tk) of rank 2..4: query i of Tq sees keys
 * j ≤ i + Tk − Tq (the last Tq of Tk positions are the queries'). */
static bp_status causal_softmax_shape(bp_op_args *a)
{
    bp_shape tmp;
    const bp_shape *s = bpi_in_shape(a, 0, &tmp);
    char ss[BPI_SHAPE_STR];

    if (s->rank < 2)
        return bp_op_fail(a, BP_EDIM, "scores of shape %s have rank %zu; they need rank 2 to %d "
                          "(..., Tq, Tk)", bpi_shape_str(s, ss, sizeof ss), s->rank, BP_MAX_RANK);
    bpi_set_out_shape(a, s);
    return BP_OK;
}

/* How many keys row r of the scores' matrix view sees: the first
 * i + Tk − Tq + 1 of Tk for query i = r mod Tq, 0 when that is < 1. */
static size_t causal_keys(const bp_op_args *a, size_t r)
{
    const bp_shape *s = a->in_shape[0];
    const size_t tq = s->dim[s->rank - 2], tk = s->dim[s->rank - 1], i = r % tq;
    return i + tk >= tq ? i + tk + 1 - tq : 0;
}

/* Each row's softmax over the keys it sees, 0 at the others (in place:
 * out may be in[0]). */
static bp_status causal_softmax_forward(bp_op_args *a)
{
    const size_t rows = a->out->rows, tk = a->out->cols;

    for (size_t r = 0; r < rows; r++) {
        const size_t n = causal_keys(a, r);
        double *y = a->out->data + r * tk;
        if (n > 0)
            bpi_softmax_along(a->in[0]->data + r * tk, (bpi_axis){1, n, 1}, y, NULL, NULL);
        for (size_t j = n; j < tk; j++)
            y[j] = 0.0;
    }
    return BP_OK;
}

/* Over the keys a row sees, dx += S ⊙ (g − Σ g ⊙ S); a masked score gets
 * no gradient (0 when assigned).  din may be dout (in place). */
static bp_status causal_softmax_backward(bp_op_args *a)
{
    const size_t rows = a->out->rows, tk = a->out->cols;
    const int fresh = a->din_fresh & 1u;

    if (!a->din[0])
        return BP_OK;
    for (size_t r = 0; r < rows; r++) {
        const size_t n = causal_keys(a, r), at = r * tk;
        double *d = a->din[0]->data + at;
        if (n > 0)
            softmax_vjp_line(a->out->data + at, a->dout->data + at, d, n, 1, fresh);
        for (size_t j = n; fresh && j < tk; j++)
            d[j] = 0.0;
    }
    return BP_OK;
}

const bp_op bpi_op_causal_softmax = {
    .name = "causal_softmax",
    .doc = "softmax along the last axis of (…, Tq, Tk) scores over the keys j ≤ i + Tk − Tq, "
           "0 at the others; a row with no key is 0",
    .n_in = 1,
    .shape = causal_softmax_shape, .forward = causal_softmax_forward,
    .backward = causal_softmax_backward,
    .flags = BP_OP_TENSORS | BP_OP_ASSIGN_FRESH | BP_OP_INPLACE,
};

bp_node *bp_causal_softmax(bp_graph *g, bp_node *scores)
{
    return bpi_apply1(g, &bpi_op_causal_softmax, scores, NULL);
}

bp_node *bp_softmax(bp_graph *g, bp_node *a)
{
    return bpi_apply1(g, &bpi_op_softmax, a, NULL);
}

bp_node *bp_softmax_axis(bp_graph *g, bp_node *a, int axis)
{
    const double attr = (double)axis;
    return bpi_apply1(g, &bpi_op_softmax_axis, a, &attr);
}

bp_node *bp_log_softmax(bp_graph *g, bp_node *a, int axis)
{
    const double attr = (double)axis;
    return bpi_apply1(g, &bpi_op_log_softmax, a, &attr);
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
