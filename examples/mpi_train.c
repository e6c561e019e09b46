/* SPDX-License-Identifier: MIT */
/*
 * examples/mpi_train: the lesson's 2-layer network on the weather table,
 * trained data-parallel over MPI with libbpgraph-mpi.
 *
 *   mpirun -np 2 examples/mpi_train --data ../shared/data/clean_weather.csv
 *
 * tmax, tmin, rain → dense → relu → dense → tmax_tomorrow, mean squared
 * error on standardised columns, Adam.  The first 85% of the rows train,
 * the last 15% test (in order, as the lesson splits its time series).
 * Every rank reads the table and builds the graph; rank 0's starting
 * params go to all; each global batch is shared between the ranks, and
 * their gradients are summed after every backward.  Only rank 0 prints.
 * An error on any rank (a file it cannot read, a graph unlike rank 0's)
 * stops every rank with that rank's message and exit status 1; 2 for a
 * usage error.
 */
#include <bpgraph-mpi.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct options {
    const char *data;
    size_t hidden, epochs, batch;
    double lr;
    unsigned long long seed;
    int json;
} options;

static int parse_options(int argc, char **argv, options *o)
{
    *o = (options){"../shared/data/clean_weather.csv", 16, 10, 64, 3e-3, 1, 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (!strcmp(a, "--json")) {
            o->json = 1;
            continue;
        }
        if (!v)
            return -1;
        i++;
        if (!strcmp(a, "--data"))
            o->data = v;
        else if (!strcmp(a, "--hidden"))
            o->hidden = strtoul(v, &end, 10);
        else if (!strcmp(a, "--epochs"))
            o->epochs = strtoul(v, &end, 10);
        else if (!strcmp(a, "--batch"))
            o->batch = strtoul(v, &end, 10);
        else if (!strcmp(a, "--lr"))
            o->lr = strtod(v, &end);
        else if (!strcmp(a, "--seed"))
            o->seed = strtoull(v, &end, 10);
        else
            return -1;
        if (end && (*end || end == v))
            return -1;
    }
    return o->hidden > 0 && o->batch > 0 && o->lr > 0 ? 0 : -1;
}

typedef struct model {
    bp_graph *g;
    bp_node *x, *y, *W1, *b1, *W2, *b2, *loss;
} model;

/* loss = mse(relu(x·W1 + b1)·W2 + b2, y) */
static bp_status build(model *m, size_t hidden, unsigned long long seed)
{
    bp_rng rng;

    m->g = bp_graph_new();
    if (!m->g)
        return BP_ENOMEM;
    m->x = bp_input(m->g, 1, 3, "x");
    m->y = bp_input(m->g, 1, 1, "y");
    m->W1 = bp_param(m->g, 3, hidden, "W1");
    m->b1 = bp_param(m->g, 1, hidden, "b1");
    m->W2 = bp_param(m->g, hidden, 1, "W2");
    m->b2 = bp_param(m->g, 1, 1, "b2");
    m->loss = bp_mse(m->g, bp_dense(m->g, bp_dense_relu(m->g, m->x, m->W1, m->b1), m->W2, m->b2),
                     m->y);
    /* only rank 0's values count: bp_dist_attach sends them to all */
    bp_rng_seed(&rng, seed);
    bp_init_he(m->W1, &rng);
    bp_init_glorot(m->W2, &rng);
    return bp_graph_status(m->g);
}

/* The table, standardised on the training rows: features x, target y. */
static bp_status load(const char *path, bp_matrix **x, bp_matrix **y, size_t *n_train, bp_error *err)
{
    static const char *const features[] = {"tmax", "tmin", "rain"};
    static const char *const target[] = {"tmax_tomorrow"};
    bp_scaler *sx = NULL, *sy = NULL;
    bp_status st;

    st = bp_csv_read(path, features, 3, x, NULL, err);
    if (st == BP_OK)
        st = bp_csv_read(path, target, 1, y, NULL, err);
    if (st != BP_OK)
        return st;
    *n_train = (*x)->rows * 85 / 100;
    st = bp_scaler_fit(*x, NULL, *n_train, &sx, err);
    if (st == BP_OK)
        st = bp_scaler_fit(*y, NULL, *n_train, &sy, err);
    if (st == BP_OK)
        st = bp_scaler_apply(sx, *x, err);
    if (st == BP_OK)
        st = bp_scaler_apply(sy, *y, err);
    bp_scaler_free(sx);
    bp_scaler_free(sy);
    return st;
}

/* The test rows' MSE (every rank holds the same model). */
static double test_mse(model *m, const bp_matrix *x, const bp_matrix *y, size_t n_train)
{
    bp_matrix tx = {x->rows - n_train, 3, x->data + n_train * 3};
    bp_matrix ty = {y->rows - n_train, 1, y->data + n_train};

    bp_node_bind_value(m->x, &tx);
    bp_node_bind_value(m->y, &ty);
    if (bp_forward(m->g, m->loss) != BP_OK)
        return -1;
    return bp_node_value(m->loss)->data[0];
}

