/* SPDX-License-Identifier: MIT */
/* libbpgraph-mpi, run by tests/dist.sh under mpirun -np 2: data-parallel
 * training equals one process training on the same global batches; an
 * error on one rank reaches every rank with that rank's message; graphs
 * that differ between ranks are reported at start-up; bad input; no
 * allocation per step.  Every test is collective, so Check runs without
 * forking (a fork would leave MPI behind). */
#include "test_util.h"

#include <bpgraph-mpi.h>
#include <stdio.h>

static int rank, n_ranks;

/* ---- the lesson's 2-layer network on synthetic rows ---- */

enum { IN = 3, HIDDEN = 8 };

typedef struct net {
    bp_graph *g;
    bp_node *x, *y, *W1, *b1, *W2, *b2, *loss;
} net;

/* loss = mse(relu(x·W1 + b1)·W2 + b2, y); params from seed. */
static void net_build(net *n, size_t hidden, const char *w1_name, uint64_t seed)
{
    double w[IN * 16 + 16 + 16 + 1];
    bp_rng state = tu_rng(seed);

    ck_assert_uint_le(hidden, 16);
    n->g = bp_graph_new();
    ck_assert_ptr_nonnull(n->g);
    n->x = bp_input(n->g, 1, IN, "x");
    n->y = bp_input(n->g, 1, 1, "y");
    n->W1 = bp_param(n->g, IN, hidden, w1_name);
    n->b1 = bp_param(n->g, 1, hidden, "b1");
    n->W2 = bp_param(n->g, hidden, 1, "W2");
    n->b2 = bp_param(n->g, 1, 1, "b2");
    n->loss = bp_mse(n->g, bp_dense(n->g, bp_dense_relu(n->g, n->x, n->W1, n->b1), n->W2, n->b2),
                     n->y);
    ck_assert_int_eq(bp_graph_status(n->g), BP_OK);
    tu_fill(w, IN * hidden + 2 * hidden + 1, &state, -0.8, 0.9);
    tu_set(n->W1, IN, hidden, w);
    tu_set(n->b1, 1, hidden, w + IN * hidden);
    tu_set(n->W2, hidden, 1, w + IN * hidden + hidden);
    tu_set(n->b2, 1, 1, w + IN * hidden + 2 * hidden);
}

/* rows x IN features in [-1.7, 2.3) and a smooth target with noise */
static void make_data(size_t rows, bp_matrix **x, bp_matrix **y)
{
    bp_rng state = tu_rng(2024);

    *x = bp_matrix_alloc(rows, IN);
    *y = bp_matrix_alloc(rows, 1);
    ck_assert_ptr_nonnull(*x);
    ck_assert_ptr_nonnull(*y);
    tu_fill((*x)->data, rows * IN, &state, -1.7, 2.3);
    for (size_t i = 0; i < rows; i++) {
        const double *r = (*x)->data + i * IN;
        (*y)->data[i] = sin(r[0]) + 0.5 * r[1] * r[2] + tu_uniform(&state, -0.1, 0.1);
    }
}

/* One process: bp_batcher over all rows, the whole batch in one backward. */
static void train_alone(net *n, const bp_matrix *x, const bp_matrix *y, size_t batch,
                        size_t epochs, const bp_optim_config *cfg)
{
    bp_batcher *b = NULL;
    bp_optimizer *opt = NULL;
    size_t rows;

    ck_assert_int_eq(bp_batcher_new(2, (const bp_matrix *const[]){x, y}, (bp_node *const[]){n->x, n->y},
                                    NULL, 0, batch, 1, 99, &b, NULL), BP_OK);
    ck_assert_int_eq(bp_optimizer_new(n->g, NULL, 0, cfg, &opt), BP_OK);
    for (size_t e = 0; e < epochs; e++) {
        for (;;) {
            bp_zero_grad(n->g);
            ck_assert_int_eq(bp_batcher_next(b, &rows), BP_OK);
            if (rows == 0)
                break;
            ck_assert_int_eq(bp_forward(n->g, n->loss), BP_OK);
            ck_assert_int_eq(bp_backward(n->g, n->loss, NULL), BP_OK);
            ck_assert_int_eq(bp_optimizer_step(opt), BP_OK);
        }
    }
    bp_optimizer_free(opt);
    bp_batcher_free(b);
}

