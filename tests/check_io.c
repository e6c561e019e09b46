/* SPDX-License-Identifier: MIT */
/* Tests for the data files: bp_csv_read, bp_npy_load, bp_npy_save.
 *
 * Every fixture is written by the test itself into a fresh temporary
 * directory; the .npy files for the load tests are assembled byte by byte
 * here, never with bp_npy_save.  The weather table is read by path from
 * $BP_WEATHER_CSV. */
#define _XOPEN_SOURCE 700
#include <check.h>

#include <dirent.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_util.h"

static char tmpdir[PATH_MAX];

static void setup(void)
{
    strcpy(tmpdir, "/tmp/bp_check_io_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
    DIR *d;
    struct dirent *e;
    char p[PATH_MAX + 300];

    chmod(tmpdir, 0700);    /* a test may have made it read-only */
    d = opendir(tmpdir);
    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
        chmod(p, 0600);
        unlink(p);
    }
    closedir(d);
    rmdir(tmpdir);
}

/* The path of name in the temporary directory (in one of a few rotating
 * buffers, so two may be in use at once). */
static const char *tpath(const char *name)
{
    static char buf[4][PATH_MAX + 64];
    static int next;
    char *p = buf[next++ % 4];

    snprintf(p, PATH_MAX + 64, "%s/%s", tmpdir, name);
    return p;
}

static const char *write_bytes(const char *name, const void *data, size_t len)
{
    const char *p = tpath(name);
    FILE *f = fopen(p, "wb");

    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
    return p;
}

static const char *write_text(const char *name, const char *text)
{
    return write_bytes(name, text, strlen(text));
}

static size_t count_dir_entries(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    size_t n = 0;

    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

/* ------------------------------------------------------------------------ */
/* CSV: the weather table                                                    */
/* ------------------------------------------------------------------------ */

static const char *const weather_cols[] = { "tmax", "tmin", "rain",
                                            "tmax_tomorrow" };

/* An independent count of the empty cells in the four columns: split each
 * line on commas (the table has no quotes) and look at fields 1..4. */
static size_t scan_empty_cells(const char *path, size_t *first_row,
                               size_t *first_col)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0, n_empty = 0, row = 0;

    ck_assert_ptr_nonnull(f);
    *first_row = SIZE_MAX;
    ck_assert_int_gt(getline(&line, &cap, f), 0);   /* header */
    ck_assert_str_eq(line, ",tmax,tmin,rain,tmax_tomorrow\n");
    while (getline(&line, &cap, f) > 0) {
        char *field = line;
        for (size_t k = 0; k < 5; k++) {
            char *comma = strchr(field, ',');
            size_t len = comma ? (size_t)(comma - field) : strcspn(field, "\n");
            if (k > 0 && len == 0) {
                n_empty++;
                if (*first_row == SIZE_MAX) {
                    *first_row = row;
                    *first_col = k - 1;
                }
            }
            if (!comma)
                break;
            field = comma + 1;
        }
        row++;
    }
    free(line);
    fclose(f);
    return n_empty;
}

