/* SPDX-License-Identifier: MIT */
/* Bad input, everywhere: every public function of <bpgraph.h> is tried with
 * NULL pointers, empty and mismatched shapes, nodes of another graph,
 * sizes whose byte count overflows, and non-finite data.  Each must answer
 * with a bp_status and a message (the graph's, or a bp_error's), never a
 * crash.
 *
 * The checks are split by area, one file each (check_badinput_graph.c,
 * _ops.c, _check.c, _io.c, _train.c).  Each area's table `covered` maps
 * its public functions to the check that tries them, and the tables are
 * themselves the list of tests run, one TCase per area.  The test
 * header_is_covered reads the public headers and fails when a public
 * function has no entry in any area, so a new function cannot go untested
 * silently.  every_status_is_provoked makes each bp_status code happen at
 * least once. */
#include "check_badinput.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ---- helpers the areas share (check_badinput.h) ---- */

bp_graph *new_graph(void)
{
    bp_graph *g = bp_graph_new();
    ck_assert_ptr_nonnull(g);
    return g;
}

int mentions(const char *msg, const char *part)
{
    return part == NULL || strstr(msg, part) != NULL;
}

const char *show(const char *part)
{
    return part ? part : "";
}

bp_node *filled_param(bp_graph *g, size_t rows, size_t cols, const char *name)
{
    bp_node *n = bp_param(g, rows, cols, name);
    bp_matrix *v;

    ck_assert_ptr_nonnull(n);
    v = bp_node_value(n);
    for (size_t k = 0; k < rows * cols; k++)
        v->data[k] = 0.3 + 0.17 * (double)k + (k % (cols + 1) == 0 ? 2.385 : 0.0);
    return n;
}

char tmp_dir[256];

const char *temp_file(const char *name, const char *text, size_t len)
{
    static char path[512];
    FILE *f;

    if (!tmp_dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(tmp_dir, sizeof tmp_dir, "%s/bp_badinput.XXXXXX", t && t[0] ? t : "/tmp");
        ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
    }
    snprintf(path, sizeof path, "%s/%s", tmp_dir, name);
    f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
    return path;
}

void remove_temp(const char *path)
{
    unlink(path);
    rmdir(tmp_dir);
    tmp_dir[0] = '\0';
}

size_t silly_rows, silly_cols;

static bp_status silly_shape(bp_op_args *a)
{
    a->out->rows = silly_rows;
    a->out->cols = silly_cols;
    return BP_OK;
}

static bp_status silly_run(bp_op_args *a)
{
    (void)a;
    return BP_OK;
}

const bp_op silly_op = {
    .name = "silly", .doc = "a shape rule that says anything", .n_in = 1,
    .shape = silly_shape, .forward = silly_run, .backward = silly_run,
};

bp_node *constant_leaf(bp_graph *g, size_t rows, size_t cols, const char *name)
{
    static const double data[16] = {2.385};
    return bp_constant(g, rows, cols, data, name);
}

bp_error *fresh(bp_error *err)
{
    memset(err, 0, sizeof *err);
    return err;
}

void assert_values(bp_node *n, const double *want)
{
    const bp_matrix *v = bp_node_value(n);
    for (size_t k = 0; k < v->rows * v->cols; k++)
        ck_assert_msg(memcmp(&v->data[k], &want[k], sizeof(double)) == 0,
                      "'%s' entry %zu changed: %g, was %g", bp_node_name(n), k, v->data[k], want[k]);
}

/* ---- the areas' tables, run as one list ---- */

static const struct covered_area *const areas[] = {
    &badinput_graph, &badinput_ops, &badinput_check, &badinput_io, &badinput_train,
};

#define N_AREAS (sizeof areas / sizeof areas[0])

/* Entry i of the areas' tables taken in order. */
static const struct covered *covered_entry(size_t i)
{
    for (size_t a = 0; a < N_AREAS; a++) {
        if (i < areas[a]->n)
            return &areas[a]->entries[i];
        i -= areas[a]->n;
    }
    return NULL;
}

START_TEST(bad_input)
{
    const struct covered *c = covered_entry((size_t)_i);

    /* Names the function in the log, should it crash. */
    ck_assert_ptr_nonnull(c);
    printf("bad input: %s\n", c->name);
    fflush(stdout);
    c->check(c->name);
}
END_TEST

