/* SPDX-License-Identifier: MIT */
/* tools/train's evaluate and report stages: the network and the baselines
 * on the test split (least squares with LAPACKE_dgelsd, the majority class,
 * the logistic regression, "tomorrow = today"), the summary, the --json
 * object and --predict's CSV. */
#include "cli.h"
#include "train.h"
#include "train_ranks.h"

#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

size_t argmax_row(const double *p, size_t k)
{
    size_t best = 0;
    for (size_t j = 1; j < k; j++)
        if (p[j] > p[best])
            best = j;
    return best;
}

/* The model's output for every row of xs into a new matrix (*out): Z for
 * regression, probabilities for classification. */
int model_predict(model *m, const bp_matrix *xs, bp_matrix **out)
{
    bp_node *node = m->prob ? m->prob : m->out;
    /* bound, not copied: xs may be the whole split */
    if (bp_node_bind_value(m->x, xs) != BP_OK || bp_forward(m->g, node) != BP_OK) {
        fprintf(stderr, "%s: %s\n", cli_name(), bp_graph_message(m->g));
        return 1;
    }
    *out = bp_matrix_copy(bp_node_value(node));
    return *out ? 0 : out_of_memory();
}

static double mse_of(const double *pred, const double *truth, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (pred[i] - truth[i]) * (pred[i] - truth[i]);
    return n ? s / (double)n : NAN;
}

/* num / den, or NAN ("n/a") when den is ~0 against scale. */
static double ratio(double num, double den, double scale)
{
    return scale > 0 && den > 1e-12 * scale ? num / den : NAN;
}

/* Least squares on [x, 1] over the training rows: coef (x->cols + 1
 * values, intercept last), the minimum-norm solution when the columns are
 * dependent (LAPACKE_dgelsd, rcond LS_RCOND), and its numerical rank.  0,
 * 1 when out of memory, -1 when the SVD did not converge. */
static int least_squares(const bp_matrix *x, const double *y, double *coef, size_t *rank)
{
    size_t n = x->rows, p = x->cols + 1, nb = n > p ? n : p;
    double *a = malloc(n * p * sizeof *a), *b = calloc(nb, sizeof *b);
    double *sv = malloc((n < p ? n : p) * sizeof *sv);
    lapack_int info, r = 0;

    if (!a || !b || !sv) {
        free(a);
        free(b);
        free(sv);
        return out_of_memory();
    }
    for (size_t i = 0; i < n; i++) {
        memcpy(a + i * p, x->data + i * x->cols, x->cols * sizeof(double));
        a[i * p + x->cols] = 1.0;
        b[i] = y[i];
    }
    /* min ||A·c − b||, A n×p row-major; the solution overwrites b[0..p) */
    info = LAPACKE_dgelsd(LAPACK_ROW_MAJOR, (lapack_int)n, (lapack_int)p, 1, a, (lapack_int)p, b, 1,
                          sv, LS_RCOND, &r);
    if (info == 0)
        memcpy(coef, b, p * sizeof(double));
    *rank = (size_t)r;
    free(a);
    free(b);
    free(sv);
    return info == 0 ? 0 : -1;
}

static double ls_predict(const double *coef, const double *x, size_t p)
{
    double s = coef[p];
    for (size_t j = 0; j < p; j++)
        s += coef[j] * x[j];
    return s;
}

/* Least squares fitted to y over the training rows, its predictions for
 * the test rows into pred (NAN when it failed). */
