/* SPDX-License-Identifier: MIT */
/* Random graphs for the differential test (tests/diffgraph.sh): builds
 * graphs of the built-in ops on random shapes and values, runs forward and
 * backward, and prints each graph with every value and gradient bpgraph
 * computed, for tests/diffgraph_ref.py to recompute in numpy.
 *
 *   diffgraph_gen N SEED     N graphs from SEED, on stdout
 *
 * Lines (numbers as %.17g, matrices row-major):
 *   G k                       graph k begins
 *   P id r c v...             a param
 *   C id r c v...             a constant
 *   O id op attr n in...      an op node (attr "-" when it has none)
 *   L id                      the 1x1 loss
 *   V id r c v...             bpgraph's forward value of a node
 *   D id r c v...             bpgraph's gradient of a param (absent: none)
 * Exit status 1 when bpgraph fails on a graph (the message on stderr). */
#include <bpgraph.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NODES 96

typedef struct {
    bp_node *n;
    size_t r, c;
} item;

static bp_graph *g;
static item nodes[MAX_NODES];
static size_t n_nodes;
static int used[MAX_NODES];   /* an input of some op */
static bp_rng rng;

static size_t below(size_t n)
{
    return bp_rng_below(&rng, n);
}

static double uniform(double lo, double hi)
{
    return lo + (hi - lo) * bp_rng_uniform(&rng);
}

static void print_values(const bp_matrix *m)
{
    printf(" %zu %zu", m->rows, m->cols);
    for (size_t k = 0; k < m->rows * m->cols; k++)
        printf(" %.17g", m->data[k]);
    printf("\n");
}

static size_t add(bp_node *n)
{
    if (!n || n_nodes == MAX_NODES) {
        fprintf(stderr, "diffgraph_gen: %s\n", n ? "too many nodes" : bp_graph_message(g));
        exit(1);
    }
    used[n_nodes] = 0;
    nodes[n_nodes].n = n;
    nodes[n_nodes].r = bp_node_rows(n);
    nodes[n_nodes].c = bp_node_cols(n);
    return n_nodes++;
}

/* A leaf of random values in [-2, 2) times 0.1, 1 or 10 (one scale per
 * leaf): a param, or a constant when constant is set (then values, when
 * not NULL, are used instead). */
static size_t leaf(size_t r, size_t c, int constant, const double *values)
{
    double v[64];
    bp_matrix m = {r, c, v};
    static const double scales[3] = {0.1, 1.0, 10.0};
    const double scale = scales[below(3)];
    size_t id;

    for (size_t k = 0; k < r * c; k++)
        v[k] = values ? values[k] : scale * uniform(-2.0, 2.0);
    id = add(constant ? bp_constant(g, r, c, v, NULL) : bp_param(g, r, c, NULL));
    if (!constant)
        bp_node_set_value(nodes[id].n, &m);
    printf("%c %zu", constant ? 'C' : 'P', id);
    print_values(&m);
    return id;
}

