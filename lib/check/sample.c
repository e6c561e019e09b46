/* SPDX-License-Identifier: MIT */
/* The checker's sampling and cases: its random streams, inputs drawn from
 * their declared domains away from kinks and ties, and the shape cases of
 * an op found by asking its shape rule. */
#include "check.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Tries before giving up on sampling away from kinks and ties. */
#define MAX_RESAMPLE 1000
/* The smallest magnitude of the log-uniform half of the samples. */
#define WIDE_MIN 1e-2

/* ---- random streams: bp_rng, one per case ---- */

/* Uniform in [lo, hi). */
static double rng_range(bp_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * bp_rng_uniform(r);
}

/* Uniform magnitude in [lo, hi) with a random sign. */
double bpi_gc_rng_signed(bp_rng *r, double lo, double hi)
{
    double v = rng_range(r, lo, hi);
    return (bp_rng_next(r) & 1u) ? -v : v;
}

/* Each case gets its own stream, so replaying one case (only_case) draws
 * exactly the samples it drew in the full run. */
bp_rng bpi_gc_rng_for(unsigned long long seed, const char *name, size_t case_index)
{
    uint64_t h = 1469598103934665603ull;   /* FNV-1a of the name */
    bp_rng r;

    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    bp_rng_seed(&r, (uint64_t)seed ^ h);
    bp_rng_seed(&r, bp_rng_next(&r) ^ ((uint64_t)case_index * 0xD1B54A32D192ED03ull));
    return r;
}

/* ---- sampling inputs from their domains ---- */

static int near_kink(const bp_domain *d, double x, double margin)
{
    return (d->kinks & BP_KINK_AT) && fabs(x - d->kink) < margin * fmax(1.0, fabs(d->kink));
}

/* A magnitude: half the draws uniform in [lo, hi) (near 1), a quarter
 * log-uniform from WIDE_MIN (or least, when larger) to max_abs, a quarter
 * log-uniform in the top decade, where tail branches and overflow guards
 * live; never above the domain's max_abs. */
static double magnitude(bp_rng *r, const bp_domain *d, double lo, double hi, double least)
{
    const double top = d->max_abs > 0.0 ? d->max_abs : BP_DOMAIN_MAX_ABS_DEFAULT;
    const double bottom = fmax(WIDE_MIN, least);
    const unsigned which = (unsigned)(bp_rng_next(r) & 3u);

    if (which < 2 || top <= bottom)
        return rng_range(r, fmin(lo, 0.5 * top), fmin(hi, top));
    return exp(rng_range(r, log(which == 2 ? bottom : fmax(bottom, 0.1 * top)), log(top)));
}

static double signed_magnitude(bp_rng *r, const bp_domain *d, double lo, double hi,
                               double least)
{
    double v = magnitude(r, d, lo, hi, least);
    return (bp_rng_next(r) & 1u) ? -v : v;
}

/* One element.  Near a bound (0 for POSITIVE and NONZERO) a sample keeps
 * four steps of the stencil away, so that x ± 2h stays in the domain. */
static double sample_scalar(bp_rng *r, const bp_domain *d, const bp_check_options *o)
{
    const double margin = o->kink_margin, step = 4.0 * o->step_scale * cbrt(o->eps);

    for (int tries = 0; tries < MAX_RESAMPLE; tries++) {
        double x;
        switch (d->kind) {
        case BP_DOMAIN_POSITIVE:
            x = magnitude(r, d, 0.5, 2.5, step);
            break;
        case BP_DOMAIN_NONZERO:
            x = signed_magnitude(r, d, 0.5, 2.0, step);
            break;
        case BP_DOMAIN_INTERVAL:
            /* Keep clear of the bounds: the stencil steps off x. */
            if (isfinite(d->lo) && isfinite(d->hi))
                x = d->lo + (d->hi - d->lo) * rng_range(r, 0.1, 0.9);
            else if (isfinite(d->lo))
                x = d->lo + magnitude(r, d, 0.5, 2.5, step * fmax(1.0, fabs(d->lo)));
            else if (isfinite(d->hi))
                x = d->hi - magnitude(r, d, 0.5, 2.5, step * fmax(1.0, fabs(d->hi)));
            else
                x = signed_magnitude(r, d, 0.0, 2.0, 0.0);
            break;
        default:
            x = signed_magnitude(r, d, 0.0, 2.0, 0.0);
            break;
        }
        if (!near_kink(d, x, margin))
            return x;
    }
    return NAN;
}

