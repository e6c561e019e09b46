/* SPDX-License-Identifier: MIT */
/* The gradient checker's private interface: what its parts share.
 * sample.c draws inputs and enumerates an op's cases; stencil.c takes the
 * differences and evaluates the target; contracts.c checks what backward
 * must do beyond the differences; report.c scores, reports and diagnoses;
 * gradcheck.c drives them for an op or a graph. */
#ifndef BP_CHECK_PRIVATE_H
#define BP_CHECK_PRIVATE_H

#include "bp_private.h"

#include <stdint.h>

/* ---- sampling and cases (sample.c) ---- */

/* The checker draws from bp_rng, the library's one generator, so a seed
 * means the same samples on every platform. */
/* Each case gets its own stream, so replaying one case (only_case) draws
 * exactly the samples it drew in the full run. */
bp_rng bpi_gc_rng_for(unsigned long long seed, const char *name, size_t case_index);
/* Uniform magnitude in [lo, hi) with a random sign. */
double bpi_gc_rng_signed(bp_rng *r, double lo, double hi);
/* Random signed weights of magnitude in [0.25, 1): no entry is ignored. */
void bpi_gc_random_weights(bp_rng *r, double *w, size_t n);
/* Fills m from domain d, kink_margin away from kinks and ties and four
 * steps from a bound; BP_EDIM for a non-square SPD/INVERTIBLE input,
 * BP_ENUMERIC when no sample away from the kinks was found, BP_ENOMEM. */
bp_status bpi_gc_sample_matrix(bp_rng *r, const bp_domain *d, const bp_check_options *o,
                               bp_matrix *m);

/* Fills m with integer ids drawn uniformly from [0, n), repeats likely
 * (BP_DOMAIN_INDEX), and when ignore is not NULL about one in four equal
 * to *ignore instead; BP_EDIM when n is 0. */
bp_status bpi_gc_sample_ids(bp_rng *r, size_t n, const double *ignore, bp_matrix *m);

/* One case of an op: input shapes, attribute set, how it is checked. */
typedef struct gc_case {
    bp_shape in[BP_MAX_INPUTS];   /* input shapes */
    bp_shape out;                 /* the output's, from the op's shape rule */
    size_t attr_set;
    int shared;   /* inputs 0 and 1 are one node */
    int large;    /* probes rather than the full Jacobian */
} gc_case;

/* The domain of one node fed to inputs 0 and 1, or 0 when theirs
 * conflict. */
int bpi_gc_shared_domain(const bp_op *op, bp_domain *d);
/* The most cases the broadcast-pattern passes add beyond max_cases (a
 * binary op's 16 row/column patterns and 16 batch patterns at most). */
#define BPI_GC_MAX_PATTERNS 40
/* Appends the cases of one attribute set to cases[*n]; returns how many
 * were added (at most o->max_cases + BPI_GC_MAX_PATTERNS + 2). */
size_t bpi_gc_enumerate_cases(const bp_op *op, const bp_check_options *o, size_t attr_set,
                              const double *attr, gc_case *cases, size_t *n);
void bpi_gc_case_label(const bp_op *op, const gc_case *k, const double *attr, char *buf,
                       size_t size);

/* ---- differences and targets (stencil.c) ---- */

/* What is being differentiated: a graph, its params, one output. */
typedef struct gc_target {
    bp_graph *g;
    bp_node *out;
    size_t n_params;
    bp_node **params;     /* borrowed nodes */
    size_t *offset;       /* each param's first element in the flat vector */
    int *symmetric;       /* perturb (i,j) and (j,i) together (SPD input) */
    size_t total;         /* flat vector length */
    double **slot;        /* flat index → the param's value element */
    size_t n_out;
    /* scratch */
    double *fp, *fm;      /* outputs at x ± h */
    double *grad;         /* flat analytic gradient */
} gc_target;

/* One check in progress: its options, report and current case. */
typedef struct gc_check {
    const bp_check_options *o;
    bp_check_report *rep;
    size_t case_index;
    bp_check_case *cur;
    const char *const *input_names;  /* for graphs; NULL: "in0", ... */
    int shared;                      /* the case feeds one node to in0 and in1 */
    size_t first_failed_case;
} gc_check;

