/* SPDX-License-Identifier: MIT */
/* The gradient checker: every built-in op covered and passing, whole
 * graphs pass and fail as they should, Richardson, domains, defaults. */
#include "test_util.h"

#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- user ops for the tests ---- */
/* ---- tensor test ops: a ⊙ b with numpy broadcasting, written here
 * independently of the library's kernels; and its wrong twin, which does
 * not sum a broadcast operand's gradient (it keeps the last term) ---- */

static int tensor_mul_wrong;   /* the wrong twin's switch, read in backward */

/* Right-aligned, each pair equal or 1: the broadcast shape. */
static bp_status tmul_shape(bp_op_args *a)
{
    const bp_shape *x = a->in_shape[0], *y = a->in_shape[1];
    size_t r = x->rank > y->rank ? x->rank : y->rank;
    a->out_shape->rank = r;
    for (size_t d = 0; d < r; d++) {
        size_t dx = d < x->rank ? x->dim[x->rank - 1 - d] : 1;
        size_t dy = d < y->rank ? y->dim[y->rank - 1 - d] : 1;
        if (dx != dy && dx != 1 && dy != 1)
            return bp_op_fail(a, BP_EDIM, "shapes do not broadcast");
        a->out_shape->dim[r - 1 - d] = dx > dy ? dx : dy;
    }
    return BP_OK;
}

/* The offset in s of output element k (out of shape o), broadcasting. */
static size_t tmul_offset(const bp_shape *o, const bp_shape *s, size_t k)
{
    size_t off = 0, stride = 1;
    for (size_t d = 0; d < o->rank; d++) {
        size_t od = o->dim[o->rank - 1 - d], i = k % od;
        k /= od;
        if (d < s->rank) {
            size_t sd = s->dim[s->rank - 1 - d];
            off += (sd == 1 ? 0 : i) * stride;
            stride *= sd;
        }
    }
    return off;
}

static bp_status tmul_forward(bp_op_args *a)
{
    for (size_t k = 0; k < a->out->rows * a->out->cols; k++)
        a->out->data[k] = a->in[0]->data[tmul_offset(a->out_shape, a->in_shape[0], k)] *
                          a->in[1]->data[tmul_offset(a->out_shape, a->in_shape[1], k)];
    return BP_OK;
}

/* dx[off(k)] += g[k]·y[off(k)], summed over the outputs a broadcast x
 * reaches; the wrong twin assigns instead, keeping only the last. */
static bp_status tmul_backward(bp_op_args *a)
{
    for (size_t i = 0; i < 2; i++) {
        const bp_matrix *other = a->in[1 - i];
        if (!a->din[i])
            continue;
        for (size_t k = 0; k < a->out->rows * a->out->cols; k++) {
            double v = a->dout->data[k] * other->data[tmul_offset(a->out_shape, a->in_shape[1 - i], k)];
            double *d = &a->din[i]->data[tmul_offset(a->out_shape, a->in_shape[i], k)];
            if (tensor_mul_wrong && a->in_shape[i]->rank < a->out_shape->rank)
                *d = v;
            else
                *d += v;
        }
    }
    return BP_OK;
}

static const bp_op tmul_op = {
    .name = "tmul", .doc = "a ⊙ b, any rank, broadcasting", .n_in = 2,
    .shape = tmul_shape, .forward = tmul_forward, .backward = tmul_backward,
    .flags = BP_OP_TENSORS,
    .domain = {{.kind = BP_DOMAIN_REAL}, {.kind = BP_DOMAIN_REAL}},
};


static bp_status same_shape(bp_op_args *a)
{
    a->out->rows = a->in[0]->rows;
    a->out->cols = a->in[0]->cols;
    return BP_OK;
}

static bp_status cube_forward(bp_op_args *a)
{
    for (size_t k = 0; k < a->out->rows * a->out->cols; k++) {
        double x = a->in[0]->data[k];
        a->out->data[k] = x * x * x;
    }
    return BP_OK;
}

/* dx += g·3x² */
static bp_status cube_backward(bp_op_args *a)
{
    if (a->din[0])
        for (size_t k = 0; k < a->out->rows * a->out->cols; k++) {
            double x = a->in[0]->data[k];
            a->din[0]->data[k] += a->dout->data[k] * 3.0 * x * x;
        }
    return BP_OK;
}

/* The mistake: 2x² instead of 3x². */
static bp_status cube_wrong_backward(bp_op_args *a)
{
    if (a->din[0])
        for (size_t k = 0; k < a->out->rows * a->out->cols; k++) {
            double x = a->in[0]->data[k];
            a->din[0]->data[k] += a->dout->data[k] * 2.0 * x * x;
        }
    return BP_OK;
}

static bp_status nan_backward(bp_op_args *a)
{
    if (a->din[0])
        for (size_t k = 0; k < a->out->rows * a->out->cols; k++)
            a->din[0]->data[k] += NAN;
    return BP_OK;
}

static const bp_op cube_op = {
    .name = "cube", .n_in = 1, .shape = same_shape, .forward = cube_forward,
    .backward = cube_backward,
};
static const bp_op cube_wrong_op = {
    .name = "cube_wrong", .n_in = 1, .shape = same_shape, .forward = cube_forward,
    .backward = cube_wrong_backward,
};
static const bp_op cube_nan_op = {
    .name = "cube_nan", .n_in = 1, .shape = same_shape, .forward = cube_forward,
    .backward = nan_backward,
};

/* y = 2x, whose backward assigns din[0] instead of adding to it: right
 * on one backward, wrong on the second (the accumulation contract). */
static bp_status twice_forward(bp_op_args *a)
{
    for (size_t k = 0; k < a->out->rows * a->out->cols; k++)
        a->out->data[k] = 2.0 * a->in[0]->data[k];
    return BP_OK;
}

static bp_status twice_overwrite_backward(bp_op_args *a)
{
    if (a->din[0])
        for (size_t k = 0; k < a->out->rows * a->out->cols; k++)
            a->din[0]->data[k] = 2.0 * a->dout->data[k];
    return BP_OK;
}

static const bp_op twice_overwrite_op = {
    .name = "twice_overwrite", .n_in = 1, .shape = same_shape, .forward = twice_forward,
    .backward = twice_overwrite_backward,
};

/* |x − 0.5| that refuses inputs near its kink: passes only if the checker
 * samples away from the declared kink (and steps stay clear of it). */
static bp_status kinked_forward(bp_op_args *a)
{
    for (size_t k = 0; k < a->out->rows * a->out->cols; k++) {
        double x = a->in[0]->data[k];
        if (fabs(x - 0.5) < 5e-3)
            return bp_op_fail(a, BP_ENUMERIC, "input %g too near the kink", x);
        a->out->data[k] = fabs(x - 0.5);
    }
    return BP_OK;
}

static bp_status kinked_backward(bp_op_args *a)
{
    if (a->din[0])
        for (size_t k = 0; k < a->out->rows * a->out->cols; k++)
            a->din[0]->data[k] += a->dout->data[k] * (a->in[0]->data[k] > 0.5 ? 1.0 : -1.0);
    return BP_OK;
}

