/* image-completion and image-inpainting (docs/experiments.md E2, E3): each
 * pixel of an image is a point (x = what is shown of the image, z = the
 * pixel's coordinate, y = its intensity). A point of the sweep fits on U
 * training images x G sampled pixels and predicts every pixel of held-out
 * images, with any of: the hyperkernel Th, the hyper-GP Kh, the plain-MLP
 * NTK Tmlp on (x, z) (kernel ridge regression, distributed), and a finite
 * hypernetwork trained by SGD. Metrics: MSE on the hidden pixels and on the
 * whole image, per test image, against the training mean image as the
 * trivial baseline; the first few test images are kept as pictures. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hk/data.h"
#include "hk/dist.h"
#include "hk/dynamics.h"
#include "hk/experiment.h"
#include "hk/finite.h"
#include "hk/image_tasks.h"
#include "hk/krr.h"
#include "hk/params.h"
#include "hk/tasks.h"
#include "hk/team.h"
#include "hk/train.h"
#include "hk/util.h"

#define PIXEL_TASK_PARAMS(P)                                                                                      \
    P(STRING, data, "synthetic", 0, 0, NULL,                                                                      \
      "images: an HDF5 file from `hksweep data mnist`, or synthetic[:N] (generated digits)", 0)                   \
    P(INT, train_images, "50", 1, 10000000, NULL, "U: distinct training images", 0)                               \
    P(INT, coords_per_image, "20", 1, HK_IMG_PIXELS, NULL, "G: sampled pixels per training image", 0)             \
    P(INT, test_images, "20", 1, 10000000, NULL, "held-out images, every pixel predicted", 0)                     \
    P(INT, depth_f, "2", 1, HK_MAX_DEPTH, NULL, "hidden layers L of the meta-network f", 0)                       \
    P(INT, depth_g, "3", 1, HK_MAX_DEPTH, NULL, "layers H of the primary network g", 0)                           \
    P(STRING, z_embedding, "fourier", 0, 0, "none|fourier", "embedding of the pixel coordinate z", 0)             \
    P(INT, embedding_width, "64", 1, 1000000, NULL, "width D of the Fourier embedding of z", 0)                   \
    P(REAL, embedding_lengthscale, "0.2", 1e-6, 1e6, NULL, "length scale of z's Fourier embedding", 0)            \
    P(INT, validation_images, "10", 0, 10000000, NULL,                                                            \
      "V: more images, never fitted, on whose hidden pixels (5 G per image) the ridge, lr and epochs are chosen; "   \
      "0: ridge and lr as given", 0)                                                                              \
    P(REAL, ridge, "0.1", 0, 1e12, NULL, "ridge of the kernel methods without validation", 0)                     \
    P(REALS, ridge_grid, "1e-5,1e-4,1e-3,1e-2,1e-1,1,10,100", 0, 1e12, NULL, "kernel ridges tried on the validation images", 0) \
    P(LIST, methods, "Th,Kh,Tmlp,hypernet,mlp", 0, 0, "hypernet|mlp" HK_POINT_KERNELS_BAR, "methods compared", 0) \
    P(INT, width_f, "256", 1, 1000000, NULL, "hypernet: width n of f's hidden layers", 0)                         \
    P(INT, width_g, "32", 1, 1000000, NULL, "hypernet: width m of g's hidden layers", 0)                          \
    P(INT, width_mlp, "256", 1, 1000000, NULL,                                                                    \
      "mlp: width of the plain MLP on (x, z), with depth_f + depth_g hidden layers as Tmlp", 0)                   \
    P(REAL, lr, "0.05", 0, 1e6, NULL, "finite networks: learning rate without validation", 0)                    \
    P(REALS, lr_grid, "0.01,0.03,0.1", 1e-12, 1e6, NULL, "finite networks: learning rates tried on the validation images", 0) \
    P(INT, patience, "5", 0, 1000000, NULL,                                                                       \
      "finite networks: epochs without a better validation loss before stopping (0: never)", 0)                  \
    P(REAL, momentum, "0.9", 0, 0.9999, NULL, "finite networks: momentum", 0)                                     \
    P(INT, batch_size, "64", 1, 100000000, NULL, "finite networks: minibatch size", 0)                            \
    P(STRING, batches, "images", 0, 0, "images|pixels",                                                           \
      "finite networks: minibatches of whole images' G pixels (f runs once per image of a batch), or of pixels " \
      "shuffled across images", 0)                                                                                \
    P(INT, epochs, "30", 1, 1000000, NULL, "finite networks: most passes over the training pixels", 0)            \
    P(BOOL, centered, "true", 0, 1, NULL, "finite networks: train h(w) - h(w0), output 0 at init as in kernel regression", 0) \
    P(STRING, precision, "float64", 0, 0, "float64|float32",                                                      \
      "finite networks: arithmetic of training (float32: about twice the throughput; float64 for convergence "   \
      "studies, where widths differ little)", HK_ID_UNLESS_DEFAULT)                                                                  \
    P(BOOL, center_x, "true", 0, 1, NULL, "subtract the training mean from x before scaling it", 0)               \
    P(STRING, target_mean, "image", 0, 0, "image|zero",                                                           \
      "prior mean of the pixels: the training mean image (methods fit the rest) or zero", 0)                      \
    P(INT, examples, "4", 0, 64, NULL, "test images stored as pictures for the analysis", 1)                      \
    P(BOOL, uncertainty, "true", 0, 1, NULL,                                                                      \
      "posterior std of the example images' pixels (hyper-GP Kh, trained Th ensemble), calibration; metrics only", 1) \
    P(INT, test_chunk, "8192", 1, 100000000, NULL, "test pixels per prediction block", 1)
HK_PARAM_GROUP(pixel_task, PIXEL_TASK_PARAMS)

#define COMPLETION_PARAMS(P, G) G(task, pixel_task, PIXEL_TASK_PARAMS) G(common, hk_common, HK_COMMON_PARAMS)
HK_PARAMS_DEFINE(completion, COMPLETION_PARAMS)

#define INPAINTING_PARAMS(P, G)                                                                                   \
    G(task, pixel_task, PIXEL_TASK_PARAMS)                                                                        \
    P(INT, context_pixels, "100", 1, HK_IMG_PIXELS, NULL, "C: random pixels shown to the model per image", 0)     \
    G(common, hk_common, HK_COMMON_PARAMS)
HK_PARAMS_DEFINE(inpainting, INPAINTING_PARAMS)

/* The parameters of a point of either kind. */
struct pixel_point {
    enum hk_pixel_mode mode;
    struct pixel_task_params t;
    int context;
    struct hk_common_params common;
};

