/* SPDX-License-Identifier: MIT */
/* Shared by the fuzz targets: the input written to a temporary file, for
 * the readers that take a path. */
#ifndef BP_FUZZ_UTIL_H
#define BP_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One file per process, rewritten for every input and removed at exit. */
static char fuzz_path[64];

static void fuzz_remove_file(void)
{
    if (fuzz_path[0])
        unlink(fuzz_path);
}

static const char *fuzz_write_file(const uint8_t *data, size_t size)
{
    FILE *f;

    if (!fuzz_path[0]) {
        int fd;
        snprintf(fuzz_path, sizeof fuzz_path, "/tmp/bp_fuzz.XXXXXX");
        fd = mkstemp(fuzz_path);
        if (fd < 0)
            abort();   /* the harness, not the library, failed */
        close(fd);
        atexit(fuzz_remove_file);
    }
    f = fopen(fuzz_path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
        abort();
    return fuzz_path;
}

#endif
