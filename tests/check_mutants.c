/* SPDX-License-Identifier: MIT */
/* A mutant corpus for the gradient checker: user ops written as a user
 * would write them, each correct, and for each a list of mutants that
 * differ from it by one deliberate bug (the `bug` being checked selects it
 * at its one site in the op's code).  Every correct op must pass and every
 * mutant must fail, on several seeds: a bug class the checker misses shows
 * up here first.  The classes: wrong sign, wrong factor, wrong formula,
 * transposed, overwrite instead of add, forgotten input gradient, wrong
 * element, wrong broadcast reduction, wrong only for large (or small)
 * magnitudes, wrong only at a tail branch, wrong fresh-gradient bit. */
#include "test_util.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

enum bug {
    NONE,
    TANH_SIGN, TANH_FACTOR, TANH_USES_X, TANH_OVERWRITE, TANH_FORGETS, TANH_FIRST_DOUT,
    SOFTPLUS_UPPER_TAIL, SOFTPLUS_LOWER_TAIL, SOFTPLUS_BEYOND_100, SOFTPLUS_MID_FACTOR,
    LOG_SQUARED, LOG_LARGE, LOG_SMALL,
    MUL_NO_REDUCE_X, MUL_REDUCE_OVERWRITE, MUL_DX_USES_X, MUL_DY_USES_Y, MUL_FORGETS_DY,
    MUL_DY_SIGN,
    SUB_DY_SIGN, SUB_NO_REDUCE_Y,
    MATMUL_DA_TRANSPOSED, MATMUL_DB_TRANSPOSED, MATMUL_DB_FACTOR, MATMUL_DA_OVERWRITE,
    MATMUL_FORGETS_DB,
    ROWSUM_WRONG_ROW, ROWSUM_OVERWRITE, ROWSUM_TIMES_COLS,
    ROWMAX_FIRST, ROWMAX_ALL,
    FRESH_BIT0_FOR_BOTH, FRESH_ALWAYS_ASSIGN, FRESH_INVERTED,
    MSE_NO_MEAN, MSE_DY_SIGN, MSE_FORGETS_DY,
    SIGMOID_NEGATIVE_BRANCH,
    POW_EXPONENT, POW_LARGE,
    EXP_PAST_20,
};

/* The mutant being checked (NONE: the correct ops).  Check forks a process
 * per test, and each test sets it before use. */
static enum bug bug;

static size_t n_of(const bp_matrix *m)
{
    return m->rows * m->cols;
}

static bp_status same_shape(bp_op_args *a)
{
    for (size_t i = 1; i < a->n_in; i++)
        if (a->in[i]->rows != a->in[0]->rows || a->in[i]->cols != a->in[0]->cols)
            return bp_op_fail(a, BP_EDIM, "shapes differ");
    a->out->rows = a->in[0]->rows;
    a->out->cols = a->in[0]->cols;
    return BP_OK;
}

/* dx += (or =, for an overwrite mutant) v */
static void put(double *dx, double v, int overwrite)
{
    if (overwrite)
        *dx = v;
    else
        *dx += v;
}

/* ---- tanh: y = tanh x, dx += g (1 − y²) ---- */

static bp_status tanh_forward(bp_op_args *a)
{
    for (size_t k = 0; k < n_of(a->out); k++)
        a->out->data[k] = tanh(a->in[0]->data[k]);
    return BP_OK;
}

static bp_status tanh_backward(bp_op_args *a)
{
    const double *x = a->in[0]->data, *y = a->out->data, *g = a->dout->data;

    if (!a->din[0] || bug == TANH_FORGETS)
        return BP_OK;
    for (size_t k = 0; k < n_of(a->out); k++) {
        double d = bug == TANH_USES_X ? 1.0 - x[k] * x[k] : 1.0 - y[k] * y[k];
        double gk = bug == TANH_FIRST_DOUT ? g[0] : g[k];
        if (bug == TANH_SIGN)
            d = -d;
        if (bug == TANH_FACTOR)
            d *= 2.0;
        put(&a->din[0]->data[k], gk * d, bug == TANH_OVERWRITE);
    }
    return BP_OK;
}

static const bp_op tanh_op = {
    .name = "tanh", .n_in = 1, .shape = same_shape, .forward = tanh_forward,
    .backward = tanh_backward,
};