static const bp_op kinked_op = {
    .name = "kinked", .n_in = 1, .shape = same_shape, .forward = kinked_forward,
    .backward = kinked_backward,
    .domain = {{.kind = BP_DOMAIN_REAL, .kinks = BP_KINK_AT, .kink = 0.5}},
};

/* f(A) = Σ_{i≤j} A(i,j)², reading the upper triangle only, as a Cholesky
 * would; refuses a non-symmetric or non-square input. */
static bp_status square_shape(bp_op_args *a)
{
    if (a->in[0]->rows != a->in[0]->cols)
        return bp_op_fail(a, BP_EDIM, "not square");
    a->out->rows = a->out->cols = 1;
    return BP_OK;
}

static bp_status upper_forward(bp_op_args *a)
{
    const bp_matrix *A = a->in[0];
    double s = 0.0;
    for (size_t i = 0; i < A->rows; i++)
        for (size_t j = 0; j < A->cols; j++) {
            if (A->data[i * A->cols + j] != A->data[j * A->cols + i])
                return bp_op_fail(a, BP_EINVAL, "input is not symmetric");
            if (i <= j)
                s += A->data[i * A->cols + j] * A->data[i * A->cols + j];
        }
    a->out->data[0] = s;
    return BP_OK;
}

static bp_status upper_backward(bp_op_args *a)
{
    const bp_matrix *A = a->in[0];
    if (a->din[0])
        for (size_t i = 0; i < A->rows; i++)
            for (size_t j = i; j < A->cols; j++)
                a->din[0]->data[i * A->cols + j] += a->dout->data[0] * 2.0 * A->data[i * A->cols + j];
    return BP_OK;
}

static const bp_op upper_op = {
    .name = "upper_sumsq", .n_in = 1, .shape = square_shape, .forward = upper_forward,
    .backward = upper_backward, .domain = {{.kind = BP_DOMAIN_SPD}},
};

/* Σ A², refusing a matrix that is not strictly diagonally dominant. */
static bp_status dominant_forward(bp_op_args *a)
{
    const bp_matrix *A = a->in[0];
    double s = 0.0;
    for (size_t i = 0; i < A->rows; i++) {
        double off = 0.0;
        for (size_t j = 0; j < A->cols; j++) {
            double v = A->data[i * A->cols + j];
            s += v * v;
            if (j != i)
                off += fabs(v);
        }
        if (fabs(A->data[i * A->cols + i]) <= off)
            return bp_op_fail(a, BP_ESINGULAR, "row %zu not diagonally dominant", i);
    }
    a->out->data[0] = s;
    return BP_OK;
}

static bp_status sumsq_backward(bp_op_args *a)
{
    if (a->din[0])
        for (size_t k = 0; k < a->in[0]->rows * a->in[0]->cols; k++)
            a->din[0]->data[k] += a->dout->data[0] * 2.0 * a->in[0]->data[k];
    return BP_OK;
}

static const bp_op dominant_op = {
    .name = "dominant_sumsq", .n_in = 1, .shape = square_shape, .forward = dominant_forward,
    .backward = sumsq_backward, .domain = {{.kind = BP_DOMAIN_INVERTIBLE}},
};

/* cube's forward that fails, with a status other than the usual ones, from
 * its third call on: past the case's first forward, inside the comparison. */
static int forward_calls;

static bp_status singular_forward(bp_op_args *a)
{
    if (++forward_calls >= 3)
        return bp_op_fail(a, BP_ESINGULAR, "singular from the third call");
    return cube_forward(a);
}

static const bp_op attr_without_sets_op = {
    .name = "needs_attr", .n_in = 1, .n_attr = 1, .shape = same_shape,
    .forward = cube_forward, .backward = cube_backward,
};

/* ---- ops for the checker's blind spots (issue 18) ---- */

/* softplus log(1 + e^x) in its overflow-guarded form, x beyond 30 taken as
 * x; the wrong one forgets the tail's derivative (1) and gives 0 there, so
 * it is right on every input of magnitude up to 30. */
static bp_status softplus_forward(bp_op_args *a)
{
    for (size_t k = 0; k < a->out->rows * a->out->cols; k++) {
        double x = a->in[0]->data[k];
        a->out->data[k] = x > 30.0 ? x : log1p(exp(x));
    }
    return BP_OK;
}

static bp_status softplus_backward_with(bp_op_args *a, double tail)
{
    if (a->din[0])
        for (size_t k = 0; k < a->out->rows * a->out->cols; k++) {
            double x = a->in[0]->data[k];
            double d = x > 30.0 ? tail : 1.0 / (1.0 + exp(-x));
            a->din[0]->data[k] += a->dout->data[k] * d;
        }
    return BP_OK;
}

static bp_status softplus_backward(bp_op_args *a) { return softplus_backward_with(a, 1.0); }
static bp_status softplus_tail_backward(bp_op_args *a) { return softplus_backward_with(a, 0.0); }

static const bp_op softplus_op = {
    .name = "softplus", .n_in = 1, .shape = same_shape, .forward = softplus_forward,
    .backward = softplus_backward,
};
static const bp_op softplus_tail_op = {
    .name = "softplus_tail", .n_in = 1, .shape = same_shape, .forward = softplus_forward,
    .backward = softplus_tail_backward,
};

/* √x for x > 0 whose derivative takes a shortcut above 50 (0.5/x, not
 * 0.5/√x): a positive domain wrong only for large inputs. */
static bp_status sqrt_forward(bp_op_args *a)
{
    for (size_t k = 0; k < a->out->rows * a->out->cols; k++)
        a->out->data[k] = sqrt(a->in[0]->data[k]);
    return BP_OK;
}

static bp_status sqrt_tail_backward(bp_op_args *a)
{
    if (a->din[0])
        for (size_t k = 0; k < a->out->rows * a->out->cols; k++) {
            double x = a->in[0]->data[k];
            a->din[0]->data[k] += a->dout->data[k] * (x > 50.0 ? 0.5 / x : 0.5 / sqrt(x));
        }
    return BP_OK;
}

static const bp_op sqrt_tail_op = {
    .name = "sqrt_tail", .n_in = 1, .shape = same_shape, .forward = sqrt_forward,
    .backward = sqrt_tail_backward, .domain = {{.kind = BP_DOMAIN_POSITIVE}},
};

/* x + y + z for REAL, POSITIVE and NONZERO inputs, recording the smallest
 * and largest magnitude each input was given. */
static double seen_min[3], seen_max[3];

static bp_status record_forward(bp_op_args *a)
{
    for (size_t k = 0; k < a->out->rows * a->out->cols; k++) {
        a->out->data[k] = 0.0;
        for (size_t i = 0; i < 3; i++) {
            double m = fabs(a->in[i]->data[k]);
            seen_min[i] = fmin(seen_min[i], m);
            seen_max[i] = fmax(seen_max[i], m);
            a->out->data[k] += a->in[i]->data[k];
        }
    }
    return BP_OK;
}

