/* dynamics-convergence: does a trained finite hypernetwork follow the
 * infinite-width trajectory? For one cell of widths and depths and one
 * network seed, on the synthetic regression task or on image completion at
 * small N (U images x G pixels, `task: image-completion`): a centred finite
 * hypernetwork, h(u; w) - h(u; w_0), trained by full-batch gradient descent,
 * and the dually infinite hypernetwork trained the same way in closed form
 * (hk_dynamics_predict: Th's eigendecomposition on the team's grid), with the
 * same learning rate, a fraction of 2N / lambda_max(Th), logged at the same
 * log-spaced steps. Per step: the relative distance between their train and
 * test outputs and both train losses; overall: whether the finite network
 * reached the global minimum and how far its empirical NTK moved. The
 * paper's claim: the distance shrinks only when both f and g are wide.
 * The kernel trajectory does not depend on the widths or the network seed:
 * a team computes it once per data seed and reuses it for the other points
 * it runs with the same data, depths, steps and learning-rate fraction. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hk/data.h"
#include "hk/dynamics.h"
#include "hk/experiment.h"
#include "hk/hypernet.h"
#include "hk/image_tasks.h"
#include "hk/params.h"
#include "hk/tasks.h"
#include "hk/team.h"
#include "hk/train.h"
#include "hk/util.h"

#define DYNAMICS_PARAMS(P, G)                                                                                     \
    P(STRING, task, "regression", 0, 0, "regression|image-completion",                                            \
      "the data: the synthetic regression task, or image completion (every pixel of U images, bottom half hidden)", 0) \
    G(reg, hk_regression_task, HK_REGRESSION_TASK_PARAMS)                                                         \
    P(STRING, data, "synthetic", 0, 0, NULL, "image-completion: an HDF5 file from `hksweep data mnist`, or synthetic[:N]", 0) \
    P(INT, train_images, "10", 1, 100000, NULL, "image-completion: U training images", 0)                         \
    P(INT, coords_per_image, "20", 1, HK_IMG_PIXELS, NULL, "image-completion: G sampled pixels per training image", 0) \
    P(INT, test_images, "2", 1, 100000, NULL, "image-completion: held-out images, every pixel predicted", 0)       \
    P(INT, width_f, "256", 1, 1000000, NULL, "width n of f's hidden layers", 0)                                   \
    P(INT, width_g, "64", 1, 1000000, NULL, "width m of g's hidden layers", 0)                                    \
    P(INT, steps, "512", 1, 10000000, NULL, "full-batch gradient-descent steps (logged at 0, 1, 2, 4, ...)", 0)   \
    P(REAL, lr_fraction, "0.5", 1e-9, 0.999, NULL, "learning rate as a fraction of 2N / lambda_max(Th)", 0)       \
    P(REAL, min_loss, "1e-3", 0, 1e12, NULL,                                                                      \
      "train loss, relative to the loss at initialisation, below which the global minimum counts as reached", 0)  \
    P(INT, data_seed, "1", 0, 2147483647, NULL, "seed of the data: draws the task, or the image split and pixels (seed draws the network)", 0)                  \
    G(common, hk_common, HK_COMMON_PARAMS)
HK_PARAMS_DEFINE(dynamics, DYNAMICS_PARAMS)

/* 0, 1, 2, 4, ..., and the last step. */
static int log_steps(int steps, double *out)
{
    int n = 0;
    out[n++] = 0;
    for (long s = 1; s < steps; s *= 2) out[n++] = (double)s;
    out[n++] = steps;
    return n;
}

struct trajectory {
    const struct hk_dataset *train, *test;
    const double *h0_train, *h0_test;
    MPI_Comm team;
    const double *log_at;
    int nlog, next;
    double *f_train, *f_test, *loss; /* nlog x N, nlog x M, nlog */
};