static size_t op(const char *name, double attr, int has_attr, size_t a, long b, long c)
{
    bp_node *n = NULL, *x = nodes[a].n;
    bp_node *y = b >= 0 ? nodes[b].n : NULL, *z = c >= 0 ? nodes[c].n : NULL;
    size_t id;

    used[a] = 1;
    if (b >= 0)
        used[b] = 1;
    if (c >= 0)
        used[c] = 1;

    if (!strcmp(name, "neg")) n = bp_neg(g, x);
    else if (!strcmp(name, "scale")) n = bp_scale(g, x, attr);
    else if (!strcmp(name, "exp")) n = bp_exp(g, x);
    else if (!strcmp(name, "log")) n = bp_log(g, x);
    else if (!strcmp(name, "pow")) n = bp_pow(g, x, attr);
    else if (!strcmp(name, "sqrt")) n = bp_sqrt(g, x);
    else if (!strcmp(name, "relu")) n = bp_relu(g, x);
    else if (!strcmp(name, "sigmoid")) n = bp_sigmoid(g, x);
    else if (!strcmp(name, "tanh")) n = bp_tanh(g, x);
    else if (!strcmp(name, "transpose")) n = bp_transpose(g, x);
    else if (!strcmp(name, "rowsum")) n = bp_rowsum(g, x);
    else if (!strcmp(name, "colsum")) n = bp_colsum(g, x);
    else if (!strcmp(name, "sum")) n = bp_sum(g, x);
    else if (!strcmp(name, "mean")) n = bp_mean(g, x);
    else if (!strcmp(name, "rowmax")) n = bp_rowmax(g, x);
    else if (!strcmp(name, "softmax")) n = bp_softmax(g, x);
    else if (!strcmp(name, "detach")) n = bp_detach(g, x);
    else if (!strcmp(name, "add")) n = bp_add(g, x, y);
    else if (!strcmp(name, "sub")) n = bp_sub(g, x, y);
    else if (!strcmp(name, "mul")) n = bp_mul(g, x, y);
    else if (!strcmp(name, "div")) n = bp_div(g, x, y);
    else if (!strcmp(name, "matmul")) n = bp_matmul(g, x, y);
    else if (!strcmp(name, "dense")) n = bp_dense(g, x, y, z);
    else if (!strcmp(name, "dense_relu")) n = bp_dense_relu(g, x, y, z);
    else if (!strcmp(name, "mse")) n = bp_mse(g, x, y);
    else if (!strcmp(name, "nll")) n = bp_nll(g, x, y);
    else if (!strcmp(name, "softmax_ce")) n = bp_softmax_ce(g, x, y);
    id = add(n);
    printf("O %zu %s ", id, name);
    if (has_attr)
        printf("%.17g", attr);
    else
        printf("-");
    printf(" %d %zu", b < 0 ? 1 : c < 0 ? 2 : 3, a);
    if (b >= 0)
        printf(" %ld", b);
    if (c >= 0)
        printf(" %ld", c);
    printf("\n");
    return id;
}

/* exp(tanh(a)), in [1/e, e]: an operand for log, sqrt, pow and div. */
static size_t positive(size_t a)
{
    return op("exp", 0, 0, op("tanh", 0, 0, a, -1, -1), -1, -1);
}

/* A node of the pool, or a new param of a random shape. */
static size_t pick(void)
{
    if (n_nodes == 0 || below(4) == 0)
        return leaf(1 + below(4), 1 + below(4), 0, NULL);
    return below(n_nodes);
}

/* A second operand for a with a shape that broadcasts against it: a's own,
 * 1×c, r×1 or 1×1 (either side). */
static size_t partner(size_t a)
{
    size_t r = nodes[a].r, c = nodes[a].c;

    for (size_t tries = 0; tries < 8 && n_nodes > 0; tries++) {
        size_t b = below(n_nodes);
        if ((nodes[b].r == r || nodes[b].r == 1) && (nodes[b].c == c || nodes[b].c == 1))
            return b;
    }
    switch (below(4)) {
    case 0: return leaf(r, c, 0, NULL);
    case 1: return leaf(1, c, 0, NULL);
    case 2: return leaf(r, 1, 0, NULL);
    default: return leaf(1, 1, 0, NULL);
    }
}

