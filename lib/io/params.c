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
#define VERSION 2u   /* 1: rows and cols per param; 2: rank and dims */
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

/* The bytes of a record's shape: u64 rows and cols in version 1; u32 rank
 * and rank u64 dims in version 2. */
static size_t shape_len(uint32_t version, size_t rank)
{
    return version == 1 ? 16 : 4 + 8 * rank;
}

/* The size of g's params file in a version.  Params are small (weights of
 * a model), so no overflow checks beyond what the graph already made when
 * it allocated them. */
static size_t params_file_size(const bp_graph *g, uint32_t version)
{
    size_t size = HEADER_LEN + SUM_LEN;

    for (size_t i = 0; i < g->n_nodes; i++) {
        const bp_node *p = g->nodes[i];
        if (p->kind == BPI_PARAM)
            size += 4 + strlen(bp_node_name(p)) + shape_len(version, p->shape.rank) +
                    8 * p->value.rows * p->value.cols;
    }
    return size;
}

/* The shape of the record whose shape starts at p, avail bytes of the
 * file on (dims past them read as 0): a version-1 record is rows x cols.
 * Dims are u64 in the file; a 32-bit host truncates those beyond
 * SIZE_MAX, which then differ from the graph's. */
static bp_shape record_shape(const unsigned char *p, size_t avail, uint32_t version)
{
    bp_shape s = {2, {0}};

    if (version == 1) {
        s.dim[0] = (size_t)get_u64(p);
        s.dim[1] = (size_t)get_u64(p + 8);
        return s;
    }
    s.rank = get_u32(p);
    for (size_t d = 0; d < s.rank && d < BP_MAX_RANK && 12 + 8 * d <= avail; d++)
        s.dim[d] = (size_t)get_u64(p + 4 + 8 * d);
    return s;
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
    size = params_file_size(g, VERSION);
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
        put_u32(buf + pos, (uint32_t)p->shape.rank);
        for (size_t d = 0; d < p->shape.rank; d++)
            put_u64(buf + pos + 4 + 8 * d, p->shape.dim[d]);
        pos += shape_len(VERSION, p->shape.rank);
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
    if (version < 1 || version > VERSION)
        return bpi_set_error(err, BP_EPARSE, "%s: unsupported format version %u at offset 8 "
                             "(this library reads 1 to %u)", path, version, VERSION);
    return BP_OK;
}

/* Reads the file into a new buffer once its header is that of a params
 * file: at most limit + 1 bytes, limit being the size of g's params in the
 * file's version (*size > *limit: the file is longer). */
static bp_status read_file(const bp_graph *g, const char *path, size_t *limit,
                           unsigned char **out, size_t *size, bp_error *err)
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
    *limit = params_file_size(g, get_u32(head + 8));
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
        got = fread(buf + n, 1, cap - n < *limit + 1 - n ? cap - n : *limit + 1 - n, f);
        n += got;
        if (got == 0 || n > *limit)
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
    uint32_t version = get_u32(buf + 8);

    if (count != n_params)
        return bpi_set_error(err, BP_EDIM, "%s: holds %u params at offset 12, the graph has %zu",
                             path, count, n_params);
    for (size_t i = 0; i < g->n_nodes; i++) {
        const bp_node *p = g->nodes[i];
        const char *name = bp_node_name(p);
        size_t len, avail, rec = pos;
        const unsigned char *nul;
        bp_shape have, want;
        char have_str[BPI_SHAPE_STR], want_str[BPI_SHAPE_STR];
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
        /* A version-1 file holds matrices: a param matches by its matrix
         * view, as the library that wrote it saw it. */
        want = version == 1 ? (bp_shape){2, {p->value.rows, p->value.cols}} : p->shape;
        have = record_shape(buf + pos, size - pos, version);
        if (!bpi_shapes_equal(&have, &want))
            return bpi_set_error(err, BP_EDIM, "%s: param '%s' at offset %zu is %s in the file, "
                                 "%s in the graph", path, name, rec,
                                 bpi_shape_str(&have, have_str, sizeof have_str),
                                 bpi_shape_str(&p->shape, want_str, sizeof want_str));
        pos += shape_len(version, have.rank) + 8 * p->value.rows * p->value.cols;
        idx++;
    }
    return BP_OK;
}

static bp_status load_params(bp_graph *g, const char *path, bp_error *err)
{
    unsigned char *buf;
    size_t size = 0, expected = 0, pos, end;   /* expected: set by read_file */
    uint32_t count, version;
    bp_status st;

    if (!g || !path || !path[0])
        return bpi_set_error(err, BP_EINVAL, "params_load: NULL graph or empty path");
    st = read_file(g, path, &expected, &buf, &size, err);
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
    version = get_u32(buf + 8);
    count = get_u32(buf + 12);
    end = size - SUM_LEN;
    pos = HEADER_LEN;
    for (uint32_t r = 0; r < count; r++) {
        uint64_t len, rank = 2, n = 1;
        size_t rec = pos;
        if (end - pos < 4)
            FAIL(BP_EPARSE, "%s: truncated at offset %zu: record %u's name length", path, pos, r);
        len = get_u32(buf + pos);
        pos += 4;
        if (version > 1) {
            if (end - pos < len + 4)
                FAIL(BP_EPARSE, "%s: truncated at offset %zu: record %u (at offset %zu) needs its "
                     "name and rank", path, pos, r, rec);
            rank = get_u32(buf + pos + len);
            if (rank < 1 || rank > BP_MAX_RANK)
                FAIL(BP_EPARSE, "%s: record %u (at offset %zu) has rank %llu: params have rank "
                     "1 to %d", path, r, rec, (unsigned long long)rank, BP_MAX_RANK);
        }
        if (end - pos < len + shape_len(version, (size_t)rank))
            FAIL(BP_EPARSE, "%s: truncated at offset %zu: record %u (at offset %zu) needs its name and shape",
                 path, pos, r, rec);
        pos += len + shape_len(version, (size_t)rank);
        for (uint64_t d = 0; d < rank; d++) {
            uint64_t dim = get_u64(buf + pos - 8 * (rank - d));
            if (dim == 0)
                FAIL(BP_EPARSE, "%s: record %u (at offset %zu) has a 0 dimension: a param has "
                     "at least one element", path, r, rec);
            if (dim > (end - pos) / 8 / n)
                FAIL(BP_EPARSE, "%s: truncated at offset %zu: record %u's shape needs more than "
                     "the %zu bytes that remain", path, pos, r, end - pos);
            n *= dim;
        }
        pos += 8 * n;
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
        pos += 4 + get_u32(buf + pos) + shape_len(version, p->shape.rank);
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
