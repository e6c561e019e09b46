/* SPDX-License-Identifier: MIT */
/* tools/train's load stage: which columns to use, the rows as numbers (and
 * labels as classes), the split, and the inputs standardised on its
 * training part. */
#define _GNU_SOURCE 1   /* strndup */
#include "cli.h"
#include "train.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The index of the header field named name, or n_header. */
static size_t header_index(const run *r, const char *name)
{
    size_t h = 0;
    while (h < r->n_header && strcmp(r->header[h], name) != 0)
        h++;
    return h;
}

static void list_columns(const run *r, FILE *f)
{
    for (size_t h = 0; h < r->n_header; h++)
        fprintf(f, "%s'%s'", h ? ", " : "", r->header[h]);
    fputc('\n', f);
}

/* The column to predict, and the task. 0, 1 or 2 (a usage error). */
static int choose_task(run *r)
{
    const options *o = r->o;

    if (!o->target && !o->label) {
        fprintf(stderr, "%s: %s: name the column to predict: --target COL (a number: regression) "
                "or --label COL (a class: classification); its columns are:\n  ", cli_name(), o->data);
        list_columns(r, stderr);
        fprintf(stderr, "Try '%s --help' for more information.\n", cli_name());
        return 2;
    }
    r->column = o->label ? o->label : o->target;
    if (header_index(r, r->column) == r->n_header) {
        fprintf(stderr, "%s: %s: no column named '%s'; its columns are:\n  ", cli_name(), o->data, r->column);
        list_columns(r, stderr);
        return 1;
    }
    r->task = o->label ? TASK_LABEL : o->classes ? TASK_CHANGE : TASK_REGRESS;
    r->classify = r->task != TASK_REGRESS;
    /* "tomorrow = today": a target named <col>_tomorrow with <col> in the file */
    if (o->target) {
        static char base[256];
        size_t len = strlen(o->target), suffix = strlen("_tomorrow");
        if (len > suffix && len - suffix < sizeof base &&
            !strcmp(o->target + len - suffix, "_tomorrow")) {
            memcpy(base, o->target, len - suffix);
            base[len - suffix] = '\0';
            if (header_index(r, base) < r->n_header)
                r->base_name = base;
        }
    }
    if (r->task == TASK_CHANGE && !r->base_name)
        return cli_usage_error("--classes classifies the change of a target <col>_tomorrow from a "
                           "column <col>, and '%s' is no such target of %s; to classify by a "
                           "label column, use --label COL", o->target, o->data);
    return 0;
}

/* The input columns: those named, or every numeric column but the one to
 * predict (a note lists the others). */
static int choose_inputs(run *r)
{
    const options *o = r->o;
    int noted = 0;

    if (o->n_inputs) {
        for (size_t j = 0; j < o->n_inputs; j++) {
            r->in_names[j] = strndup(o->input[j].name, o->input[j].len);
            if (!r->in_names[j])
                return out_of_memory();
            r->n_in++;
        }
        return 0;
    }
    for (size_t h = 0; h < r->n_header; h++) {
        const char *name = r->header[h];
        const char *cols[1] = {name};
        bp_matrix *m;
        bp_error err;
        bp_status st;

        if (!strcmp(name, r->column) || header_index(r, name) != h)
            continue;   /* the predicted column, or a repeated name */
        st = bp_csv_read(o->data, cols, 1, &m, NULL, &err);
        bp_matrix_free(m);
        if (st == BP_EPARSE) {
            if (!o->quiet)
                fprintf(stderr, "%s%s'%s'", noted++ ? ", " : "note: not numeric, so not inputs: ",
                        "", name);
            continue;
        }
        if (st != BP_OK)
            return lib_error(&err);
        if (r->n_in == MAX_INPUTS) {
            fprintf(stderr, "%s: %s: more than %d numeric columns; choose the inputs with --inputs\n",
                    cli_name(), o->data, MAX_INPUTS);
            return 1;
        }
        r->in_names[r->n_in] = strdup(name);
        if (!r->in_names[r->n_in++])
            return out_of_memory();
    }
    if (noted)
        fputc('\n', stderr);
    if (r->n_in == 0) {
        fprintf(stderr, "%s: %s: no numeric column besides '%s' to use as an input\n", cli_name(), o->data,
                r->column);
        return 1;
    }
    return 0;
}

/* Labels compare as numbers when every one is a number, else as text. */
static int labels_numeric;
static char **labels_text;

static int parse_label(const char *s, double *v)
{
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    while (*end == ' ')
        end++;
    return end != s && !*end && !errno && isfinite(*v);
}

