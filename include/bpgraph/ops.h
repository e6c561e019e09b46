/* SPDX-License-Identifier: MIT */
/* bpgraph: The built-in ops.  Part of <bpgraph.h>; include that. */
#ifndef BPGRAPH_OPS_H
#define BPGRAPH_OPS_H

#include "graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Built-in ops.  Each is bp_apply with the built-in op of that name.
 * Elementwise binary ops broadcast in two dimensions: each dimension of the
 * two operands is equal, or 1 in one of them. */
bp_node *bp_matmul(bp_graph *g, bp_node *a, bp_node *b);      /* A·B */
bp_node *bp_transpose(bp_graph *g, bp_node *a);               /* Aᵀ */
bp_node *bp_add(bp_graph *g, bp_node *a, bp_node *b);         /* a + b */
bp_node *bp_sub(bp_graph *g, bp_node *a, bp_node *b);         /* a − b */
bp_node *bp_mul(bp_graph *g, bp_node *a, bp_node *b);         /* a ⊙ b */
bp_node *bp_div(bp_graph *g, bp_node *a, bp_node *b);         /* a ⊘ b */
bp_node *bp_neg(bp_graph *g, bp_node *a);                     /* −a */
bp_node *bp_scale(bp_graph *g, bp_node *a, double c);         /* c·a */
bp_node *bp_exp(bp_graph *g, bp_node *a);
bp_node *bp_log(bp_graph *g, bp_node *a);
bp_node *bp_pow(bp_graph *g, bp_node *a, double p);           /* a^p */
bp_node *bp_sqrt(bp_graph *g, bp_node *a);
bp_node *bp_relu(bp_graph *g, bp_node *a);
bp_node *bp_sigmoid(bp_graph *g, bp_node *a);
bp_node *bp_tanh(bp_graph *g, bp_node *a);
bp_node *bp_gelu(bp_graph *g, bp_node *a);   /* a·Φ(a), Φ the normal CDF (exact, erf form) */
bp_node *bp_rowsum(bp_graph *g, bp_node *a);   /* m×n → m×1, sum of each row */
bp_node *bp_colsum(bp_graph *g, bp_node *a);   /* m×n → 1×n, sum of each column */
bp_node *bp_sum(bp_graph *g, bp_node *a);      /* m×n → 1×1 */
bp_node *bp_mean(bp_graph *g, bp_node *a);     /* m×n → 1×1 */
bp_node *bp_rowmax(bp_graph *g, bp_node *a);   /* m×n → m×1; NaN for a row
                                                  holding a NaN; the gradient
                                                  goes to the first arg-max */
bp_node *bp_softmax(bp_graph *g, bp_node *a);  /* fused, row-wise */

/* Along one axis of a tensor of rank 1 to 4: axis counts from 0, or from
 * the end when negative (−1 is the last).  The reductions keep the axis as
 * a 1 when keepdims is 1 and drop it when 0 (a rank-1 input then gives
 * shape (1)).  rowsum is sum_axis(a, −1, 1) of a matrix, colsum
 * sum_axis(a, 0, 1), rowmax max_axis(a, −1, 1), softmax softmax_axis(a, −1).
 * A new node owned by g, or NULL with BP_EDIM in g ("sum_axis: axis 3 is
 * outside 2x3x4") for an axis outside the shape, BP_EINVAL for keepdims
 * other than 0 or 1. */
bp_node *bp_sum_axis(bp_graph *g, bp_node *a, int axis, int keepdims);
bp_node *bp_mean_axis(bp_graph *g, bp_node *a, int axis, int keepdims);
bp_node *bp_max_axis(bp_graph *g, bp_node *a, int axis, int keepdims);
    /* NaN for a line holding a NaN; the gradient goes to the first arg-max */
bp_node *bp_softmax_axis(bp_graph *g, bp_node *a, int axis);  /* fused */
bp_node *bp_log_softmax(bp_graph *g, bp_node *a, int axis);
    /* (a − max) − log Σ e^(a − max): finite for any finite logits */
