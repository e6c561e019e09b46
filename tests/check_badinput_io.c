/* SPDX-License-Identifier: MIT */
/* Bad input for files and pictures (io.h): CSV, .npy, parameter files,
 * Graphviz and the chain rule as text. */
#include "check_badinput.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>


/* CSV: missing arguments, a missing file, a directory, a missing column,
 * and malformed contents, each with a message naming the file. */
static void check_csv(const char *name)
{
    static const char good[] = "a,b\n1,2.385\n";
    static const char *const cols[] = {"b", "a"};
    static const char *const nullcol[] = {"a", NULL};
    static const char *const missing[] = {"a", "zz"};
    struct { const char *text; size_t len; } bad[] = {
        {"", 0}, {"a,b\n", 4}, {"a,b\n1\n", 6}, {"a,b\n1,x\n", 8},
        {"a,b\n1,\"2\n", 9}, {"a,b\n1,2\0\n", 9}, {"a,b\n,2\n", 7}, {"a,b\n1,1e999\n", 12},
    };
    bp_matrix *out = (bp_matrix *)&out;   /* must be set to NULL */
    size_t filled = 7;
    bp_error err;
    const char *path;

    (void)name;
    ck_assert_int_eq(bp_csv_read(NULL, cols, 2, &out, &filled, &err), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "NULL");
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(filled, 0);
    ck_assert_int_eq(bp_csv_read("x.csv", NULL, 2, &out, NULL, &err), BP_EINVAL);
    ck_assert_int_eq(bp_csv_read("x.csv", cols, 0, &out, NULL, &err), BP_EINVAL);
    ck_assert_int_eq(bp_csv_read("x.csv", cols, 2, NULL, NULL, &err), BP_EINVAL);
    ck_assert_int_eq(bp_csv_read("x.csv", nullcol, 2, &out, NULL, &err), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "columns[1]");
    ck_assert_int_eq(bp_csv_read(NULL, cols, 2, &out, NULL, NULL), BP_EINVAL);

    ck_assert_int_eq(bp_csv_read("/nonexistent/dir/x.csv", cols, 2, &out, NULL, &err), BP_EIO);
    expect_error_struct(err, BP_EIO, "/nonexistent/dir/x.csv");
    ck_assert_int_eq(bp_csv_read("/", cols, 2, &out, NULL, &err), BP_EIO);
    expect_error_struct(err, BP_EIO, "/");

    path = temp_file("good.csv", good, sizeof good - 1);
    ck_assert_int_eq(bp_csv_read(path, missing, 2, &out, NULL, &err), BP_ENOTFOUND);
    expect_error_struct(err, BP_ENOTFOUND, "'zz'");
    ck_assert_int_eq(bp_csv_read(path, cols, 2, &out, &filled, &err), BP_OK);
    ck_assert_double_eq(out->data[0], 2.385);
    bp_matrix_free(out);
    remove_temp(path);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        path = temp_file("bad.csv", bad[i].text, bad[i].len);
        ck_assert_msg(bp_csv_read(path, cols, 2, &out, &filled, &err) == BP_EPARSE,
                      "case %zu: %s", i, err.message);
        expect_error_struct(err, BP_EPARSE, path);
        ck_assert_ptr_null(out);
        ck_assert_uint_eq(filled, 0);
        remove_temp(path);
    }
}

/* CSV as text: missing arguments, a missing file, a missing column and a
 * ragged row, each with a message naming the file; outputs cleared. */