START_TEST(test_weather)
{
    const char *path = getenv("BP_WEATHER_CSV");
    bp_matrix *m = NULL;
    size_t filled = 0, first_row = 0, first_col = 0, expect_filled;
    bp_error err;

    ck_assert_msg(path != NULL && *path, "BP_WEATHER_CSV is not set");
    ck_assert_int_eq(bp_csv_read(path, weather_cols, 4, &m, &filled, &err),
                     BP_OK);
    ck_assert_int_eq(err.status, BP_OK);
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(m->rows, 13509);
    ck_assert_uint_eq(m->cols, 4);
    /* 1970-01-01,60.0,35.0,0.0,52.0 */
    ck_assert_double_eq(bp_matrix_get(m, 0, 0), 60.0);
    ck_assert_double_eq(bp_matrix_get(m, 0, 1), 35.0);
    ck_assert_double_eq(bp_matrix_get(m, 0, 2), 0.0);
    ck_assert_double_eq(bp_matrix_get(m, 0, 3), 52.0);
    /* 2022-11-26,62.0,41.0,0.0,64.0 */
    ck_assert_double_eq(bp_matrix_get(m, 13508, 0), 62.0);
    ck_assert_double_eq(bp_matrix_get(m, 13508, 1), 41.0);
    ck_assert_double_eq(bp_matrix_get(m, 13508, 3), 64.0);

    expect_filled = scan_empty_cells(path, &first_row, &first_col);
    ck_assert_uint_gt(expect_filled, 0);
    ck_assert_uint_eq(filled, expect_filled);
    ck_assert_uint_gt(first_row, 0);
    ck_assert_uint_lt(first_row, m->rows);
    ck_assert_double_eq(bp_matrix_get(m, first_row, first_col),
                        bp_matrix_get(m, first_row - 1, first_col));
    /* Line 4140 is "1983-10-29,67.0,57.0,,70.0": rain comes from line
     * 4139, "1983-10-28,74.0,56.0,0.0,67.0". */
    ck_assert_double_eq(bp_matrix_get(m, 4138, 2), 0.0);
    ck_assert_double_eq(bp_matrix_get(m, 4138, 0), 67.0);
    /* Line 6931 is "2004-11-20,,,,64.0": three cells from line 6930. */
    for (size_t k = 0; k < 3; k++)
        ck_assert_double_eq(bp_matrix_get(m, 6929, k),
                            bp_matrix_get(m, 6928, k));
    ck_assert_double_eq(bp_matrix_get(m, 6929, 3), 64.0);
    bp_matrix_free(m);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* CSV: formats                                                              */
/* ------------------------------------------------------------------------ */

static bp_matrix *read_ok(const char *path, const char *const *cols, size_t n,
                          size_t *filled)
{
    bp_matrix *m = NULL;
    bp_error err;
    bp_status st = bp_csv_read(path, cols, n, &m, filled, &err);

    ck_assert_msg(st == BP_OK, "%s: %s", bp_strerror(st), err.message);
    ck_assert_ptr_nonnull(m);
    return m;
}

static const char *const ab[] = { "a", "b" };

START_TEST(test_csv_crlf_and_ffill)
{
    const char *p = write_text("crlf.csv",
                               "a,b\r\n1.25,2.5\r\n3.75,\r\n,\r\n-0.5,9\r\n");
    size_t filled = 99;
    bp_matrix *m = read_ok(p, ab, 2, &filled);

    ck_assert_uint_eq(m->rows, 4);
    ck_assert_uint_eq(m->cols, 2);
    ck_assert_double_eq(bp_matrix_get(m, 0, 0), 1.25);
    ck_assert_double_eq(bp_matrix_get(m, 1, 0), 3.75);
    ck_assert_double_eq(bp_matrix_get(m, 1, 1), 2.5);   /* filled */
    ck_assert_double_eq(bp_matrix_get(m, 2, 0), 3.75);  /* filled */
    ck_assert_double_eq(bp_matrix_get(m, 2, 1), 2.5);   /* filled twice */
    ck_assert_double_eq(bp_matrix_get(m, 3, 0), -0.5);
    ck_assert_double_eq(bp_matrix_get(m, 3, 1), 9.0);
    ck_assert_uint_eq(filled, 3);
    bp_matrix_free(m);
}
END_TEST

/* Numbers are read in the C locale whatever the program's locale: under
 * de_DE, whose decimal point is a comma, "1.5" is still 1.5.  The locale is
 * compiled into the test's directory (Debian's locales package provides
 * localedef and the sources). */
START_TEST(test_csv_ignores_the_program_locale)
{
    char cmd[2 * PATH_MAX];
    const char *p = write_text("locale.csv", "a,b\n1.5,2.25\n-0.125,1e3\n");
    bp_matrix *m;

    snprintf(cmd, sizeof cmd, "localedef -i de_DE -f UTF-8 '%s/de_DE.UTF-8' 2>/dev/null",
             tmpdir);
    ck_assert_msg(system(cmd) == 0 || access(tpath("de_DE.UTF-8"), F_OK) == 0,
                  "localedef could not build de_DE.UTF-8 (Debian: apt-get install locales)");
    setenv("LOCPATH", tmpdir, 1);
    ck_assert_ptr_nonnull(setlocale(LC_ALL, "de_DE.UTF-8"));
    ck_assert_str_eq(localeconv()->decimal_point, ",");   /* the trap is set */
    m = read_ok(p, ab, 2, NULL);
    ck_assert_double_eq(bp_matrix_get(m, 0, 0), 1.5);
    ck_assert_double_eq(bp_matrix_get(m, 0, 1), 2.25);
    ck_assert_double_eq(bp_matrix_get(m, 1, 0), -0.125);
    ck_assert_double_eq(bp_matrix_get(m, 1, 1), 1000.0);
    bp_matrix_free(m);
    setlocale(LC_ALL, "C");
}
END_TEST

START_TEST(test_csv_bom_no_final_newline_blank_tail)
{
    static const char *const cols[] = { "x" };
    const char *p1 = write_text("bom.csv", "\xEF\xBB\xBFx,y\n2.385,1\n4.5,2");
    const char *p2 = write_text("tail.csv", "y,x\n1,7.125\n\n\r\n\n");
    bp_matrix *m = read_ok(p1, cols, 1, NULL);

    ck_assert_uint_eq(m->rows, 2);
    ck_assert_double_eq(bp_matrix_get(m, 0, 0), 2.385);
    ck_assert_double_eq(bp_matrix_get(m, 1, 0), 4.5);
    bp_matrix_free(m);
    m = read_ok(p2, cols, 1, NULL);
    ck_assert_uint_eq(m->rows, 1);
    ck_assert_double_eq(bp_matrix_get(m, 0, 0), 7.125);
    bp_matrix_free(m);
}
END_TEST

START_TEST(test_csv_quotes_and_spaces)
{
    static const char *const cols[] = { "b,c", "a", "b,c" };
    /* A quoted header name with a comma, "" escapes and a newline inside a
     * skipped quoted field, spaces around numbers, a picked column
     * requested twice. */
    const char *p = write_text("q.csv",
                               "\"a\",\"b,c\",note\n"
                               "\" 1.5 \",  -2e3 ,\"he said \"\"hi, there\"\"\"\n"
                               "3,\"4.25\",\"two\nlines\"\n"
                               "5,\"\",plain\n");
    size_t filled = 0;
    bp_matrix *m = read_ok(p, cols, 3, &filled);

    ck_assert_uint_eq(m->rows, 3);
    ck_assert_uint_eq(m->cols, 3);
    ck_assert_double_eq(bp_matrix_get(m, 0, 0), -2000.0);
    ck_assert_double_eq(bp_matrix_get(m, 0, 1), 1.5);
    ck_assert_double_eq(bp_matrix_get(m, 0, 2), -2000.0);
    ck_assert_double_eq(bp_matrix_get(m, 1, 0), 4.25);
    ck_assert_double_eq(bp_matrix_get(m, 1, 1), 3.0);
    ck_assert_double_eq(bp_matrix_get(m, 2, 0), 4.25);  /* "" is empty */
    ck_assert_double_eq(bp_matrix_get(m, 2, 1), 5.0);
    ck_assert_uint_eq(filled, 2);   /* one cell, requested twice */
    bp_matrix_free(m);
}
END_TEST

START_TEST(test_csv_quoted_newline_keeps_line_numbers)
{
    bp_matrix *m = (bp_matrix *)1;
    bp_error err;
    /* The bad cell is on physical line 4 because the note spans 2 lines. */
    const char *p = write_text("ql.csv", "note,a\n\"x\ny\",1\nz,oops\n");

    ck_assert_int_eq(bp_csv_read(p, (const char *const[]){ "a" }, 1, &m, NULL,
                                 &err), BP_EPARSE);
    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(strstr(err.message, "ql.csv:4:"));
}
END_TEST

START_TEST(test_csv_long_line)
{
    /* A 1 MB skipped field, then a number written with 1 MB of leading
     * zeros: no fixed line buffer may cut either. */
    const size_t big = 1u << 20;
    char *text = malloc(2 * big + 64);
    size_t n = 0;
    bp_matrix *m;

    ck_assert_ptr_nonnull(text);
    n += (size_t)sprintf(text + n, "junk,v,w\n");
    memset(text + n, 'x', big);
    n += big;
    text[n++] = ',';
    memset(text + n, '0', big);
    n += big;
    n += (size_t)sprintf(text + n, "4.125,-1\n");
    m = read_ok(write_bytes("long.csv", text, n),
                (const char *const[]){ "v", "w" }, 2, NULL);
    ck_assert_uint_eq(m->rows, 1);
    ck_assert_double_eq(bp_matrix_get(m, 0, 0), 4.125);
    ck_assert_double_eq(bp_matrix_get(m, 0, 1), -1.0);
    bp_matrix_free(m);
    free(text);
}
END_TEST

START_TEST(test_csv_skipped_column_not_parsed)
{
    const char *p = write_text("skip.csv", ",a,b\n1970-01-01,0.1,abc\n"
                                           "1970-01-02,0.2,\n");
    bp_matrix *m = read_ok(p, (const char *const[]){ "a" }, 1, NULL);

    ck_assert_uint_eq(m->rows, 2);
    ck_assert_double_eq(bp_matrix_get(m, 1, 0), 0.2);
    bp_matrix_free(m);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* CSV: errors                                                               */
/* ------------------------------------------------------------------------ */

/* Reads file name (content len bytes) and expects status want, *out NULL,
 * and a message holding each of the needles. */
static void expect_csv_error(const char *name, const char *content,
                             size_t len, const char *const *cols, size_t n,
                             bp_status want, const char *needle1,
                             const char *needle2)
{
    const char *p = write_bytes(name, content, len);
    bp_matrix *m = (bp_matrix *)1;
    size_t filled = 77;
    bp_error err;
    bp_status st = bp_csv_read(p, cols, n, &m, &filled, &err);

    ck_assert_msg(st == want, "%s: got %s (%s), want %s", name,
                  bp_strerror(st), err.message, bp_strerror(want));
    ck_assert_int_eq(err.status, want);
    ck_assert_ptr_null(m);
    ck_assert_uint_eq(filled, 0);
    ck_assert_msg(strstr(err.message, name) != NULL, "'%s' lacks '%s'",
                  err.message, name);
    if (needle1)
        ck_assert_msg(strstr(err.message, needle1) != NULL, "'%s' lacks '%s'",
                      err.message, needle1);
    if (needle2)
        ck_assert_msg(strstr(err.message, needle2) != NULL, "'%s' lacks '%s'",
                      err.message, needle2);
    /* The same error without an error struct. */
    m = (bp_matrix *)1;
    ck_assert_int_eq(bp_csv_read(p, cols, n, &m, NULL, NULL), want);
    ck_assert_ptr_null(m);
}

#define EXPECT(name, text, want, n1, n2) \
    expect_csv_error(name, text, sizeof text - 1, ab, 2, want, n1, n2)

START_TEST(test_csv_errors)
{
    EXPECT("empty.csv", "", BP_EPARSE, "empty", NULL);
    EXPECT("blank.csv", "\xEF\xBB\xBF\r\n\n", BP_EPARSE, "empty", NULL);
    EXPECT("hdr.csv", "a,b\n", BP_EPARSE, "hdr.csv:2:", "no data");
    EXPECT("hdr2.csv", "a,b", BP_EPARSE, "hdr2.csv:", "no data");
    EXPECT("short.csv", "a,b\n1,2\n3\n", BP_EPARSE, "short.csv:3:",
           "expected 2 fields as in the header, found 1");
    EXPECT("long.csv", "a,b\n1,2,3\n", BP_EPARSE, "long.csv:2:",
           "found 3");
    EXPECT("nan.csv", "a,b\r\n1,2\r\n3,abc\r\n", BP_EPARSE, "nan.csv:3:",
           "column 'b': not a number: \"abc\"");
    EXPECT("partial.csv", "a,b\n1.5x,2\n", BP_EPARSE, "partial.csv:2:",
           "column 'a'");
    EXPECT("inner.csv", "a,b\n1 2,3\n", BP_EPARSE, "inner.csv:2:", "'a'");
    EXPECT("range.csv", "a,b\n1e999,3\n", BP_EPARSE, "range.csv:2:",
           "out of range");
    EXPECT("first.csv", "a,b\n1,\n2,3\n", BP_EPARSE, "first.csv:2:",
           "column 'b': empty cell in the first data row");
    EXPECT("unknown.csv", "a,c\n1,2\n", BP_ENOTFOUND, "unknown.csv:1:",
           "'b'");
    EXPECT("nul.csv", "a,b\n1,2\n3,\0004\n", BP_EPARSE, "nul.csv:3:", "NUL");
    EXPECT("quote.csv", "a,b\n1,\"2\n3,4\n", BP_EPARSE, "quote.csv:2:",
           "unterminated");
    EXPECT("after.csv", "a,b\n1,\"2\"x\n", BP_EPARSE, "after.csv:2:",
           "closing quote");
    EXPECT("gap.csv", "a,b\n1,2\n\n3,4\n", BP_EPARSE, "gap.csv:3:", "blank");
    /* lone CR line ends: named, not "no column named" or "no data rows" */
    EXPECT("cr.csv", "a,b\r1,2\r3,4\r", BP_EPARSE, "cr.csv:1:",
           "a CR not followed by LF at offset 3: lone CR line ends");
    EXPECT("cr2.csv", "x,a,b\r\n1,2,3\r4,5,6\r\n", BP_EPARSE, "cr2.csv:2:",
           "offset 12");
}
END_TEST

/* A 2 GB file of zero bytes and /dev/zero are refused at their first byte
 * with little memory: the reader streams (before, it read the whole file
 * first: 67 s and 4.2 GB, and /dev/zero until memory ran out, which
 * Check's timeout turns into a failure here). */
START_TEST(test_csv_zero_files_refused_early)
{
    const char *zeros = write_bytes("zeros.csv", "", 0);
    const char *paths[2] = {zeros, "/dev/zero"};
    FILE *f = fopen(zeros, "r+b");
    bp_matrix *m = (bp_matrix *)1;
    bp_error err;

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(ftruncate(fileno(f), (off_t)2 << 30), 0);   /* sparse */
    fclose(f);
    for (int i = 0; i < 2; i++) {
        tu_bytes = 0;
        ck_assert_int_eq(bp_set_alloc_funcs(tu_failing_malloc, tu_counting_free), BP_OK);
        ck_assert_int_eq(bp_csv_read(paths[i], ab, 2, &m, NULL, &err), BP_EPARSE);
        ck_assert_int_eq(bp_set_alloc_funcs(NULL, NULL), BP_OK);
        ck_assert_ptr_null(m);
        ck_assert_msg(strstr(err.message, ":1: NUL byte at offset 0"), "%s", err.message);
        ck_assert_uint_lt(tu_bytes, 1u << 20);
    }
}
END_TEST

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0->tv_nsec);
}

