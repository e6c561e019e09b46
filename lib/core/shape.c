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

/* The digits by hand rather than by snprintf: the gradient checker's
 * probe of which shapes an op accepts has the op format a message's
 * shapes for every combination it refuses (22³ of them for three inputs),
 * and snprintf was most of that probe's time. */
const char *bpi_shape_str(const bp_shape *s, char *buf, size_t size)
{
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < s->rank && i < BP_MAX_RANK; i++) {
        char rev[24];   /* the dimension's digits, last first, then an 'x' */
        size_t n = 0, v = s->dim[i];
        do {
            rev[n++] = (char)('0' + v % 10);
            v /= 10;
        } while (v > 0);
        if (i > 0)
            rev[n++] = 'x';
        while (n > 0 && used + 1 < size)
            buf[used++] = rev[--n];
        buf[used] = '\0';
    }
    return buf;
}
