/* data: datasets as the kernels see them (distinct x shared by points, each
 * with its own z and target), and the synthetic tasks tests and the
 * quickstart use. Generated from a seed, identical on every rank. */
#ifndef HK_DATA_H
#define HK_DATA_H

#include "hk/kernels.h"

struct hk_dataset {
    struct hk_inputs in;   /* points to x, z, xid below */
    double *x;             /* nx × dx */
    double *z;             /* n × dz */
    int *xid;              /* n */
    double *y;             /* n targets */
};

/* The "hyper-sine" task: each x generates the frequencies and phase of a
 * sine over z, the situation a hypernetwork is built for:
 *   w(x) = A x / sqrt(dx)   (A: dz × dx, iid N(0,1), drawn from the seed)
 *   phi(x) = c . x / sqrt(dx)   (c: dx, iid N(0,1))
 *   y(x, z) = sin((pi/2) w(x).z + phi(x)) + noise * N(0,1)
 * x uniform on the sphere |x|^2 = dx (the kernels, without biases, are
 * homogeneous in |x|), z ~ U[-1, 1]^dz. Training points are samples_per_x z's for
 * each of distinct_x x's, stored x by x; the test set uses fresh x's. */
struct hk_synthetic_spec {
    long seed;
    int dx, dz;
    int distinct_x, samples_per_x;
    int test_distinct_x, test_samples_per_x;
    double noise;
};

/* Random Fourier features e(z) = sqrt(2/D) cos(Omega z + b), Omega ~
 * N(0, 1/ell^2) (D × dz), b ~ U[0, 2 pi): the fixed embedding of the math
 * doc, whose kernel e(z).e(z') tends to exp(-|z - z'|^2 / (2 ell^2)). The
 * same seed gives the same map. Replaces d->z by its D-wide embedding and
 * scales it by sqrt(D) so that the kernels' z.z'/dz is e(z).e(z'). */
void hk_embed_fourier(struct hk_dataset *d, int width, double lengthscale, long seed);
/* The same for x: each distinct x replaced by its width-D features. */
void hk_embed_fourier_x(struct hk_dataset *d, int width, double lengthscale, long seed);

void hk_synthetic_regression(const struct hk_synthetic_spec *spec, struct hk_dataset *train, struct hk_dataset *test);
void hk_dataset_free(struct hk_dataset *d);
/* A dataset from explicit per-point x (n × dx) and z: rows of x that are
 * bit-identical share one distinct x, so x-only work is done once. */
void hk_dataset_from_points(int n, int dx, const double *x, int dz, const double *z, struct hk_dataset *d);

#endif
