/* SPDX-License-Identifier: MIT */
/* The shape ops (reshape, permute, slice, concat; bp_transpose_axes,
 * bp_concat and bp_stack of many inputs): values and gradients against
 * numpy's (fixtures/shape_numpy.h, made by fixtures/shape_numpy.py), round
 * trips that must give back their input exactly, reshape's view, and the
 * gradients of a graph of rank-3 and rank-4 params by finite differences. */
#include "test_util.h"

#include "fixtures/shape_numpy.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

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

static bp_node *param(size_t rank, size_t d0, size_t d1, size_t d2, size_t d3, const double *x)
{
    bp_node *p = bp_param_nd(g, &(bp_shape){rank, {d0, d1, d2, d3}}, NULL);
    ck_assert_ptr_nonnull(p);
    memcpy(bp_node_value(p)->data, x, bp_node_value(p)->rows * bp_node_value(p)->cols *
                                          sizeof(double));
    return p;
}

static void assert_shape(const bp_node *n, size_t rank, size_t d0, size_t d1, size_t d2,
                         size_t d3)
{
    const size_t want[BP_MAX_RANK] = {d0, d1, d2, d3};
    const bp_shape *s = bp_node_shape(n);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(s->rank, rank);
    for (size_t i = 0; i < rank; i++)
        ck_assert_msg(s->dim[i] == want[i], "dim %zu is %zu, want %zu", i, s->dim[i], want[i]);
}

/* Entries moved, never computed: equal to numpy's bit for bit. */
static void assert_exact(const bp_matrix *m, const double *want, size_t n)
{
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(m->rows * m->cols, n);
    for (size_t k = 0; k < n; k++)
        ck_assert_msg(m->data[k] == want[k], "entry %zu: got %.17g, want %.17g", k, m->data[k],
                      want[k]);
}

/* Forward to out, then backward with seed (out's shape). */
static void run_seeded(bp_node *out, const double *seed)
{
    bp_matrix s;

    ck_assert_int_eq(bp_forward(g, out), BP_OK);
    s = tu_view(bp_node_rows(out), bp_node_cols(out), (double *)seed);
    ck_assert_int_eq(bp_backward(g, out, &s), BP_OK);
}

#define assert_message(part)                                                        \
    do {                                                                            \
        ck_assert_int_eq(bp_graph_status(g), BP_EDIM);                              \
        ck_assert_msg(strstr(bp_graph_message(g), (part)) != NULL,                  \
                      "message '%s' lacks '%s'", bp_graph_message(g), (part));      \
        bp_graph_clear_error(g);                                                    \
    } while (0)

START_TEST(permute_rank3_matches_numpy)
{
    bp_node *x = param(3, 2, 3, 4, 0, perm3_x), *y = bp_permute(g, x, 2, 0, 1, 3);

    assert_shape(y, 3, 4, 2, 3, 0);
    run_seeded(y, perm3_seed);
    assert_exact(bp_node_value(y), perm3_y, N_OF(perm3_y));
    assert_exact(bp_node_grad(x), perm3_dx, N_OF(perm3_dx));
}
END_TEST

START_TEST(permute_rank4_matches_numpy)
{
    bp_node *x = param(4, 2, 3, 2, 4, perm4_x), *y = bp_permute(g, x, 3, 1, 0, 2);

    assert_shape(y, 4, 4, 3, 2, 2);
    run_seeded(y, perm4_seed);
    assert_exact(bp_node_value(y), perm4_y, N_OF(perm4_y));
    assert_exact(bp_node_grad(x), perm4_dx, N_OF(perm4_dx));
}
END_TEST

START_TEST(transpose_axes_matches_numpy)
{
    bp_node *x = param(3, 3, 2, 4, 0, swap02_x), *y = bp_transpose_axes(g, x, 2, 0);

    assert_shape(y, 3, 4, 2, 3, 0);
    run_seeded(y, swap02_seed);
    assert_exact(bp_node_value(y), swap02_y, N_OF(swap02_y));
    assert_exact(bp_node_grad(x), swap02_dx, N_OF(swap02_dx));
}
END_TEST

START_TEST(slice_matches_numpy)
{
    bp_node *x = param(3, 2, 5, 3, 0, slice_x), *y = bp_slice(g, x, 1, 1, 3);

    assert_shape(y, 3, 2, 3, 3, 0);
    run_seeded(y, slice_seed);
    assert_exact(bp_node_value(y), slice_y, N_OF(slice_y));
    assert_exact(bp_node_grad(x), slice_dx, N_OF(slice_dx));
}
END_TEST

