/* SPDX-License-Identifier: MIT */
/* Elementwise ops on tensors: add, sub, mul and div under numpy's
 * broadcasting (rank 1 to 4, every pattern), values and gradients against
 * numpy (tests/fixtures/broadcast_numpy.py), a node used as both operands,
 * gradients summed over two uses, the checker on rank-3 and rank-4 params;
 * the unary ops, detach, sum, mean and mse on tensors; and the refusals. */
#include "test_util.h"

#include "fixtures/broadcast_numpy.h"

#define N_CASES (sizeof bc_cases / sizeof bc_cases[0])
#define N_OPS (sizeof bc_op_names / sizeof bc_op_names[0])
#define TOL 1e-12   /* relative to max(1, |want|): a few roundings of sums of ≤ 30 terms */

static bp_graph *g;

static void setup(void)
{
    g = bp_graph_new();
    ck_assert_ptr_nonnull(g);
}

static void teardown(void)
{
    bp_graph_free(g);
}

static void assert_shape_is(const bp_node *n, const bp_shape *want)
{
    const bp_shape *s = bp_node_shape(n);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(s->rank, want->rank);
    for (size_t i = 0; i < want->rank; i++)
        ck_assert_msg(s->dim[i] == want->dim[i], "dim %zu is %zu, want %zu", i, s->dim[i],
                      want->dim[i]);
}

/* Every entry of m within TOL·max(1, |want|) of want (n entries). */
static void assert_near(const bp_matrix *m, const double *want, size_t n, const char *what)
{
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(m->rows * m->cols, n);
    for (size_t k = 0; k < n; k++)
        ck_assert_msg(fabs(m->data[k] - want[k]) <= TOL * fmax(1.0, fabs(want[k])),
                      "%s entry %zu: got %.17g, want %.17g", what, k, m->data[k], want[k]);
}

/* A param of the given shape holding data (its matrix view's entries). */
static bp_node *param_with(const bp_shape *s, const double *data, const char *name)
{
    bp_node *p = bp_param_nd(g, s, name);
    size_t rows, cols;

    ck_assert_ptr_nonnull(p);
    rows = s->rank > 1 ? tu_shape_size(s) / s->dim[s->rank - 1] : 1;
    cols = s->dim[s->rank - 1];
    tu_set(p, rows, cols, data);
    return p;
}

static bp_node *apply_binary(size_t op, bp_node *x, bp_node *y)
{
    switch (op) {
    case 0: return bp_add(g, x, y);
    case 1: return bp_sub(g, x, y);
    case 2: return bp_mul(g, x, y);
    default: return bp_div(g, x, y);
    }
}

/* L = sum(w ⊙ op(x, y)) for case c: the gradient reaching op is w. */
static bp_node *weighted_loss(const bc_case *c, size_t op, bp_node *x, bp_node *y, bp_node **z)
{
    bp_node *w = bp_constant_nd(g, &c->z_shape, c->w, "w");
    *z = apply_binary(op, x, y);
    return bp_sum(g, bp_mul(g, *z, w));
}

/* x·1, an op node: its gradient is fresh at each backward (the op assigns
 * it, or zeroes it first when broadcast), where a param's accumulates. */
static bp_node *via_op(bp_node *p)
{
    return bp_scale(g, p, 1.0);
}

/* Values and gradients of every op on every case, against numpy, the
 * operands being op nodes (fresh gradients).  Two backward passes: the
 * params accumulate, so their gradients double, while the op nodes'
 * gradients must be assigned or zeroed afresh each time. */
START_TEST(binary_ops_match_numpy)
{
    const bc_case *c = &bc_cases[_i / N_OPS];
    const size_t op = (size_t)_i % N_OPS;
    const size_t nx = tu_shape_size(&c->x_shape), ny = tu_shape_size(&c->y_shape);
    const size_t nz = tu_shape_size(&c->z_shape);
    bp_node *x = param_with(&c->x_shape, c->x, "x"), *y = param_with(&c->y_shape, c->y, "y");
    bp_node *z, *loss = weighted_loss(c, op, via_op(x), via_op(y), &z);
    double twice_dx[nx], twice_dy[ny];

    ck_assert_msg(loss != NULL, "%s: %s", bc_op_names[op], bp_graph_message(g));
    assert_shape_is(z, &c->z_shape);
    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    assert_near(bp_node_value(z), c->op[op].z, nz, bc_op_names[op]);
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
    assert_near(bp_node_grad(x), c->op[op].dx, nx, "dx");
    assert_near(bp_node_grad(y), c->op[op].dy, ny, "dy");

    for (size_t k = 0; k < nx; k++)
        twice_dx[k] = 2.0 * c->op[op].dx[k];
    for (size_t k = 0; k < ny; k++)
        twice_dy[k] = 2.0 * c->op[op].dy[k];
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
    assert_near(bp_node_grad(x), twice_dx, nx, "dx after two backwards");
    assert_near(bp_node_grad(y), twice_dy, ny, "dy after two backwards");
}
END_TEST

