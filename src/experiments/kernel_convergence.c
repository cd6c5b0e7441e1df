/* kernel-convergence (docs/experiments.md E1): for one cell of widths and
 * depths, on a fixed batch of inputs, the empirical NTK of finite
 * hypernetworks at `inits` initialisations against the analytic hyperkernel:
 * its dispersion across initialisations, the distance of its mean to Th, how
 * far it moves in `steps` steps of gradient descent, and the empirical output
 * covariance against the hyper-GP Kh. Initialisations are spread over the
 * team's ranks and gathered in seed order, so results do not depend on the
 * number of ranks. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hk/blas.h"
#include "hk/data.h"
#include "hk/ensemble.h"
#include "hk/experiment.h"
#include "hk/hypernet.h"
#include "hk/kernels.h"
#include "hk/params.h"
#include "hk/team.h"
#include "hk/util.h"

#define CONVERGENCE_PARAMS(P, G)                                                                                  \
    P(INT, width_f, "256", 1, 1000000, NULL, "width n of f's hidden layers", 0)                                   \
    P(INT, width_g, "64", 1, 1000000, NULL, "width m of g's hidden layers", 0)                                    \
    P(INT, depth_f, "2", 1, HK_MAX_DEPTH, NULL, "hidden layers L of f", 0)                                        \
    P(INT, depth_g, "3", 1, HK_MAX_DEPTH, NULL, "layers H of g", 0)                                               \
    P(INT, dx, "4", 1, 100000, NULL, "dimension of x", 0)                                                         \
    P(INT, dz, "2", 1, 100000, NULL, "dimension of z", 0)                                                         \
    P(INT, inputs, "8", 2, 4096, NULL, "inputs in the fixed batch (distinct x and z)", 0)                         \
    P(INT, inits, "16", 2, 100000, NULL, "random initialisations per cell", 0)                                    \
    P(INT, steps, "20", 0, 1000000, NULL, "gradient-descent steps before measuring the NTK's change", 0)          \
    P(REAL, lr_fraction, "0.25", 0, 100, NULL,                                                                    \
      "learning rate as a fraction of 2N / lambda_max of each network's NTK at initialisation", 0)                \
    P(INT, data_seed, "1", 0, 2147483647, NULL, "seed of the input batch and its targets", 0)                     \
    G(common, hk_common, HK_COMMON_PARAMS)
HK_PARAMS_DEFINE(convergence, CONVERGENCE_PARAMS)

static struct hk_hn_shape shape_of(const struct convergence_params *prm)
{
    struct hk_hn_shape s = {.dx = prm->dx, .dz = prm->dz, .n = prm->width_f, .L = prm->depth_f,
                            .m = prm->width_g, .H = prm->depth_g, .k = 1};
    return s;
}

/* The fixed batch: `inputs` points, each with its own x (on the sphere) and
 * z, and hyper-sine targets, from data_seed alone. */
static void make_batch(const struct convergence_params *prm, struct hk_dataset *batch)
{
    struct hk_synthetic_spec spec = {.seed = prm->data_seed, .dx = prm->dx, .dz = prm->dz,
                                     .distinct_x = prm->inputs, .samples_per_x = 1, .test_distinct_x = 1,
                                     .test_samples_per_x = 1};
    struct hk_dataset unused;
    hk_synthetic_regression(&spec, batch, &unused);
    hk_dataset_free(&unused);
}

static double frob(const double *a, const double *b, int n2)
{
    double s = 0;
    for (int i = 0; i < n2; i++) s += (a[i] - (b ? b[i] : 0)) * (a[i] - (b ? b[i] : 0));
    return sqrt(s);
}

static double lambda_max(const double *K, int n)
{
    double *a = hk_malloc((size_t)n * n * sizeof(double)), *w = hk_malloc((size_t)n * sizeof(double));
    memcpy(a, K, (size_t)n * n * sizeof(double));
    int lwork = 8 * n + 64, info;
    double *work = hk_malloc((size_t)lwork * sizeof(double));
    dsyev_("N", "L", &n, a, &n, w, work, &lwork, &info);
    double top = info == 0 ? w[n - 1] : NAN;
    free(a); free(w); free(work);
    return top;
}

/* Per initialisation: NTK at init, NTK after training, outputs at init,
 * final loss, and the step of divergence (-1 if none). */
struct init_result {
    double *ntk0, *ntkT, *h0;
    double loss, diverged_at;
};

/* Gradient descent on 1/(2N) sum (h - y)^2 is stable below lr = 2N / lambda_max
 * of the network's own NTK; each initialisation gets lr_fraction of that. */
struct init_ctx {
    struct hk_hn_shape shape;
    struct hk_hn_batch batch;
    const double *y;
    int steps;
    double lr_fraction;
    long seed_base;
};