/* ---- softplus in the overflow-guarded form: x past 40 is x, below −40
 *      e^x; dx += g·1, g·e^x, g·sigmoid(x) ---- */

static bp_status softplus_forward(bp_op_args *a)
{
    for (size_t k = 0; k < n_of(a->out); k++) {
        double x = a->in[0]->data[k];
        a->out->data[k] = x > 40.0 ? x : x < -40.0 ? exp(x) : log1p(exp(x));
    }
    return BP_OK;
}

static bp_status softplus_backward(bp_op_args *a)
{
    if (!a->din[0])
        return BP_OK;
    for (size_t k = 0; k < n_of(a->out); k++) {
        double x = a->in[0]->data[k], d;
        if (x > 40.0)
            d = bug == SOFTPLUS_UPPER_TAIL ? 0.0 : 1.0;
        else if (x < -40.0)
            d = bug == SOFTPLUS_LOWER_TAIL ? 1.0 : exp(x);
        else
            d = (bug == SOFTPLUS_MID_FACTOR ? 1.5 : 1.0) / (1.0 + exp(-x));
        if (bug == SOFTPLUS_BEYOND_100 && fabs(x) > 100.0)
            d *= 0.5;
        a->din[0]->data[k] += a->dout->data[k] * d;
    }
    return BP_OK;
}

static const bp_op softplus_op = {
    .name = "softplus", .n_in = 1, .shape = same_shape, .forward = softplus_forward,
    .backward = softplus_backward,
};

/* ---- log, x > 0: dx += g / x ---- */

static bp_status log_forward(bp_op_args *a)
{
    for (size_t k = 0; k < n_of(a->out); k++)
        a->out->data[k] = log(a->in[0]->data[k]);
    return BP_OK;
}

static bp_status log_backward(bp_op_args *a)
{
    if (!a->din[0])
        return BP_OK;
    for (size_t k = 0; k < n_of(a->out); k++) {
        double x = a->in[0]->data[k];
        double d = bug == LOG_SQUARED ? 1.0 / (x * x) : 1.0 / x;
        if (bug == LOG_LARGE && x > 100.0)
            d = 1.0 / 100.0;   /* a clamp that should not be there */
        if (bug == LOG_SMALL && x < 0.1)
            d = 10.0;
        a->din[0]->data[k] += a->dout->data[k] * d;
    }
    return BP_OK;
}

static const bp_op log_op = {
    .name = "log", .n_in = 1, .shape = same_shape, .forward = log_forward,
    .backward = log_backward, .domain = {{.kind = BP_DOMAIN_POSITIVE}},
};

/* ---- broadcasting binary ops: each dimension equal or 1 in one side ---- */

static bp_status broadcast_shape(bp_op_args *a)
{
    const bp_matrix *x = a->in[0], *y = a->in[1];
    if ((x->rows != y->rows && x->rows != 1 && y->rows != 1) ||
        (x->cols != y->cols && x->cols != 1 && y->cols != 1))
        return bp_op_fail(a, BP_EDIM, "cannot broadcast");
    a->out->rows = x->rows > y->rows ? x->rows : y->rows;
    a->out->cols = x->cols > y->cols ? x->cols : y->cols;
    return BP_OK;
}

/* The element of m that output (r, c) reads. */
static size_t at(const bp_matrix *m, size_t r, size_t c)
{
    return (m->rows == 1 ? 0 : r) * m->cols + (m->cols == 1 ? 0 : c);
}

/* Whether output (r, c) is the first copy of m's element along the
 * dimensions m is broadcast over. */
static int first_copy(const bp_matrix *m, size_t r, size_t c)
{
    return (m->rows > 1 || r == 0) && (m->cols > 1 || c == 0);
}

static bp_status mul_forward(bp_op_args *a)
{
    const bp_matrix *x = a->in[0], *y = a->in[1];
    for (size_t r = 0; r < a->out->rows; r++)
        for (size_t c = 0; c < a->out->cols; c++)
            a->out->data[r * a->out->cols + c] = x->data[at(x, r, c)] * y->data[at(y, r, c)];
    return BP_OK;
}

