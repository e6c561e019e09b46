/* SPDX-License-Identifier: MIT */
/* libFuzzer target: graphs built and run from a byte program.  Each
 * instruction byte picks an action (a new leaf, an op of the registry
 * applied to earlier nodes with attributes from the input, a forward and
 * backward from some node, rebinding an input with another number of rows,
 * clearing the error, anomaly mode, in-place mode, zero_grad); its operands
 * come from the bytes that follow.  Any status is fine; a crash, leak, sanitizer report
 * or a broken contract (an error without a message, a value missing after
 * a successful forward, params' gradients that change with in-place mode)
 * is not. */
#include "bpgraph.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NODES 48
#define MAX_DIM 4

struct prog {
    const uint8_t *p;
    size_t left;
};

static unsigned next(struct prog *pr)
{
    if (!pr->left)
        return 0;
    pr->left--;
    return *pr->p++;
}

/* Mostly small values, some special ones. */
static double next_value(struct prog *pr)
{
    unsigned b = next(pr);
    switch (b) {
    case 0xff: return NAN;
    case 0xfe: return INFINITY;
    case 0xfd: return -INFINITY;
    case 0xfc: return 1e300;
    case 0xfb: return -1e4;
    case 0xfa: return 0.0;
    default: return ((double)b - 120.0) / 16.0;
    }
}

static void check_graph_error(const bp_graph *g)
{
    if (bp_graph_status(g) != BP_OK && !bp_graph_message(g)[0])
        abort();
}

static void run_from(bp_graph *g, bp_node *out, struct prog *pr)
{
    double seed[MAX_DIM * MAX_DIM * MAX_DIM];
    bp_matrix s, *v;
    bp_status st = bp_forward(g, out);

    check_graph_error(g);
    if (st != BP_OK)
        return;
    v = bp_node_value(out);
    if (!v || v->rows != bp_node_rows(out) || v->cols != bp_node_cols(out))
        abort();
    if (!bp_node_requires_grad(out))
        return;
    if (v->rows * v->cols <= sizeof seed / sizeof seed[0] && (next(pr) & 1)) {
        s.rows = v->rows;
        s.cols = v->cols;
        s.data = seed;
        for (size_t k = 0; k < v->rows * v->cols; k++)
            seed[k] = next_value(pr);
        bp_backward(g, out, &s);
    } else {
        bp_backward(g, out, NULL);
    }
    check_graph_error(g);
    for (size_t i = 0; i < bp_graph_size(g); i++) {
        bp_matrix *gr = bp_node_grad(bp_graph_node(g, i));
        volatile double sum = 0;
        for (size_t k = 0; gr && k < gr->rows * gr->cols; k++)
            sum += gr->data[k];
        (void)sum;
    }
}

/* Runs out's forward and backward from zeroed gradients with in-place mode
 * set as given; copies out's value and every param's gradient to buf
 * (n doubles at most); returns how many it copied, or 0 on any error. */
static size_t run_mode(bp_graph *g, bp_node *out, int inplace, double *buf, size_t n)
{
    double half[MAX_DIM * MAX_DIM * MAX_DIM];
    bp_matrix seed = {bp_node_rows(out), bp_node_cols(out), half}, *v;
    size_t used = 0;

    if (seed.rows * seed.cols > sizeof half / sizeof half[0])
        return 0;
    for (size_t k = 0; k < seed.rows * seed.cols; k++)
        half[k] = 0.5;
    bp_graph_set_inplace(g, inplace);
    bp_graph_set_seed(g, 1);   /* random ops draw the same in both runs */
    bp_zero_grad(g);
    if (bp_forward(g, out) != BP_OK ||
        (bp_node_requires_grad(out) && bp_backward(g, out, &seed) != BP_OK))
        return 0;
    v = bp_node_value(out);
    for (size_t k = 0; k < v->rows * v->cols && used < n; k++)
        buf[used++] = v->data[k];
    for (size_t i = 0; i < bp_graph_size(g); i++) {
        bp_node *p = bp_graph_node(g, i);
        bp_matrix *gr = bp_node_is_param(p) ? bp_node_grad(p) : NULL;
        for (size_t k = 0; gr && k < gr->rows * gr->cols && used < n; k++)
            buf[used++] = gr->data[k];
    }
    return used;
}

