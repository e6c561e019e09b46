/* SPDX-License-Identifier: MIT */
/* The blocks (bpgraph/blocks.h): values and gradients of the dense layer,
 * the RNN cell and the GRU cell against PyTorch's Linear, RNNCell and
 * GRUCell (tests/fixtures/blocks_torch.py, weights copied in), the zero
 * state over a sequence, PyTorch's initialisation ranges and names, and
 * RNNs and GRUs unrolled over 3 to 7 steps through bp_gradcheck_graph.
 * Bad input: check_badinput_ops.c. */
#include "test_util.h"

#include "fixtures/blocks_torch.h"

/* PyTorch computes in another order: agreement to rounding. */
#define TOL 1e-13

static bp_node *param_from(bp_graph *g, size_t rows, size_t cols, const double *v, const char *name)
{
    bp_node *p = bp_param(g, rows, cols, name);
    ck_assert_ptr_nonnull(p);
    tu_set(p, rows, cols, v);
    return p;
}

/* loss = sum(y ⊙ c), c a constant of y's shape (matrix view rows x cols) */
static bp_node *weighted_sum(bp_graph *g, bp_node *y, size_t rows, size_t cols, const double *c)
{
    bp_node *cn = bp_constant(g, rows, cols, c, "c");
    return bp_sum(g, bp_mul(g, y, cn));
}

START_TEST(dense_layer_matches_torch_linear)
{
    bp_graph *g = bp_graph_new();
    bp_dense_layer l = {param_from(g, BT_N_IN, 2, bt_lin_w, "w"),
                        param_from(g, 1, 2, bt_lin_b, "b")};
    bp_node *x = bp_param_nd(g, &(bp_shape){3, {2, BT_B, BT_N_IN}}, "x");
    bp_node *y, *loss;

    tu_set(x, 2 * BT_B, BT_N_IN, bt_lin_x);
    y = bp_dense_layer_apply(g, &l, x);
    ck_assert_ptr_nonnull(y);
    ck_assert_uint_eq(bp_node_shape(y)->rank, 3);
    ck_assert_uint_eq(bp_node_shape(y)->dim[2], 2);
    loss = bp_sum(g, bp_mul(g, y, bp_constant_nd(g, &(bp_shape){3, {2, BT_B, 2}}, bt_lin_c, "c")));
    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
    tu_assert_matrix_near(bp_node_value(y), bt_lin_y, TOL);
    tu_assert_matrix_near(bp_node_grad(l.w), bt_lin_dw, TOL);
    tu_assert_matrix_near(bp_node_grad(l.b), bt_lin_db, TOL);
    tu_assert_matrix_near(bp_node_grad(x), bt_lin_dx, TOL);
    bp_graph_free(g);
}
END_TEST

START_TEST(rnn_cell_matches_torch_rnncell)
{
    bp_graph *g = bp_graph_new();
    bp_rnn_cell c = {param_from(g, BT_N_IN, BT_H, bt_rnn_w_x, "w_x"),
                     param_from(g, BT_H, BT_H, bt_rnn_w_h, "w_h"),
                     param_from(g, 1, BT_H, bt_rnn_b, "b")};
    bp_node *x = param_from(g, BT_B, BT_N_IN, bt_x, "x");
    bp_node *h = param_from(g, BT_B, BT_H, bt_h, "h");
    bp_node *h1 = bp_rnn_cell_apply(g, &c, x, h);
    bp_node *loss = weighted_sum(g, h1, BT_B, BT_H, bt_cw);

    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
    tu_assert_matrix_near(bp_node_value(h1), bt_rnn_h1, TOL);
    tu_assert_matrix_near(bp_node_grad(c.w_x), bt_rnn_dw_x, TOL);
    tu_assert_matrix_near(bp_node_grad(c.w_h), bt_rnn_dw_h, TOL);
    tu_assert_matrix_near(bp_node_grad(c.b), bt_rnn_db, TOL);
    tu_assert_matrix_near(bp_node_grad(x), bt_rnn_dx, TOL);
    tu_assert_matrix_near(bp_node_grad(h), bt_rnn_dh, TOL);
    bp_graph_free(g);
}
END_TEST

