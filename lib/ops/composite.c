/* SPDX-License-Identifier: MIT */
/* Composites: functions that build a piece of graph from other ops, with
 * no forward or backward of their own.  The lesson's staged softmax. */
#include "bp_private.h"

static bp_node *named(bp_node *n, const char *name)
{
    if (n && bp_node_set_name(n, name) != BP_OK) {
        bpi_fail(n->graph, BP_ENOMEM, "softmax_staged: out of memory naming '%s'", name);
        return NULL;
    }
    return n;
}

bp_node *bp_softmax_staged(bp_graph *g, bp_node *a)
{
    /* The lesson's stages; the row max is a constant, so it is detached. */
    bp_node *max = named(bp_detach(g, bp_rowmax(g, a)), "softmax.max");
    bp_node *shifted = named(bp_sub(g, a, max), "softmax.shifted");
    bp_node *raised = named(bp_exp(g, shifted), "softmax.exp");
    bp_node *total = named(bp_rowsum(g, raised), "softmax.rowsum");
    bp_node *inverse = named(bp_pow(g, total, -1.0), "softmax.inverse");
    return named(bp_mul(g, raised, inverse), "softmax.out");
}
