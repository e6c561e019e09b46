/* SPDX-License-Identifier: MIT */
/* Pictures of a graph: Graphviz DOT (forward and backward) and the chain
 * rule written out as sums of products of partial derivatives. */
#include "bp_private.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Output to a FILE or, snprintf-like, to a caller's buffer. */
typedef struct sink {
    FILE *f;
    char *buf;
    size_t size;
    size_t len;     /* bytes produced so far, whether they fitted or not */
    int failed;     /* a write to f failed */
} sink;

static void sink_printf(sink *s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void sink_printf(sink *s, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    if (s->f) {
        n = vfprintf(s->f, fmt, ap);
        if (n < 0)
            s->failed = 1;
    } else {
        char *dst = s->len < s->size ? s->buf + s->len : NULL;
        n = vsnprintf(dst, dst ? s->size - s->len : 0, fmt, ap);
    }
    va_end(ap);
    if (n > 0)
        s->len += (size_t)n;
}

static const char *kind_label(const bp_node *n)
{
    switch (n->kind) {
    case BPI_INPUT: return "input";
    case BPI_PARAM: return "param";
    case BPI_CONSTANT: return "constant";
    default: return n->op->name;
    }
}

/* A string inside a DOT "..." label. */
static void dot_escaped(sink *s, const char *str)
{
    for (; *str; str++) {
        if (*str == '"' || *str == '\\')
            sink_printf(s, "\\%c", *str);
        else if (*str == '\n')
            sink_printf(s, "\\n");
        else
            sink_printf(s, "%c", *str);
    }
}

/* A gradient flows from op node n to its input k. */
static int grad_edge(const bp_node *n, size_t k)
{
    return n->kind == BPI_OP && n->requires_grad && !(n->op->flags & BP_OP_STOP_GRAD) &&
           n->in[k]->requires_grad;
}

static bp_status check_nodes(bp_graph *g, const bp_node *a, const bp_node *b, bp_error *err,
                             const char *fn)
{
    if (!g)
        return bpi_set_error(err, BP_EINVAL, "%s: graph is NULL", fn);
    if ((a && a->graph != g) || (b && b->graph != g))
        return bpi_set_error(err, BP_EINVAL, "%s: node belongs to another graph", fn);
    return BP_OK;
}

/* mark[i] = 1 for every node out depends on (all nodes when out is NULL). */
static void mark_needed(bp_graph *g, const bp_node *out)
{
    if (!g->n_nodes)
        return;
    if (!out) {
        memset(g->mark, 1, g->n_nodes);
        return;
    }
    memset(g->mark + out->id + 1, 0, g->n_nodes - out->id - 1);
    bpi_mark_ancestors(g, out, 0);
}

static bp_status dot_write(bp_graph *g, bp_node *out, int backward, FILE *f, bp_error *err)
{
    sink s = {f, NULL, 0, 0, 0};
    char dims[BPI_SHAPE_STR];
    bp_status st = check_nodes(g, out, NULL, err, "dot");

    if (st != BP_OK)
        return st;
    if (!f)
        return bpi_set_error(err, BP_EINVAL, "dot: FILE is NULL");
    mark_needed(g, out);
    sink_printf(&s, "digraph bpgraph {\n  /* %s */\n  rankdir=LR;\n",
                backward ? "backward: edges carry d(value) from the loss towards the params"
                         : "forward: edges carry values, labelled with their shapes");
    sink_printf(&s, "  node [shape=box, style=\"rounded,filled\", fillcolor=white, fontname=\"Helvetica\"];\n"
                    "  edge [fontname=\"Helvetica\", fontsize=10];\n");
    for (size_t i = 0; i < g->n_nodes; i++) {
        const bp_node *n = g->nodes[i];
        const char *fill = n->kind == BPI_PARAM ? "#ffe8a8" : n->kind == BPI_OP ? "#d8e8ff" : "#e4f4dc";
        if (!g->mark[i])
            continue;
        sink_printf(&s, "  n%zu [label=\"", i);
        if (n->name) {
            dot_escaped(&s, n->name);
            sink_printf(&s, "\\n");
        }
        dot_escaped(&s, kind_label(n));
        sink_printf(&s, "\\n%s\"", bpi_shape_str(&n->shape, dims, sizeof dims));
        if (backward && !n->requires_grad)
            sink_printf(&s, ", fillcolor=\"#eeeeee\", fontcolor=gray50, color=gray60");
        else
            sink_printf(&s, ", fillcolor=\"%s\"", fill);
        if (n->kind != BPI_OP)
            sink_printf(&s, ", shape=ellipse");
        sink_printf(&s, "];\n");
    }
    for (size_t i = 0; i < g->n_nodes; i++) {
        const bp_node *n = g->nodes[i];
        if (!g->mark[i] || n->kind != BPI_OP)
            continue;
        for (size_t k = 0; k < n->n_in; k++) {
            const bp_node *in = n->in[k];
            if (!backward) {
                sink_printf(&s, "  n%zu -> n%zu [label=\"%s\"];\n", in->id, i,
                            bpi_shape_str(&in->shape, dims, sizeof dims));
            } else if (grad_edge(n, k)) {
                sink_printf(&s, "  n%zu -> n%zu [label=\"d(", i, in->id);
                if (in->name)
                    dot_escaped(&s, in->name);
                else
                    sink_printf(&s, "n%zu", in->id);
                sink_printf(&s, ") %s\", color=\"#c03030\", fontcolor=\"#c03030\"];\n",
                            bpi_shape_str(&in->shape, dims, sizeof dims));
            }
        }
    }
    sink_printf(&s, "}\n");
    if (s.failed || ferror(f))
        return bpi_set_error(err, BP_EIO, "dot: write failed");
    return BP_OK;
}

static bp_status dot_save(bp_graph *g, bp_node *out, int backward, const char *path, bp_error *err)
{
    FILE *f;
    bp_status st;

    if (!path)
        return bpi_set_error(err, BP_EINVAL, "dot: path is NULL");
    st = check_nodes(g, out, NULL, err, "dot");
    if (st != BP_OK)
        return st;
    f = fopen(path, "w");
    if (!f)
        return bpi_set_error(err, BP_EIO, "%s: cannot open for writing: %s", path, strerror(errno));
    st = dot_write(g, out, backward, f, err);
    if (fclose(f) != 0 && st == BP_OK)
        st = bpi_set_error(err, BP_EIO, "%s: write failed: %s", path, strerror(errno));
    else if (st == BP_EIO)
        bpi_set_error(err, BP_EIO, "%s: write failed", path);
    return st;
}

/* Both record a failure in g too (bpi_report). */
bp_status bp_dot_write(bp_graph *g, bp_node *out, int backward, FILE *f, bp_error *err)
{
    bp_error found = {BP_OK, ""};

    return bpi_report(g, dot_write(g, out, backward, f, &found), &found, err);
}

bp_status bp_dot_save(bp_graph *g, bp_node *out, int backward, const char *path, bp_error *err)
{
    bp_error found = {BP_OK, ""};

    return bpi_report(g, dot_save(g, out, backward, path, &found), &found, err);
}

/* ---- derivative chains ---- */

/* A node's symbol: its name, or n<index>; in LaTeX, trailing digits become
 * a subscript and longer names are set upright. */
static void symbol(sink *s, const bp_node *n, bp_chain_format fmt)
{
    const char *name = n->name;
    size_t len, base;

    if (!name) {
        if (fmt == BP_CHAIN_LATEX)
            sink_printf(s, "n_{%zu}", n->id);
        else
            sink_printf(s, "n%zu", n->id);
        return;
    }
    if (fmt == BP_CHAIN_TEXT) {
        sink_printf(s, "%s", name);
        return;
    }
    len = strlen(name);
    base = len;
    while (base > 1 && name[base - 1] >= '0' && name[base - 1] <= '9')
        base--;
    if (base > 1)
        sink_printf(s, "\\mathrm{");
    for (size_t i = 0; i < base; i++) {
        char c = name[i];
        if (strchr("_#$%&{}", c))
            sink_printf(s, "\\%c", c);
        else if (c == '\\' || c == '^' || c == '~')
            sink_printf(s, "\\backslash{}");
        else
            sink_printf(s, "%c", c);
    }
    if (base > 1)
        sink_printf(s, "}");
    if (base < len)
        sink_printf(s, "_{%s}", name + base);
}

static void partial(sink *s, const bp_node *top, const bp_node *bottom, bp_chain_format fmt)
{
    if (fmt == BP_CHAIN_LATEX) {
        sink_printf(s, "\\frac{\\partial ");
        symbol(s, top, fmt);
        sink_printf(s, "}{\\partial ");
        symbol(s, bottom, fmt);
        sink_printf(s, "}");
    } else {
        sink_printf(s, "d");
        symbol(s, top, fmt);
        sink_printf(s, "/d");
        symbol(s, bottom, fmt);
    }
}

static bp_status write_chain(bp_graph *g, bp_node *loss, bp_node *wrt, bp_chain_format fmt,
                             sink *s, bp_error *err)
{
    const char *times = fmt == BP_CHAIN_LATEX ? " \\cdot " : " * ";
    size_t *stack, *next, depth, paths = 0;
    unsigned char *reach;

    if (!g || !loss || !wrt)
        return bpi_set_error(err, BP_EINVAL, "grad_chain: NULL graph or node");
    if (loss->graph != g || wrt->graph != g)
        return bpi_set_error(err, BP_EINVAL, "grad_chain: node belongs to another graph");
    if (fmt != BP_CHAIN_TEXT && fmt != BP_CHAIN_LATEX)
        return bpi_set_error(err, BP_EINVAL, "grad_chain: unknown format %d", (int)fmt);
    partial(s, loss, wrt, fmt);
    sink_printf(s, " = ");
    if (loss == wrt) {
        sink_printf(s, "1");
        return BP_OK;
    }
    /* reach[i]: a gradient path leads from node i down to wrt.  Only ids
     * between wrt and loss can be on a path (creation order is
     * topological). */
    reach = bpi_calloc(g->n_nodes, 1);
    stack = bpi_malloc(g->n_nodes * sizeof *stack);
    next = bpi_malloc(g->n_nodes * sizeof *next);
    if (!reach || !stack || !next) {
        bpi_free(reach);
        bpi_free(stack);
        bpi_free(next);
        return bpi_set_error(err, BP_ENOMEM, "grad_chain: out of memory");
    }
    reach[wrt->id] = 1;
    for (size_t i = wrt->id + 1; i <= loss->id && i < g->n_nodes; i++) {
        const bp_node *n = g->nodes[i];
        for (size_t k = 0; k < n->n_in && n->kind == BPI_OP; k++)
            if (grad_edge(n, k) && reach[n->in[k]->id])
                reach[i] = 1;
    }
    if (wrt->id < loss->id && reach[loss->id]) {
        /* Depth-first over inputs; stack holds the current path. */
        depth = 1;
        stack[0] = loss->id;
        next[0] = 0;
        while (depth > 0) {
            const bp_node *n = g->nodes[stack[depth - 1]];
            size_t k = next[depth - 1]++;
            if (n == wrt) {
                if (paths++)
                    sink_printf(s, " + ");
                for (size_t d = 0; d + 1 < depth; d++) {
                    if (d)
                        sink_printf(s, "%s", times);
                    partial(s, g->nodes[stack[d]], g->nodes[stack[d + 1]], fmt);
                }
                depth--;
                continue;
            }
            if (k >= n->n_in) {
                depth--;
                continue;
            }
            if (grad_edge(n, k) && reach[n->in[k]->id]) {
                stack[depth] = n->in[k]->id;
                next[depth] = 0;
                depth++;
            }
        }
    }
    if (paths == 0)
        sink_printf(s, "0");
    bpi_free(reach);
    bpi_free(stack);
    bpi_free(next);
    return BP_OK;
}

bp_status bp_grad_chain(bp_graph *g, bp_node *loss, bp_node *wrt, bp_chain_format format,
                        char *buf, size_t size, size_t *needed, bp_error *err)
{
    sink s = {NULL, buf, buf ? size : 0, 0, 0};
    bp_error found = {BP_OK, ""};
    bp_status st;

    if (buf && size > 0)
        buf[0] = '\0';
    st = write_chain(g, loss, wrt, format, &s, &found);
    if (needed)
        *needed = s.len;
    return bpi_report(g, st, &found, err);
}

bp_status bp_grad_chain_write(bp_graph *g, bp_node *loss, bp_node *wrt, bp_chain_format format,
                              FILE *f, bp_error *err)
{
    sink s = {f, NULL, 0, 0, 0};
    bp_error found = {BP_OK, ""};
    bp_status st;

    if (!f)
        st = bpi_set_error(&found, BP_EINVAL, "grad_chain: FILE is NULL");
    else
        st = write_chain(g, loss, wrt, format, &s, &found);
    if (st == BP_OK && (s.failed || ferror(f)))
        st = bpi_set_error(&found, BP_EIO, "grad_chain: write failed");
    return bpi_report(g, st, &found, err);
}
