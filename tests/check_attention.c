/* SPDX-License-Identifier: MIT */
/* Attention blocks: the values and gradients of bp_attention and
 * bp_transformer_block against PyTorch's (fixtures/attention_torch.h, made
 * by attention_torch.py), causality (the output at position t does not
 * move when later positions do), and the gradient checker over blocks and
 * over a whole small model. */
#include "test_util.h"

#include "fixtures/attention_torch.h"

/* x as a param (so that its gradient is computed too), of the fixture's
 * shape and values. */
static bp_node *x_param(bp_graph *g)
{
    bp_node *x = bp_param_nd(g, &(bp_shape){3, {ATT_B, ATT_T, ATT_D}}, "x");

    tu_set(x, ATT_B * ATT_T, ATT_D, att_x);
    return x;
}

/* Copies values[k] into the k-th param after x, in creation order. */
static void set_params(bp_graph *g, const double *const *values, const size_t *sizes,
                       size_t n)
{
    size_t k = 0;

    for (size_t i = 0; i < bp_graph_size(g); i++) {
        bp_node *p = bp_graph_node(g, i);
        bp_matrix *v;

        if (!bp_node_is_param(p) || strcmp(bp_node_name(p), "x") == 0)
            continue;
        ck_assert_uint_lt(k, n);
        v = bp_node_value(p);
        ck_assert_uint_eq(v->rows * v->cols, sizes[k]);
        memcpy(v->data, values[k], sizes[k] * sizeof(double));
        k++;
    }
    ck_assert_uint_eq(k, n);
}

/* sum(out ⊙ r), the fixture's loss, forwarded and backpropagated; then
 * out, dx and every param's gradient compared with PyTorch's. */
static void compare_with_torch(bp_graph *g, bp_node *x, bp_node *out, const double *want_out,
                               const double *want_dx, const double *const *want_grads,
                               const size_t *sizes, size_t n)
{
    bp_node *r = bp_constant_nd(g, &(bp_shape){3, {ATT_B, ATT_T, ATT_D}}, att_r, "r");
    bp_node *loss = bp_sum(g, bp_mul(g, out, r));
    size_t k = 0;

    ck_assert_msg(bp_graph_status(g) == BP_OK, "%s", bp_graph_message(g));
    ck_assert_int_eq(bp_forward(g, loss), BP_OK);
    tu_assert_matrix_near(bp_node_value(out), want_out, 1e-13);
    ck_assert_int_eq(bp_backward(g, loss, NULL), BP_OK);
    tu_assert_matrix_near(bp_node_grad(x), want_dx, 1e-13);
    for (size_t i = 0; i < bp_graph_size(g); i++) {
        bp_node *p = bp_graph_node(g, i);

        if (!bp_node_is_param(p) || p == x)
            continue;
        ck_assert_uint_eq(bp_node_grad(p)->rows * bp_node_grad(p)->cols, sizes[k]);
        tu_assert_matrix_near(bp_node_grad(p), want_grads[k], 1e-13);
        k++;
    }
    ck_assert_uint_eq(k, n);
}

START_TEST(attention_matches_torch)
{
    bp_graph *g = bp_graph_new();
    bp_rng rng = tu_rng(7);
    bp_attention a;
    bp_node *x = x_param(g), *out;
    const bp_shape *s;

    ck_assert_int_eq(bp_attention_init(g, &a, ATT_D, ATT_H, "attn", &rng), BP_OK);
    ck_assert_str_eq(bp_node_name(a.q.w), "attn.q.w");
    ck_assert_str_eq(bp_node_name(a.o.b), "attn.o.b");
    set_params(g, attn_params, attn_sizes, ATTN_N_PARAMS);
    out = bp_attention_apply(g, &a, x);
    ck_assert_ptr_nonnull(out);
    s = bp_node_shape(out);
    ck_assert_uint_eq(s->rank, 3);
    ck_assert_uint_eq(s->dim[0], ATT_B);
    ck_assert_uint_eq(s->dim[1], ATT_T);
    ck_assert_uint_eq(s->dim[2], ATT_D);
    compare_with_torch(g, x, out, attn_out, attn_dx, attn_grads, attn_sizes, ATTN_N_PARAMS);
    bp_graph_free(g);
}
END_TEST

/* nn.Linear's init: every weight and bias within ±1/√D, and not all
 * alike. */
START_TEST(attention_init_is_linear_like)
{
    bp_graph *g = bp_graph_new();
    bp_rng rng = tu_rng(11);
    bp_attention a;
    const double bound = 1.0 / sqrt(8.0);
    bp_node *ps[8];
    double lo = 1, hi = -1;

    ck_assert_int_eq(bp_attention_init(g, &a, 8, 4, "a", &rng), BP_OK);
    ps[0] = a.q.w, ps[1] = a.q.b, ps[2] = a.k.w, ps[3] = a.k.b;
    ps[4] = a.v.w, ps[5] = a.v.b, ps[6] = a.o.w, ps[7] = a.o.b;
    for (size_t i = 0; i < 8; i++) {
        const bp_matrix *v = bp_node_value(ps[i]);
        ck_assert_uint_eq(v->rows * v->cols, i % 2 ? 8 : 64);
        for (size_t k = 0; k < v->rows * v->cols; k++) {
            lo = fmin(lo, v->data[k]);
            hi = fmax(hi, v->data[k]);
        }
    }
    ck_assert(lo >= -bound && hi <= bound);
    ck_assert(lo < -0.9 * bound && hi > 0.9 * bound);   /* spread over the range */
    bp_graph_free(g);
}
END_TEST