START_TEST(gru_cell_matches_torch_grucell)
{
    bp_graph *g = bp_graph_new();
    bp_gru_cell c = {param_from(g, BT_N_IN, 3 * BT_H, bt_gru_w_x, "w_x"),
                     param_from(g, BT_H, 3 * BT_H, bt_gru_w_h, "w_h"),
                     param_from(g, 1, 3 * BT_H, bt_gru_b_x, "b_x"),
                     param_from(g, 1, 3 * BT_H, bt_gru_b_h, "b_h")};
    bp_node *x = param_from(g, BT_B, BT_N_IN, bt_x, "x");
    bp_node *h = param_from(g, BT_B, BT_H, bt_h, "h");
    bp_node *h1 = bp_gru_cell_apply(g, &c, x, h);
    bp_node *loss = weighted_sum(g, h1, BT_B, BT_H, bt_cw);

    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
    tu_assert_matrix_near(bp_node_value(h1), bt_gru_h1, TOL);
    tu_assert_matrix_near(bp_node_grad(c.w_x), bt_gru_dw_x, TOL);
    tu_assert_matrix_near(bp_node_grad(c.w_h), bt_gru_dw_h, TOL);
    tu_assert_matrix_near(bp_node_grad(c.b_x), bt_gru_db_x, TOL);
    tu_assert_matrix_near(bp_node_grad(c.b_h), bt_gru_db_h, TOL);
    tu_assert_matrix_near(bp_node_grad(x), bt_gru_dx, TOL);
    tu_assert_matrix_near(bp_node_grad(h), bt_gru_dh, TOL);
    bp_graph_free(g);
}
END_TEST

/* T steps from the zero state (h NULL at the first, as PyTorch's hx None),
 * each step's x an input of its own; the last state against PyTorch's. */
START_TEST(cells_from_zero_state_match_torch_sequence)
{
    for (int gru = 0; gru <= 1; gru++) {
        bp_graph *g = bp_graph_new();
        bp_rnn_cell rc = {0};
        bp_gru_cell gc = {0};
        bp_node *h = NULL;

        if (gru) {
            gc.w_x = param_from(g, BT_N_IN, 3 * BT_H, bt_gru_w_x, "w_x");
            gc.w_h = param_from(g, BT_H, 3 * BT_H, bt_gru_w_h, "w_h");
            gc.b_x = param_from(g, 1, 3 * BT_H, bt_gru_b_x, "b_x");
            gc.b_h = param_from(g, 1, 3 * BT_H, bt_gru_b_h, "b_h");
        } else {
            rc.w_x = param_from(g, BT_N_IN, BT_H, bt_rnn_w_x, "w_x");
            rc.w_h = param_from(g, BT_H, BT_H, bt_rnn_w_h, "w_h");
            rc.b = param_from(g, 1, BT_H, bt_rnn_b, "b");
        }
        for (size_t t = 0; t < BT_T; t++) {
            bp_node *x = bp_input(g, BT_B, BT_N_IN, "x_t");
            tu_set(x, BT_B, BT_N_IN, bt_xs + t * BT_B * BT_N_IN);
            h = gru ? bp_gru_cell_apply(g, &gc, x, h) : bp_rnn_cell_apply(g, &rc, x, h);
            ck_assert_ptr_nonnull(h);
        }
        ck_assert_int_eq(bp_forward(g, h), BP_OK);
        tu_assert_matrix_near(bp_node_value(h), gru ? bt_gru_hT : bt_rnn_hT, TOL);
        bp_graph_free(g);
    }
}
END_TEST

/* Every entry within PyTorch's bound and the bound nearly reached (the
 * largest of n uniform draws falls short by about bound/n), the params
 * named "<name>.<param>", and the same seed giving the same values. */
static void assert_uniform(bp_node *p, const char *name, size_t rows, size_t cols, double bound)
{
    const bp_matrix *v = bp_node_value(p);
    double largest = 0.0;

    ck_assert_str_eq(bp_node_name(p), name);
    ck_assert(bp_node_is_param(p));
    ck_assert_uint_eq(v->rows, rows);
    ck_assert_uint_eq(v->cols, cols);
    for (size_t k = 0; k < rows * cols; k++) {
        ck_assert_msg(fabs(v->data[k]) <= bound, "%s[%zu] = %g beyond %g", name, k, v->data[k],
                      bound);
        largest = fmax(largest, fabs(v->data[k]));
    }
    if (rows * cols >= 64)
        ck_assert_msg(largest > 0.85 * bound, "%s: largest %g of bound %g", name, largest, bound);
}