static bp_status sum3_backward(bp_op_args *a)
{
    for (size_t i = 0; i < 3; i++)
        if (a->din[i])
            for (size_t k = 0; k < a->out->rows * a->out->cols; k++)
                a->din[i]->data[k] += a->dout->data[k];
    return BP_OK;
}

static bp_status same_shape3(bp_op_args *a)
{
    for (size_t i = 1; i < 3; i++)
        if (a->in[i]->rows != a->in[0]->rows || a->in[i]->cols != a->in[0]->cols)
            return bp_op_fail(a, BP_EDIM, "shapes differ");
    return same_shape(a);
}

static const bp_op record_op = {
    .name = "record", .n_in = 3, .shape = same_shape3, .forward = record_forward,
    .backward = sum3_backward, .linear = 7u,
    .domain = {{.kind = BP_DOMAIN_REAL}, {.kind = BP_DOMAIN_POSITIVE},
               {.kind = BP_DOMAIN_NONZERO}},
};

/* x ⊙ y with BP_OP_ASSIGN_FRESH; the wrong one reads in0's fresh bit for
 * both inputs, right whenever both are fresh or neither is. */
static bp_status mul_forward(bp_op_args *a)
{
    for (size_t k = 0; k < a->out->rows * a->out->cols; k++)
        a->out->data[k] = a->in[0]->data[k] * a->in[1]->data[k];
    return BP_OK;
}

static bp_status mul_fresh_backward_with(bp_op_args *a, unsigned bit1)
{
    const int fresh0 = (a->din_fresh & 1u) != 0, fresh1 = (a->din_fresh & bit1) != 0;
    for (size_t k = 0; k < a->out->rows * a->out->cols; k++) {
        double g = a->dout->data[k];
        /* dX = G ⊙ Y, dY = G ⊙ X, assigned when fresh */
        if (a->din[0])
            a->din[0]->data[k] = (fresh0 ? 0.0 : a->din[0]->data[k]) + g * a->in[1]->data[k];
        if (a->din[1])
            a->din[1]->data[k] = (fresh1 ? 0.0 : a->din[1]->data[k]) + g * a->in[0]->data[k];
    }
    return BP_OK;
}

static bp_status mul_fresh_backward(bp_op_args *a) { return mul_fresh_backward_with(a, 2u); }
static bp_status mul_fresh_bit0_backward(bp_op_args *a) { return mul_fresh_backward_with(a, 1u); }

static bp_status same_shape2(bp_op_args *a)
{
    if (a->in[1]->rows != a->in[0]->rows || a->in[1]->cols != a->in[0]->cols)
        return bp_op_fail(a, BP_EDIM, "shapes differ");
    return same_shape(a);
}

static const bp_op mul_fresh_op = {
    .name = "mul_fresh", .n_in = 2, .shape = same_shape2, .forward = mul_forward,
    .backward = mul_fresh_backward, .flags = BP_OP_ASSIGN_FRESH,
};
static const bp_op mul_fresh_bit0_op = {
    .name = "mul_fresh_bit0", .n_in = 2, .shape = same_shape2, .forward = mul_forward,
    .backward = mul_fresh_bit0_backward, .flags = BP_OP_ASSIGN_FRESH,
};

/* x ⊙ y whose backward assigns dY instead of adding: mul(x, x) then gets
 * only x·g, half its gradient. */
static bp_status mul_overwrite_backward(bp_op_args *a)
{
    for (size_t k = 0; k < a->out->rows * a->out->cols; k++) {
        double g = a->dout->data[k];
        if (a->din[0])
            a->din[0]->data[k] += g * a->in[1]->data[k];
        if (a->din[1])
            a->din[1]->data[k] = g * a->in[0]->data[k];
    }
    return BP_OK;
}

static const bp_op mul_overwrite_op = {
    .name = "mul_overwrite", .n_in = 2, .shape = same_shape2, .forward = mul_forward,
    .backward = mul_overwrite_backward,
};

/* ---- built-in coverage, from the registry ---- */

START_TEST(test_every_builtin_checked_and_passing)
{
    ck_assert_uint_gt(bp_builtin_count(), 0);
    for (size_t i = 0; i < bp_builtin_count(); i++) {
        const bp_op *op = bp_builtin(i);
        bp_check_report rep;
        ck_assert_ptr_nonnull(op);
        ck_assert_int_eq(bp_gradcheck_op(op, NULL, &rep), BP_OK);
        /* an op with no case or no comparison is not covered */
        ck_assert_msg(rep.n_cases > 0 && rep.n_compared > 0,
                      "built-in op %s is not covered by the checker (%zu cases, %zu compared)",
                      op->name, rep.n_cases, rep.n_compared);
        ck_assert_msg(rep.result == BP_CHECK_PASS, "built-in op %s: result %d, %s %s",
                      op->name, rep.result, rep.diagnosis, rep.message);
        ck_assert_str_eq(rep.name, op->name);
        bp_check_report_clear(&rep);
    }
}
END_TEST

START_TEST(test_builtins_pass_other_seeds)
{
    bp_check_options o = bp_check_options_default();
    for (o.seed = 100; o.seed < 105; o.seed++)
        for (size_t i = 0; i < bp_builtin_count(); i++) {
            bp_check_report rep;
            ck_assert_int_eq(bp_gradcheck_op(bp_builtin(i), &o, &rep), BP_OK);
            ck_assert_msg(rep.result == BP_CHECK_PASS, "%s, seed %llu: %s %s",
                          bp_builtin(i)->name, o.seed, rep.diagnosis, rep.message);
            bp_check_report_clear(&rep);
        }
}
END_TEST

START_TEST(test_binary_ops_cover_every_broadcast_pattern)
{
    /* each of the 4 row relations × 4 column relations between the
     * operands: equal 1, equal > 1, first is 1, second is 1, as the
     * checker's cases of a matrix op give them: add declared without
     * BP_OP_TENSORS (the built-in, of any rank, is tried on ranks 1-4) */
    bp_check_report rep;
    int seen[16] = {0};
    size_t n_seen = 0;
    bp_op add_matrices = *tu_builtin("add");

    add_matrices.flags &= ~BP_OP_TENSORS;
    ck_assert_int_eq(bp_gradcheck_op(&add_matrices, NULL, &rep), BP_OK);
    ck_assert_msg(rep.result == BP_CHECK_PASS, "%s %s", rep.diagnosis, rep.message);
    ck_assert_str_eq(rep.name, "add");
    for (size_t i = 0; i < rep.n_cases; i++) {
        unsigned r0, c0, r1, c1;
        if (sscanf(rep.cases[i].label, "%ux%u, %ux%u", &r0, &c0, &r1, &c1) != 4)
            continue;
        int rr = r0 == r1 ? (r0 == 1 ? 0 : 1) : (r0 == 1 ? 2 : 3);
        int cc = c0 == c1 ? (c0 == 1 ? 0 : 1) : (c0 == 1 ? 2 : 3);
        if (!seen[rr * 4 + cc]++)
            n_seen++;
    }
    ck_assert_uint_eq(n_seen, 16);
    bp_check_report_clear(&rep);
}
END_TEST

