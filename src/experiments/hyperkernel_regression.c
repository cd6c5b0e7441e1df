/* hyperkernel-regression: kernel ridge regression with the hyperkernel (and
 * optionally the hyper-GP and the plain-MLP NTK) on the synthetic hyper-sine
 * task. The training Gram matrix is assembled block-cyclically on the team's
 * grid, each rank computing only its own blocks, factored with pdpotrf and
 * solved with pdpotrs; test predictions go chunk by chunk through pdgemm (hk_krr, krr.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hk/data.h"
#include "hk/dist.h"
#include "hk/experiments.h"
#include "hk/kernels.h"
#include "hk/scheduler.h"
#include "hk/store.h"
#include "hk/util.h"

static const struct hk_param_spec params[] = {
    HK_REGRESSION_TASK_PARAMS,
    {"ridge", HK_T_REAL, "1e-4", 0, 1e12, NULL, "ridge added to the Gram diagonal", 0},
    {"kernels", HK_T_LIST, "Th", 0, 0, "Th|Kh|Tmlp", "kernels to regress with: Th, Kh, Tmlp", 0},
    {"test_chunk", HK_T_INT, "4096", 1, 100000000, NULL, "test points per prediction chunk", 1},
    HK_COMMON_PARAMS,
};

static const enum hk_kernel fit_order[] = {HK_TH, HK_KH, HK_TMLP};

static void spec_of(const struct hk_point *p, struct hk_synthetic_spec *s, struct hk_depths *d)
{
    s->seed = hk_point_int(p, "seed");
    s->dx = (int)hk_point_int(p, "dx");
    s->dz = (int)hk_point_int(p, "dz");
    s->distinct_x = (int)hk_point_int(p, "distinct_x");
    s->samples_per_x = (int)hk_point_int(p, "samples_per_x");
    s->test_distinct_x = (int)hk_point_int(p, "test_distinct_x");
    s->test_samples_per_x = (int)hk_point_int(p, "test_samples_per_x");
    s->noise = hk_point_num(p, "noise");
    d->depth_f = (int)hk_point_int(p, "depth_f");
    d->depth_g = (int)hk_point_int(p, "depth_g");
}

static int run(const struct hk_point *p, MPI_Comm team, const struct hk_experiment_env *env, struct hk_result *r)
{
    double t_start = hk_now();
    struct hk_depths depths = {(int)hk_point_int(p, "depth_f"), (int)hk_point_int(p, "depth_g")};
    const double ridge = hk_point_num(p, "ridge");
    const int nb = (int)hk_point_int(p, "block_size"), test_chunk = (int)hk_point_int(p, "test_chunk");
    const int want_snapshot = hk_point_int(p, "snapshot") != 0;
    int trank;
    MPI_Comm_rank(team, &trank);

    struct hk_dataset train, test;
    hk_regression_task(p, &train, &test);
    const int N = train.in.n, M = test.in.n;
    struct hk_grid grid;
    if (hk_grid_create(&grid, team, (int)hk_point_int(p, "grid_rows"))) return -1;
    hk_attrs_num(&r->metrics, "n_train", N);
    hk_attrs_num(&r->metrics, "n_test", M);
    hk_attrs_num(&r->metrics, "grid_rows", grid.nprow);
    hk_attrs_num(&r->metrics, "grid_cols", grid.npcol);

    double ybar = 0, mse_mean = 0;
    for (int i = 0; i < N; i++) ybar += train.y[i];
    ybar /= N;
    for (int i = 0; i < M; i++) mse_mean += (test.y[i] - ybar) * (test.y[i] - ybar);
    hk_attrs_num(&r->metrics, "mse_test_mean_predictor", mse_mean / M);

    struct hk_pfile *snap = NULL;
    char snap_rel[64] = "", snap_path[4200];
    if (want_snapshot) {
        snprintf(snap_rel, sizeof snap_rel, "snapshots/%s.h5", env->id_hex);
        snprintf(snap_path, sizeof snap_path, "%s/%s", env->out_dir, snap_rel);
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/snapshots", env->out_dir);
        int ok = trank != 0 || hk_mkdir_p(dir) == 0;
        if (!hk_all_ok(team, ok)) { hk_grid_destroy(&grid); hk_dataset_free(&train); hk_dataset_free(&test); return -1; }
        snap = hk_pfile_create(team, snap_path);
        if (!snap) { hk_grid_destroy(&grid); hk_dataset_free(&train); hk_dataset_free(&test); return -1; }
    }

    double *ypred = hk_malloc((size_t)M * sizeof(double));
    int rc = 0;
    for (size_t k = 0; k < sizeof fit_order / sizeof fit_order[0] && rc == 0 && r->status == HK_OK; k++) {
        enum hk_kernel kind = fit_order[k];
        const char *name = hk_kernel_name(kind);
        if (!hk_point_list_has(p, "kernels", name)) continue;
        if (hk_team_should_stop(team)) {
            r->status = HK_ABANDONED;
            snprintf(r->reason, sizeof r->reason, "stopped by a signal before fitting %s", name);
            break;
        }
        struct hk_krr_stats st;
        int kr = hk_krr(kind, &depths, &train.in, train.y, 1, &test.in, test_chunk, ridge, &grid, nb, snap, ypred,
                        &st);
        if (kr < 0) { rc = -1; break; }
        hk_krr_record(r, name, &st);
        if (kr > 0) {
            hk_result_fail(r, "%s", hk_error_message());
            break;
        }
        double sse = 0;
        for (int i = 0; i < M; i++) sse += pow(ypred[i] - test.y[i], 2);
        char key[64];
        snprintf(key, sizeof key, "mse_test_%s", name);
        hk_attrs_num(&r->metrics, key, sse / M);
    }
    free(ypred);
    if (snap) {
        int ok = rc == 0 && hk_pfile_attr_text(snap, "point_id", env->id_hex) == 0;
        if (!hk_all_ok(team, ok)) hk_pfile_abort(snap), rc = -1;
        else if (hk_pfile_commit(snap)) rc = -1;
        else snprintf(r->snapshot, sizeof r->snapshot, "%s", snap_rel);
    }
    double rss = (double)hk_peak_rss_bytes();
    MPI_Allreduce(MPI_IN_PLACE, &rss, 1, MPI_DOUBLE, MPI_MAX, team);
    hk_attrs_num(&r->metrics, "peak_rss_bytes_max_rank", rss);
    hk_attrs_num(&r->metrics, "time_total", hk_now() - t_start);
    hk_grid_destroy(&grid);
    hk_dataset_free(&train);
    hk_dataset_free(&test);
    return rc;
}

static void estimate(const struct hk_point *p, int team_size, const struct hk_rates *rates, struct hk_estimate *e)
{
    struct hk_synthetic_spec s;
    struct hk_depths d;
    spec_of(p, &s, &d);
    int nb = (int)hk_point_int(p, "block_size"), chunk = (int)hk_point_int(p, "test_chunk");
    int nprow, npcol;
    hk_grid_shape(team_size, (int)hk_point_int(p, "grid_rows"), &nprow, &npcol);
    double N = (double)s.distinct_x * s.samples_per_x, M = (double)s.test_distinct_x * s.test_samples_per_x;
    if (chunk > M) chunk = (int)M;
    double gram = (double)hk_local_elements_max((int)N, (int)N, nb, nprow, npcol);
    double test = (double)hk_local_elements_max(chunk, (int)N, nb, nprow, npcol);
    if (!strcmp(hk_point_str(p, "z_embedding"), "fourier")) s.dz = (int)hk_point_int(p, "embedding_width");
    if (!strcmp(hk_point_str(p, "x_embedding"), "fourier")) s.dx = (int)hk_point_int(p, "x_embedding_width");
    double data = (double)s.distinct_x * s.dx + N * s.dz + (double)s.test_distinct_x * s.dx + M * s.dz + 3 * N + 2 * M;
    double per_point = 2 * (N + chunk) * (d.depth_g + 4);      /* diagonals kept per row and column */
    double tables = 3.0 * 1024 * 256 + (1024 + 256) * s.dx;    /* x-pair tile tables and gathered x */
    e->mem_bytes_per_rank = 8 * (gram + test + data + per_point + tables + N);
    int nk = 0;
    double entry_cost = 0;
    for (size_t k = 0; k < sizeof fit_order / sizeof fit_order[0]; k++)
        if (hk_point_list_has(p, "kernels", hk_kernel_name(fit_order[k]))) {
            nk++;
            entry_cost += hk_kernel_entry_cost(fit_order[k], &d, s.dz);
        }
    int lower = !hk_point_int(p, "snapshot");
    double gram_entries = lower ? N * (N + 1) / 2 : N * N;
    e->kernel_entries = nk * (gram_entries + M * N);
    e->gflop = nk * (N * N * N / 3 + 2 * N * N + 2 * M * N) / 1e9;
    double kernel_flop = entry_cost * (gram_entries + M * N) / 1e9;
    e->seconds = hk_estimate_seconds(rates, team_size, kernel_flop, e->gflop, 0);
}

const struct hk_experiment hk_exp_hyperkernel_regression = {
    .kind = "hyperkernel-regression",
    .summary = "kernel ridge regression with Th (and Kh, Tmlp) on the synthetic hyper-sine task, distributed",
    .params = params,
    .nparams = sizeof params / sizeof params[0],
    .run = run,
    .estimate = estimate,
    .headline = "mse_test_Th,mse_test_Kh,mse_test_Tmlp,mse_test_mean_predictor",
};