static int row_has_tie(const double *row, size_t n, double margin)
{
    for (size_t j = 0; j < n; j++)
        for (size_t k = j + 1; k < n; k++)
            if (fabs(row[j] - row[k]) < margin * fmax(1.0, fmax(fabs(row[j]), fabs(row[k]))))
                return 1;
    return 0;
}

/* Fills m from domain d; BP_EDIM for a non-square SPD/INVERTIBLE input,
 * BP_ENUMERIC when no sample away from the kinks was found. */
bp_status bpi_gc_sample_ids(bp_rng *r, size_t n, const double *ignore, bp_matrix *m)
{
    if (n == 0)
        return BP_EDIM;
    for (size_t k = 0; k < m->rows * m->cols; k++)
        m->data[k] = ignore && bp_rng_below(r, 4) == 0 ? *ignore : (double)bp_rng_below(r, n);
    return BP_OK;
}

bp_status bpi_gc_sample_matrix(bp_rng *r, const bp_domain *d, const bp_check_options *o,
                               bp_matrix *m)
{
    const double margin = o->kink_margin;
    const size_t rows = m->rows, cols = m->cols;

    if (d->kind == BP_DOMAIN_SPD || d->kind == BP_DOMAIN_INVERTIBLE) {
        if (rows != cols)
            return BP_EDIM;
        if (d->kind == BP_DOMAIN_SPD) {
            /* A = MᵀM + n·I: symmetric, eigenvalues ≥ n. */
            double *M = bpi_malloc(rows * cols * sizeof *M);
            if (!M)
                return BP_ENOMEM;
            for (size_t k = 0; k < rows * cols; k++)
                M[k] = rng_range(r, -1.0, 1.0);
            for (size_t i = 0; i < rows; i++)
                for (size_t j = i; j < cols; j++) {
                    double s = i == j ? (double)rows : 0.0;
                    for (size_t k = 0; k < rows; k++)
                        s += M[k * cols + i] * M[k * cols + j];
                    m->data[i * cols + j] = s;
                    m->data[j * cols + i] = s;
                }
            bpi_free(M);
        } else {
            /* Strictly diagonally dominant, so well conditioned. */
            for (size_t i = 0; i < rows; i++) {
                double off = 0.0;
                for (size_t j = 0; j < cols; j++) {
                    if (j == i)
                        continue;
                    m->data[i * cols + j] = rng_range(r, -1.0, 1.0);
                    off += fabs(m->data[i * cols + j]);
                }
                m->data[i * cols + i] = bpi_gc_rng_signed(r, off + 0.5, off + 1.5);
            }
        }
        return BP_OK;
    }
    for (size_t i = 0; i < rows; i++) {
        double *row = m->data + i * cols;
        int tries = 0;
        do {
            for (size_t j = 0; j < cols; j++) {
                row[j] = sample_scalar(r, d, o);
                if (isnan(row[j]))
                    return BP_ENUMERIC;
            }
        } while ((d->kinks & BP_KINK_TIES) && row_has_tie(row, cols, margin) &&
                 ++tries < MAX_RESAMPLE);
        if (tries >= MAX_RESAMPLE)
            return BP_ENUMERIC;
    }
    return BP_OK;
}

/* Random signed weights of magnitude in [0.25, 1): no entry is ignored. */
void bpi_gc_random_weights(bp_rng *r, double *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        w[i] = bpi_gc_rng_signed(r, 0.25, 1.0);
}