/* x and y (op nodes, both broadcast: case 3, 2x1x4 with 3x1) each feeding
 * add and mul: the two gradients sum, so the op that runs backward second
 * must add to what the first assigned or zeroed and summed. */
START_TEST(gradients_of_two_uses_sum)
{
    const bc_case *c = &bc_cases[3];
    const size_t nx = tu_shape_size(&c->x_shape), ny = tu_shape_size(&c->y_shape);
    bp_node *px = param_with(&c->x_shape, c->x, "x"), *py = param_with(&c->y_shape, c->y, "y");
    bp_node *x = via_op(px), *y = via_op(py);
    bp_node *z1, *z2, *l1 = weighted_loss(c, 0, x, y, &z1), *l2 = weighted_loss(c, 2, x, y, &z2);
    bp_node *loss = bp_add(g, l1, l2);
    double dx[nx], dy[ny];

    ck_assert_ptr_nonnull(loss);
    for (size_t k = 0; k < nx; k++)
        dx[k] = c->op[0].dx[k] + c->op[2].dx[k];
    for (size_t k = 0; k < ny; k++)
        dy[k] = c->op[0].dy[k] + c->op[2].dy[k];
    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
    assert_near(bp_node_grad(px), dx, nx, "dx");
    assert_near(bp_node_grad(py), dy, ny, "dy");
}
END_TEST

/* mul(x, x) on 2x3x4: the same node as both operands (din[0] and din[1]
 * one buffer) gets both contributions, 2·w·x. */
START_TEST(mul_of_a_node_by_itself)
{
    const bp_shape s = {3, {2, 3, 4}};
    bp_node *x = param_with(&s, sq_x, "x"), *w = bp_constant_nd(g, &s, sq_w, "w");
    bp_node *z = bp_mul(g, x, x), *loss = bp_sum(g, bp_mul(g, z, w));

    ck_assert_ptr_nonnull(loss);
    assert_shape_is(z, &s);
    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    assert_near(bp_node_value(z), sq_z, 24, "x*x");
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
    assert_near(bp_node_grad(x), sq_dx, 24, "dx");
}
END_TEST

/* The checker agrees, by finite differences, on every case with a rank-3
 * or rank-4 operand (cases 2..11), for every op. */
START_TEST(gradcheck_graph_on_tensors)
{
    const bc_case *c = &bc_cases[2 + _i / N_OPS];
    const size_t op = (size_t)_i % N_OPS;
    bp_node *x = param_with(&c->x_shape, c->x, "x"), *y = param_with(&c->y_shape, c->y, "y");
    bp_node *z, *loss = weighted_loss(c, op, x, y, &z);
    bp_check_report rep;

    ck_assert_ptr_nonnull(loss);
    ck_assert_int_eq(bp_gradcheck_graph(g, loss, NULL, &rep), BP_OK);
    ck_assert_msg(rep.result == BP_CHECK_PASS, "%s case %d: %s %s", bc_op_names[op],
                  2 + _i / (int)N_OPS, rep.diagnosis, rep.message);
    ck_assert_uint_eq(rep.n_compared, tu_shape_size(&c->x_shape) + tu_shape_size(&c->y_shape));
    bp_check_report_clear(&rep);
}
END_TEST

/* Shapes that do not broadcast are refused when the node is made, with
 * the op and both full shapes; nothing is added to the graph. */
