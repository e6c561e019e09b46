/* SPDX-License-Identifier: MIT */
/* numpy .npy files (format versions 1.0, 2.0 and 3.0).
 *
 * Layout: "\x93NUMPY", major, minor, the header length (2 bytes little-endian
 * in 1.0, 4 bytes in 2.0 and 3.0), a Python dict literal with the keys
 * descr, fortran_order and shape, then the raw data. */
#define _XOPEN_SOURCE 700   /* fileno */
#include "bp_private.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_MAX_HEADER (1u << 20)  /* numpy writes a few hundred bytes */
#define NPY_ALIGN 64               /* as numpy: data starts 64-aligned */

/* The data is copied as raw bytes, so the host must be little-endian. */
static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;

    memcpy(&b, &one, 1);
    return b == 1;
}

static bp_status refuse_big_endian(const char *path, bp_error *err)
{
    return bpi_set_error(err, BP_EINVAL,
                         "%s: .npy files are supported on little-endian hosts "
                         "only", path);
}

/* ---- reading the header ---- */

struct npy_info {
    char kind;      /* 'f', 'i', 'u' or 'b' */
    size_t size;    /* bytes per element */
    int swap;       /* big-endian data */
    int fortran;
    size_t ndim;
    size_t shape[BP_MAX_RANK];
};

struct hparse {
    const char *path;
    bp_error *err;
    const char *s;
    size_t len;
    size_t i;
    size_t base;    /* file offset of s[0] */
};

static bp_status hp_fail(struct hparse *h, const char *what)
{
    return bpi_set_error(h->err, BP_EPARSE, "%s: offset %zu: npy header: %s",
                         h->path, h->base + h->i, what);
}

static void hp_ws(struct hparse *h)
{
    while (h->i < h->len && (h->s[h->i] == ' ' || h->s[h->i] == '\t' ||
                             h->s[h->i] == '\n' || h->s[h->i] == '\r'))
        h->i++;
}

static int hp_peek(const struct hparse *h)
{
    return h->i < h->len ? (unsigned char)h->s[h->i] : -1;
}

/* A quoted Python string without escapes into buf. */
static int hp_string(struct hparse *h, char *buf, size_t cap)
{
    char q;
    size_t n = 0;

    if (hp_peek(h) != '\'' && hp_peek(h) != '"')
        return -1;
    q = h->s[h->i++];
    while (h->i < h->len && h->s[h->i] != q) {
        if (h->s[h->i] == '\\' || n + 1 >= cap)
            return -1;
        buf[n++] = h->s[h->i++];
    }
    if (h->i == h->len)
        return -1;
    h->i++;
    buf[n] = '\0';
    return 0;
}

static int hp_word(struct hparse *h, const char *w)
{
    size_t n = strlen(w);

    if (h->len - h->i < n || memcmp(h->s + h->i, w, n) != 0)
        return 0;
    h->i += n;
    return 1;
}

static int hp_uint(struct hparse *h, size_t *v)
{
    size_t start = h->i;

    *v = 0;
    while (hp_peek(h) >= '0' && hp_peek(h) <= '9') {
        size_t d = (size_t)(h->s[h->i++] - '0');
        if (*v > (SIZE_MAX - d) / 10)
            return -1;
        *v = *v * 10 + d;
    }
    if (h->i == start)
        return -1;
    if (hp_peek(h) == 'L')
        h->i++;     /* Python 2 longs, as old numpy wrote them */
    return 0;
}

static bp_status parse_descr(struct hparse *h, const char *d,
                             struct npy_info *info)
{
    static const char *const ok[] = {
        "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "b1"
    };
    char order = d[0];
    int known = 0;

    if (strlen(d) == 3 && strchr("<>|=", order) != NULL)
        for (size_t k = 0; k < sizeof ok / sizeof ok[0]; k++)
            known |= strcmp(d + 1, ok[k]) == 0;
    if (!known || (order == '|' && d[2] != '1')) {
        char msg[96];
        snprintf(msg, sizeof msg,
                 "unsupported dtype '%.16s' (float, int, uint or bool only)",
                 d);
        return hp_fail(h, msg);
    }
    info->kind = d[1];
    info->size = (size_t)(d[2] - '0');
    info->swap = order == '>' && info->size > 1;
    return BP_OK;
}