static int ls_baseline(run *r, const double *y, double *pred)
{
    size_t ntr = r->split.n_train, nt = r->split.n_test;
    double *coef = malloc((r->n_in + 1) * sizeof *coef), *ytr = malloc(ntr * sizeof *ytr);
    int rc = 1;

    r->s.ls_cols = r->n_in + 1;
    if (coef && ytr) {
        for (size_t i = 0; i < ntr; i++)
            ytr[i] = y[r->train_rows[i]];
        rc = least_squares(r->xtrain, ytr, coef, &r->s.ls_rank);
        for (size_t i = 0; i < nt; i++)
            pred[i] = rc == 0 ? ls_predict(coef, r->xtest->data + i * r->n_in, r->n_in) : NAN;
        if (rc < 0 && !r->o->quiet)
            fprintf(stderr, "note: least squares: the SVD did not converge; no baseline\n");
        rc = rc < 0 ? 0 : rc;
    } else {
        rc = out_of_memory();
    }
    free(coef);
    free(ytr);
    return rc;
}

static double variance_of(const double *v, const size_t *rows, size_t n)
{
    double mean = 0, s = 0;
    for (size_t i = 0; i < n; i++)
        mean += v[rows[i]];
    mean /= (double)n;
    for (size_t i = 0; i < n; i++)
        s += (v[rows[i]] - mean) * (v[rows[i]] - mean);
    return s / (double)n;
}

static int evaluate_regression(run *r, bp_matrix *pred)
{
    size_t nt = r->split.n_test;
    bp_error err;
    double *other = malloc(nt * sizeof *other), *truth = malloc(nt * sizeof *truth);
    int rc = 0;

    if (!other || !truth) {
        free(other);
        free(truth);
        return out_of_memory();
    }
    if (bp_scaler_invert(r->yscale, pred, &err) != BP_OK) {
        free(other);
        free(truth);
        return lib_error(&err);
    }
    for (size_t i = 0; i < nt; i++)
        truth[i] = r->target[r->test_rows[i]];
    r->s.net = mse_of(pred->data, truth, nt);
    rc = ls_baseline(r, r->target, other);
    r->s.ls = mse_of(other, truth, nt);
    if (r->base) {
        for (size_t i = 0; i < nt; i++)
            other[i] = r->base[r->test_rows[i]];
        r->s.today = mse_of(other, truth, nt);
    }
    free(other);
    free(truth);
    return rc;
}

/* Accuracy of the test split's predicted classes pred[0..n_test). */
static double accuracy(const run *r, const size_t *pred)
{
    size_t hits = 0;
    for (size_t i = 0; i < r->split.n_test; i++)
        hits += pred[i] == r->cls[r->test_rows[i]];
    return (double)hits / (double)r->split.n_test;
}

/* The classes of a model's test predictions into cls. */
static int model_classes(run *r, model *m, size_t *cls)
{
    bp_matrix *p;
    if (model_predict(m, r->xtest, &p) != 0)
        return 1;
    for (size_t i = 0; i < r->split.n_test; i++)
        cls[i] = argmax_row(p->data + i * r->k, r->k);
    bp_matrix_free(p);
    return 0;
}

/* How many test rows have true class c (t = 1) or were predicted c. */
static size_t class_total(const run *r, size_t c, int t)
{
    size_t sum = 0;
    for (size_t j = 0; j < r->k; j++)
        sum += r->s.confusion[t ? c * r->k + j : j * r->k + c];
    return sum;
}

