/* SPDX-License-Identifier: MIT */
/* Reading named columns of a CSV file into a matrix, and its header or
 * one column as text.
 *
 * The file is read as a stream through a small buffer, one record at a
 * time: memory grows with the rows kept, not with the file, and a file that
 * cannot be a CSV table (a NUL byte, a lone CR line end) is refused where
 * the first such byte is, without reading the rest. */
/* strtod_l and newlocale: numbers are read in the C locale whatever the
 * program's locale is (a decimal comma would otherwise cut "1.5" short). */
#define _GNU_SOURCE 1

#include "bp_private.h"

#include <ctype.h>
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growable byte buffer. */
struct bytes {
    char *p;
    size_t len;
    size_t cap;
};

/* Grows b to hold at least need bytes, keeping its contents. */
static int bytes_reserve(struct bytes *b, size_t need)
{
    size_t cap;
    char *p;

    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    p = bpi_malloc(cap);
    if (!p)
        return -1;
    if (b->len)
        memcpy(p, b->p, b->len);
    bpi_free(b->p);
    b->p = p;
    b->cap = cap;
    return 0;
}

static int bytes_push(struct bytes *b, char ch)
{
    if (b->len == b->cap && bytes_reserve(b, b->len + 1))
        return -1;
    b->p[b->len++] = ch;
    return 0;
}

/* The parser's state: the stream and where it is, and the fields of the
 * current record, unquoted and each NUL-terminated in text, starting at
 * off[i]. */
struct csv {
    const char *path;
    bp_error *err;
    FILE *f;
    unsigned char buf[8192];
    size_t pos, len;        /* buf[pos..len) is read but not consumed */
    int at_end;             /* no more bytes after buf[len) */
    bp_status failed;       /* set with err by the first failing read */
    size_t offset;          /* the file offset of buf[pos] */
    size_t line;            /* physical line of buf[pos], from 1 */
    struct bytes text;
    size_t *off;
    size_t n_fields;
    size_t cap_fields;
    locale_t c_locale;      /* "C", for strtod_l */
};

/* What peek returns besides a byte. */
#define CSV_EOF (-1)
#define CSV_FAIL (-2)   /* c->failed and err are set */

static bp_status csv_nomem(struct csv *c)
{
    return bpi_set_error(c->err, BP_ENOMEM, "%s: out of memory", c->path);
}

/* The byte k (< 3) places ahead, CSV_EOF past the end, or CSV_FAIL for a
 * read error or a NUL byte (which would silently end a field). */
static int peek(struct csv *c, size_t k)
{
    unsigned char ch;

    if (c->failed != BP_OK)
        return CSV_FAIL;
    if (c->len - c->pos <= k && !c->at_end) {
        size_t got;
        memmove(c->buf, c->buf + c->pos, c->len - c->pos);
        c->len -= c->pos;
        c->pos = 0;
        got = fread(c->buf + c->len, 1, sizeof c->buf - c->len, c->f);
        c->len += got;
        if (got == 0 && ferror(c->f)) {
            c->failed = bpi_set_error(c->err, BP_EIO, "%s: cannot read at offset %zu: %s",
                                      c->path, c->offset + c->len, strerror(errno));
            return CSV_FAIL;
        }
        c->at_end = got == 0;
    }
    if (c->len - c->pos <= k)
        return CSV_EOF;
    ch = c->buf[c->pos + k];
    if (ch == '\0') {
        c->failed = bpi_set_error(c->err, BP_EPARSE, "%s:%zu: NUL byte at offset %zu", c->path,
                                  c->line, c->offset + k);
        return CSV_FAIL;
    }
    return ch;
}

static void advance(struct csv *c)
{
    c->pos++;
    c->offset++;
}

/* Does a line end (LF, CRLF, or a CR ending the file) start here?  1 or 0;
 * CSV_FAIL for a CR followed by anything else: lone CR line ends (classic
 * Mac OS) would otherwise make the whole file one header line. */
static int at_eol(struct csv *c)
{
    int ch = peek(c, 0), next;

    if (ch == '\n')
        return 1;
    if (ch != '\r')
        return ch == CSV_FAIL ? CSV_FAIL : 0;
    next = peek(c, 1);
    if (next == '\n' || next == CSV_EOF)
        return 1;
    if (next != CSV_FAIL)
        c->failed = bpi_set_error(c->err, BP_EPARSE,
                                  "%s:%zu: a CR not followed by LF at offset %zu: lone CR line "
                                  "ends are not supported (convert them to LF)",
                                  c->path, c->line, c->offset);
    return CSV_FAIL;
}

