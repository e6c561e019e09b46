/* SPDX-License-Identifier: MIT */
/* tools/train-mpi's side of train_ranks.h, over libbpgraph-mpi: the job's
 * agreement on errors (with rank 0 printing the failing rank's message),
 * and each model's data-parallel batches and gradient sums.  Each model
 * (the network, and the logistic regression baseline) has a bp_dist of its
 * own, as bp_dist_attach holds one graph. */
#include "cli.h"
#include "train_ranks.h"

#include <bpgraph-mpi.h>

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static bp_dist *world;      /* the whole job, for ranks_agree */
static FILE *kept;          /* ranks but 0: their stderr, read by ranks_agree */

/* rc (0, 1, 2, or -1 after --help) as a status that can be agreed on,
 * and back; -1 travels as BP_ESTATE, which stops every rank quietly. */
static bp_status status_of(int rc)
{
    return rc == 0 ? BP_OK : rc == 2 ? BP_EINVAL : rc < 0 ? BP_ESTATE : BP_EIO;
}

static int rc_of(bp_status st)
{
    return st == BP_OK ? 0 : st == BP_EINVAL ? 2 : st == BP_ESTATE ? -1 : 1;
}

int ranks_start(int *argc, char ***argv)
{
    bp_error err;

    MPI_Init(argc, argv);
    if (bp_dist_new(MPI_COMM_WORLD, &world, &err) != BP_OK) {
        /* no agreement is possible without it */
        fprintf(stderr, "%s: %s\n", (*argv)[0], err.message);
        MPI_Abort(MPI_COMM_WORLD, 1);
        return 1;
    }
    if (bp_dist_rank(world) != 0) {
        /* Only rank 0 prints: the others' output goes nowhere, and their
         * messages to a file that ranks_agree sends to rank 0 from. */
        int null = open("/dev/null", O_WRONLY);
        kept = tmpfile();
        if (null >= 0)
            dup2(null, STDOUT_FILENO);
        if (kept)
            dup2(fileno(kept), STDERR_FILENO);
        if (null >= 0)
            close(null);
    }
    return 0;
}

int ranks_stop(int rc)
{
    bp_dist_free(world);
    MPI_Finalize();
    if (kept)
        fclose(kept);
    return rc;
}

int ranks_rank(void)
{
    return bp_dist_rank(world);
}

int ranks_size(void)
{
    return bp_dist_size(world);
}

/* This rank's last message, from its last line that starts with "NAME: "
 * (without it) to the end, into text; "" when it has printed none. */
static void last_message(char *text, size_t size)
{
    char tail[4096];
    const char *at;
    char prefix[300];
    off_t end;
    ssize_t got;
    size_t len;

    text[0] = '\0';
    if (!kept)
        return;
    fflush(stderr);
    end = lseek(fileno(kept), 0, SEEK_END);
    if (end <= 0)
        return;
    got = pread(fileno(kept), tail, sizeof tail - 1,
                end > (off_t)sizeof tail - 1 ? end - (off_t)(sizeof tail - 1) : 0);
    if (got <= 0)
        return;
    tail[got] = '\0';
    snprintf(prefix, sizeof prefix, "%s: ", cli_name());
    at = tail;
    for (const char *p = tail; (p = strstr(p, prefix)) != NULL; p++)
        if (p == tail || p[-1] == '\n')
            at = p + strlen(prefix);
    len = strlen(at);
    while (len > 0 && at[len - 1] == '\n')
        len--;
    if (len >= size)
        len = size - 1;     /* bp_dist_agree sends at most this much */
    memcpy(text, at, len);
    text[len] = '\0';
}

int ranks_agree(int rc)
{
    bp_error err;
    bp_status st;
    char text[sizeof err.message];

    if (rc != 0)
        last_message(text, sizeof text);
    st = bp_dist_agree(world, status_of(rc), rc != 0 ? text : NULL, &err);
    /* rank 0 printed its own failure; another's reaches it here */
    if (st != BP_OK && st != BP_ESTATE && rc == 0 && ranks_rank() == 0)
        fprintf(stderr, "%s: %s\n", cli_name(), err.message);
    return rc_of(st);
}

bp_status ranks_batcher_new(model *m, const bp_matrix *const src[2], bp_node *const dst[2],
                            size_t batch, uint64_t seed, bp_error *err)
{
    bp_status st = bp_dist_new(MPI_COMM_WORLD, &m->dist, err);

    if (st == BP_OK)
        st = bp_dist_batcher_new(m->dist, 2, src, dst, NULL, 0, batch, 1, seed,
                                 &m->dist_batcher, err);
    return st;
}

bp_status ranks_attach(model *m, bp_error *err)
{
    return bp_dist_attach(m->dist, m->g, err);
}

bp_status ranks_next(model *m, size_t *local, size_t *rows)
{
    return bp_dist_batcher_next(m->dist_batcher, local, rows);
}

bp_status ranks_reduce(model *m, size_t local, bp_error *err)
{
    return bp_dist_allreduce_grads(m->dist, local, err);
}

bp_status ranks_sum(model *m, double *v, size_t n, bp_error *err)
{
    return bp_dist_sum(m->dist, v, n, err);
}

void ranks_model_free(model *m)
{
    bp_dist_batcher_free(m->dist_batcher);
    bp_dist_free(m->dist);
}
