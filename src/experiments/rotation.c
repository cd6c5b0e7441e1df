/* rotation (docs/experiments.md E4): x is an image rotated by a random a1,
 * z the same image rotated by a1 + a2, and the class of a2 (12 classes of
 * 30 degrees) is to be predicted. A finite hypernetwork (f with a
 * bottleneck, g of swept width and depth) trained by SGD on the
 * cross-entropy, with test accuracy and loss after every epoch; and, on the
 * same data, the hyperkernel Th and the plain-MLP NTK Tmlp as classifiers
 * by one-hot kernel ridge regression (distributed, 12 right-hand sides). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hk/data.h"
#include "hk/dist.h"
#include "hk/experiment.h"
#include "hk/image_tasks.h"
#include "hk/krr.h"
#include "hk/params.h"
#include "hk/tasks.h"
#include "hk/team.h"
#include "hk/train.h"
#include "hk/util.h"

#define ROTATION_PARAMS(P, G)                                                                                     \
    P(STRING, data, "synthetic", 0, 0, NULL,                                                                      \
      "images: an HDF5 file from `hksweep data mnist`, or synthetic[:N] (generated digits)", 0)                   \
    P(INT, train_images, "200", 1, 10000000, NULL, "distinct training images", 0)                                 \
    P(INT, test_images, "100", 1, 10000000, NULL, "distinct test images", 0)                                      \
    P(INT, samples_per_image, "5", 1, 100000, NULL, "(a1, a2) draws per image", 0)                                \
    P(REAL, angle_jitter, "0", 0, 15, NULL, "a2 = 30 c + U(-jitter, jitter) degrees", 0)                          \
    P(LIST, methods, "hypernet", 0, 0, "hypernet" HK_POINT_KERNELS_BAR, "methods compared", 0)                    \
    P(INT, depth_f, "3", 1, HK_MAX_DEPTH, NULL, "hidden layers of f of width width_f (before the bottleneck)", 0)  \
    P(INT, width_f, "200", 1, 1000000, NULL, "width of f's hidden layers", 0)                                     \
    P(INT, bottleneck, "100", 0, 1000000, NULL, "width of f's last hidden layer (0: none)", 0)                    \
    P(INT, depth_g, "2", 1, HK_MAX_DEPTH, NULL, "layers H of g", 0)                                               \
    P(INT, width_g, "50", 1, 1000000, NULL, "width m of g's hidden layers", 0)                                    \
    P(REAL, lr, "0.1", 0, 1e6, NULL, "learning rate", 0)                                                          \
    P(REAL, momentum, "0.9", 0, 0.9999, NULL, "momentum", 0)                                                      \
    P(INT, batch_size, "32", 1, 100000000, NULL, "minibatch size", 0)                                             \
    P(INT, epochs, "10", 1, 1000000, NULL, "passes over the training set", 0)                                     \
    P(BOOL, centered, "true", 0, 1, NULL, "train h(w) - h(w0): logits 0 at initialisation", 0)                    \
    P(REAL, ridge, "1e-2", 0, 1e12, NULL, "ridge of the kernel classifiers", 0)                                   \
    P(INT, test_chunk, "4096", 1, 100000000, NULL, "test points per prediction block", 1)                         \
    G(common, hk_common, HK_COMMON_PARAMS)
HK_PARAMS_DEFINE(rotation, ROTATION_PARAMS)

struct curves {
    const struct hk_dataset *train, *test;
    const double *h0_train, *h0_test;
    const int *ltrain, *ltest;
    MPI_Comm team;
    double *train_loss, *test_loss, *train_acc, *test_acc;
};

static void on_epoch(int epoch, const struct hk_hypernet *net, void *ctx)
{
    struct curves *c = ctx;
    hk_hn_evaluate(net, &c->train->in, NULL, c->ltrain, c->h0_train, c->team, &c->train_loss[epoch],
                   &c->train_acc[epoch], NULL);
    hk_hn_evaluate(net, &c->test->in, NULL, c->ltest, c->h0_test, c->team, &c->test_loss[epoch], &c->test_acc[epoch],
                   NULL);
}

static struct hk_hn_shape shape_of(const struct rotation_params *prm)
{
    struct hk_hn_shape s = {.dx = HK_IMG_PIXELS + 1, .dz = HK_IMG_PIXELS, .n = prm->width_f, .L = prm->depth_f,
                            .bottleneck = prm->bottleneck, .m = prm->width_g, .H = prm->depth_g,
                            .k = HK_ROTATION_CLASSES};
    return s;
}

static int check(const struct hk_point *p)
{
    struct rotation_params prm;
    rotation_params_read(p, &prm);
    return hk_image_data_check(prm.data, (long)prm.train_images + prm.test_images, p->index);
}

static int run(const struct hk_point *p, MPI_Comm team, const struct hk_experiment_env *env, struct hk_result *r)
{
    (void)env;
    double t_start = hk_now();
    const int trank = hk_team_rank(team);
    struct rotation_params prm;
    rotation_params_read(p, &prm);
    const long seed = prm.common.seed;
    struct hk_image_set itrain, itest;
    int ok = hk_images_split(prm.data, seed, prm.train_images, prm.test_images, &itrain, &itest) == 0;
    if (!hk_all_ok(team, ok)) {
        hk_image_set_free(&itrain);
        hk_image_set_free(&itest);
        return -1;
    }
    struct hk_rotation_task task = {prm.samples_per_image, prm.angle_jitter, seed};
    const int N = itrain.n * task.samples_per_image, M = itest.n * task.samples_per_image, K = HK_ROTATION_CLASSES;
    int *ltrain = hk_malloc((size_t)N * sizeof(int)), *ltest = hk_malloc((size_t)M * sizeof(int));
    struct hk_dataset train, test;
    hk_rotation_build(&task, &itrain, 0, &train, ltrain);
    hk_rotation_build(&task, &itest, 1, &test, ltest);
    hk_attrs_num(&r->metrics, "n_train", N);
    hk_attrs_num(&r->metrics, "n_test", M);
    /* trivial baselines: chance, and always answering the most frequent training class */
    int freq[HK_ROTATION_CLASSES] = {0}, top = 0, hits = 0;
    for (int i = 0; i < N; i++) freq[ltrain[i]]++;
    for (int c = 1; c < K; c++) if (freq[c] > freq[top]) top = c;
    for (int i = 0; i < M; i++) hits += ltest[i] == top;
    hk_attrs_num(&r->metrics, "accuracy_chance", 1.0 / K);
    hk_attrs_num(&r->metrics, "accuracy_test_majority", (double)hits / M);

    int rc = 0;
    if (hk_list_has(prm.methods, "hypernet")) {
        struct hk_hn_shape shape = shape_of(&prm);
        struct hk_hypernet net;
        if (hk_hn_init(&net, &shape, seed * 1000003L + 17)) rc = -1;
        const int epochs = prm.epochs;
        struct curves c = {&train, &test, NULL, NULL, ltrain, ltest, team, hk_malloc((epochs + 1) * sizeof(double)),
                           hk_malloc((epochs + 1) * sizeof(double)), hk_malloc((epochs + 1) * sizeof(double)),
                           hk_malloc((epochs + 1) * sizeof(double))};
        for (int e = 0; e <= epochs; e++) c.train_loss[e] = c.test_loss[e] = c.train_acc[e] = c.test_acc[e] = NAN;
        if (rc == 0) {
            struct hk_train_opts o = {.epochs = epochs, .batch_size = prm.batch_size, .lr = prm.lr,
                                      .momentum = prm.momentum, .shuffle_seed = seed};
            long steps = 0;
            double t0 = hk_now(), l0;
            double *h0_train = NULL, *h0_test = NULL;
            if (prm.centered) {
                h0_train = hk_malloc((size_t)N * K * sizeof(double));
                h0_test = hk_malloc((size_t)M * K * sizeof(double));
                hk_hn_evaluate(&net, &train.in, NULL, ltrain, NULL, team, &l0, NULL, h0_train);
                hk_hn_evaluate(&net, &test.in, NULL, ltest, NULL, team, &l0, NULL, h0_test);
                c.h0_train = o.offset = h0_train;
                c.h0_test = h0_test;
            }
            long div = hk_train_hypernet(&net, &train.in, NULL, ltrain, &o, team, on_epoch, &c, &steps);
            hk_attrs_num(&r->metrics, "time_hypernet", hk_now() - t0);
            free(h0_train);
            free(h0_test);
            hk_attrs_num(&r->metrics, "parameters_hypernet", (double)net.nparams);
            hk_attrs_num(&r->metrics, "steps_hypernet", (double)steps);
            int last = 0;
            for (int e = 0; e <= epochs; e++) if (!isnan(c.test_acc[e])) last = e;
            hk_attrs_num(&r->metrics, "accuracy_test_hypernet", c.test_acc[last]);
            hk_attrs_num(&r->metrics, "accuracy_train_hypernet", c.train_acc[last]);
            hk_attrs_num(&r->metrics, "loss_test_hypernet", c.test_loss[last]);
            hk_attrs_num(&r->metrics, "loss_train_hypernet", c.train_loss[last]);
            hk_attrs_num(&r->metrics, "accuracy_test_initial", c.test_acc[0]);
            hk_attrs_num(&r->metrics, "epochs_done", last);
            if (div == -2) {
                r->status = HK_ABANDONED;
                snprintf(r->reason, sizeof r->reason, "stopped by a signal after epoch %d", last);
            } else if (div >= 0) {
                r->status = HK_DIVERGED;
                snprintf(r->reason, sizeof r->reason, "diverged at step %ld (loss not finite); lower lr", div);
            }
            hk_hn_free(&net);
        }
        if (trank == 0) {
            hk_result_array(r, "accuracy_test_per_epoch", 1, epochs + 1, 0, 0, c.test_acc);
            hk_result_array(r, "accuracy_train_per_epoch", 1, epochs + 1, 0, 0, c.train_acc);
            hk_result_array(r, "loss_test_per_epoch", 1, epochs + 1, 0, 0, c.test_loss);
            hk_result_array(r, "loss_train_per_epoch", 1, epochs + 1, 0, 0, c.train_loss);
        } else {
            free(c.test_acc); free(c.train_acc); free(c.test_loss); free(c.train_loss);
        }
    }

    struct hk_grid grid;
    int have_grid = 0;
    /* the kernels' f has as many layers as the finite one, bottleneck included */
    struct hk_depths depths = {prm.depth_f + (prm.bottleneck > 0), prm.depth_g, 0};
    for (int k = 0; k < HK_NKERNELS && rc == 0 && r->status == HK_OK; k++) {
        const char *name = hk_kernel_name(k);
        if (!hk_kernel_info(k)->point || !hk_list_has(prm.methods, name)) continue;
        if (hk_team_should_stop(team)) {
            r->status = HK_ABANDONED;
            snprintf(r->reason, sizeof r->reason, "stopped by a signal before fitting %s", name);
            break;
        }
        if (!have_grid) {
            if (hk_grid_create(&grid, team, prm.common.grid_rows)) { rc = -1; break; }
            have_grid = 1;
        }
        /* centred one-hot targets; the class is the largest prediction */
        double *Y = hk_malloc((size_t)N * K * sizeof(double)), *pred = hk_malloc((size_t)M * K * sizeof(double));
        for (int c = 0; c < K; c++)
            for (int i = 0; i < N; i++) Y[i + (size_t)c * N] = (ltrain[i] == c) - 1.0 / K;
        struct hk_krr_stats st;
        double t0 = hk_now();
        int kr = hk_krr(k, &depths, &train.in, Y, K, &test.in, prm.test_chunk, prm.ridge, &grid,
                        prm.common.block_size, NULL, pred, &st);
        if (kr < 0) rc = -1;
        else if (kr > 0) hk_result_fail(r, "%s", hk_error_message());
        else {
            int correct = 0;
            for (int i = 0; i < M; i++) {
                int best = 0;
                for (int c = 1; c < K; c++) if (pred[i + (size_t)c * M] > pred[i + (size_t)best * M]) best = c;
                correct += best == ltest[i];
            }
            char key[64];
            snprintf(key, sizeof key, "accuracy_test_%s", name);
            hk_attrs_num(&r->metrics, key, (double)correct / M);
            snprintf(key, sizeof key, "time_%s", name);
            hk_attrs_num(&r->metrics, key, hk_now() - t0);
            hk_krr_record(r, name, &st);
        }
        free(Y);
        free(pred);
    }
    if (have_grid) hk_grid_destroy(&grid);
    double rss = (double)hk_peak_rss_bytes();
    MPI_Allreduce(MPI_IN_PLACE, &rss, 1, MPI_DOUBLE, MPI_MAX, team);
    hk_attrs_num(&r->metrics, "peak_rss_bytes_max_rank", rss);
    hk_attrs_num(&r->metrics, "time_total", hk_now() - t_start);
    free(ltrain);
    free(ltest);
    hk_dataset_free(&train);
    hk_dataset_free(&test);
    hk_image_set_free(&itrain);
    hk_image_set_free(&itest);
    return rc;
}