/* "2x3x4" at *p into dims, right-aligned (dims[0] the last, 1 beyond the
 * rank), and *p past it; 0 when *p holds no shape. */
static int read_shape(const char **p, size_t *dims, size_t *rank)
{
    char *end;
    *rank = 0;
    for (;;) {
        unsigned long d = strtoul(*p, &end, 10);
        if (end == *p || *rank == BP_MAX_RANK)
            return 0;
        dims[(*rank)++] = d;
        *p = end;
        if (**p != 'x')
            break;
        (*p)++;
    }
    for (size_t i = 0; i < *rank / 2; i++) {   /* right-aligned */
        size_t t = dims[i];
        dims[i] = dims[*rank - 1 - i];
        dims[*rank - 1 - i] = t;
    }
    for (size_t i = *rank; i < BP_MAX_RANK; i++)
        dims[i] = 1;
    return 1;
}

/* A case label "2x3x4, 3x4 -> 2x3x4 [jacobian]" of two distinct inputs
 * into their shapes and the output's; 0 for any other label. */
static int read_label(const char *p, size_t in[2][BP_MAX_RANK], size_t *out, size_t *rank)
{
    if (!read_shape(&p, in[0], &rank[0]) || strncmp(p, ", ", 2))
        return 0;
    p += 2;
    if (!read_shape(&p, in[1], &rank[1]) || strncmp(p, " -> ", 4))
        return 0;
    p += 4;
    return read_shape(&p, out, &rank[2]) && !strstr(p, "same node");
}

/* The number of distinct patterns of right-aligned dims lo, hi − 1 among
 * the default cases of a two-input built-in: per dim and input, output 1,
 * equal, or broadcast (1 or absent).  rank2 counts cases whose inputs are
 * both matrices; otherwise cases whose output has batch dims. */
static size_t default_patterns(const char *name, size_t lo, size_t hi, int rank2)
{
    bp_check_report rep;
    int seen[256] = {0};
    size_t n_seen = 0;

    ck_assert_int_eq(bp_gradcheck_op(tu_builtin(name), NULL, &rep), BP_OK);
    ck_assert_msg(rep.result == BP_CHECK_PASS, "%s: %s %s", name, rep.diagnosis, rep.message);
    for (size_t c = 0; c < rep.n_cases; c++) {
        size_t in[2][BP_MAX_RANK], out[BP_MAX_RANK], rank[3];
        unsigned code = 0;
        if (!read_label(rep.cases[c].label, in, out, rank))
            continue;
        if (rank2 ? rank[0] != 2 || rank[1] != 2 : rank[2] <= 2)
            continue;
        for (int i = 0; i < 2; i++)
            for (size_t d = lo; d < hi; d++)
                code = code * 3 + (out[d] == 1 ? 0u : in[i][d] == out[d] ? 1u : 2u);
        if (!seen[code]++)
            n_seen++;
    }
    bp_check_report_clear(&rep);
    return n_seen;
}

START_TEST(test_default_cases_cover_rank2_and_batch_patterns)
{
    /* rows and cols: output 1 (both inputs 1), both equal, either one
     * broadcast: 4 × 4 for an elementwise binary op of any rank */
    static const char *const binary[] = {"add", "sub", "mul", "div"};
    for (size_t i = 0; i < sizeof binary / sizeof *binary; i++)
        ck_assert_uint_eq(default_patterns(binary[i], 0, 2, 1), 16);
    /* matmul's two batch dims (ranks 3 and 4): the same 4 × 4 */
    ck_assert_uint_eq(default_patterns("matmul", 2, 4, 0), 16);
}
END_TEST

/* ---- user ops ---- */

START_TEST(test_wrong_op_fails_with_diagnosis_and_replays)
{
    bp_check_options o = bp_check_options_default();
    bp_check_report rep;
    size_t failed;

    ck_assert_int_eq(bp_gradcheck_op(&cube_op, NULL, &rep), BP_OK);
    ck_assert_int_eq(rep.result, BP_CHECK_PASS);
    ck_assert_uint_eq(rep.failed_case, BP_CHECK_NONE);
    bp_check_report_clear(&rep);

    ck_assert_int_eq(bp_gradcheck_op(&cube_wrong_op, NULL, &rep), BP_OK);
    ck_assert_int_eq(rep.result, BP_CHECK_MISMATCH);
    ck_assert_uint_gt(rep.n_failed, 0);
    ck_assert_uint_gt(rep.n_worst, 0);
    ck_assert_ptr_nonnull(strstr(rep.diagnosis, "constant factor (analytic ≈ 0.6667 × numeric)"));
    ck_assert_double_gt(rep.worst[0].error, rep.worst[0].allowed);
    /* the analytic entry is 2/3 of the numeric one */
    ck_assert_double_eq_tol(rep.worst[0].analytic / rep.worst[0].numeric, 2.0 / 3.0, 1e-6);
    failed = rep.failed_case;
    ck_assert_uint_ne(failed, BP_CHECK_NONE);
    bp_check_report_clear(&rep);

    o.only_case = failed;
    ck_assert_int_eq(bp_gradcheck_op(&cube_wrong_op, &o, &rep), BP_OK);
    ck_assert_int_eq(rep.result, BP_CHECK_MISMATCH);
    ck_assert_uint_eq(rep.n_cases, 1);
    ck_assert_uint_eq(rep.cases[0].index, failed);
    ck_assert_uint_eq(rep.failed_case, failed);
    bp_check_report_clear(&rep);
}
END_TEST

START_TEST(test_nan_gradient_is_nonfinite)
{
    bp_check_report rep;
    ck_assert_int_eq(bp_gradcheck_op(&cube_nan_op, NULL, &rep), BP_OK);
    ck_assert_int_eq(rep.result, BP_CHECK_NONFINITE);
    ck_assert_str_ne(rep.message, "");
    bp_check_report_clear(&rep);
}
END_TEST

START_TEST(test_samples_avoid_declared_kink)
{
    bp_check_report rep;
    ck_assert_int_eq(bp_gradcheck_op(&kinked_op, NULL, &rep), BP_OK);
    ck_assert_msg(rep.result == BP_CHECK_PASS, "%s", rep.message);
    bp_check_report_clear(&rep);
}
END_TEST

START_TEST(test_spd_and_invertible_domains)
{
    bp_check_report rep;

    /* symmetric samples, (i,j) and (j,i) perturbed together, square only */
    ck_assert_int_eq(bp_gradcheck_op(&upper_op, NULL, &rep), BP_OK);
    ck_assert_msg(rep.result == BP_CHECK_PASS, "%s %s", rep.diagnosis, rep.message);
    ck_assert_uint_gt(rep.n_cases, 1);
    for (size_t i = 0; i < rep.n_cases; i++) {
        unsigned r, c;
        ck_assert_int_eq(sscanf(rep.cases[i].label, "%ux%u", &r, &c), 2);
        ck_assert_uint_eq(r, c);
    }
    bp_check_report_clear(&rep);

    ck_assert_int_eq(bp_gradcheck_op(&dominant_op, NULL, &rep), BP_OK);
    ck_assert_msg(rep.result == BP_CHECK_PASS, "%s %s", rep.diagnosis, rep.message);
    bp_check_report_clear(&rep);
}
END_TEST