static bp_status start_field(struct csv *c)
{
    if (c->n_fields == c->cap_fields) {
        size_t cap = c->cap_fields ? 2 * c->cap_fields : 16;
        int overflow = 0;
        size_t bytes = bpi_mul_size(cap, sizeof *c->off, &overflow);
        size_t *off = overflow ? NULL : bpi_malloc(bytes);

        if (!off)
            return csv_nomem(c);
        if (c->n_fields)
            memcpy(off, c->off, c->n_fields * sizeof *off);
        bpi_free(c->off);
        c->off = off;
        c->cap_fields = cap;
    }
    c->off[c->n_fields++] = c->text.len;
    return BP_OK;
}

/* Parses one record starting at the current byte (not the end of the
 * file) up to and including its line end. */
static bp_status parse_record(struct csv *c)
{
    size_t start_line = c->line;

    c->text.len = 0;
    c->n_fields = 0;
    for (;;) {
        int ch, eol;

        if (start_field(c) != BP_OK)
            return BP_ENOMEM;
        if (peek(c, 0) == '"') {
            advance(c);
            for (;;) {
                ch = peek(c, 0);
                if (ch == CSV_FAIL)
                    return c->failed;
                if (ch == CSV_EOF)
                    return bpi_set_error(c->err, BP_EPARSE,
                                         "%s:%zu: unterminated quoted field",
                                         c->path, start_line);
                advance(c);
                if (ch == '"') {
                    int next = peek(c, 0);
                    if (next == CSV_FAIL)
                        return c->failed;
                    if (next != '"')
                        break;
                    advance(c);     /* "" is one quote */
                }
                if (ch == '\n')
                    c->line++;
                if (bytes_push(&c->text, (char)ch))
                    return csv_nomem(c);
            }
            while ((ch = peek(c, 0)) == ' ' || ch == '\t')
                advance(c);
            if ((eol = at_eol(c)) == CSV_FAIL)
                return c->failed;
            if (ch != ',' && ch != CSV_EOF && !eol)
                return bpi_set_error(c->err, BP_EPARSE,
                                     "%s:%zu: text after a closing quote",
                                     c->path, c->line);
        } else {
            while ((eol = at_eol(c)) == 0 && (ch = peek(c, 0)) != ',' && ch != CSV_EOF) {
                if (bytes_push(&c->text, (char)ch))
                    return csv_nomem(c);
                advance(c);
            }
            if (eol == CSV_FAIL)
                return c->failed;
        }
        if (bytes_push(&c->text, '\0'))
            return csv_nomem(c);
        ch = peek(c, 0);
        if (ch == CSV_EOF)
            return BP_OK;
        if (ch == ',') {
            advance(c);
            continue;
        }
        /* A line end: CRLF, LF, or a CR at the end of the file. */
        if (ch == '\r')
            advance(c);
        if (peek(c, 0) == '\n')
            advance(c);
        c->line++;
        return BP_OK;
    }
}

/* At a blank line, skips it and any that follow: 1 when only blank lines
 * were left (the end of the data), -1 (err set) when a record follows (a
 * blank line between rows is an error), 0 when this is not a blank line. */
static int blank_line(struct csv *c)
{
    size_t line = c->line;
    int eol = at_eol(c), ch;

    if (eol != 1)
        return eol == CSV_FAIL ? -1 : 0;
    while ((ch = peek(c, 0)) == '\n' || ch == '\r') {
        c->line += ch == '\n';
        advance(c);
    }
    if (ch == CSV_EOF)
        return 1;
    if (ch != CSV_FAIL)
        bpi_set_error(c->err, BP_EPARSE, "%s:%zu: blank line", c->path, line);
    return -1;
}

/* Converts the field s of column name on line; 1 when the cell is empty. */
static int parse_cell(struct csv *c, const char *s, const char *name,
                      size_t line, double *v, bp_status *status)
{
    const char *t = s;
    char *e;

    while (isspace((unsigned char)*t))
        t++;
    *status = BP_OK;
    if (*t == '\0')
        return 1;
    errno = 0;
    *v = strtod_l(t, &e, c->c_locale);
    while (isspace((unsigned char)*e))
        e++;
    if (e == t || *e != '\0')
        *status = bpi_set_error(c->err, BP_EPARSE,
                                "%s:%zu: column '%s': not a number: \"%.40s\"",
                                c->path, line, name, s);
    else if (errno == ERANGE && isinf(*v))
        *status = bpi_set_error(c->err, BP_EPARSE,
                                "%s:%zu: column '%s': out of range: \"%.40s\"",
                                c->path, line, name, s);
    return 0;
}