static void estimate(const struct hk_point *p, int team_size, const struct hk_rates *rates, struct hk_estimate *e)
{
    struct rotation_params prm;
    rotation_params_read(p, &prm);
    const struct hk_hn_shape s = shape_of(&prm);
    const double S = prm.samples_per_image;
    const double N = prm.train_images * S, M = prm.test_images * S;
    const double dx = s.dx, dz = s.dz;
    double data = (N + M) * (dx + dz + 2) + 2.0 * HK_IMG_PIXELS * (N + M) / S / 2;
    double hn_mem = 0, hn_flop = 0;
    if (hk_list_has(prm.methods, "hypernet")) {
        double params = (double)hk_hn_param_count(&s);
        int last = s.bottleneck > 0 ? s.bottleneck : s.n;
        double P = (params - (double)s.n * s.dx - (s.L - 1.0) * s.n * s.n - (s.bottleneck > 0 ? (double)s.n * last : 0)) / last;
        double batch = fmin((double)prm.batch_size, N);
        double eval = fmin(2048, fmax(16, 8e6 / P));
        hn_mem = 3 * params + batch * P * 4 + eval * P * 2;
        /* every sample has its own x: ~6 flops per weight of A per sample, plus g and f */
        double per_sample = 6 * (P * last + params - P * last) + 6 * P;
        hn_flop = prm.epochs * (N * per_sample + (N + M) * per_sample / 3) / 1e9;
    }
    int nb = prm.common.block_size, nprow, npcol;
    hk_grid_shape(team_size, prm.common.grid_rows, &nprow, &npcol);
    double chunk = fmin((double)prm.test_chunk, M), k_mem = 0, entries = 0, kflop = 0, la = 0;
    struct hk_depths d = {s.L + (s.bottleneck > 0), s.H, 0};
    for (int k = 0; k < HK_NKERNELS; k++) {
        if (!hk_kernel_info(k)->point || !hk_list_has(prm.methods, hk_kernel_name(k))) continue;
        /* every point has its own x: as many distinct x as points */
        double ws = hk_kernel_workspace_bytes(k, &d, (int)(N / nprow) + nb, (int)(N / npcol) + nb, (int)dx, (int)dz,
                                              (int)(N / nprow) + nb, (int)(N / npcol) + nb);
        k_mem = (double)hk_local_elements_max((int)N, (int)N, nb, nprow, npcol) +
                (double)hk_local_elements_max((int)chunk, (int)N, nb, nprow, npcol) + 2 * (N + M) * HK_ROTATION_CLASSES +
                ws / 8;
        double pairs = N * (N + 1) / 2 + M * N;
        entries += pairs;
        /* each pair has its own x pair: 2 dx for f's input kernel, 2 dz for g's */
        kflop += (hk_kernel_entry_cost(k, &d, (int)dz) + 2 * dx) * pairs / 1e9;
        la += (N * N * N / 3 + 2 * N * N * HK_ROTATION_CLASSES + 2 * M * N * HK_ROTATION_CLASSES) / 1e9;
    }
    e->mem_bytes_per_rank = 8 * (data + fmax(hn_mem, k_mem));
    e->kernel_entries = entries;
    e->gflop = hn_flop + la;
    e->seconds = hk_estimate_seconds(rates, team_size, kflop, la, hn_flop);
}

HK_EXPERIMENT(rotation, "rotation",
              "MNIST rotation prediction (E4): finite hypernetwork by SGD, accuracy per epoch; Th, Kh and Tmlp classifiers",
              rotation, run, estimate, check,
              "accuracy_test_hypernet,accuracy_test_Th,accuracy_test_Tmlp,accuracy_chance")
