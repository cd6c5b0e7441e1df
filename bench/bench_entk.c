/* bench_entk: the empirical NTK of a hypernetwork with f and g of widths n
 * and m (L = 2, H = 3, dx = 16, dz = 2), one process, best of 3.
 *   bench_entk n m N            one network's NTK on N inputs
 *   bench_entk seeds n m N S    the NTK and outputs of S seeds as `hksweep ntk`
 *                               computes them (hk_entk_seeds, one network
 *                               redrawn per seed), and the same work with a
 *                               network allocated and freed per seed (how it
 *                               was done before), for the ratio */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hk/data.h"
#include "hk/ensemble.h"
#include "hk/hypernet.h"
#include "hk/provenance.h"
#include "hk/util.h"

#define REPS 3

/* The old way: a fresh network per seed. */
static void seeds_fresh(const struct hk_hn_shape *s, const struct hk_hn_batch *b, int S, double *out)
{
    const int N = b->nb;
    for (int i = 0; i < S; i++) {
        struct hk_hypernet net;
        if (hk_hn_init(&net, s, 1 + i)) exit(1);
        double *slot = out + (size_t)i * ((size_t)N * N + N);
        hk_hn_entk(&net, b, slot);
        struct hk_hn_cache c;
        hk_hn_forward(&net, b, &c);
        memcpy(slot + (size_t)N * N, c.out, (size_t)N * sizeof(double));
        hk_hn_cache_free(&c);
        hk_hn_free(&net);
    }
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    hk_runtime_init();
    hk_blas_limit_threads();
    const int seeds = argc > 1 && !strcmp(argv[1], "seeds");
    char **a = argv + seeds;
    int n = argc > 1 + seeds ? atoi(a[1]) : 512, m = argc > 2 + seeds ? atoi(a[2]) : 512;
    int N = argc > 3 + seeds ? atoi(a[3]) : 512, S = seeds && argc > 5 ? atoi(a[4]) : 1;
    struct hk_hn_shape s = {.dx = 16, .dz = 2, .n = n, .L = 2, .m = m, .H = 3, .k = 1};
    struct hk_rng rng;
    hk_rng_seed(&rng, 3, 0);
    double *x = hk_malloc((size_t)N * s.dx * sizeof(double)), *z = hk_malloc((size_t)N * s.dz * sizeof(double));
    for (long i = 0; i < (long)N * s.dx; i++) x[i] = hk_rng_normal(&rng);
    for (long i = 0; i < (long)N * s.dz; i++) z[i] = 2 * hk_rng_uniform(&rng) - 1;
    struct hk_dataset data;
    hk_dataset_from_points(N, s.dx, x, s.dz, z, &data);
    int *idx = hk_malloc((size_t)N * sizeof(int));
    for (int i = 0; i < N; i++) idx[i] = i;
    struct hk_hn_batch b = {.in = &data.in, .samples = idx, .nb = N};
    if (!seeds) {
        struct hk_hypernet net;
        if (hk_hn_init(&net, &s, 1)) { fprintf(stderr, "%s\n", hk_error_message()); return 1; }
        double *ntk = hk_malloc((size_t)N * N * sizeof(double)), best = 1e300;
        for (int r = 0; r < REPS; r++) {
            double t0 = hk_now();
            hk_hn_entk(&net, &b, ntk);
            double t = hk_now() - t0;
            if (t < best) best = t;
        }
        printf("hksweep n=%d m=%d N=%d params=%ld seconds=%.4f trace=%.6g\n", n, m, N, net.nparams, best, ntk[0]);
    } else {
        const size_t per = (size_t)N * N + N;
        double *fresh = hk_malloc((size_t)S * per * sizeof(double)), *ours = NULL;
        double best_fresh = 1e300, best_ours = 1e300;
        for (int r = 0; r < REPS; r++) {
            double t0 = hk_now();
            seeds_fresh(&s, &b, S, fresh);
            double t1 = hk_now();
            free(ours);
            if (hk_entk_seeds(MPI_COMM_SELF, &s, &data.in, 1, S, &ours)) return 1;
            double t2 = hk_now();
            if (t1 - t0 < best_fresh) best_fresh = t1 - t0;
            if (t2 - t1 < best_ours) best_ours = t2 - t1;
        }
        int same = !memcmp(fresh, ours, (size_t)S * per * sizeof(double));
        printf("seeds n=%d m=%d N=%d S=%d fresh_seconds=%.3f reuse_seconds=%.3f identical=%d\n", n, m, N, S,
               best_fresh, best_ours, same);
    }
    MPI_Finalize();
    return 0;
}
