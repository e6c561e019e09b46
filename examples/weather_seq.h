/* SPDX-License-Identifier: MIT */
/* What examples/rnn and examples/gru share: the course's recurrent lesson
 * on the weather table (windows of the last 7 days' tmax, tmin and rain
 * predicting tmax_tomorrow), its chronological split, the training loop and
 * the baselines.  Each program gives only the recurrent cell. */
#ifndef WEATHER_SEQ_H
#define WEATHER_SEQ_H

#include <bpgraph.h>

#define WS_DAYS 7       /* the window: the last 7 days */
#define WS_FEATURES 3   /* tmax, tmin, rain */

/* The cell's part of a sequence network: given x, the B x 21 window (day
 * 0, the oldest, first), returns the last hidden state, B x hidden, built
 * with one cell applied to each day in turn from the zero state.  Params
 * come from rng. */
typedef bp_node *(*ws_sequence_fn)(bp_graph *g, bp_node *x, size_t hidden, bp_rng *rng);

/* The program: options, data, the network built by sequence and trained,
 * the baselines, the report.  kind names the network ("rnn", "gru") and
 * cell_doc says what its cell computes, for the report's heading.
 * Returns the exit status (0, 1 for an error, 2 for a usage error). */
int ws_main(int argc, char **argv, const char *kind, const char *cell_doc, ws_sequence_fn sequence);

#endif