static int cmp_label_rows(const void *a, const void *b)
{
    const char *x = labels_text[*(const size_t *)a], *y = labels_text[*(const size_t *)b];
    if (labels_numeric) {
        double u, v;
        parse_label(x, &u);
        parse_label(y, &v);
        return (u > v) - (u < v);
    }
    return strcmp(x, y);
}

/* --label: the column as text, its distinct values (sorted) as the classes
 * and each row's class. */
static int encode_labels(run *r)
{
    const options *o = r->o;
    size_t n, *order;
    bp_error err;
    double v;

    if (bp_csv_read_text(o->data, o->label, &r->labels, &n, &err) != BP_OK)
        return lib_error(&err);
    if (n != r->n) {
        fprintf(stderr, "%s: %s: %zu labels for %zu rows\n", cli_name(), o->data, n, r->n);
        return 1;
    }
    labels_numeric = 1;
    for (size_t i = 0; i < n; i++) {
        if (!r->labels[i][strspn(r->labels[i], " ")]) {
            fprintf(stderr, "%s: %s: data row %zu: empty label in column '%s'\n", cli_name(), o->data,
                    i + 1, o->label);
            return 1;
        }
        labels_numeric &= parse_label(r->labels[i], &v);
    }
    order = malloc(n * sizeof *order);
    r->cls = malloc(n * sizeof *r->cls);
    r->class_names = malloc(n * sizeof *r->class_names);
    if (!order || !r->cls || !r->class_names) {
        free(order);
        return out_of_memory();
    }
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    labels_text = r->labels;
    qsort(order, n, sizeof *order, cmp_label_rows);
    r->k = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || cmp_label_rows(&order[i - 1], &order[i]) != 0)
            r->class_names[r->k++] = r->labels[order[i]];
        r->cls[order[i]] = r->k - 1;
    }
    free(order);
    if (r->k < 2) {
        fprintf(stderr, "%s: %s: column '%s' has one value only ('%s'): nothing to classify\n", cli_name(),
                o->data, o->label, r->class_names[0]);
        return 1;
    }
    if (r->k > 100) {
        fprintf(stderr, "%s: %s: column '%s' has %zu distinct values, more than 100 classes; "
                "for a number to predict, use --target\n", cli_name(), o->data, o->label, r->k);
        return 1;
    }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Class of a change d: K = 3 with a band, or K equal-count bins whose
 * K − 1 edges were taken from the training split. */
size_t change_class(const run *r, double d)
{
    size_t c = 0;
    if (!r->edges)
        return d < -r->o->band ? 0 : d > r->o->band ? 2 : 1;
    while (c + 1 < r->k && d > r->edges[c])
        c++;
    return c;
}

/* --classes: each row's class of the change target − <col>. */
static int change_classes(run *r)
{
    static const char *const weather[3] = {"colder", "same", "warmer"};
    static char bins[100][24];
    size_t ntr = r->split.n_train;

    r->k = r->o->classes;
    r->cls = malloc(r->n * sizeof *r->cls);
    r->class_names = malloc(r->k * sizeof *r->class_names);
    if (!r->cls || !r->class_names)
        return out_of_memory();
    if (r->k != 3) {
        double *sorted = malloc(ntr * sizeof *sorted);
        r->edges = malloc((r->k - 1) * sizeof *r->edges);
        if (!sorted || !r->edges) {
            free(sorted);
            return out_of_memory();
        }
        for (size_t i = 0; i < ntr; i++)
            sorted[i] = r->target[r->train_rows[i]] - r->base[r->train_rows[i]];
        qsort(sorted, ntr, sizeof *sorted, cmp_double);
        for (size_t c = 1; c < r->k; c++)
            r->edges[c - 1] = sorted[c * ntr / r->k];
        free(sorted);
    }
    for (size_t c = 0; c < r->k; c++) {
        snprintf(bins[c], sizeof bins[c], "bin%zu", c + 1);
        r->class_names[c] = r->k == 3 ? weather[c] : bins[c];
    }
    for (size_t i = 0; i < r->n; i++)
        r->cls[i] = change_class(r, r->target[i] - r->base[i]);
    return 0;
}

/* Rows split in file order, shuffled, or (classifying by a label)
 * stratified. */
static int split(run *r)
{
    const options *o = r->o;
    bp_error err;
    bp_status st;

    if (r->task == TASK_LABEL && !o->ordered)
        st = bp_split_stratified(r->cls, r->n, r->k, o->valid, o->test, o->seed, &r->split, &err);
    else
        st = bp_split_rows(r->n, o->valid, o->test, !o->ordered, o->seed, &r->split, &err);
    if (st != BP_OK) {
        fprintf(stderr, "%s: %s: %s\n", cli_name(), o->data, err.message);
        return 1;
    }
    if (r->split.n_test == 0 || (o->epochs > 0 && r->split.n_valid == 0)) {
        fprintf(stderr, "%s: %s: %zu rows leave no %s rows\n", cli_name(), o->data, r->n,
                r->split.n_test == 0 ? "test" : "validation");
        return 1;
    }
    r->train_rows = r->split.index;
    r->valid_rows = r->train_rows + r->split.n_train;
    r->test_rows = r->valid_rows + r->split.n_valid;
    return 0;
}

