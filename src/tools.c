/* tools: the commands that evaluate kernels for a user's own inputs, outside
 * a sweep. `kernel` fills the analytic kernels block-cyclically over all
 * ranks and writes them collectively; `ntk` computes the empirical NTK of
 * finite hypernetworks over many seeds. Inputs are read and checked here
 * (the input reader of these commands); files are written through the store. */
#define _GNU_SOURCE
#include "hk/tools.h"

#include <limits.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hk/data.h"
#include "hk/dist.h"
#include "hk/dynamics.h"
#include "hk/ensemble.h"
#include "hk/hypernet.h"
#include "hk/kernels.h"
#include "hk/provenance.h"
#include "hk/store.h"
#include "hk/team.h"
#include "hk/util.h"

int hk_tool_read_inputs(const char *cmd, const char *in, struct hk_dataset *data)
{
    double *x = NULL, *z = NULL;
    long nx_rows = 0, dx = 0, nz_rows = 0, dz = 0;
    char msg[PATH_MAX + 200];
    if (hk_h5_read_matrix(in, "/x", &x, &nx_rows, &dx) || hk_h5_read_matrix(in, "/z", &z, &nz_rows, &dz)) {
        snprintf(msg, sizeof msg, "%s: %s", cmd, hk_error_message());
        hk_fail("%s", msg);
        free(x);
        return -1;
    }
    int bad = 0;
    if (nx_rows != nz_rows || nx_rows < 1) {
        snprintf(msg, sizeof msg, "%s: %s: /x has %ld rows but /z has %ld; they must describe the same N >= 1 points",
                 cmd, in, nx_rows, nz_rows);
        bad = 1;
    }
    for (long i = 0; i < nx_rows * dx && !bad; i++)
        if (!isfinite(x[i])) {
            snprintf(msg, sizeof msg, "%s: %s: /x[%ld][%ld] is not finite", cmd, in, i / dx, i % dx);
            bad = 1;
        }
    for (long i = 0; i < nz_rows * dz && !bad; i++)
        if (!isfinite(z[i])) {
            snprintf(msg, sizeof msg, "%s: %s: /z[%ld][%ld] is not finite", cmd, in, i / dz, i % dz);
            bad = 1;
        }
    if (!bad) hk_dataset_from_points((int)nx_rows, (int)dx, x, (int)dz, z, data);
    else hk_fail("%s", msg);
    free(x);
    free(z);
    return bad ? -1 : 0;
}

int hk_tool_kernel(const struct hk_kernel_options *o)
{
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    struct hk_dataset data;
    if (hk_tool_read_inputs("kernel", o->in, &data)) return HK_EXIT_USAGE;
    int N = data.in.n;
    struct hk_grid grid;
    if (hk_grid_create(&grid, MPI_COMM_WORLD, 0)) return HK_EXIT_RUNTIME;
    /* the matrices' shares, checked before any is allocated */
    const double need = 8.0 * hk_local_elements_max(N, N, o->block_size, grid.nprow, grid.npcol);
    const double budget = hk_memory_budget_bytes(hk_ranks_on_node(MPI_COMM_WORLD));
    if (!hk_all_ok(MPI_COMM_WORLD, need <= budget)) {
        hk_grid_destroy(&grid);
        hk_dataset_free(&data);
        return hk_fail("kernel: %s: N = %d points need %.3g GB per rank for one N x N kernel on %d ranks, and a rank "
                       "has %.3g GB; use more ranks (or nodes)", o->in, N, need / 1e9, grid.size, budget / 1e9),
               HK_EXIT_USAGE;
    }
    struct hk_depths depths = {o->depth_f, o->depth_g, 0};
    double t0 = hk_now();
    struct hk_pfile *pf = hk_pfile_create(MPI_COMM_WORLD, o->out);
    int status = 0;
    if (!pf) status = HK_EXIT_USAGE;
    for (int k = 0; k < HK_NKERNELS && !status; k++) {
        if (!o->want[k]) continue;
        struct hk_dmatrix K;
        int ok = hk_dmatrix_create(&K, &grid, N, N, o->block_size) == 0, all;
        MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
        if (!all || hk_dist_fill_kernel(&K, k, &depths, &data.in, 0, &data.in, 0, 0) ||
            hk_pfile_write_blockcyclic(pf, hk_kernel_name(k), K.desc, K.a))
            status = HK_EXIT_RUNTIME;
        hk_dmatrix_destroy(&K);
    }
    if (!status) {
        hk_pfile_attr_num(pf, "depth_f", o->depth_f);
        hk_pfile_attr_num(pf, "depth_g", o->depth_g);
        hk_pfile_attr_text(pf, "input", o->in);
        hk_pfile_attr_num(pf, "distinct_x", data.in.nx);
        hk_pfile_attr_text(pf, "git_commit", hk_git_commit());
        hk_pfile_attr_text(pf, "hksweep_version", hk_version());
        if (hk_pfile_commit(pf)) status = HK_EXIT_RUNTIME;
    } else if (pf) {
        hk_pfile_abort(pf);
    }
    if (!status && rank == 0)
        printf("wrote %s: %d points (%d distinct x), kernels %s, L=%d H=%d, %d rank%s, %.2f s\n", o->out, N, data.in.nx,
               o->kernels, o->depth_f, o->depth_g, grid.size, grid.size == 1 ? "" : "s", hk_now() - t0);
    hk_grid_destroy(&grid);
    hk_dataset_free(&data);
    return status;
}

