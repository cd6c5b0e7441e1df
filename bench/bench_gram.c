/* bench_gram: time to assemble a kernel Gram matrix block-cyclically, for
 * inputs read from an HDF5 file (/x, /z), so a numpy baseline can use the
 * very same inputs. Prints one line of key=value pairs for bench/run. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    hk_store_init();
    if (argc < 2) {
        if (rank == 0) fprintf(stderr, "usage: bench_gram IN.h5 [KERNEL] [REPEATS]\n");
        MPI_Finalize();
        return 2;
    }
    const char *kernel = argc > 2 ? argv[2] : "Th";
    int repeats = argc > 3 ? atoi(argv[3]) : 3;
    double *x, *z;
    long n, dx, nz, dz;
    if (hk_h5_read_matrix(argv[1], "/x", &x, &n, &dx) || hk_h5_read_matrix(argv[1], "/z", &z, &nz, &dz)) {
        fprintf(stderr, "bench_gram: %s\n", hk_error_message());
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    struct hk_dataset data;
    hk_dataset_from_points((int)n, (int)dx, x, (int)dz, z, &data);
    free(x);
    free(z);
    struct hk_grid g;
    hk_grid_create(&g, MPI_COMM_WORLD, 0);
    struct hk_dmatrix K;
    hk_dmatrix_create(&K, &g, (int)n, (int)n, 64);
    struct hk_depths d = {2, 3, 0};
    double best = 1e30;
    for (int r = 0; r < repeats; r++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = hk_now();
        hk_dist_fill_kernel(&K, hk_kernel_from_name(kernel), &d, &data.in, 0, &data.in, 0, 0);
        MPI_Barrier(MPI_COMM_WORLD);
        double t = hk_now() - t0;
        if (t < best) best = t;
    }
    /* u^T K v with weights of the global indices (numpy_gram.py uses the
     * same): unlike a plain sum, it changes when entries move */
    double check = 0;
    for (int j = 0; j < K.nloc; j++) {
        const long gj = K.gcols[j];
        const double v = 1 + (double)((gj * 104729) % 997) / 997;
        for (int i = 0; i < K.mloc; i++) {
            const long gi = K.grows[i];
            check += (1 + (double)((gi * 7919) % 1000) / 1000) * K.a[i + (size_t)j * K.lld] * v;
        }
    }
    MPI_Allreduce(MPI_IN_PLACE, &check, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf("kernel=%s ranks=%d n=%ld distinct_x=%d seconds=%.4f entries_per_second=%.4g check=%.17g\n", kernel, size,
               n, data.in.nx, best, (double)n * n / best, check);
    hk_dmatrix_destroy(&K);
    hk_grid_destroy(&g);
    hk_dataset_free(&data);
    MPI_Finalize();
    return 0;
}
