/* bench_train: SGD throughput (samples per second) of a hypernetwork with
 * cross-entropy and momentum, on random data of the given shape. Default: the
 * rotation model of docs/experiments.md E4 (f: 784 -> 200 -> 200 -> 100 -> P,
 * g: 784 -> 20 -> 20 -> 12), batch 100, every sample with its own x. One
 * process, BLAS threads from HKSWEEP_BLAS_THREADS (default 1). */
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
    int batch = argc > 1 ? atoi(argv[1]) : 100, steps = argc > 2 ? atoi(argv[2]) : 30;
    struct hk_hn_shape s = {.dx = 784, .dz = 784, .n = 200, .L = 2, .bottleneck = 100, .m = 20, .H = 3, .k = 12};
    int n = batch * 4;
    struct hk_rng rng;
    hk_rng_seed(&rng, 5, 0);
    double *x = hk_malloc((size_t)n * s.dx * sizeof(double)), *z = hk_malloc((size_t)n * s.dz * sizeof(double));
    for (long i = 0; i < (long)n * s.dx; i++) x[i] = hk_rng_uniform(&rng);
    for (long i = 0; i < (long)n * s.dz; i++) z[i] = hk_rng_uniform(&rng);
    int *labels = hk_malloc((size_t)n * sizeof(int));
    for (int i = 0; i < n; i++) labels[i] = (int)(hk_rng_next(&rng) % 12);
    struct hk_dataset data;
    hk_dataset_from_points(n, s.dx, x, s.dz, z, &data);
    struct hk_hypernet net;
    if (hk_hn_init(&net, &s, 1)) { fprintf(stderr, "%s\n", hk_error_message()); return 1; }
    struct hk_hn_grad g, v;
    hk_hn_grad_alloc(&net, &g);
    hk_hn_grad_alloc(&net, &v);
    int *idx = hk_malloc((size_t)batch * sizeof(int));
    double *dout = hk_malloc((size_t)batch * s.k * sizeof(double));
    int blabels[100000];
    double t0 = 0, loss = 0;
    for (int step = -3; step < steps; step++) { /* 3 warm-up steps */
        if (step == 0) t0 = hk_now();
        int b0 = ((step + 3) * batch) % n;
        for (int i = 0; i < batch; i++) {
            idx[i] = (b0 + i) % n;
            blabels[i] = labels[idx[i]];
        }
        struct hk_hn_batch hb = {.in = &data.in, .samples = idx, .nb = batch};
        struct hk_hn_cache c;
        hk_hn_forward(&net, &hb, &c);
        loss = hk_hn_cross_entropy(&c, s.k, blabels, dout, NULL);
        hk_hn_grad_zero(&net, &g);
        hk_hn_backward(&net, &hb, &c, dout, &g);
        hk_hn_cache_free(&c);
        hk_hn_momentum_step(&net, &g, &v, 0.01, 0.9);
    }
    double t = hk_now() - t0;
    struct hk_blas_info blas;
    hk_blas_probe(&blas, 0);
    printf("hksweep batch=%d steps=%d params=%ld blas_threads=%d core=%s seconds=%.3f samples_per_second=%.1f loss=%.4f\n",
           batch, steps, net.nparams, blas.threads, blas.core, t, (double)steps * batch / t, loss);
    return 0;
}