/* Makes room for row (0-based) in vals, which holds *cap_rows rows of n. */
static bp_status reserve_rows(double **vals, size_t *cap_rows, size_t row,
                              size_t n)
{
    size_t cap;
    size_t bytes;
    int overflow = 0;
    double *p;

    if (row < *cap_rows)
        return BP_OK;
    cap = *cap_rows ? 2 * *cap_rows : 1024;
    bytes = bpi_mul_size(bpi_mul_size(cap, n, &overflow), sizeof(double),
                         &overflow);
    if (overflow || cap < *cap_rows)
        return BP_ENOMEM;
    p = bpi_malloc(bytes);
    if (!p)
        return BP_ENOMEM;
    if (row)
        memcpy(p, *vals, row * n * sizeof(double));
    bpi_free(*vals);
    *vals = p;
    *cap_rows = cap;
    return BP_OK;
}

/* Reads the data rows after the header; map[k] is the header field of
 * columns[k]. */
static bp_status read_rows(struct csv *c, const char *const *columns,
                           const size_t *map, size_t n, size_t n_header,
                           bp_matrix **out, size_t *n_filled)
{
    double *vals = NULL;
    size_t cap_rows = 0;
    size_t rows = 0;
    size_t filled = 0;
    bp_status st = BP_OK;
    bp_matrix *m;

    while (peek(c, 0) != CSV_EOF) {
        size_t line;
        int blank = blank_line(c);

        if (blank < 0) {
            st = c->failed != BP_OK ? c->failed : BP_EPARSE;
            goto fail;
        }
        if (blank)
            break;
        line = c->line;
        st = parse_record(c);
        if (st != BP_OK)
            goto fail;
        if (c->n_fields != n_header) {
            st = bpi_set_error(c->err, BP_EPARSE,
                               "%s:%zu: expected %zu fields as in the header, "
                               "found %zu", c->path, line, n_header,
                               c->n_fields);
            goto fail;
        }
        if (reserve_rows(&vals, &cap_rows, rows, n) != BP_OK) {
            st = csv_nomem(c);
            goto fail;
        }
        for (size_t k = 0; k < n; k++) {
            double *v = &vals[rows * n + k];

            if (parse_cell(c, c->text.p + c->off[map[k]], columns[k], line,
                           v, &st)) {
                if (rows == 0) {
                    st = bpi_set_error(c->err, BP_EPARSE,
                                       "%s:%zu: column '%s': empty cell in "
                                       "the first data row cannot be "
                                       "forward-filled",
                                       c->path, line, columns[k]);
                    goto fail;
                }
                *v = vals[(rows - 1) * n + k];   /* ffill */
                filled++;
            }
            if (st != BP_OK)
                goto fail;
        }
        rows++;
    }
    if (rows == 0) {
        st = bpi_set_error(c->err, BP_EPARSE,
                           "%s:%zu: no data rows after the header", c->path,
                           c->line);
        goto fail;
    }
    m = bpi_malloc(sizeof *m);
    if (!m) {
        st = csv_nomem(c);
        goto fail;
    }
    m->rows = rows;
    m->cols = n;
    m->data = vals;
    *out = m;
    if (n_filled)
        *n_filled = filled;
    return BP_OK;

fail:
    bpi_free(vals);
    return st;
}

/* A header field's name and index, sorted by name (then index) so that
 * each requested column is found by binary search: a wide header costs
 * n log n comparisons, not one pass over it per requested column. */
struct named {
    const char *name;
    size_t index;
};

static int by_name_then_index(const void *pa, const void *pb)
{
    const struct named *a = pa, *b = pb;
    int d = strcmp(a->name, b->name);

    if (d)
        return d;
    return (a->index > b->index) - (a->index < b->index);
}

/* map[k] = the first header field named columns[k], for each k < n; the
 * header is the parsed record in c. */