/* Changing positions t+1.. of x leaves positions 0..t of the output exactly
 * as they were, and changes the later ones. */
START_TEST(attention_is_causal)
{
    bp_graph *g = bp_graph_new();
    bp_rng rng = tu_rng(3);
    bp_attention a;
    bp_node *x = bp_input_nd(g, &(bp_shape){3, {ATT_B, ATT_T, ATT_D}}, "x"), *out;
    double x2[ATT_B * ATT_T * ATT_D], before[ATT_B * ATT_T * ATT_D];
    const size_t n = ATT_B * ATT_T * ATT_D;

    ck_assert_int_eq(bp_attention_init(g, &a, ATT_D, ATT_H, "attn", &rng), BP_OK);
    out = bp_attention_apply(g, &a, x);
    for (size_t t = 0; t + 1 < ATT_T; t++) {
        tu_set(x, ATT_B * ATT_T, ATT_D, att_x);
        ck_assert_int_eq(bp_forward(g, out), BP_OK);
        memcpy(before, bp_node_value(out)->data, sizeof before);
        memcpy(x2, att_x, sizeof x2);
        for (size_t k = 0; k < n; k++)
            if ((k / ATT_D) % ATT_T > t)
                x2[k] += 0.731 + 0.1 * (double)(k % 5);
        tu_set(x, ATT_B * ATT_T, ATT_D, x2);
        ck_assert_int_eq(bp_forward(g, out), BP_OK);
        for (size_t k = 0; k < n; k++) {
            const double now = bp_node_value(out)->data[k];
            if ((k / ATT_D) % ATT_T <= t)
                ck_assert_msg(now == before[k], "t %zu: entry %zu moved from %.17g to %.17g",
                              t, k, before[k], now);
            else
                ck_assert_msg(fabs(now - before[k]) > 1e-6, "t %zu: entry %zu did not move",
                              t, k);
        }
    }
    bp_graph_free(g);
}
END_TEST

/* The checker passes the attention's whole graph: every param's gradient
 * against finite differences. */
START_TEST(attention_passes_gradcheck)
{
    bp_graph *g = bp_graph_new();
    bp_rng rng = tu_rng(5);
    bp_attention a;
    bp_node *x = x_param(g), *loss;
    bp_check_report rep;

    ck_assert_int_eq(bp_attention_init(g, &a, ATT_D, ATT_H, "attn", &rng), BP_OK);
    loss = bp_sum(g, bp_tanh(g, bp_attention_apply(g, &a, x)));
    ck_assert_int_eq(bp_gradcheck_graph(g, loss, NULL, &rep), BP_OK);
    ck_assert_msg(rep.result == BP_CHECK_PASS, "%s %s", rep.message, rep.diagnosis);
    ck_assert_uint_ge(rep.n_compared, ATT_B * ATT_T * ATT_D + 4 * (ATT_D * ATT_D + ATT_D));
    bp_check_report_clear(&rep);
    bp_graph_free(g);
}
END_TEST

/* The block against PyTorch's (nn.LayerNorm, the attention, nn.Linear,
 * nn.GELU); with dropout 0, and with dropout 0.3 in eval mode, where it is
 * the identity. */
static void block_vs_torch(double dropout, int training)
{
    bp_graph *g = bp_graph_new();
    bp_rng rng = tu_rng(9);
    bp_transformer_block blk;
    bp_node *x = x_param(g), *out;

    ck_assert_int_eq(bp_transformer_block_init(g, &blk, ATT_D, ATT_H, ATT_FF, dropout, "blk",
                                               &rng), BP_OK);
    ck_assert_str_eq(bp_node_name(blk.ln1_gamma), "blk.ln1.gamma");
    ck_assert_str_eq(bp_node_name(blk.attn.v.b), "blk.attn.v.b");
    ck_assert_str_eq(bp_node_name(blk.fc2.w), "blk.fc2.w");
    set_params(g, blk_params, blk_sizes, BLK_N_PARAMS);
    bp_graph_set_training(g, training);
    out = bp_transformer_block_apply(g, &blk, x);
    compare_with_torch(g, x, out, blk_out, blk_dx, blk_grads, blk_sizes, BLK_N_PARAMS);
    bp_graph_free(g);
}

START_TEST(block_matches_torch)
{
    block_vs_torch(0.0, 1);
    block_vs_torch(0.3, 0);
}
END_TEST