bp_node *bp_dense(bp_graph *g, bp_node *x, bp_node *w, bp_node *b); /* x·W + b */
/* relu(x·W + b) as one op: the same result as bp_relu(g, bp_dense(...))
 * (gradient 0 where x·W + b = 0, as bp_relu's), in one node, and faster on
 * narrow layers: it works through the rows in cache-sized blocks. */
bp_node *bp_dense_relu(bp_graph *g, bp_node *x, bp_node *w, bp_node *b);
bp_node *bp_mse(bp_graph *g, bp_node *pred, bp_node *target);
    /* mean over all entries of (pred − target)² → 1×1 */
bp_node *bp_nll(bp_graph *g, bp_node *prob, bp_node *target);
    /* −(1/m) Σ target ⊙ log(prob) → 1×1, prob and target of one shape
     * (..., K): m is the number of leading positions (rows of a matrix) */
bp_node *bp_softmax_ce(bp_graph *g, bp_node *logits, bp_node *target);
    /* nll(softmax(logits, last axis), target), fused, over (..., K) as
     * nll: gradient (p − target)/m */
bp_node *bp_detach(bp_graph *g, bp_node *a);   /* value of a, no gradient */
/* In training mode (bp_graph_set_training), a with each entry zeroed with
 * probability p and the others scaled by 1/(1-p), by a mask drawn from the
 * graph's generator (bp_graph_set_seed) at each forward and kept for the
 * backward: dA += dOut ⊙ mask/(1-p).  In eval mode, and for p = 0, a
 * itself (value and gradient).  Any rank; BP_EINVAL when p is not in
 * [0, 1). */
bp_node *bp_dropout(bp_graph *g, bp_node *a, double p);
/* Rows of table (V×d…) picked by ids of any shape (doubles holding
 * integers): ids' shape followed by d…, e.g. an embedding lookup
 * (V×D)[B×T] → B×T×D.  Backward scatter-adds into the table's gradient (a
 * repeated id adds once per use); ids get none.  bp_forward: BP_EINVAL
 * naming the id when one is not an integer in [0, V), nothing written. */
bp_node *bp_gather(bp_graph *g, bp_node *table, bp_node *ids);

/* Shape ops, on values of any rank 1..BP_MAX_RANK.  Each moves values
 * without arithmetic; a bad axis, range or shape is BP_EDIM with a message
 * naming the op and the shapes, e.g. "slice: 3..7 is outside axis 1 of
 * 2x5".  Each returns a new node owned by g, or NULL with the error in g.
 *
 * reshape: the same values, row-major, in the shape d0 x d1 x d2 x d3,
 * which ends at the first 0 (bp_reshape(g, x, 6, -1, 0, 0) is rank 2).
 * One dim may be −1, inferred from the element count, as numpy's; a −1
 * first dim follows an input's batch (x of N x 7 x 3 reshaped to
 * (−1, 21) is N x 21 for every N).  No copy: the output's value is the
 * input's buffer (a view). */
bp_node *bp_reshape(bp_graph *g, bp_node *a, long d0, long d1, long d2, long d3);

/* permute: the axes reordered, output axis i being input axis p_i, for i
 * below a's rank; the p_i from the rank on must be i (bp_permute(g, x, 2,
 * 0, 1, 3) moves a rank-3 x's last axis first: 2x3x4 → 4x2x3). */
bp_node *bp_permute(bp_graph *g, bp_node *a, size_t p0, size_t p1, size_t p2, size_t p3);

/* Axes i and j of a swapped (a permute): 2x3x4 with i = 0, j = 2 → 4x3x2. */
bp_node *bp_transpose_axes(bp_graph *g, bp_node *a, size_t i, size_t j);

/* slice: entries start .. start + length − 1 of a along axis (length ≥ 1),
 * all of the other axes: 2x5x3 with axis 1, start 1, length 3 → 2x3x3.
 * Its gradient goes back into the slice's place (zero elsewhere). */
bp_node *bp_slice(bp_graph *g, bp_node *a, size_t axis, size_t start, size_t length);