/* ---- the cases of one op ---- */

static int needs_square(const bp_domain *d)
{
    return d->kind == BP_DOMAIN_SPD || d->kind == BP_DOMAIN_INVERTIBLE;
}

/* Whether op's shape rule accepts these input shapes; sets k->out. */
static int shape_accepts(const bp_op *op, const double *attr, gc_case *k)
{
    bp_matrix in[BP_MAX_INPUTS], out;
    bp_shape out_shape;
    bp_op_args a;

    memset(&a, 0, sizeof a);
    memset(in, 0, sizeof in);
    memset(&out, 0, sizeof out);
    memset(&out_shape, 0, sizeof out_shape);
    a.n_in = op->n_in;
    for (size_t i = 0; i < op->n_in; i++) {
        bpi_shape_matrix(&k->in[i], &in[i].rows, &in[i].cols);
        if (needs_square(&op->domain[i]) && (k->in[i].rank != 2 || in[i].rows != in[i].cols))
            return 0;
        /* a matrix op is given rank 1 or 2 only, as the graph does */
        if (k->in[i].rank > 2 && !(op->flags & BP_OP_TENSORS))
            return 0;
        a.in[i] = &in[i];
        a.in_shape[i] = &k->in[i];
    }
    a.out = &out;
    a.out_shape = &out_shape;
    a.attr = attr;
    a.training = 1;   /* as the cases run */
    /* the verdict only: with no message buffer (a.msg NULL) bp_op_fail
     * formats nothing, for each of the 22³ combinations an op of three
     * inputs is tried on */
    if (op->shape(&a) != BP_OK)
        return 0;
    if (out_shape.rank == 0)
        out_shape = (bp_shape){2, {out.rows, out.cols}};
    if (out_shape.rank > BP_MAX_RANK)
        return 0;
    for (size_t d = 0; d < out_shape.rank; d++)
        if (out_shape.dim[d] == 0)
            return 0;
    k->out = out_shape;
    return 1;
}

/* Dimension d of s counted from the right (0: the last), 1 beyond its
 * rank, as numpy aligns shapes for broadcasting. */
static size_t dim_from_right(const bp_shape *s, size_t d)
{
    return d < s->rank ? s->dim[s->rank - 1 - d] : 1;
}

/* The number of right-aligned dimensions the signatures look at: 2 for a
 * matrix op (rows, cols, as always), every rank for a tensor op. */
static size_t sig_dims(const bp_op *op)
{
    return (op->flags & BP_OP_TENSORS) ? BP_MAX_RANK : 2;
}

/* How each dimension of each input relates to the output's: 0 output is
 * 1, 1 equal and > 1, 2 broadcast (input 1, output > 1), 3 other; for a
 * tensor op also each input's rank. */
static uint64_t broadcast_signature(const bp_op *op, const gc_case *k)
{
    const size_t nd = sig_dims(op);
    uint64_t sig = 0;
    for (size_t i = 0; i < op->n_in; i++) {
        if (op->flags & BP_OP_TENSORS)
            sig = sig * 5 + k->in[i].rank;
        for (size_t d = nd; d-- > 0;) {
            size_t in = dim_from_right(&k->in[i], d), out = dim_from_right(&k->out, d);
            unsigned code = out == 1 ? 0u : in == out ? 1u : in == 1 ? 2u : 3u;
            sig = sig * 4 + code;
        }
    }
    return sig;
}

/* How each input's dimensions d_lo .. d_hi − 1 (counted from the right)
 * stand to the output's, ranks aside (codes as above; an absent dimension
 * is broadcast): for dims 0, 1 of cases whose inputs are all matrices the
 * row/column pattern, for dims 2, 3 of a case with batch dims the batch
 * pattern.  0 for a case that has none. */
