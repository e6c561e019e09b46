/* SPDX-License-Identifier: MIT */
/* Graph pictures: DOT output (forward and backward), rendering with
 * Graphviz when it is installed, and the chain-rule text. */
#define _POSIX_C_SOURCE 200809L
#include "test_util.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The lesson's 2-layer network, named as the lesson names it:
 *   Z1 = x·W1 + b1, A1 = relu(Z1), Z2 = A1·W2 + b2, L = mse(Z2, y). */
typedef struct lesson {
    bp_graph *g;
    bp_node *x, *y, *W1, *b1, *Z1, *A1, *W2, *b2, *Z2, *L;
} lesson;

static lesson make_lesson(void)
{
    lesson n;
    n.g = bp_graph_new();
    n.x = bp_input(n.g, 10, 3, "x");
    n.y = bp_input(n.g, 10, 1, "y");
    n.W1 = bp_param(n.g, 3, 4, "W1");
    n.b1 = bp_param(n.g, 1, 4, "b1");
    n.W2 = bp_param(n.g, 4, 1, "W2");
    n.b2 = bp_param(n.g, 1, 1, "b2");
    n.Z1 = bp_dense(n.g, n.x, n.W1, n.b1);
    n.A1 = bp_relu(n.g, n.Z1);
    n.Z2 = bp_dense(n.g, n.A1, n.W2, n.b2);
    n.L = bp_mse(n.g, n.Z2, n.y);
    ck_assert_int_eq(bp_graph_status(n.g), BP_OK);
    bp_node_set_name(n.Z1, "Z1");
    bp_node_set_name(n.A1, "A1");
    bp_node_set_name(n.Z2, "Z2");
    bp_node_set_name(n.L, "L");
    return n;
}

