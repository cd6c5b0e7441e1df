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
#include "hk/experiment.h"
#include "hk/hypernet.h"
#include "hk/params.h"
#include "hk/tasks.h"
#include "hk/train.h"
#include "hk/team.h"
#include "hk/util.h"

#define TRAINING_PARAMS(P, G)                                                                                     \
    G(task, hk_regression_task, HK_REGRESSION_TASK_PARAMS)                                                        \
    P(INT, width_f, "256", 1, 1000000, NULL, "width n of f's hidden layers", 0)                                   \
    P(INT, width_g, "64", 1, 1000000, NULL, "width m of g's hidden layers", 0)                                    \
    P(INT, bottleneck, "0", 0, 1000000, NULL, "width of an extra last hidden layer of f (0: none)", 0)            \
    P(STRING, optimizer, "sgd", 0, 0, "sgd|gd", "sgd (minibatches) or gd (full batch)", 0)                        \
    P(REAL, lr, "0.05", 0, 1e6, NULL, "learning rate", 0)                                                         \
    P(REAL, momentum, "0.9", 0, 0.9999, NULL, "momentum (0: plain SGD)", 0)                                       \
    P(INT, batch_size, "100", 1, 100000000, NULL, "minibatch size for sgd", 0)                                    \
    P(INT, epochs, "20", 1, 1000000, NULL, "passes over the training set", 0)                                     \
    P(STRING, precision, "float64", 0, 0, "float64|float32",                                                      \
      "arithmetic of training (float32: about twice the throughput; float64 for convergence studies)", HK_ID_UNLESS_DEFAULT)         \
    P(BOOL, centered, "true", 0, 1, NULL,                                                                         \
      "train h(w) - h(w0): output 0 at initialisation, as in kernel regression (false: the random initial "      \
      "function stays in every prediction)", 0)                                                                   \
    G(common, hk_common, HK_COMMON_PARAMS)
HK_PARAMS_DEFINE(training, TRAINING_PARAMS)

/* The network of a point, for inputs of widths dx and dz. */
static struct hk_hn_shape shape_of(const struct training_params *prm, int dx, int dz)
{
    struct hk_hn_shape s = {.dx = dx, .dz = dz, .n = prm->width_f, .L = prm->task.depth_f,
                            .bottleneck = prm->bottleneck, .m = prm->width_g, .H = prm->task.depth_g, .k = 1};
    return s;
}

struct curves {
    const struct hk_dataset *train, *test;
    MPI_Comm team;
    double *train_mse, *test_mse;
    const double *h0_train, *h0_test;   /* centred: the initial outputs, else NULL */
};

static void on_epoch(int epoch, const struct hk_model *m, void *ctx)
{
    struct curves *c = ctx;
    hk_model_evaluate(m, &c->train->in, c->train->y, NULL, c->h0_train, c->team, &c->train_mse[epoch], NULL, NULL);
    hk_model_evaluate(m, &c->test->in, c->test->y, NULL, c->h0_test, c->team, &c->test_mse[epoch], NULL, NULL);
}

static int run(const struct hk_point *p, MPI_Comm team, const struct hk_experiment_env *env, struct hk_result *r)
{
    (void)env;
    double t_start = hk_now();
    const int trank = hk_team_rank(team);
    struct training_params prm;
    training_params_read(p, &prm);
    struct hk_dataset train, test;
    hk_regression_task(&prm.task, prm.common.seed, &train, &test);
    struct hk_hn_shape shape = shape_of(&prm, train.in.dx, train.in.dz);
    struct hk_hypernet net;
    /* the network's seed stream differs from the data's, and is the same on every rank */
    if (hk_hn_init(&net, &shape, prm.common.seed * 1000003L + 17)) {
        hk_dataset_free(&train);
        hk_dataset_free(&test);
        return -1;
    }
    const int N = train.in.n, epochs = prm.epochs;
    const int full = !strcmp(prm.optimizer, "gd");
    const int batch = full ? N : (int)fmin((double)prm.batch_size, N);
    struct hk_train_opts o = {.epochs = epochs, .batch_size = batch, .full_batch = full, .lr = prm.lr,
                              .momentum = prm.momentum, .shuffle_seed = prm.common.seed};
    struct curves c = {&train, &test, team, hk_malloc((size_t)(epochs + 1) * sizeof(double)),
                       hk_malloc((size_t)(epochs + 1) * sizeof(double)), NULL, NULL};
    for (int e = 0; e <= epochs; e++) c.train_mse[e] = c.test_mse[e] = NAN;
    long step = 0;
    double t_train = hk_now();
    struct hk_model model;
    if (!strcmp(prm.precision, "float32")) {
        if (hk_model_of_hypernet32(&model, &net)) {
            hk_hn_free(&net);
            hk_dataset_free(&train);
            hk_dataset_free(&test);
            free(c.train_mse);
            free(c.test_mse);
            return -1;
        }
    } else {
        hk_model_of_hypernet(&model, &net);
    }
    double *h0_train = NULL, *h0_test = NULL, l0;
    if (prm.centered) {
        h0_train = hk_malloc((size_t)N * sizeof(double));
        h0_test = hk_malloc((size_t)test.in.n * sizeof(double) + 1);
        hk_model_evaluate(&model, &train.in, train.y, NULL, NULL, team, &l0, NULL, h0_train);
        hk_model_evaluate(&model, &test.in, test.y, NULL, NULL, team, &l0, NULL, h0_test);
        o.offset = c.h0_train = h0_train;
        c.h0_test = h0_test;
    }
    long diverged_at = hk_train_model(&model, &train.in, train.y, NULL, &o, team, on_epoch, &c, &step, NULL);
    free(h0_train);
    free(h0_test);
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
    struct training_params prm;
    training_params_read(p, &prm);
    const struct hk_task_dims dims = hk_regression_task_dims(&prm.task);
    struct hk_hn_shape s = shape_of(&prm, dims.dx, dims.dz);
    double params = (double)hk_hn_param_count(&s);
    double N = dims.n_train, M = dims.n_test;
    double epochs = prm.epochs, batch = fmin((double)prm.batch_size, N);
    int last = s.bottleneck > 0 ? s.bottleneck : s.n;
    double P = (params - (double)s.n * s.dx) / last; /* roughly g's parameter count */
    /* a network, its gradient and velocity; the generated weights of a batch's distinct x */
    e->mem_bytes_per_rank = 8 * (3 * params + fmin(batch, (double)prm.task.distinct_x) * P * 2);
    /* per epoch: forward and backward over the training set (~6 flops per weight use), two evaluations */
    double per_epoch = 6 * N * P * last / prm.task.samples_per_x + 2 * 2 * (N + M) * P * last /
                       fmax(1, prm.task.samples_per_x);
    e->gflop = epochs * per_epoch / 1e9;
    e->kernel_entries = 0;
    /* float32: SGEMM at about twice DGEMM's rate, as the image kinds count it */
    const int f32 = !strcmp(prm.precision, "float32");
    e->seconds = hk_estimate_seconds(rates, team_size, 0, 0, e->gflop / (f32 ? 2 : 1),
                                     hk_train_step_gbytes(epochs * ceil(N / batch), params, f32 ? 4 : 8, team_size));
}

HK_EXPERIMENT(hypernet_training, "hypernet-training",
              "a finite hypernetwork trained by SGD or GD on the task of hyperkernel-regression; training curve and test error",
              training, run, estimate, NULL,
              "mse_test_final,mse_train_final,mse_test_mean_predictor")
