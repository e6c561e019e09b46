/* SPDX-License-Identifier: MIT */
/* Params files: exact round trip, the documented layout, and every bad
 * input refused with the file named and the graph left unchanged. */
#define _POSIX_C_SOURCE 200809L
#include "test_util.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
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
    bp_rng s = tu_rng(seed);
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

/* Shorter than a header and not a params file: bad magic, not a
 * truncation, and the check reads no further than the magic's 8 bytes
 * (it compared 10 with the 9-byte "BPPARAMS" once, found by the fuzzer;
 * tests/fuzz/corpus/params/bad_magic_10_bytes.bin). */
START_TEST(short_wrong_magic)
{
    spit(path, (const unsigned char *)"BPPABRPPAR", 10);
    expect_load_failure("W1", 4, BP_EPARSE, "magic", "offset 0");
    spit(path, (const unsigned char *)"BPPXR", 5);
    expect_load_failure("W1", 4, BP_EPARSE, "magic", "offset 0");
    spit(path, (const unsigned char *)"BPPAR", 5);   /* a cut magic */
    expect_load_failure("W1", 4, BP_EPARSE, "truncated", "offset 5");
    spit(path, (const unsigned char *)"BPPARAMS\1", 9);
    expect_load_failure("W1", 4, BP_EPARSE, "truncated", "offset 9");
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

/* Rewrites the FNV-1a 64 checksum of a crafted file, so that what is
 * tested is the check after it. */
static void reseal(unsigned char *buf, size_t size)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i + 8 < size; i++) {
        h ^= buf[i];
        h *= 0x100000001b3ULL;
    }
    for (int i = 0; i < 8; i++)
        buf[size - 8 + i] = (unsigned char)(h >> (8 * i));
}

/* A name with a NUL inside is named as such, not as "'W', the graph's is
 * 'W'"; a 0-row record is not called a truncation. */
START_TEST(crafted_names_and_shapes_named)
{
    size_t size;
    unsigned char *buf = saved(&size);

    buf[21] = '\0';   /* "W1" → "W\0" */
    reseal(buf, size);
    spit(path, buf, size);
    expect_load_failure("W1", 4, BP_EPARSE, "name with a NUL byte at offset 21", "'W1'");
    free(buf);
    buf = saved(&size);
    memset(buf + 22, 0, 8);   /* W1's rows */
    reseal(buf, size);
    spit(path, buf, size);
    expect_load_failure("W1", 4, BP_EPARSE, "is 0x4: a param has at least one row", NULL);
    free(buf);
}
END_TEST

/* Success clears err, as every other reader does. */
START_TEST(load_clears_err)
{
    net a = make_net("W1", 4, 7);
    bp_error err = {BP_EIO, "left over"};

    ck_assert_int_eq(bp_params_save(a.g, path, NULL), BP_OK);
    ck_assert_int_eq(bp_params_load(a.g, path, &err), BP_OK);
    ck_assert_int_eq(err.status, BP_OK);
    ck_assert_str_eq(err.message, "");
    bp_graph_free(a.g);
}
END_TEST

/* A 2 GB file of zero bytes and /dev/zero are refused at offset 0 from
 * their first bytes: nothing near their size is allocated (before, the
 * whole file was read first: 67 s and 4.2 GB, and /dev/zero until memory
 * ran out; Check's timeout fails this test then). */
START_TEST(zero_files_refused_early)
{
    const char *paths[2] = {path, "/dev/zero"};
    net n = make_net("W1", 4, 3);
    bp_error err;
    FILE *f = fopen(path, "wb");

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(ftruncate(fileno(f), (off_t)2 << 30), 0);   /* sparse */
    fclose(f);
    for (int i = 0; i < 2; i++) {
        tu_bytes = 0;
        ck_assert_int_eq(bp_set_alloc_funcs(tu_failing_malloc, tu_counting_free), BP_OK);
        ck_assert_int_eq(bp_params_load(n.g, paths[i], &err), BP_EPARSE);
        ck_assert_int_eq(bp_set_alloc_funcs(NULL, NULL), BP_OK);
        ck_assert_msg(strstr(err.message, "bad magic at offset 0"), "%s", err.message);
        ck_assert_uint_lt(tu_bytes, 1u << 20);
    }
    bp_graph_free(n.g);
}
END_TEST

/* A file longer than the graph's params file cannot be one: it is read
 * no further than that (a valid file with 2 GB of zero bytes after it:
 * under 1 MiB allocated), and a larger graph's file still names the first
 * param that differs. */