static int run_init(int i, double *slot, void *arg)
{
    const struct init_ctx *ctx = arg;
    const struct hk_hn_shape *shape = &ctx->shape;
    const struct hk_hn_batch *batch = &ctx->batch;
    const double *y = ctx->y, lr_fraction = ctx->lr_fraction;
    const int steps = ctx->steps;
    const long seed = ctx->seed_base + i;
    int N = batch->nb;
    double *ntk0 = slot, *ntkT = slot + (size_t)N * N, *h0 = slot + 2 * (size_t)N * N, *tail = h0 + N;
    struct hk_hypernet net;
    if (hk_hn_init(&net, shape, seed)) return -1;
    hk_hn_entk(&net, batch, ntk0);
    double lr = lr_fraction * 2.0 * N / lambda_max(ntk0, N);
    struct hk_hn_cache c;
    hk_hn_forward(&net, batch, &c);
    memcpy(h0, c.out, (size_t)N * sizeof(double));
    double *dout = hk_malloc((size_t)N * sizeof(double));
    double loss = hk_hn_mse(&c, y, dout);
    hk_hn_cache_free(&c);
    struct hk_hn_grad g = {0};
    if (steps > 0) hk_hn_grad_alloc(&net, &g); /* as large as the network: only when training */
    double diverged = -1;
    for (int t = 0; t < steps; t++) {
        hk_hn_forward(&net, batch, &c);
        loss = hk_hn_mse(&c, y, dout);
        if (!isfinite(loss) || loss > 1e12) {
            diverged = t;
            hk_hn_cache_free(&c);
            break;
        }
        hk_hn_grad_zero(&net, &g);
        hk_hn_backward(&net, batch, &c, dout, &g);
        hk_hn_cache_free(&c);
        hk_hn_step(&net, &g, lr);
    }
    if (diverged < 0 && steps == 0) {
        memcpy(ntkT, ntk0, (size_t)N * N * sizeof(double));
    } else if (diverged < 0) {
        hk_hn_forward(&net, batch, &c);
        loss = hk_hn_mse(&c, y, NULL);
        hk_hn_cache_free(&c);
        hk_hn_entk(&net, batch, ntkT);
    } else {
        for (long i = 0; i < (long)N * N; i++) ntkT[i] = NAN;
    }
    tail[0] = loss;
    tail[1] = diverged;
    tail[2] = lr;
    hk_hn_grad_free(&g);
    free(dout);
    hk_hn_free(&net);
    return 0;
}