static uint64_t dims_pattern(const bp_op *op, const gc_case *k, size_t d_lo, size_t d_hi)
{
    uint64_t sig = 1;
    for (size_t i = 0; i < op->n_in; i++) {
        if (d_lo == 0 && k->in[i].rank != 2)
            return 0;
        for (size_t d = d_lo; d < d_hi; d++) {
            size_t in = dim_from_right(&k->in[i], d), out = dim_from_right(&k->out, d);
            sig = sig * 4 + (out == 1 ? 0u : in == out ? 1u : in == 1 ? 2u : 3u);
        }
    }
    return d_lo > 0 && k->out.rank <= 2 ? 0 : sig;
}

/* The broadcast signature plus each matrix view's orientation (wide, tall,
 * square, 1x1). */
static uint64_t full_signature(const bp_op *op, const gc_case *k)
{
    uint64_t sig = broadcast_signature(op, k);
    for (size_t i = 0; i <= op->n_in; i++) {
        size_t r, c;
        bpi_shape_matrix(i < op->n_in ? &k->in[i] : &k->out, &r, &c);
        sig = sig * 4 + (r == 1 && c == 1 ? 0u : r < c ? 1u : r > c ? 2u : 3u);
    }
    return sig;
}

/* The signature pass p of bpi_gc_enumerate_cases tells cases apart by (0
 * when case k has none). */
static uint64_t pass_signature(const bp_op *op, const gc_case *k, int pass)
{
    switch (pass) {
    case 0: return op->n_in == 2 ? dims_pattern(op, k, 0, 2) : 0;
    case 1:
        return op->n_in == 2 && (op->flags & BP_OP_TENSORS) ? dims_pattern(op, k, 2, BP_MAX_RANK)
                                                            : 0;
    case 2: return 1 + broadcast_signature(op, k);   /* 1 +: never 0 */
    default: return 1 + full_signature(op, k);
    }
}

static const size_t small_dims[] = {1, 2, 3};
#define N_SMALL_DIMS (sizeof small_dims / sizeof small_dims[0])

/* The shapes a tensor op's inputs are tried with: every rank, 1s (to be
 * broadcast) in each position, and equal trailing dims that products and
 * broadcasts can match.  A matrix op gets the 3 x 3 rows×cols grid. */
static const bp_shape tensor_shapes[] = {
    {1, {1}}, {1, {2}}, {1, {3}},
    {2, {1, 1}}, {2, {1, 2}}, {2, {1, 3}}, {2, {2, 1}}, {2, {2, 2}}, {2, {2, 3}},
    {2, {3, 1}}, {2, {3, 2}}, {2, {3, 3}},
    {3, {2, 3, 3}}, {3, {1, 3, 3}}, {3, {2, 1, 3}}, {3, {2, 3, 1}}, {3, {2, 2, 3}},
    {3, {3, 2, 2}},
    {4, {2, 2, 3, 3}}, {4, {1, 2, 3, 3}}, {4, {2, 1, 3, 3}}, {4, {2, 2, 1, 3}},
};
#define N_TENSOR_SHAPES (sizeof tensor_shapes / sizeof tensor_shapes[0])

/* The number of candidate shapes of one input. */
static size_t n_candidates(const bp_op *op)
{
    return (op->flags & BP_OP_TENSORS) ? N_TENSOR_SHAPES : N_SMALL_DIMS * N_SMALL_DIMS;
}

/* Every combination of candidate shapes, numbered 0 .. n_candidates^n_in − 1. */
static void decode_combo(const bp_op *op, size_t idx, gc_case *k)
{
    memset(k, 0, sizeof *k);
    for (size_t i = 0; i < op->n_in; i++) {
        if (op->flags & BP_OP_TENSORS) {
            k->in[i] = tensor_shapes[idx % N_TENSOR_SHAPES];
            idx /= N_TENSOR_SHAPES;
            continue;
        }
        k->in[i].rank = 2;
        k->in[i].dim[0] = small_dims[idx % N_SMALL_DIMS];
        idx /= N_SMALL_DIMS;
        k->in[i].dim[1] = small_dims[idx % N_SMALL_DIMS];
        idx /= N_SMALL_DIMS;
    }
}

