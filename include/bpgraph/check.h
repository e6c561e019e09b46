/* SPDX-License-Identifier: MIT */
/* bpgraph: Gradient checking.  Part of <bpgraph.h>; include that. */
#ifndef BPGRAPH_CHECK_H
#define BPGRAPH_CHECK_H

#include "graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Gradient checking                                                         */
/* ------------------------------------------------------------------------ */

/*
 * The checker compares analytic derivatives (from bp_backward) with central
 * finite differences, refined by a Richardson stencil that also estimates
 * their error; an entry passes when |a − n| ≤ atol + rtol · max(|a|, |n|) +
 * estimate.  docs/gradcheck.md gives the method in full: the step, the
 * stencil, the tolerances, the cases derived from an op, and the backward
 * contract checked with them.
 *
 * Options are validated (eps in (0, 1), a relative step step_scale ·
 * cbrt(eps) in [1e-10, 0.1], atol and rtol in [0, 0.01], kink_margin in
 * [0, 1), not both jacobian_max and n_probes 0): others give BP_EINVAL
 * with the report's result ERROR and a message.  A check that compares no
 * derivative is an ERROR, never a PASS.
 */

/* Outcome of a check, ordered by severity. */
typedef enum bp_check_result {
    BP_CHECK_PASS = 0,
    BP_CHECK_MISMATCH,    /* an analytic derivative or contract is wrong */
    BP_CHECK_NONFINITE,   /* a NaN or infinity in a value or gradient */
    BP_CHECK_ERROR        /* an op or the graph returned an error, or no
                             case could be built (see message) */
} bp_check_result;

#define BP_CHECK_ALL ((size_t)-1)   /* bp_check_options.only_case: every case */
#define BP_CHECK_NONE ((size_t)-1)  /* bp_check_entry.out_row/out_col: the
                                       entry is of a weighted sum or probe */

typedef struct bp_check_options {
    unsigned long long seed;  /* sampling seed; same seed, same cases */
    double eps;               /* rounding unit used to choose the step */
    double step_scale;        /* c in h = c · cbrt(eps) · max(1, |x|) */
    double atol;              /* absolute tolerance */
    double rtol;              /* relative tolerance */
    int richardson;           /* nonzero: 4-point stencil + error estimate */
    int contracts;            /* nonzero: also check the backward contract */
    size_t max_cases;         /* shape cases per attribute set (op checks),
                                 beyond one per broadcast pattern */
    size_t jacobian_max;      /* full Jacobian when input elements × output
                                 elements ≤ this; probes above */
    size_t n_probes;          /* vᵀJu probes per larger case */
    size_t graph_elementwise_max; /* bp_gradcheck_graph differentiates every
                                 param element when there are at most this
                                 many; probes above */
    double kink_margin;       /* keep samples this far (× max(1, |kink|))
                                 from a kink or a tie */
    size_t only_case;         /* BP_CHECK_ALL, or the one case to run (its
                                 number in a report, for replaying it) */
} bp_check_options;

/* The defaults: seed 1, eps DBL_EPSILON, step_scale 1, atol 1e-6,
 * rtol 1e-5, richardson on, contracts on, max_cases 24, jacobian_max 1024,
 * n_probes 4, graph_elementwise_max 4096, kink_margin 1e-2, only_case
 * BP_CHECK_ALL. */
bp_check_options bp_check_options_default(void);

/* One compared derivative. */
typedef struct bp_check_entry {
    size_t case_index;     /* the case it belongs to */
    size_t input;          /* op input, or param number in graph order */
    char input_name[32];   /* "in0".. for ops, the param's name for graphs */
    size_t row, col;       /* the element of that input (for a probe whose
                              re-check found nothing: BP_CHECK_NONE) */
    size_t out_row, out_col; /* the output element of a Jacobian entry, or
                              BP_CHECK_NONE */
    double x;              /* the input element's value */
    double analytic;
    double numeric;
    double error;          /* |analytic − numeric| */
    double estimate;       /* error estimate of numeric (Richardson + rounding) */
    double allowed;        /* atol + rtol · max(|a|, |n|) + estimate */
} bp_check_entry;

