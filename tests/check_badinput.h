/* SPDX-License-Identifier: MIT */
/* What the parts of check_badinput share: the table type each area
 * (check_badinput_<area>.c) fills, and the helpers every area uses
 * (defined in check_badinput.c). */
#ifndef BP_CHECK_BADINPUT_H
#define BP_CHECK_BADINPUT_H

#include "test_util.h"

#include <stdio.h>

/* A public function, and the check that tries it with bad input. */
struct covered {
    const char *name;
    void (*check)(const char *name);
};

/* One area's table; check_badinput.c runs the union of the areas', and its
 * guard header_is_covered requires that union to be the headers' list. */
struct covered_area {
    const char *area;
    const struct covered *entries;
    size_t n;
};

extern const struct covered_area badinput_graph, badinput_ops, badinput_check, badinput_io,
    badinput_train;

bp_graph *new_graph(void);

/* part is NULL or a substring of msg. */
int mentions(const char *msg, const char *part);
const char *show(const char *part);

/* The graph's sticky error is `st`, with a message that holds `part` (may
 * be NULL) and is empty exactly when st is BP_OK.  Macros, so that a
 * failure names the line of the call. */
#define expect_graph_error(g, st, part)                                         \
    do {                                                                        \
        const char *m_ = bp_graph_message(g);                                   \
        ck_assert_msg(bp_graph_status(g) == (st), "status %d, want %d (%s)",    \
                      bp_graph_status(g), (st), m_);                            \
        ck_assert_msg((m_[0] == '\0') == ((st) == BP_OK), "message '%s' for status %d", \
                      m_, (st));                                                \
        ck_assert_msg(mentions(m_, (part)), "message '%s' lacks '%s'", m_, show(part)); \
    } while (0)

#define expect_error_struct(e, st, part)                                        \
    do {                                                                        \
        ck_assert_msg((e).status == (st), "status %d, want %d (%s)",            \
                      (e).status, (st), (e).message);                           \
        ck_assert_msg((e).message[0] != '\0', "empty message");                 \
        ck_assert_msg(mentions((e).message, (part)), "message '%s' lacks '%s'", \
                      (e).message, show(part));                                     \
    } while (0)

/* A function that takes a graph and a bp_error reports a failure through
 * both: e and the graph's sticky error hold the same status and message,
 * which holds part.  Then clears the graph's error for the next call. */
#define expect_both(g, e, st, part)                                             \
    do {                                                                        \
        expect_error_struct(e, st, part);                                       \
        expect_graph_error(g, st, part);                                        \
        ck_assert_str_eq(bp_graph_message(g), (e).message);                    \
        bp_graph_clear_error(g);                                                \
    } while (0)

/* The same when the call was given no bp_error: the graph alone tells. */
#define expect_graph_only(g, st, part)                                          \
    do {                                                                        \
        expect_graph_error(g, st, part);                                        \
        bp_graph_clear_error(g);                                                \
    } while (0)

/* A param filled with non-round values. */
bp_node *filled_param(bp_graph *g, size_t rows, size_t cols, const char *name);

/* bp_constant as a leaf function like bp_input's (2.385, then zeros). */
bp_node *constant_leaf(bp_graph *g, size_t rows, size_t cols, const char *name);

/* The temporary directory temp_file made ("" before the first call). */
extern char tmp_dir[256];

/* A file in a fresh temporary directory holding len bytes of text. */
const char *temp_file(const char *name, const char *text, size_t len);
void remove_temp(const char *path);

/* An op that declares whatever its test asks for: its shape rule gives
 * silly_rows x silly_cols. */
extern size_t silly_rows, silly_cols;
extern const bp_op silly_op;

/* err zeroed, so a message seen afterwards is the call's own. */
bp_error *fresh(bp_error *err);

/* n's value is bit for bit want. */
void assert_values(bp_node *n, const double *want);

#endif