static int evaluate_classes(run *r, const bp_matrix *prob)
{
    size_t nt = r->split.n_test, k = r->k, best = 0;
    size_t *pred = malloc(nt * sizeof *pred), *count = calloc(k, sizeof *count);
    double *change = NULL;
    int rc = 0;

    r->s.confusion = calloc(k * k, sizeof *r->s.confusion);
    if (!pred || !count || !r->s.confusion) {
        rc = out_of_memory();
        goto done;
    }
    for (size_t i = 0; i < nt; i++) {
        pred[i] = argmax_row(prob->data + i * k, k);
        r->s.confusion[r->cls[r->test_rows[i]] * k + pred[i]]++;
    }
    r->s.net = accuracy(r, pred);
    for (size_t c = 0; c < k && !r->o->quiet; c++)
        if (class_total(r, c, 1) == 0)
            fprintf(stderr, "note: the test split has no row of class '%s'%s\n", r->class_names[c],
                    r->o->ordered ? " (is the file sorted? without --ordered the split is "
                                    "stratified)" : "");
    /* the majority class of the training split */
    for (size_t i = 0; i < r->split.n_train; i++)
        count[r->cls[r->train_rows[i]]]++;
    for (size_t c = 1; c < k; c++)
        if (count[c] > count[best])
            best = c;
    r->s.majority_class = best;
    for (size_t i = 0; i < nt; i++)
        pred[i] = best;
    r->s.majority = accuracy(r, pred);
    if (r->linear.g) {
        if ((rc = model_classes(r, &r->linear, pred)) != 0)
            goto done;
        r->s.logreg = accuracy(r, pred);
    }
    if (r->task == TASK_CHANGE) {
        /* the class of the least-squares change, and "no change" */
        double *ls = malloc(nt * sizeof *ls);
        change = malloc(r->n * sizeof *change);
        if (!ls || !change) {
            free(ls);
            rc = out_of_memory();
            goto done;
        }
        for (size_t i = 0; i < r->n; i++)
            change[i] = r->target[i] - r->base[i];
        rc = ls_baseline(r, change, ls);
        for (size_t i = 0; i < nt; i++)
            pred[i] = change_class(r, ls[i]);
        r->s.ls = isnan(ls[0]) ? NAN : accuracy(r, pred);
        for (size_t i = 0; i < nt; i++)
            pred[i] = change_class(r, 0.0);
        r->s.today = accuracy(r, pred);
        free(ls);
    }
done:
    free(pred);
    free(count);
    free(change);
    return rc;
}

int evaluate(run *r)
{
    bp_matrix *pred = NULL;
    int rc;

    r->s.net = r->s.ls = r->s.today = r->s.majority = r->s.logreg = NAN;
    if (r->target)
        r->s.target_var = variance_of(r->target, r->train_rows, r->split.n_train);
    rc = model_predict(&r->net, r->xtest, &pred);
    if (rc == 0)
        rc = r->classify ? evaluate_classes(r, pred) : evaluate_regression(r, pred);
    bp_matrix_free(pred);
    return rc;
}

void scores_free(scores *s)
{
    free(s->confusion);
}

/* ---- output ---- */