/* dX += reduce(G ⊙ Y), dY += reduce(G ⊙ X) over the broadcast dimensions */
static bp_status mul_backward(bp_op_args *a)
{
    const bp_matrix *x = a->in[0], *y = a->in[1];
    for (size_t r = 0; r < a->out->rows; r++)
        for (size_t c = 0; c < a->out->cols; c++) {
            double g = a->dout->data[r * a->out->cols + c];
            double xv = x->data[at(x, r, c)], yv = y->data[at(y, r, c)];
            if (a->din[0] && (bug != MUL_NO_REDUCE_X || first_copy(x, r, c)))
                put(&a->din[0]->data[at(x, r, c)], g * (bug == MUL_DX_USES_X ? xv : yv),
                    bug == MUL_REDUCE_OVERWRITE);
            if (a->din[1] && bug != MUL_FORGETS_DY)
                a->din[1]->data[at(y, r, c)] += (bug == MUL_DY_SIGN ? -g : g) *
                                                (bug == MUL_DY_USES_Y ? yv : xv);
        }
    return BP_OK;
}

static const bp_op mul_op = {
    .name = "mul", .n_in = 2, .shape = broadcast_shape, .forward = mul_forward,
    .backward = mul_backward,
};

static bp_status sub_forward(bp_op_args *a)
{
    const bp_matrix *x = a->in[0], *y = a->in[1];
    for (size_t r = 0; r < a->out->rows; r++)
        for (size_t c = 0; c < a->out->cols; c++)
            a->out->data[r * a->out->cols + c] = x->data[at(x, r, c)] - y->data[at(y, r, c)];
    return BP_OK;
}

/* dX += reduce(G), dY −= reduce(G) */
static bp_status sub_backward(bp_op_args *a)
{
    const bp_matrix *x = a->in[0], *y = a->in[1];
    for (size_t r = 0; r < a->out->rows; r++)
        for (size_t c = 0; c < a->out->cols; c++) {
            double g = a->dout->data[r * a->out->cols + c];
            if (a->din[0])
                a->din[0]->data[at(x, r, c)] += g;
            if (a->din[1] && (bug != SUB_NO_REDUCE_Y || first_copy(y, r, c)))
                a->din[1]->data[at(y, r, c)] += bug == SUB_DY_SIGN ? g : -g;
        }
    return BP_OK;
}

static const bp_op sub_op = {
    .name = "sub", .n_in = 2, .shape = broadcast_shape, .forward = sub_forward,
    .backward = sub_backward, .linear = 3u,
};

/* ---- matmul: A m×k, B k×n ---- */

static bp_status matmul_shape(bp_op_args *a)
{
    if (a->in[0]->cols != a->in[1]->rows)
        return bp_op_fail(a, BP_EDIM, "inner dimensions differ");
    a->out->rows = a->in[0]->rows;
    a->out->cols = a->in[1]->cols;
    return BP_OK;
}

static bp_status matmul_forward(bp_op_args *a)
{
    const bp_matrix *A = a->in[0], *B = a->in[1];
    const size_t m = A->rows, k = A->cols, n = B->cols;
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double s = 0.0;
            for (size_t p = 0; p < k; p++)
                s += A->data[i * k + p] * B->data[p * n + j];
            a->out->data[i * n + j] = s;
        }
    return BP_OK;
}

/* dA += G Bᵀ, dB += Aᵀ G */
static bp_status matmul_backward(bp_op_args *a)
{
    const bp_matrix *A = a->in[0], *B = a->in[1];
    const double *G = a->dout->data;
    const size_t m = A->rows, k = A->cols, n = B->cols;

    if (a->din[0])
        for (size_t i = 0; i < m; i++)
            for (size_t p = 0; p < k; p++) {
                double s = 0.0;
                for (size_t j = 0; j < n; j++)
                    s += G[i * n + j] * B->data[p * n + j];
                /* the transposed mutant lays dA out as k×m, as a wrong
                 * CblasTrans flag does */
                put(&a->din[0]->data[bug == MATMUL_DA_TRANSPOSED ? p * m + i : i * k + p], s,
                    bug == MATMUL_DA_OVERWRITE);
            }
    if (a->din[1] && bug != MATMUL_FORGETS_DB)
        for (size_t p = 0; p < k; p++)
            for (size_t j = 0; j < n; j++) {
                double s = 0.0;
                for (size_t i = 0; i < m; i++)
                    s += A->data[i * k + p] * G[i * n + j];
                if (bug == MATMUL_DB_FACTOR)
                    s *= 2.0;
                a->din[1]->data[bug == MATMUL_DB_TRANSPOSED ? j * k + p : p * n + j] += s;
            }
    return BP_OK;
}

