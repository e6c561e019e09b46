/* SPDX-License-Identifier: MIT */
/* README "A complete example": the lesson's staged softmax as a graph, and
 * its gradient (p - y) / rows.  README shows its output; tests/readme.sh
 * checks both. */
/* README: softmax */
#include <bpgraph.h>
#include <stdio.h>

int main(void)
{
    double z[2 * 3] = {0, 1, 2, 1000, -1000, 0};
    double y[2 * 3] = {0, 0, 1, 1, 0, 0};
    bp_graph *g = bp_graph_new();
    bp_node *logits = bp_param(g, 2, 3, "logits");
    bp_node *target = bp_constant(g, 2, 3, y, "y");
    /* z - max (detached), exp, row sum, pow -1, multiply */
    bp_node *p = bp_softmax_staged(g, logits);
    bp_node *loss = bp_nll(g, p, target);
    bp_matrix zm = {2, 3, z};

    bp_node_set_value(logits, &zm);
    if (bp_graph_status(g) != BP_OK || bp_forward(g, loss) != BP_OK ||
        bp_backward(g, loss, NULL) != BP_OK) {
        fprintf(stderr, "%s\n", bp_graph_message(g));
        bp_graph_free(g);
        return 1;
    }
    /* dloss/dlogits = (p - y) / rows */
    const bp_matrix *d = bp_node_grad(logits);
    for (size_t i = 0; i < d->rows * d->cols; i++)
        printf("%+.6f%c", d->data[i], i % 3 == 2 ? '\n' : ' ');
    bp_graph_free(g);
    return 0;
}
/* README: end */
