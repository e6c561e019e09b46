/* SPDX-License-Identifier: MIT */
/* Matrices, status codes and the op registry. */
#include "test_util.h"

#include <stdint.h>
#include <string.h>

START_TEST(alloc_is_zeroed)
{
    bp_matrix *m = bp_matrix_alloc(3, 4);
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(m->rows, 3);
    ck_assert_uint_eq(m->cols, 4);
    for (size_t k = 0; k < 12; k++)
        ck_assert_double_eq(m->data[k], 0.0);
    bp_matrix_set(m, 2, 1, 2.385);
    ck_assert_double_eq(m->data[2 * 4 + 1], 2.385);
    ck_assert_double_eq(bp_matrix_get(m, 2, 1), 2.385);
    bp_matrix_free(m);
}
END_TEST

START_TEST(alloc_overflow_returns_null)
{
    ck_assert_ptr_null(bp_matrix_alloc(SIZE_MAX / 2, 3));
    ck_assert_ptr_null(bp_matrix_alloc(SIZE_MAX / 16 + 1, 1));
    bp_matrix_free(NULL);
}
END_TEST

START_TEST(empty_matrix_is_valid)
{
    bp_matrix *m = bp_matrix_alloc(0, 5);
    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_null(m->data);
    bp_matrix_free(m);
}
END_TEST

START_TEST(copy_and_diff)
{
    bp_matrix *a = bp_matrix_alloc(2, 2), *b;
    a->data[0] = 1.5;
    a->data[3] = -7.25;
    b = bp_matrix_copy(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_ne(a->data, b->data);
    ck_assert_double_eq(bp_matrix_max_abs_diff(a, b), 0.0);
    b->data[1] = 0.125;
    ck_assert_double_eq(bp_matrix_max_abs_diff(a, b), 0.125);
    b->data[2] = NAN;
    ck_assert(isnan(bp_matrix_max_abs_diff(a, b)));
    ck_assert_ptr_null(bp_matrix_copy(NULL));
    bp_matrix_free(b);
    b = bp_matrix_alloc(2, 3);
    ck_assert_double_eq(bp_matrix_max_abs_diff(a, b), -1.0);
    ck_assert_double_eq(bp_matrix_max_abs_diff(a, NULL), -1.0);
    bp_matrix_free(a);
    bp_matrix_free(b);
}
END_TEST

START_TEST(every_status_has_its_own_message)
{
    for (int s = 0; s < BP_STATUS_COUNT; s++) {
        ck_assert_ptr_nonnull(bp_strerror((bp_status)s));
        ck_assert_uint_gt(strlen(bp_strerror((bp_status)s)), 3);
        for (int t = 0; t < s; t++)
            ck_assert_str_ne(bp_strerror((bp_status)s), bp_strerror((bp_status)t));
    }
    ck_assert_str_eq(bp_strerror((bp_status)999), "unknown status");
}
END_TEST

START_TEST(registry_holds_the_builtins)
{
    bp_registry *reg = bp_registry_new();
    size_t n = bp_builtin_count();

    ck_assert_ptr_nonnull(reg);
    ck_assert_uint_ge(n, 26);
    ck_assert_uint_eq(bp_registry_count(reg), n);
    ck_assert_ptr_null(bp_builtin(n));
    for (size_t i = 0; i < n; i++) {
        const bp_op *op = bp_builtin(i);
        ck_assert_int_eq(bp_op_validate(op), BP_OK);
        ck_assert_ptr_eq(bp_registry_get(reg, i), op);
        ck_assert_ptr_eq(bp_registry_find(reg, op->name), op);
        ck_assert_ptr_nonnull(op->doc);
        /* names are unique */
        for (size_t j = 0; j < i; j++)
            ck_assert_str_ne(bp_builtin(j)->name, op->name);
    }
    ck_assert_ptr_nonnull(bp_registry_find(reg, "matmul"));
    ck_assert_ptr_null(bp_registry_find(reg, "no_such_op"));
    ck_assert_ptr_null(bp_registry_find(reg, NULL));
    bp_registry_free(reg);
}
END_TEST

static bp_status id_shape(bp_op_args *a)
{
    a->out->rows = a->in[0]->rows;
    a->out->cols = a->in[0]->cols;
    return BP_OK;
}

static bp_status id_pass(bp_op_args *a)
{
    (void)a;
    return BP_OK;
}

START_TEST(registry_add_validates)
{
    bp_registry *reg = bp_registry_new();
    bp_op mine = {.name = "mine", .n_in = 1, .shape = id_shape, .forward = id_pass,
                  .backward = id_pass};
    bp_op dup = mine, nameless = mine, no_backward = mine, too_many = mine;
    size_t n = bp_registry_count(reg);

    dup.name = "exp";
    nameless.name = "";
    no_backward.name = "nb";
    no_backward.backward = NULL;
    too_many.name = "tm";
    too_many.n_in = BP_MAX_INPUTS + 1;

    ck_assert_int_eq(bp_registry_add(reg, &mine), BP_OK);
    ck_assert_ptr_eq(bp_registry_find(reg, "mine"), &mine);
    ck_assert_int_eq(bp_registry_add(reg, &mine), BP_EINVAL);
    ck_assert_int_eq(bp_registry_add(reg, &dup), BP_EINVAL);
    ck_assert_int_eq(bp_registry_add(reg, &nameless), BP_EINVAL);
    ck_assert_int_eq(bp_registry_add(reg, &no_backward), BP_EINVAL);
    ck_assert_int_eq(bp_registry_add(reg, &too_many), BP_EINVAL);
    ck_assert_int_eq(bp_registry_add(reg, NULL), BP_EINVAL);
    ck_assert_int_eq(bp_registry_add(NULL, &mine), BP_EINVAL);
    ck_assert_uint_eq(bp_registry_count(reg), n + 1);
    no_backward.flags = BP_OP_STOP_GRAD;
    ck_assert_int_eq(bp_op_validate(&no_backward), BP_OK);
    bp_registry_free(reg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("matrix");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, alloc_is_zeroed);
    tcase_add_test(tc, alloc_overflow_returns_null);
    tcase_add_test(tc, empty_matrix_is_valid);
    tcase_add_test(tc, copy_and_diff);
    tcase_add_test(tc, every_status_has_its_own_message);
    tcase_add_test(tc, registry_holds_the_builtins);
    tcase_add_test(tc, registry_add_validates);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