static struct pixel_point read_point(const struct hk_point *p, enum hk_pixel_mode mode)
{
    struct pixel_point pp = {.mode = mode};
    if (mode == HK_INPAINTING) {
        struct inpainting_params prm;
        inpainting_params_read(p, &prm);
        pp.t = prm.task, pp.context = prm.context_pixels, pp.common = prm.common;
    } else {
        struct completion_params prm;
        completion_params_read(p, &prm);
        pp.t = prm.task, pp.common = prm.common;
    }
    return pp;
}

static struct hk_pixel_task task_of(const struct pixel_point *pp)
{
    struct hk_pixel_task t = {.mode = pp->mode, .context = pp->context, .seed = pp->common.seed};
    return t;
}

static struct hk_hn_shape shape_of(const struct pixel_task_params *t, int dx, int dz)
{
    struct hk_hn_shape s = {.dx = dx, .dz = dz, .n = t->width_f, .L = t->depth_f, .m = t->width_g,
                            .H = t->depth_g, .k = 1};
    return s;
}

/* The finite counterpart of Tmlp: depth_f + depth_g hidden layers on (x, z). */
static struct hk_mlp_shape mlp_shape_of(const struct pixel_task_params *t, int dx, int dz)
{
    struct hk_mlp_shape s = {.dx = dx, .dz = dz, .n = t->width_mlp, .depth = t->depth_f + t->depth_g, .k = 1};
    return s;
}