/* In-place mode may change where values live, never what a param's
 * gradient or the output is: the two runs must agree (NaN with NaN). */
static void check_inplace_agrees(bp_graph *g, bp_node *out)
{
    enum { N = MAX_NODES * 4 * MAX_DIM * MAX_DIM };
    static double off[N], on[N];
    size_t n_off, n_on;

    if (bp_graph_status(g) != BP_OK)
        return;
    n_off = run_mode(g, out, 0, off, N);
    n_on = run_mode(g, out, 1, on, N);
    if (n_off != n_on)
        abort();
    for (size_t k = 0; k < n_off; k++)
        if (!(off[k] == on[k] || (isnan(off[k]) && isnan(on[k]))))
            abort();
}

static bp_registry *reg;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct prog pr = {data, size};
    bp_node *nodes[MAX_NODES], *inputs[MAX_NODES];
    size_t n = 0, n_inputs = 0;
    double buf[MAX_DIM * 2 * MAX_DIM];
    bp_graph *g;

    if (!reg && !(reg = bp_registry_new()))
        abort();
    g = bp_graph_new();
    if (!g)
        abort();
    while (pr.left) {
        unsigned action = next(&pr) % 8;
        if (action == 0 || n == 0) {
            /* a leaf: input, param or constant of small shape */
            unsigned kind = next(&pr) % 3;
            size_t rows = 1 + next(&pr) % MAX_DIM, cols = 1 + next(&pr) % MAX_DIM;
            bp_node *leaf;
            for (size_t k = 0; k < rows * cols; k++)
                buf[k] = next_value(&pr);
            if (kind == 0) {
                bp_matrix m = {rows, cols, buf};
                leaf = bp_input(g, rows, cols, "x");
                if (leaf && bp_node_set_value(leaf, &m) != BP_OK)
                    abort();
                if (leaf && n_inputs < MAX_NODES)
                    inputs[n_inputs++] = leaf;
            } else if (kind == 1) {
                leaf = bp_param(g, rows, cols, "w");
                if (leaf)
                    memcpy(bp_node_value(leaf)->data, buf, rows * cols * sizeof(double));
            } else {
                leaf = bp_constant(g, rows, cols, buf, "c");
            }
            check_graph_error(g);
            if (leaf && n < MAX_NODES)
                nodes[n++] = leaf;
        } else if (action <= 4) {
            /* an op of the registry on earlier nodes */
            const bp_op *op = bp_registry_get(reg, next(&pr) % bp_registry_count(reg));
            bp_node *in[BP_MAX_INPUTS];
            double attr[BP_MAX_ATTRS];
            bp_node *node;
            for (size_t i = 0; i < op->n_in; i++)
                in[i] = nodes[next(&pr) % n];
            for (size_t i = 0; i < op->n_attr; i++)
                attr[i] = next_value(&pr);
            node = bp_apply(g, op, op->n_in, in, attr);
            check_graph_error(g);
            if (node && n < MAX_NODES)
                nodes[n++] = node;
            else if (!node)
                bp_graph_clear_error(g);
        } else if (action == 5) {
            run_from(g, nodes[next(&pr) % n], &pr);
        } else if (action == 6 && n_inputs) {
            /* rebind an input with another number of rows */
            bp_node *x = inputs[next(&pr) % n_inputs];
            size_t rows = 1 + next(&pr) % (2 * MAX_DIM), cols = bp_node_cols(x);
            bp_matrix m = {rows, cols, buf};
            for (size_t k = 0; k < rows * cols; k++)
                buf[k] = next_value(&pr);
            bp_node_set_value(x, &m);
            check_graph_error(g);
        } else {
            unsigned what = next(&pr) % 6;
            if (what == 0)
                bp_graph_clear_error(g);
            else if (what == 1)
                bp_graph_set_anomaly_mode(g, next(&pr) & 1);
            else if (what == 2)
                bp_graph_set_inplace(g, next(&pr) & 1);
            else if (what == 3)
                bp_zero_grad(g);
            else if (what == 4)
                bp_graph_set_training(g, next(&pr) & 1);
            else
                bp_graph_set_seed(g, next(&pr));
        }
    }
    if (n) {
        run_from(g, nodes[n - 1], &pr);
        check_inplace_agrees(g, nodes[n - 1]);
    }
    bp_graph_free(g);
    return 0;
}
