/* Reading named columns of a CSV file into a matrix, and its header or
 * one column as text.
 *
 * The whole file is read into memory first: that makes line counting, the
 * NUL check and quoted fields that span lines simple, and the lesson's
 * tables are small. */
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

static bp_status read_whole_file(const char *path, struct bytes *b,
                                 bp_error *err)
{
    enum { CHUNK = 1 << 16 };
    FILE *f = fopen(path, "rb");

    if (!f)
        return bpi_set_error(err, BP_EIO, "%s: cannot open: %s", path,
                             strerror(errno));
    for (;;) {
        size_t n;

        if (b->cap - b->len < CHUNK) {
            if (b->len > SIZE_MAX - CHUNK || bytes_reserve(b, b->len + CHUNK)) {
                fclose(f);
                return bpi_set_error(err, BP_ENOMEM, "%s: out of memory",
                                     path);
            }
        }
        n = fread(b->p + b->len, 1, b->cap - b->len, f);
        b->len += n;
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        int e = errno;
        fclose(f);
        return bpi_set_error(err, BP_EIO, "%s: cannot read: %s", path,
                             strerror(e));
    }
    fclose(f);
    return BP_OK;
}

/* The parser's state: where it is, and the fields of the current record,
 * unquoted and each NUL-terminated in text, starting at off[i]. */
struct csv {
    const char *path;
    bp_error *err;
    const char *p;
    const char *end;
    size_t line;            /* physical line of p, from 1 */
    struct bytes text;
    size_t *off;
    size_t n_fields;
    size_t cap_fields;
    locale_t c_locale;      /* "C", for strtod_l */
};

static bp_status csv_nomem(struct csv *c)
{
    return bpi_set_error(c->err, BP_ENOMEM, "%s: out of memory", c->path);
}

/* Does a line end (LF or CRLF) start at q? */
static int at_eol(const struct csv *c, const char *q)
{
    return q < c->end &&
           (*q == '\n' || (*q == '\r' && (q + 1 == c->end || q[1] == '\n')));
}

