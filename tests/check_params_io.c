/* SPDX-License-Identifier: MIT */
/* Params files: exact round trip, the documented layout, and every bad
 * input refused with the file named and the graph left unchanged. */
#define _POSIX_C_SOURCE 200809L
#include "test_util.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char dir[256];
static char path[320];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/bp_params_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/model.bpp", dir);
}

static void teardown(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[600];
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

/* A 2-layer network's params: W1 3x4, b1 1x4, W2 4x1, b2 1x1 (names and
 * shapes may be changed to provoke mismatches). */
typedef struct net {
    bp_graph *g;
    bp_node *p[4];
} net;

static net make_net(const char *w1name, size_t hidden, uint64_t seed)
{
    net n;
    uint64_t s = seed;
    n.g = bp_graph_new();
    bp_node *x = bp_input(n.g, 5, 3, "x");
    n.p[0] = bp_param(n.g, 3, hidden, w1name);
    n.p[1] = bp_param(n.g, 1, hidden, "b1");
    n.p[2] = bp_param(n.g, hidden, 1, "W2");
    n.p[3] = bp_param(n.g, 1, 1, "b2");
    bp_dense(n.g, bp_relu(n.g, bp_dense(n.g, x, n.p[0], n.p[1])), n.p[2], n.p[3]);
    ck_assert_int_eq(bp_graph_status(n.g), BP_OK);
    for (int k = 0; k < 4; k++) {
        bp_matrix *v = bp_node_value(n.p[k]);
        tu_fill(v->data, v->rows * v->cols, &s, -3.0, 3.0);
    }
    return n;
}

/* Copies of all four params, to check that a failed load changed none. */
typedef struct snap {
    bp_matrix *m[4];
} snap;

static snap take(net *n)
{
    snap s;
    for (int k = 0; k < 4; k++)
        s.m[k] = bp_matrix_copy(bp_node_value(n->p[k]));
    return s;
}

static void assert_unchanged(net *n, snap *s)
{
    for (int k = 0; k < 4; k++) {
        ck_assert_double_eq(bp_matrix_max_abs_diff(bp_node_value(n->p[k]), s->m[k]), 0.0);
        bp_matrix_free(s->m[k]);
    }
}

static unsigned char *slurp(const char *p, size_t *size)
{
    FILE *f = fopen(p, "rb");
    unsigned char *buf = malloc(1 << 16);
    ck_assert_ptr_nonnull(f);
    *size = fread(buf, 1, 1 << 16, f);
    fclose(f);
    return buf;
}

static void spit(const char *p, const unsigned char *buf, size_t size)
{
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(buf, 1, size, f), size);
    fclose(f);
}

