/* SPDX-License-Identifier: MIT */
/* Elementwise ops on tensors of any rank: binary with numpy's broadcasting
 * (add, sub, mul, div) and unary (neg, scale, exp, log, pow, sqrt, relu,
 * sigmoid, tanh, gelu). */
#include "kernels.h"

#include <math.h>
#include <string.h>

/* numpy's broadcasting, up to rank BP_MAX_RANK (kernels.c). */
static bp_status broadcast_shape(bp_op_args *a)
{
    char xs[BPI_SHAPE_STR], ys[BPI_SHAPE_STR];
    const bp_shape *x = a->in_shape[0], *y = a->in_shape[1];

    if (!bpi_broadcast_shape(x, y, a->out_shape))
        return bp_op_fail(a, BP_EDIM, "shapes %s and %s do not broadcast",
                          bpi_shape_str(x, xs, sizeof xs), bpi_shape_str(y, ys, sizeof ys));
    return BP_OK;
}

/* Operands of rank 1 or 2 broadcast as their matrix views do (a rank-1
 * operand is a 1×n row), so they take the 2-D loop below; higher ranks
 * take bpi_broadcast_rows. */
static int matrix_operands(const bp_op_args *a)
{
    return a->in_shape[0]->rank <= 2 && a->in_shape[1]->rank <= 2;
}

/*
 * Walks the output with each operand's row and column strides (0 along a
 * broadcast dimension, so one element repeats).  In backward the same
 * strides make "+=" sum the gradient over the repeated elements: the
 * reduction to the input's shape (the lesson's reshape_grad) is the loop
 * itself.  Names inside: x, y operands, z output, g output gradient.
 */
#define BROADCAST_LOOP(a, ...)                                                 \
    do {                                                                       \
        const bp_matrix *X_ = (a)->in[0], *Y_ = (a)->in[1];                    \
        const size_t m_ = (a)->out->rows, n_ = (a)->out->cols;                 \
        const size_t xr_ = X_->rows == 1 ? 0 : X_->cols;                       \
        const size_t xc_ = X_->cols == 1 ? 0 : 1;                              \
        const size_t yr_ = Y_->rows == 1 ? 0 : Y_->cols;                       \
        const size_t yc_ = Y_->cols == 1 ? 0 : 1;                              \
        for (size_t i_ = 0; i_ < m_; i_++) {                                   \
            for (size_t j_ = 0; j_ < n_; j_++) {                               \
                const size_t ix = i_ * xr_ + j_ * xc_;                         \
                const size_t iy = i_ * yr_ + j_ * yc_;                         \
                const size_t iz = i_ * n_ + j_;                                \
                __VA_ARGS__;                                                      \
            }                                                                  \
        }                                                                      \
    } while (0)

/* Whether backward may assign din[i]: it is fresh and, not being
 * broadcast (as many elements as the output), each of its elements is
 * visited exactly once.  A fresh broadcast operand is zeroed here and then
 * summed into as usual. */
static int fresh_full(bp_op_args *a, unsigned i)
{
    bp_matrix *d = a->din[i];

    if (!d || !((a->din_fresh >> i) & 1u))
        return 0;
    if (d->rows * d->cols == a->out->rows * a->out->cols)
        return 1;
    memset(d->data, 0, d->rows * d->cols * sizeof(double));
    return 0;
}

/* What a row of bpi_broadcast_rows needs besides offsets: the node's
 * args, and in backward whether each gradient is assigned (fresh_full). */
struct binary_ctx {
    const bp_op_args *a;
    int fx, fy;
};

/* Runs the body for one run of bpi_broadcast_rows, with ix, iy, iz
 * advanced per element as BROADCAST_LOOP names them. */
#define BROADCAST_ROW(...)                                                     \
    for (size_t k_ = 0; k_ < n; k_++, ix += sx, iy += sy, iz++) {              \
        __VA_ARGS__;                                                           \
    }

/* One element of a binary op's forward, z = FWD, and of its backward,
 * dx += DX and dy += DY (assigned instead when fx, fy), at ix, iy, iz. */
#define FORWARD_STEP(FWD)                                                      \
    {                                                                          \
        const double x = xd[ix], y = yd[iy];                                   \
        zd[iz] = (FWD);                                                        \
    }