/* The DOT text as a new string. */
static char *dot_string(bp_graph *g, bp_node *out, int backward)
{
    FILE *f = tmpfile();
    long size;
    char *s;
    bp_error err;

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(bp_dot_write(g, out, backward, f, &err), BP_OK);
    size = ftell(f);
    rewind(f);
    s = calloc((size_t)size + 1, 1);
    ck_assert_uint_eq(fread(s, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    return s;
}

static void assert_has(const char *text, const char *want)
{
    ck_assert_msg(strstr(text, want), "missing <%s> in:\n%s", want, text);
}

static void assert_lacks(const char *text, const char *unwanted)
{
    ck_assert_msg(!strstr(text, unwanted), "unexpected <%s> in:\n%s", unwanted, text);
}

/* Node ids are creation order: x 0, y 1, W1 2, b1 3, W2 4, b2 5, Z1 6,
 * A1 7, Z2 8, L 9. */
START_TEST(forward_dot_has_nodes_and_shaped_edges)
{
    lesson n = make_lesson();
    char *s = dot_string(n.g, n.L, 0);

    assert_has(s, "digraph bpgraph {");
    assert_has(s, "n2 [label=\"W1\\nparam\\n3x4\"");
    assert_has(s, "n0 [label=\"x\\ninput\\n10x3\"");
    assert_has(s, "n6 [label=\"Z1\\ndense\\n10x4\"");
    assert_has(s, "n9 [label=\"L\\nmse\\n1x1\"");
    /* what flows along each edge */
    assert_has(s, "n0 -> n6 [label=\"10x3\"]");
    assert_has(s, "n2 -> n6 [label=\"3x4\"]");
    assert_has(s, "n6 -> n7 [label=\"10x4\"]");
    assert_has(s, "n7 -> n8 [label=\"10x4\"]");
    assert_has(s, "n8 -> n9 [label=\"10x1\"]");
    assert_has(s, "n1 -> n9 [label=\"10x1\"]");
    ck_assert_uint_eq(s[strlen(s) - 2], '}');
    free(s);
    bp_graph_free(n.g);
}
END_TEST

START_TEST(backward_dot_reverses_gradient_edges)
{
    lesson n = make_lesson();
    char *s = dot_string(n.g, n.L, 1);

    assert_has(s, "n9 -> n8 [label=\"d(Z2) 10x1\"");
    assert_has(s, "n8 -> n7 [label=\"d(A1) 10x4\"");
    assert_has(s, "n7 -> n6 [label=\"d(Z1) 10x4\"");
    assert_has(s, "n6 -> n2 [label=\"d(W1) 3x4\"");
    assert_has(s, "n6 -> n3 [label=\"d(b1) 1x4\"");
    /* no gradient flows to the data: x and y are grey, without edges */
    assert_lacks(s, "-> n0 ");
    assert_lacks(s, "-> n1 ");
    assert_lacks(s, "n0 -> ");
    assert_has(s, "n0 [label=\"x\\ninput\\n10x3\", fillcolor=\"#eeeeee\"");
    free(s);
    bp_graph_free(n.g);
}
END_TEST

/* out limits the picture to what it depends on; NULL draws everything. */
START_TEST(dot_subgraph_and_escaping)
{
    lesson n = make_lesson();
    char *s;

    s = dot_string(n.g, n.Z1, 0);
    assert_has(s, "n6 [");
    assert_lacks(s, "n7 [");
    assert_lacks(s, "n1 [");
    free(s);
    bp_node_set_name(n.y, "say \"hi\"");
    s = dot_string(n.g, NULL, 0);
    assert_has(s, "n1 [label=\"say \\\"hi\\\"\\ninput");
    assert_has(s, "n9 [");
    free(s);
    bp_graph_free(n.g);
}
END_TEST

/* Tensor nodes and edges are labelled with their full shapes, not their
 * matrix views (224x64, 1x5). */
START_TEST(dot_labels_full_shapes)
{
    bp_graph *g = bp_graph_new();
    bp_node *x = bp_input_nd(g, &(bp_shape){3, {32, 7, 64}}, "x");
    bp_node *w = bp_param_nd(g, &(bp_shape){1, {5}}, "w");
    bp_node *v = bp_param_nd(g, &(bp_shape){4, {2, 1, 3, 4}}, "v");
    bp_node *y = bp_scale(g, x, 2.5);
    char *s;

    ck_assert_ptr_nonnull(bp_scale(g, w, 2.5));
    ck_assert_ptr_nonnull(bp_scale(g, v, 2.5));
    ck_assert_int_eq(bp_node_set_name(y, "y"), BP_OK);
    ck_assert_int_eq(bp_graph_status(g), BP_OK);
    s = dot_string(g, NULL, 0);
    assert_has(s, "n0 [label=\"x\\ninput\\n32x7x64\"");
    assert_has(s, "n1 [label=\"w\\nparam\\n5\"");
    assert_has(s, "n2 [label=\"v\\nparam\\n2x1x3x4\"");
    assert_has(s, "n3 [label=\"y\\nscale\\n32x7x64\"");
    assert_has(s, "n0 -> n3 [label=\"32x7x64\"]");
    assert_has(s, "n1 -> n4 [label=\"5\"]");
    assert_has(s, "n2 -> n5 [label=\"2x1x3x4\"]");
    assert_lacks(s, "224x64");
    free(s);
    s = dot_string(g, NULL, 1);
    assert_has(s, "n4 -> n1 [label=\"d(w) 5\"");
    assert_has(s, "n5 -> n2 [label=\"d(v) 2x1x3x4\"");
    free(s);
    bp_graph_free(g);
}
END_TEST

START_TEST(dot_errors)
{
    lesson n = make_lesson();
    bp_graph *other = bp_graph_new();
    bp_error err;

    ck_assert_int_eq(bp_dot_write(other, n.L, 0, stdout, &err), BP_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "another graph"));
    ck_assert_int_eq(bp_dot_write(n.g, n.L, 0, NULL, &err), BP_EINVAL);
    ck_assert_int_eq(bp_dot_save(n.g, n.L, 0, "/nonexistent-dir/g.dot", &err), BP_EIO);
    ck_assert_ptr_nonnull(strstr(err.message, "/nonexistent-dir/g.dot"));
    bp_graph_free(other);
    bp_graph_free(n.g);
}
END_TEST

/* Graphviz renders the file: the PNG starts with its 8-byte signature. */
START_TEST(dot_renders_with_graphviz)
{
    lesson n = make_lesson();
    char dir[] = "/tmp/bp_dot_XXXXXX", dotp[64], png[64], cmd[256];
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    unsigned char head[8];
    FILE *f;
    bp_error err;

    if (system("command -v dot >/dev/null 2>&1") != 0) {
        printf("check_dot: Graphviz 'dot' not installed; skipping the rendering test "
               "(apt-get install graphviz)\n");
        bp_graph_free(n.g);
        return;
    }
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(dotp, sizeof dotp, "%s/g.dot", dir);
    snprintf(png, sizeof png, "%s/g.png", dir);
    for (int backward = 0; backward < 2; backward++) {
        ck_assert_int_eq(bp_dot_save(n.g, n.L, backward, dotp, &err), BP_OK);
        snprintf(cmd, sizeof cmd, "dot -Tpng '%s' -o '%s'", dotp, png);
        ck_assert_int_eq(system(cmd), 0);
        f = fopen(png, "rb");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fread(head, 1, 8, f), 8);
        fseek(f, 0, SEEK_END);
        ck_assert_int_gt(ftell(f), 1000);
        fclose(f);
        ck_assert_mem_eq(head, sig, 8);
        unlink(png);
    }
    unlink(dotp);
    rmdir(dir);
    bp_graph_free(n.g);
}
END_TEST