/* Data-parallel: each rank its share of every batch, gradients summed. */
static void train_dist(bp_dist *d, net *n, const bp_matrix *x, const bp_matrix *y, size_t batch,
                       size_t epochs, const bp_optim_config *cfg, size_t *empty_shares)
{
    bp_dist_batcher *b = NULL;
    bp_optimizer *opt = NULL;
    bp_error err = {BP_OK, ""};
    size_t local, rows, clipped = 0;

    ck_assert_int_eq(bp_dist_batcher_new(d, 2, (const bp_matrix *const[]){x, y},
                                         (bp_node *const[]){n->x, n->y}, NULL, 0, batch, 1, 99, &b,
                                         &err), BP_OK);
    ck_assert_int_eq(bp_optimizer_new(n->g, NULL, 0, cfg, &opt), BP_OK);
    ck_assert_msg(bp_dist_attach(d, n->g, &err) == BP_OK, "%s", err.message);
    for (size_t e = 0; e < epochs; e++) {
        for (;;) {
            bp_zero_grad(n->g);
            ck_assert_int_eq(bp_dist_batcher_next(b, &local, &rows), BP_OK);
            if (rows == 0)
                break;
            if (local > 0) {
                ck_assert_int_eq(bp_forward(n->g, n->loss), BP_OK);
                ck_assert_int_eq(bp_backward(n->g, n->loss, NULL), BP_OK);
            } else {
                ++*empty_shares;
            }
            ck_assert_msg(bp_dist_allreduce_grads(d, local, &err) == BP_OK, "%s", err.message);
            ck_assert_int_eq(bp_optimizer_step(opt), BP_OK);
            clipped += cfg->clip_norm > 0 && bp_optimizer_grad_norm(opt) > cfg->clip_norm;
        }
    }
    /* with clip_norm, the clipping did bite: most steps' norms exceed it */
    if (cfg->clip_norm > 0)
        ck_assert_uint_gt(clipped, bp_optimizer_steps(opt) / 2);
    bp_optimizer_free(opt);
    bp_dist_batcher_free(b);
}

static bp_node *param_of(net *n, int i)
{
    bp_node *p[4] = {n->W1, n->b1, n->W2, n->b2};
    return p[i];
}

/* The largest |a - b| / (1 + |b|) over all params. */
static double params_diff(net *a, net *b)
{
    double worst = 0;

    for (int i = 0; i < 4; i++) {
        const bp_matrix *va = bp_node_value(param_of(a, i)), *vb = bp_node_value(param_of(b, i));
        for (size_t k = 0; k < va->rows * va->cols; k++)
            worst = fmax(worst, fabs(va->data[k] - vb->data[k]) / (1 + fabs(vb->data[k])));
    }
    return worst;
}