/* After each step (one epoch of full-batch GD), outputs at the logged steps. */
static void on_step(int epoch, const struct hk_model *net, void *ctx)
{
    struct trajectory *t = ctx;
    if (t->next >= t->nlog || epoch != (int)t->log_at[t->next]) return;
    int s = t->next++, N = t->train->in.n, M = t->test->in.n;
    hk_model_evaluate(net, &t->train->in, t->train->y, NULL, t->h0_train, t->team, &t->loss[s], NULL,
                   t->f_train + (size_t)s * N);
    double unused;
    hk_model_evaluate(net, &t->test->in, t->test->y, NULL, t->h0_test, t->team, &unused, NULL, t->f_test + (size_t)s * M);
}

static double norm(const double *a, const double *b, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += (a[i] - (b ? b[i] : 0)) * (a[i] - (b ? b[i] : 0));
    return sqrt(s);
}

/* The kernel trajectories a rank has computed, with the point each came from
 * and the size of its team: a point with the same parameters except the
 * network's (widths, seed) and min_loss gets the same trajectory, bit for
 * bit, so it is computed once per data seed. A few are kept (replicated
 * outputs only, T x (N + M) doubles each), the oldest dropped first. */
#define CACHE_SLOTS 4
#define NETWORK_ONLY "width_f,width_g,seed,min_loss"
static struct cached_trajectory {
    int used, team_size;
    long stamp;
    struct hk_point point;
    struct hk_dynamics_out out;
} cache[CACHE_SLOTS];
static long cache_clock;

/* The trajectory of p on this team from the cache (all of the team's ranks
 * must have it), or computed and kept. 0 with *out pointing into the cache
 * and *reused set, or the hk_dynamics_predict code. */
static int kernel_trajectory(const struct hk_point *p, MPI_Comm team, const struct hk_depths *depths,
                             const struct hk_dataset *train, const struct hk_dataset *test,
                             const struct hk_dynamics_opts *opts, int grid_rows, const struct hk_dynamics_out **out,
                             int *reused)
{
    int team_size, found = -1;
    MPI_Comm_size(team, &team_size);
    for (int i = 0; i < CACHE_SLOTS; i++)
        if (cache[i].used && cache[i].team_size == team_size && hk_point_same_except(&cache[i].point, p, NETWORK_ONLY))
            found = i;
    int everyone = found >= 0;
    MPI_Allreduce(MPI_IN_PLACE, &everyone, 1, MPI_INT, MPI_MIN, team);
    *reused = everyone;
    if (everyone) {
        cache[found].stamp = ++cache_clock;
        *out = &cache[found].out;
        return 0;
    }
    int slot = found >= 0 ? found : 0; /* a stale copy, else a free slot, else the oldest */
    for (int i = 0; found < 0 && i < CACHE_SLOTS; i++)
        if (!cache[i].used || (cache[slot].used && cache[i].stamp < cache[slot].stamp)) slot = i;
    if (cache[slot].used) hk_dynamics_free(&cache[slot].out);
    cache[slot].used = 0;
    struct hk_grid grid;
    if (hk_grid_create(&grid, team, grid_rows)) return -1;
    int rc = hk_dynamics_predict(depths, &train->in, train->y, 1, &test->in, &grid, opts, &cache[slot].out);
    hk_grid_destroy(&grid);
    if (rc != 0) return rc;
    cache[slot].used = 1, cache[slot].team_size = team_size, cache[slot].stamp = ++cache_clock;
    cache[slot].point = *p;
    *out = &cache[slot].out;
    return 0;
}

/* The point's data: the regression task, or image completion's pixels (y of
 * the training pixels minus the mean training image, as image-completion
 * fits them; the images themselves are not kept). Collective over team. */
