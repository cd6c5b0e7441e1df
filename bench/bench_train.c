/* bench_train: SGD throughput (samples per second) of a hypernetwork with
 * cross-entropy and momentum, on random data of the given shape, through the
 * trainer the experiment kinds use (hk_train_model, one epoch of `steps`
 * minibatches), in float64 or float32 (precision: float32). Default: the
 * rotation model of docs/experiments.md E4 (f: 784 -> 200 -> 200 -> 100 -> P,
 * g: 784 -> 20 -> 20 -> 12), batch 100, every sample with its own x. Best of
 * 3 epochs after a warm-up epoch. One process, BLAS threads from
 * HKSWEEP_BLAS_THREADS (default 1).
 *   bench_train [BATCH] [STEPS] [float64|float32] */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hk/data.h"
#include "hk/model.h"
#include "hk/provenance.h"
#include "hk/train.h"
#include "hk/util.h"

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    hk_runtime_init();
    hk_blas_limit_threads();
    int batch = argc > 1 ? atoi(argv[1]) : 100, steps = argc > 2 ? atoi(argv[2]) : 30;
    const char *precision = argc > 3 ? argv[3] : "float64";
    const int f32 = !strcmp(precision, "float32");
    if (batch < 1 || steps < 1 || (!f32 && strcmp(precision, "float64"))) {
        fprintf(stderr, "usage: bench_train [BATCH >= 1] [STEPS >= 1] [float64|float32]\n");
        return 2;
    }
    struct hk_hn_shape s = {.dx = 784, .dz = 784, .n = 200, .L = 2, .bottleneck = 100, .m = 20, .H = 3, .k = 12};
    const int n = batch * steps;
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
    struct hk_model m;
    if (hk_hn_init(&net, &s, 1) || (f32 ? hk_model_of_hypernet32(&m, &net) : (hk_model_of_hypernet(&m, &net), 0))) {
        fprintf(stderr, "%s\n", hk_error_message());
        return 1;
    }
    struct hk_train_opts o = {.epochs = 1, .batch_size = batch, .lr = 0.01, .momentum = 0.9, .shuffle_seed = 1};
    double best = 1e300, loss = 0;
    for (int rep = -1; rep < 3; rep++) { /* a warm-up epoch, then best of 3 */
        long done = 0;
        double t0 = hk_now();
        long rc = hk_train_model(&m, &data.in, NULL, labels, &o, MPI_COMM_SELF, NULL, NULL, &done, NULL);
        double t = hk_now() - t0;
        if (rc != -1 || done != steps) { /* a diverged or short epoch would time less work */
            fprintf(stderr, "bench_train: the epoch ended after %ld of %d steps (status %ld)\n", done, steps, rc);
            return 1;
        }
        if (rep >= 0 && t < best) best = t;
    }
    hk_model_evaluate(&m, &data.in, NULL, labels, NULL, MPI_COMM_SELF, &loss, NULL, NULL);
    struct hk_blas_info blas;
    hk_blas_probe(&blas, 0);
    printf("hksweep precision=%s batch=%d steps=%d params=%ld blas_threads=%d core=%s seconds=%.3f "
           "samples_per_second=%.1f loss=%.4f\n",
           precision, batch, steps, net.nparams, blas.threads, blas.core, best, (double)n / best, loss);
    hk_hn_free(&net);
    hk_dataset_free(&data);
    free(x), free(z), free(labels);
    MPI_Finalize();
    return 0;
}