static void check_csv_text(const char *name)
{
    static const char good[] = "a,b\nx,2.385\n";
    static const char ragged[] = "a,b\nx\n";
    char **out = (char **)&out;   /* must be set to NULL */
    size_t n = 7;
    bp_error err;
    const char *path;

    (void)name;
    ck_assert_int_eq(bp_csv_header(NULL, &out, &n, &err), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "NULL");
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(bp_csv_header("x.csv", NULL, &n, &err), BP_EINVAL);
    ck_assert_int_eq(bp_csv_header("x.csv", &out, NULL, NULL), BP_EINVAL);
    ck_assert_int_eq(bp_csv_read_text("x.csv", NULL, &out, &n, &err), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "NULL");
    ck_assert_int_eq(bp_csv_read_text("x.csv", "a", NULL, &n, &err), BP_EINVAL);
    ck_assert_int_eq(bp_csv_read_text("x.csv", "a", &out, NULL, NULL), BP_EINVAL);
    ck_assert_int_eq(bp_csv_header("/nonexistent/dir/x.csv", &out, &n, &err), BP_EIO);
    expect_error_struct(err, BP_EIO, "/nonexistent/dir/x.csv");
    ck_assert_int_eq(bp_csv_read_text("/", "a", &out, &n, &err), BP_EIO);
    expect_error_struct(err, BP_EIO, "/");

    path = temp_file("text.csv", good, sizeof good - 1);
    ck_assert_int_eq(bp_csv_read_text(path, "zz", &out, &n, &err), BP_ENOTFOUND);
    expect_error_struct(err, BP_ENOTFOUND, "'zz'");
    ck_assert_ptr_null(out);
    ck_assert_int_eq(bp_csv_read_text(path, "a", &out, &n, &err), BP_OK);
    ck_assert_str_eq(out[0], "x");
    bp_csv_strings_free(out);
    bp_csv_strings_free(NULL);
    remove_temp(path);
    path = temp_file("ragged.csv", ragged, sizeof ragged - 1);
    ck_assert_int_eq(bp_csv_read_text(path, "a", &out, &n, &err), BP_EPARSE);
    expect_error_struct(err, BP_EPARSE, path);
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(n, 0);
    remove_temp(path);
}

/* The largest block the library asked for. */
static size_t largest;

static void *largest_malloc(size_t size)
{
    if (size > largest)
        largest = size;
    return malloc(size);
}

/* .npy: missing arguments, a missing file, bad headers, shapes whose byte
 * count overflows, truncated data; saving bad matrices and to nowhere. */