/* 100,000 columns, all requested (in reverse order), are found by binary
 * search over the sorted header: that costs less than 50 times reading the
 * same file for one column (plus 1 s), on any machine and under
 * valgrind.  Looking each name up by a pass over the header took 20 to
 * 52 s here, against 0.005 s for one column (5·10⁹ comparisons). */
START_TEST(test_csv_wide_header_lookup)
{
    enum { WIDE = 100000 };
    char **names = malloc(WIDE * sizeof *names);
    char *text = malloc((size_t)WIDE * 16);
    size_t len = 0;
    bp_matrix *m = NULL, *one = NULL;
    struct timespec t0;
    double t_one, t_all;
    const char *p;

    ck_assert_ptr_nonnull(names);
    ck_assert_ptr_nonnull(text);
    for (size_t j = 0; j < WIDE; j++)
        len += (size_t)sprintf(text + len, "c%zu%c", j, j + 1 < WIDE ? ',' : '\n');
    for (size_t j = 0; j < WIDE; j++)
        len += (size_t)sprintf(text + len, "%zu%c", j % 7, j + 1 < WIDE ? ',' : '\n');
    p = write_bytes("wide.csv", text, len);
    for (size_t k = 0; k < WIDE; k++) {
        names[k] = malloc(16);
        ck_assert_ptr_nonnull(names[k]);
        snprintf(names[k], 16, "c%zu", (size_t)WIDE - 1 - k);
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(bp_csv_read(p, (const char *const *)names, 1, &one, NULL, NULL), BP_OK);
    t_one = seconds_since(&t0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(bp_csv_read(p, (const char *const *)names, WIDE, &m, NULL, NULL), BP_OK);
    t_all = seconds_since(&t0);
    ck_assert_uint_eq(m->rows, 1);
    for (size_t k = 0; k < WIDE; k++)
        ck_assert_double_eq(m->data[k], (double)((WIDE - 1 - k) % 7));
    ck_assert_msg(t_all < 50.0 * t_one + 1.0, "all columns %.3f s, one column %.3f s", t_all,
                  t_one);
    bp_matrix_free(m);
    bp_matrix_free(one);
    for (size_t k = 0; k < WIDE; k++)
        free(names[k]);
    free(names);
    free(text);
}
END_TEST

START_TEST(test_csv_missing_file)
{
    const char *p = tpath("nosuch.csv");
    bp_matrix *m = (bp_matrix *)1;
    bp_error err;

    ck_assert_int_eq(bp_csv_read(p, ab, 2, &m, NULL, &err), BP_EIO);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(err.status, BP_EIO);
    ck_assert_ptr_nonnull(strstr(err.message, "nosuch.csv"));
    /* A directory opens but cannot be read. */
    ck_assert_int_eq(bp_csv_read(tmpdir, ab, 2, &m, NULL, &err), BP_EIO);
    ck_assert_ptr_null(m);
}
END_TEST

/* The header and a label column as text: quoted names with commas and
 * quotes, an empty name, an empty cell kept as "", CRLF and a BOM. */
START_TEST(test_csv_header_and_text)
{
    const char *p = write_text("labels.csv",
                               "\xEF\xBB\xBF,\"a,b\",species,\"say \"\"hi\"\"\"\r\n"
                               "1,2.5,setosa,x\r\n"
                               "2,3.5,\"virginica, tall\",y\r\n"
                               "3,4.5,,z\r\n");
    char **names = NULL, **cells = NULL;
    size_t n = 99;
    bp_error err;

    ck_assert_int_eq(bp_csv_header(p, &names, &n, &err), BP_OK);
    ck_assert_int_eq(err.status, BP_OK);
    ck_assert_uint_eq(n, 4);
    ck_assert_str_eq(names[0], "");
    ck_assert_str_eq(names[1], "a,b");
    ck_assert_str_eq(names[2], "species");
    ck_assert_str_eq(names[3], "say \"hi\"");
    ck_assert_ptr_null(names[4]);
    bp_csv_strings_free(names);

    ck_assert_int_eq(bp_csv_read_text(p, "species", &cells, &n, &err), BP_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(cells[0], "setosa");
    ck_assert_str_eq(cells[1], "virginica, tall");
    ck_assert_str_eq(cells[2], "");
    ck_assert_ptr_null(cells[3]);
    bp_csv_strings_free(cells);
    /* numbers come as written */
    ck_assert_int_eq(bp_csv_read_text(p, "a,b", &cells, &n, &err), BP_OK);
    ck_assert_str_eq(cells[2], "4.5");
    bp_csv_strings_free(cells);
}
END_TEST

START_TEST(test_csv_header_and_text_errors)
{
    const char *ok = write_text("t_ok.csv", "a,b\n1,x\n");
    const char *ragged = write_text("t_rag.csv", "a,b\n1,x\n2\n");
    const char *header_only = write_text("t_head.csv", "a,b\n");
    char **out = (char **)1;
    size_t n = 99;
    bp_error err;

    ck_assert_int_eq(bp_csv_read_text(ok, "c", &out, &n, &err), BP_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err.message, "no column named 'c'"));
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(bp_csv_read_text(ragged, "b", &out, &n, &err), BP_EPARSE);
    ck_assert_ptr_nonnull(strstr(err.message, "t_rag.csv:3: expected 2 fields"));
    ck_assert_int_eq(bp_csv_read_text(header_only, "a", &out, &n, &err), BP_EPARSE);
    ck_assert_ptr_nonnull(strstr(err.message, "no data rows"));
    /* a header alone is a header */
    ck_assert_int_eq(bp_csv_header(header_only, &out, &n, &err), BP_OK);
    ck_assert_uint_eq(n, 2);
    bp_csv_strings_free(out);
    ck_assert_int_eq(bp_csv_header(tpath("nosuch.csv"), &out, &n, &err), BP_EIO);
    ck_assert_ptr_nonnull(strstr(err.message, "nosuch.csv"));
    ck_assert_ptr_null(out);
    ck_assert_int_eq(bp_csv_header(write_text("t_empty.csv", "\n\n"), &out, &n, &err), BP_EPARSE);
    ck_assert_ptr_nonnull(strstr(err.message, "empty file"));
    bp_csv_strings_free(NULL);
}
END_TEST

START_TEST(test_csv_invalid_arguments)
{
    const char *p = write_text("ok.csv", "a,b\n1,2\n");
    const char *const with_null[] = { "a", NULL };
    bp_matrix *m = (bp_matrix *)1;
    bp_error err;

    ck_assert_int_eq(bp_csv_read(NULL, ab, 2, &m, NULL, &err), BP_EINVAL);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(err.status, BP_EINVAL);
    ck_assert_int_eq(bp_csv_read(p, NULL, 2, &m, NULL, &err), BP_EINVAL);
    ck_assert_int_eq(bp_csv_read(p, ab, 0, &m, NULL, &err), BP_EINVAL);
    ck_assert_int_eq(bp_csv_read(p, with_null, 2, &m, NULL, &err), BP_EINVAL);
    ck_assert_int_eq(bp_csv_read(p, ab, 2, NULL, NULL, NULL), BP_EINVAL);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* npy: hand-written files                                                   */
/* ------------------------------------------------------------------------ */

/* Assembles a .npy file: magic, version, header length, dict padded with
 * spaces and '\n' to a multiple of 64, then the data bytes. */
static const char *write_npy(const char *name, int major, const char *dict,
                             const void *data, size_t len)
{
    unsigned char buf[4096];
    size_t pre = major == 1 ? 10 : 12;
    size_t dl = strlen(dict);
    size_t total = pre + dl + 1, hlen;

    total += (64 - total % 64) % 64;
    hlen = total - pre;
    ck_assert_uint_le(total + len, sizeof buf);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    buf[8] = (unsigned char)(hlen & 0xff);
    buf[9] = (unsigned char)(hlen >> 8);
    if (major != 1)
        buf[10] = buf[11] = 0;
    memcpy(buf + pre, dict, dl);
    memset(buf + pre + dl, ' ', hlen - dl - 1);
    buf[total - 1] = '\n';
    memcpy(buf + total, data, len);
    return write_bytes(name, buf, total + len);
}

static bp_matrix *load_ok(const char *path)
{
    bp_matrix *m = NULL;
    bp_error err;
    bp_status st = bp_npy_load(path, &m, &err);

    ck_assert_msg(st == BP_OK, "%s: %s", bp_strerror(st), err.message);
    ck_assert_int_eq(err.status, BP_OK);
    ck_assert_ptr_nonnull(m);
    return m;
}

START_TEST(test_npy_load_f4)
{
    /* float32 1.5, -2.25, 3.1 (not exact in binary), 1e-3 little-endian */
    static const unsigned char d[] = {
        0x00, 0x00, 0xc0, 0x3f,  0x00, 0x00, 0x10, 0xc0,
        0x66, 0x66, 0x46, 0x40,  0x6f, 0x12, 0x83, 0x3a,
    };
    bp_matrix *m = load_ok(write_npy("f4.npy", 1,
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }",
        d, sizeof d));

    ck_assert_uint_eq(m->rows, 2);
    ck_assert_uint_eq(m->cols, 2);
    ck_assert_double_eq(bp_matrix_get(m, 0, 0), 1.5);
    ck_assert_double_eq(bp_matrix_get(m, 0, 1), -2.25);
    ck_assert_double_eq(bp_matrix_get(m, 1, 0), (double)3.1f);
    ck_assert_double_eq(bp_matrix_get(m, 1, 1), (double)1e-3f);
    bp_matrix_free(m);
}
END_TEST

START_TEST(test_npy_load_i8_1d)
{
    /* int64 -7, 42, 123456789012: a 1-D array is a 1 x n row vector. */
    static const unsigned char d[] = {
        0xf9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0x2a, 0, 0, 0, 0, 0, 0, 0,
        0x14, 0x1a, 0x99, 0xbe, 0x1c, 0, 0, 0,
    };
    bp_matrix *m = load_ok(write_npy("i8.npy", 1,
        "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }",
        d, sizeof d));

    ck_assert_uint_eq(m->rows, 1);
    ck_assert_uint_eq(m->cols, 3);
    ck_assert_double_eq(m->data[0], -7.0);
    ck_assert_double_eq(m->data[1], 42.0);
    ck_assert_double_eq(m->data[2], 123456789012.0);
    bp_matrix_free(m);
}
END_TEST

START_TEST(test_npy_load_small_ints_and_bool)
{
    static const unsigned char i4[] = { 0xfe, 0xff, 0xff, 0xff,
                                        0x39, 0x30, 0, 0 };  /* -2, 12345 */
    static const unsigned char u1[] = { 0, 200, 255 };
    static const unsigned char b1[] = { 1, 0, 1, 1 };
    bp_matrix *m = load_ok(write_npy("i4.npy", 1,
        "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 1), }",
        i4, sizeof i4));

    ck_assert_uint_eq(m->rows, 2);
    ck_assert_uint_eq(m->cols, 1);
    ck_assert_double_eq(m->data[0], -2.0);
    ck_assert_double_eq(m->data[1], 12345.0);
    bp_matrix_free(m);

    m = load_ok(write_npy("u1.npy", 1,
        "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 3), }",
        u1, sizeof u1));
    ck_assert_double_eq(m->data[1], 200.0);
    ck_assert_double_eq(m->data[2], 255.0);
    bp_matrix_free(m);

    m = load_ok(write_npy("b1.npy", 1,
        "{'descr': '|b1', 'fortran_order': False, 'shape': (2, 2), }",
        b1, sizeof b1));
    ck_assert_double_eq(m->data[0], 1.0);
    ck_assert_double_eq(m->data[1], 0.0);
    ck_assert_double_eq(m->data[3], 1.0);
    bp_matrix_free(m);
}
END_TEST

START_TEST(test_npy_load_fortran)
{
    /* [[1.5, 2.5, 3.5], [4.5, 5.5, 6.5]] stored column by column. */
    const double f8[] = { 1.5, 4.5, 2.5, 5.5, 3.5, 6.5 };
    const double want[] = { 1.5, 2.5, 3.5, 4.5, 5.5, 6.5 };
    /* int32 [[1, 2], [3, 4], [5, 6]] column by column: 1 3 5 2 4 6 */
    const int32_t i4[] = { 1, 3, 5, 2, 4, 6 };
    bp_matrix *m = load_ok(write_npy("f.npy", 1,
        "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }",
        f8, sizeof f8));

    ck_assert_uint_eq(m->rows, 2);
    ck_assert_uint_eq(m->cols, 3);
    for (size_t k = 0; k < 6; k++)
        ck_assert_double_eq(m->data[k], want[k]);
    bp_matrix_free(m);

    m = load_ok(write_npy("fi.npy", 1,
        "{'descr': '<i4', 'fortran_order': True, 'shape': (3, 2), }",
        i4, sizeof i4));
    ck_assert_uint_eq(m->rows, 3);
    ck_assert_uint_eq(m->cols, 2);
    for (size_t k = 0; k < 6; k++)
        ck_assert_double_eq(m->data[k], (double)(k + 1));
    bp_matrix_free(m);
}
END_TEST

START_TEST(test_npy_load_0d_and_big_endian_and_v2)
{
    const double x = 2.385;
    unsigned char be[8];
    bp_matrix *m = load_ok(write_npy("s.npy", 1,
        "{'descr': '<f8', 'fortran_order': False, 'shape': (), }",
        &x, sizeof x));

    ck_assert_uint_eq(m->rows, 1);
    ck_assert_uint_eq(m->cols, 1);
    ck_assert_double_eq(m->data[0], 2.385);
    bp_matrix_free(m);

    /* The same value as '>f8': the bytes reversed. */
    for (size_t k = 0; k < 8; k++)
        be[k] = ((const unsigned char *)&x)[7 - k];
    m = load_ok(write_npy("be.npy", 1,
        "{\"descr\": \">f8\", \"fortran_order\": False, \"shape\": (1, 1)}",
        be, sizeof be));
    ck_assert_double_eq(m->data[0], 2.385);
    bp_matrix_free(m);

    /* Version 2.0 (4-byte header length), keys in another order. */
    m = load_ok(write_npy("v2.npy", 2,
        "{'shape': (1,), 'fortran_order': False, 'descr': '<f8'}",
        &x, sizeof x));
    ck_assert_uint_eq(m->cols, 1);
    ck_assert_double_eq(m->data[0], 2.385);
    bp_matrix_free(m);
}
END_TEST

static bp_matrix *load_shape_ok(const char *path, bp_shape *shape)
{
    bp_matrix *m = NULL;
    bp_error err;
    bp_status st = bp_npy_load_shape(path, &m, shape, &err);

    ck_assert_msg(st == BP_OK, "%s: %s", bp_strerror(st), err.message);
    ck_assert_ptr_nonnull(m);
    return m;
}

static void expect_shape(const bp_shape *s, size_t rank, size_t d0, size_t d1,
                         size_t d2, size_t d3)
{
    const size_t want[BP_MAX_RANK] = {d0, d1, d2, d3};

    ck_assert_uint_eq(s->rank, rank);
    for (size_t i = 0; i < rank; i++)
        ck_assert_uint_eq(s->dim[i], want[i]);
}

START_TEST(test_npy_load_tensors)
{
    /* (2, 3, 4) in C order holding 0..23: the matrix view is 6 x 4. */
    double c3[24], f4[12], f3[6];
    int32_t i3[24];
    bp_shape sh;
    bp_matrix *m;

    for (size_t k = 0; k < 24; k++) {
        c3[k] = (double)k + 0.5;
        i3[k] = (int32_t)k - 7;
    }
    m = load_shape_ok(write_npy("c3.npy", 1,
        "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3, 4), }",
        c3, sizeof c3), &sh);
    expect_shape(&sh, 3, 2, 3, 4, 0);
    ck_assert_uint_eq(m->rows, 6);
    ck_assert_uint_eq(m->cols, 4);
    ck_assert_int_eq(memcmp(m->data, c3, sizeof c3), 0);
    bp_matrix_free(m);
    /* The old call loads the same file as its matrix view. */
    m = load_ok(tpath("c3.npy"));
    ck_assert_uint_eq(m->rows, 6);
    ck_assert_uint_eq(m->cols, 4);
    ck_assert_int_eq(memcmp(m->data, c3, sizeof c3), 0);
    bp_matrix_free(m);

    /* int32 (4, 3, 2) converted. */
    m = load_shape_ok(write_npy("i3.npy", 1,
        "{'descr': '<i4', 'fortran_order': False, 'shape': (4, 3, 2), }",
        i3, sizeof i3), &sh);
    expect_shape(&sh, 3, 4, 3, 2, 0);
    ck_assert_uint_eq(m->rows, 12);
    for (size_t k = 0; k < 24; k++)
        ck_assert_double_eq(m->data[k], (double)k - 7);
    bp_matrix_free(m);

    /* (2, 1, 3, 2) in Fortran order: element [a][b][c][d] sits at
     * a + 2*(b + 1*(c + 3*d)) in the file; give it the value of its
     * row-major offset ((a*1 + b)*3 + c)*2 + d. */
    for (size_t a = 0; a < 2; a++)
        for (size_t c = 0; c < 3; c++)
            for (size_t d = 0; d < 2; d++)
                f4[a + 2 * (c + 3 * d)] = (double)((a * 3 + c) * 2 + d);
    m = load_shape_ok(write_npy("f4d.npy", 1,
        "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 1, 3, 2), }",
        f4, sizeof f4), &sh);
    expect_shape(&sh, 4, 2, 1, 3, 2);
    ck_assert_uint_eq(m->rows, 6);
    ck_assert_uint_eq(m->cols, 2);
    for (size_t k = 0; k < 12; k++)
        ck_assert_double_eq(m->data[k], (double)k);
    bp_matrix_free(m);

    /* (2, 3, 1) in Fortran order: a single column in the matrix view, yet
     * not C order ([a][b] at a + 2*b). */
    for (size_t a = 0; a < 2; a++)
        for (size_t b = 0; b < 3; b++)
            f3[a + 2 * b] = (double)(a * 3 + b);
    m = load_shape_ok(write_npy("f3.npy", 1,
        "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3, 1), }",
        f3, sizeof f3), &sh);
    expect_shape(&sh, 3, 2, 3, 1, 0);
    for (size_t k = 0; k < 6; k++)
        ck_assert_double_eq(m->data[k], (double)k);
    bp_matrix_free(m);

    /* (5,) keeps rank 1; () is (1,). */
    m = load_shape_ok(write_npy("r1.npy", 1,
        "{'descr': '<f8', 'fortran_order': False, 'shape': (5,), }",
        c3, 5 * sizeof(double)), &sh);
    expect_shape(&sh, 1, 5, 0, 0, 0);
    ck_assert_uint_eq(m->rows, 1);
    ck_assert_uint_eq(m->cols, 5);
    bp_matrix_free(m);
    m = load_shape_ok(write_npy("r0.npy", 1,
        "{'descr': '<f8', 'fortran_order': False, 'shape': (), }",
        c3, sizeof(double)), &sh);
    expect_shape(&sh, 1, 1, 0, 0, 0);
    ck_assert_double_eq(m->data[0], 0.5);
    bp_matrix_free(m);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* npy: errors                                                               */
/* ------------------------------------------------------------------------ */

static void expect_npy_error(const char *path, bp_status want,
                             const char *needle)
{
    bp_matrix *m = (bp_matrix *)1;
    bp_error err;
    bp_status st = bp_npy_load(path, &m, &err);
    const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;

    ck_assert_msg(st == want, "%s: got %s (%s), want %s", name,
                  bp_strerror(st), err.message, bp_strerror(want));
    ck_assert_int_eq(err.status, want);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(err.message, name) != NULL, "'%s' lacks '%s'",
                  err.message, name);
    if (needle)
        ck_assert_msg(strstr(err.message, needle) != NULL, "'%s' lacks '%s'",
                      err.message, needle);
}

START_TEST(test_npy_load_errors)
{
    static const char good[] =
        "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }";
    const double d[4] = { 1.25, 2.5, 3.75, 5.0 };
    unsigned char raw[256];
    size_t len;
    FILE *f;

    /* A good file, then cut or damaged copies of it. */
    write_npy("good.npy", 1, good, d, sizeof d);
    f = fopen(tpath("good.npy"), "rb");
    ck_assert_ptr_nonnull(f);
    len = fread(raw, 1, sizeof raw, f);
    fclose(f);
    ck_assert_uint_eq(len, 128 + sizeof d);   /* 10 + 59 + 1 rounded up */

    expect_npy_error(write_bytes("trunc_data.npy", raw, len - 3), BP_EPARSE,
                     "truncated data");
    expect_npy_error(write_bytes("trunc_hdr.npy", raw, 40), BP_EPARSE,
                     "offset 40: truncated header");
    expect_npy_error(write_bytes("trunc_pre.npy", raw, 7), BP_EPARSE,
                     "offset 7: truncated header");
    expect_npy_error(write_bytes("empty.npy", raw, 0), BP_EPARSE,
                     "truncated header");
    raw[1] = 'n';
    expect_npy_error(write_bytes("magic.npy", raw, len), BP_EPARSE,
                     "offset 0: not a .npy file");
    raw[1] = 'N';
    raw[6] = 9;
    expect_npy_error(write_bytes("version.npy", raw, len), BP_EPARSE,
                     "version 9");
    raw[6] = 1;
    raw[len] = 0;
    expect_npy_error(write_bytes("trailing.npy", raw, len + 1), BP_EPARSE,
                     "after the data");

    /* Truncated inside the converting path: 2 of 4 int32 elements. */
    expect_npy_error(write_npy("trunc_i4.npy", 1,
        "{'descr': '<i4', 'fortran_order': False, 'shape': (4,), }", d, 10),
        BP_EPARSE, "truncated data");
    expect_npy_error(write_npy("list.npy", 1, "[1, 2]", d, 8), BP_EPARSE,
                     "offset 10: npy header: not a dict");
    expect_npy_error(write_npy("5d.npy", 1,
        "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1), }",
        d, 8), BP_EPARSE, "more than 4 dimensions");
    expect_npy_error(write_npy("c16.npy", 1,
        "{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }",
        d, 16), BP_EPARSE, "unsupported dtype '<c16'");
    expect_npy_error(write_npy("struct.npy", 1,
        "{'descr': [('x', '<f8')], 'fortran_order': False, 'shape': (1,), }",
        d, 8), BP_EPARSE, "structured");
    expect_npy_error(write_npy("nokey.npy", 1,
        "{'descr': '<f8', 'shape': (1,), }", d, 8), BP_EPARSE, "missing");
    expect_npy_error(write_npy("fo.npy", 1,
        "{'descr': '<f8', 'fortran_order': 0, 'shape': (1,), }", d, 8),
        BP_EPARSE, "fortran_order");
    expect_npy_error(tpath("nosuch.npy"), BP_EIO, "cannot open");
}
END_TEST

START_TEST(test_npy_invalid_arguments)
{
    bp_matrix *m = (bp_matrix *)1;
    bp_matrix bad = { 2, 2, NULL };
    bp_error err;

    ck_assert_int_eq(bp_npy_load(NULL, &m, &err), BP_EINVAL);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(bp_npy_load(tpath("x.npy"), NULL, NULL), BP_EINVAL);
    ck_assert_int_eq(bp_npy_save(NULL, &bad, &err), BP_EINVAL);
    ck_assert_int_eq(bp_npy_save(tpath("x.npy"), NULL, &err), BP_EINVAL);
    ck_assert_int_eq(bp_npy_save(tpath("x.npy"), &bad, &err), BP_EINVAL);
    ck_assert_int_eq(err.status, BP_EINVAL);
    ck_assert_uint_eq(count_dir_entries(), 0);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* npy: saving                                                               */
/* ------------------------------------------------------------------------ */

static bp_matrix *odd_matrix(size_t rows, size_t cols)
{
    bp_matrix *m = bp_matrix_alloc(rows, cols);

    ck_assert_ptr_nonnull(m);
    for (size_t k = 0; k < rows * cols; k++)
        m->data[k] = sin(1.0 + (double)k) * pow(10.0, (double)(k % 7) - 3.0);
    if (rows * cols > 2) {
        m->data[1] = -0.0;
        m->data[2] = 5e-324;   /* the smallest subnormal */
    }
    return m;
}

START_TEST(test_npy_round_trip)
{
    bp_matrix *m = odd_matrix(3, 5);
    bp_matrix *back;
    const char *p = tpath("rt.npy");
    unsigned char raw[512];
    size_t len, hlen;
    bp_error err;
    FILE *f;

    ck_assert_int_eq(bp_npy_save(p, m, &err), BP_OK);
    ck_assert_int_eq(err.status, BP_OK);
    back = load_ok(p);
    ck_assert_uint_eq(back->rows, 3);
    ck_assert_uint_eq(back->cols, 5);
    ck_assert_int_eq(memcmp(back->data, m->data, 15 * sizeof(double)), 0);
    bp_matrix_free(back);

    /* The header as numpy writes it. */
    f = fopen(p, "rb");
    ck_assert_ptr_nonnull(f);
    len = fread(raw, 1, sizeof raw, f);
    fclose(f);
    ck_assert_int_eq(memcmp(raw, "\x93NUMPY\x01\x00", 8), 0);
    hlen = raw[8] | (size_t)raw[9] << 8;
    ck_assert_uint_eq((10 + hlen) % 64, 0);
    ck_assert_uint_eq(len, 10 + hlen + 15 * sizeof(double));
    ck_assert_int_eq(raw[10 + hlen - 1], '\n');
    ck_assert_int_eq(memcmp(raw + 10,
                            "{'descr': '<f8', 'fortran_order': False, "
                            "'shape': (3, 5), }", 59), 0);
    ck_assert_uint_eq(count_dir_entries(), 1);   /* no temporary left */
    bp_matrix_free(m);
}
END_TEST

/* Saves ranks 1 to 4 and checks the bytes against the header numpy writes
 * for them (its tuples: "(5,)", "(2, 3, 4)"), then loads them back. */
START_TEST(test_npy_save_tensors)
{
    static const struct {
        bp_shape shape;
        const char *dict;
    } cases[] = {
        {{1, {5}}, "{'descr': '<f8', 'fortran_order': False, "
                   "'shape': (5,), }"},
        {{2, {3, 4}}, "{'descr': '<f8', 'fortran_order': False, "
                      "'shape': (3, 4), }"},
        {{3, {2, 3, 4}}, "{'descr': '<f8', 'fortran_order': False, "
                         "'shape': (2, 3, 4), }"},
        {{4, {2, 1, 3, 2}}, "{'descr': '<f8', 'fortran_order': False, "
                            "'shape': (2, 1, 3, 2), }"},
    };
    const char *p = tpath("t.npy");
    unsigned char raw[512];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const bp_shape *s = &cases[i].shape;
        size_t rows = 1, cols = s->dim[s->rank - 1], len, hlen;
        size_t dl = strlen(cases[i].dict);
        bp_matrix *m, *back;
        bp_shape got;
        bp_error err;
        FILE *f;

        for (size_t d = 0; d + 1 < s->rank; d++)
            rows *= s->dim[d];
        m = odd_matrix(rows, cols);
        ck_assert_int_eq(bp_npy_save_shape(p, m, s, &err), BP_OK);
        f = fopen(p, "rb");
        ck_assert_ptr_nonnull(f);
        len = fread(raw, 1, sizeof raw, f);
        fclose(f);
        hlen = raw[8] | (size_t)raw[9] << 8;
        ck_assert_uint_eq((10 + hlen) % 64, 0);
        ck_assert_uint_eq(len, 10 + hlen + rows * cols * sizeof(double));
        ck_assert_int_eq(memcmp(raw + 10, cases[i].dict, dl), 0);
        for (size_t k = 10 + dl; k + 1 < 10 + hlen; k++)
            ck_assert_int_eq(raw[k], ' ');
        ck_assert_int_eq(raw[10 + hlen - 1], '\n');
        ck_assert_int_eq(memcmp(raw + 10 + hlen, m->data,
                                rows * cols * sizeof(double)), 0);

        back = load_shape_ok(p, &got);
        expect_shape(&got, s->rank, s->dim[0], s->dim[1], s->dim[2],
                     s->dim[3]);
        ck_assert_uint_eq(back->rows, rows);
        ck_assert_uint_eq(back->cols, cols);
        bp_matrix_free(back);
        bp_matrix_free(m);
    }
    ck_assert_uint_eq(count_dir_entries(), 1);
}
END_TEST

/* A shape that m is not the view of, or no tensor, is refused and writes
 * nothing. */
START_TEST(test_npy_save_shape_mismatch)
{
    bp_matrix *m = odd_matrix(6, 4);
    const bp_shape wrong = {3, {2, 4, 3}}, rank5 = {5, {1, 1, 1, 1}};
    const bp_shape rank0 = {0, {0}};
    bp_error err;

    ck_assert_int_eq(bp_npy_save_shape(tpath("m.npy"), m, &wrong, &err),
                     BP_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "6x4"));
    ck_assert_ptr_nonnull(strstr(err.message, "2x4x3"));
    ck_assert_int_eq(bp_npy_save_shape(tpath("m.npy"), m, &rank5, &err),
                     BP_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "rank 5"));
    ck_assert_int_eq(bp_npy_save_shape(tpath("m.npy"), m, &rank0, &err),
                     BP_EINVAL);
    ck_assert_int_eq(bp_npy_save_shape(tpath("m.npy"), m, NULL, &err),
                     BP_EINVAL);
    ck_assert_uint_eq(count_dir_entries(), 0);
    bp_matrix_free(m);
}
END_TEST