static bp_status map_columns(struct csv *c, const char *const *columns, size_t n,
                             size_t *map)
{
    size_t n_header = c->n_fields;
    int overflow = 0;
    size_t bytes = bpi_mul_size(n_header, sizeof(struct named), &overflow);
    struct named *sorted = overflow ? NULL : bpi_malloc(bytes);
    bp_status st = BP_OK;

    if (!sorted)
        return csv_nomem(c);
    for (size_t h = 0; h < n_header; h++) {
        sorted[h].name = c->text.p + c->off[h];
        sorted[h].index = h;
    }
    qsort(sorted, n_header, sizeof *sorted, by_name_then_index);
    for (size_t k = 0; k < n && st == BP_OK; k++) {
        /* the first entry whose name is not below columns[k] */
        size_t lo = 0, hi = n_header;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (strcmp(sorted[mid].name, columns[k]) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo == n_header || strcmp(sorted[lo].name, columns[k]) != 0)
            st = bpi_set_error(c->err, BP_ENOTFOUND, "%s:1: no column named '%s' in the header",
                               c->path, columns[k]);
        else
            map[k] = sorted[lo].index;
    }
    bpi_free(sorted);
    return st;
}

/* Opens path and parses its header record: on BP_OK, c is at the first
 * data row and c->n_fields is the header's field count.  The caller calls
 * csv_end whatever the status. */
static bp_status csv_begin(struct csv *c, const char *path, bp_error *err)
{
    int blank = 0;

    memset(c, 0, sizeof *c);
    c->path = path;
    c->err = err;
    c->line = 1;
    c->f = fopen(path, "rb");
    if (!c->f)
        return bpi_set_error(err, BP_EIO, "%s: cannot open: %s", path,
                             strerror(errno));
    c->c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    if (c->c_locale == (locale_t)0)
        return csv_nomem(c);
    if (peek(c, 0) == 0xEF && peek(c, 1) == 0xBB && peek(c, 2) == 0xBF) {
        advance(c);   /* UTF-8 byte order mark */
        advance(c);
        advance(c);
    }
    if (peek(c, 0) == CSV_EOF || (blank = blank_line(c)) == 1)
        return bpi_set_error(err, BP_EPARSE, "%s: empty file, no header row",
                             path);
    if (blank < 0 || c->failed != BP_OK)
        return c->failed != BP_OK ? c->failed : BP_EPARSE;
    return parse_record(c);
}

static void csv_end(struct csv *c)
{
    if (c->c_locale != (locale_t)0)
        freelocale(c->c_locale);
    if (c->f)
        fclose(c->f);
    bpi_free(c->off);
    bpi_free(c->text.p);
}

bp_status bp_csv_read(const char *path, const char *const *columns,
                      size_t n_columns, bp_matrix **out, size_t *n_filled,
                      bp_error *err)
{
    struct csv c;
    size_t *map = NULL;
    size_t n_header;
    bp_status st;

    if (out)
        *out = NULL;
    if (n_filled)
        *n_filled = 0;
    if (!path || !columns || n_columns == 0 || !out)
        return bpi_set_error(err, BP_EINVAL,
                             "bp_csv_read: path, columns and out must not be "
                             "NULL and n_columns must not be 0");
    for (size_t k = 0; k < n_columns; k++)
        if (!columns[k])
            return bpi_set_error(err, BP_EINVAL,
                                 "bp_csv_read: columns[%zu] is NULL", k);

    st = csv_begin(&c, path, err);
    if (st != BP_OK)
        goto done;
    n_header = c.n_fields;

    {
        int overflow = 0;
        size_t bytes = bpi_mul_size(n_columns, sizeof *map, &overflow);

        map = overflow ? NULL : bpi_malloc(bytes);
        if (!map) {
            st = csv_nomem(&c);
            goto done;
        }
    }
    st = map_columns(&c, columns, n_columns, map);
    if (st == BP_OK)
        st = read_rows(&c, columns, map, n_columns, n_header, out, n_filled);
    if (st == BP_OK)
        bpi_set_error(err, BP_OK, "%s", "");

done:
    csv_end(&c);
    bpi_free(map);
    return st;
}

/* Strings collected one after another, NUL-terminated, in text; off[i] is
 * where the i-th starts. */
struct strings {
    struct bytes text;
    size_t *off;
    size_t n;
    size_t cap;
};

