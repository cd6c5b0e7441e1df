/* hypernet-training: a finite hypernetwork trained on the synthetic task of
 * hyperkernel-regression (same parameters, same seeds, same data), so a sweep
 * can put finite widths next to the kernel limit. Full-batch gradient descent
 * or minibatch SGD with momentum on the MSE; data-parallel over the team: every
 * rank holds the same network, takes a slice of each minibatch, and the
 * gradients are summed with MPI_Allreduce. Records the training curve and the
 * test error after every epoch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hk/data.h"
#include "hk/experiments.h"
#include "hk/hypernet.h"
#include "hk/util.h"

static const struct hk_param_spec params[] = {
    HK_REGRESSION_TASK_PARAMS,
    {"width_f", HK_T_INT, "256", 1, 1000000, NULL, "width n of f's hidden layers", 0},
    {"width_g", HK_T_INT, "64", 1, 1000000, NULL, "width m of g's hidden layers", 0},
    {"bottleneck", HK_T_INT, "0", 0, 1000000, NULL, "width of an extra last hidden layer of f (0: none)", 0},
    {"optimizer", HK_T_STRING, "sgd", 0, 0, "sgd|gd", "sgd (minibatches) or gd (full batch)", 0},
    {"lr", HK_T_REAL, "0.05", 0, 1e6, NULL, "learning rate", 0},
    {"momentum", HK_T_REAL, "0.9", 0, 0.9999, NULL, "momentum (0: plain SGD)", 0},
    {"batch_size", HK_T_INT, "100", 1, 100000000, NULL, "minibatch size for sgd", 0},
    {"epochs", HK_T_INT, "20", 1, 1000000, NULL, "passes over the training set", 0},
    HK_COMMON_PARAMS,
};

static void shape_of(const struct hk_point *p, const struct hk_dataset *d, struct hk_hn_shape *s)
{
    memset(s, 0, sizeof *s);
    s->dx = d->in.dx;
    s->dz = d->in.dz;
    s->n = (int)hk_point_int(p, "width_f");
    s->L = (int)hk_point_int(p, "depth_f");
    s->bottleneck = (int)hk_point_int(p, "bottleneck");
    s->m = (int)hk_point_int(p, "width_g");
    s->H = (int)hk_point_int(p, "depth_g");
    s->k = 1;
}

struct curves {
    const struct hk_dataset *train, *test;
    MPI_Comm team;
    double *train_mse, *test_mse;
};

static void on_epoch(int epoch, const struct hk_hypernet *net, void *ctx)
{
    struct curves *c = ctx;
    hk_hn_evaluate(net, &c->train->in, c->train->y, NULL, NULL, c->team, &c->train_mse[epoch], NULL, NULL);
    hk_hn_evaluate(net, &c->test->in, c->test->y, NULL, NULL, c->team, &c->test_mse[epoch], NULL, NULL);
}

static int run(const struct hk_point *p, MPI_Comm team, const struct hk_experiment_env *env, struct hk_result *r)
{
    (void)env;
    double t_start = hk_now();
    int trank;
    MPI_Comm_rank(team, &trank);
    struct hk_dataset train, test;
    hk_regression_task(p, &train, &test);
    struct hk_hn_shape shape;
    shape_of(p, &train, &shape);
    struct hk_hypernet net;
    /* the network's seed stream differs from the data's, and is the same on every rank */
    if (hk_hn_init(&net, &shape, hk_point_int(p, "seed") * 1000003L + 17)) {
        hk_dataset_free(&train);
        hk_dataset_free(&test);
        return -1;
    }
    const int N = train.in.n, epochs = (int)hk_point_int(p, "epochs");
    const int full = !strcmp(hk_point_str(p, "optimizer"), "gd");
    const int batch = full ? N : (int)fmin((double)hk_point_int(p, "batch_size"), N);
    struct hk_train_opts o = {.epochs = epochs, .batch_size = batch, .full_batch = full, .lr = hk_point_num(p, "lr"),
                              .momentum = hk_point_num(p, "momentum"), .shuffle_seed = hk_point_int(p, "seed")};
    struct curves c = {&train, &test, team, hk_malloc((size_t)(epochs + 1) * sizeof(double)),
                       hk_malloc((size_t)(epochs + 1) * sizeof(double))};
    for (int e = 0; e <= epochs; e++) c.train_mse[e] = c.test_mse[e] = NAN;
    long step = 0;
    double t_train = hk_now();
    long diverged_at = hk_train_hypernet(&net, &train.in, train.y, NULL, &o, team, on_epoch, &c, &step);
    double seconds = hk_now() - t_train;
    if (trank == 0) {
        hk_result_array(r, "train_mse_per_epoch", 1, epochs + 1, 0, 0, c.train_mse);
        hk_result_array(r, "test_mse_per_epoch", 1, epochs + 1, 0, 0, c.test_mse);
        double ybar = 0, mse_mean = 0;
        for (int i = 0; i < N; i++) ybar += train.y[i] / N;
        for (int i = 0; i < test.in.n; i++) mse_mean += pow(test.y[i] - ybar, 2) / test.in.n;
        hk_attrs_num(&r->metrics, "mse_train_final", c.train_mse[epochs]);
        hk_attrs_num(&r->metrics, "mse_test_final", c.test_mse[epochs]);
        hk_attrs_num(&r->metrics, "mse_test_initial", c.test_mse[0]);
        hk_attrs_num(&r->metrics, "mse_test_mean_predictor", mse_mean);
        hk_attrs_num(&r->metrics, "n_train", N);
        hk_attrs_num(&r->metrics, "parameters", (double)net.nparams);
        hk_attrs_num(&r->metrics, "steps", (double)step);
        hk_attrs_num(&r->metrics, "time_train", seconds);
        hk_attrs_num(&r->metrics, "samples_per_second", (double)step * batch / seconds);
        hk_attrs_num(&r->metrics, "divergence_step", diverged_at >= 0 ? (double)diverged_at : NAN);
        if (diverged_at >= 0) {
            r->status = HK_DIVERGED;
            snprintf(r->reason, sizeof r->reason, "diverged at step %ld (loss not finite); lower lr", diverged_at);
        }
        hk_attrs_num(&r->metrics, "time_total", hk_now() - t_start);
    } else {
        free(c.train_mse);
        free(c.test_mse);
    }
    if (diverged_at == -2) {
        r->status = HK_ABANDONED;
        snprintf(r->reason, sizeof r->reason, "stopped by a signal during training");
    }
    hk_hn_free(&net);
    hk_dataset_free(&train);
    hk_dataset_free(&test);
    return 0;
}