/* concat: nodes[0..n) joined along axis, in order; they have one rank and
 * equal dims but on axis (2x3x4 and 2x5x4 along axis 1 → 2x8x4).  Built as a
 * balanced tree of two-input concat ops; n = 1 returns nodes[0] itself.
 * BP_EINVAL for n = 0, a NULL nodes or a NULL or foreign node. */
bp_node *bp_concat(bp_graph *g, size_t n, bp_node *const *nodes, size_t axis);

/* stack: nodes[0..n), all of one shape, joined along a new unit axis
 * inserted at axis (0 .. rank): seven 32x16 steps stacked at axis 1 →
 * 32x7x16.  Each is reshaped (no copy) to have the unit axis, then
 * concatenated.  BP_EDIM when the inputs differ or already have rank
 * BP_MAX_RANK; BP_EINVAL as bp_concat. */
bp_node *bp_stack(bp_graph *g, size_t n, bp_node *const *nodes, size_t axis);

/* The lesson's staged softmax, built from graph nodes:
 *   shifted = a − detach(rowmax(a)); e = exp(shifted);
 *   s = rowsum(e); r = pow(s, −1); out = e ⊙ r.
 * Returns the output node (the intermediate nodes are named "softmax.*"). */
bp_node *bp_softmax_staged(bp_graph *g, bp_node *a);

/* Network ops.  Each returns a new node owned by g, or NULL with the error
 * in g (BP_EDIM naming the op and the shapes that do not fit).
 *
 * Layer norm over the last axis of x (rank 1..4, last dim D), as PyTorch's
 * F.layer_norm(x, (D,), gamma, beta, eps): per row, y = γ ⊙ (x − μ)/√(σ² +
 * eps) + β with σ² the biased variance; gamma and beta of shape (D).  Fused:
 * one pass forward, the analytic backward (dx, dγ, dβ).  BP_EINVAL for an
 * eps that is negative or not finite (PyTorch's default is 1e-5). */
bp_node *bp_layer_norm(bp_graph *g, bp_node *x, bp_node *gamma, bp_node *beta, double eps);

/* The same graph staged from primitive ops: μ = mean_axis(x, −1, keep),
 * c = x − μ, σ² = mean_axis(c ⊙ c, −1, keep), r = pow(σ² + eps, −1/2),
 * out = c ⊙ r ⊙ γ + β (nodes named "layer_norm.*"), equal to the fused op to
 * rounding; refuses what the fused op refuses, as "layer_norm_staged: ...". */
bp_node *bp_layer_norm_staged(bp_graph *g, bp_node *x, bp_node *gamma, bp_node *beta,
                              double eps);

/* Attention's masked softmax: along the last axis of scores (rank 2..4, the
 * last two axes Tq × Tk), query i sees only the keys j ≤ i + Tk − Tq (with
 * Tq == Tk, j ≤ i: itself and the past); the output is 0 at the others and
 * their gradient is 0.  A row with no key left (i + Tk − Tq < 0, when
 * Tq > Tk) is all 0 with 0 gradient, never NaN.  Stable for extreme scores,
 * as the fused softmax. */
bp_node *bp_causal_softmax(bp_graph *g, bp_node *scores);

/* Cross-entropy from logits and integer classes, as PyTorch's
 * F.cross_entropy(logits, ids, ignore_index=...) with the mean reduction:
 * logits (..., C) of rank 2..4, ids of the logits' shape without the last
 * axis ((N) for N×C logits) holding classes 0..C−1 as doubles, or
 * ignore_index (e.g. −100 or a padding id); → 1×1, the mean over the ids
 * not ignored of −log softmax(logits)[id], and 0 with 0 gradient when all
 * are.  The ids get no gradient (the checker never perturbs them).
 * Building: BP_EDIM naming both shapes when ids do not fit, BP_EINVAL for
 * a non-finite ignore_index.  bp_forward: BP_EINVAL naming the id and its
 * position when one is neither a class nor ignore_index; nothing is read
 * outside a row. */