START_TEST(test_op_errors)
{
    bp_check_report rep;
    bp_op incomplete = cube_op;

    ck_assert_int_eq(bp_gradcheck_op(&cube_op, NULL, NULL), BP_EINVAL);
    incomplete.forward = NULL;
    ck_assert_int_eq(bp_gradcheck_op(&incomplete, NULL, &rep), BP_EINVAL);
    ck_assert_int_eq(rep.result, BP_CHECK_ERROR);
    bp_check_report_clear(&rep);
    ck_assert_int_eq(bp_gradcheck_op(&attr_without_sets_op, NULL, &rep), BP_OK);
    ck_assert_int_eq(rep.result, BP_CHECK_ERROR);
    ck_assert_ptr_nonnull(strstr(rep.message, "check_attr"));
    bp_check_report_clear(&rep);
}
END_TEST

/* Any error an op returns is its case's result, not the check's status,
 * and every case still runs. */
START_TEST(test_op_error_is_a_result)
{
    bp_check_report rep;
    bp_op failing = cube_op;
    size_t n_cases;

    ck_assert_int_eq(bp_gradcheck_op(&cube_op, NULL, &rep), BP_OK);
    n_cases = rep.n_cases;
    bp_check_report_clear(&rep);
    failing.name = "singular_cube";
    failing.forward = singular_forward;
    forward_calls = 0;
    ck_assert_int_eq(bp_gradcheck_op(&failing, NULL, &rep), BP_OK);
    ck_assert_int_eq(rep.result, BP_CHECK_ERROR);
    ck_assert_uint_eq(rep.n_cases, n_cases);
    ck_assert_ptr_nonnull(strstr(rep.message, "singular from the third call"));
    bp_check_report_clear(&rep);
}
END_TEST

/* ---- graphs ---- */

/* loss = mse(op(x·W + b)·V, y) with W feeding twice (fan-out). */
static bp_node *build_net(bp_graph *g, const bp_op *op)
{
    static const double xd[] = {0.3, -1.2, 0.8, 2.385, -0.4, 1.1, 0.05, -0.9};
    static const double yd[] = {0.7, -0.2, 1.3, 0.4};
    static const double wd[] = {0.61, -0.33, 0.25, 0.9};
    static const double bd[] = {-0.12, 0.31};
    static const double vd[] = {0.8, -0.45};
    bp_node *x = bp_constant(g, 4, 2, xd, "x");
    bp_node *y = bp_constant(g, 4, 1, yd, "y");
    bp_node *w = bp_param(g, 2, 2, "W");
    bp_node *b = bp_param(g, 1, 2, "b");
    bp_node *v = bp_param(g, 2, 1, "V");
    bp_matrix m;

    m.rows = 2; m.cols = 2; m.data = (double *)wd;
    bp_node_set_value(w, &m);
    m.rows = 1; m.cols = 2; m.data = (double *)bd;
    bp_node_set_value(b, &m);
    m.rows = 2; m.cols = 1; m.data = (double *)vd;
    bp_node_set_value(v, &m);
    bp_node *h = bp_add(g, bp_matmul(g, x, w), b);
    bp_node *in[1] = {bp_matmul(g, h, w)};
    bp_node *act = bp_apply(g, op, 1, in, NULL);
    return bp_mse(g, bp_matmul(g, act, v), y);
}

START_TEST(test_graph_correct_passes)
{
    bp_graph *g = bp_graph_new();
    bp_node *loss = build_net(g, &cube_op);
    bp_check_report rep;

    ck_assert_ptr_nonnull(loss);
    ck_assert_int_eq(bp_gradcheck_graph(g, loss, NULL, &rep), BP_OK);
    ck_assert_msg(rep.result == BP_CHECK_PASS, "%s %s", rep.diagnosis, rep.message);
    ck_assert_uint_eq(rep.n_compared, 4 + 2 + 2);
    bp_check_report_clear(&rep);
    bp_graph_free(g);
}
END_TEST

START_TEST(test_graph_wrong_op_fails_and_restores)
{
    bp_graph *g = bp_graph_new();
    bp_node *loss = build_net(g, &cube_wrong_op);
    bp_node *w = bp_graph_node(g, 2);
    bp_check_report rep;
    double before[4], grad_before[4];

    ck_assert_str_eq(bp_node_name(w), "W");
    /* a gradient already accumulated must survive the check */
    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
    memcpy(before, bp_node_value(w)->data, sizeof before);
    memcpy(grad_before, bp_node_grad(w)->data, sizeof grad_before);

    ck_assert_int_eq(bp_gradcheck_graph(g, loss, NULL, &rep), BP_OK);
    ck_assert_int_eq(rep.result, BP_CHECK_MISMATCH);
    ck_assert_uint_gt(rep.n_worst, 0);
    ck_assert_double_gt(rep.worst[0].error, rep.worst[0].allowed);
    ck_assert_uint_eq(rep.worst[0].out_row, BP_CHECK_NONE);
    ck_assert_int_eq(memcmp(before, bp_node_value(w)->data, sizeof before), 0);
    ck_assert_int_eq(memcmp(grad_before, bp_node_grad(w)->data, sizeof grad_before), 0);
    ck_assert_int_eq(bp_graph_status(g), BP_OK);
    bp_check_report_clear(&rep);

    /* the same through random probe directions (no elementwise pass) */
    {
        bp_check_options o = bp_check_options_default();
        o.graph_elementwise_max = 0;
        ck_assert_int_eq(bp_gradcheck_graph(g, loss, &o, &rep), BP_OK);
        ck_assert_int_eq(rep.result, BP_CHECK_MISMATCH);
        ck_assert_int_eq(memcmp(before, bp_node_value(w)->data, sizeof before), 0);
        ck_assert_int_eq(memcmp(grad_before, bp_node_grad(w)->data, sizeof grad_before), 0);
        bp_check_report_clear(&rep);
        bp_graph_free(g);
        g = bp_graph_new();
        loss = build_net(g, &cube_op);
        ck_assert_int_eq(bp_gradcheck_graph(g, loss, &o, &rep), BP_OK);
        ck_assert_msg(rep.result == BP_CHECK_PASS, "%s %s", rep.diagnosis, rep.message);
        bp_check_report_clear(&rep);
    }
    bp_graph_free(g);
}
END_TEST

/* The accumulation contract names the input that was overwritten: in0 for
 * an op, the param's name for a graph. */