static size_t files_in_dir(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

START_TEST(round_trip_is_exact)
{
    net a = make_net("W1", 4, 101), b = make_net("W1", 4, 202);
    bp_error err;

    /* values that do not survive a decimal round trip */
    bp_node_value(a.p[3])->data[0] = 0.1 + 0.2;
    bp_node_value(a.p[0])->data[0] = -1e-310;   /* subnormal */
    ck_assert_int_eq(bp_params_save(a.g, path, &err), BP_OK);
    ck_assert_int_eq(bp_params_load(b.g, path, &err), BP_OK);
    for (int k = 0; k < 4; k++) {
        const bp_matrix *x = bp_node_value(a.p[k]), *y = bp_node_value(b.p[k]);
        ck_assert_mem_eq(x->data, y->data, x->rows * x->cols * sizeof(double));
    }
    /* only the file itself, no temporary left behind */
    ck_assert_uint_eq(files_in_dir(), 1);
    bp_graph_free(a.g);
    bp_graph_free(b.g);
}
END_TEST

/* The layout documented in bpgraph.h, read back byte by byte. */
START_TEST(layout_is_as_documented)
{
    net a = make_net("W1", 4, 7);
    size_t size;
    unsigned char *buf;
    uint64_t h = 0xcbf29ce484222325ULL, sum = 0;
    double first;
    uint64_t bits = 0;

    ck_assert_int_eq(bp_params_save(a.g, path, NULL), BP_OK);
    buf = slurp(path, &size);
    /* 16 header + records (4 + name + 16 + 8·entries) + 8 checksum:
     * W1 3x4: 4+2+16+96, b1: 4+2+16+32, W2 4x1: 4+2+16+32, b2: 4+2+16+8 */
    ck_assert_uint_eq(size, 16 + 118 + 54 + 54 + 30 + 8);
    ck_assert_mem_eq(buf, "BPPARAMS", 8);
    ck_assert_uint_eq(buf[8], 1);
    ck_assert_uint_eq(buf[9] | buf[10] | buf[11], 0);
    ck_assert_uint_eq(buf[12], 4);
    ck_assert_uint_eq(buf[16], 2);              /* name length */
    ck_assert_mem_eq(buf + 20, "W1", 2);
    ck_assert_uint_eq(buf[22], 3);              /* rows, u64 LE */
    ck_assert_uint_eq(buf[30], 4);              /* cols */
    for (int i = 7; i >= 0; i--)
        bits = (bits << 8) | buf[38 + i];
    memcpy(&first, &bits, sizeof first);
    ck_assert_double_eq(first, bp_node_value(a.p[0])->data[0]);
    for (size_t i = 0; i + 8 < size; i++) {   /* FNV-1a 64 */
        h ^= buf[i];
        h *= 0x100000001b3ULL;
    }
    for (int i = 7; i >= 0; i--)
        sum = (sum << 8) | buf[size - 8 + i];
    ck_assert_uint_eq(sum, h);
    free(buf);
    bp_graph_free(a.g);
}
END_TEST

/* Saving over an existing file replaces it whole. */
START_TEST(save_replaces_previous_file)
{
    net a = make_net("W1", 4, 1), b = make_net("W1", 4, 2), c = make_net("W1", 4, 3);
    ck_assert_int_eq(bp_params_save(a.g, path, NULL), BP_OK);
    ck_assert_int_eq(bp_params_save(b.g, path, NULL), BP_OK);
    ck_assert_int_eq(bp_params_load(c.g, path, NULL), BP_OK);
    ck_assert_double_eq(bp_matrix_max_abs_diff(bp_node_value(c.p[0]), bp_node_value(b.p[0])), 0);
    ck_assert_uint_eq(files_in_dir(), 1);
    bp_graph_free(a.g);
    bp_graph_free(b.g);
    bp_graph_free(c.g);
}
END_TEST

static int fail_mallocs;
static void *failing_malloc(size_t n)
{
    return fail_mallocs ? NULL : malloc(n);
}

/* A save that fails leaves the previous file as it was. */
START_TEST(failed_save_keeps_previous_file)
{
    net a = make_net("W1", 4, 1), b = make_net("W1", 4, 2);
    unsigned char *before, *after;
    size_t n1, n2;
    bp_error err;
    char bad[400];

    ck_assert_int_eq(bp_params_save(a.g, path, NULL), BP_OK);
    before = slurp(path, &n1);
    ck_assert_int_eq(bp_set_alloc_funcs(failing_malloc, free), BP_OK);
    fail_mallocs = 1;
    ck_assert_int_eq(bp_params_save(b.g, path, &err), BP_ENOMEM);
    fail_mallocs = 0;
    ck_assert_int_eq(bp_set_alloc_funcs(NULL, NULL), BP_OK);
    ck_assert_ptr_nonnull(strstr(err.message, path));
    after = slurp(path, &n2);
    ck_assert_uint_eq(n1, n2);
    ck_assert_mem_eq(before, after, n1);
    free(before);
    free(after);

    /* a directory that does not exist */
    snprintf(bad, sizeof bad, "%s/no/such/dir/m.bpp", dir);
    ck_assert_int_eq(bp_params_save(b.g, bad, &err), BP_EIO);
    ck_assert_ptr_nonnull(strstr(err.message, bad));
    ck_assert_uint_eq(files_in_dir(), 1);
    bp_graph_free(a.g);
    bp_graph_free(b.g);
}
END_TEST

/* Loads into a fresh network and expects status with the file name and
 * each of the words in the message; the params must be unchanged. */
static void expect_load_failure(const char *w1name, size_t hidden, bp_status status,
                                const char *word1, const char *word2)
{
    net n = make_net(w1name, hidden, 999);
    snap s = take(&n);
    bp_error err;

    ck_assert_int_eq(bp_params_load(n.g, path, &err), status);
    ck_assert_int_eq(err.status, status);
    ck_assert_msg(strstr(err.message, path), "no file name in: %s", err.message);
    ck_assert_msg(strstr(err.message, word1), "no '%s' in: %s", word1, err.message);
    if (word2)
        ck_assert_msg(strstr(err.message, word2), "no '%s' in: %s", word2, err.message);
    assert_unchanged(&n, &s);
    bp_graph_free(n.g);
}

/* A valid file, then its bytes, for the corruption tests. */
static unsigned char *saved(size_t *size)
{
    net a = make_net("W1", 4, 5);
    ck_assert_int_eq(bp_params_save(a.g, path, NULL), BP_OK);
    bp_graph_free(a.g);
    return slurp(path, size);
}

START_TEST(missing_file)
{
    expect_load_failure("W1", 4, BP_EIO, "cannot open", NULL);
}
END_TEST

START_TEST(truncated_file)
{
    size_t size;
    unsigned char *buf = saved(&size);
    /* inside the checksum, inside the last record, inside the header */
    size_t cuts[] = {size - 1, size - 8, size - 13, 40, 10, 0};

    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        spit(path, buf, cuts[i]);
        expect_load_failure("W1", 4, BP_EPARSE, "truncated", "offset");
    }
    free(buf);
}
END_TEST

