/* bench_linalg: the factorisations of a hyperkernel Gram matrix, hksweep's
 * distributed path against serial LAPACK on the same matrix:
 *   bench_linalg OP N MODE [NB [NPROW]]
 * OP potrf (Cholesky, N^3/3 flops) or eigh (eigenvalues and eigenvectors);
 * MODE dist: ScaLAPACK through hksweep's dist layer on every rank (pdpotrf,
 * or hk_dist_eigh = pdsyevd), block size NB, NPROW grid rows (0: squarest);
 * MODE serial: LAPACK dpotrf / dsyevd in one process, BLAS threads from
 * HKSWEEP_BLAS_THREADS. The matrix is Th of the synthetic task (N = 20 z per
 * distinct x) plus 1e-3 I, filled once and copied back before each of the
 * three timed repetitions; the best of 3 is printed, with checks (the
 * largest and the middle eigenvalue, or the sum of the factor's diagonal) so
 * bench/run can see that both sides computed the same thing. */
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

#define REPS 3

int main(int argc, char **argv)
{
    int provided, rank, size;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (argc < 4 || (strcmp(argv[1], "potrf") && strcmp(argv[1], "eigh")) ||
        (strcmp(argv[3], "serial") && strcmp(argv[3], "dist"))) {
        if (rank == 0) fprintf(stderr, "usage: bench_linalg potrf|eigh N serial|dist [NB [NPROW]]\n");
        MPI_Finalize();
        return 2;
    }
    hk_runtime_init();
    hk_blas_limit_threads();
    const int eigh = !strcmp(argv[1], "eigh"), serial = !strcmp(argv[3], "serial");
    const int n_target = atoi(argv[2]);
    int nb = argc > 4 ? atoi(argv[4]) : 64;
    const int nprow = argc > 5 ? atoi(argv[5]) : 0;
    struct hk_synthetic_spec spec = {.seed = 3, .dx = 16, .dz = 2, .distinct_x = n_target / 20, .samples_per_x = 20,
                                     .test_distinct_x = 1, .test_samples_per_x = 1};
    struct hk_dataset tr, te;
    hk_synthetic_regression(&spec, &tr, &te);
    int n = tr.in.n;
    if (serial) nb = n; /* one block: a plain column-major n x n array */
    else if (eigh) nb = hk_dist_eigh_block(n, nb);
    struct hk_depths d = {2, 3, 0};
    struct hk_grid g;
    hk_grid_create(&g, serial ? MPI_COMM_SELF : MPI_COMM_WORLD, serial ? 0 : nprow);
    struct hk_dmatrix K, Z;
    hk_dmatrix_create(&K, &g, n, n, nb);
    if (eigh && !serial) hk_dmatrix_create(&Z, &g, n, n, nb);
    hk_dist_fill_kernel(&K, HK_TH, &d, &tr.in, 0, &tr.in, 0, 1);
    hk_dist_add_diagonal(&K, 1e-3);
    const size_t local = (size_t)K.lld * K.nloc;
    double *saved = hk_malloc(local * sizeof(double)), *w = hk_malloc((size_t)n * sizeof(double));
    memcpy(saved, K.a, local * sizeof(double));
    struct hk_blas_info blas;
    hk_blas_probe(&blas, 0);

    /* serial dsyevd's workspace, queried once and kept out of the timing */
    double *work = NULL;
    int *iwork = NULL, lwork = -1, liwork = -1, info = 0;
    if (eigh && serial) {
        double wq;
        int iwq;
        dsyevd_("V", "L", &n, K.a, &K.lld, w, &wq, &lwork, &iwq, &liwork, &info);
        lwork = (int)wq, liwork = iwq;
        work = hk_malloc((size_t)lwork * sizeof(double));
        iwork = hk_malloc((size_t)liwork * sizeof(int));
    }
    double best = 1e300, check = 0;
    for (int rep = 0; rep < REPS && info == 0; rep++) {
        memcpy(K.a, saved, local * sizeof(double));
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = hk_now();
        if (!eigh && serial) dpotrf_("L", &n, K.a, &K.lld, &info);
        else if (!eigh) info = hk_dist_cholesky(&K);
        else if (serial) dsyevd_("V", "L", &n, K.a, &K.lld, w, work, &lwork, iwork, &liwork, &info);
        else info = hk_dist_eigh(&K, w, &Z);
        MPI_Barrier(MPI_COMM_WORLD);
        double t = hk_now() - t0;
        MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        if (t < best) best = t;
    }
    double lam_max = 0, lam_mid = 0;
    if (eigh) {
        for (int i = 0; i < n; i++) check += w[i];
        lam_max = w[n - 1], lam_mid = w[n / 2];
    } else { /* the factor's diagonal, summed over the ranks that hold it */
        for (int jl = 0; jl < K.nloc; jl++)
            for (int il = 0; il < K.mloc; il++)
                if (K.grows[il] == K.gcols[jl]) check += K.a[il + (size_t)jl * K.lld];
        if (!serial) MPI_Allreduce(MPI_IN_PLACE, &check, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    }
    const double flops = eigh ? 0 : (double)n * n * n / 3;
    if (rank == 0)
        printf("op=%s mode=%s ranks=%d grid=%dx%d blas_threads=%d core=%s nb=%d n=%d info=%d seconds=%.3f "
               "gflops=%.2f check=%.15g lam_max=%.15g lam_mid=%.15g\n",
               eigh ? (serial ? "dsyevd" : "pdsyevd") : (serial ? "dpotrf" : "pdpotrf"), argv[3],
               serial ? 1 : size, g.nprow, g.npcol, blas.threads, blas.core, nb, n, info, best,
               flops / best / 1e9, check, lam_max, lam_mid);
    free(work), free(iwork), free(saved), free(w);
    if (eigh && !serial) hk_dmatrix_destroy(&Z);
    hk_dmatrix_destroy(&K);
    hk_grid_destroy(&g);
    hk_dataset_free(&tr);
    hk_dataset_free(&te);
    MPI_Finalize();
    return info != 0;
}
