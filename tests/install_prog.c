/* SPDX-License-Identifier: MIT */
/* Built against the installed library by tests/install.sh. */
#include <bpgraph.h>

#include <math.h>
#include <stdio.h>

int main(void)
{
    double z[3] = {0.0, 1.0, 2.0};
    bp_graph *g = bp_graph_new();
    bp_node *x = bp_constant(g, 1, 3, z, "z");
    bp_node *s = bp_softmax_staged(g, x);
    int ok;

    if (bp_forward(g, s) != BP_OK) {
        fprintf(stderr, "%s\n", bp_graph_message(g));
        return 1;
    }
    /* the lesson's softmax([0 1 2]) */
    ok = fabs(bp_node_value(s)->data[2] - 0.66524096) < 1e-8;
    printf("installed bpgraph: softmax([0 1 2])[2] = %.8f %s\n",
           bp_node_value(s)->data[2], ok ? "ok" : "WRONG");
    bp_graph_free(g);
    return ok ? 0 : 1;
}