/* The order combinations are tried in: as numbered for a matrix op; for
 * a tensor op strided by a prime (coprime to 22^n), so the first cases
 * (max_cases is small) vary every input, not only the first. */
static size_t combo_at(const bp_op *op, size_t idx, size_t combos)
{
    if (!(op->flags & BP_OP_TENSORS))
        return idx;
    return (size_t)(((unsigned long long)idx * 7919u) % combos);
}

static int same_inputs(const bp_op *op, const gc_case *a, const gc_case *b)
{
    for (size_t i = 0; i < op->n_in; i++)
        if (!bpi_shapes_equal(&a->in[i], &b->in[i]))
            return 0;
    return 1;
}

static size_t elements(const bp_shape *s)
{
    size_t n = 1;
    for (size_t d = 0; d < s->rank; d++)
        n *= s->dim[d];
    return n;
}

static int seen(const uint64_t *sigs, size_t n, uint64_t sig)
{
    for (size_t i = 0; i < n; i++)
        if (sigs[i] == sig)
            return 1;
    return 0;
}

/* The domain of one node fed to inputs 0 and 1, or 0 when theirs
 * conflict. */
int bpi_gc_shared_domain(const bp_op *op, bp_domain *d)
{
    const bp_domain *a = &op->domain[0], *b = &op->domain[1];

    if (a->kind == BP_DOMAIN_INDEX || b->kind == BP_DOMAIN_INDEX)
        return 0;   /* ids and values are not one node */
    if (a->kind == b->kind) {
        *d = *a;
        if (a->kind == BP_DOMAIN_INTERVAL) {
            d->lo = fmax(a->lo, b->lo);
            d->hi = fmin(a->hi, b->hi);
            if (!(d->lo < d->hi))
                return 0;
        }
    } else if (a->kind == BP_DOMAIN_REAL) {
        *d = *b;
    } else if (b->kind == BP_DOMAIN_REAL) {
        *d = *a;
    } else {
        return 0;
    }
    d->kinks = a->kinks | b->kinks;
    d->kink = (a->kinks & BP_KINK_AT) ? a->kink : b->kink;
    /* the smaller declared range (0 is the default) */
    d->max_abs = a->max_abs > 0.0 && b->max_abs > 0.0 ? fmin(a->max_abs, b->max_abs)
                                                     : fmax(a->max_abs, b->max_abs);
    return 1;
}

/* Appends the cases of one attribute set to cases[*n]; returns how many
 * were added (at most o->max_cases + 2). */
