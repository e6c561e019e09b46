/* SPDX-License-Identifier: MIT */
/* The one place the library allocates: through the functions a program may
 * install with bp_set_alloc_funcs (to count allocations, or to make one
 * fail in a test). */
#include "bp_private.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Set once at start-up by bp_set_alloc_funcs, read everywhere after. */
static bp_malloc_fn malloc_fn = malloc;
static bp_free_fn free_fn = free;

bp_status bp_set_alloc_funcs(bp_malloc_fn m, bp_free_fn f)
{
    if ((m == NULL) != (f == NULL))
        return BP_EINVAL;
    malloc_fn = m ? m : malloc;
    free_fn = f ? f : free;
    return BP_OK;
}

void bp_get_alloc_funcs(bp_malloc_fn *m, bp_free_fn *f)
{
    if (m)
        *m = malloc_fn;
    if (f)
        *f = free_fn;
}

/* Objects larger than PTRDIFF_MAX bytes are invalid in C, so that is the
 * limit rather than SIZE_MAX. */
size_t bpi_mul_size(size_t n, size_t size, int *overflow)
{
    if (size != 0 && n > (size_t)PTRDIFF_MAX / size) {
        *overflow = 1;
        return 0;
    }
    return n * size;
}

void *bpi_malloc(size_t size)
{
    return malloc_fn(size ? size : 1);
}

void *bpi_calloc(size_t n, size_t size)
{
    int overflow = 0;
    size_t bytes = bpi_mul_size(n, size, &overflow);
    void *p;

    if (overflow)
        return NULL;
    p = bpi_malloc(bytes);
    if (p && bytes)
        memset(p, 0, bytes);
    return p;
}

void bpi_free(void *p)
{
    if (p)
        free_fn(p);
}

/* Grows *buf to n elements of elem bytes (contents not kept). */
static bp_status reserve(void **buf, size_t *cap, size_t n, size_t elem)
{
    int overflow = 0;
    size_t bytes;
    void *p;

    if (n <= *cap)
        return BP_OK;
    bytes = bpi_mul_size(n, elem, &overflow);
    if (overflow)
        return BP_ENOMEM;
    p = bpi_malloc(bytes);
    if (!p)
        return BP_ENOMEM;
    bpi_free(*buf);
    *buf = p;
    *cap = n;
    return BP_OK;
}

bp_status bpi_reserve(double **buf, size_t *cap, size_t n)
{
    void *p = *buf;
    bp_status st = reserve(&p, cap, n, sizeof(double));
    *buf = p;
    return st;
}

bp_status bpi_reserve_int(int **buf, size_t *cap, size_t n)
{
    void *p = *buf;
    bp_status st = reserve(&p, cap, n, sizeof(int));
    *buf = p;
    return st;
}

int bpi_fits_int(size_t n)
{
    return n <= (size_t)INT32_MAX;
}