/* Whether every rank holds exactly rank 0's params. */
static int same_on_every_rank(net *n)
{
    int same = 1, all = 0;

    for (int i = 0; i < 4; i++) {
        const bp_matrix *v = bp_node_value(param_of(n, i));
        double *mine = malloc(v->rows * v->cols * sizeof *mine);
        ck_assert_ptr_nonnull(mine);
        memcpy(mine, v->data, v->rows * v->cols * sizeof *mine);
        MPI_Bcast(mine, (int)(v->rows * v->cols), MPI_DOUBLE, 0, MPI_COMM_WORLD);
        same &= memcmp(mine, v->data, v->rows * v->cols * sizeof *mine) == 0;
        free(mine);
    }
    MPI_Allreduce(&same, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    return all;
}

static bp_dist *new_dist(void)
{
    bp_dist *d = NULL;
    bp_error err;

    ck_assert_msg(bp_dist_new(MPI_COMM_WORLD, &d, &err) == BP_OK, "%s", err.message);
    ck_assert_int_eq(bp_dist_rank(d), rank);
    ck_assert_int_eq(bp_dist_size(d), n_ranks);
    return d;
}

/* ---- 2 ranks train the same model as one process ---- */

/* The tolerance: the ranks' sum Σ_r rows_r·grad_r / Σ_r rows_r adds the
 * same terms as one process's mean in another order, so each gradient
 * differs by a few ulps (~1e-16 relative); over 3 epochs of ~10 steps
 * these differences pass through the optimizer and the next steps' forward
 * and backward, and grow only as much as training amplifies a change of
 * the params (measured here: at most 1.5e-16, SGD, Adam and AdamW with
 * clipping).  1e-12 leaves room for another BLAS's order of summation and
 * longer runs, while a gradient weighted wrongly (the plain mean of the
 * ranks' gradients with unequal shares) differs by 5e-3. */
#define SAME_MODEL_TOL 1e-12

START_TEST(two_ranks_train_as_one_process)
{
    /* rows, batch: 201 rows in batches of 20 end with a batch of one row,
     * so one rank has none; batches of 21 split 10 + 11 */
    static const size_t cases[][2] = {{201, 20}, {203, 21}};
    static const char *const names[] = {"sgd", "adam", "adamw, clipped"};
    bp_optim_config cfgs[3] = {bp_optim_defaults(BP_OPTIM_SGD), bp_optim_defaults(BP_OPTIM_ADAM),
                               bp_optim_defaults(BP_OPTIM_ADAMW)};

    for (size_t k = 0; k < 3; k++)
        cfgs[k].lr = 0.01;
    /* clipped by the global norm of the summed gradient, on every rank */
    cfgs[2].clip_norm = 0.05;
    for (size_t c = 0; c < 2; c++) {
        for (size_t k = 0; k < 3; k++) {
            bp_matrix *x, *y;
            net alone, dist, init;
            bp_dist *d = new_dist();
            size_t empty = 0;
            double diff, start;

            make_data(cases[c][0], &x, &y);
            net_build(&alone, HIDDEN, "W1", 7);
            net_build(&init, HIDDEN, "W1", 7);
            /* other ranks start elsewhere: attach must bring rank 0's values */
            net_build(&dist, HIDDEN, "W1", 7 + (uint64_t)rank);
            start = params_diff(&dist, &alone);
            ck_assert(rank == 0 ? start == 0 : start > 0.01);
            train_alone(&alone, x, y, cases[c][1], 3, &cfgs[k]);
            train_dist(d, &dist, x, y, cases[c][1], 3, &cfgs[k], &empty);
            diff = params_diff(&dist, &alone);
            if (rank == 0)
                printf("rows %zu, batch %zu, %s: largest relative difference %.3g\n", cases[c][0],
                       cases[c][1], names[k], diff);
            ck_assert_msg(diff <= SAME_MODEL_TOL, "rank %d: params differ by %.3g", rank, diff);
            /* and training moved them: not a comparison of two idle models */
            ck_assert(params_diff(&dist, &init) > 1e-3);
            ck_assert(same_on_every_rank(&dist));
            if (c == 0 && n_ranks == 2)   /* the batch of one row, each epoch */
                ck_assert_uint_eq(empty, rank == 0 ? 3 : 0);
            bp_graph_free(alone.g);
            bp_graph_free(dist.g);
            bp_graph_free(init.g);
            bp_matrix_free(x);
            bp_matrix_free(y);
            bp_dist_free(d);
        }
    }
}
END_TEST

/* ---- errors ---- */

START_TEST(failing_rank_stops_every_rank)
{
    const int failing = n_ranks - 1;
    bp_matrix *x, *y;
    net n;
    bp_dist *d = new_dist();
    bp_error err = {BP_OK, ""};
    double kept[IN * HIDDEN];

    make_data(40, &x, &y);
    net_build(&n, HIDDEN, "W1", 7);
    ck_assert_int_eq(bp_dist_attach(d, n.g, &err), BP_OK);
    {
        bp_matrix xs = {20, IN, x->data}, ys = {20, 1, y->data};
        ck_assert_int_eq(bp_node_bind_value(n.x, &xs), BP_OK);
        ck_assert_int_eq(bp_node_bind_value(n.y, &ys), BP_OK);
    }
    ck_assert_int_eq(bp_forward(n.g, n.loss), BP_OK);
    ck_assert_int_eq(bp_backward(n.g, n.loss, NULL), BP_OK);
    ck_assert_int_eq(bp_dist_allreduce_grads(d, 20, &err), BP_OK);

    /* the failing rank binds rows of the wrong width: a shape error */
    if (rank == failing) {
        bp_matrix wide = {10, 1, y->data};
        ck_assert_int_ne(bp_node_bind_value(n.x, &wide), BP_OK);
    } else {
        ck_assert_int_eq(bp_forward(n.g, n.loss), BP_OK);
        ck_assert_int_eq(bp_backward(n.g, n.loss, NULL), BP_OK);
    }
    memcpy(kept, bp_node_grad(n.W1)->data, sizeof kept);
    ck_assert_int_eq(bp_dist_allreduce_grads(d, rank == failing ? 10 : 20, &err), BP_EDIM);
    ck_assert_int_eq(err.status, BP_EDIM);
    {
        char want[32];
        snprintf(want, sizeof want, "rank %d: ", failing);
        ck_assert_msg(strncmp(err.message, want, strlen(want)) == 0 && strstr(err.message, "'x'") &&
                          strstr(err.message, "10x1"),
                      "rank %d got: %s", rank, err.message);
    }
    /* the failed reduction changed no gradient, on any rank */
    tu_assert_matrix_near(bp_node_grad(n.W1), kept, 0.0);
    bp_graph_free(n.g);
    bp_matrix_free(x);
    bp_matrix_free(y);
    bp_dist_free(d);
}
END_TEST

START_TEST(agree_names_the_lowest_failing_rank)
{
    bp_dist *d = new_dist();
    bp_error err = {BP_OK, ""};
    char mine[64], want[128];

    ck_assert_int_eq(bp_dist_agree(d, BP_OK, NULL, &err), BP_OK);
    /* every rank but 0 fails, each with its own message: rank 1's wins */
    snprintf(mine, sizeof mine, "cannot read part %d.csv", rank);
    ck_assert_int_eq(bp_dist_agree(d, rank > 0 ? BP_EIO : BP_OK, mine, &err), BP_EIO);
    ck_assert_str_eq(err.message, "rank 1: cannot read part 1.csv");
    /* all fail: rank 0's; a NULL message gives the status's description */
    ck_assert_int_eq(bp_dist_agree(d, rank == 0 ? BP_EPARSE : BP_ENOMEM, NULL, &err), BP_EPARSE);
    snprintf(want, sizeof want, "rank 0: %s", bp_strerror(BP_EPARSE));
    ck_assert_str_eq(err.message, want);
    bp_dist_free(d);
}
END_TEST

START_TEST(sum_adds_every_rank)
{
    bp_dist *d = new_dist();
    double v[2] = {rank + 0.25, 2.5 * rank};
    const double n = n_ranks;

    ck_assert_int_eq(bp_dist_sum(d, v, 2, NULL), BP_OK);
    /* Σ_r (r + 0.25) and Σ_r 2.5 r over r = 0..n-1 */
    ck_assert_double_eq_tol(v[0], n * (n - 1) / 2 + 0.25 * n, 1e-12);
    ck_assert_double_eq_tol(v[1], 2.5 * n * (n - 1) / 2, 1e-12);
    bp_dist_free(d);
}
END_TEST

/* The last rank's graph differs from rank 0's in one way, described by
 * what. */
static void expect_mismatch(size_t hidden, const char *w1_name, int extra_param, const char *what)
{
    const int other = rank == n_ranks - 1;
    bp_dist *d = new_dist();
    bp_error err = {BP_OK, ""};
    char want[256];
    net n;

    snprintf(want, sizeof want, "rank %d: graph differs from rank 0's: %s", n_ranks - 1, what);

    net_build(&n, other ? hidden : HIDDEN, other ? w1_name : "W1", 7);
    if (other && extra_param)
        bp_param(n.g, 2, 2, "spare");
    ck_assert_int_eq(bp_dist_attach(d, n.g, &err), BP_EDIM);
    ck_assert_msg(strcmp(err.message, want) == 0, "rank %d got '%s', want '%s'", rank, err.message, want);
    /* nothing attached: a step is refused */
    ck_assert_int_eq(bp_dist_allreduce_grads(d, 1, NULL), BP_EINVAL);
    bp_graph_free(n.g);
    bp_dist_free(d);
}

START_TEST(mismatch_is_reported_at_start_up)
{
    expect_mismatch(5, "W1", 0, "param 0 'W1' is 3x5 here, 3x8 on rank 0");
    expect_mismatch(HIDDEN, "V1", 0, "param 0 is named 'V1' here, 'W1' on rank 0");
    expect_mismatch(HIDDEN, "W1", 1, "5 params here, 4 on rank 0");
}
END_TEST

/* ---- bad input, every function ---- */

START_TEST(bad_input)
{
    bp_dist *d = NULL;
    static char sentinel;
    bp_dist_batcher *b = (bp_dist_batcher *)(void *)&sentinel;
    double one[1] = {2.5};
    bp_error err = {BP_OK, ""};
    bp_matrix *x, *y;
    size_t local = 9, rows = 9;
    net n;

    ck_assert_int_eq(bp_dist_new(MPI_COMM_WORLD, NULL, &err), BP_EINVAL);
    ck_assert_int_eq(bp_dist_new(MPI_COMM_NULL, &d, &err), BP_EINVAL);
    ck_assert_ptr_null(d);
    ck_assert_ptr_nonnull(strstr(err.message, "MPI_COMM_NULL"));
    bp_dist_free(NULL);
    ck_assert_int_eq(bp_dist_rank(NULL), -1);
    ck_assert_int_eq(bp_dist_size(NULL), 0);
    ck_assert_int_eq(bp_dist_agree(NULL, BP_OK, NULL, &err), BP_EINVAL);
    ck_assert_int_eq(bp_dist_attach(NULL, NULL, &err), BP_EINVAL);
    ck_assert_int_eq(bp_dist_allreduce_grads(NULL, 1, &err), BP_EINVAL);
    ck_assert_int_eq(bp_dist_sum(NULL, one, 1, &err), BP_EINVAL);
    ck_assert_int_eq(bp_dist_batcher_next(NULL, &local, &rows), BP_EINVAL);
    ck_assert_uint_eq(local + rows, 0);
    bp_dist_batcher_free(NULL);

    d = new_dist();
    ck_assert_int_eq(bp_dist_sum(d, NULL, 1, &err), BP_EINVAL);
    ck_assert_int_eq(bp_dist_allreduce_grads(d, 1, &err), BP_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "no graph attached"));
    /* attach: a NULL graph or one with no params on one rank fails all */
    {
        bp_graph *empty = bp_graph_new();
        ck_assert_int_eq(bp_dist_attach(d, rank == 0 ? empty : NULL, &err), BP_EINVAL);
        ck_assert_str_eq(err.message, "rank 0: dist_attach: graph has no params");
        bp_graph_free(empty);
    }
    make_data(30, &x, &y);
    net_build(&n, HIDDEN, "W1", 7);
    /* a graph in error */
    ck_assert_ptr_null(bp_matmul(n.g, n.x, n.y));
    ck_assert_int_eq(bp_dist_attach(d, n.g, &err), BP_EDIM);
    ck_assert_ptr_nonnull(strstr(err.message, "rank 0: dist_attach: graph is in error: matmul"));
    bp_graph_clear_error(n.g);

    /* batcher */
    {
        const bp_matrix *src[2] = {x, y};
        bp_node *dst[2] = {n.x, n.y}, *swapped[2] = {n.y, n.x};
        const size_t far[1] = {30};
        ck_assert_int_eq(bp_dist_batcher_new(d, 2, src, dst, NULL, 0, 8, 1, 1, NULL, &err), BP_EINVAL);
        ck_assert_int_eq(bp_dist_batcher_new(NULL, 2, src, dst, NULL, 0, 8, 1, 1, &b, &err), BP_EINVAL);
        ck_assert_ptr_null(b);
        ck_assert_int_eq(bp_dist_batcher_new(d, 0, src, dst, NULL, 0, 8, 1, 1, &b, &err), BP_EINVAL);
        ck_assert_int_eq(bp_dist_batcher_new(d, 2, src, dst, NULL, 0, 0, 1, 1, &b, &err), BP_EINVAL);
        ck_assert_int_eq(bp_dist_batcher_new(d, 2, src, dst, far, 1, 8, 1, 1, &b, &err), BP_EINVAL);
        ck_assert_ptr_nonnull(strstr(err.message, "row 30 is out of range"));
        ck_assert_int_eq(bp_dist_batcher_new(d, 2, src, swapped, NULL, 0, 8, 1, 1, &b, &err), BP_EDIM);
        ck_assert_int_eq(bp_dist_batcher_new(d, 2, src, dst, NULL, 0, (size_t)n_ranks - 1, 1, 1, &b,
                                             &err), BP_EINVAL);
        ck_assert_ptr_nonnull(strstr(err.message, "without rows"));
        ck_assert_ptr_null(b);
    }
    /* a rank with no rows at the first reduction cannot hold the sum */
    {
        bp_matrix xs = {3, IN, x->data}, ys = {3, 1, y->data};
        ck_assert_int_eq(bp_dist_attach(d, n.g, &err), BP_OK);
        if (rank == 0) {
            ck_assert_int_eq(bp_node_bind_value(n.x, &xs), BP_OK);
            ck_assert_int_eq(bp_node_bind_value(n.y, &ys), BP_OK);
            ck_assert_int_eq(bp_forward(n.g, n.loss), BP_OK);
            ck_assert_int_eq(bp_backward(n.g, n.loss, NULL), BP_OK);
        }
        ck_assert_int_eq(bp_dist_allreduce_grads(d, rank == 0 ? 3 : 0, &err), BP_ESTATE);
        ck_assert_ptr_nonnull(strstr(err.message, "rank 1: dist_allreduce_grads: no rows in the first batch"));
    }
    bp_graph_free(n.g);
    bp_matrix_free(x);
    bp_matrix_free(y);
    bp_dist_free(d);
}
END_TEST