#define BACKWARD_STEP(DX, DY)                                                  \
    {                                                                          \
        const double x = xd[ix], y = yd[iy], z = zd[iz], g = gd[iz];           \
        (void)x; (void)y; (void)z;                                             \
        if (dx) { if (fx) dx[ix] = (DX); else dx[ix] += (DX); }                \
        if (dy) { if (fy) dy[iy] = (DY); else dy[iy] += (DY); }                \
    }

/* The forward and backward of a binary op, NAME_forward and NAME_backward:
 * z = FWD; dx += DX; dy += DY, written in x, y, z and g (the gradient of z),
 * DX and DY already including g.  The 2-D loop serves operands of rank ≤ 2,
 * the row functions NAME_forward_row and NAME_backward_row higher ranks.
 * The op itself is declared below, field by field. */
#define BINARY_KERNELS(NAME, FWD, DX, DY)                                      \
    static void NAME##_forward_row(void *ctx, size_t ix, size_t iy, size_t iz, \
                                   size_t sx, size_t sy, size_t n)             \
    {                                                                          \
        const bp_op_args *a = ((const struct binary_ctx *)ctx)->a;             \
        const double *xd = a->in[0]->data, *yd = a->in[1]->data;               \
        double *zd = a->out->data;                                             \
        BROADCAST_ROW(FORWARD_STEP(FWD))                                       \
    }                                                                          \
    static bp_status NAME##_forward(bp_op_args *a)                             \
    {                                                                          \
        const double *xd = a->in[0]->data, *yd = a->in[1]->data;               \
        double *zd = a->out->data;                                             \
        struct binary_ctx c = {a, 0, 0};                                       \
        if (!matrix_operands(a)) {                                             \
            bpi_broadcast_rows(a->in_shape[0], a->in_shape[1], a->out_shape,   \
                               NAME##_forward_row, &c);                        \
            return BP_OK;                                                      \
        }                                                                      \
        BROADCAST_LOOP(a, FORWARD_STEP(FWD));                                  \
        return BP_OK;                                                          \
    }                                                                          \
    static void NAME##_backward_row(void *ctx, size_t ix, size_t iy, size_t iz,\
                                    size_t sx, size_t sy, size_t n)            \
    {                                                                          \
        const struct binary_ctx *c = ctx;                                      \
        const bp_op_args *a = c->a;                                            \
        const double *xd = a->in[0]->data, *yd = a->in[1]->data;               \
        const double *zd = a->out->data, *gd = a->dout->data;                  \
        double *dx = a->din[0] ? a->din[0]->data : NULL;                       \
        double *dy = a->din[1] ? a->din[1]->data : NULL;                       \
        const int fx = c->fx, fy = c->fy;                                      \
        BROADCAST_ROW(BACKWARD_STEP(DX, DY))                                   \
    }                                                                          \
    static bp_status NAME##_backward(bp_op_args *a)                            \
    {                                                                          \
        const double *xd = a->in[0]->data, *yd = a->in[1]->data;               \
        const double *zd = a->out->data, *gd = a->dout->data;                  \
        double *dx = a->din[0] ? a->din[0]->data : NULL;                       \
        double *dy = a->din[1] ? a->din[1]->data : NULL;                       \
        const int fx = fresh_full(a, 0), fy = fresh_full(a, 1);                \
        if (!matrix_operands(a)) {                                             \
            struct binary_ctx c = {a, fx, fy};                                 \
            bpi_broadcast_rows(a->in_shape[0], a->in_shape[1], a->out_shape,   \
                               NAME##_backward_row, &c);                       \
            return BP_OK;                                                      \
        }                                                                      \
        BROADCAST_LOOP(a, BACKWARD_STEP(DX, DY));                              \
        return BP_OK;                                                          \
    }

#define REAL {.kind = BP_DOMAIN_REAL}
#define KINK_AT_ZERO {.kind = BP_DOMAIN_REAL, .kinks = BP_KINK_AT, .kink = 0.0}

BINARY_KERNELS(add, x + y, g, g)
const bp_op bpi_op_add = {
    .name = "add", .doc = "a + b, any rank, broadcasting", .n_in = 2,
    .shape = broadcast_shape, .forward = add_forward, .backward = add_backward,
    .flags = BP_OP_TENSORS | BP_OP_ASSIGN_FRESH | BP_OP_BWD_NO_OUT, .linear = 3u,
    .domain = {REAL, REAL},
};

BINARY_KERNELS(sub, x - y, g, -g)
const bp_op bpi_op_sub = {
    .name = "sub", .doc = "a − b, any rank, broadcasting", .n_in = 2,
    .shape = broadcast_shape, .forward = sub_forward, .backward = sub_backward,
    .flags = BP_OP_TENSORS | BP_OP_ASSIGN_FRESH | BP_OP_BWD_NO_OUT, .linear = 3u,
    .domain = {REAL, REAL},
};

/* linear in each operand alone (bit i: affine in input i, the other fixed) */
BINARY_KERNELS(mul, x * y, g * y, g * x)
const bp_op bpi_op_mul = {
    .name = "mul", .doc = "a ⊙ b, any rank, broadcasting", .n_in = 2,
    .shape = broadcast_shape, .forward = mul_forward, .backward = mul_backward,
    .flags = BP_OP_TENSORS | BP_OP_ASSIGN_FRESH | BP_OP_BWD_NO_OUT, .linear = 3u,
    .domain = {REAL, REAL},
};

BINARY_KERNELS(div, x / y, g / y, -g * z / y)
const bp_op bpi_op_div = {
    .name = "div", .doc = "a ⊘ b, any rank, broadcasting", .n_in = 2,
    .shape = broadcast_shape, .forward = div_forward, .backward = div_backward,
    .flags = BP_OP_TENSORS | BP_OP_ASSIGN_FRESH, .linear = 1u,
    .domain = {REAL, {.kind = BP_DOMAIN_NONZERO}},
};

bp_node *bp_add(bp_graph *g, bp_node *a, bp_node *b)
{
    return bpi_apply2(g, &bpi_op_add, a, b);
}

bp_node *bp_sub(bp_graph *g, bp_node *a, bp_node *b)
{
    return bpi_apply2(g, &bpi_op_sub, a, b);
}

bp_node *bp_mul(bp_graph *g, bp_node *a, bp_node *b)
{
    return bpi_apply2(g, &bpi_op_mul, a, b);
}

bp_node *bp_div(bp_graph *g, bp_node *a, bp_node *b)
{
    return bpi_apply2(g, &bpi_op_div, a, b);
}

/* The forward and backward of a unary op, NAME_forward and NAME_backward:
 * y = FWD; dx += DX, written in x, y, g (the gradient of y) and c (the
 * constant C), DX already including g.  An op flagged BP_OP_INPLACE must not
 * read x in DX: in place, x is y.  Backward assigns when din is fresh
 * (BP_OP_ASSIGN_FRESH). */
#define UNARY_KERNELS_C(NAME, C, FWD, DX)                                      \
    static bp_status NAME##_forward(bp_op_args *a)                             \
    {                                                                          \
        const double *xd = a->in[0]->data;                                     \
        double *yd = a->out->data;                                             \
        const double c = (C);                                                  \
        const size_t len = a->out->rows * a->out->cols;                        \
        (void)c;                                                               \
        for (size_t k = 0; k < len; k++) {                                     \
            const double x = xd[k];                                            \
            yd[k] = (FWD);                                                     \
        }                                                                      \
        return BP_OK;                                                          \
    }                                                                          \
    static bp_status NAME##_backward(bp_op_args *a)                            \
    {                                                                          \
        const double *xd = a->in[0]->data, *yd = a->out->data;                 \
        const double *gd = a->dout->data;                                      \
        const double c = (C);                                                  \
        const size_t len = a->out->rows * a->out->cols;                        \
        double *dx = a->din[0] ? a->din[0]->data : NULL;                       \
        (void)c;                                                               \
        if (dx && (a->din_fresh & 1u))                                         \
            for (size_t k = 0; k < len; k++) {                                 \
                const double x = xd[k], y = yd[k], g = gd[k];                  \
                (void)x; (void)y;                                              \
                dx[k] = (DX);                                                  \
            }                                                                  \
        else if (dx)                                                           \
            for (size_t k = 0; k < len; k++) {                                 \
                const double x = xd[k], y = yd[k], g = gd[k];                  \
                (void)x; (void)y;                                              \
                dx[k] += (DX);                                                 \
            }                                                                  \
        return BP_OK;                                                          \
    }

/* A unary op without attributes, and one whose c is its attribute. */
#define UNARY_KERNELS(NAME, FWD, DX) UNARY_KERNELS_C(NAME, 0.0, FWD, DX)
#define UNARY_ATTR_KERNELS(NAME, FWD, DX) UNARY_KERNELS_C(NAME, a->attr[0], FWD, DX)

UNARY_KERNELS(neg, -x, -g)
const bp_op bpi_op_neg = {
    .name = "neg", .doc = "−a, any rank", .n_in = 1,
    .shape = bpi_same_shape, .forward = neg_forward, .backward = neg_backward,
    .flags = BP_OP_TENSORS | BP_OP_ASSIGN_FRESH | BP_OP_INPLACE | BP_OP_BWD_NO_OUT, .linear = 1u,
    .domain = {REAL},
};

UNARY_ATTR_KERNELS(scale, c * x, c * g)
const bp_op bpi_op_scale = {
    .name = "scale", .doc = "c·a for a constant c, any rank", .n_in = 1, .n_attr = 1,
    .shape = bpi_same_shape, .forward = scale_forward, .backward = scale_backward,
    .flags = BP_OP_TENSORS | BP_OP_ASSIGN_FRESH | BP_OP_INPLACE | BP_OP_BWD_NO_OUT, .linear = 1u,
    .domain = {REAL},
    .check_attr = (const double[]){2.385, -0.5}, .n_check_attr = 2,
};

UNARY_KERNELS(exp, exp(x), g * y)
const bp_op bpi_op_exp = {
    .name = "exp", .doc = "e^a, any rank", .n_in = 1,
    .shape = bpi_same_shape, .forward = exp_forward, .backward = exp_backward,
    .flags = BP_OP_TENSORS | BP_OP_ASSIGN_FRESH | BP_OP_INPLACE,
    /* e^a overflows past 709, so the checker samples |a| up to 100 only */
    .domain = {{.kind = BP_DOMAIN_REAL, .max_abs = 100.0}},
};

UNARY_KERNELS(log, log(x), g / x)
const bp_op bpi_op_log = {
    .name = "log", .doc = "natural log, a > 0, any rank", .n_in = 1,
    .shape = bpi_same_shape, .forward = log_forward, .backward = log_backward,
    .flags = BP_OP_TENSORS | BP_OP_ASSIGN_FRESH | BP_OP_BWD_NO_OUT,
    .domain = {{.kind = BP_DOMAIN_POSITIVE}},
};

/* d/dx x^0 = 0 everywhere, also at x = 0 where c·x^(c−1) would be 0·∞. */
UNARY_ATTR_KERNELS(pow, pow(x, c), c == 0.0 ? 0.0 : g * c * pow(x, c - 1.0))
const bp_op bpi_op_pow = {
    .name = "pow", .doc = "a^p for a constant p, a > 0 (any a for integer p), any rank",
    .n_in = 1, .n_attr = 1,
    .shape = bpi_same_shape, .forward = pow_forward, .backward = pow_backward,
    .flags = BP_OP_TENSORS | BP_OP_ASSIGN_FRESH | BP_OP_BWD_NO_OUT,
    .domain = {{.kind = BP_DOMAIN_POSITIVE}},
    .check_attr = (const double[]){-1.0, 2.0, 0.5, 3.7}, .n_check_attr = 4,
};

UNARY_KERNELS(sqrt, sqrt(x), g * 0.5 / y)
const bp_op bpi_op_sqrt = {
    .name = "sqrt", .doc = "√a, a > 0, any rank", .n_in = 1,
    .shape = bpi_same_shape, .forward = sqrt_forward, .backward = sqrt_backward,
    .flags = BP_OP_TENSORS | BP_OP_ASSIGN_FRESH | BP_OP_INPLACE,
    .domain = {{.kind = BP_DOMAIN_POSITIVE}},
};

UNARY_KERNELS(relu, x > 0.0 ? x : 0.0, y > 0.0 ? g : 0.0)
const bp_op bpi_op_relu = {
    .name = "relu", .doc = "max(a, 0), any rank; gradient 0 at a = 0", .n_in = 1,
    .shape = bpi_same_shape, .forward = relu_forward, .backward = relu_backward,
    .flags = BP_OP_TENSORS | BP_OP_ASSIGN_FRESH | BP_OP_INPLACE,
    .domain = {KINK_AT_ZERO},
};

/* The slopes of sigmoid and tanh.  From the output, as y (1 − y) and
 * 1 − y², they are 0 once y rounds to 1 or ±1 (a > 37 for sigmoid, |a| >
 * 19 for tanh) and keep few correct digits well before, where the true
 * slopes are e^−|a| and 4 e^−2|a| within a factor 4.  So where y is near
 * 1 in size they come from the input, as e / (1 + e)², e = e^−|a|, and
 * 4 e / (1 + e)², e = e^−2|a| (exact to a few ulp, never overflowing);
 * elsewhere the output's formula is as exact (|y| < 0.9: relative error
 * under 1e-15) and needs no exp.  Reading the input, these two ops do not
 * run in place, whose input is gone by backward. */
static inline double sigmoid_slope(double x, double y)
{
    double e;

    if (y < 0.9)
        return y * (1.0 - y);
    e = exp(-fabs(x));
    return e / ((1.0 + e) * (1.0 + e));
}

static inline double tanh_slope(double x, double y)
{
    double e;

    if (fabs(y) < 0.9)
        return 1.0 - y * y;
    e = exp(-2.0 * fabs(x));
    return 4.0 * e / ((1.0 + e) * (1.0 + e));
}

UNARY_KERNELS(sigmoid, x >= 0.0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x)),
              g * sigmoid_slope(x, y))
