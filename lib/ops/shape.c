/* SPDX-License-Identifier: MIT */
/* The shape ops: reshape (a view), permute, slice and concat.  Each moves
 * values without arithmetic, so each is linear and its backward puts dout
 * back where forward took it from, adding. */
#include "kernels.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Whether x is an integer in [lo, hi]. */
static int is_int_in(double x, double lo, double hi)
{
    return x >= lo && x <= hi && x == floor(x);
}

/* The product of dims [from, to) of s. */
static size_t dims_product(const bp_shape *s, size_t from, size_t to)
{
    size_t p = 1;
    for (size_t i = from; i < to; i++)
        p *= s->dim[i];
    return p;
}

/* ---- reshape ---- */

/* attr: the new dims d0..d3, ended by the first 0; one may be −1, inferred
 * from the element count (a −1 first dim follows an input's batch). */
static bp_status reshape_shape(bp_op_args *a)
{
    const bp_shape in = *a->in_shape[0];
    char dims[BPI_SHAPE_STR];
    bp_shape s = {0, {0}};
    size_t known = 1, infer = BP_MAX_RANK, size = dims_product(&in, 0, in.rank);

    while (s.rank < BP_MAX_RANK && a->attr[s.rank] != 0.0)
        s.rank++;
    for (size_t i = 0; i < BP_MAX_RANK; i++) {
        double d = a->attr[i];
        int ok = i >= s.rank ? d == 0.0 : d == -1.0 ? infer == BP_MAX_RANK
                                                    : is_int_in(d, 1.0, (double)size);
        if (!ok || s.rank == 0)
            return bp_op_fail(a, BP_EDIM, "%s cannot take dims %g, %g, %g, %g (positive, "
                              "one −1 to infer, 0 after the last)",
                              bpi_shape_str(&in, dims, sizeof dims), a->attr[0], a->attr[1],
                              a->attr[2], a->attr[3]);
        if (i >= s.rank)
            continue;
        if (d == -1.0) {
            infer = i;
        } else {
            s.dim[i] = (size_t)d;
            known *= s.dim[i];
        }
    }
    if (infer < BP_MAX_RANK)
        s.dim[infer] = known > 0 && size % known == 0 ? size / known : 0;
    if (dims_product(&s, 0, s.rank) != size) {
        char want[BPI_SHAPE_STR];
        size_t used = 0;
        for (size_t i = 0; i < s.rank; i++)
            used += (size_t)snprintf(want + used, sizeof want - used, "%s%g", i ? "x" : "",
                                     a->attr[i]);
        return bp_op_fail(a, BP_EDIM, "%s (%zu elements) cannot be %s",
                          bpi_shape_str(&in, dims, sizeof dims), size, want);
    }
    *a->out_shape = s;
    return BP_OK;
}

static bp_status reshape_forward(bp_op_args *a)
{
    (void)a;   /* a view: the value is the input's buffer */
    return BP_OK;
}

/* dX += dY, element for element */
static bp_status reshape_backward(bp_op_args *a)
{
    if (a->din[0])
        for (size_t k = 0; k < a->dout->rows * a->dout->cols; k++)
            a->din[0]->data[k] += a->dout->data[k];
    return BP_OK;
}

static const double reshape_check_attr[] = {
    -1, 0, 0, 0,    /* flatten */
    -1, 1, 0, 0,    /* a column */
    1, -1, 1, 0,    /* unit axes around */
};

const bp_op bpi_op_reshape = {
    .name = "reshape", .doc = "the same values in another shape (d0 d1 d2 d3: 0 ends it, one −1 is inferred), no copy",
    .n_in = 1, .n_attr = 4,
    .shape = reshape_shape, .forward = reshape_forward, .backward = reshape_backward,
    .flags = BP_OP_TENSORS | BP_OP_VIEW | BP_OP_BWD_NO_OUT,
    .domain = {{.kind = BP_DOMAIN_REAL}}, .linear = 1u,
    .check_attr = reshape_check_attr, .n_check_attr = sizeof reshape_check_attr / (4 * sizeof(double)),
};