/* n_params param slots, zeroed; target_free releases them (and frees
 * what it could allocate on BP_ENOMEM). */
bp_status bpi_gc_target_alloc(gc_target *t, size_t n_params);
/* Sets up slots and scratch once params, out and shapes are known. */
bp_status bpi_gc_target_init(gc_target *t);
void bpi_gc_target_free(gc_target *t);
/* Flat index → param number, row, col. */
void bpi_gc_locate(const gc_target *t, size_t k, size_t *p, size_t *row, size_t *col);
/* The partner element perturbed with k (its transpose in a symmetric
 * input), or k itself. */
size_t bpi_gc_partner(const gc_target *t, size_t k);
/* Whether flat element k starts a perturbation unit. */
int bpi_gc_unit_start(const gc_target *t, size_t k);
/* An entry's input, row, col and x for flat element k. */
void bpi_gc_set_entry_position(const gc_target *t, bp_check_entry *e, size_t k);
/* data viewed with the output's shape. */
bp_matrix bpi_gc_out_matrix(const gc_target *t, double *data);

/* Runs forward (outputs into f unless NULL); BP_ENUMERIC when an output
 * entry is not finite.  Failures are recorded in the case. */
bp_status bpi_gc_eval(gc_check *c, gc_target *t, double *f);
/* Backward with seed (NULL: 1 for a 1x1 output) into t->grad, after
 * zeroing the params' gradients unless accumulate is set. */
bp_status bpi_gc_analytic(gc_check *c, gc_target *t, const bp_matrix *seed, int accumulate);
/* The derivative of the outputs or of Σ weights ⊙ outputs, by perturbing
 * flat element k (dir NULL) or along dir; see stencil.c. */
bp_status bpi_gc_stencil(gc_check *c, gc_target *t, size_t k, const double *dir,
                         const double *weights, double *deriv, double *est,
                         double *eff_d1, double *eff_d2);

/* ---- contracts (contracts.c) ---- */

/* Records a contract failure: a mismatch, with diagnosis unless the case
 * has one. */
void bpi_gc_contract_failed(gc_check *c, const char *diagnosis);
/* The backward contract: zero seed ⇒ exactly zero; linear in the seed;
 * a second backward without bp_zero_grad adds the same again. */
bp_status bpi_gc_check_contracts(gc_check *c, gc_target *t, bp_rng *r, const double *w);
/* A BP_OP_STOP_GRAD op passes no gradient. */
bp_status bpi_gc_check_stop_grad(gc_check *c, gc_target *t, bp_node *param0);

/* ---- reports and diagnosis (report.c) ---- */

/* BP_OK, or BP_EINVAL with the report's result ERROR and a message
 * naming the option out of range (rep may be NULL). */
bp_status bpi_gc_check_options(const bp_check_options *o, bp_check_report *rep);
void bpi_gc_report_start(bp_check_report *rep, const bp_check_options *o, const char *name);
/* failed_case, diagnosis, n_failed, once every case has run. */
void bpi_gc_finish_report(gc_check *c);
/* Input p's name in messages, written into buf, which is returned. */
const char *bpi_gc_input_label(const gc_check *c, size_t p, char *buf, size_t size);
/* error / allowed, infinite for NaN. */
double bpi_gc_entry_score(const bp_check_entry *e);
/* Raises the case's and the report's result to at least r. */
void bpi_gc_raise_result(gc_check *c, bp_check_result r);
/* Records the first message of the check ("case N (label): ..."). */
void bpi_gc_case_message(gc_check *c, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Scores one comparison, keeps the statistics and the worst entries;
 * returns 1 when it passes. */
int bpi_gc_note_entry(gc_check *c, bp_check_entry *e);
/* The case's diagnosis from the flat analytic and numeric gradients of one
 * scalar. */
void bpi_gc_diagnose(gc_check *c, const gc_target *t, const double *a, const double *n);

#endif