START_TEST(wrong_magic)
{
    size_t size;
    unsigned char *buf = saved(&size);
    buf[2] = 'Q';
    spit(path, buf, size);
    expect_load_failure("W1", 4, BP_EPARSE, "magic", "offset 0");
    free(buf);
}
END_TEST

START_TEST(wrong_version)
{
    size_t size;
    unsigned char *buf = saved(&size);
    buf[8] = 2;
    spit(path, buf, size);
    expect_load_failure("W1", 4, BP_EPARSE, "version 2", "offset 8");
    free(buf);
}
END_TEST

START_TEST(checksum_mismatch)
{
    size_t size;
    unsigned char *buf = saved(&size);
    buf[60] ^= 0x10;   /* one bit of W1's data */
    spit(path, buf, size);
    expect_load_failure("W1", 4, BP_EPARSE, "checksum", "offset");
    free(buf);
}
END_TEST

START_TEST(trailing_bytes)
{
    size_t size;
    unsigned char *buf = saved(&size), *longer = calloc(size + 3, 1);
    memcpy(longer, buf, size);
    spit(path, longer, size + 3);
    expect_load_failure("W1", 4, BP_EPARSE, "offset", NULL);
    free(buf);
    free(longer);
}
END_TEST

START_TEST(shape_mismatch)
{
    free(saved(&(size_t){0}));
    expect_load_failure("W1", 5, BP_EDIM, "'W1'", "3x4");
}
END_TEST

START_TEST(name_mismatch)
{
    free(saved(&(size_t){0}));
    expect_load_failure("V1", 4, BP_ENOTFOUND, "'W1'", "'V1'");
}
END_TEST

START_TEST(count_mismatch)
{
    /* other values than the file's (seed 5), so a partial load would show */
    net a = make_net("W1", 4, 999);
    bp_error err;
    snap s;

    free(saved(&(size_t){0}));
    bp_param(a.g, 2, 2, "extra");
    s = take(&a);
    ck_assert_int_eq(bp_params_load(a.g, path, &err), BP_EDIM);
    ck_assert_ptr_nonnull(strstr(err.message, "4 params"));
    ck_assert_ptr_nonnull(strstr(err.message, path));
    assert_unchanged(&a, &s);
    bp_graph_free(a.g);
}
END_TEST

static Suite *params_suite(void)
{
    Suite *s = suite_create("params_io");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, round_trip_is_exact);
    tcase_add_test(tc, layout_is_as_documented);
    tcase_add_test(tc, save_replaces_previous_file);
    tcase_add_test(tc, failed_save_keeps_previous_file);
    tcase_add_test(tc, missing_file);
    tcase_add_test(tc, truncated_file);
    tcase_add_test(tc, wrong_magic);
    tcase_add_test(tc, wrong_version);
    tcase_add_test(tc, checksum_mismatch);
    tcase_add_test(tc, trailing_bytes);
    tcase_add_test(tc, shape_mismatch);
    tcase_add_test(tc, name_mismatch);
    tcase_add_test(tc, count_mismatch);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(params_suite());
}