bp_node *bp_reshape(bp_graph *g, bp_node *a, long d0, long d1, long d2, long d3)
{
    const double attr[4] = {(double)d0, (double)d1, (double)d2, (double)d3};
    return bpi_apply1(g, &bpi_op_reshape, a, attr);
}

/* ---- permute ---- */

/* attr: perm, output axis i is input axis perm[i]; axes at or beyond the
 * input's rank stay in place. */
static bp_status permute_shape(bp_op_args *a)
{
    const bp_shape in = *a->in_shape[0];
    bp_shape s = in;
    unsigned used = 0;

    for (size_t i = 0; i < BP_MAX_RANK; i++) {
        double p = a->attr[i];
        int ok = i < in.rank ? is_int_in(p, 0.0, (double)in.rank - 1) && !(used >> (size_t)p & 1u)
                             : p == (double)i;
        if (!ok) {
            char dims[BPI_SHAPE_STR];
            return bp_op_fail(a, BP_EDIM, "%g, %g, %g, %g is not a permutation of the axes of %s "
                              "(axes from %zu on stay in place)", a->attr[0], a->attr[1],
                              a->attr[2], a->attr[3], bpi_shape_str(&in, dims, sizeof dims),
                              in.rank);
        }
        if (i < in.rank) {
            used |= 1u << (size_t)p;
            s.dim[i] = in.dim[(size_t)p];
        }
    }
    *a->out_shape = s;
    return BP_OK;
}

/* Walks the output of a permute of `in` in order; for each element calls
 * dst[k] = src[in_offset] (forward) or dst[in_offset] += src[k] (backward). */
static void permute_walk(const bp_shape *in, const double *attr, const double *src, double *dst,
                         int backward)
{
    size_t stride[BP_MAX_RANK] = {0, 0, 0, 0}, n[BP_MAX_RANK] = {1, 1, 1, 1};
    size_t k = 0;

    /* right-align the output's axes in a 4-deep loop; output axis i steps
     * through the input as its axis p_i does */
    for (size_t i = 0; i < in->rank; i++) {
        size_t p = (size_t)attr[i];
        n[BP_MAX_RANK - in->rank + i] = in->dim[p];
        stride[BP_MAX_RANK - in->rank + i] = dims_product(in, p + 1, in->rank);
    }
    for (size_t i0 = 0; i0 < n[0]; i0++)
        for (size_t i1 = 0; i1 < n[1]; i1++)
            for (size_t i2 = 0; i2 < n[2]; i2++) {
                const size_t base = i0 * stride[0] + i1 * stride[1] + i2 * stride[2];
                if (backward)
                    for (size_t i3 = 0; i3 < n[3]; i3++)
                        dst[base + i3 * stride[3]] += src[k++];
                else
                    for (size_t i3 = 0; i3 < n[3]; i3++)
                        dst[k++] = src[base + i3 * stride[3]];
            }
}

static bp_status permute_forward(bp_op_args *a)
{
    const bp_shape in = *a->in_shape[0];
    permute_walk(&in, a->attr, a->in[0]->data, a->out->data, 0);
    return BP_OK;
}

/* dX[perm⁻¹(i)] += dY[i] */
static bp_status permute_backward(bp_op_args *a)
{
    const bp_shape in = *a->in_shape[0];
    if (a->din[0])
        permute_walk(&in, a->attr, a->dout->data, a->din[0]->data, 1);
    return BP_OK;
}

static const double permute_check_attr[] = {
    1, 0, 2, 3,   /* the first two axes swapped */
    2, 0, 1, 3,   /* a rotation of three */
    3, 1, 0, 2,   /* a rank-4 shuffle */
};

const bp_op bpi_op_permute = {
    .name = "permute", .doc = "the axes reordered: output axis i is input axis p_i (axes beyond the rank stay in place)",
    .n_in = 1, .n_attr = 4,
    .shape = permute_shape, .forward = permute_forward, .backward = permute_backward,
    .flags = BP_OP_TENSORS | BP_OP_BWD_NO_OUT,
    .domain = {{.kind = BP_DOMAIN_REAL}}, .linear = 1u,
    .check_attr = permute_check_attr, .n_check_attr = sizeof permute_check_attr / (4 * sizeof(double)),
};

