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
#include "hk/finite.h"
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
    P(INT, train_images, "100", 1, 10000000, NULL, "distinct training images", 0)                                 \
    P(INT, test_images, "50", 1, 10000000, NULL, "distinct test images", 0)                                      \
    P(INT, samples_per_image, "5", 1, 100000, NULL, "(a1, a2) draws per image", 0)                                \
    P(REAL, angle_jitter, "0", 0, 15, NULL, "a2 = 30 c + U(-jitter, jitter) degrees", 0)                          \
    P(INT, validation_images, "10", 0, 10000000, NULL,                                                            \
      "more images, never fitted, on which the ridge, lr and epochs are chosen (0: ridge and lr as given)", 0)    \
    P(LIST, methods, "hypernet", 0, 0, "hypernet|mlp" HK_POINT_KERNELS_BAR, "methods compared", 0)               \
    P(INT, width_mlp, "256", 1, 1000000, NULL,                                                                    \
      "mlp: width of the plain MLP on (x, z), with as many hidden layers as Tmlp (f's, bottleneck included, and g's)", 0) \
    P(INT, depth_f, "3", 1, HK_MAX_DEPTH, NULL, "hidden layers of f of width width_f (before the bottleneck)", 0)  \
    P(INT, width_f, "100", 1, 1000000, NULL, "width of f's hidden layers", 0)                                     \
    P(INT, bottleneck, "50", 0, 1000000, NULL, "width of f's last hidden layer (0: none)", 0)                    \
    P(INT, depth_g, "2", 1, HK_MAX_DEPTH, NULL, "layers H of g", 0)                                               \
    P(INT, width_g, "50", 1, 1000000, NULL, "width m of g's hidden layers", 0)                                    \
    P(REAL, lr, "0.1", 0, 1e6, NULL, "learning rate without validation", 0)                                       \
    P(REALS, lr_grid, "0.03,0.1,0.3", 1e-12, 1e6, NULL, "learning rates tried on the validation images", 0)      \
    P(INT, patience, "5", 0, 1000000, NULL, "epochs without a better validation loss before stopping (0: never)", 0) \
    P(REAL, momentum, "0.9", 0, 0.9999, NULL, "momentum", 0)                                                      \
    P(INT, batch_size, "32", 1, 100000000, NULL, "minibatch size", 0)                                             \
    P(INT, epochs, "10", 1, 1000000, NULL, "passes over the training set", 0)                                     \
    P(BOOL, centered, "true", 0, 1, NULL, "train h(w) - h(w0): logits 0 at initialisation", 0)                    \
    P(STRING, precision, "float64", 0, 0, "float64|float32",                                                      \
      "finite networks: arithmetic of training (float32: about twice the throughput)", HK_ID_UNLESS_DEFAULT)                        \
    P(REAL, ridge, "1e-2", 0, 1e12, NULL, "ridge of the kernel classifiers without validation", 0)                \
    P(REALS, ridge_grid, "1e-4,1e-3,1e-2,1e-1,1,10", 0, 1e12, NULL, "kernel ridges tried on the validation images", 0)    \
    P(INT, test_chunk, "4096", 1, 100000000, NULL, "test points per prediction block", 1)                         \
    G(common, hk_common, HK_COMMON_PARAMS)
HK_PARAMS_DEFINE(rotation, ROTATION_PARAMS)

/* Accuracy and loss on the training and test sets after every epoch, of
 * every run of the lr search (a run starts at epoch 0), so that the run
 * kept can be recorded. */
struct curves {
    const struct hk_dataset *train, *test;
    const struct hk_finite_fit *fit;
    const int *ltrain, *ltest;
    MPI_Comm team;
    int epochs, run;
    double *train_loss, *test_loss, *train_acc, *test_acc; /* runs x (epochs + 1) */
};

static void on_epoch(int epoch, const struct hk_model *m, void *ctx)
{
    struct curves *c = ctx;
    if (epoch == 0) c->run++;
    size_t at = (size_t)c->run * (c->epochs + 1) + epoch;
    hk_model_evaluate(m, &c->train->in, NULL, c->ltrain, c->fit->h0_train, c->team, &c->train_loss[at],
                      &c->train_acc[at], NULL);
    hk_model_evaluate(m, &c->test->in, NULL, c->ltest, c->fit->h0_test, c->team, &c->test_loss[at], &c->test_acc[at],
                      NULL);
}

static struct hk_hn_shape shape_of(const struct rotation_params *prm)
{
    struct hk_hn_shape s = {.dx = HK_IMG_PIXELS + 1, .dz = HK_IMG_PIXELS, .n = prm->width_f, .L = prm->depth_f,
                            .bottleneck = prm->bottleneck, .m = prm->width_g, .H = prm->depth_g,
                            .k = HK_ROTATION_CLASSES};
    return s;
}