static size_t random_op(void)
{
    static const char *const unary[] = {"neg", "relu", "sigmoid", "tanh", "transpose",
                                        "rowsum", "colsum", "sum", "mean", "rowmax",
                                        "softmax", "detach"};
    static const double powers[] = {-1.0, 2.0, 0.5, 3.7, 0.0, 1.0};
    size_t a = pick(), k = below(10);

    switch (k) {
    case 0: return op(unary[below(sizeof unary / sizeof *unary)], 0, 0, a, -1, -1);
    case 1: return op("scale", uniform(-2.0, 2.0), 1, a, -1, -1);
    case 2: return op("exp", 0, 0, op("tanh", 0, 0, a, -1, -1), -1, -1);
    case 3: {
        static const char *const pos_ops[] = {"log", "sqrt"};
        if (below(2))
            return op(pos_ops[below(2)], 0, 0, positive(a), -1, -1);
        return op("pow", powers[below(6)], 1, positive(a), -1, -1);
    }
    case 4: case 5: {
        static const char *const bin[] = {"add", "sub", "mul", "div"};
        const char *name = bin[below(4)];
        size_t b = partner(a);
        if (below(2)) {   /* either side may be the broadcast one */
            size_t t = a;
            a = b;
            b = t;
        }
        if (!strcmp(name, "div"))
            b = positive(b);
        return op(name, 0, 0, a, (long)b, -1);
    }
    case 6: case 7:
        return op("matmul", 0, 0, a, (long)leaf(nodes[a].c, 1 + below(4), 0, NULL), -1);
    default: {
        size_t n = 1 + below(4);
        size_t w = leaf(nodes[a].c, n, 0, NULL), b = leaf(1, n, 0, NULL);
        return op(below(2) ? "dense" : "dense_relu", 0, 0, a, (long)w, (long)b);
    }
    }
}

/* sum(a ⊙ C) for a random constant C: the part of the loss that makes a
 * reach it. */
static size_t weighted_sum(size_t a)
{
    return op("sum", 0, 0, op("mul", 0, 0, a, (long)leaf(nodes[a].r, nodes[a].c, 1, NULL), -1),
              -1, -1);
}

/* The loss on node a: one of mse, softmax_ce, nll of a softmax, or a
 * weighted sum. */
static size_t loss(size_t a)
{
    size_t r = nodes[a].r, c = nodes[a].c;
    double y[64];

    switch (below(4)) {
    case 0: return op("mse", 0, 0, a, (long)leaf(r, c, 1, NULL), -1);
    case 1: case 2:
        memset(y, 0, sizeof y);
        for (size_t i = 0; i < r; i++)
            y[i * c + below(c)] = 1.0;
        if (below(2))
            return op("softmax_ce", 0, 0, a, (long)leaf(r, c, 1, y), -1);
        return op("nll", 0, 0, op("softmax", 0, 0, a, -1, -1), (long)leaf(r, c, 1, y), -1);
    default:
        return weighted_sum(a);
    }
}

int main(int argc, char **argv)
{
    long count = argc > 1 ? atol(argv[1]) : 100;
    bp_rng_seed(&rng, argc > 2 ? strtoull(argv[2], NULL, 10) : 1);

    for (long k = 0; k < count; k++) {
        size_t last = 0, out, steps = 3 + below(8);
        g = bp_graph_new();
        n_nodes = 0;
        printf("G %ld\n", k);
        for (size_t s = 0; s < steps; s++)
            last = random_op();
        out = loss(last);
        /* every op node that feeds nothing joins the loss, so that each is
         * computed and differentiated */
        for (size_t i = 0, n = n_nodes; i < n; i++)
            if (!used[i] && i != out && bp_node_op(nodes[i].n))
                out = op("add", 0, 0, out, (long)weighted_sum(i), -1);
        printf("L %zu\n", out);
        if (bp_forward(g, nodes[out].n) != BP_OK ||
            (bp_node_requires_grad(nodes[out].n) && bp_backward(g, nodes[out].n, NULL) != BP_OK)) {
            fprintf(stderr, "diffgraph_gen: graph %ld: %s\n", k, bp_graph_message(g));
            return 1;
        }
        for (size_t i = 0; i < n_nodes; i++) {
            const bp_matrix *v = bp_node_value(nodes[i].n), *d = bp_node_grad(nodes[i].n);
            if (v) {
                printf("V %zu", i);
                print_values(v);
            }
            if (d && bp_node_is_param(nodes[i].n)) {
                printf("D %zu", i);
                print_values(d);
            }
        }
        bp_graph_free(g);
    }
    return 0;
}
