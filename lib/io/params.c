/* SPDX-License-Identifier: MIT */
/* Saving and loading a graph's params (format in bpgraph.h): written
 * through a temporary file renamed into place; loaded only after the whole
 * file has been checked. */
#define _POSIX_C_SOURCE 200809L
#include "bp_private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC "BPPARAMS"
#define MAGIC_LEN 8
#define VERSION 1u
#define HEADER_LEN 16
#define SUM_LEN 8

/* FNV-1a, 64 bits. */
static uint64_t fnv1a64(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void put_f64(unsigned char *p, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    put_u64(p, bits);
}

static double get_f64(const unsigned char *p)
{
    uint64_t bits = get_u64(p);
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

static size_t count_params(const bp_graph *g)
{
    size_t n = 0;
    for (size_t i = 0; i < g->n_nodes; i++)
        n += g->nodes[i]->kind == BPI_PARAM;
    return n;
}

/* The size of g's params file.  Params are small (weights of a model), so
 * no overflow checks beyond what the graph already made when it allocated
 * them. */
static size_t params_file_size(const bp_graph *g)
{
    size_t size = HEADER_LEN + SUM_LEN;

    for (size_t i = 0; i < g->n_nodes; i++) {
        const bp_node *p = g->nodes[i];
        if (p->kind == BPI_PARAM)
            size += 4 + strlen(bp_node_name(p)) + 16 + 8 * p->value.rows * p->value.cols;
    }
    return size;
}

static bp_status save_params(bp_graph *g, const char *path, bp_error *err)
{
    size_t n_params, size, pos;
    unsigned char *buf;

    if (!g || !path || !path[0])
        return bpi_set_error(err, BP_EINVAL, "params_save: NULL graph or empty path");
    n_params = count_params(g);
    if (n_params > UINT32_MAX)
        return bpi_set_error(err, BP_EINVAL, "%s: too many params (%zu)", path, n_params);
    size = params_file_size(g);
    buf = bpi_malloc(size);
    if (!buf)
        return bpi_set_error(err, BP_ENOMEM, "%s: out of memory for %zu bytes", path, size);
    /* NOLINTNEXTLINE(bugprone-not-null-terminated-result): binary record, no terminator */
    memcpy(buf, MAGIC, MAGIC_LEN);
    put_u32(buf + 8, VERSION);
    put_u32(buf + 12, (uint32_t)n_params);
    pos = HEADER_LEN;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const bp_node *p = g->nodes[i];
        const char *name = bp_node_name(p);
        size_t len = strlen(name);
        if (p->kind != BPI_PARAM)
            continue;
        put_u32(buf + pos, (uint32_t)len);
        /* NOLINTNEXTLINE(bugprone-not-null-terminated-result): length-prefixed */
        memcpy(buf + pos + 4, name, len);
        pos += 4 + len;
        put_u64(buf + pos, p->value.rows);
        put_u64(buf + pos + 8, p->value.cols);
        pos += 16;
        for (size_t k = 0; k < p->value.rows * p->value.cols; k++, pos += 8)
            put_f64(buf + pos, p->value.data[k]);
    }
    put_u64(buf + pos, fnv1a64(buf, pos));

    {
        const void *parts[1] = {buf};
        bp_status st = bpi_write_file_atomic(path, parts, &size, 1, err);
        bpi_free(buf);
        return st;
    }
}

/* Refuses what cannot be a params file from its first HEADER_LEN bytes
 * (got of them read), before reading any more: a file of zero bytes, or
 * /dev/zero, is rejected at offset 0 without being read through. */
static bp_status check_header(const char *path, const unsigned char *head, size_t got,
                              bp_error *err)
{
    uint32_t version;

    if (got < MAGIC_LEN || memcmp(head, MAGIC, MAGIC_LEN) != 0) {
        if (got < MAGIC_LEN && memcmp(head, MAGIC, got) == 0)   /* a cut magic */
            return bpi_set_error(err, BP_EPARSE, "%s: truncated at offset %zu: a params file "
                                 "has at least %d bytes", path, got, HEADER_LEN + SUM_LEN);
        return bpi_set_error(err, BP_EPARSE, "%s: bad magic at offset 0: not a bpgraph params "
                             "file", path);
    }
    if (got < HEADER_LEN)
        return bpi_set_error(err, BP_EPARSE, "%s: truncated at offset %zu: a params file has "
                             "at least %d bytes", path, got, HEADER_LEN + SUM_LEN);
    version = get_u32(head + 8);
    if (version != VERSION)
        return bpi_set_error(err, BP_EPARSE, "%s: unsupported format version %u at offset 8 "
                             "(this library reads %u)", path, version, VERSION);
    return BP_OK;
}

/* Reads the file into a new buffer once its header is that of a params
 * file: at most limit + 1 bytes (*size > limit: the file is longer). */
static bp_status read_file(const char *path, size_t limit, unsigned char **out, size_t *size,
                           bp_error *err)
{
    FILE *f = fopen(path, "rb");
    unsigned char head[HEADER_LEN], *buf = NULL;
    size_t cap = 0, n;
    bp_status st;

    *out = NULL;
    if (!f)
        return bpi_set_error(err, BP_EIO, "%s: cannot open: %s", path, strerror(errno));
    n = fread(head, 1, HEADER_LEN, f);
    st = ferror(f) ? bpi_set_error(err, BP_EIO, "%s: read error at offset 0", path)
                   : check_header(path, head, n, err);
    if (st != BP_OK) {
        fclose(f);
        return st;
    }
    for (;;) {
        size_t got;
        if (n >= cap) {   /* also the first time round: head is not buf */
            size_t ncap = cap ? 2 * cap : 4096;
            unsigned char *nb = ncap > cap ? bpi_malloc(ncap) : NULL;
            if (!nb) {
                bpi_free(buf);
                fclose(f);
                return bpi_set_error(err, BP_ENOMEM, "%s: out of memory reading %zu bytes", path, ncap);
            }
            /* NOLINTNEXTLINE(bugprone-not-null-terminated-result): binary data */
            memcpy(nb, buf ? buf : head, n);
            bpi_free(buf);
            buf = nb;
            cap = ncap;
        }
        got = fread(buf + n, 1, cap - n < limit + 1 - n ? cap - n : limit + 1 - n, f);
        n += got;
        if (got == 0 || n > limit)
            break;
    }
    if (ferror(f)) {
        bpi_free(buf);
        fclose(f);
        return bpi_set_error(err, BP_EIO, "%s: read error at offset %zu", path, n);
    }
    fclose(f);
    *out = buf;
    *size = n;
    return BP_OK;
}

/* Checks the records of buf (size bytes, count of them) against g's
 * params: count, names, shapes, in order.  buf holds a whole checked file,
 * or the first bytes of one longer than g's (a record may then run past
 * size: it is only read as far as it matches g's own). */
static bp_status match_graph(const bp_graph *g, const char *path, const unsigned char *buf,
                             size_t size, uint32_t count, bp_error *err)
{
    size_t n_params = count_params(g), pos = HEADER_LEN, idx = 0;

    if (count != n_params)
        return bpi_set_error(err, BP_EDIM, "%s: holds %u params at offset 12, the graph has %zu",
                             path, count, n_params);
    for (size_t i = 0; i < g->n_nodes; i++) {
        const bp_node *p = g->nodes[i];
        const char *name = bp_node_name(p);
        size_t len, avail, rec = pos;
        const unsigned char *nul;
        uint64_t rows, cols;
        if (p->kind != BPI_PARAM)
            continue;
        len = get_u32(buf + pos);
        avail = len < size - pos - 4 ? len : size - pos - 4;
        nul = memchr(buf + pos + 4, '\0', avail);
        if (nul)
            return bpi_set_error(err, BP_EPARSE, "%s: param %zu at offset %zu has a name with a "
                                 "NUL byte at offset %zu; the graph's is '%s'", path, idx, rec,
                                 (size_t)(nul - buf), name);
        if (len != strlen(name) || memcmp(buf + pos + 4, name, len) != 0)
            return bpi_set_error(err, BP_ENOTFOUND, "%s: param %zu at offset %zu is named '%.*s', "
                                 "the graph's is '%s'", path, idx, rec,
                                 (int)(avail > 64 ? 64 : avail), (const char *)buf + pos + 4, name);
        pos += 4 + len;
        rows = get_u64(buf + pos);
        cols = get_u64(buf + pos + 8);
        if (rows != p->value.rows || cols != p->value.cols)
            return bpi_set_error(err, BP_EDIM, "%s: param '%s' at offset %zu is %llux%llu, the "
                                 "graph's is %zux%zu", path, name, rec, (unsigned long long)rows,
                                 (unsigned long long)cols, p->value.rows, p->value.cols);
        pos += 16 + 8 * rows * cols;
        idx++;
    }
    return BP_OK;
}

static bp_status load_params(bp_graph *g, const char *path, bp_error *err)
{
    unsigned char *buf;
    size_t size = 0, expected, pos, end;
    uint32_t count;
    bp_status st;

    if (!g || !path || !path[0])
        return bpi_set_error(err, BP_EINVAL, "params_load: NULL graph or empty path");
    expected = params_file_size(g);
    st = read_file(path, expected, &buf, &size, err);
    if (st != BP_OK)
        return st;
    /* Longer than g's params file: not read further, as it cannot be one.
     * The first record that differs from g's is named when it can be. */
    if (size > expected) {
        st = match_graph(g, path, buf, size, get_u32(buf + 12), err);
        bpi_free(buf);
        if (st != BP_OK)
            return st;
        return bpi_set_error(err, BP_EPARSE, "%s: unexpected bytes at offset %zu: the file is "
                             "longer than the %zu bytes of this graph's params", path, expected,
                             expected);
    }

#define FAIL(status, ...) do { bpi_set_error(err, status, __VA_ARGS__); bpi_free(buf); return status; } while (0)
    /* 1. Structure: header, every record within the file, checksum. */
    if (size < HEADER_LEN + SUM_LEN)
        FAIL(BP_EPARSE, "%s: truncated at offset %zu: a params file has at least %d bytes",
             path, size, HEADER_LEN + SUM_LEN);
    /* magic and version: checked by read_file */
    count = get_u32(buf + 12);
    end = size - SUM_LEN;
    pos = HEADER_LEN;
    for (uint32_t r = 0; r < count; r++) {
        uint64_t len, rows, cols;
        size_t rec = pos;
        if (end - pos < 4)
            FAIL(BP_EPARSE, "%s: truncated at offset %zu: record %u's name length", path, pos, r);
        len = get_u32(buf + pos);
        pos += 4;
        if (end - pos < len + 16)
            FAIL(BP_EPARSE, "%s: truncated at offset %zu: record %u (at offset %zu) needs its name and shape",
                 path, pos, r, rec);
        pos += len;
        rows = get_u64(buf + pos);
        cols = get_u64(buf + pos + 8);
        pos += 16;
        if (rows == 0 || cols == 0)
            FAIL(BP_EPARSE, "%s: record %u (at offset %zu) is %llux%llu: a param has at least "
                 "one row and one column", path, r, rec, (unsigned long long)rows,
                 (unsigned long long)cols);
        if (rows > (end - pos) / 8 || cols > (end - pos) / 8 / rows)
            FAIL(BP_EPARSE, "%s: truncated at offset %zu: record %u is %llux%llu, %zu bytes remain",
                 path, pos, r, (unsigned long long)rows, (unsigned long long)cols, end - pos);
        pos += 8 * rows * cols;
    }
    if (pos != end)
        FAIL(BP_EPARSE, "%s: %zu unexpected bytes at offset %zu before the checksum", path, end - pos, pos);
    if (get_u64(buf + end) != fnv1a64(buf, end))
        FAIL(BP_EPARSE, "%s: checksum mismatch at offset %zu: the file is corrupt", path, end);

    /* 2. Against the graph: count, names, shapes. */
    st = match_graph(g, path, buf, size, count, err);
    if (st != BP_OK) {
        bpi_free(buf);
        return st;
    }

    /* 3. Everything checked: copy. */
    pos = HEADER_LEN;
    for (size_t i = 0; i < g->n_nodes; i++) {
        bp_node *p = g->nodes[i];
        if (p->kind != BPI_PARAM)
            continue;
        pos += 4 + get_u32(buf + pos) + 16;
        for (size_t k = 0; k < p->value.rows * p->value.cols; k++, pos += 8)
            p->value.data[k] = get_f64(buf + pos);
    }
#undef FAIL
    bpi_free(buf);
    return bpi_set_error(err, BP_OK, "%s", "");
}

bp_status bp_params_save(bp_graph *g, const char *path, bp_error *err)
{
    bp_error found = {BP_OK, ""};

    return bpi_report(g, save_params(g, path, &found), &found, err);
}

bp_status bp_params_load(bp_graph *g, const char *path, bp_error *err)
{
    bp_error found = {BP_OK, ""};

    return bpi_report(g, load_params(g, path, &found), &found, err);
}
