/* SPDX-License-Identifier: MIT */
/* Losses, each → 1×1: mse of two tensors of one shape, any rank; nll and
 * softmax_ce of (..., K) tensors, means over the leading positions;
 * cross_entropy of (..., C) logits and (...) class ids. */
#include "kernels.h"

#include <math.h>

/* Every loss takes two tensors of one shape: mse of any rank; nll and
 * softmax_ce (..., K) tensors, the classes on the last axis, the mean over
 * the m leading positions, the rows of their matrix views. */
static bp_status loss_shape(bp_op_args *a)
{
    char p[BPI_SHAPE_STR], y[BPI_SHAPE_STR];
    bp_shape tmp[2];
    const bp_shape *ps = bpi_in_shape(a, 0, &tmp[0]), *ys = bpi_in_shape(a, 1, &tmp[1]);

    if (!bpi_shapes_equal(ps, ys))
        return bp_op_fail(a, BP_EDIM, "prediction and target differ in shape (%s, %s)",
                          bpi_shape_str(ps, p, sizeof p), bpi_shape_str(ys, y, sizeof y));
    bpi_set_out_shape(a, &(bp_shape){2, {1, 1}});
    return BP_OK;
}

/* NLL floors only what must be: a probability ≤ 0 (one that underflowed)
 * has no log, so the loss reads it as the smallest positive double (744.4
 * per unit of target); the gradient −y/p overflows below about 1e-308, so it
 * reads p as at least 1e-300.  Every positive p, subnormal too, is read as
 * itself in the loss, and a NaN stays NaN. */
#define NLL_LOSS_P_MIN 4.9406564584124654e-324   /* the smallest subnormal */
#define NLL_GRAD_P_MIN 1e-300

static double nll_loss_p(double p)
{
    return p <= 0.0 ? NLL_LOSS_P_MIN : p;
}

static double nll_grad_p(double p)
{
    return p < NLL_GRAD_P_MIN ? NLL_GRAD_P_MIN : p;
}

/* L = (1/N) Σ (p − y)², N the element count */
static bp_status mse_forward(bp_op_args *a)
{
    const bp_matrix *p = a->in[0], *y = a->in[1];
    const size_t len = p->rows * p->cols;
    double s = 0.0;

    for (size_t k = 0; k < len; k++) {
        double d = p->data[k] - y->data[k];
        s += d * d;
    }
    a->out->data[0] = s / (double)len;
    return BP_OK;
}

/* dp += g·2(p − y)/N;  dy −= g·2(p − y)/N */
static bp_status mse_backward(bp_op_args *a)
{
    const bp_matrix *p = a->in[0], *y = a->in[1];
    const size_t len = p->rows * p->cols;
    const double f = 2.0 * a->dout->data[0] / (double)len;

    for (size_t k = 0; k < len; k++) {
        double d = f * (p->data[k] - y->data[k]);
        if (a->din[0])
            a->din[0]->data[k] += d;
        if (a->din[1])
            a->din[1]->data[k] -= d;
    }
    return BP_OK;
}

const bp_op bpi_op_mse = {
    .name = "mse", .doc = "mean of (pred − target)² over all entries, any rank → 1×1", .n_in = 2,
    .shape = loss_shape, .forward = mse_forward, .backward = mse_backward,
    .flags = BP_OP_TENSORS | BP_OP_BWD_NO_OUT,
};

/* L = −(1/m) Σ y ⊙ log p */
static bp_status nll_forward(bp_op_args *a)
{
    const bp_matrix *p = a->in[0], *y = a->in[1];
    double s = 0.0;

    for (size_t k = 0; k < p->rows * p->cols; k++)
        if (y->data[k] != 0.0)
            s += y->data[k] * log(nll_loss_p(p->data[k]));
    a->out->data[0] = -s / (double)p->rows;
    return BP_OK;
}

/* dp += −g·y/(m·p);  dy += −g·log(p)/m (p read as above) */
static bp_status nll_backward(bp_op_args *a)
{
    const bp_matrix *p = a->in[0], *y = a->in[1];
    const double f = a->dout->data[0] / (double)p->rows;

    for (size_t k = 0; k < p->rows * p->cols; k++) {
        if (a->din[0])
            a->din[0]->data[k] -= f * y->data[k] / nll_grad_p(p->data[k]);
        if (a->din[1])
            a->din[1]->data[k] -= f * log(nll_loss_p(p->data[k]));
    }
    return BP_OK;
}