/* A figure, or "n/a" when there is none. */
static void put_num(FILE *f, int width, double v)
{
    if (isfinite(v))
        fprintf(f, "%*.4f", width, v);
    else
        fprintf(f, "%*s", width, "n/a");
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

/* "name": value, — %.17g reads back to the same double; JSON has no NaN
 * or infinity: null then (no epoch run, a diverged net, "n/a"). */
static void json_num(const char *name, double v)
{
    if (isfinite(v))
        printf("\"%s\": %.17g, ", name, v);
    else
        printf("\"%s\": null, ", name);
}

static void report_regression(const run *r, FILE *f)
{
    const scores *s = &r->s;

    fprintf(f, ", mean squared error (RMSE) in the target's units:\n");
    fprintf(f, "  network             %9.4f (%.4f)\n", s->net, sqrt(s->net));
    fprintf(f, "  least squares       ");
    put_num(f, 9, s->ls);
    fprintf(f, " (%.4f)   network/least squares = ", sqrt(s->ls));
    put_num(f, 0, ratio(s->net, s->ls, s->target_var));
    fputc('\n', f);
    if (s->ls_rank < s->ls_cols)
        fprintf(f, "  (least squares: numerical rank %zu of %zu columns, inputs and intercept, on "
                "%zu training rows; the minimum-norm fit, singular values below %g of the "
                "largest dropped)\n", s->ls_rank, s->ls_cols, r->split.n_train, LS_RCOND);
    if (r->base_name)
        fprintf(f, "  tomorrow = today    %9.4f (%.4f)   (%s as the prediction)\n", s->today,
                sqrt(s->today), r->base_name);
}

static void report_classes(const run *r, FILE *f)
{
    const scores *s = &r->s;
    size_t k = r->k, width = 6;

    if (r->task == TASK_CHANGE)
        fprintf(f, ", accuracy of %zu classes%s:\n", k,
                r->edges ? " (equal-count bins of the change)" : " (colder / same / warmer)");
    else
        fprintf(f, ", accuracy of %zu classes of '%s':\n", k, r->column);
    fprintf(f, "  network             %.4f\n", s->net);
    fprintf(f, "  logistic regression ");
    put_num(f, 0, s->logreg);
    fprintf(f, "   (x -> dense -> softmax)\n");
    if (r->task == TASK_CHANGE) {
        fprintf(f, "  least squares       ");
        put_num(f, 0, s->ls);
        fprintf(f, "   (class of the fitted change)\n");
        fprintf(f, "  no change           %.4f   (always \"same\")\n", s->today);
    }
    fprintf(f, "  majority class      %.4f   (%s)\n", s->majority, r->class_names[s->majority_class]);
    fprintf(f, "network per class     precision  recall   rows\n");
    for (size_t c = 0; c < k; c++) {
        size_t tp = s->confusion[c * k + c], truth = class_total(r, c, 1);
        fprintf(f, "  %-18s  ", r->class_names[c]);
        put_num(f, 9, ratio((double)tp, (double)class_total(r, c, 0), 1));
        put_num(f, 8, ratio((double)tp, (double)truth, 1));
        fprintf(f, "  %5zu\n", truth);
    }
    /* columns numbered as the rows, so that long names fit; as wide as
     * the test split's row count needs */
    for (size_t v = r->split.n_test; v >= 10000; v /= 10)
        width++;
    fprintf(f, "confusion matrix (rows: true class; columns: predicted)\n%*s", 24, "");
    for (size_t c = 0; c < k; c++)
        fprintf(f, "%*zu", (int)width, c + 1);
    fputc('\n', f);
    for (size_t t = 0; t < k; t++) {
        fprintf(f, "  %2zu %-19.19s", t + 1, r->class_names[t]);
        for (size_t c = 0; c < k; c++)
            fprintf(f, "%*zu", (int)width, s->confusion[t * k + c]);
        fputc('\n', f);
    }
}

static void report_json(const run *r)
{
    const scores *s = &r->s;
    size_t k = r->k;

    printf("{\"task\": \"%s\", \"rows\": %zu, \"train_rows\": %zu, \"valid_rows\": %zu, "
           "\"test_rows\": %zu, \"inputs\": %zu, \"epochs\": %zu, \"best_epoch\": %zu, ",
           r->classify ? "classification" : "regression", r->n, r->split.n_train,
           r->split.n_valid, r->split.n_test, r->n_in, r->net.epochs_run, r->net.best_epoch);
    json_num("train_loss", r->net.epochs_run ? r->net.train_loss : NAN);
    json_num(r->classify ? "valid_accuracy" : "valid_rmse", r->net.epochs_run ? r->net.valid_metric : NAN);
    if (r->classify) {
        printf("\"classes\": %zu, \"class_names\": [", k);
        for (size_t c = 0; c < k; c++) {
            printf(c ? ", " : "");
            json_str(r->class_names[c]);
        }
        printf("], ");
        json_num("test_accuracy", s->net);
        json_num("logreg_accuracy", s->logreg);
        json_num("majority_accuracy", s->majority);
        if (r->task == TASK_CHANGE) {
            json_num("lstsq_accuracy", s->ls);
            json_num("today_accuracy", s->today);
        }
        printf("\"precision\": [");
        for (size_t c = 0; c < k; c++) {
            double v = ratio((double)s->confusion[c * k + c], (double)class_total(r, c, 0), 1);
            printf(isfinite(v) ? "%s%.17g" : "%snull", c ? ", " : "", v);
        }
        printf("], \"recall\": [");
        for (size_t c = 0; c < k; c++) {
            double v = ratio((double)s->confusion[c * k + c], (double)class_total(r, c, 1), 1);
            printf(isfinite(v) ? "%s%.17g" : "%snull", c ? ", " : "", v);
        }
        printf("], \"confusion\": [");
        for (size_t t = 0; t < k; t++) {
            printf("%s[", t ? ", " : "");
            for (size_t c = 0; c < k; c++)
                printf("%s%zu", c ? ", " : "", s->confusion[t * k + c]);
            printf("]");
        }
        printf("], ");
    } else {
        json_num("test_mse", s->net);
        json_num("test_rmse", sqrt(s->net));
        json_num("lstsq_mse", s->ls);
        json_num("lstsq_rmse", sqrt(s->ls));
        printf("\"lstsq_rank\": %zu, \"lstsq_cols\": %zu, ", s->ls_rank, s->ls_cols);
        json_num("mse_ratio", ratio(s->net, s->ls, s->target_var));
        if (r->base_name) {
            json_num("today_mse", s->today);
            json_num("today_rmse", sqrt(s->today));
        }
    }
    printf("\"ranks\": %d, ", ranks_size());
    json_num("seconds_per_epoch", r->net.epochs_run ? r->net.epoch_seconds / (double)r->net.epochs_run : NAN);
    printf("\"seconds\": %.3f}\n", r->train_seconds);
}

void report(const run *r)
{
    FILE *f = r->info;

    if (!r->o->quiet) {
        fprintf(f, "\ntest split (%zu rows)", r->split.n_test);
        if (r->classify)
            report_classes(r, f);
        else
            report_regression(r, f);
        fprintf(f, "time %.2fs\n", r->train_seconds);
    }
    if (r->o->json)
        report_json(r);
}

/* A CSV field: quoted when it holds a comma, quote or line end. */
static void csv_field(const char *s)
{
    if (!s[strcspn(s, ",\"\r\n")]) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"')
            putchar('"');
        putchar(*s);
    }
    putchar('"');
}