START_TEST(test_overwritten_gradient_is_named)
{
    static const double pd[4] = {0.5, -1.5, 2.0, 0.25};
    bp_graph *g = bp_graph_new();
    bp_node *p = bp_param(g, 2, 2, "P"), *q, *loss;
    bp_check_report rep;

    ck_assert_int_eq(bp_gradcheck_op(&twice_overwrite_op, NULL, &rep), BP_OK);
    ck_assert_int_eq(rep.result, BP_CHECK_MISMATCH);
    ck_assert_msg(strstr(rep.message, "in0 1×") != NULL, "%s", rep.message);
    ck_assert_msg(strstr(rep.diagnosis, "overwrites") != NULL, "%s", rep.diagnosis);
    bp_check_report_clear(&rep);

    /* loss = Σ (2p)²: p feeds the op once, so one backward is right */
    tu_set(p, 2, 2, pd);
    q = bp_apply(g, &twice_overwrite_op, 1, &p, NULL);
    loss = bp_sum(g, bp_mul(g, q, q));
    ck_assert_int_eq(bp_gradcheck_graph(g, loss, NULL, &rep), BP_OK);
    ck_assert_int_eq(rep.result, BP_CHECK_MISMATCH);
    ck_assert_msg(strstr(rep.message, "P 1×") != NULL, "%s", rep.message);
    ck_assert_msg(strstr(rep.diagnosis, "overwrites") != NULL, "%s", rep.diagnosis);
    bp_check_report_clear(&rep);
    bp_graph_free(g);
}
END_TEST

START_TEST(test_graph_needs_a_param)
{
    bp_graph *g = bp_graph_new();
    static const double d[] = {1.5, -0.25};
    bp_node *c = bp_constant(g, 1, 2, d, "c");
    bp_node *s = bp_sum(g, c);
    bp_check_report rep;

    ck_assert_int_eq(bp_gradcheck_graph(g, s, NULL, &rep), BP_ESTATE);
    ck_assert_int_eq(rep.result, BP_CHECK_ERROR);
    bp_check_report_clear(&rep);
    bp_graph_free(g);
}
END_TEST

/* ---- numerics and options ---- */

static double cube_fn(double x, void *ctx)
{
    (void)ctx;
    return x * x * x;
}

START_TEST(test_richardson_estimate)
{
    /* For x³ the 2-point quotient is off by exactly h² (f''' = 6) and the
     * 4-point stencil is exact up to rounding; the estimate must measure
     * the 2-point error.  A large step makes truncation dominate. */
    bp_check_options o = bp_check_options_default();
    const double x = 1.3, exact = 3.0 * x * x;
    double est2, est4, d2, d4, h;

    o.step_scale = 1000.0;
    h = (x + o.step_scale * cbrt(o.eps) * x) - x;
    o.richardson = 0;
    d2 = bp_numeric_derivative(cube_fn, NULL, x, &o, &est2);
    o.richardson = 1;
    d4 = bp_numeric_derivative(cube_fn, NULL, x, &o, &est4);

    ck_assert_double_eq_tol(d2 - exact, h * h, 1e-3 * h * h);
    ck_assert_double_eq_tol(d4, exact, 1e-9);
    ck_assert_double_lt(est2, 1e-9);                 /* rounding only */
    ck_assert_double_eq_tol(est4, fabs(d2 - exact), 0.01 * fabs(d2 - exact));
    ck_assert(isnan(bp_numeric_derivative(NULL, NULL, x, &o, &est4)));
}
END_TEST

START_TEST(test_options_defaults)
{
    bp_check_options o = bp_check_options_default();
    bp_check_report rep;

    ck_assert_uint_eq(o.seed, 1);
    ck_assert_double_eq(o.eps, DBL_EPSILON);
    ck_assert_double_eq(o.step_scale, 1.0);
    ck_assert_double_eq(o.atol, 1e-6);
    ck_assert_double_eq(o.rtol, 1e-5);
    ck_assert_int_eq(o.richardson, 1);
    ck_assert_int_eq(o.contracts, 1);
    ck_assert_uint_eq(o.max_cases, 24);
    ck_assert_uint_eq(o.jacobian_max, 1024);
    ck_assert_uint_eq(o.n_probes, 4);
    ck_assert_uint_eq(o.graph_elementwise_max, 4096);
    ck_assert_double_eq(o.kink_margin, 1e-2);
    ck_assert_uint_eq(o.only_case, BP_CHECK_ALL);

    /* NULL options mean the defaults, recorded in the report */
    ck_assert_int_eq(bp_gradcheck_op(&cube_op, NULL, &rep), BP_OK);
    ck_assert_int_eq(memcmp(&rep.options, &o, sizeof o), 0);
    bp_check_report_clear(&rep);
    bp_check_report_clear(NULL);
}
END_TEST

START_TEST(test_tolerances_matter)
{
    /* tight enough tolerances without Richardson make a correct op fail:
     * the pass rule is really applied */
    bp_check_options o = bp_check_options_default();
    bp_check_report rep;

    o.richardson = 0;
    o.atol = 0.0;
    o.rtol = 0.0;
    o.step_scale = 1000.0;
    ck_assert_int_eq(bp_gradcheck_op(&cube_op, &o, &rep), BP_OK);
    ck_assert_int_eq(rep.result, BP_CHECK_MISMATCH);
    bp_check_report_clear(&rep);
}
END_TEST

/* ---- the checker's blind spots (issue 18) ---- */

/* Inputs span magnitudes (beyond [−2, 2]) in every unbounded domain, and
 * never past a declared max_abs. */
START_TEST(test_samples_span_magnitudes)
{
    bp_check_options o = bp_check_options_default();
    bp_op capped = record_op;
    bp_check_report rep;

    o.contracts = 0;
    for (int i = 0; i < 3; i++) {
        seen_min[i] = INFINITY;
        seen_max[i] = 0.0;
    }
    ck_assert_int_eq(bp_gradcheck_op(&record_op, &o, &rep), BP_OK);
    ck_assert_msg(rep.result == BP_CHECK_PASS, "%s", rep.message);
    bp_check_report_clear(&rep);
    for (int i = 0; i < 3; i++) {
        ck_assert_msg(seen_max[i] > 100.0, "input %d: largest |x| %g", i, seen_max[i]);
        ck_assert_msg(seen_min[i] < 0.1, "input %d: smallest |x| %g", i, seen_min[i]);
    }

    capped.name = "record_capped";
    for (int i = 0; i < 3; i++) {
        capped.domain[i].max_abs = 5.0;
        seen_max[i] = 0.0;
    }
    ck_assert_int_eq(bp_gradcheck_op(&capped, &o, &rep), BP_OK);
    ck_assert_msg(rep.result == BP_CHECK_PASS, "%s", rep.message);
    bp_check_report_clear(&rep);
    for (int i = 0; i < 3; i++) {
        /* the stencil steps at most 2·cbrt(eps)·|x| past a sample */
        ck_assert_double_le(seen_max[i], 5.0 * (1.0 + 2e-5));
        ck_assert_double_gt(seen_max[i], 2.5);
    }

    capped.domain[1].max_abs = NAN;
    ck_assert_int_eq(bp_gradcheck_op(&capped, &o, &rep), BP_EINVAL);
    ck_assert_int_eq(rep.result, BP_CHECK_ERROR);
    ck_assert_ptr_nonnull(strstr(rep.message, "max_abs"));
    bp_check_report_clear(&rep);
}
END_TEST