START_TEST(concat_matches_numpy)
{
    bp_node *a = param(3, 2, 3, 4, 0, concat_a), *b = param(3, 2, 5, 4, 0, concat_b);
    bp_node *ab[2] = {a, b}, *y = bp_concat(g, 2, ab, 1);

    assert_shape(y, 3, 2, 8, 4, 0);
    ck_assert_ptr_eq(bp_node_op(y), tu_builtin("concat"));
    run_seeded(y, concat_seed);
    assert_exact(bp_node_value(y), concat_y, N_OF(concat_y));
    assert_exact(bp_node_grad(a), concat_da, N_OF(concat_da));
    assert_exact(bp_node_grad(b), concat_db, N_OF(concat_db));
}
END_TEST

/* Seven 2x3 steps stacked on axes 0, 1, 2.  The seed is the stacked
 * value itself, so each step's gradient must be that step's value. */
START_TEST(stack_of_seven_matches_numpy)
{
    const double *want[3] = {stack_y0, stack_y1, stack_y2};
    const size_t shapes[3][3] = {{7, 2, 3}, {2, 7, 3}, {2, 3, 7}};

    for (size_t axis = 0; axis < 3; axis++) {
        bp_node *steps[7], *y;
        for (size_t t = 0; t < 7; t++)
            steps[t] = param(2, 2, 3, 0, 0, stack_in + 6 * t);
        y = bp_stack(g, 7, steps, axis);
        assert_shape(y, 3, shapes[axis][0], shapes[axis][1], shapes[axis][2], 0);
        run_seeded(y, want[axis]);
        assert_exact(bp_node_value(y), want[axis], N_OF(stack_y0));
        for (size_t t = 0; t < 7; t++)
            assert_exact(bp_node_grad(steps[t]), stack_in + 6 * t, 6);
    }
}
END_TEST

/* A tensor cut along an axis into pieces and joined back is itself, bit
 * for bit; the round trip is the identity, so the seed comes back as the
 * gradient, each entry through exactly one piece. */
static void round_trip(size_t rank, const size_t *dims, size_t axis, size_t n_pieces,
                       const size_t *lengths)
{
    bp_shape s = {rank, {0}};
    bp_node *x, *pieces[4], *y;
    double v[168], seed[168];
    size_t n = 1, start = 0;
    bp_rng state = tu_rng(0x5eed + axis);

    for (size_t i = 0; i < rank; i++)
        n *= s.dim[i] = dims[i];
    ck_assert_uint_le(n, N_OF(v));
    tu_fill(v, n, &state, -2.5, 3.5);
    tu_fill(seed, n, &state, -1.5, 1.5);
    x = bp_param_nd(g, &s, "x");
    memcpy(bp_node_value(x)->data, v, n * sizeof(double));
    for (size_t i = 0; i < n_pieces; i++) {
        pieces[i] = bp_slice(g, x, axis, start, lengths[i]);
        start += lengths[i];
    }
    ck_assert_uint_eq(start, dims[axis]);
    y = bp_concat(g, n_pieces, pieces, axis);
    ck_assert_ptr_nonnull(y);
    ck_assert_msg(memcmp(bp_node_shape(y), &s, sizeof s) == 0, "shape changed");
    run_seeded(y, seed);
    assert_exact(bp_node_value(y), v, n);
    assert_exact(bp_node_grad(x), seed, n);
}

START_TEST(slice_concat_round_trips)
{
    const size_t d3[3] = {3, 7, 4}, d4[4] = {2, 3, 2, 7};

    round_trip(3, d3, 0, 3, (const size_t[]){1, 1, 1});
    round_trip(3, d3, 1, 3, (const size_t[]){2, 1, 4});
    round_trip(3, d3, 2, 2, (const size_t[]){3, 1});
    round_trip(4, d4, 1, 2, (const size_t[]){2, 1});
    round_trip(4, d4, 3, 4, (const size_t[]){1, 3, 2, 1});
    round_trip(2, (const size_t[]){5, 3}, 0, 2, (const size_t[]){4, 1});
}
END_TEST

/* reshape is a view: the output's value is the input's buffer, with a −1
 * inferred; a −1 first dim follows an input's batch dimension. */
START_TEST(reshape_is_a_view_with_inferred_dim)
{
    double v[24], seed[24], batch[5 * 21];
    bp_rng state = tu_rng(41);
    bp_node *x, *r, *r3, *in, *flat;
    bp_matrix m;

    tu_fill(v, 24, &state, -3.0, 3.0);
    tu_fill(seed, 24, &state, -1.0, 1.0);
    tu_fill(batch, N_OF(batch), &state, -1.0, 1.0);
    x = param(3, 3, 2, 4, 0, v);
    r = bp_reshape(g, x, -1, 4, 0, 0);
    r3 = bp_reshape(g, r, 2, -1, 3, 0);
    assert_shape(r, 2, 6, 4, 0, 0);
    assert_shape(r3, 3, 2, 4, 3, 0);
    run_seeded(r3, seed);
    ck_assert_ptr_eq(bp_node_value(r)->data, bp_node_value(x)->data);
    ck_assert_ptr_eq(bp_node_value(r3)->data, bp_node_value(x)->data);
    assert_exact(bp_node_value(r3), v, 24);
    assert_exact(bp_node_grad(x), seed, 24);   /* dX += dY, through two views */

    in = bp_input_nd(g, &(bp_shape){3, {1, 7, 3}}, "steps");
    flat = bp_reshape(g, in, -1, 21, 0, 0);
    for (size_t n = 2; n <= 5; n += 3) {
        m = tu_view(n * 7, 3, batch);
        ck_assert_int_eq(bp_node_bind_value(in, &m), BP_OK);
        ck_assert_int_eq(bp_forward(g, flat), BP_OK);
        assert_shape(flat, 2, n, 21, 0, 0);
        ck_assert_ptr_eq(bp_node_value(flat)->data, batch);
    }
}
END_TEST