const bp_op bpi_op_sigmoid = {
    .name = "sigmoid", .doc = "1 / (1 + e^−a), any rank", .n_in = 1,
    .shape = bpi_same_shape, .forward = sigmoid_forward, .backward = sigmoid_backward,
    .flags = BP_OP_TENSORS | BP_OP_ASSIGN_FRESH,
    .domain = {REAL},
};

UNARY_KERNELS(tanh, tanh(x), g * tanh_slope(x, y))
const bp_op bpi_op_tanh = {
    .name = "tanh", .doc = "tanh a, any rank", .n_in = 1,
    .shape = bpi_same_shape, .forward = tanh_forward, .backward = tanh_backward,
    .flags = BP_OP_TENSORS | BP_OP_ASSIGN_FRESH,
    .domain = {REAL},
};

/* gelu(x) = x·Φ(x), Φ the standard normal CDF, written with erfc so that
 * Φ of a very negative x keeps its digits (1 + erf would cancel them);
 * gelu'(x) = Φ(x) + x·φ(x), φ(x) = e^(−x²/2)/√(2π). */
#define GELU_SQRT1_2 0.70710678118654752440        /* 1/√2 */
#define GELU_RSQRT_2PI 0.39894228040143267794      /* 1/√(2π) */
#define GELU_CDF(x) (0.5 * erfc(-(x) * GELU_SQRT1_2))
#define GELU_PDF(x) (exp(-0.5 * (x) * (x)) * GELU_RSQRT_2PI)
UNARY_KERNELS(gelu, x * GELU_CDF(x), g * (GELU_CDF(x) + x * GELU_PDF(x)))
const bp_op bpi_op_gelu = {
    .name = "gelu", .doc = "a·Φ(a) = 0.5·a·(1 + erf(a/√2)), the exact GELU, any rank", .n_in = 1,
    .shape = bpi_same_shape, .forward = gelu_forward, .backward = gelu_backward,
    .flags = BP_OP_TENSORS | BP_OP_ASSIGN_FRESH | BP_OP_BWD_NO_OUT,
    .domain = {REAL},
};