/* How many of the worst entries fail at an element of magnitude above
 * limit; -1 when one fails below it (probes, with no element, aside). */
static int failing_entries_beyond(const bp_check_report *rep, double limit)
{
    int n = 0;
    for (size_t i = 0; i < rep->n_worst; i++) {
        const bp_check_entry *e = &rep->worst[i];
        if (isnan(e->x) || !(e->error > e->allowed))
            continue;
        if (fabs(e->x) <= limit)
            return -1;
        n++;
    }
    return n;
}

/* A derivative wrong only for large inputs (a tail branch), in the real
 * and the positive domain, fails; the correct op passes. */
START_TEST(test_wrong_only_for_large_inputs_fails)
{
    bp_check_report rep;

    ck_assert_int_eq(bp_gradcheck_op(&softplus_op, NULL, &rep), BP_OK);
    ck_assert_msg(rep.result == BP_CHECK_PASS, "%s %s", rep.diagnosis, rep.message);
    bp_check_report_clear(&rep);
    ck_assert_int_eq(bp_gradcheck_op(&softplus_tail_op, NULL, &rep), BP_OK);
    ck_assert_int_eq(rep.result, BP_CHECK_MISMATCH);
    ck_assert_int_gt(failing_entries_beyond(&rep, 30.0), 0);
    bp_check_report_clear(&rep);
    ck_assert_int_eq(bp_gradcheck_op(&sqrt_tail_op, NULL, &rep), BP_OK);
    ck_assert_int_eq(rep.result, BP_CHECK_MISMATCH);
    ck_assert_int_gt(failing_entries_beyond(&rep, 50.0), 0);
    bp_check_report_clear(&rep);
}
END_TEST

/* An op that reads one input's fresh bit for another's fails: some cases
 * give it one input behind an op node and the other a param. */
START_TEST(test_mixed_fresh_patterns)
{
    bp_check_report rep;
    int mixed = 0;

    ck_assert_int_eq(bp_gradcheck_op(&mul_fresh_op, NULL, &rep), BP_OK);
    ck_assert_msg(rep.result == BP_CHECK_PASS, "%s %s", rep.diagnosis, rep.message);
    for (size_t i = 0; i < rep.n_cases; i++)
        mixed += strstr(rep.cases[i].label, "[fresh gradients: in1]") != NULL;
    ck_assert_int_gt(mixed, 0);
    bp_check_report_clear(&rep);
    ck_assert_int_eq(bp_gradcheck_op(&mul_fresh_bit0_op, NULL, &rep), BP_OK);
    ck_assert_int_eq(rep.result, BP_CHECK_MISMATCH);
    ck_assert_ptr_nonnull(strstr(rep.cases[rep.failed_case].label, "[fresh gradients: in"));
    bp_check_report_clear(&rep);
}
END_TEST

/* Options that would let any derivative pass, or compare nothing, are
 * refused by both checks with a message; a check that compares nothing is
 * not a PASS. */
START_TEST(test_options_validated)
{
    static const struct { const char *field; double value; } bad[] = {
        {"eps", 1.0}, {"eps", 4.0}, {"eps", 0.0}, {"eps", -1e-16}, {"eps", NAN}, {"eps", INFINITY},
        {"atol", 1e300}, {"atol", -1e-6}, {"atol", NAN}, {"rtol", 1.0}, {"rtol", INFINITY},
        {"step_scale", 0.0}, {"step_scale", NAN}, {"step_scale", 1e9}, {"step_scale", 1e-12},
        {"kink_margin", NAN}, {"probes", 0.0},
    };
    bp_graph *g = bp_graph_new();
    bp_node *loss = build_net(g, &cube_op);
    bp_check_options o;
    bp_check_report rep;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o = bp_check_options_default();
        if (strcmp(bad[i].field, "eps") == 0) o.eps = bad[i].value;
        else if (strcmp(bad[i].field, "atol") == 0) o.atol = bad[i].value;
        else if (strcmp(bad[i].field, "rtol") == 0) o.rtol = bad[i].value;
        else if (strcmp(bad[i].field, "step_scale") == 0) o.step_scale = bad[i].value;
        else if (strcmp(bad[i].field, "kink_margin") == 0) o.kink_margin = bad[i].value;
        else o.jacobian_max = o.n_probes = 0;
        ck_assert_msg(bp_gradcheck_op(&cube_wrong_op, &o, &rep) == BP_EINVAL, "%s %g",
                      bad[i].field, bad[i].value);
        ck_assert_int_eq(rep.result, BP_CHECK_ERROR);
        ck_assert_msg(strstr(rep.message, "invalid options") != NULL, "%s", rep.message);
        bp_check_report_clear(&rep);
        ck_assert_int_eq(bp_gradcheck_graph(g, loss, &o, &rep), BP_EINVAL);
        ck_assert_int_eq(rep.result, BP_CHECK_ERROR);
        bp_check_report_clear(&rep);
        ck_assert(isnan(bp_numeric_derivative(cube_fn, NULL, 1.5, &o, NULL)));
    }
    ck_assert_int_eq(bp_graph_status(g), BP_OK);
    bp_graph_free(g);

    /* the edges stay valid: zero tolerances, float's rounding unit */
    o = bp_check_options_default();
    o.atol = o.rtol = 0.0;
    o.eps = 0x1p-23;
    ck_assert_int_eq(bp_gradcheck_op(&cube_op, &o, &rep), BP_OK);
    ck_assert_int_ne(rep.result, BP_CHECK_ERROR);
    bp_check_report_clear(&rep);

    /* the large case alone with no probes compares nothing: not a PASS */
    o = bp_check_options_default();
    ck_assert_int_eq(bp_gradcheck_op(&cube_wrong_op, &o, &rep), BP_OK);
    for (size_t i = 0; i < rep.n_cases; i++)
        if (strstr(rep.cases[i].label, "[probes]"))
            o.only_case = rep.cases[i].index;
    bp_check_report_clear(&rep);
    ck_assert_uint_ne(o.only_case, BP_CHECK_ALL);
    o.n_probes = 0;
    ck_assert_int_eq(bp_gradcheck_op(&cube_wrong_op, &o, &rep), BP_OK);
    ck_assert_uint_eq(rep.n_compared, 0);
    ck_assert_int_eq(rep.result, BP_CHECK_ERROR);
    ck_assert_ptr_nonnull(strstr(rep.message, "no derivative was compared"));
    bp_check_report_clear(&rep);
}
END_TEST

/* An op that overwrites one input's gradient fails where one node feeds
 * both inputs, and the diagnosis says why (contracts off, so that case is
 * the only evidence). */