static void check_npy(const char *name)
{
    static const char *const headers[] = {
        "{'descr': '<f8', 'fortran_order': False, 'shape': (18446744073709551615, 2), }",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (1152921504606846976, 1), }",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999999, 1), }",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }",   /* no data */
        "{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1), }",
        "{'descr': '<f8', 'fortran_order': maybe, 'shape': (1,), }",
        "{'descr': '<f8', 'shape': (1,), }",
        "not a dict",
    };
    double d[4] = {1, 2.385, NAN, INFINITY};
    bp_matrix m = {2, 2, d}, nodata = {2, 2, NULL}, huge = {SIZE_MAX / 2, 4, d};
    bp_matrix *out = (bp_matrix *)&out;
    bp_error err;
    char file[256];
    const char *path;

    (void)name;
    ck_assert_int_eq(bp_npy_load(NULL, &out, &err), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, NULL);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(bp_npy_load("x.npy", NULL, &err), BP_EINVAL);
    ck_assert_int_eq(bp_npy_load("x.npy", NULL, NULL), BP_EINVAL);
    ck_assert_int_eq(bp_npy_load("/nonexistent/x.npy", &out, &err), BP_EIO);
    expect_error_struct(err, BP_EIO, "/nonexistent/x.npy");
    ck_assert_int_eq(bp_npy_load("/", &out, &err), BP_EIO);
    path = temp_file("short.npy", "\x93NUMPY", 6);
    ck_assert_int_eq(bp_npy_load(path, &out, &err), BP_EPARSE);
    expect_error_struct(err, BP_EPARSE, path);
    remove_temp(path);
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        size_t len = strlen(headers[i]), total = 10 + len + 1;
        bp_status st;
        memcpy(file, "\x93NUMPY\x01\x00", 8);
        file[8] = (char)((len + 1) & 0xff);
        file[9] = (char)((len + 1) >> 8);
        memcpy(file + 10, headers[i], len);
        file[10 + len] = '\n';
        path = temp_file("h.npy", file, total);
        st = bp_npy_load(path, &out, &err);
        ck_assert_msg(st == BP_EPARSE || st == BP_ENOMEM, "header %zu: %d %s", i, st, err.message);
        expect_error_struct(err, st, path);
        ck_assert_ptr_null(out);
        remove_temp(path);
    }

    /* A header claiming 8 TB over no data: an error before any allocation
     * of that size. */
    {
        const char *hdr = "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000, 1000), }";
        size_t len = strlen(hdr);
        memcpy(file, "\x93NUMPY\x01\x00", 8);
        file[8] = (char)((len + 1) & 0xff);
        file[9] = (char)((len + 1) >> 8);
        memcpy(file + 10, hdr, len);
        file[10 + len] = '\n';
        memcpy(file + 11 + len, "12345678", 8);
        path = temp_file("claims.npy", file, 11 + len + 8);
        ck_assert_int_eq(bp_set_alloc_funcs(largest_malloc, free), BP_OK);
        largest = 0;
        ck_assert_int_eq(bp_npy_load(path, &out, &err), BP_EPARSE);
        ck_assert_int_eq(bp_set_alloc_funcs(NULL, NULL), BP_OK);
        expect_error_struct(err, BP_EPARSE, "truncated data: 8 of 8000000000000 bytes");
        ck_assert_uint_lt(largest, 1 << 20);
        ck_assert_ptr_null(out);
        remove_temp(path);
    }

    ck_assert_int_eq(bp_npy_save(NULL, &m, &err), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, NULL);
    ck_assert_int_eq(bp_npy_save("x.npy", NULL, &err), BP_EINVAL);
    ck_assert_int_eq(bp_npy_save("x.npy", &nodata, &err), BP_EINVAL);
    ck_assert_int_eq(bp_npy_save("x.npy", &huge, &err), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "overflow");
    ck_assert_int_eq(bp_npy_save("/nonexistent/dir/x.npy", &m, &err), BP_EIO);
    expect_error_struct(err, BP_EIO, "/nonexistent/dir/x.npy");
    /* Non-finite data round-trips: NaN and inf are values, not errors. */
    path = temp_file("nan.npy", "", 0);
    ck_assert_int_eq(bp_npy_save(path, &m, &err), BP_OK);
    ck_assert_int_eq(bp_npy_load(path, &out, &err), BP_OK);
    ck_assert(isnan(out->data[2]) && isinf(out->data[3]));
    bp_matrix_free(out);
    remove_temp(path);
}

/* .npy with shapes: the checks above through the new calls, and a NULL or
 * impossible shape. */