/* --predict: the network's prediction for every row of the file, as CSV
 * on stdout: the predicted value, or the class and each class's
 * probability. */
int write_predictions(run *r)
{
    const char *names[MAX_INPUTS];
    bp_matrix *xs = NULL, *pred = NULL;
    bp_error err;
    int rc = 1;

    memcpy(names, r->in_names, r->n_in * sizeof *names);
    if (bp_csv_read(r->o->predict, names, r->n_in, &xs, NULL, &err) != BP_OK)
        return lib_error(&err);
    if (bp_scaler_apply(r->xscale, xs, &err) != BP_OK) {
        rc = lib_error(&err);
        goto done;
    }
    if (model_predict(&r->net, xs, &pred) != 0)
        goto done;
    if (!r->classify && bp_scaler_invert(r->yscale, pred, &err) != BP_OK) {
        rc = lib_error(&err);
        goto done;
    }
    csv_field(r->column);
    for (size_t c = 0; r->classify && c < r->k; c++) {
        char head[300];
        snprintf(head, sizeof head, "p(%s)", r->class_names[c]);
        putchar(',');
        csv_field(head);
    }
    putchar('\n');
    for (size_t i = 0; i < xs->rows; i++) {
        const double *p = pred->data + i * pred->cols;
        if (!r->classify) {
            printf("%.17g\n", p[0]);
            continue;
        }
        csv_field(r->class_names[argmax_row(p, r->k)]);
        for (size_t c = 0; c < r->k; c++)
            printf(",%.17g", p[c]);
        putchar('\n');
    }
    rc = fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
    if (rc)
        fprintf(stderr, "%s: writing the predictions failed\n", cli_name());
done:
    bp_matrix_free(xs);
    bp_matrix_free(pred);
    return rc;
}
