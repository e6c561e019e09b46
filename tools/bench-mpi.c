/* SPDX-License-Identifier: MIT */
/*
 * tools/bench-mpi: the data-parallel row of the benchmark.  tools/bench's
 * mnist step (512×784 → 1024 → 10, relu, softmax cross-entropy, plain
 * SGD, on the same synthetic data) timed three ways, in turn, under
 *
 *   mpirun -np 2 tools/bench-mpi [--blocks N] [--steps N] [--json]
 *
 *  - 1 rank, 1 OpenBLAS thread: rank 0 alone takes all 512 rows;
 *  - 1 rank, 2 OpenBLAS threads: the other way to use a second core;
 *  - 2 ranks, 1 thread each: 256 rows each, gradients summed with
 *    bp_dist_allreduce_grads (6.5 MB: all 814,090 params).
 * While rank 0 runs alone, rank 1 waits in a sleeping poll, not in a
 * spinning MPI call, so it leaves the core to rank 0.  Each way runs in
 * blocks of steps, the blocks of the three ways taken in rotation so that
 * load from elsewhere falls on all three alike; the figures are medians of
 * the per-step times.  In the 2-rank step a barrier before the allreduce
 * separates the time a rank waits for the other (load imbalance, or a core
 * taken by another process) from the allreduce itself, whose median is
 * given as a share of the 2-rank step's.
 */
#define _POSIX_C_SOURCE 200809L
#include <bpgraph-mpi.h>
#include <cblas.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* OpenBLAS's own call (not in cblas.h everywhere) */
void openblas_set_num_threads(int n);

enum { ROWS = 512, IN = 784, HIDDEN = 1024, OUT = 10 };

typedef struct net {
    bp_graph *g;
    bp_node *x, *y, *loss;
    bp_optimizer *opt;
} net;

static void die(const char *what, const char *message)
{
    fprintf(stderr, "bench-mpi: %s: %s\n", what, message);
    MPI_Abort(MPI_COMM_WORLD, 1);
}


/* tools/bench's mnist data: pixels in [0, 1), random one-hot labels */
static void make_data(double *x, double *y)
{
    bp_rng rng;

    bp_rng_seed(&rng, 2024);
    for (size_t i = 0; i < (size_t)ROWS * IN; i++)
        x[i] = bp_rng_uniform(&rng);
    memset(y, 0, (size_t)ROWS * OUT * sizeof *y);
    for (size_t i = 0; i < ROWS; i++)
        y[i * OUT + bp_rng_below(&rng, OUT)] = 1.0;
}

/* The graph over rows [first, first + rows) of the data, bound in place. */
static void build(net *n, double *x, double *y, size_t first, size_t rows)
{
    bp_node *w1, *b1, *w2, *b2;
    bp_matrix xm = {rows, IN, x + first * IN}, ym = {rows, OUT, y + first * OUT};
    bp_optim_config cfg = bp_optim_defaults(BP_OPTIM_SGD);
    bp_rng rng;

    n->g = bp_graph_new();
    if (!n->g)
        die("graph", "out of memory");
    bp_graph_set_inplace(n->g, 1);
    n->x = bp_input(n->g, rows, IN, "x");
    n->y = bp_input(n->g, rows, OUT, "y");
    w1 = bp_param(n->g, IN, HIDDEN, "w1");
    b1 = bp_param(n->g, 1, HIDDEN, "b1");
    w2 = bp_param(n->g, HIDDEN, OUT, "w2");
    b2 = bp_param(n->g, 1, OUT, "b2");
    n->loss = bp_softmax_ce(n->g, bp_dense(n->g, bp_dense_relu(n->g, n->x, w1, b1), w2, b2), n->y);
    bp_rng_seed(&rng, 42);
    bp_init_glorot(w1, &rng);
    bp_init_glorot(w2, &rng);
    bp_node_bind_value(n->x, &xm);
    bp_node_bind_value(n->y, &ym);
    cfg.lr = 1e-2;
    /* also returns an error the graph took while being built */
    if (bp_optimizer_new(n->g, NULL, 0, &cfg, &n->opt) != BP_OK)
        die("graph", bp_graph_message(n->g));
}

static double now(void)
{
    return MPI_Wtime();
}

/* One step; with d, the gradients are summed over the ranks: the time
 * spent waiting for the other rank to finish its backward is added to
 * *wait, that of the allreduce itself to *reduce. */
static void step(net *n, bp_dist *d, size_t rows, double *wait, double *reduce)
{
    bp_error err = {BP_OK, ""};

    bp_zero_grad(n->g);
    if (bp_forward(n->g, n->loss) != BP_OK || bp_backward(n->g, n->loss, NULL) != BP_OK)
        die("step", bp_graph_message(n->g));
    if (d) {
        double t = now(), t1;
        MPI_Barrier(MPI_COMM_WORLD);
        t1 = now();
        if (bp_dist_allreduce_grads(d, rows, &err) != BP_OK)
            die("allreduce", err.message);
        *wait += t1 - t;
        *reduce += now() - t1;
    }
    if (bp_optimizer_step(n->opt) != BP_OK)
        die("step", bp_graph_message(n->g));
}

/* Rank 1 sleeps until rank 0 says it is done, polling every millisecond:
 * a blocking MPI call would spin on a core rank 0 needs. */