/* The messages name the op and the shapes. */
START_TEST(errors_name_the_op_and_shapes)
{
    double z[40] = {0};
    bp_node *a = param(3, 2, 3, 4, 0, z), *b = param(3, 2, 5, 3, 0, z), *ab[2] = {a, b};
    bp_node *m = param(2, 2, 5, 0, 0, z);

    ck_assert_ptr_null(bp_concat(g, 2, ab, 1));
    assert_message("concat: shapes 2x3x4 and 2x5x3 differ outside axis 1");
    ck_assert_ptr_null(bp_apply(g, tu_builtin("concat"), 2, ab, (const double[]){1}));
    assert_message("concat: shapes 2x3x4 and 2x5x3 differ outside axis 1");
    ck_assert_ptr_null(bp_slice(g, m, 1, 3, 4));
    assert_message("slice: 3..7 is outside axis 1 of 2x5");
    ck_assert_ptr_null(bp_reshape(g, a, 5, -1, 0, 0));
    assert_message("reshape: 2x3x4 (24 elements) cannot be 5x-1");
    ck_assert_ptr_null(bp_permute(g, a, 0, 1, 2, 2));
    assert_message("permute: 0, 1, 2, 2 is not a permutation of the axes of 2x3x4");
    ck_assert_ptr_null(bp_stack(g, 2, ab, 0));
    assert_message("stack: shapes 2x3x4 and 2x5x3 differ");
}
END_TEST

/* Every shape op in one graph of a rank-3 and a rank-4 param, checked by
 * finite differences. */
START_TEST(gradients_of_rank3_and_rank4_params)
{
    double v3[24], v4[48];
    bp_rng state = tu_rng(7);
    bp_node *p3, *p4, *q, *r, *c, *s, *t, *u, *m, *loss, *pair[2];
    bp_check_report rep;

    tu_fill(v3, 24, &state, -1.5, 1.5);
    tu_fill(v4, 48, &state, -1.5, 1.5);
    p3 = param(3, 2, 3, 4, 0, v3);
    p4 = param(4, 2, 3, 2, 4, v4);
    q = bp_permute(g, p4, 0, 1, 3, 2);      /* 2x3x4x2 */
    r = bp_reshape(g, q, 2, 3, -1, 0);      /* 2x3x8 */
    pair[0] = p3;
    pair[1] = r;
    c = bp_concat(g, 2, pair, 2);           /* 2x3x12 */
    s = bp_slice(g, c, 2, 2, 7);            /* 2x3x7: some of each */
    t = bp_transpose_axes(g, s, 0, 2);      /* 7x3x2 */
    pair[0] = t;
    pair[1] = t;                            /* one node twice: gradients add */
    u = bp_stack(g, 2, pair, 1);            /* 7x2x3x2 */
    m = bp_reshape(g, u, -1, 6, 0, 0);      /* 14x6 */
    loss = bp_sum(g, bp_mul(g, bp_tanh(g, m), m));
    ck_assert_ptr_nonnull(loss);
    assert_shape(u, 4, 7, 2, 3, 2);
    ck_assert_int_eq(bp_gradcheck_graph(g, loss, NULL, &rep), BP_OK);
    ck_assert_msg(rep.result == BP_CHECK_PASS, "%s %s", rep.diagnosis, rep.message);
    ck_assert_uint_eq(rep.n_compared, 24 + 48);
    bp_check_report_clear(&rep);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("shapeops");
    TCase *tc = tcase_create("shapeops");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, permute_rank3_matches_numpy);
    tcase_add_test(tc, permute_rank4_matches_numpy);
    tcase_add_test(tc, transpose_axes_matches_numpy);
    tcase_add_test(tc, slice_matches_numpy);
    tcase_add_test(tc, concat_matches_numpy);
    tcase_add_test(tc, stack_of_seven_matches_numpy);
    tcase_add_test(tc, slice_concat_round_trips);
    tcase_add_test(tc, reshape_is_a_view_with_inferred_dim);
    tcase_add_test(tc, errors_name_the_op_and_shapes);
    tcase_add_test(tc, gradients_of_rank3_and_rank4_params);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
