/* estimate: the time model of `hksweep plan` and the rates it runs at. */
#include "hk/estimate.h"

#include <stdlib.h>

#include "hk/data.h"
#include "hk/kernels.h"
#include "hk/provenance.h"
#include "hk/util.h"

double hk_estimate_seconds(const struct hk_rates *rates, int team_size, double kernel_gflop, double la_gflop,
                           double train_gflop, double step_gbytes)
{
    double t = 0;
    if (rates->kernel_gflops > 0) t += kernel_gflop / (rates->kernel_gflops * team_size);
    if (rates->dgemm_gflops > 0) t += (la_gflop / 0.7 + train_gflop / 0.3) / (rates->dgemm_gflops * team_size);
    if (rates->memory_gbs > 0) t += step_gbytes / rates->memory_gbs;
    return t;
}

double hk_train_step_gbytes(double steps, double params, int word, int team_size)
{
    return steps * params * word * (team_size > 1 ? 13 : 10) / 1e9;
}

/* a[i] = b[i] + s c[i] over three arrays of 128 MiB (larger than the caches of
 * today's servers), best of 3: GB/s counting the three arrays */
static double measure_memory_gbs(void)
{
    const size_t n = (size_t)16 << 20;
    double *a = malloc(n * sizeof(double)), *b = malloc(n * sizeof(double)), *c = malloc(n * sizeof(double));
    if (!a || !b || !c) {
        free(a); free(b); free(c);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        a[i] = 0;
        b[i] = (double)i;
        c[i] = 1;
    }
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = hk_now();
        for (size_t i = 0; i < n; i++) a[i] = b[i] + 0.5 * c[i];
        double t = hk_now() - t0;
        if (t < best && a[n / 2] > 0) best = t;
    }
    free(a); free(b); free(c);
    return 3.0 * n * sizeof(double) / best / 1e9;
}

void hk_measure_rates(struct hk_rates *rates, struct hk_blas_info *blas)
{
    hk_blas_probe(blas, 1);
    rates->dgemm_gflops = blas->dgemm_gflops;
    struct hk_synthetic_spec s = {.seed = 1, .dx = 16, .dz = 2, .distinct_x = 40, .samples_per_x = 10,
                                  .test_distinct_x = 1, .test_samples_per_x = 1};
    struct hk_dataset tr, te;
    hk_synthetic_regression(&s, &tr, &te);
    struct hk_depths d = {2, 3, 0};
    int n = tr.in.n;
    int *idx = hk_malloc((size_t)n * sizeof(int));
    for (int i = 0; i < n; i++) idx[i] = i;
    double *out = hk_malloc((size_t)n * n * sizeof(double));
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = hk_now();
        hk_kernel_eval(HK_TH, &d, &tr.in, idx, n, &tr.in, idx, n, 0, out, n);
        double t = hk_now() - t0;
        if (t < best) best = t;
    }
    rates->kernel_gflops = hk_kernel_entry_cost(HK_TH, &d, 2) * n * (double)n / best / 1e9;
    rates->memory_gbs = measure_memory_gbs();
    free(idx);
    free(out);
    hk_dataset_free(&tr);
    hk_dataset_free(&te);
}