START_TEST(shapes_that_do_not_broadcast)
{
    bp_node *a = bp_input_nd(g, &(bp_shape){3, {4, 3, 2}}, "a");
    bp_node *b = bp_input_nd(g, &(bp_shape){2, {5, 2}}, "b");
    bp_node *c = bp_input_nd(g, &(bp_shape){4, {2, 3, 4, 5}}, "c");
    bp_node *d = bp_input_nd(g, &(bp_shape){3, {2, 4, 5}}, "d");
    bp_node *e = bp_input_nd(g, &(bp_shape){1, {3}}, "e");
    size_t size = bp_graph_size(g);

    ck_assert_ptr_null(bp_add(g, a, b));
    ck_assert_int_eq(bp_graph_status(g), BP_EDIM);
    ck_assert_str_eq(bp_graph_message(g), "add: shapes 4x3x2 and 5x2 do not broadcast");
    bp_graph_clear_error(g);
    ck_assert_ptr_null(bp_div(g, c, d));
    ck_assert_str_eq(bp_graph_message(g), "div: shapes 2x3x4x5 and 2x4x5 do not broadcast");
    bp_graph_clear_error(g);
    ck_assert_ptr_null(bp_sub(g, e, a));
    ck_assert_str_eq(bp_graph_message(g), "sub: shapes 3 and 4x3x2 do not broadcast");
    bp_graph_clear_error(g);
    ck_assert_uint_eq(bp_graph_size(g), size);
    /* the ones that do: 2x3x4x5 with 3x1x5 */
    ck_assert_ptr_nonnull(bp_mul(g, c, bp_input_nd(g, &(bp_shape){3, {3, 1, 5}}, "f")));
}
END_TEST

/* An input's batch dimension set at run time is checked again at forward:
 * 4x3x2 and 3x2 broadcast; given 6 rows (a batch of 2 of 3x2) the first
 * still does; 5x2 (an input of 5 rows plus a 1x2 param) against 4x3x2
 * does not. */
START_TEST(batch_change_is_checked_at_forward)
{
    const bc_case *c = &bc_cases[2];
    bp_node *x = bp_input_nd(g, &c->x_shape, "x"), *y = param_with(&c->y_shape, c->y, "y");
    bp_node *w = bp_param_nd(g, &(bp_shape){2, {1, 2}}, "w");
    bp_node *z = bp_add(g, x, y), *bad = bp_input_nd(g, &(bp_shape){2, {3, 2}}, "bad");
    bp_node *zb = bp_mul(g, x, bp_add(g, bad, w));
    double data[30];

    ck_assert_ptr_nonnull(zb);
    tu_set(x, 12, 2, c->x);
    ck_assert_int_eq(bp_forward(g, z), BP_OK);
    assert_near(bp_node_value(z), c->op[0].z, 24, "add");
    memset(data, 0, sizeof data);
    tu_set(bad, 5, 2, data);
    ck_assert_int_eq(bp_forward(g, zb), BP_EDIM);
    ck_assert_str_eq(bp_graph_message(g), "mul: forward: shapes 4x3x2 and 5x2 do not broadcast");
}
END_TEST

/* sum, mean and mse of 2x3x2x2 tensors, and mse's gradients, against
 * numpy; mse refuses two shapes of one element count. */
START_TEST(reductions_of_tensors_match_numpy)
{
    const bp_shape s = {4, {2, 3, 2, 2}};
    bp_node *p = param_with(&s, red_p, "p"), *t = param_with(&s, red_t, "t");
    bp_node *sum = bp_sum(g, p), *mean = bp_mean(g, p), *mse = bp_mse(g, p, t);

    ck_assert_ptr_nonnull(mse);
    assert_shape_is(sum, &(bp_shape){2, {1, 1}});
    assert_shape_is(mse, &(bp_shape){2, {1, 1}});
    ck_assert_int_eq(bp_forward(g, sum), BP_OK);
    ck_assert_int_eq(bp_forward(g, mean), BP_OK);
    ck_assert_int_eq(bp_forward(g, mse), BP_OK);
    assert_near(bp_node_value(sum), &red_sum, 1, "sum");
    assert_near(bp_node_value(mean), &red_mean, 1, "mean");
    assert_near(bp_node_value(mse), &red_mse, 1, "mse");
    ck_assert_int_eq(bp_backward(g, mse, NULL), BP_OK);
    assert_near(bp_node_grad(p), red_mse_dp, 24, "dp");
    assert_near(bp_node_grad(t), red_mse_dt, 24, "dt");

    ck_assert_ptr_null(bp_mse(g, p, bp_param_nd(g, &(bp_shape){3, {6, 2, 2}}, "u")));
    ck_assert_str_eq(bp_graph_message(g),
                     "mse: prediction and target differ in shape (2x3x2x2, 6x2x2)");
}
END_TEST