/* One epoch; *loss_rows receives Σ loss·rows and Σ rows over all ranks. */
static bp_status epoch(bp_dist *d, model *m, bp_dist_batcher *b, bp_optimizer *opt,
                       double loss_rows[2], bp_error *err)
{
    size_t local, batch;
    bp_status st;

    loss_rows[0] = loss_rows[1] = 0;
    for (;;) {
        bp_zero_grad(m->g);
        bp_dist_batcher_next(b, &local, &batch);
        if (batch == 0 && bp_graph_status(m->g) == BP_OK)
            break;
        if (local > 0 && bp_forward(m->g, m->loss) == BP_OK &&
            bp_backward(m->g, m->loss, NULL) == BP_OK) {
            loss_rows[0] += bp_node_value(m->loss)->data[0] * (double)local;
            loss_rows[1] += (double)local;
        }
        /* also where every rank learns of any rank's error */
        st = bp_dist_allreduce_grads(d, local, err);
        if (st == BP_OK)
            st = bp_optimizer_step(opt);
        if (st != BP_OK)
            return st;
    }
    return bp_dist_sum(d, loss_rows, 2, err);
}

int main(int argc, char **argv)
{
    options o;
    bp_dist *d = NULL;
    bp_dist_batcher *b = NULL;
    bp_optimizer *opt = NULL;
    bp_matrix *x = NULL, *y = NULL;
    model m = {0};
    bp_error err = {BP_OK, ""};
    bp_optim_config cfg = bp_optim_defaults(BP_OPTIM_ADAM);
    size_t n_train = 0;
    double seconds = 0, loss_rows[2] = {0, 0}, start;
    bp_status st;
    int rank = 0, status = 0;

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (parse_options(argc, argv, &o) != 0) {
        if (rank == 0)
            fprintf(stderr, "usage: %s [--data FILE] [--hidden N] [--epochs N] [--batch N] "
                            "[--lr X] [--seed N] [--json]\n", argv[0]);
        MPI_Finalize();
        return 2;
    }
    st = bp_dist_new(MPI_COMM_WORLD, &d, &err);
    if (st == BP_OK) {
        /* every rank reads the table: agree before going on */
        st = load(o.data, &x, &y, &n_train, &err);
        st = bp_dist_agree(d, st, err.message, &err);
    }
    if (st == BP_OK) {
        cfg.lr = o.lr;
        st = build(&m, o.hidden, o.seed);
        if (st == BP_OK)
            st = bp_dist_batcher_new(d, 2, (const bp_matrix *const[]){x, y},
                                     (bp_node *const[]){m.x, m.y}, NULL, n_train, o.batch, 1,
                                     o.seed, &b, &err);
        else
            snprintf(err.message, sizeof err.message, "%s", bp_graph_message(m.g));
        if (st == BP_OK && bp_optimizer_new(m.g, NULL, 0, &cfg, &opt) != BP_OK)
            snprintf(err.message, sizeof err.message, "%s", bp_graph_message(m.g));
        st = bp_dist_agree(d, st != BP_OK ? st : bp_graph_status(m.g), err.message, &err);
    }
    if (st == BP_OK)
        st = bp_dist_attach(d, m.g, &err);   /* checks the graphs, sends rank 0's params */
    start = MPI_Wtime();
    for (size_t e = 0; st == BP_OK && e < o.epochs; e++) {
        st = epoch(d, &m, b, opt, loss_rows, &err);
        if (st == BP_OK && rank == 0 && !o.json)
            printf("epoch %zu: train mse %.5f (standardised)\n", e + 1, loss_rows[0] / loss_rows[1]);
    }
    seconds = MPI_Wtime() - start;
    if (st == BP_OK && rank == 0) {
        double test = test_mse(&m, x, y, n_train);
        double per_epoch = o.epochs ? seconds / (double)o.epochs : 0;
        if (o.json)
            printf("{\"ranks\": %d, \"epochs\": %zu, \"batch\": %zu, \"seconds_per_epoch\": %.6f, "
                   "\"train_mse\": %.6f, \"test_mse\": %.6f}\n",
                   bp_dist_size(d), o.epochs, o.batch, per_epoch,
                   loss_rows[1] > 0 ? loss_rows[0] / loss_rows[1] : 0, test);
        else
            printf("%d ranks, %.4f s per epoch; test mse %.5f (standardised)\n", bp_dist_size(d),
                   per_epoch, test);
    }
    if (st != BP_OK) {
        if (rank == 0)
            fprintf(stderr, "mpi_train: %s\n", err.message);
        status = 1;
    }
    bp_optimizer_free(opt);
    bp_dist_batcher_free(b);
    bp_graph_free(m.g);
    bp_matrix_free(x);
    bp_matrix_free(y);
    bp_dist_free(d);
    MPI_Finalize();
    return status;
}
