/* hyperkernel-regression: kernel ridge regression with the hyperkernel (and
 * optionally the hyper-GP and the plain-MLP NTK) on the synthetic hyper-sine
 * task. The training Gram matrix is assembled block-cyclically on the team's
 * grid, each rank computing only its own blocks, factored (hk_dist_cholesky) and
 * solved (hk_dist_cholesky_solve); test predictions go chunk by chunk through pdgemm (hk_krr, krr.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hk/data.h"
#include "hk/dist.h"
#include "hk/experiment.h"
#include "hk/kernels.h"
#include "hk/krr.h"
#include "hk/params.h"
#include "hk/store.h"
#include "hk/tasks.h"
#include "hk/team.h"
#include "hk/util.h"

#define REGRESSION_PARAMS(P, G)                                                                                   \
    G(task, hk_regression_task, HK_REGRESSION_TASK_PARAMS)                                                        \
    P(REAL, ridge, "0.1", 0, 1e12, NULL, "ridge added to the Gram diagonal", 0)                                  \
    P(LIST, kernels, "Th", 0, 0, HK_POINT_KERNEL_CHOICES, "kernels to regress with", 0)                          \
    P(INT, test_chunk, "4096", 1, 100000000, NULL, "test points per prediction chunk", 1)                         \
    G(common, hk_common, HK_COMMON_PARAMS)
HK_PARAMS_DEFINE(regression, REGRESSION_PARAMS)

static int run(const struct hk_point *p, MPI_Comm team, const struct hk_experiment_env *env, struct hk_result *r)
{
    double t_start = hk_now();
    struct regression_params prm;
    regression_params_read(p, &prm);
    struct hk_depths depths = {prm.task.depth_f, prm.task.depth_g, 0};
    const double ridge = prm.ridge;
    const int nb = prm.common.block_size, test_chunk = prm.test_chunk;
    const int want_snapshot = prm.common.snapshot;
    const int trank = hk_team_rank(team);

    struct hk_dataset train, test;
    hk_regression_task(&prm.task, prm.common.seed, &train, &test);
    const int N = train.in.n, M = test.in.n;
    struct hk_grid grid;
    if (hk_grid_create(&grid, team, prm.common.grid_rows)) return -1;
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
    for (int kind = 0; kind < HK_NKERNELS && rc == 0 && r->status == HK_OK; kind++) {
        const char *name = hk_kernel_name(kind);
        if (!hk_list_has(prm.kernels, name)) continue;
        if (hk_team_should_stop(team)) {
            r->status = HK_ABANDONED;
            snprintf(r->reason, sizeof r->reason, "stopped by a signal before fitting %s", name);
            break;
        }
        struct hk_krr_stats st;
        int kr = hk_krr(kind, &depths, &train.in, train.y, 1, &test.in, test_chunk, ridge,
                        hk_solver_mixed(&prm.common), &grid, nb, snap, ypred,
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
    struct regression_params prm;
    regression_params_read(p, &prm);
    const struct hk_regression_task_params *t = &prm.task;
    const struct hk_task_dims dims = hk_regression_task_dims(t);
    struct hk_depths d = {t->depth_f, t->depth_g, 0};
    int nb = prm.common.block_size, chunk = prm.test_chunk;
    int nprow, npcol;
    hk_grid_shape(team_size, prm.common.grid_rows, &nprow, &npcol);
    double N = dims.n_train, M = dims.n_test;
    if (chunk > M) chunk = (int)M;
    double gram = (double)hk_local_elements_max((int)N, (int)N, nb, nprow, npcol);
    double test = (double)hk_local_elements_max(chunk, (int)N, nb, nprow, npcol);
    double data = (double)t->distinct_x * dims.dx + N * dims.dz + (double)t->test_distinct_x * dims.dx + M * dims.dz +
                  3 * N + 2 * M;
    int nk = 0;
    double entry_cost = 0, workspace = 0;
    for (int k = 0; k < HK_NKERNELS; k++)
        if (hk_list_has(prm.kernels, hk_kernel_name(k))) {
            nk++;
            entry_cost += hk_kernel_entry_cost(k, &d, dims.dz);
            double ws = hk_kernel_workspace_bytes(k, &d, t->distinct_x, t->distinct_x, dims.dx, dims.dz,
                                                  (int)(N / nprow) + nb, (int)(N / npcol) + nb);
            if (ws > workspace) workspace = ws;
        }
    /* mixed precision holds a float32 copy of the Gram matrix beside it, and factors at SGEMM's rate,
     * about twice DGEMM's (hk_dist_solve_mixed) */
    const int mixed = hk_solver_mixed(&prm.common);
    e->mem_bytes_per_rank = 8 * ((mixed ? 1.5 : 1) * gram + test + data + N) + workspace;
    int lower = !prm.common.snapshot;
    double gram_entries = lower ? N * (N + 1) / 2 : N * N;
    e->kernel_entries = nk * (gram_entries + M * N);
    e->gflop = nk * (N * N * N / 3 + 2 * N * N + 2 * M * N) / 1e9;
    double kernel_flop = entry_cost * (gram_entries + M * N) / 1e9;
    const double la_time = e->gflop - (mixed ? nk * N * N * N / 6 / 1e9 : 0);
    e->seconds = hk_estimate_seconds(rates, team_size, kernel_flop, la_time, 0, 0);
}

HK_EXPERIMENT(hyperkernel_regression, "hyperkernel-regression",
              "kernel ridge regression with Th (and Kh, Tmlp) on the synthetic hyper-sine task, distributed",
              regression, run, estimate, NULL,
              "mse_test_Th,mse_test_Kh,mse_test_Tmlp,mse_test_mean_predictor")