/* Per-image MSE on hidden pixels and on the whole image of predictions
 * pred (T x 784); returns the means over images. */
static void score(int T, const double *pred, const struct hk_image_set *test, const unsigned char *hidden,
                  double *hid_per, double *whole_per, double *hid_mean, double *whole_mean)
{
    *hid_mean = *whole_mean = 0;
    for (int u = 0; u < T; u++) {
        double sh = 0, sw = 0;
        int nh = 0;
        for (int p = 0; p < HK_IMG_PIXELS; p++) {
            size_t i = (size_t)u * HK_IMG_PIXELS + p;
            double e = pow(pred[i] - test->pix[i], 2);
            sw += e;
            if (hidden[i]) sh += e, nh++;
        }
        hid_per[u] = nh ? sh / nh : 0;
        whole_per[u] = sw / HK_IMG_PIXELS;
        *hid_mean += hid_per[u] / T;
        *whole_mean += whole_per[u] / T;
    }
}

static int run_pixels(const struct pixel_point *pp, MPI_Comm team, struct hk_result *r)
{
    double t_start = hk_now();
    const int trank = hk_team_rank(team);
    const struct pixel_task_params *prm = &pp->t;
    const int U = prm->train_images, T = prm->test_images;
    const int G = prm->coords_per_image;
    const long seed = pp->common.seed;
    const struct hk_pixel_task task = task_of(pp);
    const struct hk_pixel_spec spec = {.source = prm->data, .train_images = U, .coords_per_image = G,
                                       .test_images = T, .validation_images = prm->validation_images,
                                       .center_x = prm->center_x,
                                       .prior_is_mean_image = !strcmp(prm->target_mean, "image"),
                                       .fourier_z = !strcmp(prm->z_embedding, "fourier"),
                                       .embedding_width = prm->embedding_width,
                                       .embedding_lengthscale = prm->embedding_lengthscale};
    struct hk_pixel_data pd;
    if (!hk_all_ok(team, hk_pixel_data_build(&task, &spec, &pd) == 0)) {
        hk_pixel_data_free(&pd);
        return -1;
    }
    struct hk_dataset train = pd.train, test = pd.test;
    const struct hk_image_set itest = pd.test_images;
    const unsigned char *hidden = pd.hidden;
    const double *mean_img = pd.mean_image, *prior = pd.prior;
    const int N = train.in.n, M = test.in.n;
    hk_attrs_num(&r->metrics, "n_train", N);
    hk_attrs_num(&r->metrics, "n_test", M);

    double *pred = hk_malloc((size_t)M * sizeof(double));
    for (int u = 0; u < T; u++) memcpy(pred + (size_t)u * HK_IMG_PIXELS, mean_img, sizeof pd.mean_image);
    const int E = (int)fmin((double)prm->examples, T);
    double *hid_per = hk_malloc((size_t)T * sizeof(double)), *whole_per = hk_malloc((size_t)T * sizeof(double));
    double hm, wm;
    score(T, pred, &itest, hidden, hid_per, whole_per, &hm, &wm);
    hk_attrs_num(&r->metrics, "mse_hidden_mean_image", hm);
    hk_attrs_num(&r->metrics, "mse_whole_mean_image", wm);
    if (trank == 0) {
        hk_result_array(r, "mse_hidden_per_image_mean_image", 1, T, 0, 0, hid_per);
        hid_per = hk_malloc((size_t)T * sizeof(double));
        if (E > 0) {
            double *truth = hk_malloc((size_t)E * HK_IMG_PIXELS * sizeof(double));
            double *shown = hk_malloc((size_t)E * HK_IMG_PIXELS * sizeof(double));
            for (size_t i = 0; i < (size_t)E * HK_IMG_PIXELS; i++) {
                truth[i] = itest.pix[i];
                shown[i] = hidden[i] ? NAN : itest.pix[i]; /* NaN marks what the model does not see */
            }
            hk_result_array(r, "examples_truth", 3, E, HK_IMG_SIDE, HK_IMG_SIDE, truth);
            hk_result_array(r, "examples_input", 3, E, HK_IMG_SIDE, HK_IMG_SIDE, shown);
        }
    }

    struct hk_grid grid;
    int have_grid = 0, rc = 0;
    struct hk_depths depths = {prm->depth_f, prm->depth_g, 0};
    /* with validation images, the ridge and the lr are chosen on them */
    const int V = prm->validation_images;
    double ridges[HK_MAX_REALS], lrs[HK_MAX_REALS], ridge_kh = prm->ridge;
    const int nridges = hk_list_reals(prm->ridge_grid, ridges), nlr = hk_list_reals(prm->lr_grid, lrs);
    hk_attrs_num(&r->metrics, "n_val", V > 0 ? pd.val.in.n : 0);
    static const char *const finite[2] = {"hypernet", "mlp"};
    /* the kernels between points, in table order, then the finite networks */
    for (int k = 0; k < HK_NKERNELS + 2 && rc == 0 && r->status == HK_OK; k++) {
        const int is_kernel = k < HK_NKERNELS;
        const char *name = is_kernel ? hk_kernel_name(k) : finite[k - HK_NKERNELS];
        if ((is_kernel && !hk_kernel_info(k)->point) || !hk_list_has(prm->methods, name)) continue;
        if (hk_team_should_stop(team)) {
            r->status = HK_ABANDONED;
            snprintf(r->reason, sizeof r->reason, "stopped by a signal before fitting %s", name);
            break;
        }
        char key[64];
        double t0 = hk_now();
        if (is_kernel) {
            if (!have_grid) {
                if (hk_grid_create(&grid, team, pp->common.grid_rows)) { rc = -1; break; }
                have_grid = 1;
            }
            struct hk_krr_stats st;
            double ridge = prm->ridge;
            int kr;
            if (V > 0) {
                double val_mse[HK_MAX_REALS];
                int chosen;
                kr = hk_krr_select(k, &depths, &train.in, train.y, 1, &pd.val.in, pd.val.y, ridges, nridges,
                                   hk_solver_mixed(&pp->common), &test.in, prm->test_chunk, &grid,
                                   pp->common.block_size, pred, &st, val_mse, &chosen);
                if (chosen >= 0) ridge = ridges[chosen];
                if (trank == 0) {
                    snprintf(key, sizeof key, "mse_val_by_ridge_%s", name);
                    memcpy(hk_result_array(r, key, 1, nridges, 0, 0, NULL)->data, val_mse, nridges * sizeof(double));
                }
            } else {
                kr = hk_krr(k, &depths, &train.in, train.y, 1, &test.in, prm->test_chunk, ridge,
                            hk_solver_mixed(&pp->common), &grid,
                            pp->common.block_size, NULL, pred, &st);
            }
            if (kr < 0) { rc = -1; break; }
            snprintf(key, sizeof key, "ridge_%s", name);
            hk_attrs_num(&r->metrics, key, ridge);
            if (k == HK_KH) ridge_kh = ridge;
            hk_krr_record(r, name, &st);
            if (kr > 0) {
                hk_result_fail(r, "%s", hk_error_message());
                break;
            }
            for (int i = 0; i < M; i++) pred[i] += prior[i % HK_IMG_PIXELS];
        } else {
            struct hk_finite_spec fs = {.method = name, .hn = shape_of(prm, train.in.dx, train.in.dz),
                                        .mlp = mlp_shape_of(prm, train.in.dx, train.in.dz),
                                        .init_seed = seed * 1000003L + 17, .centered = prm->centered,
                                        .f32 = !strcmp(prm->precision, "float32"),
                                        .o = {.epochs = prm->epochs, .batch_size = prm->batch_size, .lr = prm->lr,
                                              .momentum = prm->momentum, .shuffle_seed = seed,
                                              .patience = prm->patience, .batch_by_x = !strcmp(prm->batches, "images")},
                                        .lrs = lrs, .nlr = nlr};
            const struct hk_finite_set ftrain = {&train.in, train.y, NULL}, fval = {V > 0 ? &pd.val.in : NULL, pd.val.y, NULL},
                                       ftest = {&test.in, test.y, NULL};
            struct hk_finite_fit fit;
            if (hk_finite_train(&fs, &ftrain, &fval, &ftest, team, NULL, NULL, r, &fit, pred)) { rc = -1; break; }
            for (int i = 0; i < M; i++) pred[i] += prior[i % HK_IMG_PIXELS];
            hk_finite_fit_free(&fit);
            if (r->status != HK_OK) break;
        }
        snprintf(key, sizeof key, "time_%s", name);
        hk_attrs_num(&r->metrics, key, hk_now() - t0);
        score(T, pred, &itest, hidden, hid_per, whole_per, &hm, &wm);
        snprintf(key, sizeof key, "mse_hidden_%s", name);
        hk_attrs_num(&r->metrics, key, hm);
        snprintf(key, sizeof key, "mse_whole_%s", name);
        hk_attrs_num(&r->metrics, key, wm);
        if (trank == 0) {
            snprintf(key, sizeof key, "mse_hidden_per_image_%s", name);
            hk_result_array(r, key, 1, T, 0, 0, hid_per);
            hid_per = hk_malloc((size_t)T * sizeof(double));
            snprintf(key, sizeof key, "mse_whole_per_image_%s", name);
            hk_result_array(r, key, 1, T, 0, 0, whole_per);
            whole_per = hk_malloc((size_t)T * sizeof(double));
            if (E > 0) {
                double *ex = hk_malloc((size_t)E * HK_IMG_PIXELS * sizeof(double));
                memcpy(ex, pred, (size_t)E * HK_IMG_PIXELS * sizeof(double));
                snprintf(key, sizeof key, "examples_%s", name);
                hk_result_array(r, key, 3, E, HK_IMG_SIDE, HK_IMG_SIDE, ex);
            }
        }
    }
    /* uncertainty: the hyper-GP posterior (Kh, the ridge as noise) and the
     * trained ensemble of uncentred networks (Th, Kh), docs/hyperkernel-math.md
     * section 9, on the pixels of the example images (the first E test
     * images, points 0 .. 784 E - 1): their std maps, and calibration, the
     * fraction of their hidden pixels whose truth lies within 1 and 2 std */
    int any_kernel = 0;
    for (int k = 0; k < HK_NKERNELS; k++) any_kernel |= hk_kernel_info(k)->point && hk_list_has(prm->methods, hk_kernel_name(k));
    if (rc == 0 && r->status == HK_OK && prm->uncertainty && any_kernel && E > 0) {
        struct hk_inputs shown = test.in;
        shown.n = E * HK_IMG_PIXELS;
        if (!have_grid && hk_grid_create(&grid, team, pp->common.grid_rows) == 0) have_grid = 1;
        struct hk_dynamics_out u;
        int ur = have_grid ? hk_dynamics_uncertainty(&depths, &train.in, train.y, 1, &shown, &grid, ridge_kh,
                                                     pp->common.block_size, &u)
                           : -1;
        if (ur == 0 && trank == 0) {
            static const char *const names[2] = {"Kh", "ensemble"};
            const double *means[2] = {u.mean_kh, u.mean_ensemble}, *vars[2] = {u.var_kh, u.var_ensemble};
            for (int v = 0; v < 2; v++) {
                long n1 = 0, n2 = 0, nh = 0;
                double *sd = hk_malloc((size_t)E * HK_IMG_PIXELS * sizeof(double));
                for (int i = 0; i < shown.n; i++) {
                    double std = sqrt(vars[v][i] > 0 ? vars[v][i] : 0);
                    double err = fabs(itest.pix[i] - (means[v][i] + prior[i % HK_IMG_PIXELS]));
                    sd[i] = std;
                    if (!hidden[i]) continue;
                    nh++, n1 += err <= std, n2 += err <= 2 * std;
                }
                char key[64];
                snprintf(key, sizeof key, "calibration_1sd_%s", names[v]);
                hk_attrs_num(&r->metrics, key, nh ? (double)n1 / nh : NAN);
                snprintf(key, sizeof key, "calibration_2sd_%s", names[v]);
                hk_attrs_num(&r->metrics, key, nh ? (double)n2 / nh : NAN);
                snprintf(key, sizeof key, "std_examples_%s", names[v]);
                hk_result_array(r, key, 3, E, HK_IMG_SIDE, HK_IMG_SIDE, sd);
            }
            hk_attrs_num(&r->metrics, "time_uncertainty", u.t_uncertainty);
            hk_attrs_num(&r->metrics, "jitter_ensemble_Th", u.jitter_th);
        }
        if (ur == 0) hk_dynamics_free(&u);
        else if (!hk_all_ok(team, 0)) hk_result_fail(r, "uncertainty: %s", hk_error_message());
    }
    if (have_grid) hk_grid_destroy(&grid);
    double rss = (double)hk_peak_rss_bytes();
    MPI_Allreduce(MPI_IN_PLACE, &rss, 1, MPI_DOUBLE, MPI_MAX, team);
    hk_attrs_num(&r->metrics, "peak_rss_bytes_max_rank", rss);
    hk_attrs_num(&r->metrics, "time_total", hk_now() - t_start);
    free(pred); free(hid_per); free(whole_per);
    hk_pixel_data_free(&pd);
    return rc;
}