START_TEST(test_npy_overwrite_and_empty)
{
    bp_matrix *a = odd_matrix(4, 2);
    bp_matrix *b = odd_matrix(1, 1);
    bp_matrix *e = bp_matrix_alloc(0, 3);
    bp_matrix *back;
    const char *p = tpath("ow.npy");
    struct stat st;

    ck_assert_int_eq(bp_npy_save(p, a, NULL), BP_OK);
    ck_assert_int_eq(chmod(p, 0640), 0);
    ck_assert_int_eq(bp_npy_save(p, b, NULL), BP_OK);
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0640);   /* mode kept */
    back = load_ok(p);
    ck_assert_uint_eq(back->rows, 1);
    ck_assert_uint_eq(back->cols, 1);
    ck_assert_double_eq(back->data[0], b->data[0]);
    bp_matrix_free(back);

    ck_assert_int_eq(bp_npy_save(p, e, NULL), BP_OK);
    back = load_ok(p);
    ck_assert_uint_eq(back->rows, 0);
    ck_assert_uint_eq(back->cols, 3);
    bp_matrix_free(back);
    ck_assert_uint_eq(count_dir_entries(), 1);
    bp_matrix_free(a);
    bp_matrix_free(b);
    bp_matrix_free(e);
}
END_TEST

