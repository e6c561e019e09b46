/* SPDX-License-Identifier: MIT */
/* Built against the installed libbpgraph-mpi by tests/install.sh. */
#include <bpgraph-mpi.h>

#include <stdio.h>

int main(int argc, char **argv)
{
    double w0[2] = {0.25, -1.5};
    bp_matrix wm = {1, 2, w0};
    bp_graph *g = bp_graph_new();
    bp_node *w = bp_param(g, 1, 2, "w");
    bp_dist *d = NULL;
    bp_error err = {BP_OK, ""};
    int ok;

    MPI_Init(&argc, &argv);
    bp_node_set_value(w, &wm);
    ok = bp_dist_new(MPI_COMM_WORLD, &d, &err) == BP_OK && bp_dist_attach(d, g, &err) == BP_OK &&
         bp_node_value(w)->data[1] == -1.5;
    printf("installed bpgraph-mpi: %d rank(s), attach %s\n", bp_dist_size(d), ok ? "ok" : err.message);
    bp_dist_free(d);
    bp_graph_free(g);
    MPI_Finalize();
    return ok ? 0 : 1;
}