static int run_completion(const struct hk_point *p, MPI_Comm team, const struct hk_experiment_env *env,
                          struct hk_result *r)
{
    (void)env;
    const struct pixel_point pp = read_point(p, HK_COMPLETION);
    return run_pixels(&pp, team, r);
}

static int run_inpainting(const struct hk_point *p, MPI_Comm team, const struct hk_experiment_env *env,
                          struct hk_result *r)
{
    (void)env;
    const struct pixel_point pp = read_point(p, HK_INPAINTING);
    return run_pixels(&pp, team, r);
}

static void estimate_pixels(const struct pixel_point *pp, int team_size, const struct hk_rates *rates,
                            struct hk_estimate *e)
{
    const struct pixel_task_params *prm = &pp->t;
    const struct hk_pixel_task t = task_of(pp);
    const int dx = hk_pixel_task_dx(&t);
    const int dz = !strcmp(prm->z_embedding, "fourier") ? prm->embedding_width : 2;
    const double U = prm->train_images, T = prm->test_images;
    const double N = U * prm->coords_per_image, M = T * HK_IMG_PIXELS;
    int nb = pp->common.block_size, nprow, npcol;
    hk_grid_shape(team_size, pp->common.grid_rows, &nprow, &npcol);
    double chunk = fmin((double)prm->test_chunk, M);
    double gram = (double)hk_local_elements_max((int)N, (int)N, nb, nprow, npcol);
    double tblk = (double)hk_local_elements_max((int)chunk, (int)N, nb, nprow, npcol);
    double data = (U + T) * (dx + HK_IMG_PIXELS) + (N + M) * (dz + 3) + 3 * M;
    struct hk_depths d = {prm->depth_f, prm->depth_g, 0};
    double kernel_mem = 0, entries = 0, kflop = 0, la = 0, la_time = 0;
    /* mixed precision (hk_dist_solve_mixed) factors in float32 at SGEMM's rate, about twice DGEMM's, and
     * without a ridge search holds a float32 copy of the Gram matrix beside it (a ridge search factors the
     * float32 copy in place of the float64 one, or both in turn when it falls back) */
    const int mixed = hk_solver_mixed(&pp->common);
    /* with validation: each ridge of the grid refactors a copy of the Gram matrix (filled once, as
     * are the validation rows) and predicts the validation pixels; each lr of the grid trains the
     * networks once (at most) */
    double tmp[HK_MAX_REALS];
    const int V = prm->validation_images;
    const double fits = V > 0 ? hk_list_reals(prm->ridge_grid, tmp) : 1, runs = V > 0 ? hk_list_reals(prm->lr_grid, tmp) : 1;
    const double hidden_px = pp->mode == HK_COMPLETION ? HK_IMG_PIXELS / 2 : HK_IMG_PIXELS - pp->context;
    const double Mv = V > 0 ? (double)V * fmin(5.0 * prm->coords_per_image, hidden_px) : 0;
    data += Mv * (dz + 3) + V * (dx + HK_IMG_PIXELS);
    for (int k = 0; k < HK_NKERNELS; k++) {
        if (!hk_kernel_info(k)->point || !hk_list_has(prm->methods, hk_kernel_name(k))) continue;
        double ws = hk_kernel_workspace_bytes(k, &d, (int)U, (int)U, dx, dz, (int)(N / nprow) + nb, (int)(N / npcol) + nb);
        /* a ridge search keeps a copy of the Gram matrix and the validation rows K(val, train) */
        kernel_mem = gram + tblk + ws / 8 + (V > 0 ? gram + Mv * N / team_size + N / team_size + nb : mixed ? gram / 2 : 0);
        double cost = hk_kernel_entry_cost(k, &d, dz);
        double pairs = N * (N + 1) / 2 + Mv * N + M * N;
        entries += pairs;
        kflop += cost * pairs / 1e9;
        la += (fits * (N * N * N / 3 + 2 * N * N + 2 * Mv * N) + 2 * M * N) / 1e9;
        la_time -= mixed ? fits * N * N * N / 6 / 1e9 : 0;
    }
    /* uncertainty on the example images' pixels (hk_dynamics_uncertainty):
     * Th's and Kh's factors in one N x N matrix, three Me x N ones */
    const double Me = fmin((double)prm->examples, T) * HK_IMG_PIXELS;
    if (prm->uncertainty && entries > 0 && Me > 0) {
        double unc = (N * N + 3.0 * Me * N) / team_size;
        kernel_mem = fmax(kernel_mem, unc);
        la += (2.0 * N * N * N / 3 + 6.0 * Me * N * N) / 1e9;
        kflop += 120.0 * (N * N + 2 * Me * N) / 1e9;
    }
    /* the x-pair kernels of f cost ~2 dx per pair of distinct images */
    kflop += 2.0 * dx * (U * U + T * U) / 1e9;
    double hn_mem = 0, hn_flop = 0, step_gb = 0;
    const int word = !strcmp(prm->precision, "float32") ? 4 : 8;
    /* minibatches of the finite networks, and the distinct x each holds */
    const double batch = fmin((double)prm->batch_size, N), batches = ceil(N / batch);
    const double per_batch_x = !strcmp(prm->batches, "images") ? fmin(ceil(batch / prm->coords_per_image) + 1, U)
                                                               : fmin(batch, U);
    const double steps = runs * prm->epochs * batches;
    if (hk_list_has(prm->methods, "hypernet")) {
        struct hk_hn_shape s = shape_of(prm, dx, dz);
        double params = (double)hk_hn_param_count(&s);
        double P = (params - (double)s.n * s.dx) / s.n;
        hn_mem = (V > 0 ? 5 : 3) * params + fmin(batch, U) * P * 4 + 2048.0 * P; /* + init and best copies */
        /* per epoch: the generated weights of each minibatch's images (~6 flops per weight of A) and g */
        hn_flop = runs * (prm->epochs * (batches * per_batch_x * 6 * P * s.n + 6 * N * P + 2 * (V + Mv) * P) +
                          2 * (U + T + V) * P * s.n + 2 * M * P) / 1e9;
        step_gb += hk_train_step_gbytes(steps, params, word, team_size);
    }
    if (hk_list_has(prm->methods, "mlp")) {
        struct hk_mlp_shape s = mlp_shape_of(prm, dx, dz);
        double params = (double)hk_mlp_param_count(&s), x_part = (double)s.n * dx, rest = params - x_part;
        double chunk = fmin(2048, fmax(16, 4e6 / ((double)s.n * s.depth)));
        hn_mem = fmax(hn_mem, (V > 0 ? 5 : 3) * params + 4 * fmax(batch, chunk) * s.n * s.depth);
        /* x's part of the first layer once per distinct x of a batch, the rest per pixel: 6 flops per weight
         * and sample to train, 2 to evaluate */
        hn_flop += runs * (prm->epochs * (batches * per_batch_x * 6 * x_part + N * 6 * rest + 2 * Mv * rest +
                                          2 * V * x_part) + 2 * (N + M) * rest + 2 * (U + T) * x_part) / 1e9;
        step_gb += hk_train_step_gbytes(steps, params, word, team_size);
    }
    e->mem_bytes_per_rank = 8 * (data + fmax(kernel_mem, hn_mem));
    e->kernel_entries = entries;
    e->gflop = la + hn_flop;
    /* float32 training: SGEMM at about twice DGEMM's rate (2.1-2.3x measured on the completion model) */
    const double train_rate = !strcmp(prm->precision, "float32") ? 2 : 1;
    e->seconds = hk_estimate_seconds(rates, team_size, kflop, la + la_time, hn_flop / train_rate, step_gb);
}

