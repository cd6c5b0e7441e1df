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

/* Mean squared error over a whole split, in chunks of 4096 points. */
static double split_mse(const struct hk_hypernet *net, const struct hk_dataset *d)
{
    int n = d->in.n, *idx = hk_malloc((size_t)(n < 4096 ? n : 4096) * sizeof(int));
    double sse = 0;
    for (int s0 = 0; s0 < n; s0 += 4096) {
        int cnt = n - s0 < 4096 ? n - s0 : 4096;
        for (int i = 0; i < cnt; i++) idx[i] = s0 + i;
        struct hk_hn_batch b = {.in = &d->in, .samples = idx, .nb = cnt};
        struct hk_hn_cache c;
        hk_hn_forward(net, &b, &c);
        for (int i = 0; i < cnt; i++) sse += pow(c.out[i] - d->y[s0 + i], 2);
        hk_hn_cache_free(&c);
    }
    free(idx);
    return sse / n;
}

static int run(const struct hk_point *p, MPI_Comm team, const struct hk_experiment_env *env, struct hk_result *r)
{
    (void)env;
    double t_start = hk_now();
    int trank, tsize;
    MPI_Comm_rank(team, &trank);
    MPI_Comm_size(team, &tsize);
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
    const double lr = hk_point_num(p, "lr"), momentum = full ? 0 : hk_point_num(p, "momentum");
    struct hk_hn_grad g, v;
    hk_hn_grad_alloc(&net, &g);
    hk_hn_grad_alloc(&net, &v);
    double *arrays[HK_MAX_DEPTH + 3];
    long counts[HK_MAX_DEPTH + 3];
    int narrays = hk_hn_grad_views(&net, &g, arrays, counts);
    int *order = hk_malloc((size_t)N * sizeof(int)), *slice = hk_malloc((size_t)batch * sizeof(int));
    for (int i = 0; i < N; i++) order[i] = i;
    double *dout = hk_malloc((size_t)batch * sizeof(double)), *yb = hk_malloc((size_t)batch * sizeof(double));
    double *curve_train = hk_calloc((size_t)epochs + 1, sizeof(double)), *curve_test = hk_calloc((size_t)epochs + 1, sizeof(double));
    curve_train[0] = split_mse(&net, &train);
    curve_test[0] = split_mse(&net, &test);
    struct hk_rng shuffle;
    hk_rng_seed(&shuffle, (uint64_t)hk_point_int(p, "seed"), 11);
    long step = 0, diverged_at = -1;
    double t_train = hk_now();
    for (int e = 0; e < epochs && diverged_at < 0; e++) {
        for (int i = N - 1; i > 0 && !full; i--) { /* the same shuffle on every rank */
            int j = (int)(hk_rng_next(&shuffle) % (uint64_t)(i + 1)), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        for (int b0 = 0; b0 < N && diverged_at < 0; b0 += batch, step++) {
            int bsize = N - b0 < batch ? N - b0 : batch;
            /* this rank's slice of the minibatch */
            int lo = (int)((long)bsize * trank / tsize), hi = (int)((long)bsize * (trank + 1) / tsize), cnt = hi - lo;
            for (int i = 0; i < cnt; i++) {
                slice[i] = order[b0 + lo + i];
                yb[i] = train.y[slice[i]];
            }
            hk_hn_grad_zero(&net, &g);
            double loss = 0;
            if (cnt > 0) {
                struct hk_hn_batch hb = {.in = &train.in, .samples = slice, .nb = cnt};
                struct hk_hn_cache c;
                hk_hn_forward(&net, &hb, &c);
                /* gradient of 1/(2 bsize) sum over the whole minibatch */
                for (int i = 0; i < cnt; i++) {
                    double err = c.out[i] - yb[i];
                    loss += err * err / (2.0 * bsize);
                    dout[i] = err / bsize;
                }
                hk_hn_backward(&net, &hb, &c, dout, &g);
                hk_hn_cache_free(&c);
            }
            if (tsize > 1) {
                for (int a = 0; a < narrays; a++)
                    MPI_Allreduce(MPI_IN_PLACE, arrays[a], (int)counts[a], MPI_DOUBLE, MPI_SUM, team);
                MPI_Allreduce(MPI_IN_PLACE, &loss, 1, MPI_DOUBLE, MPI_SUM, team);
            }
            if (!isfinite(loss) || loss > 1e12) {
                diverged_at = step;
                break;
            }
            hk_hn_momentum_step(&net, &g, &v, lr, momentum);
        }
        if (diverged_at < 0) {
            curve_train[e + 1] = split_mse(&net, &train);
            curve_test[e + 1] = split_mse(&net, &test);
        } else {
            for (int k = e + 1; k <= epochs; k++) curve_train[k] = curve_test[k] = NAN;
        }
    }
    double seconds = hk_now() - t_train;
    if (trank == 0) {
        struct hk_array *a = &r->arrays[r->narrays++];
        snprintf(a->name, sizeof a->name, "train_mse_per_epoch");
        a->rank = 1; a->dims[0] = epochs + 1; a->data = curve_train;
        a = &r->arrays[r->narrays++];
        snprintf(a->name, sizeof a->name, "test_mse_per_epoch");
        a->rank = 1; a->dims[0] = epochs + 1; a->data = curve_test;
        curve_train = curve_test = NULL;
        double ybar = 0, mse_mean = 0;
        for (int i = 0; i < N; i++) ybar += train.y[i] / N;
        for (int i = 0; i < test.in.n; i++) mse_mean += pow(test.y[i] - ybar, 2) / test.in.n;
        const double *tr = r->arrays[0].data, *te = r->arrays[1].data;
        hk_attrs_num(&r->metrics, "mse_train_final", tr[epochs]);
        hk_attrs_num(&r->metrics, "mse_test_final", te[epochs]);
        hk_attrs_num(&r->metrics, "mse_test_initial", te[0]);
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
    }
    free(curve_train); free(curve_test); free(order); free(slice); free(dout); free(yb);
    hk_hn_grad_free(&g);
    hk_hn_grad_free(&v);
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
    e->seconds = rates->dgemm_gflops > 0 ? e->gflop / (0.3 * rates->dgemm_gflops * team_size) : 0;
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