static int point_data(const struct dynamics_params *prm, MPI_Comm team, struct hk_dataset *train,
                      struct hk_dataset *test)
{
    if (!strcmp(prm->task, "regression")) {
        hk_regression_task(&prm->reg, prm->data_seed, train, test);
        return 0;
    }
    const struct hk_pixel_task task = {.mode = HK_COMPLETION, .seed = prm->data_seed};
    const struct hk_pixel_spec spec = {.source = prm->data, .train_images = prm->train_images,
                                       .coords_per_image = prm->coords_per_image, .test_images = prm->test_images,
                                       .center_x = 1, .prior_is_mean_image = 1,
                                       .fourier_z = !strcmp(prm->reg.z_embedding, "fourier"),
                                       .embedding_width = prm->reg.embedding_width,
                                       .embedding_lengthscale = prm->reg.embedding_lengthscale};
    struct hk_pixel_data pd;
    int ok = hk_all_ok(team, hk_pixel_data_build(&task, &spec, &pd) == 0);
    if (ok) { /* the datasets move to the caller; the rest of pd is freed */
        *train = pd.train, *test = pd.test;
        memset(&pd.train, 0, sizeof pd.train), memset(&pd.test, 0, sizeof pd.test);
    }
    hk_pixel_data_free(&pd);
    return ok ? 0 : -1;
}