static int run(const struct hk_point *p, MPI_Comm team, const struct hk_experiment_env *env, struct hk_result *r)
{
    (void)env;
    double t_start = hk_now();
    const int trank = hk_team_rank(team);
    struct convergence_params prm;
    convergence_params_read(p, &prm);
    struct hk_dataset data;
    make_batch(&prm, &data);
    const struct hk_hn_shape shape = shape_of(&prm);
    const int N = data.in.n, inits = prm.inits;
    int *all = hk_malloc((size_t)N * sizeof(int));
    for (int i = 0; i < N; i++) all[i] = i;

    /* the infinite-width kernels on the batch */
    struct hk_depths depths = {shape.L, shape.H, 0};
    double *Th = hk_malloc((size_t)N * N * sizeof(double)), *Kh = hk_malloc((size_t)N * N * sizeof(double));
    hk_kernel_eval(HK_TH, &depths, &data.in, all, N, &data.in, all, N, 0, Th, N);
    hk_kernel_eval(HK_KH, &depths, &data.in, all, N, &data.in, all, N, 0, Kh, N);

    /* initialisations i over the team's ranks; seed = seed * 1e6 + i */
    const size_t per = 2 * (size_t)N * N + N + 3; /* ntk0, ntkT, h0 (N), loss, diverged step, lr */
    struct init_ctx ctx = {.shape = shape, .batch = {.in = &data.in, .samples = all, .nb = N}, .y = data.y,
                           .steps = prm.steps, .lr_fraction = prm.lr_fraction,
                           .seed_base = (long)prm.common.seed * 1000000L};
    double *gathered = NULL;
    if (hk_seeds_run(team, inits, per, run_init, &ctx, &gathered)) {
        free(all); free(Th); free(Kh);
        hk_dataset_free(&data);
        return -1;
    }

    if (trank == 0) {
        const int n2 = N * N;
        struct hk_array *seeds0 = hk_result_array(r, "ntk_init", 3, inits, N, N, NULL);
        struct hk_array *seedsT = hk_result_array(r, "ntk_trained", 3, inits, N, N, NULL);
        struct hk_array *hs = hk_result_array(r, "h_init", 2, inits, N, 0, NULL);
        struct hk_array *mean = hk_result_array(r, "ntk_init_mean", 2, N, N, 0, NULL);
        struct hk_array *gp = hk_result_array(r, "gp_empirical", 2, N, N, 0, NULL);
        memcpy(hk_result_array(r, "Th", 2, N, N, 0, NULL)->data, Th, (size_t)n2 * sizeof(double));
        memcpy(hk_result_array(r, "Kh", 2, N, N, 0, NULL)->data, Kh, (size_t)n2 * sizeof(double));
        double change = 0, loss = 0, lr = 0;
        int diverged = 0, first_div_step = -1, first_div_init = -1;
        for (int i = 0; i < inits; i++) {
            const double *src = gathered + (size_t)i * per;
            memcpy(seeds0->data + (size_t)i * n2, src, (size_t)n2 * sizeof(double));
            memcpy(seedsT->data + (size_t)i * n2, src + n2, (size_t)n2 * sizeof(double));
            memcpy(hs->data + (size_t)i * N, src + 2 * n2, (size_t)N * sizeof(double));
            for (int e = 0; e < n2; e++) mean->data[e] += src[e] / inits;
            for (int a = 0; a < N; a++)
                for (int b = 0; b < N; b++) gp->data[a + b * N] += src[2 * n2 + a] * src[2 * n2 + b] / inits;
            double div = src[2 * n2 + N + 1];
            lr += src[2 * n2 + N + 2] / inits;
            if (div >= 0) {
                if (!diverged) { first_div_step = (int)div; first_div_init = i; }
                diverged++;
            } else {
                change += frob(src + n2, src, n2) / frob(src, NULL, n2);
                loss += src[2 * n2 + N];
            }
        }
        double spread = 0;
        for (int i = 0; i < inits; i++) spread += pow(frob(seeds0->data + (size_t)i * n2, mean->data, n2), 2);
        double mean_norm = frob(mean->data, NULL, n2);
        hk_attrs_num(&r->metrics, "ntk_dispersion", sqrt(spread / inits) / mean_norm);
        hk_attrs_num(&r->metrics, "ntk_distance", frob(mean->data, Th, n2) / frob(Th, NULL, n2));
        hk_attrs_num(&r->metrics, "gp_distance", frob(gp->data, Kh, n2) / frob(Kh, NULL, n2));
        int ok = inits - diverged;
        hk_attrs_num(&r->metrics, "ntk_change", ok ? change / ok : NAN);
        hk_attrs_num(&r->metrics, "train_loss_final", ok ? loss / ok : NAN);
        hk_attrs_num(&r->metrics, "learning_rate_mean", lr);
        hk_attrs_num(&r->metrics, "diverged_inits", diverged);
        hk_attrs_num(&r->metrics, "first_divergence_step", diverged ? first_div_step : NAN);
        hk_attrs_num(&r->metrics, "parameters", (double)hk_hn_param_count(&shape));
        if (diverged) /* recorded; the point is "diverged" only when no initialisation trained */
            snprintf(r->reason, sizeof r->reason, "diverged at step %d (initialisation %d; %d of %d diverged)",
                     first_div_step, first_div_init, diverged, inits);
        if (diverged == inits) r->status = HK_DIVERGED;
        hk_attrs_num(&r->metrics, "time_total", hk_now() - t_start);
        free(gathered);
    }
    free(all); free(Th); free(Kh);
    hk_dataset_free(&data);
    return 0;
}

static void estimate(const struct hk_point *p, int team_size, const struct hk_rates *rates, struct hk_estimate *e)
{
    struct convergence_params prm;
    convergence_params_read(p, &prm);
    const struct hk_hn_shape s = shape_of(&prm);
    double N = prm.inputs, inits = prm.inits, steps = prm.steps;
    double params = (double)hk_hn_param_count(&s);
    double P = (params - (double)s.n * s.dx - (double)(s.L - 1) * s.n * s.n) / s.n;
    /* a network and its gradient, the generated weights and the NTK's chunk of per-sample gradients */
    e->mem_bytes_per_rank = 8 * ((steps > 0 ? 2 : 1) * params + 2 * N * P + fmin(N, 16e6 / P) * P + 8 * N * N * inits);
    /* per initialisation: two NTKs (~4 N P n) and steps x forward+backward (~6 N P n), and the same
     * through f's hidden layers (W_l, n^2 each at n = 4096) */
    double hidden = params - P * s.n;
    double per_init = (8 + 6 * steps) * N * P * s.n + (4 + 6 * steps) * N * hidden;
    e->gflop = inits * per_init / 1e9;
    e->kernel_entries = 2 * N * N;
    double per_rank_inits = ceil(inits / team_size);
    /* drawing the weights: about 5 ns per normal; each gradient step also passes over every parameter
     * (zeroing, the gradient, the update), whatever the flops: each rank trains its own initialisations */
    double step_gb = hk_train_step_gbytes(steps, params, 8, 1);
    e->seconds = per_rank_inits * (params * 5e-9 + (rates->dgemm_gflops > 0 ? per_init / 1e9 / (0.5 * rates->dgemm_gflops) : 0) +
                                   (rates->memory_gbs > 0 ? step_gb / rates->memory_gbs : 0));
}

HK_EXPERIMENT(kernel_convergence, "kernel-convergence",
              "empirical NTK and GP of finite hypernetworks against Th and Kh: dispersion, distance, change in training",
              convergence, run, estimate, NULL,
              "ntk_dispersion,ntk_distance,ntk_change,gp_distance")