START_TEST(longer_file_not_read_through)
{
    net n = make_net("W1", 4, 3), big = make_net("W1", 5, 4);
    bp_error err;
    FILE *f;

    ck_assert_int_eq(bp_params_save(n.g, path, NULL), BP_OK);
    f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(ftruncate(fileno(f), (off_t)2 << 30), 0);   /* sparse */
    fclose(f);
    tu_bytes = 0;
    ck_assert_int_eq(bp_set_alloc_funcs(tu_failing_malloc, tu_counting_free), BP_OK);
    ck_assert_int_eq(bp_params_load(n.g, path, &err), BP_EPARSE);
    ck_assert_int_eq(bp_set_alloc_funcs(NULL, NULL), BP_OK);
    ck_assert_msg(strstr(err.message, "longer than the"), "%s", err.message);
    ck_assert_uint_lt(tu_bytes, 1u << 20);

    ck_assert_int_eq(bp_params_save(big.g, path, NULL), BP_OK);
    ck_assert_int_eq(bp_params_load(n.g, path, &err), BP_EDIM);
    ck_assert_msg(strstr(err.message, "param 'W1' at offset 16 is 3x5, the graph's is 3x4"), "%s",
                  err.message);
    bp_graph_free(n.g);
    bp_graph_free(big.g);
}
END_TEST

/* A valid 250-byte file name saves: the temporary's name is cut to fit
 * NAME_MAX (before, path.tmp.XXXXXX was 261 bytes: ENAMETOOLONG). */
START_TEST(long_file_name_saves)
{
    net a = make_net("W1", 4, 11), b = make_net("W1", 4, 12);
    char name[251], longpath[600];

    memset(name, 'm', 250);
    name[250] = '\0';
    snprintf(longpath, sizeof longpath, "%s/%s", dir, name);
    ck_assert_int_eq(bp_params_save(a.g, longpath, NULL), BP_OK);
    ck_assert_int_eq(bp_params_save(a.g, longpath, NULL), BP_OK);
    ck_assert_int_eq(bp_params_load(b.g, longpath, NULL), BP_OK);
    ck_assert_double_eq(bp_matrix_max_abs_diff(bp_node_value(b.p[0]), bp_node_value(a.p[0])), 0);
    ck_assert_uint_eq(files_in_dir(), 1);
    bp_graph_free(a.g);
    bp_graph_free(b.g);
}
END_TEST

static void touch(const char *name)
{
    char p[600];
    FILE *f;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    fputs("a save that never finished", f);
    fclose(f);
}

static int exists(const char *name)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

/* The next save removes what an earlier save of the same path left when
 * its process was killed before the rename (.model.bpp.tmp-PID-XXXXXX of a
 * process that has ended), and nothing else: not a temporary of a running
 * process, of this one, of another file, nor a file of another pattern. */
START_TEST(next_save_removes_a_killed_saves_temporary)
{
    net a = make_net("W1", 4, 13);
    pid_t dead = fork();
    char stale[64], mine[64], live[64], other[64];

    ck_assert_int_ge(dead, 0);
    if (dead == 0)
        _exit(0);
    ck_assert_int_eq(waitpid(dead, NULL, 0), dead);
    snprintf(stale, sizeof stale, ".model.bpp.tmp-%d-Ab3dEf", (int)dead);
    snprintf(mine, sizeof mine, ".model.bpp.tmp-%d-Ab3dEf", (int)getpid());
    snprintf(live, sizeof live, ".model.bpp.tmp-%d-Ab3dEf", (int)getppid());
    snprintf(other, sizeof other, ".other.bpp.tmp-%d-Ab3dEf", (int)dead);
    touch(stale);
    touch(mine);
    touch(live);
    touch(other);
    touch("model.bpp.tmp.Ab3dEf");
    ck_assert_int_eq(bp_params_save(a.g, path, NULL), BP_OK);
    ck_assert_msg(!exists(stale), "%s is left", stale);
    ck_assert(exists(mine) && exists(live) && exists(other) && exists("model.bpp.tmp.Ab3dEf"));
    ck_assert_uint_eq(files_in_dir(), 5);
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
    tcase_add_test(tc, short_wrong_magic);
    tcase_add_test(tc, wrong_version);
    tcase_add_test(tc, checksum_mismatch);
    tcase_add_test(tc, trailing_bytes);
    tcase_add_test(tc, shape_mismatch);
    tcase_add_test(tc, name_mismatch);
    tcase_add_test(tc, count_mismatch);
    tcase_add_test(tc, crafted_names_and_shapes_named);
    tcase_add_test(tc, load_clears_err);
    tcase_add_test(tc, zero_files_refused_early);
    tcase_add_test(tc, longer_file_not_read_through);
    tcase_add_test(tc, long_file_name_saves);
    tcase_add_test(tc, next_save_removes_a_killed_saves_temporary);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(params_suite());
}
