/* The one place the library allocates, so that tests can make any
 * allocation fail. */
#include "bp_private.h"

#include <stdint.h>
#include <stdlib.h>

size_t bpi_mul_size(size_t n, size_t size, int *overflow)
{
    if (size != 0 && n > SIZE_MAX / size) {
        *overflow = 1;
        return 0;
    }
    return n * size;
}

void *bpi_malloc(size_t size)
{
    return malloc(size ? size : 1);
}

void *bpi_calloc(size_t n, size_t size)
{
    return calloc(n ? n : 1, size ? size : 1);
}

void bpi_free(void *p)
{
    free(p);
}

bp_status bpi_reserve(double **buf, size_t *cap, size_t n)
{
    int overflow = 0;
    size_t bytes;
    double *p;

    if (n <= *cap)
        return BP_OK;
    bytes = bpi_mul_size(n, sizeof(double), &overflow);
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

int bpi_fits_int(size_t n)
{
    return n <= (size_t)INT32_MAX;
}