bp_node *bp_neg(bp_graph *g, bp_node *a)
{
    return bpi_apply1(g, &bpi_op_neg, a, NULL);
}

bp_node *bp_scale(bp_graph *g, bp_node *a, double c)
{
    return bpi_apply1(g, &bpi_op_scale, a, &c);
}

bp_node *bp_exp(bp_graph *g, bp_node *a)
{
    return bpi_apply1(g, &bpi_op_exp, a, NULL);
}

bp_node *bp_log(bp_graph *g, bp_node *a)
{
    return bpi_apply1(g, &bpi_op_log, a, NULL);
}

bp_node *bp_pow(bp_graph *g, bp_node *a, double p)
{
    return bpi_apply1(g, &bpi_op_pow, a, &p);
}

bp_node *bp_sqrt(bp_graph *g, bp_node *a)
{
    return bpi_apply1(g, &bpi_op_sqrt, a, NULL);
}

bp_node *bp_relu(bp_graph *g, bp_node *a)
{
    return bpi_apply1(g, &bpi_op_relu, a, NULL);
}

bp_node *bp_sigmoid(bp_graph *g, bp_node *a)
{
    return bpi_apply1(g, &bpi_op_sigmoid, a, NULL);
}

bp_node *bp_tanh(bp_graph *g, bp_node *a)
{
    return bpi_apply1(g, &bpi_op_tanh, a, NULL);
}

bp_node *bp_gelu(bp_graph *g, bp_node *a)
{
    return bpi_apply1(g, &bpi_op_gelu, a, NULL);
}