static void idle_until_done(void)
{
    MPI_Request req;
    int done = 0, token;
    struct timespec ms = {0, 1000000};

    MPI_Irecv(&token, 1, MPI_INT, 0, 7, MPI_COMM_WORLD, &req);
    while (!done) {
        nanosleep(&ms, NULL);
        MPI_Test(&req, &done, MPI_STATUS_IGNORE);
    }
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, by_value);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    enum { ONE_1T, ONE_2T, TWO, N_WAYS };
    static const char *const label[N_WAYS] = {"1 rank, 1 OpenBLAS thread", "1 rank, 2 OpenBLAS threads",
                                              "2 ranks, 1 thread each"};
    size_t blocks = 10, steps = 3, n;
    int rank, size, json = 0;
    double *x, *y, *t[N_WAYS], *share, *waits, med[N_WAYS];
    net alone = {0}, half = {0};
    bp_dist *d = NULL;
    bp_error err = {BP_OK, ""};

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--blocks") && i + 1 < argc)
            blocks = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc)
            steps = strtoul(argv[++i], NULL, 10);
        else
            blocks = 0;
    }
    if (size != 2 || blocks == 0 || steps == 0) {
        if (rank == 0)
            fprintf(stderr, "usage: mpirun -np 2 %s [--blocks N] [--steps N] [--json]\n", argv[0]);
        MPI_Finalize();
        return 2;
    }
    n = blocks * steps;
    x = malloc((size_t)ROWS * IN * sizeof *x);
    y = malloc((size_t)ROWS * OUT * sizeof *y);
    share = malloc(n * sizeof *share);
    waits = malloc(n * sizeof *waits);
    for (int w = 0; w < N_WAYS; w++)
        t[w] = malloc(n * sizeof *t[w]);
    if (!x || !y || !share || !waits || !t[0] || !t[1] || !t[2])
        die("memory", "out of memory");
    make_data(x, y);
    if (rank == 0)
        build(&alone, x, y, 0, ROWS);
    build(&half, x, y, (size_t)rank * ROWS / 2, ROWS / 2);
    if (bp_dist_new(MPI_COMM_WORLD, &d, &err) != BP_OK || bp_dist_attach(d, half.g, &err) != BP_OK)
        die("attach", err.message);
    /* warm up: buffers sized, pages touched */
    if (rank == 0)
        step(&alone, NULL, ROWS, NULL, NULL);
    {
        double ignored[2] = {0, 0};
        step(&half, d, ROWS / 2, &ignored[0], &ignored[1]);
    }
    for (size_t b = 0; b < blocks; b++) {
        for (int w = ONE_1T; w <= ONE_2T; w++) {
            if (rank == 0) {
                int token = 1;
                openblas_set_num_threads(w == ONE_1T ? 1 : 2);
                for (size_t s = 0; s < steps; s++) {
                    double t0 = now();
                    step(&alone, NULL, ROWS, NULL, NULL);
                    t[w][b * steps + s] = now() - t0;
                }
                MPI_Send(&token, 1, MPI_INT, 1, 7, MPI_COMM_WORLD);
            } else {
                idle_until_done();
            }
        }
        openblas_set_num_threads(1);
        MPI_Barrier(MPI_COMM_WORLD);
        for (size_t s = 0; s < steps; s++) {
            double wait = 0, reduce = 0, t0 = now();
            step(&half, d, ROWS / 2, &wait, &reduce);
            t[TWO][b * steps + s] = now() - t0;
            share[b * steps + s] = reduce;
            waits[b * steps + s] = wait;
        }
    }
    if (rank == 0) {
        double red, wait;
        for (int w = 0; w < N_WAYS; w++)
            med[w] = median(t[w], n);
        red = median(share, n);
        wait = median(waits, n);
        if (json) {
            printf("{\"ranks\": 2, \"blocks\": %zu, \"steps\": %zu, \"one_rank_1thread_ms\": %.3f, "
                   "\"one_rank_2threads_ms\": %.3f, \"two_ranks_ms\": %.3f, \"allreduce_ms\": %.3f, "
                   "\"wait_ms\": %.3f, \"speedup_2ranks\": %.3f, \"speedup_2threads\": %.3f, \"allreduce_share\": %.3f}\n",
                   blocks, steps, 1e3 * med[ONE_1T], 1e3 * med[ONE_2T], 1e3 * med[TWO], 1e3 * red,
                   1e3 * wait, med[ONE_1T] / med[TWO], med[ONE_1T] / med[ONE_2T], red / med[TWO]);
        } else {
            printf("== mnist step (512 rows), data-parallel: medians of %zu steps ==\n", n);
            for (int w = 0; w < N_WAYS; w++)
                printf("  %-28s %8.2f ms  (%.2fx)\n", label[w], 1e3 * med[w], med[ONE_1T] / med[w]);
            printf("  allreduce of the gradients  %8.2f ms  (%.0f%% of the 2-rank step)\n", 1e3 * red,
                   100 * red / med[TWO]);
            printf("  waiting for the other rank  %8.2f ms  (%.0f%%)\n", 1e3 * wait,
                   100 * wait / med[TWO]);
        }
    }
    bp_optimizer_free(alone.opt);
    bp_optimizer_free(half.opt);
    bp_graph_free(alone.g);
    bp_graph_free(half.g);
    bp_dist_free(d);
    for (int w = 0; w < N_WAYS; w++)
        free(t[w]);
    free(share);
    free(waits);
    free(x);
    free(y);
    MPI_Finalize();
    return 0;
}
