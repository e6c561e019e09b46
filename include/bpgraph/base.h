/* SPDX-License-Identifier: MIT */
/* bpgraph: Versions, status codes, errors and the allocator.  Part of <bpgraph.h>; include that. */
#ifndef BPGRAPH_BASE_H
#define BPGRAPH_BASE_H

#include <stddef.h>
#include <stdint.h>

#include "bpgraph/version.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The version of the library this program runs with, "MAJOR.MINOR.PATCH"
 * (borrowed, static; never NULL).  BP_VERSION_STRING is the version of the
 * headers it was compiled against; the two differ when the shared library
 * was upgraded underneath. */
const char *bp_version(void);

/* ------------------------------------------------------------------------ */
/* Status codes                                                              */
/* ------------------------------------------------------------------------ */

/* Marks a function whose bp_status must be checked: compilers that know
 * the attribute warn when a call ignores it (GCC even through a cast to
 * void).  Functions left unmarked that can fail are the set-up calls whose
 * error the graph keeps for the next bp_forward (see <bpgraph.h>). */
#if defined(__GNUC__) || defined(__clang__)
#define BP_WARN_UNUSED __attribute__((warn_unused_result))
#else
#define BP_WARN_UNUSED
#endif

typedef enum bp_status {
    BP_OK = 0,
    BP_ENOMEM,     /* an allocation failed */
    BP_EINVAL,     /* an invalid argument: NULL, a node of another graph, ... */
    BP_EDIM,       /* shapes that do not fit the operation */
    BP_ESTATE,     /* a call out of order: backward before forward, ... */
    BP_ENUMERIC,   /* a NaN or infinity where a finite number is required */
    BP_ESINGULAR,  /* a singular or not positive definite matrix */
    BP_EIO,        /* a file could not be opened, read or written */
    BP_EPARSE,     /* a file's contents are malformed */
    BP_ENOTFOUND,  /* a name (column, op) that does not exist */
    BP_STATUS_COUNT
} bp_status;

/* A short English description of a status code; never NULL (borrowed,
 * static). */
const char *bp_strerror(bp_status status);

/* Where file functions and other helpers report what went wrong, through a
 * bp_error * that may be NULL.  Those given a graph record the same status
 * and message in it too (see <bpgraph.h>). */
typedef struct bp_error {
    bp_status status;
    char message[512];   /* names the file, line and column where relevant */
} bp_error;

/* Memory: every allocation and free the library makes goes through these
 * two functions (malloc and free by default), as with jansson's
 * json_set_alloc_funcs.  Set them once, before creating any bpgraph object,
 * and not while another thread uses the library; NULL for both restores the
 * defaults.  BP_EINVAL when only one is NULL.  Useful to count allocations
 * or to make the N-th fail in a test.  (BLAS and LAPACK allocate on their
 * own and are not covered.) */
typedef void *(*bp_malloc_fn)(size_t size);
typedef void (*bp_free_fn)(void *ptr);
BP_WARN_UNUSED
bp_status bp_set_alloc_funcs(bp_malloc_fn malloc_fn, bp_free_fn free_fn);
void bp_get_alloc_funcs(bp_malloc_fn *malloc_fn, bp_free_fn *free_fn);

#ifdef __cplusplus
}
#endif

#endif /* BPGRAPH_BASE_H */