static size_t n_covered(void)
{
    size_t n = 0;

    for (size_t a = 0; a < N_AREAS; a++)
        n += areas[a]->n;
    return n;
}

static int is_covered(const char *name)
{
    for (size_t i = 0; i < n_covered(); i++)
        if (strcmp(covered_entry(i)->name, name) == 0)
            return 1;
    return 0;
}

/* The public headers: the umbrella and the sub-headers it includes. */
static const char *const public_headers[] = {
    "bpgraph.h", "bpgraph/base.h", "bpgraph/matrix.h", "bpgraph/op.h", "bpgraph/graph.h",
    "bpgraph/ops.h", "bpgraph/node.h", "bpgraph/check.h", "bpgraph/train.h", "bpgraph/io.h",
    "bpgraph/blocks.h",
};

/* The public functions are the headers' lines that start a declaration
 * (a lower-case type, not a typedef) with bp_<name>( before any other
 * parenthesis.  Returns how many it found; appends the uncovered ones to
 * missing. */
static size_t scan_header(const char *path, char *missing, size_t missing_size, size_t *n_missing)
{
    char line[512];
    size_t found = 0;
    FILE *f = fopen(path, "r");

    ck_assert_msg(f != NULL, "cannot open %s", path);
    while (fgets(line, sizeof line, f)) {
        char *paren = strchr(line, '('), *start;
        if (line[0] < 'a' || line[0] > 'z' || strncmp(line, "typedef", 7) == 0 || !paren)
            continue;
        start = paren;
        while (start > line && (start[-1] == '_' || (start[-1] >= 'a' && start[-1] <= 'z') ||
                                (start[-1] >= '0' && start[-1] <= '9')))
            start--;
        if (strncmp(start, "bp_", 3) != 0)
            continue;
        *paren = '\0';
        found++;
        if (!is_covered(start)) {
            (*n_missing)++;
            strncat(missing, " ", missing_size - strlen(missing) - 1);
            strncat(missing, start, missing_size - strlen(missing) - 1);
        }
    }
    fclose(f);
    return found;
}

START_TEST(header_is_covered)
{
    const char *srcdir = getenv("top_srcdir");
    char path[1024], missing[2048] = "";
    size_t found = 0, n_missing = 0;

    ck_assert_msg(srcdir != NULL, "top_srcdir is not set (run through make check)");
    for (size_t i = 0; i < sizeof public_headers / sizeof *public_headers; i++) {
        snprintf(path, sizeof path, "%s/include/%s", srcdir, public_headers[i]);
        found += scan_header(path, missing, sizeof missing, &n_missing);
    }
    ck_assert_msg(n_missing == 0, "public functions with no bad-input check:%s", missing);
    /* Every entry names a function of the headers, so the table does not
     * keep a stale name either. */
    ck_assert_msg(found == n_covered(), "headers declare %zu functions, tables have %zu",
                  found, n_covered());
}
END_TEST

/* ---- every status code, provoked on purpose ---- */

static bp_status provoke_enomem(char *msg, size_t size)
{
    bp_graph *g = new_graph();
    bp_node *x = bp_input(g, SIZE_MAX / 4, 4, "x");
    bp_status st = bp_graph_status(g);
    ck_assert_ptr_null(x);
    snprintf(msg, size, "%s", bp_graph_message(g));
    bp_graph_free(g);
    return st;
}

static bp_status provoke_einval(char *msg, size_t size)
{
    bp_graph *g = new_graph();
    bp_node *x = filled_param(g, 2, 2, "x");
    bp_status st;
    ck_assert_ptr_null(bp_matmul(g, NULL, x));
    st = bp_graph_status(g);
    snprintf(msg, size, "%s", bp_graph_message(g));
    bp_graph_free(g);
    return st;
}

static bp_status provoke_edim(char *msg, size_t size)
{
    bp_graph *g = new_graph();
    bp_node *a = filled_param(g, 10, 3, "a"), *b = filled_param(g, 4, 1, "b");
    bp_status st;
    ck_assert_ptr_null(bp_matmul(g, a, b));
    st = bp_graph_status(g);
    snprintf(msg, size, "%s", bp_graph_message(g));
    bp_graph_free(g);
    return st;
}