int hk_tool_ntk(const struct hk_ntk_options *o)
{
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    struct hk_dataset data;
    if (hk_tool_read_inputs("ntk", o->in, &data)) return HK_EXIT_USAGE;
    int size, N = data.in.n;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    struct hk_hn_shape shape = {.dx = data.in.dx, .dz = data.in.dz, .n = o->width_f, .L = o->depth_f, .m = o->width_g, .H = o->depth_g, .k = 1};
    /* rank 0 holds every seed's N x N matrix twice (gathered, then written) */
    const double need = 2.0 * o->seeds * ((double)N * N + N) * 8;
    const double budget = hk_memory_budget_bytes(hk_ranks_on_node(MPI_COMM_WORLD));
    if (!hk_all_ok(MPI_COMM_WORLD, rank != 0 || need <= budget)) {
        hk_dataset_free(&data);
        return hk_fail("ntk: %s: %d seeds of N = %d points need %.3g GB on rank 0, which has %.3g GB; use fewer "
                       "seeds or points", o->in, o->seeds, N, need / 1e9, budget / 1e9),
               HK_EXIT_USAGE;
    }
    double t0 = hk_now(), *gathered = NULL;
    if (hk_entk_seeds(MPI_COMM_WORLD, &shape, &data.in, o->seed0, o->seeds, &gathered)) {
        hk_dataset_free(&data);
        return HK_EXIT_RUNTIME;
    }
    size_t per = (size_t)N * N + N;
    int status = 0;
    if (rank == 0) {
        struct hk_array arrays[3];
        memset(arrays, 0, sizeof arrays);
        snprintf(arrays[0].name, sizeof arrays[0].name, "Th_seeds");
        arrays[0].rank = 3; arrays[0].dims[0] = o->seeds; arrays[0].dims[1] = N; arrays[0].dims[2] = N;
        arrays[0].data = hk_malloc((size_t)o->seeds * N * N * sizeof(double));
        snprintf(arrays[1].name, sizeof arrays[1].name, "Th_mean");
        arrays[1].rank = 2; arrays[1].dims[0] = N; arrays[1].dims[1] = N;
        arrays[1].data = hk_calloc((size_t)N * N, sizeof(double));
        snprintf(arrays[2].name, sizeof arrays[2].name, "h_seeds");
        arrays[2].rank = 2; arrays[2].dims[0] = o->seeds; arrays[2].dims[1] = N;
        arrays[2].data = hk_malloc((size_t)o->seeds * N * sizeof(double));
        for (long i = 0; i < o->seeds; i++) {
            const double *src = gathered + (size_t)i * per;
            memcpy(arrays[0].data + (size_t)i * N * N, src, (size_t)N * N * sizeof(double));
            for (long e = 0; e < (long)N * N; e++) arrays[1].data[e] += src[e] / o->seeds;
            memcpy(arrays[2].data + (size_t)i * N, src + (size_t)N * N, (size_t)N * sizeof(double));
        }
        struct hk_attrs attrs = {0};
        hk_attrs_num(&attrs, "width_f", o->width_f);
        hk_attrs_num(&attrs, "width_g", o->width_g);
        hk_attrs_num(&attrs, "depth_f", o->depth_f);
        hk_attrs_num(&attrs, "depth_g", o->depth_g);
        hk_attrs_num(&attrs, "seeds", o->seeds);
        hk_attrs_num(&attrs, "seed0", o->seed0);
        hk_attrs_text(&attrs, "input", o->in);
        hk_attrs_text(&attrs, "git_commit", hk_git_commit());
        if (hk_store_write_arrays(o->out, &attrs, arrays, 3)) status = HK_EXIT_RUNTIME;
        else printf("wrote %s: empirical NTK of %d seeds, N=%d, n=%d m=%d L=%d H=%d, %d rank%s, %.2f s\n", o->out, o->seeds,
                    N, o->width_f, o->width_g, o->depth_f, o->depth_g, size, size == 1 ? "" : "s", hk_now() - t0);
        hk_attrs_free(&attrs);
        for (int a = 0; a < 3; a++) free(arrays[a].data);
    }
    MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD);
    free(gathered);
    hk_dataset_free(&data);
    return status;
}