/* The gradient of sum or mean over a rank-3 tensor, by the checker. */
START_TEST(sum_and_mean_gradcheck_on_rank3)
{
    const bp_shape s = {3, {2, 3, 4}};
    bp_node *x = param_with(&s, sq_x, "x"), *w = bp_constant_nd(g, &s, sq_w, "w");
    bp_node *loss = bp_add(g, bp_sum(g, bp_mul(g, x, w)), bp_mean(g, bp_mul(g, x, x)));
    bp_check_report rep;

    ck_assert_ptr_nonnull(loss);
    ck_assert_int_eq(bp_gradcheck_graph(g, loss, NULL, &rep), BP_OK);
    ck_assert_msg(rep.result == BP_CHECK_PASS, "%s %s", rep.diagnosis, rep.message);
    bp_check_report_clear(&rep);
}
END_TEST

/* Each unary op on a 2x3x2x2 param keeps its shape, computes each entry as
 * libm does, and passes the checker; inputs in [0.4, 2.1), where every op
 * is defined. */
START_TEST(unary_ops_on_rank4)
{
    const bp_shape s = {4, {2, 3, 2, 2}};
    bp_node *x = param_with(&s, bc_cases[11].x, "x");
    bp_node *w = bp_constant_nd(g, &s, bc_cases[11].w, "w");
    double in[24], want[24];
    bp_node *y;
    bp_check_report rep;

    for (size_t k = 0; k < 24; k++)
        in[k] = fabs(bc_cases[11].x[k]);
    tu_set(x, 12, 2, in);
    switch (_i) {
    case 0: y = bp_neg(g, x); break;
    case 1: y = bp_scale(g, x, 2.385); break;
    case 2: y = bp_exp(g, x); break;
    case 3: y = bp_log(g, x); break;
    case 4: y = bp_pow(g, x, 3.7); break;
    case 5: y = bp_sqrt(g, x); break;
    case 6: y = bp_relu(g, bp_add(g, x, bp_constant_nd(g, &(bp_shape){1, {1}},
                                                       (const double[]){-1.2}, "c"))); break;
    case 7: y = bp_sigmoid(g, x); break;
    default: y = bp_tanh(g, x); break;
    }
    for (size_t k = 0; k < 24; k++) {
        const double v = in[k];
        const double all[9] = {-v, 2.385 * v, exp(v), log(v), pow(v, 3.7), sqrt(v),
                               v - 1.2 > 0.0 ? v - 1.2 : 0.0, 1.0 / (1.0 + exp(-v)), tanh(v)};
        want[k] = all[_i];
    }
    ck_assert_ptr_nonnull(y);
    assert_shape_is(y, &s);
    ck_assert_int_eq(bp_forward(g, y), BP_OK);
    assert_near(bp_node_value(y), want, 24, "value");
    ck_assert_int_eq(bp_gradcheck_graph(g, bp_sum(g, bp_mul(g, y, w)), NULL, &rep), BP_OK);
    ck_assert_msg(rep.result == BP_CHECK_PASS, "op %d: %s %s", _i, rep.diagnosis, rep.message);
    bp_check_report_clear(&rep);
}
END_TEST

/* detach keeps a rank-3 value and its shape and passes no gradient. */
START_TEST(detach_of_a_tensor)
{
    const bp_shape s = {3, {2, 3, 4}};
    bp_node *x = param_with(&s, sq_x, "x"), *d = bp_detach(g, x);
    bp_node *loss = bp_add(g, bp_sum(g, bp_mul(g, d, x)), bp_sum(g, d));

    ck_assert_ptr_nonnull(loss);
    assert_shape_is(d, &s);
    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    assert_near(bp_node_value(d), sq_x, 24, "detach");
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
    assert_near(bp_node_grad(x), sq_x, 24, "d/dx sum(detach(x)·x) = x");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("broadcast");
    TCase *tc = tcase_create("broadcast");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, binary_ops_match_numpy, 0, (int)(N_CASES * N_OPS));
    tcase_add_test(tc, gradients_of_two_uses_sum);
    tcase_add_test(tc, mul_of_a_node_by_itself);
    tcase_add_loop_test(tc, gradcheck_graph_on_tensors, 0, (int)((N_CASES - 2) * N_OPS));
    tcase_add_test(tc, shapes_that_do_not_broadcast);
    tcase_add_test(tc, batch_change_is_checked_at_forward);
    tcase_add_test(tc, reductions_of_tensors_match_numpy);
    tcase_add_test(tc, sum_and_mean_gradcheck_on_rank3);
    tcase_add_loop_test(tc, unary_ops_on_rank4, 0, 9);
    tcase_add_test(tc, detach_of_a_tensor);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