/* Reads a whole small file into buf; its length. */
static size_t slurp(const char *path, unsigned char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    size_t n;

    ck_assert_ptr_nonnull(f);
    n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

START_TEST(test_npy_save_unwritable)
{
    static const char old[] = "old contents, not an npy file";
    bp_matrix *m = odd_matrix(2, 3);
    const char *p = write_text("keep.npy", old);
    unsigned char buf[256];
    bp_error err;

    /* A directory that does not exist. */
    ck_assert_int_eq(bp_npy_save(tpath("nodir/x.npy"), m, &err), BP_EIO);
    ck_assert_int_eq(err.status, BP_EIO);
    ck_assert_ptr_nonnull(strstr(err.message, "nodir/x.npy"));

    /* A read-only directory; root may write anyway, so only without it. */
    if (geteuid() != 0) {
        ck_assert_int_eq(chmod(tmpdir, 0500), 0);
        ck_assert_int_eq(bp_npy_save(p, m, &err), BP_EIO);
        ck_assert_ptr_nonnull(strstr(err.message, "keep.npy"));
        ck_assert_int_eq(chmod(tmpdir, 0700), 0);
        ck_assert_uint_eq(slurp(p, buf, sizeof buf), sizeof old - 1);
        ck_assert_int_eq(memcmp(buf, old, sizeof old - 1), 0);
    }
    bp_matrix_free(m);
}
END_TEST

START_TEST(test_npy_save_fails_midway)
{
    /* A file size limit makes the data write fail after the temporary file
     * exists (this works for root too): the old file must survive and the
     * temporary must be gone. */
    static const char old[] = "old contents";
    bp_matrix *m = odd_matrix(100, 100);    /* 80 kB > the 4 kB limit */
    const char *p = write_text("keep.npy", old);
    unsigned char buf[64];
    struct rlimit saved, small;
    void (*saved_handler)(int);
    bp_error err;
    bp_status st;

    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &saved), 0);
    small = saved;
    small.rlim_cur = 4096;
    saved_handler = signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
    st = bp_npy_save(p, m, &err);
    setrlimit(RLIMIT_FSIZE, &saved);
    signal(SIGXFSZ, saved_handler);

    ck_assert_int_eq(st, BP_EIO);
    ck_assert_int_eq(err.status, BP_EIO);
    ck_assert_ptr_nonnull(strstr(err.message, "keep.npy"));
    ck_assert_uint_eq(slurp(p, buf, sizeof buf), sizeof old - 1);
    ck_assert_int_eq(memcmp(buf, old, sizeof old - 1), 0);
    ck_assert_uint_eq(count_dir_entries(), 1);
    bp_matrix_free(m);
}
END_TEST

