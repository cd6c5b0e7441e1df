/* data: synthetic regression task and point datasets. */
#include "hk/data.h"
#include "hk/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void make_split(struct hk_rng *rng, const struct hk_synthetic_spec *s, int nx, int per_x, const double *A,
                       const double *c, struct hk_dataset *d)
{
    memset(d, 0, sizeof *d);
    int n = nx * per_x;
    d->x = hk_malloc((size_t)nx * s->dx * sizeof(double));
    d->z = hk_malloc((size_t)n * s->dz * sizeof(double));
    d->xid = hk_malloc((size_t)n * sizeof(int));
    d->y = hk_malloc((size_t)n * sizeof(double));
    /* x uniform on the sphere |x|^2 = dx: without biases the kernels are
     * homogeneous in |x| (degree H for Kh and Th), so inputs of one norm keep
     * the task about the direction of x, as in NTK practice */
    for (int u = 0; u < nx; u++) {
        double *x = d->x + (size_t)u * s->dx, norm = 0;
        for (int k = 0; k < s->dx; k++) {
            x[k] = hk_rng_normal(rng);
            norm += x[k] * x[k];
        }
        norm = sqrt(norm / s->dx);
        for (int k = 0; k < s->dx; k++) x[k] /= norm;
    }
    double scale = 1.0 / sqrt((double)s->dx);
    for (int u = 0; u < nx; u++) {
        const double *x = d->x + (size_t)u * s->dx;
        double phi = 0;
        for (int k = 0; k < s->dx; k++) phi += c[k] * x[k];
        phi *= scale;
        for (int g = 0; g < per_x; g++) {
            int p = u * per_x + g;
            double *z = d->z + (size_t)p * s->dz;
            double arg = phi;
            for (int j = 0; j < s->dz; j++) {
                z[j] = 2 * hk_rng_uniform(rng) - 1;
                double w = 0;
                for (int k = 0; k < s->dx; k++) w += A[(size_t)j * s->dx + k] * x[k];
                arg += 0.5 * M_PI * w * scale * z[j];
            }
            d->xid[p] = u;
            d->y[p] = sin(arg) + (s->noise > 0 ? s->noise * hk_rng_normal(rng) : 0);
        }
    }
    d->in = (struct hk_inputs){.n = n, .nx = nx, .dx = s->dx, .x = d->x, .dz = s->dz, .z = d->z, .xid = d->xid};
}

void hk_synthetic_regression(const struct hk_synthetic_spec *s, struct hk_dataset *train, struct hk_dataset *test)
{
    struct hk_rng task, rtrain, rtest;
    hk_rng_seed(&task, (uint64_t)s->seed, 1);
    hk_rng_seed(&rtrain, (uint64_t)s->seed, 2);
    hk_rng_seed(&rtest, (uint64_t)s->seed, 3);
    double *A = hk_malloc((size_t)s->dz * s->dx * sizeof(double));
    double *c = hk_malloc((size_t)s->dx * sizeof(double));
    for (long i = 0; i < (long)s->dz * s->dx; i++) A[i] = hk_rng_normal(&task);
    for (int i = 0; i < s->dx; i++) c[i] = hk_rng_normal(&task);
    make_split(&rtrain, s, s->distinct_x, s->samples_per_x, A, c, train);
    make_split(&rtest, s, s->test_distinct_x, s->test_samples_per_x, A, c, test);
    free(A);
    free(c);
}

void hk_dataset_free(struct hk_dataset *d)
{
    free(d->x);
    free(d->z);
    free(d->xid);
    free(d->y);
    memset(d, 0, sizeof *d);
}

struct row_key {
    uint64_t hash;
    int row;
};

static int cmp_row_key(const void *a, const void *b)
{
    const struct row_key *x = a, *y = b;
    if (x->hash != y->hash) return x->hash < y->hash ? -1 : 1;
    return x->row - y->row;
}

