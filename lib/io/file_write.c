/* SPDX-License-Identifier: MIT */
/* Replacing a file atomically: the one way bp_npy_save and bp_params_save
 * write, so both keep the same guarantees and the same file mode. */
#define _XOPEN_SOURCE 700   /* mkstemp, fchmod, fsync */
#include "bp_private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The mode a newly created file would get: 0666 less the umask, read from
 * /proc because umask() cannot be read without changing it, which races
 * with other threads.  Falls back to mkstemp's 0600. */
static mode_t new_file_mode(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    unsigned mask = 077;
    char line[256];

    if (f) {
        while (fgets(line, sizeof line, f))
            /* NOLINTNEXTLINE(cert-err34-c): checked == 1; the kernel writes it */
            if (sscanf(line, "Umask: %o", &mask) == 1)
                break;
        fclose(f);
    }
    return (mode_t)(0666 & ~mask);
}

/* Writes all of buf to fd; 0 or -1 with errno. */
static int write_all(int fd, const unsigned char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

/* fsync the directory holding path, so the rename itself is durable; best
 * effort (the data is already safe, and some file systems refuse to open
 * directories). */
static void sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    int fd;

    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - path) < sizeof dir)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else
        return;
    fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

bp_status bpi_write_file_atomic(const char *path, const void *const *parts,
                                const size_t *sizes, size_t n_parts, bp_error *err)
{
    static const char suffix[] = ".tmp.XXXXXX";
    size_t plen = strlen(path);
    char *tmp = bpi_malloc(plen + sizeof suffix);
    struct stat old;
    int fd, e;

    if (!tmp)
        return bpi_set_error(err, BP_ENOMEM, "%s: out of memory", path);
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, suffix, sizeof suffix);
    fd = mkstemp(tmp);
    if (fd < 0) {
        e = errno;
        bpi_free(tmp);
        return bpi_set_error(err, BP_EIO, "%s: cannot create a temporary file beside it: %s",
                             path, strerror(e));
    }
    /* mkstemp makes the file 0600; give it the mode the old file had, or
     * the one a new file would get. */
    if (fchmod(fd, stat(path, &old) == 0 ? (old.st_mode & 07777) : new_file_mode()) != 0)
        goto fail_open;
    for (size_t i = 0; i < n_parts; i++)
        if (write_all(fd, parts[i], sizes[i]) != 0)
            goto fail_open;
    if (fsync(fd) != 0)
        goto fail_open;
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        e = errno;
        goto fail;
    }
    bpi_free(tmp);
    sync_dir(path);
    return bpi_set_error(err, BP_OK, "%s", "");

fail_open:
    e = errno;
    close(fd);
fail:
    unlink(tmp);
    bpi_free(tmp);
    return bpi_set_error(err, BP_EIO, "%s: cannot write: %s", path, strerror(e));
}
