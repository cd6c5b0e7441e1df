/* bench_entk: time of the empirical NTK of N inputs of a hypernetwork with
 * f and g of widths n and m (L = 2, H = 3, dx = 16, dz = 2), one process. */
#include <stdio.h>
#include <stdlib.h>

#include "hk/data.h"
#include "hk/hypernet.h"
#include "hk/provenance.h"
#include "hk/util.h"

int main(int argc, char **argv)
{
    hk_runtime_init();
    hk_blas_limit_threads();
    int n = argc > 1 ? atoi(argv[1]) : 512, m = argc > 2 ? atoi(argv[2]) : 512, N = argc > 3 ? atoi(argv[3]) : 512;
    struct hk_hn_shape s = {.dx = 16, .dz = 2, .n = n, .L = 2, .m = m, .H = 3, .k = 1};
    struct hk_rng rng;
    hk_rng_seed(&rng, 3, 0);
    double *x = hk_malloc((size_t)N * s.dx * sizeof(double)), *z = hk_malloc((size_t)N * s.dz * sizeof(double));
    for (long i = 0; i < (long)N * s.dx; i++) x[i] = hk_rng_normal(&rng);
    for (long i = 0; i < (long)N * s.dz; i++) z[i] = 2 * hk_rng_uniform(&rng) - 1;
    struct hk_dataset data;
    hk_dataset_from_points(N, s.dx, x, s.dz, z, &data);
    struct hk_hypernet net;
    if (hk_hn_init(&net, &s, 1)) { fprintf(stderr, "%s\n", hk_error_message()); return 1; }
    int *idx = hk_malloc((size_t)N * sizeof(int));
    for (int i = 0; i < N; i++) idx[i] = i;
    struct hk_hn_batch b = {.in = &data.in, .samples = idx, .nb = N};
    double *ntk = hk_malloc((size_t)N * N * sizeof(double));
    double t0 = hk_now();
    hk_hn_entk(&net, &b, ntk);
    double t = hk_now() - t0;
    printf("hksweep n=%d m=%d N=%d params=%ld seconds=%.3f trace=%.6g\n", n, m, N, net.nparams, t, ntk[0]);
    return 0;
}