static bp_status parse_shape(struct hparse *h, struct npy_info *info)
{
    if (hp_peek(h) != '(')
        return hp_fail(h, "shape is not a tuple");
    h->i++;
    info->ndim = 0;
    for (;;) {
        size_t v;

        hp_ws(h);
        if (hp_peek(h) == ')')
            break;
        if (hp_uint(h, &v))
            return hp_fail(h, "bad dimension in shape");
        if (info->ndim == BP_MAX_RANK)
            return hp_fail(h, "arrays of more than 4 dimensions are not "
                              "supported");
        info->shape[info->ndim++] = v;
        hp_ws(h);
        if (hp_peek(h) == ',')
            h->i++;
        else if (hp_peek(h) != ')')
            return hp_fail(h, "expected ',' or ')' in shape");
    }
    h->i++;
    return BP_OK;
}

static bp_status parse_header(struct hparse *h, struct npy_info *info)
{
    unsigned seen = 0;
    bp_status st;

    hp_ws(h);
    if (hp_peek(h) != '{')
        return hp_fail(h, "not a dict");
    h->i++;
    for (;;) {
        char key[32];
        unsigned bit;

        hp_ws(h);
        if (hp_peek(h) == '}')
            break;
        if (hp_string(h, key, sizeof key))
            return hp_fail(h, "expected a quoted key");
        hp_ws(h);
        if (hp_peek(h) != ':')
            return hp_fail(h, "expected ':'");
        h->i++;
        hp_ws(h);
        if (strcmp(key, "descr") == 0) {
            char descr[32];
            bit = 1;
            if (hp_string(h, descr, sizeof descr))
                return hp_fail(h, "descr is not a simple dtype string "
                                  "(structured dtypes are not supported)");
            if ((st = parse_descr(h, descr, info)) != BP_OK)
                return st;
        } else if (strcmp(key, "fortran_order") == 0) {
            bit = 2;
            if (hp_word(h, "True"))
                info->fortran = 1;
            else if (hp_word(h, "False"))
                info->fortran = 0;
            else
                return hp_fail(h, "fortran_order is not True or False");
        } else if (strcmp(key, "shape") == 0) {
            bit = 4;
            if ((st = parse_shape(h, info)) != BP_OK)
                return st;
        } else {
            return hp_fail(h, "unknown key");
        }
        if (seen & bit)
            return hp_fail(h, "duplicate key");
        seen |= bit;
        hp_ws(h);
        if (hp_peek(h) == ',')
            h->i++;
        else if (hp_peek(h) != '}')
            return hp_fail(h, "expected ',' or '}'");
    }
    h->i++;
    hp_ws(h);
    if (h->i != h->len)
        return hp_fail(h, "text after the dict");
    if (seen != 7)
        return hp_fail(h, "missing descr, fortran_order or shape");
    return BP_OK;
}

/* ---- reading the data ---- */

static double decode(const unsigned char *p, const struct npy_info *info)
{
    unsigned char b[8];

    for (size_t k = 0; k < info->size; k++)
        b[k] = info->swap ? p[info->size - 1 - k] : p[k];
    switch (info->kind) {
    case 'f':
        if (info->size == 4) {
            float f;
            memcpy(&f, b, 4);
            return f;
        } else {
            double d;
            memcpy(&d, b, 8);
            return d;
        }
    case 'b':
        return b[0] != 0;
    case 'i':
        switch (info->size) {
        case 1: { int8_t v; memcpy(&v, b, 1); return v; }
        case 2: { int16_t v; memcpy(&v, b, 2); return v; }
        case 4: { int32_t v; memcpy(&v, b, 4); return v; }
        default: { int64_t v; memcpy(&v, b, 8); return (double)v; }
        }
    default:
        switch (info->size) {
        case 1: return b[0];
        case 2: { uint16_t v; memcpy(&v, b, 2); return v; }
        case 4: { uint32_t v; memcpy(&v, b, 4); return v; }
        default: { uint64_t v; memcpy(&v, b, 8); return (double)v; }
        }
    }
}