/* Drops input columns that are constant on the training split (they carry
 * nothing, and make least squares rank-deficient), with a note. */
static int drop_constant_inputs(run *r, bp_matrix *table, size_t stride)
{
    size_t kept = 0;

    for (size_t j = 0; j < r->n_in; j++) {
        double first = table->data[r->train_rows[0] * stride + j];
        int constant = 1;
        for (size_t i = 1; i < r->split.n_train && constant; i++)
            constant = table->data[r->train_rows[i] * stride + j] == first;
        if (constant) {
            if (!r->o->quiet)
                fprintf(stderr, "note: column '%s' is constant on the training split (%g): "
                        "dropped\n", r->in_names[j], first);
            free(r->in_names[j]);
            r->in_names[j] = NULL;
            continue;
        }
        r->in_names[kept] = r->in_names[j];
        if (kept != j) {
            r->in_names[j] = NULL;
            for (size_t i = 0; i < r->n; i++)
                table->data[i * stride + kept] = table->data[i * stride + j];
        }
        kept++;
    }
    if (kept == 0) {
        fprintf(stderr, "%s: %s: every input column is constant on the training split\n", cli_name(),
                r->o->data);
        return 1;
    }
    r->n_in = kept;
    return 0;
}

/* Reads the inputs (then the target and <col>, when used) into one table;
 * copies them out, the inputs standardised on the training split. */
static int read_rows(run *r)
{
    const options *o = r->o;
    const char *names[MAX_INPUTS + 2];
    size_t n_cols = r->n_in, stride;
    bp_matrix *table = NULL;
    bp_error err;
    int rc = 1;

    memcpy(names, r->in_names, r->n_in * sizeof *names);
    if (r->task != TASK_LABEL)
        names[n_cols++] = r->column;
    if (r->base_name)
        names[n_cols++] = r->base_name;
    if (bp_csv_read(o->data, names, n_cols, &table, NULL, &err) != BP_OK)
        return lib_error(&err);
    r->n = table->rows;
    stride = n_cols;
    if (r->task != TASK_LABEL) {
        r->target = malloc(r->n * sizeof *r->target);
        if (r->base_name)
            r->base = malloc(r->n * sizeof *r->base);
        if (!r->target || (r->base_name && !r->base)) {
            rc = out_of_memory();
            goto done;
        }
        for (size_t i = 0; i < r->n; i++) {
            r->target[i] = table->data[i * stride + r->n_in];
            if (r->base)
                r->base[i] = table->data[i * stride + r->n_in + 1];
        }
    }
    if ((r->task == TASK_LABEL && encode_labels(r)) || split(r) ||
        (r->task == TASK_CHANGE && change_classes(r)) || drop_constant_inputs(r, table, stride))
        goto done;
    r->xs = bp_matrix_alloc(r->n, r->n_in);
    if (!r->xs) {
        rc = out_of_memory();
        goto done;
    }
    for (size_t i = 0; i < r->n; i++)
        memcpy(r->xs->data + i * r->n_in, table->data + i * stride, r->n_in * sizeof(double));
    if (bp_scaler_fit(r->xs, r->train_rows, r->split.n_train, &r->xscale, &err) != BP_OK ||
        bp_scaler_apply(r->xscale, r->xs, &err) != BP_OK) {
        fprintf(stderr, "%s: %s: %s\n", cli_name(), o->data, err.message);
        goto done;
    }
    rc = 0;
done:
    bp_matrix_free(table);
    return rc;
}

int load(run *r)
{
    bp_error err;
    int rc;

    if (bp_csv_header(r->o->data, &r->header, &r->n_header, &err) != BP_OK)
        return lib_error(&err);
    if ((rc = choose_task(r)) != 0 || (rc = choose_inputs(r)) != 0)
        return rc;
    return read_rows(r);
}

void load_free(run *r)
{
    bp_csv_strings_free(r->header);
    bp_csv_strings_free(r->labels);
    for (size_t j = 0; j < MAX_INPUTS; j++)
        free(r->in_names[j]);
    free(r->class_names);
    free(r->cls);
    free(r->edges);
    free(r->target);
    free(r->base);
    bp_matrix_free(r->xs);
    bp_split_free(&r->split);
    bp_scaler_free(r->xscale);
    bp_scaler_free(r->yscale);
}