static void check_npy_shape(const char *name)
{
    double d[4] = {1, 2, 3, 4};
    bp_matrix m = {2, 2, d}, nodata = {2, 2, NULL};
    bp_matrix *out = (bp_matrix *)&out;
    const bp_shape s22 = {2, {2, 2}}, s5 = {5, {1, 2, 2, 1}};
    const bp_shape s0 = {0, {0}}, s41 = {2, {4, 1}};
    const bp_shape huge = {3, {SIZE_MAX / 2, 4, 2}};
    bp_shape sh = {7, {7, 7, 7, 7}};
    bp_error err;
    const char *path;

    (void)name;
    ck_assert_int_eq(bp_npy_load_shape(NULL, &out, &sh, &err), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "bp_npy_load_shape");
    ck_assert_ptr_null(out);
    out = (bp_matrix *)&out;
    ck_assert_int_eq(bp_npy_load_shape("x.npy", &out, NULL, &err), BP_EINVAL);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(bp_npy_load_shape("x.npy", NULL, &sh, NULL), BP_EINVAL);
    ck_assert_int_eq(bp_npy_load_shape("/nonexistent/x.npy", &out, &sh, &err),
                     BP_EIO);
    expect_error_struct(err, BP_EIO, "/nonexistent/x.npy");
    ck_assert_uint_eq(sh.rank, 7);   /* untouched on error */

    ck_assert_int_eq(bp_npy_save_shape(NULL, &m, &s22, &err), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "bp_npy_save_shape");
    ck_assert_int_eq(bp_npy_save_shape("x.npy", NULL, &s22, &err), BP_EINVAL);
    ck_assert_int_eq(bp_npy_save_shape("x.npy", &nodata, &s22, &err),
                     BP_EINVAL);
    ck_assert_int_eq(bp_npy_save_shape("x.npy", &m, NULL, &err), BP_EINVAL);
    ck_assert_int_eq(bp_npy_save_shape("x.npy", &m, &s0, &err), BP_EINVAL);
    ck_assert_int_eq(bp_npy_save_shape("x.npy", &m, &s5, &err), BP_EINVAL);
    ck_assert_int_eq(bp_npy_save_shape("x.npy", &m, &s41, &err), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "4x1");
    ck_assert_int_eq(bp_npy_save_shape("x.npy", &m, &huge, &err), BP_EINVAL);
    ck_assert_int_eq(bp_npy_save_shape("/nonexistent/dir/x.npy", &m, &s22,
                                       &err), BP_EIO);
    expect_error_struct(err, BP_EIO, "/nonexistent/dir/x.npy");

    path = temp_file("s.npy", "", 0);
    ck_assert_int_eq(bp_npy_save_shape(path, &m, &s22, &err), BP_OK);
    ck_assert_int_eq(bp_npy_load_shape(path, &out, &sh, &err), BP_OK);
    ck_assert_uint_eq(sh.rank, 2);
    ck_assert_double_eq(out->data[3], 4);
    bp_matrix_free(out);
    remove_temp(path);
}

/* ---- parameter files ---- */