/* Whether at most one dimension exceeds 1: then Fortran order is C order. */
static int one_long_axis(const struct npy_info *info)
{
    size_t long_axes = 0;

    for (size_t d = 0; d < info->ndim; d++)
        long_axes += info->shape[d] > 1;
    return long_axes <= 1;
}

/* Reads n elements in file order into m, converting and transposing from
 * Fortran order when needed; *got counts the bytes read. */
static int read_converted(FILE *f, const struct npy_info *info, bp_matrix *m,
                          size_t n, size_t *got)
{
    enum { CHUNK = 4096 };
    unsigned char buf[CHUNK * 8];
    size_t idx[BP_MAX_RANK] = {0};   /* the next Fortran-order element's */
    size_t stride[BP_MAX_RANK];      /* row-major strides */
    size_t at = 0;                   /* its row-major offset */
    size_t k = 0;

    for (size_t d = info->ndim; d-- > 0;)
        stride[d] = d + 1 < info->ndim ? stride[d + 1] * info->shape[d + 1] : 1;

    *got = 0;
    while (k < n) {
        size_t want = n - k < CHUNK ? n - k : CHUNK;
        size_t have = fread(buf, info->size, want, f);

        *got += have * info->size;
        for (size_t e = 0; e < have; e++, k++) {
            double v = decode(buf + e * info->size, info);
            if (info->fortran) {
                /* The first index runs fastest: step it, carrying on. */
                m->data[at] = v;
                for (size_t d = 0; d < info->ndim; d++) {
                    at += stride[d];
                    if (++idx[d] < info->shape[d])
                        break;
                    at -= idx[d] * stride[d];
                    idx[d] = 0;
                }
            } else {
                m->data[k] = v;
            }
        }
        if (have < want)
            return -1;
    }
    return 0;
}