static const bp_op matmul_op = {
    .name = "matmul", .n_in = 2, .shape = matmul_shape, .forward = matmul_forward,
    .backward = matmul_backward, .linear = 3u,
};

/* ---- rowsum: m×n → m×1, dx[i,j] += g[i] ---- */

static bp_status rowsum_shape(bp_op_args *a)
{
    a->out->rows = a->in[0]->rows;
    a->out->cols = 1;
    return BP_OK;
}

static bp_status rowsum_forward(bp_op_args *a)
{
    const bp_matrix *x = a->in[0];
    for (size_t i = 0; i < x->rows; i++) {
        double s = 0.0;
        for (size_t j = 0; j < x->cols; j++)
            s += x->data[i * x->cols + j];
        a->out->data[i] = s;
    }
    return BP_OK;
}

static bp_status rowsum_backward(bp_op_args *a)
{
    const bp_matrix *x = a->in[0];
    if (!a->din[0])
        return BP_OK;
    for (size_t i = 0; i < x->rows; i++)
        for (size_t j = 0; j < x->cols; j++) {
            double g = a->dout->data[bug == ROWSUM_WRONG_ROW ? (i + j) % x->rows : i];
            if (bug == ROWSUM_TIMES_COLS)
                g *= (double)x->cols;
            put(&a->din[0]->data[i * x->cols + j], g, bug == ROWSUM_OVERWRITE);
        }
    return BP_OK;
}

static const bp_op rowsum_op = {
    .name = "rowsum", .n_in = 1, .shape = rowsum_shape, .forward = rowsum_forward,
    .backward = rowsum_backward, .linear = 1u,
};

/* ---- rowmax: m×n → m×1, the gradient to each row's largest entry ---- */

static size_t row_argmax(const bp_matrix *x, size_t i)
{
    size_t best = 0;
    for (size_t j = 1; j < x->cols; j++)
        if (x->data[i * x->cols + j] > x->data[i * x->cols + best])
            best = j;
    return best;
}

static bp_status rowmax_forward(bp_op_args *a)
{
    for (size_t i = 0; i < a->in[0]->rows; i++)
        a->out->data[i] = a->in[0]->data[i * a->in[0]->cols + row_argmax(a->in[0], i)];
    return BP_OK;
}

static bp_status rowmax_backward(bp_op_args *a)
{
    const bp_matrix *x = a->in[0];
    if (!a->din[0])
        return BP_OK;
    for (size_t i = 0; i < x->rows; i++)
        for (size_t j = 0; j < x->cols; j++) {
            int to = bug == ROWMAX_ALL || j == (bug == ROWMAX_FIRST ? 0 : row_argmax(x, i));
            if (to)
                a->din[0]->data[i * x->cols + j] += a->dout->data[i];
        }
    return BP_OK;
}

static const bp_op rowmax_op = {
    .name = "rowmax", .n_in = 1, .shape = rowsum_shape, .forward = rowmax_forward,
    .backward = rowmax_backward,
    .domain = {{.kind = BP_DOMAIN_REAL, .kinks = BP_KINK_TIES}},
};

/* ---- x ⊙ y assigning fresh gradients (BP_OP_ASSIGN_FRESH) ---- */

static bp_status emul_forward(bp_op_args *a)
{
    for (size_t k = 0; k < n_of(a->out); k++)
        a->out->data[k] = a->in[0]->data[k] * a->in[1]->data[k];
    return BP_OK;
}

/* Whether din[i] is to be assigned rather than added to. */
static int assigns(const bp_op_args *a, unsigned i)
{
    switch (bug) {
    case FRESH_BIT0_FOR_BOTH: return (a->din_fresh & 1u) != 0;
    case FRESH_ALWAYS_ASSIGN: return 1;
    case FRESH_INVERTED: return (a->din_fresh & (1u << i)) == 0;
    default: return (a->din_fresh & (1u << i)) != 0;
    }
}