static uint64_t fnv1a64(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static void put_le(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* The file's bytes with the checksum recomputed, so the reader gets past it. */
static void fix_sum(unsigned char *buf, size_t len)
{
    put_le(buf + len - 8, fnv1a64(buf, len - 8), 8);
}

static bp_graph *params_graph(const char *w_name, size_t w_rows, size_t w_cols, int with_b)
{
    bp_graph *g = new_graph();
    ck_assert_ptr_nonnull(bp_input(g, 2, w_rows, "x"));
    filled_param(g, w_rows, w_cols, w_name);
    if (with_b)
        filled_param(g, 1, w_cols, "b");
    return g;
}

static void check_params_files(const char *name)
{
    bp_graph *g = params_graph("w", 2, 3, 1), *other;
    bp_node *w = bp_graph_node(g, 1), *b = bp_graph_node(g, 2);
    unsigned char good[256], buf[300];
    char path[512], dir[300];
    double w0[6], b0[3];
    size_t len;
    bp_error err;
    FILE *f;
    struct { const char *what; size_t len; bp_status st; const char *part; } cases[] = {
        {"empty", 0, BP_EPARSE, "truncated at offset 0"},
        {"short", 10, BP_EPARSE, "truncated"},
        {"magic", 0, BP_EPARSE, "bad magic at offset 0"},
        {"garbage", 0, BP_EPARSE, "bad magic"},
        {"version", 0, BP_EPARSE, "version 3 at offset 8"},
        {"cut", 0, BP_EPARSE, "offset"},
        {"flipped", 0, BP_EPARSE, "checksum mismatch"},
        {"trailing", 0, BP_EPARSE, "unexpected bytes"},
        {"count", 0, BP_EPARSE, "truncated"},
        {"name length", 0, BP_EPARSE, "truncated"},
        {"rows", 0, BP_EPARSE, "truncated"},
        {"zero rows", 0, BP_EPARSE, "record 0 (at offset 16) has a 0 dimension"},
        {"rank", 0, BP_EPARSE, "record 0 (at offset 16) has rank 5"},
        {"renamed", 0, BP_ENOTFOUND, "named 'v', the graph's is 'w'"},
        {"reshaped", 0, BP_EDIM, "param 'w' at offset 16 is 3x2 in the file, 2x3 in the graph"},
        {"recounted", 0, BP_EDIM, "holds 1 params at offset 12, the graph has 2"},
    };

    (void)name;
    memcpy(w0, bp_node_value(w)->data, sizeof w0);
    memcpy(b0, bp_node_value(b)->data, sizeof b0);
    snprintf(path, sizeof path, "%s", temp_file("p.bin", "", 0));
    snprintf(dir, sizeof dir, "%s", tmp_dir);

    /* Missing arguments. */
    ck_assert_int_eq(bp_params_save(NULL, path, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "params_save");
    ck_assert_int_eq(bp_params_save(g, NULL, fresh(&err)), BP_EINVAL);
    expect_both(g, err, BP_EINVAL, "path");
    ck_assert_int_eq(bp_params_save(g, "", fresh(&err)), BP_EINVAL);
    expect_both(g, err, BP_EINVAL, "path");
    ck_assert_int_eq(bp_params_save(g, NULL, NULL), BP_EINVAL);
    expect_graph_only(g, BP_EINVAL, "path");
    ck_assert_int_eq(bp_params_load(NULL, path, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "params_load");
    ck_assert_int_eq(bp_params_load(g, NULL, fresh(&err)), BP_EINVAL);
    expect_both(g, err, BP_EINVAL, "path");
    ck_assert_int_eq(bp_params_load(g, "", NULL), BP_EINVAL);
    expect_graph_only(g, BP_EINVAL, "path");

    /* Nowhere to write or read: a missing directory, a directory. */
    ck_assert_int_eq(bp_params_save(g, "/nonexistent/dir/p.bin", fresh(&err)), BP_EIO);
    expect_both(g, err, BP_EIO, "/nonexistent/dir/p.bin");
    ck_assert_int_eq(bp_params_save(g, dir, fresh(&err)), BP_EIO);   /* rename over a directory */
    expect_both(g, err, BP_EIO, dir);
    ck_assert_int_eq(bp_params_load(g, "/nonexistent/dir/p.bin", fresh(&err)), BP_EIO);
    expect_both(g, err, BP_EIO, "/nonexistent/dir/p.bin");
    ck_assert_int_eq(bp_params_load(g, dir, fresh(&err)), BP_EIO);
    expect_both(g, err, BP_EIO, dir);

    /* A good file, then damaged copies of it and files of other graphs;
     * each is refused with the file named and g unchanged. */
    ck_assert_int_eq(bp_params_save(g, path, fresh(&err)), BP_OK);
    f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    len = fread(good, 1, sizeof good, f);
    fclose(f);
    /* records: name length, name, rank, dims, values */
    ck_assert_uint_eq(len, 16 + (4 + 1 + 4 + 16 + 48) + (4 + 1 + 4 + 16 + 24) + 8);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *what = cases[i].what;
        size_t n = len;
        memcpy(buf, good, len);
        if (strcmp(what, "empty") == 0 || strcmp(what, "short") == 0) {
            n = cases[i].len;
        } else if (strcmp(what, "magic") == 0) {
            buf[0] = 'X';
        } else if (strcmp(what, "garbage") == 0) {
            for (size_t k = 0; k < n; k++)
                buf[k] = (unsigned char)(k * 131 + 7);
        } else if (strcmp(what, "version") == 0) {
            put_le(buf + 8, 3, 4);
        } else if (strcmp(what, "cut") == 0) {
            n = len - 9;
        } else if (strcmp(what, "flipped") == 0) {
            buf[50] ^= 1;   /* a value's byte */
        } else if (strcmp(what, "trailing") == 0) {
            memset(buf + len, 0, 8);
            n = len + 8;
            fix_sum(buf, n);
        } else if (strcmp(what, "count") == 0) {
            put_le(buf + 12, UINT32_MAX, 4);
            fix_sum(buf, n);
        } else if (strcmp(what, "name length") == 0) {
            put_le(buf + 16, UINT32_MAX, 4);
            fix_sum(buf, n);
        } else if (strcmp(what, "rows") == 0) {
            put_le(buf + 25, (uint64_t)1 << 62, 8);   /* bytes overflow size_t */
            fix_sum(buf, n);
        } else if (strcmp(what, "zero rows") == 0) {
            put_le(buf + 25, 0, 8);
            fix_sum(buf, n);
        } else if (strcmp(what, "rank") == 0) {
            put_le(buf + 21, 5, 4);
            fix_sum(buf, n);
        } else if (strcmp(what, "renamed") == 0) {
            buf[20] = 'v';
            fix_sum(buf, n);
        }
        if (strcmp(what, "reshaped") == 0 || strcmp(what, "recounted") == 0) {
            other = strcmp(what, "reshaped") == 0 ? params_graph("w", 3, 2, 1)
                                                   : params_graph("w", 2, 3, 0);
            /* values unlike g's, so a partial load would show */
            bp_node_value(bp_graph_node(other, 1))->data[0] = -7.0;
            ck_assert_int_eq(bp_params_save(other, path, NULL), BP_OK);
            bp_graph_free(other);
        } else {
            f = fopen(path, "wb");
            ck_assert_ptr_nonnull(f);
            ck_assert_uint_eq(fwrite(buf, 1, n, f), n);
            ck_assert_int_eq(fclose(f), 0);
        }
        ck_assert_msg(bp_params_load(g, path, fresh(&err)) == cases[i].st, "%s: %d %s", what,
                      err.status, err.message);
        expect_error_struct(err, cases[i].st, path);
        expect_both(g, err, cases[i].st, cases[i].part);
        ck_assert_int_eq(bp_params_load(g, path, NULL), cases[i].st);
        expect_graph_only(g, cases[i].st, path);
        assert_values(w, w0);
        assert_values(b, b0);
    }
    /* A graph with no params against a file with two. */
    ck_assert_int_eq(bp_params_save(g, path, NULL), BP_OK);
    other = new_graph();
    ck_assert_int_eq(bp_params_load(other, path, fresh(&err)), BP_EDIM);
    expect_both(other, err, BP_EDIM, "the graph has 0");
    bp_graph_free(other);

    /* Non-finite values are values: they round-trip. */
    bp_node_value(w)->data[1] = NAN;
    bp_node_value(b)->data[2] = -INFINITY;
    ck_assert_int_eq(bp_params_save(g, path, NULL), BP_OK);
    bp_node_value(w)->data[1] = 0;
    bp_node_value(b)->data[2] = 0;
    ck_assert_int_eq(bp_params_load(g, path, fresh(&err)), BP_OK);
    ck_assert(isnan(bp_node_value(w)->data[1]));
    ck_assert(isinf(bp_node_value(b)->data[2]));
    expect_graph_error(g, BP_OK, NULL);
    bp_graph_free(g);
    remove_temp(path);
}

/* ---- pictures ---- */

/* A stream that refuses writes: a file opened for reading. */
static FILE *read_only_stream(char *path, size_t size)
{
    FILE *f;
    snprintf(path, size, "%s", temp_file("ro.txt", "x", 1));
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    return f;
}

static void check_pictures(const char *name)
{
    bp_graph *g = new_graph(), *other = new_graph();
    bp_node *x = bp_input(g, 2, 3, "x"), *w = filled_param(g, 3, 1, "w1");
    bp_node *loss = bp_sum(g, bp_matmul(g, x, w));
    bp_node *alien = filled_param(other, 1, 1, "alien");
    char path[512], buf[16];
    size_t needed = 0;
    bp_error err;
    FILE *f = tmpfile(), *ro;

    (void)name;
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(loss);
    /* DOT to a FILE: no graph, a node of another graph, no FILE, a FILE
     * that refuses writes. */
    ck_assert_int_eq(bp_dot_write(NULL, NULL, 0, f, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "graph is NULL");
    ck_assert_int_eq(bp_dot_write(g, alien, 1, f, fresh(&err)), BP_EINVAL);
    expect_both(g, err, BP_EINVAL, "another graph");
    ck_assert_int_eq(bp_dot_write(g, loss, 0, NULL, fresh(&err)), BP_EINVAL);
    expect_both(g, err, BP_EINVAL, "FILE is NULL");
    ck_assert_int_eq(bp_dot_write(g, loss, 0, NULL, NULL), BP_EINVAL);
    expect_graph_only(g, BP_EINVAL, "FILE is NULL");
    ro = read_only_stream(path, sizeof path);
    ck_assert_int_eq(bp_dot_write(g, loss, 1, ro, fresh(&err)), BP_EIO);
    expect_both(g, err, BP_EIO, "write failed");
    fclose(ro);
    remove_temp(path);
    /* Whole graph, any backward value, before any forward: fine. */
    ck_assert_int_eq(bp_dot_write(g, NULL, 0, f, NULL), BP_OK);
    ck_assert_int_eq(bp_dot_write(g, loss, -7, f, NULL), BP_OK);

    /* DOT to a path: no path, no graph, a foreign node, a missing
     * directory, a full device. */
    ck_assert_int_eq(bp_dot_save(g, loss, 0, NULL, fresh(&err)), BP_EINVAL);
    expect_both(g, err, BP_EINVAL, "path is NULL");
    ck_assert_int_eq(bp_dot_save(NULL, NULL, 0, "x.dot", fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "graph is NULL");
    ck_assert_int_eq(bp_dot_save(g, alien, 0, "x.dot", fresh(&err)), BP_EINVAL);
    expect_both(g, err, BP_EINVAL, "another graph");
    ck_assert_int_eq(bp_dot_save(g, loss, 0, "/nonexistent/dir/g.dot", fresh(&err)), BP_EIO);
    expect_both(g, err, BP_EIO, "/nonexistent/dir/g.dot");
    if (access("/dev/full", W_OK) == 0) {
        ck_assert_int_eq(bp_dot_save(g, loss, 1, "/dev/full", fresh(&err)), BP_EIO);
        expect_both(g, err, BP_EIO, "/dev/full");
    }
    snprintf(path, sizeof path, "%s", temp_file("g.dot", "", 0));
    ck_assert_int_eq(bp_dot_save(g, loss, 1, path, fresh(&err)), BP_OK);
    remove_temp(path);

    /* Chains: NULL graph or nodes, a foreign node, an unknown format. */
    ck_assert_int_eq(bp_grad_chain(NULL, loss, w, BP_CHAIN_TEXT, buf, sizeof buf, &needed,
                                   fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "NULL");
    ck_assert_int_eq(bp_grad_chain(g, NULL, w, BP_CHAIN_TEXT, buf, sizeof buf, NULL, fresh(&err)),
                     BP_EINVAL);
    expect_both(g, err, BP_EINVAL, "NULL");
    ck_assert_int_eq(bp_grad_chain(g, loss, NULL, BP_CHAIN_TEXT, buf, sizeof buf, NULL, NULL),
                     BP_EINVAL);
    expect_graph_only(g, BP_EINVAL, "NULL");
    ck_assert_int_eq(bp_grad_chain(g, loss, alien, BP_CHAIN_LATEX, buf, sizeof buf, NULL,
                                   fresh(&err)), BP_EINVAL);
    expect_both(g, err, BP_EINVAL, "another graph");
    ck_assert_int_eq(bp_grad_chain(g, loss, w, (bp_chain_format)7, buf, sizeof buf, NULL,
                                   fresh(&err)), BP_EINVAL);
    expect_both(g, err, BP_EINVAL, "unknown format 7");
    ck_assert_int_eq(bp_grad_chain(g, loss, w, (bp_chain_format)-1, buf, sizeof buf, NULL,
                                   fresh(&err)), BP_EINVAL);
    expect_both(g, err, BP_EINVAL, "unknown format -1");
    /* Buffers: none, one byte, too short: BP_OK, terminated, full length
     * in needed. */
    ck_assert_int_eq(bp_grad_chain(g, loss, w, BP_CHAIN_TEXT, NULL, 0, &needed, NULL), BP_OK);
    ck_assert_uint_gt(needed, sizeof buf);
    ck_assert_int_eq(bp_grad_chain(g, loss, w, BP_CHAIN_TEXT, NULL, 100, NULL, NULL), BP_OK);
    buf[0] = 'z';
    ck_assert_int_eq(bp_grad_chain(g, loss, w, BP_CHAIN_TEXT, buf, 1, NULL, NULL), BP_OK);
    ck_assert_str_eq(buf, "");
    ck_assert_int_eq(bp_grad_chain(g, loss, w, BP_CHAIN_LATEX, buf, sizeof buf, &needed, NULL),
                     BP_OK);
    ck_assert_uint_eq(strlen(buf), sizeof buf - 1);
    ck_assert_uint_gt(needed, sizeof buf);
    /* No gradient path (an input; loss below wrt): "= 0". */
    ck_assert_int_eq(bp_grad_chain(g, loss, x, BP_CHAIN_TEXT, NULL, 0, &needed, NULL), BP_OK);
    ck_assert_int_eq(bp_grad_chain(g, w, loss, BP_CHAIN_TEXT, NULL, 0, &needed, NULL), BP_OK);

    ck_assert_int_eq(bp_grad_chain_write(g, loss, w, BP_CHAIN_TEXT, NULL, fresh(&err)), BP_EINVAL);
    expect_both(g, err, BP_EINVAL, "FILE is NULL");
    ck_assert_int_eq(bp_grad_chain_write(NULL, loss, w, BP_CHAIN_TEXT, f, fresh(&err)), BP_EINVAL);
    expect_error_struct(err, BP_EINVAL, "NULL");
    ck_assert_int_eq(bp_grad_chain_write(g, alien, w, BP_CHAIN_TEXT, f, fresh(&err)), BP_EINVAL);
    expect_both(g, err, BP_EINVAL, "another graph");
    ck_assert_int_eq(bp_grad_chain_write(g, loss, w, (bp_chain_format)2, f, fresh(&err)), BP_EINVAL);
    expect_both(g, err, BP_EINVAL, "unknown format");
    ro = read_only_stream(path, sizeof path);
    ck_assert_int_eq(bp_grad_chain_write(g, loss, w, BP_CHAIN_TEXT, ro, fresh(&err)), BP_EIO);
    expect_both(g, err, BP_EIO, "write failed");
    fclose(ro);
    remove_temp(path);
    ck_assert_int_eq(bp_grad_chain_write(g, loss, w, BP_CHAIN_LATEX, f, NULL), BP_OK);
    fclose(f);
    /* Each failure above was recorded in g and cleared; other, whose node
     * was foreign to g, was never touched. */
    expect_graph_error(g, BP_OK, NULL);
    expect_graph_error(other, BP_OK, NULL);
    bp_graph_free(other);
    bp_graph_free(g);
}

/* ---- the table: this area's public functions, and the check that tries each ---- */

static const struct covered covered[] = {
    {"bp_csv_read", check_csv},
    {"bp_csv_header", check_csv_text},
    {"bp_csv_read_text", check_csv_text},
    {"bp_csv_strings_free", check_csv_text},
    {"bp_npy_load", check_npy},
    {"bp_npy_save", check_npy},
    {"bp_npy_load_shape", check_npy_shape},
    {"bp_npy_save_shape", check_npy_shape},
    {"bp_params_save", check_params_files},
    {"bp_params_load", check_params_files},
    {"bp_dot_write", check_pictures},
    {"bp_dot_save", check_pictures},
    {"bp_grad_chain", check_pictures},
    {"bp_grad_chain_write", check_pictures},
};

const struct covered_area badinput_io = {"io", covered, sizeof covered / sizeof covered[0]};