bp_node *bp_permute(bp_graph *g, bp_node *a, size_t p0, size_t p1, size_t p2, size_t p3)
{
    const double attr[4] = {(double)p0, (double)p1, (double)p2, (double)p3};
    return bpi_apply1(g, &bpi_op_permute, a, attr);
}

bp_node *bp_transpose_axes(bp_graph *g, bp_node *a, size_t i, size_t j)
{
    size_t p[BP_MAX_RANK] = {0, 1, 2, 3};

    if (g && a && a->graph == g && (i >= a->shape.rank || j >= a->shape.rank)) {
        char dims[BPI_SHAPE_STR];
        bpi_fail(g, BP_EDIM, "permute: cannot swap axes %zu and %zu of %s", i, j,
                 bpi_shape_str(&a->shape, dims, sizeof dims));
        return NULL;
    }
    if (i < BP_MAX_RANK && j < BP_MAX_RANK) {
        p[i] = j;
        p[j] = i;
    }
    return bp_permute(g, a, p[0], p[1], p[2], p[3]);
}

/* ---- slice ---- */

/* attr: axis, start, length. */
static bp_status slice_shape(bp_op_args *a)
{
    const bp_shape in = *a->in_shape[0];
    const double axis = a->attr[0], start = a->attr[1], length = a->attr[2];
    char dims[BPI_SHAPE_STR];
    bp_shape s = in;

    if (!is_int_in(axis, 0.0, (double)in.rank - 1))
        return bp_op_fail(a, BP_EDIM, "axis %g is not one of %s's", axis,
                          bpi_shape_str(&in, dims, sizeof dims));
    if (!is_int_in(start, 0.0, 1e18) || !is_int_in(length, 1.0, 1e18) ||
        start + length > (double)in.dim[(size_t)axis])
        return bp_op_fail(a, BP_EDIM, "%g..%g is outside axis %g of %s", start, start + length,
                          axis, bpi_shape_str(&in, dims, sizeof dims));
    s.dim[(size_t)axis] = (size_t)length;
    *a->out_shape = s;
    return BP_OK;
}

/* The slice as `outer` runs of `run` contiguous doubles, `step` apart in
 * the input, the first at `first`. */
static void slice_runs(const bp_op_args *a, size_t *outer, size_t *run, size_t *step,
                       size_t *first)
{
    const bp_shape in = *a->in_shape[0];
    const size_t axis = (size_t)a->attr[0];
    const size_t inner = dims_product(&in, axis + 1, in.rank);

    *outer = dims_product(&in, 0, axis);
    *run = (size_t)a->attr[2] * inner;
    *step = in.dim[axis] * inner;
    *first = (size_t)a->attr[1] * inner;
}

static bp_status slice_forward(bp_op_args *a)
{
    size_t outer, run, step, first;

    slice_runs(a, &outer, &run, &step, &first);
    for (size_t o = 0; o < outer; o++)
        memcpy(a->out->data + o * run, a->in[0]->data + o * step + first, run * sizeof(double));
    return BP_OK;
}

/* dX[slice] += dY: scattered back into the slice's place */
static bp_status slice_backward(bp_op_args *a)
{
    size_t outer, run, step, first;

    if (!a->din[0])
        return BP_OK;
    slice_runs(a, &outer, &run, &step, &first);
    for (size_t o = 0; o < outer; o++) {
        double *dx = a->din[0]->data + o * step + first;
        const double *dy = a->dout->data + o * run;
        for (size_t k = 0; k < run; k++)
            dx[k] += dy[k];
    }
    return BP_OK;
}

static const double slice_check_attr[] = {
    0, 1, 1,   /* one row from the second */
    1, 0, 2,   /* the first two columns */
    1, 1, 1,
    2, 1, 2,   /* along a third axis */
};