/* dX = or += G ⊙ Y, dY = or += G ⊙ X */
static bp_status emul_backward(bp_op_args *a)
{
    for (unsigned i = 0; i < 2; i++)
        if (a->din[i])
            for (size_t k = 0; k < n_of(a->out); k++)
                put(&a->din[i]->data[k], a->dout->data[k] * a->in[1 - i]->data[k],
                    assigns(a, i));
    return BP_OK;
}

static const bp_op emul_op = {
    .name = "emul_fresh", .n_in = 2, .shape = same_shape, .forward = emul_forward,
    .backward = emul_backward, .flags = BP_OP_ASSIGN_FRESH,
};

/* ---- mse: Σ (x − y)² / N, 1×1 ---- */

static bp_status loss_shape(bp_op_args *a)
{
    bp_status st = same_shape(a);
    a->out->rows = a->out->cols = 1;
    return st;
}

static bp_status mse_forward(bp_op_args *a)
{
    double s = 0.0;
    for (size_t k = 0; k < n_of(a->in[0]); k++) {
        double d = a->in[0]->data[k] - a->in[1]->data[k];
        s += d * d;
    }
    a->out->data[0] = s / (double)n_of(a->in[0]);
    return BP_OK;
}

/* dX += g · 2 (X − Y) / N, dY −= the same */
static bp_status mse_backward(bp_op_args *a)
{
    const double n = (double)n_of(a->in[0]), g = a->dout->data[0];
    for (size_t k = 0; k < n_of(a->in[0]); k++) {
        double d = 2.0 * g * (a->in[0]->data[k] - a->in[1]->data[k]);
        if (a->din[0])
            a->din[0]->data[k] += bug == MSE_NO_MEAN ? d : d / n;
        if (a->din[1] && bug != MSE_FORGETS_DY)
            a->din[1]->data[k] += bug == MSE_DY_SIGN ? d / n : -d / n;
    }
    return BP_OK;
}

static const bp_op mse_op = {
    .name = "mse", .n_in = 2, .shape = loss_shape, .forward = mse_forward,
    .backward = mse_backward,
};

/* ---- sigmoid, two branches for stability: dx += g y (1 − y) ---- */

static bp_status sigmoid_forward(bp_op_args *a)
{
    for (size_t k = 0; k < n_of(a->out); k++) {
        double x = a->in[0]->data[k];
        a->out->data[k] = x >= 0.0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
    }
    return BP_OK;
}

static bp_status sigmoid_backward(bp_op_args *a)
{
    if (!a->din[0])
        return BP_OK;
    for (size_t k = 0; k < n_of(a->out); k++) {
        double x = a->in[0]->data[k], y = a->out->data[k];
        /* the mutant forgets the (1 − y) factor on the negative branch */
        double d = bug == SIGMOID_NEGATIVE_BRANCH && x < -1.0 ? y : y * (1.0 - y);
        a->din[0]->data[k] += a->dout->data[k] * d;
    }
    return BP_OK;
}

static const bp_op sigmoid_op = {
    .name = "sigmoid", .n_in = 1, .shape = same_shape, .forward = sigmoid_forward,
    .backward = sigmoid_backward,
};

/* ---- x^c for x > 0, c an attribute: dx += g c x^(c−1) ---- */

static const double pow_attrs[] = {2.385, -0.5};

static bp_status pow_forward(bp_op_args *a)
{
    for (size_t k = 0; k < n_of(a->out); k++)
        a->out->data[k] = pow(a->in[0]->data[k], a->attr[0]);
    return BP_OK;
}

static bp_status pow_backward(bp_op_args *a)
{
    const double c = a->attr[0];
    if (!a->din[0])
        return BP_OK;
    for (size_t k = 0; k < n_of(a->out); k++) {
        double x = a->in[0]->data[k];
        double d = c * pow(x, bug == POW_EXPONENT ? c : c - 1.0);
        if (bug == POW_LARGE && x > 100.0)
            d *= 1.01;
        a->din[0]->data[k] += a->dout->data[k] * d;
    }
    return BP_OK;
}

