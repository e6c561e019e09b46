/* Elementwise ops: binary with 2-D broadcasting (add, sub, mul, div) and
 * unary (neg, scale, exp, log, pow, sqrt, relu, sigmoid, tanh). */
#include "kernels.h"

#include <math.h>
#include <string.h>

/* Two shapes broadcast when each dimension is equal or 1 in one operand;
 * the output takes the larger. */
static bp_status broadcast_shape(bp_op_args *a)
{
    const bp_matrix *x = a->in[0], *y = a->in[1];

    if ((x->rows != y->rows && x->rows != 1 && y->rows != 1) ||
        (x->cols != y->cols && x->cols != 1 && y->cols != 1))
        return bp_op_fail(a, BP_EDIM, "shapes do not broadcast (%zux%zu, %zux%zu)",
                          x->rows, x->cols, y->rows, y->cols);
    a->out->rows = x->rows == 1 ? y->rows : x->rows;
    a->out->cols = x->cols == 1 ? y->cols : x->cols;
    return BP_OK;
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
 * broadcast, each of its elements is visited exactly once.  A fresh
 * broadcast operand is zeroed here and then summed into as usual. */
static int fresh_full(bp_op_args *a, unsigned i)
{
    bp_matrix *d = a->din[i];

    if (!d || !((a->din_fresh >> i) & 1u))
        return 0;
    if (d->rows == a->out->rows && d->cols == a->out->cols)
        return 1;
    memset(d->data, 0, d->rows * d->cols * sizeof(double));
    return 0;
}

/* One binary op: z = FWD(x, y); dx += DX; dy += DY, where DX and DY are
 * written in x, y, z and g (the gradient of z) and already include g. */
#define BINARY_OP(NAME, DOC, LINEAR, FLAGS, DOM1, FWD, DX, DY)                        \
    static bp_status NAME##_forward(bp_op_args *a)                             \
    {                                                                          \
        const double *xd = a->in[0]->data, *yd = a->in[1]->data;               \
        double *zd = a->out->data;                                             \
        BROADCAST_LOOP(a, {                                                    \
            const double x = xd[ix], y = yd[iy];                               \
            zd[iz] = (FWD);                                                    \
        });                                                                    \
        return BP_OK;                                                          \
    }                                                                          \
    static bp_status NAME##_backward(bp_op_args *a)                            \
    {                                                                          \
        const double *xd = a->in[0]->data, *yd = a->in[1]->data;               \
        const double *zd = a->out->data, *gd = a->dout->data;                  \
        double *dx = a->din[0] ? a->din[0]->data : NULL;                       \
        double *dy = a->din[1] ? a->din[1]->data : NULL;                       \
        const int fx = fresh_full(a, 0), fy = fresh_full(a, 1);                \
        BROADCAST_LOOP(a, {                                                    \
            const double x = xd[ix], y = yd[iy], z = zd[iz], g = gd[iz];       \
            (void)x; (void)y; (void)z;                                         \
            if (dx) { if (fx) dx[ix] = (DX); else dx[ix] += (DX); }            \
            if (dy) { if (fy) dy[iy] = (DY); else dy[iy] += (DY); }            \
        });                                                                    \
        return BP_OK;                                                          \
    }                                                                          \
    const bp_op bpi_op_##NAME = {                                              \
        .name = #NAME, .doc = (DOC), .n_in = 2,                                \
        .shape = broadcast_shape, .forward = NAME##_forward,                   \
        .backward = NAME##_backward, .flags = BP_OP_ASSIGN_FRESH | (FLAGS),    \
        .linear = (LINEAR), .domain = {{.kind = BP_DOMAIN_REAL}, DOM1},        \
    };                                                                         \
    bp_node *bp_##NAME(bp_graph *g, bp_node *a, bp_node *b)                    \
    {                                                                          \
        return bpi_apply2(g, &bpi_op_##NAME, a, b);                            \
    }

BINARY_OP(add, "a + b, broadcasting", 3u, BP_OP_BWD_NO_OUT, {.kind = BP_DOMAIN_REAL},
          x + y, g, g)
BINARY_OP(sub, "a − b, broadcasting", 3u, BP_OP_BWD_NO_OUT, {.kind = BP_DOMAIN_REAL},
          x - y, g, -g)
BINARY_OP(mul, "a ⊙ b, broadcasting", 3u, BP_OP_BWD_NO_OUT, {.kind = BP_DOMAIN_REAL},
          x * y, g * y, g * x)
BINARY_OP(div, "a ⊘ b, broadcasting", 1u, 0u, {.kind = BP_DOMAIN_NONZERO},
          x / y, g / y, -g * z / y)

/* One unary op: y = FWD(x, c); dx += DX(x, y, g, c), c the attribute; DX
 * already includes g.  An op flagged BP_OP_INPLACE must not read x in DX:
 * in place, x is y. */
#define UNARY_OP(NAME, DOC, N_ATTR, CHECK_ATTR, N_CHECK, LINEAR, FLAGS, DOMAIN, FWD, DX) \
    static bp_status NAME##_forward(bp_op_args *a)                             \
    {                                                                          \
        const double *xd = a->in[0]->data;                                     \
        double *yd = a->out->data;                                             \
        const double c = (N_ATTR) ? a->attr[0] : 0.0;                          \
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
        const double c = (N_ATTR) ? a->attr[0] : 0.0;                          \
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
    }                                                                          \
    const bp_op bpi_op_##NAME = {                                              \
        .name = #NAME, .doc = (DOC), .n_in = 1, .n_attr = (N_ATTR),            \
        .shape = bpi_same_shape, .forward = NAME##_forward,                    \
        .backward = NAME##_backward, .flags = BP_OP_ASSIGN_FRESH | (FLAGS),    \
        .linear = (LINEAR), .domain = {DOMAIN},                                \
        .check_attr = (CHECK_ATTR), .n_check_attr = (N_CHECK),                 \
    };

