/* SPDX-License-Identifier: MIT */
/* Helpers shared by lib/dist's files (never installed).  libbpgraph-mpi
 * uses only libbpgraph's public API, so it keeps its own copies of these. */
#ifndef BP_DIST_PRIVATE_H
#define BP_DIST_PRIVATE_H

#include <bpgraph-mpi.h>

/* Fills err (may be NULL) and returns status. */
bp_status bpd_set_error(bp_error *err, bp_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Through the functions given to bp_set_alloc_funcs, as libbpgraph's own
 * allocations; NULL on overflow of n * size or when memory runs out. */
void *bpd_calloc(size_t n, size_t size);
void bpd_free(void *p);

#endif /* BP_DIST_PRIVATE_H */