START_TEST(init_as_pytorch)
{
    bp_graph *g = bp_graph_new();
    bp_rng rng = tu_rng(7), again = tu_rng(7);
    bp_dense_layer l;
    bp_rnn_cell rc;
    bp_gru_cell gc, gc2;

    ck_assert_int_eq(bp_dense_layer_init(g, &l, 16, 9, "head", &rng), BP_OK);
    assert_uniform(l.w, "head.w", 16, 9, 0.25);
    assert_uniform(l.b, "head.b", 1, 9, 0.25);
    ck_assert_int_eq(bp_rnn_cell_init(g, &rc, 3, 25, NULL, &rng), BP_OK);
    assert_uniform(rc.w_x, "rnn.w_x", 3, 25, 0.2);
    assert_uniform(rc.w_h, "rnn.w_h", 25, 25, 0.2);
    assert_uniform(rc.b, "rnn.b", 1, 25, 0.2);
    ck_assert_int_eq(bp_gru_cell_init(g, &gc, 3, 4, "enc", &rng), BP_OK);
    assert_uniform(gc.w_x, "enc.w_x", 3, 12, 0.5);
    assert_uniform(gc.w_h, "enc.w_h", 4, 12, 0.5);
    assert_uniform(gc.b_x, "enc.b_x", 1, 12, 0.5);
    assert_uniform(gc.b_h, "enc.b_h", 1, 12, 0.5);
    /* the same draws in the same order from the same seed */
    ck_assert_int_eq(bp_dense_layer_init(g, &l, 16, 9, "head2", &again), BP_OK);
    ck_assert_int_eq(bp_rnn_cell_init(g, &rc, 3, 25, NULL, &again), BP_OK);
    ck_assert_int_eq(bp_gru_cell_init(g, &gc2, 3, 4, NULL, &again), BP_OK);
    ck_assert_str_eq(bp_node_name(gc2.w_x), "gru.w_x");
    tu_assert_matrix_near(bp_node_value(gc2.w_h), bp_node_value(gc.w_h)->data, 0.0);
    tu_assert_matrix_near(bp_node_value(gc2.b_h), bp_node_value(gc.b_h)->data, 0.0);
    bp_graph_free(g);
}
END_TEST

/* A B x T·n_in input sliced into T steps, a cell unrolled over them from
 * the zero state, a dense head on the last state, MSE against a target:
 * every param's gradient against finite differences. */
static void check_unrolled(int gru, size_t steps)
{
    const size_t B = 3, n_in = 2, H = 4;
    bp_graph *g = bp_graph_new();
    bp_rng rng = tu_rng(100 + steps + 10 * (size_t)gru);
    bp_node *x = bp_input(g, B, steps * n_in, "x"), *y = bp_input(g, B, 1, "y");
    bp_node *h = NULL, *loss;
    bp_rnn_cell rc;
    bp_gru_cell gc;
    bp_dense_layer head;
    double xv[3 * 7 * 2], yv[3];
    bp_check_options opt = bp_check_options_default();
    bp_check_report rep;

    ck_assert_int_eq(gru ? bp_gru_cell_init(g, &gc, n_in, H, NULL, &rng)
                         : bp_rnn_cell_init(g, &rc, n_in, H, NULL, &rng), BP_OK);
    ck_assert_int_eq(bp_dense_layer_init(g, &head, H, 1, "head", &rng), BP_OK);
    /* larger weights than the init's, so that the tanh and sigmoids bend */
    for (size_t i = 0; i < bp_graph_size(g); i++) {
        bp_matrix *v = bp_node_value(bp_graph_node(g, i));
        for (size_t k = 0; bp_node_is_param(bp_graph_node(g, i)) && k < v->rows * v->cols; k++)
            v->data[k] *= 2.5;
    }
    tu_fill(xv, B * steps * n_in, &rng, -1.7, 1.9);
    tu_fill(yv, B, &rng, -0.8, 0.9);
    tu_set(x, B, steps * n_in, xv);
    tu_set(y, B, 1, yv);
    for (size_t t = 0; t < steps; t++) {
        bp_node *xt = bp_slice(g, x, 1, t * n_in, n_in);
        h = gru ? bp_gru_cell_apply(g, &gc, xt, h) : bp_rnn_cell_apply(g, &rc, xt, h);
    }
    loss = bp_mse(g, bp_dense_layer_apply(g, &head, h), y);
    ck_assert_msg(bp_graph_status(g) == BP_OK, "%s", bp_graph_message(g));
    ck_assert_int_eq(bp_gradcheck_graph(g, loss, &opt, &rep), BP_OK);
    ck_assert_msg(rep.result == BP_CHECK_PASS, "%s, T = %zu: %s %s", gru ? "gru" : "rnn", steps,
                  rep.diagnosis, rep.message);
    ck_assert_uint_gt(rep.n_cases, 0);
    bp_check_report_clear(&rep);
    bp_graph_free(g);
}

START_TEST(unrolled_rnn_passes_gradcheck)
{
    for (size_t steps = 3; steps <= 7; steps++)
        check_unrolled(0, steps);
}
END_TEST

START_TEST(unrolled_gru_passes_gradcheck)
{
    for (size_t steps = 3; steps <= 7; steps++)
        check_unrolled(1, steps);
}
END_TEST

static Suite *blocks_suite(void)
{
    Suite *s = suite_create("blocks");
    TCase *tc = tcase_create("blocks");

    tcase_add_test(tc, dense_layer_matches_torch_linear);
    tcase_add_test(tc, rnn_cell_matches_torch_rnncell);
    tcase_add_test(tc, gru_cell_matches_torch_grucell);
    tcase_add_test(tc, cells_from_zero_state_match_torch_sequence);
    tcase_add_test(tc, init_as_pytorch);
    tcase_add_test(tc, unrolled_rnn_passes_gradcheck);
    tcase_add_test(tc, unrolled_gru_passes_gradcheck);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(blocks_suite());
}