#define REAL {.kind = BP_DOMAIN_REAL}
#define KINK_AT_ZERO {.kind = BP_DOMAIN_REAL, .kinks = BP_KINK_AT, .kink = 0.0}

UNARY_OP(neg, "−a", 0, NULL, 0, 1u, BP_OP_INPLACE | BP_OP_BWD_NO_OUT, REAL, -x, -g)
UNARY_OP(scale, "c·a for a constant c", 1, ((const double[]){2.385, -0.5}), 2,
         1u, BP_OP_INPLACE | BP_OP_BWD_NO_OUT, REAL, c * x, c * g)
UNARY_OP(exp, "e^a", 0, NULL, 0, 0u, BP_OP_INPLACE, REAL, exp(x), g * y)
UNARY_OP(log, "natural log, a > 0", 0, NULL, 0, 0u, BP_OP_BWD_NO_OUT, {.kind = BP_DOMAIN_POSITIVE},
         log(x), g / x)
/* d/dx x^0 = 0 everywhere, also at x = 0 where c·x^(c−1) would be 0·∞. */
UNARY_OP(pow, "a^p for a constant p, a > 0 (any a for integer p)", 1,
         ((const double[]){-1.0, 2.0, 0.5, 3.7}), 4, 0u, BP_OP_BWD_NO_OUT,
         {.kind = BP_DOMAIN_POSITIVE},
         pow(x, c), c == 0.0 ? 0.0 : g * c * pow(x, c - 1.0))
UNARY_OP(sqrt, "√a, a > 0", 0, NULL, 0, 0u, BP_OP_INPLACE, {.kind = BP_DOMAIN_POSITIVE},
         sqrt(x), g * 0.5 / y)
UNARY_OP(relu, "max(a, 0); gradient 0 at a = 0", 0, NULL, 0, 0u, BP_OP_INPLACE,
         KINK_AT_ZERO, x > 0.0 ? x : 0.0, y > 0.0 ? g : 0.0)
UNARY_OP(sigmoid, "1 / (1 + e^−a)", 0, NULL, 0, 0u, BP_OP_INPLACE, REAL,
         x >= 0.0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x)),
         g * y * (1.0 - y))
UNARY_OP(tanh, "tanh a", 0, NULL, 0, 0u, BP_OP_INPLACE, REAL, tanh(x), g * (1.0 - y * y))

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