/* The layer norms start as the identity map's scale and shift: 1 and 0. */
START_TEST(block_init)
{
    bp_graph *g = bp_graph_new();
    bp_rng rng = tu_rng(2);
    bp_transformer_block blk;
    const bp_matrix *gamma, *beta;

    ck_assert_int_eq(bp_transformer_block_init(g, &blk, 8, 2, 12, 0.1, NULL, &rng), BP_OK);
    ck_assert_str_eq(bp_node_name(blk.ln2_beta), "block.ln2.beta");
    ck_assert_str_eq(bp_node_name(blk.attn.q.w), "block.attn.q.w");
    gamma = bp_node_value(blk.ln1_gamma);
    beta = bp_node_value(blk.ln2_beta);
    ck_assert_uint_eq(bp_node_shape(blk.ln1_gamma)->rank, 1);
    for (size_t k = 0; k < 8; k++) {
        ck_assert(gamma->data[k] == 1.0);
        ck_assert(beta->data[k] == 0.0);
    }
    ck_assert_uint_eq(bp_node_rows(blk.fc1.w), 8);
    ck_assert_uint_eq(bp_node_cols(blk.fc1.w), 12);
    ck_assert_uint_eq(bp_node_rows(blk.fc2.w), 12);
    ck_assert_uint_eq(bp_node_cols(blk.fc2.w), 8);
    ck_assert_double_eq(blk.dropout, 0.1);
    bp_graph_free(g);
}
END_TEST

/* A whole small model as examples/transformer builds it, its loss checked
 * by finite differences in every param: token and position embeddings,
 * dropout, 2 blocks of 2 heads with dropout in training mode, a final
 * layer norm, a linear head and cross-entropy over ids with one ignored. */
START_TEST(small_model_passes_gradcheck)
{
    enum { B = 2, T = 4, D = 8, V = 5 };
    const double ids[B * T] = {3, 0, 4, 4, 1, 2, 0, 3};
    const double targets[B * T] = {0, 4, 4, 1, 2, -1, 3, 2};
    const double positions[T] = {0, 1, 2, 3};
    bp_graph *g = bp_graph_new();
    bp_rng rng = tu_rng(21);
    bp_transformer_block blk[2];
    bp_dense_layer head;
    bp_node *in = bp_input_nd(g, &(bp_shape){2, {B, T}}, "ids");
    bp_node *tg = bp_input_nd(g, &(bp_shape){2, {B, T}}, "targets");
    bp_node *tok = bp_param(g, V, D, "tok"), *pos = bp_param(g, T, D, "pos");
    bp_node *gamma = bp_param_nd(g, &(bp_shape){1, {D}}, "ln_f.gamma");
    bp_node *beta = bp_param_nd(g, &(bp_shape){1, {D}}, "ln_f.beta");
    bp_node *x, *loss;
    bp_check_report rep;

    bp_graph_set_seed(g, 99);
    bp_init_uniform(tok, -1.0, 1.0, &rng);
    bp_init_uniform(pos, -1.0, 1.0, &rng);
    bp_init_uniform(gamma, 0.8, 1.2, &rng);
    bp_init_uniform(beta, -0.2, 0.2, &rng);
    x = bp_add(g, bp_gather(g, tok, in),
               bp_gather(g, pos, bp_constant_nd(g, &(bp_shape){1, {T}}, positions, "positions")));
    x = bp_dropout(g, x, 0.1);
    for (size_t l = 0; l < 2; l++) {
        ck_assert_int_eq(bp_transformer_block_init(g, &blk[l], D, 2, 2 * D, 0.1, l ? "b1" : "b0",
                                                   &rng), BP_OK);
        x = bp_transformer_block_apply(g, &blk[l], x);
    }
    ck_assert_int_eq(bp_dense_layer_init(g, &head, D, V, "head", &rng), BP_OK);
    loss = bp_cross_entropy(g, bp_dense_layer_apply(g, &head, bp_layer_norm(g, x, gamma, beta,
                                                                             1e-5)),
                            tg, -1.0);
    tu_set(in, B, T, ids);
    tu_set(tg, B, T, targets);
    ck_assert_msg(bp_graph_status(g) == BP_OK, "%s", bp_graph_message(g));
    ck_assert(bp_graph_training(g));
    ck_assert_int_eq(bp_gradcheck_graph(g, loss, NULL, &rep), BP_OK);
    ck_assert_msg(rep.result == BP_CHECK_PASS, "%s %s", rep.message, rep.diagnosis);
    /* every param element: the embeddings, 2 blocks, the norm, the head */
    ck_assert_uint_ge(rep.n_compared, V * D + T * D + 2 * 600 + 2 * D + D * V + V);
    bp_check_report_clear(&rep);
    bp_graph_free(g);
}
END_TEST

static Suite *attention_suite(void)
{
    Suite *s = suite_create("attention");
    TCase *tc = tcase_create("attention");
    tcase_add_test(tc, attention_matches_torch);
    tcase_add_test(tc, attention_init_is_linear_like);
    tcase_add_test(tc, attention_is_causal);
    tcase_add_test(tc, attention_passes_gradcheck);
    tcase_add_test(tc, block_matches_torch);
    tcase_add_test(tc, block_init);
    tcase_add_test(tc, small_model_passes_gradcheck);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(attention_suite());
}