/* Is everything from p to the end of the file line ends? */
static int only_blank_lines_left(const struct csv *c)
{
    for (const char *q = c->p; q < c->end; q++)
        if (*q != '\n' && *q != '\r')
            return 0;
    return 1;
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

/* Parses one record starting at c->p (which is not at the end of the file)
 * up to and including its line end. */
static bp_status parse_record(struct csv *c)
{
    size_t start_line = c->line;

    c->text.len = 0;
    c->n_fields = 0;
    for (;;) {
        if (start_field(c) != BP_OK)
            return BP_ENOMEM;
        if (c->p < c->end && *c->p == '"') {
            c->p++;
            for (;;) {
                char ch;

                if (c->p == c->end)
                    return bpi_set_error(c->err, BP_EPARSE,
                                         "%s:%zu: unterminated quoted field",
                                         c->path, start_line);
                ch = *c->p++;
                if (ch == '"') {
                    if (c->p < c->end && *c->p == '"')
                        c->p++;     /* "" is one quote */
                    else
                        break;
                }
                if (ch == '\n')
                    c->line++;
                if (bytes_push(&c->text, ch))
                    return csv_nomem(c);
            }
            while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
                c->p++;
            if (c->p < c->end && *c->p != ',' && !at_eol(c, c->p))
                return bpi_set_error(c->err, BP_EPARSE,
                                     "%s:%zu: text after a closing quote",
                                     c->path, c->line);
        } else {
            while (c->p < c->end && *c->p != ',' && !at_eol(c, c->p))
                if (bytes_push(&c->text, *c->p++))
                    return csv_nomem(c);
        }
        if (bytes_push(&c->text, '\0'))
            return csv_nomem(c);
        if (c->p == c->end)
            return BP_OK;
        if (*c->p == ',') {
            c->p++;
            continue;
        }
        /* A line end: CRLF or LF. */
        if (*c->p == '\r')
            c->p++;
        if (c->p < c->end)
            c->p++;
        c->line++;
        return BP_OK;
    }
}

/* Skips a blank line at p when only blank lines follow (returns 1: the end
 * of the data); a blank line elsewhere is an error (returns -1). */
static int blank_line(struct csv *c)
{
    if (!at_eol(c, c->p))
        return 0;
    if (only_blank_lines_left(c))
        return 1;
    bpi_set_error(c->err, BP_EPARSE, "%s:%zu: blank line", c->path, c->line);
    return -1;
}

/* Looks for a NUL byte, which would silently end a field. */
static bp_status check_nul(const char *path, const struct bytes *b,
                           bp_error *err)
{
    const char *nul = b->len ? memchr(b->p, '\0', b->len) : NULL;
    size_t line = 1;

    if (!nul)
        return BP_OK;
    for (const char *q = b->p; q < nul; q++)
        line += *q == '\n';
    return bpi_set_error(err, BP_EPARSE, "%s:%zu: NUL byte at offset %zu",
                         path, line, (size_t)(nul - b->p));
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

    while (c->p < c->end) {
        size_t line;
        int blank = blank_line(c);

        if (blank < 0) {
            st = BP_EPARSE;
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

/* Reads path and parses its header record: on BP_OK, c is at the first
 * data row and c->n_fields is the header's field count.  The caller frees
 * with csv_end whatever the status. */
static bp_status csv_begin(struct csv *c, struct bytes *file, const char *path,
                           bp_error *err)
{
    bp_status st;

    memset(c, 0, sizeof *c);
    c->path = path;
    c->err = err;
    c->line = 1;
    st = read_whole_file(path, file, err);
    if (st == BP_OK)
        st = check_nul(path, file, err);
    if (st != BP_OK)
        return st;
    c->p = file->p;
    c->end = file->p + file->len;
    c->c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    if (c->c_locale == (locale_t)0)
        return csv_nomem(c);
    if (file->len >= 3 && memcmp(file->p, "\xEF\xBB\xBF", 3) == 0)
        c->p += 3;   /* UTF-8 byte order mark */
    if (only_blank_lines_left(c))
        return bpi_set_error(err, BP_EPARSE, "%s: empty file, no header row",
                             path);
    if (blank_line(c) < 0)
        return BP_EPARSE;
    return parse_record(c);
}

/* The first header field named name (the header is the record c parsed
 * last, of n_header fields), or n_header. */
static size_t header_field(const struct csv *c, size_t n_header, const char *name)
{
    size_t h = 0;

    /* NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker): h < n_header, so the header was parsed into c->text */
    while (h < n_header && strcmp(c->text.p + c->off[h], name) != 0)
        h++;
    return h;
}

static void csv_end(struct csv *c, struct bytes *file)
{
    if (c->c_locale != (locale_t)0)
        freelocale(c->c_locale);
    bpi_free(c->off);
    bpi_free(c->text.p);
    bpi_free(file->p);
}

bp_status bp_csv_read(const char *path, const char *const *columns,
                      size_t n_columns, bp_matrix **out, size_t *n_filled,
                      bp_error *err)
{
    struct bytes file = { NULL, 0, 0 };
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

    st = csv_begin(&c, &file, path, err);
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
    for (size_t k = 0; k < n_columns; k++) {
        size_t h = header_field(&c, n_header, columns[k]);

        if (h == n_header) {
            st = bpi_set_error(err, BP_ENOTFOUND,
                               "%s:1: no column named '%s' in the header",
                               path, columns[k]);
            goto done;
        }
        map[k] = h;
    }

    st = read_rows(&c, columns, map, n_columns, n_header, out, n_filled);
    if (st == BP_OK)
        bpi_set_error(err, BP_OK, "%s", "");

done:
    bpi_free(map);
    csv_end(&c, &file);
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
    struct bytes file = { NULL, 0, 0 };
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
    st = csv_begin(&c, &file, path, err);
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
    csv_end(&c, &file);
    return st;
}

bp_status bp_csv_read_text(const char *path, const char *column,
                           char ***cells, size_t *n_rows, bp_error *err)
{
    struct bytes file = { NULL, 0, 0 };
    struct strings s = { { NULL, 0, 0 }, NULL, 0, 0 };
    struct csv c;
    size_t n_header, col;
    bp_status st;

    if (cells)
        *cells = NULL;
    if (n_rows)
        *n_rows = 0;
    if (!path || !column || !cells || !n_rows)
        return bpi_set_error(err, BP_EINVAL,
                             "bp_csv_read_text: path, column, cells and "
                             "n_rows must not be NULL");
    st = csv_begin(&c, &file, path, err);
    if (st != BP_OK)
        goto done;
    n_header = c.n_fields;
    col = header_field(&c, n_header, column);
    if (col == n_header) {
        st = bpi_set_error(err, BP_ENOTFOUND,
                           "%s:1: no column named '%s' in the header", path,
                           column);
        goto done;
    }
    while (c.p < c.end) {
        size_t line = c.line;
        int blank = blank_line(&c);

        if (blank < 0) {
            st = BP_EPARSE;
            goto done;
        }
        if (blank)
            break;
        st = parse_record(&c);
        if (st != BP_OK)
            goto done;
        if (c.n_fields != n_header) {
            st = bpi_set_error(err, BP_EPARSE,
                               "%s:%zu: expected %zu fields as in the header, "
                               "found %zu", path, line, n_header, c.n_fields);
            goto done;
        }
        if (strings_push(&s, c.text.p + c.off[col])) {
            st = csv_nomem(&c);
            goto done;
        }
    }
    if (s.n == 0) {
        st = bpi_set_error(err, BP_EPARSE,
                           "%s:%zu: no data rows after the header", path,
                           c.line);
        goto done;
    }
    *cells = strings_block(&s);
    if (!*cells) {
        st = csv_nomem(&c);
        goto done;
    }
    *n_rows = s.n;
    bpi_set_error(err, BP_OK, "%s", "");

done:
    strings_free(&s);
    csv_end(&c, &file);
    return st;
}

void bp_csv_strings_free(char **strings)
{
    bpi_free(strings);
}