bp_node *bp_cross_entropy(bp_graph *g, bp_node *logits, bp_node *ids, double ignore_index);

/* Linear algebra (LAPACKE).  Each is bp_apply with the built-in op of that
 * name and returns a new node owned by g, or NULL with the error in g.
 *  - Building: BP_EDIM when A is not square (lstsq: has fewer rows than
 *    columns), B's rows differ from A's, or a size (including n·n) does not
 *    fit LAPACK's 32-bit integers.
 *  - bp_forward: BP_ESINGULAR for a singular or not positive definite
 *    matrix, with a message naming the op, the LAPACK routine and its info
 *    value, e.g. "solve: forward: dgesv: U(3,3) is exactly zero (info 3),
 *    matrix A (3x3) is singular"; BP_ENUMERIC when the result is not finite
 *    (a numerically singular A, or a non-finite input).  No op passes a
 *    matrix of NaN on silently.
 *  - Factorisations made in forward are kept for backward. */

/* X = A⁻¹B: (n×n)·(n×k) → n×k, by LU with partial pivoting (dgesv).
 * Gradients dB = A⁻ᵀG, dA = −dB·Xᵀ. */
bp_node *bp_solve(bp_graph *g, bp_node *a, bp_node *b);

/* A⁻¹: n×n → n×n (dgetrf, dgetri).  Gradient dA = −A⁻ᵀ G A⁻ᵀ. */
bp_node *bp_inv(bp_graph *g, bp_node *a);

/* The lower triangular L with L·Lᵀ = A, for symmetric positive definite A:
 * n×n → n×n (dpotrf).  L's upper triangle is zero.  Only A's lower triangle
 * is read: A is taken to be symmetric.  The gradient dA is symmetric — the
 * gradient with respect to a symmetric matrix, so that a symmetric change E
 * of A changes the loss by Σ dA(i,j)·E(i,j); moving A(i,j) and A(j,i)
 * together by h changes it by (dA(i,j) + dA(j,i))·h.  Keep A symmetric
 * (e.g. M·Mᵀ + c·I, or a param updated only by symmetric gradients).
 * BP_ESINGULAR when A is not positive definite. */
bp_node *bp_cholesky(bp_graph *g, bp_node *a);

/* log det A for symmetric positive definite A: n×n → 1×1, as 2·Σ log L(i,i)
 * of its Cholesky factor, so it does not overflow where det would.  Reads
 * A's lower triangle; the gradient dA = G·A⁻¹ is symmetric, with the same
 * convention as bp_cholesky.  BP_ESINGULAR when A is not positive
 * definite. */
bp_node *bp_logdet(bp_graph *g, bp_node *a);

/* det A: n×n → 1×1, the product of U's diagonal from dgetrf, its sign from
 * the row interchanges.  Gradient dA = G·det(A)·A⁻ᵀ.  A singular A is not
 * an error in forward: det is then exactly 0.  Its backward fails with
 * BP_ESINGULAR for n > 1 (the gradient there, the cofactor matrix, is not
 * computed); for n = 1 it is G.  BP_ENUMERIC when det overflows a double
 * (use bp_logdet). */
bp_node *bp_det(bp_graph *g, bp_node *a);

/* X = argmin ‖A·X − B‖₂, column by column: (m×n)·(m×k) → n×k, for A with
 * m ≥ n and full column rank (dgels, by QR).  Gradients, with residual
 * r = B − A·X and Y = (AᵀA)⁻¹G: dB = A·Y, dA = r·Yᵀ − A·Y·Xᵀ.
 * A rank-deficient A is an error, not a minimum-norm solution: BP_ESINGULAR
 * when R has an exactly zero diagonal entry, or when R's reciprocal
 * condition number (LAPACK dtrcon, 1-norm) is below m·DBL_EPSILON (A
 * numerically rank deficient, e.g. two equal columns); the message gives
 * the estimate and the threshold. */
bp_node *bp_lstsq(bp_graph *g, bp_node *a, bp_node *b);

#ifdef __cplusplus
}
#endif

#endif /* BPGRAPH_OPS_H */