/* The finite counterpart of Tmlp: as many hidden layers on (x, z). */
static struct hk_mlp_shape mlp_shape_of(const struct rotation_params *prm)
{
    struct hk_mlp_shape s = {.dx = HK_IMG_PIXELS + 1, .dz = HK_IMG_PIXELS, .n = prm->width_mlp,
                             .depth = prm->depth_f + (prm->bottleneck > 0) + prm->depth_g, .k = HK_ROTATION_CLASSES};
    return s;
}

static int check(const struct hk_point *p)
{
    struct rotation_params prm;
    rotation_params_read(p, &prm);
    return hk_image_data_check(prm.data, (long)prm.train_images + prm.test_images + prm.validation_images, p->index);
}

static int run(const struct hk_point *p, MPI_Comm team, const struct hk_experiment_env *env, struct hk_result *r)
{
    (void)env;
    double t_start = hk_now();
    const int trank = hk_team_rank(team);
    struct rotation_params prm;
    rotation_params_read(p, &prm);
    const long seed = prm.common.seed;
    struct hk_image_set itrain, itest, ival;
    const int nval = prm.validation_images;
    int ok = hk_images_split(prm.data, seed, prm.train_images, prm.test_images, nval, &itrain, &itest, &ival) == 0;
    if (!hk_all_ok(team, ok)) {
        hk_image_set_free(&itrain);
        hk_image_set_free(&itest);
        hk_image_set_free(&ival);
        return -1;
    }
    struct hk_rotation_task task = {prm.samples_per_image, prm.angle_jitter, seed};
    const int N = itrain.n * task.samples_per_image, M = itest.n * task.samples_per_image, K = HK_ROTATION_CLASSES;
    const int V = ival.n * task.samples_per_image;
    int *ltrain = hk_malloc((size_t)N * sizeof(int)), *ltest = hk_malloc((size_t)M * sizeof(int));
    int *lval = hk_malloc((size_t)V * sizeof(int) + 1);
    struct hk_dataset train, test, val;
    hk_rotation_build(&task, &itrain, 0, &train, ltrain);
    hk_rotation_build(&task, &itest, 1, &test, ltest);
    memset(&val, 0, sizeof val);
    if (V > 0) hk_rotation_build(&task, &ival, 2, &val, lval);
    hk_attrs_num(&r->metrics, "n_train", N);
    hk_attrs_num(&r->metrics, "n_test", M);
    hk_attrs_num(&r->metrics, "n_val", V);
    double ridges[HK_MAX_REALS], lrs[HK_MAX_REALS];
    const int nridges = hk_list_reals(prm.ridge_grid, ridges), nlr = hk_list_reals(prm.lr_grid, lrs);
    /* trivial baselines: chance, and always answering the most frequent training class */
    int freq[HK_ROTATION_CLASSES] = {0}, top = 0, hits = 0;
    for (int i = 0; i < N; i++) freq[ltrain[i]]++;
    for (int c = 1; c < K; c++) if (freq[c] > freq[top]) top = c;
    for (int i = 0; i < M; i++) hits += ltest[i] == top;
    hk_attrs_num(&r->metrics, "accuracy_chance", 1.0 / K);
    hk_attrs_num(&r->metrics, "accuracy_test_majority", (double)hits / M);

    int rc = 0;
    static const char *const finite[2] = {"hypernet", "mlp"};
    for (int f = 0; f < 2 && rc == 0 && r->status == HK_OK; f++) {
        const char *name = finite[f];
        if (!hk_list_has(prm.methods, name)) continue;
        const int epochs = prm.epochs, runs = V > 0 ? nlr : 1;
        struct hk_finite_fit fit;
        const size_t len = (size_t)runs * (epochs + 1);
        struct curves c = {&train, &test, &fit, ltrain, ltest, team, epochs, -1, hk_malloc(len * sizeof(double)),
                           hk_malloc(len * sizeof(double)), hk_malloc(len * sizeof(double)),
                           hk_malloc(len * sizeof(double))};
        for (size_t e = 0; e < len; e++) c.train_loss[e] = c.test_loss[e] = c.train_acc[e] = c.test_acc[e] = NAN;
        struct hk_finite_spec fs = {.method = name, .hn = shape_of(&prm), .mlp = mlp_shape_of(&prm),
                                    .init_seed = seed * 1000003L + 17, .centered = prm.centered,
                                    .f32 = !strcmp(prm.precision, "float32"),
                                    .o = {.epochs = epochs, .batch_size = prm.batch_size, .lr = prm.lr,
                                          .momentum = prm.momentum, .shuffle_seed = seed, .patience = prm.patience},
                                    .lrs = lrs, .nlr = nlr};
        const struct hk_finite_set ftrain = {&train.in, NULL, ltrain}, fval = {V > 0 ? &val.in : NULL, NULL, lval},
                                   ftest = {&test.in, NULL, ltest};
        double t0 = hk_now();
        if (hk_finite_train(&fs, &ftrain, &fval, &ftest, team, on_epoch, &c, r, &fit, NULL)) rc = -1;
        else {
            char key[64];
            snprintf(key, sizeof key, "time_%s", name);
            hk_attrs_num(&r->metrics, key, hk_now() - t0);
            /* the network kept (the best validation epoch of the lr kept) */
            snprintf(key, sizeof key, "accuracy_test_%s", name);
            hk_attrs_num(&r->metrics, key, fit.test_accuracy);
            snprintf(key, sizeof key, "loss_test_%s", name);
            hk_attrs_num(&r->metrics, key, fit.test_loss);
            snprintf(key, sizeof key, "accuracy_train_%s", name);
            hk_attrs_num(&r->metrics, key, fit.train_accuracy);
            const int kept = fit.chosen > 0 ? fit.chosen : 0;
            if (f == 0) {
                hk_attrs_num(&r->metrics, "accuracy_test_initial", c.test_acc[(size_t)kept * (epochs + 1)]);
                hk_attrs_num(&r->metrics, "epochs_done", fit.log.epochs_run);
            }
            if (trank == 0) {
                /* the curves of the run kept; the hypernetwork's without a suffix (the MLP's training
                 * loss is hk_finite_train's loss_train_per_epoch_mlp, the running minibatch mean) */
                static const char *const what[4] = {"accuracy_test_per_epoch", "accuracy_train_per_epoch",
                                                    "loss_test_per_epoch", "loss_train_per_epoch"};
                double *src[4] = {c.test_acc, c.train_acc, c.test_loss, c.train_loss};
                for (int a = 0; a < (f == 0 ? 4 : 3); a++) {
                    snprintf(key, sizeof key, f == 0 ? "%s" : "%s_%s", what[a], name);
                    memcpy(hk_result_array(r, key, 1, epochs + 1, 0, 0, NULL)->data, src[a] + (size_t)kept * (epochs + 1),
                           (size_t)(epochs + 1) * sizeof(double));
                }
            }
        }
        hk_finite_fit_free(&fit);
        free(c.test_acc); free(c.train_acc); free(c.test_loss); free(c.train_loss);
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
        double t0 = hk_now(), ridge = prm.ridge;
        int kr;
        char key[64];
        if (V > 0) {
            double *Yv = hk_malloc((size_t)V * K * sizeof(double)), val_mse[HK_MAX_REALS];
            for (int c = 0; c < K; c++)
                for (int i = 0; i < V; i++) Yv[i + (size_t)c * V] = (lval[i] == c) - 1.0 / K;
            int chosen;
            kr = hk_krr_select(k, &depths, &train.in, Y, K, &val.in, Yv, ridges, nridges,
                               hk_solver_mixed(&prm.common), &test.in, prm.test_chunk,
                               &grid, prm.common.block_size, pred, &st, val_mse, &chosen);
            if (chosen >= 0) ridge = ridges[chosen];
            if (trank == 0) {
                snprintf(key, sizeof key, "mse_val_by_ridge_%s", name);
                memcpy(hk_result_array(r, key, 1, nridges, 0, 0, NULL)->data, val_mse, nridges * sizeof(double));
            }
            free(Yv);
        } else {
            kr = hk_krr(k, &depths, &train.in, Y, K, &test.in, prm.test_chunk, ridge,
                        hk_solver_mixed(&prm.common), &grid, prm.common.block_size,
                        NULL, pred, &st);
        }
        snprintf(key, sizeof key, "ridge_%s", name);
        hk_attrs_num(&r->metrics, key, ridge);
        if (kr < 0) rc = -1;
        else if (kr > 0) hk_result_fail(r, "%s", hk_error_message());
        else {
            int correct = 0;
            for (int i = 0; i < M; i++) {
                int best = 0;
                for (int c = 1; c < K; c++) if (pred[i + (size_t)c * M] > pred[i + (size_t)best * M]) best = c;
                correct += best == ltest[i];
            }
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
    free(lval);
    hk_dataset_free(&train);
    hk_dataset_free(&test);
    hk_dataset_free(&val);
    hk_image_set_free(&itrain);
    hk_image_set_free(&itest);
    hk_image_set_free(&ival);
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
    double hn_mem = 0, hn_flop = 0, step_gb = 0, tmp[HK_MAX_REALS];
    const double V = (double)prm.validation_images * S;
    const double fits = V > 0 ? hk_list_reals(prm.ridge_grid, tmp) : 1, runs = V > 0 ? hk_list_reals(prm.lr_grid, tmp) : 1;
    data += V * (dx + dz + 2);
    const int word = !strcmp(prm.precision, "float32") ? 4 : 8;
    const double batch = fmin((double)prm.batch_size, N), steps = runs * prm.epochs * ceil(N / batch);
    if (hk_list_has(prm.methods, "hypernet")) {
        double params = (double)hk_hn_param_count(&s);
        int last = s.bottleneck > 0 ? s.bottleneck : s.n;
        double P = (params - (double)s.n * s.dx - (s.L - 1.0) * s.n * s.n - (s.bottleneck > 0 ? (double)s.n * last : 0)) / last;
        double eval = fmin(2048, fmax(16, 8e6 / P));
        hn_mem = (V > 0 ? 5 : 3) * params + batch * P * 4 + eval * P * 2;
        /* every sample has its own x: ~6 flops per weight of A per sample, plus g and f; each epoch
         * also evaluates the training, test and validation sets */
        double per_sample = 6 * (P * last + params - P * last) + 6 * P;
        hn_flop = runs * prm.epochs * (N * per_sample + (N + M + V) * per_sample / 3) / 1e9;
        step_gb += hk_train_step_gbytes(steps, params, word, team_size);
    }
    if (hk_list_has(prm.methods, "mlp")) {
        struct hk_mlp_shape ms = mlp_shape_of(&prm);
        double params = (double)hk_mlp_param_count(&ms);
        double chunk = fmin(2048, fmax(16, 4e6 / ((double)ms.n * ms.depth)));
        hn_mem = fmax(hn_mem, (V > 0 ? 5 : 3) * params + 4 * fmax(batch, chunk) * ms.n * ms.depth);
        hn_flop += runs * prm.epochs * (6 * N * params + 2 * (N + M + V) * params) / 1e9;
        step_gb += hk_train_step_gbytes(steps, params, word, team_size);
    }
    int nb = prm.common.block_size, nprow, npcol;
    hk_grid_shape(team_size, prm.common.grid_rows, &nprow, &npcol);
    double chunk = fmin((double)prm.test_chunk, M), k_mem = 0, entries = 0, kflop = 0, la = 0, la_time = 0;
    /* mixed precision (hk_dist_solve_mixed): the factors at SGEMM's rate, about twice DGEMM's; without a
     * ridge search a float32 copy of the Gram matrix beside it */
    const int mixed = hk_solver_mixed(&prm.common);
    struct hk_depths d = {s.L + (s.bottleneck > 0), s.H, 0};
    for (int k = 0; k < HK_NKERNELS; k++) {
        if (!hk_kernel_info(k)->point || !hk_list_has(prm.methods, hk_kernel_name(k))) continue;
        /* every point has its own x: as many distinct x as points */
        double ws = hk_kernel_workspace_bytes(k, &d, (int)(N / nprow) + nb, (int)(N / npcol) + nb, (int)dx, (int)dz,
                                              (int)(N / nprow) + nb, (int)(N / npcol) + nb);
        /* a ridge search fills the Gram matrix and the validation rows once, keeps both, and refactors a
         * copy of the Gram matrix for each ridge of the grid */
        const double gram = (double)hk_local_elements_max((int)N, (int)N, nb, nprow, npcol);
        k_mem = gram + (double)hk_local_elements_max((int)chunk, (int)N, nb, nprow, npcol) +
                2 * (N + M) * HK_ROTATION_CLASSES + ws / 8 + (V > 0 ? gram + V * N / team_size : mixed ? gram / 2 : 0);
        double pairs = N * (N + 1) / 2 + V * N + M * N;
        entries += pairs;
        /* each pair has its own x pair: 2 dx for f's input kernel, 2 dz for g's */
        kflop += (hk_kernel_entry_cost(k, &d, (int)dz) + 2 * dx) * pairs / 1e9;
        la += (fits * (N * N * N / 3 + 2 * N * N * HK_ROTATION_CLASSES + 2 * V * N * HK_ROTATION_CLASSES) +
               2 * M * N * HK_ROTATION_CLASSES) / 1e9;
        la_time -= mixed ? fits * N * N * N / 6 / 1e9 : 0;
    }
    e->mem_bytes_per_rank = 8 * (data + fmax(hn_mem, k_mem));
    e->kernel_entries = entries;
    e->gflop = hn_flop + la;
    /* float32 training: SGEMM at about twice DGEMM's rate (2.1-2.3x measured on the completion model) */
    const double train_rate = !strcmp(prm.precision, "float32") ? 2 : 1;
    e->seconds = hk_estimate_seconds(rates, team_size, kflop, la + la_time, hn_flop / train_rate, step_gb);
}

HK_EXPERIMENT(rotation, "rotation",
              "MNIST rotation prediction (E4): finite hypernetwork by SGD, accuracy per epoch; Th, Kh and Tmlp classifiers",
              rotation, run, estimate, check,
              "accuracy_test_hypernet,accuracy_test_Th,accuracy_test_Tmlp,accuracy_chance")
