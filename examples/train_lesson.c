/* SPDX-License-Identifier: MIT */
/* README "Training the lesson's network, in C": the lesson's 2-layer
 * network trained on the weather table with the training kit (a split in
 * file order, standardisation fitted on the training rows, shuffled
 * minibatches, Adam), its gradients checked by finite differences, and the
 * chain rule for dL/dW1.  README quotes the marked parts.
 *
 *   train_lesson [clean_weather.csv [model.bpp]]
 */
#include <bpgraph.h>
#include <stdio.h>

/* The training split's rows, standardised with their own mean and standard
 * deviation (*xtrain, *ytrain new). */
static bp_status load_training_rows(const char *csv, bp_matrix **xtrain, bp_matrix **ytrain,
                                    bp_error *err)
{
    static const char *const features[3] = {"tmax", "tmin", "rain"};
    static const char *const target[1] = {"tmax_tomorrow"};
    bp_matrix *x = NULL, *y = NULL;
    bp_scaler *xs = NULL, *ys = NULL;
    bp_split split = {0};
    bp_status st;

    *xtrain = *ytrain = NULL;
    if ((st = bp_csv_read(csv, features, 3, &x, NULL, err)) == BP_OK &&
        (st = bp_csv_read(csv, target, 1, &y, NULL, err)) == BP_OK &&
        (st = bp_split_rows(x->rows, 0.15, 0.15, 0, 0, &split, err)) == BP_OK &&
        (st = bp_matrix_take_rows(x, split.index, split.n_train, xtrain, err)) == BP_OK &&
        (st = bp_matrix_take_rows(y, split.index, split.n_train, ytrain, err)) == BP_OK &&
        (st = bp_scaler_fit(*xtrain, NULL, 0, &xs, err)) == BP_OK &&
        (st = bp_scaler_fit(*ytrain, NULL, 0, &ys, err)) == BP_OK &&
        (st = bp_scaler_apply(xs, *xtrain, err)) == BP_OK)
        st = bp_scaler_apply(ys, *ytrain, err);
    bp_scaler_free(xs);
    bp_scaler_free(ys);
    bp_split_free(&split);
    bp_matrix_free(x);
    bp_matrix_free(y);
    return st;
}

int main(int argc, char **argv)
{
    const char *csv = argc > 1 ? argv[1] : "../shared/data/clean_weather.csv";
    const char *model = argc > 2 ? argv[2] : "model.bpp";
    double first_epoch = 0.0, last_epoch = 0.0;
    int ok, rc = 1;

    /* README: train */
    bp_graph *g = bp_graph_new();
    bp_node *x = bp_input(g, 64, 3, "x"), *y = bp_input(g, 64, 1, "y");
    bp_node *W1 = bp_param(g, 3, 16, "W1"), *b1 = bp_param(g, 1, 16, "b1");
    bp_node *W2 = bp_param(g, 16, 1, "W2"), *b2 = bp_param(g, 1, 1, "b2");
    bp_node *Z1 = bp_dense(g, x, W1, b1), *A1 = bp_relu(g, Z1);
    bp_node *Z2 = bp_dense(g, A1, W2, b2), *L = bp_mse(g, Z2, y);
    bp_rng rng;
    bp_rng_seed(&rng, 1);
    bp_init_he(W1, &rng);
    bp_init_glorot(W2, &rng);

    /* xtrain, ytrain: the standardised training rows (bp_split_rows,
     * bp_matrix_take_rows, bp_scaler_fit on the training rows, bp_scaler_apply) */
    bp_error err;
    bp_matrix *xtrain = NULL, *ytrain = NULL;
    bp_batcher *batches = NULL;
    bp_optimizer *opt = NULL;
    bp_optim_config cfg = bp_optim_defaults(BP_OPTIM_ADAM);
    if (load_training_rows(csv, &xtrain, &ytrain, &err) != BP_OK) {
        fprintf(stderr, "%s\n", err.message);
        goto out;
    }
    const bp_matrix *src[2] = {xtrain, ytrain};
    bp_node *dst[2] = {x, y};
    if (bp_batcher_new(2, src, dst, NULL, 0, 64, 1, 2, &batches, &err) != BP_OK ||
        bp_optimizer_new(g, NULL, 0, &cfg, &opt) != BP_OK) {   /* every param of g */
        fprintf(stderr, "%s\n", batches ? bp_graph_message(g) : err.message);
        goto out;
    }
    for (int epoch = 0; epoch < 20; epoch++) {
        size_t rows;
        double sum = 0.0;
        while (bp_batcher_next(batches, &rows) == BP_OK && rows > 0) {
            bp_zero_grad(g);
            if (bp_forward(g, L) != BP_OK || bp_backward(g, L, NULL) != BP_OK ||
                bp_optimizer_step(opt) != BP_OK)         /* no allocation */
                break;                                   /* g holds the error */
            sum += bp_node_value(L)->data[0] * (double)rows;
        }
        printf("epoch %2d  train loss %.5f\n", epoch + 1, sum / (double)xtrain->rows);
        first_epoch = epoch == 0 ? sum : first_epoch;
        last_epoch = sum;
    }
    if (bp_graph_status(g) != BP_OK || bp_params_save(g, model, &err) != BP_OK) {
        fprintf(stderr, "%s\n", bp_graph_status(g) ? bp_graph_message(g) : err.message);
        goto out;
    }
    /* README: end */

    /* The last batch is still bound: check the gradients there. */
    /* README: gradcheck */
    bp_check_report rep;
    bp_check_options copt = bp_check_options_default();
    /* every param, by differences */
    if (bp_gradcheck_graph(g, L, &copt, &rep) != BP_OK || rep.result != BP_CHECK_PASS)
        fprintf(stderr, "%s: %s %s\n", rep.name, rep.diagnosis, rep.message);
    /* README: end */
    ok = rep.result == BP_CHECK_PASS && last_epoch < first_epoch;
    printf("gradients: %s (%zu derivatives); loss %s\n", ok ? "ok" : "MISMATCH",
           rep.n_compared, last_epoch < first_epoch ? "went down" : "did NOT go down");
    bp_check_report_clear(&rep);

    /* README: chain */
    bp_node_set_name(Z1, "Z1"); bp_node_set_name(A1, "A1");
    bp_node_set_name(Z2, "Z2"); bp_node_set_name(L, "L");
    if (bp_grad_chain_write(g, L, W1, BP_CHAIN_TEXT, stdout, NULL) != BP_OK)
        goto out;
    /* dL/dW1 = dL/dZ2 * dZ2/dA1 * dA1/dZ1 * dZ1/dW1 */
    putchar('\n');
    if (bp_grad_chain_write(g, L, W1, BP_CHAIN_LATEX, stdout, NULL) != BP_OK)
        goto out;
    /* \frac{\partial L}{\partial W_{1}} = \frac{\partial L}{\partial Z_{2}} \cdot
       \frac{\partial Z_{2}}{\partial A_{1}} \cdot ... */
    putchar('\n');
    /* README: end */
    rc = ok ? 0 : 1;

out:
    bp_optimizer_free(opt);
    bp_batcher_free(batches);
    bp_matrix_free(xtrain);
    bp_matrix_free(ytrain);
    bp_graph_free(g);
    return rc;
}