const bp_op bpi_op_nll = {
    .name = "nll",
    .doc = "−(1/m) Σ target ⊙ log(prob) → 1×1; prob ≤ 0 read as the least positive double, "
           "and as at least 1e-300 in the gradient",
    .n_in = 2, .shape = loss_shape, .forward = nll_forward, .backward = nll_backward,
    .flags = BP_OP_TENSORS | BP_OP_BWD_NO_OUT,
    .domain = {{.kind = BP_DOMAIN_INTERVAL, .lo = 0.0, .hi = 1.0}, {.kind = BP_DOMAIN_REAL}},
    .linear = 2u,
};

/* The softmax, then each row's max and log Σ e^(z − max), are kept in work
 * for backward. */
static bp_status softmax_ce_shape(bp_op_args *a)
{
    bp_status st = loss_shape(a);
    a->n_work = a->in[0]->rows * a->in[0]->cols + 2 * a->in[0]->rows;
    return st;
}

/* log softmax(z)(i,j) = (z(i,j) − max_i) − logsum_i: subtracting the rounded
 * log-sum-exp max_i + logsum_i from z instead would cancel away a small
 * loss's digits when the logits are large. */
static double log_softmax_at(const bp_matrix *z, const double *max, const double *logsum,
                             size_t i, size_t j)
{
    return (z->data[i * z->cols + j] - max[i]) - logsum[i];
}

/* L = −(1/m) Σ y ⊙ log softmax(z) */
static bp_status softmax_ce_forward(bp_op_args *a)
{
    const bp_matrix *z = a->in[0], *y = a->in[1];
    double *max = a->work + z->rows * z->cols, *logsum = max + z->rows, s = 0.0;

    bpi_softmax_along(z->data, (bpi_axis){z->rows, z->cols, 1}, a->work, max, logsum);
    for (size_t i = 0; i < z->rows; i++)
        for (size_t j = 0; j < z->cols; j++)
            s += y->data[i * z->cols + j] * log_softmax_at(z, max, logsum, i, j);
    a->out->data[0] = -s / (double)z->rows;
    return BP_OK;
}

/* dz += g·(p·rowsum(y) − y)/m, which is g·(p − y)/m for one-hot rows;
 * dy += −g·log softmax(z)/m */
static bp_status softmax_ce_backward(bp_op_args *a)
{
    const bp_matrix *z = a->in[0], *y = a->in[1];
    const double f = a->dout->data[0] / (double)z->rows;
    const double *p = a->work, *max = a->work + z->rows * z->cols, *logsum = max + z->rows;

    for (size_t i = 0; i < z->rows; i++) {
        const size_t row = i * z->cols;
        double ysum = 0.0;
        for (size_t j = 0; j < z->cols; j++)
            ysum += y->data[row + j];
        if (a->din[0])
            for (size_t j = 0; j < z->cols; j++)
                a->din[0]->data[row + j] += f * (p[row + j] * ysum - y->data[row + j]);
        if (a->din[1])
            for (size_t j = 0; j < z->cols; j++)
                a->din[1]->data[row + j] -= f * log_softmax_at(z, max, logsum, i, j);
    }
    return BP_OK;
}

const bp_op bpi_op_softmax_ce = {
    .name = "softmax_ce",
    .doc = "nll(softmax(logits), target) → 1×1, fused: gradient (p − target)/m",
    .n_in = 2, .shape = softmax_ce_shape, .forward = softmax_ce_forward,
    .backward = softmax_ce_backward, .linear = 2u,
    .flags = BP_OP_TENSORS | BP_OP_BWD_NO_OUT,
};

/* logits (..., C) of rank 2..4 and ids of their shape without the last
 * axis; attr[0] the ignore_index.  Work: the softmax, each row's max and
 * log Σ e^(z − max), and the count of entries not ignored. */
static bp_status cross_entropy_shape(bp_op_args *a)
{
    const bp_shape *z = a->in_shape[0], *ids = a->in_shape[1];
    char zs[BPI_SHAPE_STR], is[BPI_SHAPE_STR];
    int fits = ids->rank + 1 == z->rank;

    if (!isfinite(a->attr[0]))
        return bp_op_fail(a, BP_EINVAL, "ignore_index %g is not a finite number", a->attr[0]);
    if (z->rank < 2)
        return bp_op_fail(a, BP_EDIM, "logits of shape %s have rank 1; they need rank 2 to %d "
                          "(..., C)", bpi_shape_str(z, zs, sizeof zs), BP_MAX_RANK);
    for (size_t d = 0; fits && d < ids->rank; d++)
        fits = ids->dim[d] == z->dim[d];
    if (!fits) {
        bp_shape want = *z;
        char ws[BPI_SHAPE_STR];
        want.rank--;
        return bp_op_fail(a, BP_EDIM, "ids of shape %s do not fit logits %s: they must be %s, "
                          "the logits' shape without its last axis",
                          bpi_shape_str(ids, is, sizeof is), bpi_shape_str(z, zs, sizeof zs),
                          bpi_shape_str(&want, ws, sizeof ws));
    }
    bpi_set_out_shape(a, &(bp_shape){2, {1, 1}});
    a->n_work = a->in[0]->rows * a->in[0]->cols + 2 * a->in[0]->rows + 1;
    return BP_OK;
}