static int run(const struct hk_point *p, MPI_Comm team, const struct hk_experiment_env *env, struct hk_result *r)
{
    (void)env;
    double t_start = hk_now();
    const int trank = hk_team_rank(team);
    struct dynamics_params prm;
    dynamics_params_read(p, &prm);
    struct hk_dataset train, test;
    if (point_data(&prm, team, &train, &test)) return -1;
    const int N = train.in.n, M = test.in.n;
    double *log_at = hk_malloc(72 * sizeof(double));
    const int T = log_steps(prm.steps, log_at);

    /* the infinite-width trajectory, and the learning rate both follow */
    struct hk_depths depths = {prm.reg.depth_f, prm.reg.depth_g, 0};
    struct hk_dynamics_opts opts = {.lr_fraction = prm.lr_fraction, .steps = log_at, .nsteps = T,
                                    .nb = prm.common.block_size};
    const struct hk_dynamics_out *infp;
    int reused = 0;
    double t_kernel = hk_now();
    int rc = kernel_trajectory(p, team, &depths, &train, &test, &opts, prm.common.grid_rows, &infp, &reused);
    t_kernel = hk_now() - t_kernel;
    if (rc != 0) {
        free(log_at);
        hk_dataset_free(&train), hk_dataset_free(&test);
        return -1;
    }
    const struct hk_dynamics_out inf = *infp; /* the cache's: not freed here */
    const double lr = inf.lr;

    /* the finite network, centred, trained by full-batch GD at the same lr */
    struct hk_hn_shape shape = {.dx = train.in.dx, .dz = train.in.dz, .n = prm.width_f, .L = prm.reg.depth_f,
                                .m = prm.width_g, .H = prm.reg.depth_g, .k = 1};
    struct hk_hypernet net;
    if (hk_hn_init(&net, &shape, prm.common.seed * 1000003L + 17)) {
        free(log_at);
        hk_dataset_free(&train), hk_dataset_free(&test);
        return -1;
    }
    struct hk_model model;
    hk_model_of_hypernet(&model, &net);
    double *h0_train = hk_malloc((size_t)N * sizeof(double)), *h0_test = hk_malloc((size_t)M * sizeof(double)), l0;
    hk_model_evaluate(&model, &train.in, train.y, NULL, NULL, team, &l0, NULL, h0_train);
    hk_model_evaluate(&model, &test.in, test.y, NULL, NULL, team, &l0, NULL, h0_test);
    int *all = hk_malloc((size_t)N * sizeof(int));
    for (int i = 0; i < N; i++) all[i] = i;
    struct hk_hn_batch batch = {.in = &train.in, .samples = all, .nb = N};
    double *ntk0 = hk_malloc((size_t)N * N * sizeof(double)), *ntkT = hk_malloc((size_t)N * N * sizeof(double));
    hk_hn_entk(&net, &batch, ntk0);
    struct trajectory tr = {.train = &train, .test = &test, .h0_train = h0_train, .h0_test = h0_test, .team = team,
                            .log_at = log_at, .nlog = T,
                            .f_train = hk_calloc((size_t)T * N, sizeof(double)),
                            .f_test = hk_calloc((size_t)T * M, sizeof(double)), .loss = hk_calloc((size_t)T, sizeof(double))};
    struct hk_train_opts o = {.epochs = prm.steps, .full_batch = 1, .lr = lr, .offset = h0_train, .shuffle_seed = prm.common.seed};
    long steps_done = 0;
    long div = hk_train_model(&model, &train.in, train.y, NULL, &o, team, on_step, &tr, &steps_done, NULL);
    hk_hn_entk(&net, &batch, ntkT);

    if (trank == 0) {
        /* distances relative to the kernel's outputs at the last step */
        const double *kf_train = inf.f_train, *kf_test = inf.f_test;
        double ntr = norm(kf_train + (size_t)(T - 1) * N, NULL, N), nte = norm(kf_test + (size_t)(T - 1) * M, NULL, M);
        struct hk_array *dtr = hk_result_array(r, "distance_train", 1, T, 0, 0, NULL);
        struct hk_array *dte = hk_result_array(r, "distance_test", 1, T, 0, 0, NULL);
        double worst = 0;
        for (int s = 0; s < T; s++) {
            int reached = s < tr.next; /* a diverged network stops logging */
            dtr->data[s] = reached ? norm(tr.f_train + (size_t)s * N, kf_train + (size_t)s * N, N) / ntr : NAN;
            dte->data[s] = reached ? norm(tr.f_test + (size_t)s * M, kf_test + (size_t)s * M, M) / nte : NAN;
            if (reached && dte->data[s] > worst) worst = dte->data[s];
        }
        memcpy(hk_result_array(r, "steps", 1, T, 0, 0, NULL)->data, log_at, (size_t)T * sizeof(double));
        memcpy(hk_result_array(r, "loss_train_finite", 1, T, 0, 0, NULL)->data, tr.loss, (size_t)T * sizeof(double));
        memcpy(hk_result_array(r, "loss_train_kernel", 1, T, 0, 0, NULL)->data, inf.loss, (size_t)T * sizeof(double));
        double loss0 = tr.loss[0], last_fin = tr.next == T ? tr.loss[T - 1] : NAN;
        hk_attrs_num(&r->metrics, "distance_test_final", dte->data[T - 1]);
        hk_attrs_num(&r->metrics, "distance_train_final", dtr->data[T - 1]);
        hk_attrs_num(&r->metrics, "distance_test_max", worst);
        hk_attrs_num(&r->metrics, "loss_train_final_finite", last_fin);
        hk_attrs_num(&r->metrics, "loss_train_final_kernel", inf.loss[T - 1]);
        hk_attrs_num(&r->metrics, "loss_train_initial", loss0);
        hk_attrs_num(&r->metrics, "global_minimum_finite", last_fin < prm.min_loss * loss0);
        hk_attrs_num(&r->metrics, "global_minimum_kernel", inf.loss[T - 1] < prm.min_loss * loss0);
        hk_attrs_num(&r->metrics, "ntk_change", norm(ntkT, ntk0, N * N) / norm(ntk0, NULL, N * N));
        hk_attrs_num(&r->metrics, "learning_rate", lr);
        hk_attrs_num(&r->metrics, "lambda_max_Th", inf.eigenvalues[N - 1]);
        hk_attrs_num(&r->metrics, "parameters", (double)net.nparams);
        hk_attrs_num(&r->metrics, "n_train", N);
        hk_attrs_num(&r->metrics, "time_kernel", t_kernel);
        hk_attrs_num(&r->metrics, "kernel_trajectory_reused", reused);
        hk_attrs_num(&r->metrics, "time_total", hk_now() - t_start);
        if (div >= 0) {
            r->status = HK_DIVERGED;
            snprintf(r->reason, sizeof r->reason, "the finite network diverged at step %ld", div);
        }
    }
    if (div == -2) {
        r->status = HK_ABANDONED;
        snprintf(r->reason, sizeof r->reason, "stopped by a signal during training");
    }
    free(tr.f_train), free(tr.f_test), free(tr.loss);
    free(ntk0), free(ntkT), free(all), free(h0_train), free(h0_test), free(log_at);
    hk_hn_free(&net);
    hk_dataset_free(&train), hk_dataset_free(&test);
    return 0;
}