/* ---- predict: the infinite-width hypernetwork trained by gradient descent -- */

/* "1,10,100" -> steps (at most 4096, each >= 0) */
int hk_parse_steps(const char *text, double **steps, int *n)
{
    *steps = hk_calloc(4096, sizeof(double));
    *n = 0;
    const char *p = text;
    while (*p) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || !(v >= 0) || !isfinite(v) || *n >= 4096)
            return free(*steps), *steps = NULL,
                   hk_fail("predict: --steps expects non-negative numbers separated by commas, got '%s'", text);
        (*steps)[(*n)++] = v;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return free(*steps), *steps = NULL, hk_fail("predict: --steps: unexpected '%s' in '%s'", end, text);
    }
    return *n ? 0 : (free(*steps), *steps = NULL, hk_fail("predict: --steps is empty"));
}


/* T x P x k values stored [s * P + i + q * T * P] as a C-order T x P (x k). */
static double *c_order(const double *v, int T, int P, int k)
{
    double *o = hk_malloc((size_t)T * P * k * sizeof(double) + 8);
    for (int s = 0; s < T; s++)
        for (int i = 0; i < P; i++)
            for (int q = 0; q < k; q++) o[((size_t)s * P + i) * k + q] = v[(size_t)s * P + i + (size_t)q * T * P];
    return o;
}

