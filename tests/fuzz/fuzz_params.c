/* SPDX-License-Identifier: MIT */
/* libFuzzer target: bp_params_load on arbitrary bytes, into two graphs:
 * one whose params match the seeds (w1 2x3, b1 1x3, an unnamed 1x1) and
 * one of a tensor param (a single 2x1x2 "w", seed other_graph_v2.bin).  Each input is tried as it
 * is and again with its last 8 bytes replaced by the right checksum, so
 * that mutations reach the checks past the checksum.
 *
 * Contract: on error the status is one the reader documents, err holds it
 * with a message, and no param changed (bit for bit); on success saving
 * the graph writes back exactly the bytes that were loaded (the format
 * leaves no choice), or for a version-1 file, whose save is version 2, a
 * file that loads back to the same values. */
#include "bpgraph.h"
#include "fuzz_util.h"

#define N_PARAMS 4
#define MAX_VALUES 16

static bp_graph *graphs[2];
static bp_node *params[2][N_PARAMS];
static size_t n_params[2];
static char save_path[64];

static void remove_save_path(void)
{
    unlink(save_path);
}

static void build(void)
{
    bp_graph *g = bp_graph_new(), *h = bp_graph_new();
    int fd;

    if (!g || !h)
        abort();
    bp_input(g, 1, 2, "x");
    params[0][0] = bp_param(g, 2, 3, "w1");
    params[0][1] = bp_param(g, 1, 3, "b1");
    params[0][2] = bp_param(g, 1, 1, NULL);
    n_params[0] = 3;
    params[1][0] = bp_param_nd(h, &(bp_shape){3, {2, 1, 2}}, "w");
    n_params[1] = 1;
    if (bp_graph_status(g) != BP_OK || bp_graph_status(h) != BP_OK)
        abort();
    graphs[0] = g;
    graphs[1] = h;
    snprintf(save_path, sizeof save_path, "/tmp/bp_fuzz_save.XXXXXX");
    fd = mkstemp(save_path);
    if (fd < 0)
        abort();
    close(fd);
    atexit(remove_save_path);
}

static uint64_t fnv1a64(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* Loads path into graph k and checks the contract; data/size are the
 * file's bytes. */
static void try_load(int k, const char *path, const uint8_t *data, size_t size)
{
    double before[N_PARAMS][MAX_VALUES];
    bp_error err;
    bp_status st;

    for (size_t i = 0; i < n_params[k]; i++) {
        const bp_matrix *v = bp_node_value(params[k][i]);
        memcpy(before[i], v->data, v->rows * v->cols * sizeof(double));
    }
    memset(&err, 0, sizeof err);
    st = bp_params_load(graphs[k], path, &err);
    if (st != BP_OK) {
        if (st != BP_EIO && st != BP_EPARSE && st != BP_EDIM && st != BP_ENOTFOUND &&
            st != BP_ENOMEM)
            abort();
        if (err.status != st || !err.message[0] || !strstr(err.message, path))
            abort();
        for (size_t i = 0; i < n_params[k]; i++) {
            const bp_matrix *v = bp_node_value(params[k][i]);
            if (memcmp(before[i], v->data, v->rows * v->cols * sizeof(double)) != 0)
                abort();
        }
        return;
    }
    /* Loaded: saving must give the same bytes back. */
    {
        uint8_t back[4096 + 64];
        size_t n;
        FILE *f;
        for (size_t i = 0; i < n_params[k]; i++) {
            const bp_matrix *v = bp_node_value(params[k][i]);
            memcpy(before[i], v->data, v->rows * v->cols * sizeof(double));
        }
        if (bp_params_save(graphs[k], save_path, &err) != BP_OK)
            abort();
        if (data[8] == 1) {   /* an old version: saved anew as the current one */
            if (bp_params_load(graphs[k], save_path, &err) != BP_OK)
                abort();
            for (size_t i = 0; i < n_params[k]; i++) {
                const bp_matrix *v = bp_node_value(params[k][i]);
                if (memcmp(before[i], v->data, v->rows * v->cols * sizeof(double)) != 0)
                    abort();
            }
            return;
        }
        f = fopen(save_path, "rb");
        if (!f)
            abort();
        n = fread(back, 1, sizeof back, f);
        fclose(f);
        if (n != size || memcmp(back, data, size) != 0)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t fixed[4096];
    const char *path;

    if (!graphs[0])
        build();
    path = fuzz_write_file(data, size);
    try_load(0, path, data, size);
    try_load(1, path, data, size);
    if (size >= 16 && size <= sizeof fixed) {
        uint64_t h;
        memcpy(fixed, data, size);
        h = fnv1a64(fixed, size - 8);
        for (int i = 0; i < 8; i++)
            fixed[size - 8 + i] = (uint8_t)(h >> (8 * i));
        path = fuzz_write_file(fixed, size);
        try_load(0, path, fixed, size);
        try_load(1, path, fixed, size);
    }
    return 0;
}
