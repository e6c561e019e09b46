/* SPDX-License-Identifier: MIT */
/* The ops layer's private interface: the built-in op declarations and the
 * helpers that several op families share (kernels.c).  Op files include
 * this, never each other. */
#ifndef BP_KERNELS_H
#define BP_KERNELS_H

#include "bp_private.h"

/* Built-in op declarations, one per line of ops.def. */
#define BP_OP(name) extern const bp_op bpi_op_##name;
#include "ops.def"
#undef BP_OP

/* The shape rule of ops whose output has their first input's shape. */
bp_status bpi_same_shape(bp_op_args *a);

/* dst (cols×rows) = srcᵀ, src rows×cols, both dense row-major: also the
 * conversion between row-major and column-major storage. */
void bpi_transpose_into(const double *src, size_t rows, size_t cols, double *dst);

/* For the shape() of a BP_OP_TENSORS op: input i's shape, in_shape[i], or
 * where a caller gives matrices only (the checker's probe of which shapes
 * an op accepts) the matrix view, rows x cols, in *tmp. */
const bp_shape *bpi_in_shape(const bp_op_args *a, size_t i, bp_shape *tmp);

/* Sets the output's shape to s: *out_shape, or out->rows/cols, its matrix
 * view, for a caller that gives no out_shape. */
void bpi_set_out_shape(bp_op_args *a, const bp_shape *s);

/* An axis of a tensor, as the three factors of its element count: the
 * dims before it (outer), its own (n) and the dims after it (inner), so
 * element (o, k, i) sits at (o·n + k)·inner + i.  A matrix's rows are the
 * lines {rows, cols, 1}; its columns {1, rows, cols}. */
typedef struct bpi_axis {
    size_t outer, n, inner;
} bpi_axis;

/* Reads the attribute v as an axis of a->in_shape[0] (negative counts from
 * the end) into *axis and *split; BP_EDIM naming the shape when v is not an
 * integer in [−rank, rank). */
bp_status bpi_axis_of(bp_op_args *a, double v, size_t *axis, bpi_axis *split);

/* Softmax of x along ax into s (outer·n·inner doubles); when not NULL,
 * also each line's max into max and log Σ e^(x − max) into logsum (outer·inner
 * doubles each, indexed o·inner + i), so that log softmax = (x − max) −
 * logsum without the cancellation of x − (max + logsum). */
void bpi_softmax_along(const double *x, bpi_axis ax, double *s, double *max, double *logsum);

/* The index k of the first largest of x[0], x[stride], ..., x[(n−1)·stride]
 * (n ≥ 1), or of its first NaN: a max over a line holding a NaN is NaN. */
size_t bpi_argmax(const double *x, size_t n, size_t stride);

#endif