const bp_op bpi_op_slice = {
    .name = "slice", .doc = "length entries of a along axis from start on", .n_in = 1, .n_attr = 3,
    .shape = slice_shape, .forward = slice_forward, .backward = slice_backward,
    .flags = BP_OP_TENSORS | BP_OP_BWD_NO_OUT,
    .domain = {{.kind = BP_DOMAIN_REAL}}, .linear = 1u,
    .check_attr = slice_check_attr, .n_check_attr = sizeof slice_check_attr / (3 * sizeof(double)),
};

bp_node *bp_slice(bp_graph *g, bp_node *a, size_t axis, size_t start, size_t length)
{
    const double attr[3] = {(double)axis, (double)start, (double)length};
    return bpi_apply1(g, &bpi_op_slice, a, attr);
}

/* ---- concat ---- */

/* attr: axis.  a and b have one rank and equal dims but on axis. */
static bp_status concat_shape(bp_op_args *a)
{
    const bp_shape x = *a->in_shape[0], y = *a->in_shape[1];
    const double axis = a->attr[0];
    char xs[BPI_SHAPE_STR], ys[BPI_SHAPE_STR];
    bp_shape s = x;
    int same = x.rank == y.rank;

    bpi_shape_str(&x, xs, sizeof xs);
    bpi_shape_str(&y, ys, sizeof ys);
    if (!is_int_in(axis, 0.0, (double)x.rank - 1))
        return bp_op_fail(a, BP_EDIM, "axis %g is not one of %s's", axis, xs);
    for (size_t i = 0; same && i < x.rank; i++)
        same = i == (size_t)axis || x.dim[i] == y.dim[i];
    if (!same)
        return bp_op_fail(a, BP_EDIM, "shapes %s and %s differ outside axis %g", xs, ys, axis);
    s.dim[(size_t)axis] += y.dim[(size_t)axis];
    *a->out_shape = s;
    return BP_OK;
}

/* Both inputs as `outer` runs, of x_run and y_run doubles, taken in turn
 * along the output. */
static void concat_runs(const bp_op_args *a, size_t *outer, size_t *x_run, size_t *y_run)
{
    const bp_shape x = *a->in_shape[0], y = *a->in_shape[1];
    const size_t axis = (size_t)a->attr[0];
    const size_t inner = dims_product(&x, axis + 1, x.rank);

    *outer = dims_product(&x, 0, axis);
    *x_run = x.dim[axis] * inner;
    *y_run = y.dim[axis] * inner;
}

static bp_status concat_forward(bp_op_args *a)
{
    size_t outer, xr, yr;

    concat_runs(a, &outer, &xr, &yr);
    for (size_t o = 0; o < outer; o++) {
        double *out = a->out->data + o * (xr + yr);
        memcpy(out, a->in[0]->data + o * xr, xr * sizeof(double));
        memcpy(out + xr, a->in[1]->data + o * yr, yr * sizeof(double));
    }
    return BP_OK;
}

/* dX += dY's part from X, dZ += dY's part from Z */
static bp_status concat_backward(bp_op_args *a)
{
    size_t outer, run[2];

    concat_runs(a, &outer, &run[0], &run[1]);
    for (size_t i = 0; i < 2; i++) {
        if (!a->din[i])
            continue;
        for (size_t o = 0; o < outer; o++) {
            const double *dy = a->dout->data + o * (run[0] + run[1]) + (i ? run[0] : 0);
            double *dx = a->din[i]->data + o * run[i];
            for (size_t k = 0; k < run[i]; k++)
                dx[k] += dy[k];
        }
    }
    return BP_OK;
}

static const double concat_check_attr[] = {0, 1, 2};

const bp_op bpi_op_concat = {
    .name = "concat", .doc = "a and b joined along axis (equal dims elsewhere)", .n_in = 2, .n_attr = 1,
    .shape = concat_shape, .forward = concat_forward, .backward = concat_backward,
    .flags = BP_OP_TENSORS | BP_OP_BWD_NO_OUT,
    .domain = {{.kind = BP_DOMAIN_REAL}, {.kind = BP_DOMAIN_REAL}}, .linear = 3u,
    .check_attr = concat_check_attr, .n_check_attr = sizeof concat_check_attr / sizeof(double),
};