/* Sizes as the kernels and the network see them, and the distinct x. */
static struct hk_task_dims dims_of(const struct dynamics_params *prm, double *nx)
{
    if (!strcmp(prm->task, "regression")) {
        *nx = prm->reg.distinct_x;
        return hk_regression_task_dims(&prm->reg);
    }
    *nx = prm->train_images;
    struct hk_pixel_task t = {.mode = HK_COMPLETION};
    struct hk_task_dims d = {.n_train = (double)prm->train_images * prm->coords_per_image,
                             .n_test = (double)prm->test_images * HK_IMG_PIXELS, .dx = hk_pixel_task_dx(&t),
                             .dz = !strcmp(prm->reg.z_embedding, "fourier") ? prm->reg.embedding_width : 2};
    return d;
}

static void estimate(const struct hk_point *p, int team_size, const struct hk_rates *rates, struct hk_estimate *e)
{
    struct dynamics_params prm;
    dynamics_params_read(p, &prm);
    double nx;
    const struct hk_task_dims dims = dims_of(&prm, &nx);
    struct hk_hn_shape s = {.dx = dims.dx, .dz = dims.dz, .n = prm.width_f, .L = prm.reg.depth_f,
                            .m = prm.width_g, .H = prm.reg.depth_g, .k = 1};
    double params = (double)hk_hn_param_count(&s), N = dims.n_train, M = dims.n_test;
    double P = (params - (double)s.n * s.dx - (s.L - 1.0) * s.n * s.n) / s.n;
    /* the network and its gradient, generated weights of every x, two NTKs;
     * the kernel side: Th, Z, Th* and P (N x N twice, M x N twice) per rank */
    double net_mem = 8 * (2 * params + 2 * nx * P + 2 * N * N);
    double kernel_mem = 8 * (2 * N * N + 2 * M * N) / team_size + hk_dist_eigh_workspace((int)N, 64, 1, team_size);
    e->mem_bytes_per_rank = net_mem + kernel_mem;
    /* per step, forward and backward over the training set: ~6 flops per weight use */
    double per_step = 6 * nx * params + 6 * N * P;
    e->gflop = (prm.steps * per_step + 4 * N * N * N + 2 * N * P * s.n * 2) / 1e9;
    e->kernel_entries = N * N + M * N;
    e->seconds = hk_estimate_seconds(rates, team_size, 60 * (N * N + M * N) / 1e9, 4 * N * N * N / 1e9,
                                     prm.steps * per_step / 1e9, hk_train_step_gbytes(prm.steps, params, 8, team_size));
}

static int check(const struct hk_point *p)
{
    struct dynamics_params prm;
    dynamics_params_read(p, &prm);
    if (!strcmp(prm.task, "regression")) return 0;
    return hk_image_data_check(prm.data, (long)prm.train_images + prm.test_images, p->index);
}

HK_EXPERIMENT(dynamics_convergence, "dynamics-convergence",
              "a finite hypernetwork trained by GD against the infinite-width trajectory: output distance per step",
              dynamics, run, estimate, check,
              "distance_test_final,distance_train_final,loss_train_final_finite,ntk_change")