size_t bpi_gc_enumerate_cases(const bp_op *op, const bp_check_options *o, size_t attr_set,
                              const double *attr, gc_case *cases, size_t *n)
{
    const size_t start = *n;
    const size_t limit = o->max_cases > 1 ? o->max_cases - 1 : 1;   /* one kept for large */
    size_t combos = 1, chosen = 0;
    uint64_t sigs[256];
    size_t n_sigs = 0;
    bp_domain dummy;

    for (size_t i = 0; i < op->n_in; i++)
        combos *= n_candidates(op);
    /* Signatures (pass_signature) in this order: 2, each broadcast
     * signature (ranks too), up to the limit; then past it if need be, 0,
     * each row/column pattern of matrix inputs not yet covered (a binary
     * op's 16) and 1, each pattern of the batch dims (matmul's 16); then up
     * to the limit, 3, each orientation, and 4, fill. */
    static const int order[] = {2, 0, 1, 3, 4};
    for (size_t step = 0; step < sizeof order / sizeof *order; step++) {
        const int pass = order[step];
        const size_t bound = pass < 2 ? limit + BPI_GC_MAX_PATTERNS : limit;
        if (pass < 4)
            n_sigs = 0;
        for (size_t j = start; pass < 4 && j < start + chosen; j++)
            if (n_sigs < 256)
                sigs[n_sigs++] = pass_signature(op, &cases[j], pass);
        for (size_t idx = 0; idx < combos && chosen < bound; idx++) {
            gc_case k;
            int dup = 0;
            /* a pattern from its first candidates, small shapes first */
            decode_combo(op, pass < 2 ? idx : combo_at(op, idx, combos), &k);
            if (!shape_accepts(op, attr, &k))
                continue;
            for (size_t j = start; j < start + chosen && !dup; j++)
                dup = same_inputs(op, &k, &cases[j]);
            if (dup)
                continue;
            if (pass < 4) {
                uint64_t sig = pass_signature(op, &k, pass);
                if (sig == 0 || seen(sigs, n_sigs, sig) || n_sigs >= 256)
                    continue;
                sigs[n_sigs++] = sig;
            }
            k.attr_set = attr_set;
            cases[start + chosen++] = k;
        }
    }
    if (chosen == 0)
        return 0;

    /* One large case: the biggest small case with its dimensions scaled,
     * equal dimensions staying equal so the shape rule still accepts. */
    if (o->max_cases > 1) {
        size_t best = start, best_size = 0;
        for (size_t j = start; j < start + chosen; j++) {
            size_t size = 0;
            for (size_t i = 0; i < op->n_in; i++)
                size += elements(&cases[j].in[i]);
            if (size > best_size) {
                best_size = size;
                best = j;
            }
        }
        gc_case k = cases[best];
        for (size_t i = 0; i < op->n_in; i++)
            for (size_t d = 0; d < k.in[i].rank; d++)
                k.in[i].dim[d] = k.in[i].dim[d] == 1 ? 1 : k.in[i].dim[d] == 2 ? 5 : 7;
        if (shape_accepts(op, attr, &k)) {
            k.large = 1;
            cases[start + chosen++] = k;
        }
    }

    /* The same node as inputs 0 and 1: mul(x, x) must get 2x. */
    if (op->n_in >= 2 && bpi_gc_shared_domain(op, &dummy)) {
        size_t added = 0;
        n_sigs = 0;
        for (size_t idx = 0; idx < combos && added < 2; idx++) {
            gc_case k;
            uint64_t sig;
            decode_combo(op, combo_at(op, idx, combos), &k);
            if (!bpi_shapes_equal(&k.in[0], &k.in[1]) || !shape_accepts(op, attr, &k))
                continue;
            sig = full_signature(op, &k);
            if (seen(sigs, n_sigs, sig))
                continue;
            sigs[n_sigs++] = sig;
            k.attr_set = attr_set;
            k.shared = 1;
            cases[start + chosen++] = k;
            added++;
        }
    }
    *n = start + chosen;
    return chosen;
}

/* "2x3x4" (or "2x3"), appended at buf + *used. */
static void append_shape(const bp_shape *s, char *buf, size_t size, size_t *used)
{
    char dims[BPI_SHAPE_STR];
    if (*used < size)
        *used += (size_t)snprintf(buf + *used, size - *used, "%s",
                                  bpi_shape_str(s, dims, sizeof dims));
}

void bpi_gc_case_label(const bp_op *op, const gc_case *k, const double *attr, char *buf,
                       size_t size)
{
    size_t used = 0;
    for (size_t i = 0; i < op->n_in && used < size; i++) {
        if (i)
            used += (size_t)snprintf(buf + used, size - used, ", ");
        append_shape(&k->in[i], buf, size, &used);
    }
    if (used < size)
        used += (size_t)snprintf(buf + used, size - used, " -> ");
    append_shape(&k->out, buf, size, &used);
    for (size_t a = 0; a < op->n_attr && used < size; a++)
        used += (size_t)snprintf(buf + used, size - used, "%s%.6g%s", a ? ", " : " attr (",
                                 attr[a], a + 1 == op->n_attr ? ")" : "");
    if (used < size)
        snprintf(buf + used, size - used, "%s", k->shared ? " same node as in0 and in1"
                 : op->flags & BP_OP_STOP_GRAD ? " [no gradient]"
                 : k->large ? " [probes]" : " [jacobian]");
}
