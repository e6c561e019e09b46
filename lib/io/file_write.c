/* SPDX-License-Identifier: MIT */
/* Replacing a file atomically: the one way bp_npy_save and bp_params_save
 * write, so both keep the same guarantees and the same file mode. */
#define _XOPEN_SOURCE 700   /* mkstemp, fchmod, fsync */
#include "bp_private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
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

/* The temporary file of a save of path is, in path's directory,
 *   .PREFIX.tmp-PID-XXXXXX
 * with PREFIX path's file name, cut short so that the whole name fits
 * NAME_MAX (a 250-byte file name must save), PID the saving process's and
 * XXXXXX mkstemp's.  A save killed before its rename leaves one behind; the
 * next save of the same path removes those whose process no longer runs,
 * and nothing else. */
#ifndef NAME_MAX
#define NAME_MAX 255
#endif
#define TMP_PID_MAX 10    /* digits of a pid_t, an int */
/* what a temporary's name adds to PREFIX: ".", ".tmp-", the pid, "-XXXXXX" */
#define TMP_NAME_ADDS (1 + 5 + TMP_PID_MAX + 7)
#define TMP_NAME_EXTRA (TMP_NAME_ADDS + 1)   /* and a NUL, over strlen(path) */

/* Where path's file name starts. */
static size_t base_start(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? (size_t)(slash - path) + 1 : 0;
}

/* The length of the prefix taken from a file name of len bytes. */
static size_t prefix_len(size_t len)
{
    return len < NAME_MAX - TMP_NAME_ADDS ? len : NAME_MAX - TMP_NAME_ADDS;
}

/* Writes path's directory part and ".PREFIX.tmp-" into out; returns its
 * length.  out holds strlen(path) + TMP_NAME_EXTRA bytes. */
static size_t temp_stem(const char *path, char *out)
{
    size_t dir = base_start(path), len = prefix_len(strlen(path + dir));

    memcpy(out, path, dir);
    snprintf(out + dir, len + 7, ".%.*s.tmp-", (int)len, path + dir);
    return dir + 1 + len + 5;
}

static void temp_name(const char *path, int pid, char *out)
{
    size_t n = temp_stem(path, out);
    snprintf(out + n, TMP_PID_MAX + 8, "%d-XXXXXX", pid);
}

/* Removes the temporaries that earlier saves of path, killed before their
 * rename, left: names of path's own pattern whose process has ended.  Best
 * effort: a save goes on whatever happens here.  buf as temp_stem's. */
static void remove_stale_temps(const char *path, char *buf)
{
    size_t dir = base_start(path), stem = temp_stem(path, buf) - dir;
    char stem_name[NAME_MAX + 1];
    DIR *d;
    struct dirent *e;

    memcpy(stem_name, buf + dir, stem);
    stem_name[stem] = '\0';
    if (dir == 0)
        d = opendir(".");
    else {
        buf[dir] = '\0';
        d = opendir(buf);
    }
    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        const char *rest = e->d_name + stem;
        char *end;
        long pid;
        if (strncmp(e->d_name, stem_name, stem) != 0 || rest[0] < '1' || rest[0] > '9')
            continue;
        errno = 0;
        pid = strtol(rest, &end, 10);
        if (errno || strlen(end) != 7 || end[0] != '-' || pid == (long)getpid() ||
            pid > INT_MAX || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        /* that process is gone, so is its save.  The name has at most
         * TMP_PID_MAX digits (pid ≤ INT_MAX, no leading 0), so it fits
         * where temp_name writes. */
        memcpy(buf + dir, e->d_name, strlen(e->d_name) + 1);
        unlink(buf);
    }
    closedir(d);
}

bp_status bpi_write_file_atomic(const char *path, const void *const *parts,
                                const size_t *sizes, size_t n_parts, bp_error *err)
{
    size_t plen = strlen(path);
    char *tmp = bpi_malloc(plen + TMP_NAME_EXTRA);
    struct stat old;
    int fd, e;

    if (!tmp)
        return bpi_set_error(err, BP_ENOMEM, "%s: out of memory", path);
    remove_stale_temps(path, tmp);
    temp_name(path, (int)getpid(), tmp);
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