int hk_tool_predict(const struct hk_predict_options *o)
{
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    struct hk_dataset train, test;
    if (hk_tool_read_inputs("predict", o->train, &train)) return HK_EXIT_USAGE;
    if (hk_tool_read_inputs("predict", o->test, &test)) {
        hk_dataset_free(&train);
        return HK_EXIT_USAGE;
    }
    double *y = NULL;
    long ny = 0, k = 0;
    int status = 0;
    if (hk_h5_read_columns(o->train, "/y", &y, &ny, &k)) {
        char msg[1200];
        snprintf(msg, sizeof msg, "%s", hk_error_message());
        hk_fail("predict: %s (the targets, N or N x k)", msg);
        status = HK_EXIT_USAGE;
    } else if (ny != train.in.n) {
        status = (hk_fail("predict: %s: /y has %ld rows but /x and /z have %d", o->train, ny, train.in.n), HK_EXIT_USAGE);
    } else if (test.in.dx != train.in.dx || test.in.dz != train.in.dz) {
        status = (hk_fail("predict: %s has dx = %d, dz = %d but %s has dx = %d, dz = %d", o->test, test.in.dx,
                         test.in.dz, o->train, train.in.dx, train.in.dz), HK_EXIT_USAGE);
    }
    for (long i = 0; !status && i < ny * k; i++)
        if (!isfinite(y[i])) status = (hk_fail("predict: %s: /y[%ld] is not finite", o->train, i / k), HK_EXIT_USAGE);
    /* /y row-major N x k -> column-major */
    double *Y = status ? NULL : hk_malloc((size_t)ny * k * sizeof(double));
    for (long i = 0; !status && i < ny; i++)
        for (long q = 0; q < k; q++) Y[i + q * ny] = y[i * k + q];
    free(y);
    struct hk_grid grid;
    if (!status && hk_grid_create(&grid, MPI_COMM_WORLD, 0)) status = HK_EXIT_RUNTIME;
    struct hk_dynamics_out out;
    double t0 = hk_now();
    if (!status) {
        struct hk_depths depths = {o->depth_f, o->depth_g, 0};
        struct hk_dynamics_opts dopt = {.lr = o->lr, .flow = o->flow, .steps = o->steps, .nsteps = o->nsteps,
                                        .ridge = o->ridge, .nb = o->block_size, .uncertainty = 1};
        int rc = o->converged ? hk_dynamics_uncertainty(&depths, &train.in, Y, (int)k, &test.in, &grid, o->ridge,
                                                        o->block_size, &out)
                              : hk_dynamics_predict(&depths, &train.in, Y, (int)k, &test.in, &grid, &dopt, &out);
        if (rc) {
            char msg[2048];
            snprintf(msg, sizeof msg, "%s", hk_error_message());
            hk_fail("predict: %s", msg);
            status = rc > 0 ? HK_EXIT_USAGE : HK_EXIT_RUNTIME;
        }
        hk_grid_destroy(&grid);
    }
    if (!status) {
        const int N = out.N, M = out.M, T = out.T, K = out.k;
        struct hk_pfile *pf = hk_pfile_create(MPI_COMM_WORLD, o->out);
        if (!pf) status = HK_EXIT_USAGE;
        const int dyn = !status && !o->converged;
        double *ft = dyn ? c_order(out.f_train, T, N, K) : NULL, *fs = dyn ? c_order(out.f_test, T, M, K) : NULL;
        double *mk = status ? NULL : c_order(out.mean_kh, 1, M, K), *me = status ? NULL : c_order(out.mean_ensemble, 1, M, K);
        long d_steps[1] = {T}, d_ft[3] = {T, N, K}, d_fs[3] = {T, M, K}, d_n[1] = {N}, d_m[2] = {M, K}, d_v[1] = {M};
        int r3 = K > 1 ? 3 : 2, r2 = K > 1 ? 2 : 1;
        /* --converged: the posteriors alone, without the dynamics */
        if (!status && !o->converged &&
            (hk_pfile_write_replicated(pf, "steps", 1, d_steps, o->steps) ||
             hk_pfile_write_replicated(pf, "f_train", r3, d_ft, ft) ||
             hk_pfile_write_replicated(pf, "f_test", r3, d_fs, fs) ||
             hk_pfile_write_replicated(pf, "loss_train", 1, d_steps, out.loss) ||
             hk_pfile_write_replicated(pf, "eigenvalues_Th", 1, d_n, out.eigenvalues) ||
             hk_pfile_attr_num(pf, "lr", o->lr) || hk_pfile_attr_num(pf, "flow", o->flow) ||
             hk_pfile_attr_num(pf, "max_stable_lr", hk_dynamics_max_lr(N, out.eigenvalues[N - 1]))))
            status = HK_EXIT_RUNTIME;
        if (!status && o->converged && hk_pfile_attr_num(pf, "jitter_Th", out.jitter_th)) status = HK_EXIT_RUNTIME;
        if (!status &&
            (hk_pfile_write_replicated(pf, "mean_test_Kh", r2, d_m, mk) ||
             hk_pfile_write_replicated(pf, "var_test_Kh", 1, d_v, out.var_kh) ||
             hk_pfile_write_replicated(pf, "mean_test_ensemble", r2, d_m, me) ||
             hk_pfile_write_replicated(pf, "var_test_ensemble", 1, d_v, out.var_ensemble) ||
             hk_pfile_attr_num(pf, "ridge", o->ridge) || hk_pfile_attr_num(pf, "depth_f", o->depth_f) ||
             hk_pfile_attr_num(pf, "depth_g", o->depth_g) ||
             hk_pfile_attr_text(pf, "train", o->train) || hk_pfile_attr_text(pf, "test", o->test) ||
             hk_pfile_attr_text(pf, "git_commit", hk_git_commit()) ||
             hk_pfile_attr_text(pf, "variance_note",
                                "var_test_ensemble is that of an ensemble of uncentred networks; centred "
                                "networks (output 0 at initialisation) have none")))
            status = HK_EXIT_RUNTIME;
        if (pf) {
            if (status) hk_pfile_abort(pf);
            else if (hk_pfile_commit(pf)) status = HK_EXIT_RUNTIME;
        }
        free(ft), free(fs), free(mk), free(me);
        if (!status && rank == 0 && o->converged)
            printf("wrote %s: N=%d, M=%d, k=%d, the converged posteriors (Cholesky; jitter on Th %g), L=%d H=%d, "
                   "%.2f s\n", o->out, N, M, K, out.jitter_th, o->depth_f, o->depth_g, hk_now() - t0);
        else if (!status && rank == 0)
            printf("wrote %s: N=%d, M=%d, k=%d, %d steps (%s, lr %g, stable below %g), L=%d H=%d, %.2f s "
                   "(Gram %.2f, eigh %.2f, predictions %.2f, uncertainty %.2f)\n",
                   o->out, N, M, K, T, o->flow ? "flow" : "discrete GD", o->lr,
                   hk_dynamics_max_lr(N, out.eigenvalues[N - 1]), o->depth_f, o->depth_g, hk_now() - t0, out.t_gram,
                   out.t_eigh, out.t_predict, out.t_uncertainty);
        hk_dynamics_free(&out);
    }
    free(Y);
    hk_dataset_free(&train);
    hk_dataset_free(&test);
    return status;
}