static Suite *io_suite(int have_weather)
{
    Suite *s = suite_create("io");
    TCase *tc = tcase_create("io");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    if (have_weather)
        tcase_add_test(tc, test_weather);
    tcase_add_test(tc, test_csv_crlf_and_ffill);
    tcase_add_test(tc, test_csv_ignores_the_program_locale);
    tcase_add_test(tc, test_csv_bom_no_final_newline_blank_tail);
    tcase_add_test(tc, test_csv_quotes_and_spaces);
    tcase_add_test(tc, test_csv_quoted_newline_keeps_line_numbers);
    tcase_add_test(tc, test_csv_long_line);
    tcase_add_test(tc, test_csv_skipped_column_not_parsed);
    tcase_add_test(tc, test_csv_errors);
    tcase_add_test(tc, test_csv_zero_files_refused_early);
    tcase_add_test(tc, test_csv_wide_header_lookup);
    tcase_add_test(tc, test_csv_missing_file);
    tcase_add_test(tc, test_csv_invalid_arguments);
    tcase_add_test(tc, test_csv_header_and_text);
    tcase_add_test(tc, test_csv_header_and_text_errors);
    tcase_add_test(tc, test_npy_load_f4);
    tcase_add_test(tc, test_npy_load_i8_1d);
    tcase_add_test(tc, test_npy_load_small_ints_and_bool);
    tcase_add_test(tc, test_npy_load_fortran);
    tcase_add_test(tc, test_npy_load_0d_and_big_endian_and_v2);
    tcase_add_test(tc, test_npy_load_tensors);
    tcase_add_test(tc, test_npy_load_errors);
    tcase_add_test(tc, test_npy_invalid_arguments);
    tcase_add_test(tc, test_npy_round_trip);
    tcase_add_test(tc, test_npy_save_tensors);
    tcase_add_test(tc, test_npy_save_shape_mismatch);
    tcase_add_test(tc, test_npy_overwrite_and_empty);
    tcase_add_test(tc, test_npy_save_unwritable);
    tcase_add_test(tc, test_npy_save_fails_midway);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    /* Without the weather table the rest runs, and a pass is a skip: not
     * everything was tested. */
    int have_weather = tu_weather_csv("check_io") != NULL;
    int rc = tu_run(io_suite(have_weather));

    return rc == EXIT_SUCCESS && !have_weather ? TU_EXIT_SKIP : rc;
}
