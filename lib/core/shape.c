/* SPDX-License-Identifier: MIT */
/* Tensor shapes: their matrix view, size, equality and printing. */
#include "bp_private.h"

#include <stdio.h>

void bpi_shape_matrix(const bp_shape *s, size_t *rows, size_t *cols)
{
    *rows = 1;
    for (size_t i = 0; i + 1 < s->rank; i++)
        *rows *= s->dim[i];
    *cols = s->rank ? s->dim[s->rank - 1] : 0;
}

size_t bpi_shape_size(const bp_shape *s, int *overflow)
{
    size_t n = 1;
    for (size_t i = 0; i < s->rank; i++)
        n = bpi_mul_size(n, s->dim[i], overflow);
    bpi_mul_size(n, sizeof(double), overflow);
    return n;
}

int bpi_shapes_equal(const bp_shape *a, const bp_shape *b)
{
    if (a->rank != b->rank)
        return 0;
    for (size_t i = 0; i < a->rank; i++)
        if (a->dim[i] != b->dim[i])
            return 0;
    return 1;
}

const char *bpi_shape_str(const bp_shape *s, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < s->rank && i < BP_MAX_RANK && used < size; i++) {
        int k = snprintf(buf + used, size - used, i ? "x%zu" : "%zu", s->dim[i]);
        if (k < 0)
            break;
        used += (size_t)k;
    }
    return buf;
}