START_TEST(test_overwrite_diagnosed_when_one_node_feeds_both)
{
    bp_check_options o = bp_check_options_default();
    bp_check_report rep;

    o.contracts = 0;
    for (o.seed = 1; o.seed <= 3; o.seed++) {
        ck_assert_int_eq(bp_gradcheck_op(&mul_overwrite_op, &o, &rep), BP_OK);
        ck_assert_int_eq(rep.result, BP_CHECK_MISMATCH);
        ck_assert_ptr_nonnull(strstr(rep.cases[rep.failed_case].label, "same node"));
        ck_assert_msg(strstr(rep.diagnosis, "overwrites instead of adding") != NULL,
                      "diagnosis '%s'", rep.diagnosis);
        bp_check_report_clear(&rep);
    }
}
END_TEST

/* An invalid call returns an error and leaves no error in the graph; a
 * valid one restores a param's absent gradient as absent. */
START_TEST(test_graph_check_leaves_graph_as_found)
{
    static const double pd[4] = {0.5, -1.5, 2.0, 0.25};
    bp_graph *g = bp_graph_new(), *other = bp_graph_new();
    bp_node *p = bp_param(g, 2, 2, "P");
    bp_node *x = bp_input(g, 2, 2, "x");
    bp_node *loss = bp_sum(g, bp_mul(g, p, p));
    bp_node *loss_x = bp_sum(g, bp_mul(g, p, x));
    bp_node *alien = bp_sum(other, bp_param(other, 1, 1, "q"));
    bp_check_report rep;
    const bp_matrix *grad;

    tu_set(p, 2, 2, pd);
    /* x has no data */
    ck_assert_int_ne(bp_gradcheck_graph(g, loss_x, NULL, &rep), BP_OK);
    ck_assert_int_eq(rep.result, BP_CHECK_ERROR);
    ck_assert_str_ne(rep.message, "");
    bp_check_report_clear(&rep);
    ck_assert_int_eq(bp_graph_status(g), BP_OK);
    ck_assert_int_eq(bp_gradcheck_graph(g, alien, NULL, &rep), BP_EINVAL);
    bp_check_report_clear(&rep);
    ck_assert_int_eq(bp_graph_status(g), BP_OK);
    ck_assert_int_eq(bp_forward(g, loss), BP_OK);

    /* no backward yet: P has no gradient, before and after */
    ck_assert_ptr_null(bp_node_grad(p));
    ck_assert_int_eq(bp_gradcheck_graph(g, loss, NULL, &rep), BP_OK);
    ck_assert_int_eq(rep.result, BP_CHECK_PASS);
    bp_check_report_clear(&rep);
    ck_assert_ptr_null(bp_node_grad(p));
    /* and the next backward starts from zero: d Σp² = 2p */
    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
    grad = bp_node_grad(p);
    ck_assert_ptr_nonnull(grad);
    for (size_t k = 0; k < 4; k++)
        ck_assert_double_eq(grad->data[k], 2.0 * pd[k]);
    bp_graph_free(other);
    bp_graph_free(g);
}
END_TEST

/* A tensor op's cases reach every rank 1 to 4 and broadcast both ways;
 * the correct op passes, and its twin that keeps only the last term of a
 * broadcast operand's gradient fails. */
START_TEST(test_tensor_op_cases_cover_ranks_and_broadcasts)
{
    bp_check_report rep;
    bp_check_options o = bp_check_options_default();
    int rank_seen[BP_MAX_RANK + 1] = {0}, bcast_lower_rank = 0;

    o.max_cases = 40;
    tensor_mul_wrong = 0;
    ck_assert_int_eq(bp_gradcheck_op(&tmul_op, &o, &rep), BP_OK);
    ck_assert_msg(rep.result == BP_CHECK_PASS, "%s %s", rep.message, rep.diagnosis);
    ck_assert_uint_ge(rep.n_cases, 20);
    for (size_t i = 0; i < rep.n_cases; i++) {
        const char *label = rep.cases[i].label, *arrow = strstr(label, " -> ");
        size_t x = 0;
        ck_assert_ptr_nonnull(arrow);
        for (const char *q = arrow + 4; *q && *q != ' '; q++)
            x += *q == 'x';
        ck_assert_uint_le(x + 1, BP_MAX_RANK);
        rank_seen[x + 1] = 1;
        /* an input of lower rank than the output: "3, 2x3x3 -> 2x3x3" */
        if (strncmp(label, "3, ", 3) == 0 || strstr(label, ", 3 -> ") != NULL)
            bcast_lower_rank = 1;
    }
    for (size_t r = 1; r <= BP_MAX_RANK; r++)
        ck_assert_msg(rank_seen[r], "no case with an output of rank %zu", r);
    ck_assert_msg(bcast_lower_rank, "no case broadcasting a rank-1 input");
    bp_check_report_clear(&rep);

    tensor_mul_wrong = 1;
    ck_assert_int_eq(bp_gradcheck_op(&tmul_op, &o, &rep), BP_OK);
    ck_assert_int_eq(rep.result, BP_CHECK_MISMATCH);
    ck_assert_uint_gt(rep.n_failed, 0);
    bp_check_report_clear(&rep);
    tensor_mul_wrong = 0;
}
END_TEST

static Suite *gradcheck_suite(void)
{
    Suite *s = suite_create("gradcheck");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_every_builtin_checked_and_passing);
    tcase_add_test(tc, test_builtins_pass_other_seeds);
    tcase_add_test(tc, test_binary_ops_cover_every_broadcast_pattern);
    tcase_add_test(tc, test_default_cases_cover_rank2_and_batch_patterns);
    tcase_add_test(tc, test_wrong_op_fails_with_diagnosis_and_replays);
    tcase_add_test(tc, test_nan_gradient_is_nonfinite);
    tcase_add_test(tc, test_samples_avoid_declared_kink);
    tcase_add_test(tc, test_spd_and_invertible_domains);
    tcase_add_test(tc, test_op_errors);
    tcase_add_test(tc, test_op_error_is_a_result);
    tcase_add_test(tc, test_graph_correct_passes);
    tcase_add_test(tc, test_graph_wrong_op_fails_and_restores);
    tcase_add_test(tc, test_overwritten_gradient_is_named);
    tcase_add_test(tc, test_graph_needs_a_param);
    tcase_add_test(tc, test_richardson_estimate);
    tcase_add_test(tc, test_options_defaults);
    tcase_add_test(tc, test_tolerances_matter);
    tcase_add_test(tc, test_samples_span_magnitudes);
    tcase_add_test(tc, test_wrong_only_for_large_inputs_fails);
    tcase_add_test(tc, test_mixed_fresh_patterns);
    tcase_add_test(tc, test_options_validated);
    tcase_add_test(tc, test_overwrite_diagnosed_when_one_node_feeds_both);
    tcase_add_test(tc, test_graph_check_leaves_graph_as_found);
    tcase_add_test(tc, test_tensor_op_cases_cover_ranks_and_broadcasts);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(gradcheck_suite());
}