/* Every function of bpgraph-mpi.h is called with bad input above: the
 * header's declarations (the lines that start with a type and declare
 * bp_dist_NAME) are checked against this list, so a new function cannot
 * go untested silently. */
static const char *const covered[] = {
    "bp_dist_new", "bp_dist_free", "bp_dist_rank", "bp_dist_size", "bp_dist_agree",
    "bp_dist_attach", "bp_dist_allreduce_grads", "bp_dist_sum", "bp_dist_batcher_new",
    "bp_dist_batcher_free", "bp_dist_batcher_next",
};

START_TEST(header_is_covered)
{
    const char *srcdir = getenv("top_srcdir");
    char path[1024], line[512], missing[512] = "";
    size_t found = 0;
    FILE *f;

    ck_assert_msg(srcdir != NULL, "top_srcdir is not set (run through make check)");
    snprintf(path, sizeof path, "%s/include/bpgraph-mpi.h", srcdir);
    f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    while (fgets(line, sizeof line, f)) {
        char *name = strstr(line, "bp_dist_"), *paren;
        size_t len, i;
        if (!name || line[0] == ' ' || line[0] == '/' || line[0] == '#' || !strncmp(line, "typedef", 7))
            continue;
        paren = strchr(name, '(');
        if (!paren)
            continue;
        len = (size_t)(paren - name);
        for (i = 0; i < sizeof covered / sizeof *covered; i++)
            if (strlen(covered[i]) == len && !strncmp(covered[i], name, len))
                break;
        if (i == sizeof covered / sizeof *covered)
            snprintf(missing + strlen(missing), sizeof missing - strlen(missing), " %.*s", (int)len, name);
        found++;
    }
    fclose(f);
    ck_assert_msg(missing[0] == '\0', "functions with no bad-input check:%s", missing);
    ck_assert_uint_eq(found, sizeof covered / sizeof *covered);
}
END_TEST

