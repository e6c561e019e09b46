/* SPDX-License-Identifier: MIT */
/* The course's recurrent lesson in C: a GRU over the last 7 days of
 * the weather table predicting tomorrow's tmax, unrolled in a static
 * graph, against a dense network, least squares and tomorrow = today
 * (weather_seq.c says how).
 *
 *   gru [--data clean_weather.csv] [--hidden 32] [--epochs 30] [--seed 1]
 *       [--lr 0.003] [--batch 64] [--log FILE]
 */
#include "weather_seq.h"

/* README: gru */
/* One GRU cell applied to the 7 days in turn, from the zero state: day t
 * is columns 3t .. 3t+2 of the window. */
static bp_node *gru_sequence(bp_graph *g, bp_node *x, size_t hidden, bp_rng *rng)
{
    bp_gru_cell cell;
    bp_node *h = NULL;

    if (bp_gru_cell_init(g, &cell, WS_FEATURES, hidden, "gru", rng) != BP_OK)
        return NULL;
    for (size_t t = 0; t < WS_DAYS; t++)
        h = bp_gru_cell_apply(g, &cell, bp_slice(g, x, 1, t * WS_FEATURES, WS_FEATURES), h);
    return h;
}
/* README: end */

int main(int argc, char **argv)
{
    return ws_main(argc, argv, "gru", "GRU cell (PyTorch's GRUCell)", gru_sequence);
}