static const bp_op pow_op = {
    .name = "pow", .n_in = 1, .n_attr = 1, .shape = same_shape, .forward = pow_forward,
    .backward = pow_backward, .domain = {{.kind = BP_DOMAIN_POSITIVE}},
    .check_attr = pow_attrs, .n_check_attr = 2,
};

/* ---- e^x, sampled up to |x| = 50 (declared): dx += g y ---- */

static bp_status exp_forward(bp_op_args *a)
{
    for (size_t k = 0; k < n_of(a->out); k++)
        a->out->data[k] = exp(a->in[0]->data[k]);
    return BP_OK;
}

static bp_status exp_backward(bp_op_args *a)
{
    if (!a->din[0])
        return BP_OK;
    for (size_t k = 0; k < n_of(a->out); k++) {
        double d = a->out->data[k];
        if (bug == EXP_PAST_20 && a->in[0]->data[k] > 20.0)
            d *= 0.5;
        a->din[0]->data[k] += a->dout->data[k] * d;
    }
    return BP_OK;
}

static const bp_op exp_op = {
    .name = "exp", .n_in = 1, .shape = same_shape, .forward = exp_forward,
    .backward = exp_backward, .domain = {{.kind = BP_DOMAIN_REAL, .max_abs = 50.0}},
};

/* ---- the corpus ---- */

static const bp_op *const correct_ops[] = {
    &tanh_op, &softplus_op, &log_op, &mul_op, &sub_op, &matmul_op, &rowsum_op,
    &rowmax_op, &emul_op, &mse_op, &sigmoid_op, &pow_op, &exp_op,
};
#define N_CORRECT (sizeof correct_ops / sizeof correct_ops[0])

static const struct mutant {
    enum bug bug;
    const bp_op *op;
    const char *what;
    const char *reading;   /* what the diagnosis must say, or NULL */
} mutants[] = {
    {TANH_SIGN, &tanh_op, "sign flipped", "sign flipped"},
    {TANH_FACTOR, &tanh_op, "factor 2", "constant factor (analytic ≈ 2 × numeric)"},
    {TANH_USES_X, &tanh_op, "1 − x² for 1 − y²", NULL},
    {TANH_OVERWRITE, &tanh_op, "assigns instead of adding", "overwrites"},
    {TANH_FORGETS, &tanh_op, "no gradient at all", "zero gradient"},
    {TANH_FIRST_DOUT, &tanh_op, "reads dout[0] for every element", NULL},
    {SOFTPLUS_UPPER_TAIL, &softplus_op, "derivative 0 past x = 40 (tail branch)", NULL},
    {SOFTPLUS_LOWER_TAIL, &softplus_op, "derivative 1 below x = −40 (tail branch)", NULL},
    {SOFTPLUS_BEYOND_100, &softplus_op, "halved beyond |x| = 100", NULL},
    {SOFTPLUS_MID_FACTOR, &softplus_op, "factor 1.5 in the middle branch", NULL},
    {LOG_SQUARED, &log_op, "1/x² for 1/x", NULL},
    {LOG_LARGE, &log_op, "clamped past x = 100 (large magnitudes)", NULL},
    {LOG_SMALL, &log_op, "clamped below x = 0.1 (small magnitudes)", NULL},
    {MUL_NO_REDUCE_X, &mul_op, "in0's broadcast copies not summed", NULL},
    {MUL_REDUCE_OVERWRITE, &mul_op, "in0 reduced by assignment", NULL},
    {MUL_DX_USES_X, &mul_op, "dX from X, not Y", NULL},
    {MUL_DY_USES_Y, &mul_op, "dY from Y, not X", NULL},
    {MUL_FORGETS_DY, &mul_op, "forgets in1's gradient", "in1: zero gradient"},
    {MUL_DY_SIGN, &mul_op, "in1's sign flipped", "in1: sign flipped"},
    {SUB_DY_SIGN, &sub_op, "in1's sign flipped", "in1: sign flipped"},
    {SUB_NO_REDUCE_Y, &sub_op, "in1's broadcast copies not summed", NULL},
    {MATMUL_DA_TRANSPOSED, &matmul_op, "dA laid out transposed", "in0: transposed"},
    {MATMUL_DB_TRANSPOSED, &matmul_op, "dB laid out transposed", "in1: transposed"},
    {MATMUL_DB_FACTOR, &matmul_op, "dB doubled", "in1: off by a constant factor"},
    {MATMUL_DA_OVERWRITE, &matmul_op, "dA assigned", "overwrites"},
    {MATMUL_FORGETS_DB, &matmul_op, "forgets dB", "in1: zero gradient"},
    {ROWSUM_WRONG_ROW, &rowsum_op, "reads another row's dout", NULL},
    {ROWSUM_OVERWRITE, &rowsum_op, "assigns instead of adding", "overwrites"},
    {ROWSUM_TIMES_COLS, &rowsum_op, "multiplied by the row length", NULL},
    {ROWMAX_FIRST, &rowmax_op, "gradient to the first entry, not the largest", NULL},
    {ROWMAX_ALL, &rowmax_op, "gradient to every entry", NULL},
    {FRESH_BIT0_FOR_BOTH, &emul_op, "reads in0's fresh bit for in1", NULL},
    {FRESH_ALWAYS_ASSIGN, &emul_op, "assigns even when not fresh", NULL},
    {FRESH_INVERTED, &emul_op, "fresh bit read inverted", NULL},
    {MSE_NO_MEAN, &mse_op, "sum for mean in dX", NULL},
    {MSE_DY_SIGN, &mse_op, "in1's sign flipped", "in1: sign flipped"},
    {MSE_FORGETS_DY, &mse_op, "forgets in1's gradient", NULL},
    {SIGMOID_NEGATIVE_BRANCH, &sigmoid_op, "y for y(1 − y) below x = −1 (one branch)", NULL},
    {POW_EXPONENT, &pow_op, "c x^c for c x^(c−1)", NULL},
    {POW_LARGE, &pow_op, "1 % high past x = 100", NULL},
    {EXP_PAST_20, &exp_op, "halved past x = 20", NULL},
};
#define N_MUTANTS (sizeof mutants / sizeof mutants[0])
#define N_SEEDS 5