static int strings_push(struct strings *s, const char *str)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        int overflow = 0;
        size_t bytes = bpi_mul_size(cap, sizeof *s->off, &overflow);
        size_t *off = overflow ? NULL : bpi_malloc(bytes);

        if (!off)
            return -1;
        if (s->n)
            memcpy(off, s->off, s->n * sizeof *off);
        bpi_free(s->off);
        s->off = off;
        s->cap = cap;
    }
    s->off[s->n++] = s->text.len;
    do {
        if (bytes_push(&s->text, *str))
            return -1;
    } while (*str++);
    return 0;
}

/* The collected strings as one NULL-terminated block: the pointer array,
 * then the text it points into; NULL when out of memory. */
static char **strings_block(const struct strings *s)
{
    int overflow = 0;
    size_t ptrs = bpi_mul_size(s->n + 1, sizeof(char *), &overflow);
    size_t total = ptrs + s->text.len;
    char **block = overflow || total < ptrs ? NULL : bpi_malloc(total);
    char *text;

    if (!block)
        return NULL;
    text = (char *)block + ptrs;
    if (s->text.len)
        memcpy(text, s->text.p, s->text.len);
    for (size_t i = 0; i < s->n; i++)
        block[i] = text + s->off[i];
    block[s->n] = NULL;
    return block;
}

static void strings_free(struct strings *s)
{
    bpi_free(s->off);
    bpi_free(s->text.p);
}

bp_status bp_csv_header(const char *path, char ***names, size_t *n,
                        bp_error *err)
{
    struct strings s = { { NULL, 0, 0 }, NULL, 0, 0 };
    struct csv c;
    bp_status st;

    if (names)
        *names = NULL;
    if (n)
        *n = 0;
    if (!path || !names || !n)
        return bpi_set_error(err, BP_EINVAL,
                             "bp_csv_header: path, names and n must not be "
                             "NULL");
    st = csv_begin(&c, path, err);
    for (size_t h = 0; st == BP_OK && h < c.n_fields; h++)
        if (strings_push(&s, c.text.p + c.off[h]))
            st = csv_nomem(&c);
    if (st == BP_OK) {
        *names = strings_block(&s);
        if (!*names)
            st = csv_nomem(&c);
    }
    if (st == BP_OK) {
        *n = s.n;
        bpi_set_error(err, BP_OK, "%s", "");
    }
    strings_free(&s);
    csv_end(&c);
    return st;
}

bp_status bp_csv_read_text(const char *path, const char *column,
                           char ***cells, size_t *n_rows, bp_error *err)
{
    struct strings s = { { NULL, 0, 0 }, NULL, 0, 0 };
    struct csv c;
    size_t n_header, col = 0;   /* set by map_columns */
    bp_status st;

    if (cells)
        *cells = NULL;
    if (n_rows)
        *n_rows = 0;
    if (!path || !column || !cells || !n_rows)
        return bpi_set_error(err, BP_EINVAL,
                             "bp_csv_read_text: path, column, cells and "
                             "n_rows must not be NULL");
    st = csv_begin(&c, path, err);
    if (st != BP_OK)
        goto done;
    n_header = c.n_fields;
    st = map_columns(&c, &column, 1, &col);
    while (st == BP_OK && peek(&c, 0) != CSV_EOF) {
        size_t line;
        int blank = blank_line(&c);

        if (blank < 0) {
            st = c.failed != BP_OK ? c.failed : BP_EPARSE;
            break;
        }
        if (blank)
            break;
        line = c.line;
        st = parse_record(&c);
        if (st == BP_OK && c.n_fields != n_header)
            st = bpi_set_error(err, BP_EPARSE,
                               "%s:%zu: expected %zu fields as in the header, "
                               "found %zu", path, line, n_header, c.n_fields);
        if (st == BP_OK && strings_push(&s, c.text.p + c.off[col]))
            st = csv_nomem(&c);
    }
    if (st == BP_OK && s.n == 0)
        st = bpi_set_error(err, BP_EPARSE,
                           "%s:%zu: no data rows after the header", path,
                           c.line);
    if (st == BP_OK && (*cells = strings_block(&s)) == NULL)
        st = csv_nomem(&c);
    if (st == BP_OK) {
        *n_rows = s.n;
        bpi_set_error(err, BP_OK, "%s", "");
    }

done:
    strings_free(&s);
    csv_end(&c);
    return st;
}

void bp_csv_strings_free(char **strings)
{
    bpi_free(strings);
}