static void estimate(const struct hk_point *p, int team_size, const struct hk_rates *rates, struct hk_estimate *e)
{
    int dz = !strcmp(hk_point_str(p, "z_embedding"), "fourier") ? (int)hk_point_int(p, "embedding_width")
                                                                 : (int)hk_point_int(p, "dz");
    int dx = !strcmp(hk_point_str(p, "x_embedding"), "fourier") ? (int)hk_point_int(p, "x_embedding_width")
                                                                 : (int)hk_point_int(p, "dx");
    struct hk_hn_shape s = {.dx = dx, .dz = dz, .n = (int)hk_point_int(p, "width_f"),
                            .L = (int)hk_point_int(p, "depth_f"), .bottleneck = (int)hk_point_int(p, "bottleneck"),
                            .m = (int)hk_point_int(p, "width_g"), .H = (int)hk_point_int(p, "depth_g"), .k = 1};
    double params = (double)hk_hn_param_count(&s);
    double N = (double)hk_point_int(p, "distinct_x") * hk_point_int(p, "samples_per_x");
    double M = (double)hk_point_int(p, "test_distinct_x") * hk_point_int(p, "test_samples_per_x");
    double epochs = (double)hk_point_int(p, "epochs"), batch = fmin((double)hk_point_int(p, "batch_size"), N);
    int last = s.bottleneck > 0 ? s.bottleneck : s.n;
    double P = (params - (double)s.n * s.dx) / last; /* roughly g's parameter count */
    /* a network, its gradient and velocity; the generated weights of a batch's distinct x */
    e->mem_bytes_per_rank = 8 * (3 * params + fmin(batch, (double)hk_point_int(p, "distinct_x")) * P * 2);
    /* per epoch: forward and backward over the training set (~6 flops per weight use), two evaluations */
    double per_epoch = 6 * N * P * last / hk_point_int(p, "samples_per_x") + 2 * 2 * (N + M) * P * last /
                       fmax(1, hk_point_int(p, "samples_per_x"));
    e->gflop = epochs * per_epoch / 1e9;
    e->kernel_entries = 0;
    e->seconds = hk_estimate_seconds(rates, team_size, 0, 0, e->gflop);
}

const struct hk_experiment hk_exp_hypernet_training = {
    .kind = "hypernet-training",
    .summary = "a finite hypernetwork trained by SGD or GD on the task of hyperkernel-regression; training curve and test error",
    .params = params,
    .nparams = sizeof params / sizeof params[0],
    .run = run,
    .estimate = estimate,
    .headline = "mse_test_final,mse_train_final,mse_test_mean_predictor",
};