START_TEST(test_correct_ops_pass)
{
    bp_check_options o = bp_check_options_default();

    bug = NONE;
    for (o.seed = 1; o.seed <= N_SEEDS; o.seed++)
        for (size_t i = 0; i < N_CORRECT; i++) {
            bp_check_report rep;
            ck_assert_int_eq(bp_gradcheck_op(correct_ops[i], &o, &rep), BP_OK);
            ck_assert_msg(rep.result == BP_CHECK_PASS, "%s, seed %llu: %s %s",
                          correct_ops[i]->name, o.seed, rep.diagnosis, rep.message);
            bp_check_report_clear(&rep);
        }
}
END_TEST

/* Every mutant fails on every seed, as a mismatch; where the bug has a
 * reading (sign, factor, transposed, overwrite, zero), the diagnosis of
 * seed 1 gives it. */
START_TEST(test_every_mutant_caught)
{
    bp_check_options o = bp_check_options_default();
    size_t caught = 0;

    ck_assert_uint_ge(N_MUTANTS, 40);
    for (size_t i = 0; i < N_MUTANTS; i++) {
        const struct mutant *m = &mutants[i];
        bp_op op = *m->op;
        char name[64];

        snprintf(name, sizeof name, "%s~%zu", m->op->name, i);
        op.name = name;
        bug = m->bug;
        for (o.seed = 1; o.seed <= N_SEEDS; o.seed++) {
            bp_check_report rep;
            ck_assert_int_eq(bp_gradcheck_op(&op, &o, &rep), BP_OK);
            ck_assert_msg(rep.result == BP_CHECK_MISMATCH,
                          "mutant %s (%s), seed %llu: result %d, not a mismatch", name,
                          m->what, o.seed, rep.result);
            if (o.seed == 1 && m->reading)
                ck_assert_msg(strstr(rep.diagnosis, m->reading) != NULL,
                              "mutant %s (%s): diagnosis '%s', expected '%s'", name, m->what,
                              rep.diagnosis, m->reading);
            bp_check_report_clear(&rep);
        }
        caught++;
    }
    ck_assert_uint_eq(caught, N_MUTANTS);
}
END_TEST

static Suite *mutants_suite(void)
{
    Suite *s = suite_create("mutants");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_correct_ops_pass);
    tcase_add_test(tc, test_every_mutant_caught);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(mutants_suite());
}