/* Every id the ignore_index or an integer class in [0, C), checked before
 * anything is written, so that no row is read outside. */
static bp_status check_classes(bp_op_args *a)
{
    const double *ids = a->in[1]->data, ignore = a->attr[0];
    const size_t n = a->in[0]->rows, c = a->in[0]->cols;

    for (size_t k = 0; k < n; k++)
        if (ids[k] != ignore && !(ids[k] >= 0.0 && ids[k] < (double)c && ids[k] == floor(ids[k])))
            return bp_op_fail(a, BP_EINVAL, "id %g at position %zu is neither a class in [0, %zu) "
                              "nor the ignore_index %g", ids[k], k, c, ignore);
    return BP_OK;
}

/* L = −(1/m) Σ log softmax(z)[id] over the m rows whose id is not the
 * ignore_index; 0 when m = 0. */
static bp_status cross_entropy_forward(bp_op_args *a)
{
    const bp_matrix *z = a->in[0];
    const double *ids = a->in[1]->data;
    double *max = a->work + z->rows * z->cols, *logsum = max + z->rows, *count = logsum + z->rows;
    double s = 0.0;
    bp_status st = check_classes(a);

    if (st != BP_OK)
        return st;
    bpi_softmax_along(z->data, (bpi_axis){z->rows, z->cols, 1}, a->work, max, logsum);
    *count = 0.0;
    for (size_t i = 0; i < z->rows; i++)
        if (ids[i] != a->attr[0]) {
            s += log_softmax_at(z, max, logsum, i, (size_t)ids[i]);
            *count += 1.0;
        }
    a->out->data[0] = *count > 0.0 ? -s / *count : 0.0;
    return BP_OK;
}

/* dz += g·(p − onehot(id))/m on the rows not ignored; ids get none. */
static bp_status cross_entropy_backward(bp_op_args *a)
{
    const bp_matrix *z = a->in[0];
    const double *ids = a->in[1]->data, *p = a->work;
    const double count = a->work[z->rows * z->cols + 2 * z->rows];
    const double f = count > 0.0 ? a->dout->data[0] / count : 0.0;

    if (!a->din[0] || count == 0.0)
        return BP_OK;
    for (size_t i = 0; i < z->rows; i++) {
        double *d = a->din[0]->data + i * z->cols;
        if (ids[i] == a->attr[0])
            continue;
        for (size_t j = 0; j < z->cols; j++)
            d[j] += f * p[i * z->cols + j];
        d[(size_t)ids[i]] -= f;
    }
    return BP_OK;
}

/* ignore_index outside the classes, as PyTorch's default −100, and inside */
static const double ignore_cases[] = {-100.0, 1.0};

const bp_op bpi_op_cross_entropy = {
    .name = "cross_entropy",
    .doc = "−mean log softmax(logits)[id] over the ids (logits' shape without the last axis) "
           "not equal to ignore_index → 1×1; 0 when all are",
    .n_in = 2, .n_attr = 1,
    .shape = cross_entropy_shape, .forward = cross_entropy_forward,
    .backward = cross_entropy_backward,
    .flags = BP_OP_TENSORS | BP_OP_BWD_NO_OUT,
    .domain = {{.kind = BP_DOMAIN_REAL},
               {.kind = BP_DOMAIN_INDEX, .index_of = 0, .index_axis = -1, .ignore_attr = 1}},
    .check_attr = ignore_cases, .n_check_attr = 2,
};

bp_node *bp_cross_entropy(bp_graph *g, bp_node *logits, bp_node *ids, double ignore_index)
{
    bp_node *in[2] = {logits, ids};
    return bp_apply(g, &bpi_op_cross_entropy, 2, in, &ignore_index);
}

bp_node *bp_mse(bp_graph *g, bp_node *pred, bp_node *target)
{
    return bpi_apply2(g, &bpi_op_mse, pred, target);
}

bp_node *bp_nll(bp_graph *g, bp_node *prob, bp_node *target)
{
    return bpi_apply2(g, &bpi_op_nll, prob, target);
}

bp_node *bp_softmax_ce(bp_graph *g, bp_node *logits, bp_node *target)
{
    return bpi_apply2(g, &bpi_op_softmax_ce, logits, target);
}