/* Loads path into *out; *shape (may be NULL) receives its shape. */
static bp_status npy_load(const char *path, bp_matrix **out, bp_shape *shape,
                          const char *fn, bp_error *err)
{
    unsigned char pre[12];
    struct npy_info info;
    struct hparse h;
    size_t hlen, hstart, rows, cols, n, bytes, got;
    bp_shape sh;
    int overflow = 0;
    char *header = NULL;
    bp_matrix *m = NULL;
    bp_status st;
    FILE *f;

    if (out)
        *out = NULL;
    if (!path || !out)
        return bpi_set_error(err, BP_EINVAL, "%s: path and out must not be "
                             "NULL", fn);
    if (!host_is_little_endian())
        return refuse_big_endian(path, err);
    f = fopen(path, "rb");
    if (!f)
        return bpi_set_error(err, BP_EIO, "%s: cannot open: %s", path,
                             strerror(errno));

    got = fread(pre, 1, 8, f);
    if (got < 8 && ferror(f))
        goto read_error;
    if (memcmp(pre, NPY_MAGIC, got < NPY_MAGIC_LEN ? got : NPY_MAGIC_LEN)) {
        st = bpi_set_error(err, BP_EPARSE,
                           "%s: offset 0: not a .npy file (bad magic)", path);
        goto fail;
    }
    if (got < 8) {
        st = bpi_set_error(err, BP_EPARSE,
                           "%s: offset %zu: truncated header", path, got);
        goto fail;
    }
    if (pre[6] < 1 || pre[6] > 3) {
        st = bpi_set_error(err, BP_EPARSE,
                           "%s: offset 6: unsupported .npy version %u.%u",
                           path, pre[6], pre[7]);
        goto fail;
    }
    hstart = pre[6] == 1 ? 10 : 12;
    got = fread(pre + 8, 1, hstart - 8, f);
    if (got < hstart - 8) {
        if (ferror(f))
            goto read_error;
        st = bpi_set_error(err, BP_EPARSE,
                           "%s: offset %zu: truncated header", path, 8 + got);
        goto fail;
    }
    hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
    if (hstart == 12)
        hlen |= (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
    if (hlen > NPY_MAX_HEADER) {
        st = bpi_set_error(err, BP_EPARSE,
                           "%s: offset 8: header length %zu is implausible",
                           path, hlen);
        goto fail;
    }
    header = bpi_malloc(hlen);
    if (!header) {
        st = bpi_set_error(err, BP_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    got = fread(header, 1, hlen, f);
    if (got < hlen) {
        if (ferror(f))
            goto read_error;
        st = bpi_set_error(err, BP_EPARSE,
                           "%s: offset %zu: truncated header: %zu of %zu "
                           "bytes", path, hstart + got, got, hlen);
        goto fail;
    }

    memset(&info, 0, sizeof info);
    h.path = path;
    h.err = err;
    h.s = header;
    h.len = hlen;
    h.i = 0;
    h.base = hstart;
    st = parse_header(&h, &info);
    if (st != BP_OK)
        goto fail;

    /* () is a scalar, of shape (1,); the matrix is the shape's view:
     * (n,) a row vector, (a, b, c) (a*b) x c. */
    if (info.ndim == 0)
        info.shape[info.ndim++] = 1;
    sh.rank = info.ndim;
    memcpy(sh.dim, info.shape, sizeof sh.dim);
    n = bpi_shape_size(&sh, &overflow);
    bytes = bpi_mul_size(n, info.size, &overflow);
    if (overflow) {
        char s[BPI_SHAPE_STR];
        st = bpi_set_error(err, BP_EPARSE, "%s: shape %s is too large",
                           path, bpi_shape_str(&sh, s, sizeof s));
        goto fail;
    }
    bpi_shape_matrix(&sh, &rows, &cols);
    {
        /* A header may claim any shape: check a regular file holds the data
         * before allocating for it, so a few bytes cannot ask for
         * terabytes (found by tests/fuzz). */
        struct stat sb;
        size_t start = hstart + hlen;
        if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) &&
            (uintmax_t)sb.st_size >= start && (uintmax_t)sb.st_size - start < bytes) {
            got = (size_t)((uintmax_t)sb.st_size - start);
            st = bpi_set_error(err, BP_EPARSE,
                               "%s: offset %zu: truncated data: %zu of %zu bytes",
                               path, start + got, got, bytes);
            goto fail;
        }
    }
    m = bp_matrix_alloc(rows, cols);
    if (!m) {
        st = bpi_set_error(err, BP_ENOMEM, "%s: out of memory for %zu x %zu",
                           path, rows, cols);
        goto fail;
    }
    if (info.kind == 'f' && info.size == 8 && !info.swap &&
        (!info.fortran || one_long_axis(&info))) {
        got = n ? fread(m->data, 1, bytes, f) : 0;
    } else if (read_converted(f, &info, m, n, &got) == 0) {
        got = bytes;
    }
    if (got < bytes) {
        if (ferror(f))
            goto read_error;
        st = bpi_set_error(err, BP_EPARSE,
                           "%s: offset %zu: truncated data: %zu of %zu bytes",
                           path, hstart + hlen + got, got, bytes);
        goto fail;
    }
    if (fgetc(f) != EOF) {
        st = bpi_set_error(err, BP_EPARSE,
                           "%s: offset %zu: unexpected bytes after the data",
                           path, hstart + hlen + bytes);
        goto fail;
    }
    if (ferror(f))
        goto read_error;
    fclose(f);
    bpi_free(header);
    *out = m;
    if (shape)
        *shape = sh;
    bpi_set_error(err, BP_OK, "%s", "");
    return BP_OK;

read_error:
    st = bpi_set_error(err, BP_EIO, "%s: cannot read: %s", path,
                       strerror(errno));
fail:
    fclose(f);
    bpi_free(header);
    bp_matrix_free(m);
    return st;
}

bp_status bp_npy_load(const char *path, bp_matrix **out, bp_error *err)
{
    return npy_load(path, out, NULL, "bp_npy_load", err);
}

bp_status bp_npy_load_shape(const char *path, bp_matrix **out,
                            bp_shape *shape, bp_error *err)
{
    if (!shape) {
        if (out)
            *out = NULL;
        return bpi_set_error(err, BP_EINVAL, "bp_npy_load_shape: shape must "
                             "not be NULL");
    }
    return npy_load(path, out, shape, "bp_npy_load_shape", err);
}

/* ---- writing ---- */

/* Writes m's data under the shape sh, whose matrix view m is. */
static bp_status npy_save(const char *path, const bp_matrix *m,
                          const bp_shape *sh, bp_error *err)
{
    unsigned char header[192];
    char dict[160], dims[128];
    size_t dlen, hlen, total, n, used = 0;

    if (!host_is_little_endian())
        return refuse_big_endian(path, err);
    /* Python's tuples: "(n,)" for one dimension, "(a, b, c)" otherwise. */
    for (size_t d = 0; d < sh->rank; d++)
        used += (size_t)snprintf(dims + used, sizeof dims - used,
                                 d ? ", %zu" : "%zu", sh->dim[d]);
    if (sh->rank == 1)
        snprintf(dims + used, sizeof dims - used, ",");

    /* Header: magic, version 1.0, length, dict padded with spaces and
     * ended by '\n' so the data starts at a multiple of 64 bytes. */
    dlen = (size_t)snprintf(dict, sizeof dict,
                            "{'descr': '<f8', 'fortran_order': False, "
                            "'shape': (%s), }", dims);
    total = 10 + dlen + 1;
    total += (NPY_ALIGN - total % NPY_ALIGN) % NPY_ALIGN;
    hlen = total - 10;
    memcpy(header, NPY_MAGIC, NPY_MAGIC_LEN);
    header[6] = 1;
    header[7] = 0;
    header[8] = (unsigned char)(hlen & 0xff);
    header[9] = (unsigned char)(hlen >> 8);
    memcpy(header + 10, dict, dlen);
    memset(header + 10 + dlen, ' ', hlen - dlen - 1);
    header[total - 1] = '\n';
    n = m->rows * m->cols;   /* fits: the matrix exists */

    {
        const void *parts[2] = {header, m->data};
        const size_t sizes[2] = {total, n * sizeof(double)};
        return bpi_write_file_atomic(path, parts, sizes, n ? 2 : 1, err);
    }
}

/* A matrix whose byte count overflows is no real matrix: writing
 * rows * cols (wrapped) doubles would read past its data. */
static bp_status check_matrix(const char *path, const bp_matrix *m,
                              const char *fn, bp_error *err)
{
    int overflow = 0;

    if (!path || !m || (!m->data && m->rows && m->cols))
        return bpi_set_error(err, BP_EINVAL,
                             "%s: path and m must not be NULL", fn);
    bpi_mul_size(bpi_mul_size(m->rows, m->cols, &overflow), sizeof(double),
                 &overflow);
    if (overflow)
        return bpi_set_error(err, BP_EINVAL, "%s: %zux%zu doubles overflow "
                             "size_t", path, m->rows, m->cols);
    return BP_OK;
}

bp_status bp_npy_save(const char *path, const bp_matrix *m, bp_error *err)
{
    bp_status st = check_matrix(path, m, "bp_npy_save", err);

    if (st != BP_OK)
        return st;
    return npy_save(path, m, &(bp_shape){2, {m->rows, m->cols}}, err);
}

bp_status bp_npy_save_shape(const char *path, const bp_matrix *m,
                            const bp_shape *shape, bp_error *err)
{
    bp_status st = check_matrix(path, m, "bp_npy_save_shape", err);
    size_t rows, cols;
    int overflow = 0;
    char s[BPI_SHAPE_STR];

    if (st != BP_OK)
        return st;
    if (!shape)
        return bpi_set_error(err, BP_EINVAL,
                             "bp_npy_save_shape: shape must not be NULL");
    if (shape->rank < 1 || shape->rank > BP_MAX_RANK)
        return bpi_set_error(err, BP_EINVAL, "%s: rank %zu: .npy files of "
                             "rank 1 to %d only", path, shape->rank,
                             BP_MAX_RANK);
    bpi_shape_size(shape, &overflow);
    bpi_shape_matrix(shape, &rows, &cols);
    if (overflow || rows != m->rows || cols != m->cols)
        return bpi_set_error(err, BP_EINVAL, "%s: the matrix is %zux%zu, not "
                             "the matrix view of shape %s", path, m->rows,
                             m->cols, bpi_shape_str(shape, s, sizeof s));
    return npy_save(path, m, shape, err);
}