START_TEST(chain_for_the_lessons_network)
{
    lesson n = make_lesson();
    char buf[512];
    size_t need;

    ck_assert_int_eq(bp_grad_chain(n.g, n.L, n.W1, BP_CHAIN_TEXT, buf, sizeof buf, &need, NULL), BP_OK);
    ck_assert_str_eq(buf, "dL/dW1 = dL/dZ2 * dZ2/dA1 * dA1/dZ1 * dZ1/dW1");
    ck_assert_uint_eq(need, strlen(buf));
    ck_assert_int_eq(bp_grad_chain(n.g, n.L, n.W2, BP_CHAIN_TEXT, buf, sizeof buf, NULL, NULL), BP_OK);
    ck_assert_str_eq(buf, "dL/dW2 = dL/dZ2 * dZ2/dW2");
    ck_assert_int_eq(bp_grad_chain(n.g, n.L, n.b1, BP_CHAIN_LATEX, buf, sizeof buf, NULL, NULL), BP_OK);
    ck_assert_str_eq(buf,
        "\\frac{\\partial L}{\\partial b_{1}} = \\frac{\\partial L}{\\partial Z_{2}} \\cdot "
        "\\frac{\\partial Z_{2}}{\\partial A_{1}} \\cdot \\frac{\\partial A_{1}}{\\partial Z_{1}} \\cdot "
        "\\frac{\\partial Z_{1}}{\\partial b_{1}}");
    /* the data carries no gradient: no path */
    ck_assert_int_eq(bp_grad_chain(n.g, n.L, n.x, BP_CHAIN_TEXT, buf, sizeof buf, NULL, NULL), BP_OK);
    ck_assert_str_eq(buf, "dL/dx = 0");
    ck_assert_int_eq(bp_grad_chain(n.g, n.L, n.L, BP_CHAIN_TEXT, buf, sizeof buf, NULL, NULL), BP_OK);
    ck_assert_str_eq(buf, "dL/dL = 1");
    bp_graph_free(n.g);
}
END_TEST

/* A param used twice: the chain is a sum over both paths.  Unnamed nodes
 * are written n<index>. */
START_TEST(chain_sums_over_paths)
{
    bp_graph *g = bp_graph_new();
    bp_node *w = bp_param(g, 1, 2, "w");
    bp_node *a = bp_exp(g, w), *b = bp_tanh(g, w);
    bp_node *P = bp_mul(g, a, b), *L = bp_sum(g, P);
    bp_node *d = bp_detach(g, w), *L2 = bp_sum(g, bp_mul(g, bp_sqrt(g, d), w));
    char buf[512];

    bp_node_set_name(a, "a");
    bp_node_set_name(b, "b");
    bp_node_set_name(P, "P");
    bp_node_set_name(L, "L");
    ck_assert_int_eq(bp_grad_chain(g, L, w, BP_CHAIN_TEXT, buf, sizeof buf, NULL, NULL), BP_OK);
    ck_assert_str_eq(buf, "dL/dw = dL/dP * dP/da * da/dw + dL/dP * dP/db * db/dw");
    /* through detach no gradient flows: one path, the direct one;
     * ids: w 0, a 1, b 2, P 3, L 4, detach 5, sqrt 6, mul 7, sum 8 */
    ck_assert_int_eq(bp_grad_chain(g, L2, w, BP_CHAIN_TEXT, buf, sizeof buf, NULL, NULL), BP_OK);
    ck_assert_str_eq(buf, "dn8/dw = dn8/dn7 * dn7/dw");
    bp_graph_free(g);
}
END_TEST

/* snprintf rules: truncated but terminated, full length reported; the
 * FILE version writes the same text. */
START_TEST(chain_truncation_and_file)
{
    lesson n = make_lesson();
    const char *full = "dL/dW1 = dL/dZ2 * dZ2/dA1 * dA1/dZ1 * dZ1/dW1";
    char small[12], back[128] = {0};
    size_t need = 0;
    FILE *f = tmpfile();

    ck_assert_int_eq(bp_grad_chain(n.g, n.L, n.W1, BP_CHAIN_TEXT, small, sizeof small, &need, NULL), BP_OK);
    ck_assert_uint_eq(need, strlen(full));
    ck_assert_str_eq(small, "dL/dW1 = dL");
    ck_assert_int_eq(bp_grad_chain(n.g, n.L, n.W1, BP_CHAIN_TEXT, NULL, 0, &need, NULL), BP_OK);
    ck_assert_uint_eq(need, strlen(full));
    ck_assert_int_eq(bp_grad_chain_write(n.g, n.L, n.W1, BP_CHAIN_TEXT, f, NULL), BP_OK);
    rewind(f);
    ck_assert_ptr_nonnull(fgets(back, sizeof back, f));
    ck_assert_str_eq(back, full);
    fclose(f);
    ck_assert_int_eq(bp_grad_chain(n.g, NULL, n.W1, BP_CHAIN_TEXT, small, sizeof small, NULL, NULL),
                     BP_EINVAL);
    bp_graph_free(n.g);
}
END_TEST

static Suite *dot_suite(void)
{
    Suite *s = suite_create("dot");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, forward_dot_has_nodes_and_shaped_edges);
    tcase_add_test(tc, backward_dot_reverses_gradient_edges);
    tcase_add_test(tc, dot_subgraph_and_escaping);
    tcase_add_test(tc, dot_labels_full_shapes);
    tcase_add_test(tc, dot_errors);
    tcase_add_test(tc, dot_renders_with_graphviz);
    tcase_add_test(tc, chain_for_the_lessons_network);
    tcase_add_test(tc, chain_sums_over_paths);
    tcase_add_test(tc, chain_truncation_and_file);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(dot_suite());
}