/* ---- no allocation per step ---- */

START_TEST(no_allocation_per_step)
{
    bp_matrix *x, *y;
    bp_dist *d;
    bp_dist_batcher *b = NULL;
    bp_optimizer *opt = NULL;
    bp_optim_config cfg = bp_optim_defaults(BP_OPTIM_ADAM);
    net n;
    size_t local, rows;
    long before;

    ck_assert_int_eq(bp_set_alloc_funcs(tu_failing_malloc, tu_counting_free), BP_OK);
    tu_allocations = tu_live = tu_fail_at = 0;
    d = new_dist();
    make_data(101, &x, &y);
    net_build(&n, HIDDEN, "W1", 7);
    ck_assert_int_eq(bp_dist_batcher_new(d, 2, (const bp_matrix *const[]){x, y},
                                         (bp_node *const[]){n.x, n.y}, NULL, 0, 16, 1, 5, &b, NULL),
                     BP_OK);
    ck_assert_int_eq(bp_optimizer_new(n.g, NULL, 0, &cfg, &opt), BP_OK);
    ck_assert_int_eq(bp_dist_attach(d, n.g, NULL), BP_OK);
    for (int pass = 0; pass < 2; pass++) {
        /* the first epoch sizes the buffers; the second must not allocate */
        before = tu_allocations;
        for (;;) {
            bp_zero_grad(n.g);
            ck_assert_int_eq(bp_dist_batcher_next(b, &local, &rows), BP_OK);
            if (rows == 0)
                break;
            ck_assert_int_eq(bp_forward(n.g, n.loss), BP_OK);
            ck_assert_int_eq(bp_backward(n.g, n.loss, NULL), BP_OK);
            ck_assert_int_eq(bp_dist_allreduce_grads(d, local, NULL), BP_OK);
            ck_assert_int_eq(bp_optimizer_step(opt), BP_OK);
        }
    }
    ck_assert_int_eq(tu_allocations - before, 0);
    bp_optimizer_free(opt);
    bp_dist_batcher_free(b);
    bp_graph_free(n.g);
    bp_matrix_free(x);
    bp_matrix_free(y);
    bp_dist_free(d);
    ck_assert_int_eq(tu_live, 0);
    ck_assert_int_eq(bp_set_alloc_funcs(NULL, NULL), BP_OK);
}
END_TEST

static Suite *dist_suite(void)
{
    Suite *s = suite_create("dist");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, two_ranks_train_as_one_process);
    tcase_add_test(tc, failing_rank_stops_every_rank);
    tcase_add_test(tc, agree_names_the_lowest_failing_rank);
    tcase_add_test(tc, sum_adds_every_rank);
    tcase_add_test(tc, mismatch_is_reported_at_start_up);
    tcase_add_test(tc, bad_input);
    tcase_add_test(tc, header_is_covered);
    tcase_add_test(tc, no_allocation_per_step);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    SRunner *sr;
    int failed;

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &n_ranks);
    if (n_ranks < 2) {
        if (rank == 0)
            fprintf(stderr, "check_dist: run it on 2 or more ranks (tests/dist.sh)\n");
        MPI_Finalize();
        return EXIT_FAILURE;
    }
    sr = srunner_create(dist_suite());
    /* MPI does not survive fork: every test runs in this process */
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, rank == 0 ? CK_NORMAL : CK_SILENT);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    MPI_Finalize();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