void hk_dataset_from_points(int n, int dx, const double *x, int dz, const double *z, struct hk_dataset *d)
{
    memset(d, 0, sizeof *d);
    d->xid = hk_malloc((size_t)(n + 1) * sizeof(int));
    d->z = hk_malloc((size_t)(n * dz + 1) * sizeof(double));
    memcpy(d->z, z, (size_t)n * dz * sizeof(double));
    /* group identical rows of x: sort by hash, compare within equal hashes */
    struct row_key *keys = hk_malloc((size_t)(n + 1) * sizeof *keys);
    for (int i = 0; i < n; i++) {
        keys[i].hash = hk_fnv1a(x + (size_t)i * dx, (size_t)dx * sizeof(double), HK_FNV_OFFSET);
        keys[i].row = i;
    }
    qsort(keys, (size_t)n, sizeof *keys, cmp_row_key);
    int *first_of = hk_malloc((size_t)(n + 1) * sizeof(int)); /* distinct id -> a representative row */
    int nx = 0;
    for (int i = 0; i < n; i++) {
        int row = keys[i].row, found = -1;
        for (int j = i - 1; j >= 0 && keys[j].hash == keys[i].hash && found < 0; j--) {
            int other = d->xid[keys[j].row];
            if (!memcmp(x + (size_t)row * dx, x + (size_t)first_of[other] * dx, (size_t)dx * sizeof(double)))
                found = other;
        }
        if (found < 0) {
            first_of[nx] = row;
            found = nx++;
        }
        d->xid[row] = found;
    }
    d->x = hk_malloc((size_t)(nx * dx + 1) * sizeof(double));
    for (int u = 0; u < nx; u++) memcpy(d->x + (size_t)u * dx, x + (size_t)first_of[u] * dx, (size_t)dx * sizeof(double));
    free(first_of);
    free(keys);
    d->in = (struct hk_inputs){.n = n, .nx = nx, .dx = dx, .x = d->x, .dz = dz, .z = d->z, .xid = d->xid};
}

/* rows x d inputs -> rows x width features sqrt(2) cos(Omega v + b), Omega ~
 * N(0, 1/ell^2), b ~ U[0, 2 pi), drawn from (seed, stream): with the kernels'
 * u.u'/width this is the doc's e(u).e(u') with e = sqrt(2/D) cos(.) */
static double *fourier_features(const double *in, int rows, int d, int width, double ell, long seed, int stream)
{
    struct hk_rng rng;
    hk_rng_seed(&rng, (uint64_t)seed, (uint64_t)stream);
    double *omega = hk_malloc((size_t)width * d * sizeof(double)), *phase = hk_malloc((size_t)width * sizeof(double));
    for (long i = 0; i < (long)width * d; i++) omega[i] = hk_rng_normal(&rng) / ell;
    for (int k = 0; k < width; k++) phase[k] = 2 * M_PI * hk_rng_uniform(&rng);
    double *e = hk_malloc((size_t)rows * width * sizeof(double) + 8);
    for (int p = 0; p < rows; p++)
        for (int k = 0; k < width; k++) {
            double a = phase[k];
            for (int j = 0; j < d; j++) a += omega[(size_t)k * d + j] * in[(size_t)p * d + j];
            e[(size_t)p * width + k] = sqrt(2.0) * cos(a);
        }
    free(omega);
    free(phase);
    return e;
}

void hk_embed_fourier(struct hk_dataset *d, int width, double lengthscale, long seed)
{
    double *e = fourier_features(d->z, d->in.n, d->in.dz, width, lengthscale, seed, 7);
    free(d->z);
    d->z = e;
    d->in.z = e;
    d->in.dz = width;
}

void hk_embed_fourier_x(struct hk_dataset *d, int width, double lengthscale, long seed)
{
    double *e = fourier_features(d->x, d->in.nx, d->in.dx, width, lengthscale, seed, 8);
    free(d->x);
    d->x = e;
    d->in.x = e;
    d->in.dx = width;
}