static bp_status provoke_estate(char *msg, size_t size)
{
    bp_graph *g = new_graph();
    bp_node *loss = bp_sum(g, filled_param(g, 2, 2, "w"));
    bp_status st = bp_backward(g, loss, NULL);
    snprintf(msg, size, "%s", bp_graph_message(g));
    bp_graph_free(g);
    return st;
}

static bp_status provoke_enumeric(char *msg, size_t size)
{
    bp_graph *g = new_graph();
    bp_node *w = filled_param(g, 2, 2, "w");
    bp_node *l = bp_log(g, bp_sub(g, w, w));   /* log 0 = -inf */
    bp_status st;
    bp_graph_set_anomaly_mode(g, 1);
    st = bp_forward(g, l);
    snprintf(msg, size, "%s", bp_graph_message(g));
    bp_graph_free(g);
    return st;
}

static bp_status provoke_esingular(char *msg, size_t size)
{
    const double a[4] = {1, 2, 2, 4}, b[2] = {2.385, 1};
    bp_graph *g = new_graph();
    bp_node *x = bp_solve(g, bp_constant(g, 2, 2, a, "A"), bp_constant(g, 2, 1, b, "B"));
    bp_status st = bp_forward(g, x);
    snprintf(msg, size, "%s", bp_graph_message(g));
    bp_graph_free(g);
    return st;
}

static bp_status provoke_eio(char *msg, size_t size)
{
    bp_matrix *m;
    bp_error err;
    bp_status st = bp_npy_load("/nonexistent/params.npy", &m, &err);
    snprintf(msg, size, "%s", err.message);
    return st;
}

static bp_status provoke_eparse(char *msg, size_t size)
{
    static const char *const cols[] = {"a"};
    const char *path = temp_file("parse.csv", "a\nabc\n", 6);
    bp_matrix *m;
    bp_error err;
    bp_status st = bp_csv_read(path, cols, 1, &m, NULL, &err);
    snprintf(msg, size, "%s", err.message);
    remove_temp(path);
    return st;
}

static bp_status provoke_enotfound(char *msg, size_t size)
{
    static const char *const cols[] = {"rain"};
    const char *path = temp_file("nf.csv", "a\n1\n", 4);
    bp_matrix *m;
    bp_error err;
    bp_status st = bp_csv_read(path, cols, 1, &m, NULL, &err);
    snprintf(msg, size, "%s", err.message);
    remove_temp(path);
    return st;
}

static bp_status (*const provoke[BP_STATUS_COUNT])(char *, size_t) = {
    [BP_ENOMEM] = provoke_enomem,
    [BP_EINVAL] = provoke_einval,
    [BP_EDIM] = provoke_edim,
    [BP_ESTATE] = provoke_estate,
    [BP_ENUMERIC] = provoke_enumeric,
    [BP_ESINGULAR] = provoke_esingular,
    [BP_EIO] = provoke_eio,
    [BP_EPARSE] = provoke_eparse,
    [BP_ENOTFOUND] = provoke_enotfound,
};

/* A status added to the enum without a way to provoke it fails here. */
START_TEST(every_status_is_provoked)
{
    for (int s = 1; s < BP_STATUS_COUNT; s++) {
        char msg[512] = "";
        ck_assert_msg(provoke[s] != NULL, "no call provokes status %d (%s)", s,
                      bp_strerror((bp_status)s));
        ck_assert_msg(provoke[s](msg, sizeof msg) == (bp_status)s, "status %d (%s): got another: %s",
                      s, bp_strerror((bp_status)s), msg);
        ck_assert_msg(msg[0] != '\0', "status %d came with no message", s);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("badinput");
    TCase *tc = tcase_create("badinput");
    size_t start = 0;

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, header_is_covered);
    tcase_add_test(tc, every_status_is_provoked);
    suite_add_tcase(s, tc);
    /* One TCase per area, over its entries (CK_RUN_CASE=io runs one). */
    for (size_t a = 0; a < N_AREAS; a++) {
        TCase *area = tcase_create(areas[a]->area);
        tcase_set_timeout(area, 60);
        tcase_add_loop_test(area, bad_input, (int)start, (int)(start + areas[a]->n));
        suite_add_tcase(s, area);
        start += areas[a]->n;
    }
    return tu_run(s);
}