/* One case of a check: a set of input shapes, an attribute set, a sample. */
typedef struct bp_check_case {
    size_t index;          /* the case number (for only_case) */
    char label[128];       /* e.g. "2x3, 1x3 -> 2x3 attr 2.385 [jacobian]" */
    size_t attr_set;       /* index into check_attr (0 without attributes) */
    size_t n_compared;     /* derivatives compared */
    double max_abs_err;
    double max_rel_err;
    bp_check_result result;
    char diagnosis[128];   /* "" or a one-line reading of a mismatch */
} bp_check_case;

#define BP_CHECK_MAX_WORST 8

typedef struct bp_check_report {
    bp_check_result result;  /* the most severe over all cases */
    char name[64];           /* the op's name, or "graph" */
    bp_check_options options;  /* the options used */
    size_t n_cases;
    bp_check_case *cases;    /* n_cases entries, owned by the report */
    size_t n_failed;         /* cases that did not pass */
    size_t failed_case;      /* the case of worst[0] when not passing (to
                                replay with only_case), else BP_CHECK_NONE */
    size_t n_compared;
    double max_abs_err;
    double max_rel_err;
    size_t n_worst;
    bp_check_entry worst[BP_CHECK_MAX_WORST]; /* largest error / allowed
                                first; failing entries when there are any */
    char diagnosis[128];     /* failed_case's diagnosis, e.g. "sign flipped
                                (analytic ≈ −numeric)"; "" when none fits */
    char message[512];       /* the first contract failure or error, or "" */
} bp_check_report;

/* Releases what a report owns and zeroes it; NULL is allowed.  The check
 * functions overwrite *report without releasing it first, so call this
 * between checks that reuse one report. */
void bp_check_report_clear(bp_check_report *report);

/* Checks op over the cases derived from its declaration: the input shapes
 * its shape rule accepts, each attribute set, inputs sampled from its
 * domains, and with contracts on the backward contract (a zero seed gives
 * zero, linear in the seed, a second backward accumulates); see
 * docs/gradcheck.md.  A BP_OP_RANDOM op is checked in training mode, as
 * the function of the draws its first forward in a case makes, which the
 * case's other forwards reuse.  opt may be NULL for the defaults.
 * Returns BP_OK when the check ran, whatever its result (read
 * report->result); BP_EINVAL for a NULL op or report, an op that fails
 * bp_op_validate or declares a max_abs that is negative or not finite,
 * invalid options, or a max_cases so large that the case count overflows;
 * BP_ENOMEM.  Never prints. */
BP_WARN_UNUSED
bp_status bp_gradcheck_op(const bp_op *op, const bp_check_options *opt,
                          bp_check_report *report);

/* Checks the gradient of out with respect to every param of g by finite
 * differences on the params' values: out itself when it is 1x1, else a
 * random weighted sum of its entries.  With contracts on it also checks
 * that a zero seed gives zero and that a second backward accumulates.
 * Every param's value is restored exactly and its gradient restored to
 * what it was (a param with no gradient has none again); the graph is
 * left forwarded to out.  Random ops (BP_OP_RANDOM) keep the draws of the
 * graph's last forward, or draw once if they have none, for the whole
 * check, in the graph's mode; the graph's generator is left in the state
 * it was found in.  Returns as bp_gradcheck_op; BP_EINVAL when out
 * is not a node of g, BP_ESTATE when it depends on no param, and the
 * status of bp_forward when out cannot be computed (e.g. an input has no
 * data).  When it returns an error the graph's error state is as it was
 * found: the next bp_forward runs. */
BP_WARN_UNUSED
bp_status bp_gradcheck_graph(bp_graph *g, bp_node *out,
                             const bp_check_options *opt,
                             bp_check_report *report);

/* The checker's finite difference for one scalar function: f'(x) with the
 * step and stencil of opt (NULL: defaults).  *estimate (may be NULL)
 * receives the error estimate (Richardson + rounding); NaN when f
 * returns a non-finite value or opt is invalid (see above). */
double bp_numeric_derivative(double (*f)(double x, void *ctx), void *ctx,
                             double x, const bp_check_options *opt,
                             double *estimate);

#ifdef __cplusplus
}
#endif

#endif /* BPGRAPH_CHECK_H */