static void estimate_completion(const struct hk_point *p, int team_size, const struct hk_rates *rates,
                                struct hk_estimate *e)
{
    const struct pixel_point pp = read_point(p, HK_COMPLETION);
    estimate_pixels(&pp, team_size, rates, e);
}

static void estimate_inpainting(const struct hk_point *p, int team_size, const struct hk_rates *rates,
                                struct hk_estimate *e)
{
    const struct pixel_point pp = read_point(p, HK_INPAINTING);
    estimate_pixels(&pp, team_size, rates, e);
}

static int check_pixels(const struct pixel_point *pp, int index)
{
    return hk_image_data_check(pp->t.data, (long)pp->t.train_images + pp->t.test_images, index);
}

static int check_completion(const struct hk_point *p)
{
    const struct pixel_point pp = read_point(p, HK_COMPLETION);
    return check_pixels(&pp, p->index);
}

static int check_inpainting(const struct hk_point *p)
{
    const struct pixel_point pp = read_point(p, HK_INPAINTING);
    return check_pixels(&pp, p->index);
}

HK_EXPERIMENT(image_completion, "image-completion",
              "MNIST completion (E2): predict the bottom half from the top; Th, Kh, Tmlp and a trained hypernetwork",
              completion, run_completion, estimate_completion, check_completion,
              "mse_hidden_Th,mse_hidden_Kh,mse_hidden_Tmlp,mse_hidden_hypernet,mse_hidden_mean_image")

HK_EXPERIMENT(image_inpainting, "image-inpainting",
              "MNIST inpainting (E3): predict every pixel from C random ones; Th, Kh, Tmlp and a trained hypernetwork",
              inpainting, run_inpainting, estimate_inpainting, check_inpainting,
              "mse_hidden_Th,mse_hidden_Kh,mse_hidden_Tmlp,mse_hidden_hypernet,mse_hidden_mean_image")
