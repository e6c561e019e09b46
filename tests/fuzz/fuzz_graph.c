/* SPDX-License-Identifier: MIT */
/* libFuzzer target: graphs built and run from a byte program.  Each
 * instruction byte picks an action (a new leaf of rank 1 to 4, an op of
 * the registry applied to earlier nodes with attributes from the op's own
 * checker cases, small integers or the input, a stack of earlier nodes, a
 * forward and backward from some node, rebinding an input with another
 * first dimension, clearing the error, anomaly mode, in-place mode,
 * zero_grad); its operands come from the bytes that follow.  Leaves may
 * hold small integers, ids in and out of range for gather.  Any status is fine; a crash, leak, sanitizer report
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
/* the largest seed or value compared: an op may grow its input (matmul,
 * concat, gather), and whatever is larger is run without a seed */
#define MAX_ELEMS 1024

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

/* A small integer, -2 to 5: an axis, a dim, an id (in range or not). */
static double next_int(struct prog *pr)
{
    return (double)(next(pr) % 8) - 2.0;
}

/* A shape of rank 1 to 4, dims 1 to MAX_DIM. */
static bp_shape next_shape(struct prog *pr)
{
    bp_shape s = {1 + next(pr) % BP_MAX_RANK, {0}};
    for (size_t d = 0; d < s.rank; d++)
        s.dim[d] = 1 + next(pr) % MAX_DIM;
    return s;
}

/* An op's attributes: one of its checker cases (so that tensor ops get
 * axes and dims that fit), small integers, or any values. */
static void next_attrs(struct prog *pr, const bp_op *op, double *attr)
{
    unsigned how = next(pr) % 4;
    size_t row = op->n_check_attr ? next(pr) % op->n_check_attr : 0;

    for (size_t i = 0; i < op->n_attr; i++)
        attr[i] = how == 0 && op->n_check_attr ? op->check_attr[row * op->n_attr + i]
                  : how == 1 ? next_int(pr)
                  : next_value(pr);
}

static void check_graph_error(const bp_graph *g)
{
    if (bp_graph_status(g) != BP_OK && !bp_graph_message(g)[0])
        abort();
}

static void run_from(bp_graph *g, bp_node *out, struct prog *pr)
{
    double seed[MAX_ELEMS];
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
        (void)bp_backward(g, out, &s);   /* errors are read by check_graph_error */
    } else {
        (void)bp_backward(g, out, NULL);
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
    double half[MAX_ELEMS];
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
    enum { N = MAX_NODES * MAX_ELEMS };
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
    double buf[MAX_ELEMS];
    bp_graph *g;

    if (!reg && !(reg = bp_registry_new()))
        abort();
    g = bp_graph_new();
    if (!g)
        abort();
    while (pr.left) {
        unsigned action = next(&pr) % 9;
        if (action == 0 || n == 0) {
            /* a leaf: input, param or constant of rank 1 to 4, of small
             * values or of small integers (ids) */
            unsigned kind = next(&pr) % 3, ints = next(&pr) % 4 == 0;
            bp_shape shape = next_shape(&pr);
            size_t rows = 1, cols = shape.dim[shape.rank - 1];
            bp_node *leaf;
            for (size_t d = 0; d + 1 < shape.rank; d++)
                rows *= shape.dim[d];
            for (size_t k = 0; k < rows * cols; k++)
                buf[k] = ints ? next_int(&pr) : next_value(&pr);
            if (kind == 0) {
                bp_matrix m = {rows, cols, buf};
                leaf = bp_input_nd(g, &shape, "x");
                if (leaf && bp_node_set_value(leaf, &m) != BP_OK)
                    abort();
                if (leaf && n_inputs < MAX_NODES)
                    inputs[n_inputs++] = leaf;
            } else if (kind == 1) {
                leaf = bp_param_nd(g, &shape, "w");
                if (leaf)
                    memcpy(bp_node_value(leaf)->data, buf, rows * cols * sizeof(double));
            } else {
                leaf = bp_constant_nd(g, &shape, buf, "c");
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
            next_attrs(&pr, op, attr);
            node = bp_apply(g, op, op->n_in, in, attr);
            check_graph_error(g);
            if (node && n < MAX_NODES)
                nodes[n++] = node;
            else if (!node)
                bp_graph_clear_error(g);
        } else if (action == 5) {
            run_from(g, nodes[next(&pr) % n], &pr);
        } else if (action == 6 && n_inputs) {
            /* rebind an input with another first dimension (its matrix
             * view: that many times the rows of the middle dims), or with
             * any number of rows */
            bp_node *x = inputs[next(&pr) % n_inputs];
            const bp_shape *shape = bp_node_shape(x);
            size_t first = 1 + next(&pr) % (2 * MAX_DIM);
            unsigned ints = next(&pr) % 4 == 0;
            bp_matrix m = {first, bp_node_cols(x), buf};
            if (shape->rank == 1) {
                m.rows = 1;
                m.cols = first;
            }
            for (size_t d = 1; d + 1 < shape->rank; d++)
                m.rows *= shape->dim[d];
            if (next(&pr) % 4 == 0)
                m.rows = 1 + next(&pr) % (2 * MAX_DIM);
            for (size_t k = 0; k < m.rows * m.cols; k++)
                buf[k] = ints ? next_int(&pr) : next_value(&pr);
            bp_node_set_value(x, &m);
            check_graph_error(g);
        } else if (action == 8) {
            /* a stack of earlier nodes (a composite, not in the registry) */
            bp_node *in[4], *node;
            size_t count = 1 + next(&pr) % 4, axis = next(&pr) % (BP_MAX_RANK + 1);
            for (size_t i = 0; i < count; i++)
                in[i] = nodes[next(&pr) % n];
            node = bp_stack(g, count, in, axis);
            check_graph_error(g);
            if (node && n < MAX_NODES)
                nodes[n++] = node;
            else if (!node)
                bp_graph_clear_error(g);
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
