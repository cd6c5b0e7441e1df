/* bench_potrf: Cholesky of the same SPD hyperkernel Gram matrix (synthetic
 * task, N = distinct_x * 20) by ScaLAPACK pdpotrf on all ranks, or, with
 * "serial", by LAPACK dpotrf in one process (BLAS threads from
 * HKSWEEP_BLAS_THREADS). Prints GFLOP/s (N^3/3 flops) for bench/run. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hk/blas.h"
#include "hk/data.h"
#include "hk/dist.h"
#include "hk/provenance.h"
#include "hk/store.h"
#include "hk/util.h"

int main(int argc, char **argv)
{
    int provided, rank, size;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    hk_runtime_init();
    hk_blas_limit_threads();
    int n_target = argc > 1 ? atoi(argv[1]) : 10000;
    int serial = argc > 2 && !strcmp(argv[2], "serial");
    int nb = argc > 3 ? atoi(argv[3]) : 64;
    struct hk_synthetic_spec spec = {.seed = 3, .dx = 16, .dz = 2, .distinct_x = n_target / 20, .samples_per_x = 20,
                                     .test_distinct_x = 1, .test_samples_per_x = 1};
    struct hk_dataset tr, te;
    hk_synthetic_regression(&spec, &tr, &te);
    int n = tr.in.n;
    struct hk_depths d = {2, 3, 0};
    struct hk_grid g;
    hk_grid_create(&g, serial ? MPI_COMM_SELF : MPI_COMM_WORLD, 0);
    struct hk_dmatrix K;
    hk_dmatrix_create(&K, &g, n, n, nb);
    hk_dist_fill_kernel(&K, HK_TH, &d, &tr.in, 0, &tr.in, 0, 1);
    hk_dist_add_diagonal(&K, 1e-3);
    struct hk_blas_info blas;
    hk_blas_probe(&blas, 0);
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = hk_now();
    int info;
    if (serial) dpotrf_("L", &n, K.a, &K.lld, &info);
    else info = hk_dist_cholesky(&K);
    MPI_Barrier(MPI_COMM_WORLD);
    double t = hk_now() - t0;
    if (rank == 0)
        printf("mode=%s ranks=%d blas_threads=%d core=%s nb=%d n=%d info=%d seconds=%.3f gflops=%.2f\n",
               serial ? "dpotrf" : "pdpotrf", serial ? 1 : size, blas.threads, blas.core, nb, n, info, t,
               (double)n * n * n / 3 / t / 1e9);
    hk_dmatrix_destroy(&K);
    hk_grid_destroy(&g);
    hk_dataset_free(&tr);
    hk_dataset_free(&te);
    MPI_Finalize();
    return info != 0;
}
